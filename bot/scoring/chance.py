"""Chance to churn: a calibrated probability per account, read off its score.

A *case* is an account active on a past snapshot day, scored with today's scorecard from only the data known that
day; it churned if its `churned_on` falls within the horizon after that day. Snapshot days run back from the
latest day whose horizon is over, `SPACING` days apart, at most `MAX_SNAPSHOTS` of them. The cases' churn rate,
made to fall as the score rises (pool-adjacent-violators, `binning.pool_adjacent_violators`, checked against
scikit-learn), gives score *bands*: an account's chance is the share of past cases in its band that churned.
Each band carries its counts, so the number can always be said in words ("of 412 past cases with scores 40-44,
74 churned within 90 days").

A card (segment) with enough churn history of its own gets its own bands; the others share the bands of all
cases together. With too little churn history (fewer than `MIN_CHURNED` churned accounts, or fewer than
`MIN_CASES` cases) there is no chance at all, and `ChanceFit.too_little` says why.

The bands are never fitted on the accounts they are checked against: `held_out` fits on earlier snapshots with one
fold of accounts left out and predicts that fold (`fitting.folds`), fold by fold.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine
from sqlmodel import Session

from bot.scoring import fitting
from bot.scoring.backtest import load_past_day, score_past_day
from bot.scoring.binning import pool_adjacent_violators
from bot.scoring.scorecard import Scorecard
from prompts import say
from storage import chances as chance_store
from storage import scores as score_store
from storage.db import session_factory, unit_of_work

HORIZON = 90  # days: what "chance to churn" means unless a command names another horizon
SPACING = 14  # days between snapshot days
MAX_SNAPSHOTS = 13  # half a year of fortnightly snapshots
MIN_CHURNED = 10  # distinct churned accounts the cases need (per card, for a card's own bands)
MIN_CASES = 100  # cases the fit needs (per card, for a card's own bands)
MIN_BAND_CASES = 30  # a band holds at least this many cases: fewer make its share a guess
REFIT_AFTER = 7  # days: the daily run refits a stored fit this old (or one fitted for another scorecard)
RELIABILITY_EDGES = (0.0, 0.02, 0.05, 0.10, 0.20, 0.40, 1.0)  # predicted-chance bands of the reliability table


@dataclass(frozen=True)
class Band:
    """Whole scores `lo`..`hi` (as displayed: rounded down) and how the past cases scored so fared."""

    lo: int
    hi: int
    cases: int
    churned: int

    @property
    def chance(self) -> float:
        return self.churned / self.cases


@dataclass(frozen=True)
class ChanceMap:
    """Bands covering 0-100, lowest scores first; their chances never rise with the score."""

    bands: tuple[Band, ...]

    @property
    def cases(self) -> int:
        return sum(b.cases for b in self.bands)

    @property
    def churned(self) -> int:
        return sum(b.churned for b in self.bands)

    def index(self, scores: np.ndarray) -> np.ndarray:
        whole = np.floor(np.asarray(scores, dtype=float) + 1e-9)
        los = np.array([b.lo for b in self.bands])
        return np.clip(np.searchsorted(los, whole, side="right") - 1, 0, len(self.bands) - 1)

    def chances(self, scores: np.ndarray) -> np.ndarray:
        rates = np.array([b.chance for b in self.bands])
        return rates[self.index(scores)]

    def band(self, score: float) -> Band:
        return self.bands[int(self.index(np.array([score]))[0])]


def fit_bands(scores: np.ndarray, churned: np.ndarray, min_cases: int = MIN_BAND_CASES) -> ChanceMap:
    """Bands of whole scores whose churn rate falls as the score rises, each with at least `min_cases` cases
    (a smaller block of the isotonic fit joins the neighbour whose rate is closer)."""
    whole = np.clip(np.floor(np.asarray(scores, dtype=float) + 1e-9), 0, 100).astype(int)
    n_all = np.bincount(whole, minlength=101)
    c_all = np.bincount(whole, weights=np.asarray(churned, dtype=float), minlength=101)
    values = np.flatnonzero(n_all)
    n, c = n_all[values], c_all[values]
    edges = pool_adjacent_violators(n, c, direction=-1)
    blocks = [[int(n[a:b].sum()), int(round(c[a:b].sum())), int(values[a])] for a, b in itertools.pairwise(edges)]
    while len(blocks) > 1:
        small = [i for i, b in enumerate(blocks) if b[0] < min_cases]
        if not small:
            break
        i = min(small, key=lambda k: blocks[k][0])
        if i == 0 or i == len(blocks) - 1:
            j = 1 if i == 0 else i - 1
        else:
            rate = blocks[i][1] / blocks[i][0]
            left, right = blocks[i - 1], blocks[i + 1]
            j = i - 1 if abs(left[1] / left[0] - rate) <= abs(right[1] / right[0] - rate) else i + 1
        a, b = min(i, j), max(i, j)
        blocks[a : b + 1] = [[blocks[a][0] + blocks[b][0], blocks[a][1] + blocks[b][1], blocks[a][2]]]
    los = [0] + [b[2] for b in blocks[1:]]
    his = [lo - 1 for lo in los[1:]] + [100]
    return ChanceMap(tuple(Band(lo, hi, b[0], b[1]) for lo, hi, b in zip(los, his, blocks, strict=True)))


@dataclass
class Cases:
    """Past cases: one row per account active and scored on a snapshot day."""

    snapshot: np.ndarray  # the snapshot day of each case
    account_key: np.ndarray  # fitting.account_keys of its external_id: folds are drawn from it
    card: np.ndarray  # the scorecard card that scored it
    score: np.ndarray
    churned: np.ndarray  # bool: churned within the horizon after the snapshot day

    @classmethod
    def empty(cls) -> Cases:
        return cls(
            np.array([], dtype="datetime64[D]"),
            np.array([], dtype=np.int64),
            np.array([], dtype=object),
            np.array([], dtype=float),
            np.array([], dtype=bool),
        )

    def __len__(self) -> int:
        return len(self.score)

    def where(self, keep: np.ndarray) -> Cases:
        return Cases(self.snapshot[keep], self.account_key[keep], self.card[keep], self.score[keep], self.churned[keep])

    def churned_accounts(self) -> int:
        return len(np.unique(self.account_key[self.churned]))


def snapshot_days(outcomes_known: date, horizon: int, first_metrics: date | None) -> list[date]:
    """The snapshot days whose horizon ends by `outcomes_known`, latest first, none before the first metric day."""
    last = outcomes_known - timedelta(days=horizon)
    days = [last - timedelta(days=SPACING * k) for k in range(MAX_SNAPSHOTS)]
    return [d for d in days if first_metrics is not None and d >= first_metrics]


def gather(engine: Engine, scorecard: Scorecard, days: list[date], horizon: int) -> Cases:
    """Score every account active on each snapshot day from the data known that day, and label who churned."""
    parts = []
    for day in days:
        past = load_past_day(engine, scorecard.metrics, day, horizon, scorecard.data.lookback_days)
        snap = score_past_day(scorecard, past)
        frame = snap.scores.frame
        keys = dict(
            zip(
                past.inputs.accounts["id"],
                fitting.account_keys(past.inputs.accounts["external_id"].tolist()),
                strict=True,
            )
        )
        parts.append(
            Cases(
                np.full(len(frame), np.datetime64(day, "D")),
                np.array([keys[i] for i in frame["account_id"]], dtype=np.int64),
                frame["card"].to_numpy(dtype=object),
                frame["score"].to_numpy(dtype=float),
                snap.churned.astype(bool),
            )
        )
    if not parts:
        return Cases.empty()
    return Cases(
        *(
            np.concatenate([getattr(p, f) for p in parts])
            for f in ("snapshot", "account_key", "card", "score", "churned")
        )
    )


def _enough(cases: Cases) -> bool:
    return len(cases) >= MIN_CASES and cases.churned_accounts() >= MIN_CHURNED


@dataclass
class ChanceFit:
    """The bands in use: fitted on cases whose outcomes were known by `as_of`, for `horizon` days."""

    as_of: date
    horizon: int
    scorecard_key: str
    snapshots: list[date] = field(default_factory=list)
    cases: int = 0
    churned_cases: int = 0
    accounts: int = 0  # distinct accounts among the cases
    churned_accounts: int = 0
    pooled: ChanceMap | None = None  # None: too little churn history for any chance
    cards: dict[str, ChanceMap] = field(default_factory=dict)  # cards with bands of their own
    fitted_at: datetime | None = None
    id: int | None = None

    @property
    def enough(self) -> bool:
        return self.pooled is not None

    def map_for(self, card: str | None) -> ChanceMap | None:
        return self.cards.get(card or "", self.pooled)

    def chances(self, cards: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """The chance per account (NaN for all when there is too little history)."""
        scores = np.asarray(scores, dtype=float)
        out = np.full(len(scores), np.nan)
        if self.pooled is None:
            return out
        cards = np.asarray(cards, dtype=object)
        for name, bands in [("", self.pooled), *self.cards.items()]:
            rows = np.isin(cards, list(self.cards), invert=True) if name == "" else cards == name
            if rows.any():
                out[rows] = bands.chances(scores[rows])
        return out

    def to_json(self) -> dict[str, Any]:
        def bands(m: ChanceMap | None) -> list[dict[str, int]] | None:
            return None if m is None else [asdict(b) for b in m.bands]

        return {
            "snapshots": [d.isoformat() for d in self.snapshots],
            "cases": self.cases,
            "churned_cases": self.churned_cases,
            "accounts": self.accounts,
            "churned_accounts": self.churned_accounts,
            "pooled": bands(self.pooled),
            "cards": {k: bands(v) for k, v in self.cards.items()},
        }

    @classmethod
    def from_json(
        cls,
        body: dict[str, Any],
        *,
        as_of: date,
        horizon: int,
        scorecard_key: str,
        fitted_at: datetime | None = None,
        id: int | None = None,
    ) -> ChanceFit:
        def bands(raw: list[dict[str, int]] | None) -> ChanceMap | None:
            return None if raw is None else ChanceMap(tuple(Band(**b) for b in raw))

        return cls(
            as_of=as_of,
            horizon=horizon,
            scorecard_key=scorecard_key,
            snapshots=[date.fromisoformat(d) for d in body.get("snapshots", [])],
            cases=int(body.get("cases", 0)),
            churned_cases=int(body.get("churned_cases", 0)),
            accounts=int(body.get("accounts", 0)),
            churned_accounts=int(body.get("churned_accounts", 0)),
            pooled=bands(body.get("pooled")),
            cards={k: m for k, v in body.get("cards", {}).items() if (m := bands(v)) is not None},
            fitted_at=fitted_at,
            id=id,
        )


def scorecard_key(scorecard: Scorecard) -> str:
    """Which scorecard a fit belongs to: a changed card (tune, suggest, an edit) makes the stored bands stale."""
    return hashlib.blake2b(scorecard.model_dump_json().encode(), digest_size=16).hexdigest()


def fit_cases(cases: Cases, *, as_of: date, horizon: int, key: str, snapshots: list[date]) -> ChanceFit:
    fit = ChanceFit(
        as_of=as_of,
        horizon=horizon,
        scorecard_key=key,
        snapshots=snapshots,
        cases=len(cases),
        churned_cases=int(cases.churned.sum()),
        accounts=len(np.unique(cases.account_key)),
        churned_accounts=cases.churned_accounts(),
    )
    if not _enough(cases):
        return fit
    fit.pooled = fit_bands(cases.score, cases.churned)
    names = sorted(set(cases.card.tolist()))
    if len(names) > 1:
        for name in names:
            own = cases.where(cases.card == name)
            if _enough(own):
                fit.cards[name] = fit_bands(own.score, own.churned)
    return fit


def fit(engine: Engine, scorecard: Scorecard, as_of: date, horizon: int = HORIZON) -> ChanceFit:
    """Fit the bands on every snapshot whose outcome was known by `as_of`."""
    with engine.connect() as conn:
        first = score_store.first_metric_day(conn)
    days = snapshot_days(as_of, horizon, first)
    cases = gather(engine, scorecard, days, horizon)
    return fit_cases(cases, as_of=as_of, horizon=horizon, key=scorecard_key(scorecard), snapshots=days)


# -- held-out checks (the backtest's calibration) ------------------------------------------------------------------


@dataclass
class ReliabilityRow:
    """Test accounts whose predicted chance fell in [lo, hi): how many, the mean prediction, what happened."""

    lo: float
    hi: float
    accounts: int
    churned: int
    predicted: float | None  # mean predicted chance
    observed: float | None  # share that churned


@dataclass
class Calibration:
    accounts: int  # test accounts with a prediction
    churned: int
    without_chance: int  # test accounts a fold's fit could not predict (too little history without them)
    base_rate: float | None  # the training cases' churn rate: the prediction that knows nothing of the score
    brier: float | None
    base_brier: float | None  # Brier score of predicting the base rate for everyone: the one to beat
    ece: float | None  # expected calibration error: |predicted - observed| per reliability row, weighted by accounts
    rows: list[ReliabilityRow] = field(default_factory=list)
    training_cases: int = 0
    training_churned_accounts: int = 0
    snapshots: list[str] = field(default_factory=list)  # the training snapshot days

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def reliability(p: np.ndarray, y: np.ndarray, edges: tuple[float, ...] = RELIABILITY_EDGES) -> list[ReliabilityRow]:
    rows = []
    for k, (lo, hi) in enumerate(itertools.pairwise(edges)):
        last = k == len(edges) - 2
        inside = (p >= lo) & ((p <= hi) if last else (p < hi))
        n = int(inside.sum())
        rows.append(
            ReliabilityRow(
                lo,
                hi,
                n,
                int(y[inside].sum()),
                float(p[inside].mean()) if n else None,
                float(y[inside].mean()) if n else None,
            )
        )
    return rows


def expected_calibration_error(rows: list[ReliabilityRow]) -> float | None:
    total = sum(r.accounts for r in rows)
    if not total:
        return None
    return sum(r.accounts * abs((r.predicted or 0) - (r.observed or 0)) for r in rows) / total


def held_out(train: Cases, test: Cases, snapshots: list[date] | None = None) -> Calibration:
    """Predict each test account from bands fitted without its fold of accounts, and score the predictions."""
    p = np.full(len(test), np.nan)
    base = np.full(len(test), np.nan)
    train_fold = fitting.folds(train.account_key) if len(train) else np.array([], dtype=np.int64)
    test_fold = fitting.folds(test.account_key) if len(test) else np.array([], dtype=np.int64)
    for f in range(fitting.FOLDS):
        rows = test_fold == f
        if not rows.any():
            continue
        seen = train.where(train_fold != f)
        fold_fit = fit_cases(seen, as_of=date.min, horizon=0, key="", snapshots=[])
        if fold_fit.enough:
            p[rows] = fold_fit.chances(test.card[rows], test.score[rows])
            base[rows] = seen.churned.mean()
    known = ~np.isnan(p)
    y = test.churned[known].astype(float)
    pk, bk = p[known], base[known]
    rows_ = reliability(pk, y) if known.any() else []
    return Calibration(
        accounts=int(known.sum()),
        churned=int(y.sum()),
        without_chance=int((~known).sum()),
        base_rate=float(train.churned.mean()) if len(train) else None,
        brier=float(np.mean((pk - y) ** 2)) if known.any() else None,
        base_brier=float(np.mean((bk - y) ** 2)) if known.any() else None,
        ece=expected_calibration_error(rows_),
        rows=rows_,
        training_cases=len(train),
        training_churned_accounts=train.churned_accounts(),
        snapshots=[d.isoformat() for d in (snapshots or [])],
    )


def calibration(engine: Engine, scorecard: Scorecard, as_of: date, horizon: int) -> Calibration:
    """The backtest's check: bands from the snapshots whose outcome was known by `as_of` (accounts of the fold left
    out), predicting the accounts scored as of `as_of`."""
    with engine.connect() as conn:
        first = score_store.first_metric_day(conn)
    days = snapshot_days(as_of, horizon, first)
    test = gather(engine, scorecard, [as_of], horizon)
    return held_out(gather(engine, scorecard, days, horizon), test, days)


def expected_loss(chances: np.ndarray, mrr: np.ndarray) -> float:
    """Expected MRR lost: the sum of chance x MRR (an account without a chance or an MRR adds nothing)."""
    c = np.asarray(chances, dtype=float)
    m = np.asarray(mrr, dtype=float)
    return float(np.nansum(np.where(np.isnan(c) | np.isnan(m), 0.0, c * m)))


# -- the fit in use --------------------------------------------------------------------------------------------------


def stored(engine: Engine, horizon: int = HORIZON) -> ChanceFit | None:
    """The fit in use for `horizon` (the latest stored), or None before the first."""
    with unit_of_work(session_factory(engine)) as session:
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


# -- words -----------------------------------------------------------------------------------------------------------


def chance_percent(chance: float) -> str:
    """A chance as a whole percent; one that rounds to none reads "under 1 %" (no past case is a promise)."""
    return say("chance.under_one") if chance < 0.005 else f"{chance:.0%}".replace("%", " %")


def too_little_text(existing: ChanceFit) -> str:
    """Why there is no chance to show (the fit has too little churn history, or no past day to learn from)."""
    if not existing.snapshots:
        return say("chance.no_history", horizon=existing.horizon)
    return say(
        "chance.too_little",
        churned=existing.churned_accounts,
        cases=existing.cases,
        needed=MIN_CHURNED,
        needed_cases=MIN_CASES,
    )


def source_text(existing: ChanceFit, card: str | None, score: float) -> str:
    """Where an account's chance comes from, in words: its band and how the past cases in it fared."""
    own = existing.cards.get(card or "")
    bands = own or existing.pooled
    assert bands is not None, "source_text needs a fit with enough history"
    band = bands.band(score)
    values = dict(cases=band.cases, lo=band.lo, hi=band.hi, churned=band.churned, horizon=existing.horizon)
    return say("chance.source_card", card=card, **values) if own else say("chance.source", **values)


def fit_text(existing: ChanceFit) -> str:
    """What a fit was made from, or why it gives no chance: one line for the score run and the card's footer."""
    if not existing.enough:
        return too_little_text(existing)
    return say(
        "chance.fitted",
        snapshots=len(existing.snapshots),
        first=min(existing.snapshots),
        last=max(existing.snapshots),
        cases=existing.cases,
        churned=existing.churned_accounts,
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
        frame["chance"] = existing.chances(frame["card"].to_numpy(dtype=object), frame["score"].to_numpy(dtype=float))
    mrr = pd.to_numeric(frame["mrr"], errors="coerce").to_numpy(dtype=float)
    chance_ = frame["chance"].to_numpy(dtype=float)
    frame["expected_loss"] = np.where(np.isnan(chance_) | np.isnan(mrr), 0.0, chance_ * np.nan_to_num(mrr))
    return frame


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
