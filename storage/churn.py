"""Reads behind the churn review (bot/churn/analysis.py): plain frames, one query each. Nothing here commits."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
from sqlalchemy import Connection, func, select, true
from sqlmodel import col

from storage.models import Account, ExitInterview, HealthScore, MetricObservation

ACCOUNT_COLUMNS = (
    "id",
    "name",
    "segment",
    "industry",
    "employees",
    "region",
    "lifecycle_stage",
    "acquisition_channel",
    "owner_slack_id",
    "mrr",
    "contract_start",
    "status",
    "churned_on",
)


def accounts(conn: Connection, segment: str | None = None) -> pd.DataFrame:
    """Every account (one row each), of one segment when given (case-insensitive)."""
    stmt = select(*(getattr(Account, c) for c in ACCOUNT_COLUMNS))
    frame = pd.read_sql(stmt, conn)
    if segment is not None:
        frame = frame[frame["segment"].fillna("").str.lower() == segment.lower()]
    for c in ("contract_start", "churned_on"):
        frame[c] = _dates(frame[c])
    return frame.reset_index(drop=True)


def _dates(values: pd.Series) -> pd.Series:
    """Python dates (NaT where missing) of one type whatever the driver returned: an all-empty column stays
    comparable with a date (`.dt.date` would leave it datetime64, which refuses the comparison)."""
    stamps = pd.to_datetime(values)
    return pd.Series([d.date() if pd.notna(d) else pd.NaT for d in stamps], index=values.index, dtype=object)


def interviews(conn: Connection) -> pd.DataFrame:
    """Every exit interview with the fields the review counts (answers as the stored dict)."""
    stmt = select(
        col(ExitInterview.account_id),
        col(ExitInterview.churned),
        col(ExitInterview.reason),
        col(ExitInterview.avoidable),
        col(ExitInterview.competitor),
        col(ExitInterview.churn_date),
        col(ExitInterview.mrr_lost),
        col(ExitInterview.answers),
        col(ExitInterview.note),
    )
    rows = conn.execute(stmt).all()
    frame = pd.DataFrame(
        [tuple(r) for r in rows],
        columns=[
            "account_id",
            "churned",
            "reason",
            "avoidable",
            "competitor",
            "churn_date",
            "mrr_lost",
            "answers",
            "note",
        ],
    )
    frame["churn_date"] = _dates(frame["churn_date"])
    return frame.astype({"account_id": "int64"})


def scores_until(conn: Connection, account_ids: list[int], until: date) -> pd.DataFrame:
    """Stored daily scores (account_id, day, score, tier) of these accounts up to `until`."""
    if not account_ids:
        return pd.DataFrame(
            {
                "account_id": pd.Series(dtype="int64"),
                "day": pd.Series(dtype="datetime64[ns]"),
                "score": pd.Series(dtype=float),
                "tier": pd.Series(dtype=object),
            }
        )
    stmt = select(
        col(HealthScore.account_id), col(HealthScore.day), col(HealthScore.score), col(HealthScore.tier)
    ).where(col(HealthScore.account_id).in_(account_ids), col(HealthScore.day) <= until)
    frame = pd.read_sql(stmt, conn)
    frame["day"] = pd.to_datetime(frame["day"])
    return frame.astype({"account_id": "int64"})


def metric_between(conn: Connection, metric: str, account_ids: list[int], start: date, end: date) -> pd.DataFrame:
    """Observations (account_id, day, value) of one metric from `start` to `end`, both included."""
    if not account_ids:
        return pd.DataFrame(
            {
                "account_id": pd.Series(dtype="int64"),
                "day": pd.Series(dtype="datetime64[ns]"),
                "value": pd.Series(dtype=float),
            }
        )
    stmt = select(col(MetricObservation.account_id), col(MetricObservation.day), col(MetricObservation.value)).where(
        col(MetricObservation.metric) == metric,
        col(MetricObservation.account_id).in_(account_ids),
        col(MetricObservation.day) >= start,
        col(MetricObservation.day) <= end,
    )
    frame = pd.read_sql(stmt, conn)
    frame["day"] = pd.to_datetime(frame["day"])
    return frame.astype({"account_id": "int64"})


def segments(conn: Connection) -> list[str]:
    """The segments accounts carry, as spelled (one spelling per segment, case-insensitively), sorted."""
    rows = conn.execute(select(col(Account.segment)).where(col(Account.segment).is_not(None)).distinct()).scalars()
    spelled: dict[str, str] = {}
    for name in sorted(str(r) for r in rows if str(r).strip()):
        spelled.setdefault(name.lower(), name)
    return sorted(spelled.values(), key=str.lower)


def data_days(conn: Connection) -> tuple[date | None, date | None]:
    """The first and the last day the database records anything about the portfolio: metric observations, scores,
    churn dates (accounts' and churned exit interviews'), and the day accounts were last written (the day their
    status was known). (None, None) with none of those."""
    firsts: list[date] = []
    lasts: list[date] = []
    for column, where in (
        (MetricObservation.day, true()),
        (HealthScore.day, true()),
        (Account.churned_on, true()),
        (ExitInterview.churn_date, col(ExitInterview.churned).is_(True)),
    ):
        first, last = conn.execute(select(func.min(col(column)), func.max(col(column))).where(where)).one()
        firsts += [_day(first)] if first is not None else []
        lasts += [_day(last)] if last is not None else []
    written = conn.execute(select(func.max(col(Account.updated_at)))).scalar()
    lasts += [_day(written)] if written is not None else []
    return (min(firsts) if firsts else None), (max(lasts) if lasts else None)


def _day(value: object) -> date:
    """A date from what a driver returns for a date or datetime column (SQLite may return text)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return datetime.fromisoformat(str(value)).date()
