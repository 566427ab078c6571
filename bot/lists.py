"""Ranked lists of accounts: `/health me`, `/health top [N] [tier]`, with a card button per row and paging."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from bot import blocks as b
from bot.ids import HealthIds
from bot.scorecard import Tiers
from bot.values import AccountRef, ListPage, encode
from prompts import say
from storage.queries import AccountRow, TierTotal


@dataclass(frozen=True)
class Page:
    """One page of a ranked list: its rows, and whether more follow."""

    rows: list[AccountRow]
    number: int  # 0-based
    size: int
    has_more: bool

    @property
    def first(self) -> int:
        return self.number * self.size + 1

    @property
    def last(self) -> int:
        return self.number * self.size + len(self.rows)


def row_text(row: AccountRow, today: date, show_owner: bool = False) -> str:
    values = dict(name=b.esc(row.name), mrr=b.money(row.mrr), renewal=b.renewal_text(row.renewal_date, today))
    if row.score is None:
        text = say("health.list.row_unscored", **values)
    else:
        text = say(
            "health.list.row", emoji=b.tier_emoji(row.tier), score=b.score_text(row.score),
            delta_7=b.signed(row.delta_7), **values,
        )  # fmt: skip
    return text + (say("health.list.row_owner", owner=b.mention(row.owner_slack_id)) if show_owner else "")


def tier_counts_text(totals: dict[str | None, TierTotal], tiers: Tiers) -> str:
    """Accounts per tier, riskiest first ("🔴 High risk 3  ·  🟠 Medium risk 5 …")."""
    keys: list[str | None] = [*reversed(tiers.order), None]
    return "  ·  ".join(
        say("health.list.tiers", emoji=b.tier_emoji(t), label=tiers.label(t) if t else say("health.list.unscored"),
            count=totals[t].accounts)
        for t in keys if t in totals
    )  # fmt: skip


def page_text(page: Page, total: int) -> str:
    return say("health.list.page", first=page.first, last=page.last, total=total)


def _list(title: str, page: Page, value: ListPage, today: date, show_owner: bool, total: int) -> b.Blocks:
    out: b.Blocks = [b.section(title)]
    for row in page.rows:
        card = b.button(say("health.list.open_button"), HealthIds.OPEN_CARD, encode(AccountRef(account_id=row.id)))
        out.append(b.section(row_text(row, today, show_owner), accessory=card))
    nav = []
    if page.number > 0:
        prev = encode(value.model_copy(update={"page": page.number - 1}))
        nav.append(b.button(say("health.list.prev_button"), HealthIds.LIST_PREV, prev))
    if page.has_more:
        more = encode(value.model_copy(update={"page": page.number + 1}))
        nav.append(b.button(say("health.list.next_button"), HealthIds.LIST_NEXT, more))
    if nav:
        out.append(b.context(page_text(page, total)))
        out.append(b.actions(*nav, block_id=HealthIds.LIST_ACTIONS))
    return b.validate_blocks(out)


def portfolio_list(day: date, totals: dict[str | None, TierTotal], page: Page, tiers: Tiers, today: date) -> b.Blocks:
    """`/health me`: the user's customers, riskiest first."""
    accounts = sum(t.accounts for t in totals.values())
    title = say(
        "health.list.me_title", accounts=accounts, mrr=b.money(sum(t.mrr for t in totals.values())),
        day=day.isoformat(),
    ) + "\n" + tier_counts_text(totals, tiers)  # fmt: skip
    return _list(title, page, ListPage(kind="me"), today, show_owner=False, total=accounts)


def riskiest_list(
    day: date, totals: dict[str | None, TierTotal], page: Page, value: ListPage, tiers: Tiers, today: date
) -> b.Blocks:
    """`/health top [N] [tier]`: the team's lowest scores, with the MRR at risk."""
    if value.tier is not None:
        scored = totals[value.tier].accounts if value.tier in totals else 0
        at_risk = totals[value.tier].mrr if value.tier in totals else 0.0
        where = say("health.list.top_where", tier=tiers.label(value.tier))
    else:
        scored = sum(t.accounts for k, t in totals.items() if k is not None)
        at_risk = sum(totals[t].mrr for t in tiers.order[1:] if t in totals)
        where = ""
    count = min(value.limit or scored, scored)
    title = say("health.list.top_title", count=count, where=where, at_risk=b.money(at_risk), day=day.isoformat())
    return _list(title, page, value, today, show_owner=True, total=count)
