"""What `tune` and `scorecard suggest` share: a logistic fit, cross-validation folds, tier cutoffs.

The cutoffs are chosen so the riskiest tiers keep catching churners. tests/test_fitting_reference.py checks the fit
against scikit-learn's LogisticRegression on the same data.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from bot.scoring.backtest import roc_auc
from bot.scoring.scorecard import Tiers

# Share of the fitting accounts' churners that should score below each cutoff, riskiest boundary first:
# the riskiest tier holds ~40 % of them, the two riskiest ~70 %, the three riskiest ~90 %.
CHURNER_CAPTURE = (0.4, 0.7, 0.9, 0.97)
# ... but at most this share of all accounts below each boundary: (times the base churn rate, at least), so the
# risky tiers stay a list a team can work through: the riskiest up to 2x the base rate (5 % at least), the two
# riskiest 4x (10 %), the three riskiest 8x (20 %).
ACCOUNT_SHARE_LIMIT = ((2.0, 0.05), (4.0, 0.10), (8.0, 0.20), (16.0, 0.40))
L2_CHOICES = (0.1, 1.0, 10.0)
FOLDS = 5


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0, iterations: int = 50) -> np.ndarray:
    """Coefficients (intercept first) of an L2-regularised logistic regression, by Newton's method."""
    design = np.column_stack([np.ones(len(x)), x])
    beta = np.zeros(design.shape[1])
    penalty = np.full(design.shape[1], l2)
    penalty[0] = 0.0  # the intercept is not shrunk
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(design @ beta, -30, 30)))
        gradient = design.T @ (p - y) + penalty * beta
        hessian = (design * (p * (1 - p))[:, None]).T @ design + np.diag(penalty)
        step = np.linalg.lstsq(hessian, gradient, rcond=None)[0]  # a constant feature makes it singular
        beta -= step
        if np.abs(step).max() < 1e-8:
            break
    return beta


def account_keys(external_ids: np.ndarray | list[str]) -> np.ndarray:
    """A stable 63-bit number per account from its external_id: folds drawn from it are the same on SQLite and
    PostgreSQL and after a re-import (database ids are not: PostgreSQL keeps counting after deletes)."""
    digest = (hashlib.blake2b(str(e).encode(), digest_size=8).digest() for e in external_ids)
    return np.fromiter((int.from_bytes(d, "big") >> 1 for d in digest), dtype=np.int64, count=len(external_ids))


def folds(account_keys: np.ndarray, k: int = FOLDS) -> np.ndarray:
    """Fold number (0..k-1) per row, by account (`account_keys`): every snapshot of one account falls in the same
    fold, so a fold's accounts are never seen by the fit that scores them."""
    ids = np.asarray(account_keys).astype(np.uint64)
    mixed = (ids * np.uint64(2654435761)) % np.uint64(2**32)  # Knuth's multiplicative hash: ids in order spread out
    return (mixed % np.uint64(k)).astype(np.int64)


@dataclass
class CrossValidated:
    l2: float
    auc: float | None  # out-of-fold ROC AUC of the fitted risk
    coef: np.ndarray  # intercept first, fitted on every row with the chosen l2


def cross_validate(
    x: np.ndarray, y: np.ndarray, account_ids: np.ndarray, choices: tuple[float, ...] = L2_CHOICES
) -> CrossValidated:
    """Pick the regularisation among `choices` with the best out-of-fold AUC, then fit on all rows with it."""
    fold = folds(account_ids)
    best: tuple[float, float | None] = (choices[0], None)
    for l2 in choices:
        risk = np.full(len(y), np.nan)
        for f in range(FOLDS):
            test = fold == f
            if test.all() or not test.any() or y[~test].min() == y[~test].max():
                continue
            beta = fit_logistic(x[~test], y[~test], l2=l2)
            risk[test] = np.column_stack([np.ones(int(test.sum())), x[test]]) @ beta
        seen = ~np.isnan(risk)
        auc = roc_auc(risk[seen], y[seen].astype(bool)) if seen.any() else None
        if auc is not None and (best[1] is None or auc > best[1] + 1e-9):
            best = (l2, auc)
    return CrossValidated(best[0], best[1], fit_logistic(x, y, l2=best[0]))


def propose_cutoffs(tiers: Tiers, scores: np.ndarray, churned: np.ndarray) -> dict[str, float]:
    """Cutoffs (lowest score of each tier) so that the riskiest tiers hold `CHURNER_CAPTURE` of the churners.

    Whole points, strictly falling from the best tier to the last, which starts at 0. Without churners the
    current cutoffs stay.
    """
    order = tiers.order
    scores = np.asarray(scores, dtype=float)
    churned = np.asarray(churned, dtype=bool)
    lost = np.sort(scores[churned])
    if len(lost) == 0:
        return dict(tiers.cutoffs)
    base = len(lost) / len(scores)
    cutoffs = {order[-1]: 0.0}
    floor = 0.0
    for i, tier in enumerate(reversed(order[:-1])):  # the boundary above the riskiest tier first
        share = CHURNER_CAPTURE[min(i, len(CHURNER_CAPTURE) - 1)]
        at = float(np.ceil(np.quantile(lost, share) + 1e-9))  # scores below the cutoff: at least `share`
        # ... unless that puts more accounts at risk than a team can act on (a weak score spreads its churners)
        limit = ACCOUNT_SHARE_LIMIT[min(i, len(ACCOUNT_SHARE_LIMIT) - 1)]
        most = min(1.0, max(limit[0] * base, limit[1]))
        if most < 1.0 and np.mean(scores < at) > most:
            at = float(np.floor(np.quantile(scores, most)))
        at = min(max(at, floor + 1), 100.0 - (len(order) - 2 - i))  # room for the tiers above
        cutoffs[tier] = at
        floor = at
    return {t: cutoffs[t] for t in order}


@dataclass
class TierShare:
    tier: str
    label: str
    accounts: int
    churned: int
    share_of_churners: float | None  # this tier's churners / all churners


def tier_shares(tiers: Tiers, tier_of_row: np.ndarray, churned: np.ndarray) -> list[TierShare]:
    """Per tier, best first: accounts, churners, and the share of all churners it caught."""
    churned = np.asarray(churned, dtype=bool)
    total = int(churned.sum())
    out = []
    for tier in tiers.order:
        rows = np.asarray(tier_of_row) == tier
        hits = int(churned[rows].sum())
        out.append(TierShare(tier, tiers.label(tier), int(rows.sum()), hits, hits / total if total else None))
    return out


def riskiest_two_share(shares: list[TierShare]) -> float | None:
    """The share of churners the two riskiest tiers caught."""
    values = [s.share_of_churners for s in shares[-2:]]
    return None if any(v is None for v in values) else float(sum(v for v in values if v is not None))
