"""Observations laid out for scoring: one dense (accounts x days) array per metric, and day numbers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd

EPOCH = date(1970, 1, 1)


def day_number(d: date) -> int:
    return (d - EPOCH).days


@dataclass
class Panel:
    """Observations as dense arrays: metric -> float[accounts, days] (NaN = no row)."""

    account_ids: np.ndarray  # int64, sorted
    first_day: int  # day number of column 0
    values: dict[str, np.ndarray]
    _first_seen: np.ndarray | None = field(default=None, repr=False)
    _reported: dict[str, int] = field(default_factory=dict, repr=False)

    def reports(self, metric: str, col: int) -> bool:
        """Whether any account has a value of `metric` on or before column `col`: never a later day, so a
        day scores the same alone as inside a backfill (the first such column is found once per panel)."""
        if metric not in self._reported:
            arr = self.values.get(metric)
            seen = np.flatnonzero((~np.isnan(arr)).any(axis=0)) if arr is not None else np.empty(0, dtype=int)
            self._reported[metric] = int(seen[0]) if len(seen) else self.n_days
        return self._reported[metric] <= col

    @property
    def n_days(self) -> int:
        return next(iter(self.values.values())).shape[1] if self.values else 0

    @property
    def first_seen(self) -> np.ndarray:
        """Per account, the first column with any metric (n_days when none): before it the account had no data
        yet, so a baseline reaching back there is shorter, not zero."""
        if self._first_seen is None:
            seen = np.zeros((len(self.account_ids), self.n_days), dtype=bool)
            for arr in self.values.values():
                seen |= ~np.isnan(arr)
            self._first_seen = np.where(seen.any(axis=1), np.argmax(seen, axis=1), self.n_days)
        return self._first_seen

    @classmethod
    def from_long(
        cls, account_ids: np.ndarray, obs: pd.DataFrame, first_day: int, last_day: int, metrics: list[str]
    ) -> Panel:
        """Build from long rows with columns account_id, day_num (int), metric, value.

        Rows for other accounts, days or metrics are ignored. Scattered in slices of
        `_SCATTER_ROWS` into one (metrics x accounts x days) block, so tens of millions of
        rows need no full-length temporaries; a categorical `metric` is matched by its codes.
        """
        account_ids = np.asarray(np.sort(account_ids), dtype=np.int64)
        names = list(dict.fromkeys(metrics))
        cube = np.full((len(names), len(account_ids), max(last_day - first_day + 1, 0)), np.nan, dtype=np.float64)
        scatter(cube, account_ids, obs, first_day, names)
        return cls(account_ids, first_day, {m: cube[i] for i, m in enumerate(names)})


def scatter(cube: np.ndarray, account_ids: np.ndarray, obs: pd.DataFrame, first_day: int, names: list[str]) -> int:
    """Write long rows (account_id, day_num, metric, value) into `cube` (metrics `names` x sorted `account_ids` x
    days from `first_day`), ignoring other accounts, days and metrics. Returns how many rows named an account
    not in `account_ids`."""
    n_acc, n_days = len(account_ids), cube.shape[2] if cube.ndim == 3 else 0
    unknown = 0 if n_acc else len(obs)
    assert cube.flags.c_contiguous, "scattered through a flat view"
    if len(obs) and n_acc and n_days > 0 and names:
        position = {m: i for i, m in enumerate(names)}
        metric = obs["metric"]
        if isinstance(metric.dtype, pd.CategoricalDtype):
            lut = np.array([position.get(c, -1) for c in metric.cat.categories] + [-1], dtype=np.int64)
            codes = metric.cat.codes.to_numpy()  # -1 (missing) picks the trailing -1
            identity = bool((lut[:-1] == np.arange(len(lut) - 1)).all())

            def metric_pos(sl: slice) -> np.ndarray:
                return codes[sl].astype(np.int64) if identity else lut.take(codes[sl])
        else:
            labels = metric.to_numpy()

            def metric_pos(sl: slice) -> np.ndarray:
                out = np.full(len(labels[sl]), -1, dtype=np.int64)
                for m, i in position.items():
                    out[labels[sl] == m] = i
                return out

        row_of = _row_lookup(account_ids)
        acc = obs["account_id"].to_numpy()
        day = obs["day_num"].to_numpy()
        vals = obs["value"].to_numpy(dtype=np.float64)
        flat = cube.reshape(-1)
        for lo in range(0, len(obs), _SCATTER_ROWS):
            sl = slice(lo, lo + _SCATTER_ROWS)
            rows = row_of(acc[sl])
            unknown += int((rows < 0).sum())
            cols = day[sl] - first_day
            pos = metric_pos(sl)
            ok = (rows >= 0) & (cols >= 0) & (cols < n_days) & (pos >= 0)
            idx = pos * n_acc
            idx += rows
            idx *= n_days
            idx += cols
            if ok.all():
                flat[idx] = vals[sl]
            else:
                flat[idx[ok]] = vals[sl][ok]
    return unknown


_SCATTER_ROWS = 1 << 20


def _row_lookup(account_ids: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """ids -> row in the sorted `account_ids` (first match), -1 when absent: a direct table
    when the ids are dense enough, else a binary search."""
    n = len(account_ids)
    base, top = int(account_ids[0]), int(account_ids[-1])
    if top - base < max(8 * n, 1 << 20):
        table = np.full(top - base + 1, -1, dtype=np.int64)
        table[account_ids[::-1] - base] = np.arange(n - 1, -1, -1)  # first occurrence wins

        def direct(ids: np.ndarray) -> np.ndarray:
            rows = table.take(ids - base, mode="clip")
            if len(ids) and (ids.min() < base or ids.max() > top):
                rows[(ids < base) | (ids > top)] = -1
            return rows

        return direct

    def search(ids: np.ndarray) -> np.ndarray:
        rows = np.searchsorted(account_ids, ids)
        safe = np.minimum(rows, n - 1)
        return np.where((rows < n) & (account_ids[safe] == ids), safe, -1)

    return search


def window(arr: np.ndarray, end_col: int, days: int) -> np.ndarray:
    """The `days` columns of `arr` up to `end_col` (fewer near column 0)."""
    start = max(end_col - days + 1, 0)
    return arr[:, start : end_col + 1]


def days_between(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]
