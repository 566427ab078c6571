"""The alert thread's buttons (Claim, Snooze, Open card, Release, Reassign, Resolve), the Resolve modal, and the
"Open alert" button of a listing message: Slack in, one call of `bot.alerts.actions`, Slack out.

Each click is one unit of work (`on_click`): the decision, its redraw enqueued, one commit. Then, on the
follow-up pool, a private note to the clicker if there is one, and one drain of the outbox so the redraw goes
out at once (the deliver job would send it within a minute anyway).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from sqlmodel import Session

from bot.alerts import actions
from bot.alerts.actions import Done, Look
from bot.alerts.ids import AlertIds, ListingIds
from bot.alerts.rules import Rules, load_rules
from bot.alerts.values import AlertRef, ListingRef, Reassign, SnoozeChoice, alert_of_block
from bot.calendar import BusinessCalendar
from bot.health import service as health
from bot.slack.client import UserNames
from bot.slack.requests import AfterCommit, Click, Deps, after_ack, commit_by, is_member, on_click, send_now, tell
from bot.slack.values import decode
from storage import alerts
from storage.db import unit_of_work
from storage.types import utcnow


def is_lead(client: WebClient, cs_lead: str | None, user_id: str, logger: logging.Logger) -> bool:
    """Whether `user_id` is the CS lead: the CS_LEAD user, or a member of the CS_LEAD user group."""
    return bool(cs_lead) and is_member(client, [cs_lead or ""], user_id, logger, "CS_LEAD")


def answer(deps: Deps, click: Click[Any], done: Done) -> AfterCommit:
    """After the commit: the card or the modal, the private note, and what the click enqueued sent now."""

    def then() -> None:
        if done.modal is not None:
            click.client.views_open(trigger_id=click.body["trigger_id"], view=done.modal)
        if done.card is not None:
            click.respond(
                response_type="ephemeral", replace_original=False, text=done.card.text, blocks=done.card.blocks
            )
        if done.note:
            tell(click.body, click.client, click.respond, done.note)
        if done.changed:
            send_now(deps, click.client, click.logger)

    return then


def snooze_pick(action: dict) -> SnoozeChoice:
    """The Snooze select's option."""
    return decode(SnoozeChoice, action["selected_option"]["value"])


def reassign_pick(action: dict) -> Reassign:
    """The Reassign users_select: the alert from the actions block's block_id, the user picked."""
    ref = alert_of_block(action.get("block_id") or "")
    return Reassign(alert_id=ref.alert_id, to=action.get("selected_user") or "")


def open_card(deps: Deps, click: Click[AlertRef]) -> Done:
    """The alert's account card, privately (the card is the /health feature's)."""
    alert = alerts.get(click.session, click.value.alert_id)
    if alert is None:
        return Done(note=actions.closed_note(None))
    return Done(card=health.card(click.session, alert.account_id, deps.scorecard, deps.today()))


def register(app: App, deps: Deps, rules: Rules | None = None, calendar: BusinessCalendar | None = None) -> None:
    """`rules` and `calendar` (default: the default rules, a Mon-Fri 09:00-17:00 calendar in deps.tz) are what an
    alert opened from a listing needs: its owner's DM setting and its response SLA."""
    look = Look(deps.scorecard.tiers, deps.tz, deps.cs_lead, deps.scorecard)
    opening = actions.Opening(
        rules or load_rules(None, deps.scorecard),
        calendar or BusinessCalendar(tz=deps.tz),
        UserNames(app.client),  # signs the outreach draft of an alert opened from a listing
    )

    def open_listed(session: Session, ref: ListingRef, user: str, now: datetime) -> Done:
        return actions.open_listed(session, ref, user, now, look, opening)

    def lead(click: Click[Any]) -> Callable[[str], bool]:
        return lambda user: is_lead(click.client, deps.cs_lead, user, click.logger)

    def on(action_id: str, value: Any, decide: Callable[[Click[Any]], Done]) -> None:
        on_click(app, action_id, value, deps, lambda click: answer(deps, click, decide(click)))

    on(AlertIds.CLAIM, AlertRef, lambda c: actions.claim(c.session, c.value, c.user_id, look))
    on(AlertIds.SNOOZE, snooze_pick, lambda c: actions.snooze(c.session, c.value, c.user_id, utcnow(), look))
    on(AlertIds.OPEN_CARD, AlertRef, lambda c: open_card(deps, c))
    on(ListingIds.OPEN, ListingRef, lambda c: open_listed(c.session, c.value, c.user_id, utcnow()))
    on(AlertIds.RELEASE, AlertRef, lambda c: actions.release(c.session, c.value, c.user_id, lead(c), look))
    on(AlertIds.REASSIGN, reassign_pick, lambda c: actions.reassign(c.session, c.value, c.user_id, lead(c), look))
    on(AlertIds.RESOLVE, AlertRef, lambda c: actions.resolve_modal(c.session, c.value, c.user_id, lead(c)))

    @app.view(str(AlertIds.RESOLVE_MODAL))
    def resolve_submitted(
        ack: Ack, body: dict, view: dict, client: WebClient, context: BoltContext, logger: logging.Logger
    ) -> None:
        """Validate, store the outcome, then ack: errors show inline in the modal; the redraw goes out after."""
        user = body["user"]["id"]
        resolution = actions.read_resolution(view)
        if isinstance(resolution, dict):
            ack(response_action="errors", errors=resolution)
            return
        with unit_of_work(deps.sessions, commit_by=commit_by(context)) as session:
            error = actions.resolve(session, resolution, user, lambda u: is_lead(client, deps.cs_lead, u, logger), look)
        if error:
            ack(response_action="errors", errors={AlertIds.OUTCOME_BLOCK: error})
            return
        ack()
        after_ack(deps, body, client, None, logger, lambda: send_now(deps, client, logger))
