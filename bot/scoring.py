"""The scoring engine: daily metrics in, explainable 0-100 scores and tiers out.

Pure functions over numpy/pandas. Observations are laid out as one dense
(accounts x days) array per metric, so scoring a day is a handful of array slices per
measure for every account at once, and a backfill reuses the same arrays day after day
(each day only ever reads columns up to itself: no look-ahead).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from bot.explain import reason_text
from bot.scorecard import Card, Measure, Scorecard

EPOCH = date(1970, 1, 1)


def day_number(d: date) -> int:
    return (d - EPOCH).days


@dataclass
class Panel:
    """Observations as dense arrays: metric -> float[accounts, days] (NaN = no row)."""

    account_ids: np.ndarray  # int64, sorted
    first_day: int  # day number of column 0
    values: dict[str, np.ndarray]

    @property
    def n_days(self) -> int:
        return next(iter(self.values.values())).shape[1] if self.values else 0

    @classmethod
    def from_long(
        cls, account_ids: np.ndarray, obs: pd.DataFrame, first_day: int, last_day: int, metrics: list[str]
    ) -> Panel:
        """Build from long rows with columns account_id, day_num (int), metric, value."""
        account_ids = np.asarray(np.sort(account_ids), dtype=np.int64)
        n_acc, n_days = len(account_ids), last_day - first_day + 1
        values = {m: np.full((n_acc, n_days), np.nan, dtype=np.float64) for m in metrics}
        if len(obs):
            rows = np.searchsorted(account_ids, obs["account_id"].to_numpy())
            rows_ok = (rows < n_acc) & (account_ids[np.minimum(rows, n_acc - 1)] == obs["account_id"].to_numpy())
            cols = obs["day_num"].to_numpy() - first_day
            ok = rows_ok & (cols >= 0) & (cols < n_days)
            metric_col = obs["metric"].to_numpy()
            vals = obs["value"].to_numpy(dtype=np.float64)
            for m in metrics:
                sel = ok & (metric_col == m)
                values[m][rows[sel], cols[sel]] = vals[sel]
        return cls(account_ids, first_day, values)


def _window(arr: np.ndarray, end_col: int, days: int) -> np.ndarray:
    start = max(end_col - days + 1, 0)
    return arr[:, start : end_col + 1]


def _interp(x: np.ndarray, bands: list[tuple[float, float]]) -> np.ndarray:
    xs = np.array([b[0] for b in bands])
    ys = np.array([b[1] for b in bands])
    out = np.interp(np.nan_to_num(x, nan=0.0), xs, ys)
    return np.where(np.isnan(x), np.nan, out)


def _safe_sum(w: np.ndarray) -> np.ndarray:
    return np.nansum(w, axis=1) if w.shape[1] else np.zeros(w.shape[0])


def measure_input(
    m: Measure, panel: Panel, col: int, lookback: int, days_to_renewal: np.ndarray
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The measure's raw input per account (NaN = no data) and the figures its reason quotes."""
    arr = panel.values[m.metric]
    seen = ~np.isnan(_window(arr, col, lookback)).all(axis=1)  # the account reports this metric
    filled = np.nan_to_num(arr, nan=0.0) if m.fill == "zero" else arr
    n = arr.shape[0]
    nan = np.full(n, np.nan)

    if m.transform == "level":
        w = _window(filled, col, m.days)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows are "no data", not a problem
            if m.aggregate == "last":
                has = ~np.isnan(w)
                idx = np.where(has.any(axis=1), w.shape[1] - 1 - np.argmax(has[:, ::-1], axis=1), 0)
                x = np.where(has.any(axis=1), w[np.arange(n), idx], np.nan)
            else:
                agg = {"mean": np.nanmean, "sum": np.nansum, "max": np.nanmax, "min": np.nanmin}[m.aggregate]
                x = agg(w, axis=1) if w.shape[1] else nan
                if m.aggregate == "sum":
                    x = np.where(np.isnan(w).all(axis=1), np.nan, x)
        x = np.where(seen, x, np.nan)
        return x, {"value": x}

    if m.transform in ("trend", "renewal"):
        recent = _safe_sum(_window(filled, col, m.days)) / m.days
        base_w = _window(filled, col - m.days, m.baseline_days) if col - m.days >= 0 else filled[:, :0]
        base = _safe_sum(base_w) / m.baseline_days
        with np.errstate(all="ignore"):
            change = np.where(base > 0, recent / base - 1.0, np.where(recent > 0, 1.0, np.nan))
        change = np.where(seen, np.minimum(change, 1.0), np.nan)
        figures = {"change": change, "recent": recent, "base": base}
        if m.transform == "renewal":
            near = (days_to_renewal >= 0) & (days_to_renewal <= m.within_days)
            change = np.where(near, change, np.nan)
            figures = {**figures, "change": change, "days_to_renewal": days_to_renewal}
        return change, figures

    if m.transform == "recency":
        w = _window(filled, col, m.lookback_days)
        active = np.nan_to_num(w, nan=0.0) > 0
        any_active = active.any(axis=1)
        since = np.where(any_active, np.argmax(active[:, ::-1], axis=1), m.lookback_days).astype(float)
        since = np.where(seen, since, np.nan)
        return since, {"days_since": since}

    if m.transform == "ratio":
        recent = _safe_sum(_window(filled, col, m.days))
        base_w = _window(filled, col - m.days, m.baseline_days) if col - m.days >= 0 else filled[:, :0]
        usual = _safe_sum(base_w) / m.baseline_days * m.days
        quiet_usual = (usual < m.min_baseline) & (recent <= usual)
        ratio = np.where(quiet_usual, 1.0, recent / np.maximum(usual, m.baseline_floor))
        ratio = np.where(seen, ratio, np.nan)
        return ratio, {"recent": recent, "usual": usual}

    if m.transform == "flag":
        w = _window(arr, col, m.days)
        has = ~np.isnan(w).all(axis=1)
        hit = np.nan_to_num(w, nan=-np.inf).max(axis=1, initial=-np.inf) >= m.threshold
        x = np.where(has, hit.astype(float), np.nan)
        return x, {"flag": x}

    raise ValueError(f"unknown transform {m.transform}")  # pragma: no cover - validated at load


@dataclass
class DayScores:
    """Scores for one day: one row per account that could be scored."""

    frame: pd.DataFrame  # account_id, score, raw_tier, card, partial, coverage
    parts: list[dict[str, Any]]  # aligned with frame rows


def card_for_accounts(scorecard: Scorecard, accounts: pd.DataFrame) -> np.ndarray:
    """Name of the card that scores each account: first card whose `match` fits, else fallback."""
    chosen = np.full(len(accounts), "", dtype=object)
    fallback = next(name for name, c in scorecard.cards.items() if not c.match)
    for name, card in scorecard.cards.items():
        if not card.match:
            continue
        fits = np.ones(len(accounts), dtype=bool)
        for key, allowed in card.match.items():
            fits &= accounts[key].isin(allowed).to_numpy()
        chosen = np.where((chosen == "") & fits, name, chosen)
    return np.where(chosen == "", fallback, chosen)


def score_day(scorecard: Scorecard, accounts: pd.DataFrame, panel: Panel, day: date) -> DayScores:
    """Score every account in `accounts` (rows aligned with panel.account_ids) on `day`."""
    col = day_number(day) - panel.first_day
    lookback = scorecard.data.lookback_days
    n = len(panel.account_ids)
    renewal = pd.to_datetime(accounts["renewal_date"], errors="coerce")
    days_to_renewal = ((renewal - pd.Timestamp(day)).dt.days).to_numpy(dtype=float, na_value=np.nan)

    any_obs = np.zeros((n, min(col + 1, lookback)), dtype=bool)
    for arr in panel.values.values():
        any_obs |= ~np.isnan(_window(arr, col, lookback))
    days_with_data = any_obs.sum(axis=1)

    cards = card_for_accounts(scorecard, accounts)
    score = np.full(n, np.nan)
    coverage = np.zeros(n)
    parts: list[dict[str, Any]] = [{} for _ in range(n)]
    for card_name, card in scorecard.cards.items():
        rows = np.flatnonzero(cards == card_name)
        if len(rows):
            _score_card(card, panel, col, lookback, days_to_renewal, rows, score, coverage, parts)

    enough = (days_with_data >= scorecard.data.min_days_of_data) & (coverage >= scorecard.data.min_weight_covered)
    enough &= ~np.isnan(score)
    keep = np.flatnonzero(enough)
    frame = pd.DataFrame({
        "account_id": panel.account_ids[keep],
        "score": np.round(score[keep], 1),
        "card": cards[keep],
        "partial": coverage[keep] < 0.999,
        "coverage": np.round(coverage[keep], 3),
    })  # fmt: skip
    frame["raw_tier"] = tier_of(scorecard, frame["score"].to_numpy())
    return DayScores(frame.reset_index(drop=True), [parts[i] for i in keep])


def _score_card(
    card: Card, panel: Panel, col: int, lookback: int, days_to_renewal: np.ndarray,
    rows: np.ndarray, score: np.ndarray, coverage: np.ndarray, parts: list[dict[str, Any]],
) -> None:  # fmt: skip
    total_group_weight = sum(g.weight for g in card.groups.values())
    measure_scores: dict[str, np.ndarray] = {}
    measure_figures: dict[str, dict[str, np.ndarray]] = {}
    eff_weight: dict[str, np.ndarray] = {}
    group_scores: dict[str, np.ndarray] = {}
    avail_group_weight = np.zeros(len(rows))
    for g_name, group in card.groups.items():
        num = np.zeros(len(rows))
        den = np.zeros(len(rows))
        for m in group.measures:
            x, figures = measure_input(m, panel, col, lookback, days_to_renewal)
            x = x[rows]
            s = _interp(x, m.bands)
            measure_scores[m.name] = s
            measure_figures[m.name] = {k: v[rows] for k, v in figures.items()}
            has = ~np.isnan(s)
            num += np.where(has, s * m.weight, 0.0)
            den += np.where(has, m.weight, 0.0)
            nominal = group.weight / total_group_weight * m.weight / sum(x.weight for x in group.measures)
            coverage[rows] += np.where(has, nominal, 0.0)
        with np.errstate(all="ignore"):
            group_scores[g_name] = np.where(den > 0, num / den, np.nan)
        avail_group_weight += np.where(den > 0, group.weight, 0.0)
        for m in group.measures:
            has = ~np.isnan(measure_scores[m.name])
            with np.errstate(all="ignore"):
                eff_weight[m.name] = np.where(has & (den > 0), m.weight / den, 0.0) * group.weight
    with np.errstate(all="ignore"):
        total = sum(np.nan_to_num(group_scores[g]) * np.where(np.isnan(group_scores[g]), 0.0, card.groups[g].weight)
                    for g in card.groups)  # fmt: skip
        card_score = np.where(avail_group_weight > 0, total / avail_group_weight, np.nan)
        for name in eff_weight:
            eff_weight[name] = np.where(avail_group_weight > 0, eff_weight[name] / avail_group_weight, 0.0)
    score[rows] = card_score

    measure_group = {m.name: (g, m) for g, m in card.measures()}
    lost = {
        name: eff_weight[name] * (100.0 - np.nan_to_num(measure_scores[name], nan=100.0)) for name in measure_scores
    }
    names = list(lost)
    lost_matrix = np.column_stack([lost[nm] for nm in names]) if names else np.zeros((len(rows), 0))
    order = np.argsort(-lost_matrix, axis=1)[:, :3]
    for i, r in enumerate(rows):
        if np.isnan(card_score[i]):
            continue
        drivers = []
        for j in order[i]:
            name = names[j]
            points = float(lost_matrix[i, j])
            if points < 0.5:
                break
            g, m = measure_group[name]
            drivers.append({
                "measure": name, "group": g, "points": round(-points, 1),
                "reason": reason_text(m, {k: float(v[i]) for k, v in measure_figures[name].items()}),
            })  # fmt: skip
        parts[r] = {
            "groups": {g: (None if np.isnan(v[i]) else round(float(v[i]), 1)) for g, v in group_scores.items()},
            "measures": {
                nm: (None if np.isnan(measure_scores[nm][i]) else round(float(measure_scores[nm][i]), 1))
                for nm in names
            },  # fmt: skip
            "drivers": drivers,
        }


def tier_of(scorecard: Scorecard, scores: np.ndarray) -> np.ndarray:
    """Tier name per score by the cutoffs (best tier first)."""
    tiers = scorecard.tiers
    out = np.full(len(scores), tiers.order[-1], dtype=object)
    for tier in reversed(tiers.order):
        out = np.where(scores >= tiers.cutoffs[tier], tier, out)
    return out


def apply_hysteresis(scorecard: Scorecard, scores: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """Tiers that only change once the score is `hysteresis` points past the cutoff.

    `previous` holds yesterday's tier per account (None when unknown).
    """
    tiers = scorecard.tiers
    rank = {t: i for i, t in enumerate(tiers.order)}  # 0 = best
    raw = tier_of(scorecard, scores)
    margin = tiers.hysteresis
    if margin == 0:
        return raw
    up = tier_of(scorecard, scores - margin)  # a better tier must be earned by `margin` points
    down = tier_of(scorecard, scores + margin)  # a worse tier needs `margin` points below the cutoff
    out = raw.copy()
    for i, prev in enumerate(previous):
        if prev is None or prev not in rank or prev == raw[i]:
            continue
        if rank[raw[i]] < rank[prev]:  # improving
            out[i] = up[i] if rank[up[i]] < rank[prev] else prev
        else:  # worsening
            out[i] = down[i] if rank[down[i]] > rank[prev] else prev
    return out


def days_between(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]
