"""The forecast's interval: simulated periods in which every score band's churn rate, every segment's factor and the
fit's level factor are drawn from what their past cases make sure of; then each account churns with its band's rate
moved by its factors (`chance.scaled`), as the card's chance is."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from bot.scoring import chance

DRAWS = 4000  # simulated periods
SEED = 21  # the simulation's seed: the same data gives the same interval
PRIOR = 0.05  # added to a band's churned and not churned: keeps its draws' mean at its rate (a prior of 1 pulls
# a band of few accounts towards 50 %), yet lets a band where nobody churned draw a rate above 0
CHUNK_CELLS = 2_000_000  # draws x accounts simulated at once (16 MB of float64)


@dataclass(frozen=True)
class Bands:
    """The score bands the accounts fall in (past cases and churned per band, each account's band) and the segments
    (`chance.Ratio`: churned and expected per segment, each account's segment, -1 for none), in effective counts."""

    cases: np.ndarray  # per band
    churned: np.ndarray  # per band
    of_account: np.ndarray  # band index per account (the lower of its two neighbouring bands)
    upper: np.ndarray | None = None  # the upper neighbour per account; None: read as steps
    weight: np.ndarray | None = None  # per account, on the upper neighbour (0..1)
    seg_churned: np.ndarray | None = None  # per segment, with chance.SEGMENT_PRIOR added
    seg_expected: np.ndarray | None = None  # per segment, with chance.SEGMENT_PRIOR added
    seg_of_account: np.ndarray | None = None  # segment index per account, -1: no factor
    level_churned: float | None = None  # the fit's level (`ChanceFit.level`), with chance.SEGMENT_PRIOR added
    level_expected: float | None = None

    @property
    def chances(self) -> np.ndarray:
        """Each account's chance: its band's share of past cases that churned, moved by its segment's and the level's
        factors."""
        rates = self.account_rates(self.churned / self.cases)
        factors = None
        if self.seg_churned is not None and self.seg_expected is not None:
            factors = self._per_account(self.seg_churned / self.seg_expected)
        if self.level_churned is not None and self.level_expected is not None:
            factors = (np.ones(len(rates)) if factors is None else factors) * (self.level_churned / self.level_expected)
        return rates if factors is None else chance.scaled(rates, factors)

    def account_rates(self, band_rates: np.ndarray) -> np.ndarray:
        """Per account (and per draw, for rates drawn per draw): its two bands' rates, weighted."""
        lower = band_rates[..., self.of_account]
        if self.upper is None or self.weight is None:
            return lower
        return lower * (1 - self.weight) + band_rates[..., self.upper] * self.weight

    def _per_account(self, per_segment: np.ndarray) -> np.ndarray:
        assert self.seg_of_account is not None
        with_one = np.concatenate([per_segment, np.ones((*per_segment.shape[:-1], 1))], axis=-1)
        return with_one[..., self.seg_of_account]  # -1 picks the 1 appended last

    def draw_factors(self, rng: np.random.Generator, size: int) -> np.ndarray | None:
        """Per draw and account, its segment's factor times the level's, each Gamma(churned, 1 / expected), whose
        mean is the factor."""
        factors = None
        if self.seg_churned is not None and self.seg_expected is not None:
            per_segment = rng.gamma(self.seg_churned, 1.0 / self.seg_expected, size=(size, len(self.seg_churned)))
            factors = self._per_account(per_segment)
        if self.level_churned is not None and self.level_expected is not None:
            level = rng.gamma(self.level_churned, 1.0 / self.level_expected, size=(size, 1))
            factors = level if factors is None else factors * level
        return factors


def bands_of(fit: chance.ChanceFit, cards: np.ndarray, scores: np.ndarray, segments: np.ndarray) -> Bands:
    """The band and segment of each account, as `ChanceFit.chances` reads them.

    Counts are past cases, and one account is a case on each snapshot it was active (a churner counts as churned on
    several): not that many independent accounts. The draws use them divided by the fit's cases per account, so a
    band or segment resting on a few accounts seen many times spreads as wide as those few accounts warrant."""
    bands, of_account, upper, weight = fit.assign(cards, scores)
    per_account = fit.cases / fit.accounts if fit.accounts else 1.0
    cases = np.array([b.cases for b in bands], dtype=float) / per_account
    churned = np.array([b.churned for b in bands], dtype=float) / per_account
    prior = chance.SEGMENT_PRIOR
    level = fit.level
    made = Bands(cases, churned, of_account, upper, weight)
    if level is not None:
        made = replace(
            made,
            level_churned=(level.churned + prior) / per_account,
            level_expected=(level.expected + prior) / per_account,
        )
    if not fit.ratios:
        return made
    names = list(fit.ratios)
    index = {name: k for k, name in enumerate(names)}
    seg_of = np.array([index.get(k, -1) for k in chance.segment_keys(segments)], dtype=np.int64)
    seg_churned = np.array([fit.ratios[k].churned + prior for k in names], dtype=float) / per_account
    seg_expected = np.array([fit.ratios[k].expected + prior for k in names], dtype=float) / per_account
    return replace(made, seg_churned=seg_churned, seg_expected=seg_expected, seg_of_account=seg_of)


def simulate(
    bands: Bands,
    weights: np.ndarray,
    *,
    draws: int = DRAWS,
    seed: int = SEED,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Simulated period totals, one row per draw: `weights` (accounts x columns) summed over the accounts that
    churned in the draw. Each draw takes every band's rate from Beta(churned + PRIOR, cases - churned + PRIOR) and
    every segment's factor and the level's from their Gammas, then each account churns with its band's rate moved by
    its factors.
    Chunked so memory stays flat; `progress` gets the draws done."""
    rng = np.random.default_rng(seed)
    n = len(bands.of_account)
    weights = np.asarray(weights, dtype=float).reshape(n, -1)
    out = np.zeros((draws, weights.shape[1]))
    if n == 0:
        return out
    step = max(1, CHUNK_CELLS // n)
    for first in range(0, draws, step):
        size = min(step, draws - first)
        shape = (size, len(bands.cases))
        rates = rng.beta(bands.churned + PRIOR, bands.cases - bands.churned + PRIOR, size=shape)
        factors = bands.draw_factors(rng, size)
        churned = rng.random((size, n)) < chance.scaled(bands.account_rates(rates), factors)
        out[first : first + size] = churned @ weights
        if progress is not None:
            progress(size)
    return out


def interval(totals: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """The middle `level` of simulated totals, per column: the (1 - level) / 2 and 1 - (1 - level) / 2 quantiles
    (values some draw had: a count's interval is whole accounts)."""
    tail = (1 - level) / 2
    low = np.quantile(totals, tail, axis=0, method="inverted_cdf")
    high = np.quantile(totals, 1 - tail, axis=0, method="inverted_cdf")
    return low, high
