"""An alert's outreach draft: the playbook's template plus the account's drivers and the play's intent.

`template=True` is "Use template": the template filled exactly as the alert thread's draft is
(bot/retention/messages.py `fill`). Otherwise a paragraph naming the drivers and the playbook's intent goes in
before the sign-off. The customer's copy is plain text (no Slack markup); the drivers are the score's own words.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from bot.assistant.answer import Answer
from bot.assistant.brief import intent
from bot.retention.messages import Draft, fill, highlight_line
from bot.retention.playbooks import playbook, templates
from bot.retention.service import highlights
from bot.scoring.scorecard import Scorecard
from bot.slack.blocks import esc, is_user
from prompts import say
from storage import alerts, scores
from storage.models import Account

FALLBACK_TEMPLATE = "check_in"  # a tier whose playbook names no template
SIGN_OFF = "\n\nBest,"  # where the templates of prompts/outreach.toml start their sign-off
CODE_LIMIT = 2900


def _a(key: str, **values: Any) -> str:
    return say(f"assistant.{key}", **values)


def _with_paragraph(body: str, paragraph: str) -> str:
    """`paragraph` before the template's sign-off (at the end when it has none)."""
    head, mark, tail = body.rpartition(SIGN_OFF)
    return f"{head}\n\n{paragraph}{mark}{tail}" if mark else f"{body}\n\n{paragraph}"


def draft(
    session: Session, alert_id: int, scorecard: Scorecard, today: date, tz: ZoneInfo, template: bool = False
) -> Answer | None:
    """None when the alert or its account is gone. `facts` holds what a model may reword it from."""
    alert = alerts.get(session, alert_id)
    account = session.get(Account, alert.account_id) if alert is not None else None
    if alert is None or account is None:
        return None
    book = playbook(alert.severity)
    name = book.template if book is not None and book.template else None
    chosen = name if name in templates() else FALLBACK_TEMPLATE
    score = scores.latest_score(session, account.id or 0)
    reasons = [d.reason for d in score.parts.drivers] if score is not None else []
    owner = account.owner_slack_id if is_user(account.owner_slack_id) else None
    recent = highlights(session, account.id or 0, score.day if score is not None else None)
    subject, body = fill(Draft(chosen, account.name, owner, reasons, recent))
    play = intent(alert.severity)
    if not template:
        points = "\n".join(_a("draft.point", reason=r) for r in reasons)
        body = _with_paragraph(body, _a("draft.paragraph", points=points, intent=play).replace("\n\n", "\n").strip())
    title = "draft.title_template" if template else "draft.title"
    copy = esc(body.replace("```", "'''"))[:CODE_LIMIT]
    drivers = ", ".join(esc(r) for r in reasons) or _a("draft.no_drivers")
    lines = [
        _a(title, name=esc(account.name), template=esc(chosen.replace("_", " "))),
        _a("draft.subject", subject=esc(subject)),
        f"```{copy}```",
        _a("draft.why", drivers=drivers, intent=esc(play)),
    ]
    facts: dict[str, Any] = {"kind": "draft", "account": account.name, "template": chosen, "subject": subject}
    facts |= {"body": body, "drivers": reasons, "intent": play, "highlights": [highlight_line(h) for h in recent]}
    facts["tier"] = scorecard.tiers.label(alert.severity) if alert.severity in scorecard.tiers.order else None
    return Answer("\n".join(lines), (), (f"/health {esc(account.name)}",), facts, kind="draft")
