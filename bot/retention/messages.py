"""The retention messages: the thread's task list (a "Mark done" button per open task), the outreach draft and a
task DM. Pure builders of stored state, validated with slack_sdk.models like every message the bot sends."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from bot.retention.ids import DraftIds, RetentionIds
from bot.retention.playbooks import task_role, task_title, templates
from bot.retention.values import DraftRef, TaskRef
from bot.scoring.scorecard import Tiers
from bot.slack.blocks import Message, actions, button, context, esc, mention, section, validate_blocks, when, who
from bot.slack.values import encode
from prompts import formats, raw, say
from storage.models import Task
from storage.types import TaskStatus

CODE_LIMIT = 2900  # a draft's body inside ``` in one section (3,000 characters)


def _t(key: str, **values: Any) -> str:
    return say(f"tasks.{key}", **values)


def _o(key: str, **values: Any) -> str:
    return say(f"outreach.message.{key}", **values)


def assignee_text(task: Task) -> str:
    return mention(task.assignee) if task.assignee else _t("unassigned")


def task_line(task: Task, tz: ZoneInfo, cs_lead: str | None = None) -> str:
    """One task in words: open (with who and when it is due, and its escalation), or how it was closed."""
    title = esc(task_title(task))
    if task.status == TaskStatus.OPEN:
        line = _t(
            "task_open", title=title, role=esc(task_role(task)), who=assignee_text(task), due=when(task.due_at, tz)
        )
        if task.escalation_level:
            lead = who(cs_lead) if cs_lead else _t("lead_none")
            line += "\n" + _t(f"task_escalated_{min(task.escalation_level, 2)}", due=when(task.due_at, tz), lead=lead)
        return line
    closed: dict[str, str] = {TaskStatus.DONE: "task_done", TaskStatus.NOT_NEEDED: "task_not_needed"}
    key = closed.get(task.status, "task_closed_escalated")
    line = _t(key, title=title, by=mention(task.closed_by), when=when(task.closed_at, tz))
    if task.notes:
        line += "\n" + _t("task_notes", notes=esc(" ".join(task.notes.split()))[:500])
    if task.next_step:
        step = esc(task.next_step)
        line += "\n" + (
            _t("task_next", step=step, on=task.next_step_on.isoformat())
            if isinstance(task.next_step_on, date)
            else _t("task_next_undated", step=step)
        )
    return line


def mark_done_button(task: Task) -> dict[str, Any]:
    return button(_t("mark_done"), RetentionIds.MARK_DONE, encode(TaskRef(task_id=task.id or 0, version=task.version)))


@dataclass(frozen=True)
class TaskList:
    """What the thread's task list is drawn from: the account's name, the playbook's tier and the alert's tasks."""

    name: str
    tier: str
    tasks: Sequence[Task]


def task_list(view: TaskList, tiers: Tiers, tz: ZoneInfo, cs_lead: str | None = None) -> Message:
    """The thread's task list: every task of the alert in playbook order, a "Mark done" button on each open one."""
    tasks = sorted(view.tasks, key=lambda t: t.step)
    still = sum(t.status == TaskStatus.OPEN for t in tasks)
    label = esc(tiers.label(view.tier) if view.tier in tiers.order else view.tier)
    blocks: list[dict[str, Any]] = [section(_t("list_title", tier=label, open=still, total=len(tasks)))]
    for task in tasks:
        line = task_line(task, tz, cs_lead)
        blocks.append(
            section(line, accessory=mark_done_button(task)) if task.status == TaskStatus.OPEN else section(line)
        )
    blocks.append(context(_t("list_footer")))
    return Message(_t("list_text", name=esc(view.name), open=still, total=len(tasks)), validate_blocks(blocks))


def task_dm(name: str, tier: str, channel: str, tasks: Sequence[Task], tiers: Tiers, tz: ZoneInfo) -> Message:
    """A DM to one assignee about the tasks just given to them; it points to the thread (buttons live there)."""
    tasks = sorted(tasks, key=lambda t: (t.due_at, t.step))
    label = esc(tiers.label(tier) if tier in tiers.order else tier)
    lines = [_t("dm_task", title=esc(task_title(t)), due=when(t.due_at, tz)) for t in tasks]
    blocks = [
        section(_t("dm_title", name=esc(name), tier=label, channel=channel)),
        section("\n".join(lines)),
        context(_t("dm_footer")),
    ]
    text = _t("dm_text", count=len(tasks), name=esc(name), due=when(tasks[0].due_at, tz) if tasks else "–")
    return Message(text, validate_blocks(blocks))


def overdue_reply(task: Task, level: int, lead: str | None, tz: ZoneInfo) -> Message:
    """The thread reply when a task is overdue: level 1 tells the CS lead, level 2 the CS head."""
    told = who(lead) if lead else _t("lead_none")
    due = when(task.due_at, tz)
    assigned = _t("assigned", who=mention(task.assignee)) if task.assignee else _t("not_assigned")
    line = _t(f"overdue_{min(level, 2)}", lead=told, title=esc(task_title(task)), due=due, assigned=assigned)
    return Message(_t("overdue_text", title=esc(task_title(task)), due=due), validate_blocks([section(line)]))


@dataclass(frozen=True)
class Highlight:
    """Recent usage of one metric: its figure over the last `days` days and the change against the days before
    (None: no data before)."""

    metric: str  # its label
    how: str  # sum or mean
    recent: float
    change: float | None
    days: int


def _number(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 10 else f"{x:,.1f}".rstrip("0").rstrip(".")


def highlight_line(h: Highlight) -> str:
    """One line of recent usage, plain text (it goes into the customer's copy)."""
    if h.change is None:
        return _o("highlight_new", metric=h.metric, recent=_number(h.recent), days=h.days)
    change = formats.change(h.change)
    key = "highlight_mean" if h.how == "mean" else "highlight_sum"
    return _o(key, metric=h.metric, recent=_number(h.recent), change=change, days=h.days)


@dataclass(frozen=True)
class Draft:
    """What an outreach draft is filled with."""

    template: str  # its name in prompts/outreach.toml
    name: str  # the customer
    owner: str | None  # the account owner's Slack id: named in the thread, never in the customer's copy
    drivers: Sequence[str]  # the score's drivers in words
    highlights: Sequence[Highlight]
    signature: str | None = None  # the owner's name from their Slack profile; None: the team's sign-off


def fill(draft: Draft) -> tuple[str, str]:
    """The template's subject and body, filled: plain text as the customer reads it, no Slack markup in it
    (the owner signs with their name, or the team's sign-off from prompts/outreach.toml)."""
    template = raw(f"outreach.{draft.template}")
    highlights = "\n".join(highlight_line(h) for h in draft.highlights) or _o("no_highlights")
    drivers = "\n".join(_o("driver", reason=d) for d in draft.drivers) or _o("no_drivers")
    signature = draft.signature or _o("signature_fallback")
    values = {"name": draft.name, "owner": signature, "drivers": drivers, "highlights": highlights}
    return template["subject"].format(**values), template["body"].format(**values)


def template_title(name: str) -> str:
    """A template's title as prompts/outreach.toml gives it in the current language, else its key with spaces."""
    template = raw(f"outreach.{name}") if name in templates() else {}
    return str(template.get("title") or name.replace("_", " "))


def _code(text: str, limit: int = CODE_LIMIT) -> str:
    """Plain text as the inside of a code block: shown and copied as it is (Slack reads `&lt;` as `<` and so on,
    so `<`, `>` and `&` are escaped, and never read as a mention or a link); cut whole to `limit` characters."""
    text = text.replace("```", "'''")
    if len(esc(text)) <= limit:
        return esc(text)
    while len(esc(text)) > limit - 1:
        text = text[: len(text) - (len(esc(text)) - limit + 1)]
    return esc(text) + "…"


def draft_buttons(alert_id: int) -> dict[str, Any]:
    """Regenerate / Use template under the alert thread's draft (handlers/assistant.py redraws it in place)."""
    ref = encode(DraftRef(alert_id=alert_id))
    again = button(say("assistant_slack.draft_again"), DraftIds.AGAIN, ref)
    return actions(
        again, button(say("assistant_slack.draft_template"), DraftIds.TEMPLATE, ref), block_id=DraftIds.ACTIONS
    )


def outreach(draft: Draft, alert_id: int | None = None) -> Message:
    """The thread's outreach draft: subject, the filled body in a code block (copies as it is), and why now; with
    `alert_id`, the buttons that redraw it."""
    subject, body = fill(draft)
    drivers = "\n".join(_o("driver", reason=esc(d)) for d in draft.drivers) or _o("no_drivers")
    title = _o("title", template=esc(template_title(draft.template)))
    if draft.owner:
        title = _o("title_for", template=esc(template_title(draft.template)), owner=mention(draft.owner))
    blocks = [
        section(title),
        section(_o("subject", subject=esc(subject))),
        section(f"```{_code(body)}```"),
        context(_o("why", drivers=drivers)),
    ]
    if alert_id:
        blocks.append(draft_buttons(alert_id))
    return Message(_o("text", name=esc(draft.name)), validate_blocks(blocks))
