"""Which alert rules fire on a day, for every account at once.

`evaluate(conn, rules, scorecard, day)` reads the day's accounts, the stored scores and the
metric window the rules need in three bulk reads, then `evaluate_frames` checks each rule
over (accounts x days) arrays: no per-account queries, 50,000 accounts in seconds.

A firing says the rule's condition holds on the day; it is stateless. Whether it becomes an
alert is the alert job's call: `due()` applies each rule's cooldown to the firings, and
`digest_moves()` lists the worsening tier moves that raised no alert (the weekly digest).
"""

from __future__ import annotations

import warnings
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection

from bot.alerts import reasons
from bot.alerts.rules import (
    Flag,
    MetricAbove,
    MetricTrend,
    RenewalNear,
    Rule,
    Rules,
    ScoreBelow,
    Silence,
    TierDropped,
    riskiest,
)
from bot.scoring.panel import Panel, day_number
from bot.scoring.scorecard import Scorecard
from prompts import speaking_in
from storage import accounts as account_store
from storage import scores as score_store


@dataclass(frozen=True)
class Firing:
    """One rule's condition holding for one account on the day."""

    account_id: int
    rule: str  # the rule's name
    kind: str
    severity: str  # a tier name: its playbook and response SLA apply
    detail: dict[str, Any] = field(hash=False)  # the figures, plain JSON types
    words: str  # for the thread: "score below 60 for 7 days (now 52)", in the language evaluated in
    reason: dict[str, Any] = field(default_factory=dict, hash=False)  # the same as a code (bot.alerts.reasons)


@dataclass(frozen=True)
class Move:
    """A tier move to a worse tier between two days."""

    account_id: int
    from_tier: str
    to_tier: str
    score: float


def _score_days(rules: Rules, lookback: int = 1) -> int:
    """Days of stored scores the rules read, counting the day (at least the day and `lookback` days before)."""
    return max([1 + lookback] + [r.days for r in rules.enabled if isinstance(r, ScoreBelow)])


def _metric_span(rule: Rule) -> int:
    """Days of metrics `rule` reads, counting the day (0: none)."""
    if isinstance(rule, MetricTrend):
        return rule.days + rule.baseline_days
    if isinstance(rule, Silence):
        return rule.lookback_days
    if isinstance(rule, Flag):
        return rule.within_days
    if isinstance(rule, MetricAbove):
        return rule.days
    return 0


def _metric_spans(rules: Rules) -> dict[str, int]:
    """metric -> days of it the enabled rules read, counting the day."""
    spans: dict[str, int] = {}
    for rule in rules.enabled:
        for metric in _metrics(rule):
            spans[metric] = max(spans.get(metric, 0), _metric_span(rule))
    return spans


def _metrics(rule: Rule) -> list[str]:
    if isinstance(rule, Silence):
        return list(rule.metrics)
    if isinstance(rule, MetricTrend | Flag | MetricAbove):
        return [rule.metric]
    return []


def evaluate(conn: Connection, rules: Rules, scorecard: Scorecard, day: date, lookback: int = 1) -> list[Firing]:
    """Every enabled rule's firings on `day`, for the accounts that were customers that day.

    `lookback`: days a day-to-day rule (tier_dropped) compares over: 1 (the day before) on every run but a
    first one, which looks over its whole window (`[budget] first_run_days`), so a drop the day before the
    first run is not missed."""
    accounts = account_store.accounts_frame(conn, active_on=day)
    n_score_days = _score_days(rules, lookback)
    scores = score_store.scores_on(conn, [day - timedelta(days=k) for k in range(n_score_days)])
    by_span: dict[int, list[str]] = {}
    for metric, span in _metric_spans(rules).items():  # a flag read for 7 days is not read for 60
        by_span.setdefault(span, []).append(metric)
    obs = [score_store.observations(conn, day - timedelta(days=span - 1), day, ms) for span, ms in by_span.items()]
    return evaluate_frames(accounts, scores, obs, rules, scorecard, day, lookback)


def evaluate_frames(
    accounts: pd.DataFrame,
    scores: pd.DataFrame,
    obs: Sequence[pd.DataFrame],
    rules: Rules,
    scorecard: Scorecard,
    day: date,
    lookback: int = 1,
) -> list[Firing]:
    """`evaluate` on frames already read: `accounts` as `accounts_frame` (only those that may fire),
    `scores` as `scores_on` (the days `_score_days` asks for), `obs` as `observations` (frames of the
    rules' metrics, each read far enough back for the rules reading it, up to `day`)."""
    accounts = accounts.sort_values("id").reset_index(drop=True)  # the panel's row order
    ids = accounts["id"].to_numpy(dtype=np.int64)
    if not len(ids):
        return []
    dn = day_number(day)
    n_score_days = _score_days(rules, lookback)
    score = np.full((len(ids), n_score_days), np.nan)  # column k: k days before `day`
    tier = np.full((len(ids), n_score_days), None, dtype=object)
    if len(scores):
        rows = pd.Index(ids).get_indexer(scores["account_id"].to_numpy())
        cols = dn - scores["day_num"].to_numpy(dtype=np.int64)
        ok = (rows >= 0) & (cols >= 0) & (cols < n_score_days)
        score[rows[ok], cols[ok]] = scores["score"].to_numpy(dtype=float)[ok]
        tier[rows[ok], cols[ok]] = scores["tier"].to_numpy(dtype=object)[ok]

    spans = _metric_spans(rules)
    values: dict[str, np.ndarray] | None = None
    if any(len(frame) and int(frame["day_num"].max()) >= dn for frame in obs):
        values = {m: np.full((len(ids), span), np.nan) for m, span in spans.items()}
        for frame in obs:
            metric = frame["metric"]
            names = metric.cat.categories if isinstance(metric.dtype, pd.CategoricalDtype) else metric.unique()
            names = [str(m) for m in names if m in spans]
            if names:
                span = max(spans[m] for m in names)
                values.update(Panel.from_long(ids, frame, dn - span + 1, dn, names).values)
    # no metric row on `day` at all: its data has not arrived, and reading that as "no logins"
    # would invent a silence or a decline for everyone; metric rules wait for it.

    ctx = _Context(accounts, ids, score, tier, values, scorecard, day, lookback)
    out: list[Firing] = []
    for rule in rules.enabled:
        out.extend(ctx.fire(rule))
    return out


@dataclass
class _Context:
    accounts: pd.DataFrame
    ids: np.ndarray
    score: np.ndarray  # (accounts, days back)
    tier: np.ndarray
    values: dict[str, np.ndarray] | None  # metric -> (accounts, days up to `day`); None: no data for the day
    scorecard: Scorecard
    day: date
    lookback: int = 1  # days tier_dropped compares over (the day before, or a first run's whole window)

    def window(self, metric: str, days: int) -> np.ndarray:
        """The last `days` columns of `metric` (NaN = no row), oldest first."""
        assert self.values is not None
        arr = self.values[metric]
        return arr[:, max(arr.shape[1] - days, 0) :]

    def rank(self, tiers: np.ndarray) -> np.ndarray:
        """Tier position (0 = best), -1 for none."""
        order = {t: i for i, t in enumerate(self.scorecard.tiers.order)}
        return np.array([order.get(t, -1) for t in tiers], dtype=np.int64)

    def in_segments(self, rule: Rule) -> np.ndarray:
        if rule.segments is None:
            return np.ones(len(self.ids), dtype=bool)
        wanted = [s.strip().casefold() for s in rule.segments]
        seg = self.accounts["segment"].astype("string").str.strip().str.casefold()
        return seg.isin(wanted).fillna(False).to_numpy(dtype=bool)

    def fire(self, rule: Rule) -> list[Firing]:
        needs_metrics = bool(_metrics(rule))
        if needs_metrics and self.values is None:
            return []
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            hit, figures, severity = self._condition(rule)
        rows = np.flatnonzero(hit & self.in_segments(rule))
        label = self.scorecard.tiers.label
        out = []
        for row in rows.tolist():
            detail = {k: _plain(v[row]) for k, v in figures.items()}
            sev = rule.severity if severity is None else str(severity[row])
            code = reasons.reason_code(rule, detail)
            words = reasons.worded(code, label)
            out.append(Firing(int(self.ids[row]), rule.name, rule.kind, sev, detail, words, code))
        return out

    def _condition(self, rule: Rule) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray | None]:
        """Where `rule` holds, the figures its detail quotes, and per-account severities (None: the rule's)."""
        n = len(self.ids)
        today = self.score[:, 0]
        if isinstance(rule, TierDropped):
            # the day before's tier; on a first run the healthiest of the window's days (`lookback`): a drop
            # the day before the first run, or three days before it, is still a drop
            ranks = np.stack([self.rank(self.tier[:, k]) for k in range(1, self.lookback + 1)], axis=1)
            best = np.where(ranks >= 0, ranks, np.iinfo(np.int64).max).min(axis=1)
            before = np.where(best == np.iinfo(np.int64).max, -1, best)
            order = np.array(self.scorecard.tiers.order, dtype=object)
            was = order[np.clip(before, 0, len(order) - 1)]
            was[before < 0] = None
            now = self.rank(self.tier[:, 0])
            into = self.rank(np.array(riskiest(rule, self.scorecard.tiers), dtype=object))
            hit = (before >= 0) & (now > before) & np.isin(now, into)
            # never milder than the tier it dropped into: that tier's playbook applies
            sev_rank = np.maximum(now, self.rank(np.array([rule.severity], dtype=object))[0])
            severity = order[np.clip(sev_rank, 0, len(order) - 1)]
            return hit, {"old_tier": was, "new_tier": self.tier[:, 0], "score": today}, severity
        if isinstance(rule, ScoreBelow):
            last = self.score[:, : rule.days]
            hit = (~np.isnan(last)).all(axis=1) & (last < rule.below).all(axis=1)
            return hit, {"below": np.full(n, rule.below), "days": np.full(n, rule.days), "score": today}, None
        if isinstance(rule, RenewalNear):
            renewal = pd.to_datetime(self.accounts["renewal_date"], errors="coerce")
            to_renewal = (renewal - pd.Timestamp(self.day)).dt.days.to_numpy(dtype=float, na_value=np.nan)
            worse = self.rank(self.tier[:, 0]) >= self.scorecard.tiers.order.index(rule.min_tier)
            hit = (to_renewal >= 0) & (to_renewal <= rule.within_days) & worse
            return hit, {"days_to_renewal": to_renewal, "tier": self.tier[:, 0], "score": today}, None
        if isinstance(rule, MetricTrend):
            w = np.nan_to_num(self.window(rule.metric, rule.days + rule.baseline_days), nan=0.0)
            seen = ~np.isnan(self.window(rule.metric, rule.days + rule.baseline_days)).all(axis=1)
            recent = w[:, -rule.days :].sum(axis=1) / rule.days
            base = w[:, : -rule.days].sum(axis=1) / rule.baseline_days
            change = np.where(base > 0, recent / base - 1.0, np.nan)
            hit = seen & (base > 0) & (base >= rule.min_baseline) & (change <= rule.at_most)
            return hit, {"change": change, "recent": recent, "base": base}, None
        if isinstance(rule, Silence):
            active_any = np.zeros(self.window(rule.metrics[0], rule.lookback_days).shape, dtype=bool)
            for metric in rule.metrics:
                active_any |= np.nan_to_num(self.window(metric, rule.lookback_days), nan=0.0) > 0
            ever = active_any.any(axis=1)
            since = np.where(ever, np.argmax(active_any[:, ::-1], axis=1), np.nan)
            return ever & (since >= rule.days), {"days_since": since}, None
        if isinstance(rule, Flag):
            w = self.window(rule.metric, rule.within_days)
            up = np.nan_to_num(w, nan=-np.inf) >= rule.threshold
            hit = up.any(axis=1)
            days_ago = np.where(hit, np.argmax(up[:, ::-1], axis=1), np.nan)
            return hit, {"days_ago": days_ago}, None
        if isinstance(rule, MetricAbove):
            w = self.window(rule.metric, rule.days)
            has = ~np.isnan(w)
            anyv = has.any(axis=1)
            idx = np.where(anyv, w.shape[1] - 1 - np.argmax(has[:, ::-1], axis=1), 0)
            value = np.where(anyv, w[np.arange(n), idx] if w.shape[1] else np.nan, np.nan)
            return anyv & (value > rule.above), {"value": value}, None
        raise ValueError(f"unknown rule kind {rule.kind}")  # pragma: no cover - validated at load


def _plain(value: Any) -> Any:
    """A numpy scalar as a JSON-friendly Python value (NaN as None, whole floats kept as floats)."""
    if value is None or isinstance(value, str):
        return value
    x = float(value)
    return None if x != x else round(x, 4)


def worded_in(channel: str | None, firings: Sequence[Firing], rules: Rules, scorecard: Scorecard) -> list[Firing]:
    """`firings` worded in `channel`'s language: the rules are evaluated once for every channel, in the default
    language, and an alert's reasons are read by its channel."""
    by_name = {r.name: r for r in rules.enabled}
    with speaking_in(channel):
        return [
            replace(f, words=_words(by_name[f.rule], f.detail, scorecard.tiers.label)) if f.rule in by_name else f
            for f in firings
        ]


def _words(rule: Rule, detail: dict[str, Any], label: Any) -> str:
    """The sentence the thread shows for a firing (prompts/alerts.toml), in the current language."""
    return reasons.worded(reasons.reason_code(rule, detail), label)


def due(firings: list[Firing], rules: Rules, last_alerted: Mapping[tuple[int, str], date], day: date) -> list[Firing]:
    """The firings that may alert on `day`: those whose (account, rule) last alerted at least the rule's
    `cooldown_days` ago, or never. `last_alerted` is the alert job's record (account_id, rule name) ->
    day of the last alert, resolved or not; an open alert is the job's to keep, not a new one."""
    out = []
    for f in firings:
        last = last_alerted.get((f.account_id, f.rule))
        if last is None or (day - last).days >= rules.cooldown(rules.rule(f.rule)):
            out.append(f)
    return out


def digest_moves(
    conn: Connection, scorecard: Scorecard, day: date, since: date, alerted: Collection[int]
) -> list[Move]:
    """Accounts (customers on `day`) whose tier on `day` is worse than on `since` and that are not in
    `alerted` (the accounts that raised an alert in between): the weekly digest's moves, worst first."""
    accounts = account_store.accounts_frame(conn, active_on=day)
    scores = score_store.scores_on(conn, [since, day])
    rank = {t: i for i, t in enumerate(scorecard.tiers.order)}
    by_day = {int(d): f.set_index("account_id") for d, f in scores.groupby("day_num")}
    now, before = by_day.get(day_number(day)), by_day.get(day_number(since))
    if now is None or before is None:
        return []
    both = now.join(before.add_suffix("_before"), how="inner")
    both = both[both.index.isin(accounts["id"]) & ~both.index.isin(list(alerted))]
    worse = both["tier"].map(rank) > both["tier_before"].map(rank)
    moved = both[worse.fillna(False).astype(bool)]
    moved = moved.assign(r=moved["tier"].map(rank)).sort_values(["r", "score"], ascending=[False, True])
    return [
        Move(int(i), str(r.tier_before), str(r.tier), float(r.score))
        for i, r in zip(moved.index, moved.itertuples(), strict=True)
    ]
