"""POST /ingest/metrics: pushed observations, checked whole, then written in one transaction.

The body is a JSON array or NDJSON (one object a line) of {"external_id", "date", "metric", "value"}.
Any bad record rejects the body (`IngestRejected`, a 422 naming each record), so nothing is half written;
a record dated after today in the team's time zone (tomorrow is let through for clock skew) is a bad record;
re-sent data replaces what is stored for the same account, date and metric.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, tzinfo
from typing import Any

from sqlalchemy import Engine

from bot.connectors.mapping import metric_problem
from bot.dates import DayError, parse_day
from bot.scoring.importer import CLOCK_SLACK, MAX_NUMBER, last_metric_day
from prompts import say
from storage import bulk
from storage import sync as store

FIELDS = ("external_id", "date", "metric", "value")
ERRORS_SHOWN = 20


class IngestRejected(Exception):
    def __init__(self, errors: list[str], total: int | None = None):
        self.errors = errors[:ERRORS_SHOWN]
        self.total = total if total is not None else len(errors)
        super().__init__("; ".join(self.errors))

    def body(self) -> dict[str, Any]:
        return {
            "ok": False,
            "error": "nothing written: fix these records and send again",
            "errors": self.errors,
            "error_count": self.total,
        }


def parse(body: bytes) -> list[Any]:
    """The records of a JSON array or NDJSON body; IngestRejected when it is neither."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise IngestRejected(["the body is not UTF-8"]) from None
    stripped = text.lstrip()
    if not stripped:
        raise IngestRejected(["the body is empty: send a JSON array or NDJSON of records"])
    if stripped.startswith("["):
        try:
            value = json.loads(stripped)
        except (ValueError, RecursionError) as exc:
            raise IngestRejected([f"the body is not valid JSON ({exc})"]) from None
        if not isinstance(value, list):
            raise IngestRejected(["the body is not a JSON array"])
        return value
    records: list[Any] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except (ValueError, RecursionError):
            raise IngestRejected([f"line {n}: not a JSON object (NDJSON: one object a line)"]) from None
    return records


def validate(records: list[Any], known: dict[str, int], tz: tzinfo = UTC) -> list[tuple[int, str, str, float]]:
    """(account_id, day, metric, value) rows, or IngestRejected naming every bad record (1-based);
    a record dated after `last_metric_day(tz)` is named with its external_id and date."""
    last = last_metric_day(tz)
    errors: list[str] = []
    count = 0
    seen: dict[tuple[int, str, str], int] = {}
    rows: list[tuple[int, str, str, float]] = []
    for n, record in enumerate(records, 1):
        problem = _problem(record, known)
        future = problem is None and record["date"] > last.isoformat()
        if future:
            problem = say("metrics.future.ingest", day=record["date"], today=last - CLOCK_SLACK, tz=tz)
        if problem is None:
            key = (known[record["external_id"]], record["date"], record["metric"])
            if key in seen:
                problem = f"the same external_id, date and metric as record {seen[key]}"
            else:
                seen[key] = n
                rows.append((*key, float(record["value"])))
        if problem is not None:
            count += 1
            if len(errors) < ERRORS_SHOWN:
                ext = record.get("external_id") if isinstance(record, dict) else None
                named = f"{ext}, {record['date']}" if future else ext
                errors.append(f"record {n}" + (f" ({named})" if isinstance(ext, str) else "") + f": {problem}")
    if count:
        raise IngestRejected(errors, count)
    return rows


def _problem(record: Any, known: dict[str, int]) -> str | None:
    if not isinstance(record, dict):
        return "not a JSON object"
    missing = [f for f in FIELDS if f not in record]
    extra = [f for f in record if f not in FIELDS]
    if missing or extra:
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + (
            [f"unknown {', '.join(extra)}"] if extra else []
        )
        return "; ".join(parts) + f" (a record is {{{', '.join(FIELDS)}}})"
    ext, day, metric, value = (record[f] for f in FIELDS)
    if not isinstance(ext, str) or ext not in known:
        return f"external_id {_shown(ext)} is not a known account (import or sync accounts first)"
    try:
        parse_day(day)
    except DayError as error:
        return f"date {_shown(day)} {error}"
    if not isinstance(metric, str):
        return f"metric {_shown(metric)} is not a metric name"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"value {_shown(value)} is not a number"
    if isinstance(value, float) and math.isnan(value):
        return f"value {_shown(value)} is not a number"
    if not abs(value) <= MAX_NUMBER:  # a 400-digit integer never reaches float()
        return f"value {_shown(value)} {say('inputs.number_out_of_range', limit=MAX_NUMBER)}"
    return metric_problem(metric, float(value))


def _shown(value: Any) -> str:
    """A value as the error names it: its repr, cut to 40 characters (a 400-digit number is not echoed whole)."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def ingest(engine: Engine, body: bytes, tz: tzinfo = UTC) -> int:
    """Check the whole body, then write it in one transaction; the number of observations written.
    `tz` is the team's time zone (TIMEZONE): no record may be dated after its today, plus a day of slack."""
    records = parse(body)
    with engine.begin() as conn:
        rows = validate(records, bulk.account_ids(conn), tz)
        store.upsert_observations(conn, rows)
    return len(rows)
