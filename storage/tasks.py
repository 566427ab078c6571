"""Retention tasks and their history: the SQL behind playbook tasks, the Done modal and task escalation.

Like alerts, every change is one conditional UPDATE that bumps `version`: a task changed or closed
meanwhile (another replica, a second click, a stale modal) is reported, never overwritten. Nothing
here commits: the caller's unit of work does.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import CursorResult, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from storage.models import Alert, Task, TaskEvent
from storage.types import AlertStatus, TaskStatus, utcnow

CLOSED = (TaskStatus.DONE, TaskStatus.NOT_NEEDED, TaskStatus.ESCALATED)  # the outcomes of the Done modal


def create(session: Session, tasks: Sequence[Task]) -> list[Task]:
    """Insert an alert's playbook tasks; a step that exists already (a replayed job) is left as it is.

    Returns the tasks created now (flushed: they have ids), each with its `created` event.
    """
    created: list[Task] = []
    for task in tasks:
        values = task.model_dump(exclude={"id"})
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(Task).values(**values).on_conflict_do_nothing(index_elements=["alert_id", "step"])
        new_id = session.execute(stmt.returning(col(Task.id))).scalar()
        if new_id is None:
            continue
        record(session, new_id, "created", None, {"assignee": task.assignee})
        created.append(get(session, new_id))  # type: ignore[arg-type]
    return created


def get(session: Session, task_id: int) -> Task | None:
    task = session.get(Task, task_id)
    if task is not None:
        session.refresh(task)  # a conditional UPDATE in this session may have changed it
    return task


def of_alert(session: Session, alert_id: int) -> list[Task]:
    return list(session.exec(select(Task).where(Task.alert_id == alert_id).order_by(col(Task.step))).all())


def of_alerts(session: Session, alert_ids: Sequence[int]) -> list[Task]:
    if not alert_ids:
        return []
    return list(session.exec(select(Task).where(col(Task.alert_id).in_(alert_ids))).all())


def open_of(session: Session, assignee: str) -> list[Task]:
    """A user's open tasks, the earliest due first (overdue ones are the earliest)."""
    return list(
        session.exec(
            select(Task)
            .where(Task.assignee == assignee, Task.status == TaskStatus.OPEN)
            .order_by(col(Task.due_at), col(Task.id))
        ).all()
    )


def all_open(session: Session) -> list[Task]:
    """Every open task, the earliest due first."""
    return list(
        session.exec(select(Task).where(Task.status == TaskStatus.OPEN).order_by(col(Task.due_at), col(Task.id))).all()
    )


def overdue(session: Session, now: datetime) -> list[Task]:
    """Open tasks past their due time, the earliest first."""
    return list(
        session.exec(
            select(Task)
            .where(Task.status == TaskStatus.OPEN, col(Task.due_at) < now)
            .order_by(col(Task.due_at), col(Task.id))
        ).all()
    )


def alerts_with_unassigned_open_tasks_past_due(session: Session, now: datetime) -> list[int]:
    """Ids of open, unclaimed alerts past their response time (`due_at <= now`) that have unassigned open tasks:
    what round-robin assignment hands out."""
    stmt = (
        select(Task.alert_id)
        .join(Alert, col(Alert.id) == col(Task.alert_id))
        .where(
            Task.status == TaskStatus.OPEN,
            col(Task.assignee).is_(None),
            Alert.status == AlertStatus.OPEN,
            col(Alert.claimed_by).is_(None),
            col(Alert.due_at) <= now,
        )
        .distinct()
    )
    return list(session.exec(stmt).all())


def last_round_robin_assignee(session: Session) -> str | None:
    """Who the last round-robin assignment went to, from the tasks' history: the bot's own "assigned" events
    (actor None; a claim's is the claimer's, a reassignment the person's who made it)."""
    event = session.exec(
        select(TaskEvent)
        .where(TaskEvent.kind == "assigned", col(TaskEvent.actor).is_(None))
        .order_by(col(TaskEvent.id).desc())
    ).first()
    return str((event.detail or {}).get("to")) if event is not None else None


def record(session: Session, task_id: int, kind: str, actor: str | None, detail: dict[str, Any] | None = None) -> None:
    session.add(TaskEvent(task_id=task_id, kind=kind, actor=actor, detail=detail or {}))


def history(session: Session, task_id: int) -> list[TaskEvent]:
    return list(session.exec(select(TaskEvent).where(TaskEvent.task_id == task_id).order_by(col(TaskEvent.id))).all())


def _changed(session: Session, task_id: int, where: Sequence[Any], values: dict[str, Any]) -> bool:
    stmt = (
        update(Task)
        .where(col(Task.id) == task_id, col(Task.status) == TaskStatus.OPEN, *where)
        .values(**values, version=col(Task.version) + 1)
    )
    result = session.execute(stmt)
    assert isinstance(result, CursorResult)
    return result.rowcount == 1


def assign_unassigned(session: Session, alert_id: int, assignee: str) -> list[int]:
    """Give every open, unassigned task of an alert to `assignee` (the claimer); returns their ids."""
    ids = [t.id for t in of_alert(session, alert_id) if t.status == TaskStatus.OPEN and t.assignee is None and t.id]
    won = [i for i in ids if _changed(session, i, [col(Task.assignee).is_(None)], {"assignee": assignee})]
    for task_id in won:
        record(session, task_id, "assigned", assignee, {"to": assignee, "why": "claimed"})
    return won


def assign(session: Session, task_id: int, assignee: str, by: str | None) -> bool:
    won = _changed(session, task_id, [], {"assignee": assignee})
    if won:
        record(session, task_id, "assigned", by, {"to": assignee})
    return won


def close(
    session: Session,
    task_id: int,
    *,
    version: int,
    outcome: str,
    by: str,
    notes: str | None = None,
    next_step: str | None = None,
    next_step_on: date | None = None,
    now: datetime | None = None,
) -> bool:
    """Close an open task seen at `version` with its outcome (done, not_needed, escalated).

    False when the task changed meanwhile (closed, reassigned, escalated): the caller says so instead.
    """
    if outcome not in CLOSED:
        raise ValueError(f"unknown task outcome {outcome!r}")
    won = _changed(
        session,
        task_id,
        [col(Task.version) == version],
        {
            "status": outcome,
            "closed_at": now or utcnow(),
            "closed_by": by,
            "notes": notes,
            "next_step": next_step,
            "next_step_on": next_step_on,
        },
    )
    if won:
        record(session, task_id, outcome, by, {"next_step": next_step, "next_step_on": str(next_step_on or "")})
    return won


def close_with_alert(session: Session, alert_id: int, outcome: str, by: str, now: datetime | None = None) -> list[int]:
    """The alert resolved (`outcome`): its still-open tasks are no longer needed; returns their ids.

    Without this a saved account's tasks would stay open, escalate and count as overdue in the digest.
    """
    closed = []
    for task in of_alert(session, alert_id):
        if (
            task.status == TaskStatus.OPEN
            and task.id is not None
            and close(
                session,
                task.id,
                version=task.version,
                outcome=TaskStatus.NOT_NEEDED,
                by=by,
                notes=f"alert resolved: {outcome}",
                now=now,
            )
        ):
            closed.append(task.id)
    return closed


def escalate(session: Session, task_id: int, level: int, now: datetime | None = None) -> bool:
    """Move an overdue open task to escalation `level`, once (a replica running the same job changes nothing)."""
    won = _changed(
        session,
        task_id,
        [col(Task.escalation_level) == level - 1],
        {"escalation_level": level, "escalated_at": now or utcnow()},
    )
    if won:
        record(session, task_id, "overdue", None, {"level": level})
    return won
