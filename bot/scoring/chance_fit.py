"""The chance-to-churn fit in use: the latest stored for a horizon, refitted by the daily score run when stale;
read once per Slack request (`stored_in`); the day's customers with their chances (`book`, `portfolio`).

`book` keeps the last day's customers per process, keyed by the fit (id and fit time), the day and what the database
says about that day's scores and the accounts (`scores.day_marker`, read from indexes): App Home and `/health top
by-mrr` then cost what they show, not a read of every customer, and a new score run, import, churn or fit changes
the key, so a read never shows what the database no longer holds."""

from __future__ import annotations

import threading
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine
from sqlmodel import Session

from bot.scoring.chance import HORIZON, ChanceFit, fit, loss_per_account, scorecard_key
from bot.scoring.loss import LossSummary, loss_summary
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


RANKING = (["expected_loss", "chance", "name", "account_id"], [False, False, True, True])  # `/health top by-mrr`


@dataclass
class Book:
    """The customers scored on a day with their chances (`portfolio`'s frame, never changed in place), and what is
    drawn from it, each computed once per book: the sums (`summary`), the expected-loss ranking (`ranked`)."""

    frame: pd.DataFrame
    _made: dict[Hashable, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _once(self, key: Hashable, make: Any) -> Any:
        with self._lock:
            if key not in self._made:
                self._made[key] = make()
            return self._made[key]

    def summary(self, tier_order: Sequence[str]) -> LossSummary:
        """`loss_summary` of every customer of the day."""
        return self._once(("summary", tuple(tier_order)), lambda: loss_summary(self.frame, tier_order))

    def ranked(self, tier: str | None = None) -> pd.DataFrame:
        """The customers (of `tier`) by expected loss, largest first (then the higher chance, the name, the id)."""
        if tier is not None:
            everyone = self.ranked()
            return self._once(("ranked", tier), lambda: everyone[everyone["tier"] == tier])
        columns, ascending = RANKING
        return self._once("ranked", lambda: self.frame.sort_values(columns, ascending=ascending, kind="stable"))


_books: dict[int | None, tuple[Hashable, Book]] = {}  # per horizon, the latest (key, book): a new key replaces it
_books_lock = threading.Lock()


def book(session: Session, existing: ChanceFit | None, day: date) -> Book:
    """The customers scored on `day` with the chances of `existing`, read again only when the key changed."""
    key = (None if existing is None else (existing.id, existing.fitted_at), day, score_store.day_marker(session, day))
    slot = existing.horizon if existing is not None else None
    with _books_lock:
        cached = _books.get(slot)
        if cached is not None and cached[0] == key:
            return cached[1]
    made = Book(_read(session, existing, day))
    if existing is not None and existing.id is not None:  # (a fit never stored has no key of its own)
        with _books_lock:
            _books[slot] = (key, made)
    return made


def portfolio(session: Session, existing: ChanceFit | None, day: date) -> pd.DataFrame:
    """The customers scored on `day` (`scores.chance_rows`) with `chance` (NaN without a fit that has enough
    history) and `expected_loss` (chance x MRR; 0 without either): what the digest, Home, `/health top by-mrr`,
    the churn review and the forecast add up. The stored tier is the scored one: a CSM override changes the tier
    shown, never the chance. A copy of the book's: the caller may change it."""
    return book(session, existing, day).frame.copy()


def _read(session: Session, existing: ChanceFit | None, day: date) -> pd.DataFrame:
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
