"""The periods a churn review covers: parsed from what a user types (`2026-Q3`, `2026-10`, `last-quarter`, a range),
quarters and months, and the part of a period the database has data for."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from bot.dates import YEARS, DayError, parse_day, period_out_of_range
from prompts import in_every_language, say, sentences


class PeriodError(ValueError):
    """A period the parser does not understand; the message ends with the usage line."""


@dataclass(frozen=True)
class DataSpan:
    """The days the database has data for (both included)."""

    first: date
    last: date


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # included
    label: str

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def _quarter(year: int, q: int) -> Period:
    start = date(year, 3 * (q - 1) + 1, 1)
    return Period(start, _month_end(year, 3 * q), f"{year}-Q{q}")


def _month_end(year: int, month: int) -> date:
    return (date(year + month // 12, month % 12 + 1, 1)) - timedelta(days=1)


def _month(year: int, month: int) -> Period:
    return Period(date(year, month, 1), _month_end(year, month), f"{year}-{month:02d}")


def quarter_of(day: date) -> Period:
    return _quarter(day.year, (day.month - 1) // 3 + 1)


def _year(digits: str) -> int:
    if int(digits) not in YEARS:
        raise PeriodError(sentences(period_out_of_range(), say("churn_review.period.usage")))
    return int(digits)


def _day(text: str) -> date:
    try:
        return parse_day(text)
    except DayError:
        _year(text[:4])  # out of range says so; any other problem is "not a date I know"
        raise


def parse_period(text: str | None, today: date) -> Period:
    """`2026-Q3`, `2026-10`, `last-quarter`, `this-quarter`, `last-month`, `this-month` or `YYYY-MM-DD..YYYY-MM-DD`
    (both included), or the words of another language for them (`上季度`: prompts `commands.periods`); empty means
    last quarter. Raises PeriodError with the usage line."""
    given = _named((text or "").strip().lower())
    try:
        if given in ("", "last-quarter"):
            return quarter_of(quarter_of(today).start - timedelta(days=1))
        if given == "this-quarter":
            return quarter_of(today)
        if given == "last-month":
            before = today.replace(day=1) - timedelta(days=1)
            return _month(before.year, before.month)
        if given == "this-month":
            return _month(today.year, today.month)
        if m := re.fullmatch(r"([0-9]{4})-q([1-4])", given):
            return _quarter(_year(m[1]), int(m[2]))
        if m := re.fullmatch(r"([0-9]{4})-([0-9]{2})", given):
            return _month(_year(m[1]), int(m[2]))
        if m := re.fullmatch(r"([0-9]{4}-[0-9]{2}-[0-9]{2})\s*\.\.\s*([0-9]{4}-[0-9]{2}-[0-9]{2})", given):
            start, end = _day(m[1]), _day(m[2])
            if end < start:
                raise PeriodError(say("churn_review.period.backwards", start=start, end=end))
            return Period(start, end, f"{start}..{end}")
    except ValueError as error:
        if isinstance(error, PeriodError):
            raise
        raise PeriodError(say("churn_review.period.bad_day", text=repr(text))) from None
    raise PeriodError(say("churn_review.period.bad", text=repr(text)))


def _named(word: str) -> str:
    """A period's word in any language as the English one (`上季度` -> `last-quarter`); anything else as it is."""
    for name in ("this_quarter", "last_quarter", "this_month", "last_month"):
        if word in in_every_language(f"commands.periods.{name}"):
            return name.replace("_", "-")
    return word


def covered_part(period: Period, span: DataSpan) -> Period | None:
    """The part of `period` within `span` (its own label), None when they do not meet."""
    start, end = max(period.start, span.first), min(period.end, span.last)
    return Period(start, end, period.label) if start <= end else None
