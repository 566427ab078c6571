"""Slash commands: `/health <customer>`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from slack_bolt import Ack, App
from sqlmodel import Session

from bot import blocks
from bot.lookup import find_customer
from bot.scorecard import Scorecard
from prompts import say
from storage import queries


def register(app: App, sessions: Callable[[], Session], scorecard: Scorecard, today: Callable[[], date]) -> None:
    @app.command("/health")
    def health(ack: Ack, command: dict) -> None:
        """Answer in the ack itself: a lookup is a few indexed queries, well inside 3 s."""
        query = (command.get("text") or "").strip()
        if not query or query.lower() == "help":
            ack(response_type="ephemeral", text=say("health.usage" if query else "health.empty_query"))
            return
        with sessions() as session:
            lookup = find_customer(session, query)
            if lookup.found is not None:
                account = lookup.found
                score = queries.latest_score(session, account.id)  # type: ignore[arg-type]
                ack(
                    response_type="ephemeral",
                    text=blocks.card_fallback_text(account, score, scorecard.tiers),
                    blocks=blocks.account_card(account, score, scorecard.tiers, today()),
                )
            elif lookup.matches:
                text = say("health.several", count=len(lookup.matches), query=query)
                ack(response_type="ephemeral", text=text, blocks=blocks.pick_list(query, lookup.matches))
            elif lookup.closest:
                names = ", ".join(f"*{n}*" for n in lookup.closest)
                ack(response_type="ephemeral", text=say("health.not_found_closest", query=query, names=names))
            else:
                ack(response_type="ephemeral", text=say("health.not_found", query=query))
