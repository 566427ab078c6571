"""How the scoring commands write numbers, shares, AUCs, dates and the names of metrics and measures."""

from __future__ import annotations

from datetime import date

from bot.scoring.explain import metric_label
from bot.scoring.scorecard import Measure
from prompts import formats, raw, say


def percent(share: float | None, decimals: int = 0, missing: str = "–", *, tight: bool = False) -> str:
    """A share as a percent with `decimals` digits after the point, as the language writes one (prompts.formats:
    "40 %", "12.5 %"; "40%" in Chinese; `tight`, the backtest table's: "12.5%"); `missing` when there is none
    ("–"; `scorecard suggest` prints "-")."""
    return missing if share is None else formats.percent(share, decimals, tight=tight)


def auc(value: float | None, missing: str = "n/a") -> str:
    """A ROC AUC to three digits ("0.712"); `missing` when there is none."""
    return missing if value is None else f"{value:.3f}"


def number(x: float) -> str:
    """A number as a reader takes it in: whole numbers whole, others to about three significant digits; from a
    million on, three significant digits and a word ("2.39 trillion")."""
    for power, word in ((12, "trillion"), (9, "billion"), (6, "million")):
        if abs(x) >= 10**power:
            v = x / 10**power
            return say(f"suggest.number.{word}", x=f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}")
    if abs(x - round(x)) < 1e-9 or abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.1f}" if abs(x) >= 10 else f"{x:.3g}"


def change(x: float, *, plus_zero: bool = False) -> str:
    """A relative change as a signed whole percent (prompts.formats: "-34 %", "+2 %"; "-34%" in Chinese); one that
    rounds to none reads "±0 %" (`plus_zero`: "+0 %", as the shapes card's band points read)."""
    return formats.change(x, plus_zero=plus_zero)


def dates(days: list[date]) -> str:
    """Days as a list, as the language lists ("2026-05-01, 2026-04-01"; "2026-05-01和2026-04-01")."""
    return formats.listing(d.isoformat() for d in days)


def label(source: str) -> str:
    """A metric or field in words, as the reasons name it, acronyms in capitals ("API calls")."""
    return _with_acronyms(str(raw("reasons.field_labels").get(source) or metric_label(source)))


def _with_acronyms(words: str) -> str:
    known = {str(a).casefold(): str(a) for a in raw("suggest.acronyms")}
    return " ".join(known.get(w.casefold(), w) for w in words.split(" "))


def capitalised(label: str) -> str:
    """A group's label: the first letter up ("Tenure", "API calls"), the rest as it is."""
    return label[:1].upper() + label[1:]


def measure_words(m: Measure) -> str:
    """A measure as a sentence names it: "login, last 7 days vs the 28 before", "days since the last login"."""
    if m.label:
        label = m.label_here() or m.label
    elif m.field:
        label = str(raw("reasons.field_labels").get(m.field, m.field.replace("_", " ")))
    else:
        label = metric_label(m.source)
    key = f"level_{m.aggregate}" if m.transform == "level" else m.transform
    days = say("tune.day") if m.days == 1 else say("tune.days", n=m.days)
    return say(
        f"tune.measure.{key}", label=label, days=days, baseline_days=m.baseline_days, threshold=f"{m.threshold:g}"
    )
