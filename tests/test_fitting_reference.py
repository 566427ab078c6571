"""Our hand-written AUC, logistic fit and pool-adjacent-violators give what scikit-learn gives on the same data."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from bot.scoring.backtest import roc_auc
from bot.scoring.binning import pool_adjacent_violators
from bot.scoring.fitting import L2_CHOICES, fit_logistic

TOLERANCE = 1e-6


@pytest.mark.parametrize("seed", range(5))
def test_auc_is_sklearns_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    churned = rng.random(400) < 0.2
    risk = np.round(rng.normal(size=400) + churned, 1)  # rounded: many ties, within and across the classes
    assert len(np.unique(risk)) < 200
    ours = roc_auc(risk, churned)
    assert ours is not None
    assert abs(ours - roc_auc_score(churned, risk)) < TOLERANCE


def test_auc_of_a_few_whole_scores_is_sklearns() -> None:
    risk = np.array([3, 3, 3, 2, 2, 1, 1, 1, 0, 0], dtype=float)
    churned = np.array([1, 0, 1, 1, 0, 0, 1, 0, 0, 0], dtype=bool)
    assert abs((roc_auc(risk, churned) or 0) - roc_auc_score(churned, risk)) < TOLERANCE


def _data(seed: int, rows: int = 600) -> tuple[np.ndarray, np.ndarray]:
    """Risks in 0..1 per measure, as tune and suggest fit them, with churn depending on some of them."""
    rng = np.random.default_rng(seed)
    x = rng.random((rows, 4))
    logit = -2.0 + 2.5 * x[:, 0] + 1.0 * x[:, 1] - 0.5 * x[:, 2]
    y = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(float)
    return x, y


@pytest.mark.parametrize("l2", L2_CHOICES)
@pytest.mark.parametrize("seed", range(3))
def test_logistic_fit_is_sklearns_with_the_same_l2_penalty(l2: float, seed: int) -> None:
    # Ours minimises log-loss summed over rows + l2/2 * |coefficients|^2, the intercept not shrunk; scikit-learn's
    # L2 penalty minimises C * summed log-loss + 1/2 * |coefficients|^2, its intercept not shrunk either: C = 1/l2.
    x, y = _data(seed)
    ours = fit_logistic(x, y, l2=l2)
    ref = LogisticRegression(C=1 / l2, solver="newton-cholesky", tol=1e-12, max_iter=1000).fit(x, y)
    theirs = np.r_[ref.intercept_, ref.coef_[0]]
    assert np.abs(ours - theirs).max() < TOLERANCE, (ours, theirs)


def _isotonic(n: np.ndarray, c: np.ndarray, direction: int) -> np.ndarray:
    """scikit-learn's weighted isotonic regression of the bins' churn rates, per bin."""
    ref = IsotonicRegression(increasing=direction > 0)
    return ref.fit_transform(np.arange(len(n)), c / n, sample_weight=n)


def _pooled(n: np.ndarray, c: np.ndarray, direction: int) -> np.ndarray:
    """Our merged bins' churn rates, per original bin."""
    edges = pool_adjacent_violators(n, c, direction)
    out = np.zeros(len(n))
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        out[lo:hi] = c[lo:hi].sum() / n[lo:hi].sum()
    return out


@pytest.mark.parametrize("direction", [1, -1])
@pytest.mark.parametrize("seed", range(8))
def test_pool_adjacent_violators_is_sklearns_isotonic_regression(direction: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = rng.integers(20, 200, size=20)
    c = rng.binomial(n, rng.uniform(0.05, 0.4, size=20))  # rates that go up and down: many violators
    edges = pool_adjacent_violators(n, c, direction)
    assert edges[0] == 0 and edges[-1] == len(n) and len(edges) < len(n) + 1
    assert np.abs(_pooled(n, c, direction) - _isotonic(n, c, direction)).max() < TOLERANCE


def test_pool_adjacent_violators_keeps_bins_already_in_order() -> None:
    n = np.array([50, 50, 50, 50])
    c = np.array([5, 10, 10, 20])  # a tie is no violation
    assert pool_adjacent_violators(n, c, 1) == [0, 1, 2, 3, 4]
    assert np.abs(_pooled(n, c, 1) - _isotonic(n, c, 1)).max() < TOLERANCE
    assert pool_adjacent_violators(n, c, -1) == [0, 4]
