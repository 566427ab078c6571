"""What a task's "Mark done" button and its modal do: open the modal at the task's current version, and close
the task from the modal's submission. Inside the caller's unit of work; no Slack here.

The close is one conditional UPDATE (`storage.tasks.close`, at the version the modal showed) and the thread's task
list redrawn through the outbox (`service.redraw_tasks`), in the same transaction. A task changed or closed
meanwhile is reported, never overwritten.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from bot.retention import modal
from bot.retention.modal import Submission
from bot.retention.service import redraw_tasks
from bot.retention.values import TaskRef
from bot.scoring.scorecard import Tiers
from storage import tasks
from storage.models import Account
from storage.types import TaskStatus


def done_modal(session: Session, task_id: int, tz: ZoneInfo) -> dict[str, Any]:
    """The Mark done modal at the task's current version; a closed or gone task is said so instead."""
    task = tasks.get(session, task_id)
    if task is None or task.status != TaskStatus.OPEN:
        return modal.stale_view(modal.stale_text(task, tz))
    account = session.get(Account, task.account_id)
    return modal.done_modal(task, account.name if account else None, tz)


@dataclass(frozen=True)
class Closed:
    """What a submission did: `stale` (the task changed meanwhile: why, nothing written) or the people whose
    Home now shows another list (the task's assignee, whoever closed it)."""

    stale: str | None = None
    homes: list[str] = field(default_factory=list)


def close(
    session: Session, ref: TaskRef, done: Submission, user: str, tiers: Tiers, tz: ZoneInfo, cs_lead: str | None
) -> Closed:
    """Close the task seen at `ref.version` with the submission's outcome, and redraw the thread's task list."""
    closed = tasks.close(
        session,
        ref.task_id,
        version=ref.version,
        outcome=done.outcome,
        by=user,
        notes=done.notes,
        next_step=done.next_step,
        next_step_on=done.next_step_on,
    )
    task = tasks.get(session, ref.task_id)
    if not closed:
        return Closed(stale=modal.stale_text(task, tz))
    if task is not None:
        redraw_tasks(session, task.alert_id, tiers, tz, cs_lead)
    return Closed(homes=list(dict.fromkeys(u for u in (task.assignee if task else None, user) if u)))
