"""Suggest a complete scorecard from a portfolio's own metrics, fields and past churn (`healthbot scorecard suggest`).

Examples are the accounts active on the as-of day and on days a month apart before it (their fields as known that
day, metrics up to it), labelled with churn within the horizon. Accounts are split by `fitting.folds`: folds 0-2
fit everything (~60 %), folds 3-4 are only backtested, so no account is on both sides.

Per candidate measure (a few transforms of each metric, and the account fields) the fitting examples are cut into
quantile bins, small bins merged into their neighbours, churn rates made monotone (pool-adjacent-violators) and
turned into bands: 100 at the lowest churn rate seen, 0 at the highest. A candidate is judged by its AUC with bins
fitted on the other folds (so noise does not grade itself), the best of near-duplicates is kept, and the weights
come from a cross-validated logistic regression on those held-out risks (1 - score / 100); a measure that then
predicts the wrong way, or moves the score by almost nothing, is dropped and the rest refitted.

Caps: a tail of a measure's bins (from the first bin that churns far above the base rate) or a category value, and
pairs of the best measures whose joint cell churns far above either alone, hold the score just below the cutoff of
the tier whose churn rate theirs is closest to. Tier cutoffs come from the as-of day's fitting examples (they look
most like the portfolio today), proposed again once the caps are in. Every in and out has a reason with the counts
behind it.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError
from sqlalchemy import Engine
from tqdm import tqdm

from bot.scoring import fitting, shapes
from bot.scoring.backtest import (
    BacktestResult,
    PastDay,
    Snapshot,
    evaluate,
    format_result,
    load_past_day,
    roc_auc,
    score_past_day,
)
from bot.scoring.engine import DayScores, Panel, capped_scores, measure_input, tier_of
from bot.scoring.explain import metric_label
from bot.scoring.run import team_today
from bot.scoring.scorecard import (
    CATEGORY_FIELDS,
    NUMERIC_FIELDS,
    Cap,
    Card,
    DataRules,
    Group,
    Measure,
    Scorecard,
    load_scorecard,
    to_toml,
)
from prompts import raw, say
from storage import queries

LOOKBACK = 90  # days of metrics each snapshot reads (and the suggested card's data.lookback_days)
SNAPSHOT_GAP = 30  # days between snapshots
FIT_FOLDS = (0, 1, 2)  # of fitting.folds: ~60 % of accounts fit, the rest test
MIN_DAYS_OF_DATA = 14  # days with any metric an account needs to be scored (less when the data has less)
MIN_WEIGHT_COVERED = 0.5
MAX_BINS = 6
FINE_BINS = 20  # quantile bins a number starts from, before merging (a tail of a few % keeps its own bin)
MIN_BIN_ACCOUNTS = 30  # a bin with fewer fitting snapshots is merged into a neighbour
MIN_BIN_CHURNERS = 5  # ... and one with fewer churners too
MIN_CHURNERS = 30  # churners on the fitting snapshots a suggestion needs
MIN_MEASURE_CHURNERS = 20  # churners with data a measure needs before its AUC counts
MIN_AUC = 0.53  # a measure alone must rank churners at least this well to be weighed ...
AUC_NOISE = 1.5  # ... and this many standard errors of a chance AUC above 0.5 (the weights then judge it)
MAX_CORRELATION = 0.9  # a measure this correlated with a better one says the same thing
MIN_WEIGHT_SHARE = 0.03  # a kept measure moving the score less than this share adds nothing a reader would notice
CAP_LIFT = 2.0  # a cap's accounts churn at least this many times the base rate ...
CAP_POINTS = 0.15  # ... and at least this much above it (and above either condition alone, for a pair)
CAP_CHURNERS = 5  # churners behind a cap
PAIR_CAP_GAIN = 0.003  # a pairwise cap must lift the fitting AUC this much: the pair says what neither does
CAP_AUC_TOLERANCE = 0.005  # a cap may cost the fitting AUC this much: it makes one strong signal set the tier
MAX_CAPS = {1: 3, 2: 2}  # single conditions, pairs
PAIR_MEASURES = 4  # pairwise caps are tried on the pairs of this many best kept measures
PAIR_LEVELS = np.linspace(0.1, 0.9, 9)  # quantiles (on the risky side) tried as each threshold of a pairwise cap
MIN_TIER_POINTS = 3  # a tier narrower than this holds almost nobody: cutoffs keep tiers apart, else a warning
FEW_TEST_CHURNERS = 10  # fewer churners among the test accounts make the backtest of the suggestion worth little
PROGRESS_ACCOUNTS = 5000  # a progress bar from this many accounts


_Segment = tuple[float, float, int, int, float]  # lowest value, highest value, snapshots, churned, median value


class SuggestError(ValueError):
    """Input a suggestion cannot be made from: nothing was written."""


class FewChurners(SuggestError):
    """Too few churners to fit: what a card from the shapes of the metrics is built from instead."""

    def __init__(self, message: str, churners: int, inputs: Any, min_days: int):
        super().__init__(message)
        self.churners, self.inputs, self.min_days = churners, inputs, min_days


@dataclass
class Bin:
    label: str  # the values it holds, in words ("0 to 1", "4+", "annual")
    accounts: int  # fitting snapshots in it
    churned: int

    @property
    def rate(self) -> float:
        return self.churned / self.accounts if self.accounts else 0.0


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
    segments: list[_Segment] = field(default_factory=list, repr=False)  # a number's bins: where caps may start
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
        return say(f"suggest.describe.{self.kind}", label=_label(self.source))

    @property
    def kept_measure(self) -> Measure:
        assert self.measure is not None  # a kept candidate has its measure
        return self.measure

    def line(self) -> str:
        cells = [say("suggest.bins.first" if i == 0 else "suggest.bins.next", bin=b.label, accounts=f"{b.accounts:,}",
                     rate=_pct(b.rate)) for i, b in enumerate(self.bins)]  # fmt: skip
        if self.missing is not None and self.missing.accounts:
            cells.append(say("suggest.bins.missing", accounts=f"{self.missing.accounts:,}",
                             rate=_pct(self.missing.rate)))  # fmt: skip
        return say("suggest.report.measure", description=self.description, bins=" | ".join(cells) or "-", why=self.why)


@dataclass
class CapChoice:
    cap: Cap
    tier: str  # the tier its churn rate deserves: the cap holds the score in it or worse
    line: str  # the reason, with the counts behind it
    gain: str  # the fitting AUC before and after


@dataclass
class Suggestion:
    scorecard: Scorecard
    test: BacktestResult  # the suggestion on accounts it did not fit on, as of the as-of day
    candidates: list[Candidate]
    caps: list[CapChoice]
    test_shares: list[fitting.TierShare]
    fit_shares: list[fitting.TierShare]
    cv: fitting.CrossValidated
    as_of: date
    horizon: int
    days: list[date]  # the snapshots
    fit_rows: int
    fit_accounts: int
    fit_churned: int
    test_accounts: int
    warnings: list[str] = field(default_factory=list)  # printed last, each on a "warning:" line
    cycles: dict[str, str] = field(default_factory=dict)  # metric -> its weekly cycle in words

    def report(self) -> str:
        """What the command prints: measures in and out with their counts, caps, weights, tiers and the backtest."""
        tiers = self.scorecard.tiers
        lines = [
            say("suggest.report.title", as_of=self.as_of, horizon=self.horizon),
            say("suggest.report.examples", rows=f"{self.fit_rows:,}", accounts=f"{self.fit_accounts:,}",
                churned=f"{self.fit_churned:,}", days=_days(self.days), test=f"{self.test_accounts:,}",
                as_of=self.as_of),
            say("suggest.report.measures"),
            *(c.line() for c in self.candidates),
            *(say("suggest.report.cycle", label=_capitalised(_label(m)), cycle=c) for m, c in self.cycles.items()),
            say("suggest.report.caps"),
        ]  # fmt: skip
        for choice in self.caps:
            lines += ["  " + choice.line, choice.gain]
        if not self.caps:
            lines.append(
                say(
                    "suggest.cap.none",
                    lift=_num(CAP_LIFT),
                    points=round(CAP_POINTS * 100),
                    accounts=MIN_BIN_ACCOUNTS,
                    churners=CAP_CHURNERS,
                )  # fmt: skip
            )
        lines.append(say("suggest.report.weights", auc=_auc(self.cv.auc), l2=_num(self.cv.l2)))
        shares = ", ".join(_pct(v) for v in _cumulative(self.fit_shares))
        cutoffs = ", ".join(say("suggest.report.cutoff", label=tiers.label(t), at=_num(tiers.cutoffs[t]))
                            for t in tiers.order)  # fmt: skip
        counts = ", ".join(str(i + 1) for i in range(len(tiers.order) - 1))
        lines.append(say("suggest.report.tiers", shares=shares, cutoffs=cutoffs, counts=counts))
        lines.append(format_result(self.test, say("suggest.report.backtest_title")))
        caught = ", ".join(say("suggest.report.share", label=s.label, share=_pct(s.share_of_churners))
                           for s in self.test_shares)  # fmt: skip
        lines.append(say("suggest.report.shares", shares=caught))
        lines += [say("suggest.warning.line", warning=w) for w in self.warnings]
        return "\n".join(lines)

    def header(self) -> str:
        """The written file's header: how it was made, and what to do with it."""
        text = say("suggest.report.header", as_of=self.as_of, horizon=self.horizon, accounts=f"{self.fit_accounts:,}",
                   rows=f"{self.fit_rows:,}", days=_days(self.days), test=f"{self.test_accounts:,}",
                   auc=_auc(self.test.auc))  # fmt: skip
        cycles = [say("suggest.report.cycle", label=_capitalised(_label(m)), cycle=c) for m, c in self.cycles.items()]
        return "\n".join([text, *cycles])

    def toml(self) -> str:
        notes = {c.cap.when: " ".join(c.line.split()) for c in self.caps}  # the cap in words, with its counts
        return to_toml(self.scorecard, self.header(), notes)


# --- examples -------------------------------------------------------------------------------------------------


@dataclass
class _Examples:
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
        return np.concatenate([_ids(p)[r] for p, r in zip(self.pasts, self.fit, strict=True)])

    @cached_property
    def keys(self) -> np.ndarray:
        """`fitting.account_keys` per fitting row: what folds are drawn from."""
        return np.concatenate([_keys(p)[r] for p, r in zip(self.pasts, self.fit, strict=True)])

    @cached_property
    def snap(self) -> np.ndarray:
        """The snapshot (0: the as-of day) of each fitting row: measures are judged within a snapshot."""
        return np.concatenate([np.full(len(r), k) for k, r in enumerate(self.fit)])

    @cached_property
    def rows_per_account(self) -> float:
        return len(self.ids) / max(len(np.unique(self.ids)), 1)

    def fit_values(self, per_snapshot: list[np.ndarray]) -> np.ndarray:
        return np.concatenate([x[r] for x, r in zip(per_snapshot, self.fit, strict=True)])


def _ids(past: PastDay) -> np.ndarray:
    return past.inputs.accounts["id"].to_numpy(dtype=np.int64)


def _keys(past: PastDay) -> np.ndarray:
    return fitting.account_keys(past.inputs.accounts["external_id"].tolist())


def _days_with_data(past: PastDay) -> np.ndarray:
    inputs = past.inputs
    lookback = min(inputs.col + 1, inputs.lookback)
    seen = np.zeros((len(inputs.accounts), max(lookback, 0)), dtype=bool)
    for arr in inputs.panel.values.values():
        seen |= ~np.isnan(arr[:, inputs.col - lookback + 1 : inputs.col + 1])
    return seen.sum(axis=1)


def _examples(engine: Engine, as_of: date, horizon: int, samples: int, bar: Callable[[int], object]) -> _Examples:
    with engine.connect() as conn:
        latest = queries.latest_metric_day(conn, until=team_today())
        metrics = queries.reported_metrics(conn)
    if latest is None:
        raise SuggestError(say("suggest.error.no_metrics"))
    if as_of > latest:
        raise SuggestError(say("suggest.error.after_latest", as_of=as_of, latest=latest))
    pasts: list[tuple[PastDay, np.ndarray]] = []  # with each account's days of data
    for k in range(samples):
        past = load_past_day(engine, metrics, as_of - timedelta(days=SNAPSHOT_GAP * k), horizon, LOOKBACK)
        bar(1)
        days = _days_with_data(past)
        if days.any():  # a day before the data starts teaches nothing
            pasts.append((past, days))
    if not pasts or pasts[0][0].inputs.day != as_of:
        raise SuggestError(say("suggest.error.no_accounts", as_of=as_of, lookback=LOOKBACK))
    min_days = int(min(MIN_DAYS_OF_DATA, max(d.max() for _, d in pasts)))
    fit, test = [], np.zeros(0, dtype=np.int64)
    for i, (past, days) in enumerate(pasts):
        fold = fitting.folds(_keys(past))
        fits = np.isin(fold, FIT_FOLDS)
        fit.append(np.flatnonzero(fits & (days >= min_days)))
        if i == 0:
            test = np.flatnonzero(~fits)
    return _Examples([p for p, _ in pasts], fit, test, min_days)


# --- candidates ---------------------------------------------------------------------------------------------------


def _label(source: str) -> str:
    """A metric or field in words, as the reasons name it, acronyms in capitals ("API calls")."""
    return _with_acronyms(str(raw("reasons.field_labels").get(source) or metric_label(source)))


def _with_acronyms(words: str) -> str:
    known = {str(a).casefold(): str(a) for a in raw("suggest.acronyms")}
    return " ".join(known.get(w.casefold(), w) for w in words.split(" "))


def _capitalised(label: str) -> str:
    """A group's label: the first letter up ("Tenure", "API calls"), the rest as it is."""
    return label[:1].upper() + label[1:]


def _metric_label(metric: str) -> dict[str, str]:
    """The `label` a metric's measures get, so the file shows (and lets one edit) how reasons name it; none for
    an `is_` / `has_` state, whose reasons word it from the id ("is active")."""
    return {} if metric.startswith(("is_", "has_")) else {"label": _label(metric)}


@dataclass
class _Reporting:
    """How a metric is reported, from the as-of snapshot's rows in the lookback window."""

    stride: int  # days between an account's rows when they fall on a fixed cadence (weekly: 7), else 1
    only_nonzero: bool  # no zero rows at all, and days without a row: rows only on days something happened
    constant: bool  # each account's value never changes: a fixed per-account figure


def _reporting(ex: _Examples, metric: str) -> _Reporting:
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
    return _Reporting(stride if regular else 1, not regular and not has_zero and sparse,
                      float(np.mean(constant)) >= 0.95)  # fmt: skip


def _metric_candidates(ex: _Examples, metric: str) -> list[tuple[str, dict[str, Any]]]:
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


def _candidates(ex: _Examples) -> list[Candidate]:
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


def _numeric(ex: _Examples, y: np.ndarray, kind: str, spec: dict[str, Any]) -> Candidate | None:
    cand = Candidate(spec, kind)
    try:
        probe = Measure.model_validate({**spec, "bands": [(0.0, 0.0), (1.0, 100.0)]})
    except ValidationError as exc:  # a metric name the scorecard file would refuse (a near-typo of a known one)
        cand.why = say("suggest.why.bad_name", problem=exc.errors()[0]["msg"].removeprefix("Value error, "))
        return cand
    cand.inputs = [_without_float_noise(measure_input(probe, p.inputs)[0]) for p in ex.pasts]
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
    cand.direction, segments, bands = _fit_numeric(x[has], y[has])
    cand.segments = segments
    cand.bins = [Bin(_range_label(kind, lo, hi), n, c) for lo, hi, n, c, _ in segments]
    if _same_within_snapshots(x, ex.snap):
        cand.why = say("suggest.why.day_only")
        return cand
    if len(bands) < 2:
        cand.why = _one_bin_reason(x[has], kind)
        return cand
    cand.measure = Measure.model_validate({**spec, "bands": bands})

    def held_out(train: np.ndarray, test: np.ndarray) -> np.ndarray:
        fit = train & has
        bands = _fit_numeric(x[fit], y[fit])[2] if fit.any() else []
        return _interp(x[test], bands) if len(bands) >= 2 else np.full(int(test.sum()), np.nan)

    _judge(cand, _cross_fitted(ex, held_out), ex)
    return cand


def _without_float_noise(x: np.ndarray) -> np.ndarray:
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


def _one_bin_reason(x: np.ndarray, kind: str) -> str:
    """Why a number's values could not be told apart: most of them are one value, else too few of each."""
    values, counts = np.unique(x, return_counts=True)
    top = int(np.argmax(counts))
    if counts[top] >= 0.9 * len(x):
        return say("suggest.why.mostly_one", share=_pct(counts[top] / len(x)), value=_range_label(kind, values[top],
                   values[top]))  # fmt: skip
    return say("suggest.why.one_bin")


def _fit_numeric(x: np.ndarray, y: np.ndarray) -> tuple[int, list[_Segment], list[tuple[float, float]]]:
    """Direction (+1: a higher value churns more), bins and bands of a number from its rows with data."""
    raw_auc = roc_auc(x, y.astype(bool))
    direction = 1 if raw_auc is None or raw_auc >= 0.5 else -1
    segments = _segments(x, y, direction)
    bands = _bands([s[4] for s in segments], _scale(np.array([c / n for _, _, n, c, _ in segments])))
    return direction, segments, bands


def _category(ex: _Examples, y: np.ndarray, fld: str) -> Candidate | None:
    values = ex.fit_values([_category_values(p, fld) for p in ex.pasts])
    known = values != ""
    if not known.any():
        return None
    cand = Candidate({"name": fld, "field": fld, "transform": "field"}, "field")
    cand.missing = Bin("", int((~known).sum()), int(y[~known].sum()))
    bins, other, categories, other_score = _fit_category(values, y)
    cand.bins = bins + ([other] if other.accounts else [])
    if len(bins) < 2:
        distinct = len(set(values[known].tolist()))
        cand.why = say("suggest.why.one_bin") if distinct > 1 else say("suggest.why.constant")
        return cand
    cand.measure = Measure.model_validate({**cand.spec, "categories": categories, "other": other_score})
    cand.inputs = [measure_input(cand.measure, p.inputs)[0] for p in ex.pasts]

    def held_out(train: np.ndarray, test: np.ndarray) -> np.ndarray:
        _, _, scores, other = _fit_category(values[train], y[train])
        return np.array([scores.get(v, other) if v else np.nan for v in values[test]], dtype=float)

    _judge(cand, _cross_fitted(ex, held_out), ex)
    return cand


def _fit_category(values: np.ndarray, y: np.ndarray) -> tuple[list[Bin], Bin, dict[str, float], float]:
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


def _category_values(past: PastDay, fld: str) -> np.ndarray:
    """A category field per row, trimmed and case-folded as a scorecard compares it ("" when unknown)."""
    column = past.inputs.accounts[fld].astype("string").str.strip().str.casefold()
    return column.fillna("").to_numpy(dtype=object)


def _cross_fitted(ex: _Examples, score: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
    """Each fitting fold's 0-100 scores from bins fitted on the other fitting folds (NaN: no data)."""
    fold = fitting.folds(ex.keys)
    out = np.full(len(fold), np.nan)
    for f in FIT_FOLDS:
        test = fold == f
        if test.any() and (~test).any():
            out[test] = score(~test, test)
    return out


def _judge(cand: Candidate, held_out: np.ndarray, ex: _Examples) -> None:
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
        cand.why = say("suggest.why.weak", auc=_auc(cand.auc), min_auc=_auc(needed))
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


def _risk_of(cand: Candidate, ex: _Examples) -> np.ndarray:
    """1 - score / 100 on the fitting snapshots (NaN: no data)."""
    m = cand.kept_measure
    x = ex.fit_values(cand.inputs)
    return 1.0 - (x if m.is_category else _interp(x, m.bands)) / 100.0


def _interp(x: np.ndarray, bands: list[tuple[float, float]]) -> np.ndarray:
    xs, ys = zip(*bands, strict=True)
    return np.where(np.isnan(x), np.nan, np.interp(np.nan_to_num(x), xs, ys))


def _segments(x: np.ndarray, y: np.ndarray, direction: int) -> list[_Segment]:
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
    while len(bounds) > 2:  # pool adjacent violators: the rate only rises (or only falls) with the value
        bad = np.flatnonzero(np.diff(direction * stats(bounds)[2]) < -1e-12)
        if not len(bad):
            break
        del bounds[int(bad[0]) + 1]
    while len(bounds) > MAX_BINS + 1:  # at most MAX_BINS: merge the neighbours whose rates differ least
        del bounds[int(np.argmin(np.abs(np.diff(stats(bounds)[2])))) + 1]
    n, c, _ = stats(bounds)
    return [
        (float(xs[lo]), float(xs[hi - 1]), int(k), int(h), float(np.median(xs[lo:hi])))
        for lo, hi, k, h in zip(bounds[:-1], bounds[1:], n, c, strict=True)
    ]


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


def _bands(medians: list[float], scores: np.ndarray) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for m, s in zip(medians, scores.tolist(), strict=True):
        x = _round(m, 3)
        if out and x <= out[-1][0]:
            continue
        out.append((x, float(s)))
    return out


def _round(x: float, digits: int = 4) -> float:
    """`x` to `digits` significant digits, as a plain float (a whole number stays whole)."""
    if x == 0 or not math.isfinite(x):
        return 0.0
    return float(f"{x:.{digits}g}")


def _range_label(kind: str, lo: float, hi: float) -> str:
    if kind == "state":
        return say("suggest.bins.yes") if lo >= 1 else say("suggest.bins.no")
    show = _change if kind == "trend" else _num
    return say("suggest.bins.single", lo=show(lo)) if lo == hi else say("suggest.bins.range", lo=show(lo), hi=show(hi))


# --- choosing measures and weights --------------------------------------------------------------------------------


def _choose(cands: list[Candidate], ex: _Examples) -> list[Candidate]:
    """The kept candidates, best AUC first, without near-duplicates of a better one."""
    ranked = sorted((c for c in cands if c.kept), key=lambda c: -round(c.auc or 0, 3))  # stable: ties keep order
    kept: list[tuple[Candidate, np.ndarray]] = []
    for cand in ranked:
        risk = _risk_of(cand, ex)
        twin = next(((other, r) for other, r in ((o, _corr(risk, rk)) for o, rk in kept) if abs(r) >= MAX_CORRELATION),
                    None)  # fmt: skip
        if twin is not None:
            cand.kept = False
            cand.why = say(
                "suggest.why.duplicate", auc=_auc(cand.auc), other=twin[0].description, corr=f"{twin[1]:.2f}"
            )
            continue
        kept.append((cand, risk))
    return [c for c, _ in kept]


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    both = ~np.isnan(a) & ~np.isnan(b)
    if both.sum() < 3 or a[both].std() == 0 or b[both].std() == 0:
        return 0.0
    return float(np.corrcoef(a[both], b[both])[0, 1])


def _features(kept: list[Candidate]) -> np.ndarray:
    """Risk per measure (1 - score / 100, from bins fitted on the other folds); a measure without data gets its
    column mean."""
    x = np.column_stack([1.0 - c.held_out / 100.0 for c in kept])
    seen = ~np.isnan(x)
    means = np.where(seen.any(axis=0), np.nansum(x, axis=0) / np.maximum(seen.sum(axis=0), 1), 0.0)
    return np.where(seen, x, means)


def _weigh(kept: list[Candidate], ex: _Examples) -> tuple[list[Candidate], fitting.CrossValidated]:
    """Cross-validated logistic weights; a measure with a negative (or negligible) coefficient is dropped, with its
    reason, and the rest refitted."""
    y, ids = ex.y.astype(float), ex.keys
    while True:
        cv = fitting.cross_validate(_features(kept), y, ids)
        coef = cv.coef[1:]
        worst = int(np.argmin(coef))
        if coef[worst] <= 0 and len(kept) > 1:
            dropped = kept.pop(worst)
            dropped.kept = False
            dropped.why = say("suggest.why.negative", auc=_auc(dropped.auc), coef=f"{coef[worst]:.2f}")
            continue
        x = _features(kept)
        share = coef * x.std(axis=0) / max(float((coef * x.std(axis=0)).sum()), 1e-12)  # of the score's spread
        smallest = int(np.argmin(share))
        if share[smallest] < MIN_WEIGHT_SHARE and len(kept) > 1:
            dropped = kept.pop(smallest)
            dropped.kept = False
            dropped.why = say("suggest.why.small", auc=_auc(dropped.auc), share=_pct(share[smallest]))
            continue
        for cand, w in zip(kept, coef / coef.sum(), strict=True):
            cand.weight = round(float(w), 3)
            cand.why = say("suggest.why.kept", auc=_auc(cand.auc), weight=_num(cand.weight))
        return kept, cv


def _keep_a_metric(kept: list[Candidate], cands: list[Candidate]) -> None:
    """A card of account fields alone scores nobody (an account's days of data are days of the card's metrics):
    then the metric measure that ranks churners best joins, at the smallest weight, with that reason."""
    if any(c.spec.get("metric") for c in kept):
        return
    metrics = [c for c in cands if c.spec.get("metric") and c.measure is not None and c.auc is not None]
    if not metrics:
        return
    best = max(metrics, key=lambda c: c.auc or 0.0)
    best.kept = True
    best.weight = max(round(MIN_WEIGHT_SHARE * sum(c.weight or 0.0 for c in kept), 3), 0.001)
    best.why = say("suggest.why.anchor", auc=_auc(best.auc), weight=_num(best.weight))
    kept.append(best)


def _rare_signals(cands: list[Candidate], kept: list[Candidate], ex: _Examples) -> list[Candidate]:
    """Measures out only because their AUC alone is weak, though one of their bins (a tail or a value) has enough
    accounts and churners and churns far above the base rate: too rare to rank the rest, strong enough to set the
    tier of those few. They join at the smallest weight, so a cap can name them (`_drop_unused` takes them out
    again when none does)."""
    y = ex.y
    base = float(y.mean()) if len(y) else 0.0
    weight = max(round(MIN_WEIGHT_SHARE * sum(c.weight or 0.0 for c in kept), 3), 0.001)
    out = []
    for cand in cands:
        if not cand.weak or cand.kept or cand.measure is None:
            continue
        strong = [b for b in cand.bins if b.accounts >= MIN_BIN_ACCOUNTS and b.churned >= CAP_CHURNERS
                  and b.rate >= max(CAP_LIFT * base, base + CAP_POINTS)]  # fmt: skip
        if not strong:
            continue
        top = max(strong, key=lambda b: b.rate)
        cand.kept, cand.rare, cand.weight, cand.weak_why = True, True, weight, cand.why
        cand.why = say("suggest.why.rare", auc=_auc(cand.auc), bin=top.label, accounts=f"{top.accounts:,}",
                       rate=_pct(top.rate), base=_pct(base), weight=_num(weight))  # fmt: skip
        out.append(cand)
        kept.append(cand)
    return out


def _drop_unused(rare: list[Candidate], chosen: list[tuple[_CapCandidate, str, float, float]],
                 kept: list[Candidate]) -> list[Candidate]:  # fmt: skip
    """The rare signals no chosen cap names leave the card again, with their first reason and why."""
    named = {id(c) for option, *_ in chosen for c, *_ in option.conditions}
    unused = [c for c in rare if id(c) not in named]
    for cand in unused:
        kept.remove(cand)
        cand.kept, cand.rare, cand.weight = False, False, None
        cand.why = say("suggest.why.rare_unused", was=cand.weak_why)
    return unused


def _warnings(card: Scorecard, shares: list[fitting.TierShare], test: BacktestResult) -> list[str]:
    """What the reader should look at before using the card (it is written all the same): a tier narrower than
    MIN_TIER_POINTS or that no fitting account falls in, and a backtest with too few churners to mean much."""
    tiers, out = card.tiers, []
    for j, tier in enumerate(tiers.order):
        width = (100.0 if j == 0 else tiers.cutoffs[tiers.order[j - 1]]) - tiers.cutoffs[tier]
        if width < MIN_TIER_POINTS:
            out.append(say("suggest.warning.narrow_tier", label=tiers.label(tier), width=_num(width),
                           points=MIN_TIER_POINTS))  # fmt: skip
        elif not next((s.accounts for s in shares if s.tier == tier), 0):
            out.append(say("suggest.warning.empty_tier", label=tiers.label(tier)))
    if test.churned < FEW_TEST_CHURNERS:
        out.append(say("suggest.warning.few_test_churners", churned=test.churned, accounts=f"{test.accounts:,}",
                       few=FEW_TEST_CHURNERS))  # fmt: skip
    return out


def _card(kept: list[Candidate], caps: list[Cap]) -> Card:
    """One group per metric or field, weighted by the sum of its measures' weights."""
    by_source: dict[str, list[Candidate]] = {}
    for cand in sorted(kept, key=lambda c: -(c.weight or 0)):
        by_source.setdefault(cand.source, []).append(cand)
    groups = {}
    for source, cands in by_source.items():
        measures = [c.kept_measure.model_copy(update={"weight": c.weight}) for c in cands]
        label = _label(source)
        groups[source] = Group(label=_capitalised(label), weight=round(sum(m.weight for m in measures), 3),
                               measures=measures)  # fmt: skip
    return Card(groups=groups, caps=caps)


# --- caps -----------------------------------------------------------------------------------------------------------


@dataclass
class _Fitted:
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


def _snapshots(scorecard: Scorecard, ex: _Examples, count: int | None = None) -> list[Snapshot]:
    """The first `count` snapshots (all by default) scored by the engine."""
    return [score_past_day(scorecard, _reading(scorecard, past)) for past in ex.pasts[:count]]


def _fitted(snaps: list[Snapshot], ex: _Examples, kept: list[Candidate]) -> _Fitted:
    """The fitting rows of scored snapshots (the first is the as-of day's)."""
    scores, ys, ins, cats = [], [], [], []
    for k, (snap, past, rows) in enumerate(zip(snaps, ex.pasts, ex.fit, strict=False)):
        pos = np.searchsorted(_ids(past), snap.scores.frame["account_id"].to_numpy())
        fit = np.isin(pos, rows)
        scores.append(snap.scores.frame["score"].to_numpy()[fit])
        ys.append(snap.churned[fit])
        ins.append({c.name: c.inputs[k][pos[fit]] for c in kept})
        cats.append({c.name: _category_values(past, c.source)[pos[fit]] for c in kept if c.is_category})
    inputs = {c.name: np.concatenate([d[c.name] for d in ins]) for c in kept}
    category = {n: np.concatenate([d[n] for d in cats]) for n in (cats[0] if cats else {})}
    latest = np.arange(sum(len(x) for x in scores)) < len(scores[0])
    return _Fitted(np.concatenate(scores), np.concatenate(ys).astype(bool), inputs, category, latest)


@dataclass
class _CapCandidate:
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
            shown = v if isinstance(v, str) else _change(v) if c.kind == "trend" else _num(v)
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
    return sorted({_round(float(q), 3) for q in qs})


def _condition(cand: Candidate, fitted: _Fitted, op: str, value: float | str) -> np.ndarray:
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


def _cap_candidates(kept: list[Candidate], fitted: _Fitted) -> list[_CapCandidate]:
    """Per kept measure, and per pair of the best few: the condition (values at or beyond a threshold on the risky
    side, or a category's value) whose accounts churn far above the base rate, splitting the most likelihood off."""
    y, total = fitted.y, len(fitted.y)
    churned = int(y.sum())
    base = churned / total if total else 0.0

    def cell(conds: list[tuple[Candidate, str, float | str]], holds: np.ndarray, alone: list[float]
             ) -> _CapCandidate | None:  # fmt: skip
        n, c = int(holds.sum()), int(y[holds].sum())
        if n < MIN_BIN_ACCOUNTS or c < CAP_CHURNERS:
            return None
        rate = c / n
        if rate < CAP_LIFT * base or rate < base + CAP_POINTS or any(rate < a + CAP_POINTS for a in alone):
            return None
        return _CapCandidate(conds, holds, n, c, alone, _loglik_gain(n, c, total, churned))

    def best(options: list[_CapCandidate | None]) -> _CapCandidate | None:
        found = [o for o in options if o is not None]
        return max(found, key=lambda o: o.gain) if found else None

    out: list[_CapCandidate | None] = []
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
        sides[c.name] = [(t, h, float(y[h].mean()) if h.any() else 0.0) for t in
                         _thresholds(fitted.inputs[c.name], c.direction, PAIR_LEVELS)
                         for h in [_condition(c, fitted, _risky(c), t)]]  # fmt: skip
    for i, a in enumerate(numeric):
        for b in numeric[i + 1 :]:
            if a.source == b.source:
                continue
            out.append(best([cell([(a, _risky(a), ta), (b, _risky(b), tb)], ha & hb, [ra, rb])
                             for ta, ha, ra in sides[a.name] for tb, hb, rb in sides[b.name]]))  # fmt: skip
    return sorted((o for o in out if o is not None), key=lambda o: -o.gain)


def _tail(
    cand: Candidate, fitted: _Fitted, cell: Callable[[list[Any], np.ndarray, list[float]], _CapCandidate | None]
) -> _CapCandidate | None:
    """The broadest tail of a number's bins, from the risky end, whose first bin already churns far above the base
    rate (and the whole tail at least CAP_LIFT times it): the cap starts where the churn rate does."""
    y = fitted.y
    base = float(y.mean()) if len(y) else 0.0
    x = fitted.inputs[cand.name]
    bins = cand.segments if cand.direction > 0 else cand.segments[::-1]
    for lo, hi, *_ in bins[1:]:
        edge = _round(lo if cand.direction > 0 else hi)
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


def _deserved_tier(scorecard: Scorecard, fitted: _Fitted, rate: float) -> str | None:
    """The tier whose fitting accounts (those the cutoffs were set on) churn at the rate closest to `rate`, as a
    ratio (never the best tier; None when that would be the best)."""
    tiers = scorecard.tiers
    on = _cutoff_rows(fitted)
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


def _capped(score: np.ndarray, caps: list[tuple[np.ndarray, float]]) -> np.ndarray:
    """Scores as the engine caps them: scaled into 0..at_most by the lowest cap that holds."""
    cap_at = np.full(len(score), np.nan)
    for holds, at_most in caps:
        cap_at = np.where(holds, np.fmin(cap_at, at_most), cap_at)
    return capped_scores(score, cap_at)[0]


def _choose_caps(
    scorecard: Scorecard, kept: list[Candidate], fitted: _Fitted
) -> list[tuple[_CapCandidate, str, float, float]]:
    """Single conditions first, then pairs, each in order of how much it splits off. A single condition is kept
    unless it would lower the fitting AUC by more than CAP_AUC_TOLERANCE (it sets the tier of accounts one signal
    condemns), a pair only when it lifts the AUC by PAIR_CAP_GAIN: (condition, the tier its churn rate deserves,
    fitting AUC before, after)."""
    chosen: list[tuple[_CapCandidate, str, float, float]] = []
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
        auc = roc_auc(100 - _capped(fitted.score, [*applied, (option.holds, at_most)]), fitted.y) or 0.0
        if auc < current + (PAIR_CAP_GAIN if len(option.conditions) > 1 else -CAP_AUC_TOLERANCE):
            continue
        chosen.append((option, tier, current, auc))
        applied.append((option.holds, at_most))
        current = auc
    return chosen


def _cap_line(option: _CapCandidate, base: float, at_most: float, tier_label: str) -> str:
    common = {"condition": option.words(), "accounts": f"{option.accounts:,}", "rate": _pct(option.rate),
              "base": _pct(base), "at_most": _num(at_most), "tier": tier_label}  # fmt: skip
    if len(option.conditions) == 1:
        return say("suggest.cap.line", **common)
    return say("suggest.cap.pair_line", alone=" / ".join(_pct(a) for a in option.alone), **common)


# --- the whole suggestion -------------------------------------------------------------------------------------------


def suggest(engine: Engine, as_of: date, horizon: int, samples: int = 3, progress: bool = True) -> Suggestion:
    """A scorecard fitted to the portfolio's churn up to `as_of`, with the reasons for each choice and its backtest
    on the accounts it did not fit on. Raises `SuggestError` when the data cannot support one."""
    with _bar(engine, samples, progress) as bar:
        ex = _examples(engine, as_of, horizon, samples, bar.update)
        y = ex.y.astype(bool)
        rows, churned = len(y), int(y.sum())
        accounts = len(np.unique(ex.ids))
        if churned < MIN_CHURNERS:
            churners = {str(i) for p in ex.pasts for i in p.inputs.accounts["external_id"][p.churned]}
            raise FewChurners(_few_churners(engine, ex, horizon, accounts), len(churners), ex.pasts[0].inputs,
                              ex.min_days)  # fmt: skip
        if rows - churned < MIN_CHURNERS:
            raise SuggestError(say("suggest.error.few_retained", retained=rows - churned, rows=f"{rows:,}",
                                   horizon=horizon))  # fmt: skip
        cands = _candidates(ex)
        bar.update(1)
        kept = _choose(cands, ex)
        if not kept:
            best = max((c.auc for c in cands if c.auc is not None), default=None)
            raise SuggestError(say("suggest.error.nothing_kept", auc=_auc(best), min_auc=_num(MIN_AUC)))
        kept, cv = _weigh(kept, ex)
        _keep_a_metric(kept, cands)
        rare = _rare_signals(cands, kept, ex)
        bar.update(1)

        default = load_scorecard()
        data = DataRules(lookback_days=LOOKBACK, min_days_of_data=ex.min_days, min_weight_covered=MIN_WEIGHT_COVERED)
        card = Scorecard(tiers=default.tiers, data=data, cards={"default": _card(kept, [])})
        fitted = _fitted(_snapshots(card, ex), ex, kept)
        card = _with_cutoffs(card, fitted)
        chosen = _choose_caps(card, kept, fitted)
        unused = _drop_unused(rare, chosen, kept)
        if unused and not chosen:  # the card again without the measures that were only there for a cap
            card = card.model_copy(update={"cards": {"default": _card(kept, [])}})
            card = _with_cutoffs(card, _fitted(_snapshots(card, ex), ex, kept))
        bar.update(1)
        base = float(fitted.y.mean()) if len(fitted.y) else 0.0
        caps: list[CapChoice] = []
        cutoff_snapshots = 1 if int(fitted.y[fitted.latest].sum()) >= MIN_CHURNERS else None  # see _cutoff_rows
        if chosen:  # cutoffs again on the capped scores, each cap's ceiling kept below the tier above its own
            final = _caps_at(card, chosen)
            capped = card.model_copy(update={"cards": {"default": _card(kept, final)}})
            ceilings = [(tier, cap.at_most) for (_, tier, *_), cap in zip(chosen, final, strict=True)]
            card = _with_cutoffs(capped, _fitted(_snapshots(capped, ex, cutoff_snapshots), ex, kept), ceilings)
            card = Scorecard.model_validate(card.model_dump())
            for (option, tier, before, after), cap in zip(chosen, final, strict=True):
                line = _cap_line(option, base, cap.at_most, card.tiers.label(tier))
                caps.append(CapChoice(cap, tier, line, say("suggest.cap.gain", before=_auc(before), after=_auc(after))))
        bar.update(1)
        snaps = _snapshots(card, ex, cutoff_snapshots)  # the as-of day's scores test the card on held-out accounts
        fitted = _fitted(snaps, ex, kept)
        test, test_shares = _backtest(card, snaps[0], ex, as_of, horizon)
        bar.update(1)
    on = _cutoff_rows(fitted)
    fit_shares = fitting.tier_shares(card.tiers, tier_of(card, fitted.score[on]), fitted.y[on])
    warnings = _warnings(card, fit_shares, test)
    order = {id(c): i for i, c in enumerate(sorted(cands, key=lambda c: (not c.kept, -(c.weight or 0))))}
    return Suggestion(
        scorecard=card, test=test, candidates=sorted(cands, key=lambda c: order[id(c)]), caps=caps,
        test_shares=test_shares, fit_shares=fit_shares, cv=cv, as_of=as_of, horizon=horizon,
        days=[p.inputs.day for p in ex.pasts], fit_rows=rows, fit_accounts=accounts, fit_churned=churned,
        test_accounts=len(ex.test), warnings=warnings, cycles=ex.cycles,
    )  # fmt: skip


def propose(engine: Engine, as_of: date, horizon: int, progress: bool = True) -> Suggestion | shapes.ShapeSuggestion:
    """`suggest`, or with too few churners to fit, a card from the shapes of the metrics (`shapes`), marked not
    fitted. Raises `SuggestError` when the data supports neither."""
    try:
        return suggest(engine, as_of, horizon, progress=progress)
    except FewChurners as few:
        found = shapes.shapes(few.inputs, few.min_days, _label)
        if not any(s.measures for s in found):
            metrics = ", ".join(s.metric for s in found)
            raise SuggestError(say("suggest.error.no_shapes", problem=few, metrics=metrics)) from None
        card = shapes.card(found, few.min_days)
        return shapes.ShapeSuggestion(card, found, as_of, horizon, few.churners, str(few))


def _few_churners(engine: Engine, ex: _Examples, horizon: int, accounts: int) -> str:
    """Too few churners to learn from: how many there are, how many the test accounts hold back, and whether
    other options would find more (only when churn is recorded outside the windows already counted)."""
    days = [p.inputs.day for p in ex.pasts]
    first, last = min(days), max(days) + timedelta(days=horizon)
    with engine.connect() as conn:
        later, earlier = queries.churned_outside(conn, first, last)
    advice = [say("suggest.error.more_later", count=later, day=last)] if later else []
    advice += [say("suggest.error.more_earlier", count=earlier, day=first)] if earlier else []
    test_churned = int(ex.pasts[0].churned[ex.test].sum())
    return say("suggest.error.few_churners", churned=int(ex.y.sum()), rows=f"{len(ex.y):,}", accounts=f"{accounts:,}",
               days=_days(days), horizon=horizon, test_churned=test_churned, test=f"{len(ex.test):,}",
               share=_pct(1 - len(FIT_FOLDS) / 5), minimum=MIN_CHURNERS,
               advice="; ".join(advice) or say("suggest.error.no_more_churn", day=last))  # fmt: skip


def _cutoff_rows(fitted: _Fitted) -> np.ndarray:
    """The rows tier cutoffs are proposed on: the as-of snapshot's, which look most like the portfolio today
    (earlier snapshots hold accounts that churned since), unless it has too few churners."""
    if int(fitted.y[fitted.latest].sum()) >= MIN_CHURNERS:
        return fitted.latest
    return np.ones(len(fitted.y), dtype=bool)


def _with_cutoffs(card: Scorecard, fitted: _Fitted, ceilings: list[tuple[str, float]] | None = None) -> Scorecard:
    """Cutoffs proposed on the fitting scores; the tier above each cap's tier starts far enough above its ceiling
    (`_at_most`) that a capped account lands in the cap's tier or worse."""
    tiers = card.tiers
    rows = _cutoff_rows(fitted)
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


def _caps_at(card: Scorecard, chosen: list[tuple[_CapCandidate, str, float, float]]) -> list[Cap]:
    return [Cap(when=option.when(), at_most=_at_most(card, tier)) for option, tier, _, _ in chosen]


def _backtest(card: Scorecard, snap: Snapshot, ex: _Examples, as_of: date, horizon: int
              ) -> tuple[BacktestResult, list[fitting.TierShare]]:  # fmt: skip
    """The card on the test accounts (folds 3-4) as of `as_of` (`snap`: the as-of day scored with it)."""
    past = ex.pasts[0]
    frame = snap.scores.frame
    test_ids = _ids(past)[ex.test]
    keep = np.flatnonzero(np.isin(frame["account_id"].to_numpy(), test_ids))
    scores = DayScores(frame.iloc[keep].reset_index(drop=True), [snap.scores.parts[i] for i in keep])
    subset = Snapshot(scores, snap.churned[keep], unscored=len(test_ids) - len(keep),
                      latest_metrics=snap.latest_metrics)  # fmt: skip
    result = evaluate(card, subset, as_of, horizon)
    shares = fitting.tier_shares(card.tiers, scores.frame["raw_tier"].to_numpy(), subset.churned)
    return result, shares


@contextlib.contextmanager
def _bar(engine: Engine, samples: int, progress: bool) -> Iterator[Any]:
    """A progress bar over the steps (each snapshot loaded, then five), shown from PROGRESS_ACCOUNTS accounts."""
    with engine.connect() as conn:
        many = queries.account_count(conn) >= PROGRESS_ACCOUNTS
    with tqdm(total=samples + 5, desc="suggest", unit="step", disable=not (progress and many), leave=False) as bar:
        yield bar


# --- the file ---------------------------------------------------------------------------------------------------


def out_problem(path: Path) -> str | None:
    """Why `path` cannot be written (checked before the work, so a bad --out costs nothing), else None."""
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        return say("suggest.error.out_folder", path=path)
    if not folder.is_dir():
        return say("suggest.error.out_missing", path=path, folder=folder)
    if path.exists() and not os.access(path, os.W_OK):
        return say("suggest.error.out_readonly", path=path, reason=say("suggest.error.file_readonly"))
    if not path.exists() and not os.access(folder, os.W_OK):
        return say("suggest.error.out_readonly", path=path, reason=say("suggest.error.folder_readonly", folder=folder))
    return None


def write(suggestion: Suggestion | shapes.ShapeSuggestion, path: Path) -> None:
    """Write the suggestion whole or not at all (a temporary file renamed over `path`)."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(suggestion.toml(), encoding="utf-8")
        load_scorecard(tmp)  # what was written reads back (else a ScorecardError, and nothing is left behind)
        tmp.replace(path)
    except OSError as exc:
        raise SuggestError(say("suggest.error.out_readonly", path=path, reason=exc.strerror or str(exc))) from None
    finally:
        tmp.unlink(missing_ok=True)


# --- wording helpers -------------------------------------------------------------------------------------------------


def _num(x: float) -> str:
    """A number as a reader takes it in: whole numbers whole, others to about three significant digits; from a
    million on, three significant digits and a word ("2.39 trillion")."""
    for power, word in ((12, "trillion"), (9, "billion"), (6, "million")):
        if abs(x) >= 10**power:
            v = x / 10**power
            return say(f"suggest.number.{word}", x=f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}")
    if abs(x - round(x)) < 1e-9 or abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.1f}" if abs(x) >= 10 else f"{x:.3g}"


def _change(x: float) -> str:
    """A relative change as a signed whole percent ("-34 %", "+2 %")."""
    whole = round(x * 100)
    return "±0 %" if whole == 0 else f"{whole:+d} %"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.0%}".replace("%", " %")


def _auc(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _days(days: list[date]) -> str:
    return ", ".join(d.isoformat() for d in days)


def _cumulative(shares: list[fitting.TierShare]) -> list[float]:
    """Share of churners in the riskiest tier, the two riskiest, ... (all but the best tier)."""
    out, total = [], 0.0
    for s in reversed(shares[1:]):
        total += s.share_of_churners or 0.0
        out.append(total)
    return out
