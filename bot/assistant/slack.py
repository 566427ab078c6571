"""Ask healthbot in Slack: an answer as a message, and the work of answering within the deadline.

The deterministic answer is read in one short unit of work; a model (when one is set) may then reword it, on a
pool of its own and outside any session. Whatever the model does, a user has an answer within
`Deps.answer_deadline` (30 s) of the question's arrival: past it, the deterministic answer goes out and says the
model did not answer (reword's own timeout normally ends the call well before), and the call is cancelled if it
has not started. With every model slot taken and as many calls waiting, a question does not queue: it gets the
deterministic answer at once, saying the model is busy.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from bot.assistant.answer import Answer
from bot.assistant.answers import answer_text, suggested_prompts
from bot.assistant.brief import brief
from bot.assistant.compose import reword
from bot.assistant.draft import draft
from bot.assistant.ids import AssistantIds
from bot.assistant.values import AnswerRef
from bot.health.lookup import AccountNames
from bot.retention.messages import draft_buttons
from bot.slack.blocks import Blocks, Message, actions, button, context, esc, section, sections, validate_blocks
from bot.slack.language import CarryContext
from bot.slack.requests import Deps
from bot.slack.values import encode
from prompts import say
from storage import alerts
from storage.db import unit_of_work

log = logging.getLogger("healthbot.assistant")

PROMPTS = 4  # Slack shows up to 4 suggested prompts
ANSWER_BLOCKS = 45  # an answer's blocks before its buttons: under Slack's 50 with room to spare


# --------------------------------------------------------------------------- the messages


def greeting() -> Message:
    """A new thread's first message; it has blocks because Bolt's thread context store rewrites them with its
    metadata when the user moves to another channel."""
    text = say("assistant_slack.greeting")
    return Message(text, validate_blocks([section(text)]))


def status() -> str:
    return say("assistant_slack.status")


def working() -> Message:
    """The line a DM or a mention shows while a model words the answer (the answer replaces it)."""
    text = say("assistant_slack.working")
    return Message(text, validate_blocks([context(text)]))


def answer_blocks(answer: Answer, model: str | None) -> Blocks:
    """The text, then one context line each: the figures used, the commands that show more, whether a model
    worded it, and why a model's wording was not used."""
    text = answer.text.strip() or say("assistant_slack.empty")
    blocks: Blocks = []
    if answer.figures:
        items = [say("assistant_slack.figure_item", label=esc(f.label), value=esc(f.value)) for f in answer.figures]
        blocks.append(context(say("assistant_slack.figures", figures="  ·  ".join(items))))
    if answer.commands:
        items = [say("assistant_slack.command_item", command=esc(c)) for c in answer.commands]
        blocks.append(context(say("assistant_slack.commands", commands="  ".join(items))))
    if answer.generated:
        blocks.append(context(say("assistant_slack.generated", model=esc(model or "?"))))
    if answer.note:
        blocks.append(context(esc(answer.note)))
    return _capped(text.split("\n"), ANSWER_BLOCKS - len(blocks), answer.commands) + blocks


def _capped(lines: list[str], room: int, commands: tuple[str, ...]) -> Blocks:
    """The text's sections, at most `room` blocks: past that, the first ones and a line saying how many more
    lines there are and which command shows them all."""
    shown = sections(lines)
    if len(shown) <= room:
        return shown
    kept = shown[: room - 1]
    n = len(lines) - sum(b["text"]["text"].count("\n") + 1 for b in kept)
    more = (
        say("assistant_slack.more", n=n, command=esc(commands[0]))
        if commands
        else say("assistant_slack.more_plain", n=n)
    )
    return [*kept, context(more)]


def feedback_buttons(answer: Answer) -> dict[str, Any]:
    ref = encode(AnswerRef(kind=answer.kind[:16], generated=answer.generated))
    return actions(
        button(say("assistant_slack.helped"), AssistantIds.HELPED, ref),
        button(say("assistant_slack.not_helped"), AssistantIds.NOT_HELPED, ref),
        block_id=AssistantIds.FEEDBACK,
    )


def answer_message(answer: Answer, model: str | None) -> Message:
    """An answer with its 👍/👎 (a question in the pane, a DM or a mention; a brief)."""
    blocks = answer_blocks(answer, model) + [feedback_buttons(answer)]
    return Message(_first_line(answer), validate_blocks(blocks))


def draft_message(answer: Answer, alert_id: int, model: str | None) -> Message:
    """The alert thread's outreach draft redrawn: the draft, its context lines, Regenerate / Use template."""
    blocks = answer_blocks(answer, model) + [draft_buttons(alert_id)]
    return Message(_first_line(answer), validate_blocks(blocks))


def _first_line(answer: Answer) -> str:
    start = (answer.text.strip() or say("assistant_slack.empty")).split("\n")[0]
    return say("assistant_slack.text", start=start)


def thanks(helped: bool) -> str:
    return say("assistant_slack.thanks", helped=say(f"assistant_slack.thanks_{'' if helped else 'not_'}helped"))


def prompt_list(pairs: list[tuple[str, str]]) -> list[dict[str, str]]:
    """(title, message) pairs as set_suggested_prompts takes them."""
    return [{"title": title[:75], "message": message} for title, message in pairs[:PROMPTS]]


# --------------------------------------------------------------------------- the work after the ack


class ModelBusy(RuntimeError):
    """Every model slot is taken and as many calls wait: a new one would only wait out its asker's deadline."""


class ModelCalls(CarryContext):
    """The model's calls (`Deps.model_calls`): `slots` at once, at most as many more waiting; past that, `submit`
    raises ModelBusy at once rather than queue a call its asker would stop waiting for."""

    def __init__(self, slots: int) -> None:
        super().__init__(max_workers=slots, thread_name_prefix="model")
        self._room = threading.BoundedSemaphore(2 * slots)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        if not self._room.acquire(blocking=False):
            raise ModelBusy("every model slot is taken and as many calls wait")
        try:
            call = super().submit(fn, *args, **kwargs)
        except BaseException:
            self._room.release()
            raise
        call.add_done_callback(lambda _: self._room.release())  # done, failed or cancelled
        return call


def worded(deps: Deps, answer: Answer, question: str, arrived: float) -> Answer:
    """The answer in the model's words if it gives them (checked, by `reword`) within the deadline counted from
    the question's arrival (`arrived`, time.monotonic()); else the deterministic answer, with a note when the
    deadline cut the model off or the model was busy. No model: the answer as it is."""
    if deps.model is None or deps.model_calls is None or not answer.facts:
        return answer
    left = deps.answer_deadline - (time.monotonic() - arrived)
    silent = answer.noted(say("assistant_slack.model_silent", seconds=f"{deps.answer_deadline:.0f}"))
    if left <= 1.0:  # the question waited its deadline out before the model could be asked
        return silent

    def call_model() -> Answer:
        """Timed when it starts, not when it was queued: reword stops a second before the deadline (whole
        seconds, as the note says them), which stays the backstop. Its note counts the wait for a slot."""
        waited = time.monotonic() - submitted
        seconds = float(int(deps.answer_deadline - (time.monotonic() - arrived) - 1.0))
        if seconds < 1.0:  # waited for a slot until too late to start
            log.warning("the model was busy for %.0f s: the deterministic answer was sent", waited)
            return busy
        return reword(deps.model, answer, question, deps.llm_fields, min(deps.llm_timeout, seconds), waited=waited)

    busy = answer.noted(say("llm.note.busy"))
    submitted = time.monotonic()
    try:
        call = deps.model_calls.submit(call_model)
    except ModelBusy:
        log.warning("the model is busy: the deterministic answer was sent at once")
        return busy
    try:
        return call.result(timeout=left)
    except FutureTimeout:
        if call.cancel():  # not started yet: it never will be (a started one ends at reword's timeout)
            log.warning("the model was busy for %.0f s: the deterministic answer was sent", left)
            return busy
        log.warning("the model gave no answer within %.0f s: the deterministic answer was sent", deps.answer_deadline)
        return silent
    except Exception:
        log.warning("rewording failed: the deterministic answer was sent", exc_info=True)
        return answer


def ask(deps: Deps, question: str, user_id: str, channel_id: str | None, names: AccountNames, arrived: float) -> Answer:
    """A question in words, answered from the data for the channel being viewed (`channel_id`), worded by the
    model when there is one."""
    with unit_of_work(deps.sessions) as session:
        answer = answer_text(
            session, question, user_id, deps.scorecard, deps.today(), names, deps.tz, channel_id=channel_id
        )
    return worded(deps, answer, question, arrived)


def prompts_for(deps: Deps, user_id: str, channel_id: str | None) -> list[dict[str, str]]:
    with unit_of_work(deps.sessions) as session:
        pairs = suggested_prompts(session, user_id, channel_id, deps.scorecard, deps.today())
    return prompt_list(pairs)


def account_brief(deps: Deps, account_id: int, arrived: float) -> Answer | None:
    """Brief me for an account (the card's button); None when the account is gone."""
    with unit_of_work(deps.sessions) as session:
        found = brief(session, account_id, deps.scorecard, deps.today(), deps.tz)
    return None if found is None else worded(deps, found, say("assistant_slack.brief_button"), arrived)


def alert_brief(deps: Deps, alert_id: int, arrived: float) -> Answer | None:
    """Brief me for an alert's account (the alert root's button); None when the alert or account is gone."""
    with unit_of_work(deps.sessions) as session:
        alert = alerts.get(session, alert_id)
    return None if alert is None else account_brief(deps, alert.account_id, arrived)


def alert_draft(
    deps: Deps, alert_id: int, template: bool, arrived: float, names: Callable[[str], str | None] | None = None
) -> Answer | None:
    """The outreach draft again: reworded by the model (Regenerate), or the plain template (Use template); signed
    with the owner's name by `names` (users.info), as the alert thread's draft is."""
    with unit_of_work(deps.sessions) as session:
        found = draft(session, alert_id, deps.scorecard, deps.today(), deps.tz, template=template, names=names)
    if found is None or template:
        return found
    return worded(deps, found, say("assistant_slack.draft_again"), arrived)
