"""Turn a measure's figures into the sentence a CSM reads ("logins -62 % vs prior 4 weeks")."""

from __future__ import annotations

from bot.scoring.scorecard import Measure
from prompts import raw, say


def metric_label(metric: str) -> str:
    return raw("metrics.labels").get(metric, metric.replace("_", " "))


def _span(days: int) -> str:
    if days % 7 == 0 and days >= 14:
        return f"{days // 7} weeks"
    return "day" if days == 1 else f"{days} days"


def _days(n: int) -> str:
    return "1 day" if n == 1 else f"{n} days"


def _num(x: float) -> str:
    return f"{x:.0f}" if abs(x - round(x)) < 0.05 or abs(x) >= 10 else f"{x:.1f}"


def _pct(change: float) -> str:
    """A change in whole percent with its sign; one that rounds to nothing reads "±0 %", never "-0 %"."""
    whole = round(change * 100)
    return "±0 %" if whole == 0 else f"{whole:+d} %"


def reason_text(m: Measure, figures: dict[str, float]) -> str:
    metric = metric_label(m.metric)
    t = m.transform
    if t == "level":
        word = raw("reasons.aggregate_words")[m.aggregate]
        key = "level_last" if m.aggregate == "last" else "level"
        template = raw("reasons.level_by_metric").get(m.metric) or raw(f"reasons.{key}")
        return template.format(metric=metric, aggregate_word=word, value=_num(figures["value"]), days=_span(m.days))
    if t == "trend":
        return say("reasons.trend", metric=metric, change=_pct(figures["change"]), baseline=_span(m.baseline_days))
    if t == "recency":
        return say("reasons.recency", metric=metric, days_since=_days(int(figures["days_since"])))
    if t == "ratio":
        usual = _num(figures["usual"])
        if figures["recent"] == 0:
            return say("reasons.ratio_silence", metric=metric, days=_span(m.days), usual=usual)
        return say(
            "reasons.ratio_spike", metric=metric, recent=_num(figures["recent"]), days=_span(m.days), usual=usual
        )
    if t == "flag":
        return say("reasons.flag", metric=metric, days=_span(m.days))
    if t == "renewal":
        return say(
            "reasons.renewal", metric=metric, change=_pct(figures["change"]),
            days_to_renewal=_days(int(figures["days_to_renewal"])),
        )  # fmt: skip
    return metric
