"""The weekly digest job: on DIGEST_DAY at DIGEST_TIME in TIMEZONE (default Monday 09:00), or `healthbot jobs run
digest`, enqueue this week's digests (what goes in them: `bot.digest.service`; their Block Kit:
`bot.digest.messages`); `jobs.deliver` sends them. With several replicas on PostgreSQL one runs it (`job_lock`).
"""

from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from bot.alerts.rules import Rules
from bot.calendar import QuietHours
from bot.digest.messages import digest_message
from bot.digest.service import audiences, gather, stats, week_key
from bot.scoring.scorecard import Scorecard
from bot.slack.language import speaking_to
from prompts import speaking_in
from storage import outbox
from storage.db import job_lock, session_factory, unit_of_work
from storage.types import utcnow

JOB_ID = "alerts.digest"
log = logging.getLogger("healthbot.jobs.digest")


def run(
    engine: Engine,
    *,
    scorecard: Scorecard,
    alert_channel: str | None,
    tz: ZoneInfo,
    now: datetime | None = None,
    rules: Rules | None = None,
    quiet_hours: QuietHours | None = None,
    dms: bool = False,
) -> str | None:
    """Enqueue this week's digests (under the job lock): each alert channel's and (`dms`) each CSM's DM; the
    `rules` give the routed channels and the digest-only tiers. Returns the week's key (`digest:YYYY-Www`) when
    any digest of the week is in the outbox, None when none is."""
    now = now or utcnow()
    if not alert_channel and not (rules is not None and (rules.routing.tiers or rules.routing.segments)):
        log.warning("no channel digest: set ALERT_CHANNEL to the channel id it should go to")
    with job_lock(engine, JOB_ID) as leader:
        if not leader:
            log.info("another replica is posting the digest; skipped")
            return None
        at = quiet_hours.after(now) if quiet_hours is not None else None
        if at is not None and at != now:
            log.info("inside QUIET_HOURS: this week's digests wait in the outbox until %s", at.astimezone(tz))
        posted = kept = 0
        with unit_of_work(session_factory(engine)) as session:
            week = gather(session, scorecard, now, tz, rules)
            for audience in audiences(week, now, tz, alert_channel, rules, dms):
                if outbox.get(session, audience.key) is not None:
                    kept += 1
                    continue
                part = stats(week, scorecard.tiers, audience, tz)
                if audience.user is not None and part.quiet:
                    continue
                speaking = speaking_to(audience.user) if audience.user else speaking_in(audience.channel)
                with speaking:  # a CSM's DM in their Slack locale, a channel's post in the channel's language
                    message = digest_message(part, scorecard.tiers, dm=audience.user is not None)
                outbox.post(
                    session, audience.key, audience.channel, message.text, message.blocks, at=at if at != now else None
                )
                posted += 1
    key = week_key(now, tz)
    if kept and not posted:
        log.info("the digests of this week (%s) are already in the outbox", key)
    elif posted:
        log.info("weekly digest: %d messages enqueued (%s)", posted, key)
    return key if posted or kept else None
