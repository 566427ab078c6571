"""The `/health` family: the command (`<customer>`, `me`, `top [N] [tier]`, `help`) and its buttons."""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import Future
from functools import partial
from typing import Any

from pydantic import ValidationError
from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient

from bot.health import buttons, override, service
from bot.health.churn_review import post_review
from bot.health.command import Churn, Find, Help, Mine, Plays, Tasks, Top, help_text, parse
from bot.health.ids import HealthIds
from bot.health.lookup import AccountNames
from bot.health.values import AccountRef, ListPage, OverrideRef
from bot.slack.blocks import Message
from bot.slack.language import CarryContext
from bot.slack.requests import Deps, after_ack, commit_by, on_click
from bot.slack.values import decode
from prompts import say
from storage.db import unit_of_work

# Past this (counted from the request's arrival, not from when a listener thread took it up),
# ack with a holding note and send the answer to the response_url.
ANSWER_IN_ACK_SECONDS = 2.0


def register(app: App, deps: Deps, names: AccountNames, readers: Sequence[str] = ()) -> None:
    """`names`: the process's account names for lookups; `readers`: EXIT_INTERVIEW_READERS, who may read the churn
    review's quotes (none: everyone, privately)."""
    workers = CarryContext(max_workers=4, thread_name_prefix="health-answer")  # in the user's language
    scorecard, today = deps.scorecard, deps.today

    def answer(parsed: Find | Mine | Top | Help | Tasks | Plays, user_id: str) -> Message:
        if isinstance(parsed, Help):
            return Message(help_text(scorecard.tiers))
        with unit_of_work(deps.sessions) as session:
            return service.answer(session, parsed, user_id, scorecard, today(), names, deps.tz)

    @app.command("/health")
    def health(
        ack: Ack, body: dict, command: dict, respond: Respond, client: WebClient, context: BoltContext, logger: Any
    ) -> None:
        """Answer in the ack itself: a few indexed queries (bench/bench_lookup.py), far inside Slack's 3 s.
        Should the database be slow, the ack goes out in time anyway and the answer follows it from the
        follow-up pool: this listener never waits past the ack. The churn review acks at once and follows."""
        parsed = parse(command.get("text") or "", scorecard.tiers)
        if isinstance(parsed, Churn):
            ack(response_type="ephemeral", text=say("churn_review.working"))
            channel, user_id = command["channel_id"], command["user_id"]
            review = partial(post_review, deps, parsed, channel, user_id, readers, respond, client, logger)
            after_ack(deps, body, client, respond, logger, review)
            return
        pending = workers.submit(answer, parsed, command["user_id"])
        waited = time.monotonic() - context.get("received_at", time.monotonic())
        try:
            message = pending.result(timeout=max(0.0, ANSWER_IN_ACK_SECONDS - waited))
        except TimeoutError:  # concurrent.futures raises the built-in one since Python 3.11
            ack(response_type="ephemeral", text=say("health.still_working"))
            pending.add_done_callback(
                lambda done: after_ack(deps, body, client, respond, logger, partial(send, done, respond))
            )
            return
        ack(response_type="ephemeral", text=message.text, blocks=message.blocks)

    def send(done: Future[Message], respond: Respond) -> None:
        message = done.result()  # an error here is reported to the user by after_ack
        respond(response_type="ephemeral", text=message.text, blocks=message.blocks)

    # card and list buttons answer through the response_url of the message they are in
    on_click(
        app, HealthIds.PICK_ACCOUNT, AccountRef, deps, lambda c: buttons.show_card(deps, c, replace=True), "message"
    )
    on_click(app, HealthIds.OPEN_CARD, AccountRef, deps, lambda c: buttons.show_card(deps, c, replace=False), "message")
    on_click(app, HealthIds.SHARE, AccountRef, deps, lambda c: buttons.share(deps, c), "message")
    on_click(app, HealthIds.CHART, AccountRef, deps, lambda c: buttons.chart(deps, c), "message")
    on_click(app, HealthIds.LIST_PREV, ListPage, deps, lambda c: buttons.turn_page(deps, c), "message")
    on_click(app, HealthIds.LIST_NEXT, ListPage, deps, lambda c: buttons.turn_page(deps, c), "message")
    on_click(app, HealthIds.OVERRIDE, AccountRef, deps, lambda c: buttons.open_override(deps, c), "message")

    @app.view(str(HealthIds.OVERRIDE_MODAL))
    def override_submitted(
        ack: Ack, body: dict, view: dict, client: WebClient, context: BoltContext, logger: Any
    ) -> None:
        """Check and store before the ack: errors show inline under their inputs and nothing is written. Then
        the card the modal was opened from is redrawn privately, and the alert's redraw (if any) delivered."""
        try:
            ref = decode(OverrideRef, view.get("private_metadata") or "")
        except ValidationError:
            ack(response_action="errors", errors={HealthIds.OVERRIDE_TIER: say("health.button_out_of_date")})
            return
        entry = override.read_input((view.get("state") or {}).get("values") or {})
        user_id = body["user"]["id"]
        with unit_of_work(deps.sessions, commit_by=commit_by(context)) as session:
            stored = service.set_override(
                session, ref.account_id, entry, user_id, scorecard, today(), deps.tz, deps.cs_lead
            )
        if isinstance(stored, dict):
            ack(response_action="errors", errors=stored)
            return
        ack()
        after_ack(
            deps, body, client, None, logger, lambda: buttons.redraw_overridden(deps, ref, user_id, client, logger)
        )
