"""Reads behind the save rate per play (bot/retention/plays.py): plain frames over the alerts opened in a
period, one query each, their times as aware UTC columns. Nothing here commits."""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Select, func, select
from sqlmodel import col

from storage.models import Alert, AlertEvent, Task


def _utc_columns(*columns: str) -> dict[str, Any]:
    """`read_sql`'s parse_dates: these columns as aware UTC times (NaT for none), whatever the driver hands back."""
    return {c: {"utc": True} for c in columns}


def _opened(start: date, end: date) -> Select[Any]:
    return select(col(Alert.id)).where(col(Alert.opened_on) >= start, col(Alert.opened_on) <= end)


def alerts_opened(conn: Connection, start: date, end: date) -> pd.DataFrame:
    """alert_id, severity, status, outcome, due_at, claimed_at of the alerts opened from `start` to `end`."""
    return pd.read_sql(
        select(
            col(Alert.id).label("alert_id"),
            col(Alert.severity),
            col(Alert.status),
            col(Alert.outcome),
            col(Alert.due_at),
            col(Alert.claimed_at),
        ).where(col(Alert.id).in_(_opened(start, end))),
        conn,
        parse_dates=_utc_columns("due_at", "claimed_at"),
    )


def first_claims(conn: Connection, start: date, end: date) -> pd.DataFrame:
    """alert_id, first_claim: when each alert opened in the period was first claimed (or reassigned) per its
    history; a release clears `Alert.claimed_at`, the history keeps it."""
    stmt = (
        select(col(AlertEvent.alert_id), func.min(col(AlertEvent.at)).label("first_claim"))
        .where(col(AlertEvent.kind).in_(("claimed", "reassigned")), col(AlertEvent.alert_id).in_(_opened(start, end)))
        .group_by(col(AlertEvent.alert_id))
    )
    return pd.read_sql(stmt, conn, parse_dates=_utc_columns("first_claim"))


def tasks_of_alerts_opened(conn: Connection, start: date, end: date) -> pd.DataFrame:
    """alert_id, status, due_at, closed_at of the tasks of the alerts opened in the period."""
    stmt = select(col(Task.alert_id), col(Task.status), col(Task.due_at), col(Task.closed_at)).where(
        col(Task.alert_id).in_(_opened(start, end))
    )
    return pd.read_sql(stmt, conn, parse_dates=_utc_columns("due_at", "closed_at"))
