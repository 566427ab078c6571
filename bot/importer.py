"""CSV import of accounts and daily metrics.

Files are parsed and checked whole before anything is written: a file with any bad row
raises `ImportFailed` with line-numbered errors and the database is left untouched.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select
from sqlmodel import col
from tqdm import tqdm

from storage import bulk

ACCOUNT_REQUIRED = ("external_id", "name")
ACCOUNT_OPTIONAL = (
    "domain", "owner_slack_id", "segment", "industry", "employees", "region",
    "lifecycle_stage", "acquisition_channel", "mrr", "contract_start", "renewal_date",
    "status", "churned_on",
)  # fmt: skip
ACCOUNT_DATES = ("contract_start", "renewal_date", "churned_on")
ACCOUNT_STATUSES = ("active", "churned", "paused")
METRIC_COLUMNS = ("external_id", "date", "metric", "value")
METRIC_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_ERRORS_SHOWN = 20


class ImportFailed(Exception):
    """The file cannot be imported; `errors` are line-numbered, human-readable lines."""

    def __init__(self, errors: list[str], total: int | None = None):
        self.errors = errors
        self.total = total if total is not None else len(errors)
        super().__init__("\n".join(errors))

    def report(self) -> str:
        shown = self.errors[:MAX_ERRORS_SHOWN]
        more = self.total - len(shown)
        tail = [f"... and {more} more error(s)"] if more > 0 else []
        return "\n".join([*shown, *tail, "Nothing was imported."])


@dataclass
class _Errors:
    """Collects (line, message) pairs; line numbers count the header as line 1."""

    items: list[tuple[int, str]] = field(default_factory=list)
    count: int = 0

    def add_mask(self, frame: pd.DataFrame, mask: pd.Series, column: str, problem: str) -> None:
        for idx in frame.index[mask.to_numpy()][: MAX_ERRORS_SHOWN * 5]:
            raw = frame.at[idx, column]
            self.items.append((int(idx) + 2, f"{column}: '{raw}' {problem}"))
        self.count += int(mask.sum())

    def add(self, line: int, message: str) -> None:
        self.items.append((line, message))
        self.count += 1

    def raise_if_any(self) -> None:
        if self.items:
            self.items.sort()
            raise ImportFailed([f"line {line}, {msg}" for line, msg in self.items], self.count)


def read_csv(path: str | Path, required: tuple[str, ...], optional: tuple[str, ...]) -> pd.DataFrame:
    """Read a UTF-8 CSV as strings, checking the header against the documented columns."""
    path = Path(path)
    if not path.is_file():
        raise ImportFailed([f"{path}: no such file"])
    try:
        # index_col=False: a first row wider than the header must not become the index;
        # pandas then warns and drops the extra fields, which we turn into an error.
        # skip_blank_lines=False keeps line numbers right; blank rows are dropped below.
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(
                path, dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8-sig",
                skipinitialspace=True, engine="c", index_col=False, skip_blank_lines=False,
            )  # fmt: skip
    except pd.errors.ParserWarning:
        raise ImportFailed([f"{path}: line 2: has more fields than the header"]) from None
    except UnicodeDecodeError as exc:
        raise ImportFailed([f"{path}: not UTF-8 (byte {exc.start}); save the file as UTF-8 and retry"]) from None
    except pd.errors.EmptyDataError:
        raise ImportFailed([f"{path}: the file is empty; the first line must be the header"]) from None
    except pd.errors.ParserError as exc:
        raise ImportFailed([f"{path}: {_parser_message(exc)}"]) from None
    columns = [c.strip() for c in frame.columns]
    frame.columns = pd.Index(columns)
    errors = []
    extra = [c for c in columns if c not in required + optional]
    if extra:
        allowed = ", ".join(required + optional)
        errors.append(f"line 1: unknown column(s) {', '.join(extra)}; allowed columns are {allowed}")
    missing = [c for c in required if c not in columns]
    if missing:
        errors.append(f"line 1: missing required column(s) {', '.join(missing)}")
    dupes = sorted({c for c in columns if columns.count(c) > 1})
    if dupes:
        errors.append(f"line 1: column(s) {', '.join(dupes)} appear more than once")
    if errors:
        raise ImportFailed(errors)
    frame = frame.apply(lambda col: col.str.strip())
    return frame[(frame != "").any(axis=1)]  # drop blank rows, keeping each row's line number in the index


def _parser_message(exc: Exception) -> str:
    match = re.search(r"line (\d+), saw (\d+)", str(exc))
    if match:
        return f"line {match.group(1)}: has {match.group(2)} fields, more than the header"
    return str(exc)


def _dates(frame: pd.DataFrame, column: str, errors: _Errors, required: bool) -> pd.Series:
    raw = frame[column]
    parsed = pd.to_datetime(raw, format="%Y-%m-%d", errors="coerce")
    empty = raw == ""
    bad = parsed.isna() & ~empty
    errors.add_mask(frame, bad, column, "is not a date (use YYYY-MM-DD)")
    if required:
        errors.add_mask(frame, empty, column, "is empty; a date is required")
    return parsed.dt.strftime("%Y-%m-%d").where(~parsed.isna(), None)


def _numbers(frame: pd.DataFrame, column: str, errors: _Errors, *, integer: bool = False,
             minimum: float | None = None, required: bool = False) -> pd.Series:  # fmt: skip
    raw = frame[column]
    parsed = pd.to_numeric(raw, errors="coerce")
    empty = raw == ""
    bad = (parsed.isna() | ~np.isfinite(parsed.fillna(0))) & ~empty
    errors.add_mask(frame, bad, column, "is not a number")
    if integer:
        frac = ~bad & ~empty & (parsed.fillna(0) % 1 != 0)
        errors.add_mask(frame, frac, column, "is not a whole number")
    if minimum is not None:
        low = ~bad & ~empty & (parsed.fillna(minimum) < minimum)
        errors.add_mask(frame, low, column, f"is below {minimum:g}")
    if required:
        errors.add_mask(frame, empty, column, "is empty; a number is required")
    return parsed.astype(object).where(~parsed.isna(), None)


def _duplicates(frame: pd.DataFrame, key: list[str], errors: _Errors, what: str) -> None:
    dup = frame.duplicated(key, keep=False)
    if not dup.any():
        return
    first_line = frame[dup].reset_index().groupby(key, sort=False)["index"].transform("min") + 2
    for idx, first in zip(frame.index[dup], first_line, strict=True):
        if idx + 2 != first:
            errors.add(int(idx) + 2, f"{what} repeats line {first}")


def parse_accounts(path: str | Path) -> pd.DataFrame:
    """Validated account rows, with only the columns present in the file."""
    frame = read_csv(path, ACCOUNT_REQUIRED, ACCOUNT_OPTIONAL)
    errors = _Errors()
    for column in ACCOUNT_REQUIRED:
        errors.add_mask(frame, frame[column] == "", column, "is empty; it is required")
    long_id = frame["external_id"].str.len() > 128
    errors.add_mask(frame, long_id, "external_id", "is longer than 128 characters")
    _duplicates(frame[["external_id"]], ["external_id"], errors, "external_id")
    out = pd.DataFrame(index=frame.index)
    out["external_id"] = frame["external_id"]
    out["name"] = frame["name"]
    for column in frame.columns:
        if column in ACCOUNT_DATES:
            out[column] = _dates(frame, column, errors, required=False)
        elif column == "employees":
            out[column] = _numbers(frame, column, errors, integer=True, minimum=0)
        elif column == "mrr":
            out[column] = _numbers(frame, column, errors, minimum=0)
        elif column == "status":
            status = frame[column].str.lower()
            bad = ~status.isin(ACCOUNT_STATUSES) & (status != "")
            errors.add_mask(frame, bad, column, f"is not one of {', '.join(ACCOUNT_STATUSES)}")
            out[column] = status
        elif column not in ACCOUNT_REQUIRED:
            out[column] = frame[column].where(frame[column] != "", None)
    if "churned_on" in out and "status" in out:
        churned_without_status = out["churned_on"].notna() & (out["status"] == "active")
        errors.add_mask(frame, churned_without_status, "status", "is 'active' but churned_on is set")
    errors.raise_if_any()
    if "employees" in out:  # whole numbers as int: PostgreSQL's COPY refuses "12.0" for an integer column
        out["employees"] = pd.Series([None if v is None else int(v) for v in out["employees"]], out.index, object)
    if "status" in out:
        implied = out["status"].eq("") & out.get("churned_on", pd.Series(None, index=out.index)).notna()
        out["status"] = out["status"].mask(implied, "churned").replace("", "active")
    elif "churned_on" in out:
        out["status"] = np.where(out["churned_on"].notna(), "churned", "active")
    return out


def parse_metrics(path: str | Path, known_accounts: dict[str, int]) -> pd.DataFrame:
    """Validated metric rows as (account_id, day, metric, value)."""
    frame = read_csv(path, METRIC_COLUMNS, ())
    errors = _Errors()
    account_id = frame["external_id"].map(known_accounts)
    unknown = account_id.isna() & (frame["external_id"] != "")
    errors.add_mask(
        frame, unknown, "external_id", "is not a known account (import it with `healthbot import accounts` first)"
    )
    errors.add_mask(frame, frame["external_id"] == "", "external_id", "is empty; it is required")
    day = _dates(frame, "date", errors, required=True)
    bad_metric = ~frame["metric"].str.match(METRIC_NAME)
    errors.add_mask(
        frame, bad_metric, "metric", "is not a metric name (lower-case letters, digits and _ , e.g. logins)"
    )
    value = _numbers(frame, "value", errors, required=True)
    _duplicates(frame[["external_id", "date", "metric"]], ["external_id", "date", "metric"], errors,
                "the same external_id, date and metric")  # fmt: skip
    errors.raise_if_any()
    return pd.DataFrame({
        "account_id": account_id.astype("int64"),
        "day": day,
        "metric": frame["metric"],
        "value": value.astype("float64"),
    })  # fmt: skip


def _bar(total: int, desc: str, quiet: bool) -> Any:
    return tqdm(total=total, desc=desc, unit="rows", unit_scale=True, disable=quiet or total < 20_000, leave=False)


def import_accounts(engine: Engine, path: str | Path, quiet: bool = False) -> int:
    rows = parse_accounts(path)
    from storage.models import Account, utcnow

    now = utcnow().isoformat()
    rows["name_lower"] = rows["name"].str.lower()
    rows["updated_at"] = now
    with engine.begin() as conn, _bar(len(rows), "accounts", quiet) as bar:
        existing = bulk.account_ids(conn)
        new = ~rows["external_id"].isin(existing.keys())
        fresh = rows[new].copy()
        for column, default in (("status", "active"), ("created_at", now)):
            if column not in fresh:
                fresh[column] = default
        if len(fresh):
            bulk.upsert_rows(conn, "account", list(fresh.columns), ["external_id"], _records(fresh), bar.update)
        if (~new).any():
            update = rows[~new]
            if "status" not in update:  # NOT NULL: the upsert's insert half needs it; keep the stored one
                stored = dict(conn.execute(select(col(Account.external_id), col(Account.status))).all())
                update = update.assign(status=update["external_id"].map(stored))
            bulk.upsert_rows(conn, "account", list(update.columns), ["external_id"], _records(update), bar.update)
    return len(rows)


def import_metrics(engine: Engine, path: str | Path, quiet: bool = False) -> int:
    with engine.connect() as conn:
        known = bulk.account_ids(conn)
    rows = parse_metrics(path, known)
    with engine.begin() as conn, _bar(len(rows), "metrics", quiet) as bar:
        bulk.upsert_rows(conn, "metric_observation", list(rows.columns), ["account_id", "day", "metric"],
                         _records(rows), bar.update)  # fmt: skip
    return len(rows)


def _records(frame: pd.DataFrame) -> list[tuple[Any, ...]]:
    """Rows as plain Python tuples (the drivers cannot bind numpy scalars)."""
    columns = [frame[c].astype(object).where(frame[c].notna(), None).tolist() for c in frame.columns]
    return list(zip(*columns, strict=True))
