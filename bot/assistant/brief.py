"""Brief me: what changed for an account, why the score moved, open tasks, the renewal, what to say on the call.

What to say comes from the playbook of the account's tier: its intent (prompts/assistant.toml [intent]), the
drivers to ask about and the playbook's first step.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from bot.assistant import account
from bot.assistant.answer import Answer, Figure
from bot.retention.playbooks import playbook, shown
from bot.scoring.explain import driver_reason
from bot.scoring.scorecard import Scorecard
from bot.slack.blocks import esc, mention, money, renewal_text, when
from prompts import raw, say
from storage.types import utcnow

SINCE_DAYS = 30
ASKS = 2  # drivers to ask about on the call


def _a(key: str, **values: Any) -> str:
    return say(f"assistant.{key}", **values)


def intent(tier: str | None) -> str:
    """What the tier's playbook sets out to do, in one sentence."""
    intents = raw("assistant.intent")
    return str(intents.get(tier or "", intents["default"]))


def brief(session: Session, account_id: int, scorecard: Scorecard, today: date, tz: ZoneInfo) -> Answer | None:
    """None when the account is gone."""
    seen = account.read(session, account_id, scorecard)
    if seen is None:
        return None
    acc, score, tiers = seen.account, seen.score, scorecard.tiers
    since = (score.day if score is not None else today) - timedelta(days=SINCE_DAYS)
    moved = account.change(session, account_id, since)
    lines = [_a("brief.title", name=esc(acc.name)), _a("brief.changed", since=since.isoformat())]
    changed, figures, change_facts = account.change_lines(acc.name, moved, since, tiers)
    lines += [changed[0], _a("brief.why"), *changed[1:]] if len(changed) > 1 else changed  # no score: no why
    lines.append(_a("brief.tasks"))
    now = utcnow()
    for t in seen.tasks:
        late = _a("brief.late") if account.due_utc(t.due_at) < now else ""
        who = mention(t.assignee) if t.assignee else say("tasks.unassigned")
        lines.append(
            _a("brief.task", title=esc(t.title), role=esc(t.owner_role), who=who, due=when(t.due_at, tz), late=late)
        )
    if not seen.tasks:
        lines.append(_a("brief.no_tasks"))
    renewal = renewal_text(acc.renewal_date, today)
    lines.append(_a("brief.renewal", renewal=renewal, mrr=money(acc.mrr)))
    tier = score.tier if score is not None else None
    said = intent(tier)
    lines.append(_a("brief.call"))
    call_at = len(lines)  # what to say on the call: the brief's one part a model may reword (compose.reword)
    lines.append(_a("brief.intent", intent=esc(said)))
    asks = [driver_reason(d) for d in score.parts.drivers[:ASKS]] if score is not None else []
    lines += [_a("brief.ask", reason=esc(r)) for r in asks]
    book = playbook(tier) if tier else None
    if tier and book is not None and book.steps:
        first = book.steps[0]
        lines.append(_a("brief.steps", title=esc(shown(tier, first.number, "title", first.title))))
    figures += [Figure(_a("figure.open_tasks"), str(len(seen.tasks))), Figure(_a("figure.renewal"), renewal)]
    if seen.chance is not None:
        figures.append(Figure(_a("figure.chance", horizon=seen.horizon), seen.chance))
    facts: dict[str, Any] = {"kind": "brief", "account": acc.name, "since": since.isoformat(), **change_facts}
    facts |= {"tier": tiers.label(tier) if tier else None, "open_tasks": account.task_facts(seen.tasks, tz)}
    facts |= {"renewal": renewal, "mrr": money(acc.mrr), "intent": said, "ask_about": asks}
    facts["chance_to_churn"] = seen.chance
    facts["playbook_step"] = book.steps[0].title if book is not None and book.steps else None
    prose = "\n".join(lines[call_at:])
    return Answer("\n".join(lines), tuple(figures), (f"/health {acc.name}",), facts, kind="brief", prose=prose)
