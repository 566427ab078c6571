"""What the App Home tab shows (read from storage, drawn by `home.messages`), and its publishing once per event."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from slack_sdk import WebClient
from sqlmodel import Session

from bot.health.service import my_task_rows, page
from bot.home.messages import HomeData, home_view
from bot.home.values import HomePages
from bot.scoring import chance_fit
from bot.scoring.scorecard import Scorecard
from bot.slack.chance import Chances
from bot.slack.requests import Deps
from storage import events, scores
from storage.db import unit_of_work
from storage.types import utcnow

HOME_PAGE_SIZE = 8
MOVERS = 5

UTC = ZoneInfo("UTC")


def home(
    session: Session, user_id: str, pages: HomePages, scorecard: Scorecard, today: date, tz: ZoneInfo = UTC
) -> dict[str, Any]:
    day = scores.latest_score_day(session.connection())
    tasks = my_task_rows(session, user_id)
    if day is None:
        return home_view(HomeData(user_id, None, pages, {}, {}, {}, [], [], [], tasks, utcnow(), tz), scorecard.tiers)
    chances = Chances.read(session, scorecard)  # read once for the whole tab
    mine = scores.tier_summary(session, day, owner=user_id, with_unscored=True)
    my_pages = {
        tier: page(session, day, pages.pages.get(tier, 0), HOME_PAGE_SIZE, owner=user_id, tier=tier)
        for tier in scorecard.tiers.order
        if tier in mine
    }
    data = HomeData(
        user_id,
        day,
        pages,
        mine,
        my_pages,
        scores.tier_summary(session, day, with_unscored=True),
        scores.tier_moves(session, day, day - timedelta(days=7)),
        scores.account_rows(session, day, order="drop", limit=MOVERS),
        scores.account_rows(session, day, order="gain", limit=MOVERS),
        tasks,
        utcnow(),
        tz,
        chances,
        chance_fit.book(session, chances.fit, day).summary(scorecard.tiers.order) if chances.enough else None,
    )
    return home_view(data, scorecard.tiers)


def publish(deps: Deps, client: WebClient, user_id: str, pages: HomePages) -> None:
    """Draw `user_id`'s Home (its lists at `pages`) and publish it: views.publish replaces the whole tab."""
    with unit_of_work(deps.sessions) as session:
        view = home(session, user_id, pages, deps.scorecard, deps.today(), deps.tz)
    client.views_publish(user_id=user_id, view=view)


def publish_once(
    deps: Deps, client: WebClient, event_id: str | None, user_id: str, logger: logging.Logger, retry: str = "?"
) -> None:
    """An app_home_opened event: the Home published, then the event marked handled (a retry of a handled event
    is dropped). Marked only once published, so an event whose publish failed is published by Slack's retry.
    An event without an id is published without dedupe (its retries cannot be told apart from new events)."""
    if event_id:
        with unit_of_work(deps.sessions) as session:
            done = events.event_handled(session, event_id)
        if done:
            logger.info("dropped retry %s of event %s: already handled", retry, event_id)
            return
    publish(deps, client, user_id, HomePages())
    if event_id:
        with unit_of_work(deps.sessions) as session:
            events.claim_event(session, event_id)
