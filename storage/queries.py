"""Reads and writes the rest of the code needs, as plain functions over a connection or session.

None of them commits: the caller's unit of work (one per Slack request, job or command) does, once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Date, bindparam, func, or_, text
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from storage import bulk
from storage.models import (
    ACCOUNT_TRACKED_FIELDS,
    Account,
    AccountStatus,
    HealthOverride,
    HealthScore,
    MetricObservation,
    SlackEvent,
    utcnow,
)

ACCOUNT_FRAME_COLUMNS = (
    "id",
    "external_id",
    "name",
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


def _day_number_sql(conn: Connection, column: str) -> str:
    if conn.dialect.name == "postgresql":
        return f"({column} - DATE '1970-01-01')"
    return f"CAST(julianday({column}) - 2440587.5 AS INTEGER)"


def accounts_frame(conn: Connection, active_on: date | None = None) -> pd.DataFrame:
    """Accounts as a frame; with `active_on`, only those that were customers on that day."""
    sql = f"SELECT {', '.join(ACCOUNT_FRAME_COLUMNS)} FROM account"
    params: dict[str, Any] = {}
    if active_on is not None:
        sql += (
            " WHERE (contract_start IS NULL OR contract_start <= :d)"
            " AND (churned_on IS NULL OR churned_on > :d)"
            " AND (status = 'active' OR churned_on IS NOT NULL)"
        )
        params["d"] = active_on
    frame = pd.DataFrame(conn.execute(text(sql), params).fetchall(), columns=list(ACCOUNT_FRAME_COLUMNS))
    return frame.sort_values("id").reset_index(drop=True)


def accounts_as_of(conn: Connection, day: date) -> pd.DataFrame:
    """`accounts_frame` with each tracked field (`ACCOUNT_TRACKED_FIELDS`) as it was known on `day`:
    the latest recorded change seen on or before `day`. When a field's first recorded change is after
    `day`, that first value stands in: nothing older is known. A field with no recorded change keeps
    the account's stored value.

    `mrr` and `employees` come back as floats, `renewal_date` as `date` or None, on both databases."""
    frame = accounts_frame(conn)
    history = field_history(conn)
    if len(history):
        pairs = history[["account_id", "field"]].drop_duplicates().reset_index(drop=True)
        pairs["day"] = pd.Timestamp(day)
        pairs["value"] = field_values_on(history, pairs)["value"].to_numpy()
        for name, known in pairs.groupby("field", sort=False):
            has = frame["id"].isin(known["account_id"]).to_numpy()
            values = frame["id"].map(pd.Series(known["value"].to_numpy(), index=known["account_id"].to_numpy()))
            # rebuilt from a list: the dtype pandas infers for `accounts_frame`'s columns (str, or object)
            frame[name] = pd.Series(frame[name].astype(object).where(~has, values).tolist(), index=frame.index)
    frame["mrr"] = pd.to_numeric(frame["mrr"], errors="coerce").astype(float)
    frame["employees"] = pd.to_numeric(frame["employees"], errors="coerce").astype(float)
    renewal = pd.to_datetime(frame["renewal_date"].astype("string").str[:10], format="%Y-%m-%d", errors="coerce")
    frame["renewal_date"] = pd.Series(renewal.dt.date, index=frame.index, dtype=object).where(renewal.notna(), None)
    return frame


def field_history(conn: Connection, fields: Sequence[str] = ACCOUNT_TRACKED_FIELDS) -> pd.DataFrame:
    """Recorded changes of `fields` (tracked ones) as (account_id, field, seen_on datetime64, value text or None).

    Read through the driver's cursor with days as numbers: a portfolio holds millions of changes."""
    names = list(dict.fromkeys(fields))
    unknown = sorted(set(names) - set(ACCOUNT_TRACKED_FIELDS))
    if unknown:
        raise ValueError(f"not tracked: {', '.join(unknown)}")
    rows: list[tuple[Any, ...]] = []
    if names:  # the names are known identifiers: safe to spell out
        codes = " ".join(f"WHEN '{n}' THEN {i}" for i, n in enumerate(names))
        sql = (
            f"SELECT account_id, CASE field {codes} END, {_day_number_sql(conn, 'seen_on')}, value "
            f"FROM account_field_change WHERE field IN ({', '.join(repr(n) for n in names)})"
        )
        cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cur.execute(sql)
            rows = cur.fetchall()
        finally:
            cur.close()
    table = np.array(rows, dtype=object).reshape(len(rows), 4)
    return pd.DataFrame(
        {
            "account_id": table[:, 0].astype(np.int64),
            "field": np.array(names, dtype=object)[table[:, 1].astype(np.int64)],
            "seen_on": table[:, 2].astype(np.int64).astype("datetime64[D]").astype("datetime64[ns]"),
            "value": table[:, 3],
        }
    )


def field_changes_after(conn: Connection, day: date) -> pd.DataFrame:
    """(field, account_id) -> the latest change seen after `day` (`seen_on`, a Timestamp): none at all when a
    file is newer than everything recorded, the usual case, so this reads next to nothing."""
    rows = conn.execute(
        text(
            "SELECT field, account_id, MAX(seen_on) FROM account_field_change WHERE seen_on > :day "
            "GROUP BY field, account_id"
        ).bindparams(bindparam("day", type_=Date())),
        {"day": day},
    ).all()
    frame = pd.DataFrame([tuple(r) for r in rows], columns=["field", "account_id", "seen_on"])
    return frame.assign(seen_on=pd.to_datetime(frame["seen_on"].astype(str).str[:10], format="%Y-%m-%d"))


def account_columns(conn: Connection, columns: Sequence[str]) -> pd.DataFrame:
    """external_id and these columns of every account, as stored (object dtype)."""
    sql = f"SELECT external_id, {', '.join(columns)} FROM account"
    return pd.DataFrame([tuple(r) for r in conn.execute(text(sql))], columns=["external_id", *columns], dtype=object)


def field_values_on(history: pd.DataFrame, asks: pd.DataFrame) -> pd.DataFrame:
    """For each row of `asks` (account_id, field, day as datetime64): the `value` known that day (the
    latest change on or before it, else the first one after it) and whether any change is `known`;
    rows in the order of `asks`. `history` as `field_history` gives it."""
    keys = {"account_id": "int64", "field": object}  # merge_asof wants the same dtypes on both sides
    left = asks[["account_id", "field", "day"]].reset_index(drop=True).astype({**keys, "day": "datetime64[ns]"})
    left = left.assign(row=np.arange(len(left))).sort_values("day", kind="stable")
    right = history[["account_id", "field", "seen_on", "value"]].astype({**keys, "seen_on": "datetime64[ns]"})
    right = right.sort_values("seen_on", kind="stable")
    value = np.full(len(left), None, dtype=object)
    known = np.zeros(len(left), dtype=bool)
    for direction in ("backward", "forward"):  # forward: only where nothing was seen on or before the day
        found = pd.merge_asof(
            left, right, left_on="day", right_on="seen_on", by=["account_id", "field"], direction=direction
        )  # keeps the rows of `left`, in order
        hit = found["seen_on"].notna().to_numpy()
        rows = found["row"].to_numpy()[hit]
        value[rows], known[rows] = found["value"].to_numpy(dtype=object)[hit], True
        left = left[~hit]
        if not len(left):
            break
    value[pd.isna(value)] = None
    return pd.DataFrame({"value": value, "known": known})


def record_field_changes(
    conn: Connection,
    account_id: Sequence[int],
    values: pd.DataFrame,
    seen_on: pd.Series | date,
    history: pd.DataFrame | None = None,
) -> int:
    """Record each value of `values` (tracked fields as columns, a row per account of `account_id`) that
    differs from what was known on its `seen_on` day (one for all, or datetime64 per row), as seen that
    day; returns how many. Nothing known reads as empty and numbers compare as numbers (1200 is 1200.0),
    so a value that changes no reading of `accounts_as_of` records nothing.
    `history`: `field_history` of these fields, when the caller has read it."""
    history = field_history(conn, list(values.columns)) if history is None else history
    ids = np.asarray(account_id, dtype=np.int64)
    if isinstance(seen_on, date):
        day = np.full(len(ids), pd.Timestamp(seen_on).to_datetime64(), dtype="datetime64[ns]")
    else:
        day = pd.Series(seen_on).to_numpy(dtype="datetime64[ns]")
    iso = pd.Series(day).dt.strftime("%Y-%m-%d").to_numpy(dtype=object)
    by_field = dict(tuple(history.groupby("field", sort=False)))
    out: list[tuple[Any, ...]] = []
    for name in values.columns:
        asks = pd.DataFrame({"account_id": ids, "field": name, "day": day})
        part = by_field.get(name)
        known = pd.Series(None, asks.index, object) if part is None else field_values_on(part, asks)["value"]
        new = _as_text(name, values[name])
        if name in _NUMBER_FIELDS:
            old_n, new_n = (pd.to_numeric(pd.Series(v), errors="coerce").to_numpy(dtype=float) for v in (known, new))
            differs = ~((old_n == new_n) | (np.isnan(old_n) & np.isnan(new_n)))
        else:
            old = known.to_numpy(dtype=object)
            old_empty, new_empty = pd.isna(old), pd.isna(new)
            differs = (old_empty != new_empty) | (~old_empty & ~new_empty & (old != new))
        at = np.flatnonzero(differs)
        out += zip(ids[at].tolist(), [name] * len(at), iso[at].tolist(), new[at].tolist(), strict=True)
    out.sort(key=lambda change: change[:3])  # in key order: SQLite appends to its index instead of scattering
    columns = ("account_id", "field", "seen_on", "value")
    return bulk.upsert_rows(conn, "account_field_change", columns, columns[:3], out) if out else 0


_NUMBER_FIELDS = ("mrr", "employees")
_SPELLING = {"mrr": lambda v: repr(float(v)), "employees": lambda v: str(int(v)), "renewal_date": lambda v: str(v)[:10]}


def _as_text(name: str, values: pd.Series) -> np.ndarray:
    """Tracked values as the history holds them: text, one spelling per value (None for empty)."""
    spell = _SPELLING.get(name, str)
    return np.array([None if pd.isna(v) else spell(v) for v in values.to_numpy(dtype=object)], dtype=object)


def observations(conn: Connection, start: date, end: date, metrics: Sequence[str]) -> pd.DataFrame:
    """Long rows (account_id, day_num, metric, value) for days in [start, end].

    `metric` is a categorical over `metrics` (a byte a row, not a string object): a daily
    run reads tens of millions of rows. Row order is unspecified.
    """
    names = list(dict.fromkeys(metrics))
    account_id, day_num, code, value = bulk.read_observations(conn, start, end, names)
    metric = pd.Categorical.from_codes(code, categories=pd.Index(names, dtype=object))
    return pd.DataFrame({"account_id": account_id, "day_num": day_num, "metric": metric, "value": value}, copy=False)


def scores_on(conn: Connection, days: Sequence[date]) -> pd.DataFrame:
    """Stored (account_id, day_num, score, tier) for the given days."""
    day_num = _day_number_sql(conn, "day")
    stmt = text(
        f"SELECT account_id, {day_num} AS day_num, score, tier FROM health_score WHERE day IN :days"
    ).bindparams(bindparam("days", expanding=True))
    # plain tuples: pandas inspects every SQLAlchemy Row object (slow for a million rows)
    rows = [tuple(r) for r in conn.execute(stmt, {"days": list(days)})] if days else []
    return pd.DataFrame(rows, columns=["account_id", "day_num", "score", "tier"])


SCORE_COLUMNS = (
    "account_id",
    "day",
    "score",
    "tier",
    "scorecard",
    "partial",
    "delta_7",
    "delta_30",
    "parts",
    "computed_at",
)


def save_scores(conn: Connection, rows: list[tuple[Any, ...]]) -> int:
    """Upsert score rows (columns as SCORE_COLUMNS): re-running a day replaces it."""
    return bulk.upsert_rows(conn, "health_score", SCORE_COLUMNS, ["account_id", "day"], rows, json_columns=["parts"])


def delete_scores(conn: Connection, day: date, keep_account_ids: Sequence[int]) -> None:
    """Drop scores of `day` for accounts no longer scored (e.g. too little data now).

    The stale ids are found in Python and deleted in chunks: a `NOT IN` list of every
    scored account would pass SQLite's limit on bound parameters.
    """
    keep = set(keep_account_ids)
    stored = conn.execute(text("SELECT account_id FROM health_score WHERE day = :d"), {"d": day}).scalars()
    stale = [account_id for account_id in stored if account_id not in keep]
    stmt = text("DELETE FROM health_score WHERE day = :d AND account_id IN :ids").bindparams(
        bindparam("ids", expanding=True)
    )
    for start in range(0, len(stale), 500):
        conn.execute(stmt, {"d": day, "ids": stale[start : start + 500]})


def latest_metric_day(conn: Connection, until: date | None = None) -> date | None:
    """The latest day with any metric; with `until`, the latest on or before it (a row dated later is ignored)."""
    if until is None:
        value = conn.execute(text("SELECT MAX(day) FROM metric_observation")).scalar()
    else:
        value = conn.execute(text("SELECT MAX(day) FROM metric_observation WHERE day <= :d"), {"d": until}).scalar()
    return date.fromisoformat(value) if isinstance(value, str) else value


def observations_after(conn: Connection, day: date, limit: int = 5) -> tuple[int, list[tuple[str, date, date, int]]]:
    """Metric rows dated after `day`: how many, and the `limit` accounts with the most of them as
    (external_id, first day, last day, rows)."""
    total = conn.execute(text("SELECT COUNT(*) FROM metric_observation WHERE day > :d"), {"d": day}).scalar_one()
    if not total:
        return 0, []
    rows = conn.execute(
        text(
            "SELECT a.external_id, MIN(o.day), MAX(o.day), COUNT(*) FROM metric_observation o "
            "JOIN account a ON a.id = o.account_id WHERE o.day > :d "
            "GROUP BY a.external_id ORDER BY COUNT(*) DESC, a.external_id LIMIT :n"
        ),
        {"d": day, "n": limit},
    ).all()
    return int(total), [(r[0], _as_date(r[1]), _as_date(r[2]), int(r[3])) for r in rows]


def _as_date(value: Any) -> date:
    """A DATE column's value: a date on PostgreSQL, 'YYYY-MM-DD' text on SQLite."""
    return date.fromisoformat(str(value)[:10]) if isinstance(value, str) else value


def delete_scores_after(conn: Connection, day: date) -> int:
    """Drop scores dated after `day` (today): a day that has not happened has no score. Alerts and listings that
    fired on such a day (alerted on future scores) count as fired `day`, so they can recover from there."""
    for table in ("alert", "alert_listing"):
        conn.execute(text(f"UPDATE {table} SET last_fired_on = :d WHERE last_fired_on > :d"), {"d": day})
    return conn.execute(text("DELETE FROM health_score WHERE day > :d"), {"d": day}).rowcount or 0


def first_metric_day(conn: Connection) -> date | None:
    value = conn.execute(text("SELECT MIN(day) FROM metric_observation")).scalar()
    return date.fromisoformat(value) if isinstance(value, str) else value


def latest_score_day(conn: Connection) -> date | None:
    value = conn.execute(text("SELECT MAX(day) FROM health_score")).scalar()
    return date.fromisoformat(value) if isinstance(value, str) else value


def first_unscored_day(conn: Connection, first: date, last: date) -> date | None:
    """The earliest day from `first` to `last` that has metrics but no scores: a gap, e.g. a killed backfill's.

    A probe or two on the day indexes per day, so a 30-day window costs at most 60 small queries.
    """
    scored = text("SELECT 1 FROM health_score WHERE day = :d LIMIT 1")
    measured = text("SELECT 1 FROM metric_observation WHERE day = :d LIMIT 1")
    day = first
    while day <= last:
        if conn.execute(scored, {"d": day}).first() is None and conn.execute(measured, {"d": day}).first():
            return day
        day += timedelta(days=1)
    return None


def tier_counts(conn: Connection, day: date) -> pd.DataFrame:
    """Accounts and MRR per tier on `day`."""
    rows = conn.execute(
        text(
            "SELECT s.tier, COUNT(*), COALESCE(SUM(a.mrr), 0) FROM health_score s "
            "JOIN account a ON a.id = s.account_id WHERE s.day = :d GROUP BY s.tier"
        ),
        {"d": day},
    ).fetchall()
    return pd.DataFrame(rows, columns=["tier", "accounts", "mrr"])


# --- lookups by session (the Slack side) -----------------------------------------------


def find_accounts(session: Session, query: str, limit: int = 10) -> list[Account]:
    """Exact external id, domain or name first; then names starting with or containing `query`.

    A query no name, domain or id can hold (longer than the longest, or with a NUL, which PostgreSQL refuses
    in text) matches nothing, and is not sent: SQLite calls a long LIKE pattern "too complex"."""
    raw = query.strip()
    q = raw.lower()
    if not q or len(raw) > 255 or "\x00" in raw:  # 255: Account.name's and Account.domain's length
        return []
    exact = session.exec(
        select(Account)
        .where(or_(col(Account.external_id) == raw, col(Account.domain).in_([raw, q]), col(Account.name_lower) == q))
        .order_by(col(Account.name))
        .limit(limit)
    ).all()
    if exact:
        return list(exact)
    pattern = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    prefix = session.exec(
        select(Account)
        .where(col(Account.name_lower).like(f"{pattern}%", escape="\\"))
        .order_by(col(Account.name))
        .limit(limit)
    ).all()
    if prefix:
        return list(prefix)
    contains = session.exec(
        select(Account)
        .where(
            or_(
                col(Account.name_lower).like(f"%{pattern}%", escape="\\"),
                func.lower(col(Account.domain)).like(f"%{pattern}%", escape="\\"),
            )
        )
        .order_by(col(Account.name))
        .limit(limit)
    ).all()
    return list(contains)


def account_count(conn: Connection) -> int:
    return int(conn.execute(text("SELECT COUNT(*) FROM account")).scalar() or 0)


def churned_outside(conn: Connection, first: date, last: date) -> tuple[int, int]:
    """Accounts that churned after `last`, and on or before `first`."""
    row = conn.execute(
        text(
            "SELECT SUM(CASE WHEN churned_on > :last THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN churned_on <= :first THEN 1 ELSE 0 END) FROM account WHERE churned_on IS NOT NULL"
        ),
        {"first": first, "last": last},
    ).one()
    return int(row[0] or 0), int(row[1] or 0)


def all_accounts(session: Session) -> list[Account]:
    return list(session.exec(select(Account)).all())


def account_owners_by_external_id(conn: Connection) -> Iterator[tuple[str, str | None]]:
    """(external_id, owner_slack_id) of every account, read as iterated."""
    rows = conn.execute(text("SELECT external_id, owner_slack_id FROM account"))
    return ((external_id, owner) for external_id, owner in rows)


def scores_of_day(session: Session, day: date) -> list[HealthScore]:
    return list(session.exec(select(HealthScore).where(HealthScore.day == day)).all())


def accounts_scored_on(session: Session, day: date) -> list[tuple[Account, HealthScore]]:
    """Each account scored on `day` with its score, the lowest score first."""
    stmt = select(Account, HealthScore).join(HealthScore).where(HealthScore.day == day).order_by(col(HealthScore.score))
    return [(account, score) for account, score in session.exec(stmt).all()]


def mark_churned(session: Session, account: Account, day: date) -> None:
    """The account churned (on `day`, unless a churn date is stored already); flushed."""
    account.status, account.churned_on = AccountStatus.CHURNED.value, account.churned_on or day
    session.add(account)
    session.flush()


def all_account_names(session: Session) -> list[tuple[int, str]]:
    return [(r[0], r[1]) for r in session.connection().execute(text("SELECT id, name FROM account"))]


def accounts_by_ids(session: Session, ids: Sequence[int]) -> list[Account]:
    """The accounts with these ids, in the order given (missing ones left out)."""
    found = {a.id: a for a in session.exec(select(Account).where(col(Account.id).in_(list(ids)))).all()} if ids else {}
    return [found[i] for i in ids if i in found]


def latest_score(session: Session, account_id: int) -> HealthScore | None:
    return session.exec(
        select(HealthScore).where(HealthScore.account_id == account_id).order_by(col(HealthScore.day).desc()).limit(1)
    ).first()


def score_on(session: Session, account_id: int, day: date) -> HealthScore | None:
    return session.get(HealthScore, (account_id, day))


def score_history(session: Session, account_id: int, days: int = 90) -> list[HealthScore]:
    latest = latest_score(session, account_id)
    if latest is None:
        return []
    since = latest.day - timedelta(days=days - 1)
    return list(
        session.exec(
            select(HealthScore)
            .where(HealthScore.account_id == account_id, col(HealthScore.day) >= since)
            .order_by(col(HealthScore.day))
        ).all()
    )


def active_override(session: Session, account_id: int, today: date) -> HealthOverride | None:
    """The newest override of an account that is neither cleared nor expired."""
    return session.exec(
        select(HealthOverride)
        .where(
            HealthOverride.account_id == account_id,
            col(HealthOverride.cleared_at).is_(None),
            col(HealthOverride.expires_on) >= today,
        )
        .order_by(col(HealthOverride.created_at).desc(), col(HealthOverride.id).desc())
        .limit(1)
    ).first()


def set_override(
    session: Session,
    account_id: int,
    *,
    tier: str,
    reason: str,
    set_by: str,
    expires_on: date,
    score: float | None = None,
) -> HealthOverride:
    """Record a new override; an older active one is superseded (cleared) in the same transaction."""
    now = utcnow()
    for old in session.exec(
        select(HealthOverride).where(HealthOverride.account_id == account_id, col(HealthOverride.cleared_at).is_(None))
    ):
        old.cleared_at = now
        session.add(old)
    override = HealthOverride(
        account_id=account_id, tier=tier, score=score, reason=reason, set_by=set_by, expires_on=expires_on
    )
    session.add(override)
    session.flush()  # gives it its id; the caller's unit of work commits
    return override


def clear_override(session: Session, account_id: int) -> int:
    """Clear every active override of an account; returns how many were cleared."""
    now = utcnow()
    cleared = 0
    for old in session.exec(
        select(HealthOverride).where(HealthOverride.account_id == account_id, col(HealthOverride.cleared_at).is_(None))
    ):
        old.cleared_at = now
        session.add(old)
        cleared += 1
    return cleared


# --- portfolio reads (the /health lists and the Home tab) --------------------------------


@dataclass(frozen=True)
class AccountRow:
    """An account with its score on one day (score fields None when it has none that day)."""

    id: int
    name: str
    owner_slack_id: str | None
    mrr: float | None
    renewal_date: date | None
    score: float | None
    tier: str | None
    delta_7: float | None


@dataclass(frozen=True)
class TierTotal:
    accounts: int
    mrr: float


RowOrder = Literal["risk", "drop", "gain"]


def account_rows(
    session: Session,
    day: date,
    *,
    owner: str | None = None,
    tier: str | None = None,
    order: RowOrder = "risk",
    with_unscored: bool = False,
    limit: int,
    offset: int = 0,
) -> list[AccountRow]:
    """Customers (not churned) with their score on `day`; `with_unscored` adds those without one, last.

    `risk`: lowest score first. `drop` / `gain`: the biggest 7-day falls / rises first, only
    accounts that moved.
    """
    s = HealthScore
    stmt = sa_select(
        col(Account.id),
        col(Account.name),
        col(Account.owner_slack_id),
        col(Account.mrr),
        col(Account.renewal_date),
        col(s.score),
        col(s.tier),
        col(s.delta_7),
    )
    if with_unscored:
        stmt = stmt.select_from(Account).outerjoin(s, (col(s.account_id) == Account.id) & (col(s.day) == day))
    else:  # driven by the day's scores: the (day, tier) index
        stmt = stmt.select_from(s).join(Account, col(Account.id) == s.account_id).where(col(s.day) == day)
    stmt = stmt.where(col(Account.status) != AccountStatus.CHURNED)
    if owner is not None:
        stmt = stmt.where(col(Account.owner_slack_id) == owner)
    if tier is not None:
        stmt = stmt.where(col(s.tier) == tier)
    if order == "risk":
        stmt = stmt.order_by(col(s.score).is_(None), col(s.score), col(Account.name), col(Account.id))
    elif order == "drop":
        stmt = stmt.where(col(s.delta_7) < 0).order_by(col(s.delta_7), col(Account.id))
    else:
        stmt = stmt.where(col(s.delta_7) > 0).order_by(col(s.delta_7).desc(), col(Account.id))
    return [AccountRow(**row._mapping) for row in session.connection().execute(stmt.limit(limit).offset(offset))]


def tier_summary(
    session: Session, day: date, owner: str | None = None, with_unscored: bool = False
) -> dict[str | None, TierTotal]:
    """Customers (not churned) and their MRR per tier on `day`; `with_unscored` adds key None: no score that day."""
    s = HealthScore
    stmt = select(col(s.tier), func.count(), func.coalesce(func.sum(col(Account.mrr)), 0.0))
    if with_unscored:
        stmt = stmt.select_from(Account).outerjoin(s, (col(s.account_id) == Account.id) & (col(s.day) == day))
    else:
        stmt = stmt.select_from(s).join(Account, col(Account.id) == s.account_id).where(col(s.day) == day)
    stmt = stmt.where(col(Account.status) != AccountStatus.CHURNED).group_by(s.tier)
    if owner is not None:
        stmt = stmt.where(col(Account.owner_slack_id) == owner)
    return {tier: TierTotal(int(n), float(mrr or 0)) for tier, n, mrr in session.exec(stmt).all()}


def tier_moves(session: Session, day: date, since: date) -> list[tuple[str, str, int, float]]:
    """(tier on `since`, tier on `day`, accounts, MRR) for accounts whose tier changed in between."""
    rows = (
        session.connection()
        .execute(
            text(
                "SELECT b.tier, e.tier, COUNT(*), COALESCE(SUM(a.mrr), 0) FROM health_score e "
                "JOIN health_score b ON b.account_id = e.account_id AND b.day = :since "
                "JOIN account a ON a.id = e.account_id "
                "WHERE e.day = :day AND b.tier <> e.tier GROUP BY b.tier, e.tier"
            ),
            {"day": day, "since": since},
        )
        .fetchall()
    )
    return [(r[0], r[1], int(r[2]), float(r[3])) for r in rows]


def score_series(session: Session, account_id: int, since: date) -> list[tuple[date, float]]:
    """(day, score) of one account from `since` on, oldest first."""
    rows = session.exec(
        select(col(HealthScore.day), col(HealthScore.score))
        .where(HealthScore.account_id == account_id, col(HealthScore.day) >= since)
        .order_by(col(HealthScore.day))
    ).all()
    return [(d, float(v)) for d, v in rows]


def metric_series(
    session: Session, account_id: int, metrics: Sequence[str], since: date
) -> dict[str, list[tuple[date, float]]]:
    """metric -> (day, value) of one account from `since` on, oldest first."""
    out: dict[str, list[tuple[date, float]]] = {m: [] for m in metrics}
    rows = session.exec(
        select(col(MetricObservation.metric), col(MetricObservation.day), col(MetricObservation.value))
        .where(
            MetricObservation.account_id == account_id,
            col(MetricObservation.day) >= since,
            col(MetricObservation.metric).in_(list(metrics)),
        )
        .order_by(col(MetricObservation.day))
    ).all()
    for metric, day, value in rows:
        out[metric].append((day, float(value)))
    return out


EVENT_KEY_LENGTH = 64  # slack_event.event_id


def event_key(event_id: str) -> str:
    """What slack_event stores for `event_id`: the id itself, or a digest of the same length when it is longer."""
    if len(event_id) <= EVENT_KEY_LENGTH:
        return event_id
    prefix = "sha256:"
    return prefix + hashlib.sha256(event_id.encode()).hexdigest()[: EVENT_KEY_LENGTH - len(prefix)]


def event_handled(session: Session, event_id: str) -> bool:
    """True once `event_id` was recorded by `claim_event`: a retry of it needs no handling."""
    found = session.execute(text("SELECT 1 FROM slack_event WHERE event_id = :e"), {"e": event_key(event_id)})
    return found.first() is not None


def claim_event(session: Session, event_id: str) -> bool:
    """True for the one caller that records `event_id` first; False for a retry or another replica.

    Any length: an id longer than the column is stored as a digest (`event_key`).
    """
    values = {"event_id": event_key(event_id), "received_at": utcnow()}
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    stmt = insert(SlackEvent).values(**values).on_conflict_do_nothing(index_elements=["event_id"])
    claimed = session.execute(stmt.returning(col(SlackEvent.event_id))).first()
    return claimed is not None


def release_event(session: Session, event_id: str) -> None:
    """Handling failed: let Slack's next retry of `event_id` through."""
    session.execute(text("DELETE FROM slack_event WHERE event_id = :e"), {"e": event_key(event_id)})


def prune_events(session: Session, older_than: timedelta = timedelta(days=1)) -> int:
    """Slack stops retrying after minutes; a day of ids is plenty."""
    result = session.execute(text("DELETE FROM slack_event WHERE received_at < :t"), {"t": utcnow() - older_than})
    return int(result.rowcount)  # type: ignore[attr-defined]


def account_owners(session: Session) -> list[str]:
    """Slack ids of every CSM who owns an account."""
    rows = session.execute(
        text("SELECT DISTINCT owner_slack_id FROM account WHERE owner_slack_id IS NOT NULL ORDER BY owner_slack_id")
    )
    return [r[0] for r in rows]


def reported_metrics(conn: Connection) -> list[str]:
    """Every metric name any account has reported, sorted."""
    return sorted(conn.execute(text("SELECT DISTINCT metric FROM metric_observation")).scalars())
