"""Slash commands: the `/health` family (`<customer>`, `me`, `top [N] [tier]`, `help`)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date

from slack_bolt import Ack, App, Respond
from sqlmodel import Session

from bot import portfolio
from bot.blocks import Message
from bot.command import Help, help_text, parse
from bot.lookup import AccountNames
from bot.scorecard import Scorecard
from prompts import say

ANSWER_IN_ACK_SECONDS = 2.0  # past this, ack with a holding note and send the answer to response_url


def register(app: App, sessions: Callable[[], Session], scorecard: Scorecard, today: Callable[[], date]) -> None:
    names = AccountNames()
    workers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="health-answer")

    def answer(command: dict) -> Message:
        parsed = parse(command.get("text") or "", scorecard.tiers)
        if isinstance(parsed, Help):
            return Message(help_text(scorecard.tiers))
        with sessions() as session:
            return portfolio.answer(session, parsed, command["user_id"], scorecard, today(), names)

    @app.command("/health")
    def health(ack: Ack, command: dict, respond: Respond) -> None:
        """Answer in the ack itself: a few indexed queries (bench/bench_lookup.py), far inside Slack's 3 s.
        Should the database be slow, the ack goes out in time anyway and the answer follows it."""
        pending = workers.submit(answer, command)
        try:
            message = pending.result(timeout=ANSWER_IN_ACK_SECONDS)
        except TimeoutError:  # concurrent.futures raises the built-in one since Python 3.11
            ack(response_type="ephemeral", text=say("health.still_working"))
            message = pending.result()
            respond(response_type="ephemeral", text=message.text, blocks=message.blocks)
            return
        ack(response_type="ephemeral", text=message.text, blocks=message.blocks)
