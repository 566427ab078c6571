"""The one table of jobs: what `healthbot run`'s scheduler registers and what `healthbot jobs run NAME` runs once.

Each `Job` has its name on the command line, its id (the scheduler's, and the advisory lock it runs under:
`storage.db.job_lock`), what it runs given the settings, engine and Slack client (`Context`), when the scheduler
runs it and how late it may still start. Running one returns what happened (`Ran`): the line the command line
prints, whether it left new messages in the outbox (the scheduler delivers them at once; the command line always
delivers until nothing waits) and what to do once they are delivered. The job modules are imported when a job
runs, so the command line reads the table without loading them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from prompts import raw, say

if TYPE_CHECKING:
    from apscheduler.triggers.base import BaseTrigger
    from slack_sdk import WebClient
    from sqlalchemy import Engine

    from bot.alerts.rules import Rules
    from bot.scoring.scorecard import Scorecard
    from bot.settings import Settings
    from bot.slack.client import UserNames

log = logging.getLogger("healthbot")


@dataclass
class Context:
    """What a job runs with: the settings, the database, the Slack client and the scorecard."""

    settings: Settings
    engine: Engine
    client: WebClient
    scorecard: Scorecard

    def __post_init__(self) -> None:
        from bot.slack.language import use_for_jobs

        use_for_jobs(self.client)  # a DM a job sends speaks its recipient's Slack locale

    @cached_property
    def rules(self) -> Rules:
        """The alert rules (ALERT_RULES_PATH), read once; a bad file raises `RulesError`."""
        from bot.alerts.rules import load_rules

        return load_rules(self.settings.alert_rules_path, self.scorecard)

    @cached_property
    def names(self) -> UserNames:
        """The owners' names the outreach drafts are signed with, cached as long as this context lives."""
        from bot.slack.client import UserNames

        return UserNames(self.client)

    def today(self) -> date:
        """The team's date now (TIMEZONE)."""
        return datetime.now(self.settings.tz).date()


@dataclass(frozen=True)
class Ran:
    """What one run of a job did."""

    line: str | None = None  # what `healthbot jobs run` prints
    new: bool = False  # it left messages in the outbox: the scheduler delivers them now
    after: Callable[[], object] | None = None  # once its messages are delivered (the churn review's chart)


@dataclass(frozen=True)
class Job:
    """One job: `run` once (the command line, and the scheduler unless `scheduled` says otherwise)."""

    name: str  # `healthbot jobs run NAME`
    id: str  # the scheduler's id and the name of the lock it runs under
    run: Callable[[Context], Ran]
    trigger: Callable[[Settings], BaseTrigger] | None = None  # when the scheduler runs it
    after: str | None = None  # or: each time the job with this id has finished (the alerts after the scoring)
    misfire: int = 3600  # seconds late the scheduler may still start it
    # what the scheduler calls, with its arguments, instead of `run` then delivery
    scheduled: Callable[[Context], tuple[Callable[..., Any], list[Any]]] | None = None


def _skipped(name: str) -> str:
    return say("jobs.skipped", name=name)


def _score(ctx: Context) -> Ran:
    from jobs import score as score_job

    score_job.run_daily(ctx.engine, ctx.scorecard, ctx.client, ctx.today)
    return Ran(say("jobs.score"))


def _score_daily(ctx: Context) -> tuple[Callable[..., Any], list[Any]]:
    """The daily scoring as itself (the alerts are chained after it); the syncs first when SOURCES_PATH is set:
    scoring reads what they pulled."""
    from jobs import score as score_job

    daily: Callable[..., None] = score_job.run_daily
    if ctx.settings.sources_path:
        from jobs import sync as sync_job

        daily = sync_job.before(score_job.run_daily, ctx.engine, ctx.settings.sources_path, ctx.settings.tz)
    return daily, [ctx.engine, ctx.scorecard, ctx.client, ctx.today]


def _alerts(ctx: Context) -> Ran:
    from jobs import alerts as alerts_job

    settings = ctx.settings
    summary = alerts_job.run(
        ctx.engine,
        rules=ctx.rules,
        scorecard=ctx.scorecard,
        calendar=settings.calendar,
        alert_channel=settings.alert_channel,
        cs_lead=settings.cs_lead,
        quiet_hours=settings.quiet_hours,
        names=ctx.names,
    )
    if summary is None:
        return Ran(_skipped("alerts"), new=True)
    if summary.day is None:
        return Ran(say("jobs.alerts_no_scores"), new=True)
    why = say("jobs.first_run") if summary.first_run else say("jobs.over_budget")
    line = say(
        "jobs.alerts",
        day=summary.day,
        opened=len(summary.opened),
        listed=len(summary.listed),
        why=why,
        joined=summary.joined,
        recovered=summary.recovered,
        churned=summary.churned,
        dms=summary.dms,
    )
    return Ran(line, new=True)


def _alerts_after_scoring(ctx: Context) -> tuple[Callable[..., Any], list[Any]]:
    """The alerts, then delivery; while another replica still scores (it holds the scoring lock), it runs the
    alerts after, and here nothing runs."""
    from jobs import score as score_job
    from storage.db import job_lock

    def alerts_unless_scoring(ctx: Context) -> Ran:
        with job_lock(ctx.engine, score_job.JOB_ID) as not_scoring:
            if not not_scoring:
                log.info("another replica is scoring; it runs the alerts after")
                return Ran()
            return _alerts(ctx)

    return then_deliver(alerts_unless_scoring, ctx), []


def _escalations(ctx: Context) -> Ran:
    from jobs import escalations as escalations_job

    settings = ctx.settings
    esc = escalations_job.run(
        ctx.engine,
        calendar=settings.calendar,
        tiers=ctx.scorecard.tiers,
        tz=settings.tz,
        cs_lead=settings.cs_lead,
        scorecard=ctx.scorecard,
        cs_head=settings.cs_head,
    )
    new = any(esc.escalated.values())
    if esc.skipped:
        return Ran(_skipped("escalations"), new=new)
    if esc.closed:
        return Ran(say("jobs.escalations_closed"), new=new)
    return Ran(say("jobs.escalations", lead=len(esc.escalated[1]), second=len(esc.escalated[2])), new=new)


def _task_escalations(ctx: Context) -> Ran:
    from jobs import task_escalations as task_escalations_job

    settings = ctx.settings
    tasks = task_escalations_job.run(
        ctx.engine,
        calendar=settings.calendar,
        tiers=ctx.scorecard.tiers,
        tz=settings.tz,
        cs_lead=settings.cs_lead,
        cs_head=settings.cs_head,
        team=settings.team,
    )
    if tasks.skipped:
        return Ran(_skipped("task-escalations"), new=tasks.changed)
    if tasks.closed:
        return Ran(say("jobs.tasks_closed"), new=tasks.changed)
    line = say(
        "jobs.tasks",
        lead=len(tasks.escalated[1]),
        second=len(tasks.escalated[2]),
        handed=len(tasks.handed_out),
    )
    return Ran(line, new=tasks.changed)


def _digest(ctx: Context) -> Ran:
    from jobs import digest as digest_job

    settings = ctx.settings
    key = digest_job.run(
        ctx.engine,
        scorecard=ctx.scorecard,
        alert_channel=settings.alert_channel,
        tz=settings.tz,
        rules=ctx.rules,
        quiet_hours=settings.quiet_hours,
        dms=True,
    )
    return Ran(say("jobs.digest", key=key) if key else say("jobs.digest_not_posted"), new=bool(key))


def _churn_review(ctx: Context) -> Ran:
    from jobs import churn_review as churn_job

    settings = ctx.settings
    channel = getattr(settings, "churn_channel", None) or settings.alert_channel
    posted = churn_job.run(
        ctx.engine,
        channel=channel,
        today=ctx.today(),
        tiers=ctx.scorecard.tiers,
        readers=getattr(settings, "exit_interview_readers", ()),
        scorecard=ctx.scorecard,
    )
    if posted is None:
        return Ran(say("jobs.churn_review_not_posted"))
    line = say("jobs.churn_review" if posted.new else "jobs.churn_review_again", key=posted.key)
    if not posted.new:
        return Ran(line)
    return Ran(line, new=True, after=lambda: churn_job.upload_chart(ctx.engine, ctx.client, posted))


def _deliver(ctx: Context) -> Ran:
    return Ran(new=True)  # only what is waiting: delivery follows every job


def _daily(settings: Settings) -> BaseTrigger:
    from apscheduler.triggers.cron import CronTrigger

    at = settings.score_time
    return CronTrigger(hour=at.hour, minute=at.minute, timezone=settings.tz)


def _every(minutes: int) -> Callable[[Settings], BaseTrigger]:
    def trigger(settings: Settings) -> BaseTrigger:
        from apscheduler.triggers.interval import IntervalTrigger

        return IntervalTrigger(minutes=minutes, timezone=settings.tz)

    return trigger


def _weekly(settings: Settings) -> BaseTrigger:
    from apscheduler.triggers.cron import CronTrigger

    at = settings.digest_time
    return CronTrigger(day_of_week=settings.digest_day, hour=at.hour, minute=at.minute, timezone=settings.tz)


def _quarterly(settings: Settings) -> BaseTrigger:
    from apscheduler.triggers.cron import CronTrigger

    at = settings.digest_time
    return CronTrigger(month="1,4,7,10", day=1, hour=at.hour, minute=at.minute, timezone=settings.tz)


def then_deliver(run: Callable[[Context], Ran], ctx: Context) -> Callable[[], None]:
    """What the scheduler calls: the job, then (when it left any) its messages delivered, then its `after`."""

    def job_then_deliver() -> None:
        from jobs import deliver as deliver_job

        ran = run(ctx)
        if ran.new:
            deliver_job.run(ctx.engine, ctx.client)
        if ran.after is not None:
            ran.after()

    return job_then_deliver


# The ids are the job modules' JOB_IDs (and `deliver`'s); `healthbot jobs run` lists the jobs in this order.
JOBS: dict[str, Job] = {
    job.name: job
    for job in (
        Job(
            "score",
            "score.daily",
            _score,
            _daily,
            scheduled=_score_daily,
        ),
        Job(
            "alerts",
            "alerts",
            _alerts,
            after="score.daily",
            scheduled=_alerts_after_scoring,
        ),
        Job(
            "escalations",
            "alerts.escalations",
            _escalations,
            _every(5),
            misfire=120,
        ),
        Job(
            "task-escalations",
            "tasks.escalations",
            _task_escalations,
            _every(5),
            misfire=120,
        ),
        Job(
            "digest",
            "alerts.digest",
            _digest,
            _weekly,
            misfire=6 * 3600,
        ),
        Job(
            "churn-review",
            "churn.review",
            _churn_review,
            _quarterly,
            misfire=24 * 3600,
        ),
        Job("deliver", "deliver", _deliver, _every(1), misfire=30),
    )
}


def jobs_help() -> str:
    """The jobs' lines of `healthbot jobs --help`: each name, then what it does (prompts/cli.toml `help.jobs.job`,
    a newline continuing it)."""
    lines = []
    for job in JOBS.values():
        name = f"{job.name:<12} " if len(job.name) <= 12 else f"{job.name}  "
        lines.append("  " + name + str(raw(f"cli.help.jobs.job.{job.name}")).replace("\n", "\n" + " " * 15))
    return "\n".join(lines)
