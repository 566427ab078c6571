"""The one table of jobs: the scheduler registers every entry with a schedule, `healthbot jobs run` accepts every
name, each under its job module's lock."""

from __future__ import annotations

from sqlalchemy import Engine

from bot.app import create_scheduler
from bot.cli import build_parser
from bot.settings import Settings
from bot.slack.client import make_client
from jobs import alerts, churn_review, deliver, digest, escalations, score, task_escalations
from jobs.table import JOBS


def test_the_table_names_every_job_the_command_line_has_always_run() -> None:
    assert list(JOBS) == ["score", "alerts", "escalations", "task-escalations", "digest", "churn-review", "deliver"]


def test_each_job_runs_under_its_modules_lock() -> None:
    modules = {
        "score": score,
        "alerts": alerts,
        "escalations": escalations,
        "task-escalations": task_escalations,
        "digest": digest,
        "churn-review": churn_review,
        "deliver": deliver,
    }
    assert {name: job.id for name, job in JOBS.items()} == {name: m.JOB_ID for name, m in modules.items()}


def test_the_scheduler_registers_every_scheduled_entry(settings: Settings, engine: Engine) -> None:
    scheduler = create_scheduler(settings, engine, make_client(settings))
    registered = {job.id: job for job in scheduler.get_jobs()}
    assert set(registered) == {job.id for job in JOBS.values() if job.trigger is not None}
    assert all(registered[job.id].misfire_grace_time == job.misfire for job in JOBS.values() if job.trigger)
    assert [job.after for job in JOBS.values() if job.trigger is None] == [score.JOB_ID]  # the alerts, chained


def test_the_command_line_accepts_every_name_of_the_table() -> None:
    for name in JOBS:
        assert build_parser().parse_args(["jobs", "run", name]).job == name
