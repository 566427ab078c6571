"""What the /health family does: read from storage, drawn by the feature's builders.

Each function is a handful of indexed queries, then one pure builder.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlmodel import Session

from bot.health import messages
from bot.health.chart import ChartData
from bot.health.command import Find, Mine, Top
from bot.health.lookup import AccountNames, find_customer
from bot.health.values import ListPage
from bot.scoring.explain import metric_label
from bot.scoring.scorecard import Scorecard
from bot.slack.blocks import Message, esc
from prompts import say
from storage import queries
from storage.models import Account, HealthScore

SERIES_DAYS = 90
PAGE_SIZE = 10
CHART_METRICS = 3


def answer(
    session: Session, command: Find | Mine | Top, user_id: str, scorecard: Scorecard, today: date, names: AccountNames
) -> Message:
    if isinstance(command, Mine):
        return account_list(session, ListPage(kind="me"), user_id, scorecard, today)
    if isinstance(command, Top):
        return account_list(session, ListPage(kind="top", limit=command.limit, tier=command.tier), user_id,
                            scorecard, today)  # fmt: skip
    lookup = find_customer(session, command.query, names)
    if lookup.found is not None:
        return card(session, lookup.found.id or 0, scorecard, today)
    if lookup.matches:
        key = "health.several_more" if lookup.more else "health.several"
        return Message(say(key, count=len(lookup.matches), query=esc(command.query)), messages.pick_list(lookup))
    if command.problem:
        return Message(command.problem)
    return Message(say("health.not_found", query=esc(command.query)), messages.not_found(lookup))


def card(session: Session, account_id: int, scorecard: Scorecard, today: date, shared_by: str | None = None) -> Message:
    account = session.get(Account, account_id)
    if account is None:
        return Message(say("health.gone"))
    score = queries.latest_score(session, account_id)
    series = queries.score_series(session, account_id, score.day - timedelta(days=SERIES_DAYS - 1)) if score else []
    data = messages.CardData(account, score, series, queries.active_override(session, account_id, today))
    return Message(messages.card_text(data, scorecard.tiers), messages.account_card(data, scorecard, today, shared_by))


def account_list(session: Session, value: ListPage, user_id: str, scorecard: Scorecard, today: date) -> Message:
    if value.tier is not None and value.tier not in scorecard.tiers.order:  # forged, or a tier renamed since
        return Message(say("health.button_out_of_date"))
    day = queries.latest_score_day(session.connection())
    if day is None:
        return Message(say("health.no_scores_yet"))
    if value.kind == "me":
        totals = queries.tier_summary(session, day, owner=user_id, with_unscored=True)
        if not totals:
            return Message(say("health.list.me_empty"))
        shown = page(session, day, value.page, PAGE_SIZE, owner=user_id, with_unscored=True)
        blocks = messages.portfolio_list(day, totals, shown, scorecard.tiers)
    else:
        totals = queries.tier_summary(session, day)
        shown = page(session, day, value.page, PAGE_SIZE, cap=value.limit, tier=value.tier)
        if not shown.rows:
            where = say("health.list.top_where", tier=scorecard.tiers.label(value.tier)) if value.tier else ""
            return Message(say("health.list.top_empty", where=where, day=day.isoformat()))
        blocks = messages.riskiest_list(day, totals, shown, value, scorecard.tiers)
    return Message(blocks[0]["text"]["text"], blocks)


def chart(session: Session, account_id: int, scorecard: Scorecard) -> ChartData | None:
    """The chart's data: 90 days of scores and of the metrics that matter most for this account."""
    account = session.get(Account, account_id)
    score = queries.latest_score(session, account_id)
    if account is None or score is None:
        return None
    since = score.day - timedelta(days=SERIES_DAYS - 1)
    metrics = queries.metric_series(session, account_id, _key_metrics(score, scorecard), since)
    return ChartData(
        account.name, SERIES_DAYS, queries.score_series(session, account_id, since),
        {metric_label(m): series for m, series in metrics.items()},
    )  # fmt: skip


def _key_metrics(score: HealthScore, scorecard: Scorecard) -> list[str]:
    """The metrics behind the top drivers, then the card's first measures: three at most."""
    card = scorecard.cards.get(score.scorecard)
    if card is None:
        return []
    metric_of = {m.name: m.metric for _, m in card.measures()}
    drivers = [metric_of.get(d.measure) for d in score.parts.drivers]
    ordered = [m for m in drivers + [m.metric for _, m in card.measures()] if m]
    return list(dict.fromkeys(ordered))[:CHART_METRICS]


def page(
    session: Session, day: date, number: int, size: int, cap: int | None = None, *, owner: str | None = None,
    tier: str | None = None, with_unscored: bool = False,
) -> messages.Page:  # fmt: skip
    """Page `number` of the riskiest-first list (at most `cap` rows in all); one row extra tells if more follow."""
    offset = number * size
    take = size if cap is None else max(0, min(size, cap - offset))
    rows = (
        queries.account_rows(
            session, day, owner=owner, tier=tier, with_unscored=with_unscored, limit=take + 1, offset=offset
        )
        if take
        else []
    )
    return messages.Page(rows[:take], number, size, len(rows) > take and (cap is None or offset + take < cap))
