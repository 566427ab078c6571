"""The only place that turns an alert's state into outbox rows: its thread's root, redraws, replies, the owner's DM.

Keys (one row per message, so a replay enqueues nothing new):
- `alert:N:root`: the root, posted to the alert's channel;
- `alert:N:v{version}`: a redraw of the root (chat.update of `alert:N:root`), once per state change;
- `alert:N:reply:{what}`: a reply in the thread (`joined:2026-11-29`, `escalated:1`, `resolved`);
- `alert:N:dm`: the DM to the account's owner.
Nothing here commits: the caller's unit of work does, with the change that decided the message.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session

from bot.alerts import messages
from bot.alerts.messages import AlertView
from bot.scoring.scorecard import Tiers
from bot.slack.blocks import Message
from storage import alerts, outbox, queries
from storage.models import Account, Alert, utcnow


def root_key(alert_id: int) -> str:
    return f"alert:{alert_id}:root"


def redraw_key(alert_id: int, version: int) -> str:
    return f"alert:{alert_id}:v{version}"


def reply_key(alert_id: int, what: str) -> str:
    return f"alert:{alert_id}:reply:{what}"


def dm_key(alert_id: int) -> str:
    return f"alert:{alert_id}:dm"


def load_view(session: Session, alert_id: int, today: date | None = None) -> AlertView | None:
    """The alert as stored now (refreshed: a conditional UPDATE in this session may have changed it), its
    account, the account's latest score and its active override on `today` (default: today in UTC); None when
    the alert or its account is gone."""
    alert = alerts.get(session, alert_id)
    if alert is None:
        return None
    account = session.get(Account, alert.account_id)
    if account is None:
        return None
    override = queries.active_override(session, alert.account_id, today or utcnow().date())
    return AlertView(alert, account, queries.latest_score(session, alert.account_id), override)


def post_root(session: Session, view: AlertView, tiers: Tiers, tz: ZoneInfo, cs_lead: str | None = None) -> None:
    """Enqueue the thread's root message (once: a second call changes nothing)."""
    message = messages.root(view, tiers, tz, cs_lead)
    outbox.post(session, root_key(view.alert.id or 0), view.alert.channel, message.text, message.blocks)


def redraw(
    session: Session, alert_id: int, tiers: Tiers, tz: ZoneInfo, cs_lead: str | None = None, today: date | None = None
) -> None:
    """Enqueue a redraw of the root in the alert's current state, keyed by its version: one per change.

    If the root was never enqueued (it should have been), it is posted now, already in the current state.
    `today` decides which override is active (default: today in `tz`)."""
    view = load_view(session, alert_id, today or datetime.now(tz).date())
    if view is None:
        return
    if outbox.get(session, root_key(alert_id)) is None:
        post_root(session, view, tiers, tz, cs_lead)
        return
    message = messages.root(view, tiers, tz, cs_lead)
    outbox.update(session, redraw_key(alert_id, view.alert.version), root_key(alert_id), message.text, message.blocks)


def reply(session: Session, alert: Alert, what: str, message: Message) -> None:
    """Enqueue a reply in the alert's thread, posted once the root has its ts (`what` names it: once per what)."""
    alert_id = alert.id or 0
    outbox.post(
        session, reply_key(alert_id, what), alert.channel, message.text, message.blocks, thread_key=root_key(alert_id)
    )


def dm_owner(session: Session, view: AlertView, tiers: Tiers, tz: ZoneInfo) -> None:
    """Enqueue the DM to the account's owner, if the owner is a Slack user id."""
    owner = view.account.owner_slack_id
    if not owner or not re.fullmatch(r"[UW][A-Z0-9]{2,31}", owner):
        return
    message = messages.owner_dm(view, tiers, tz)
    outbox.post(session, dm_key(view.alert.id or 0), owner, message.text, message.blocks)
