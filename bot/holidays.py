"""The team's holidays (`HOLIDAYS`): dates listed in the setting, or an .ics calendar read line by line."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.dates import parse_day


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
