"""The App Home tab: published when a user opens it, republished when they page a list."""

from __future__ import annotations

import logging

from slack_bolt import App, BoltRequest
from slack_sdk import WebClient

from bot.home import service
from bot.home.ids import HomeIds
from bot.home.values import HomePages
from bot.slack.requests import Click, Deps, on_click
from storage import queries
from storage.db import unit_of_work


def register(app: App, deps: Deps) -> None:
    def publish(client: WebClient, user_id: str, pages: HomePages) -> None:
        with unit_of_work(deps.sessions) as session:
            view = service.home(session, user_id, pages, deps.scorecard, deps.today())
        client.views_publish(user_id=user_id, view=view)

    @app.event("app_home_opened")
    def home_opened(event: dict, body: dict, client: WebClient, request: BoltRequest, logger: logging.Logger) -> None:
        """Bolt has acked already; a retry of an event handled (or being handled) here is dropped."""
        if event.get("tab") != "home":
            return
        event_id = body.get("event_id") or ""
        with unit_of_work(deps.sessions) as session:
            first = queries.claim_event(session, event_id)
        if not first:
            retry = request.headers.get("x-slack-retry-num", ["?"])[0]
            logger.info("dropped retry %s of event %s: already handled", retry, event_id)
            return
        try:
            publish(client, event["user"], HomePages())
        except Exception:
            with unit_of_work(deps.sessions) as session:
                queries.release_event(session, event_id)  # Slack's next retry may succeed
            raise

    def turn_page(click: Click[HomePages]) -> None:
        view = service.home(click.session, click.user_id, click.value, deps.scorecard, deps.today())
        click.client.views_publish(user_id=click.user_id, view=view)

    on_click(app, HomeIds.PAGE_PREV, HomePages, deps, turn_page)
    on_click(app, HomeIds.PAGE_NEXT, HomePages, deps, turn_page)
