"""The alert job: after a scoring run, open, join and resolve alerts for the scored day (bot.alerts.job).

Its messages go to the outbox in the same transaction as its decisions; `jobs.deliver` sends them.
With several replicas on PostgreSQL one runs it (`job_lock`); the others get None.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime

from sqlalchemy import Engine

from bot.alerts.job import AlertRunSummary, run_alerts
from bot.alerts.rules import Rules
from bot.calendar import BusinessCalendar, QuietHours
from bot.scoring.scorecard import Scorecard
from storage import scores
from storage.db import job_lock, session_factory, unit_of_work
from storage.types import utcnow

JOB_ID = "alerts"
log = logging.getLogger("healthbot.jobs.alerts")


def run(
    engine: Engine,
    *,
    rules: Rules,
    scorecard: Scorecard,
    calendar: BusinessCalendar,
    alert_channel: str | None,
    day: date | None = None,
    now: datetime | None = None,
    cs_lead: str | None = None,
    quiet_hours: QuietHours | None = None,
    names: Callable[[str], str | None] | None = None,
) -> AlertRunSummary | None:
    """Alerts for `day` (default: the latest scored day) as of `now` (default: the clock); None when
    another replica holds the job's lock. `names`: the owners' names the outreach drafts are signed with
    (bot.slack.client.UserNames; None: the team's sign-off)."""
    with job_lock(engine, JOB_ID) as leader:
        if not leader:
            log.info("another replica is running the alert job; skipped")
            return None
        with engine.connect() as conn:
            day = day or scores.latest_score_day(conn)
        if day is None:
            log.info("no scores yet; no alerts")
            return AlertRunSummary(None, skipped=True)
        with unit_of_work(session_factory(engine)) as session:
            summary = run_alerts(
                session,
                rules=rules,
                scorecard=scorecard,
                calendar=calendar,
                alert_channel=alert_channel,
                day=day,
                now=now or utcnow(),
                cs_lead=cs_lead,
                quiet_hours=quiet_hours,
                names=names,
            )
        log.info(
            "alerts for %s: %d firings, %d opened, %d listed (%s), %d joined, %d still firing, %d held back by "
            "cooldowns, %d recovered, %d churned, %d DMs",
            day,
            summary.firings,
            len(summary.opened),
            len(summary.listed),
            "first run: where we start" if summary.first_run else "past the thread budget",
            summary.joined,
            summary.updated,
            summary.held_back,
            summary.recovered,
            summary.churned,
            summary.dms,
        )
        return summary
