"""No made-up figures: every number, date, amount and name in a model's reply must be in what it was given.

`unsupported(reply, facts, given)` lists what the reply states that neither the facts nor `given` (the question)
hold; a reply with anything in that list is not used. Forms are normalised before comparing: 1,234 / 1234 /
$1,234 / 1.2k are one amount; 12 % is 12 or a fraction 0.12; a figure may be rounded (41.73 read as 41.7 or 42);
2026-11-07, 7 Nov 2026, November 7 are one date (a day without a year matches that day of any year given); Q1 2027
is a quarter given as such or holding a date given. A list in the facts gives its length too ("3 open tasks"); two
to twelve spelled out are numbers. Numbered list markers ("1. ") are not figures.

Names: a capitalised word in mid-sentence, or a run of two or more capitalised words anywhere ("Jane Doe"), must
be a word of the facts or the question (or a month, a weekday, a common business acronym). A lone capitalised
word opening a sentence cannot be told from an ordinary word and is not checked, unless it is possessive.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import date
from typing import Any

# dates: ISO, "7 Nov 2026", "November 7, 2026"; quarters: "Q1 2027", "2026-Q3"
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t|tember)?"
    r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
ISO = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")
DAY_MONTH = re.compile(rf"(?<![\w.])(\d{{1,2}})(?:st|nd|rd|th)?\s+({MONTH})(?:,?\s+(\d{{4}}))?(?!\w)", re.I)
MONTH_DAY = re.compile(rf"(?<![\w.])({MONTH})\s+(\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(\d{{4}}))?(?!\w)", re.I)
QUARTER = re.compile(r"(?<![\w-])(?:(\d{4})[- ])?Q([1-4])(?:[ -](\d{4}))?(?![\w-])")

# numbers and amounts: "$1,234.5", "12 %", "1.2k"; "Q3", "3rd" and "v2" are not numbers (glued to letters)
NUMBER = re.compile(
    r"(?<![\w.])([$€£]\s?)?(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?(\s?%|\s?percent\b|k\b|K\b|M\b|\s?million\b)?(?![\w])"
)
SCALES = {"k": 1e3, "m": 1e6, "million": 1e6}
ROUNDING = 0.05  # a rounded figure within 5 % of a fact is that fact (41.73 -> 42; 0.83 -> 1 is not)
LIST_MARKER = re.compile(r"^\s*\d{1,2}[.)]\s", re.M)
# spelled-out counts are figures too ("three tasks"); "one" is left out: it is as often a pronoun
SPELLED_WORDS = ("two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve")
SPELLED = {w: i for i, w in enumerate(SPELLED_WORDS, 2)}

# names: runs of capitalised words, and where a sentence starts (after a full stop, a line's bullet or bold mark)
LETTERS = re.compile(r"[^\W\d_]+")
UPPER = "A-ZÀ-ÖØ-Þ"
CAPITALISED_RUN = re.compile(rf"(?<![\w’'])[{UPPER}][\w’'&.-]*(?:[ \t]+[{UPPER}][\w’'&.-]*)*")
SENTENCE_START = re.compile(r"(^|[.!?:;]\s+|\n\s*[-*•>#_]*\s*|^\s*[-*•>#_]+\s*)$")
# capitalised words a reply may always use: months, weekdays, "I" and the trade's acronyms
ALWAYS_WORDS = """january february march april may june july august september october november december
monday tuesday wednesday thursday friday saturday sunday
i mrr arr csm cs qbr ebr nps csat sla roi kpi ai api ceo cto cfo coo vp us uk eu usd eur gbp"""
ALWAYS = set(ALWAYS_WORDS.split())


def unsupported(reply: str, facts: Mapping[str, Any], given: str = "") -> list[str]:
    """What `reply` states that `facts` and `given` do not hold, in the reply's own words (empty: all grounded)."""
    texts = [*_texts(facts), given]
    numbers = {abs(v) for v in _numbers_in(facts)} | {abs(v) for t in texts for v, *_ in _numbers(t)}
    days = {d for t in texts for d, _ in _dates(t)}
    numbers |= {float(year) for year, _, _ in days if year}
    words = {w.lower() for t in texts for w in LETTERS.findall(t)}

    wrong: list[str] = []
    text = reply
    for (year, month, day), shown in _dates(reply):
        if not any((y == year or not year) and (m, d) == (month, day) for y, m, d in days):
            wrong.append(shown)
        text = text.replace(shown, " ")
    for m in QUARTER.finditer(reply):
        year, quarter = int(m[1] or m[3] or 0), int(m[2])
        given_as_text = any(m[0].lower() in t.lower() for t in texts)
        if not given_as_text and not any((y == year or not year) and (mo - 1) // 3 + 1 == quarter for y, mo, _ in days):
            wrong.append(m[0])
        text = text.replace(m[0], " ")
    text = LIST_MARKER.sub(" ", text)
    for m in re.finditer(rf"\b({'|'.join(SPELLED)})\b", text, re.I):
        if float(SPELLED[m[1].lower()]) not in numbers:
            wrong.append(m[0])
    for value, decimals, scale, percent, shown in _numbers(text):
        if not _grounded(value, decimals, scale, percent, numbers):
            wrong.append(shown)
    return wrong + _names(text, words)


def _texts(value: Any) -> Iterator[str]:
    """Every key and text in the facts."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield str(key).replace("_", " ")
            yield from _texts(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _texts(item)
    elif isinstance(value, str | date):
        yield str(value)


def _numbers_in(value: Any) -> Iterator[float]:
    """The facts' numbers, and the length of each list (a count a reply may state)."""
    if isinstance(value, Mapping):
        for item in value.values():
            yield from _numbers_in(item)
    elif isinstance(value, list | tuple):
        yield float(len(value))
        for item in value:
            yield from _numbers_in(item)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        yield float(value)


def _dates(text: str) -> Iterator[tuple[tuple[int, int, int], str]]:
    """((year, month, day), as written) for each date in `text`; year 0 when it was not written."""
    for m in ISO.finditer(text):
        if _valid(int(m[1]), int(m[2]), int(m[3])):
            yield (int(m[1]), int(m[2]), int(m[3])), m[0]
    for pattern, day_group, month_group in ((DAY_MONTH, 1, 2), (MONTH_DAY, 2, 1)):
        for m in pattern.finditer(text):
            when = (int(m[3] or 0), MONTHS.index(m[month_group][:3].lower()) + 1, int(m[day_group]))
            if _valid(*when):
                yield when, m[0]


def _valid(year: int, month: int, day: int) -> bool:
    try:
        date(year or 2000, month, day)  # 2000: a leap year, so an undated 29 Feb is a day
    except ValueError:
        return False
    return True


def _numbers(text: str) -> Iterator[tuple[float, int, float, bool, str]]:
    """(value, decimals, scale, is a percent, as written) for each number in `text`."""
    for m in NUMBER.finditer(text):
        digits = m[2].replace(",", "")
        value = float(f"{digits}.{m[3]}" if m[3] else digits)
        suffix = (m[4] or "").strip().lower()
        yield value, len(m[3] or ""), SCALES.get(suffix, 1.0), suffix in ("%", "percent"), m[0].strip()


def _grounded(value: float, decimals: int, scale: float, percent: bool, numbers: set[float]) -> bool:
    """Whether a fact, as the reply may have rounded it (within ROUNDING), is `value`; for a percent, the fact may
    be a fraction of 1 (0.52 is 52 %)."""
    for fact in numbers:
        for candidate in [fact / scale] + ([fact * 100] if percent else []):
            if round(candidate, decimals) == value and abs(candidate - value) <= ROUNDING * max(abs(candidate), 1e-9):
                return True
    return False


def _names(text: str, words: set[str]) -> list[str]:
    """Capitalised words (or runs of them) that are neither given nor always allowed."""
    wrong: list[str] = []
    for m in CAPITALISED_RUN.finditer(text):
        run = m[0].rstrip(".-’'")
        parts = run.split()
        if SENTENCE_START.search(text[: m.start()]) and not re.search(r"['’]s$", parts[0]):
            parts = parts[1:]  # an opening word is any word; the rest of its run is still checked
        for part in parts:
            tokens = LETTERS.findall(re.sub(r"['’]s$", "", part))
            if any(t.lower() not in words and t.lower() not in ALWAYS for t in tokens):
                wrong.append(" ".join(parts))
                break
    return wrong
