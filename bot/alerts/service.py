"""The alert job's decisions for one scoring day: which accounts get a new alert, which open alerts a
further rule joins, which ones recovered or churned. Every message it decides is an outbox row written
by `bot.alerts.threads` in the caller's unit of work, so a crash leaves either the decision and its
messages, or neither.

An account has at most one open alert, its at-risk episode (one Slack thread):
- rules firing for an account without one open it (severity: the worst firing's tier; the response SLA
  of that tier's playbook, on the business calendar; the channel by `[routing]`, else ALERT_CHANNEL),
  unless each of them alerted on that account within its cooldown; the owner gets a DM.
- a further rule firing joins the open alert: the root is redrawn and a reply says what is new (not
  while the alert is snoozed: the root is still redrawn, silently).
- a rule still firing the next day only moves its "last" day: no repost, no reply.
- a snooze until the tier changes ends when the account's tier is another; a timed snooze ends at its time.
- an alert none of whose rules fired for `[alerts] recover_days` days resolves as recovered; one whose
  account churned resolves as churned; both with a reply and a redraw.
Running a day twice changes and enqueues nothing the second time.

The noise budget is the rules': `tier_dropped` alerts only on moves into the riskiest tiers, the
signal rules alert, and every other worsening move is left to the weekly digest (`signals.digest_moves`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlmodel import Session, col, select

from bot.alerts import messages, signals, threads
from bot.alerts.rules import Rules
from bot.alerts.signals import Firing
from bot.calendar import BusinessCalendar
from bot.retention import service as retention
from bot.scoring.scorecard import Scorecard, Tiers
from bot.settings import QuietHours
from prompts import raw
from storage import alerts as store
from storage import queries
from storage import tasks as task_store
from storage.models import Account, Alert, HealthScore, OutboxMessage, Task, as_utc

log = logging.getLogger("healthbot.alerts")

BOT = "healthbot"  # resolved_by of the alerts the job resolves
DEFAULT_SLA = {"respond_hours": 24}  # a severity the playbooks do not list


@dataclass
class AlertRunSummary:
    """What one run decided for `day` (None: nothing scored yet, nothing to do)."""

    day: date | None
    firings: int = 0
    opened: list[int] = field(default_factory=list)  # alert ids
    joined: int = 0  # alerts a further rule joined
    updated: int = 0  # alerts whose rules still fire (no message)
    held_back: int = 0  # firings inside their rule's cooldown
    recovered: int = 0
    churned: int = 0
    unsnoozed: int = 0
    unrouted: int = 0  # alerts not raised: no channel (ALERT_CHANNEL unset and no [routing] match)
    digest_only: int = 0  # accounts whose only fresh firings are of a `[routing] digest_only` tier: no thread
    skipped: bool = False  # no scores stored for `day`: the scoring run has not happened


def worst(severities: Iterable[str], tiers: Tiers) -> str:
    """The riskiest of these tier names (tiers.order runs from healthiest to riskiest)."""
    order = {t: i for i, t in enumerate(tiers.order)}
    return max(severities, key=lambda s: order.get(s, -1))


def due_at(calendar: BusinessCalendar, now: datetime, severity: str) -> datetime:
    """When the response to an alert of `severity` opened at `now` is due (its tier's playbook SLA)."""
    entry = raw("playbooks").get(severity) or DEFAULT_SLA
    return calendar.due(now, entry)


def _entry(f: Firing, day: date) -> dict[str, Any]:
    return {"words": f.words, "severity": f.severity, "since": day.isoformat(), "last": day.isoformat()}


def _last_alerted(session: Session, account_ids: list[int], rules: Rules, now: datetime, tz: Any) -> dict:
    """(account_id, rule) -> the local date the last resolved alert of the account with that rule in it
    resolved: the cooldowns count from there, in days of the clock (`now`), whatever day is evaluated."""
    longest = max([rules.cooldown_days, *(rules.cooldown(r) for r in rules.rules)])
    out: dict[tuple[int, str], date] = {}
    for alert in store.resolved_since(session, account_ids, now - timedelta(days=longest + 1)):
        if alert.resolved_at is None:  # pragma: no cover - resolve() always sets it
            continue
        resolved = as_utc(alert.resolved_at).astimezone(tz).date()
        for name in alert.firings:
            key = (alert.account_id, name)
            out[key] = max(out.get(key, resolved), resolved)
    return out


def _defer_dms(session: Session, alert_ids: list[int], until: datetime) -> None:
    """Hold the DMs of these new alerts (the owner's, each task's assignee's) in the outbox until `until`."""
    keys = [f"alert:{alert_id}:dm" for alert_id in alert_ids]
    tasks = session.exec(select(Task).where(col(Task.alert_id).in_(alert_ids))).all()
    keys += [f"task:{t.id}:dm:{t.assignee}" for t in tasks if t.assignee]
    session.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.key).in_(keys), col(OutboxMessage.status) == "pending")
        .values(next_attempt_at=until)
    )


def run_alerts(
    session: Session,
    *,
    rules: Rules,
    scorecard: Scorecard,
    calendar: BusinessCalendar,
    alert_channel: str | None,
    day: date,
    now: datetime,
    cs_lead: str | None = None,
    quiet_hours: QuietHours | None = None,
    names: Callable[[str], str | None] | None = None,
) -> AlertRunSummary:
    """Evaluate the rules for `day` and open, join, update and resolve alerts (see the module docstring).
    `names`: the owners' names for the outreach drafts' signatures (bot.slack.client.UserNames).

    Firings of a `[routing] digest_only` tier open no alert (the weekly digest lists them); inside
    `quiet_hours` the DMs of the alerts opened now wait in the outbox until the quiet hours end."""
    summary = AlertRunSummary(day)
    tiers = scorecard.tiers
    tz = calendar.tz if isinstance(calendar.tz, ZoneInfo) else ZoneInfo("UTC")  # (always a ZoneInfo from settings)
    conn = session.connection()
    scores = queries.scores_on(conn, [day])
    if not len(scores):
        log.warning("no scores for %s: alerts wait for its scoring run", day)
        summary.skipped = True
        return summary
    tier_today = dict(zip(scores["account_id"].astype(int), scores["tier"].astype(str), strict=True))

    firings = signals.evaluate(conn, rules, scorecard, day)
    summary.firings = len(firings)
    by_account: dict[int, list[Firing]] = {}
    for f in firings:
        by_account.setdefault(f.account_id, []).append(f)
    open_by_account = {a.account_id: a for a in store.open_alerts(session)}
    wanted = sorted(set(by_account) | set(open_by_account))
    accounts = {a.id: a for a in queries.accounts_by_ids(session, wanted)}
    cooled = _last_alerted(session, sorted(by_account), rules, now, tz)
    today = as_utc(now).astimezone(tz).date()  # the cooldowns' clock
    redraw: set[int] = set()

    def view(alert: Alert, account: Account) -> messages.AlertView:
        return messages.AlertView(alert, account, session.get(HealthScore, (account.id, day)))

    # open alerts first: snoozes that ended, rules joining or still firing, recoveries and churn
    for account_id, alert in open_by_account.items():
        account = accounts.get(account_id)
        if account is None:  # pragma: no cover - the account row cascades its alerts away
            continue
        alert_id = alert.id or 0
        snoozed = alert.snoozed_until is not None or alert.snoozed_tier is not None
        if alert.snoozed_tier is not None and account_id in tier_today and tier_today[account_id] != alert.snoozed_tier:
            if store.unsnooze(session, alert_id, "tier changed"):
                summary.unsnoozed += 1
                redraw.add(alert_id)
                snoozed = False
        elif (
            alert.snoozed_until is not None
            and as_utc(alert.snoozed_until) <= now
            and store.unsnooze(session, alert_id, "snooze ended")
        ):
            summary.unsnoozed += 1
            redraw.add(alert_id)
            snoozed = False

        firing = by_account.get(account_id, [])
        if firing:
            new = signals.due([f for f in firing if f.rule not in alert.firings], rules, cooled, today)
            still = [f for f in firing if f.rule in alert.firings and alert.firings[f.rule].get("last", "") < str(day)]
            if new or still:
                entries = {name: dict(e) for name, e in alert.firings.items()}
                for f in still:
                    entries[f.rule].update(words=f.words, last=day.isoformat())
                for f in new:
                    entries[f.rule] = _entry(f, day)
                was = alert.severity  # (the UPDATE below refreshes `alert` in this session)
                severity = worst([was, *(f.severity for f in [*new, *still])], tiers)
                store.join(session, alert_id, entries, severity, max(alert.last_fired_on, day))
                if severity != was:  # e.g. dropped again, into a worse tier: the root shows it
                    redraw.add(alert_id)
                if new:
                    store.record(session, alert_id, "joined", None, {"rules": [f.rule for f in new]})
                    summary.joined += 1
                    redraw.add(alert_id)
                    if not snoozed:
                        threads.reply(session, alert, f"joined:{day.isoformat()}",
                                      messages.joined_reply([f.words for f in new]))  # fmt: skip
                else:
                    summary.updated += 1
            continue

        outcome = None
        if account.status == "churned" or (account.churned_on is not None and account.churned_on <= day):
            outcome = "churned"
        elif (day - alert.last_fired_on).days >= rules.alerts.recover_days:
            outcome = "recovered"
        if outcome and store.resolve(session, alert_id, outcome, BOT, now):
            setattr(summary, outcome, getattr(summary, outcome) + 1)
            threads.reply(session, alert, "resolved", messages.resolved_reply(outcome, BOT))
            if task_store.close_with_alert(session, alert_id, outcome, BOT, now):
                retention.redraw_tasks(session, alert_id, tiers, tz, cs_lead)
            redraw.add(alert_id)

    # accounts with firings and no open alert: a new episode, unless every rule is in its cooldown
    unrouted_example = None
    for account_id, firing in sorted(by_account.items()):
        if account_id in open_by_account:
            continue
        fresh = signals.due(firing, rules, cooled, today)
        summary.held_back += len(firing) - len(fresh)
        if fresh and rules.routing.digest_only:
            alerting = [f for f in fresh if f.severity not in rules.routing.digest_only]
            if not alerting:
                summary.digest_only += 1
            fresh = alerting
        account = accounts.get(account_id)
        if not fresh or account is None:
            continue
        severity = worst([f.severity for f in fresh], tiers)
        channel = rules.routing.channel(severity, account.segment, alert_channel)
        if channel is None:
            summary.unrouted += 1
            unrouted_example = unrouted_example or account.external_id
            continue
        alert = store.create(
            session,
            Alert(
                account_id=account_id, severity=severity, opened_on=day, last_fired_on=day, opened_at=now,
                due_at=due_at(calendar, now, severity), channel=channel,
                firings={f.rule: _entry(f, day) for f in fresh},
            ),
            {"day": day.isoformat(), "rules": [f.rule for f in fresh]},
        )  # fmt: skip
        summary.opened.append(alert.id or 0)
        v = view(alert, account)
        threads.post_root(session, v, tiers, tz, cs_lead)
        if rules.routing.dm_owner and account.owner_slack_id:
            threads.dm_owner(session, v, tiers, tz)
        retention.create_tasks(session, v, calendar=calendar, now=now, tiers=tiers, tz=tz, names=names)  # its tasks

    for alert_id in sorted(redraw):
        threads.redraw(session, alert_id, tiers, tz, cs_lead)
    if quiet_hours is not None and summary.opened and quiet_hours.contains(now):
        _defer_dms(session, summary.opened, quiet_hours.after(now))
    if summary.unrouted:
        log.warning(
            "%d alerts on %s not raised (e.g. account %s): no channel for them; set ALERT_CHANNEL or [routing] in "
            "the alert rules file", summary.unrouted, day, unrouted_example,
        )  # fmt: skip
    return summary
