"""Reads and writes the rest of the code needs, as plain functions over a connection or session."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Connection, bindparam, func, or_, text
from sqlmodel import Session, col, select

from storage import bulk
from storage.models import Account, HealthOverride, HealthScore, utcnow

ACCOUNT_FRAME_COLUMNS = (
    "id", "external_id", "name", "owner_slack_id", "segment", "industry", "region", "lifecycle_stage",
    "acquisition_channel", "mrr", "contract_start", "renewal_date", "status", "churned_on",
)  # fmt: skip


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


def observations(conn: Connection, start: date, end: date, metrics: Sequence[str]) -> pd.DataFrame:
    """Long rows (account_id, day_num, metric, value) for days in [start, end]."""
    day_num = _day_number_sql(conn, "day")
    stmt = text(
        f"SELECT account_id, {day_num} AS day_num, metric, value FROM metric_observation "
        "WHERE day >= :start AND day <= :end AND metric IN :metrics"
    ).bindparams(bindparam("metrics", expanding=True))
    cursor = conn.execute(stmt, {"start": start, "end": end, "metrics": list(metrics)})
    frame = pd.DataFrame(cursor.fetchall(), columns=["account_id", "day_num", "metric", "value"])
    return frame.astype({"account_id": "int64", "day_num": "int64", "value": "float64"})


def scores_on(conn: Connection, days: Sequence[date]) -> pd.DataFrame:
    """Stored (account_id, day_num, score, tier) for the given days."""
    day_num = _day_number_sql(conn, "day")
    stmt = text(
        f"SELECT account_id, {day_num} AS day_num, score, tier FROM health_score WHERE day IN :days"
    ).bindparams(bindparam("days", expanding=True))
    rows = conn.execute(stmt, {"days": list(days)}).fetchall() if days else []
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
    """Drop scores of `day` for accounts no longer scored (e.g. too little data now)."""
    stmt = text("DELETE FROM health_score WHERE day = :d AND account_id NOT IN :ids").bindparams(
        bindparam("ids", expanding=True)
    )
    if keep_account_ids:
        conn.execute(stmt, {"d": day, "ids": list(keep_account_ids)})
    else:
        conn.execute(text("DELETE FROM health_score WHERE day = :d"), {"d": day})


def latest_metric_day(conn: Connection) -> date | None:
    value = conn.execute(text("SELECT MAX(day) FROM metric_observation")).scalar()
    return date.fromisoformat(value) if isinstance(value, str) else value


def latest_score_day(conn: Connection) -> date | None:
    value = conn.execute(text("SELECT MAX(day) FROM health_score")).scalar()
    return date.fromisoformat(value) if isinstance(value, str) else value


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
    """Exact external id, domain or name first; then names starting with or containing `query`."""
    q = query.strip().lower()
    if not q:
        return []
    exact = session.exec(
        select(Account).where(
            or_(
                col(Account.external_id) == query.strip(),
                func.lower(col(Account.domain)) == q,
                col(Account.name_lower) == q,
            )
        )
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
        .where(or_(col(Account.name_lower).like(f"%{pattern}%", escape="\\"),
                   func.lower(col(Account.domain)).like(f"%{pattern}%", escape="\\")))
        .order_by(col(Account.name))
        .limit(limit)
    ).all()  # fmt: skip
    return list(contains)


def all_account_names(session: Session) -> list[tuple[int, str]]:
    return [(r[0], r[1]) for r in session.exec(select(Account.id, Account.name)).all()]


def latest_score(session: Session, account_id: int) -> HealthScore | None:
    return session.exec(
        select(HealthScore).where(HealthScore.account_id == account_id).order_by(col(HealthScore.day).desc()).limit(1)
    ).first()


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
    session: Session, account_id: int, *, tier: str, reason: str, set_by: str, expires_on: date,
    score: float | None = None,
) -> HealthOverride:  # fmt: skip
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
    session.commit()
    session.refresh(override)
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
    session.commit()
    return cleared
