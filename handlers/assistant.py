"""Ask healthbot: the assistant pane, DMs, mentions, Brief me, the outreach draft's buttons, answer feedback.

Every listener only hands its work to the assistant's own pool (Bolt has acked the event; `on_click` acks the
click); the answer is read by `bot.assistant.slack` and posted where the question was asked: in the pane or the
DM, and privately to its asker for a mention or Brief me. Each event is answered once, whatever Slack retries.
A feedback click is the exception: it is stored before its ack, so a 👍 Slack showed as taken is never lost.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from slack_bolt import Ack, App, Assistant, BoltContext, Respond, SaveThreadContext, Say, SetStatus
from slack_bolt import SetSuggestedPrompts as SetPrompts
from slack_sdk import WebClient

from bot.alerts.ids import AlertIds
from bot.alerts.values import AlertRef
from bot.assistant import slack as ask
from bot.assistant.answer import Answer
from bot.assistant.ids import AssistantIds
from bot.assistant.values import AnswerRef
from bot.health.ids import HealthIds
from bot.health.lookup import AccountNames
from bot.health.values import AccountRef
from bot.retention.ids import DraftIds
from bot.retention.values import DraftRef
from bot.slack.blocks import Message, context
from bot.slack.client import UserNames
from bot.slack.requests import AfterCommit, Click, Deps, after_ack, commit_by, log_out_of_date, on_click, tell
from bot.slack.values import decode
from prompts import say as words
from prompts import speaking_in
from storage import assistant as feedback
from storage import events
from storage.db import unit_of_work


def register(app: App, deps: Deps, names: AccountNames) -> None:
    """`deps.follow_up` is the pool this work runs on: the composition root gives the assistant a pool of its own,
    so a question waiting on the model never holds the follow-up pool other features' clicks need at once."""
    pane = Assistant()

    @pane.thread_started
    def started(say: Say, set_suggested_prompts: SetPrompts, event: dict, body: dict, client: WebClient) -> None:
        """The greeting (its metadata keeps the thread's context), then prompts for the channel being viewed."""
        thread = event["assistant_thread"]
        viewing = (thread.get("context") or {}).get("channel_id")

        def work() -> None:
            hello = ask.greeting()
            say(text=hello.text, blocks=hello.blocks)
            if prompts := ask.prompts_for(deps, thread["user_id"], viewing):
                set_suggested_prompts(prompts=prompts)

        after_ack(deps, body, client, None, logging.getLogger("healthbot.assistant"), work)

    @pane.thread_context_changed
    def context_changed(save_thread_context: SaveThreadContext, event: dict, body: dict, client: WebClient) -> None:
        logger = logging.getLogger("healthbot.assistant")

        def work() -> None:
            try:  # the next question reads it; a failure only loses the hint of the channel being viewed
                save_thread_context(event["assistant_thread"]["context"])
            except Exception:
                logger.warning("could not keep the assistant thread's context", exc_info=True)

        after_ack(deps, body, client, None, logger, work)

    @pane.user_message
    def asked(set_status: SetStatus, context: BoltContext, event: dict, body: dict, client: WebClient) -> None:
        """A question in the pane: posted with chat.postMessage in its thread (Bolt's `say` re-reads the thread's
        context first, and an answer must not be lost when that read fails)."""
        logger = logging.getLogger("healthbot.assistant")
        arrived = _arrival(context)

        def work() -> None:
            try:  # "is reading the data...": nice to have, never in the way of the answer
                set_status(ask.status())
            except Exception:
                logger.warning("could not set the assistant thread's status", exc_info=True)
            found = _question_answer(deps, event, _viewing(context, logger), names, arrived)
            message = ask.answer_message(found, deps.model_name)
            client.chat_postMessage(
                channel=event["channel"], thread_ts=event["thread_ts"], text=message.text, blocks=message.blocks
            )

        after_ack(deps, _asker(event), client, None, logger, _once(deps, body, logger, work))

    app.assistant(pane)

    @app.event("message", matchers=[_plain_dm])
    def dm(event: dict, body: dict, context: BoltContext, client: WebClient, logger: logging.Logger) -> None:
        """A message in the app's DM outside an assistant thread: answered in the DM."""
        arrived = _arrival(context)

        def work() -> None:
            where = Place(event["channel"], None, None)
            _reply(deps, client, where, lambda: _question_answer(deps, event, None, names, arrived), logger)

        after_ack(deps, _asker(event), client, None, logger, _once(deps, body, logger, work))

    @app.event("message")
    def other_message() -> None:
        """Anything else in the app's DM (an edit, a deletion, the bot's own post): nothing to answer."""

    @app.event("app_mention")
    def mentioned(event: dict, body: dict, context: BoltContext, client: WebClient, logger: logging.Logger) -> None:
        """A person's mention in a channel: answered privately to them in its thread (guests and Slack Connect
        customers read the thread), about the channel it was asked in. Another bot's mention and an edited
        mention (Slack sends it again) are not questions."""
        if event.get("bot_id") or not event.get("user") or event.get("edited"):
            return
        arrived, channel = _arrival(context), event["channel"]
        question = _without_bot(event.get("text") or "", context.bot_user_id)

        def work() -> None:
            where = Place(channel, event.get("thread_ts") or event["ts"], event["user"])
            found = lambda: ask.ask(deps, question, event["user"], channel, names, arrived)  # noqa: E731
            _reply(deps, client, where, found, logger)

        after_ack(deps, _asker(event), client, None, logger, _once(deps, body, logger, work))

    _register_buttons(app, deps)


@dataclass(frozen=True)
class Place:
    """Where an answer is posted (not the channel it is about): a channel, its thread, and the one user who sees
    it when it is private (None: everyone in the channel, as in the app's DM)."""

    channel: str
    thread_ts: str | None
    private_to: str | None


def _reply(deps: Deps, client: WebClient, where: Place, found: Callable[[], Answer], logger: logging.Logger) -> None:
    """Outside the assistant pane there is no status: with a model (up to 30 s) a "reading the data" line shows
    at once and the answer replaces it (an error too); with AI off the answer itself comes at once. A private
    answer cannot be edited: its "reading" line stays above it."""

    def post(message: Message) -> Any:
        if where.private_to:
            return client.chat_postEphemeral(
                channel=where.channel,
                user=where.private_to,
                thread_ts=where.thread_ts,
                text=message.text,
                blocks=message.blocks,
            )
        return client.chat_postMessage(
            channel=where.channel, thread_ts=where.thread_ts, text=message.text, blocks=message.blocks
        )

    working: Any = post(ask.working()) if deps.model is not None else None
    editable = working is not None and not where.private_to
    try:
        message = ask.answer_message(found(), deps.model_name)
    except Exception:
        if not editable:
            raise  # after_ack tells the asker
        error_id = uuid.uuid4().hex[:8]
        logger.exception("error %s while answering a question", error_id)
        text = words("health.error", error_id=error_id)
        client.chat_update(channel=working["channel"], ts=working["ts"], text=text, blocks=[context(text)])
        return
    if editable:
        client.chat_update(channel=working["channel"], ts=working["ts"], text=message.text, blocks=message.blocks)
    else:
        post(message)


def _question_answer(
    deps: Deps, event: dict[str, Any], viewing: str | None, names: AccountNames, arrived: float
) -> Answer:
    """The answer to a message in the pane or the DM; a file shared without words gets a line saying what can
    be asked."""
    text = (event.get("text") or "").strip()
    if not text and event.get("files"):  # a blank message with no file is asked as one: the help list
        return Answer(text=words("assistant_slack.no_text"), kind="unknown")
    return ask.ask(deps, text, event["user"], viewing, names, arrived)


def _once(deps: Deps, body: dict[str, Any], logger: logging.Logger, job: Callable[[], None]) -> Callable[[], None]:
    """`job` for the first delivery of an event only: Slack retries an event (x-slack-retry-num) with the same
    event_id, and a retry of a question already taken is dropped (the slack_event table, as Home's publish)."""
    event_id = body.get("event_id")

    def run() -> None:
        if event_id:
            with unit_of_work(deps.sessions) as session:
                first = events.claim_event(session, event_id)
            if not first:
                logger.info("dropped a retry of event %s: already answered", event_id)
                return
        job()

    return run


def _arrival(context: BoltContext) -> float:
    """When the request arrived (the web layer's time.monotonic()): the answer's deadline counts from it."""
    return float(context.get("received_at") or time.monotonic())


def _without_bot(text: str, bot_user_id: str | None) -> str:
    """A mention's text without the bot's own mention (other people's mentions are part of the question)."""
    if bot_user_id:
        text = re.sub(rf"<@{re.escape(bot_user_id)}(\|[^>]*)?>", "", text)
    return text.strip()


def _register_buttons(app: App, deps: Deps) -> None:
    def briefed(find: Callable[[Any], Answer | None]) -> Callable[[Click[Any]], AfterCommit]:
        """Brief me, on the card or the alert root: answered privately where the button is (guests may read an
        alert's channel)."""

        def work(click: Click[Any]) -> AfterCommit:
            def then() -> None:
                found = find(click.value)
                if found is None:
                    tell(click.body, click.client, click.respond, words("assistant_slack.brief_gone"))
                    return
                message = ask.answer_message(found, deps.model_name)
                click.respond(
                    response_type="ephemeral", replace_original=False, text=message.text, blocks=message.blocks
                )

            return then

        return work

    card_brief = briefed(lambda ref: ask.account_brief(deps, ref.account_id, time.monotonic()))
    alert_brief = briefed(lambda ref: ask.alert_brief(deps, ref.alert_id, time.monotonic()))

    def redraft(template: bool) -> Callable[[Click[DraftRef]], AfterCommit]:
        def work(click: Click[DraftRef]) -> AfterCommit:
            """Regenerate / Use template: the draft message redrawn in place."""

            def then() -> None:
                names = UserNames(click.client)  # the owner signs, as in the alert thread's draft
                channel, ts = _where(click.body)
                with speaking_in(channel):  # seen by the whole channel: its language, not the clicker's
                    found = ask.alert_draft(deps, click.value.alert_id, template, time.monotonic(), names)
                    message = (
                        ask.draft_message(found, click.value.alert_id, deps.model_name) if found is not None else None
                    )
                if message is None:
                    tell(click.body, click.client, click.respond, words("assistant_slack.draft_gone"))
                    return
                click.client.chat_update(channel=channel, ts=ts, text=message.text, blocks=message.blocks)

            return then

        return work

    on_click(app, HealthIds.BRIEF, AccountRef, deps, card_brief, "message")
    on_click(app, AlertIds.BRIEF, AlertRef, deps, alert_brief, "message")
    on_click(app, DraftIds.AGAIN, DraftRef, deps, redraft(False), "message")
    on_click(app, DraftIds.TEMPLATE, DraftRef, deps, redraft(True), "message")

    for action_id, helped in ((AssistantIds.HELPED, True), (AssistantIds.NOT_HELPED, False)):
        app.action(str(action_id))(_feedback(deps, helped))


def _feedback(deps: Deps, helped: bool) -> Callable[..., None]:
    def listener(
        ack: Ack,
        body: dict,
        action: dict,
        respond: Respond,
        client: WebClient,
        context: BoltContext,
        logger: logging.Logger,
    ) -> None:
        """Stored, then acked; then a private thank-you where the answer is."""
        try:
            ref = decode(AnswerRef, action.get("value") or "")
        except ValidationError:
            ack()
            log_out_of_date(logger, action["action_id"], action.get("value"))
            return
        channel, ts = _where(body)
        with unit_of_work(deps.sessions, commit_by=commit_by(context)) as session:
            feedback.record_feedback(session, body["user"]["id"], channel, ts, ref.kind, ref.generated, helped)
        ack()
        after_ack(deps, body, client, respond, logger, lambda: tell(body, client, respond, ask.thanks(helped)))

    listener.__name__ = "on_assistant_helped" if helped else "on_assistant_not_helped"
    return listener


def _where(body: dict[str, Any]) -> tuple[str, str]:
    """The channel and ts of the message a button is on."""
    container = body.get("container") or {}
    channel = container.get("channel_id") or (body.get("channel") or {}).get("id") or ""
    return channel, container.get("message_ts") or (body.get("message") or {}).get("ts") or ""


def _asker(event: dict[str, Any]) -> dict[str, Any]:
    """Where a question came from, as `after_ack` reads a request to tell its asker about an error: in the
    question's thread (privately), else in the app's DM."""
    thread = event.get("thread_ts") or (event["ts"] if event.get("type") == "app_mention" else None)
    container = {"channel_id": event.get("channel"), "thread_ts": thread} if thread else {}
    return {"type": event.get("type"), "user": {"id": event.get("user")}, "container": container}


def _plain_dm(event: dict[str, Any]) -> bool:
    """A person's own message in the app's DM, not in a thread (threads are the assistant pane's)."""
    return (
        event.get("channel_type") == "im"
        and not event.get("subtype")
        and not event.get("bot_id")
        and not event.get("thread_ts")
        and bool(event.get("text"))
    )


def _viewing(context: BoltContext, logger: logging.Logger) -> str | None:
    """The channel the user is viewing, as the assistant thread's context says (None when unknown)."""
    try:
        found = context["get_thread_context"]()
    except Exception:
        logger.warning("could not read the assistant thread's context", exc_info=True)
        return None
    return found.channel_id if found is not None else None
