"""The daily scoring job: score the days with metrics but no scores (30 days back at most), up to the latest."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, timedelta

from slack_sdk import WebClient
from sqlalchemy import Connection, Engine

from bot.scoring import chance_fit, chance_words
from bot.scoring.run import RunSummary, future_note, score_range, team_today
from bot.scoring.scorecard import Scorecard
from jobs import home
from prompts import say
from storage import events, scores
from storage.db import job_lock, session_factory, unit_of_work

JOB_ID = "score.daily"
MAX_CATCH_UP_DAYS = 30
FIRST_RUN_DAYS = 90  # scored by the first run, so cards show a trend from day one
log = logging.getLogger("healthbot.jobs.score")


def days_to_score(
    last_metrics: date | None,
    last_scored: date | None,
    first_metrics: date | None,
    lookback_days: int = 0,
    first_gap: date | None = None,
) -> tuple[date, date] | None:
    """From the day after the last scored one (at most 30 days back) to the latest day with metrics.

    An earlier day with metrics but no scores inside those 30 days (`first_gap`, e.g. what a killed
    backfill left) moves the start back to it. When everything is scored, the latest day is scored
    again: late metrics may have arrived. With no scores yet, the last 90 days (or `lookback_days`, if
    more) are scored, from the first day with metrics on: the history the cards' trends and sparklines draw.
    """
    if last_metrics is None:
        return None
    if last_scored is None:
        start = last_metrics - timedelta(days=max(FIRST_RUN_DAYS, lookback_days) - 1)
        return max(start, first_metrics or start), last_metrics
    start = last_metrics if last_scored >= last_metrics else last_scored + timedelta(days=1)
    if first_gap is not None:
        start = min(start, first_gap)
    return max(start, catch_up_start(last_metrics)), last_metrics


def catch_up_start(last_metrics: date) -> date:
    """The first day of the catch-up window: a run without dates scores no further back."""
    return last_metrics - timedelta(days=MAX_CATCH_UP_DAYS - 1)


def span_to_score(conn: Connection, scorecard: Scorecard, today: date) -> tuple[date, date] | None:
    """The days a run without dates scores (`days_to_score` on what the database holds up to `today`, the
    team's: a row dated later is not data yet); None without metrics."""
    first = scores.first_metric_day(conn)
    last_metrics = scores.latest_metric_day(conn, until=today)
    if last_metrics is None:
        return None
    last_scored = scores.latest_score_day(conn)
    gap = None
    if last_metrics is not None and last_scored is not None:
        window_end = min(last_scored, last_metrics)  # days after the last scored one are caught up anyway
        gap = scores.first_unscored_day(conn, max(catch_up_start(last_metrics), first or last_metrics), window_end)
    return days_to_score(last_metrics, last_scored, first, scorecard.data.lookback_days, first_gap=gap)


def run_daily(engine: Engine, scorecard: Scorecard, client: WebClient, today: Callable[[], date]) -> None:
    """The scheduled run: score, then refresh what shows the scores, then forget old event ids."""
    summary = run(engine, scorecard, today=today())
    if summary is not None:
        home.run(engine, client, scorecard, today())
    with unit_of_work(session_factory(engine)) as session:
        events.prune_events(session)


def run(engine: Engine, scorecard: Scorecard, today: date | None = None) -> RunSummary | None:
    """Score the days `span_to_score` names, none after `today` (default the team's: `team_today()`), and log once
    what is stored dated after it."""
    today = today if today is not None else team_today()
    with job_lock(engine, JOB_ID) as leader:
        if not leader:
            log.info("another replica is scoring; skipped")
            return None
        with engine.connect() as conn:
            span = span_to_score(conn, scorecard, today)
        if span is None:
            log.info("no metrics yet; nothing to score")
            return None
        summary = score_range(engine, scorecard, *span, today=today)
        note = future_note(summary)
        if note:
            log.warning("%s", note)
        log.info("scored %d account-days from %s to %s; tiers %s", summary.scored, span[0], span[1], summary.tiers)
        if summary.unscored:
            log.info("too little data to score %d accounts, e.g. %s", len(summary.unscored), summary.unscored[:5])
        fitted, refitted = chance_fit.current(engine, scorecard, today)
        if refitted:
            log.info("%s", say("chance.refitted", horizon=fitted.horizon, what=chance_words.fit_text(fitted)))
        return summary
