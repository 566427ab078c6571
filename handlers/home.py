"""The App Home tab: published when a user opens it, republished when they page a list."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date

from slack_bolt import Ack, App, BoltRequest
from slack_sdk import WebClient
from sqlmodel import Session

from bot import portfolio
from bot.ids import HomeIds
from bot.scorecard import Scorecard
from bot.values import HomePages, decode
from storage import queries


def register(app: App, sessions: Callable[[], Session], scorecard: Scorecard, today: Callable[[], date]) -> None:
    def publish(client: WebClient, user_id: str, pages: HomePages) -> None:
        with sessions() as session:
            view = portfolio.home(session, user_id, pages, scorecard, today())
        client.views_publish(user_id=user_id, view=view)

    @app.event("app_home_opened")
    def home_opened(event: dict, body: dict, client: WebClient, request: BoltRequest, logger: logging.Logger) -> None:
        """Bolt has acked already; a retry of an event handled (or being handled) here is dropped."""
        if event.get("tab") != "home":
            return
        event_id = body.get("event_id") or ""
        with sessions() as session:
            first = queries.claim_event(session, event_id)
        if not first:
            retry = request.headers.get("x-slack-retry-num", ["?"])[0]
            logger.info("dropped retry %s of event %s: already handled", retry, event_id)
            return
        try:
            publish(client, event["user"], HomePages())
        except Exception:
            with sessions() as session:
                queries.release_event(session, event_id)  # Slack's next retry may succeed
            raise

    def turn_page(ack: Ack, action: dict, body: dict, client: WebClient) -> None:
        ack()
        publish(client, body["user"]["id"], decode(HomePages, action["value"]))

    app.action(HomeIds.PAGE_PREV.value)(turn_page)
    app.action(HomeIds.PAGE_NEXT.value)(turn_page)
