"""JSON records to account rows or metric observations, one record at a time.

A record that does not fit raises `RecordError` with a short `reason` (what the summary counts) and a
`detail` (what the report shows). Metric values are checked with the importer's rules
(`bot.scoring.importer`: metric names, documented ranges, 0/1 flags), so pulled, pushed and imported
data obey the same limits.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from typing import Any

from bot.connectors.http import path_get
from bot.connectors.sources import FieldSpec, Source
from bot.dates import FIRST_DAY, LAST_DAY, DayError, parse_day
from bot.scoring.importer import (
    ACCOUNT_DATES,
    ACCOUNT_MAX_LENGTH,
    ACCOUNT_STATUSES,
    MAX_INT,
    MAX_NUMBER,
    METRIC_FLAGS,
    METRIC_NAME,
    METRIC_RANGES,
)
from prompts import say


class RecordError(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


_MISSING = object()


def _error(key: str, what: str, **values: Any) -> RecordError:
    """The RecordError of prompts/sync.toml [record] `key` (the reason) and `key`_detail, for field `what`."""
    return RecordError(say(f"sync.record.{key}", what=what), say(f"sync.record.{key}_detail", what=what, **values))


def metric_problem(metric: str, value: float) -> str | None:
    """Why `value` cannot be an observation of `metric` (the importer's rules), or None."""
    if not METRIC_NAME.fullmatch(metric):
        return say("sync.record.metric_name", metric=repr(metric))
    if not math.isfinite(value):
        return say("sync.record.not_finite", metric=metric, value=value)
    if abs(value) > MAX_NUMBER:
        return say(
            "sync.record.value",
            what=metric,
            value=f"{value:g}",
            why=say("inputs.number_out_of_range", limit=MAX_NUMBER),
        )
    if metric in METRIC_FLAGS and value not in (0, 1):
        return say("sync.record.flag", metric=metric, value=f"{value:g}")
    low, high = METRIC_RANGES.get(metric, (-math.inf, None))
    if value < low or (high is not None and value > high):
        if high is not None:
            span = say("sync.record.span", low=f"{low:g}", high=f"{high:g}")
        else:
            span = say("sync.record.span_open", low=f"{low:g}")
        return say("sync.record.outside", metric=metric, value=f"{value:g}", span=span)
    return None


def read(record: Any, spec: FieldSpec, what: str) -> Any:
    """The field's value after `ignore`/`map`; None when absent or ignored."""
    value = path_get(record, spec.path) if spec.path else _MISSING
    if value is None or value is _MISSING or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str | int | float | bool) and str(value) in spec.ignore:
        return None
    if spec.map is not None:
        key = str(value).lower() if isinstance(value, bool) else str(value)
        if key not in spec.map:
            known = ", ".join(list(spec.map)[:10])
            raise _error("unknown_value", what, value=repr(key), known=known)
        value = spec.map[key]
    return value


def number(value: Any, what: str, scale: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _error("not_number", what, value=repr(value))
    try:
        out = float(value)
    except ValueError:
        raise _error("not_number", what, value=repr(value)) from None
    except OverflowError:  # an integer past any float
        out = math.inf if isinstance(value, int) else math.nan
    if not math.isfinite(out) and not isinstance(value, int):
        raise _error("not_number", what, value=repr(str(value)[:40]))
    out = out * scale if scale is not None else out
    if not abs(out) <= MAX_NUMBER:
        too_big = say("inputs.number_out_of_range", limit=MAX_NUMBER)
        detail = say("sync.record.value", what=what, value=repr(str(value)[:40]), why=too_big)
        raise RecordError(say("sync.record.out_of_range", what=what), detail)
    return out


def moment(value: Any, what: str) -> datetime:
    """A time from an ISO 8601 date or timestamp, or Unix seconds (milliseconds past year 33658)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            seconds = value / 1000 if value > 1e12 else value
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            pass
    elif isinstance(value, str):
        text = value.strip()
        if text.isascii() and text.isdigit():
            return moment(int(text), what)
        try:
            if not re.match(r"[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[T ]|$)", text):  # fromisoformat takes 2026-W48-6T10
                raise ValueError(text)
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            pass
        else:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
    raise _error("not_date", what, value=shown)


def day_of(value: Any, what: str, tz: tzinfo) -> date:
    """A plain date (YYYY-MM-DD only: no time zone to convert), else the day of a `moment` in `tz`."""
    if isinstance(value, str) and len(value.strip()) == 10 and not value.strip().isdigit():  # digits: Unix seconds
        try:
            return parse_day(value.strip())
        except DayError as error:
            detail = say("sync.record.value", what=what, value=repr(value), why=error)
            raise RecordError(say("sync.record.not_date", what=what), detail) from None
    day = moment(value, what).astimezone(tz).date()
    if not FIRST_DAY <= day <= LAST_DAY:
        beyond = say("inputs.out_of_range", first=FIRST_DAY, last=LAST_DAY)
        detail = say("sync.record.value", what=what, value=repr(str(value)[:40]), why=beyond)
        raise RecordError(say("sync.record.not_date", what=what), detail)
    return day


def changed_at(source: Source, record: Any) -> datetime | None:
    """The record's change time (incremental.field), for the watermark; None when it has none."""
    if source.incremental is None:
        return None
    value = path_get(record, source.incremental.field)
    if value is None:
        return None
    try:
        return moment(value, source.incremental.field)
    except RecordError:
        return None


def account_row(source: Source, record: Any, tz: tzinfo) -> dict[str, Any]:
    """The account columns the source maps, from one record."""
    if not isinstance(record, dict):
        raise _error("not_object", "", type=type(record).__name__)
    row: dict[str, Any] = {}
    for column, spec in source.fields.items():
        value = read(record, spec, column)
        if value is None:
            if column in ("external_id", "name"):
                raise _error("missing", column, path=repr(spec.path))
            row[column] = None
            continue
        if column in ACCOUNT_DATES:
            row[column] = day_of(value, column, tz).isoformat()
        elif column == "mrr":
            row[column] = number(value, column, spec.scale)
            if row[column] < 0:
                raise _error("below_zero", column, value=f"{row[column]:g}")
        elif column == "employees":
            count = number(value, column, spec.scale)
            if count < 0 or count > MAX_INT or count % 1:
                raise _error("not_whole", column, value=repr(value))
            row[column] = int(count)
        elif column == "status":
            status = str(value).strip().lower()
            if status not in ACCOUNT_STATUSES:
                raise _error("unknown_status", column, value=repr(value), statuses=", ".join(ACCOUNT_STATUSES))
            row[column] = status
        else:
            text = str(value).strip() if not isinstance(value, float) or value % 1 else str(int(value))
            limit = ACCOUNT_MAX_LENGTH.get(column)
            if limit and len(text) > limit:
                raise _error("too_long", column, limit=limit)
            row[column] = text
    return row


@dataclass(frozen=True)
class Observation:
    account: str  # the account key as the record gives it (matched by `fields.account.match`)
    day: date
    metric: str
    value: float
    record_id: str | None  # the record's id: aggregated metrics are kept per record


def observations(source: Source, record: Any, tz: tzinfo) -> list[Observation]:
    """The metric observations one record gives (none for a record whose metrics are all absent)."""
    if not isinstance(record, dict):
        raise _error("not_object", "", type=type(record).__name__)
    account = read(record, source.fields["account"], "account")
    if account is None:
        raise _error("missing", "account", path=repr(source.fields["account"].path))
    when = read(record, source.fields["date"], "date")
    if when is None:
        raise _error("missing", "date", path=repr(source.fields["date"].path))
    day = day_of(when, "date", tz)
    record_id = None
    if "id" in source.fields:
        raw_id = read(record, source.fields["id"], "id")
        if raw_id is None:
            raise _error("missing", "id", path=repr(source.fields["id"].path))
        record_id = str(raw_id)
    out = []
    for metric, spec in source.metrics.items():
        if spec.aggregate == "count":
            value: float = 1.0
            if spec.path and read(record, spec, metric) is None:
                continue  # count records that have the field, when a path is given
        else:
            raw = read(record, spec, metric)
            if raw is None:
                continue
            value = number(raw, metric, spec.scale)
            problem = metric_problem(metric, value)
            if problem:
                raise RecordError(say("sync.record.out_of_range", what=metric), problem)
        out.append(Observation(_key(account), day, metric, value, record_id))
    return out


def _key(value: Any) -> str:
    if isinstance(value, float) and value % 1 == 0:
        return str(int(value))
    return str(value).strip()
