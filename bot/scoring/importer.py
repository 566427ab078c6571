"""CSV import of accounts and daily metrics.

Files are parsed and checked whole before anything is written: a file with any bad row
raises `ImportFailed` with line-numbered errors and the database is left untouched.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine

from bot.dates import DayError, parse_day
from bot.progress import Bar
from bot.scoring.csvfile import MAX_ERRORS_SHOWN, Errors, ImportFailed, read_csv
from prompts import say
from storage import accounts, bulk
from storage.models import ACCOUNT_TRACKED_FIELDS, Account
from storage.types import ACCOUNT_STATUSES, AccountStatus, utcnow

ACCOUNT_REQUIRED = ("external_id", "name")
ACCOUNT_OPTIONAL = (
    "domain",
    "owner_slack_id",
    "segment",
    "plan",
    "industry",
    "employees",
    "region",
    "lifecycle_stage",
    "acquisition_channel",
    "mrr",
    "contract_start",
    "renewal_date",
    "status",
    "churned_on",
)
SEEN_ON_COLUMN = "as_of"  # a column of the file, not of the account: the day the row's values were seen
ACCOUNT_DATES = ("contract_start", "renewal_date", "churned_on")
METRIC_COLUMNS = ("external_id", "date", "metric", "value")
# The values the documented metrics can take (README, "Your data"); other metrics take any number.
METRIC_RANGES: dict[str, tuple[float, float | None]] = {
    "logins": (0, None),
    "active_users": (0, None),
    "core_feature_events": (0, None),
    "tickets_opened": (0, None),
    "ticket_csat": (1, 5),
    "nps": (0, 10),
    "payment_days_overdue": (0, None),
    "email_opens": (0, None),
    "champion_left": (0, 1),
}
# Documented 0/1 flags (README, "Your data"): any other value is an error, not a fraction of a flag.
METRIC_FLAGS = ("champion_left",)
METRIC_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
# The longest text each account column holds (PostgreSQL refuses longer values mid-import).
ACCOUNT_MAX_LENGTH = {
    c.name: c.type.length
    for c in Account.__table__.columns  # type: ignore[attr-defined]
    if getattr(c.type, "length", None)
}
MAX_INT = 2**31 - 1  # an INTEGER column on PostgreSQL
# The largest magnitude a number from outside may have (metric values, MRR): far past any real one, and small
# enough that sums and means of many stay exact to the cent in a float (double precision on PostgreSQL).
MAX_NUMBER = 1e15
CLOCK_SLACK = timedelta(days=1)  # a metric dated tomorrow is clock skew (a source a time zone ahead), not the future


def last_metric_day(tz: tzinfo, now: datetime | None = None) -> date:
    """The latest day a metric may be dated: today in the team's time zone (TIMEZONE), plus one day of slack
    for clock skew. Every way in (import, POST /ingest/metrics, sync) refuses a later day: it has not happened."""
    return (now or datetime.now(tz)).astimezone(tz).date() + CLOCK_SLACK


def _distinct(frame: pd.DataFrame, column: str) -> tuple[np.ndarray, pd.Series]:
    """The column as codes into its distinct texts (in order of first appearance): checks run once per text."""
    codes, given = pd.factorize(frame[column])
    return codes, pd.Series(given)


def _day_codes(frame: pd.DataFrame, column: str, errors: Errors, required: bool) -> tuple[np.ndarray, np.ndarray]:
    """Codes into the column's distinct days as 'YYYY-MM-DD' (None when empty or bad), each read with `parse_day`."""
    codes, given = _distinct(frame, column)
    days = np.full(len(given), None, dtype=object)
    problems = np.full(len(given), None, dtype=object)
    for i, text in enumerate(given):
        if text:
            try:
                days[i] = parse_day(text).isoformat()
            except DayError as error:
                problems[i] = str(error)
    for problem in dict.fromkeys(p for p in problems if p is not None):
        errors.add_mask(frame, (problems == problem)[codes], column, problem)
    if required:
        errors.add_mask(frame, (given == "").to_numpy()[codes], column, say("import_errors.problem.empty_date"))
    return codes, days


def _dates(frame: pd.DataFrame, column: str, errors: Errors, required: bool) -> pd.Series:
    """The column's days as 'YYYY-MM-DD' (None when empty), each distinct text read once with `parse_day`."""
    codes, days = _day_codes(frame, column, errors, required)
    return pd.Series(days[codes], index=frame.index, dtype=object)


def _numbers(frame: pd.DataFrame, column: str, errors: Errors, **checks: Any) -> pd.Series:
    """The column's numbers as Python numbers (None when empty or bad)."""
    values = _parsed_numbers(frame, column, errors, **checks)
    return values.astype(object).where(~values.isna(), None)


def _parsed_numbers(
    frame: pd.DataFrame,
    column: str,
    errors: Errors,
    *,
    integer: bool = False,
    minimum: float | None = None,
    maximum: float | None = None,
    required: bool = False,
) -> pd.Series:
    """The column's numbers (NaN when empty or bad), each distinct text checked once."""
    codes, raw = _distinct(frame, column)
    parsed = pd.to_numeric(raw, errors="coerce")
    empty = raw == ""
    huge = ~empty & (parsed.abs() > MAX_NUMBER)
    if huge.any():
        huge &= ~raw.str.strip().str.lower().str.lstrip("+-").isin(["inf", "infinity"])
    bad = (parsed.isna() | ~np.isfinite(parsed.fillna(0))) & ~empty & ~huge
    comma = bad & raw.str.contains(",", regex=False)
    problems = [
        (huge, say("inputs.number_out_of_range", limit=MAX_NUMBER)),
        (bad & ~comma, say("import_errors.problem.not_number")),
        (comma, say("import_errors.problem.separators")),
    ]
    bad |= huge
    if integer:
        problems.append((~bad & ~empty & (parsed.fillna(0) % 1 != 0), say("import_errors.problem.not_whole")))
    if minimum is not None:
        problems.append(
            (
                ~bad & ~empty & (parsed.fillna(minimum) < minimum),
                say("import_errors.problem.below", minimum=f"{minimum:g}"),
            )
        )
    if maximum is not None:
        problems.append(
            (
                ~bad & ~empty & (parsed.fillna(0) > maximum),
                say("import_errors.problem.above", maximum=f"{maximum:,.15g}"),
            )
        )
    if required:
        problems.append((empty, say("import_errors.problem.empty_number")))
    for mask, problem in problems:
        if mask.any():
            errors.add_mask(frame, mask.to_numpy()[codes], column, problem)
    return pd.Series(parsed.to_numpy()[codes], index=frame.index)


def _out_of_range(
    frame: pd.DataFrame, metric_codes: np.ndarray, metrics: pd.Series, numbers: np.ndarray, errors: Errors
) -> None:
    """Values outside their documented metric's range (`METRIC_RANGES`, `METRIC_FLAGS`)."""
    flag = metrics.isin(METRIC_FLAGS).to_numpy()[metric_codes]
    not_flag = flag & ~np.isnan(numbers) & (numbers != 0) & (numbers != 1)
    for line in frame.index[not_flag][: MAX_ERRORS_SHOWN * 5]:
        errors.add(
            int(line), say("import_errors.row.not_flag", value=frame.at[line, "value"], metric=frame.at[line, "metric"])
        )
    errors.count += max(0, int(not_flag.sum()) - MAX_ERRORS_SHOWN * 5)
    ranged = {m: r for m, r in METRIC_RANGES.items() if m not in METRIC_FLAGS}
    for code, metric in enumerate(metrics):
        if metric not in ranged:
            continue
        lo, hi = ranged[metric]
        mine = metric_codes == code
        outside = mine & ((numbers < lo) | (numbers > (np.inf if hi is None else hi)))  # NaN compares False
        if outside.any():
            span = (
                say("import_errors.problem.span", low=f"{lo:g}", high=f"{hi:g}")
                if hi is not None
                else say("import_errors.problem.span_open", low=f"{lo:g}")
            )
            errors.add_mask(frame, outside, "value", say("import_errors.problem.outside", metric=metric, span=span))


def _duplicates(frame: pd.DataFrame, key: list[str], errors: Errors, what: str) -> None:
    later = frame.duplicated(key, keep="first")  # rows are in file order: the first one is not an error
    if not later.any():
        return
    shown = frame[later].head(MAX_ERRORS_SHOWN * 5).reset_index()
    firsts = frame[~later].reset_index().merge(shown[key].drop_duplicates(), on=key)
    pairs = shown.merge(firsts, on=key, suffixes=("", "_first"))
    for line, first in zip(pairs["index"], pairs["index_first"], strict=True):
        errors.add(int(line), say("import_errors.row.repeats", what=what, first=first))
    errors.count += int(later.sum()) - len(shown)


def parse_accounts(path: str | Path, today: date | None = None) -> pd.DataFrame:
    """Validated account rows, with only the columns present in the file (`as_of` among them: the day
    the row's values were seen, 'YYYY-MM-DD' or None, never after `today`)."""
    frame = read_csv(path, ACCOUNT_REQUIRED, (*ACCOUNT_OPTIONAL, SEEN_ON_COLUMN))
    errors = Errors()
    for column in ACCOUNT_REQUIRED:
        errors.add_mask(frame, frame[column] == "", column, say("import_errors.problem.empty"))
    for column in frame.columns:
        if column in ACCOUNT_MAX_LENGTH:
            limit = ACCOUNT_MAX_LENGTH[column]
            errors.add_mask(
                frame, frame[column].str.len() > limit, column, say("import_errors.problem.too_long", limit=limit)
            )
    _duplicates(frame[["external_id"]], ["external_id"], errors, "external_id")
    out = pd.DataFrame(index=frame.index)
    out["external_id"] = frame["external_id"]
    out["name"] = frame["name"]
    for column in frame.columns:
        if column in ACCOUNT_DATES:
            out[column] = _dates(frame, column, errors, required=False)
        elif column == SEEN_ON_COLUMN:
            out[column] = _seen_days(frame, errors, today or date.today())
        elif column == "employees":
            out[column] = _numbers(frame, column, errors, integer=True, minimum=0, maximum=MAX_INT)
        elif column == "mrr":
            out[column] = _numbers(frame, column, errors, minimum=0)
        elif column == "status":
            status = frame[column].str.lower()
            bad = ~status.isin(ACCOUNT_STATUSES) & (status != "")
            errors.add_mask(
                frame, bad, column, say("import_errors.problem.not_one_of", choices=", ".join(ACCOUNT_STATUSES))
            )
            out[column] = status
        elif column not in ACCOUNT_REQUIRED:
            out[column] = frame[column].where(frame[column] != "", None)
    if "churned_on" in out and "status" in out:
        churned_without_status = out["churned_on"].notna() & (out["status"] == AccountStatus.ACTIVE)
        errors.add_mask(frame, churned_without_status, "status", say("import_errors.problem.active_churned"))
    if "churned_on" in out and "contract_start" in out:
        started = out["contract_start"]
        early = out["churned_on"].notna() & started.notna() & (out["churned_on"].fillna("") < started.fillna(""))
        for line in frame.index[early.to_numpy()][: MAX_ERRORS_SHOWN * 5]:
            errors.add(
                int(line),
                say("import_errors.row.churned_before", churned=out.at[line, "churned_on"], started=started[line]),
            )
        errors.count += max(0, int(early.sum()) - MAX_ERRORS_SHOWN * 5)
    errors.raise_if_any()
    if "employees" in out:  # whole numbers as int: PostgreSQL's COPY refuses "12.0" for an integer column
        out["employees"] = pd.Series([None if v is None else int(v) for v in out["employees"]], out.index, object)
    if "status" in out:
        implied = out["status"].eq("") & out.get("churned_on", pd.Series(None, index=out.index)).notna()
        out["status"] = out["status"].mask(implied, AccountStatus.CHURNED.value).replace("", AccountStatus.ACTIVE.value)
    elif "churned_on" in out:  # no status column: a date means churned, else the status stays as it is
        out["status"] = out["churned_on"].notna().map({True: AccountStatus.CHURNED.value, False: None}).astype(object)
    return out


def _seen_days(frame: pd.DataFrame, errors: Errors, today: date) -> pd.Series:
    day = _dates(frame, "as_of", errors, required=False)
    future = day.notna() & (day.fillna("") > today.isoformat())
    errors.add_mask(frame, future, "as_of", say("import_errors.problem.after_today", today=today))
    return day


def parse_metrics(path: str | Path, known_accounts: dict[str, int], tz: tzinfo = UTC) -> pd.DataFrame:
    """Validated metric rows as (account_id, day, metric, value), day 'YYYY-MM-DD' and metric as categoricals;
    none dated after `last_metric_day(tz)`. Each check runs once per distinct text (a file of a million rows
    names a few thousand accounts, days and numbers), then spreads to the rows by code."""
    frame = read_csv(path, METRIC_COLUMNS, ())
    errors = Errors()
    last = last_metric_day(tz)
    account_codes, external_ids = _distinct(frame, "external_id")
    ids = external_ids.map(known_accounts)
    unknown = (ids.isna() & (external_ids != "")).to_numpy()[account_codes]
    errors.add_mask(frame, unknown, "external_id", say("import_errors.problem.unknown_account"))
    errors.add_mask(
        frame, (external_ids == "").to_numpy()[account_codes], "external_id", say("import_errors.problem.empty")
    )
    day_codes, days = _day_codes(frame, "date", errors, required=True)
    future = np.array([d is not None and d > last.isoformat() for d in days], dtype=bool)
    errors.add_mask(frame, future[day_codes], "date", say("metrics.future.import", today=last - CLOCK_SLACK, tz=tz))
    metric_codes, metrics = _distinct(frame, "metric")
    bad_metric = ~metrics.str.match(METRIC_NAME).to_numpy(dtype=bool)[metric_codes]
    errors.add_mask(frame, bad_metric, "metric", say("import_errors.problem.not_metric"))
    value = _parsed_numbers(frame, "value", errors, required=True).to_numpy(dtype="float64")
    _out_of_range(frame, metric_codes, metrics, value, errors)
    _duplicates(
        pd.DataFrame({"external_id": account_codes, "date": day_codes, "metric": metric_codes}, index=frame.index),
        ["external_id", "date", "metric"],
        errors,
        say("import_errors.row.same_metric"),
    )
    errors.raise_if_any()
    return pd.DataFrame(
        {
            "account_id": ids.to_numpy(dtype="int64")[account_codes],
            "day": pd.Categorical.from_codes(day_codes, categories=pd.Index(days, dtype=object)),
            "metric": pd.Categorical.from_codes(metric_codes, categories=pd.Index(metrics, dtype=object)),
            "value": value,
        },
        index=frame.index,
    )


def _bar(total: int, desc: str, quiet: bool) -> Any:
    return Bar(
        total=total,
        desc=desc,
        unit=say("cli.progress.rows"),
        unit_scale=True,
        disable=quiet or total < 20_000,
        leave=False,
    )


def import_accounts(engine: Engine, path: str | Path, quiet: bool = False, seen_on: date | None = None) -> int:
    """Upsert the file's accounts and record the changes of their tracked fields (`ACCOUNT_TRACKED_FIELDS`).

    Each row's values count as seen on its `as_of` day, else on `seen_on`, else today. A tracked value
    seen before the field's latest recorded change is history only, and a row seen before the
    account's newest recorded change leaves its other columns as they are: the account table keeps
    the latest values (README, "Your data").
    """
    today = date.today()
    if seen_on is not None and seen_on > today:
        raise ImportFailed([say("import_errors.row.seen_after_today", day=seen_on, today=today)])
    rows = parse_accounts(path, today)
    given = rows.pop(SEEN_ON_COLUMN) if SEEN_ON_COLUMN in rows else pd.Series(None, index=rows.index, dtype=object)
    day = pd.to_datetime(given.fillna((seen_on or today).isoformat()), format="%Y-%m-%d")
    now = utcnow().isoformat()
    rows["name_lower"] = rows["name"].str.lower()
    rows["updated_at"] = now
    tracked = [f for f in ACCOUNT_TRACKED_FIELDS if f in rows]
    with engine.begin() as conn, _bar(len(rows), say("cli.progress.accounts"), quiet) as bar:
        existing = bulk.account_ids(conn)
        new = ~rows["external_id"].isin(existing.keys())
        stored = bool((~new).any())  # accounts already in the database: their history counts
        history = accounts.field_history(conn, tracked if stored else ())
        fresh = rows[new].copy()
        for column, default in (("status", AccountStatus.ACTIVE.value), ("created_at", now)):
            fresh[column] = fresh[column].fillna(default) if column in fresh else default
        if len(fresh):
            bulk.upsert_rows(conn, "account", list(fresh.columns), ["external_id"], _records(fresh), bar.update)
        account_id = rows["external_id"].map(bulk.account_ids(conn) if len(fresh) else existing).astype("int64")
        if stored:
            later = accounts.field_changes_after(conn, day[~new].min().date())
            update = _keep_newer(conn, rows[~new], account_id[~new], day[~new], later)
            if "status" not in update or update["status"].isna().any():  # NOT NULL: keep the stored one
                statuses = bulk.account_statuses(conn)
                kept = update["external_id"].map(statuses)
                update = update.assign(status=update["status"].fillna(kept) if "status" in update else kept)
            bulk.upsert_rows(conn, "account", list(update.columns), ["external_id"], _records(update), bar.update)
        accounts.record_field_changes(conn, account_id.to_numpy(), rows[tracked], day, history)
    return len(rows)


def _keep_newer(
    conn: Connection, update: pd.DataFrame, account_id: pd.Series, day: pd.Series, later: pd.DataFrame
) -> pd.DataFrame:
    """`update` with the stored value put back in every cell seen before what is stored: a tracked
    field before its latest recorded change, another column before the account's newest change.
    `later` as `storage.accounts.field_changes_after` gives it for the earliest day in `update`."""
    by_field = {name: part.set_index("account_id")["seen_on"] for name, part in later.groupby("field")}
    newest = later.groupby("account_id")["seen_on"].max()
    keep: dict[str, np.ndarray] = {}
    for column in update.columns:
        if column in ("external_id", "updated_at"):
            continue
        if column in ACCOUNT_TRACKED_FIELDS:
            keep[column] = _after(by_field.get(column, newest.iloc[:0]), account_id, day)
        else:
            keep[column] = _after(newest, account_id, day)
    keep = {c: mask for c, mask in keep.items() if mask.any()}
    if not keep:
        return update
    stored = accounts.account_columns(conn, list(keep))
    stored = stored.set_index("external_id").reindex(update["external_id"]).set_axis(update.index)
    return update.assign(**{c: update[c].astype(object).where(~mask, stored[c]) for c, mask in keep.items()})


def _after(seen: pd.Series, account_id: pd.Series, day: pd.Series) -> np.ndarray:
    """True where the account's `seen` day (a series by account id) is after the row's `day`."""
    return seen.reindex(account_id.to_numpy()).to_numpy() > day.to_numpy()


def import_metrics(engine: Engine, path: str | Path, quiet: bool = False, tz: tzinfo = UTC) -> int:
    """Import a metrics file whole; `tz` is the team's time zone, whose today (plus a day of slack) no
    metric may be dated after."""
    with engine.connect() as conn:
        known = bulk.account_ids(conn)
    rows = parse_metrics(path, known, tz)
    with engine.begin() as conn, _bar(len(rows), say("cli.progress.metrics"), quiet) as bar:
        bulk.upsert_observations(conn, rows, bar.update)
    return len(rows)


def _records(frame: pd.DataFrame) -> list[tuple[Any, ...]]:
    """Rows as plain Python tuples (the drivers cannot bind numpy scalars)."""
    columns = [frame[c].astype(object).where(frame[c].notna(), None).tolist() for c in frame.columns]
    return list(zip(*columns, strict=True))
