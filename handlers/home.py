"""The App Home tab: published when a user opens it, republished when they page a list."""

from __future__ import annotations

import logging

from slack_bolt import App, BoltRequest
from slack_sdk import WebClient

from bot.home import service
from bot.home.ids import HomeIds
from bot.home.values import HomePages
from bot.slack.requests import Click, Deps, on_click


def register(app: App, deps: Deps) -> None:
    @app.event("app_home_opened")
    def home_opened(event: dict, body: dict, client: WebClient, request: BoltRequest, logger: logging.Logger) -> None:
        """Bolt has acked already; the event is marked handled only once its Home is published.

        At least once: a process killed mid-publish, or a publish failing after its retries, leaves the
        event unmarked, so Slack's retry publishes it. A retry racing a slow first attempt may publish
        too: views.publish replaces the whole Home, so twice is harmless.
        """
        if event.get("tab") != "home":
            return
        retry = request.headers.get("x-slack-retry-num", ["?"])[0]

        def deliver() -> None:  # on the follow-up pool: a slow publish never holds a listener thread
            try:
                service.publish_once(deps, client, body.get("event_id"), event["user"], logger, retry)
            except Exception:
                logger.exception("could not publish the Home of %s; Slack's retry of the event will", event["user"])

        deps.follow_up.submit(deliver)

    def turn_page(click: Click[HomePages]) -> None:
        view = service.home(click.session, click.user_id, click.value, deps.scorecard, deps.today(), deps.tz)
        click.client.views_publish(user_id=click.user_id, view=view)

    on_click(app, HomeIds.PAGE_PREV, HomePages, deps, turn_page, "view")
    on_click(app, HomeIds.PAGE_NEXT, HomePages, deps, turn_page, "view")
