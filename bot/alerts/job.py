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

The message budget is the rules' `[budget]`: the first run (no alert ever opened or listed) opens no thread and
posts one "where we start" message per channel listing the accounts already at risk, each with a button that
opens its alert (`bot.alerts.actions.open_listed`); its rules look over their whole window (`first_run_days`: a
tier drop the day before counts). Any later run opens at most `threads_per_channel_per_day` new threads per
channel and day, the riskiest first, and lists the rest the same way: held back, never dropped. A listed account
stays listed while its rules fire (no second listing, no message), until a person opens it, a rule it was not
listed for fires (a change: its alert opens, budget permitting), or it recovers or churns (its row says so). Each
person gets one DM per run (`one_dm_per_run`) with their new alerts, the tasks those gave them, and their listed
accounts; an alert opened alone (`one_dm_per_run = false`, or a click) DMs its owner once, its tasks in that DM.

The noise budget is the rules': `tier_dropped` alerts only on moves into the riskiest tiers, the
signal rules alert, and every other worsening move is left to the weekly digest (`signals.digest_moves`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from bot.alerts import messages, signals, threads
from bot.alerts.rules import Rules
from bot.alerts.signals import Firing
from bot.calendar import BusinessCalendar, QuietHours, Sla
from bot.retention import service as retention
from bot.retention.playbooks import load_playbooks
from bot.scoring.scorecard import Scorecard, Tiers
from bot.slack.blocks import is_user
from bot.slack.chance import Chances
from storage import accounts as account_store
from storage import alerts as store
from storage import outbox as outbox_store
from storage import scores as score_store
from storage import tasks as task_store
from storage.models import Account, Alert, AlertListing, Task, firings_of
from storage.types import AccountStatus, AlertOutcome, FiringEntry, ListingStatus, firings_json

log = logging.getLogger("healthbot.alerts")

BOT = "healthbot"  # resolved_by of the alerts the job resolves
DEFAULT_SLA = Sla(24)  # a severity the playbooks do not list


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
    first_run: bool = False  # no alert was ever opened or listed before this run
    listed: list[int] = field(default_factory=list)  # listing ids: accounts listed instead of opened
    still_listed: int = 0  # listed accounts whose rules still fire (no message)
    unlisted: int = 0  # listed accounts that recovered or churned
    dms: int = 0  # DMs enqueued (one per person with something new)


def worst(severities: Iterable[str], tiers: Tiers) -> str:
    """The riskiest of these tier names (tiers.order runs from healthiest to riskiest)."""
    order = {t: i for i, t in enumerate(tiers.order)}
    return max(severities, key=lambda s: order.get(s, -1))


def due_at(calendar: BusinessCalendar, now: datetime, severity: str) -> datetime:
    """When the response to an alert of `severity` opened at `now` is due (its tier's playbook SLA), in UTC."""
    playbook = load_playbooks().get(severity)
    return calendar.due(now, playbook.sla if playbook is not None else DEFAULT_SLA).astimezone(UTC)


def _entry(f: Firing, day: date) -> FiringEntry:
    return FiringEntry(f.words, f.severity, day.isoformat(), day.isoformat(), f.reason or None)


def _ended(account: Account, last_fired_on: date, day: date, rules: Rules) -> AlertOutcome | None:
    """How an episode (an alert or a listing) ends on `day`: "churned", "recovered" (none of its rules fired for
    `[alerts] recover_days` days), else None."""
    if account.status == AccountStatus.CHURNED or (account.churned_on is not None and account.churned_on <= day):
        return AlertOutcome.CHURNED
    if (day - last_fired_on).days >= rules.alerts.recover_days:
        return AlertOutcome.RECOVERED
    return None


def _worse(severity: str, than: str, tiers: Tiers) -> bool:
    order = tiers.order
    return severity in order and than in order and order.index(severity) > order.index(than)


def last_alerted(session: Session, account_ids: list[int], rules: Rules, now: datetime, tz: Any) -> dict:
    """(account_id, rule) -> the local date the last resolved alert of the account with that rule in it
    resolved: the cooldowns count from there, in days of the clock (`now`), whatever day is evaluated."""
    longest = max([rules.cooldown_days, *(rules.cooldown(r) for r in rules.rules)])
    out: dict[tuple[int, str], date] = {}
    for alert in store.resolved_since(session, account_ids, now - timedelta(days=longest + 1)):
        if alert.resolved_at is None:  # pragma: no cover - resolve() always sets it
            continue
        resolved = alert.resolved_at.astimezone(tz).date()
        for name in alert.firings:
            key = (alert.account_id, name)
            out[key] = max(out.get(key, resolved), resolved)
    return out


def _defer_dms(session: Session, keys: list[str], alert_ids: list[int], until: datetime) -> None:
    """Hold these DMs and those of the new alerts' tasks (each assignee's) in the outbox until `until`."""
    tasks = task_store.of_alerts(session, alert_ids)
    keys = keys + [retention.dm_key(t.id or 0, t.assignee) for t in tasks if t.assignee]
    outbox_store.hold(session, keys, until)


@dataclass
class _New:
    """An alert the run may open: its account, firings (rule -> entry), severity, channel, and its listing if the
    account is listed (a rule it was not listed for fired)."""

    account: Account
    firings: dict[str, FiringEntry]
    severity: str
    channel: str
    listing: AlertListing | None = None


def open_alert(
    session: Session,
    account: Account,
    firings: Mapping[str, FiringEntry],
    severity: str,
    channel: str,
    *,
    day: date,
    now: datetime,
    calendar: BusinessCalendar,
    tiers: Tiers,
    tz: ZoneInfo,
    cs_lead: str | None,
    dm_tasks: bool,
    detail: dict[str, Any],
    names: Callable[[str], str | None] | None = None,
    chances: Chances | None = None,
) -> tuple[messages.AlertView, list[Task]]:
    """Open an alert: its thread's root, the playbook's tasks and the outreach draft (in the thread). Its owner's
    DM is the caller's (`dm_tasks`: the tasks DM their assignees themselves); `names` signs the draft (see
    `run_alerts`); `chances`: the fit the run read once (`threads.chances_of`). The view and the tasks created."""
    alert = store.create(
        session,
        Alert(
            account_id=account.id or 0,
            severity=severity,
            opened_on=day,
            last_fired_on=day,
            opened_at=now,
            due_at=due_at(calendar, now, severity),
            channel=channel,
            firings=firings_json(firings),
        ),
        detail,
    )
    score = threads.latest(session, account.id or 0, day)
    view = messages.AlertView(alert, account, score, chances=threads.chances_of(session, chances))
    threads.post_root(session, view, tiers, tz, cs_lead)
    tasks = retention.create_tasks(
        session, alert, account, view.score, calendar=calendar, now=now, tiers=tiers, tz=tz, dm=dm_tasks, names=names
    )
    return view, tasks


def _zone(calendar: BusinessCalendar) -> ZoneInfo:
    return calendar.tz if isinstance(calendar.tz, ZoneInfo) else ZoneInfo("UTC")  # (always a ZoneInfo from settings)


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
    tz = _zone(calendar)
    conn = session.connection()
    scores = score_store.scores_on(conn, [day])
    if not len(scores):
        log.warning("no scores for %s: alerts wait for its scoring run", day)
        summary.skipped = True
        return summary
    tier_today = dict(zip(scores["account_id"].astype(int), scores["tier"].astype(str), strict=True))
    chances = Chances.read(session, scorecard)  # once per run: every root, DM and listing it draws

    summary.first_run = first = not store.any_history(session)
    firings = signals.evaluate(conn, rules, scorecard, day, rules.budget.first_run_days if first else 1)
    summary.firings = len(firings)
    by_account: dict[int, list[Firing]] = {}
    for f in firings:
        by_account.setdefault(f.account_id, []).append(f)
    open_by_account = {a.account_id: a for a in store.open_alerts(session)}
    listed = {item.account_id: item for item in store.listed(session)}
    wanted = sorted(set(by_account) | set(open_by_account) | set(listed))
    accounts = {a.id: a for a in account_store.accounts_by_ids(session, wanted)}
    cooled = last_alerted(session, sorted(by_account), rules, now, tz)
    today = now.astimezone(tz).date()  # the cooldowns' clock
    redraw: set[int] = set()

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
            and alert.snoozed_until <= now
            and store.unsnooze(session, alert_id, "snooze ended")
        ):
            summary.unsnoozed += 1
            redraw.add(alert_id)
            snoozed = False

        firing = signals.worded_in(alert.channel, by_account.get(account_id, []), rules, scorecard)
        if firing:
            entries = firings_of(alert)
            new = signals.due([f for f in firing if f.rule not in entries], rules, cooled, today)
            still = [f for f in firing if f.rule in entries and (entries[f.rule].last or "") < str(day)]
            if new or still:
                for f in still:
                    entries[f.rule] = replace(
                        entries[f.rule], words=f.words, last=day.isoformat(), reason=f.reason or None
                    )
                for f in new:
                    entries[f.rule] = _entry(f, day)
                was = alert.severity  # (the UPDATE below refreshes `alert` in this session)
                severity = worst([was, *(f.severity for f in [*new, *still])], tiers)
                store.join(session, alert_id, firings_json(entries), severity, max(alert.last_fired_on, day))
                if severity != was:  # e.g. dropped again, into a worse tier: the root shows it
                    redraw.add(alert_id)
                if new:
                    store.record(session, alert_id, "joined", None, {"rules": [f.rule for f in new]})
                    summary.joined += 1
                    redraw.add(alert_id)
                    if not snoozed:
                        joined = partial(messages.joined_reply, [f.words for f in new])
                        threads.reply(session, alert, f"joined:{day.isoformat()}", joined)
                else:
                    summary.updated += 1
            continue

        outcome = _ended(account, alert.last_fired_on, day, rules)
        if outcome and store.resolve(session, alert_id, outcome, BOT, now):
            setattr(summary, outcome, getattr(summary, outcome) + 1)
            threads.reply(session, alert, "resolved", partial(messages.resolved_reply, outcome, BOT))
            if task_store.close_with_alert(session, alert_id, outcome, BOT, now):
                retention.redraw_tasks(session, alert_id, tiers, tz, cs_lead)
            redraw.add(alert_id)

    # listed accounts none of whose rules fire: off the list once recovered, or churned
    pages: set[str] = set()  # listing messages to redraw
    for account_id, item in listed.items():
        account = accounts.get(account_id)
        if account_id in by_account or account is None:
            continue
        gone = _ended(account, item.last_fired_on, day, rules)
        if gone and store.end_listing(session, item.id or 0, gone):
            summary.unlisted += 1
            pages.add(item.message_key)

    # accounts with firings and no open alert: a new episode, unless every rule is in its cooldown
    unrouted_example = None
    candidates: list[_New] = []
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
        was_listed = listed.get(account_id)
        if was_listed is not None and not fresh:  # still firing, though nothing may alert now: it stays listed
            store.keep_listed(
                session, was_listed.id or 0, was_listed.firings, was_listed.severity, max(was_listed.last_fired_on, day)
            )
            summary.still_listed += 1
            continue
        if not fresh or account is None:
            continue
        if was_listed is not None:  # listed: its firings kept current; a rule it was not listed for is a change,
            item = was_listed  # and so is a worse severity (a listed Medium-risk account dropping to High risk)
            fresh = signals.worded_in(item.channel, fresh, rules, scorecard)
            entries = firings_of(item)
            changed = [f for f in fresh if f.rule not in entries or _worse(f.severity, item.severity, tiers)]
            for f in fresh:
                if f.rule in entries:
                    entries[f.rule] = replace(
                        entries[f.rule], words=f.words, last=day.isoformat(), reason=f.reason or None
                    )
                else:
                    entries[f.rule] = _entry(f, day)
            severity = worst([item.severity, *(f.severity for f in fresh)], tiers)
            if not changed:
                store.keep_listed(session, item.id or 0, firings_json(entries), severity, max(item.last_fired_on, day))
                summary.still_listed += 1
                continue
            candidates.append(_New(account, entries, severity, item.channel, item))
            continue
        severity = worst([f.severity for f in fresh], tiers)
        channel = rules.routing.channel(severity, account.segment, alert_channel)
        if channel is None:
            summary.unrouted += 1
            unrouted_example = unrouted_example or account.external_id
            continue
        fresh = signals.worded_in(channel, fresh, rules, scorecard)
        candidates.append(_New(account, {f.rule: _entry(f, day) for f in fresh}, severity, channel))

    # the budget: per channel, the riskiest open while the day's budget lasts (none on a first run); the rest listed
    rank = {t: i for i, t in enumerate(tiers.order)}
    day_start = datetime.combine(today, time(0), tzinfo=tz).astimezone(UTC)
    by_channel: dict[str, list[_New]] = {}
    for c in candidates:
        by_channel.setdefault(c.channel, []).append(c)
    budget = rules.budget.threads_per_channel_per_day
    to_open: list[_New] = []
    to_list: list[tuple[str, str, list[_New]]] = []  # (channel, reason, accounts)
    for channel, group in sorted(by_channel.items()):
        group.sort(key=lambda c: (-rank.get(c.severity, -1), -(c.account.mrr or 0.0), c.account.name))
        if first and rules.budget.first_run == "list":
            room, reason = 0, "first_run"
        else:
            spent = store.opened_in(session, channel, day_start, day_start + timedelta(days=1))
            room, reason = max(budget - spent, 0), "budget"
        to_open += group[:room]
        if group[room:]:
            to_list.append((channel, reason, group[room:]))

    new_alerts: dict[str, list[messages.NewAlert]] = {}  # owner -> their new alerts (one DM per run)
    new_listed: dict[str, list[tuple[AlertListing, str]]] = {}  # owner -> their accounts listed now
    dm_keys: list[str] = []
    gather = rules.budget.one_dm_per_run
    for c in to_open:
        detail: dict[str, Any] = {"day": day.isoformat(), "rules": sorted(c.firings)}
        if c.listing is not None:  # taken off its list first: a click that opened it meanwhile wins, once
            if not store.end_listing(session, c.listing.id or 0, ListingStatus.OPENED, BOT, None, now):
                continue
            detail["listing"] = c.listing.id
        view, tasks = open_alert(
            session,
            c.account,
            c.firings,
            c.severity,
            c.channel,
            day=day,
            now=now,
            calendar=calendar,
            tiers=tiers,
            tz=tz,
            cs_lead=cs_lead,
            dm_tasks=not gather and not rules.routing.dm_owner,
            detail=detail,
            names=names,
            chances=chances,
        )
        alert_id = view.alert.id or 0
        summary.opened.append(alert_id)
        if c.listing is not None:
            store.set_listing_alert(session, c.listing.id or 0, alert_id)
            pages.add(c.listing.message_key)
        owner = c.account.owner_slack_id
        if gather:  # the owner hears of the alert (dm_owner), every assignee of its tasks, in the run's one DM
            told = {owner or ""} if rules.routing.dm_owner and is_user(owner) else set()
            told |= {t.assignee or "" for t in tasks if is_user(t.assignee)}
            for user in sorted(told):
                theirs = [t for t in tasks if t.assignee == user]
                new_alerts.setdefault(user, []).append(messages.NewAlert(view, theirs))
        elif rules.routing.dm_owner:  # a DM per alert: the owner's with their tasks, each other assignee's own
            key = threads.dm_owner(session, view, tiers, tz, tasks)
            dm_keys += [key] if key else []
            others = {t.assignee or "" for t in tasks if t.assignee != owner and is_user(t.assignee)}
            for other in sorted(others):
                theirs = [t for t in tasks if t.assignee == other]
                retention.dm_assignee(session, other, theirs, view.alert, c.account.name, tiers, tz)

    for channel, reason, group in to_list:
        items = []
        for c in group:
            if c.listing is not None:  # listed already, a change past the budget: it stays on its list, current
                store.keep_listed(session, c.listing.id or 0, firings_json(c.firings), c.severity, day)
                summary.still_listed += 1
                continue
            items.append(
                store.add_listing(
                    session,
                    AlertListing(
                        account_id=c.account.id or 0,
                        channel=channel,
                        severity=c.severity,
                        reason=reason,
                        listed_on=day,
                        last_fired_on=day,
                        listed_at=now,
                        firings=firings_json(c.firings),
                        message_key="",
                    ),
                )
            )
            if rules.routing.dm_owner and is_user(c.account.owner_slack_id):
                new_listed.setdefault(c.account.owner_slack_id or "", []).append((items[-1], c.account.name))
        threads.post_listing(session, items, tiers, budget, chances)
        summary.listed += [i.id or 0 for i in items]

    for user in sorted(set(new_alerts) | set(new_listed)):
        key = threads.dm_person(session, user, new_alerts.get(user, []), new_listed.get(user, []), tiers, tz, chances)
        dm_keys += [key] if key else []
    summary.dms = len(dm_keys)
    for key in sorted(pages):
        threads.redraw_listing(session, key, tiers, budget, chances)

    for alert_id in sorted(redraw):
        threads.redraw(session, alert_id, tiers, tz, cs_lead, chances=chances)
    if quiet_hours is not None and (summary.opened or dm_keys) and quiet_hours.contains(now):
        _defer_dms(session, dm_keys, summary.opened, quiet_hours.after(now))
    if summary.unrouted:
        log.warning(
            "%d alerts on %s not raised (e.g. account %s): no channel for them; set ALERT_CHANNEL or [routing] in "
            "the alert rules file",
            summary.unrouted,
            day,
            unrouted_example,
        )
    return summary
