"""The alert thread's messages: pure builders that draw every state of the root message (open, claimed,
snoozed, escalated, resolved), the thread's replies, the owner's DM and the Resolve modal.

Each is a function of the stored state alone: after a click the root is redrawn by `root` from the
reloaded alert, so what a message shows is what the database holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from slack_sdk.models.views import View

from bot.alerts.ids import AlertIds, ListingIds
from bot.alerts.reasons import firing_text
from bot.alerts.values import OUTCOMES, AlertRef, ListingRef, SnoozeChoice, SnoozeFor, actions_block_id
from bot.retention.playbooks import load_playbooks, respond_within, shown, task_title
from bot.scoring.explain import score_change, tier_text
from bot.scoring.scorecard import Tiers
from bot.slack.blocks import (
    MESSAGE_BLOCK_LIMIT,
    VIEW_BLOCK_LIMIT,
    Blocks,
    Message,
    actions,
    button,
    context,
    drivers_text,
    esc,
    fields,
    mention,
    message_text,
    override_text,
    plain,
    score_text,
    section,
    sections,
    tier_emoji,
    validate_blocks,
    when,
    who,
)
from bot.slack.chance import Chances
from bot.slack.values import encode
from prompts import raw, say
from storage.models import Account, Alert, AlertListing, HealthOverride, HealthScore, Task, firings_of
from storage.types import AccountStatus, AlertOutcome, AlertStatus, ListingStatus

NOTE_LIMIT = 1000  # characters of a Resolve note
SNOOZE_CHOICES: tuple[SnoozeFor, ...] = ("1d", "7d", "tier")


@dataclass(frozen=True)
class AlertView:
    """What the root message is drawn from: the alert, its account and the account's latest score."""

    alert: Alert
    account: Account
    score: HealthScore | None
    override: HealthOverride | None = None  # a CSM's active override of the account's health, shown in the state
    chances: Chances | None = None  # the stored chance-to-churn fit (None: the root shows no chance at all)


def _t(key: str, **values: Any) -> str:
    return say(f"alerts.thread.{key}", **values)


def outcome_label(outcome: str | None) -> str:
    return raw("alerts.thread.outcomes").get(outcome or "", esc(outcome) or "–")


def _tier(view: AlertView) -> str:
    return view.score.tier if view.score is not None else view.alert.severity


def _playbook_head(view: AlertView, tiers: Tiers) -> str:
    """The playbook's tier; when it is not the account's (a rule's severity is a worse tier), which rule set it:
    "Medium risk" in the title over "Playbook (High risk)" would read as a contradiction."""
    severity = view.alert.severity
    if _tier(view) == severity:
        return _t("playbook", tier=esc(tiers.label(severity)))
    firings = sorted(firings_of(view.alert).items())
    words = [esc(firing_text(rule, f, tiers)) for rule, f in firings if f.severity == severity]
    if not words:
        return _t("playbook", tier=esc(tiers.label(severity)))
    return _t(
        "playbook_severity", tier=esc(tiers.label(severity)), account_tier=esc(tiers.label(_tier(view))), why=words[0]
    )


def _title(view: AlertView, tiers: Tiers) -> str:
    tier, name = _tier(view), esc(view.account.name)
    if view.score is None:
        return _t("title_no_score", emoji=tier_emoji(tier), name=name, tier=esc(tiers.label(tier)))
    score = view.score.score
    return _t(
        "title",
        emoji=tier_emoji(tier),
        name=name,
        tier=esc(tier_text(score, tier, tiers)),
        score=score_text(score),
        delta_7=score_change(score, view.score.delta_7),
    )


def _chance(view: AlertView, tiers: Tiers) -> str:
    """The account's chance to churn below the title (with where it comes from), or why there is none; with an
    override, the tier it sets beside the scored tier and the chance, which the override does not change."""
    churned = view.account.churned_on is not None or view.account.status == AccountStatus.CHURNED
    if view.chances is None or view.score is None or churned:
        return ""
    score = view.score
    segment = view.account.segment
    lines = [view.chances.lines(score.scorecard, score.score, segment)]
    if view.override is not None:
        lines.append(
            view.chances.override_line(view.override, score.tier, score.scorecard, score.score, tiers, segment)
        )
    return "\n" + "\n".join(lines)


def root_text(view: AlertView, tiers: Tiers) -> str:
    """The root's notification text: account, tier, score and change."""
    tier = _tier(view)
    emoji, name, label = tier_emoji(tier), esc(view.account.name), esc(tiers.label(tier))
    if view.score is None:
        return message_text(_t("text_no_score", emoji=emoji, name=name, tier=label))
    score, delta = score_text(view.score.score), score_change(view.score.score, view.score.delta_7)
    label = esc(tier_text(view.score.score, tier, tiers))
    return message_text(_t("text", emoji=emoji, name=name, tier=label, score=score, delta_7=delta))


def _firings(alert: Alert, tiers: Tiers) -> str | None:
    rows = sorted(firings_of(alert).items(), key=lambda kv: (kv[1].since or "", kv[0]))
    lines = [_t("firing", words=esc(firing_text(r, f, tiers)), since=f.since or "–") for r, f in rows]
    return _t("why") + "\n" + "\n".join(lines) if lines else None


def _dm_why(alert: Alert, tiers: Tiers) -> str:
    """Why the alert fired, under a DM's line, in the DM reader's language ("" when no firing is stored)."""
    rows = sorted(firings_of(alert).items(), key=lambda kv: (kv[1].since or "", kv[0]))
    words = [esc(firing_text(rule, f, tiers)) for rule, f in rows]
    return "\n" + _t("dm_why", words=_l("why_between").join(words)) if words else ""


def _state(view: AlertView, tiers: Tiers, tz: ZoneInfo, cs_lead: str | None) -> list[str]:
    a = view.alert
    if a.status != AlertStatus.OPEN:
        if a.resolved_by == "healthbot" or a.outcome == AlertOutcome.RECOVERED:
            return [_t("state_recovered", outcome=outcome_label(a.outcome), when=when(a.resolved_at, tz))]
        return [
            _t(
                "state_resolved",
                outcome=outcome_label(a.outcome),
                by=mention(a.resolved_by),
                when=when(a.resolved_at, tz),
            )
        ]
    if a.claimed_by:
        lines = [_t("state_claimed", who=mention(a.claimed_by), when=when(a.claimed_at, tz))]
    else:
        lines = [_t("state_open", due=when(a.due_at, tz))]
    if a.escalation_level:
        lead = who(cs_lead) if cs_lead else _t("lead_none")
        lines.append(_t(f"state_escalated_{min(a.escalation_level, 2)}", when=when(a.escalated_at, tz), lead=lead))
    if a.snoozed_tier:
        lines.append(_t("state_snoozed_tier", tier=esc(tiers.label(a.snoozed_tier))))
    elif a.snoozed_until:
        lines.append(_t("state_snoozed", until=when(a.snoozed_until, tz)))
    return lines


def _option(text: str, value: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": plain(text, 75), "emoji": True}, "value": value}


def _snooze_select(alert_id: int) -> dict[str, Any]:
    labels = {"1d": _t("snooze_1d"), "7d": _t("snooze_7d"), "tier": _t("snooze_tier")}
    return {
        "type": "static_select",
        "action_id": str(AlertIds.SNOOZE),
        "placeholder": {"type": "plain_text", "text": _t("snooze"), "emoji": True},
        "options": [_option(labels[c], encode(SnoozeChoice(alert_id=alert_id, until=c))) for c in SNOOZE_CHOICES],
    }


def _reassign_select() -> dict[str, Any]:
    return {
        "type": "users_select",
        "action_id": str(AlertIds.REASSIGN),
        "placeholder": {"type": "plain_text", "text": _t("reassign"), "emoji": True},
    }


def _buttons(alert: Alert) -> dict[str, Any]:
    ref = encode(AlertRef(alert_id=alert.id or 0))
    card = button(_t("open_card"), AlertIds.OPEN_CARD, ref)
    brief = button(say("assistant_slack.brief_button"), AlertIds.BRIEF, ref)
    if alert.status != AlertStatus.OPEN:
        elements = [card]
    elif alert.claimed_by:
        elements = [
            button(_t("release"), AlertIds.RELEASE, ref),
            _reassign_select(),
            button(_t("resolve"), AlertIds.RESOLVE, ref),
            card,
            brief,
        ]
    else:
        claim = button(_t("claim"), AlertIds.CLAIM, ref, style="primary")
        elements = [claim, _snooze_select(alert.id or 0), card, brief]
    return actions(*elements, block_id=actions_block_id(alert.id or 0))


def root(view: AlertView, tiers: Tiers, tz: ZoneInfo, cs_lead: str | None = None) -> Message:
    """The thread's root message in the alert's current state: what is wrong, who must act by when, who has it."""
    alert = view.alert
    blocks: Blocks = [section(_title(view, tiers) + _chance(view, tiers))]
    why = _firings(alert, tiers)
    if why:
        blocks.append(section(why))
    if view.score is not None and view.score.parts.drivers:
        blocks.append(section(drivers_text(view.score)))
    playbook = load_playbooks().get(alert.severity)
    sla = (
        _t("sla", sla=within, due=when(alert.due_at, tz))
        if playbook is not None and (within := respond_within(playbook))
        else _t("sla_none", due=when(alert.due_at, tz))
    )
    blocks.append(fields(sla, _t("owner", owner=mention(view.account.owner_slack_id))))
    steps = [shown(playbook.tier, s.number, "title", s.title) for s in playbook.steps] if playbook is not None else []
    if alert.status == AlertStatus.OPEN and steps:  # the playbook's steps (prompts/playbooks.toml; tasks in the thread)
        lines = [_playbook_head(view, tiers)] + [_t("action", action=esc(a)) for a in steps]
        blocks.append(section("\n".join(lines)))
    state = _state(view, tiers, tz, cs_lead)
    if view.override is not None:
        state.append(override_text(view.override, tiers))
    blocks.append(context("\n".join(state)))
    blocks.append(_buttons(alert))
    return Message(root_text(view, tiers), validate_blocks(blocks))


def joined_reply(new_words: list[str]) -> Message:
    """The thread reply when further rules join an open alert."""
    lines = [_t("joined")] + [f"• {esc(w)}" for w in new_words]
    return Message(
        _t("joined_text", words="; ".join(esc(w) for w in new_words)), validate_blocks([section("\n".join(lines))])
    )


def escalated_reply(level: int, lead: str | None, owner: str | None, overdue_since: datetime, tz: ZoneInfo) -> Message:
    """The thread reply of an escalation: level 1 mentions the CS lead, level 2 the next level up."""
    due = when(overdue_since, tz)
    text = _t(f"escalated_{min(max(level, 1), 2)}", lead=who(lead) if lead else _t("lead_none"), due=due)
    if owner:
        text += _t("escalated_owner", owner=mention(owner))
    return Message(text, validate_blocks([section(text)]))


def resolved_reply(outcome: str, by: str) -> Message:
    """The thread reply when the alert is resolved, by a person (Resolve) or by the job ("healthbot")."""
    if by == "healthbot" or outcome == AlertOutcome.RECOVERED:
        text = _t("resolved_recovered", outcome=outcome_label(outcome))
    else:
        text = _t("resolved", outcome=outcome_label(outcome), by=mention(by))
    return Message(text, validate_blocks([section(text)]))


def _chance_row(
    chances: Chances | None, account: Account, score: HealthScore | None, key: str = "health.chance.row"
) -> str:
    """A listing line's "  ·  chance 18 %", a DM line's ", chance to churn 18 %" (`key`); "" without a number: the
    message says why once (`_chance_note`)."""
    churned = account.churned_on is not None or account.status == AccountStatus.CHURNED
    if chances is None or score is None or churned:
        return ""
    return chances.row(score.scorecard, score.score, account.segment, key)


def _chance_note(chances: Chances | None) -> Blocks:
    """Why the lines show no chance, once per message (a context block), or nothing."""
    missing = chances.missing() if chances is not None else None
    return [context(missing)] if missing else []


def owner_dm(view: AlertView, tiers: Tiers, tz: ZoneInfo) -> Message:
    """The DM to the account's owner: which account, how bad, by when, its chance to churn, and the channel of the
    thread."""
    tier, name, channel = _tier(view), esc(view.account.name), view.alert.channel
    text = _t("dm_text", emoji=tier_emoji(tier), name=name, channel=channel)
    line = _t(
        "dm",
        emoji=tier_emoji(tier),
        name=name,
        channel=channel,
        tier=esc(tiers.label(tier)),
        due=when(view.alert.due_at, tz),
        chance=_chance_row(view.chances, view.account, view.score, "alerts.thread.dm_chance"),
    ) + _dm_why(view.alert, tiers)
    return Message(text, validate_blocks([section(line), *_chance_note(view.chances)]))


def resolve_modal(alert_id: int, name: str | None = None) -> dict[str, Any]:
    """The Resolve modal: an outcome (saved, churned, false alarm) and an optional note."""
    intro = _t("modal.intro_named", name=esc(name)) if name else _t("modal.intro")
    options = [_option(outcome_label(o), o) for o in OUTCOMES]
    blocks: Blocks = [
        section(intro),
        {
            "type": "input",
            "block_id": str(AlertIds.OUTCOME_BLOCK),
            "label": {"type": "plain_text", "text": _t("modal.outcome"), "emoji": True},
            "element": {"type": "radio_buttons", "action_id": str(AlertIds.OUTCOME), "options": options},
        },
        {
            "type": "input",
            "block_id": str(AlertIds.NOTE_BLOCK),
            "optional": True,
            "label": {"type": "plain_text", "text": _t("modal.note"), "emoji": True},
            "hint": {"type": "plain_text", "text": _t("modal.note_hint"), "emoji": True},
            "element": {
                "type": "plain_text_input",
                "action_id": str(AlertIds.NOTE),
                "multiline": True,
                "max_length": NOTE_LIMIT,
            },
        },
    ]
    view: dict[str, Any] = {
        "type": "modal",
        "callback_id": str(AlertIds.RESOLVE_MODAL),
        "private_metadata": encode(AlertRef(alert_id=alert_id)),
        "title": {"type": "plain_text", "text": plain(_t("modal.title"), 24)},
        "submit": {"type": "plain_text", "text": plain(_t("modal.submit"), 24)},
        "close": {"type": "plain_text", "text": plain(_t("modal.close"), 24)},
        "blocks": validate_blocks(blocks, VIEW_BLOCK_LIMIT),
    }
    View(**view).validate_json()
    return view


# --------------------------------------------------------------------------- listings and the run's DMs

LISTING_PAGE = 45  # accounts per listing message: a title, a context and 45 sections stay within 50 blocks
DM_ALERTS = 20  # new alerts drawn in one DM (two blocks each); more are named in one line


def _l(key: str, **values: Any) -> str:
    return say(f"alerts.listing.{key}", **values)


@dataclass(frozen=True)
class ListingRow:
    """One account of a listing message: the listing, its account and latest score, its alert once opened."""

    listing: AlertListing
    account: Account
    score: HealthScore | None
    alert: Alert | None = None


def _listing_line(row: ListingRow, tiers: Tiers, chances: Chances | None) -> dict[str, Any]:
    tier = row.score.tier if row.score is not None else row.listing.severity
    head = _l(
        "row",
        emoji=tier_emoji(tier),
        name=esc(row.account.name),
        tier=esc(tier_text(row.score.score if row.score is not None else None, tier, tiers)),
        score=score_text(row.score.score) if row.score is not None else "–",
        owner=_l("owner", who=mention(owner)) if (owner := row.account.owner_slack_id) else mention(None),
    ) + _chance_row(chances, row.account, row.score)
    words = [esc(firing_text(rule, f, tiers)) for rule, f in sorted(firings_of(row.listing).items())]
    text = head + ("\n" + _l("why", words=_l("why_between").join(words)) if words else "")
    status = row.listing.status
    if status == ListingStatus.LISTED:
        ref = encode(ListingRef(listing_id=row.listing.id or 0))
        return section(text, accessory=button(_l("open"), ListingIds.OPEN, ref))
    if status == ListingStatus.OPENED:
        by = _l("opened_by_bot") if row.listing.opened_by == "healthbot" else mention(row.listing.opened_by)
        return section(text + "\n" + _l("opened", by=by))
    return section(text + "\n" + _l(status))


def listing_message(
    rows: list[ListingRow],
    reason: str,
    page: int,
    pages: int,
    total: int,
    tiers: Tiers,
    budget: int,
    chances: Chances | None = None,
) -> Message:
    """One page of a listing message: the accounts at risk the job listed instead of opening a thread (a first
    run's "where we start", or those past the day's budget), each with a button that opens its alert and its
    chance to churn (`chances`: the fit the run read; without a number the intro says why once)."""
    if len(rows) > LISTING_PAGE:
        raise ValueError(f"{len(rows)} accounts do not fit one listing message ({LISTING_PAGE} at most)")
    part = _l("part", page=page, pages=pages) if pages > 1 else ""
    title = _l(f"title_{reason}", count=total, part=part, budget=budget).strip()
    blocks: Blocks = [section(title), context(_l(f"intro_{reason}", budget=budget)), *_chance_note(chances)]
    blocks += [_listing_line(r, tiers, chances) for r in rows]
    return Message(_l(f"text_{reason}", count=total, part=part, budget=budget).strip(), validate_blocks(blocks))


@dataclass(frozen=True)
class NewAlert:
    """A new alert in a person's DM, with the tasks of it given to them."""

    view: AlertView
    tasks: list[Task]


@dataclass(frozen=True)
class Listed:
    """An account of theirs a person's DM names as listed (not opened) in a channel."""

    name: str
    tier: str
    channel: str
    chance: str = ""  # "  ·  chance 18 %" (`_chance_row`), or nothing


def person_dm(alerts: list[NewAlert], listed: list[Listed], tiers: Tiers, tz: ZoneInfo) -> Message:
    """The one DM a person gets from one run (or one opened alert): their new alerts, each with its tasks, and
    their accounts listed in a channel without a thread. It points to the threads and lists (buttons live there)."""
    blocks: Blocks = []
    tasks = sum(len(a.tasks) for a in alerts)
    for new in alerts[:DM_ALERTS]:
        v = new.view
        tier = _tier(v)
        line = _t(
            "dm",
            emoji=tier_emoji(tier),
            name=esc(v.account.name),
            channel=v.alert.channel,
            tier=esc(tiers.label(tier)),
            due=when(v.alert.due_at, tz),
            chance=_chance_row(v.chances, v.account, v.score, "alerts.thread.dm_chance"),
        ) + _dm_why(v.alert, tiers)
        if new.tasks:
            steps = sorted(new.tasks, key=lambda t: (t.due_at, t.step))
            line += "\n" + "\n".join(_l("dm_task", title=esc(task_title(t)), due=when(t.due_at, tz)) for t in steps)
        blocks.append(section(line))
    if len(alerts) > DM_ALERTS:
        rest = ", ".join(esc(a.view.account.name) for a in alerts[DM_ALERTS:])
        more_tasks = sum(len(a.tasks) for a in alerts[DM_ALERTS:])
        blocks += sections([_l("dm_more_alerts", count=len(alerts) - DM_ALERTS, names=rest, tasks=more_tasks)])
    by_channel: dict[str, list[Listed]] = {}
    for item in listed:
        by_channel.setdefault(item.channel, []).append(item)
    for channel, items in sorted(by_channel.items()):
        lines = [_l("dm_listed", count=len(items), channel=channel)]
        lines += [
            _l("dm_listed_line", emoji=tier_emoji(i.tier), name=esc(i.name), tier=esc(tiers.label(i.tier))) + i.chance
            for i in items
        ]
        blocks += sections(lines)
    if alerts:  # why the lines have no chance, once (every view of a run holds the same fit)
        blocks += _chance_note(alerts[0].view.chances)
    if tasks:
        blocks.append(context(_l("dm_footer_tasks")))
    if len(blocks) > MESSAGE_BLOCK_LIMIT:  # (capped above: a safety net)
        blocks = [*blocks[: MESSAGE_BLOCK_LIMIT - 1], context(_l("dm_cut"))]
    if len(alerts) == 1 and not listed:
        v = alerts[0].view
        text = _t("dm_text", emoji=tier_emoji(_tier(v)), name=esc(v.account.name), channel=v.alert.channel)
        if tasks:
            text += _l("dm_text_tasks", tasks=tasks)
    else:
        counts = [
            _l(f"dm_count_{k}", n=n)
            for k, n in (("alerts", len(alerts)), ("tasks", tasks), ("listed", len(listed)))
            if n
        ]
        text = _l(
            "dm_text",
            counts=_l("dm_count_and").join([_l("dm_count_joiner").join(counts[:-1]), counts[-1]])
            if len(counts) > 1
            else "".join(counts),
        )
    return Message(text, validate_blocks(blocks))
