"""A card from the shapes of a portfolio's metrics, when churn is too rare to fit one; and their weekly cycles.

`healthbot scorecard suggest` falls back on it when there is too little churn history to fit a card; both paths
read around the weekly cycles.

With fewer churners than a fit needs, nothing says which metric predicts churn. What the data does say is what
kind of thing each metric is, and a health score reads each kind in a known way, against the account's own past:

- an activity count (logins, API calls: whole numbers, most days above zero) falls before an account leaves: its
  last 7 days against the 28 before (the trend) and the days since its last activity (recency);
- a ticket-like count (tickets, incidents: whole numbers, most days zero, arriving in bursts) spikes when something
  goes wrong: its last 14 days against its usual for 14 days (the 56 before);
- a level (seats, users: it stays the same from one day to the next, or nearly) shrinks when an account winds
  down: its last 7 days against the 28 before.

A metric is recognised by its values first (the as-of day's 90 days of every active account) and by its name where
the values leave it open (a count with most days zero is ticket-like when its name says tickets, incidents ...; a
level by its values alone, or a count whose name says seats or users); a 0/1 state or a measurement that is none
of these (a score, a wait time) is left out, with the reason, since its direction cannot be told without churn.
Every window is a whole number of weeks, so a metric with a weekly cycle scores the same on a Saturday as on a
Friday. Bands are fixed and said in words; weights are equal per metric; the tiers are the default card's.
"""

from __future__ import annotations

import re
import textwrap
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

import numpy as np

from bot.scoring import formats
from bot.scoring.measures import DayInputs, measure_input
from bot.scoring.scorecard import Card, DataRules, Group, Measure, Scorecard, load_scorecard, to_toml
from prompts import say
from prompts.formats import day_name, listing

WINDOW = 90  # days of the as-of day's metrics a shape is read from
WEEKLY_SWING = 0.25  # weekday means (each account against its own mean) this far apart, as a share of the mean ...
HALVES_CORRELATION = 0.7  # ... in both halves of the accounts alike: a weekly cycle, not noise
MIN_CYCLE_DAYS = 28  # days an account needs in the window to count towards a weekly cycle
LEVEL_STEADY = 0.8  # a level keeps its value (within LEVEL_STEP of it) from one reported day to the next this often
LEVEL_STEP = 0.02
LEVEL_MAX_ZEROS = 0.2  # ... and is rarely zero
TICKET_ZEROS = 0.5  # a count with at least this share of zero days ...
BURSTY = 1.5  # ... whose variance is at least this many times its mean (arrives in bursts) is ticket-like
COUNT_SHARE = 0.99  # a metric is a count when this share of its values are whole numbers >= 0 (a stray correction
# row such as -2 in an export does not make the team's main usage metric unreadable)
CALIBRATION = (0.8, 0.95, 0.99)  # shares of the portfolio's account-days a band point (100, 50, 0) lets through
CALIBRATION_DAYS = 28  # days up to the as-of day whose readings calibrate the bands (four of each weekday)
ACTIVITY_WEIGHTS = {"trend": 0.6, "recency": 0.4}  # within an activity metric's group
TICKET_NAMES = re.compile(r"ticket|case|incident|complaint|bug|escalat|error|fail|outage|refund|dispute|issue")
LEVEL_NAMES = re.compile(r"seat|user|licen[cs]e|member|headcount|employee|agent|mailbox|device|node|host")
ACTIVITY_NAMES = re.compile(r"login|call|event|session|request|usage|use|active|message|visit|view|api|query|sent")


@dataclass
class Shape:
    """What a metric looks like, and how the card reads it (or why it does not)."""

    metric: str
    kind: str  # activity, ticket, level, state, other, empty
    why: str  # how it was recognised, with the figures
    cycle: str = ""  # its weekly cycle in words ("" when none)
    measures: list[tuple[Measure, str]] = field(default_factory=list)  # with how it reads, direction included


@dataclass
class ShapeSuggestion:
    """A card built from the metrics' shapes: not fitted to churn."""

    scorecard: Scorecard
    shapes: list[Shape]
    as_of: date
    horizon: int
    churners: int
    few: str  # why it is not fitted (the counts, and where more churn may be found)

    @property
    def mark(self) -> str:
        return say("suggest.shape.mark", churners=self.churners)

    def report(self) -> str:
        lines = [
            say("suggest.shape.title", as_of=self.as_of, mark=self.mark),
            "  " + self.few,
            say("suggest.shape.metrics"),
        ]
        for s in self.shapes:
            lines.append(say("suggest.shape.metric", metric=s.metric, why=s.why))
            lines += [say("suggest.shape.reads", how=how) for _, how in s.measures]
            if not s.measures:
                lines.append(say("suggest.shape.left_out"))
        tiers = self.scorecard.tiers
        cutoffs = listing(f"{tiers.label(t)} {tiers.cutoffs[t]:g}+" for t in tiers.order)
        lines += [
            say("suggest.shape.bands"),
            say("suggest.shape.weights"),
            say("suggest.shape.tiers", cutoffs=cutoffs),
            self.mark,
        ]
        return "\n".join(lines)

    def toml(self) -> str:
        bands = textwrap.fill(say("suggest.shape.bands"), 115)
        header = say("suggest.shape.header", as_of=self.as_of, horizon=self.horizon, mark=self.mark, bands=bands)
        text = to_toml(self.scorecard, header)
        notes = {m.name: (s, how) for s in self.shapes for m, how in s.measures}
        out = []
        for line in text.splitlines():
            found = re.match(r'\s*\{ name = "([a-z0-9_]+)"', line)
            if found and found.group(1) in notes:
                shape, how = notes[found.group(1)]
                said = say("suggest.shape.metric", metric=shape.metric, why=shape.why).strip()  # "logins: ..."
                out += [f"  # {said}", f"  # {how}"]
            out.append(line)
        left = [s for s in self.shapes if not s.measures]
        if left:
            out += ["", f"# {say('suggest.shape.left_out_title')}"]
            out += ["#   " + say("suggest.shape.metric", metric=s.metric, why=s.why).strip() for s in left]
        return "\n".join(out) + "\n"


def weekly_cycle(inputs: DayInputs, metric: str) -> str:
    """The metric's weekly cycle in words ("lowest on Sunday, 9 % of Tuesday's"), or "" when it has none: each
    account's values against its own mean, averaged per weekday over the window, swing by WEEKLY_SWING of the mean
    or more, alike in both halves of the accounts (so it is the product's week, not noise)."""
    lookback = min(inputs.col + 1, WINDOW)
    window = inputs.panel.values[metric][:, inputs.col - lookback + 1 : inputs.col + 1]
    seen = ~np.isnan(window)
    if not seen.any() or np.nanmin(window) < 0:
        return ""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an account without a value in the window has no mean
        means = np.nanmean(np.where(seen, window, np.nan), axis=1)
    rows = np.flatnonzero((seen.sum(axis=1) >= MIN_CYCLE_DAYS) & (means > 0))
    if len(rows) < 4:
        return ""
    rel = window[rows] / means[rows, None]
    first = inputs.day - timedelta(days=lookback - 1)
    weekday = np.array([(first + timedelta(days=j)).weekday() for j in range(lookback)])

    def profile(part: np.ndarray) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a weekday without any value: NaN, no cycle read
            return np.array([np.nanmean(part[:, weekday == k]) for k in range(7)])

    whole, a, b = profile(rel), profile(rel[::2]), profile(rel[1::2])
    if np.isnan(np.concatenate([whole, a, b])).any():
        return ""
    swing = [(p.max() - p.min()) / p.mean() for p in (whole, a, b)]
    if min(swing) < WEEKLY_SWING or np.corrcoef(a, b)[0, 1] < HALVES_CORRELATION:
        return ""
    low, high = int(np.argmin(whole)), int(np.argmax(whole))
    return say(
        "suggest.shape.cycle", low=day_name(low), high=day_name(high), share=formats.percent(whole[low] / whole[high])
    )


def shapes(inputs: DayInputs, min_days: int, label: Callable[[str], str]) -> list[Shape]:
    """Each metric's shape from the as-of day's window, and the measures it becomes."""
    return [_shape(inputs, metric, label) for metric in sorted(inputs.panel.values)]


def card(shapes_: list[Shape], min_days: int) -> Scorecard:
    groups = {}
    for s in shapes_:
        if s.measures:
            measures = [m for m, _ in s.measures]
            words = s.measures[0][0].label or s.metric
            groups[s.metric] = Group(label=words[:1].upper() + words[1:], weight=1.0, measures=measures)
    default = load_scorecard()
    data = DataRules(lookback_days=WINDOW, min_days_of_data=min_days, min_weight_covered=0.5)
    return Scorecard(tiers=default.tiers, data=data, cards={"default": Card(groups=groups)})


def _shape(inputs: DayInputs, metric: str, label: Callable[[str], str]) -> Shape:
    lookback = min(inputs.col + 1, WINDOW)
    window = inputs.panel.values[metric][:, inputs.col - lookback + 1 : inputs.col + 1]
    seen = ~np.isnan(window)
    values = window[seen]
    words = label(metric)
    if values.size == 0:
        return Shape(metric, "empty", say("suggest.shape.why.empty", window=WINDOW))
    if np.isin(values, (0.0, 1.0)).all():
        return Shape(metric, "state", say("suggest.shape.why.state"))
    count = bool(np.mean((values >= 0) & (values == np.round(values))) >= COUNT_SHARE)
    zeros = float(np.mean(values == 0))
    steady = _steady_share(window)
    mean = float(values.mean())
    dispersion = float(values.var() / mean) if mean > 0 else 0.0
    name = metric.casefold()
    cycle = weekly_cycle(inputs, metric)
    figures = {"zeros": formats.percent(zeros), "steady": formats.percent(steady), "dispersion": f"{dispersion:.1f}"}
    common: dict[str, Any] = {"metric": metric, "label": words}
    if zeros <= LEVEL_MAX_ZEROS and (steady >= LEVEL_STEADY or (count and LEVEL_NAMES.search(name) and steady >= 0.5)):
        why = say("suggest.shape.why.level", **figures)
        m = _calibrated(
            Measure(
                name=f"{metric}_change",
                transform="trend",
                days=7,
                baseline_days=28,
                fill="none",
                bands=[(-0.3, 0.0), (-0.1, 50.0), (0.0, 100.0)],
                **common,
            ),
            inputs,
        )
        return Shape(metric, "level", why, cycle, [(m, say("suggest.shape.how.level", label=words, **_points(m)))])
    if count and zeros >= TICKET_ZEROS and (dispersion >= BURSTY or TICKET_NAMES.search(name)):
        why = say("suggest.shape.why.ticket", **figures)
        floor = max(1.0, round(float(np.median(_sums(window, 14))), 1))
        m = _calibrated(
            Measure(
                name=f"{metric}_spike",
                transform="ratio",
                days=14,
                baseline_days=56,
                baseline_floor=floor,
                fill="zero",
                bands=[(1.0, 100.0), (2.0, 50.0), (4.0, 0.0)],
                **common,
            ),
            inputs,
        )
        how = say("suggest.shape.how.ticket", label=words, floor=f"{floor:g}", **_points(m))
        return Shape(metric, "ticket", why, cycle, [(m, how)])
    if count and (zeros < TICKET_ZEROS or ACTIVITY_NAMES.search(name)):
        why = say("suggest.shape.why.activity", **figures)
        if cycle:
            why += say("suggest.shape.why.with_cycle", cycle=cycle)
        quiet = _usual_quiet(window)
        trend = _calibrated(
            Measure(
                name=f"{metric}_trend",
                transform="trend",
                days=7,
                baseline_days=28,
                fill="zero",
                weight=ACTIVITY_WEIGHTS["trend"],
                bands=[(-0.6, 0.0), (-0.3, 50.0), (-0.1, 100.0)],
                **common,
            ),
            inputs,
        )
        recency = _calibrated(
            Measure(
                name=f"{metric}_recency",
                transform="recency",
                lookback_days=60,
                fill="zero",
                weight=ACTIVITY_WEIGHTS["recency"],
                bands=[(float(quiet), 100.0), (quiet + 7.0, 50.0), (quiet + 21.0, 0.0)],
                **common,
            ),
            inputs,
        )
        blind = say("suggest.shape.how.blind") if cycle else ""
        how_trend = say("suggest.shape.how.trend", label=words, cycle=blind, **_points(trend))
        how_recency = say("suggest.shape.how.recency", label=words, quiet=quiet, **_points(recency))
        return Shape(metric, "activity", why, cycle, [(trend, how_trend), (recency, how_recency)])
    return Shape(metric, "other", say("suggest.shape.why.other", **figures))


def _calibrated(m: Measure, inputs: DayInputs) -> Measure:
    """The measure with its three band points (100, 50, 0) moved out to what CALIBRATION of the portfolio's
    account-days over the last CALIBRATION_DAYS days read, where they vary more than the fixed points allow: with
    no churn to learn from, an account reads as usual while it does what most accounts do, and the score falls only
    where a reading is rare in this portfolio and past the fixed point too. A recency's full score also reaches
    back to 0 days."""
    values = []
    for k in range(min(CALIBRATION_DAYS, inputs.col + 1)):
        day = replace(inputs, col=inputs.col - k, day=inputs.day - timedelta(days=k))
        values.append(measure_input(m, day)[0])
    x = np.concatenate(values)
    x = x[np.isfinite(x)]
    by_score = {score: x for x, score in m.bands}
    x100, x50, x0 = by_score[100.0], by_score[50.0], by_score[0.0]
    worse_high = m.bands[0][1] > m.bands[-1][1]  # a higher input scores lower
    if x.size:
        q = np.quantile(x, CALIBRATION if worse_high else [1 - c for c in CALIBRATION])  # the bad end's shares
        pick = max if worse_high else min
        x100, x50, x0 = pick(x100, q[0]), pick(x50, q[1]), pick(x0, q[2])
    x100, x50, x0 = (_round(v) for v in (x100, x50, x0))
    step = 0.01 if abs(x0 - x100) < 10 else 1.0  # keep the points apart (strictly increasing inputs)
    if worse_high:
        x50, x0 = max(x50, x100 + step), max(x0, max(x50, x100 + step) + step)
        bands = [(x100, 100.0), (x50, 50.0), (x0, 0.0)]
        if m.transform == "recency" and x100 > 0:
            bands.insert(0, (0.0, 100.0))
    else:
        x50, x0 = min(x50, x100 - step), min(x0, min(x50, x100 - step) - step)
        bands = [(x0, 0.0), (x50, 50.0), (x100, 100.0)]
    return m.model_copy(update={"bands": bands})


def _points(m: Measure) -> dict[str, str]:
    """The inputs scoring 100, 50 and 0, as the file's words show them."""
    by_score = {score: x for x, score in m.bands}
    return {key: _input_words(m, by_score[score]) for key, score in (("x100", 100.0), ("x50", 50.0), ("x0", 0.0))}


def _input_words(m: Measure, x: float) -> str:
    """An input of `m` in the file's words: "-30 %" (a trend, "+0 %" for none), "2 times", "14 days"."""
    if m.transform == "trend":
        return formats.change(x, plus_zero=True)
    return say("suggest.shape.times" if m.transform == "ratio" else "suggest.shape.days", x=f"{x:g}")


def _round(x: float) -> float:
    return float(f"{x:.2g}") if abs(x) < 10 else float(round(x))


def _steady_share(window: np.ndarray) -> float:
    """How often an account's value stays within LEVEL_STEP of its previous report (a metric reported weekly is
    compared week to week)."""
    close = total = 0
    for row in window[:2000]:
        v = row[~np.isnan(row)]
        if len(v) >= 2:
            prev, now = v[:-1], v[1:]
            close += int((np.abs(now - prev) <= LEVEL_STEP * np.maximum(np.abs(prev), 1e-9)).sum())
            total += len(v) - 1
    return close / total if total else 0.0


def _sums(window: np.ndarray, days: int) -> np.ndarray:
    """Each reporting account's total over consecutive `days`-day stretches of the window (missing days as 0)."""
    filled = np.nan_to_num(window, nan=0.0)
    rows = ~np.isnan(window).all(axis=1)
    k = filled.shape[1] // days
    if not k or not rows.any():
        return np.zeros(1)
    return filled[rows][:, -k * days :].reshape(int(rows.sum()), k, days).sum(axis=2).ravel()


def _usual_quiet(window: np.ndarray) -> int:
    """Days without activity an active account usually goes through (weekends, holidays): the 90th percentile
    over accounts of each one's longest quiet stretch, among accounts active in the last 3 weeks; at least 2 days,
    at most 14."""
    active = np.nan_to_num(window, nan=0.0) > 0
    longest = []
    for row in active[active[:, -21:].any(axis=1)]:
        idx = np.flatnonzero(row)
        if len(idx) >= 2:
            longest.append(int(np.diff(idx).max()) - 1)
    quiet = int(np.quantile(longest, 0.9)) if longest else 2
    return int(min(max(quiet, 2), 14))
