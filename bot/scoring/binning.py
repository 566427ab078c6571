"""Cutting a number's values into bins whose churn rates rise or fall with it, and the 0-100 bands they give."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bot.scoring import formats
from bot.scoring.backtest import roc_auc
from prompts import say

MAX_BINS = 6
FINE_BINS = 20  # quantile bins a number starts from, before merging (a tail of a few % keeps its own bin)
MIN_BIN_ACCOUNTS = 30  # a bin with fewer fitting snapshots is merged into a neighbour
MIN_BIN_CHURNERS = 5  # ... and one with fewer churners too

Segment = tuple[float, float, int, int, float]  # lowest value, highest value, snapshots, churned, median value


@dataclass
class Bin:
    label: str  # the values it holds, in words ("0 to 1", "4+", "annual")
    accounts: int  # fitting snapshots in it
    churned: int

    @property
    def rate(self) -> float:
        return self.churned / self.accounts if self.accounts else 0.0


def fit_numeric(x: np.ndarray, y: np.ndarray) -> tuple[int, list[Segment], list[tuple[float, float]]]:
    """Direction (+1: a higher value churns more), bins and bands of a number from its rows with data."""
    raw_auc = roc_auc(x, y.astype(bool))
    direction = 1 if raw_auc is None or raw_auc >= 0.5 else -1
    segments = segments_of(x, y, direction)
    bands = bands_of([s[4] for s in segments], _scale(np.array([c / n for _, _, n, c, _ in segments])))
    return direction, segments, bands


def fit_category(values: np.ndarray, y: np.ndarray) -> tuple[list[Bin], Bin, dict[str, float], float]:
    """Bins of the values with enough accounts and churners, the rest pooled; their 0-100 scores."""
    known = values != ""
    table = pd.DataFrame({"value": values[known], "churned": y[known]}).groupby("value")["churned"].agg(["size", "sum"])
    big = table[(table["size"] >= MIN_BIN_ACCOUNTS) & (table["sum"] >= MIN_BIN_CHURNERS)]
    rest = table.drop(big.index)
    bins = [Bin(str(v), int(r["size"]), int(r["sum"])) for v, r in big.iterrows()]
    other = Bin(say("suggest.bins.other"), int(rest["size"].sum()), int(rest["sum"].sum()))
    if len(bins) < 2:
        return bins, other, {}, 50.0
    other_rate = other.rate if other.accounts >= MIN_BIN_ACCOUNTS else float(y[known].mean())
    scores = _scale(np.array([*(b.rate for b in bins), other_rate]))
    return bins, other, {b.label: float(v) for b, v in zip(bins, scores[:-1], strict=True)}, float(scores[-1])


def interp(x: np.ndarray, bands: list[tuple[float, float]]) -> np.ndarray:
    xs, ys = zip(*bands, strict=True)
    return np.where(np.isnan(x), np.nan, np.interp(np.nan_to_num(x), xs, ys))


def segments_of(x: np.ndarray, y: np.ndarray, direction: int) -> list[Segment]:
    """Quantile bins of x, small ones merged, churn rates made monotone in `direction`, at most MAX_BINS:
    (lowest value, highest value, snapshots, churned, median value) per bin, lowest values first."""
    order = np.argsort(x, kind="stable")
    xs, ys = x[order], y[order].astype(np.int64)
    edges = np.unique(np.quantile(xs, np.arange(1, FINE_BINS) / FINE_BINS, method="inverted_cdf"))
    cuts = np.searchsorted(xs, edges, side="right")  # bin i holds values <= edges[i]
    bounds = sorted({0, len(xs), *cuts.tolist()})
    cum = np.concatenate([[0], np.cumsum(ys)])
    base = float(ys.mean()) if len(ys) else 0.0

    def stats(b: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        lo, hi = np.array(b[:-1]), np.array(b[1:])
        n, c = hi - lo, cum[hi] - cum[lo]
        return n, c, c / n

    while len(bounds) > 2:  # merge the smallest bin that is too small into its closer neighbour by churn rate
        n, c, rate = stats(bounds)
        small = np.flatnonzero(_too_small(n, c, base))
        if not len(small):
            break
        i = int(small[np.argmin(n[small])])
        if i == 0 or (i < len(n) - 1 and abs(rate[i + 1] - rate[i]) < abs(rate[i - 1] - rate[i])):
            del bounds[i + 1]  # into the next bin
        else:
            del bounds[i]  # into the previous one
    n, c, _ = stats(bounds)
    bounds = [bounds[i] for i in pool_adjacent_violators(n, c, direction)]
    while len(bounds) > MAX_BINS + 1:  # at most MAX_BINS: merge the neighbours whose rates differ least
        del bounds[int(np.argmin(np.abs(np.diff(stats(bounds)[2])))) + 1]
    n, c, _ = stats(bounds)
    return [
        (float(xs[lo]), float(xs[hi - 1]), int(k), int(h), float(np.median(xs[lo:hi])))
        for lo, hi, k, h in zip(bounds[:-1], bounds[1:], n, c, strict=True)
    ]


def pool_adjacent_violators(n: np.ndarray, c: np.ndarray, direction: int) -> list[int]:
    """Neighbouring bins (`n` snapshots, `c` churned each) merged until the churn rate only rises (`direction`
    +1) or only falls with the value, the first violating pair first: the edges of the merged bins, as indices
    into the bins (0 first, len(n) last). Their rates are the isotonic regression of the bins' rates weighted by n."""
    edges = list(range(len(n) + 1))
    total_n, total_c = np.concatenate([[0], np.cumsum(n)]), np.concatenate([[0], np.cumsum(c)])
    while len(edges) > 2:
        e = np.array(edges)
        rate = (total_c[e[1:]] - total_c[e[:-1]]) / (total_n[e[1:]] - total_n[e[:-1]])
        bad = np.flatnonzero(np.diff(direction * rate) < -1e-12)
        if not len(bad):
            break
        del edges[int(bad[0]) + 1]
    return edges


def _too_small(n: np.ndarray, c: np.ndarray, base: float) -> np.ndarray:
    """Bins whose churn rate is too uncertain to keep apart: fewer than MIN_BIN_ACCOUNTS snapshots, or fewer than
    MIN_BIN_CHURNERS churners unless the bin is big enough that the base rate would put twice that many in it
    (a large bin where almost nobody churns is as telling as one where many do)."""
    return (n < MIN_BIN_ACCOUNTS) | ((c < MIN_BIN_CHURNERS) & (n * base < 2 * MIN_BIN_CHURNERS))


def _scale(rates: np.ndarray) -> np.ndarray:
    """0-100 scores: 100 at the lowest churn rate, 0 at the highest, linear in between."""
    low, high = float(rates.min()), float(rates.max())
    if high - low < 1e-12:
        return np.full(len(rates), 100.0)
    return np.round(100.0 * (high - rates) / (high - low), 1)


def bands_of(medians: list[float], scores: np.ndarray) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for m, s in zip(medians, scores.tolist(), strict=True):
        x = significant(m, 3)
        if out and x <= out[-1][0]:
            continue
        out.append((x, float(s)))
    return out


def significant(x: float, digits: int = 4) -> float:
    """`x` to `digits` significant digits, as a plain float (a whole number stays whole)."""
    if x == 0 or not math.isfinite(x):
        return 0.0
    return float(f"{x:.{digits}g}")


def range_label(kind: str, lo: float, hi: float) -> str:
    if kind == "state":
        return say("suggest.bins.yes") if lo >= 1 else say("suggest.bins.no")
    show = formats.change if kind == "trend" else formats.number
    return say("suggest.bins.single", lo=show(lo)) if lo == hi else say("suggest.bins.range", lo=show(lo), hi=show(hi))
