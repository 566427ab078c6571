"""Fitted chance-to-churn bands and stored churn forecasts (tables churn_chance_fit, churn_forecast).

None of them commits: the caller's unit of work does.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlmodel import Session, col, select

from storage.models import Account, ChurnChanceFit, ChurnForecast


def latest_fit(session: Session, horizon_days: int) -> ChurnChanceFit | None:
    """The fit in use for a horizon: the latest stored."""
    stmt = (
        select(ChurnChanceFit)
        .where(ChurnChanceFit.horizon_days == horizon_days)
        .order_by(col(ChurnChanceFit.id).desc())
        .limit(1)
    )
    return session.exec(stmt).first()


def add_fit(
    session: Session, *, as_of: date, horizon_days: int, scorecard_key: str, body: dict[str, Any]
) -> ChurnChanceFit:
    row = ChurnChanceFit(as_of=as_of, horizon_days=horizon_days, scorecard_key=scorecard_key, body=body)
    session.add(row)
    session.flush()
    return row


def add_forecast(session: Session, forecast: ChurnForecast) -> ChurnForecast:
    session.add(forecast)
    session.flush()
    return forecast


def forecasts(session: Session, *, ended_before: date | None = None) -> list[ChurnForecast]:
    """Stored forecasts, oldest first; with `ended_before`, only those whose period ended before that day."""
    stmt = select(ChurnForecast).order_by(col(ChurnForecast.id))
    if ended_before is not None:
        stmt = stmt.where(ChurnForecast.period_end < ended_before)
    return list(session.exec(stmt).all())


def churned_between(session: Session, start: date, end: date) -> dict[int, date]:
    """Accounts whose `churned_on` falls from `start` to `end` (both included): what `forecast check` holds a
    forecast's accounts against."""
    stmt = select(col(Account.id), col(Account.churned_on)).where(
        col(Account.churned_on).is_not(None), col(Account.churned_on) >= start, col(Account.churned_on) <= end
    )
    return {int(i): d for i, d in session.exec(stmt).all() if i is not None and d is not None}
