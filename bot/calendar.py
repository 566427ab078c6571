"""The business calendar: when the team is open, and when an SLA is due.

Settings (read by `BusinessCalendar.from_env`, or given one by one to `BusinessCalendar.parse`):

- `TIMEZONE` (default `UTC`): an IANA name such as `Europe/Berlin`; opening hours are wall-clock times there.
- `WORK_DAYS` (default `Mon-Fri`): day names or ranges, comma-separated: `Mon-Fri`, `Mon,Tue,Thu`, `Sun-Thu`,
  `Fri-Mon` (ranges wrap round the week). Names may be abbreviated to two letters or written out.
- `WORK_HOURS` (default `09:00-17:00`): `HH:MM-HH:MM` within one day; `24:00` ends at midnight (`00:00-24:00` is
  round the clock). Overnight hours (`22:00-06:00`) are refused: a shift belongs to the day it starts on, and
  "is Tuesday night a working day?" has no answer a settings line could give.
- `HOLIDAYS` (default none): comma-separated dates `YYYY-MM-DD`, or the path of an `.ics` file (see `parse_ics`).

Every parse function raises `ValueError` with one line that names the setting and how to fix it, in the style of
`bot.settings` (so the settings loader can re-raise the message as it is), worded in prompts/calendar.toml in the
language being spoken (the CLI's while settings load). A call the code itself gets wrong (a naive datetime, negative
hours) is a programmer's error and stays in English.

What the calendar computes (aware datetimes in, aware datetimes in the calendar's zone out; arithmetic is done on
real elapsed time, so a DST change in the zone shortens or lengthens the day as it does on the wall):

- `is_open(at)`: within working hours on a business day; opening time is open, closing time is not.
- `next_open(at)`: `at` itself when open, else the next opening.
- `add_hours(at, n)`: n hours of *opening* time ("4 business hours" from Friday 16:00 with 09:00-17:00 is Monday
  12:00). A start outside hours counts from the next opening. A deadline may land exactly on closing time.
- `add_days(at, n)`: the same wall-clock time n business days later, or the next opening if that moment is closed
  (after hours, or a part-day closure). A start on a day that is not a business day counts from 00:00 of the next
  business day, so "3 business days" from Saturday is Thursday's opening, from Friday 18:00 Thursday's opening,
  from Monday 10:00 Thursday 10:00.
- `add_clock_hours(at, n)`: n hours of elapsed time on business days (weekends and holidays stop the clock), then
  the next opening if that moment is closed. n = 24 x k is `add_days(at, k)` (except across a DST change on a
  business day, where this one counts real hours and `add_days` keeps the wall time).
- `due(at, playbook_entry)`: see `Sla`.

A business day is a working day (`WORK_DAYS`) with at least one opening left after holidays are taken out; a
holiday that closes part of a day (an .ics event with times) keeps the day a business day.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.holidays import Holidays, parse_holidays
from prompts import say

DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MIDNIGHT = time(0, 0)
# How far `next_open` looks ahead before deciding the settings leave the team closed for good.
HORIZON_DAYS = 3 * 366


# --------------------------------------------------------------------------- settings


def parse_timezone(raw: str, name: str = "TIMEZONE") -> ZoneInfo:
    value = raw.strip() or "UTC"
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(say("calendar.timezone", name=name, value=value)) from None


def _day(word: str) -> int | None:
    word = word.strip().lower()
    if len(word) < 2:
        return None
    hits = [i for i, full in enumerate(DAY_NAMES) if full.startswith(word)]
    return hits[0] if len(hits) == 1 else None


def parse_work_days(raw: str, name: str = "WORK_DAYS") -> frozenset[int]:
    """Weekday numbers (Monday 0 ... Sunday 6) from `Mon-Fri`, `Mon,Tue,Thu`, `Sun-Thu`, ..."""
    if not raw.strip():
        raise ValueError(say("calendar.work_days.empty", name=name, how=say("calendar.work_days.how")))
    days: set[int] = set()
    for part in raw.split(","):
        bounds = part.split("-")
        if len(bounds) > 2:
            how = say("calendar.work_days.how")
            raise ValueError(say("calendar.work_days.not_a_range", name=name, raw=raw, part=part.strip(), how=how))
        numbers = []
        for bound in bounds:
            number = _day(bound)
            if number is None:
                how = say("calendar.work_days.how")
                raise ValueError(say("calendar.work_days.not_a_day", name=name, raw=raw, word=bound.strip(), how=how))
            numbers.append(number)
        first, last = numbers[0], numbers[-1]
        days.update((first + i) % 7 for i in range((last - first) % 7 + 1))
    return frozenset(days)


def parse_work_hours(raw: str, name: str = "WORK_HOURS") -> tuple[time, time]:
    """(start, end); end 00:00 stands for midnight at the end of the day (written 24:00)."""
    match = re.fullmatch(r"\s*(\d\d):(\d\d)\s*-\s*(\d\d):(\d\d)\s*", raw)
    if not match:
        raise ValueError(say("calendar.work_hours.not_hours", name=name, raw=raw, how=say("calendar.work_hours.how")))
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2):
        raise ValueError(say("calendar.work_hours.no_such_time", name=name, raw=raw))
    start, end = time(h1, m1), time(h2 % 24, m2)
    if end == MIDNIGHT:
        if h2 == 0:
            raise ValueError(say("calendar.work_hours.ends_at_zero", name=name, raw=raw))
        return start, end
    if end == start:
        raise ValueError(say("calendar.work_hours.same_time", name=name, raw=raw, how=say("calendar.work_hours.how")))
    if end < start:
        raise ValueError(say("calendar.work_hours.overnight", name=name, raw=raw))
    return start, end


@dataclass(frozen=True)
class Sla:
    """How fast a playbook tier must respond.

    Reading (docs/product.md section 3 and prompts/playbooks.toml): the matrix says "3 business days" for low risk but
    plain "24 hours" and "4 hours" for the more urgent tiers, and the playbooks pair "3 business days" with
    respond_hours = 72; so an SLA hour is an hour of the clock, a business day is 24 of them, and only the days the
    team does not work stop the clock. "24 hours" from Tuesday 15:00 is Wednesday 15:00 (not Friday, as 24 hours
    of 8-hour opening time would make it, which is as slow as low risk); from Friday 15:00 it is Monday 15:00.
    "4 hours" from Tuesday 15:00 is Tuesday 19:00, which is after hours, so it is due at Wednesday's opening;
    nothing is ever due outside opening hours. `business_days` is set when the playbook says "N business days",
    which is computed with `add_days` (the same wall time N business days later).
    """

    hours: int
    business_days: int | None = None

    @classmethod
    def from_playbook(cls, entry: Mapping[str, Any], name: str = "playbook") -> Sla:
        """From `respond_within` ("3 business days", "24 hours", "4 h") and/or `respond_hours` (72), which agree."""
        text = entry.get("respond_within")
        hours = entry.get("respond_hours")
        if hours is not None and (isinstance(hours, bool) or not isinstance(hours, int) or hours < 0):
            raise ValueError(say("calendar.sla.hours", name=name, hours=repr(hours)))
        days = None
        if isinstance(text, str):
            match = re.fullmatch(r"\s*(\d+)\s*(business days?|working days?|hours?|h)\s*", text, re.IGNORECASE)
            if match:
                number = int(match.group(1))
                days = number if "day" in match.group(2).lower() else None
                said = number * 24 if days is not None else number
                if hours is not None and hours != said:
                    raise ValueError(say("calendar.sla.disagree", name=name, text=text, hours=hours, said=said))
                hours = said
        if hours is None:
            raise ValueError(say("calendar.sla.missing", name=name))
        return cls(hours, days)


@dataclass(frozen=True)
class BusinessCalendar:
    """When the team is open: working days and hours in a time zone, minus holidays (see the module docstring)."""

    tz: tzinfo = ZoneInfo("UTC")
    work_days: frozenset[int] = frozenset(range(5))
    start: time = time(9, 0)
    end: time = time(17, 0)  # 00:00 means midnight at the end of the day
    holidays: Holidays = field(default_factory=Holidays)

    def __post_init__(self) -> None:
        if not self.work_days or not self.work_days <= set(range(7)):
            raise ValueError(f"work_days {sorted(self.work_days)} must be weekday numbers 0 (Monday) to 6 (Sunday)")
        if self.start.tzinfo or self.end.tzinfo:
            raise ValueError("start and end are wall-clock times in tz: give them without tzinfo")
        if self.end != MIDNIGHT and self.end <= self.start:
            raise ValueError(f"opening hours {self.start}-{self.end} must end after they start on the same day")

    @classmethod
    def parse(
        cls,
        timezone: str = "UTC",
        work_days: str = "Mon-Fri",
        work_hours: str = "09:00-17:00",
        holidays: str = "",
        base: Path | None = None,
    ) -> BusinessCalendar:
        """From the settings' raw strings; a bad one raises ValueError naming the setting."""
        start, end = parse_work_hours(work_hours)
        return cls(
            parse_timezone(timezone), parse_work_days(work_days), start, end, parse_holidays(holidays, base=base)
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str], base: Path | None = None) -> BusinessCalendar:
        """From TIMEZONE, WORK_DAYS, WORK_HOURS and HOLIDAYS; unset or empty ones take the defaults."""
        return cls.parse(
            timezone=env.get("TIMEZONE", "").strip() or "UTC",
            work_days=env.get("WORK_DAYS", "").strip() or "Mon-Fri",
            work_hours=env.get("WORK_HOURS", "").strip() or "09:00-17:00",
            holidays=env.get("HOLIDAYS", ""),
            base=base,
        )

    # ---- days

    def _utc(self, day: date, wall: time) -> datetime:
        return datetime.combine(day, wall, tzinfo=self.tz).astimezone(UTC)

    def _day_bounds(self, day: date) -> tuple[datetime, datetime]:
        """The whole local day, 00:00 to 24:00, in UTC (23 or 25 hours on a DST change)."""
        return self._utc(day, MIDNIGHT), self._utc(day + timedelta(days=1), MIDNIGHT)

    def openings(self, day: date) -> list[tuple[datetime, datetime]]:
        """The open intervals [from, to) of a local day, in UTC; empty when closed all day."""
        if day.weekday() not in self.work_days or self.holidays.covers_day(day):
            return []
        opens = self._utc(day, self.start)
        closes = self._utc(day + timedelta(days=1), MIDNIGHT) if self.end == MIDNIGHT else self._utc(day, self.end)
        spans = [(opens, closes)]
        for gone_from, gone_to in sorted(self.holidays.closed_between(day, self.tz)):
            spans = [
                piece
                for begin, end in spans
                for piece in ((begin, min(end, gone_from)), (max(begin, gone_to), end))
                if piece[0] < piece[1]
            ]
        return spans

    def is_business_day(self, day: date) -> bool:
        return bool(self.openings(day))

    def _days_from(self, day: date) -> Iterator[date]:
        for offset in range(HORIZON_DAYS):
            yield day + timedelta(days=offset)
        raise ValueError(say("calendar.closed_for_good", days=HORIZON_DAYS, day=day))

    def _local(self, at: datetime) -> datetime:
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError(f"{at} has no time zone: give an aware datetime")
        return at.astimezone(self.tz)

    def _spans_from(self, at: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Open intervals (UTC) from `at` on, the first one clipped to start at `at`."""
        moment = at.astimezone(UTC)
        for day in self._days_from(self._local(at).date()):
            for begin, end in self.openings(day):
                if end > moment:
                    yield max(begin, moment), end

    def _out(self, moment: datetime) -> datetime:
        return moment.astimezone(self.tz)

    # ---- the questions

    def is_open(self, at: datetime) -> bool:
        moment = at.astimezone(UTC)
        return any(begin <= moment < end for begin, end in self.openings(self._local(at).date()))

    def next_open(self, at: datetime) -> datetime:
        """`at` (in the calendar's zone) when open, else the next opening."""
        return self._out(next(self._spans_from(at))[0])

    def add_hours(self, at: datetime, hours: float) -> datetime:
        """`hours` of opening time after `at` (or after the next opening); may end exactly at closing time."""
        left = _positive(hours, "hours")
        for begin, end in self._spans_from(at):
            if left <= end - begin:
                return self._out(begin + left)
            left -= end - begin
        raise AssertionError("unreachable: _spans_from raises before it runs out")

    def add_days(self, at: datetime, days: int) -> datetime:
        """The same wall time `days` business days later (from 00:00 of the next business day when `at` is not
        on one), or the next opening when that moment is closed."""
        if isinstance(days, bool) or not isinstance(days, int) or days < 0:
            raise ValueError(f"days={days!r} is not a whole number of days, 0 or more")
        local = self._local(at)
        days_on = (d for d in self._days_from(local.date()) if self.is_business_day(d))
        first = next(days_on)
        wall = local.time() if first == local.date() else MIDNIGHT
        day = first
        for _ in range(days):
            day = next(days_on)
        return self.next_open(datetime.combine(day, wall, tzinfo=self.tz))

    def add_clock_hours(self, at: datetime, hours: float) -> datetime:
        """`hours` of elapsed time on business days (other days stop the clock), then the next opening."""
        left = _positive(hours, "hours")
        moment = at.astimezone(UTC)
        for day in self._days_from(self._local(at).date()):
            if not self.is_business_day(day):
                continue
            begin, end = self._day_bounds(day)
            begin = max(begin, moment)
            if left <= end - begin:
                return self.next_open(begin + left)
            left -= end - begin
        raise AssertionError("unreachable: _days_from raises before it runs out")

    def due(self, at: datetime, playbook_entry: Mapping[str, Any] | Sla) -> datetime:
        """When a tier's response is due, if it was triggered at `at` (see `Sla` for the reading)."""
        sla = playbook_entry if isinstance(playbook_entry, Sla) else Sla.from_playbook(playbook_entry)
        if sla.business_days is not None:
            return self.add_days(at, sla.business_days)
        return self.add_clock_hours(at, sla.hours)


def _positive(hours: float, name: str) -> timedelta:
    if isinstance(hours, bool) or not isinstance(hours, int | float) or not hours >= 0:
        raise ValueError(f"{name}={hours!r} is not a number of hours, 0 or more")
    return timedelta(hours=hours)


@dataclass(frozen=True)
class QuietHours:
    """QUIET_HOURS: from `start` to `end` (in `tz`, may span midnight) the bot sends no DM and no digest; what
    it decides then waits in the outbox until they end (`after`)."""

    start: time
    end: time
    tz: ZoneInfo

    def contains(self, at: datetime) -> bool:
        local = (at.replace(tzinfo=UTC) if at.tzinfo is None else at).astimezone(self.tz).time()
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def after(self, at: datetime) -> datetime:
        """`at` when it is outside the quiet hours, else the moment they end (UTC)."""
        if not self.contains(at):
            return at
        local = (at.replace(tzinfo=UTC) if at.tzinfo is None else at).astimezone(self.tz)
        day = local.date() if local.time() < self.end else local.date() + timedelta(days=1)
        return datetime.combine(day, self.end, tzinfo=self.tz).astimezone(UTC)
