"""What a click in an alert's thread does: Claim, Snooze, Release, Reassign, Resolve (the button and the modal's
submission), and a listing's "Open alert". The job that opens and ends alerts is `bot.alerts.job`.

Each function is one decision inside the caller's unit of work: typed values in (the session, the alert, who
clicked), the change through `storage.alerts` (a conditional UPDATE: the first Claim wins, on any number of
replicas), the root's redraw enqueued by `bot.alerts.threads`, and a `Done` back: whether messages were enqueued
(send them once the caller has committed) and what to tell the clicker privately. No Slack here: whether the
clicker is the CS lead is the caller's question (`lead`), asked only when the clicker is not the claimer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlmodel import Session

from bot.alerts import messages, threads
from bot.alerts.ids import AlertIds
from bot.alerts.job import open_alert
from bot.alerts.messages import NOTE_LIMIT
from bot.alerts.rules import Rules
from bot.alerts.values import OUTCOMES, AlertRef, ListingRef, Reassign, SnoozeChoice
from bot.calendar import BusinessCalendar
from bot.retention import service as retention
from bot.scoring.scorecard import Scorecard, Tiers
from bot.slack.blocks import Message, esc, mention, when
from bot.slack.chance import Chances
from bot.slack.values import decode
from prompts import say
from storage import alerts, tasks
from storage.models import Account, Alert, firings_of
from storage.types import AlertStatus, ListingStatus

SNOOZE_DAYS = {"1d": 1, "7d": 7}

IsLead = Callable[[str], bool]
"""Whether a user is the CS lead (the CS_LEAD user, or a member of its user group)."""


@dataclass(frozen=True)
class Look:
    """How the thread is drawn: the scorecard's tiers, the team's time zone, the CS lead it names; the scorecard in
    use, which the chance to churn's fit is checked against (`Chances.read`; None: the stored fit as it is)."""

    tiers: Tiers
    tz: ZoneInfo
    cs_lead: str | None = None
    scorecard: Scorecard | None = None

    def chances(self, session: Session) -> Chances | None:
        return Chances.read(session, self.scorecard) if self.scorecard is not None else None


@dataclass(frozen=True)
class Done:
    """What a click did: `changed` (messages enqueued: send them after the commit), what to say privately, and
    a modal to open (Resolve) or a message to show the clicker (the account's card)."""

    changed: bool = False
    note: str | None = None
    modal: dict[str, Any] | None = None
    card: Message | None = None


def _t(key: str, **values: Any) -> str:
    return say(f"alerts.thread.{key}", **values)


def closed_note(alert: Alert | None) -> str | None:
    """Why a click on this alert can do nothing (gone, resolved), as a note; None if it is open."""
    if alert is None:
        return _t("gone")
    return _t("already_resolved") if alert.status != AlertStatus.OPEN else None


def claim(session: Session, ref: AlertRef, user: str, look: Look) -> Done:
    """The first click wins (a conditional UPDATE) and gets the alert's unassigned tasks; everyone else hears who
    has it."""
    alert_id = ref.alert_id
    if alerts.claim(session, alert_id, user):
        threads.redraw(session, alert_id, look.tiers, look.tz, look.cs_lead, chances=look.chances(session))
        retention.claimed(session, alert_id, user, look.tiers, look.tz, look.cs_lead)
        return Done(changed=True)
    alert = alerts.get(session, alert_id)
    closed = closed_note(alert)
    if closed or alert is None:
        return Done(note=closed)
    if alert.claimed_by == user:
        return Done(note=_t("already_yours"))
    return Done(note=_t("already_claimed", who=mention(alert.claimed_by)))


def snooze(session: Session, choice: SnoozeChoice, user: str, now: datetime, look: Look) -> Done:
    """Snooze an open alert for 1 or 7 days, or until the account's tier changes; anyone may."""
    alert_id, until = choice.alert_id, choice.until
    view = threads.load_view(session, alert_id)
    if view is None or view.alert.status != AlertStatus.OPEN:
        return Done(note=_t("gone") if view is None else _t("already_resolved"))
    if until == "tier":
        tier = view.score.tier if view.score is not None else view.alert.severity
        if not alerts.snooze(session, alert_id, user, None, tier):
            return Done(note=_t("already_resolved"))
        note = _t("snoozed_tier_note", tier=esc(look.tiers.label(tier)))
    else:
        at = now + timedelta(days=SNOOZE_DAYS[until])
        if not alerts.snooze(session, alert_id, user, at, None):
            return Done(note=_t("already_resolved"))
        note = _t("snoozed_note", until=when(at, look.tz))
    threads.redraw(session, alert_id, look.tiers, look.tz, look.cs_lead, chances=look.chances(session))
    return Done(changed=True, note=note)


def manageable(session: Session, alert_id: int, user: str, lead: IsLead, refused: str) -> Alert | str:
    """The alert, if it is open, claimed, and `user` is its claimer or the CS lead; else why not (`refused`: the
    prompt that names the claimer)."""
    alert = alerts.get(session, alert_id)
    closed = closed_note(alert)
    if closed or alert is None:
        return closed or _t("gone")
    if not alert.claimed_by:
        return _t("not_claimed")
    if user != alert.claimed_by and not lead(user):
        return _t(refused, who=mention(alert.claimed_by))
    return alert


def release(session: Session, ref: AlertRef, user: str, lead: IsLead, look: Look) -> Done:
    """The claimer (or the CS lead) gives the alert back: unclaimed, its root redrawn."""
    alert_id = ref.alert_id
    alert = manageable(session, alert_id, user, lead, "not_allowed_release")
    if isinstance(alert, str):
        return Done(note=alert)
    if not alerts.release(session, alert_id, user, alert.claimed_by or ""):
        return Done(note=_t("already_resolved"))
    threads.redraw(session, alert_id, look.tiers, look.tz, look.cs_lead, chances=look.chances(session))
    return Done(changed=True)


def reassign(session: Session, pick: Reassign, user: str, lead: IsLead, look: Look) -> Done:
    """The claimer (or the CS lead) hands the alert to the user picked."""
    alert_id, to = pick.alert_id, pick.to
    alert = manageable(session, alert_id, user, lead, "not_allowed_release")
    if isinstance(alert, str):
        return Done(note=alert)
    if not alerts.reassign(session, alert_id, user, to):
        return Done(note=_t("already_resolved"))
    threads.redraw(session, alert_id, look.tiers, look.tz, look.cs_lead, chances=look.chances(session))
    return Done(changed=True)


def resolve_modal(session: Session, ref: AlertRef, user: str, lead: IsLead) -> Done:
    """The Resolve modal, for the claimer or the CS lead."""
    alert_id = ref.alert_id
    alert = manageable(session, alert_id, user, lead, "not_allowed_resolve")
    if isinstance(alert, str):
        return Done(note=alert)
    account = session.get(Account, alert.account_id)
    return Done(modal=messages.resolve_modal(alert_id, account.name if account else None))


@dataclass(frozen=True)
class Resolution:
    """A valid Resolve submission: the alert, the outcome picked and the note (stripped)."""

    alert_id: int
    outcome: str
    note: str


def read_resolution(view: dict[str, Any]) -> Resolution | dict[str, str]:
    """The Resolve modal's submission, or its errors by block_id (shown inline in the modal)."""
    values = (view.get("state") or {}).get("values") or {}
    picked = ((values.get(AlertIds.OUTCOME_BLOCK) or {}).get(AlertIds.OUTCOME) or {}).get("selected_option")
    outcome = picked.get("value") if isinstance(picked, dict) else None
    note = ((values.get(AlertIds.NOTE_BLOCK) or {}).get(AlertIds.NOTE) or {}).get("value")
    note = note if isinstance(note, str) else ""  # a forged state: state's shape is checked by bot.app
    errors: dict[str, str] = {}
    if outcome not in OUTCOMES:
        errors[AlertIds.OUTCOME_BLOCK] = _t("modal.pick_outcome")
    if len(note) > NOTE_LIMIT:
        errors[AlertIds.NOTE_BLOCK] = _t("modal.note_too_long", limit=NOTE_LIMIT, length=len(note))
    try:
        ref = decode(AlertRef, view.get("private_metadata") or "")
    except ValidationError:
        errors[AlertIds.OUTCOME_BLOCK] = say("health.button_out_of_date")
        return errors
    return errors or Resolution(ref.alert_id, str(outcome), note.strip())


def resolve(session: Session, resolution: Resolution, user: str, lead: IsLead, look: Look) -> str | None:
    """Resolve with the outcome (the note kept in the alert's history), close its tasks, redraw, reply in the
    thread; why not, if it cannot be."""
    alert_id, outcome = resolution.alert_id, resolution.outcome
    alert = manageable(session, alert_id, user, lead, "not_allowed_resolve")
    if isinstance(alert, str):
        return alert
    if not alerts.resolve(session, alert_id, outcome, user):
        return _t("already_resolved")
    if resolution.note:
        alerts.record(session, alert_id, "note", user, {"text": resolution.note})
    if tasks.close_with_alert(session, alert_id, outcome, user):
        retention.redraw_tasks(session, alert_id, look.tiers, look.tz, look.cs_lead)
    threads.redraw(session, alert_id, look.tiers, look.tz, look.cs_lead, chances=look.chances(session))
    resolved = alerts.get(session, alert_id)
    if resolved is not None:
        threads.reply(session, resolved, "resolved", partial(messages.resolved_reply, outcome, user))
    return None


@dataclass(frozen=True)
class Opening:
    """What opening an alert from a listing needs besides the click: the rules (the owner's DM, the budget), the
    business calendar (its response SLA, its time zone), and who signs the outreach draft (`names`)."""

    rules: Rules
    calendar: BusinessCalendar
    names: Callable[[str], str | None] | None = None


def open_listed(session: Session, ref: ListingRef, user: str, now: datetime, look: Look, opening: Opening) -> Done:
    """Open the alert of a listed account, as the job opens one: its thread (root, tasks, draft) and one DM to its
    owner with their tasks; the listing page is redrawn. Once: a second click (or a replica) hears where it is."""
    rules, calendar, tiers, listing_id = opening.rules, opening.calendar, look.tiers, ref.listing_id
    budget, chances = rules.budget.threads_per_channel_per_day, look.chances(session)
    tz = calendar.tz if isinstance(calendar.tz, ZoneInfo) else ZoneInfo("UTC")  # (always a ZoneInfo from settings)
    item = alerts.listing(session, listing_id)
    if item is None:
        return Done(note=say("alerts.listing.gone"))
    if item.status != ListingStatus.LISTED:
        alert = alerts.get(session, item.alert_id) if item.alert_id else None
        if alert is not None:
            return Done(note=say("alerts.listing.already_opened", channel=alert.channel))
        status = say(f"alerts.listing.status_{item.status}")
        return Done(note=say("alerts.listing.not_listed", status=status))
    account = session.get(Account, item.account_id)
    if account is None:  # pragma: no cover - the account row cascades its listings away
        return Done(note=say("alerts.listing.gone"))
    already = alerts.open_alert(session, item.account_id)
    if already is not None:  # (the job never opens one for a listed account without taking it off the list)
        alerts.end_listing(session, listing_id, ListingStatus.OPENED, user, already.id, now)
        threads.redraw_listing(session, item.message_key, tiers, budget, chances)
        return Done(changed=True, note=say("alerts.listing.already_opened", channel=already.channel))
    if not alerts.end_listing(session, listing_id, ListingStatus.OPENED, user, None, now):
        return Done(note=say("alerts.listing.not_listed", status=say("alerts.listing.status_opened")))
    view, opened_tasks = open_alert(
        session,
        account,
        firings_of(item),
        item.severity,
        item.channel,
        day=item.last_fired_on,
        now=now,
        calendar=calendar,
        tiers=tiers,
        tz=tz,
        cs_lead=look.cs_lead,
        dm_tasks=not rules.routing.dm_owner,
        detail={"day": item.last_fired_on.isoformat(), "rules": sorted(item.firings), "listing": listing_id},
        names=opening.names,
        chances=chances,
    )
    alerts.set_listing_alert(session, listing_id, view.alert.id or 0)
    if rules.routing.dm_owner:
        threads.dm_owner(session, view, tiers, tz, opened_tasks)
    threads.redraw_listing(session, item.message_key, tiers, budget, chances)
    return Done(changed=True, note=say("alerts.listing.opened_note", channel=item.channel))
