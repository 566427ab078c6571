"""Caps of a suggested card: conditions whose accounts churn far above the rest, and the tier cutoffs around them."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from bot.scoring import fitting, formats
from bot.scoring.backtest import PastDay, Snapshot, roc_auc, score_past_day
from bot.scoring.binning import MIN_BIN_ACCOUNTS, significant
from bot.scoring.candidates import Candidate
from bot.scoring.engine import capped_scores, tier_of
from bot.scoring.examples import MIN_CHURNERS, Examples, category_values, row_ids
from bot.scoring.panel import Panel
from bot.scoring.scorecard import Cap, Scorecard
from prompts import say

CAP_LIFT = 2.0  # a cap's accounts churn at least this many times the base rate ...
CAP_POINTS = 0.15  # ... and at least this much above it (and above either condition alone, for a pair)
CAP_CHURNERS = 5  # churners behind a cap
PAIR_CAP_GAIN = 0.003  # a pairwise cap must lift the fitting AUC this much: the pair says what neither does
CAP_AUC_TOLERANCE = 0.005  # a cap may cost the fitting AUC this much: it makes one strong signal set the tier
MAX_CAPS = {1: 3, 2: 2}  # single conditions, pairs
PAIR_MEASURES = 4  # pairwise caps are tried on the pairs of this many best kept measures
PAIR_LEVELS = np.linspace(0.1, 0.9, 9)  # quantiles (on the risky side) tried as each threshold of a pairwise cap
MIN_TIER_POINTS = 3  # a tier narrower than this holds almost nobody: cutoffs keep tiers apart, else a warning


@dataclass
class Fitted:
    """The fitting snapshots as the engine scored them: score, churn and each kept measure's raw input per row."""

    score: np.ndarray
    y: np.ndarray
    inputs: dict[str, np.ndarray]
    category: dict[str, np.ndarray]
    latest: np.ndarray  # rows of the as-of snapshot


def _reading(scorecard: Scorecard, past: PastDay) -> PastDay:
    """The snapshot with only the metrics the scorecard reads, as `healthbot score` loads them (an account's days of
    data count those metrics only)."""
    panel = past.inputs.panel
    metrics = Panel(panel.account_ids, panel.first_day, {m: panel.values[m] for m in scorecard.metrics})
    return replace(past, inputs=replace(past.inputs, panel=metrics))


def score_snapshots(scorecard: Scorecard, ex: Examples, count: int | None = None) -> list[Snapshot]:
    """The first `count` snapshots (all by default) scored by the engine."""
    return [score_past_day(scorecard, _reading(scorecard, past)) for past in ex.pasts[:count]]


def fitted_scores(snaps: list[Snapshot], ex: Examples, kept: list[Candidate]) -> Fitted:
    """The fitting rows of scored snapshots (the first is the as-of day's)."""
    scores, ys, ins, cats = [], [], [], []
    for k, (snap, past, rows) in enumerate(zip(snaps, ex.pasts, ex.fit, strict=False)):
        pos = np.searchsorted(row_ids(past), snap.scores.frame["account_id"].to_numpy())
        fit = np.isin(pos, rows)
        scores.append(snap.scores.frame["score"].to_numpy()[fit])
        ys.append(snap.churned[fit])
        ins.append({c.name: c.inputs[k][pos[fit]] for c in kept})
        cats.append({c.name: category_values(past, c.source)[pos[fit]] for c in kept if c.is_category})
    inputs = {c.name: np.concatenate([d[c.name] for d in ins]) for c in kept}
    category = {n: np.concatenate([d[n] for d in cats]) for n in (cats[0] if cats else {})}
    latest = np.arange(sum(len(x) for x in scores)) < len(scores[0])
    return Fitted(np.concatenate(scores), np.concatenate(ys).astype(bool), inputs, category, latest)


@dataclass
class CapCandidate:
    conditions: list[tuple[Candidate, str, float | str]]  # (measure, op, value)
    holds: np.ndarray
    accounts: int
    churned: int
    alone: list[float]  # each condition's churn rate alone (pairs)
    gain: float  # log-likelihood gain of splitting these accounts off

    @property
    def rate(self) -> float:
        return self.churned / self.accounts

    def when(self) -> str:
        return " and ".join(f"{c.name} {op} {_cap_value(v)}" for c, op, v in self.conditions)

    def words(self) -> str:
        parts = []
        for c, op, v in self.conditions:
            key = {">=": "ge", "<=": "le", "==": "eq"}[op]
            shown = v if isinstance(v, str) else formats.change(v) if c.kind == "trend" else formats.number(v)
            parts.append(say(f"suggest.cap.{key}", label=c.description, value=shown))
        return say("suggest.cap.and").join(parts)


def _cap_value(v: float | str) -> str:
    if isinstance(v, str):
        return v if re.fullmatch(r"\S+", v) else f'"{v}"'  # a category value with spaces is quoted
    return repr(float(v)).removesuffix(".0")


def _thresholds(x: np.ndarray, direction: int, levels: np.ndarray) -> list[float]:
    has = x[~np.isnan(x)]
    if not has.size:
        return []
    qs = np.quantile(has, levels if direction > 0 else 1 - levels, method="inverted_cdf")
    return sorted({significant(float(q), 3) for q in qs})


def _condition(cand: Candidate, fitted: Fitted, op: str, value: float | str) -> np.ndarray:
    if isinstance(value, str):
        return fitted.category[cand.name] == value
    x = fitted.inputs[cand.name]
    with np.errstate(invalid="ignore"):
        return (x >= value) if op == ">=" else (x <= value)


def _loglik_gain(n: int, c: int, total: int, churned: int) -> float:
    def ll(k: float, m: float) -> float:
        p = k / m if m else 0.0
        return (k * math.log(p) if k else 0.0) + ((m - k) * math.log(1 - p) if m - k else 0.0)

    return ll(c, n) + ll(churned - c, total - n) - ll(churned, total)


def _cap_candidates(kept: list[Candidate], fitted: Fitted) -> list[CapCandidate]:
    """Per kept measure, and per pair of the best few: the condition (values at or beyond a threshold on the risky
    side, or a category's value) whose accounts churn far above the base rate, splitting the most likelihood off."""
    y, total = fitted.y, len(fitted.y)
    churned = int(y.sum())
    base = churned / total if total else 0.0

    def cell(
        conds: list[tuple[Candidate, str, float | str]], holds: np.ndarray, alone: list[float]
    ) -> CapCandidate | None:
        n, c = int(holds.sum()), int(y[holds].sum())
        if n < MIN_BIN_ACCOUNTS or c < CAP_CHURNERS:
            return None
        rate = c / n
        if rate < CAP_LIFT * base or rate < base + CAP_POINTS or any(rate < a + CAP_POINTS for a in alone):
            return None
        return CapCandidate(conds, holds, n, c, alone, _loglik_gain(n, c, total, churned))

    def best(options: list[CapCandidate | None]) -> CapCandidate | None:
        found = [o for o in options if o is not None]
        return max(found, key=lambda o: o.gain) if found else None

    out: list[CapCandidate | None] = []
    for cand in kept:
        if cand.is_category:
            values = [v for v in cand.kept_measure.categories if " " not in v]
            options = [("==", v, _condition(cand, fitted, "==", v)) for v in values]
            out.append(best([cell([(cand, op, v)], holds, []) for op, v, holds in options]))
        else:
            out.append(_tail(cand, fitted, cell))
    numeric = [c for c in sorted(kept, key=lambda c: -(c.auc or 0)) if not c.is_category and not c.rare]
    numeric = numeric[:PAIR_MEASURES]
    sides = {}  # per measure: (threshold, where it holds, churn rate there)
    for c in numeric:
        sides[c.name] = [
            (t, h, float(y[h].mean()) if h.any() else 0.0)
            for t in _thresholds(fitted.inputs[c.name], c.direction, PAIR_LEVELS)
            for h in [_condition(c, fitted, _risky(c), t)]
        ]
    for i, a in enumerate(numeric):
        for b in numeric[i + 1 :]:
            if a.source == b.source:
                continue
            out.append(
                best(
                    [
                        cell([(a, _risky(a), ta), (b, _risky(b), tb)], ha & hb, [ra, rb])
                        for ta, ha, ra in sides[a.name]
                        for tb, hb, rb in sides[b.name]
                    ]
                )
            )
    return sorted((o for o in out if o is not None), key=lambda o: -o.gain)


def _tail(
    cand: Candidate, fitted: Fitted, cell: Callable[[list[Any], np.ndarray, list[float]], CapCandidate | None]
) -> CapCandidate | None:
    """The broadest tail of a number's bins, from the risky end, whose first bin already churns far above the base
    rate (and the whole tail at least CAP_LIFT times it): the cap starts where the churn rate does."""
    y = fitted.y
    base = float(y.mean()) if len(y) else 0.0
    x = fitted.inputs[cand.name]
    bins = cand.segments if cand.direction > 0 else cand.segments[::-1]
    for lo, hi, *_ in bins[1:]:
        edge = significant(lo if cand.direction > 0 else hi)
        with np.errstate(invalid="ignore"):
            first = (x >= lo) & (x <= hi)
        if not first.any() or float(y[first].mean()) < base + CAP_POINTS:
            continue
        found = cell([(cand, _risky(cand), edge)], _condition(cand, fitted, _risky(cand), edge), [])
        if found is not None:
            return found
    return None


def _risky(cand: Candidate) -> str:
    """The comparison that picks a measure's risky side."""
    return ">=" if cand.direction > 0 else "<="


def _deserved_tier(scorecard: Scorecard, fitted: Fitted, rate: float) -> str | None:
    """The tier whose fitting accounts (those the cutoffs were set on) churn at the rate closest to `rate`, as a
    ratio (never the best tier; None when that would be the best)."""
    tiers = scorecard.tiers
    on = cutoff_rows(fitted)
    of, y = tier_of(scorecard, fitted.score[on]), fitted.y[on]
    distance = {}
    for tier in tiers.order:
        rows = of == tier
        if rows.any():
            distance[tier] = abs(math.log(max(float(y[rows].mean()), 1e-3) / max(rate, 1e-3)))
    nearest = min(distance, key=distance.__getitem__, default=None)
    return None if nearest in (None, tiers.order[0]) else nearest


def _at_most(scorecard: Scorecard, tier: str) -> float:
    """Just below the cutoff of the tier above `tier` (by more than the hysteresis, so an account that was in a
    better tier yesterday moves down too), never below `tier`'s own cutoff."""
    tiers = scorecard.tiers
    above = tiers.order[tiers.order.index(tier) - 1]
    return float(max(tiers.cutoffs[tier], tiers.cutoffs[above] - 1 - math.ceil(tiers.hysteresis)))


def capped(score: np.ndarray, caps: list[tuple[np.ndarray, float]]) -> np.ndarray:
    """Scores as the engine caps them: scaled into 0..at_most by the lowest cap that holds."""
    cap_at = np.full(len(score), np.nan)
    for holds, at_most in caps:
        cap_at = np.where(holds, np.fmin(cap_at, at_most), cap_at)
    return capped_scores(score, cap_at)[0]


def choose_caps(
    scorecard: Scorecard, kept: list[Candidate], fitted: Fitted
) -> list[tuple[CapCandidate, str, float, float]]:
    """Single conditions first, then pairs, each in order of how much it splits off. A single condition is kept
    unless it would lower the fitting AUC by more than CAP_AUC_TOLERANCE (it sets the tier of accounts one signal
    condemns), a pair only when it lifts the AUC by PAIR_CAP_GAIN: (condition, the tier its churn rate deserves,
    fitting AUC before, after)."""
    chosen: list[tuple[CapCandidate, str, float, float]] = []
    applied: list[tuple[np.ndarray, float]] = []
    current = roc_auc(100 - fitted.score, fitted.y) or 0.5
    for option in sorted(_cap_candidates(kept, fitted), key=lambda o: (len(o.conditions), -o.gain)):
        tier = _deserved_tier(scorecard, fitted, option.rate)
        if (
            tier is None
            or sum(len(o.conditions) == len(option.conditions) for o, *_ in chosen) >= MAX_CAPS[len(option.conditions)]
        ):
            continue
        at_most = _at_most(scorecard, tier)
        auc = roc_auc(100 - capped(fitted.score, [*applied, (option.holds, at_most)]), fitted.y) or 0.0
        if auc < current + (PAIR_CAP_GAIN if len(option.conditions) > 1 else -CAP_AUC_TOLERANCE):
            continue
        chosen.append((option, tier, current, auc))
        applied.append((option.holds, at_most))
        current = auc
    return chosen


def cap_line(option: CapCandidate, base: float, at_most: float, tier_label: str) -> str:
    common = {
        "condition": option.words(),
        "accounts": f"{option.accounts:,}",
        "rate": formats.percent(option.rate),
        "base": formats.percent(base),
        "at_most": formats.number(at_most),
        "tier": tier_label,
    }
    if len(option.conditions) == 1:
        return say("suggest.cap.line", **common)
    return say("suggest.cap.pair_line", alone=" / ".join(formats.percent(a) for a in option.alone), **common)


def cutoff_rows(fitted: Fitted) -> np.ndarray:
    """The rows tier cutoffs are proposed on: the as-of snapshot's, which look most like the portfolio today
    (earlier snapshots hold accounts that churned since), unless it has too few churners."""
    if int(fitted.y[fitted.latest].sum()) >= MIN_CHURNERS:
        return fitted.latest
    return np.ones(len(fitted.y), dtype=bool)


def with_cutoffs(card: Scorecard, fitted: Fitted, ceilings: list[tuple[str, float]] | None = None) -> Scorecard:
    """Cutoffs proposed on the fitting scores; the tier above each cap's tier starts far enough above its ceiling
    (`_at_most`) that a capped account lands in the cap's tier or worse."""
    tiers = card.tiers
    rows = cutoff_rows(fitted)
    cutoffs = fitting.propose_cutoffs(tiers, fitted.score[rows], fitted.y[rows])
    for tier, at_most in ceilings or []:
        i = tiers.order.index(tier)
        for j in range(i - 1, -1, -1):  # the tier above, and any above it that would no longer fall strictly
            floor = at_most + 1 + math.ceil(tiers.hysteresis) + (i - 1 - j)
            cutoffs[tiers.order[j]] = max(cutoffs[tiers.order[j]], min(floor, 100.0 - j))
    for j in range(len(tiers.order) - 2, -1, -1):  # each tier at least MIN_TIER_POINTS wide, where 100 allows
        below = cutoffs[tiers.order[j + 1]]
        room = 100.0 - MIN_TIER_POINTS * (j + 1)
        cutoffs[tiers.order[j]] = max(cutoffs[tiers.order[j]], min(below + MIN_TIER_POINTS, room))
    return card.model_copy(update={"tiers": tiers.model_copy(update={"cutoffs": cutoffs})})


def caps_at(card: Scorecard, chosen: list[tuple[CapCandidate, str, float, float]]) -> list[Cap]:
    return [Cap(when=option.when(), at_most=_at_most(card, tier)) for option, tier, _, _ in chosen]
