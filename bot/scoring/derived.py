"""The metric window of a scoring run, from the derived copy where it is still true (`storage.metric_cache`).

The database stays the truth. Every write to a day of metrics gives the day a new random token (triggers,
migration 0014); a cached day is used only when its token is the database's, every other day of the window is
read from the database (day by day through the day index), and the result is saved as the next generation.
Tokens are read before and after the reads: when they differ (a write landed meanwhile) nothing is saved. A
cache that is missing, unreadable, for other metrics or from another database means one full read, as before.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from bot.scoring import panel as panels
from bot.scoring.panel import EPOCH, Panel, day_number
from storage import metric_cache, metric_days, scores

log = logging.getLogger(__name__)


def load_panel(
    engine: Engine, account_ids: np.ndarray, start: date, end: date, metrics: list[str], *, use_cache: bool = True
) -> tuple[Panel, set[str]]:
    """The Panel of `metrics` for `account_ids` over [start, end], and the metrics with any row in it: the same
    values as `Panel.from_long` over a full read, whatever was cached."""
    ids = np.asarray(np.sort(account_ids), dtype=np.int64)
    names = list(dict.fromkeys(metrics))
    first, n_days = day_number(start), (end - start).days + 1
    database = engine.url.set(password=None).render_as_string(hide_password=False)
    folder = metric_cache.folder_for(database) if use_cache else None
    if folder is None or not len(ids) or not names or n_days <= 0:
        return _full_read(engine, ids, start, end, names)
    with metric_cache.locked(folder) as mine:
        if not mine:  # another run is using the cache: read everything, as without one
            return _full_read(engine, ids, start, end, names)
        metric_cache.clean(folder)
        with engine.begin() as conn:
            metric_days.compact_day_changes(conn, start, end)
        old = metric_cache.read(folder)
        try:
            new = metric_cache.NewGeneration(folder, names, ids, first, n_days)
        except OSError as error:
            log.warning("metric cache %s not writable, reading from the database: %s", folder, error)
            return _full_read(engine, ids, start, end, names)
        try:
            with engine.connect() as conn:
                before = metric_days.day_tokens(conn, start, end)
                tokens = [before.get(start + timedelta(days=c)) for c in range(n_days)]
                fresh = _fresh(old, database, names, first, tokens)
                if old is not None and fresh.any():
                    copy_cached(old, new, fresh)
                else:
                    new.cube[...] = np.nan
                unknown = 0
                for lo, hi in _stale_ranges(fresh):
                    obs = scores.observations(conn, _day(first + lo), _day(first + hi - 1), names)
                    unknown += panels.scatter(new.cube, ids, obs, first, names)
                    _mark_seen(new.seen, obs, first)
                    del obs
                after = metric_days.day_tokens(conn, start, end)
            values: np.ndarray = new.cube
            if before == after and not unknown:
                values = new.commit(database, tokens)
            else:  # a write landed meanwhile, or rows of accounts not read: score with this, keep nothing
                new.abandon()
        except BaseException:
            new.abandon()
            raise
    reported = {m for m, row in zip(names, new.seen, strict=True) if row.any()}
    plain = np.asarray(values)  # the same pages, as a plain array
    return Panel(ids, first, {m: plain[i] for i, m in enumerate(names)}), reported


def _full_read(engine: Engine, ids: np.ndarray, start: date, end: date, names: list[str]) -> tuple[Panel, set[str]]:
    with engine.connect() as conn:
        obs = scores.observations(conn, start, end, names)
    panel = Panel.from_long(ids, obs, day_number(start), day_number(end), names)
    return panel, set(obs["metric"].unique().tolist())


def _fresh(
    old: metric_cache.Generation | None, database: str, names: list[str], first: int, tokens: list[str | None]
) -> np.ndarray:
    """Per day of the window, whether the cached column may be used: same database and metrics, and the day's
    token (a day without one never) the one the cache saw."""
    fresh = np.zeros(len(tokens), dtype=bool)
    if old is None or old.database != database or old.metrics != names:
        return fresh
    for c, token in enumerate(tokens):
        j = first + c - old.first_day
        fresh[c] = token is not None and 0 <= j < len(old.tokens) and old.tokens[j] == token
    return fresh


def copy_cached(old: metric_cache.Generation, new: metric_cache.NewGeneration, fresh: np.ndarray) -> None:
    """Copy the fresh day columns from the old generation, rows realigned to the new account ids (an account
    the old one lacks stays NaN: had it rows on those days, their tokens would have changed); NaN elsewhere."""
    same = len(old.account_ids) == len(new.account_ids) and bool((old.account_ids == new.account_ids).all())
    if not same:
        _, new_rows, old_rows = np.intersect1d(new.account_ids, old.account_ids, return_indices=True)
    shift = new.first_day - old.first_day
    for lo, hi in [(0, len(fresh))] if not same else _runs(~fresh):  # NaN where nothing is copied
        new.cube[:, :, lo:hi] = np.nan
    for lo, hi in _runs(fresh):
        new.seen[:, lo:hi] = old.seen[:, lo + shift : hi + shift]
        for i in range(len(new.metrics)):
            if same:
                new.cube[i, :, lo:hi] = old.cube[i, :, lo + shift : hi + shift]
            else:
                new.cube[i, new_rows, lo:hi] = old.cube[i][old_rows, lo + shift : hi + shift]


def _stale_ranges(fresh: np.ndarray) -> list[tuple[int, int]]:
    """[lo, hi) column ranges to read; one read of the whole window when most of it is stale (a scan beats
    lookups through the day index there)."""
    if (~fresh).sum() * 2 > len(fresh):
        return [(0, len(fresh))]
    return _runs(~fresh)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[lo, hi) ranges where `mask` is True."""
    edges = np.flatnonzero(np.diff(np.concatenate(([False], mask, [False])).astype(np.int8)))
    return [(int(lo), int(hi)) for lo, hi in zip(edges[::2], edges[1::2], strict=True)]


def _mark_seen(seen: np.ndarray, obs: pd.DataFrame, first: int) -> None:
    """seen[metric, day] = True where `obs` has a row (its `metric` a categorical over the cube's metrics)."""
    n_days = seen.shape[1]
    day_num, codes = obs["day_num"].to_numpy(), obs["metric"].cat.codes.to_numpy()
    for lo in range(0, len(obs), _SLICE):  # in slices: no full-length temporaries for tens of millions of rows
        cols = day_num[lo : lo + _SLICE] - first
        code = codes[lo : lo + _SLICE].astype(np.int64)
        ok = (cols >= 0) & (cols < n_days) & (code >= 0)
        seen |= np.bincount(code[ok] * n_days + cols[ok], minlength=seen.size).reshape(seen.shape) > 0


_SLICE = 1 << 20


def _day(n: int) -> date:
    return EPOCH + timedelta(days=n)
