"""Ask healthbot: the assistant pane, DMs, mentions, Brief me, the outreach draft's buttons, answer feedback.

Every listener only hands its work to the follow-up pool (Bolt has acked the event; `on_click` acks the click);
the answer is read by `bot.assistant.slack` and posted where the question was asked. A feedback click is the
exception: it is stored before its ack, so a 👍 Slack showed as taken is never lost.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
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
from bot.slack.requests import AfterCommit, Click, Deps, after_ack, commit_by, log_out_of_date, on_click, tell
from bot.slack.values import decode
from prompts import say as words
from storage import assistant as feedback
from storage.db import unit_of_work

MENTION = re.compile(r"<@[UW][A-Z0-9]+>")


def register(app: App, deps: Deps) -> None:
    names = AccountNames()
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
    def asked(set_status: SetStatus, say: Say, context: BoltContext, event: dict, client: WebClient) -> None:
        logger = logging.getLogger("healthbot.assistant")

        def work() -> None:
            try:  # "is reading the data...": nice to have, never in the way of the answer
                set_status(ask.status())
            except Exception:
                logger.warning("could not set the assistant thread's status", exc_info=True)
            answer(say, ask.ask(deps, event.get("text") or "", event["user"], _viewing(context, logger), names))

        after_ack(deps, _asker(event), client, None, logger, work)

    app.assistant(pane)

    @app.event("message", matchers=[_plain_dm])
    def dm(event: dict, client: WebClient, logger: logging.Logger) -> None:
        """A message in the app's DM outside an assistant thread: answered in the DM."""
        reply = _replier(client, event["channel"], None)
        after_ack(deps, _asker(event), client, None, logger, lambda: reply(event["text"], event["user"], None))

    @app.event("message")
    def other_message() -> None:
        """Anything else in the app's DM (an edit, a deletion, the bot's own post): nothing to answer."""

    @app.event("app_mention")
    def mentioned(event: dict, client: WebClient, logger: logging.Logger) -> None:
        """A mention in a channel: answered in its thread, for the channel it was asked in."""
        channel, question = event["channel"], MENTION.sub("", event.get("text") or "").strip()
        reply = _replier(client, channel, event.get("thread_ts") or event["ts"])
        after_ack(deps, _asker(event), client, None, logger, lambda: reply(question, event.get("user") or "", channel))

    def answer(say: Say, found: Answer) -> None:
        message = ask.answer_message(found, deps.model_name)
        say(text=message.text, blocks=message.blocks)

    def _replier(client: WebClient, channel: str, thread_ts: str | None) -> Callable[[str, str, str | None], None]:
        """Outside the assistant pane there is no status: with a model (up to 30 s) a "reading the data" line
        shows at once and the answer replaces it; with AI off the answer itself comes at once."""

        def reply(question: str, user: str, viewing: str | None) -> None:
            working = None
            if deps.model is not None:
                line = ask.working()
                working = client.chat_postMessage(
                    channel=channel, thread_ts=thread_ts, text=line.text, blocks=line.blocks
                )
            message = ask.answer_message(ask.ask(deps, question, user, viewing, names), deps.model_name)
            if working is not None:
                client.chat_update(
                    channel=working["channel"], ts=working["ts"], text=message.text, blocks=message.blocks
                )
            else:
                client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=message.text, blocks=message.blocks)

        return reply

    _register_buttons(app, deps)


def _register_buttons(app: App, deps: Deps) -> None:
    def card_brief(click: Click[AccountRef]) -> AfterCommit:
        """Brief me on the card: answered privately where the card is."""

        def then() -> None:
            found = ask.account_brief(deps, click.value.account_id)
            if found is None:
                tell(click.body, click.client, click.respond, words("assistant_slack.brief_gone"))
                return
            message = ask.answer_message(found, deps.model_name)
            click.respond(response_type="ephemeral", replace_original=False, text=message.text, blocks=message.blocks)

        return then

    def alert_brief(click: Click[AlertRef]) -> AfterCommit:
        """Brief me on the alert root: answered in the alert's thread."""

        def then() -> None:
            found = ask.alert_brief(deps, click.value.alert_id)
            if found is None:
                tell(click.body, click.client, click.respond, words("assistant_slack.brief_gone"))
                return
            message = ask.answer_message(found, deps.model_name)
            channel, root = _where(click.body)
            click.client.chat_postMessage(channel=channel, thread_ts=root, text=message.text, blocks=message.blocks)

        return then

    def redraft(template: bool) -> Callable[[Click[DraftRef]], AfterCommit]:
        def work(click: Click[DraftRef]) -> AfterCommit:
            """Regenerate / Use template: the draft message redrawn in place."""

            def then() -> None:
                found = ask.alert_draft(deps, click.value.alert_id, template)
                if found is None:
                    tell(click.body, click.client, click.respond, words("assistant_slack.draft_gone"))
                    return
                message = ask.draft_message(found, click.value.alert_id, deps.model_name)
                channel, ts = _where(click.body)
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
