"""Chance to churn: a calibrated probability per account, read off its score.

A *case* is an account active on a past snapshot day, scored with today's scorecard from only the data known that
day; it churned if its `churned_on` falls within the horizon after that day. Snapshot days run back from the
latest day whose horizon is over, `SPACING` days apart, at most `MAX_SNAPSHOTS` of them. The cases' churn rate,
made to fall as the score rises (pool-adjacent-violators, `binning.pool_adjacent_violators`, checked against
scikit-learn), gives score *bands*: an account's chance is the share of past cases in its band that churned.
Each band carries its counts, so the number can always be said in words ("of 412 past cases with scores 40-44,
74 churned within 90 days").

A card with enough churn history of its own gets its own bands; the others share the bands of all cases together.
Segments (the account field) churn at their own rates: each gets a factor, how its past cases churned against what
their bands said, shrunk towards 1 (`Ratio`), rather than bands of its own (a segment's few cases would cut coarse
bands: an enterprise account silent for a month read 34 % from "scores 0-89" where the shared bands say 74 %).
Churn drifts too (the riskiest leave, a market turns): a *level* factor, how the latest `CHECK_SNAPSHOTS` snapshots
churned against what bands and segment factors said, shrunk alike, moves every chance, as in the forecast's draws.

With too little churn history (fewer than `MIN_CHURNED` churned accounts, or fewer than `MIN_CASES` cases) there is
no chance at all, and `too_little_text` says why.

A fit also checks that the score separates churn at all: bands fitted without the latest `CHECK_SNAPSHOTS`
snapshots must predict those with a Brier score at least `MIN_SKILL` below the base rate's (the churn rate of the
same earlier cases). When they do not (a score that carried signal once and has lost it, or never had any), every
account reads the base rate of those latest snapshots (one band of their cases: churn drifts, and they are the
nearest today's), and the words say the score does not separate churn yet: bands that rank no better than chance
would read as precise while doing worse than no score at all. With fewer
than `MIN_CHECK_CHURNED` churned accounts in the checked snapshots the check cannot tell, and the bands stay.

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
from sqlalchemy import Engine

from bot.scoring import fitting
from bot.scoring.backtest import PastDay, Snapshot, load_past_day, score_past_day
from bot.scoring.binning import pool_adjacent_violators
from bot.scoring.scorecard import Scorecard
from storage import scores as score_store

HORIZON = 90  # days: what "chance to churn" means unless a command names another horizon
SPACING = 14  # days between snapshot days
MAX_SNAPSHOTS = 13  # half a year of fortnightly snapshots
MIN_CHURNED = 10  # distinct churned accounts the cases need (per card, for a card's own bands)
MIN_CASES = 100  # cases the fit needs (per card, for a card's own bands)
MIN_BAND_CASES = 30  # a band holds at least this many cases: fewer make its share a guess
CHECK_SNAPSHOTS = 2  # the latest snapshots a fit predicts from the earlier ones, to check the score separates churn
MIN_SKILL = 0.03  # by how much (a share of the base rate's Brier score) the bands must beat the base rate there
MIN_CHECK_CHURNED = 20  # churned accounts the checked snapshots need for the check to count (fewer: noise)
SEGMENT_PRIOR = 2.0  # churned cases a segment's churn-as-expected ratio is shrunk towards 1 with (see `Ratio`)


@dataclass(frozen=True)
class Band:
    """Whole scores `lo`..`hi` (as displayed: rounded down) and how the past cases scored so fared."""

    lo: int
    hi: int
    cases: int
    churned: int
    centre: float | None = field(default=None, compare=False)  # the mean score of its cases (None: read as a step)

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

    def between(self, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each score's two neighbouring bands and how far it lies from the first to the second (0..1): a score
        between two bands' centres reads a chance between theirs, so a band spanning many scores does not give its
        one rate to a score at its far edge. Below the first centre or above the last, the end band's own rate;
        bands without centres (fits stored before them) read as steps."""
        whole = np.floor(np.asarray(scores, dtype=float) + 1e-9)
        step = self.index(scores)
        centres = [b.centre for b in self.bands]
        if len(self.bands) < 2 or any(c is None for c in centres):
            return step, step, np.zeros(len(whole))
        c = np.array(centres, dtype=float)
        upper = np.clip(np.searchsorted(c, whole, side="right"), 1, len(c) - 1)
        lower = upper - 1
        weight = np.clip((whole - c[lower]) / (c[upper] - c[lower]), 0.0, 1.0)
        return lower, upper, weight

    def chances(self, scores: np.ndarray) -> np.ndarray:
        rates = np.array([b.chance for b in self.bands])
        lower, upper, weight = self.between(scores)
        return rates[lower] * (1 - weight) + rates[upper] * weight

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
    total = n * values  # the sum of the scores of each whole score's cases: for the bands' centres
    blocks = [
        [int(n[a:b].sum()), int(round(c[a:b].sum())), int(values[a]), float(total[a:b].sum())]
        for a, b in itertools.pairwise(edges)
    ]
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
        joined = [blocks[a][0] + blocks[b][0], blocks[a][1] + blocks[b][1], blocks[a][2], blocks[a][3] + blocks[b][3]]
        blocks[a : b + 1] = [joined]
    los = [0] + [int(b[2]) for b in blocks[1:]]
    his = [lo - 1 for lo in los[1:]] + [100]
    return ChanceMap(
        tuple(
            Band(lo, hi, int(b[0]), int(b[1]), round(b[3] / b[0], 2))
            for lo, hi, b in zip(los, his, blocks, strict=True)
        )
    )


@dataclass(frozen=True)
class Ratio:
    """How a segment without bands of its own churned against what its scores said: `churned` past cases where the
    bands expected `expected`. Its chances are the band's times `factor`, the ratio shrunk towards 1 by
    SEGMENT_PRIOR cases (a segment with little history stays close to its bands)."""

    churned: int
    expected: float

    @property
    def factor(self) -> float:
        return (self.churned + SEGMENT_PRIOR) / (self.expected + SEGMENT_PRIOR)


@dataclass
class Cases:
    """Past cases: one row per account active and scored on a snapshot day."""

    snapshot: np.ndarray  # the snapshot day of each case
    account_key: np.ndarray  # fitting.account_keys of its external_id: folds are drawn from it
    card: np.ndarray  # the scorecard card that scored it
    score: np.ndarray
    churned: np.ndarray  # bool: churned within the horizon after the snapshot day
    segment: np.ndarray = field(default_factory=lambda: np.array([], dtype=object))  # segment_key of each case

    def __post_init__(self) -> None:
        if len(self.segment) != len(self.score):  # built without segments: none known
            self.segment = np.full(len(self.score), "", dtype=object)

    @classmethod
    def empty(cls) -> Cases:
        return cls(
            np.array([], dtype="datetime64[D]"),
            np.array([], dtype=np.int64),
            np.array([], dtype=object),
            np.array([], dtype=float),
            np.array([], dtype=bool),
            np.array([], dtype=object),
        )

    def __len__(self) -> int:
        return len(self.score)

    def where(self, keep: np.ndarray) -> Cases:
        return Cases(
            self.snapshot[keep],
            self.account_key[keep],
            self.card[keep],
            self.score[keep],
            self.churned[keep],
            self.segment[keep],
        )

    def churned_accounts(self) -> int:
        return len(np.unique(self.account_key[self.churned]))


def snapshot_days(outcomes_known: date, horizon: int, first_metrics: date | None) -> list[date]:
    """The snapshot days whose horizon ends by `outcomes_known`, latest first, none before the first metric day."""
    last = outcomes_known - timedelta(days=horizon)
    days = [last - timedelta(days=SPACING * k) for k in range(MAX_SNAPSHOTS)]
    return [d for d in days if first_metrics is not None and d >= first_metrics]


def _snapshot_days(engine: Engine, as_of: date, horizon: int) -> list[date]:
    """`snapshot_days` for the data stored: outcomes count as known up to `as_of`, or up to the latest metric day
    when the data stops earlier (a snapshot after it would read the missing days as no activity)."""
    with engine.connect() as conn:
        first = score_store.first_metric_day(conn)
        latest = score_store.latest_metric_day(conn, until=as_of)
    return snapshot_days(min(as_of, latest) if latest is not None else as_of, horizon, first)


def day_cases(day: date, past: PastDay, snap: Snapshot) -> Cases:
    """A loaded and scored past day (`backtest.load_past_day`, `score_past_day`) as cases."""
    frame = snap.scores.frame
    known = past.inputs.accounts.set_index("id").reindex(frame["account_id"])
    return Cases(
        np.full(len(frame), np.datetime64(day, "D")),
        fitting.account_keys(known["external_id"].tolist()),
        frame["card"].to_numpy(dtype=object),
        frame["score"].to_numpy(dtype=float),
        snap.churned.astype(bool),
        segment_keys(known["segment"]),
    )


def gather(engine: Engine, scorecard: Scorecard, days: list[date], horizon: int) -> Cases:
    """Score every account active on each snapshot day from the data known that day, and label who churned."""
    parts = []
    for day in days:
        past = load_past_day(engine, scorecard.metrics, day, horizon, scorecard.data.lookback_days)
        parts.append(day_cases(day, past, score_past_day(scorecard, past)))
    if not parts:
        return Cases.empty()
    return Cases(
        *(
            np.concatenate([getattr(p, f) for p in parts])
            for f in ("snapshot", "account_key", "card", "score", "churned", "segment")
        )
    )


def scaled(rates: np.ndarray, factors: np.ndarray | None) -> np.ndarray:
    """Band rates moved by segment factors, on the odds (a factor of 1.6 on 74 % gives 82 %, never past 100 %; on
    small rates the same as multiplying)."""
    if factors is None:
        return rates
    odds = rates * factors
    return np.where(rates >= 1.0, 1.0, odds / np.maximum(1.0 - rates + odds, 1e-12))


def segment_keys(values: Any) -> np.ndarray:
    """An account `segment` as a fit keys it: trimmed and case-folded ("" when there is none)."""
    return np.array([v.strip().casefold() if isinstance(v, str) else "" for v in values], dtype=object)


def segment_names(values: Any) -> np.ndarray:
    """Each account's segment as the team reads it: the first spelling met of its key (`segment_keys`), None for
    none. "Enterprise" and "enterprise " are one segment wherever segments are summed, as they are for the fit."""
    values = list(values)
    keys = segment_keys(values)
    first: dict[str, str] = {}
    for key, value in zip(keys, values, strict=True):
        if key and key not in first:
            first[key] = str(value).strip()
    return np.array([first[key] if key else None for key in keys], dtype=object)


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
    ratios: dict[str, Ratio] = field(default_factory=dict)  # segments (segment_keys): churned against their bands
    separates: bool = True  # False: the score did not beat the base rate (`score_separates`); one band, the base rate
    level: Ratio | None = None  # the latest CHECK_SNAPSHOTS snapshots: churned against their bands and segment factors
    fitted_at: datetime | None = None
    id: int | None = None

    @property
    def enough(self) -> bool:
        return self.pooled is not None

    def map_for(self, card: str | None) -> ChanceMap | None:
        """The bands an account is read from: its card's own, else the pooled ones."""
        return self.cards.get(card or "") or self.pooled

    def assign(self, cards: np.ndarray, scores: np.ndarray) -> tuple[list[Band], np.ndarray, np.ndarray, np.ndarray]:
        """Every band of the fit in one list, and each account's two neighbouring bands in it with its weight on
        the second (`ChanceMap.between`, of `map_for`'s bands); the fit must have enough history. The forecast's
        simulation draws each band's rate once per draw from this list."""
        assert self.pooled is not None, "assign needs a fit with enough history"
        scores = np.asarray(scores, dtype=float)
        cards = np.asarray(cards, dtype=object)
        own = np.isin(cards, list(self.cards))
        groups = [(~own, self.pooled), *((cards == name, m) for name, m in self.cards.items())]
        bands: list[Band] = []
        lower = np.zeros(len(scores), dtype=np.int64)
        upper = np.zeros(len(scores), dtype=np.int64)
        weight = np.zeros(len(scores))
        for rows, m in groups:
            if rows.any():
                lo, hi, w = m.between(scores[rows])
                lower[rows], upper[rows], weight[rows] = len(bands) + lo, len(bands) + hi, w
            bands += m.bands
        return bands, lower, upper, weight

    def factors(self, segments: np.ndarray | None, n: int) -> np.ndarray:
        """Each account's segment factor (`Ratio.factor`; 1 with no segment, or one the fit never saw), times the
        level's (churn of late against what the bands said: it drifts, and the latest snapshots are nearest today)."""
        level = self.level.factor if self.level is not None else 1.0
        if segments is None or not self.ratios:
            return np.full(n, level)
        keys = segment_keys(segments)
        table = {k: r.factor for k, r in self.ratios.items()}
        return np.array([table.get(k, 1.0) for k in keys], dtype=float) * level

    def chances(self, cards: np.ndarray, scores: np.ndarray, segments: np.ndarray | None = None) -> np.ndarray:
        """The chance per account (NaN for all when there is too little history)."""
        n = len(np.asarray(scores))
        if self.pooled is None:
            return np.full(n, np.nan)
        bands, lower, upper, weight = self.assign(cards, scores)
        each = np.array([b.chance for b in bands])
        rates = each[lower] * (1 - weight) + each[upper] * weight
        return scaled(rates, self.factors(segments, n))

    def to_json(self) -> dict[str, Any]:
        def bands(m: ChanceMap | None) -> list[dict[str, Any]] | None:
            return None if m is None else [asdict(b) for b in m.bands]

        return {
            "snapshots": [d.isoformat() for d in self.snapshots],
            "cases": self.cases,
            "churned_cases": self.churned_cases,
            "accounts": self.accounts,
            "churned_accounts": self.churned_accounts,
            "pooled": bands(self.pooled),
            "cards": {k: bands(v) for k, v in self.cards.items()},
            "ratios": {k: {"churned": r.churned, "expected": r.expected} for k, r in self.ratios.items()},
            "separates": self.separates,
            "level": None if self.level is None else {"churned": self.level.churned, "expected": self.level.expected},
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
        def bands(raw: list[dict[str, Any]] | None) -> ChanceMap | None:
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
            ratios={k: Ratio(int(v["churned"]), float(v["expected"])) for k, v in body.get("ratios", {}).items()},
            separates=bool(body.get("separates", True)),
            level=Ratio(int(level["churned"]), float(level["expected"])) if (level := body.get("level")) else None,
            fitted_at=fitted_at,
            id=id,
        )


def scorecard_key(scorecard: Scorecard) -> str:
    """Which scorecard a fit belongs to: a changed card (tune, suggest, an edit) makes the stored bands stale."""
    return hashlib.blake2b(scorecard.model_dump_json().encode(), digest_size=16).hexdigest()


def brier(p: np.ndarray, churned: np.ndarray) -> float:
    return float(np.mean((np.asarray(p, dtype=float) - np.asarray(churned, dtype=float)) ** 2))


def score_separates(cases: Cases) -> bool:
    """Whether bands fitted on all but the latest `CHECK_SNAPSHOTS` snapshots predict those better than the base
    rate of the same earlier cases, by at least `MIN_SKILL` of its Brier score. True when it cannot tell: too few
    snapshots, too little history before them, or too few churned accounts in them."""
    days = np.unique(cases.snapshot)
    if len(days) <= CHECK_SNAPSHOTS:
        return True
    latest = np.isin(cases.snapshot, days[-CHECK_SNAPSHOTS:])
    earlier, checked = cases.where(~latest), cases.where(latest)
    if not _enough(earlier) or checked.churned_accounts() < MIN_CHECK_CHURNED:
        return True
    bands = fit_cases(earlier, as_of=date.min, horizon=0, key="", snapshots=[], check=False)
    predicted = bands.chances(checked.card, checked.score, checked.segment)
    base = np.full(len(checked), earlier.churned.mean())
    return brier(predicted, checked.churned) < (1 - MIN_SKILL) * brier(base, checked.churned)


def fit_cases(
    cases: Cases, *, as_of: date, horizon: int, key: str, snapshots: list[date], check: bool = True
) -> ChanceFit:
    """The fit of `cases`: bands, a card's own, segment factors; with `check`, one band of the latest cases (their
    base rate) when the score does not separate churn (`score_separates`), else a level factor: how the latest
    `CHECK_SNAPSHOTS` snapshots churned against what the bands and segment factors said (`Ratio`, shrunk alike)."""
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
    if check and not score_separates(cases):
        fit.separates = False  # the base rate of the snapshots it was checked on: the latest, nearest today's
        latest = cases.where(np.isin(cases.snapshot, np.unique(cases.snapshot)[-CHECK_SNAPSHOTS:]))
        centre = round(float(latest.score.mean()), 2)
        fit.pooled = ChanceMap((Band(0, 100, len(latest), int(latest.churned.sum()), centre),))
        return fit
    fit.pooled = fit_bands(cases.score, cases.churned)
    names = sorted(set(cases.card.tolist()))
    if len(names) > 1:
        for name in names:
            own = cases.where(cases.card == name)
            if _enough(own):
                fit.cards[name] = fit_bands(own.score, own.churned)
    segments = sorted(set(cases.segment.tolist()) - {""})
    if len(segments) > 1:  # how each segment churned against what the bands say for its scores
        expected = fit.chances(cases.card, cases.score)
        for name in segments:
            rows = cases.segment == name
            fit.ratios[name] = Ratio(int(cases.churned[rows].sum()), float(expected[rows].sum()))
    days = np.unique(cases.snapshot)
    if check and len(days) > CHECK_SNAPSHOTS:
        latest = cases.where(np.isin(cases.snapshot, days[-CHECK_SNAPSHOTS:]))
        expected = fit.chances(latest.card, latest.score, latest.segment)
        fit.level = Ratio(int(latest.churned.sum()), float(expected.sum()))
    return fit


def fit(engine: Engine, scorecard: Scorecard, as_of: date, horizon: int = HORIZON) -> ChanceFit:
    """Fit the bands on every snapshot whose outcome was known by `as_of`."""
    days = _snapshot_days(engine, as_of, horizon)
    cases = gather(engine, scorecard, days, horizon)
    return fit_cases(cases, as_of=as_of, horizon=horizon, key=scorecard_key(scorecard), snapshots=days)


def loss_per_account(chances: np.ndarray, mrr: np.ndarray) -> np.ndarray:
    """Each account's expected MRR loss, chance x MRR: 0 for an account without a chance or an MRR."""
    c = np.asarray(chances, dtype=float)
    m = np.asarray(mrr, dtype=float)
    return np.where(np.isnan(c) | np.isnan(m), 0.0, np.nan_to_num(c) * np.nan_to_num(m))


def expected_loss(chances: np.ndarray, mrr: np.ndarray) -> float:
    """Expected MRR lost: the sum of chance x MRR (an account without a chance or an MRR adds nothing)."""
    return float(loss_per_account(chances, mrr).sum())
