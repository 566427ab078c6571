"""What goes in the weekly risk digest, gathered from storage; its Block Kit is `bot.digest.messages`, the job
that enqueues it `jobs.digest`. The digest goes to each alert channel, and as a DM to each CSM, on DIGEST_DAY at
DIGEST_TIME in TIMEZONE (default Monday 09:00), or `healthbot jobs run digest`.

The week is the seven whole days before the day of the run (Monday to Sunday when it runs on a Monday). A digest
shows, for its accounts: MRR at risk (the two riskiest tiers: `bot.scoring.explain.at_risk_tiers`, the same figure
as /health top and the App Home) and its change, the tier movements (accounts per
tier now and a week before), the new at-risk accounts, alerts opened (claimed within their response SLA, still
unclaimed, escalated) and resolved by outcome, the saves of the week, open and overdue playbook tasks, the snoozed
accounts, the accounts of a `[routing] digest_only` tier (no alert thread: the digest is where they show), the
moves to a worse tier that raised no alert, each with the reason that is true for it (`move_reason`: the rules'
noise budget, a listing waiting for a click, a cooldown, ...), and the save rate per play (`bot.retention.plays`,
the last 90 days), and the expected MRR loss in the next 90 days (the sum of chance to churn x MRR of the
audience's customers, in all and by segment, CSM and tier: `bot.slack.expected_loss`).

What the alert job did (alerts opened, escalated, resolved) is counted over the seven days up to the run
(`now`), whenever the job ran: an alert run at 07:00 shows in a digest at 09:00 the same day, and the next
week's digest, run at the same time, does not count it again. Its times carry the team's time zone.

Whose accounts: a channel's are those routed to it (`[routing]` by segment, else tier, else ALERT_CHANNEL) and its
alerts those posted there; a CSM's (DM) are those they own, the alerts they own or claimed, the tasks assigned to
them. A CSM with nothing to report gets no DM.
One digest per audience and ISO week, each its own outbox key: `digest:YYYY-Www` (ALERT_CHANNEL),
`digest:YYYY-Www:CHANNEL` (another alert channel), `digest:YYYY-Www:dm:USER` (a CSM), so a second run in the same
week posts nothing. Inside QUIET_HOURS the digests wait in the outbox until the quiet hours end.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session

from bot.alerts.job import last_alerted
from bot.alerts.rules import Rules, TierDropped, riskiest
from bot.alerts.signals import Move, digest_moves, evaluate
from bot.retention.playbooks import task_title
from bot.retention.plays import PlayRate, save_rates
from bot.scoring.explain import at_risk_tiers
from bot.scoring.panel import day_number
from bot.scoring.scorecard import Scorecard, Tiers
from bot.slack import expected_loss
from storage import accounts as account_store
from storage import alerts as alert_store
from storage import scores
from storage import tasks as task_store
from storage.models import Account, Alert, AlertListing, Task
from storage.types import ALERT_OUTCOMES, AlertOutcome, AlertStatus, FiringEntry

MOVES_SHOWN = 20
LIST_SHOWN = 15  # lines of each other list (new at-risk accounts, saves, tasks, snoozed, digest-only)
PLAYS_DAYS = 90  # the save-rate table covers the alerts opened in this many days up to the week's end
DM_USER = re.compile(r"[UW][A-Z0-9]{6,}")  # a CSM a DM can go to (not a user group)


@dataclass(frozen=True)
class AtRisk:
    name: str
    tier: str
    mrr: float
    why: str  # "alert" (thread open), "snoozed", "resolved" (this week), "listed", "digest_only", or "" (none)


@dataclass(frozen=True)
class TaskLine:
    name: str  # the account's
    title: str
    assignee: str | None
    due_at: datetime
    overdue: bool


@dataclass(frozen=True)
class Snoozed:
    name: str
    until: datetime | None  # a timed snooze
    tier: str | None  # a snooze until the tier changes from this one


@dataclass
class WeekStats:
    start: date  # first day of the week covered (in the team's zone)
    end: date  # last day
    opened: int = 0
    joined: int = 0  # joins by a further rule
    listed: int = 0  # accounts the alert job listed (first run, past the thread budget) instead of opening
    alerts_since: datetime | None = None  # the alert counts' window: the seven days up to the run
    alerts_until: datetime | None = None
    claimed_in_sla: int = 0
    unclaimed: int = 0
    escalated: int = 0
    resolved: dict[str, int] = field(default_factory=dict)  # outcome -> count
    moves: list[tuple[str, Move]] = field(default_factory=list)  # (account name, move), worst first
    move_why: dict[int, str] = field(default_factory=dict)  # account id -> why its move raised no alert (a key)
    scored: bool = True  # a score day to compare exists
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    at_risk_tiers: list[str] = field(default_factory=list)  # the riskiest tiers, healthiest of them first
    at_risk: int = 0  # accounts in them on the latest score day
    mrr_at_risk: float = 0.0
    mrr_at_risk_before: float | None = None  # a week before; None: nothing scored then
    tier_counts: list[tuple[str, int, int | None]] = field(default_factory=list)  # tier, now, a week before
    new_at_risk: list[AtRisk] = field(default_factory=list)  # into the riskiest tiers this week, worst first
    saves: list[tuple[str, str | None]] = field(default_factory=list)  # (account name, resolved by)
    tasks_open: int = 0
    tasks_overdue: int = 0
    tasks: list[TaskLine] = field(default_factory=list)  # open ones, overdue (the earliest due) first
    snoozed: list[Snoozed] = field(default_factory=list)
    digest_only: list[tuple[str, FiringEntry]] = field(default_factory=list)  # (account name, what fired)
    plays: list[PlayRate] | None = None  # the save rate per play of the last PLAYS_DAYS days
    plays_start: date | None = None
    expected: expected_loss.Expected | None = None  # expected MRR loss of the audience's customers
    loss_by_csm: bool = True  # a CSM's DM is theirs alone: no per-CSM line

    @property
    def quiet(self) -> bool:
        """Nothing for a CSM to read: no DM."""
        return not (
            self.at_risk
            or self.new_at_risk
            or self.moves
            or self.tasks_open
            or self.saves
            or self.opened
            or self.snoozed
            or self.digest_only
            or self.listed
        )


@dataclass
class Week:
    """Everything the week's digests show, for every account; `stats` cuts out one audience's part."""

    start: date
    end: date
    now: datetime  # the run's time (UTC): tasks due before it are overdue
    day: date | None  # the latest score day
    accounts: dict[int, Account]
    customers: set[int] = field(default_factory=set)  # customers on `day`
    tier_now: dict[int, tuple[str, float]] = field(default_factory=dict)
    tier_before: dict[int, str] = field(default_factory=dict)  # a week before `day`
    opened: list[Alert] = field(default_factory=list)
    escalated: list[Alert] = field(default_factory=list)
    resolved: list[Alert] = field(default_factory=list)
    open: list[Alert] = field(default_factory=list)
    moves: list[Move] = field(default_factory=list)
    move_why: dict[int, str] = field(default_factory=dict)  # account id -> why its move raised no alert (a key)
    alerts_since: datetime | None = None  # the alert counts' window: the seven days up to `now`
    listed: set[int] = field(default_factory=set)  # accounts listed by the alert job, no thread yet
    joined: list[Alert] = field(default_factory=list)  # alerts a further rule joined in the seven days (per join)
    listings: list[AlertListing] = field(default_factory=list)  # accounts the alert job listed in the seven days
    tasks: list[Task] = field(default_factory=list)  # open, the earliest due first
    digest_only: dict[int, FiringEntry] = field(default_factory=dict)  # account -> its latest firing's why
    plays: list[PlayRate] | None = None
    plays_start: date | None = None
    portfolio: expected_loss.Portfolio | None = None  # the customers' chance to churn and MRR: the expected loss

    def name(self, account_id: int) -> str:
        account = self.accounts.get(account_id)
        return account.name if account is not None else str(account_id)

    def owner(self, account_id: int) -> str | None:
        account = self.accounts.get(account_id)
        return account.owner_slack_id if account is not None else None


@dataclass(frozen=True)
class Audience:
    """Who one digest goes to and what it covers."""

    key: str  # its outbox key
    channel: str  # a channel id, or the CSM's user id (a DM)
    user: str | None = None  # the CSM of a DM: their accounts, alerts and tasks
    accounts: frozenset[int] | None = None  # a channel's accounts; None: every account
    alerts_channel: str | None = None  # a channel's alerts: those posted there; None: every alert


def week_key(now: datetime, tz: ZoneInfo) -> str:
    """The week's digest to ALERT_CHANNEL: `digest:YYYY-Www`."""
    year, week, _ = now.astimezone(tz).isocalendar()
    return f"digest:{year}-W{week:02d}"


def channel_key(week: str, channel: str) -> str:
    """The week's digest to another alert channel (`week`: `week_key`)."""
    return f"{week}:{channel}"


def dm_key(week: str, user: str) -> str:
    """The week's digest DMed to a CSM (`week`: `week_key`)."""
    return f"{week}:dm:{user}"


def gather(session: Session, scorecard: Scorecard, now: datetime, tz: ZoneInfo, rules: Rules | None = None) -> Week:
    """The week of `now`: the seven whole days (in `tz`) before its day, every account."""
    today = now.astimezone(tz).date()
    conn = session.connection()
    week = Week(
        start=today - timedelta(days=7),
        end=today - timedelta(days=1),
        now=now,
        day=scores.latest_score_day(conn),
        accounts={a.id or 0: a for a in account_store.all_accounts(session)},
    )
    # what the alert job did: the seven days up to the run, whenever it ran (not by scored day, not up to midnight)
    week.alerts_since = done_since = week.now - timedelta(days=7)
    week.opened = alert_store.opened_between(session, done_since, week.now)
    week.escalated = alert_store.escalated_between(session, done_since, week.now)
    week.resolved = alert_store.resolved_between(session, done_since, week.now)
    week.open = alert_store.open_alerts(session)
    week.tasks = task_store.all_open(session)
    listed_now = alert_store.listed(session)
    week.listed = {item.account_id for item in listed_now}
    week.joined = alert_store.joined_between(session, done_since, week.now)
    week.listings = alert_store.listings_between(session, done_since, week.now + timedelta(microseconds=1))
    week.plays_start = week.end - timedelta(days=PLAYS_DAYS - 1)
    week.plays = save_rates(session, week.plays_start, week.end, scorecard.tiers)
    week.portfolio = expected_loss.read(session, scorecard)
    if week.day is None:
        return week

    day, before = week.day, week.day - timedelta(days=7)
    active = account_store.accounts_frame(conn, active_on=day)
    week.customers = {int(i) for i in active["id"]}
    for row in scores.scores_on(conn, [day, before]).itertuples():
        if row.day_num == day_number(day):
            week.tier_now[int(row.account_id)] = (str(row.tier), float(row.score))
        else:
            week.tier_before[int(row.account_id)] = str(row.tier)
    # alerted: accounts whose alert is open or was opened in the week (their move has a thread already)
    alerted = alert_store.open_or_opened_after(session, before)
    week.moves = digest_moves(conn, scorecard, day, before, alerted)
    week.move_why = move_reasons(
        session,
        week.moves,
        week.accounts,
        rules,
        scorecard,
        day,
        week.now,
        tz,
        listed={item.account_id: item.reason for item in listed_now},
    )
    if rules is not None and rules.routing.digest_only:
        quiet_tiers = set(rules.routing.digest_only)
        for k in range(7, 0, -1):  # the week's score days, oldest first: the latest words win
            for f in evaluate(conn, rules, scorecard, day - timedelta(days=k - 1)):
                if f.severity in quiet_tiers and f.account_id not in alerted and f.account_id in week.customers:
                    week.digest_only[f.account_id] = FiringEntry(f.words, reason=f.reason or None)
    return week


def move_reasons(
    session: Session,
    moves: list[Move],
    accounts: dict[int, Account],
    rules: Rules | None,
    scorecard: Scorecard,
    day: date,
    now: datetime,
    tz: ZoneInfo,
    listed: dict[int, str],
) -> dict[int, str]:
    """Why each move raised no alert, only where it is known (prompts/digest.toml `why_move_*`): "listed" (on a
    listing, waiting for a click: a first run's or past the budget), "noise" (no enabled tier_dropped rule alerts
    on a move into that tier for the account's segment: the rules' noise budget), "cooldown" (a tier_dropped
    rule that would alert on the move is inside its own cooldown for the account on `day`, as the alert job decides it:
    `bot.alerts.job.last_alerted`). `listed`: account -> why it is listed. No reason is given where none of
    those holds."""
    last = last_alerted(session, [m.account_id for m in moves], rules, now, tz) if rules else {}
    drops = [r for r in rules.enabled if isinstance(r, TierDropped)] if rules is not None else []
    out: dict[int, str] = {}
    for m in moves:
        account = accounts.get(m.account_id)
        segment = (account.segment or "").strip().casefold() if account is not None else ""
        alerting = [
            r
            for r in drops
            if m.to_tier in riskiest(r, scorecard.tiers)
            and (r.segments is None or segment in {s.strip().casefold() for s in r.segments})
        ]
        if m.account_id in listed:
            out[m.account_id] = f"listed_{listed[m.account_id]}"
        elif rules is not None and not alerting:
            out[m.account_id] = "noise"
        elif rules is not None and any(
            (m.account_id, r.name) in last and (day - last[(m.account_id, r.name)]).days < rules.cooldown(r)
            for r in alerting
        ):
            out[m.account_id] = "cooldown"
    return out


def stats(week: Week, tiers: Tiers, audience: Audience | None = None, tz: ZoneInfo | None = None) -> WeekStats:
    """One audience's part of the week (default: everything)."""
    out = WeekStats(start=week.start, end=week.end, scored=week.day is not None, tz=tz or ZoneInfo("UTC"))
    out.alerts_since, out.alerts_until = week.alerts_since, week.now
    accounts = audience.accounts if audience else None
    user = audience.user if audience else None
    channel = audience.alerts_channel if audience else None

    def mine(account_id: int) -> bool:
        if user is not None:
            return week.owner(account_id) == user
        return accounts is None or account_id in accounts

    def alert_ok(alert: Alert) -> bool:
        if user is not None:
            return week.owner(alert.account_id) == user or alert.claimed_by == user
        return channel is None or alert.channel == channel

    def task_ok(task: Task) -> bool:
        return task.assignee == user if user is not None else mine(task.account_id)

    opened = [a for a in week.opened if alert_ok(a)]
    out.opened = len(opened)
    for alert in opened:
        claimed, due = alert.claimed_at, alert.due_at
        if claimed is not None and due is not None and claimed <= due:
            out.claimed_in_sla += 1
        if alert.status == AlertStatus.OPEN and alert.claimed_by is None:
            out.unclaimed += 1
    out.escalated = sum(1 for a in week.escalated if alert_ok(a))
    out.joined = sum(1 for a in week.joined if alert_ok(a))
    out.listed = sum(
        1
        for item in week.listings
        if (week.owner(item.account_id) == user if user is not None else channel is None or item.channel == channel)
    )
    resolved = [a for a in week.resolved if alert_ok(a)]
    counted = Counter(str(a.outcome) for a in resolved)
    order = (*ALERT_OUTCOMES, *sorted(set(counted) - set(ALERT_OUTCOMES)))
    out.resolved = {o: counted[o] for o in order if counted[o]}
    out.saves = [(week.name(a.account_id), a.resolved_by) for a in resolved if a.outcome == AlertOutcome.SAVED]

    out.tasks = [
        TaskLine(
            week.name(t.account_id),
            task_title(t),
            t.assignee,
            t.due_at or week.now,
            (t.due_at or week.now) < week.now,
        )
        for t in week.tasks
        if task_ok(t)
    ]
    out.tasks_open = len(out.tasks)
    out.tasks_overdue = sum(t.overdue for t in out.tasks)
    open_by_account = {a.account_id: a for a in week.open}
    for alert in week.open:
        snoozed = alert.snoozed_until
        if alert_ok(alert) and ((snoozed is not None and snoozed > week.now) or alert.snoozed_tier is not None):
            out.snoozed.append(Snoozed(week.name(alert.account_id), snoozed, alert.snoozed_tier))
    out.digest_only = [(week.name(i), words) for i, words in week.digest_only.items() if mine(i)]
    out.plays, out.plays_start = week.plays, week.plays_start
    if week.portfolio is not None:
        p, out.loss_by_csm = week.portfolio, user is None
        mine_ = p.frame["account_id"].map(lambda i: mine(int(i))).astype(bool)
        out.expected = p.of(tiers, mine_)

    risky = at_risk_tiers(tiers)
    out.at_risk_tiers = risky
    if week.day is None:
        return out
    out.moves = [(week.name(m.account_id), m) for m in week.moves if mine(m.account_id)]
    out.move_why = {m.account_id: week.move_why[m.account_id] for _, m in out.moves if m.account_id in week.move_why}
    customers = [i for i in week.customers if mine(i)]
    now = {i: week.tier_now[i][0] for i in customers if i in week.tier_now}
    before = {i: week.tier_before[i] for i in customers if i in week.tier_before}

    def mrr(account_id: int) -> float:
        return float(week.accounts[account_id].mrr or 0.0) if account_id in week.accounts else 0.0

    at_risk = [i for i, tier in now.items() if tier in risky]
    out.at_risk, out.mrr_at_risk = len(at_risk), sum(mrr(i) for i in at_risk)
    if week.tier_before:
        out.mrr_at_risk_before = sum(mrr(i) for i, tier in before.items() if tier in risky)
    now_counts, before_counts = Counter(now.values()), Counter(before.values())
    out.tier_counts = [(t, now_counts[t], before_counts[t] if week.tier_before else None) for t in tiers.order]
    if week.tier_before:
        opened_ids = {a.account_id for a in week.opened}
        rank = {t: k for k, t in enumerate(tiers.order)}
        new = []
        for i in at_risk:
            if before.get(i) in risky:
                continue
            episode = open_by_account.get(i)
            if episode is not None:
                why = "snoozed" if episode.snoozed_until is not None or episode.snoozed_tier is not None else "alert"
            elif i in opened_ids:
                why = "resolved"
            elif i in week.listed:
                why = "listed"
            else:
                why = "digest_only" if i in week.digest_only else ""
            new.append(AtRisk(week.name(i), now[i], mrr(i), why))
        out.new_at_risk = sorted(new, key=lambda r: (-rank.get(r.tier, 0), -r.mrr, r.name))
    return out


def collect(
    session: Session, scorecard: Scorecard, now: datetime, tz: ZoneInfo, rules: Rules | None = None
) -> WeekStats:
    """The numbers of the seven whole days (in `tz`) before the day of `now`, every account and alert."""
    return stats(gather(session, scorecard, now, tz, rules), scorecard.tiers, None, tz)


def audiences(
    week: Week, now: datetime, tz: ZoneInfo, alert_channel: str | None, rules: Rules | None, dms: bool = True
) -> list[Audience]:
    """Each alert channel (ALERT_CHANNEL, then the `[routing]` ones), then each CSM with accounts or tasks."""
    key = week_key(now, tz)
    routing = rules.routing if rules is not None else None
    channels = [alert_channel] if alert_channel else []
    if routing is not None:
        channels += [c for c in [*routing.tiers.values(), *routing.segments.values()] if c not in channels]
    out: list[Audience] = []
    if len(channels) == 1 and channels[0] == alert_channel:
        out.append(Audience(key, channels[0]))
    elif channels and routing is not None:
        routed: dict[str, set[int]] = {c: set() for c in channels}
        for account_id, account in week.accounts.items():
            tier = week.tier_now.get(account_id, ("", 0.0))[0]
            target = routing.channel(tier, account.segment, alert_channel)
            if target in routed:
                routed[target].add(account_id)
        for channel in channels:
            out.append(
                Audience(
                    key if channel == alert_channel else channel_key(key, channel),
                    channel,
                    accounts=frozenset(routed[channel]),
                    alerts_channel=channel,
                )
            )
    if not dms:
        return out
    users = {week.owner(i) for i in (week.customers or week.accounts)} | {t.assignee for t in week.tasks}
    for user in sorted(u for u in users if u and DM_USER.fullmatch(u)):
        out.append(Audience(dm_key(key, user), user, user=user))
    return out
