"""The "Mark done" button, its modal, and the lists of my open tasks that carry it (`/health tasks`, App Home).

Pure builders, validated with slack_sdk.models, and the submission's validation: the handler
(handlers/retention.py) reads a submission with `read_submission`, answers its errors inline
(`response_action: errors`) and a task changed or closed meanwhile with `stale_view`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from slack_sdk.models.views import View

from bot.dates import parse_day
from bot.retention.ids import RetentionIds
from bot.retention.playbooks import task_title
from bot.retention.values import TaskRef
from bot.slack import blocks as b
from bot.slack.blocks import when
from bot.slack.values import encode
from prompts import raw, say
from storage.models import Task
from storage.types import TASK_OUTCOMES, TaskOutcome, TaskStatus

NOTES_LIMIT = 3000  # Task.notes
NEXT_STEP_LIMIT = 500  # Task.next_step
LIST_LIMIT = 40  # tasks in one `/health tasks` answer (a message holds 50 blocks)
HOME_LIMIT = 10  # tasks on the Home tab


def _t(key: str, **values: Any) -> str:
    return say(f"task_done.{key}", **values)


@dataclass(frozen=True)
class TaskRow:
    """An open task and the name of its account, as my task lists show it."""

    task: Task
    account: str | None


@dataclass(frozen=True)
class Submission:
    """A valid Mark done submission."""

    outcome: TaskOutcome
    notes: str | None
    next_step: str | None
    next_step_on: date | None


def outcome_label(outcome: str | None) -> str:
    return raw("task_done.outcomes").get(outcome or "", b.esc(outcome) or "–")


def is_overdue(task: Task, now: datetime) -> bool:
    due = task.due_at.replace(tzinfo=UTC) if task.due_at.tzinfo is None else task.due_at
    return due < now


def done_button(task: Task) -> dict[str, Any]:
    """The "Mark done" button of an open task: it carries the task and the version it was drawn at."""
    ref = TaskRef(task_id=task.id or 0, version=task.version)
    return b.button(_t("done_button"), RetentionIds.MARK_DONE, encode(ref))


def task_line(row: TaskRow, now: datetime, tz: ZoneInfo) -> str:
    """One task: title, account, and its due time (overdue ones say so)."""
    task = row.task
    due = (
        _t("list.overdue", when=when(task.due_at, tz))
        if is_overdue(task, now)
        else _t("list.due", when=when(task.due_at, tz))
    )
    if task.escalation_level:
        due += _t("list.escalated", level=task.escalation_level)
    return _t("list.line", title=b.esc(task_title(task)), account=b.esc(row.account or "–"), due=due)


def task_blocks(rows: Sequence[TaskRow], now: datetime, tz: ZoneInfo, limit: int = LIST_LIMIT) -> b.Blocks:
    """A section per task with its Mark done button, overdue first, at most `limit`; then how many more."""
    ordered = sorted(rows, key=lambda r: (not is_overdue(r.task, now), r.task.due_at))
    out = [b.section(task_line(r, now, tz), accessory=done_button(r.task)) for r in ordered[:limit]]
    if len(ordered) > limit:
        out.append(b.context(_t("list.more", count=len(ordered) - limit)))
    return out


def my_tasks(rows: Sequence[TaskRow], now: datetime, tz: ZoneInfo) -> b.Message:
    """`/health tasks`: my open tasks, overdue first, each with its Mark done button."""
    if not rows:
        return b.Message(_t("list.none"))
    overdue = sum(is_overdue(r.task, now) for r in rows)
    blocks = [b.section(_t("list.title", count=len(rows))), *task_blocks(rows, now, tz)]
    return b.Message(
        _t("list.fallback" if overdue else "list.fallback_none_overdue", count=len(rows), overdue=overdue),
        b.validate_blocks(blocks),
    )


def home_section(rows: Sequence[TaskRow], now: datetime, tz: ZoneInfo) -> b.Blocks:
    """The App Home's "My tasks": nothing when I have no open task."""
    if not rows:
        return []
    return [b.header(_t("list.home_title")), *task_blocks(rows, now, tz, HOME_LIMIT), b.divider()]


def _option(outcome: str) -> dict[str, Any]:
    return {
        "text": {"type": "plain_text", "text": b.plain(outcome_label(outcome), 75), "emoji": True},
        "value": outcome,
    }


def _input(block_id: str, label: str, element: dict[str, Any], hint: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "input",
        "block_id": str(block_id),
        "optional": True,
        "element": element,
        "label": {"type": "plain_text", "text": b.plain(label, 2000), "emoji": True},
    }
    if hint:
        block["hint"] = {"type": "plain_text", "text": b.plain(hint, 2000), "emoji": True}
    return block


def done_modal(task: Task, account: str | None, tz: ZoneInfo) -> dict[str, Any]:
    """The Mark done modal: outcome (done / not needed / escalate), notes, next step and its date.

    `private_metadata` is the task at the version shown: a task changed meanwhile is not overwritten.
    """
    intro = _t(
        "modal.intro",
        title=b.esc(task_title(task)),
        account=b.esc(account or "–"),
        due=when(task.due_at, tz),
        assignee=b.mention(task.assignee) if task.assignee else _t("modal.unassigned"),
    )
    outcome = _input(
        RetentionIds.OUTCOME_BLOCK,
        _t("modal.outcome"),
        {
            "type": "radio_buttons",
            "action_id": str(RetentionIds.OUTCOME),
            "options": [_option(o) for o in TASK_OUTCOMES],
        },
    )
    outcome["optional"] = False
    blocks: b.Blocks = [
        b.section(intro),
        outcome,
        _input(
            RetentionIds.NOTES_BLOCK,
            _t("modal.notes"),
            {
                "type": "plain_text_input",
                "action_id": str(RetentionIds.NOTES),
                "multiline": True,
                "max_length": NOTES_LIMIT,
            },
            _t("modal.notes_hint"),
        ),
        _input(
            RetentionIds.NEXT_STEP_BLOCK,
            _t("modal.next_step"),
            {"type": "plain_text_input", "action_id": str(RetentionIds.NEXT_STEP), "max_length": NEXT_STEP_LIMIT},
            _t("modal.next_step_hint"),
        ),
        _input(
            RetentionIds.NEXT_STEP_ON_BLOCK,
            _t("modal.next_step_on"),
            {"type": "datepicker", "action_id": str(RetentionIds.NEXT_STEP_ON)},
        ),
    ]
    view: dict[str, Any] = {
        "type": "modal",
        "callback_id": str(RetentionIds.DONE_MODAL),
        "private_metadata": encode(TaskRef(task_id=task.id or 0, version=task.version)),
        "title": {"type": "plain_text", "text": b.plain(_t("modal.title"), 24)},
        "submit": {"type": "plain_text", "text": b.plain(_t("modal.submit"), 24)},
        "close": {"type": "plain_text", "text": b.plain(_t("modal.close"), 24)},
        "blocks": b.validate_blocks(blocks, b.VIEW_BLOCK_LIMIT),
    }
    View(**view).validate_json()
    return view


def stale_text(task: Task | None, tz: ZoneInfo) -> str:
    """Why a submission changed nothing: the task is gone, closed already, or changed since the modal opened."""
    if task is None:
        return _t("stale.gone")
    if task.status != TaskStatus.OPEN:
        return _t(
            "stale.closed",
            title=b.esc(task_title(task)),
            outcome=outcome_label(task.status),
            by=_t("stale.closed_by", who=b.mention(task.closed_by)) if task.closed_by else "",
            at=_t("stale.closed_at", at=when(task.closed_at, tz)) if task.closed_at else "",
        )
    assignee = b.mention(task.assignee) if task.assignee else _t("modal.unassigned")
    return _t("stale.changed", title=b.esc(task_title(task)), assignee=assignee)


def stale_view(text: str) -> dict[str, Any]:
    """What replaces the modal (`response_action: update`, or views.open from a stale button): no submit."""
    view: dict[str, Any] = {
        "type": "modal",
        "callback_id": str(RetentionIds.STALE_MODAL),
        "title": {"type": "plain_text", "text": b.plain(_t("stale.title"), 24)},
        "close": {"type": "plain_text", "text": b.plain(_t("stale.close"), 24)},
        "blocks": b.validate_blocks([b.section(text)], b.VIEW_BLOCK_LIMIT),
    }
    View(**view).validate_json()
    return view


def _state(values: dict[str, Any], block_id: str, action_id: str) -> dict[str, Any]:
    found = (values.get(str(block_id)) or {}).get(str(action_id))
    return found if isinstance(found, dict) else {}


def _text(values: dict[str, Any], block_id: str, action_id: str) -> str:
    value = _state(values, block_id, action_id).get("value")
    return value.strip() if isinstance(value, str) else ""


def read_submission(view: dict[str, Any], today: date) -> Submission | dict[str, str]:
    """The submitted modal's values, or the errors to show inline (block_id -> message): an outcome is required,
    the texts fit their columns, and a next step's date is today or later (`today` in the team's time zone)."""
    values = (view.get("state") or {}).get("values") or {}
    errors: dict[str, str] = {}
    picked = _state(values, RetentionIds.OUTCOME_BLOCK, RetentionIds.OUTCOME).get("selected_option") or {}
    picked_value = picked.get("value") if isinstance(picked, dict) else None
    outcome = TaskOutcome(picked_value) if picked_value in TASK_OUTCOMES else None
    if outcome is None:
        errors[RetentionIds.OUTCOME_BLOCK] = _t("modal.pick_outcome")
    notes = _text(values, RetentionIds.NOTES_BLOCK, RetentionIds.NOTES)
    next_step = _text(values, RetentionIds.NEXT_STEP_BLOCK, RetentionIds.NEXT_STEP)
    for block_id, text, limit in (
        (RetentionIds.NOTES_BLOCK, notes, NOTES_LIMIT),
        (RetentionIds.NEXT_STEP_BLOCK, next_step, NEXT_STEP_LIMIT),
    ):
        if len(text) > limit:
            errors[block_id] = _t("modal.too_long", limit=limit, length=len(text))
    raw_day = _state(values, RetentionIds.NEXT_STEP_ON_BLOCK, RetentionIds.NEXT_STEP_ON).get("selected_date")
    next_step_on: date | None = None
    if raw_day:
        try:
            next_step_on = parse_day(str(raw_day))
        except ValueError:
            errors[RetentionIds.NEXT_STEP_ON_BLOCK] = _t("modal.date_bad")
        else:
            if next_step_on < today:
                errors[RetentionIds.NEXT_STEP_ON_BLOCK] = _t("modal.date_past", day=next_step_on.isoformat())
            elif not next_step and RetentionIds.NEXT_STEP_BLOCK not in errors:
                errors[RetentionIds.NEXT_STEP_BLOCK] = _t("modal.date_without_step")
    if errors or outcome is None:  # no outcome is an error above
        return {str(k): v for k, v in errors.items()}
    return Submission(outcome, notes or None, next_step or None, next_step_on)
