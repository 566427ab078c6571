"""Slash commands: the `/health` family (`<customer>`, `me`, `top [N] [tier]`, `help`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from slack_bolt import Ack, App
from sqlmodel import Session

from bot import portfolio
from bot.blocks import Message
from bot.command import Help, help_text, parse
from bot.lookup import AccountNames
from bot.scorecard import Scorecard


def register(app: App, sessions: Callable[[], Session], scorecard: Scorecard, today: Callable[[], date]) -> None:
    names = AccountNames()

    @app.command("/health")
    def health(ack: Ack, command: dict) -> None:
        """Answer in the ack itself: each answer is a few indexed queries (bench/bench_lookup.py), far inside 3 s."""
        parsed = parse(command.get("text") or "", scorecard.tiers)
        if isinstance(parsed, Help):
            message = Message(help_text(scorecard.tiers))
        else:
            with sessions() as session:
                message = portfolio.answer(session, parsed, command["user_id"], scorecard, today(), names)
        ack(response_type="ephemeral", text=message.text, blocks=message.blocks)
