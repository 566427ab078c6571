"""The weekly risk digest to ALERT_CHANNEL (Monday 09:00 in TIMEZONE, or `healthbot jobs run digest`).

The week is the seven whole days before the day of the run (Monday to Sunday when it runs on a Monday): alerts
opened (how many were claimed within their response SLA, still unclaimed, escalated), alerts resolved by outcome,
and the accounts that moved to a worse tier without raising an alert (the noise budget leaves those to the
digest: `signals.digest_moves`).
One digest per ISO week: its outbox key is `digest:YYYY-Www`, so a second run in the same week posts nothing.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlmodel import Session, col, or_, select

from bot.alerts.signals import Move, digest_moves
from bot.scoring.scorecard import Scorecard, Tiers
from bot.slack.blocks import Message, esc, header, section, sections, validate_blocks
from prompts import raw, say
from storage import outbox, queries
from storage.db import job_lock, session_factory, unit_of_work
from storage.models import ALERT_OUTCOMES, Alert, utcnow

JOB_ID = "alerts.digest"
MOVES_SHOWN = 20
log = logging.getLogger("healthbot.jobs.digest")


@dataclass
class WeekStats:
    start: date  # first day of the week covered (in the team's zone)
    end: date  # last day
    opened: int = 0
    claimed_in_sla: int = 0
    unclaimed: int = 0
    escalated: int = 0
    resolved: dict[str, int] = field(default_factory=dict)  # outcome -> count
    moves: list[tuple[str, Move]] = field(default_factory=list)  # (account name, move), worst first
    scored: bool = True  # a score day to compare exists


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def week_key(now: datetime, tz: ZoneInfo) -> str:
    year, week, _ = now.astimezone(tz).isocalendar()
    return f"digest:{year}-W{week:02d}"


def collect(session: Session, scorecard: Scorecard, now: datetime, tz: ZoneInfo) -> WeekStats:
    """The numbers of the seven whole days (in `tz`) before the day of `now`: Monday to Sunday on a Monday."""
    today = now.astimezone(tz).date()
    stats = WeekStats(start=today - timedelta(days=7), end=today - timedelta(days=1))
    since = datetime.combine(stats.start, time(0, 0), tzinfo=tz).astimezone(UTC)
    now = datetime.combine(today, time(0, 0), tzinfo=tz).astimezone(UTC)  # the week ends where today begins
    opened = list(session.exec(select(Alert).where(col(Alert.opened_at) >= since, col(Alert.opened_at) < now)).all())
    stats.opened = len(opened)
    for alert in opened:
        claimed, due = _utc(alert.claimed_at), _utc(alert.due_at)
        if claimed is not None and due is not None and claimed <= due:
            stats.claimed_in_sla += 1
        if alert.status == "open" and alert.claimed_by is None:
            stats.unclaimed += 1
    stats.escalated = len(
        session.exec(select(Alert.id).where(col(Alert.escalated_at) >= since, col(Alert.escalated_at) < now)).all()
    )
    outcomes = session.exec(
        select(Alert.outcome).where(col(Alert.resolved_at) >= since, col(Alert.resolved_at) < now)
    ).all()
    counted = Counter(str(o) for o in outcomes)
    order = (*ALERT_OUTCOMES, *sorted(set(counted) - set(ALERT_OUTCOMES)))
    stats.resolved = {o: counted[o] for o in order if counted[o]}

    conn = session.connection()
    day = queries.latest_score_day(conn)
    if day is None:
        stats.scored = False
        return stats
    before = day - timedelta(days=7)
    # alerted: accounts whose alert is open or was opened in the week (their move has a thread already)
    alerted = session.exec(
        select(Alert.account_id).where(or_(Alert.status == "open", col(Alert.opened_on) > before))
    ).all()
    moves = digest_moves(conn, scorecard, day, before, set(alerted))
    names = dict(queries.all_account_names(session)) if moves else {}
    stats.moves = [(names.get(m.account_id, str(m.account_id)), m) for m in moves]
    return stats


def digest_message(stats: WeekStats, tiers: Tiers) -> Message:
    """The digest as Block Kit (pure)."""
    start, end = stats.start.isoformat(), stats.end.isoformat()
    blocks = [header(say("digest.header", start=start, end=end))]
    if stats.opened:
        blocks.append(
            section(
                say(
                    "digest.alerts",
                    opened=stats.opened,
                    claimed_in_sla=stats.claimed_in_sla,
                    unclaimed=stats.unclaimed,
                    escalated=stats.escalated,
                )  # fmt: skip
            )
        )
    else:
        blocks.append(section(say("digest.alerts_none")))
    if stats.resolved:
        words = raw("digest.outcomes")
        parts = [say("digest.outcome", outcome=words.get(o, o), count=n) for o, n in stats.resolved.items()]
        blocks.append(section(say("digest.resolved", outcomes=raw("digest.outcome_joiner").join(parts))))
    else:
        blocks.append(section(say("digest.resolved_none")))
    if not stats.scored:
        blocks.append(section(say("digest.no_scores")))
    elif stats.moves:
        lines = [say("digest.moves", count=len(stats.moves))]
        lines += [
            say(
                "digest.move",
                name=esc(name),
                from_tier=tiers.label(m.from_tier),
                to_tier=tiers.label(m.to_tier),
                score=f"{m.score:.0f}",
            )  # fmt: skip
            for name, m in stats.moves[:MOVES_SHOWN]
        ]
        if len(stats.moves) > MOVES_SHOWN:
            lines.append(say("digest.moves_more", more=len(stats.moves) - MOVES_SHOWN))
        blocks += sections(lines)
    else:
        blocks.append(section(say("digest.moves_none")))
    text = say("digest.text", start=start, end=end, opened=stats.opened, moves=len(stats.moves))
    return Message(text, validate_blocks(blocks))


def run(
    engine: Engine, *, scorecard: Scorecard, alert_channel: str | None, tz: ZoneInfo, now: datetime | None = None
) -> str | None:
    """Enqueue this week's digest (under the job lock); returns its outbox key, None when not enqueued."""
    if not alert_channel:
        log.warning("no weekly digest: set ALERT_CHANNEL to the channel id it should go to")
        return None
    now = now or utcnow()
    with job_lock(engine, JOB_ID) as leader:
        if not leader:
            log.info("another replica is posting the digest; skipped")
            return None
        key = week_key(now, tz)
        with unit_of_work(session_factory(engine)) as session:
            if outbox.get(session, key) is not None:
                log.info("the digest of this week (%s) is already in the outbox", key)
                return key
            message = digest_message(collect(session, scorecard, now, tz), scorecard.tiers)
            outbox.post(session, key, alert_channel, message.text, message.blocks)
    log.info("weekly digest enqueued for %s (%s)", alert_channel, key)
    return key
