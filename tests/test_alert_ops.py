"""The alert operations: escalations on the business calendar, the weekly digest, delivery, the scheduler
and `healthbot jobs run JOB` (two real processes at once: one escalation)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from apscheduler.events import EVENT_JOB_EXECUTED, JobExecutionEvent
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine
from sqlmodel import col, select

from bot import cli
from bot.app import create_scheduler
from bot.calendar import BusinessCalendar
from bot.digest import service as digest_service
from bot.scoring.scorecard import load_scorecard
from bot.settings import Settings, load_settings
from bot.slack.client import make_client
from bot.slack.outbox import drain
from jobs import deliver as deliver_job
from jobs import digest as digest_job
from jobs import escalations as escalations_job
from jobs import score as score_job
from storage import alerts, outbox
from storage.db import job_lock, session_factory, unit_of_work
from storage.models import Account, Alert, OutboxMessage
from tests.conftest import BOT_TOKEN, DEMO_END
from tests.fake_slack import FakeSlack

UTC_ZONE = ZoneInfo("UTC")
CHANNEL = "C0ALERTS01"
LEAD, HEAD, OWNER = "S0LEADS01", "U0HEAD0001", "U0OWNER001"
FRI_NOON = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)  # Friday; Mon-Fri 09:00-17:00 UTC is the default calendar


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def make_alert(
    engine: Engine,
    *,
    due_at: datetime,
    severity: str = "high_risk",
    opened_at: datetime = FRI_NOON,
    claimed_by: str | None = None,
    snoozed_until: datetime | None = None,
    snoozed_tier: str | None = None,
    name: str = "Acme",
) -> int:
    """An account and its open alert, with the thread's root in the outbox (as the alert job leaves it)."""
    with unit_of_work(session_factory(engine)) as session:
        account = Account(external_id=f"ext-{name}", name=name, owner_slack_id=OWNER)
        session.add(account)
        session.flush()
        alert = alerts.create(
            session,
            Alert(
                account_id=account.id or 0, severity=severity, opened_on=opened_at.date(),
                last_fired_on=opened_at.date(), opened_at=opened_at, due_at=due_at, channel=CHANNEL,
                firings={"tier_dropped": {"words": "tier dropped", "severity": severity, "since": "2026-11-27"}},
                claimed_by=claimed_by, claimed_at=opened_at if claimed_by else None, snoozed_until=snoozed_until,
                snoozed_tier=snoozed_tier,
            ),
        )  # fmt: skip
        outbox.post(session, f"alert:{alert.id}:root", CHANNEL, f"Risk alert: {name}")
        return alert.id or 0


def escalate(
    engine: Engine, now: datetime, calendar: BusinessCalendar | None = None
) -> escalations_job.EscalationSummary:
    return escalations_job.run(
        engine, calendar=calendar or BusinessCalendar(), tiers=load_scorecard().tiers, tz=UTC_ZONE, cs_lead=LEAD,
        cs_head=HEAD, now=now, scorecard=load_scorecard(),
    )  # fmt: skip


def rows(engine: Engine) -> dict[str, OutboxMessage]:
    with unit_of_work(session_factory(engine)) as session:
        return {r.key: r for r in session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))).all()}


def alert_row(engine: Engine, alert_id: int) -> Alert:
    with unit_of_work(session_factory(engine)) as session:
        alert = alerts.get(session, alert_id)
        assert alert is not None
        session.expunge(alert)
        return alert


def escalation_events(engine: Engine, alert_id: int) -> list[int]:
    with unit_of_work(session_factory(engine)) as session:
        return [e.detail["level"] for e in alerts.history(session, alert_id) if e.kind == "escalated"]


# --------------------------------------------------------------------------- escalations


def test_unclaimed_alert_escalates_to_lead_then_head_on_business_hours_only(engine: Engine) -> None:
    alert_id = make_alert(engine, due_at=at(27, 16))  # high risk: due 4 h after Friday noon

    assert escalate(engine, at(27, 15, 59)).escalated == {1: [], 2: []}  # not due yet

    assert escalate(engine, at(27, 16, 5)).escalated == {1: [alert_id], 2: []}
    out = rows(engine)
    reply = out[f"alert:{alert_id}:reply:escalated:1"]
    assert reply.thread_key == f"alert:{alert_id}:root" and reply.channel == CHANNEL
    assert f"<!subteam^{LEAD}>" in reply.payload["text"] and f"<@{OWNER}>" in reply.payload["text"]
    version = alert_row(engine, alert_id).version
    redraw = out[f"alert:{alert_id}:v{version}"]
    assert redraw.method == outbox.UPDATE and redraw.target_key == f"alert:{alert_id}:root"
    assert "Escalated" in str(redraw.payload["blocks"])  # the root shows it
    assert escalation_events(engine, alert_id) == [1]

    assert escalate(engine, at(27, 16, 10)).escalated == {1: [], 2: []}  # a rerun changes nothing
    assert len(rows(engine)) == len(out)

    # the second level is due one more SLA (4 h, Friday 20:05) later: the calendar is closed until Monday 09:00
    sunday_3am = escalate(engine, at(29, 3))
    assert sunday_3am.closed and sunday_3am.escalated == {1: [], 2: []}
    assert escalate(engine, at(30, 8, 59)).closed
    assert len(rows(engine)) == len(out) and alert_row(engine, alert_id).escalation_level == 1

    assert escalate(engine, at(30, 9)).escalated == {1: [], 2: [alert_id]}
    second = rows(engine)[f"alert:{alert_id}:reply:escalated:2"]
    assert f"<@{HEAD}>" in second.payload["text"]
    assert f"alert:{alert_id}:v{alert_row(engine, alert_id).version}" in rows(engine)
    assert escalation_events(engine, alert_id) == [1, 2]

    assert escalate(engine, at(30, 16)).escalated == {1: [], 2: []}  # two levels, no third


def test_alert_due_over_the_weekend_escalates_at_monday_opening(engine: Engine) -> None:
    alert_id = make_alert(engine, due_at=at(28, 10), severity="medium_risk")  # due Saturday (24 h SLA, say)

    for moment in (at(28, 10), at(29, 3), at(29, 23, 59), at(30, 8, 59)):
        assert escalate(engine, moment).escalated == {1: [], 2: []}, moment
    assert alert_row(engine, alert_id).escalation_level == 0

    assert escalate(engine, at(30, 9, 2)).escalated[1] == [alert_id]


def test_holiday_and_time_zone_keep_escalations_closed(engine: Engine) -> None:
    berlin = BusinessCalendar.parse("Europe/Berlin", "Mon-Fri", "09:00-17:00", "2026-11-30")
    alert_id = make_alert(engine, due_at=at(27, 15))

    assert escalate(engine, at(27, 16, 30), berlin).closed  # 17:30 in Berlin: closed
    assert escalate(engine, at(30, 10), berlin).closed  # Monday is a holiday
    tuesday_opening = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)  # 09:00 in Berlin
    assert escalate(engine, tuesday_opening, berlin).escalated[1] == [alert_id]


def test_claimed_and_snoozed_alerts_are_not_escalated(engine: Engine) -> None:
    claimed = make_alert(engine, due_at=at(27, 13), claimed_by="U0CSM00001", name="Claimed")
    snoozed = make_alert(engine, due_at=at(27, 13), snoozed_until=at(28, 13), name="Snoozed")
    by_tier = make_alert(engine, due_at=at(27, 13), snoozed_tier="high_risk", name="Tier")
    woke = make_alert(engine, due_at=at(27, 13), snoozed_until=at(27, 14), name="Woke")

    assert escalate(engine, at(27, 15)).escalated == {1: [woke], 2: []}
    assert [alert_row(engine, a).escalation_level for a in (claimed, snoozed, by_tier)] == [0, 0, 0]


def test_claim_after_the_first_level_stops_the_second(engine: Engine) -> None:
    alert_id = make_alert(engine, due_at=at(27, 13))
    assert escalate(engine, at(27, 13, 30)).escalated[1] == [alert_id]
    with unit_of_work(session_factory(engine)) as session:
        assert alerts.claim(session, alert_id, "U0CSM00001")

    assert escalate(engine, at(30, 16)).escalated == {1: [], 2: []}
    assert escalation_events(engine, alert_id) == [1]


def test_resolved_alert_is_not_escalated(engine: Engine) -> None:
    alert_id = make_alert(engine, due_at=at(27, 13))
    with unit_of_work(session_factory(engine)) as session:
        assert alerts.resolve(session, alert_id, "false_alarm", "U0CSM00001")

    assert escalate(engine, at(27, 15)).escalated == {1: [], 2: []}


# --------------------------------------------------------------------------- two processes, one escalation


def job_settings(fake: FakeSlack) -> dict[str, str]:
    """What `healthbot jobs run` reads in these tests: the fake Slack, and a team that is always open."""
    return dict(
        SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_API_URL=fake.url, ALERT_CHANNEL=CHANNEL, CS_LEAD=LEAD, CS_HEAD=HEAD,
        TIMEZONE="UTC", WORK_DAYS="Mon-Sun", WORK_HOURS="00:00-24:00", HOLIDAYS="", LOG_LEVEL="INFO",
    )  # fmt: skip


def _env(database_url: str, fake: FakeSlack) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"SLACK_APP_TOKEN", "SCORECARD_PATH"}}
    return {**env, **job_settings(fake), "DATABASE_URL": database_url}


def test_two_processes_running_escalations_at_once_escalate_once(
    engine: Engine, database_url: str, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    alert_id = make_alert(engine, due_at=now - timedelta(hours=1), opened_at=now - timedelta(hours=5))
    settings = load_settings(env_file=None, environ={"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_API_URL": fake_slack.url})
    assert drain(session_factory(engine), make_client(settings)).sent == 1  # the root is in Slack
    fake_slack.reset()

    env = _env(database_url, fake_slack)
    command = [sys.executable, "-m", "bot.cli", "jobs", "run", "escalations", "--wait", "60"]
    procs = [
        subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]

    assert [p.returncode for p in procs] == [0, 0], outputs
    said = [out for out, _ in outputs]
    assert sum("escalations: 1 to the CS lead" in s for s in said) == 1, said  # one ran it...
    assert all("escalations: 1 to the CS lead" in s or "skipped" in s or "escalations: 0" in s for s in said), said
    replies = [c for c in fake_slack.calls_to("chat.postMessage") if c.params.get("thread_ts")]
    assert len(replies) == 1 and f"<!subteam^{LEAD}>" in replies[0].params["text"]  # ...and Slack got one reply
    assert len(fake_slack.calls_to("chat.update")) == 1  # and one redraw of the root
    assert escalation_events(engine, alert_id) == [1]
    assert all(r.status == "sent" for r in rows(engine).values())


@pytest.mark.parametrize(
    ("job", "job_id"),
    [("escalations", escalations_job.JOB_ID), ("digest", digest_job.JOB_ID), ("alerts", "alerts")],
)
def test_a_job_another_replica_is_running_is_skipped(
    engine: Engine, database_url: str, fake_slack: FakeSlack, tmp_path: Path, job: str, job_id: str
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite is one process's database: there is no replica to share a lock with")
    now = datetime.now(UTC)
    alert_id = make_alert(engine, due_at=now - timedelta(hours=1), opened_at=now - timedelta(hours=5))
    settings = load_settings(env_file=None, environ={"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_API_URL": fake_slack.url})
    drain(session_factory(engine), make_client(settings))
    fake_slack.reset()
    command = [sys.executable, "-m", "bot.cli", "jobs", "run", job, "--wait", "60"]
    env = _env(database_url, fake_slack)

    with job_lock(engine, job_id) as held:  # another replica is in the middle of the job
        assert held
        done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "skipped" in done.stdout + done.stderr
    assert fake_slack.calls_to("chat.postMessage") == [] and escalation_events(engine, alert_id) == []

    if job == "escalations":  # the lock released, the next run does it
        done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert "escalations: 1 to the CS lead" in done.stdout, done.stderr
        assert escalation_events(engine, alert_id) == [1]


# --------------------------------------------------------------------------- the weekly digest


def test_digest_counts_the_week_and_lists_moves_that_did_not_alert(seeded: Engine, fake_slack: FakeSlack) -> None:
    engine = seeded
    scorecard = load_scorecard()
    now = datetime(2026, 7, 6, 9, 0, tzinfo=UTC)  # Monday after DEMO_END
    with unit_of_work(session_factory(engine)) as session:
        ids = [a.id for a in session.exec(select(Account).order_by(col(Account.id))).all()]
    week = now - timedelta(days=3)

    def alert(account_id: int | None, **kw: Any) -> Alert:
        base: dict[str, Any] = dict(
            account_id=account_id, severity="high_risk", opened_on=DEMO_END, last_fired_on=DEMO_END, opened_at=week,
            due_at=week + timedelta(hours=4), channel=CHANNEL,
        )  # fmt: skip
        return Alert(**{**base, **kw})

    with unit_of_work(session_factory(engine)) as session:
        alerts.create(session, alert(ids[0], claimed_by="U1", claimed_at=week + timedelta(hours=1)))  # in SLA
        alerts.create(session, alert(ids[1], claimed_by="U1", claimed_at=week + timedelta(hours=9)))  # late
        alerts.create(session, alert(ids[2], escalation_level=1, escalated_at=week + timedelta(hours=5)))
        alerts.create(
            session,
            alert(ids[3], status="resolved", outcome="saved", resolved_by="U1", resolved_at=week + timedelta(days=1)),
        )
        alerts.create(
            session,
            alert(
                ids[4], status="resolved", outcome="recovered", resolved_by="healthbot",
                opened_at=now - timedelta(days=30), due_at=now - timedelta(days=29), opened_on=date(2026, 6, 1),
                resolved_at=week,
            ),
        )  # fmt: skip

    key = digest_job.run(engine, scorecard=scorecard, alert_channel=CHANNEL, tz=UTC_ZONE, now=now)
    assert key == "digest:2026-W28"
    with unit_of_work(session_factory(engine)) as session:
        stats = digest_service.collect(session, scorecard, now, UTC_ZONE)
    assert (stats.opened, stats.claimed_in_sla, stats.unclaimed, stats.escalated) == (4, 1, 1, 1)
    assert stats.resolved == {"saved": 1, "recovered": 1}
    assert stats.moves, "the demo portfolio has accounts that moved to a worse tier in its last week"
    order = scorecard.tiers.order
    assert all(order.index(m.to_tier) > order.index(m.from_tier) for _, m in stats.moves)
    assert not set(ids[:4]) & {m.account_id for _, m in stats.moves}  # an account with an alert is not listed
    assert len(rows(engine)) == 1

    # a second run in the same week posts nothing new
    assert digest_job.run(engine, scorecard=scorecard, alert_channel=CHANNEL, tz=UTC_ZONE, now=now + timedelta(days=2))
    assert len(rows(engine)) == 1

    settings = load_settings(env_file=None, environ={"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_API_URL": fake_slack.url})
    assert deliver_job.run(engine, make_client(settings)).sent == 1
    (posted,) = fake_slack.posted(CHANNEL)
    blocks = str(posted["blocks"])
    assert "Weekly risk digest: 2026-06-29 to 2026-07-05" in blocks  # Monday to Sunday
    assert "4 opened · 1 of them claimed within their response time · 1 still unclaimed · 1 escalated" in blocks
    assert "saved 1 · recovered 1" in blocks and "Moved to a worse tier without an alert" in blocks


def test_digest_without_alerts_or_scores_and_without_channel(engine: Engine) -> None:
    scorecard = load_scorecard()
    now = datetime(2026, 7, 6, 9, 0, tzinfo=UTC)
    assert digest_job.run(engine, scorecard=scorecard, alert_channel=None, tz=UTC_ZONE, now=now) is None
    assert rows(engine) == {}

    assert digest_job.run(engine, scorecard=scorecard, alert_channel=CHANNEL, tz=UTC_ZONE, now=now)
    (row,) = rows(engine).values()
    blocks = str(row.payload["blocks"])
    assert "none opened from 2026-06-29 09:00 UTC to 2026-07-06 09:00 UTC" in blocks  # the 7 days up to the run
    assert "No scores this week yet" in str(row.payload)


# --------------------------------------------------------------------------- the scheduler


def _settings(database_url: str, fake: FakeSlack, **extra: str) -> Settings:
    environ = {
        "DATABASE_URL": database_url, "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": "s3cret",
        "SLACK_API_URL": fake.url, "ALERT_CHANNEL": CHANNEL, "TIMEZONE": "Europe/Berlin", **extra,
    }  # fmt: skip
    return load_settings(env_file=None, environ=environ)


def test_scheduler_registers_every_job(engine: Engine, database_url: str, fake_slack: FakeSlack) -> None:
    settings = _settings(database_url, fake_slack)
    scheduler = create_scheduler(settings, engine, make_client(settings))

    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {score_job.JOB_ID, escalations_job.JOB_ID, deliver_job.JOB_ID, digest_job.JOB_ID,
                         "tasks.escalations", "churn.review"}  # fmt: skip
    escalations, deliver, digest = jobs[escalations_job.JOB_ID], jobs[deliver_job.JOB_ID], jobs[digest_job.JOB_ID]
    assert isinstance(escalations.trigger, IntervalTrigger) and escalations.trigger.interval == timedelta(minutes=5)
    assert isinstance(deliver.trigger, IntervalTrigger) and deliver.trigger.interval == timedelta(minutes=1)
    assert isinstance(digest.trigger, CronTrigger) and str(digest.trigger.timezone) == "Europe/Berlin"
    fields = {f.name: str(f) for f in digest.trigger.fields}
    assert (fields["day_of_week"], fields["hour"], fields["minute"]) == ("mon", "9", "0")
    assert all(job.max_instances == 1 and job.coalesce for job in jobs.values())


def test_bad_rules_file_stops_the_scheduler_at_start(
    engine: Engine, database_url: str, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    from bot.alerts.rules import RulesError

    bad = tmp_path / "rules.toml"
    bad.write_text('[[rules]]\nname = "x"\nkind = "nonsense"\nseverity = "high_risk"\n', encoding="utf-8")
    settings = _settings(database_url, fake_slack, ALERT_RULES_PATH=str(bad))
    with pytest.raises(RulesError):
        create_scheduler(settings, engine, make_client(settings))


def test_scoring_is_chained_to_alerts_and_delivery(seeded: Engine, database_url: str, fake_slack: FakeSlack) -> None:
    settings = _settings(database_url, fake_slack, TIMEZONE="UTC")
    scheduler = create_scheduler(settings, seeded, make_client(settings))
    assert scheduler.get_job("alerts") is None

    scheduler._dispatch_event(JobExecutionEvent(EVENT_JOB_EXECUTED, score_job.JOB_ID, "default", datetime.now(UTC)))
    chained = scheduler.get_job("alerts")
    assert chained is not None
    chained.func()  # what the scheduler runs once the scoring job has finished

    with unit_of_work(session_factory(seeded)) as session:
        opened, listed = alerts.open_alerts(session), alerts.listed(session)
    # the first run: the accounts already at risk are listed (no thread), in "where we start" messages
    assert listed and not opened, "the demo portfolio has accounts at risk on its last day"
    posted = fake_slack.posted(CHANNEL)
    assert posted and all(m["text"].startswith("Where we start") for m in posted)  # delivered by the chain
    assert all(r.status in ("sent", "failed") for r in rows(seeded).values())

    chained.func()  # a rerun (another replica after this one) posts nothing new
    assert len(fake_slack.posted(CHANNEL)) == len(posted)


# --------------------------------------------------------------------------- healthbot jobs run


def test_jobs_run_needs_a_bot_token(
    cli_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    assert cli.main(["jobs", "run", "deliver"]) == 2
    assert capsys.readouterr().err.startswith("healthbot: SLACK_BOT_TOKEN is not set")


def test_jobs_run_digest_delivers_and_exits(
    cli_env: None, engine: Engine, fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    for name, value in job_settings(fake_slack).items():
        monkeypatch.setenv(name, value)

    assert cli.main(["jobs", "run", "digest"]) == 0
    out = capsys.readouterr().out
    assert "digest: digest:" in out and "delivered 1 message" in out
    assert len(fake_slack.posted(CHANNEL)) == 1

    assert cli.main(["jobs", "run", "digest"]) == 0  # once a week
    assert "delivered 0 messages" in capsys.readouterr().out
    assert len(fake_slack.posted(CHANNEL)) == 1


def test_jobs_run_reports_what_could_not_be_delivered(
    cli_env: None, engine: Engine, fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    for name, value in job_settings(fake_slack).items():
        monkeypatch.setenv(name, value)
    fake_slack.set_response("chat.postMessage", {"ok": False, "error": "not_in_channel"})

    assert cli.main(["jobs", "run", "digest"]) == 1
    assert "1 failed" in capsys.readouterr().out
    (row,) = rows(engine).values()
    assert row.status == "failed" and row.error == "not_in_channel"  # kept, retried later
