"""The examples a suggestion learns from: accounts on snapshot days a month apart, their fitting and test rows."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from bot.scoring import fitting, shapes
from bot.scoring.backtest import PastDay

LOOKBACK = 90  # days of metrics each snapshot reads (and the suggested card's data.lookback_days)
FIT_FOLDS = (0, 1, 2)  # of fitting.folds: ~60 % of accounts fit, the rest test
MIN_CHURNERS = 30  # churners on the fitting snapshots a suggestion needs


@dataclass
class Examples:
    """The snapshots, and which of their rows fit (folds 0-2, enough data to be scored) or test (folds 3-4)."""

    pasts: list[PastDay]
    fit: list[np.ndarray]  # row positions per snapshot
    test: np.ndarray  # row positions in the first snapshot (as of the as-of day)
    min_days: int

    @cached_property
    def cycles(self) -> dict[str, str]:
        """Metrics reported daily with a weekly cycle (`shapes.weekly_cycle`), the cycle in words."""
        inputs = self.pasts[0].inputs
        found = {m: shapes.weekly_cycle(inputs, m) for m in sorted(inputs.panel.values)}
        return {m: c for m, c in found.items() if c}

    @cached_property
    def y(self) -> np.ndarray:
        return np.concatenate([p.churned[r] for p, r in zip(self.pasts, self.fit, strict=True)])

    @cached_property
    def ids(self) -> np.ndarray:
        return np.concatenate([row_ids(p)[r] for p, r in zip(self.pasts, self.fit, strict=True)])

    @cached_property
    def keys(self) -> np.ndarray:
        """`fitting.account_keys` per fitting row: what folds are drawn from."""
        return np.concatenate([row_keys(p)[r] for p, r in zip(self.pasts, self.fit, strict=True)])

    @cached_property
    def snap(self) -> np.ndarray:
        """The snapshot (0: the as-of day) of each fitting row: measures are judged within a snapshot."""
        return np.concatenate([np.full(len(r), k) for k, r in enumerate(self.fit)])

    @cached_property
    def rows_per_account(self) -> float:
        return len(self.ids) / max(len(np.unique(self.ids)), 1)

    def fit_values(self, per_snapshot: list[np.ndarray]) -> np.ndarray:
        return np.concatenate([x[r] for x, r in zip(per_snapshot, self.fit, strict=True)])


def row_ids(past: PastDay) -> np.ndarray:
    return past.inputs.accounts["id"].to_numpy(dtype=np.int64)


def row_keys(past: PastDay) -> np.ndarray:
    return fitting.account_keys(past.inputs.accounts["external_id"].tolist())


def category_values(past: PastDay, fld: str) -> np.ndarray:
    """A category field per row, trimmed and case-folded as a scorecard compares it ("" when unknown)."""
    column = past.inputs.accounts[fld].astype("string").str.strip().str.casefold()
    return column.fillna("").to_numpy(dtype=object)
