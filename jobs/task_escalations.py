"""Escalate overdue playbook tasks, only while the team is open; hand out tasks nobody took.

Every few minutes (`healthbot run`'s schedule, or `healthbot jobs run task-escalations`), while the business
calendar is open:
- an open alert past its response time that nobody claimed gets its unassigned tasks handed out round-robin over
  TEAM (`bot.retention.service.round_robin`; the owner's, then the claimer's come first);
- an open task past its due time gets a reply in its alert's thread mentioning CS_LEAD and its assignee: level 1;
  still open one more full step later (the step's "N business hours/days", from the level-1 escalation, on the
  business calendar), a reply mentions CS_HEAD: level 2. Each level is recorded (`storage.tasks.escalate`: a
  conditional UPDATE, so two replicas or two runs escalate a task once) and the thread's task list is redrawn.
Tasks of a resolved alert do not escalate. Nothing fires at night, at weekends or on holidays.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlmodel import Session

from bot.alerts.threads import root_key
from bot.calendar import BusinessCalendar
from bot.retention import messages, service
from bot.retention.playbooks import Playbook, load_playbooks
from bot.scoring.scorecard import Tiers
from prompts import speaking_in
from storage import alerts, outbox
from storage import tasks as store
from storage.db import job_lock, session_factory, unit_of_work
from storage.models import Task
from storage.types import AlertStatus, utcnow

JOB_ID = "tasks.escalations"
LEVELS = 2
log = logging.getLogger("healthbot.jobs.task_escalations")


@dataclass
class TaskEscalationSummary:
    """What one run did: task ids escalated per level, alerts whose tasks were handed out (alert id -> member);
    `closed` when the calendar was closed, `skipped` when another replica held the job."""

    escalated: dict[int, list[int]] = field(default_factory=lambda: {1: [], 2: []})
    handed_out: dict[int, str] = field(default_factory=dict)
    closed: bool = False
    skipped: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.escalated[1] or self.escalated[2] or self.handed_out)


def next_level_due(task: Task, calendar: BusinessCalendar, playbooks: dict[str, Playbook]) -> datetime | None:
    """When the task's next escalation level is due (UTC); None when it has none left."""
    if task.escalation_level == 0:
        return task.due_at
    if task.escalation_level >= LEVELS or task.escalated_at is None:
        return None
    book = playbooks.get(task.playbook)
    step = next((s for s in book.steps if s.number == task.step), None) if book else None
    if step is None:  # the playbook changed since: the task's own span again
        return task.escalated_at + (task.due_at - task.created_at)
    return step.due(calendar, task.escalated_at).astimezone(UTC)


def escalate_due(
    session: Session,
    *,
    calendar: BusinessCalendar,
    tiers: Tiers,
    tz: ZoneInfo,
    cs_lead: str | None,
    cs_head: str | None,
    now: datetime,
    team: Sequence[str] = (),
    playbooks: dict[str, Playbook] | None = None,
) -> TaskEscalationSummary:
    """Hand out unclaimed alerts' tasks and escalate every task due at `now` by one level (caller's unit of work)."""
    summary = TaskEscalationSummary()
    if not calendar.is_open(now):
        summary.closed = True
        return summary
    summary.handed_out = service.round_robin(session, team, now, tiers, tz, cs_lead)
    playbooks = playbooks if playbooks is not None else load_playbooks()
    redraw: set[int] = set()
    for task in store.overdue(session, now):
        task_id = task.id
        if task.escalation_level >= LEVELS or task_id is None:
            continue
        alert = alerts.get(session, task.alert_id)
        if alert is None or alert.status != AlertStatus.OPEN:
            continue
        due = next_level_due(task, calendar, playbooks)
        if due is None or due > now:
            continue
        level = task.escalation_level + 1
        if not store.escalate(session, task_id, level, now):
            continue  # closed or escalated meanwhile (a click, another replica)
        task = store.get(session, task_id) or task  # as it is now (assigned by round_robin above, say)
        lead = cs_lead if level == 1 else (cs_head or cs_lead)
        with speaking_in(alert.channel):  # the thread's language
            message = messages.overdue_reply(task, level, lead, tz)
        outbox.post(
            session,
            service.overdue_key(task_id, level),
            alert.channel,
            message.text,
            message.blocks,
            thread_key=root_key(alert.id or 0),
        )
        summary.escalated[level].append(task_id)
        redraw.add(task.alert_id)
    for alert_id in sorted(redraw):
        service.redraw_tasks(session, alert_id, tiers, tz, cs_lead)
    return summary


def run(
    engine: Engine,
    *,
    calendar: BusinessCalendar,
    tiers: Tiers,
    tz: ZoneInfo,
    cs_lead: str | None,
    cs_head: str | None = None,
    team: Sequence[str] = (),
    now: datetime | None = None,
) -> TaskEscalationSummary:
    """The scheduled job: under its lock, one unit of work; the messages wait in the outbox for `jobs.deliver`."""
    with job_lock(engine, JOB_ID) as leader:
        if not leader:
            log.info("another replica is running task escalations; skipped")
            return TaskEscalationSummary(skipped=True)
        with unit_of_work(session_factory(engine)) as session:
            summary = escalate_due(
                session,
                calendar=calendar,
                tiers=tiers,
                tz=tz,
                cs_lead=cs_lead,
                cs_head=cs_head or cs_lead,
                now=now or utcnow(),
                team=team,
            )
    if summary.escalated[1] or summary.escalated[2]:
        if cs_lead is None:
            log.warning("escalated overdue tasks without a CS lead to tell: set CS_LEAD (a user or user group id)")
        log.info("escalated tasks %s to level 1, %s to level 2", summary.escalated[1], summary.escalated[2])
    if summary.handed_out:
        log.info("handed out the tasks of unclaimed alerts over TEAM: %s", summary.handed_out)
    return summary
