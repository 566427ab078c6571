"""Reads and writes of metrics and scores: observations, stored scores, overrides, tier counts, portfolio rows.

None of them commits: the caller's unit of work (one per Slack request, job or command) does, once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal

import pandas as pd
from sqlalchemy import Connection, bindparam, case, func, or_, text
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from storage import bulk, bulk_read, score_copy
from storage.accounts import day_number_sql
from storage.models import Account, HealthOverride, HealthScore, MetricObservation
from storage.types import AccountStatus, utcnow


def observations(conn: Connection, start: date, end: date, metrics: Sequence[str]) -> pd.DataFrame:
    """Long rows (account_id, day_num, metric, value) for days in [start, end].

    `metric` is a categorical over `metrics` (a byte a row, not a string object): a daily
    run reads tens of millions of rows. Row order is unspecified.
    """
    names = list(dict.fromkeys(metrics))
    account_id, day_num, code, value = bulk_read.read_observations(conn, start, end, names)
    metric = pd.Categorical.from_codes(code, categories=pd.Index(names, dtype=object))
    return pd.DataFrame({"account_id": account_id, "day_num": day_num, "metric": metric, "value": value}, copy=False)


def scores_on(conn: Connection, days: Sequence[date]) -> pd.DataFrame:
    """Stored (account_id, day_num, score, tier) for the given days."""
    day_num = day_number_sql(conn, "day")
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
    """Upsert score rows (columns as SCORE_COLUMNS): re-running a day replaces it. `parts` is a dict, or its JSON
    text already encoded (as `json.dumps(parts, separators=(",", ":"))` writes it: the scoring run's)."""
    return _upsert_scores(conn, rows)


def _upsert_scores(conn: Connection, rows: list[tuple[Any, ...]]) -> int:
    at = SCORE_COLUMNS.index("parts")
    encoded = [r if isinstance(r[at], str) else (*r[:at], _json(r[at]), *r[at + 1 :]) for r in rows]
    return bulk.upsert_rows(conn, "health_score", SCORE_COLUMNS, ["account_id", "day"], encoded)


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def replace_scores(conn: Connection, day: date, rows: list[tuple[Any, ...]]) -> int:
    """The stored scores of `day` become `rows` (all of that day; columns as SCORE_COLUMNS, `parts` a dict or its
    JSON text): rows of accounts no longer scored are removed, the others written anew.

    PostgreSQL: one DELETE of the day and one COPY straight into the table, its text laid out here (no staging
    table, no upsert, no per-row adaptation); SQLite: `save_scores` (executemany) and `delete_scores`."""
    if conn.dialect.name != "postgresql":
        written = _upsert_scores(conn, rows)
        _delete_stale(conn, day, [r[0] for r in rows])
        return written
    conn.execute(text("DELETE FROM health_score WHERE day = :d"), {"d": day})
    score_copy.copy_scores(conn, SCORE_COLUMNS, rows)
    return len(rows)


def delete_scores(conn: Connection, day: date, keep_account_ids: Sequence[int]) -> None:
    """Drop scores of `day` for accounts no longer scored (e.g. too little data now).

    The stale ids are found in Python and deleted in chunks: a `NOT IN` list of every
    scored account would pass SQLite's limit on bound parameters.
    """
    _delete_stale(conn, day, keep_account_ids)


def _delete_stale(conn: Connection, day: date, keep_account_ids: Sequence[int]) -> None:
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


def scores_of_day(session: Session, day: date) -> list[HealthScore]:
    return list(session.exec(select(HealthScore).where(HealthScore.day == day)).all())


def accounts_scored_on(session: Session, day: date) -> list[tuple[Account, HealthScore]]:
    """Each account scored on `day` with its score, the lowest score first."""
    stmt = select(Account, HealthScore).join(HealthScore).where(HealthScore.day == day).order_by(col(HealthScore.score))
    return [(account, score) for account, score in session.exec(stmt).all()]


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


def overrides_touched(session: Session, account_id: int, since: datetime, since_day: date) -> list[HealthOverride]:
    """An account's overrides set or cleared from `since` on, or whose last day is `since_day` or later (the
    caller tells one that ran out), the oldest first: what changed in a CSM's judgement over a period."""
    return list(
        session.exec(
            select(HealthOverride)
            .where(
                HealthOverride.account_id == account_id,
                or_(
                    col(HealthOverride.created_at) >= since,
                    col(HealthOverride.cleared_at) >= since,
                    col(HealthOverride.expires_on) >= since_day,
                ),
            )
            .order_by(col(HealthOverride.created_at), col(HealthOverride.id))
        ).all()
    )


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
    card: str | None = None  # the scorecard card that scored it (what its chance to churn is read with)
    segment: str | None = None  # its segment (so is its chance)


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
    stmt: Any = sa_select(  # ten columns: past sa_select's typed overloads
        col(Account.id),
        col(Account.name),
        col(Account.owner_slack_id),
        col(Account.mrr),
        col(Account.renewal_date),
        col(s.score),
        col(s.tier),
        col(s.delta_7),
        col(s.scorecard).label("card"),
        col(Account.segment),
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


def reported_metrics(conn: Connection) -> list[str]:
    """Every metric name any account has reported, sorted."""
    return sorted(conn.execute(text("SELECT DISTINCT metric FROM metric_observation")).scalars())


def chance_rows(session: Session, day: date) -> pd.DataFrame:
    """Customers (not churned) scored on `day`, with what their chance to churn and expected MRR loss are computed
    from: account_id, name, owner_slack_id, segment, mrr, renewal_date, score, tier, card (the scorecard card that
    scored it), delta_7. One row per account, in account id order."""
    s = HealthScore
    stmt: Any = (
        sa_select(
            col(Account.id).label("account_id"),
            col(Account.name),
            col(Account.owner_slack_id),
            col(Account.segment),
            col(Account.mrr),
            col(Account.renewal_date),
            col(s.score),
            col(s.tier),
            col(s.scorecard).label("card"),
            col(s.delta_7),
        )
        .select_from(s)
        .join(Account, col(Account.id) == s.account_id)
        .where(col(s.day) == day, col(Account.status) != AccountStatus.CHURNED)
        .order_by(col(Account.id))
    )
    rows = session.connection().execute(stmt).all()
    columns = ["account_id", "name", "owner_slack_id", "segment", "mrr", "renewal_date", "score", "tier", "card"]
    return pd.DataFrame([tuple(r) for r in rows], columns=[*columns, "delta_7"])


def day_marker(session: Session, day: date) -> tuple[Any, ...]:
    """What changes whenever anything `chance_rows(day)` returns may have changed, read without the day's score rows:
    their count and last write from the (day, computed_at) index (every score write sets `computed_at`), and one
    narrow pass over the accounts: their count, churned count, MRR total and last write (imports and syncs set
    `updated_at`; churning sets the status)."""
    conn = session.connection()
    s, a = HealthScore, Account
    scored = conn.execute(select(func.count(), func.max(col(s.computed_at))).where(col(s.day) == day)).one()
    churned = func.sum(case((col(a.status) == AccountStatus.CHURNED, 1), else_=0))
    accounts = conn.execute(select(func.count(), churned, func.sum(col(a.mrr)), func.max(col(a.updated_at)))).one()
    return (*scored, *accounts)


def steepest_fall(session: Session, day: date, segment: str, except_tier: str) -> Account | None:
    """The account of `segment`, not in `except_tier` on `day`, whose score fell most in 30 days (the README's card
    example, docs/examples.py)."""
    stmt = (
        select(Account)
        .join(HealthScore, col(HealthScore.account_id) == Account.id)
        .where(HealthScore.day == day, Account.segment == segment, HealthScore.tier != except_tier)
        .order_by(col(HealthScore.delta_30))
    )
    return session.exec(stmt).first()
