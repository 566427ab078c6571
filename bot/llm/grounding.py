"""No made-up figures: every number, date, amount and name in a model's reply must be in what it was given.

`unsupported(reply, facts, given)` lists what the reply states that neither the facts nor `given` (the question)
hold; a reply with anything in that list is not used. Forms are normalised before comparing: 1,234 / 1234 /
$1,234 / 1.2k are one amount (41 billion and $41bn are not 41); 12 % is 12 or a fraction 0.12; a figure may be
rounded (41.73 read as 41.7 or 42); a figure's sign is not compared ("fell 22" states -22). 2026-11-07, 7 Nov 2026,
November 7, 2026年11月7日, 11/07/2026 and 07/11/2026 are one date (a slash date may be read either way round; a day
without a year matches that day of any year given); a weekday written next to a date must be that date's (Tuesday,
Tue, 星期二, 周二, 礼拜二); March 2027
is a month holding a date given; Q1 2027 is a quarter given as such or holding a date given. A date's parts are not
figures (2026-11-07 gives no 11 and no 2,026), though its year may be written as a year ("in 2026"). A list in the
facts gives its length too ("3 open tasks"); two to ninety-nine spelled out are numbers. Numbered list markers ("1. ")
are not figures.

Names: every capitalised word, wherever it stands (opening a sentence, a bullet or a bold label too), must be a word
of the facts or the question, or a word any reply may use: a month, a weekday, a common business acronym or a
common English word ("The", "It's", "Next Steps"). A run of capitalised words ends at a full stop.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import date
from typing import Any

# dates: ISO, "11/07/2026", "7 Nov 2026", "November 7, 2026", "March 2027"; quarters: "Q1 2027", "2026-Q3"
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t|tember)?"
    r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
# an ISO date's time of day is part of it: neither 10 nor 30 is a figure of 2026-11-07T10:30:00Z
ISO = re.compile(
    r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?(?!\d)"
)
SLASH = re.compile(r"(?<![\w/.])(\d{1,2})/(\d{1,2})/(\d{4}|\d{2})(?![\w/])")
DAY_MONTH = re.compile(rf"(?<![\w.])(\d{{1,2}})(?:st|nd|rd|th)?\s+({MONTH})(?:,?\s+(\d{{4}}))?(?!\w)", re.I)
MONTH_DAY = re.compile(rf"(?<![\w.])({MONTH})\s+(\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(\d{{4}}))?(?!\w)", re.I)
MONTH_YEAR = re.compile(rf"(?<![\w.])({MONTH})\s+(\d{{4}})(?!\w)", re.I)
# Chinese: "2027年10月24日" (日 or 号), "10月24日" (no year), "2027年10月" (a month)
CJK_DATE = re.compile(r"(?<![\d.])(?:(\d{4})\s?年\s?)?(\d{1,2})\s?月(?:\s?(\d{1,2})\s?[日号])?")
QUARTER = re.compile(r"(?<![\w-])(?:(\d{4})[- ])?Q([1-4])(?:[ -](\d{4}))?(?![\w-])")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKDAY = r"(mon(?:day)?|tue(?:s|sday)?|wed(?:nesday)?|thu(?:rs?|rsday)?|fri(?:day)?|sat(?:urday)?|sun(?:day)?)"
WEEKDAY_BEFORE = re.compile(rf"(?<!\w){WEEKDAY}\.?,?\s+$", re.I)  # "Tuesday, Dec 10"
WEEKDAY_AFTER = re.compile(rf"^,?\s*\(?{WEEKDAY}(?!\w)\)?", re.I)  # "2027-02-15 (Monday)"
# Chinese: 星期一..星期日 (星期天), 周一..周日, 礼拜一..礼拜天, before a date ("周四（12月10日）") or after it
CJK_WEEKDAYS = "一二三四五六日"
CJK_WEEKDAY = r"(?:星期|礼拜|(?<!\d)(?<!\d\s)周)([一二三四五六日天])"  # not "4 周" (weeks)
CJK_WEEKDAY_BEFORE = re.compile(rf"{CJK_WEEKDAY}\s*[，,、（(]?\s*$")  # "周四（12月10日）", "星期一 12月14日"
CJK_WEEKDAY_AFTER = re.compile(rf"^\s*[，,、]?\s*[（(]?\s*{CJK_WEEKDAY}[）)]?")  # "2027年1月15日（星期五）"

# numbers and amounts: "$1,234.5", "12 %", "1.2k", "$4bn"; "Q3", "3rd" and "v2" are not numbers (glued to letters);
# Chinese sets a figure right against its words ("流失率为6.9%的"): a CJK character is no letter here
CJK_CHARS = "\u3000-\u9fff\uac00-\ud7af\uff00-\uffef"
LETTER = rf"[^\W{CJK_CHARS}]"  # a word character of a Latin (or other spaced) script: a letter, a digit, "_"
NUMBER = re.compile(
    rf"(?<!{LETTER})(?<!\.)([$€£]\s?)?(\d{{1,3}}(?:,\d{{3}})+|\d+)(?:\.(\d+))?"
    rf"(\s?%|\s?percent\b|k\b|K\b|M\b|bn\b|B\b|\s?thousand\b|\s?million\b|\s?billion\b)?(?!{LETTER})"
)
SCALES = {"k": 1e3, "thousand": 1e3, "m": 1e6, "million": 1e6, "b": 1e9, "bn": 1e9, "billion": 1e9}
ROUNDING = 0.05  # a rounded figure within 5 % of a fact is that fact (41.73 -> 42; 0.83 -> 1 is not)
LIST_MARKER = re.compile(r"^\s*\d{1,2}[.)]\s", re.M)
# spelled-out numbers are figures too ("three tasks", "forty-two"); a lone "one" is left out: as often a pronoun
UNITS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
TEENS = ("ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen")
SMALL = (*UNITS[1:], *TEENS)
TENS = ("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
SPELLED = re.compile(rf"\b(?:({'|'.join(TENS)})(?:[- ]({'|'.join(UNITS)}))?|({'|'.join(SMALL)}))\b", re.I)

# names: runs of capitalised words (a run ends at a full stop)
LETTERS = re.compile(r"[^\W\d_]+")
UPPER = "A-ZÀ-ÖØ-Þ"
CAPITALISED_RUN = re.compile(rf"(?<![^\W_]|[’'])[{UPPER}][\w’'&.-]*(?:[ \t]+[{UPPER}][\w’'&.-]*)*")
# capitalised words a reply may always use: months, weekdays, the trade's acronyms and common English words (the
# ones a sentence, a bullet or a label opens with: anything else capitalised must be in what the model was given)
ALWAYS_WORDS = """january february march april may june july august september october november december
monday tuesday wednesday thursday friday saturday sunday today tomorrow yesterday
day days week weeks month months quarter quarters year years
i mrr arr csm cs qbr ebr nps csat sla roi kpi ai api ceo cto cfo coo vp us uk eu usd eur gbp
a an the this that these those it its it's here here's there there's they their them we our you your he she his her
i'd let's that's what's who's i'm i'll we'll we're we've you're they're don't doesn't didn't isn't aren't wasn't
weren't can't won't hasn't haven't
and but or nor so yet if then than when while as at in on for with from to by of into onto over under about
after before since until during between within without across against around above below per via
no not yes all some any each every both either neither most more less least few many several other another
such only just also still even very too much well again already soon now once
is are was were be been being has have had do does did will would should could can may might must
what which who whom whose why how where
first second third last next previous prior recent recently current currently overall however meanwhile
finally further furthermore additionally although though because despite given based according note please
red amber yellow green good great strong healthy stable steady positive negative poor weak
low lower high higher medium moderate
up down new old same different key main top open closed due overdue late early ahead behind
summary status update overview details detail highlights snapshot context background outlook
health score scores risk risks renewal renewals date dates steps step action actions item items task tasks
account accounts customer customers contract contracts value revenue usage logins login adoption engagement
sentiment support tickets ticket trend trends change changes driver drivers reason reasons signal signals
chance churn forecast segment tier owner owners sponsor champion contact meeting call calls email plan
recommendation recommendations recommended suggested suggestion suggestions what's next
why watch concern concerns priority priorities opportunity opportunities expansion upsell
call book ask send schedule check review reach follow consider focus keep make confirm share prepare
discuss plan set start stop use try talk meet offer escalate monitor track
one likely expected nobody hi hello thanks thank dear best regards sure unfortunately none nothing everything something
out left lost paid pay paying moved switched went chose cut cuts lack lacking missing need needs fit poor slow
budget budgets price prices pricing cost costs expensive cheaper cheap product products feature features bug bugs
service onboarding competitor competitors acquired acquisition merger business internal tool tools team teams
"""
ALWAYS = set(ALWAYS_WORDS.split())


def unsupported(reply: str, facts: Mapping[str, Any], given: str = "") -> list[str]:
    """What `reply` states that `facts` and `given` do not hold, in the reply's own words (empty: all grounded)."""
    texts = [*_texts(facts), given]
    days = {day for t in texts for readings, *_ in _dates(t) for day in readings}
    years = {y for y, _, _ in days if y} | {
        int(y) for t in texts for m in QUARTER.finditer(t) for y in (m[1], m[3]) if y
    }
    undated = [QUARTER.sub(" ", _blank(t, [(s, e) for _, s, e in _dates(t)])) for t in texts]
    numbers = {abs(v) for v in _numbers_in(facts)} | {abs(v) for t in undated for v, *_ in _numbers(t)}
    numbers |= {float(_spelled(m)) for t in undated for m in SPELLED.finditer(t)}  # "three" given: 3 may be said
    words = {w.lower() for t in texts for w in LETTERS.findall(t)}

    wrong: list[str] = []
    spans: list[tuple[int, int]] = []
    taken = 0  # where the last weekday read with a date ends: "A 周五，B" reads 周五 with A only
    for readings, start, end in sorted(_dates(reply), key=lambda d: d[1]):
        spans.append((start, end))
        matches = [g for r in readings for g in days if _same_day(r, g)]
        if not matches:
            wrong.append(reply[start:end])
            continue
        before = WEEKDAY_BEFORE.search(reply[taken:start]) or CJK_WEEKDAY_BEFORE.search(reply[taken:start])
        after = WEEKDAY_AFTER.search(reply[end:]) or CJK_WEEKDAY_AFTER.search(reply[end:])
        weekday = before or after
        if weekday:
            first, last = (taken + before.start(), end) if before else (start, end + after.end() if after else end)
            spans.append((first, last))
            taken = last
            known = [date(y, m, d) for y, m, d in matches if y and d]
            if known and all(day.weekday() != _weekday(weekday[1]) for day in known):
                wrong.append(reply[first:last])
    text = _blank(reply, spans)
    for m in QUARTER.finditer(text):
        year, quarter = int(m[1] or m[3] or 0), int(m[2])
        given_as_text = any(m[0].lower() in t.lower() for t in texts)
        if not given_as_text and not any((y == year or not year) and (mo - 1) // 3 + 1 == quarter for y, mo, _ in days):
            wrong.append(m[0])
    text = LIST_MARKER.sub(" ", QUARTER.sub(" ", text))
    for m in SPELLED.finditer(text):
        if float(_spelled(m)) not in numbers:
            wrong.append(m[0])
    text = SPELLED.sub(" ", text)
    for value, decimals, scale, percent, shown in _numbers(text):
        is_year = re.fullmatch(r"\d{4}", shown) and int(shown) in years
        if not is_year and not _grounded(value, decimals, scale, percent, numbers):
            wrong.append(shown)
    return wrong + _names(text, words)


def _spelled(m: re.Match[str]) -> int:
    """The value of a SPELLED match: "forty-two" is 42, "three" 3."""
    if m[1]:
        return (TENS.index(m[1].lower()) + 2) * 10 + (UNITS.index(m[2].lower()) + 1 if m[2] else 0)
    return SMALL.index(m[3].lower()) + 2


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


def _dates(text: str) -> Iterator[tuple[list[tuple[int, int, int]], int, int]]:
    """(the ways to read it as (year, month, day), start, end) for each date in `text`; year 0 when it was not
    written, day 0 for a month ("March 2027"). A slash date may be day/month or month/day: both readings count."""
    seen: list[tuple[int, int]] = []
    for pattern in (ISO, CJK_DATE, SLASH, DAY_MONTH, MONTH_DAY, MONTH_YEAR):
        for m in pattern.finditer(_blank(text, seen)):
            if pattern is ISO:
                readings = [(int(m[1]), int(m[2]), int(m[3]))]
            elif pattern is CJK_DATE:  # "3月" alone (no year, no day) is not a date
                readings = [(int(m[1] or 0), int(m[2]), int(m[3] or 0))] if m[1] or m[3] else []
            elif pattern is SLASH:
                year = int(m[3]) + (2000 if len(m[3]) == 2 else 0)
                readings = list(dict.fromkeys([(year, int(m[2]), int(m[1])), (year, int(m[1]), int(m[2]))]))
            elif pattern is MONTH_YEAR:
                readings = [(int(m[2]), _month(m[1]), 0)]
            else:
                day, month = (m[1], m[2]) if pattern is DAY_MONTH else (m[2], m[1])
                readings = [(int(m[3] or 0), _month(month), int(day))]
            readings = [r for r in readings if _valid(*r)]
            if readings:
                seen.append(m.span())
                yield readings, m.start(), m.end()


def _same_day(said: tuple[int, int, int], given: tuple[int, int, int]) -> bool:
    """Whether a date the reply wrote is one given: the same day (any year given when it wrote none), or for a month
    ("March 2027"), a day given in that month."""
    (year, month, day), (y, m, d) = said, given
    if not day:
        return (y, m) == (year, month)
    return (y == year or not year) and (m, d) == (month, day)


def _month(name: str) -> int:
    return MONTHS.index(name[:3].lower()) + 1


def _weekday(name: str) -> int:
    if name in "天" or name in CJK_WEEKDAYS:
        return CJK_WEEKDAYS.index(name.replace("天", "日"))
    return WEEKDAYS.index(name[:3].lower())


def _valid(year: int, month: int, day: int) -> bool:
    try:
        date(year or 2000, month, day or 1)  # 2000: a leap year, so an undated 29 Feb is a day
    except ValueError:
        return False
    return True


def _blank(text: str, spans: list[tuple[int, int]]) -> str:
    """`text` with each span turned to spaces (what is left keeps its place)."""
    for start, end in spans:
        text = text[:start] + " " * (end - start) + text[end:]
    return text


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
    """Capitalised words (or runs of them) that are neither given nor always allowed, each as written less the
    common words opening it ("Ask Bob Smith": Bob Smith)."""
    wrong: list[str] = []
    for m in CAPITALISED_RUN.finditer(text):
        for run in re.split(r"(?<=\.)\s+", m[0]):  # "Acme Corp. The": two runs
            parts = run.rstrip(".-’'_").split()
            if all(_known(part, words) for part in parts):
                continue
            while _known(parts[0], set()):
                parts = parts[1:]
            wrong.append(" ".join(parts))
    return wrong


def _known(word: str, words: set[str]) -> bool:
    """Whether a capitalised word is given (in `words`) or one any reply may use; "Globex's" is Globex."""
    word = word.lower().replace("’", "'")
    if word in ALWAYS:
        return True
    return all(t in words or t in ALWAYS for t in LETTERS.findall(re.sub(r"'s$", "", word)))
