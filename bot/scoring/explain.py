"""Turn a measure's figures into the sentence a CSM reads ("logins -62 % vs prior 4 weeks").

Which wording each kind of measure gets (0/1 states, counts, readings, account fields) is described in
prompts/reasons.toml, beside the wordings themselves.
"""

from __future__ import annotations

import math
import re
from typing import Any

from bot.scoring.scorecard import Measure, Tiers
from prompts import current, fill, formats, raw, say
from storage.types import Driver

CATEGORY_CHARS = 60  # a category value longer than this is clipped in a reason
AT_RISK_TIERS = 2  # "MRR at risk" is the MRR of the accounts in this many of the scorecard's riskiest tiers


# --- how a score reads, on every surface (card, lists, Home, digest, alerts, the CLI) ------------------------


def score_text(score: float) -> str:
    """A score as a whole number, rounded down: tier cutoffs are whole numbers, so 39.7 (High risk below 40)
    reads 39, never a "40" that looks like Medium risk. The one rule for every displayed score."""
    return str(math.floor(score + 1e-9))


def score_change(score: float, change: float | None) -> str:
    """A change of score with its sign, as the difference of the two scores as they read (`score_text`): 39.6
    after 70.0 reads "-31", beside a "39" and a "70" a week ago. "±0" when they read the same; "–" unknown."""
    if change is None or not math.isfinite(change):
        return "–"
    whole = int(score_text(score)) - int(score_text(score - change))
    return "±0" if whole == 0 else f"{whole:+d}"


def _tier_by_score(score: float, tiers: Tiers) -> str:
    return next((t for t in tiers.order if score >= tiers.cutoffs[t]), tiers.order[-1])


def held_note(score: float, tier: str, tiers: Tiers) -> str | None:
    """Why a stored tier is not the one the score alone gives: hysteresis (`tiers.hysteresis`) holds it until
    the score is that many points past the cutoff ("held: needs 83 to move up"). None when the tiers agree, or
    when the gap is more than hysteresis explains (a tier stored under other cutoffs)."""
    order = tiers.order
    by_score = _tier_by_score(score, tiers)
    if tier not in order or tier == by_score:
        return None
    held = order.index(tier)
    if order.index(by_score) < held:  # the score earns a better tier, by less than the margin
        until = tiers.cutoffs[order[held - 1]] + tiers.hysteresis
        key = "health.held.up" if score < until else None
    else:  # the score fell below the held tier's cutoff, by less than the margin
        until = tiers.cutoffs[tier] - tiers.hysteresis
        key = "health.held.down" if score >= until else None
    figures = {"until": f"{until:g}", "cutoff": f"{tiers.cutoffs[tier]:g}", "margin": f"{tiers.hysteresis:g}"}
    return say(key, **figures) if key else None


def tier_text(score: float | None, tier: str, tiers: Tiers) -> str:
    """A tier's label as it reads beside its score: "Medium risk", or "Low risk (held: needs 83 to move up)"."""
    note = held_note(score, tier, tiers) if score is not None else None
    return say("health.held.tier", tier=tiers.label(tier), note=note) if note else tiers.label(tier)


def at_risk_tiers(tiers: Tiers) -> list[str]:
    """The tiers of "MRR at risk", healthiest of them first: the scorecard's two riskiest, never its healthiest
    (a two-tier scorecard has one)."""
    return tiers.order[max(1, len(tiers.order) - AT_RISK_TIERS) :]


def metric_label(metric: str) -> str:
    """How a metric reads in sentences: its label in prompts/metrics.toml, else its id in words."""
    label = raw("metrics.labels").get(metric)
    if label:
        return str(label)
    for prefix in raw("reasons.names.drop_prefixes"):
        if metric.startswith(prefix) and len(metric) > len(prefix):
            metric = metric[len(prefix) :]
            break
    return metric.replace("_", " ")


# --- a reason as data: worded when shown, in the reader's language ------------------------------------------------
#
# `reason_code(measure, figures)` says which template of prompts/reasons.toml a reason takes ("t") and its values
# ("v"): each a literal (a number as written, a category's value, a scorecard's own label) or a [kind, value] pair
# worded when shown ("metric", "field", "span", "days", "duration", "pct", "agg", "unset", "counted", "joined"; "label",
# a scorecard's own label with its other languages: ["label", "the international plan", {"zh-CN": "国际套餐"}]).
# A score stores it beside the reason's text (storage.types.Driver.words), so the card reads in its reader's
# language; `reason_text` words it at once (English at scoring time: the stored text).

Part = str | list[Any]
Code = dict[str, Any]
_NEEDS_FILL = re.compile(r"\{\w+:|[*_~]\{")


def _span(days: int) -> str:
    words = raw("reasons.spans")
    if days % 7 == 0 and days >= 14:
        return str(words["weeks"]).format(n=days // 7)
    return str(words["day"]) if days == 1 else str(words["days"]).format(n=days)


def _days(n: int) -> str:
    words = raw("reasons.durations")
    return str(words["day"]) if n == 1 else str(words["days"]).format(n=n)


def _num(x: float) -> str:
    return f"{x:.0f}" if abs(x - round(x)) < 0.05 or abs(x) >= 10 else f"{x:.1f}"


def _amount(x: float) -> str:
    """A number for a sentence: "12,000", "3.2"; one too large to read in full as "1.2e+20"; "?" when unknown."""
    if not math.isfinite(x):
        return "?"
    if abs(x) >= 1e15:
        return f"{x:.2g}"
    return f"{x:,.0f}" if abs(x) >= 1000 else _num(x)


def _pct(change: float) -> str:
    """A change in whole percent with its sign, as the language writes a percent (prompts.formats.change)."""
    return formats.change(change)


def _duration(days: float) -> str:
    """Days in the unit a person would use: "45 days", "3 months", "2.5 years"."""
    if not math.isfinite(days):
        return "?"
    words = raw("reasons.durations")
    days = abs(days)
    if days < words["days_below"]:
        n = round(days)
        return words["day"] if n == 1 else words["days"].format(n=n)
    months = days / 30.4375
    if round(months) < words["months_below"]:
        n = round(months)
        return words["month"] if n == 1 else words["months"].format(n=n)
    years = days / 365.25
    n_text = _amount(years) if years >= 10 else _num(years)
    return words["year"] if n_text == "1" else words["years"].format(n=n_text)


def _counted(value: str, noun: str) -> str:
    """`noun` as it reads after `value`: one "service call", not "1 service calls"."""
    if value == "1" and noun.endswith("s") and not noun.endswith("ss"):
        return noun[:-1]
    return noun


def _joined(parts: list[str]) -> str:
    """ "A", "A and B", "A, B and C"."""
    if len(parts) < 2:
        return "".join(parts)
    return say("reasons.cap_joiner").join(parts[:-1]) + say("reasons.cap_last_joiner") + parts[-1]


def _number(kind: str, x: float, words: Any) -> Part:
    """A figure worded when shown; one that is not finite (kept out of JSON) as it reads now."""
    return [kind, x] if math.isfinite(x) else str(words(x))


def _word(part: Part) -> str:
    if isinstance(part, str):
        return part
    kind, *args = part
    if kind == "metric":
        return metric_label(str(args[0]))
    if kind == "label":  # a scorecard's own label, in the reader's language if it names one
        return str(args[1].get(current(), args[0]))
    if kind == "field":
        return str(raw("reasons.field_labels").get(args[0], str(args[0]).replace("_", " ")))
    if kind == "counted":
        return _counted(str(args[0]), _word(args[1]))
    if kind == "joined":
        return _joined([worded(c) for c in args[0]])
    if kind == "agg":
        return str(raw("reasons.aggregate_words")[args[0]])
    if kind == "unset":
        return say("reasons.category_unset")
    words = {"span": _span, "days": _days, "duration": _duration, "pct": _pct}[kind]
    return str(words(args[0]))


def worded(code: Code) -> str:
    """A reason code in words, in the current language."""
    template = str(raw(f"reasons.{code['t']}"))
    values = {k: _word(p) for k, p in code["v"].items()}
    if not values:
        return template
    # str.format (C) where `fill` would do the same: no count's nouns and no wrapped field (scoring words many)
    return fill(template, **values) if _NEEDS_FILL.search(template) else template.format(**values)


_LITERAL_KINDS = frozenset({"metric", "field", "agg", "unset"})  # words from strings alone


def _part_key(part: Part) -> Any:
    if isinstance(part, str):
        return part
    kind = part[0]
    if kind in _LITERAL_KINDS:
        return tuple(part)
    if kind == "pct":  # `_pct` reads the whole percent alone
        return kind, round(part[1] * 100)
    if kind == "counted":
        return kind, part[1], _part_key(part[2])
    if kind == "joined":
        return kind, tuple(wording_key(c) for c in part[1])
    if kind == "label":  # a scorecard's own label and its other languages
        return kind, part[1], tuple(sorted(part[2].items()))
    return kind, *((a.__class__, a) for a in part[1:])  # 28 and 28.0 may read differently


def wording_key(code: Code) -> tuple[Any, ...]:
    """What `worded(code)` depends on, hashable: two codes with the same key read the same in one language (a
    trend's change only to the whole percent), so a run's many reasons are worded once per distinct key."""
    key: list[Any] = [code["t"]]
    for name, part in code["v"].items():
        key.append(name)
        key.append(_part_key(part))
    return tuple(key)


def driver_reason(driver: Driver) -> str:
    """A stored driver in the reader's language: its code worded, else (a row stored before codes, or one whose
    code this version cannot word) its stored text."""
    if driver.words:
        try:
            return worded(driver.words)
        except (KeyError, IndexError, TypeError, ValueError):
            pass
    return driver.reason


def cap_code(conditions: list[Code], at_most: float) -> Code:
    """Why a cap holds the score down: the reasons of its conditions, and the ceiling."""
    return {"t": "cap", "v": {"conditions": ["joined", conditions], "at_most": _num(at_most)}}


def _name(m: Measure) -> Part:
    if m.label:
        return ["label", m.label, m.labels_in] if m.labels_in else m.label
    if m.field:
        return ["field", m.field]
    return ["metric", m.source]


def _is_state(m: Measure, value: float) -> bool:
    """A level measure reading a 0/1 state (see prompts/reasons.toml): the value is exactly 0 or 1."""
    return m.aggregate in ("mean", "last") and all(0 <= x <= 1 for x, _ in m.bands) and (value == 0 or value == 1)


def _state(m: Measure, value: float) -> Code:
    table, name = "state", _name(m)
    if not m.label and m.source not in raw("metrics.labels"):
        for prefix, key in (("is_", "state_is"), ("has_", "state")):
            if m.source.startswith(prefix) and len(m.source) > len(prefix):
                table, name = key, m.source[len(prefix) :].replace("_", " ")
    return {"t": f"{table}.{'on' if value == 1 else 'off'}", "v": {"metric": name}}


def _level(m: Measure, value: float) -> Code:
    metric, shown = _name(m), _amount(value)
    figures: dict[str, Part] = {
        "metric": metric,
        "aggregate_word": ["agg", m.aggregate],
        "value": shown,
        "days": ["span", m.days],
    }
    if m.metric in raw("reasons.level_by_metric"):
        return {"t": f"level_by_metric.{m.metric}", "v": figures}
    if _is_state(m, value):
        return _state(m, value)
    count = m.fill == "zero"  # a missing day is none of it: a count, not a reading
    if m.aggregate == "sum" or (count and m.aggregate == "mean" and m.days == 1):
        key = "level_count"
    elif m.aggregate == "mean" and count:
        key = "level_per_day"
    elif m.aggregate == "last":
        key = "level_last_count" if count else "level_last"
    else:
        key = "level"
    if key in ("level_count", "level_per_day", "level_last_count"):
        figures["metric"] = ["counted", shown, metric]
    return {"t": key, "v": figures}


def _category(value: object) -> Part:
    text = " ".join(str(value or "").replace("_", " ").split())
    if not text:
        return ["unset"]
    return text if len(text) <= CATEGORY_CHARS else text[: CATEGORY_CHARS - 1] + "…"


def _field(m: Measure, figures: dict[str, Any]) -> Code:
    fields, name = raw("reasons.fields"), _name(m)
    field = str(m.field)
    if m.is_category:
        value = _category(figures["category"])
        if field == "plan" and isinstance(value, str) and value.casefold().endswith(" plan"):
            value = value[: -len(" plan")]
        own = not m.label and field in fields
        return {"t": f"fields.{field}" if own else "field_category", "v": {"field": name, "value": value}}
    x = float(figures["value"])
    if field == "tenure_days":
        return {"t": "fields.tenure_days", "v": {"value": _number("duration", x, _duration)}}
    if field == "days_to_renewal":
        if math.isfinite(x) and round(x) == 0:
            return {"t": "fields.days_to_renewal_today", "v": {}}
        key = "days_to_renewal_past" if x < 0 else "days_to_renewal"
        return {"t": f"fields.{key}", "v": {"value": _number("duration", x, _duration)}}
    shown = _amount(x)
    return {
        "t": f"fields.{field}" if field in fields else "field",
        "v": {"field": ["counted", shown, name], "value": shown},
    }


def reason_code(m: Measure, figures: dict[str, Any]) -> Code:
    """The reason a measure's figures give, as data (see above)."""
    metric = _name(m)
    t = m.transform
    if t == "field":
        return _field(m, figures)
    if t == "level":
        return _level(m, float(figures["value"]))
    if t == "trend":
        change = _number("pct", figures["change"], _pct)
        return {"t": "trend", "v": {"metric": metric, "change": change, "baseline": ["span", m.baseline_days]}}
    if t == "recency":
        return {"t": "recency", "v": {"metric": metric, "days_since": ["days", int(figures["days_since"])]}}
    if t == "ratio":
        usual, span = _num(figures["usual"]), ["span", m.days]
        if figures["recent"] == 0:
            return {"t": "ratio_silence", "v": {"metric": metric, "days": span, "usual": usual}}
        recent = _num(figures["recent"])
        values = {"metric": ["counted", recent, metric], "recent": recent, "days": span, "usual": usual}
        return {"t": "ratio_spike", "v": values}
    if t == "flag":
        return {"t": "flag_none" if figures["flag"] == 0 else "flag", "v": {"metric": metric, "days": ["span", m.days]}}
    change = _number("pct", figures["change"], _pct)  # renewal
    values = {"metric": metric, "change": change, "days_to_renewal": ["days", int(figures["days_to_renewal"])]}
    return {"t": "renewal", "v": values}


def reason_text(m: Measure, figures: dict[str, Any]) -> str:
    """A measure's figures in words, in the current language."""
    return worded(reason_code(m, figures))
