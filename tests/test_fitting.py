"""Tier cutoffs tune and suggest propose: the riskiest tiers catch churners, without putting everyone at risk."""

from __future__ import annotations

import numpy as np

from bot.scoring.fitting import account_keys, folds, propose_cutoffs
from bot.scoring.scorecard import load_scorecard

TIERS = load_scorecard().tiers


def _below(cutoffs: dict[str, float], tier: str, scores: np.ndarray) -> np.ndarray:
    return scores < cutoffs[tier]


def test_a_score_that_separates_churners_puts_most_of_them_in_the_two_riskiest_tiers() -> None:
    rng = np.random.default_rng(1)
    churned = rng.random(5000) < 0.1
    scores = np.clip(np.where(churned, rng.normal(30, 12, 5000), rng.normal(75, 12, 5000)), 0, 100)
    cutoffs = propose_cutoffs(TIERS, scores, churned)
    two_riskiest = _below(cutoffs, "low_risk", scores)
    assert churned[two_riskiest].sum() / churned.sum() >= 0.69  # ~70 % of the churners
    assert two_riskiest.mean() <= 0.4 * 1.01  # and the limit (4x the base rate) is not what set it


def test_a_weak_score_does_not_put_most_accounts_at_risk() -> None:
    """A score that barely separates churners spreads them everywhere: catching 70 % of them would put ~70 % of
    all accounts in the two riskiest tiers. The account limit holds them to 4x the base rate instead."""
    rng = np.random.default_rng(2)
    churned = rng.random(5000) < 0.05
    scores = np.clip(rng.normal(70, 15, 5000) - 3 * churned, 0, 100)
    cutoffs = propose_cutoffs(TIERS, scores, churned)
    assert _below(cutoffs, "medium_risk", scores).mean() <= 0.10 + 0.01  # riskiest: 2x base, at least 5 %
    assert _below(cutoffs, "low_risk", scores).mean() <= 0.20 + 0.01  # two riskiest: 4x base, at least 10 %
    assert _below(cutoffs, "healthy", scores).mean() <= 0.40 + 0.01  # three riskiest: 8x base, at least 20 %
    values = [cutoffs[t] for t in TIERS.order]
    assert values == sorted(values, reverse=True) and len(set(values)) == len(values) and values[-1] == 0


def test_folds_depend_on_the_external_id_only() -> None:
    """The same accounts fall in the same folds whatever ids the database gave them."""
    keys = account_keys([f"ACC-{i:05d}" for i in range(2000)])
    again = account_keys([f"ACC-{i:05d}" for i in range(2000)])
    assert (folds(keys) == folds(again)).all()
    counts = np.bincount(folds(keys), minlength=5)
    assert counts.min() > 300  # spread evenly over the five folds
