"""Fitted chance-to-churn bands and stored churn forecasts (tables churn_chance_fit, churn_forecast).

None of them commits: the caller's unit of work does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select as sa_select
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


@dataclass(frozen=True)
class ForecastHead:
    """A stored forecast without its body (each account's chance, MRR and segment): which forecasts are over."""

    id: int
    as_of: date
    period_start: date
    period_end: date
    label: str | None


def forecast_heads(session: Session) -> list[ForecastHead]:
    """Every stored forecast's head, oldest first: the label is read out of the body, the rest of it is not."""
    label = col(ChurnForecast.body)["label"].as_string()
    stmt = sa_select(
        col(ChurnForecast.id),
        col(ChurnForecast.as_of),
        col(ChurnForecast.period_start),
        col(ChurnForecast.period_end),
        label,
    ).order_by(col(ChurnForecast.id))
    return [ForecastHead(int(i), a, s, e, lb) for i, a, s, e, lb in session.connection().execute(stmt)]


def forecasts(session: Session, ids: list[int]) -> list[ChurnForecast]:
    """The stored forecasts `ids` with their bodies, oldest first."""
    if not ids:
        return []
    stmt = select(ChurnForecast).where(col(ChurnForecast.id).in_(ids)).order_by(col(ChurnForecast.id))
    return list(session.exec(stmt).all())


def churned_between(session: Session, start: date, end: date) -> dict[int, date]:
    """Accounts whose `churned_on` falls from `start` to `end` (both included): what `forecast check` holds a
    forecast's accounts against."""
    stmt = select(col(Account.id), col(Account.churned_on)).where(
        col(Account.churned_on).is_not(None), col(Account.churned_on) >= start, col(Account.churned_on) <= end
    )
    return {int(i): d for i, d in session.exec(stmt).all() if i is not None and d is not None}
