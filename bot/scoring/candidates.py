"""Candidate measures of a suggestion: the transforms tried on each metric and field, and each one judged alone."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import ValidationError

from bot.scoring import fitting, formats
from bot.scoring.backtest import roc_auc
from bot.scoring.binning import Bin, Segment, fit_category, fit_numeric, interp, range_label
from bot.scoring.examples import FIT_FOLDS, LOOKBACK, Examples, category_values
from bot.scoring.measures import measure_input
from bot.scoring.scorecard import CATEGORY_FIELDS, NUMERIC_FIELDS, Measure
from prompts import say

MIN_MEASURE_CHURNERS = 20  # churners with data a measure needs before its AUC counts
MIN_AUC = 0.53  # a measure alone must rank churners at least this well to be weighed ...
AUC_NOISE = 1.5  # ... and this many standard errors of a chance AUC above 0.5 (the weights then judge it)


@dataclass
class Candidate:
    """A measure the suggestion considered, its bins on the fitting snapshots and why it is in or out."""

    spec: dict[str, Any]  # the Measure's fields but its bands / categories
    kind: str  # key of `describe` in prompts/suggest.toml
    measure: Measure | None = None  # with its bands or categories (None: it could not be made)
    bins: list[Bin] = field(default_factory=list)
    auc: float | None = None  # of the measure alone, on the fitting snapshots
    kept: bool = False
    weak: bool = False  # out only because its AUC alone is too weak (a rare strong bin may still make it a cap)
    rare: bool = False  # in only to carry a cap
    weak_why: str = ""  # a rare signal's reason before it joined for a cap
    why: str = ""
    weight: float | None = None
    direction: int = 1  # +1: a higher input churns more
    missing: Bin | None = None  # fitting snapshots without data
    segments: list[Segment] = field(default_factory=list, repr=False)  # a number's bins: where caps may start
    held_out: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)  # fitting rows' 0-100 scores
    # from bins fitted on the other folds: what the weights are fitted on, so a measure is not weighed by how
    # well its own bins fit the rows they were drawn from
    inputs: list[np.ndarray] = field(default_factory=list, repr=False)  # raw input per snapshot, every row

    @property
    def name(self) -> str:
        return str(self.spec["name"])

    @property
    def source(self) -> str:
        return str(self.spec.get("metric") or self.spec.get("field"))

    @property
    def transform(self) -> str:
        return self.measure.transform if self.measure else str(self.spec["transform"])

    @property
    def is_category(self) -> bool:
        return self.spec.get("field") in CATEGORY_FIELDS

    @property
    def description(self) -> str:
        return say(f"suggest.describe.{self.kind}", label=formats.label(self.source))

    @property
    def kept_measure(self) -> Measure:
        assert self.measure is not None  # a kept candidate has its measure
        return self.measure

    def line(self) -> str:
        cells = [
            say(
                "suggest.bins.first" if i == 0 else "suggest.bins.next",
                bin=b.label,
                accounts=f"{b.accounts:,}",
                rate=formats.percent(b.rate),
            )
            for i, b in enumerate(self.bins)
        ]
        if self.missing is not None and self.missing.accounts:
            cells.append(
                say(
                    "suggest.bins.missing",
                    accounts=f"{self.missing.accounts:,}",
                    rate=formats.percent(self.missing.rate),
                )
            )
        return say("suggest.report.measure", description=self.description, bins=" | ".join(cells) or "-", why=self.why)


def _metric_label(metric: str) -> dict[str, str]:
    """The `label` a metric's measures get, so the file shows (and lets one edit) how reasons name it; none for
    an `is_` / `has_` state, whose reasons word it from the id ("is active")."""
    return {} if metric.startswith(("is_", "has_")) else {"label": formats.label(metric)}


@dataclass
class _Reporting:
    """How a metric is reported, from the as-of snapshot's rows in the lookback window."""

    stride: int  # days between an account's rows when they fall on a fixed cadence (weekly: 7), else 1
    only_nonzero: bool  # no zero rows at all, and days without a row: rows only on days something happened
    constant: bool  # each account's value never changes: a fixed per-account figure


def _reporting(ex: Examples, metric: str) -> _Reporting:
    inputs = ex.pasts[0].inputs
    lookback = min(inputs.col + 1, LOOKBACK)
    window = inputs.panel.values[metric][:, inputs.col - lookback + 1 : inputs.col + 1]
    seen = ~np.isnan(window)
    rows = seen.sum(axis=1)
    strides, fills, constant = [], [], []
    for i in np.flatnonzero(rows >= 3)[:2000]:
        days = np.flatnonzero(seen[i])
        gaps = np.diff(days)
        strides.append(int(gaps[0]) if gaps.min() == gaps.max() else 1)
        fills.append(len(days) / (days[-1] - days[0] + 1))
        values = window[i, days]
        constant.append(bool(values.min() == values.max()))
    if not strides:
        return _Reporting(1, False, False)
    stride = int(np.median(strides))
    regular = stride > 1 and np.mean(np.array(strides) == stride) >= 0.8
    values = window[seen]
    has_zero = bool((values == 0).any())
    sparse = float(np.mean(fills)) < 0.98  # some accounts have days without a row
    if not regular and has_zero and float(np.median(fills)) < 0.5:  # zeros are reported, yet few days have rows
        regular, stride = True, max(int(round(1 / float(np.median(fills)))), 2)
    return _Reporting(
        stride if regular else 1, not regular and not has_zero and sparse, float(np.mean(constant)) >= 0.95
    )


def _metric_candidates(ex: Examples, metric: str) -> list[tuple[str, dict[str, Any]]]:
    """(kind, Measure fields) per transform worth trying on this metric: counts get totals and recency, 0/1 a
    single state, other numbers averages; every metric its trend and latest value. A metric reported on a fixed
    cadence (weekly) gets its latest value and 30-day average instead of recency and 7-day means (which would
    only tell the weekday of the snapshot); one reported only on days with activity gets no "latest value" (the
    last non-zero one is not the current one)."""
    values = np.concatenate([p.inputs.panel.values[metric].ravel() for p in ex.pasts])
    values = values[~np.isnan(values)]
    if values.size == 0:
        return []
    distinct = np.unique(values[:200_000])
    how = _reporting(ex, metric)
    cycle = ex.cycles.get(metric, "")
    if np.isin(values, (0.0, 1.0)).all():
        days = max(7, 2 * how.stride)
        return [("state", {"transform": "level", "aggregate": "last", "days": days, "fill": "none"})]
    count = bool((values >= 0).all() and (values == np.round(values)).all())
    if how.stride > 1:
        latest = min(2 * how.stride, LOOKBACK)  # a window that always holds a report
        out = [
            ("last", {"transform": "level", "aggregate": "last", "days": latest, "fill": "none"}),
            ("mean_30d", {"transform": "level", "aggregate": "mean", "days": max(30, latest), "fill": "none"}),
        ]
        if how.stride == 7:  # every 7-day window holds one report, every 28-day baseline four
            out.append(("trend", {"transform": "trend", "days": 7, "baseline_days": 28, "fill": "none"}))
        return out
    fill = "zero" if count or how.only_nonzero else "none"
    month = 28 if cycle else 30  # a weekly cycle: whole weeks only, so the weekday of the day scored changes nothing
    out = [
        ("mean_7d", {"transform": "level", "aggregate": "mean", "days": 7, "fill": fill}),
        (f"sum_{month}d", {"transform": "level", "aggregate": "sum", "days": month, "fill": fill})
        if count
        else (f"mean_{month}d", {"transform": "level", "aggregate": "mean", "days": month, "fill": fill}),
        ("trend", {"transform": "trend", "days": 7, "baseline_days": 28, "fill": fill}),
    ]
    if count:
        out.append(("recency", {"transform": "recency", "lookback_days": 60, "fill": "zero"}))
    if len(distinct) > 2 and not how.only_nonzero and not cycle:  # the latest value of a weekly cycle is its weekday
        out.append(("last", {"transform": "level", "aggregate": "last", "days": 7, "fill": "none"}))
    if how.constant:  # a fixed figure per account reads best as itself ("4 service calls"), first among equals
        out.sort(key=lambda kind_spec: kind_spec[0] != "last")
    return out


def all_candidates(ex: Examples) -> list[Candidate]:
    y = ex.y.astype(bool)
    out: list[Candidate | None] = []
    for metric in sorted(ex.pasts[0].inputs.panel.values):
        for kind, spec in _metric_candidates(ex, metric):
            name = metric if kind == "state" else f"{metric}_{kind}"
            out.append(_numeric(ex, y, kind, {"name": name, "metric": metric, **_metric_label(metric), **spec}))
    for fld in NUMERIC_FIELDS:
        out.append(_numeric(ex, y, "field", {"name": fld, "field": fld, "transform": "field"}))
    for fld in CATEGORY_FIELDS:
        if fld in ex.pasts[0].inputs.accounts:
            out.append(_category(ex, y, fld))
    return [c for c in out if c is not None]


def _numeric(ex: Examples, y: np.ndarray, kind: str, spec: dict[str, Any]) -> Candidate | None:
    cand = Candidate(spec, kind)
    try:
        probe = Measure.model_validate({**spec, "bands": [(0.0, 0.0), (1.0, 100.0)]})
    except ValidationError as exc:  # a metric name the scorecard file would refuse (a near-typo of a known one)
        cand.why = say("suggest.why.bad_name", problem=exc.errors()[0]["msg"].removeprefix("Value error, "))
        return cand
    cand.inputs = [without_float_noise(measure_input(probe, p.inputs)[0]) for p in ex.pasts]
    x = ex.fit_values(cand.inputs)
    has = ~np.isnan(x)
    if not has.any():
        if probe.metric is None:
            return None  # a field no account has: nothing to say
        cand.why = say("suggest.why.no_data")
        return cand
    cand.missing = Bin("", int((~has).sum()), int(y[~has].sum()))
    if x[has].min() == x[has].max():
        cand.why = say("suggest.why.constant")
        return cand
    cand.direction, segments, bands = fit_numeric(x[has], y[has])
    cand.segments = segments
    cand.bins = [Bin(range_label(kind, lo, hi), n, c) for lo, hi, n, c, _ in segments]
    if _same_within_snapshots(x, ex.snap):
        cand.why = say("suggest.why.day_only")
        return cand
    if len(bands) < 2:
        cand.why = one_bin_reason(x[has], kind)
        return cand
    cand.measure = Measure.model_validate({**spec, "bands": bands})

    def held_out(train: np.ndarray, test: np.ndarray) -> np.ndarray:
        fit = train & has
        bands = fit_numeric(x[fit], y[fit])[2] if fit.any() else []
        return interp(x[test], bands) if len(bands) >= 2 else np.full(int(test.sum()), np.nan)

    _judge(cand, _cross_fitted(ex, held_out), ex)
    return cand


def without_float_noise(x: np.ndarray) -> np.ndarray:
    """Values within a billionth of zero read as zero: a "change" of -4e-16 (rounding) is no change."""
    with np.errstate(invalid="ignore"):
        return np.where(np.abs(x) < 1e-9, 0.0, x)


def _same_within_snapshots(x: np.ndarray, snap: np.ndarray) -> bool:
    """Every account of each snapshot has the same value (the values differ only between sample days)."""
    for k in np.unique(snap):
        v = x[(snap == k) & ~np.isnan(x)]
        if v.size and v.min() != v.max():
            return False
    return True


def one_bin_reason(x: np.ndarray, kind: str) -> str:
    """Why a number's values could not be told apart: most of them are one value, else too few of each."""
    values, counts = np.unique(x, return_counts=True)
    top = int(np.argmax(counts))
    if counts[top] >= 0.9 * len(x):
        return say(
            "suggest.why.mostly_one",
            share=formats.percent(counts[top] / len(x)),
            value=range_label(kind, values[top], values[top]),
        )
    return say("suggest.why.one_bin")


def _category(ex: Examples, y: np.ndarray, fld: str) -> Candidate | None:
    values = ex.fit_values([category_values(p, fld) for p in ex.pasts])
    known = values != ""
    if not known.any():
        return None
    cand = Candidate({"name": fld, "field": fld, "transform": "field"}, "field")
    cand.missing = Bin("", int((~known).sum()), int(y[~known].sum()))
    bins, other, categories, other_score = fit_category(values, y)
    cand.bins = bins + ([other] if other.accounts else [])
    if len(bins) < 2:
        distinct = len(set(values[known].tolist()))
        cand.why = say("suggest.why.one_bin") if distinct > 1 else say("suggest.why.constant")
        return cand
    cand.measure = Measure.model_validate({**cand.spec, "categories": categories, "other": other_score})
    cand.inputs = [measure_input(cand.measure, p.inputs)[0] for p in ex.pasts]

    def held_out(train: np.ndarray, test: np.ndarray) -> np.ndarray:
        _, _, scores, other = fit_category(values[train], y[train])
        return np.array([scores.get(v, other) if v else np.nan for v in values[test]], dtype=float)

    _judge(cand, _cross_fitted(ex, held_out), ex)
    return cand


def _cross_fitted(ex: Examples, score: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
    """Each fitting fold's 0-100 scores from bins fitted on the other fitting folds (NaN: no data)."""
    fold = fitting.folds(ex.keys)
    out = np.full(len(fold), np.nan)
    for f in FIT_FOLDS:
        test = fold == f
        if test.any() and (~test).any():
            out[test] = score(~test, test)
    return out


def _judge(cand: Candidate, held_out: np.ndarray, ex: Examples) -> None:
    """The candidate's AUC alone, scored by bins fitted without the accounts it ranks and counted within each
    snapshot (an input that only tells the sample days apart ranks nothing), and whether that is enough to
    consider it: at least MIN_AUC, and clear of what chance gives with this many churners."""
    y = ex.y
    cand.held_out = held_out  # NaN: no data, or a fold whose bins could not be fitted on the others
    has = ~np.isnan(held_out)
    churned = int(y[has].sum())
    if churned < MIN_MEASURE_CHURNERS:
        total = int(y[~np.isnan(ex.fit_values(cand.inputs))].sum())
        if total >= MIN_MEASURE_CHURNERS:  # enough churners in all, too few in each fold to fit bins on the others
            cand.why = say("suggest.why.few_per_fold", churned=total, folds=len(FIT_FOLDS))
            cand.weak = True  # a rare value that churns far above the rest may still set the tier as a cap
        else:
            cand.why = say("suggest.why.few_churners", churned=churned, minimum=MIN_MEASURE_CHURNERS)
        return
    cand.auc = within_snapshots_auc(100.0 - held_out, y, ex.snap)
    needed = max(MIN_AUC, 0.5 + AUC_NOISE * _auc_noise(churned, int(has.sum()) - churned, ex.rows_per_account))
    if cand.auc is None or cand.auc < needed:
        cand.weak = True
        cand.why = say("suggest.why.weak", auc=formats.auc(cand.auc), min_auc=formats.auc(needed))
    else:
        cand.kept = True


def within_snapshots_auc(risk: np.ndarray, y: np.ndarray, snap: np.ndarray) -> float | None:
    """The AUC over pairs of a churner and a retained account from the same snapshot (NaN risks left out): each
    snapshot's AUC weighted by its number of such pairs."""
    total = pairs = 0.0
    for k in np.unique(snap):
        on = (snap == k) & ~np.isnan(risk)
        auc = roc_auc(risk[on], y[on].astype(bool))
        if auc is not None:
            n = float(y[on].sum()) * float((~y[on].astype(bool)).sum())
            total, pairs = total + auc * n, pairs + n
    return total / pairs if pairs else None


def _auc_noise(churned: int, stayed: int, rows_per_account: float) -> float:
    """The standard error of an AUC by chance alone (Hanley and McNeil, no signal), counting accounts rather than
    snapshots: an account's snapshots a month apart are not independent examples."""
    n1, n0 = max(churned / rows_per_account, 1.0), max(stayed / rows_per_account, 1.0)
    return math.sqrt((n1 + n0 + 1) / (12 * n1 * n0))


def risk_of(cand: Candidate, ex: Examples) -> np.ndarray:
    """1 - score / 100 on the fitting snapshots (NaN: no data)."""
    m = cand.kept_measure
    x = ex.fit_values(cand.inputs)
    return 1.0 - (x if m.is_category else interp(x, m.bands)) / 100.0
