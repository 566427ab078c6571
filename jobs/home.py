"""Republish the App Home of every account owner: what it shows changed with today's scores."""

from __future__ import annotations

import logging
from datetime import date
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from sqlalchemy import Engine
from sqlmodel import Session

from bot.home import service
from bot.home.values import HomePages
from bot.scoring.scorecard import Scorecard
from bot.slack.language import speaking_to, use_for_jobs
from storage import accounts

log = logging.getLogger("healthbot.jobs.home")


def run(engine: Engine, client: WebClient, scorecard: Scorecard, today: date) -> int:
    """Publish each owner's first page of Home; returns how many were published.

    views.publish is Tier 4 (~100/min); the client's rate-limit handler waits out a 429.
    One user's failure is logged and does not stop the others. Each Home speaks its owner's Slack locale (as the
    Home they open does), else the default.
    """
    use_for_jobs(client)  # each owner's locale, looked up (and cached) as every job's DMs are
    with Session(engine) as session:
        owners = accounts.account_owners(session)
    published = 0
    for user_id in owners:
        with Session(engine) as session, speaking_to(user_id):
            view = service.home(session, user_id, HomePages(), scorecard, today)
        try:
            client.views_publish(user_id=user_id, view=view)
            published += 1
        except (SlackApiError, SlackRequestError, URLError, TimeoutError) as exc:
            reason = exc.response.get("error") if isinstance(exc, SlackApiError) else repr(exc)
            log.warning("could not refresh Home of %s: %s", user_id, reason)
    return published
