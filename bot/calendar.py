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
`bot.settings` (so the settings loader can re-raise the message as it is).

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

from prompts import say

DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MIDNIGHT = time(0, 0)
# How far `next_open` looks ahead before deciding the settings leave the team closed for good.
HORIZON_DAYS = 3 * 366
# The days any date from outside may name (commands, ingest, CSV import, sync, modals, the CLI): past them a
# period's arithmetic leaves Python's calendar (year 10000) and no customer's data lies there.
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2999, 12, 31)
YEARS = range(FIRST_DAY.year, LAST_DAY.year + 1)
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class DayError(ValueError):
    """Not a YYYY-MM-DD date, or one outside FIRST_DAY..LAST_DAY; the message says which (for "'x' <message>")."""


def parse_day(text: str) -> date:
    """The one reading of a date that comes in: `YYYY-MM-DD` in ASCII digits, nothing else (Python's
    `date.fromisoformat` also takes `2026-W48-6` and `20261201`), between FIRST_DAY and LAST_DAY."""
    if not isinstance(text, str) or not _DAY.fullmatch(text):
        raise DayError(say("inputs.not_a_date"))
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise DayError(say("inputs.not_a_date")) from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise DayError(say("inputs.out_of_range", first=FIRST_DAY, last=LAST_DAY))
    return day


def period_out_of_range() -> str:
    """What a period (`/health plays`, `/health churn`) naming a year outside YEARS is told."""
    return say("inputs.period_out_of_range", first=FIRST_DAY.year, last=LAST_DAY.year)


# --------------------------------------------------------------------------- settings


def parse_timezone(raw: str, name: str = "TIMEZONE") -> ZoneInfo:
    value = raw.strip() or "UTC"
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{name}='{value}' is not a known time zone: use an IANA name such as Europe/Berlin or America/New_York"
        ) from None


def _day(word: str) -> int | None:
    word = word.strip().lower()
    if len(word) < 2:
        return None
    hits = [i for i, full in enumerate(DAY_NAMES) if full.startswith(word)]
    return hits[0] if len(hits) == 1 else None


def parse_work_days(raw: str, name: str = "WORK_DAYS") -> frozenset[int]:
    """Weekday numbers (Monday 0 ... Sunday 6) from `Mon-Fri`, `Mon,Tue,Thu`, `Sun-Thu`, ..."""
    how = "use day names or ranges such as Mon-Fri, Sun-Thu or Mon,Tue,Thu"
    if not raw.strip():
        raise ValueError(f"{name} is empty: {how}")
    days: set[int] = set()
    for part in raw.split(","):
        bounds = part.split("-")
        if len(bounds) > 2:
            raise ValueError(f"{name}='{raw}': '{part.strip()}' is not a day or a range of two days: {how}")
        numbers = []
        for bound in bounds:
            number = _day(bound)
            if number is None:
                raise ValueError(f"{name}='{raw}': '{bound.strip()}' is not a day name: {how}")
            numbers.append(number)
        first, last = numbers[0], numbers[-1]
        days.update((first + i) % 7 for i in range((last - first) % 7 + 1))
    return frozenset(days)


def parse_work_hours(raw: str, name: str = "WORK_HOURS") -> tuple[time, time]:
    """(start, end); end 00:00 stands for midnight at the end of the day (written 24:00)."""
    how = "use e.g. 09:00-17:00"
    match = re.fullmatch(r"\s*(\d\d):(\d\d)\s*-\s*(\d\d):(\d\d)\s*", raw)
    if not match:
        raise ValueError(f"{name}='{raw}' is not HH:MM-HH:MM: {how}")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2):
        raise ValueError(f"{name}='{raw}' has a time that does not exist: hours run 00-23 (24:00 ends the day)")
    start, end = time(h1, m1), time(h2 % 24, m2)
    if end == MIDNIGHT:
        if h2 == 0:
            raise ValueError(f"{name}='{raw}' ends at 00:00: write 24:00 for hours that run until midnight")
        return start, end
    if end == start:
        raise ValueError(f"{name}='{raw}' opens and closes at the same time: {how}, or 00:00-24:00 round the clock")
    if end < start:
        raise ValueError(
            f"{name}='{raw}' runs past midnight: overnight hours are not supported; use hours within one day, "
            "e.g. 09:00-17:00 (00:00-24:00 for round the clock)"
        )
    return start, end


def parse_holidays(raw: str, name: str = "HOLIDAYS", base: Path | None = None) -> Holidays:
    """Comma-separated YYYY-MM-DD dates, or the path of an .ics file (relative to `base`, default the cwd)."""
    value = raw.strip()
    if not value:
        return Holidays()
    how = "list dates as YYYY-MM-DD,YYYY-MM-DD or give the path of an .ics file"
    if value.lower().endswith(".ics") or "/" in value or "\\" in value:
        path = Path(value) if base is None or Path(value).is_absolute() else base / value
        if not path.is_file():
            raise ValueError(f"{name}='{value}' does not exist: {how}")
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as error:
            raise ValueError(f"{name}='{value}' cannot be read ({error.__class__.__name__}): {how}") from None
        return parse_ics(text, source=f"{name}='{value}'")
    dates = []
    for part in value.split(","):
        word = part.strip()
        try:
            dates.append(parse_day(word))
        except ValueError:
            raise ValueError(f"{name}='{value}': '{word}' is not a date: {how}") from None
    return Holidays(tuple(Closure(d, d + timedelta(days=1)) for d in sorted(set(dates))))


# --------------------------------------------------------------------------- holidays


@dataclass(frozen=True)
class Closure:
    """One closed period, once or every `interval` years.

    `start`/`end` (exclusive) are dates for whole days, or naive wall times in `zone` (None: the calendar's zone).
    A yearly rule repeats on the start's month and day, or with `nth_weekday` = (n, weekday) on the n-th (from the
    end when negative) such weekday of the start's month ("4th Thursday of November").
    """

    start: date
    end: date
    zone: tzinfo | None = None
    interval: int = 0  # 0: once
    count: int | None = None
    until: date | None = None  # the last date an occurrence may start on
    nth_weekday: tuple[int, int] | None = None
    skip: frozenset[date] = frozenset()  # EXDATE: occurrences that do not happen

    @property
    def all_day(self) -> bool:
        return not isinstance(self.start, datetime)

    def _starts(self, first_year: int, last_year: int) -> Iterator[date]:
        """Start dates of the occurrences in these years."""
        begin = _date(self.start)
        for year in range(max(first_year, begin.year), last_year + 1):
            step = year - begin.year
            if (self.interval == 0 and step) or (self.interval and step % self.interval):
                continue
            if self.count is not None and self.interval and step // self.interval >= self.count:
                continue
            if self.nth_weekday is not None and step:
                day = _nth_weekday(year, begin.month, *self.nth_weekday)
            else:
                try:
                    day = begin.replace(year=year)
                except ValueError:  # 29 February in a common year: no occurrence (RFC 5545)
                    continue
            if day is None or day < begin or (self.until and day > self.until) or day in self.skip:
                continue
            yield day

    def _occurrences(self, around: date) -> Iterator[tuple[date, date]]:
        length = self.end - self.start
        years_back = length.days // 365 + 1
        for day in self._starts(around.year - years_back, around.year):
            if self.all_day:
                yield day, day + length
            else:
                assert isinstance(self.start, datetime)
                begin = datetime.combine(day, self.start.time())
                yield begin, begin + length

    def covers_day(self, day: date) -> bool:
        return self.all_day and any(begin <= day < end for begin, end in self._occurrences(day))

    def closed_between(self, day: date, zone: tzinfo) -> Iterator[tuple[datetime, datetime]]:
        """Timed occurrences near `day`, in UTC."""
        if self.all_day:
            return
        for begin, end in self._occurrences(day):
            assert isinstance(begin, datetime) and isinstance(end, datetime)
            where = self.zone or zone
            yield begin.replace(tzinfo=where).astimezone(UTC), end.replace(tzinfo=where).astimezone(UTC)


def _date(value: date) -> date:
    return value.date() if isinstance(value, datetime) else value


def _nth_weekday(year: int, month: int, n: int, weekday: int) -> date | None:
    first = date(year, month, 1)
    following = date(year + month // 12, month % 12 + 1, 1)
    days = [first + timedelta(days=i) for i in range((following - first).days)]
    matches = [d for d in days if d.weekday() == weekday]
    index = n - 1 if n > 0 else n
    return matches[index] if -len(matches) <= index < len(matches) else None


@dataclass(frozen=True)
class Holidays:
    """The team's closures (from `HOLIDAYS`); single whole days are looked up in a set."""

    closures: tuple[Closure, ...] = ()
    _days: frozenset[date] = field(init=False, repr=False, compare=False)
    _rules: tuple[Closure, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        one_day = timedelta(days=1)
        single = [c for c in self.closures if c.all_day and not c.interval and c.end - c.start == one_day]
        object.__setattr__(self, "_days", frozenset(c.start for c in single if c.start not in c.skip))
        object.__setattr__(self, "_rules", tuple(c for c in self.closures if c not in single))

    def covers_day(self, day: date) -> bool:
        """The whole local day is a holiday."""
        return day in self._days or any(c.covers_day(day) for c in self._rules)

    def closed_between(self, day: date, zone: tzinfo) -> list[tuple[datetime, datetime]]:
        """Part-day closures (timed events) near `day`, in UTC."""
        return [span for c in self._rules for span in c.closed_between(day, zone)]


# --------------------------------------------------------------------------- ICS
#
# Read by hand, not with icalendar + recurring-ical-events (weighed in issue 20): their errors name no line, they
# read on past a line they cannot parse, and they accept what this reader refuses with a reason (FREQ=WEEKLY,
# DURATION:PT4H on an all-day event, Windows TZIDs); each refusal would need this reader beside them. A test
# checks the holidays found here against theirs on the team calendar.


class _IcsError(ValueError):
    pass


def _content_lines(text: str) -> Iterator[tuple[int, str]]:
    """Unfolded content lines with the number of the physical line each starts on."""
    number, current = 0, None
    for index, line in enumerate(text.splitlines(), start=1):
        if line[:1] in (" ", "\t") and current is not None:
            current += line[1:]
            continue
        if current is not None:
            yield number, current
        number, current = index, line
    if current is not None:
        yield number, current


def _split_line(line: str) -> tuple[str, dict[str, str], str]:
    """NAME;PARAM=value;PARAM="quoted":VALUE -> (NAME, {PARAM: value}, VALUE)."""
    quoted = False
    for index, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == ":" and not quoted:
            head, value = line[:index], line[index + 1 :]
            break
    else:
        raise _IcsError(f"'{line[:40]}' is not NAME:VALUE")
    name, *params = head.split(";")
    parsed = {}
    for param in params:
        key, sep, val = param.partition("=")
        if not sep:
            raise _IcsError(f"parameter '{param}' of {name} has no value")
        parsed[key.strip().upper()] = val.strip().strip('"')
    return name.strip().upper(), parsed, value.strip()


def _ics_time(value: str, params: dict[str, str]) -> tuple[date, tzinfo | None]:
    kind = params.get("VALUE", "").upper()
    if kind == "DATE" or (not kind and re.fullmatch(r"\d{8}", value)):
        if not re.fullmatch(r"\d{8}", value):
            raise _IcsError(f"'{value}' is not a date (YYYYMMDD)")
        try:
            return datetime.strptime(value, "%Y%m%d").date(), None
        except ValueError:
            raise _IcsError(f"'{value}' is not a date (YYYYMMDD)") from None
    if kind not in ("", "DATE-TIME"):
        raise _IcsError(f"VALUE={kind} is not a date or a date-time")
    match = re.fullmatch(r"(\d{8}T\d{6})(Z?)", value)
    if not match:
        raise _IcsError(f"'{value}' is not a date-time (YYYYMMDDTHHMMSS, optionally ending in Z)")
    try:
        moment = datetime.strptime(match.group(1), "%Y%m%dT%H%M%S")
    except ValueError:
        raise _IcsError(f"'{value}' is not a date-time (YYYYMMDDTHHMMSS)") from None
    if match.group(2):
        return moment, UTC
    tzid = params.get("TZID")
    if tzid is None:
        return moment, None
    try:
        return moment, ZoneInfo(tzid.lstrip("/"))
    except (ZoneInfoNotFoundError, ValueError):
        raise _IcsError(f"TZID '{tzid}' is not an IANA time zone (such as Europe/Berlin)") from None


def _duration(value: str, all_day: bool) -> timedelta:
    match = re.fullmatch(r"\+?P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?", value)
    if not match or not any(match.groups()):
        raise _IcsError(f"DURATION '{value}' is not a positive duration such as P1D or PT4H")
    weeks, days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    if all_day and (hours or minutes or seconds):
        raise _IcsError(f"DURATION '{value}' of an all-day event must be whole days")
    return timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)


WEEKDAY_CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


def _rrule(value: str, start: date) -> dict[str, Any]:
    """The yearly rules holiday calendars use; anything else is refused."""
    parts: dict[str, str] = {}
    for item in value.split(";"):
        key, sep, val = item.partition("=")
        if not sep:
            raise _IcsError(f"RRULE part '{item}' is not KEY=VALUE")
        parts[key.strip().upper()] = val.strip().upper()
    supported = "only FREQ=YEARLY (with INTERVAL, COUNT or UNTIL, BYMONTH and BYDAY=4TH) is understood"
    if parts.get("FREQ") != "YEARLY":
        raise _IcsError(f"RRULE '{value}' does not repeat yearly: {supported}; list those dates one by one")
    unknown = set(parts) - {"FREQ", "INTERVAL", "COUNT", "UNTIL", "BYMONTH", "BYMONTHDAY", "BYDAY", "WKST"}
    if unknown:
        raise _IcsError(f"RRULE '{value}' uses {', '.join(sorted(unknown))}: {supported}")
    out: dict[str, Any] = {"interval": 1}
    for key in ("INTERVAL", "COUNT"):
        if key in parts:
            if not re.fullmatch(r"[1-9]\d*", parts[key]):
                raise _IcsError(f"RRULE {key}={parts[key]} is not a positive whole number")
            out[key.lower()] = int(parts[key])
    if "COUNT" in parts and "UNTIL" in parts:
        raise _IcsError(f"RRULE '{value}' has both COUNT and UNTIL: keep one")
    if "UNTIL" in parts:
        match = re.fullmatch(r"(\d{8})(T\d{6}Z?)?", parts["UNTIL"])
        try:
            out["until"] = datetime.strptime(match.group(1), "%Y%m%d").date() if match else None
        except ValueError:
            out["until"] = None
        if out["until"] is None:
            raise _IcsError(f"RRULE UNTIL={parts['UNTIL']} is not a date")
    if "BYMONTH" in parts and parts["BYMONTH"] != str(start.month):
        raise _IcsError(f"RRULE BYMONTH={parts['BYMONTH']} is not the month the event starts in: {supported}")
    if "BYDAY" in parts:
        match = re.fullmatch(r"([+-]?[1-5])(MO|TU|WE|TH|FR|SA|SU)", parts["BYDAY"])
        if not match or "BYMONTH" not in parts or "BYMONTHDAY" in parts:
            raise _IcsError(
                f"RRULE BYDAY={parts['BYDAY']} is not understood: use BYMONTH=11;BYDAY=4TH (the 4th Thursday) "
                "or BYDAY=-1MO (the last Monday)"
            )
        out["nth_weekday"] = (int(match.group(1)), WEEKDAY_CODES.index(match.group(2)))
        if _nth_weekday(start.year, start.month, *out["nth_weekday"]) != start:
            raise _IcsError(f"RRULE BYDAY={parts['BYDAY']} does not match the event's own start {start}")
    elif "BYMONTHDAY" in parts and parts["BYMONTHDAY"] != str(start.day):
        raise _IcsError(f"RRULE BYMONTHDAY={parts['BYMONTHDAY']} is not the day the event starts on: {supported}")
    return out


@dataclass
class _Event:
    line: int
    props: dict[str, tuple[int, dict[str, str], str]] = field(default_factory=dict)
    exdates: list[tuple[int, dict[str, str], str]] = field(default_factory=list)


def _closure(event: _Event) -> Closure | None:
    def value(key: str) -> tuple[int, dict[str, str], str] | None:
        return event.props.get(key)

    def at(line: int, error: _IcsError) -> ValueError:
        return ValueError(f"line {line}: {error}")

    if (status := value("STATUS")) and status[2].upper() == "CANCELLED":
        return None
    for refused in ("RDATE", "EXRULE", "RECURRENCE-ID"):
        if found := value(refused):
            raise ValueError(f"line {found[0]}: {refused} is not supported: list the dates as events of their own")
    dtstart = value("DTSTART")
    if dtstart is None:
        raise ValueError(f"line {event.line}: the event has no DTSTART")
    try:
        start, zone = _ics_time(dtstart[2], dtstart[1])
    except _IcsError as error:
        raise at(dtstart[0], error) from None
    all_day = not isinstance(start, datetime)
    if dtend := value("DTEND"):
        try:
            end, end_zone = _ics_time(dtend[2], dtend[1])
        except _IcsError as error:
            raise at(dtend[0], error) from None
        if isinstance(end, datetime) == all_day:
            raise ValueError(f"line {dtend[0]}: DTEND is a {'date-time' if all_day else 'date'} but DTSTART is not")
        if isinstance(end, datetime) and end_zone is not zone and zone is not None:
            assert isinstance(start, datetime)
            end = end.replace(tzinfo=end_zone).astimezone(zone).replace(tzinfo=None)
    elif duration := value("DURATION"):
        try:
            end = start + _duration(duration[2], all_day)
        except _IcsError as error:
            raise at(duration[0], error) from None
    elif all_day:
        end = start + timedelta(days=1)
    else:
        raise ValueError(f"line {dtstart[0]}: the event has a start time but no DTEND or DURATION: give it an end")
    if end <= start:
        raise ValueError(f"line {(dtend or dtstart)[0]}: the event ends before it starts")
    rule: dict[str, Any] = {}
    if rrule := value("RRULE"):
        try:
            rule = _rrule(rrule[2], _date(start))
        except _IcsError as error:
            raise at(rrule[0], error) from None
    skip = set()
    for line, params, text in event.exdates:
        for word in text.split(","):
            try:
                skip.add(_date(_ics_time(word.strip(), params)[0]))
            except _IcsError as error:
                raise at(line, error) from None
    return Closure(start, end, zone, skip=frozenset(skip), **rule)


def parse_ics(text: str, source: str = "the .ics file") -> Holidays:
    """The closures in an iCalendar file: VEVENTs with DTSTART and DTEND (or DURATION), all-day (VALUE=DATE,
    DTEND exclusive) or timed (UTC, TZID or floating = the calendar's zone), once or RRULE:FREQ=YEARLY.

    What it does not understand it refuses, naming the line: `ValueError("HOLIDAYS='x.ics' line 12: ...")`.
    """
    stack: list[tuple[str, int]] = []
    events: list[_Event] = []
    event: _Event | None = None
    try:
        for number, line in _content_lines(text):
            if not line.strip():
                continue
            if not stack and line.strip().upper() != "BEGIN:VCALENDAR":
                raise ValueError(f"line {number}: expected BEGIN:VCALENDAR, found '{line[:40]}': is this an .ics file?")
            try:
                name, params, value = _split_line(line)
            except _IcsError as error:
                raise ValueError(f"line {number}: {error}") from None
            if name == "BEGIN":
                stack.append((value.upper(), number))
                if stack[-1][0] == "VEVENT" and len(stack) == 2:
                    event = _Event(number)
            elif name == "END":
                if not stack or stack[-1][0] != value.upper():
                    expected = f"END:{stack[-1][0]}" if stack else "nothing more"
                    raise ValueError(f"line {number}: END:{value} where {expected} was expected")
                stack.pop()
                if event is not None and len(stack) == 1:
                    events.append(event)
                    event = None
            elif event is not None and len(stack) == 2:
                if name == "EXDATE":
                    event.exdates.append((number, params, value))
                elif name in event.props and name in ("DTSTART", "DTEND", "DURATION", "RRULE"):
                    raise ValueError(f"line {number}: the event has a second {name}")
                else:
                    event.props[name] = (number, params, value)
        if stack:
            raise ValueError(f"line {stack[-1][1]}: BEGIN:{stack[-1][0]} is never ended: the file is cut off")
        if not events:
            raise ValueError("no VEVENT in it: a holidays calendar needs one event per holiday")
        closures = tuple(c for c in (_closure(e) for e in events) if c is not None)
    except ValueError as error:
        raise ValueError(f"{source} {error}") from None
    return Holidays(closures)


# --------------------------------------------------------------------------- the calendar


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
            raise ValueError(f"{name}: respond_hours = {hours!r} is not a whole number of hours, e.g. 24")
        days = None
        if isinstance(text, str):
            match = re.fullmatch(r"\s*(\d+)\s*(business days?|working days?|hours?|h)\s*", text, re.IGNORECASE)
            if match:
                number = int(match.group(1))
                days = number if "day" in match.group(2).lower() else None
                said = number * 24 if days is not None else number
                if hours is not None and hours != said:
                    raise ValueError(
                        f"{name}: respond_within '{text}' and respond_hours = {hours} disagree (a business day "
                        f"counts as 24 hours): set respond_hours = {said}"
                    )
                hours = said
        if hours is None:
            raise ValueError(
                f'{name}: no SLA: set respond_within = "3 business days" or "24 hours", or respond_hours = 24'
            )
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
        raise ValueError(
            f"no business hours in the {HORIZON_DAYS} days from {day}: check WORK_DAYS, WORK_HOURS and HOLIDAYS"
        )

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
