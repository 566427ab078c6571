"""What the /health family does: read from storage, drawn by the feature's builders.

Each function is a handful of indexed queries, then one pure builder.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from sqlmodel import Session

from bot.alerts import threads
from bot.health import messages, override
from bot.health.chart import ChartData
from bot.health.command import SUBCOMMANDS, TOP_DEFAULT, Find, Mine, Plays, Tasks, Top, usage
from bot.health.lookup import AccountNames, find_customer
from bot.health.values import ListPage
from bot.retention import plays
from bot.retention.modal import TaskRow, my_tasks
from bot.scoring import chance_fit
from bot.scoring.scorecard import Scorecard
from bot.slack.blocks import Message, esc
from bot.slack.chance import Chances
from prompts import say, sentences
from storage import alerts, scores, tasks
from storage.models import Account, HealthOverride, HealthScore
from storage.scores import AccountRow
from storage.types import utcnow

SERIES_DAYS = 90
PAGE_SIZE = 10
CHART_METRICS = 3

UTC = ZoneInfo("UTC")


def answer(
    session: Session,
    command: Find | Mine | Top | Tasks | Plays,
    user_id: str,
    scorecard: Scorecard,
    today: date,
    names: AccountNames,
    tz: ZoneInfo = UTC,
) -> Message:
    if isinstance(command, Tasks):
        return my_tasks(my_task_rows(session, user_id), utcnow(), tz)
    if isinstance(command, Plays):
        return save_rates(session, command, scorecard, today)
    if isinstance(command, Mine):
        return account_list(session, ListPage(kind="me"), user_id, scorecard, today)
    if isinstance(command, Top):
        value = ListPage(kind="top", limit=command.limit, tier=command.tier, by_mrr=command.by_mrr)
        return account_list(session, value, user_id, scorecard, today)
    lookup = find_customer(session, command.query, names)
    if lookup.found is not None:
        return card(session, lookup.found.id or 0, scorecard, today)
    if lookup.matches:
        key = "health.several_more" if lookup.more else "health.several"
        return Message(say(key, count=len(lookup.matches), query=esc(command.query)), messages.pick_list(lookup))
    if command.problem:
        return Message(command.problem)
    return Message(say("health.not_found", query=esc(command.query)), messages.not_found(lookup))


def exit_target(
    session: Session,
    query: str,
    user_id: str,
    scorecard: Scorecard,
    today: date,
    names: AccountNames,
    tz: ZoneInfo = UTC,
) -> int | Message:
    """`/health exit <customer>`: the account meant, or what `/health <customer>` answers when no one account is
    (a pick list, not found)."""
    lookup = find_customer(session, query, names)
    if lookup.found is not None and lookup.found.id:
        return lookup.found.id
    return answer(session, Find(query), user_id, scorecard, today, names, tz)


def card(session: Session, account_id: int, scorecard: Scorecard, today: date, shared_by: str | None = None) -> Message:
    account = session.get(Account, account_id)
    if account is None:
        return Message(say("health.gone"))
    score = scores.latest_score(session, account_id)
    series = scores.score_series(session, account_id, score.day - timedelta(days=SERIES_DAYS - 1)) if score else []
    override_ = scores.active_override(session, account_id, today)
    data = messages.CardData(account, score, series, override_, Chances.read(session, scorecard))
    return Message(messages.card_text(data, scorecard.tiers), messages.account_card(data, scorecard, today, shared_by))


def account_list(session: Session, value: ListPage, user_id: str, scorecard: Scorecard, today: date) -> Message:
    if value.tier is not None and value.tier not in scorecard.tiers.order:  # forged, or a tier renamed since
        return Message(say("health.button_out_of_date"))
    day = scores.latest_score_day(session.connection())
    if day is None:
        return Message(say("health.no_scores_yet"))
    if value.kind == "me":
        totals = scores.tier_summary(session, day, owner=user_id, with_unscored=True)
        if not totals:
            return Message(say("health.list.me_empty"))
        shown = page(session, day, value.page, PAGE_SIZE, owner=user_id, with_unscored=True)
        blocks = messages.portfolio_list(day, totals, shown, scorecard.tiers, Chances.read(session, scorecard))
    elif value.by_mrr:
        return loss_list(session, value, scorecard, day)
    else:
        totals = scores.tier_summary(session, day)
        shown = page(session, day, value.page, PAGE_SIZE, cap=value.limit, tier=value.tier)
        if not shown.rows:
            where = say("health.list.top_where", tier=esc(scorecard.tiers.label(value.tier))) if value.tier else ""
            return Message(say("health.list.top_empty", where=where, day=day.isoformat()))
        listed = scores.account_rows(session, day, tier=value.tier, limit=value.limit or TOP_DEFAULT)  # every page
        listed_mrr = sum(r.mrr or 0.0 for r in listed)
        chances = Chances.read(session, scorecard)
        blocks = messages.riskiest_list(day, totals, shown, value, scorecard.tiers, listed_mrr, chances)
    return Message(blocks[0]["text"]["text"], blocks)


def loss_list(session: Session, value: ListPage, scorecard: Scorecard, day: date) -> Message:
    """`/health top by-mrr [N] [tier]`: the day's customers by expected MRR loss (chance x MRR), largest first
    (then the higher chance, then the name); without a chance to rank by, an answer saying why."""
    chances = Chances.read(session, scorecard)
    if not chances.enough:
        return Message(say("health.list.loss_none", why=chances.missing()))
    book = chance_fit.book(session, chances.fit, day)  # read once per score day and fit, ranked once
    ranked = book.ranked(value.tier)
    if ranked.empty:
        where = say("health.list.top_where", tier=esc(scorecard.tiers.label(value.tier))) if value.tier else ""
        return Message(say("health.list.top_empty", where=where, day=day.isoformat()))
    ranked = ranked.head(value.limit or TOP_DEFAULT)
    start = value.page * PAGE_SIZE
    part = ranked.iloc[start : start + PAGE_SIZE]
    rows = [_row(r) for r in part.to_dict("records")]
    shown = messages.Page(rows, value.page, PAGE_SIZE, len(ranked) > start + PAGE_SIZE)
    everyone = book.summary(scorecard.tiers.order).portfolio  # summed once per book, as Home's
    sums = messages.LossTotals(
        listed=len(ranked),
        listed_loss=float(ranked["expected_loss"].sum()),
        listed_mrr=float(pd.to_numeric(ranked["mrr"], errors="coerce").sum()),
        accounts=everyone.accounts,
        loss=everyone.expected_loss,
        mrr=everyone.mrr,
    )
    losses = {int(r["account_id"]): float(r["expected_loss"]) for r in part.to_dict("records")}
    blocks = messages.loss_list(day, shown, value, scorecard.tiers, chances, losses, sums)
    return Message(blocks[0]["text"]["text"], blocks)


def _value(x: Any) -> Any:
    """A frame's missing value (NaN, NaT) as None."""
    return None if x is None or (not isinstance(x, str) and pd.isna(x)) else x


def _row(r: dict[str, Any]) -> AccountRow:
    """A row of `chance_fit.portfolio` as the lists' AccountRow."""
    mrr, score, delta = _value(r["mrr"]), _value(r["score"]), _value(r["delta_7"])
    renewal = _value(r["renewal_date"])
    return AccountRow(
        id=int(r["account_id"]),
        name=str(r["name"]),
        owner_slack_id=_value(r["owner_slack_id"]),
        mrr=None if mrr is None else float(mrr),
        renewal_date=renewal.date() if isinstance(renewal, pd.Timestamp) else renewal,
        score=None if score is None else float(score),
        tier=_value(r["tier"]),
        delta_7=None if delta is None else float(delta),
        card=_value(r["card"]),
        segment=_value(r["segment"]),
    )


def save_rates(session: Session, command: Plays, scorecard: Scorecard, today: date) -> Message:
    """`/health plays [period]`: the save rate per tier's playbook over the period (to today at most)."""
    try:
        period = plays.period_dates(command.period, today)
    except plays.PeriodError as exc:
        sub = next(s for s in SUBCOMMANDS if s.name == "plays")
        return Message(sentences(str(exc), say("health.usage_is", usage=usage(sub))))
    rates = plays.save_rates(session, period.start, period.end, scorecard.tiers)
    return plays.plays_message(rates, scorecard.tiers, period)


def set_override(
    session: Session,
    account_id: int,
    entry: override.OverrideInput,
    user_id: str,
    scorecard: Scorecard,
    today: date,
    tz: ZoneInfo,
    cs_lead: str | None = None,
) -> HealthOverride | dict[str, str]:
    """The Override modal's submission, checked and stored (the previous override superseded, history kept), and
    the account's open alert redrawn with it (its chance read with the fit checked against `scorecard`); the errors
    per input instead, with nothing written."""
    tiers = scorecard.tiers
    account = session.get(Account, account_id)
    if account is not None:
        session.refresh(account)  # it may have churned since the modal opened
    valid = override.check(entry, account, tiers, today)
    if isinstance(valid, dict):
        return valid
    stored = scores.set_override(
        session,
        account_id,
        tier=valid.tier,
        reason=valid.reason,
        set_by=user_id,
        expires_on=valid.until,
        score=valid.score,
    )
    alert = alerts.open_alert(session, account_id)
    if alert is not None and alert.id is not None:  # shown on the root: a new version, one redraw, in its history
        alerts.overridden(
            session, alert.id, user_id, {"tier": valid.tier, "until": valid.until.isoformat(), "reason": valid.reason}
        )
        threads.redraw(session, alert.id, tiers, tz, cs_lead, today=today, chances=Chances.read(session, scorecard))
    return stored


def my_task_rows(session: Session, user_id: str) -> list[TaskRow]:
    """My open tasks with their accounts' names, the earliest due (so the overdue) first."""
    rows = []
    for task in tasks.open_of(session, user_id):
        account = session.get(Account, task.account_id)
        rows.append(TaskRow(task, account.name if account else None))
    return rows


def chart(session: Session, account_id: int, scorecard: Scorecard) -> ChartData | None:
    """The chart's data: 90 days of scores and of the metrics that matter most for this account."""
    account = session.get(Account, account_id)
    score = scores.latest_score(session, account_id)
    if account is None or score is None:
        return None
    since = score.day - timedelta(days=SERIES_DAYS - 1)
    metrics = scores.metric_series(session, account_id, _key_metrics(score, scorecard), since)
    return ChartData(
        account.name,
        SERIES_DAYS,
        scores.score_series(session, account_id, since),
        dict(metrics),
    )


def _key_metrics(score: HealthScore, scorecard: Scorecard) -> list[str]:
    """The metrics behind the top drivers, then the card's first measures: three at most."""
    card = scorecard.cards.get(score.scorecard)
    if card is None:
        return []
    metric_of = {m.name: m.metric for _, m in card.measures()}
    drivers = [metric_of.get(d.measure.removeprefix("cap:")) for d in score.parts.drivers]  # a cap: its measure's
    ordered = [m for m in drivers + [m.metric for _, m in card.measures()] if m]
    return list(dict.fromkeys(ordered))[:CHART_METRICS]


def page(
    session: Session,
    day: date,
    number: int,
    size: int,
    cap: int | None = None,
    *,
    owner: str | None = None,
    tier: str | None = None,
    with_unscored: bool = False,
) -> messages.Page:
    """Page `number` of the riskiest-first list (at most `cap` rows in all); one row extra tells if more follow."""
    offset = number * size
    take = size if cap is None else max(0, min(size, cap - offset))
    rows = (
        scores.account_rows(
            session, day, owner=owner, tier=tier, with_unscored=with_unscored, limit=take + 1, offset=offset
        )
        if take
        else []
    )
    return messages.Page(rows[:take], number, size, len(rows) > take and (cap is None or offset + take < cap))
