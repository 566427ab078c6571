"""Numbers, percentages, amounts, days and weekdays in the current language (`prompts.current()`), through Babel.

Each language's patterns are in its `formats.toml` (English: `prompts/formats.toml`); Babel's locale data gives
the separators, the currency's symbol and the names of weekdays. The rounding is Python's own (`f"{x:.1f}"`,
half to even on the binary value), so English reads exactly as before these helpers existed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from functools import cache

from babel import Locale
from babel.dates import format_date, get_day_names
from babel.lists import format_list
from babel.numbers import format_currency

from prompts import HAN, current, raw

CURRENCY = "USD"  # what MRR is counted in
_HAN_CHAR = re.compile(f"[{HAN}]")


@cache
def _locale(language: str) -> Locale:
    return Locale.parse(language.replace("-", "_"))


def _symbols(language: str) -> tuple[str, str]:
    """The group and decimal separators of `language`'s Latin digits."""
    symbols = _locale(language).number_symbols
    latn = symbols.get("latn", symbols)  # Babel >= 2.14 keys them by numbering system
    return latn.get("group", ","), latn.get("decimal", ".")


def number(x: float, decimals: int = 0) -> str:
    """`x` with thousands grouped and `decimals` digits after the point ("1,234", "12.5")."""
    group, decimal = _symbols(current())
    return f"{x:,.{decimals}f}".translate({ord(","): group, ord("."): decimal})


def percent(share: float, decimals: int = 0, *, tight: bool = False) -> str:
    """A share (0.4) as a percent ("40 %" in English, "40%" in Chinese); `tight`: the sign against the number as
    a sentence writes it ("40%", the churn review's English)."""
    return str(raw("formats.percent_tight" if tight else "formats.percent")).format(
        number=number(share * 100, decimals)
    )


def change(share: float, *, plus_zero: bool = False) -> str:
    """A change as a whole percent with its sign ("-62 %", "+5 %"; "-62%" in Chinese); one that rounds to nothing
    reads "±0 %" (`plus_zero`: "+0 %", as the shapes card's band points read), never "-0 %"."""
    whole = round(share * 100)
    return str(raw("formats.percent")).format(number=f"{whole:+d}" if whole else "+0" if plus_zero else "±0")


def money(x: float) -> str:
    """Whole currency units with the symbol ("$1,234", "-$1,234"; "US$1,234" in Chinese); never "$-0"."""
    whole = round(x) or 0  # -0.4 rounds to -0, shown as 0
    return format_currency(
        whole, CURRENCY, format=raw("formats.money"), locale=_locale(current()), currency_digits=False
    )


def day(d: date) -> str:
    """A day ("2026-12-07"; "2026年12月7日")."""
    return format_date(d, raw("formats.day"), locale=_locale(current()))


def weekday(d: date) -> str:
    """A day's weekday, short ("Mon"; "周一")."""
    return format_date(d, raw("formats.weekday"), locale=_locale(current()))


def day_name(index: int) -> str:
    """A weekday's full name by its number, Monday 0 ("Monday"; "星期一")."""
    return get_day_names("wide", locale=_locale(current()))[index]


def listing(items: Iterable[str], long: bool = False) -> str:
    """Items as this language lists them ("a, b, c"; "a、b和c": Babel's list patterns, the style in formats.toml);
    `long`: items that hold commas themselves, set apart by formats.long_list_separator ("a; b"; "a；b")."""
    items = list(items)
    if long:
        return str(raw("formats.long_list_separator")).join(items)
    if not items:
        return ""
    # the pattern with numbered stand-ins, so that each joiner can be spaced from the items beside it
    pattern = format_list(
        [f"\0{i}\0" for i in range(len(items))], style=raw("formats.list_style"), locale=_locale(current())
    )
    parts = pattern.split("\0")  # text, item number, joiner, item number, ..., text
    out = parts[0]
    for k in range(1, len(parts), 2):
        item, joiner = items[int(parts[k])], parts[k + 1]
        out += _apart(out, item)
        out += _apart(out, joiner)
    return out


def _apart(before: str, after: str) -> str:
    """`after`, a space in front when a Chinese letter (a joiner such as 和) would touch a Latin letter or digit:
    "32 和高风险", "U01 和 U02"; none between two Chinese words nor beside punctuation ("a、b")."""
    if not before or not after or before[-1] == " " or after[0] == " ":
        return after
    return (
        " " + after
        if _is_han(before[-1]) != _is_han(after[0]) and (_is_latin(before[-1]) or _is_latin(after[0]))
        else after
    )


def _is_han(ch: str) -> bool:
    """A Chinese character, as `prompts.fill` tells one (`prompts.HAN`), not punctuation such as 、."""
    return _HAN_CHAR.fullmatch(ch) is not None


def _is_latin(ch: str) -> bool:
    """A Latin letter or digit, or a mrkdwn mark (`*bold*` beside 和 would not render as bold in Slack)."""
    return ch.isascii() and (ch.isalnum() or ch in "*_~`")
