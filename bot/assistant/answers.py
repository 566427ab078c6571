"""A question in words -> an answer from the bot's own data (AI off: this is the whole assistant).

`reading.read` says what is asked; the account answers are `account.py`'s, the lists `portfolio.py`'s, the churn
review `churn.py`'s. A customer is looked up as `/health <name>` does (`find_customer`: exact, prefix), less its
typo step's guesses: a name that is no customer is said so, with the close names as suggestions (`_customer`).
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from rapidfuzz import fuzz, utils
from rapidfuzz.distance import OSA
from sqlmodel import Session

from bot.assistant import account, churn, portfolio, reading
from bot.assistant.answer import Answer
from bot.health.lookup import AccountNames, Lookup, find_customer
from bot.scoring.scorecard import Scorecard
from bot.slack.blocks import esc
from prompts import raw, say
from prompts.formats import listing
from storage import alerts, scores
from storage.models import Account

PROMPTS_MAX = 4
NEAR = 60  # a name this similar to a customer's whole name (0-100) is offered as "did you mean"
NAME_WORDS = 4  # more words left than this, matching no customer: a question it cannot read, not a name
TEXT_MAX = 500  # characters: a longer message is no question (a paste); it is said so
TYPO_CHARS = 8  # a name typed may be an edit from the customer's whole name per this many characters (at least one)
CJK = re.compile(r"[\u3000-\u9fff\uac00-\ud7af\uff00-\uffef]")  # Chinese, Japanese, Korean: no typo of a Latin name


def _a(key: str, **values: Any) -> str:
    return say(f"assistant.{key}", **values)


def answer_text(
    session: Session,
    text: str,
    user_id: str,
    scorecard: Scorecard,
    today: date,
    names: AccountNames,
    tz: ZoneInfo,
    channel_id: str | None = None,
) -> Answer:
    """The answer to `text` asked by `user_id` (viewing `channel_id`, when Slack says so)."""
    if len(text.strip()) > TEXT_MAX:
        chars = len(text.strip())
        return Answer(_a("too_long", chars=chars, max=TEXT_MAX), (), ("/health help",), {"kind": "too_long"})
    q = reading.read(text, scorecard.tiers, today)
    if q.kind == "help":
        return can_answer(_a("unknown.help_title"), "help")
    if q.kind == "bad_date":
        return Answer(_a("bad_date", day=esc(q.name)), (), ("/health help",), {"kind": "bad_date", "day": q.name})
    if q.kind == "tasks":
        return portfolio.my_tasks(session, user_id, tz)
    if q.kind == "account_tasks":
        named = _lookup(session, q.name, names)
        said = named if isinstance(named, Answer) else account.open_tasks(session, named, tz)
        if said is not None:
            return said
    if q.kind == "mine":
        return portfolio.mine(session, user_id, scorecard)
    if q.kind == "at_risk":
        one = _one_account(session, q, names)
        if isinstance(one, Answer):  # "is globex freight at risk?", no such customer: said, with the close names
            return one
        if one is not None:  # "is acme at risk?": the card says
            said = account.card(session, one, scorecard, today, tz)
            if said is not None:
                return said
        return portfolio.at_risk(session, q, user_id, scorecard)
    if q.kind == "renewals":
        return portfolio.renewals(session, q, user_id, scorecard)
    if q.kind == "churn":
        one = _one_account(session, q, names)  # "why did Acme leave?": that customer
        if isinstance(one, Answer):
            return one
        if q.segment_words and portfolio.segment_of(session, q.segment_words) is None and one is None:
            return portfolio.unknown_segment(session, q.segment_words)
        return churn.why_lost(session, q, scorecard, today) if one is None else churn.why_left(session, one)
    if q.kind in ("account", "changed"):
        bare = q.kind == "account" and q.bare
        sentence = q.kind == "account" and (q.sentence or len(q.name.split()) > NAME_WORDS)
        here = _channel_account(session, channel_id) if not q.name else None
        if not q.name and here is None:  # "how is it?" with no account in view
            return can_answer(_a("unknown.text"), "unknown")
        found = here[0] if here is not None else _lookup(session, q.name, names, bare, sentence)
        if isinstance(found, Answer):
            return found
        if q.kind == "changed" and q.span is not None:
            said = account.changed(session, found, q.span.start, q.span.label, scorecard, today, tz)
        else:
            said = account.card(session, found, scorecard, today, tz)
        if said is not None:
            return said
    return can_answer(_a("unknown.text"), "unknown")


def _one_account(session: Session, q: reading.Question, names: AccountNames) -> int | Answer | None:
    """The customer an at-risk or churn question names ("is acme at risk?"), unless the words name a segment; what
    to say when they name no customer but look like one (a word of a close customer's name: "globex freight")."""
    if not q.name or q.segment_words or portfolio.segment_of(session, "", q.said) is not None:
        return None
    lookup = _customer(session, q.name, names)
    found = _found(lookup, q.name)
    if found is not None or lookup.matches:
        return found
    typed = set(utils.default_process(q.name).split())
    near = any(typed & set(utils.default_process(a.name).split()) for a in lookup.closest)
    return _not_found(q.name, lookup) if near else None


def _customer(session: Session, name: str, names: AccountNames) -> Lookup:
    """The customers `name` means, as `/health` finds them (exact id, domain or name, prefix, substring, a pasted
    address), less its guesses: /health's typo step matches a part of a name ("globex freight": Globex Consulting
    LLC), which a picker can correct but an answer must not take for the customer. A typo of a whole name (an edit
    per `TYPO_CHARS` characters) is still that customer; otherwise the closest names are suggestions."""
    lookup = find_customer(session, name, names, fuzzy_cutoff=101)  # (a score is at most 100: no typo step)
    if lookup.matches:
        return lookup
    typed = utils.default_process(name)
    edits = max(1, len(typed) // TYPO_CHARS)
    typos = [a for a in lookup.closest if OSA.distance(typed, utils.default_process(a.name)) <= edits]
    return Lookup(name, typos) if typos else lookup


def _found(lookup: Lookup, name: str) -> int | None:
    """The one customer `lookup` found, or the one of its matches whose name starts with `name` ("globex freight":
    Globex Freight Corp, not Old Globex Freight Ltd)."""
    starts = [a for a in lookup.matches if a.name.lower().startswith(name.lower())]
    one = starts[0] if len(starts) == 1 else lookup.found
    return one.id if one is not None else None


def _lookup(
    session: Session, name: str, names: AccountNames, bare: bool = False, sentence: bool = False
) -> int | Answer:
    """The account `name` means, or what to say instead: several match, none does (with the closest names; for a
    question read only as a name, `bare`, also the list of what the assistant can answer), or for a name read out
    of a sentence that does not ask about a customer, the list (and "did you mean" a name near it)."""
    lookup = _customer(session, name, names)
    found = _found(lookup, name)
    if found is not None:
        return found
    if CJK.search(name) and not lookup.matches:  # Chinese words that name no customer: no Latin names near them
        return can_answer(_a("unknown.text"), "unknown")
    facts: dict[str, Any] = {"kind": "lookup", "query": name}
    if lookup.matches:
        shown = listing(f"*{esc(a.name)}*" for a in lookup.matches)
        facts["matches"] = [a.name for a in lookup.matches]
        text = _a("several.text", count=len(lookup.matches), query=esc(name), names=shown)
        return Answer(text, (), tuple(f"/health {a.name}" for a in lookup.matches[:3]), facts)
    if sentence:  # "what's the weather": say what can be asked, and the customer it may have meant
        listed = can_answer(_a("unknown.text"), "unknown")
        near = _near(name, lookup.closest)
        if near is None:
            return listed
        text = listed.text + "\n" + _a("unknown.did_you_mean", name=esc(near))
        return replace(listed, text=text, commands=(f"/health {near}", *listed.commands))
    return _not_found(name, lookup, bare)


def _not_found(name: str, lookup: Lookup, bare: bool = False) -> Answer:
    """No customer is `name`: said, with the closest names as suggestions (`bare`: a question read only as a name,
    with the list of what the assistant can answer too)."""
    closest = listing(f"*{esc(a.name)}*" for a in lookup.closest)
    text = _a("not_found.text", query=esc(name)) + (_a("not_found.closest", names=closest) if closest else "")
    facts: dict[str, Any] = {"kind": "lookup", "query": name, "closest": [a.name for a in lookup.closest]}
    if bare:  # a bare word that is no customer: maybe a question it cannot read
        text += "\n\n" + can_answer(_a("unknown.text"), "unknown").text
    else:
        text += _a("not_found.ask_again", query=esc(name))  # (its own space, or none: Chinese)
    commands = (*(f"/health {a.name}" for a in lookup.closest), "/health help")  # the close names: suggestions
    return Answer(text, (), commands, facts, kind="unknown" if bare else "answer")


def _near(name: str, closest: list[Account]) -> str | None:
    """The one of `closest` whose whole name is near `name` (a typo away, not a word in common), if any."""
    scored = [(fuzz.ratio(name, a.name, processor=utils.default_process), a.name) for a in closest]
    best = max(scored, default=None)
    return best[1] if best is not None and best[0] >= NEAR else None


def can_answer(title: str, kind: str) -> Answer:
    """What the assistant can answer, with an example of each (kind "unknown" for a question it could not read)."""
    examples = raw("assistant.unknown.examples")
    lines = [title, *(_a("unknown.item", example=esc(e), what=esc(w)) for e, w in examples)]
    facts = {"kind": kind, "examples": [e for e, _ in examples]}
    return Answer("\n".join(lines), (), ("/health help",), facts, kind="unknown" if kind == "unknown" else "answer")


def _channel_account(session: Session, channel_id: str | None) -> tuple[int, str] | None:
    """The account an open alert in the channel being viewed is about (the riskiest, when several are)."""
    if not channel_id:
        return None
    here = [a for a in alerts.open_alerts(session) if a.channel == channel_id]
    ranked = []
    for alert in here:
        latest = scores.latest_score(session, alert.account_id)
        ranked.append((latest.score if latest else 100.0, alert.account_id))
    for _, account_id in sorted(ranked):
        seen = account.read(session, account_id)
        if seen is not None:
            return account_id, seen.account.name
    return None


def suggested_prompts(
    session: Session, user_id: str, channel_id: str | None, scorecard: Scorecard, today: date
) -> list[tuple[str, str]]:
    """Up to 4 (title, message) prompts for a new assistant thread, sensitive to the channel being viewed: the
    account of an alert there first, else the user's riskiest account."""
    here = _channel_account(session, channel_id)
    name = here[1] if here is not None else None
    if name is None:
        day = scores.latest_score_day(session.connection())
        rows = scores.account_rows(session, day, owner=user_id, limit=1) if day is not None else []
        name = rows[0].name if rows else None
    out: list[tuple[str, str]] = []
    if name is not None:
        out += [(_a("prompts.how_title", name=name), _a("prompts.how", name=name))]
        out += [(_a("prompts.changed_title", name=name), _a("prompts.changed", name=name))]
    for key in ("at_risk", "renewals", "churn", "mine"):
        out.append((_a(f"prompts.{key}_title"), _a(f"prompts.{key}")))
    return out[:PROMPTS_MAX]
