"""The playbooks (prompts/playbooks.toml): per risk tier, the steps an alert of that tier turns into tasks.

Each step has a title, the role that owns it, how long after the alert opened it is due ("4 business hours",
"2 business days", on the business calendar) and optionally an outreach template (prompts/outreach.toml).
`load_playbooks` validates the whole file; a mistake raises `PlaybookError` with one line naming the tier, the
step and the key, so `healthbot run` refuses a broken file at start rather than an alert failing at night.

What the code parses (due, the SLA, the template) is always read from the English file; the words a reader sees
(a step's title, a role) come from the reader's language (prompts/<code>/playbooks.toml, same tiers and steps) by
`shown`, and the SLA is worded from its parsed value (`respond_within`). A task stores the English title it was
created with, so a task whose title is no longer its step's (the file changed since) keeps its own words.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from bot.calendar import BusinessCalendar, Sla
from prompts import ENGLISH, current, load, say

SOURCE = "prompts/playbooks.toml"
STEP_KEYS = {"title", "owner", "due", "template"}
TIER_KEYS = {"owner", "respond_within", "respond_hours", "steps"}
TITLE_LIMIT = 255  # Task.title
ROLE_LIMIT = 64  # Task.owner_role
DUE = re.compile(r"\s*(\d+)\s*business\s+(hours?|days?)\s*", re.IGNORECASE)
NOT_TEMPLATES = {"message", "highlights"}  # the other tables of prompts/outreach.toml


class PlaybookError(ValueError):
    """The playbooks file is wrong; the message is one line naming where and how to fix it."""


@dataclass(frozen=True)
class Step:
    """One step of a playbook: a task to create when an alert of its tier opens."""

    number: int  # 1-based position in the playbook (Task.step)
    title: str
    owner: str  # the role, e.g. "CSM"
    due_hours: int | None = None  # business (opening) hours after the alert opened
    due_days: int | None = None  # business days after the alert opened (same wall time)
    template: str | None = None

    def due(self, calendar: BusinessCalendar, opened: datetime) -> datetime:
        """When this step is due for an alert opened at `opened`, on the business calendar."""
        if self.due_days is not None:
            return calendar.add_days(opened, self.due_days)
        return calendar.add_hours(opened, self.due_hours or 0)


@dataclass(frozen=True)
class Playbook:
    tier: str
    owner: str
    steps: tuple[Step, ...]
    sla: Sla  # how fast the tier must respond (`respond_within` / `respond_hours`)
    respond_within: str | None = None  # the SLA as the file words it, shown in the alert's root message

    @property
    def template(self) -> str | None:
        """The outreach draft of this playbook: the first step's that names one."""
        return next((s.template for s in self.steps if s.template), None)


def templates() -> set[str]:
    return {name for name, value in load("outreach").items() if isinstance(value, dict)} - NOT_TEMPLATES


def _text(value: Any, where: str, key: str, limit: int, example: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PlaybookError(say("playbook_errors.missing", where=where, key=key, example=example))
    if len(value.strip()) > limit:
        length = len(value.strip())
        raise PlaybookError(say("playbook_errors.too_long", where=where, key=key, length=length, limit=limit))
    return value.strip()


def _step(number: int, raw: Any, where: str, known_templates: set[str]) -> Step:
    where = say("playbook_errors.where_step", where=where, number=number)
    if not isinstance(raw, Mapping):
        raise PlaybookError(say("playbook_errors.step_not_table", where=where))
    unknown = sorted(set(raw) - STEP_KEYS)
    if unknown:
        keys = ", ".join(sorted(STEP_KEYS))
        raise PlaybookError(say("playbook_errors.step_unknown_key", where=where, key=repr(unknown[0]), keys=keys))
    title = _text(raw.get("title"), where, "title", TITLE_LIMIT, "Book a CSM call")
    owner = _text(raw.get("owner"), where, "owner", ROLE_LIMIT, "CSM")
    due = raw.get("due")
    match = DUE.fullmatch(due) if isinstance(due, str) else None
    if match is None:
        raise PlaybookError(say("playbook_errors.due", where=where, due=repr(due)))
    amount = int(match.group(1))
    template = raw.get("template")
    if template is not None and (not isinstance(template, str) or template not in known_templates):
        known = ", ".join(sorted(known_templates)) or say("playbook_errors.no_templates")
        raise PlaybookError(say("playbook_errors.template", where=where, template=repr(template), templates=known))
    if match.group(2).lower().startswith("day"):
        return Step(number, title, owner, due_days=amount, template=template)
    return Step(number, title, owner, due_hours=amount, template=template)


def load_playbooks(data: Mapping[str, Any] | None = None, tiers: Iterable[str] | None = None) -> dict[str, Playbook]:
    """Every tier's playbook, validated (`data`: the parsed file, default prompts/playbooks.toml; `tiers`: the
    scorecard's tier names, to refuse a playbook for a tier that does not exist)."""
    data = load("playbooks") if data is None else data
    known = templates()
    names = set(tiers) if tiers is not None else None
    out: dict[str, Playbook] = {}
    for tier, entry in data.items():
        where = f"{SOURCE} [{tier}]"
        if not isinstance(entry, Mapping):
            raise PlaybookError(say("playbook_errors.tier_not_table", where=where, tier=tier))
        if names is not None and tier not in names:
            raise PlaybookError(say("playbook_errors.no_tier", where=where, tiers=", ".join(sorted(names))))
        unknown = sorted(set(entry) - TIER_KEYS - {"actions"})  # (actions: the list before steps existed)
        if unknown:
            keys = ", ".join(sorted(TIER_KEYS))
            raise PlaybookError(say("playbook_errors.tier_unknown_key", where=where, key=repr(unknown[0]), keys=keys))
        try:
            sla = Sla.from_playbook(entry, where)
        except ValueError as error:
            raise PlaybookError(str(error)) from None
        steps = entry.get("steps", [])
        if not isinstance(steps, list):
            raise PlaybookError(say("playbook_errors.steps_not_list", where=where, tier=tier))
        owner = _text(entry.get("owner"), where, "owner", ROLE_LIMIT, "CSM")
        steps_of = tuple(_step(i, s, where, known) for i, s in enumerate(steps, 1))
        within = entry.get("respond_within")
        out[tier] = Playbook(tier, owner, steps_of, sla, str(within) if within else None)
    return out


def playbook(tier: str) -> Playbook | None:
    """The playbook of `tier` from prompts/playbooks.toml (None: the tier has none)."""
    return load_playbooks().get(tier)


def _entry(data: Mapping[str, Any], tier: str, number: int) -> Mapping[str, Any] | None:
    """Step `number` of `tier` in a parsed playbooks file (0: the tier's own table); None when it has none."""
    entry = data.get(tier)
    if not isinstance(entry, Mapping):
        return None
    if number == 0:
        return entry
    steps = entry.get("steps")
    found = steps[number - 1] if isinstance(steps, list) and 0 < number <= len(steps) else None
    return found if isinstance(found, Mapping) else None


def shown(tier: str, number: int, key: str, english: str) -> str:
    """`english`, the `key` ("title", "owner") of step `number` of `tier` (0: the tier's owner), in the current
    language; as it is when the language lacks it or when it is no longer that step's English (a task created
    from an older file)."""
    language = current()
    if language == ENGLISH:
        return english
    was = _entry(load("playbooks"), tier, number)
    other = _entry(load("playbooks", language), tier, number)
    text = other.get(key) if other is not None else None
    if was is None or str(was.get(key, "")).strip() != english.strip() or not isinstance(text, str) or not text.strip():
        return english
    return text.strip()


class _TaskLike(Protocol):
    playbook: str
    step: int
    title: str
    owner_role: str


def task_title(task: _TaskLike) -> str:
    """A task's title in the reader's language (`shown`)."""
    return shown(task.playbook, task.step, "title", task.title)


def task_role(task: _TaskLike) -> str:
    """The role a task's step names ("CSM", "CS lead") in the reader's language (`shown`)."""
    return shown(task.playbook, task.step, "owner", task.owner_role)


def respond_within(book: Playbook) -> str | None:
    """The tier's SLA as a reader reads it: English as the file words it ("3 business days"), another language
    worded from the parsed SLA (formats.business_days, formats.hours); None when the file names none."""
    if not book.respond_within:
        return None
    if current() == ENGLISH:
        return book.respond_within
    if book.sla.business_days is not None:
        return say("formats.business_days", n=book.sla.business_days)
    return say("formats.hours", n=book.sla.hours)
