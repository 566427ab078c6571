"""The App Home tab: my accounts by tier, team totals and movement, the accounts that moved most."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from slack_sdk.models.views import View

from bot.health.messages import Page, at_risk_text, page_text, row_text
from bot.home.ids import HomeIds
from bot.home.values import HomePages
from bot.retention.modal import TaskRow, home_section
from bot.scoring.loss import LossRow, LossSummary
from bot.scoring.scorecard import Tiers
from bot.slack import blocks as b
from bot.slack.chance import Chances
from bot.slack.values import encode
from prompts import say
from storage.scores import AccountRow, TierTotal
from storage.types import utcnow


@dataclass(frozen=True)
class HomeData:
    user_id: str
    day: date | None  # of the latest scores; None before the first scoring run
    pages: HomePages  # the page each list shows
    mine: dict[str | None, TierTotal]  # my customers per tier (None: no score)
    my_pages: dict[str, Page]  # tier -> the page of my accounts shown
    team: dict[str | None, TierTotal]
    moves: list[tuple[str, str, int, float]]  # (tier a week ago, tier now, accounts, MRR)
    drops: list[AccountRow]
    gains: list[AccountRow]
    tasks: list[TaskRow] = field(default_factory=list)  # my open tasks ("My tasks"; none: no section)
    now: datetime | None = None  # what "overdue" is measured against (default: now)
    tz: ZoneInfo = ZoneInfo("UTC")  # due times are shown in it
    chances: Chances | None = None  # the fit the request read (None: no chance drawn at all)
    loss: LossSummary | None = None  # expected MRR loss summed (bot.scoring.loss); None without a chance


def home_view(data: HomeData, tiers: Tiers) -> dict[str, Any]:
    """The whole Home tab, validated as a slack_sdk View."""
    out: b.Blocks = [b.header(say("home.title"))]
    out.extend(home_section(data.tasks, data.now or utcnow(), data.tz))
    if data.day is None:
        out.append(b.section(say("health.no_scores_yet")))
        return _view(out)
    out.append(b.context(say("home.scores_of", day=data.day.isoformat())))
    out.append(b.header(say("home.mine_title")))
    if not data.mine:
        out.append(b.section(say("home.mine_empty")))
    else:
        out.append(b.section(at_risk_text(data.mine, tiers, yours=True) + _loss_line(data, yours=True)))
    for tier in reversed(tiers.order):  # riskiest first
        if tier in data.my_pages:
            out.extend(_my_tier(tier, data, data.day, tiers))
    if None in data.mine:
        out.append(b.context(say("home.mine_unscored", count=data.mine[None].accounts)))
    out.append(b.divider())
    out.append(b.header(say("home.team_title")))
    keys: list[str | None] = [*reversed(tiers.order), None]
    out.append(b.fields(*[_team_tier(t, data.team[t], tiers) for t in keys if t in data.team]))
    out.append(b.section(at_risk_text(data.team, tiers) + _loss_line(data, yours=False)))
    out.append(b.section(_movement(data.moves, tiers)))
    out.append(b.divider())
    out.append(b.header(say("home.movers_title")))
    for key, rows in (("home.drops", data.drops), ("home.gains", data.gains)):
        lines = [row_text(r, data.day, tiers, show_owner=True) + _chance(data, r) for r in rows] or [say("home.none")]
        out.extend(b.sections([say(key), *lines]))
    return _view(out)


def _my_tier(tier: str, data: HomeData, day: date, tiers: Tiers) -> b.Blocks:
    total, page = data.mine[tier], data.my_pages[tier]
    head = say(
        "home.tier",
        emoji=b.tier_emoji(tier),
        label=b.esc(tiers.label(tier)),
        count=total.accounts,
        mrr=b.money(total.mrr),
    )
    rows = (row_text(r, day, tiers) + _chance(data, r) for r in page.rows)  # days to renewal from the scores' day
    out = b.sections([head, *rows])
    nav = []
    if page.number > 0:
        prev = encode(data.pages.turned(tier, -1))
        nav.append(b.button(say("health.list.prev_button"), HomeIds.PAGE_PREV, prev))
    if page.has_more:
        nav.append(b.button(say("health.list.next_button"), HomeIds.PAGE_NEXT, encode(data.pages.turned(tier, 1))))
    if nav:
        out.append(b.context(page_text(page, total.accounts)))
        out.append(b.actions(*nav))
    return out


def _chance(data: HomeData, row: AccountRow) -> str:
    return data.chances.row(row.card, row.score, row.segment) if data.chances is not None else ""


def _loss_line(data: HomeData, yours: bool) -> str:
    """The expected MRR loss over the horizon (the user's, or the whole portfolio's), or why there is none."""
    if data.chances is None:
        return ""
    missing = data.chances.missing()
    if missing:
        return "\n" + missing if yours else ""
    if data.loss is None:
        return ""
    row = next((r for r in data.loss.csms if r.key == data.user_id), None) if yours else data.loss.portfolio
    if row is None:
        return ""
    return "\n" + _loss_text(row, data.chances.horizon, yours)


def _loss_text(row: LossRow, horizon: int, yours: bool) -> str:
    return say(
        "home.expected_loss",
        horizon=horizon,
        whose=say("health.at_risk.yours") if yours else "",
        loss=b.money(row.expected_loss),
        mrr=b.money(row.mrr),
        expected=f"{row.expected_accounts:.1f}",
    )


def _team_tier(tier: str | None, total: TierTotal, tiers: Tiers) -> str:
    label = b.esc(tiers.label(tier)) if tier else say("health.list.unscored")
    return say("home.team_tier", emoji=b.tier_emoji(tier), label=label, count=total.accounts, mrr=b.money(total.mrr))


def _movement(moves: list[tuple[str, str, int, float]], tiers: Tiers) -> str:
    rank = {t: i for i, t in enumerate(tiers.order)}  # 0 = healthiest
    worse = [(n, mrr) for before, now, n, mrr in moves if rank.get(now, 0) > rank.get(before, 0)]
    better = [(n, mrr) for before, now, n, mrr in moves if rank.get(now, 0) < rank.get(before, 0)]
    parts = {}
    for side, rows in (("worse", worse), ("better", better)):
        count = sum(n for n, _ in rows)
        key = f"home.movement_{side}" if count else f"home.movement_{side}_none"
        parts[side] = say(key, count=count, mrr=b.money(sum(m for _, m in rows)))
    return say("home.movement", **parts)


def _view(blocks: b.Blocks) -> dict[str, Any]:
    view = View(type="home", blocks=b.validate_blocks(blocks, b.VIEW_BLOCK_LIMIT))
    view.validate_json()
    return view.to_dict()
