"""A model's wording of a deterministic answer, kept only when every figure in it is in the answer's facts.

reword(model, answer, question, fields, timeout, *, reader, waited) -> Answer
    model None: the answer unchanged. Otherwise the model gets the question and `answer.facts` cut to `fields`
    (LLM_FIELDS; exit-interview words only for a `reader`), with the prompt `prompts/llm.toml` [reword]. A brief
    or a draft keeps the bot's structure (headings, Subject, copy block): the model writes only its marked
    `prose` ([reword_part]; none marked: unchanged), at most about twice as long; a draft's paragraph with a
    greeting or sign-off of its own is refused (the template has them: draft.letter_marks). The reply replaces the text
    (`answer.reworded`) only if it is non-empty, within the limit and grounded (every figure, date and name in
    its facts, the question or the bot's own answer: bot/llm/grounding.py); else the deterministic answer comes
    back with `note` saying why, and the log says so too.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection
from typing import Any

from bot.assistant.answer import Answer
from bot.assistant.draft import letter_marks
from bot.llm.client import Model, ModelError
from bot.llm.fields import sendable
from bot.llm.grounding import unsupported
from bot.slack.blocks import esc
from prompts import raw, say

log = logging.getLogger("healthbot.assistant")
LIMIT = 2500  # characters: a Slack section holds 3000, with room left for the answer's own marks
PARTS = ("brief", "draft")  # kinds whose structure is the bot's: a model rewords only their `prose`
PART_ROOM = 200  # characters a reworded part may have beyond twice the bot's own (an email for call points is not)


def reword(
    model: Model | None,
    answer: Answer,
    question: str,
    fields: Collection[str] | None = None,
    timeout: float | None = None,
    *,
    reader: bool = False,
    waited: float = 0.0,
) -> Answer:
    """`answer` in the model's words, or `answer` with a note saying why not (unchanged with AI off, or no facts).
    `timeout`: the seconds the caller can wait (None: LLM_TIMEOUT); `waited`: the seconds the question already
    waited for a free model slot (a timeout then says the model was busy that long, not only the time left)."""
    if model is None or not answer.facts:
        return answer
    part = answer.kind in PARTS
    if part and not (answer.prose and answer.prose in answer.text):
        return answer  # no part marked (or it was cut from what is shown): the bot's own structure is all there is
    limit = min(LIMIT, 2 * len(answer.prose) + PART_ROOM) if part else LIMIT
    facts = sendable(answer.facts, fields, reader=reader)
    data = json.dumps(facts, ensure_ascii=False, indent=1)  # JSON only: sendable refuses anything else
    if part:  # the part's own text is not sent: it may hold a field LLM_FIELDS withholds
        system = say("llm.reword_part.system", part=say(f"llm.reword_part.{answer.kind}"), limit=limit)
    else:
        system = say("llm.reword.system", kind=answer.kind, limit=limit)
    messages = [
        {"role": "system", "content": system},
        {"role": "user", "content": say("llm.reword.user", question=question, facts=data)},
    ]
    try:
        reply = model.chat(messages, timeout=timeout).strip()
    except ModelError as error:
        seconds = model.timeout if timeout is None else timeout
        if error.kind == "timeout" and waited >= 1.0:
            why = f"{error}, after {waited:.0f} s waiting for a free slot"
            return _fallback(answer, "timeout_busy", why, seconds=seconds, waited=f"{waited:.0f}")
        return _fallback(answer, error.kind, str(error), seconds=seconds)
    if not reply:
        return _fallback(answer, "empty", "the reply is empty")
    if answer.kind == "draft" and letter_marks(reply):
        return _fallback(answer, "letter", "the paragraph brings its own greeting or sign-off")
    text = esc(reply.replace("```", "'''") if part else reply)  # what Slack is sent: its length must fit
    if len(text) > limit:
        return _fallback(answer, "too_long", f"the reply has {len(text)} characters escaped, over {limit}")
    made_up = unsupported(reply, facts, f"{question}\n{answer.text}")  # the bot's own answer is its data too
    if made_up:
        return _fallback(answer, "unsupported", f"not in the facts: {made_up}", n=len(made_up))
    log.info("reword v%s (%s): the model's wording is used", _version(answer), answer.kind)
    return answer.reworded(text)


def _fallback(answer: Answer, why: str, detail: str, **values: Any) -> Answer:
    log.info("reword v%s (%s): the bot's own answer is used (%s): %s", _version(answer), answer.kind, why, detail)
    return answer.noted(say(f"llm.note.{why}", **values))


def _version(answer: Answer) -> object:
    return raw("llm.reword_part.version" if answer.kind in PARTS else "llm.reword.version")
