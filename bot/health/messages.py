"""Every message of the /health feature, as pure builders: the account card, the pick list and "not found"
of a lookup, the ranked lists of `/health me` and `/health top` with paging, and `/health help`."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from bot.exits.ids import ExitIds
from bot.health.ids import HealthIds
from bot.health.lookup import Lookup
from bot.health.values import AccountRef, ListPage
from bot.scoring.explain import at_risk_tiers, held_note, score_change, tier_text
from bot.scoring.scorecard import DEFAULT_PATH, Scorecard, Tiers
from bot.slack import blocks as b
from bot.slack.blocks import (
    Blocks,
    actions,
    button,
    context,
    drivers_text,
    esc,
    fields,
    mention,
    money,
    override_text,
    renewal_text,
    score_text,
    section,
    sparkline,
    tier_emoji,
    tier_of,
    validate_blocks,
)
from bot.slack.chance import Chances
from bot.slack.values import encode
from prompts import say, sentences
from storage.models import Account, HealthOverride, HealthScore
from storage.scores import AccountRow, TierTotal
from storage.types import AccountStatus


@dataclass(frozen=True)
class CardData:
    """Everything the card shows about one account."""

    account: Account
    score: HealthScore | None  # the latest one
    series: list[tuple[date, float]]  # (day, score) up to 90 days back from the latest, oldest first
    override: HealthOverride | None  # a CSM's active judgement, shown beside the computed score
    chances: Chances | None = None  # the fit the request read (None: the card shows no chance at all)


def account_card(card: CardData, scorecard: Scorecard, today: date, shared_by: str | None = None) -> Blocks:
    """The card a `/health` lookup answers with; `shared_by` draws the copy posted in the channel."""
    account, score, tiers = card.account, card.score, scorecard.tiers
    if score is None:
        lines = [say("health.card.title_unscored", name=esc(account.name))]
    else:
        lines = [
            say(
                "health.card.title",
                emoji=tier_emoji(score.tier),
                name=esc(account.name),
                score=score_text(score.score),
                tier=esc(tier_text(score.score, score.tier, tiers)),
            )
        ]
        if held_note(score.score, score.tier, tiers):
            lines.append(say("health.card.held", margin=f"{tiers.hysteresis:g}"))
    if account.churned_on is not None:
        lines.append(say("health.card.churned", day=account.churned_on.isoformat()))
    chances = card.chances if account.churned_on is None and account.status != AccountStatus.CHURNED else None
    if score is not None and chances is not None:  # the chance, and beside an override the tier it does not move
        lines.append(chances.lines(score.scorecard, score.score, card.account.segment))
        if card.override is not None:
            lines.append(
                chances.override_line(
                    card.override, score.tier, score.scorecard, score.score, tiers, card.account.segment
                )
            )
    if card.override is not None:
        lines.append(override_text(card.override, tiers))
    blocks: Blocks = [section("\n".join(lines))]
    if score is not None:
        blocks.append(section(_trend(score, card.series)))
    blocks.append(fields(*_facts(account, score.day if score is not None else today)))  # the card's one 'now'
    notes = []
    if score is None:
        notes.append(say("health.no_score", min_days=scorecard.data.min_days_of_data))
    else:
        groups = _groups(score, scorecard)
        if groups:
            blocks.append(section(groups))
        blocks.append(section(drivers_text(score)))
        if score.partial:
            notes.append(say("health.partial", coverage=f"{score.parts.coverage:.0%}"))
        notes.append(scored_with(score, scorecard))
        if chances is not None and chances.fit_note():
            notes.append(chances.fit_note())
    if shared_by:
        notes.append(say("health.card.shared_by", user=mention(shared_by)))
    blocks.append(context("   ".join(notes)))
    value = encode(AccountRef(account_id=account.id or 0))
    buttons = [] if shared_by else [button(say("health.card.share_button"), HealthIds.SHARE, value, "primary")]
    if score is not None:
        buttons.append(button(say("health.card.chart_button"), HealthIds.CHART, value))
    if not shared_by and account.status != AccountStatus.CHURNED and account.churned_on is None:
        buttons.append(button(say("override.button"), HealthIds.OVERRIDE, value))
    if not shared_by:
        buttons.append(button(say("exit.button"), ExitIds.OPEN, value))
        buttons.append(button(say("assistant_slack.brief_button"), HealthIds.BRIEF, value))
    if buttons:
        blocks.append(actions(*buttons, block_id=HealthIds.CARD_ACTIONS))
    return validate_blocks(blocks)


def card_text(card: CardData, tiers: Tiers) -> str:
    """The plain text notifications and screen readers show for a card."""
    if card.score is None:
        return b.message_text(esc(card.account.name))
    score = card.score
    note = held_note(score.score, score.tier, tiers)
    return b.message_text(
        say(
            "health.card_fallback_held" if note else "health.card_fallback",
            name=esc(card.account.name),
            score=score_text(score.score),
            tier=esc(tiers.label(score.tier)),
            note=note,
            delta_7=score_change(score.score, score.delta_7),
        )
    )


@functools.cache
def _own_file(path: Path) -> bool:
    """Whether a scorecard file is the team's own, not the built-in default: resolved once per path and process (two
    file system walks a card otherwise)."""
    return path.resolve() != DEFAULT_PATH.resolve()


def scored_with(score: HealthScore, scorecard: Scorecard) -> str:
    """Which scorecard file, and which of its cards, scored the account: the team's own file by its name, else
    the built-in default; a card no longer in the file is said to be gone."""
    path = scorecard.file
    source = (
        say("health.scorecard_file", file=esc(path.name))
        if path is not None and _own_file(path)
        else say("health.scorecard_built_in")
    )
    key = "health.scored_on" if score.scorecard in scorecard.cards else "health.scored_on_gone"
    return say(key, day=score.day.isoformat(), source=source, card=esc(score.scorecard))


def chart_failed_text(name: str, reason: str) -> str:
    """The private note when the chart could not reach the user's DM; `reason` is Slack's error code or the
    connection error (`<urlopen error ...>`), so it is data like the name."""
    key = "health.chart.failed_scope" if reason == "missing_scope" else "health.chart.failed"
    return b.message_text(say(key, name=esc(name), reason=esc(reason)))


def chart_in_dm_text(name: str) -> str:
    """The private note pointing to the chart in the user's DM."""
    return b.message_text(say("health.chart.in_dm", name=esc(name)))


def _trend(score: HealthScore, series: list[tuple[date, float]]) -> str:
    text = say(
        "health.card.trend",
        delta_7=score_change(score.score, score.delta_7),
        delta_30=score_change(score.score, score.delta_30),
    )
    if len(series) < 2:
        return text
    return (
        text
        + "\n"
        + say(
            "health.card.sparkline",
            spark=sparkline([v for _, v in series]),
            days=(series[-1][0] - series[0][0]).days + 1,
            first=score_text(series[0][1]),
            last=score_text(series[-1][1]),
        )
    )


def _facts(account: Account, as_of: date) -> list[str]:
    facts = [
        say("health.fields.owner", owner=mention(account.owner_slack_id)),
        say("health.fields.segment", segment=esc(account.segment) or "–"),
        say("health.fields.mrr", mrr=money(account.mrr)),
    ]
    if account.churned_on is not None:
        facts.append(say("health.fields.churned", day=account.churned_on.isoformat()))
    else:
        facts.append(say("health.fields.renewal", renewal=renewal_text(account.renewal_date, as_of)))
    facts.append(say("health.fields.stage", stage=esc(account.lifecycle_stage) or "–"))
    return facts


def _groups(score: HealthScore, scorecard: Scorecard) -> str:
    """Each group's score, in the scorecard's order, with the group's label."""
    card = scorecard.cards.get(score.scorecard)
    labels = {name: card.group_label(name) for name in card.groups} if card else {}
    items = [
        say(
            "health.card.group",
            emoji=tier_emoji(None if v is None else tier_of(v, scorecard.tiers)),
            label=esc(labels.get(name, name.replace("_", " ").capitalize())),
            score="–" if v is None else score_text(v),
        )
        for name, v in score.parts.groups.items()
    ]
    return say("health.card.groups_title") + "\n" + "  ·  ".join(items) if items else ""


def _pick_rows(accounts: list[Account]) -> Blocks:
    return [
        section(
            say("health.pick_row", name=esc(a.name), where=esc(a.domain or a.external_id)),
            accessory=button(a.name, HealthIds.PICK_ACCOUNT, encode(AccountRef(account_id=a.id or 0))),
        )
        for a in accounts
    ]


def pick_list(lookup: Lookup) -> Blocks:
    """Several matches: a button per account (the card replaces the list)."""
    key = "health.several_more" if lookup.more else "health.several"
    return validate_blocks(
        [section(say(key, count=len(lookup.matches), query=esc(lookup.query))), *_pick_rows(lookup.matches)]
    )


def not_found(lookup: Lookup) -> Blocks:
    """No match: say so, and offer the closest names as buttons."""
    text = say("health.not_found", query=esc(lookup.query))
    if lookup.closest:
        text = sentences(text, say("health.closest"))
    return validate_blocks([section(text), *_pick_rows(lookup.closest)])


# --- ranked lists: `/health me`, `/health top [N] [tier]` ------------------------------------


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


def row_text(row: AccountRow, as_of: date, tiers: Tiers, show_owner: bool = False) -> str:
    """One account of a list; days to renewal count from `as_of`, the day of the scores shown. A tier that
    hysteresis holds is named, with why, beside the score (the emoji alone would contradict it)."""
    values = dict(name=b.esc(row.name), mrr=b.money(row.mrr), renewal=b.renewal_text(row.renewal_date, as_of))
    if row.score is None:
        text = say("health.list.row_unscored", **values)
    else:
        note = held_note(row.score, row.tier, tiers) if row.tier is not None else None
        held = say("health.list.row_held", tier=b.esc(tier_text(row.score, row.tier or "", tiers))) if note else ""
        text = say(
            "health.list.row",
            emoji=b.tier_emoji(row.tier),
            score=b.score_text(row.score),
            delta_7=score_change(row.score, row.delta_7),
            held=held,
            **values,
        )
    return text + (say("health.list.row_owner", owner=b.mention(row.owner_slack_id)) if show_owner else "")


def tier_counts_text(totals: dict[str | None, TierTotal], tiers: Tiers) -> str:
    """Accounts per tier, riskiest first ("🔴 High risk 3  ·  🟠 Medium risk 5 …")."""
    keys: list[str | None] = [*reversed(tiers.order), None]
    return "  ·  ".join(
        say(
            "health.list.tiers",
            emoji=b.tier_emoji(t),
            count=totals[t].accounts,
            label=b.esc(tiers.label(t)) if t else say("health.list.unscored"),
        )
        for t in keys
        if t in totals
    )


def page_text(page: Page, total: int) -> str:
    return say("health.list.page", first=page.first, last=page.last, total=total)


def at_risk_text(totals: dict[str | None, TierTotal], tiers: Tiers, yours: bool = False) -> str:
    """MRR at risk, with its definition: the MRR of the accounts in `at_risk_tiers` (the scorecard's two riskiest
    tiers), from the accounts and MRR per tier. The one wording of /health top, the App Home and the digest."""
    risky = at_risk_tiers(tiers)
    return at_risk_figure(
        sum(totals[t].mrr for t in risky if t in totals),
        sum(totals[t].accounts for t in risky if t in totals),
        tiers,
        yours,
    )


def at_risk_figure(mrr: float, accounts: int, tiers: Tiers, yours: bool = False) -> str:
    """`at_risk_text` from the figures themselves."""
    names = say("health.at_risk.tier_joiner").join(b.esc(tiers.label(t)) for t in at_risk_tiers(tiers))
    whose = say("health.at_risk.yours") if yours else ""
    if not accounts:
        return say("health.at_risk.none", tiers=names, whose=whose)
    key = "health.at_risk.line_one" if accounts == 1 else "health.at_risk.line"
    return say(key, tiers=names, whose=whose, mrr=b.money(mrr), count=accounts)


def _list(
    title: str,
    page: Page,
    value: ListPage,
    day: date,
    show_owner: bool,
    total: int,
    tiers: Tiers,
    extra: Callable[[AccountRow], str] = lambda row: "",
    note: str = "",
) -> b.Blocks:
    """A ranked list: its title, a row per account (`extra` adds to each), `note` below (the chance's fit)."""
    out: b.Blocks = [b.section(title)]
    for row in page.rows:
        card = b.button(say("health.list.open_button"), HealthIds.OPEN_CARD, encode(AccountRef(account_id=row.id)))
        out.append(b.section(row_text(row, day, tiers, show_owner) + extra(row), accessory=card))
    nav = []
    if page.number > 0:
        prev = encode(value.model_copy(update={"page": page.number - 1}))
        nav.append(b.button(say("health.list.prev_button"), HealthIds.LIST_PREV, prev))
    if page.has_more:
        more = encode(value.model_copy(update={"page": page.number + 1}))
        nav.append(b.button(say("health.list.next_button"), HealthIds.LIST_NEXT, more))
    if nav or note:
        out.append(b.context("   ".join(t for t in (page_text(page, total) if nav else "", note) if t)))
    if nav:
        out.append(b.actions(*nav, block_id=HealthIds.LIST_ACTIONS))
    return b.validate_blocks(out)


def portfolio_list(
    day: date, totals: dict[str | None, TierTotal], page: Page, tiers: Tiers, chances: Chances | None = None
) -> b.Blocks:
    """`/health me`: the user's customers, riskiest first, each with its chance to churn (as `riskiest_list`)."""
    accounts = sum(t.accounts for t in totals.values())
    title = (
        say(
            "health.list.me_title_one" if accounts == 1 else "health.list.me_title",
            accounts=accounts,
            mrr=b.money(sum(t.mrr for t in totals.values())),
            day=day.isoformat(),
        )
        + "\n"
        + tier_counts_text(totals, tiers)
    )
    return _chance_list(title, page, ListPage(kind="me"), day, False, accounts, tiers, chances)


def riskiest_list(
    day: date,
    totals: dict[str | None, TierTotal],
    page: Page,
    value: ListPage,
    tiers: Tiers,
    listed_mrr: float,
    chances: Chances | None = None,
) -> b.Blocks:
    """`/health top [N] [tier]`: the team's lowest scores, each with its chance to churn (`chances`: the fit the
    request read; without a number the list says why once); the MRR of the accounts listed (all pages:
    `listed_mrr`) and, apart from it, the team's MRR at risk (`at_risk_text`)."""
    if value.tier is not None:
        scored = totals[value.tier].accounts if value.tier in totals else 0
        where = say("health.list.top_where", tier=b.esc(tiers.label(value.tier)))
    else:
        scored = sum(t.accounts for k, t in totals.items() if k is not None)
        where = ""
    count = min(value.limit or scored, scored)
    key = "health.list.top_title_one" if count == 1 else "health.list.top_title"
    title = say(key, count=count, where=where, mrr=b.money(listed_mrr), day=day.isoformat())
    title += "\n" + at_risk_text(totals, tiers)
    return _chance_list(title, page, value, day, True, count, tiers, chances)


def _chance_list(
    title: str,
    page: Page,
    value: ListPage,
    day: date,
    show_owner: bool,
    total: int,
    tiers: Tiers,
    chances: Chances | None,
) -> b.Blocks:
    """`_list` with each row's chance to churn, the fit below; without a number, why once under the title."""
    if chances is None:
        return _list(title, page, value, day, show_owner, total, tiers)
    missing = chances.missing()
    return _list(
        title + ("\n" + missing if missing else ""),
        page,
        value,
        day,
        show_owner,
        total,
        tiers,
        extra=lambda row: chances.row(row.card, row.score, row.segment),
        note=chances.fit_note(),
    )


@dataclass(frozen=True)
class LossTotals:
    """`/health top by-mrr`'s sums: of the accounts listed (every page) and of all customers scored that day."""

    listed: int
    listed_loss: float
    listed_mrr: float
    accounts: int
    loss: float
    mrr: float


def loss_list(
    day: date,
    page: Page,
    value: ListPage,
    tiers: Tiers,
    chances: Chances,
    losses: dict[int, float],
    sums: LossTotals,
) -> b.Blocks:
    """`/health top by-mrr [N] [tier]`: the largest expected MRR losses (chance x MRR) first, each row with its
    chance and expected loss (`losses`: account id -> expected loss)."""
    where = say("health.list.top_where", tier=b.esc(tiers.label(value.tier))) if value.tier else ""
    key = "health.list.loss_title_one" if sums.listed == 1 else "health.list.loss_title"
    title = say(
        key,
        count=sums.listed,
        where=where,
        horizon=chances.horizon,
        loss=b.money(sums.listed_loss),
        mrr=b.money(sums.listed_mrr),
        day=day.isoformat(),
    )
    title += "\n" + say("health.list.loss_all", accounts=sums.accounts, loss=b.money(sums.loss), mrr=b.money(sums.mrr))

    def extra(row: AccountRow) -> str:
        return say(
            "health.list.row_loss", chance=chances.short(row.card, row.score, row.segment), loss=b.money(losses[row.id])
        )

    return _list(title, page, value, day, True, sums.listed, tiers, extra, chances.fit_note())
