"""The window a churn forecast covers: made as of a day for the `horizon` days after it, or a named period
(`2027-Q1`, `2027-01`, `2026-12-08..2027-03-07`) forecast as of the day before it starts, over its length."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from bot.dates import LAST_DAY, YEARS, DayError, parse_day
from bot.scoring import chance
from prompts import say


class WindowError(ValueError):
    """Options that do not make a forecast window; the message is one line saying what to type."""


@dataclass(frozen=True)
class Window:
    """A forecast made as of `as_of` for the `horizon` days after it; `label` the period as named, if it was."""

    as_of: date
    horizon: int
    label: str | None = None

    @property
    def start(self) -> date:
        return self.as_of + timedelta(days=1)

    @property
    def end(self) -> date:
        return self.as_of + timedelta(days=self.horizon)


def parse_period(text: str) -> tuple[date, date, str]:
    """`2027-Q1`, `2027-01` or `2026-12-08..2027-03-07` as (first day, last day, label); WindowError otherwise."""
    given = text.strip()
    try:
        if m := re.fullmatch(r"([0-9]{4})-[qQ]([1-4])", given):
            year, q = _year(m[1]), int(m[2])
            return date(year, 3 * q - 2, 1), _month_end(year, 3 * q), f"{year}-Q{q}"
        if m := re.fullmatch(r"([0-9]{4})-([0-9]{2})", given):
            year, month = _year(m[1]), int(m[2])
            return date(year, month, 1), _month_end(year, month), f"{year}-{month:02d}"
        if m := re.fullmatch(r"([0-9]{4}-[0-9]{2}-[0-9]{2})\s*\.\.\s*([0-9]{4}-[0-9]{2}-[0-9]{2})", given):
            start, end = parse_day(m[1]), parse_day(m[2])
            if end < start:
                raise WindowError(say("forecast.refuse.backwards", start=start, end=end))
            return start, end, f"{start}..{end}"
    except WindowError:
        raise
    except (DayError, ValueError):
        pass
    raise WindowError(say("forecast.refuse.period", text=text))


def _year(digits: str) -> int:
    if int(digits) not in YEARS:
        raise ValueError(digits)
    return int(digits)


def _month_end(year: int, month: int) -> date:
    return date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)


def window(today: date, *, as_of: date | None = None, horizon: int | None = None, period: str | None = None) -> Window:
    """The window the options name; WindowError (one line: what to type instead) for a combination that does not
    fit: a period with an --as-of other than the day before it or a --horizon other than its length, a bad period,
    an --as-of after today, or a period that starts after tomorrow (its forecast is made the day before)."""
    if period is not None:
        start, end, label = parse_period(period)
        days = (end - start).days + 1
        before = start - timedelta(days=1)
        if as_of is not None and as_of != before:
            raise WindowError(say("forecast.refuse.as_of_period", as_of=as_of, label=label, before=before))
        if horizon is not None and horizon != days:
            raise WindowError(say("forecast.refuse.horizon_period", horizon=horizon, label=label, days=days))
        if before > today:
            tomorrow = today + timedelta(days=1)
            raise WindowError(
                say("forecast.refuse.period_ahead", label=label, before=before, today=today, tomorrow=tomorrow, end=end)
            )
        return Window(before, days, label)
    day = today if as_of is None else as_of
    if day > today:
        raise WindowError(say("forecast.refuse.as_of_ahead", as_of=day, today=today))
    days = chance.HORIZON if horizon is None else horizon
    if (LAST_DAY - day).days < days:
        raise WindowError(say("forecast.refuse.too_long", horizon=days, last=LAST_DAY))
    return Window(day, days)
