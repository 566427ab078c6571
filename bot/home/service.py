"""What the App Home tab shows: read from storage, drawn by `home.messages`."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from bot.health.service import my_task_rows, page
from bot.home.messages import HomeData, home_view
from bot.home.values import HomePages
from bot.scoring.scorecard import Scorecard
from storage import queries
from storage.models import utcnow

HOME_PAGE_SIZE = 8
MOVERS = 5

UTC = ZoneInfo("UTC")


def home(
    session: Session, user_id: str, pages: HomePages, scorecard: Scorecard, today: date, tz: ZoneInfo = UTC
) -> dict[str, Any]:
    day = queries.latest_score_day(session.connection())
    tasks = my_task_rows(session, user_id)
    if day is None:
        return home_view(HomeData(user_id, None, pages, {}, {}, {}, [], [], [], tasks, utcnow(), tz), scorecard.tiers)
    mine = queries.tier_summary(session, day, owner=user_id, with_unscored=True)
    my_pages = {
        tier: page(session, day, pages.pages.get(tier, 0), HOME_PAGE_SIZE, owner=user_id, tier=tier)
        for tier in scorecard.tiers.order
        if tier in mine
    }
    data = HomeData(
        user_id, day, pages, mine, my_pages, queries.tier_summary(session, day, with_unscored=True),
        queries.tier_moves(session, day, day - timedelta(days=7)),
        queries.account_rows(session, day, order="drop", limit=MOVERS),
        queries.account_rows(session, day, order="gain", limit=MOVERS), tasks, utcnow(), tz,
    )  # fmt: skip
    return home_view(data, scorecard.tiers)
