"""Escalate alerts nobody claimed within their response SLA, only while the team is open.

Every few minutes (`healthbot run`'s schedule, or `healthbot jobs run escalations`): an open alert that is
unclaimed, not snoozed and past its `due_at` gets a reply in its thread mentioning CS_LEAD (and the owner):
level 1. Still unclaimed one more full SLA after that (counted on the business calendar from the level-1
escalation), a reply mentions CS_HEAD: level 2. Each level is recorded (`storage.alerts.escalate`, a
conditional UPDATE: one winner even if two replicas ran at once) and drawn on the root (`threads.redraw`, with the
chance-to-churn fit read once per run and checked against the scorecard in use, as the card reads it).

Nothing fires while the calendar is closed (nights, weekends, holidays): an alert that fell due on Friday
evening is escalated at Monday's opening, never at 3 a.m. on a Sunday.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlmodel import Session

from bot.alerts import messages, threads
from bot.calendar import BusinessCalendar
from bot.retention.playbooks import Playbook, load_playbooks
from bot.scoring.scorecard import Scorecard, Tiers
from bot.slack.chance import Chances
from storage import alerts
from storage.db import job_lock, session_factory, unit_of_work
from storage.models import Account, Alert
from storage.types import utcnow

JOB_ID = "alerts.escalations"
LEVELS = 2
log = logging.getLogger("healthbot.jobs.escalations")


@dataclass
class EscalationSummary:
    """What one run did: alert ids escalated per level; `closed` when the calendar was closed (nothing checked),
    `skipped` when another replica held the job."""

    escalated: dict[int, list[int]] = field(default_factory=lambda: {1: [], 2: []})
    closed: bool = False
    skipped: bool = False


def next_level_due(alert: Alert, calendar: BusinessCalendar, playbooks: Mapping[str, Playbook]) -> datetime | None:
    """When the alert's next escalation level is due (UTC); None when it has none left."""
    if alert.escalation_level == 0:
        return alert.due_at
    if alert.escalation_level >= LEVELS or alert.escalated_at is None:
        return None
    playbook = playbooks.get(alert.severity)
    if playbook is None:  # a tier without a playbook: the first level's SLA again
        return alert.escalated_at + (alert.due_at - alert.opened_at)
    return calendar.due(alert.escalated_at, playbook.sla).astimezone(UTC)


def escalate_due(
    session: Session,
    *,
    calendar: BusinessCalendar,
    tiers: Tiers,
    tz: ZoneInfo,
    cs_lead: str | None,
    cs_head: str | None,
    now: datetime,
    scorecard: Scorecard,
    playbooks: Mapping[str, Playbook] | None = None,
) -> EscalationSummary:
    """Escalate every alert due at `now` by one level (in the caller's unit of work); `scorecard`: the card in use,
    which the redrawn roots' chance to churn is checked against."""
    summary = EscalationSummary()
    if not calendar.is_open(now):
        summary.closed = True
        return summary
    playbooks = playbooks if playbooks is not None else load_playbooks()
    chances: Chances | None = None  # read at the first escalation, once for the run
    for alert in alerts.past_due(session, now, LEVELS):
        due = next_level_due(alert, calendar, playbooks)
        if due is None or due > now:
            continue
        level = alert.escalation_level + 1
        assert alert.id is not None
        if not alerts.escalate(session, alert.id, level, now):
            continue  # claimed or escalated meanwhile (another replica, a click)
        account = session.get(Account, alert.account_id)
        owner = account.owner_slack_id if account else None
        who = cs_lead if level == 1 else (cs_head or cs_lead)
        message = partial(messages.escalated_reply, level, who, owner, alert.due_at, tz)
        threads.reply(session, alert, f"escalated:{level}", message)
        chances = chances or Chances.read(session, scorecard)
        threads.redraw(session, alert.id, tiers, tz, cs_lead, chances=chances)
        summary.escalated[level].append(alert.id)
    return summary


def run(
    engine: Engine,
    *,
    calendar: BusinessCalendar,
    tiers: Tiers,
    tz: ZoneInfo,
    cs_lead: str | None,
    scorecard: Scorecard,
    cs_head: str | None = None,
    now: datetime | None = None,
) -> EscalationSummary:
    """The scheduled job: under its lock, one unit of work; the messages wait in the outbox for `jobs.deliver`."""
    with job_lock(engine, JOB_ID) as leader:
        if not leader:
            log.info("another replica is running escalations; skipped")
            return EscalationSummary(skipped=True)
        with unit_of_work(session_factory(engine)) as session:
            summary = escalate_due(
                session,
                calendar=calendar,
                tiers=tiers,
                tz=tz,
                cs_lead=cs_lead,
                cs_head=cs_head or cs_lead,
                now=now or utcnow(),
                scorecard=scorecard,
            )
    if summary.escalated[1] or summary.escalated[2]:
        if cs_lead is None:
            log.warning("escalated alerts without a CS lead to tell: set CS_LEAD (a user or user group id)")
        log.info("escalated alerts %s to level 1, %s to level 2", summary.escalated[1], summary.escalated[2])
    return summary
