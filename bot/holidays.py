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
from prompts import say


def parse_holidays(raw: str, name: str = "HOLIDAYS", base: Path | None = None) -> Holidays:
    """Comma-separated YYYY-MM-DD dates, or the path of an .ics file (relative to `base`, default the cwd)."""
    value = raw.strip()
    if not value:
        return Holidays()
    how = say("calendar.holidays.how")
    if value.lower().endswith(".ics") or "/" in value or "\\" in value:
        path = Path(value) if base is None or Path(value).is_absolute() else base / value
        if not path.is_file():
            raise ValueError(say("calendar.holidays.no_file", name=name, value=value, how=how))
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as error:
            error_name = error.__class__.__name__
            raise ValueError(
                say("calendar.holidays.unreadable", name=name, value=value, error=error_name, how=how)
            ) from None
        return parse_ics(text, source=f"{name}='{value}'")
    dates = []
    for part in value.split(","):
        word = part.strip()
        try:
            dates.append(parse_day(word))
        except ValueError:
            raise ValueError(say("calendar.holidays.not_a_date", name=name, value=value, word=word, how=how)) from None
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


def _at(line: int, error: object) -> ValueError:
    """What is wrong on the file's line `line` ("line 12: ...", in the language spoken)."""
    return ValueError(say("calendar.holidays.at_line", line=line, error=error))


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
        raise _IcsError(say("calendar.ics.not_name_value", line=line[:40]))
    name, *params = head.split(";")
    parsed = {}
    for param in params:
        key, sep, val = param.partition("=")
        if not sep:
            raise _IcsError(say("calendar.ics.param_no_value", param=param, name=name))
        parsed[key.strip().upper()] = val.strip().strip('"')
    return name.strip().upper(), parsed, value.strip()


def _ics_time(value: str, params: dict[str, str]) -> tuple[date, tzinfo | None]:
    kind = params.get("VALUE", "").upper()
    if kind == "DATE" or (not kind and re.fullmatch(r"\d{8}", value)):
        if not re.fullmatch(r"\d{8}", value):
            raise _IcsError(say("calendar.ics.not_date", value=value))
        try:
            return datetime.strptime(value, "%Y%m%d").date(), None
        except ValueError:
            raise _IcsError(say("calendar.ics.not_date", value=value)) from None
    if kind not in ("", "DATE-TIME"):
        raise _IcsError(say("calendar.ics.value_kind", kind=kind))
    match = re.fullmatch(r"(\d{8}T\d{6})(Z?)", value)
    if not match:
        raise _IcsError(say("calendar.ics.not_date_time", value=value))
    try:
        moment = datetime.strptime(match.group(1), "%Y%m%dT%H%M%S")
    except ValueError:
        raise _IcsError(say("calendar.ics.not_wall_time", value=value)) from None
    if match.group(2):
        return moment, UTC
    tzid = params.get("TZID")
    if tzid is None:
        return moment, None
    try:
        return moment, ZoneInfo(tzid.lstrip("/"))
    except (ZoneInfoNotFoundError, ValueError):
        raise _IcsError(say("calendar.ics.tzid", tzid=tzid)) from None


def _duration(value: str, all_day: bool) -> timedelta:
    match = re.fullmatch(r"\+?P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?", value)
    if not match or not any(match.groups()):
        raise _IcsError(say("calendar.ics.duration", value=value))
    weeks, days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    if all_day and (hours or minutes or seconds):
        raise _IcsError(say("calendar.ics.duration_all_day", value=value))
    return timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)


WEEKDAY_CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


def _rrule(value: str, start: date) -> dict[str, Any]:
    """The yearly rules holiday calendars use; anything else is refused."""
    parts: dict[str, str] = {}
    for item in value.split(";"):
        key, sep, val = item.partition("=")
        if not sep:
            raise _IcsError(say("calendar.ics.rrule.part", part=item))
        parts[key.strip().upper()] = val.strip().upper()
    supported = say("calendar.ics.rrule.supported")
    if parts.get("FREQ") != "YEARLY":
        raise _IcsError(say("calendar.ics.rrule.not_yearly", rule=value, supported=supported))
    unknown = set(parts) - {"FREQ", "INTERVAL", "COUNT", "UNTIL", "BYMONTH", "BYMONTHDAY", "BYDAY", "WKST"}
    if unknown:
        raise _IcsError(
            say("calendar.ics.rrule.unknown", rule=value, parts=", ".join(sorted(unknown)), supported=supported)
        )
    out: dict[str, Any] = {"interval": 1}
    for key in ("INTERVAL", "COUNT"):
        if key in parts:
            if not re.fullmatch(r"[1-9]\d*", parts[key]):
                raise _IcsError(say("calendar.ics.rrule.not_positive", key=key, value=parts[key]))
            out[key.lower()] = int(parts[key])
    if "COUNT" in parts and "UNTIL" in parts:
        raise _IcsError(say("calendar.ics.rrule.count_and_until", rule=value))
    if "UNTIL" in parts:
        match = re.fullmatch(r"(\d{8})(T\d{6}Z?)?", parts["UNTIL"])
        try:
            out["until"] = datetime.strptime(match.group(1), "%Y%m%d").date() if match else None
        except ValueError:
            out["until"] = None
        if out["until"] is None:
            raise _IcsError(say("calendar.ics.rrule.until", value=parts["UNTIL"]))
    if "BYMONTH" in parts and parts["BYMONTH"] != str(start.month):
        raise _IcsError(say("calendar.ics.rrule.bymonth", value=parts["BYMONTH"], supported=supported))
    if "BYDAY" in parts:
        match = re.fullmatch(r"([+-]?[1-5])(MO|TU|WE|TH|FR|SA|SU)", parts["BYDAY"])
        if not match or "BYMONTH" not in parts or "BYMONTHDAY" in parts:
            raise _IcsError(say("calendar.ics.rrule.byday", value=parts["BYDAY"]))
        out["nth_weekday"] = (int(match.group(1)), WEEKDAY_CODES.index(match.group(2)))
        if _nth_weekday(start.year, start.month, *out["nth_weekday"]) != start:
            raise _IcsError(say("calendar.ics.rrule.byday_start", value=parts["BYDAY"], start=start))
    elif "BYMONTHDAY" in parts and parts["BYMONTHDAY"] != str(start.day):
        raise _IcsError(say("calendar.ics.rrule.bymonthday", value=parts["BYMONTHDAY"], supported=supported))
    return out


@dataclass
class _Event:
    line: int
    props: dict[str, tuple[int, dict[str, str], str]] = field(default_factory=dict)
    exdates: list[tuple[int, dict[str, str], str]] = field(default_factory=list)


def _closure(event: _Event) -> Closure | None:
    def value(key: str) -> tuple[int, dict[str, str], str] | None:
        return event.props.get(key)

    if (status := value("STATUS")) and status[2].upper() == "CANCELLED":
        return None
    for refused in ("RDATE", "EXRULE", "RECURRENCE-ID"):
        if found := value(refused):
            raise _at(found[0], say("calendar.ics.refused", name=refused))
    dtstart = value("DTSTART")
    if dtstart is None:
        raise _at(event.line, say("calendar.ics.no_start"))
    try:
        start, zone = _ics_time(dtstart[2], dtstart[1])
    except _IcsError as error:
        raise _at(dtstart[0], error) from None
    all_day = not isinstance(start, datetime)
    if dtend := value("DTEND"):
        try:
            end, end_zone = _ics_time(dtend[2], dtend[1])
        except _IcsError as error:
            raise _at(dtend[0], error) from None
        if isinstance(end, datetime) == all_day:
            raise _at(dtend[0], say("calendar.ics.end_date_time" if all_day else "calendar.ics.end_date"))
        if isinstance(end, datetime) and end_zone is not zone and zone is not None:
            assert isinstance(start, datetime)
            end = end.replace(tzinfo=end_zone).astimezone(zone).replace(tzinfo=None)
    elif duration := value("DURATION"):
        try:
            end = start + _duration(duration[2], all_day)
        except _IcsError as error:
            raise _at(duration[0], error) from None
    elif all_day:
        end = start + timedelta(days=1)
    else:
        raise _at(dtstart[0], say("calendar.ics.no_end"))
    if end <= start:
        raise _at((dtend or dtstart)[0], say("calendar.ics.ends_before"))
    rule: dict[str, Any] = {}
    if rrule := value("RRULE"):
        try:
            rule = _rrule(rrule[2], _date(start))
        except _IcsError as error:
            raise _at(rrule[0], error) from None
    skip = set()
    for line, params, text in event.exdates:
        for word in text.split(","):
            try:
                skip.add(_date(_ics_time(word.strip(), params)[0]))
            except _IcsError as error:
                raise _at(line, error) from None
    return Closure(start, end, zone, skip=frozenset(skip), **rule)


def parse_ics(text: str, source: str | None = None) -> Holidays:
    """The closures in an iCalendar file: VEVENTs with DTSTART and DTEND (or DURATION), all-day (VALUE=DATE,
    DTEND exclusive) or timed (UTC, TZID or floating = the calendar's zone), once or RRULE:FREQ=YEARLY.

    What it does not understand it refuses, naming the line: `ValueError("HOLIDAYS='x.ics' line 12: ...")`, worded
    in prompts/calendar.toml in the language spoken (`source` default: "the .ics file" in it).
    """
    stack: list[tuple[str, int]] = []
    events: list[_Event] = []
    event: _Event | None = None
    try:
        for number, line in _content_lines(text):
            if not line.strip():
                continue
            if not stack and line.strip().upper() != "BEGIN:VCALENDAR":
                raise _at(number, say("calendar.ics.not_calendar", found=line[:40]))
            try:
                name, params, value = _split_line(line)
            except _IcsError as error:
                raise _at(number, error) from None
            if name == "BEGIN":
                stack.append((value.upper(), number))
                if stack[-1][0] == "VEVENT" and len(stack) == 2:
                    event = _Event(number)
            elif name == "END":
                if not stack or stack[-1][0] != value.upper():
                    if stack:
                        raise _at(number, say("calendar.ics.wrong_end", value=value, expected=f"END:{stack[-1][0]}"))
                    raise _at(number, say("calendar.ics.extra_end", value=value))
                stack.pop()
                if event is not None and len(stack) == 1:
                    events.append(event)
                    event = None
            elif event is not None and len(stack) == 2:
                if name == "EXDATE":
                    event.exdates.append((number, params, value))
                elif name in event.props and name in ("DTSTART", "DTEND", "DURATION", "RRULE"):
                    raise _at(number, say("calendar.ics.second", name=name))
                else:
                    event.props[name] = (number, params, value)
        if stack:
            raise _at(stack[-1][1], say("calendar.ics.never_ended", name=stack[-1][0]))
        if not events:
            raise ValueError(say("calendar.ics.no_event"))
        closures = tuple(c for c in (_closure(e) for e in events) if c is not None)
    except ValueError as error:
        where = source or say("calendar.holidays.file")
        raise ValueError(say("calendar.holidays.in_file", source=where, error=error)) from None
    return Holidays(closures)
