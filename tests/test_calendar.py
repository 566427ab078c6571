"""The business calendar: opening hours, holidays (dates and .ics), business hours and days, SLAs, DST."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest
import recurring_ical_events

from bot.calendar import BusinessCalendar, Sla, parse_timezone, parse_work_days, parse_work_hours
from bot.holidays import parse_holidays, parse_ics
from prompts import raw

BERLIN = ZoneInfo("Europe/Berlin")
RIYADH = ZoneInfo("Asia/Riyadh")


def berlin(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN)


OFFICE = BusinessCalendar.parse("Europe/Berlin", "Mon-Fri", "09:00-17:00", "2024-12-25,2024-12-26,2025-01-01")


# --------------------------------------------------------------------------- weekends and evenings


def test_four_business_hours_from_friday_afternoon_end_on_monday_noon() -> None:
    assert OFFICE.add_hours(berlin(2024, 6, 7, 16, 0), 4) == berlin(2024, 6, 10, 12, 0)


def test_open_and_next_open_around_a_weekend() -> None:
    friday_close, saturday, monday_open = berlin(2024, 6, 7, 17, 0), berlin(2024, 6, 8, 10, 0), berlin(2024, 6, 10, 9)

    assert [OFFICE.is_open(t) for t in (berlin(2024, 6, 7, 9, 0), berlin(2024, 6, 7, 16, 59), friday_close)] == [
        True,
        True,
        False,
    ]
    assert [OFFICE.next_open(t) for t in (friday_close, saturday, monday_open)] == [monday_open] * 3
    assert OFFICE.next_open(saturday).tzinfo is BERLIN


def test_a_deadline_may_land_exactly_on_closing_time() -> None:
    assert OFFICE.add_hours(berlin(2024, 6, 7, 16, 0), 1) == berlin(2024, 6, 7, 17, 0)
    assert OFFICE.add_hours(berlin(2024, 6, 7, 16, 0), 1.25) == berlin(2024, 6, 10, 9, 15)


def test_starts_in_the_evening_or_at_night_count_from_the_next_opening() -> None:
    starts = [berlin(2024, 6, 3, 20, 0), berlin(2024, 6, 4, 3, 0), berlin(2024, 6, 8, 3, 0), berlin(2024, 6, 4, 8, 59)]

    assert [OFFICE.add_hours(t, 2) for t in starts] == [
        berlin(2024, 6, 4, 11, 0),
        berlin(2024, 6, 4, 11, 0),
        berlin(2024, 6, 10, 11, 0),
        berlin(2024, 6, 4, 11, 0),
    ]
    assert [OFFICE.add_hours(t, 0) for t in starts] == [OFFICE.next_open(t) for t in starts]


def test_business_days_keep_the_clock_time_and_skip_weekends() -> None:
    starts = [
        berlin(2024, 6, 3, 10, 30),  # Monday in hours
        berlin(2024, 6, 6, 10, 30),  # Thursday: over the weekend
        berlin(2024, 6, 7, 18, 0),  # Friday evening: Wednesday 18:00 is closed, so Thursday's opening
        berlin(2024, 6, 8, 10, 0),  # Saturday: counts from Monday 00:00
        berlin(2024, 6, 3, 7, 0),  # Monday before opening
    ]

    assert [OFFICE.add_days(t, 3) for t in starts] == [
        berlin(2024, 6, 6, 10, 30),
        berlin(2024, 6, 11, 10, 30),
        berlin(2024, 6, 13, 9, 0),
        berlin(2024, 6, 13, 9, 0),
        berlin(2024, 6, 6, 9, 0),
    ]
    assert [OFFICE.add_days(t, 0) for t in starts] == [OFFICE.next_open(t) for t in starts]


def test_holidays_from_a_list_of_dates() -> None:
    christmas_eve = berlin(2024, 12, 24, 16, 0)

    assert OFFICE.add_hours(christmas_eve, 4) == berlin(2024, 12, 27, 12, 0)
    assert OFFICE.add_days(christmas_eve, 3) == berlin(2024, 12, 31, 16, 0)  # Fri 27, Mon 30, Tue 31
    assert OFFICE.add_days(berlin(2024, 12, 31, 10, 0), 1) == berlin(2025, 1, 2, 10, 0)
    assert [OFFICE.is_business_day(date(2024, 12, d)) for d in range(23, 28)] == [True, True, False, False, True]


# --------------------------------------------------------------------------- a Sun-Thu week, round the clock, DST


def test_a_sunday_to_thursday_week() -> None:
    week = BusinessCalendar.parse("Asia/Riyadh", "Sun-Thu", "08:00-16:00")
    thursday = datetime(2024, 6, 6, 15, 0, tzinfo=RIYADH)

    assert week.work_days == frozenset({6, 0, 1, 2, 3})
    assert [week.is_business_day(date(2024, 6, d)) for d in range(2, 9)] == [True] * 5 + [False, False]
    assert week.add_hours(thursday, 2) == datetime(2024, 6, 9, 9, 0, tzinfo=RIYADH)
    assert week.add_days(thursday, 1) == datetime(2024, 6, 9, 15, 0, tzinfo=RIYADH)
    assert week.next_open(datetime(2024, 6, 7, 12, 0, tzinfo=RIYADH)) == datetime(2024, 6, 9, 8, 0, tzinfo=RIYADH)


def test_business_hours_across_the_spring_dst_change() -> None:
    friday = berlin(2024, 3, 29, 16, 0)  # CET; clocks go forward on Sunday 31 March

    due = OFFICE.add_hours(friday, 2)

    assert due == berlin(2024, 4, 1, 10, 0)
    assert due.utcoffset() == timedelta(hours=2)
    assert due.astimezone(UTC) - friday.astimezone(UTC) == timedelta(hours=65)  # a weekend one hour short
    assert OFFICE.add_days(friday, 1) == berlin(2024, 4, 1, 16, 0)


def test_round_the_clock_hours_are_real_hours_across_dst_and_days_keep_the_wall_time() -> None:
    always = BusinessCalendar.parse("Europe/Berlin", "Mon-Sun", "00:00-24:00")

    assert always.end == time(0, 0)
    assert always.is_open(berlin(2024, 3, 31, 3, 0)) and always.is_open(berlin(2024, 3, 30, 23, 59))
    assert always.add_hours(berlin(2024, 3, 30, 12, 0), 24) == berlin(2024, 3, 31, 13, 0)
    assert always.add_hours(berlin(2024, 10, 26, 12, 0), 24) == berlin(2024, 10, 27, 11, 0)
    assert always.add_days(berlin(2024, 3, 30, 12, 0), 1) == berlin(2024, 3, 31, 12, 0)
    assert always.add_clock_hours(berlin(2024, 3, 30, 12, 0), 24) == berlin(2024, 3, 31, 13, 0)


def test_a_weekend_team_whose_opening_falls_in_the_dst_gap_opens_when_the_clock_says_so() -> None:
    night = BusinessCalendar.parse("Europe/Berlin", "Sun", "02:30-04:00")

    assert night.next_open(berlin(2024, 3, 31, 0, 0)) == datetime(2024, 3, 31, 1, 30, tzinfo=UTC)
    assert night.next_open(berlin(2024, 3, 31, 0, 0)) == berlin(2024, 3, 31, 3, 30)
    assert night.add_hours(berlin(2024, 3, 31, 0, 0), 1) == berlin(2024, 4, 7, 3, 0)  # only 30 minutes that night


def test_aware_datetimes_in_another_zone_are_answered_in_the_calendars_zone() -> None:
    friday_utc = datetime(2024, 6, 7, 14, 0, tzinfo=UTC)  # 16:00 in Berlin

    assert OFFICE.add_hours(friday_utc, 4) == berlin(2024, 6, 10, 12, 0)
    assert OFFICE.add_hours(friday_utc, 4).tzinfo is BERLIN


def test_naive_datetimes_and_negative_amounts_are_refused() -> None:
    with pytest.raises(ValueError) as naive:
        OFFICE.is_open(datetime(2024, 6, 7, 16, 0))
    with pytest.raises(ValueError) as negative:
        OFFICE.add_hours(berlin(2024, 6, 7, 16, 0), -1)
    with pytest.raises(ValueError) as fraction:
        OFFICE.add_days(berlin(2024, 6, 7, 16, 0), 1.5)  # type: ignore[arg-type]

    assert str(naive.value) == "2024-06-07 16:00:00 has no time zone: give an aware datetime"
    assert str(negative.value) == "hours=-1 is not a number of hours, 0 or more"
    assert str(fraction.value) == "days=1.5 is not a whole number of days, 0 or more"


def test_a_calendar_that_never_opens_says_which_settings_to_check() -> None:
    shut = BusinessCalendar.parse("UTC", "Mon", "09:00-17:00", "2024-06-03")
    never = BusinessCalendar(UTC, frozenset({0}), time(9), time(17), parse_ics(YEARLY_MONDAY_ICS))

    assert shut.next_open(datetime(2024, 6, 3, 10, tzinfo=UTC)) == datetime(2024, 6, 10, 9, tzinfo=UTC)
    with pytest.raises(ValueError) as info:
        never.next_open(datetime(2024, 6, 4, tzinfo=UTC))
    assert (
        str(info.value)
        == "no business hours in the 1098 days from 2024-06-04: check WORK_DAYS, WORK_HOURS and HOLIDAYS"
    )


YEARLY_MONDAY_ICS = (
    "BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART;VALUE=DATE:20240101\nDURATION:P366D\nRRULE:FREQ=YEARLY\n"
    "END:VEVENT\nEND:VCALENDAR\n"
)


# --------------------------------------------------------------------------- .ics holidays

HOLIDAYS_ICS = """\
BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//test//holidays//EN\r
BEGIN:VTIMEZONE\r
TZID:Europe/Berlin\r
BEGIN:STANDARD\r
DTSTART:19701025T030000\r
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r
TZOFFSETFROM:+0200\r
TZOFFSETTO:+0100\r
END:STANDARD\r
END:VTIMEZONE\r
BEGIN:VEVENT\r
UID:christmas@test\r
SUMMARY:Christmas Day and Boxing Day, a long summary folded over\r
  two lines\r
DTSTART;VALUE=DATE:20201225\r
DTEND;VALUE=DATE:20201227\r
RRULE:FREQ=YEARLY\r
END:VEVENT\r
END:VCALENDAR\r
"""


def _ics(*events: str) -> str:
    body = "".join(f"BEGIN:VEVENT\n{e.strip()}\nEND:VEVENT\n" for e in events)
    return f"BEGIN:VCALENDAR\nVERSION:2.0\n{body}END:VCALENDAR\n"


TEAM_ICS = HOLIDAYS_ICS.replace(
    "END:VCALENDAR\r\n",
    """\
BEGIN:VEVENT\r
SUMMARY:New Year\r
DTSTART;VALUE=DATE:20200101\r
RRULE:FREQ=YEARLY;BYMONTH=1;BYMONTHDAY=1\r
BEGIN:VALARM\r
TRIGGER:-PT15M\r
DTSTART:20200101T000000\r
END:VALARM\r
END:VEVENT\r
BEGIN:VEVENT\r
SUMMARY:Christmas Eve afternoon (closed from noon)\r
DTSTART;TZID=Europe/Berlin:20211224T120000\r
DTEND;TZID=Europe/Berlin:20211224T170000\r
RRULE:FREQ=YEARLY;UNTIL=20251231\r
END:VEVENT\r
BEGIN:VEVENT\r
SUMMARY:Team offsite (one-off, two days)\r
DTSTART;VALUE=DATE:20251210\r
DURATION:P2D\r
END:VEVENT\r
BEGIN:VEVENT\r
SUMMARY:Company day, every second year from 2021, skipped in 2025\r
DTSTART;VALUE=DATE:20210604\r
RRULE:FREQ=YEARLY;INTERVAL=2\r
EXDATE;VALUE=DATE:20250604\r
END:VEVENT\r
BEGIN:VEVENT\r
SUMMARY:Thanksgiving (4th Thursday of November), three times\r
DTSTART;VALUE=DATE:20221124\r
RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=4TH;COUNT=3\r
END:VEVENT\r
BEGIN:VEVENT\r
SUMMARY:Cancelled closure\r
STATUS:CANCELLED\r
DTSTART;VALUE=DATE:20251215\r
END:VEVENT\r
BEGIN:VEVENT\r
SUMMARY:Network maintenance, in UTC\r
DTSTART:20251216T130000Z\r
DTEND:20251216T140000Z\r
END:VEVENT\r
END:VCALENDAR\r
""",
)


def closed_days(calendar: BusinessCalendar, first: date, last: date) -> list[str]:
    days = (first + timedelta(days=i) for i in range((last - first).days + 1))
    return [d.isoformat() for d in days if d.weekday() < 5 and not calendar.is_business_day(d)]


def test_holidays_from_an_ics_file_with_yearly_rules(tmp_path: Path) -> None:
    (tmp_path / "holidays.ics").write_text(TEAM_ICS, encoding="utf-8")
    calendar = BusinessCalendar.from_env(
        {"TIMEZONE": "Europe/Berlin", "WORK_DAYS": "Mon-Fri", "WORK_HOURS": "09:00-17:00", "HOLIDAYS": "holidays.ics"},
        base=tmp_path,
    )

    assert closed_days(calendar, date(2021, 1, 1), date(2026, 1, 2)) == [
        "2021-01-01", "2021-06-04", "2022-11-24", "2022-12-26", "2023-11-23", "2023-12-25", "2023-12-26",
        "2024-01-01", "2024-11-28", "2024-12-25", "2024-12-26", "2025-01-01", "2025-12-10", "2025-12-11",
        "2025-12-25", "2025-12-26", "2026-01-01",
    ]  # fmt: skip


def test_part_day_closures_from_an_ics_file(tmp_path: Path) -> None:
    (tmp_path / "holidays.ics").write_text(TEAM_ICS, encoding="utf-8")
    calendar = BusinessCalendar.parse("Europe/Berlin", holidays=str(tmp_path / "holidays.ics"))

    assert calendar.openings(date(2024, 12, 24)) == [
        (datetime(2024, 12, 24, 8, 0, tzinfo=UTC), datetime(2024, 12, 24, 11, 0, tzinfo=UTC))
    ]
    assert calendar.add_hours(berlin(2024, 12, 24, 11, 0), 2) == berlin(2024, 12, 27, 10, 0)
    assert calendar.openings(date(2025, 12, 16)) == [
        (datetime(2025, 12, 16, 8, 0, tzinfo=UTC), datetime(2025, 12, 16, 13, 0, tzinfo=UTC)),
        (datetime(2025, 12, 16, 14, 0, tzinfo=UTC), datetime(2025, 12, 16, 16, 0, tzinfo=UTC)),
    ]
    assert calendar.add_hours(berlin(2025, 12, 16, 13, 30), 1) == berlin(2025, 12, 16, 15, 30)
    assert calendar.openings(date(2026, 12, 24)) == [  # UNTIL=20251231: open all day again
        (datetime(2026, 12, 24, 8, 0, tzinfo=UTC), datetime(2026, 12, 24, 16, 0, tzinfo=UTC))
    ]
    assert calendar.is_open(berlin(2025, 12, 15, 10, 0))  # the cancelled closure


@pytest.mark.parametrize(
    ("ics", "message"),
    [
        ("hello\n", "line 1: expected BEGIN:VCALENDAR, found 'hello': is this an .ics file?"),
        ("BEGIN:VCALENDAR\nVERSION:2.0\nEND:VCALENDAR\n",
         "no VEVENT in it: a holidays calendar needs one event per holiday"),
        ("BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART;VALUE=DATE:20241225\n",
         "line 2: BEGIN:VEVENT is never ended: the file is cut off"),
        ("BEGIN:VCALENDAR\nBEGIN:VEVENT\nEND:VCALENDAR\n", "line 3: END:VCALENDAR where END:VEVENT was expected"),
        (_ics("DTSTART;VALUE=DATE:20241225\nRRULE:FREQ=WEEKLY;BYDAY=MO"),
         "line 5: RRULE 'FREQ=WEEKLY;BYDAY=MO' does not repeat yearly: only FREQ=YEARLY (with INTERVAL, COUNT or "
         "UNTIL, BYMONTH and BYDAY=4TH) is understood; list those dates one by one"),
        (_ics("DTSTART;VALUE=DATE:20241225\nRRULE:FREQ=YEARLY;BYYEARDAY=360"),
         "line 5: RRULE 'FREQ=YEARLY;BYYEARDAY=360' uses BYYEARDAY: only FREQ=YEARLY (with INTERVAL, COUNT or "
         "UNTIL, BYMONTH and BYDAY=4TH) is understood"),
        (_ics("DTSTART;VALUE=DATE:20241225\nRRULE:FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=24"),
         "line 5: RRULE BYMONTHDAY=24 is not the day the event starts on: only FREQ=YEARLY (with INTERVAL, COUNT or "
         "UNTIL, BYMONTH and BYDAY=4TH) is understood"),
        (_ics("DTSTART;VALUE=DATE:20241128\nRRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=3TH"),
         "line 5: RRULE BYDAY=3TH does not match the event's own start 2024-11-28"),
        (_ics("DTSTART;TZID=W. Europe Standard Time:20241224T120000\nDTEND:20241224T170000"),
         "line 4: TZID 'W. Europe Standard Time' is not an IANA time zone (such as Europe/Berlin)"),
        (_ics("DTSTART:20241224T120000"),
         "line 4: the event has a start time but no DTEND or DURATION: give it an end"),
        (_ics("DTSTART;VALUE=DATE:20241225\nDTEND;VALUE=DATE:20241224"), "line 5: the event ends before it starts"),
        (_ics("DTSTART;VALUE=DATE:20241225\nDTEND:20241226T000000"),
         "line 5: DTEND is a date-time but DTSTART is not"),
        (_ics("DTSTART;VALUE=DATE:20241332"), "line 4: '20241332' is not a date (YYYYMMDD)"),
        (_ics("DTSTART;VALUE=DATE:20241225\nRDATE;VALUE=DATE:20251225"),
         "line 5: RDATE is not supported: list the dates as events of their own"),
        (_ics("SUMMARY:no start"), "line 3: the event has no DTSTART"),
        (_ics("DTSTART;VALUE=DATE:20241225\nDURATION:PT4H"),
         "line 5: DURATION 'PT4H' of an all-day event must be whole days"),
        (_ics("DTSTART;VALUE=DATE:20241225\nno colon here"), "line 5: 'no colon here' is not NAME:VALUE"),
    ],
)  # fmt: skip
def test_an_ics_file_it_does_not_understand_is_refused_with_its_line(ics: str, message: str, tmp_path: Path) -> None:
    (tmp_path / "h.ics").write_text(ics, encoding="utf-8")

    with pytest.raises(ValueError) as info:
        parse_holidays("h.ics", base=tmp_path)

    assert str(info.value) == f"HOLIDAYS='h.ics' {message}"


def test_ics_holidays_agree_with_recurring_ical_events() -> None:
    """The hand-written reader (kept for its line-numbered refusals) against icalendar + recurring-ical-events on
    the team's calendar: the same whole days closed and the same part-day closures, 2019 to 2027."""
    ours = parse_ics(TEAM_ICS)
    first, last = date(2019, 1, 1), date(2027, 12, 31)
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]

    theirs_days: set[date] = set()
    theirs_spans: set[tuple[datetime, datetime]] = set()
    for event in recurring_ical_events.of(icalendar.Calendar.from_ical(TEAM_ICS)).between(first, last):
        if str(event.get("STATUS", "")).upper() == "CANCELLED":
            continue
        begin, end = event["DTSTART"].dt, event["DTEND"].dt
        if isinstance(begin, datetime):
            theirs_spans.add((begin.astimezone(UTC), end.astimezone(UTC)))
        else:
            theirs_days.update(begin + timedelta(days=i) for i in range((end - begin).days))

    assert len(theirs_days) == 32 and len(theirs_spans) == 6  # not vacuous: 16 + 8 + 2 + 3 + 3 days, 5 + 1 spans
    assert {d for d in days if ours.covers_day(d)} == theirs_days
    assert {span for d in days for span in ours.closed_between(d, BERLIN)} == theirs_spans


# --------------------------------------------------------------------------- settings


def test_settings_parse_to_values() -> None:
    assert parse_work_days("Mon-Fri") == frozenset(range(5))
    assert parse_work_days("Mon,Tue,Thu") == frozenset({0, 1, 3})
    assert parse_work_days("Fri-Mon") == frozenset({4, 5, 6, 0})
    assert parse_work_days(" monday, TU ,Wed-th,Sunday-sun") == frozenset({0, 1, 2, 3, 6})
    assert parse_work_hours("09:00-17:00") == (time(9), time(17))
    assert parse_work_hours("07:30 - 24:00") == (time(7, 30), time(0))
    assert parse_work_hours("00:00-24:00") == (time(0), time(0))
    assert parse_timezone("Europe/Berlin") == BERLIN
    assert parse_holidays("2024-12-26, 2024-12-25,2024-12-25") == parse_holidays("2024-12-25,2024-12-26")
    assert BusinessCalendar.from_env({}) == BusinessCalendar()
    assert BusinessCalendar() == BusinessCalendar(ZoneInfo("UTC"), frozenset(range(5)), time(9), time(17))


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("WORK_HOURS", "9-5", "WORK_HOURS='9-5' is not HH:MM-HH:MM: use e.g. 09:00-17:00"),
        ("WORK_HOURS", "9:00-17:00", "WORK_HOURS='9:00-17:00' is not HH:MM-HH:MM: use e.g. 09:00-17:00"),
        ("WORK_HOURS", "22:00-06:00",
         "WORK_HOURS='22:00-06:00' runs past midnight: overnight hours are not supported; use hours within one day, "
         "e.g. 09:00-17:00 (00:00-24:00 for round the clock)"),
        ("WORK_HOURS", "09:00-09:00",
         "WORK_HOURS='09:00-09:00' opens and closes at the same time: use e.g. 09:00-17:00, or 00:00-24:00 round "
         "the clock"),
        ("WORK_HOURS", "09:00-25:00",
         "WORK_HOURS='09:00-25:00' has a time that does not exist: hours run 00-23 (24:00 ends the day)"),
        ("WORK_HOURS", "09:00-00:00",
         "WORK_HOURS='09:00-00:00' ends at 00:00: write 24:00 for hours that run until midnight"),
        ("WORK_DAYS", "Mon-Fry",
         "WORK_DAYS='Mon-Fry': 'Fry' is not a day name: use day names or ranges such as Mon-Fri, Sun-Thu or "
         "Mon,Tue,Thu"),
        ("WORK_DAYS", "Mon-Wed-Fri",
         "WORK_DAYS='Mon-Wed-Fri': 'Mon-Wed-Fri' is not a day or a range of two days: use day names or ranges such "
         "as Mon-Fri, Sun-Thu or Mon,Tue,Thu"),
        ("WORK_DAYS", "T", "WORK_DAYS='T': 'T' is not a day name: use day names or ranges such as Mon-Fri, Sun-Thu "
         "or Mon,Tue,Thu"),
        ("HOLIDAYS", "2024-12-25,2024-13-01",
         "HOLIDAYS='2024-12-25,2024-13-01': '2024-13-01' is not a date: list dates as YYYY-MM-DD,YYYY-MM-DD or give "
         "the path of an .ics file"),
        ("HOLIDAYS", "25.12.2024",
         "HOLIDAYS='25.12.2024': '25.12.2024' is not a date: list dates as YYYY-MM-DD,YYYY-MM-DD or give the path "
         "of an .ics file"),
        ("HOLIDAYS", "missing.ics",
         "HOLIDAYS='missing.ics' does not exist: list dates as YYYY-MM-DD,YYYY-MM-DD or give the path of an .ics "
         "file"),
        ("TIMEZONE", "Mars/Base",
         "TIMEZONE='Mars/Base' is not a known time zone: use an IANA name such as Europe/Berlin or America/New_York"),
    ],
)  # fmt: skip
def test_bad_settings_are_refused_with_one_line_naming_the_setting(
    setting: str, value: str, message: str, tmp_path: Path
) -> None:
    with pytest.raises(ValueError) as info:
        BusinessCalendar.from_env({setting: value}, base=tmp_path)

    assert str(info.value) == message


def test_an_empty_work_days_value_is_refused_when_given_directly() -> None:
    with pytest.raises(ValueError) as info:
        parse_work_days(" ")

    assert str(info.value) == "WORK_DAYS is empty: use day names or ranges such as Mon-Fri, Sun-Thu or Mon,Tue,Thu"


# --------------------------------------------------------------------------- SLAs from the playbooks


def test_due_for_the_shipped_playbooks() -> None:
    playbooks = raw("playbooks")
    starts = {
        "tuesday 15:00": berlin(2024, 6, 4, 15, 0),
        "friday 16:00": berlin(2024, 6, 7, 16, 0),
        "saturday 03:00": berlin(2024, 6, 8, 3, 0),
        "christmas eve 10:00": berlin(2024, 12, 24, 10, 0),
    }

    due = {
        (when, tier): OFFICE.due(at, playbooks[tier]).isoformat(timespec="minutes")
        for when, at in starts.items()
        for tier in ("low_risk", "medium_risk", "high_risk")
    }

    assert due == {
        ("tuesday 15:00", "low_risk"): "2024-06-07T15:00+02:00",
        ("tuesday 15:00", "medium_risk"): "2024-06-05T15:00+02:00",
        ("tuesday 15:00", "high_risk"): "2024-06-05T09:00+02:00",  # 19:00 is after hours
        ("friday 16:00", "low_risk"): "2024-06-12T16:00+02:00",
        ("friday 16:00", "medium_risk"): "2024-06-10T16:00+02:00",
        ("friday 16:00", "high_risk"): "2024-06-10T09:00+02:00",
        ("saturday 03:00", "low_risk"): "2024-06-13T09:00+02:00",
        ("saturday 03:00", "medium_risk"): "2024-06-11T09:00+02:00",
        ("saturday 03:00", "high_risk"): "2024-06-10T09:00+02:00",
        ("christmas eve 10:00", "low_risk"): "2024-12-31T10:00+01:00",
        ("christmas eve 10:00", "medium_risk"): "2024-12-27T10:00+01:00",
        ("christmas eve 10:00", "high_risk"): "2024-12-24T14:00+01:00",
    }


def test_sla_readings_and_refusals() -> None:
    assert Sla.from_playbook({"respond_within": "3 business days", "respond_hours": 72}) == Sla(72, 3)
    assert Sla.from_playbook({"respond_within": "24 hours"}) == Sla(24)
    assert Sla.from_playbook({"respond_within": "4 h", "respond_hours": 4}) == Sla(4)
    assert Sla.from_playbook({"respond_within": "same day", "respond_hours": 8}) == Sla(8)
    assert Sla.from_playbook({"respond_hours": 48}) == Sla(48)
    messages = []
    for entry in ({"respond_within": "2 business days", "respond_hours": 72}, {"respond_within": "soon"}, {}):
        with pytest.raises(ValueError) as info:
            Sla.from_playbook(entry, name="low_risk")
        messages.append(str(info.value))

    assert messages == [
        "low_risk: respond_within '2 business days' and respond_hours = 72 disagree (a business day counts as 24 "
        "hours): set respond_hours = 48",
        'low_risk: no SLA: set respond_within = "3 business days" or "24 hours", or respond_hours = 24',
        'low_risk: no SLA: set respond_within = "3 business days" or "24 hours", or respond_hours = 24',
    ]


# --------------------------------------------------------------------------- properties


def _calendars(tmp_path: Path) -> list[BusinessCalendar]:
    (tmp_path / "holidays.ics").write_text(TEAM_ICS, encoding="utf-8")
    return [
        OFFICE,
        BusinessCalendar.parse("Europe/Berlin", "Mon-Fri", "08:30-12:15", str(tmp_path / "holidays.ics")),
        BusinessCalendar.parse("Asia/Riyadh", "Sun-Thu", "08:00-16:00", "2024-06-16,2024-06-17"),
        BusinessCalendar.parse("America/New_York", "Mon,Wed,Fri-Sat", "00:00-24:00", str(tmp_path / "holidays.ics")),
        BusinessCalendar.parse("Europe/Berlin", "Sun", "01:00-04:00"),
    ]


def test_deadlines_are_always_inside_opening_hours_and_never_on_a_closed_day(tmp_path: Path) -> None:
    rng = random.Random(20240331)
    checked = 0
    for calendar in _calendars(tmp_path):
        for _ in range(250):
            at = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=rng.randrange(2 * 366 * 24 * 60))
            hours = rng.choice([0, 0.25, 1, 4, 7.5, 8, 24, 72, rng.randrange(200) / 4])
            result = calendar.add_hours(at, hours)
            day = result.date()
            closes = {end for d in (day - timedelta(days=1), day) for _, end in calendar.openings(d)}
            assert result.astimezone(UTC) >= at
            assert calendar.is_open(result) or result.astimezone(UTC) in closes, (calendar, at, hours, result)
            assert calendar.is_business_day(day) or result.time() == time(0), (calendar, at, hours, result)
            days = rng.randrange(6)
            for result in (calendar.add_clock_hours(at, hours), calendar.add_days(at, days), calendar.next_open(at)):
                assert calendar.is_open(result) and result.astimezone(UTC) >= at, (calendar, at, hours, days, result)
                assert calendar.is_business_day(result.date())
            # in UTC: Python compares two datetimes of one zone by wall time, blind to the repeated autumn hour
            longer = calendar.add_hours(at, hours + 1).astimezone(UTC)
            assert longer > calendar.add_hours(at, hours).astimezone(UTC)
            checked += 1
    assert checked == 1250


def test_24_clock_hours_per_business_day_is_add_days_when_no_business_day_changes_its_clocks(tmp_path: Path) -> None:
    rng = random.Random(7)
    for calendar in _calendars(tmp_path)[:3]:
        for _ in range(200):
            at = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=rng.randrange(2 * 366 * 24 * 60))
            days = rng.randrange(5)
            assert calendar.add_clock_hours(at, 24 * days) == calendar.add_days(at, days), (calendar, at, days)
