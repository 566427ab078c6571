"""The forecast's interval: simulated periods in which every score band's churn rate is drawn from what its past
cases make sure of, then each account churns with its band's rate (times its segment's factor)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bot.scoring import chance

DRAWS = 4000  # simulated periods
SEED = 21  # the simulation's seed: the same data gives the same interval
CHUNK_CELLS = 2_000_000  # draws x accounts simulated at once (16 MB of float64)


@dataclass(frozen=True)
class Bands:
    """The score bands the accounts fall in: past cases and churned per band, each account's band, and its
    segment's factor (`chance.Ratio`: how its segment churned against what its scores said)."""

    cases: np.ndarray  # per band
    churned: np.ndarray  # per band
    of_account: np.ndarray  # band index per account
    factor: np.ndarray | None = None  # per account; None: 1 for all

    @property
    def chances(self) -> np.ndarray:
        """Each account's chance: its band's share of past cases that churned, times its segment's factor."""
        return self.scaled((self.churned / self.cases)[self.of_account])

    def scaled(self, rates: np.ndarray) -> np.ndarray:
        return rates if self.factor is None else np.minimum(rates * self.factor, 1.0)


def bands_of(fit: chance.ChanceFit, cards: np.ndarray, scores: np.ndarray, segments: np.ndarray) -> Bands:
    """The band each account is in, as `ChanceFit.chances` reads it (`ChanceFit.assign`, `ChanceFit.factors`)."""
    bands, of_account = fit.assign(cards, scores, segments)
    cases = np.array([b.cases for b in bands], dtype=float)
    factor = fit.factors(segments, len(of_account)) if fit.ratios else None
    return Bands(cases, np.array([b.churned for b in bands], dtype=float), of_account, factor)


def simulate(
    bands: Bands,
    weights: np.ndarray,
    *,
    draws: int = DRAWS,
    seed: int = SEED,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Simulated period totals, one row per draw: `weights` (accounts x columns) summed over the accounts that
    churned in the draw. Each draw takes every band's rate from Beta(churned + 1, cases - churned + 1), then each
    account churns with its band's rate. Chunked so memory stays flat; `progress` gets the draws done."""
    rng = np.random.default_rng(seed)
    n = len(bands.of_account)
    weights = np.asarray(weights, dtype=float).reshape(n, -1)
    out = np.zeros((draws, weights.shape[1]))
    if n == 0:
        return out
    step = max(1, CHUNK_CELLS // n)
    for first in range(0, draws, step):
        size = min(step, draws - first)
        rates = rng.beta(bands.churned + 1, bands.cases - bands.churned + 1, size=(size, len(bands.cases)))
        churned = rng.random((size, n)) < bands.scaled(rates[:, bands.of_account])
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
