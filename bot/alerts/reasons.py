"""Why an alert rule fired, as data worded when shown: a reason code (`{"t": key, "v": values}`, as a score's
drivers store theirs, bot/scoring/explain.py) that `worded` turns into the sentence of prompts/alerts.toml in the
current language. An alert stores it with each firing (storage.types.FiringEntry.reason), so the thread reads in
its channel's language and the owner's DM in the owner's; a firing stored before codes shows its stored words.

A value is a literal (a number as written, a score) or a [kind, value] pair worded when shown: "tier" and
"tier_lower" (the scorecard's label), "metrics" (several metrics joined by "or"), "code" (a nested reason), and
those of explain.py ("metric", "span", "days", "pct")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.alerts.rules import Flag, MetricAbove, MetricTrend, RenewalNear, Rule, ScoreBelow, Silence, TierDropped
from bot.scoring.explain import _num, _word, metric_label, score_text
from bot.scoring.scorecard import Tiers
from prompts import raw, say
from storage.types import FiringEntry

Code = dict[str, Any]
Label = Callable[[str], str]


def reason_code(rule: Rule, detail: dict[str, Any]) -> Code:
    """Why `rule` fired with these figures (a firing's detail), as a code."""
    score = "–" if detail.get("score") is None else score_text(detail["score"])
    if isinstance(rule, TierDropped):
        values = {"old_tier": ["tier", detail["old_tier"]], "new_tier": ["tier", detail["new_tier"]], "score": score}
        return {"t": "tier_dropped", "v": values}
    if isinstance(rule, ScoreBelow):
        return {"t": "score_below", "v": {"below": _num(rule.below), "days": rule.days, "score": score}}
    if isinstance(rule, RenewalNear):
        values = {"days_to_renewal": ["days", int(detail["days_to_renewal"])], "tier": ["tier_lower", detail["tier"]]}
        return {"t": "renewal_near", "v": values}
    if isinstance(rule, MetricTrend):
        values = {"metric": ["metric", rule.metric], "change": ["pct", detail["change"]]}
        return {"t": "metric_trend", "v": values | {"baseline": ["span", rule.baseline_days]}}
    if isinstance(rule, Silence):
        values = {"metrics": ["metrics", list(rule.metrics)], "days_since": ["days", int(detail["days_since"])]}
        return {"t": "silence", "v": values}
    if isinstance(rule, Flag):
        ago = int(detail["days_ago"])
        when = {"t": "flag_today", "v": {}} if ago == 0 else {"t": "flag_days_ago", "v": {"days": ["days", ago]}}
        return {"t": "flag", "v": {"metric": ["metric", rule.metric], "when": ["code", when]}}
    if isinstance(rule, MetricAbove):
        own = rule.metric in raw("alerts.metric_above_by_metric")
        key = f"metric_above_by_metric.{rule.metric}" if own else "metric_above"
        values = {"metric": ["metric", rule.metric], "value": _num(detail["value"]), "above": _num(rule.above)}
        return {"t": key, "v": values}
    return {"t": "", "v": {}}  # pragma: no cover - every kind is above


def _part(part: Any, label: Label) -> Any:
    if not isinstance(part, list):
        return part
    kind, value = part
    if kind == "tier":
        return label(str(value))
    if kind == "tier_lower":
        return label(str(value)).lower()
    if kind == "metrics":
        return say("alerts.silence_joiner").join(metric_label(str(m)) for m in value)
    if kind == "code":
        return worded(value, label)
    return _word(part)


def worded(code: Code, label: Label) -> str:
    """A firing's reason code in words, in the current language (`label`: the scorecard's tier labels)."""
    return say(f"alerts.{code['t']}", **{k: _part(p, label) for k, p in code["v"].items()})


def firing_text(rule: str, entry: FiringEntry, tiers: Tiers) -> str:
    """A stored firing in the reader's language: its code worded, else (stored before codes, or a code this version
    cannot word) its stored words, else the rule's name."""
    if entry.reason:
        try:
            return worded(entry.reason, tiers.label)
        except (KeyError, IndexError, TypeError, ValueError):
            pass
    return entry.words or rule
