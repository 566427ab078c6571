"""Save rate per play (docs/product.md section 6, the closed loop): per tier's playbook, over a period, how many
alerts were opened, claimed within their response SLA, how many of their tasks were done on time, and how many
accounts were saved or churned.

`save_rates` reads with pandas (a few queries over the alerts opened in the period); the builders are pure and
used by `/health plays [period]` and the weekly digest. Save rate = saved / (saved + churned): false alarms and
recoveries are no play's doing and are left out; the counts are always shown beside the rate, and a rate over
fewer than `FEW` outcomes is flagged, so two saves out of three are not read as a 67 % play.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

import pandas as pd
from sqlalchemy import Connection
from sqlmodel import Session

from bot.dates import YEARS, period_out_of_range
from bot.scoring.scorecard import Tiers
from bot.slack.blocks import Blocks, Message, context, esc, message_text, section, tier_emoji, validate_blocks
from prompts import in_every_language, say, sentences
from storage import plays as play_store
from storage.types import AlertOutcome, AlertStatus, TaskStatus

FEW = 5  # fewer decided outcomes than this: the rate is flagged
MAX_DAYS = 3660
DEFAULT_DAYS = 90


@dataclass(frozen=True)
class PlayRate:
    """One tier's playbook over a period; every rate comes with its counts."""

    tier: str
    alerts: int  # opened in the period with this tier's playbook
    claimed_in_sla: int  # first claimed no later than the response due time
    tasks: int  # their tasks, but those closed as not needed
    tasks_on_time: int  # done no later than their due time
    saved: int
    churned: int
    still_open: int  # not resolved yet

    @property
    def decided(self) -> int:
        return self.saved + self.churned

    @property
    def save_rate(self) -> float | None:
        """saved / (saved + churned); None before any account was saved or lost."""
        return self.saved / self.decided if self.decided else None

    @property
    def few(self) -> bool:
        return 0 < self.decided < FEW


def _connection(conn_or_session: Connection | Session) -> Connection:
    return conn_or_session.connection() if isinstance(conn_or_session, Session) else conn_or_session


def save_rates(conn_or_session: Connection | Session, start: date, end: date, tiers: Tiers) -> list[PlayRate]:
    """Per tier's playbook, the alerts opened from `start` to `end` (both included), riskiest tier first; tiers
    without an alert are left out, and a tier no longer in the scorecard comes last under its stored name."""
    conn = _connection(conn_or_session)
    alerts = play_store.alerts_opened(conn, start, end)
    if alerts.empty:
        return []
    claims = play_store.first_claims(conn, start, end)
    tasks = play_store.tasks_of_alerts_opened(conn, start, end)
    alerts = alerts.merge(claims, on="alert_id", how="left")
    # a release clears claimed_at, the history keeps the first claim: the earlier of the two counts
    first = pd.concat([alerts["first_claim"], alerts["claimed_at"]], axis=1).min(axis=1)
    alerts["in_sla"] = first.notna() & (first <= alerts["due_at"])
    alerts["saved"] = alerts["outcome"] == AlertOutcome.SAVED
    alerts["churned"] = alerts["outcome"] == AlertOutcome.CHURNED
    alerts["still_open"] = alerts["status"] == AlertStatus.OPEN

    tasks = tasks[tasks["status"] != TaskStatus.NOT_NEEDED].copy()
    tasks["on_time"] = (tasks["status"] == TaskStatus.DONE) & (tasks["closed_at"] <= tasks["due_at"])
    per_alert = tasks.groupby("alert_id").agg(tasks=("status", "size"), tasks_on_time=("on_time", "sum"))
    alerts = alerts.merge(per_alert, left_on="alert_id", right_index=True, how="left").fillna(
        {"tasks": 0, "tasks_on_time": 0}
    )

    grouped = alerts.groupby("severity").agg(
        alerts=("alert_id", "size"),
        claimed_in_sla=("in_sla", "sum"),
        tasks=("tasks", "sum"),
        tasks_on_time=("tasks_on_time", "sum"),
        saved=("saved", "sum"),
        churned=("churned", "sum"),
        still_open=("still_open", "sum"),
    )
    riskiest_first = list(reversed(tiers.order))
    order = sorted(
        grouped.index, key=lambda t: (riskiest_first.index(t) if t in riskiest_first else len(tiers.order), str(t))
    )
    return [
        PlayRate(
            str(tier),
            *(
                int(grouped.at[tier, c])
                for c in ("alerts", "claimed_in_sla", "tasks", "tasks_on_time", "saved", "churned", "still_open")
            ),
        )
        for tier in order
    ]


def total(rates: list[PlayRate]) -> PlayRate:
    """Every tier together."""
    return PlayRate(
        "",
        sum(r.alerts for r in rates),
        sum(r.claimed_in_sla for r in rates),
        sum(r.tasks for r in rates),
        sum(r.tasks_on_time for r in rates),
        sum(r.saved for r in rates),
        sum(r.churned for r in rates),
        sum(r.still_open for r in rates),
    )


# --- the period of `/health plays [period]` ---------------------------------------------------------------------


class PeriodError(ValueError):
    """A period that cannot be read, or has not started; the message says why."""


@dataclass(frozen=True)
class PeriodSpec:
    """A period as typed: `30d`, `quarter` (this one so far), `2026-Q3`, `2026-10`; dates come with `today`."""

    kind: Literal["days", "this_quarter", "quarter", "month"]
    number: int = DEFAULT_DAYS  # days, or the quarter (1-4) or month (1-12)
    year: int = 0


@dataclass(frozen=True)
class Period:
    start: date
    end: date
    label: str


_DAYS = re.compile(r"([0-9]{1,4})\s*([^0-9]+)")  # `30d`, `30天`: the unit one of `commands.periods.days`
_QUARTER = re.compile(r"([0-9]{4})-?q([1-4])")
_MONTH = re.compile(r"([0-9]{4})-([0-9]{1,2})")


def parse_period(text: str) -> PeriodSpec:
    """`30d`, `quarter`, `2026-Q3`, `2026-10` (any case), or the words of another language for them (`30天`,
    `本季度`: prompts `commands.periods`); nothing means the last 90 days."""
    word = text.strip().lower()
    if not word:
        return PeriodSpec("days")
    if word == "q" or word in in_every_language("commands.periods.this_quarter"):
        return PeriodSpec("this_quarter")
    if (m := _DAYS.fullmatch(word)) and m.group(2) in in_every_language("commands.periods.days"):
        days = int(m.group(1))
        if 1 <= days <= MAX_DAYS:
            return PeriodSpec("days", days)
    elif m := _QUARTER.fullmatch(word):
        year = int(m.group(1))
        if year not in YEARS:
            raise PeriodError(period_out_of_range())
        if year >= 2000:
            return PeriodSpec("quarter", int(m.group(2)), year)
    elif m := _MONTH.fullmatch(word):
        year, month = int(m.group(1)), int(m.group(2))
        if year not in YEARS:
            raise PeriodError(period_out_of_range())
        if year >= 2000 and 1 <= month <= 12:
            return PeriodSpec("month", month, year)
    raise PeriodError(sentences(say("plays.period.bad", period=esc(text.strip())), say("plays.period.usage")))


def _quarter_start(year: int, quarter: int) -> date:
    return date(year, 3 * (quarter - 1) + 1, 1)


def _next_month(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def period_dates(spec: PeriodSpec, today: date) -> Period:
    """The days a period covers, `today` at most; a period starting after today is refused."""
    if spec.kind == "days":
        return Period(today - timedelta(days=spec.number - 1), today, say("plays.period.days", days=spec.number))
    if spec.kind == "this_quarter":
        quarter = (today.month - 1) // 3 + 1
        return Period(
            _quarter_start(today.year, quarter), today, say("plays.period.quarter", year=today.year, quarter=quarter)
        )
    if spec.kind == "quarter":
        start = _quarter_start(spec.year, spec.number)
        label = say("plays.period.quarter", year=spec.year, quarter=spec.number)
        last = _next_month(start, 3) - timedelta(days=1)
    else:
        start = date(spec.year, spec.number, 1)
        label = f"{spec.year}-{spec.number:02d}"
        last = _next_month(start, 1) - timedelta(days=1)
    if start > today:
        raise PeriodError(say("plays.period.not_started", start=start.isoformat(), today=today.isoformat()))
    return Period(start, min(last, today), label)


# --- builders ---------------------------------------------------------------------------------------------------


def _pct(count: int, of: int) -> str:
    return say("plays.pct", pct=f"{count / of:.0%}") if of else ""


def rate_text(rate: PlayRate, tiers: Tiers) -> str:
    """One tier's play (or, with tier "", every tier): alerts, claims within SLA, tasks on time, outcomes, rate."""
    word = say("plays.alert_one" if rate.alerts == 1 else "plays.alert_many")
    if rate.tier:
        title = say(
            "plays.row_title",
            emoji=tier_emoji(rate.tier),
            tier=esc(tiers.label(rate.tier)),
            alerts=rate.alerts,
            alerts_word=word,
        )
    else:
        title = say("plays.total", alerts=rate.alerts, alerts_word=word)
    work = [say("plays.claimed", count=rate.claimed_in_sla, of=rate.alerts, pct=_pct(rate.claimed_in_sla, rate.alerts))]
    work.append(
        say("plays.tasks", count=rate.tasks_on_time, of=rate.tasks, pct=_pct(rate.tasks_on_time, rate.tasks))
        if rate.tasks
        else say("plays.tasks_none")
    )
    outcome = [say("plays.saved", saved=rate.saved, churned=rate.churned)]
    save_rate = rate.save_rate
    outcome.append(
        say("plays.rate", rate=f"{save_rate:.0%}", decided=rate.decided)
        if save_rate is not None
        else say("plays.rate_none")
    )
    if rate.still_open:
        outcome.append(say("plays.still_open", count=rate.still_open))
    lines = [title, "  ·  ".join(work), "  ·  ".join(outcome)]
    if rate.few:
        lines.append(say("plays.few", decided=rate.decided))
    return "\n".join(lines)


def _title(start: date, end: date, label: str | None) -> str:
    suffix = say("plays.title_label", label=esc(label)) if label else ""
    return say("plays.title", start=start.isoformat(), end=end.isoformat(), label=suffix)


def plays_blocks(rates: list[PlayRate], tiers: Tiers, start: date, end: date, label: str | None = None) -> Blocks:
    """The table as blocks: a title, a section per tier (riskiest first), all tiers together, and how to read it."""
    if not rates:
        return validate_blocks([section(say("plays.empty", start=start.isoformat(), end=end.isoformat()))])
    blocks: Blocks = [section(_title(start, end, label))]
    blocks += [section(rate_text(r, tiers)) for r in rates]
    if len(rates) > 1:
        blocks.append(section(rate_text(total(rates), tiers)))
    blocks.append(context(say("plays.footer")))
    return validate_blocks(blocks)


def plays_text(rates: list[PlayRate], tiers: Tiers, start: date, end: date) -> str:
    """The notification text: each tier's save rate with its counts."""
    if not rates:
        return message_text(say("plays.text_none", start=start.isoformat(), end=end.isoformat()))
    parts = [
        say(
            "plays.text_rate",
            tier=esc(tiers.label(r.tier)),
            saved=r.saved,
            decided=r.decided,
            rate="–" if r.save_rate is None else f"{r.save_rate:.0%}",
        )
        for r in rates
    ]
    return message_text(say("plays.text", start=start.isoformat(), end=end.isoformat(), rates="; ".join(parts)))


def plays_message(rates: list[PlayRate], tiers: Tiers, period: Period) -> Message:
    """`/health plays [period]`'s answer."""
    return Message(
        plays_text(rates, tiers, period.start, period.end),
        plays_blocks(rates, tiers, period.start, period.end, period.label),
    )
