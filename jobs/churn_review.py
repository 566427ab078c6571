"""The quarterly churn review: at the start of each quarter (the first day of January, April, July and October, at
DIGEST_TIME in TIMEZONE), the review of the quarter that just ended is posted to CHURN_CHANNEL (default
ALERT_CHANNEL), its chart uploaded in the review's thread; or `healthbot jobs run churn-review`.

The channel gets counts and categories, never a customer's words: the review says how many quotes the exit
interviews hold and that a reader (EXIT_INTERVIEW_READERS; unset: anyone) sees them privately with
`/health churn YYYY-Qn`. No DM to each reader: the readers are checked when one asks (a group's members as they are
then), and no copy of the quotes is left in DMs or in the outbox.

The review ends with the latest stored churn forecast whose period is over (`healthbot forecast`), against what
happened: its accounts churned and MRR lost, inside its interval or not; no such section before the first.

A quarter the database has no data for (a new install) is not posted: the log says so. The job reviews the whole
portfolio (it takes no segment). One review per quarter: its outbox key is `churn-review:YYYY-Qn`, so a second run
in the same quarter posts nothing (and uploads no second chart). With several replicas each run happens in one of
them (the job lock).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from sqlalchemy import Engine

from bot.churn import messages, report
from bot.churn.analysis import ChurnReview, NoDataError, review
from bot.churn.periods import parse_period
from bot.forecast import service as forecasts
from bot.scoring.scorecard import Scorecard, Tiers, load_scorecard
from bot.slack import expected_loss
from prompts import speaking_in
from storage import outbox
from storage.db import job_lock, session_factory, unit_of_work

JOB_ID = "churn.review"
PERIOD = "last-quarter"
log = logging.getLogger("healthbot.jobs.churn_review")


@dataclass(frozen=True)
class Posted:
    key: str  # `churn-review:YYYY-Qn`
    new: bool  # False: this quarter's review was enqueued before, nothing was added
    review: ChurnReview


def quarter_key(today: date) -> str:
    """The outbox key of the review of the quarter before the one `today` is in: `churn-review:2026-Q3`."""
    return f"churn-review:{parse_period(PERIOD, today).label}"


def run(
    engine: Engine,
    *,
    channel: str | None,
    today: date,
    tiers: Tiers | None = None,
    readers: Sequence[str] = (),
    scorecard: Scorecard | None = None,
) -> Posted | None:
    """Enqueue the last quarter's review to `channel` (`readers`: EXIT_INTERVIEW_READERS, for what it says of the
    quotes; `scorecard`: the one in use, whose chance to churn the chart checks); None when there is no channel, no
    data for that quarter, or another replica runs it."""
    if not channel:
        log.warning("no churn review: set CHURN_CHANNEL (or ALERT_CHANNEL) to the channel id it should go to")
        return None
    with job_lock(engine, JOB_ID) as leader:
        if not leader:
            log.info("another replica is posting the churn review; skipped")
            return None
        key = quarter_key(today)
        with unit_of_work(session_factory(engine)) as session:
            try:
                result = review(session, parse_period(PERIOD, today), today=today, tiers=tiers, scorecard=scorecard)
            except NoDataError as exc:
                log.warning("no churn review posted: %s", exc)
                return None
            card = scorecard or load_scorecard()
            expected = expected_loss.read(session, card).expected(tiers or card.tiers)
            checked = forecasts.latest_check(session, today)  # the latest forecast whose period is over, vs the facts
            with speaking_in(channel):
                message = messages.review_message(result, open_to_all=not readers, expected=expected, forecast=checked)
            new = outbox.post(session, key, channel, message.text, message.blocks)
        log.info("churn review %s %s", key, "enqueued" if new else "already enqueued; nothing added")
        return Posted(key, new, result)


def upload_chart(engine: Engine, client: WebClient, posted: Posted) -> bool:
    """The review's chart, in the thread of the review once it is delivered; False when it could not be."""
    with unit_of_work(session_factory(engine)) as session:
        row = outbox.get(session, posted.key)
        channel, ts = (row.channel, row.ts) if row is not None else (None, None)
    if not channel or not ts:
        log.warning("churn review %s not delivered yet: its chart is not uploaded", posted.key)
        return False
    try:
        with speaking_in(channel):
            png, filename, title = (
                report.render_png(posted.review),
                messages.chart_filename(posted.review),
                messages.chart_title(posted.review),
            )
        client.files_upload_v2(channel=channel, file=png, filename=filename, title=title, thread_ts=ts)
    except (SlackApiError, SlackRequestError, OSError) as exc:
        log.warning("churn review chart upload failed: %s", exc)
        return False
    return True
