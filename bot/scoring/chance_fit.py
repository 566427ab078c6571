"""The chance-to-churn fit in use: the latest stored for a horizon, refitted by the daily score run when stale;
read once per Slack request (`stored_in`); the day's customers with their chances (`portfolio`)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
from sqlalchemy import Engine
from sqlmodel import Session

from bot.scoring.chance import HORIZON, ChanceFit, fit, loss_per_account, scorecard_key
from bot.scoring.scorecard import Scorecard
from storage import chances as chance_store
from storage import scores as score_store
from storage.db import session_factory, unit_of_work

REFIT_AFTER = 7  # days: the daily run refits a stored fit this old (or one fitted for another scorecard)


def stored(engine: Engine, horizon: int = HORIZON) -> ChanceFit | None:
    """The fit in use for `horizon` (the latest stored), or None before the first."""
    with unit_of_work(session_factory(engine)) as session:
        return stored_in(session, horizon)


def is_stale(existing: ChanceFit | None, scorecard: Scorecard, today: date) -> bool:
    """No fit yet, one fitted for another scorecard, or one REFIT_AFTER days old or more."""
    return (
        existing is None
        or existing.scorecard_key != scorecard_key(scorecard)
        or (today - existing.as_of).days >= REFIT_AFTER
    )


def save(engine: Engine, new: ChanceFit) -> ChanceFit:
    with unit_of_work(session_factory(engine)) as session:
        row = chance_store.add_fit(
            session, as_of=new.as_of, horizon_days=new.horizon, scorecard_key=new.scorecard_key, body=new.to_json()
        )
        new.id, new.fitted_at = row.id, row.fitted_at
    return new


def current(
    engine: Engine, scorecard: Scorecard, today: date, horizon: int = HORIZON, *, refit: bool = False
) -> tuple[ChanceFit, bool]:
    """The fit in use, refitted first (and stored) when stale or when `refit`: (fit, whether it was refitted)."""
    existing = stored(engine, horizon)
    if not refit and existing is not None and not is_stale(existing, scorecard, today):
        return existing, False
    return save(engine, fit(engine, scorecard, today, horizon)), True


def stored_in(session: Session, horizon: int = HORIZON) -> ChanceFit | None:
    """`stored`, read in the caller's session: a Slack request reads its fit once, in its own unit of work."""
    row = chance_store.latest_fit(session, horizon)
    if row is None:
        return None
    return ChanceFit.from_json(
        row.body,
        as_of=row.as_of,
        horizon=row.horizon_days,
        scorecard_key=row.scorecard_key,
        fitted_at=row.fitted_at,
        id=row.id,
    )


def portfolio(session: Session, existing: ChanceFit | None, day: date) -> pd.DataFrame:
    """The customers scored on `day` (`scores.chance_rows`) with `chance` (NaN without a fit that has enough
    history) and `expected_loss` (chance x MRR; 0 without either): what the digest, Home, `/health top by-mrr`,
    the churn review and the forecast add up. The stored tier is the scored one: a CSM override changes the tier
    shown, never the chance."""
    frame = score_store.chance_rows(session, day)
    if existing is None or frame.empty:
        frame["chance"] = np.nan
    else:
        frame["chance"] = existing.chances(
            frame["card"].to_numpy(dtype=object),
            frame["score"].to_numpy(dtype=float),
            frame["segment"].to_numpy(dtype=object),
        )
    mrr = pd.to_numeric(frame["mrr"], errors="coerce").to_numpy(dtype=float)
    frame["expected_loss"] = loss_per_account(frame["chance"].to_numpy(dtype=float), mrr)
    return frame
