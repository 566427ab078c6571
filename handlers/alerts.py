"""The alert thread's buttons: Claim, Snooze, Open card, Release, Reassign, Resolve and the Resolve modal; and the
"Open alert" button of a listing message (a first run's "where we start", or accounts held back by the budget).

Each click is one unit of work: the conditional UPDATE in `storage.alerts` (the first Claim wins, on any
number of replicas), the root's redraw enqueued by `bot.alerts.threads` in the same transaction, one
commit. Then, on the follow-up pool, a private note to the clicker if there is one, and one drain of the
outbox so the redraw goes out at once (the deliver job would send it within a minute anyway).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import ValidationError
from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient
from sqlmodel import Session

from bot.alerts import messages, threads
from bot.alerts import service as alert_service
from bot.alerts.ids import AlertIds, ListingIds
from bot.alerts.messages import NOTE_LIMIT
from bot.alerts.rules import Rules, load_rules
from bot.alerts.values import OUTCOMES, AlertRef, ListingRef, Reassign, SnoozeChoice, alert_of_block
from bot.calendar import BusinessCalendar
from bot.health import service as health
from bot.retention import service as retention
from bot.slack.blocks import Message, esc, mention
from bot.slack.client import UserNames
from bot.slack.outbox import drain
from bot.slack.requests import Click, Deps, after_ack, commit_by, is_member, log_out_of_date, tell
from bot.slack.values import V, decode
from prompts import say
from storage import alerts, tasks
from storage.db import unit_of_work
from storage.models import Account, Alert, utcnow

SNOOZE_DAYS = {"1d": 1, "7d": 7}


@dataclass(frozen=True)
class Done:
    """What a click did: `changed` (messages enqueued: drain after the commit), and what to say privately."""

    changed: bool = False
    note: str | None = None
    card: Message | None = None


def _t(key: str, **values: Any) -> str:
    return say(f"alerts.thread.{key}", **values)


def is_lead(client: WebClient, cs_lead: str | None, user_id: str, logger: logging.Logger) -> bool:
    """Whether `user_id` is the CS lead: the CS_LEAD user, or a member of the CS_LEAD user group."""
    return bool(cs_lead) and is_member(client, [cs_lead or ""], user_id, logger, "CS_LEAD")


def _closed(session: Session, alert_id: int) -> str | None:
    """Why a click on this alert can do nothing (gone, resolved, already claimed), as a note; None if open."""
    alert = alerts.get(session, alert_id)
    if alert is None:
        return _t("gone")
    if alert.status != "open":
        return _t("already_resolved")
    return None


def register(app: App, deps: Deps, rules: Rules | None = None, calendar: BusinessCalendar | None = None) -> None:
    """`rules` and `calendar` (default: the default rules, a Mon-Fri 09:00-17:00 calendar in deps.tz) are what an
    alert opened from a listing needs: its owner's DM setting and its response SLA."""
    tiers, tz, cs_lead = deps.scorecard.tiers, deps.tz, deps.cs_lead
    rules = rules or load_rules(None, deps.scorecard)
    calendar = calendar or BusinessCalendar(tz=deps.tz)
    names = UserNames(app.client)  # signs the outreach draft of an alert opened from a listing

    def deliver(client: WebClient, logger: logging.Logger) -> None:
        """Send what the click enqueued now; whatever is left (a 429, Slack down) the deliver job sends later."""
        try:
            drain(deps.sessions, client, max_wait=0.0)
        except Exception:
            logger.warning("could not deliver an alert's redraw now; the deliver job will", exc_info=True)

    def listen(action_id: str, read: Callable[[dict, dict], V], work: Callable[[Click[V]], Done]) -> None:
        """Register `work` for `action_id`: value read by `read(body, action)`, acked at once, one transaction."""

        def listener(
            ack: Ack, body: dict, action: dict, respond: Respond, client: WebClient, logger: logging.Logger
        ) -> None:
            try:
                value = read(body, action)
            except (ValidationError, ValueError, KeyError, TypeError):
                ack()
                log_out_of_date(logger, action_id, action.get("value"))
                text = say("health.button_out_of_date")
                after_ack(deps, body, client, respond, logger, lambda: tell(body, client, respond, text))
                return
            ack()

            def run() -> None:
                with unit_of_work(deps.sessions) as session:
                    done = work(Click(session, value, body["user"]["id"], body, respond, client, logger))
                if done.card is not None:
                    respond(response_type="ephemeral", replace_original=False, text=done.card.text,
                            blocks=done.card.blocks)  # fmt: skip
                if done.note:
                    tell(body, client, respond, done.note)
                if done.changed:
                    deliver(client, logger)

            after_ack(deps, body, client, respond, logger, run)

        listener.__name__ = f"on_{action_id.replace('.', '_')}"
        app.action(action_id)(listener)

    def button_value(model: type[V]) -> Callable[[dict, dict], V]:
        return lambda _body, action: decode(model, action.get("value") or "")

    def claim(click: Click[AlertRef]) -> Done:
        """The first click wins (a conditional UPDATE); everyone else hears who has it."""
        alert_id = click.value.alert_id
        if alerts.claim(click.session, alert_id, click.user_id):
            threads.redraw(click.session, alert_id, tiers, tz, cs_lead)
            retention.claimed(click.session, alert_id, click.user_id, tiers, tz, cs_lead)  # its unassigned tasks
            return Done(changed=True)
        closed = _closed(click.session, alert_id)
        if closed:
            return Done(note=closed)
        alert = alerts.get(click.session, alert_id)
        holder = alert.claimed_by if alert else None
        if holder == click.user_id:
            return Done(note=_t("already_yours"))
        return Done(note=_t("already_claimed", who=mention(holder)))

    listen(AlertIds.CLAIM, button_value(AlertRef), claim)

    def snooze(click: Click[SnoozeChoice]) -> Done:
        alert_id, choice = click.value.alert_id, click.value.until
        view = threads.load_view(click.session, alert_id)
        if view is None or view.alert.status != "open":
            return Done(note=_t("gone") if view is None else _t("already_resolved"))
        if choice == "tier":
            tier = view.score.tier if view.score is not None else view.alert.severity
            if not alerts.snooze(click.session, alert_id, click.user_id, None, tier):
                return Done(note=_t("already_resolved"))
            note = _t("snoozed_tier_note", tier=esc(tiers.label(tier)))
        else:
            until = utcnow() + timedelta(days=SNOOZE_DAYS[choice])
            if not alerts.snooze(click.session, alert_id, click.user_id, until, None):
                return Done(note=_t("already_resolved"))
            note = _t("snoozed_note", until=messages.when(until, tz))
        threads.redraw(click.session, alert_id, tiers, tz, cs_lead)
        return Done(changed=True, note=note)

    listen(AlertIds.SNOOZE, lambda _b, action: decode(SnoozeChoice, action["selected_option"]["value"]), snooze)

    def open_card(click: Click[AlertRef]) -> Done:
        alert = alerts.get(click.session, click.value.alert_id)
        if alert is None:
            return Done(note=_t("gone"))
        return Done(card=health.card(click.session, alert.account_id, deps.scorecard, deps.today()))

    listen(AlertIds.OPEN_CARD, button_value(AlertRef), open_card)

    def open_listed(click: Click[ListingRef]) -> Done:
        """A listed account's "Open alert": its alert opens as the job opens one (thread, tasks, draft, owner DM)."""
        done = alert_service.open_listed(
            click.session, click.value.listing_id, click.user_id, rules=rules, scorecard=deps.scorecard,
            calendar=calendar, now=utcnow(), cs_lead=cs_lead, names=names,
        )  # fmt: skip
        return Done(changed=done.changed, note=done.note)

    listen(ListingIds.OPEN, button_value(ListingRef), open_listed)

    def manageable(click: Click[Any], alert_id: int, refused: str) -> Alert | Done:
        """The alert, if it is open, claimed, and the clicker is its claimer or the CS lead; else why not."""
        alert = alerts.get(click.session, alert_id)
        if alert is None or alert.status != "open":
            return Done(note=_t("gone") if alert is None else _t("already_resolved"))
        if not alert.claimed_by:
            return Done(note=_t("not_claimed"))
        if click.user_id != alert.claimed_by and not is_lead(click.client, cs_lead, click.user_id, click.logger):
            return Done(note=_t(refused, who=mention(alert.claimed_by)))
        return alert

    def release(click: Click[AlertRef]) -> Done:
        alert = manageable(click, click.value.alert_id, "not_allowed_release")
        if isinstance(alert, Done):
            return alert
        if not alerts.release(click.session, alert.id or 0, click.user_id, alert.claimed_by or ""):
            return Done(note=_t("already_resolved"))
        threads.redraw(click.session, alert.id or 0, tiers, tz, cs_lead)
        return Done(changed=True)

    listen(AlertIds.RELEASE, button_value(AlertRef), release)

    def read_reassign(_body: dict, action: dict) -> Reassign:
        ref = alert_of_block(action.get("block_id") or "")
        return Reassign(alert_id=ref.alert_id, to=action.get("selected_user") or "")

    def reassign(click: Click[Reassign]) -> Done:
        alert = manageable(click, click.value.alert_id, "not_allowed_release")
        if isinstance(alert, Done):
            return alert
        if not alerts.reassign(click.session, alert.id or 0, click.user_id, click.value.to):
            return Done(note=_t("already_resolved"))
        threads.redraw(click.session, alert.id or 0, tiers, tz, cs_lead)
        return Done(changed=True)

    listen(AlertIds.REASSIGN, read_reassign, reassign)

    def resolve(click: Click[AlertRef]) -> Done:
        """Open the Resolve modal (for the claimer or the CS lead)."""
        alert = manageable(click, click.value.alert_id, "not_allowed_resolve")
        if isinstance(alert, Done):
            return alert
        account = click.session.get(Account, alert.account_id)
        view = messages.resolve_modal(alert.id or 0, account.name if account else None)
        click.client.views_open(trigger_id=click.body["trigger_id"], view=view)
        return Done()

    listen(AlertIds.RESOLVE, button_value(AlertRef), resolve)

    @app.view(str(AlertIds.RESOLVE_MODAL))
    def resolve_submitted(
        ack: Ack, body: dict, view: dict, client: WebClient, context: BoltContext, logger: logging.Logger
    ) -> None:
        """Validate, store the outcome, then ack: errors show inline in the modal; the redraw goes out after."""
        user_id = body["user"]["id"]
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
            ref = None
        if errors or ref is None:
            ack(response_action="errors", errors=errors)
            return
        with unit_of_work(deps.sessions, commit_by=commit_by(context)) as session:
            error = _resolve(session, client, ref.alert_id, user_id, str(outcome), note.strip(), logger)
        if error:
            ack(response_action="errors", errors={AlertIds.OUTCOME_BLOCK: error})
            return
        ack()
        after_ack(deps, body, client, None, logger, lambda: deliver(client, logger))

    def _resolve(
        session: Session, client: WebClient, alert_id: int, user_id: str, outcome: str, note: str, log: logging.Logger
    ) -> str | None:
        """Resolve with `outcome` (and the note, kept in the alert's history); why not, if it cannot be."""
        alert = alerts.get(session, alert_id)
        if alert is None or alert.status != "open":
            return _t("gone") if alert is None else _t("already_resolved")
        if not alert.claimed_by:
            return _t("not_claimed")
        if user_id != alert.claimed_by and not is_lead(client, cs_lead, user_id, log):
            return _t("not_allowed_resolve", who=mention(alert.claimed_by))
        if not alerts.resolve(session, alert_id, outcome, user_id):
            return _t("already_resolved")
        if note:
            alerts.record(session, alert_id, "note", user_id, {"text": note})
        if tasks.close_with_alert(session, alert_id, outcome, user_id):
            retention.redraw_tasks(session, alert_id, tiers, tz, cs_lead)
        threads.redraw(session, alert_id, tiers, tz, cs_lead)
        resolved = alerts.get(session, alert_id)
        if resolved is not None:
            threads.reply(session, resolved, "resolved", messages.resolved_reply(outcome, user_id))
        return None
