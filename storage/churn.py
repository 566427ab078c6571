"""Reads behind the churn review (bot/churn/analysis.py): plain frames, one query each. Nothing here commits."""

from __future__ import annotations

from datetime import date

import pandas as pd
from sqlalchemy import Connection, select
from sqlmodel import col

from storage.models import Account, ExitInterview, HealthScore, MetricObservation

ACCOUNT_COLUMNS = (
    "id", "name", "segment", "industry", "employees", "region", "lifecycle_stage", "acquisition_channel",
    "owner_slack_id", "mrr", "contract_start", "status", "churned_on",
)  # fmt: skip


def accounts(conn: Connection, segment: str | None = None) -> pd.DataFrame:
    """Every account (one row each), of one segment when given (case-insensitive)."""
    stmt = select(*(getattr(Account, c) for c in ACCOUNT_COLUMNS))
    frame = pd.read_sql(stmt, conn)
    if segment is not None:
        frame = frame[frame["segment"].fillna("").str.lower() == segment.lower()]
    for c in ("contract_start", "churned_on"):
        frame[c] = pd.to_datetime(frame[c]).dt.date
    return frame.reset_index(drop=True)


def interviews(conn: Connection) -> pd.DataFrame:
    """Every exit interview with the fields the review counts (answers as the stored dict)."""
    stmt = select(
        col(ExitInterview.account_id), col(ExitInterview.churned), col(ExitInterview.reason),
        col(ExitInterview.avoidable), col(ExitInterview.competitor), col(ExitInterview.churn_date),
        col(ExitInterview.mrr_lost), col(ExitInterview.answers), col(ExitInterview.note),
    )  # fmt: skip
    rows = conn.execute(stmt).all()
    frame = pd.DataFrame(
        [tuple(r) for r in rows],
        columns=["account_id", "churned", "reason", "avoidable", "competitor", "churn_date", "mrr_lost", "answers",
                 "note"],
    )  # fmt: skip
    frame["churn_date"] = pd.to_datetime(frame["churn_date"]).dt.date
    return frame.astype({"account_id": "int64"})


def scores_until(conn: Connection, account_ids: list[int], until: date) -> pd.DataFrame:
    """Stored daily scores (account_id, day, score, tier) of these accounts up to `until`."""
    if not account_ids:
        return pd.DataFrame({"account_id": pd.Series(dtype="int64"), "day": pd.Series(dtype="datetime64[ns]"),
                             "score": pd.Series(dtype=float), "tier": pd.Series(dtype=object)})  # fmt: skip
    stmt = select(
        col(HealthScore.account_id), col(HealthScore.day), col(HealthScore.score), col(HealthScore.tier)
    ).where(col(HealthScore.account_id).in_(account_ids), col(HealthScore.day) <= until)
    frame = pd.read_sql(stmt, conn)
    frame["day"] = pd.to_datetime(frame["day"])
    return frame.astype({"account_id": "int64"})


def metric_between(conn: Connection, metric: str, account_ids: list[int], start: date, end: date) -> pd.DataFrame:
    """Observations (account_id, day, value) of one metric from `start` to `end`, both included."""
    if not account_ids:
        return pd.DataFrame({"account_id": pd.Series(dtype="int64"), "day": pd.Series(dtype="datetime64[ns]"),
                             "value": pd.Series(dtype=float)})  # fmt: skip
    stmt = select(col(MetricObservation.account_id), col(MetricObservation.day), col(MetricObservation.value)).where(
        col(MetricObservation.metric) == metric,
        col(MetricObservation.account_id).in_(account_ids),
        col(MetricObservation.day) >= start,
        col(MetricObservation.day) <= end,
    )
    frame = pd.read_sql(stmt, conn)
    frame["day"] = pd.to_datetime(frame["day"])
    return frame.astype({"account_id": "int64"})
