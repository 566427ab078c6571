"""Dates that come in from outside (commands, ingest, CSV import, sync, modals, the CLI): `YYYY-MM-DD` only,
within FIRST_DAY..LAST_DAY; one parser for all of them."""

from __future__ import annotations

import re
from datetime import date

from prompts import say

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
