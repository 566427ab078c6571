"""An alert's outreach draft: the playbook's template plus the account's drivers and the play's intent.

`template=True` is "Use template": the template filled exactly as the alert thread's draft is
(bot/retention/messages.py `fill`). Otherwise a paragraph goes in before the sign-off: the topics the score's
drivers touch (their scorecard groups) and the playbook's intent in the customer's words. The customer's copy is
plain text (no Slack markup); the drivers' own words and the intent as the team says it are the CSM's note.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from bot.assistant.answer import Answer
from bot.assistant.brief import intent
from bot.retention.messages import Draft, fill, highlight_line, outreach, template_title
from bot.retention.playbooks import playbook, templates
from bot.retention.service import highlights
from bot.scoring.explain import driver_reason
from bot.scoring.scorecard import Scorecard
from bot.slack.blocks import esc, is_user, mention
from prompts import languages, load, raw, say
from storage import alerts, scores
from storage.models import Account, HealthScore

FALLBACK_TEMPLATE = "check_in"  # a tier whose playbook names no template
SIGN_OFF = "\n\nBest,"  # where the templates of prompts/outreach.toml start their sign-off
CODE_LIMIT = 2900


def _a(key: str, **values: Any) -> str:
    return say(f"assistant.{key}", **values)


def _groups(score: HealthScore, scorecard: Scorecard) -> list[str]:
    """The scorecard groups the score's drivers belong to, in the drivers' order (a cap: its measure's group)."""
    card = scorecard.cards.get(score.scorecard)
    group_of = {m.name: g for g, m in card.measures()} if card is not None else {}
    found = [d.group or group_of.get(d.measure.removeprefix("cap:"), "") for d in score.parts.drivers]
    return list(dict.fromkeys(found))


def _by_key(table: str, key: str | None) -> str:
    """A table's text for `key` (a tier, a scorecard group), else its `default`."""
    texts = raw(table)
    return str(texts.get(key or "", texts["default"]))


def _with_paragraph(body: str, paragraph: str) -> str:
    """`paragraph` before the template's sign-off (at the end when it has none)."""
    head, mark, tail = body.rpartition(SIGN_OFF)
    return f"{head}\n\n{paragraph}{mark}{tail}" if mark else f"{body}\n\n{paragraph}"


_EDGE = " \t,，:：.。!！-–—•"  # stripped from a greeting's or a sign-off's ends


@cache
def _letter_marks() -> tuple[tuple[re.Pattern[str], ...], tuple[str, ...]]:
    """The templates' greetings (their first line, the name any words) and sign-offs (the line before {owner}, and
    the team's signature), in every language of prompts/outreach.toml."""
    greetings: list[re.Pattern[str]] = []
    sign_offs: list[str] = []
    for language in languages():
        book = load("outreach", language)
        sign_offs.append(str(book.get("message", {}).get("signature_fallback", "")))
        for name in templates():
            body = book.get(name, {}).get("body") if isinstance(book.get(name), dict) else None
            lines = [line.strip() for line in str(body or "").strip().splitlines()]
            if not lines or not any("{owner}" in line for line in lines[1:]):
                continue
            parts = [part.strip(_EDGE) for part in lines[0].split("{name}")]
            greetings.append(re.compile("^" + ".*?".join(re.escape(p) for p in parts), re.IGNORECASE))
            if word := re.match(r"[^\W\d_]+\b", lines[0]):  # "Hi": a greeting however it goes on
                greetings.append(re.compile(rf"^{re.escape(word.group())}\b", re.IGNORECASE))
            owner = next(i for i, line in enumerate(lines) if "{owner}" in line)
            sign_offs.append(next((line for line in reversed(lines[:owner]) if line), ""))
    return tuple(greetings), tuple(s.strip(_EDGE).casefold() for s in sign_offs if s.strip(_EDGE))


def letter_marks(paragraph: str) -> bool:
    """Whether a draft's paragraph opens with a greeting or holds a sign-off line ("Best," "Best regards," the
    team's signature): the template around it has its own, so the email would have two (compose.reword)."""
    greetings, sign_offs = _letter_marks()
    lines = [line.strip(_EDGE).casefold() for line in paragraph.strip().splitlines()]
    if lines and any(g.match(lines[0]) for g in greetings):
        return True
    return any(line == s or (line.startswith(f"{s} ") and len(line.split()) <= 3) for line in lines for s in sign_offs)


def _block_text(block: dict[str, Any]) -> str:
    """A section's or a context's text."""
    return str(block["text"]["text"] if "text" in block else block["elements"][0]["text"])


def draft(
    session: Session,
    alert_id: int,
    scorecard: Scorecard,
    today: date,
    tz: ZoneInfo,
    template: bool = False,
    names: Callable[[str], str | None] | None = None,
) -> Answer | None:
    """None when the alert or its account is gone. `facts` holds what a model may reword it from. Signed as the
    alert thread's draft is (the owner's name by `names`, bot.slack.client.UserNames, else the team's sign-off)
    and headed "for @owner"; "Use template" gives that draft's very words (messages.outreach)."""
    alert = alerts.get(session, alert_id)
    account = session.get(Account, alert.account_id) if alert is not None else None
    if alert is None or account is None:
        return None
    book = playbook(alert.severity)
    name = book.template if book is not None and book.template else None
    chosen = name if name in templates() else FALLBACK_TEMPLATE
    score = scores.latest_score(session, account.id or 0)
    reasons = [driver_reason(d) for d in score.parts.drivers] if score is not None else []
    groups = _groups(score, scorecard) if score is not None else []
    owner = account.owner_slack_id if is_user(account.owner_slack_id) else None
    recent = highlights(session, account.id or 0, score.day if score is not None else None)
    signature = names(owner) if names is not None and owner else None
    filled = Draft(chosen, account.name, owner, reasons, recent, signature)
    subject, body = fill(filled)
    play = intent(alert.severity)
    offer = _by_key("assistant.draft.offer", alert.severity)
    topics = list(dict.fromkeys(_by_key("assistant.draft.topics", g) for g in groups))
    paragraph = ""  # the draft's one part a model may reword (compose.reword): the rest is the template's
    if not template:
        points = "\n".join(_a("draft.point", topic=t) for t in topics)
        paragraph = _a("draft.paragraph", points=points, offer=offer).replace("\n\n", "\n").strip()
        body = _with_paragraph(body, paragraph)
    copy = esc(body.replace("```", "'''"))[:CODE_LIMIT]
    drivers = "\n".join(say("outreach.message.driver", reason=esc(r)) for r in reasons)
    for_owner = _a("draft.note.for_owner", owner=mention(owner)) if owner else ""
    lines = [  # as the thread's draft (messages.outreach) is: its subject, copy and "Why now"; then the play
        _a("draft.note.title", name=esc(account.name), template=esc(template_title(chosen)), owner=for_owner),
        say("outreach.message.subject", subject=esc(subject)),
        f"```{copy}```",
        say("outreach.message.why", drivers=drivers or say("outreach.message.no_drivers")),
        _a("draft.note.play", intent=esc(play)),
    ]
    if template:  # the thread's draft as the alert job wrote it: its header, subject, copy and why
        lines = [_block_text(b) for b in outreach(filled).blocks or []]
    facts: dict[str, Any] = {"kind": "draft", "account": account.name, "template": chosen, "subject": subject}
    facts |= {
        "body": body,
        "drivers": reasons,
        "intent": play,
        "topics": topics,
        "offer": offer,
        "highlights": [highlight_line(h) for h in recent],
    }
    facts["tier"] = scorecard.tiers.label(alert.severity) if alert.severity in scorecard.tiers.order else None
    prose = esc(paragraph.replace("```", "'''"))  # as the copy block shows it
    return Answer("\n".join(lines), (), (f"/health {account.name}",), facts, kind="draft", prose=prose)
