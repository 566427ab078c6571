"""The weekly digest per alert channel and per CSM (DM), and the noise controls: quiet hours, a digest-only tier,
snoozed accounts; DIGEST_DAY / DIGEST_TIME / QUIET_HOURS settings. Real database, the demo portfolio, the real
alert job, the outbox and the fake Slack."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.cron import CronTrigger
from slack_sdk.models.blocks import Block
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.alerts.job import run_alerts
from bot.alerts.rules import Rules, RulesError, load_rules
from bot.app import create_scheduler
from bot.calendar import BusinessCalendar, QuietHours
from bot.digest import service as digest_service
from bot.scoring.scorecard import load_scorecard
from bot.settings import SettingsError, load_settings
from bot.slack.client import make_client
from bot.slack.outbox import drain
from jobs import alerts as alerts_job
from jobs import digest as digest_job
from storage import alerts, tasks
from storage.db import session_factory, unit_of_work
from storage.models import Account, Alert, HealthScore, OutboxMessage, Task
from tests.conftest import BOT_TOKEN, DEMO_END
from tests.fake_slack import FakeSlack

UTC_ZONE = ZoneInfo("UTC")
MAIN, SAVE_TEAM = "C0ALERTS01", "C0SAVETEAM1"
MONDAY = datetime(2026, 7, 6, 9, 0, tzinfo=UTC)  # the week 2026-06-29 to 2026-07-05
THURSDAY = datetime(2026, 7, 2, 9, 0, tzinfo=UTC)  # the week 2026-06-25 to 2026-07-01: the demo's last alerts
ROUTED = f"""
[budget]  # threads from the first run on (the first run's listing: test_first_run.py)
first_run = "open"
threads_per_channel_per_day = 100

[routing]
tiers = {{ high_risk = "{SAVE_TEAM}" }}

[[rules]]
name = "tier_dropped"
kind = "tier_dropped"
severity = "medium_risk"
into = ["medium_risk", "high_risk"]

[[rules]]
name = "low_score"
kind = "score_below"
severity = "high_risk"
below = 40
days = 3
"""


def write_rules(tmp_path: Path, text: str) -> Rules:
    path = tmp_path / "rules.toml"
    path.write_text(text, encoding="utf-8")
    return load_rules(path, load_scorecard())


def outbox_rows(engine: Engine) -> dict[str, OutboxMessage]:
    with Session(engine) as s:
        return {m.key: m for m in s.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))}


def digests(engine: Engine) -> dict[str, OutboxMessage]:
    return {k: m for k, m in outbox_rows(engine).items() if k.startswith("digest:")}


def check_block_kit(blocks: list[dict[str, Any]]) -> None:
    """What Slack refuses: more than 50 blocks, a block slack_sdk cannot parse or validate, texts over limits."""
    assert 0 < len(blocks) <= 50
    for block in blocks:
        parsed = Block.parse(block)
        assert parsed is not None, block
        parsed.validate_json()
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150
        if block["type"] == "section" and "text" in block:
            assert len(block["text"]["text"]) <= 3000
        for element in block.get("elements", []):
            assert len(element.get("text", "")) <= 2000


def client_for(fake: FakeSlack) -> Any:
    return make_client(load_settings(env_file=None, environ={"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_API_URL": fake.url}))


def send(engine: Engine, fake: FakeSlack, at: datetime | None = None) -> int:
    clock = (lambda: at.timestamp()) if at is not None else None
    extra: dict[str, Any] = {"now": clock} if clock else {}
    return drain(session_factory(engine), client_for(fake), per_channel_interval=0, max_wait=0, **extra).sent


@pytest.fixture
def demo_week(seeded: Engine, tmp_path: Path) -> tuple[Engine, Rules]:
    """The demo portfolio with the alert job run for the last seven scored days (each as of the next morning),
    one alert saved and one snoozed by hand, as a week of use leaves it."""
    rules = write_rules(tmp_path, ROUTED)
    scorecard = load_scorecard()
    for k in range(6, -1, -1):
        day = DEMO_END - timedelta(days=k)
        summary = alerts_job.run(
            seeded, rules=rules, scorecard=scorecard, calendar=BusinessCalendar(), alert_channel=MAIN, day=day,
            now=datetime.combine(day + timedelta(days=1), time(7), tzinfo=UTC),
        )  # fmt: skip
        assert summary is not None
    with unit_of_work(session_factory(seeded)) as session:
        opened = alerts.open_alerts(session)
        assert len(opened) >= 3, "the demo portfolio raises alerts in its last week"
        saved, snoozed = opened[0], opened[1]
        assert alerts.resolve(session, saved.id or 0, "saved", "U01CSM0001", datetime(2026, 6, 30, 15, tzinfo=UTC))
        assert alerts.snooze(
            session, snoozed.id or 0, "U01CSM0002", until=datetime(2026, 7, 9, 9, tzinfo=UTC), tier=None
        )
    return seeded, rules


def test_digest_on_the_demo_data_per_channel_and_per_csm(
    demo_week: tuple[Engine, Rules], fake_slack: FakeSlack
) -> None:
    engine, rules = demo_week
    scorecard = load_scorecard()
    with Session(engine) as s:
        # what the alert job did in the seven days up to the digest's run
        week_alerts = s.exec(select(Alert).where(col(Alert.opened_at) >= THURSDAY - timedelta(days=7))).all()
        open_tasks = s.exec(select(Task).where(Task.status == "open")).all()
        owners = {a.owner_slack_id for a in s.exec(select(Account)).all()}
    assert open_tasks, "the playbooks gave the week's alerts tasks"

    key = digest_job.run(
        engine, scorecard=scorecard, alert_channel=MAIN, tz=UTC_ZONE, now=THURSDAY, rules=rules, dms=True
    )  # fmt: skip

    assert key == "digest:2026-W27"
    rows = digests(engine)
    assert {"digest:2026-W27", f"digest:2026-W27:{SAVE_TEAM}"} <= set(rows)
    dm_rows = {k: m for k, m in rows.items() if ":dm:" in k}
    assert dm_rows and {m.channel for m in dm_rows.values()} <= owners
    assert all(m.channel == k.rsplit(":", 1)[1] for k, m in dm_rows.items())
    for row in rows.values():
        check_block_kit(row.payload["blocks"])
        assert row.payload["text"]

    # each channel counts the alerts posted there; together they are the seven days' (up to a digest run on
    # Wednesday: the first alert run's, on the Thursday before at 07:00, are in them)
    wednesday = THURSDAY - timedelta(days=1)
    with Session(engine) as session:
        week = digest_service.gather(session, scorecard, wednesday, UTC_ZONE, rules)
        seven_days = session.exec(select(Alert).where(col(Alert.opened_at) >= wednesday - timedelta(days=7))).all()
    per_channel = {
        a.channel: digest_service.stats(week, scorecard.tiers, a, UTC_ZONE).opened
        for a in digest_service.audiences(week, wednesday, UTC_ZONE, MAIN, rules)
        if a.user is None
    }
    assert sum(per_channel.values()) == len(seven_days) and per_channel[SAVE_TEAM] > 0
    with Session(engine) as session:
        week = digest_service.gather(session, scorecard, THURSDAY, UTC_ZONE, rules)
    assert len(week.opened) == len(week_alerts)
    everything = digest_service.stats(week, scorecard.tiers, None, UTC_ZONE)
    assert everything.saves and everything.snoozed and everything.tasks_open == len(open_tasks)
    assert everything.mrr_at_risk > 0 and everything.at_risk > 0
    assert sum(n for _, n, _ in everything.tier_counts) == len(week.tier_now)

    main = json.dumps(rows["digest:2026-W27"].payload["blocks"])
    save_team = json.dumps(rows[f"digest:2026-W27:{SAVE_TEAM}"].payload["blocks"])
    for text in ("Weekly risk digest: 2026-06-25 to 2026-07-01", "MRR at risk", "Tier movements",
                 "Playbook tasks", "Save rate per play"):  # fmt: skip
        assert text in main and text in save_team, text
    assert "Saves this week" in main + save_team and "Snoozed accounts" in main + save_team
    # a CSM's DM: their open tasks (overdue first) by title, their accounts only
    user, dm = next((m.channel, m) for m in dm_rows.values() if "Playbook tasks*: " in json.dumps(m.payload))
    mine = [t for t in open_tasks if t.assignee == user]
    dm_text = json.dumps(dm.payload["blocks"])
    assert "Your weekly risk digest" in dm_text and mine[0].title.split()[0] in dm_text
    assert f"{len(mine)} open" in dm_text

    # delivered once per channel and once per CSM; a rerun in the same week posts nothing
    assert send(engine, fake_slack) >= len(rows)
    for channel in (MAIN, SAVE_TEAM):
        assert len([m for m in fake_slack.posted(channel) if m["text"].startswith("Weekly risk digest")]) == 1
    assert len(fake_slack.posted(f"D{user}")) >= 1
    before = len(outbox_rows(engine))
    assert digest_job.run(engine, scorecard=scorecard, alert_channel=MAIN, tz=UTC_ZONE,
                          now=THURSDAY + timedelta(hours=30), rules=rules, dms=True) == key  # fmt: skip
    assert len(outbox_rows(engine)) == before and send(engine, fake_slack) == 0


def test_quiet_hours_defer_the_digest_and_the_dms(demo_week: tuple[Engine, Rules], fake_slack: FakeSlack) -> None:
    engine, rules = demo_week
    quiet = QuietHours(time(8, 0), time(10, 30), UTC_ZONE)
    digest_job.run(engine, scorecard=load_scorecard(), alert_channel=MAIN, tz=UTC_ZONE, now=THURSDAY, rules=rules,
                   quiet_hours=quiet, dms=True)  # fmt: skip

    rows = digests(engine)
    assert rows and any(":dm:" in k for k in rows)
    end = datetime(2026, 7, 2, 10, 30, tzinfo=UTC)
    assert {m.next_attempt_at.replace(tzinfo=UTC) for m in rows.values() if m.next_attempt_at} == {end}
    assert send(engine, fake_slack, at=end - timedelta(minutes=1)) == 0  # inside quiet hours: nothing
    assert fake_slack.posted() == [] or not any("digest" in str(m) for m in fake_slack.posted())
    assert send(engine, fake_slack, at=end + timedelta(minutes=1)) >= len(rows)
    assert len([m for m in fake_slack.posted(MAIN) if m["text"].startswith("Weekly risk digest")]) == 1


def test_quiet_hours_defer_a_new_alerts_dm_but_not_its_thread(engine: Engine, tmp_path: Path) -> None:
    rules = write_rules(tmp_path, ROUTED)
    with unit_of_work(session_factory(engine)) as s:
        account = Account(external_id="ACC-1", name="Acme", name_lower="acme", owner_slack_id="U0OWNER001", mrr=900)
        s.add(account)
        s.flush()
        s.add(HealthScore(account_id=account.id or 0, day=date(2026, 3, 2), score=80, tier="healthy"))
        s.add(HealthScore(account_id=account.id or 0, day=date(2026, 3, 3), score=50, tier="medium_risk"))
    night = datetime(2026, 3, 3, 23, 0, tzinfo=UTC)
    quiet = QuietHours(time(20, 0), time(8, 0), UTC_ZONE)
    with unit_of_work(session_factory(engine)) as session:
        summary = run_alerts(
            session, rules=rules, scorecard=load_scorecard(), calendar=BusinessCalendar(), alert_channel=MAIN,
            day=date(2026, 3, 3), now=night, quiet_hours=quiet,
        )  # fmt: skip
    (alert_id,) = summary.opened
    rows = outbox_rows(engine)
    morning = datetime(2026, 3, 4, 8, 0, tzinfo=UTC)
    dms = [m for k, m in rows.items() if k.startswith("alerts:dm:") or k == f"alert:{alert_id}:dm" or ":dm:" in k]
    assert dms and all(m.next_attempt_at and m.next_attempt_at.replace(tzinfo=UTC) == morning for m in dms)
    root = rows[f"alert:{alert_id}:root"]
    assert root.next_attempt_at and root.next_attempt_at.replace(tzinfo=UTC) != morning  # a channel is no DM


def test_a_digest_only_tier_opens_no_thread_but_is_in_the_digest(engine: Engine, tmp_path: Path) -> None:
    rules = write_rules(tmp_path, ROUTED.replace("[routing]", '[routing]\ndigest_only = ["medium_risk"]'))
    ids = {}
    with unit_of_work(session_factory(engine)) as s:
        for name, values in (("Quiet Co", [80] * 7 + [50]), ("Loud Co", [80] * 7 + [35])):
            account = Account(external_id=name, name=name, name_lower=name.lower(), owner_slack_id="U0OWNER001",
                              mrr=1000, status="active")  # fmt: skip
            s.add(account)
            s.flush()
            ids[name] = account.id or 0
            for k, value in enumerate(values):
                tier = {80: "healthy", 50: "medium_risk", 35: "high_risk"}[value]
                s.add(
                    HealthScore(account_id=ids[name], day=date(2026, 6, 23) + timedelta(days=k), score=value, tier=tier)
                )
    for day in (date(2026, 6, 29), date(2026, 6, 30)):
        alerts_job.run(engine, rules=rules, scorecard=load_scorecard(), calendar=BusinessCalendar(),
                       alert_channel=MAIN, day=day, now=datetime.combine(day, time(7), tzinfo=UTC))  # fmt: skip

    with Session(engine) as s:
        alerted = set(s.exec(select(Alert.account_id)).all())
    assert alerted == {ids["Loud Co"]}  # the medium-risk drop opened no thread

    digest_job.run(engine, scorecard=load_scorecard(), alert_channel=MAIN, tz=UTC_ZONE, now=MONDAY, rules=rules)
    rows = digests(engine)
    main = json.dumps(rows["digest:2026-W28"].payload["blocks"])
    assert "Digest-only tiers* (1 account " in main and "Quiet Co: tier dropped from Healthy to Medium risk" in main
    assert "Quiet Co: Medium risk, $1,000 MRR (digest only: no alert thread)" in main
    assert "Loud Co" not in main  # routed to the save team's channel, where its alert went
    save_team = json.dumps(rows[f"digest:2026-W28:{SAVE_TEAM}"].payload["blocks"])
    assert "Loud Co: High risk, $1,000 MRR (alert thread open)" in save_team and "Quiet Co" not in save_team
    assert "1 opened" in save_team and "Digest-only" not in save_team


def test_digest_only_names_a_tier(tmp_path: Path) -> None:
    with pytest.raises(RulesError) as info:
        write_rules(tmp_path, '[routing]\ndigest_only = ["medium_rsik"]\n')
    assert "routing.digest_only[0]: unknown tier 'medium_rsik'" in str(info.value)
    assert "did you mean 'medium_risk'" in str(info.value)


# --------------------------------------------------------------------------- settings and the schedule


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("DIGEST_DAY", "Funday", "DIGEST_DAY='Funday' is not a day of the week"),
        ("DIGEST_DAY", "1", "DIGEST_DAY='1' is not a day of the week"),
        ("DIGEST_TIME", "9am", "DIGEST_TIME='9am' is not a time of day: use HH:MM"),
        ("QUIET_HOURS", "nights", "QUIET_HOURS='nights' is not a time range: use HH:MM-HH:MM"),
        ("QUIET_HOURS", "22:00-22:00", "QUIET_HOURS='22:00-22:00' starts and ends at the same time"),
        ("QUIET_HOURS", "19:00-25:00", "QUIET_HOURS='19:00-25:00' is not a time range"),
    ],
)
def test_digest_settings_errors_are_one_line_naming_the_setting(name: str, value: str, says: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(env_file=None, environ={name: value})
    assert str(info.value).startswith(says) and "\n" not in str(info.value)


def test_digest_settings_are_parsed() -> None:
    default = load_settings(env_file=None, environ={})
    assert (default.digest_day, default.digest_time, default.quiet_hours) == ("mon", time(9, 0), None)

    environ = {
        "DIGEST_DAY": "Friday",
        "DIGEST_TIME": "16:30",
        "QUIET_HOURS": "19:00-08:00",
        "TIMEZONE": "Europe/Berlin",
    }
    settings = load_settings(env_file=None, environ=environ)
    assert (settings.digest_day, settings.digest_time) == ("fri", time(16, 30))
    quiet = settings.quiet_hours
    assert quiet is not None and quiet.tz == ZoneInfo("Europe/Berlin")
    late = datetime(2026, 7, 6, 21, 0, tzinfo=UTC)  # 23:00 in Berlin
    assert quiet.contains(late) and not quiet.contains(datetime(2026, 7, 6, 10, 0, tzinfo=UTC))
    assert quiet.after(late) == datetime(2026, 7, 7, 6, 0, tzinfo=UTC)  # 08:00 in Berlin
    early = datetime(2026, 7, 7, 4, 0, tzinfo=UTC)  # 06:00 in Berlin: the same night
    assert quiet.after(early) == datetime(2026, 7, 7, 6, 0, tzinfo=UTC)
    noon = datetime(2026, 7, 7, 10, 0, tzinfo=UTC)
    assert quiet.after(noon) == noon


def test_the_scheduler_posts_the_digest_at_digest_day_and_time(
    engine: Engine, database_url: str, fake_slack: FakeSlack
) -> None:
    settings = load_settings(env_file=None, environ={
        "DATABASE_URL": database_url, "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": "s3cret",
        "SLACK_API_URL": fake_slack.url, "ALERT_CHANNEL": MAIN, "TIMEZONE": "America/New_York",
        "DIGEST_DAY": "thu", "DIGEST_TIME": "15:45",
    })  # fmt: skip
    scheduler = create_scheduler(settings, engine, make_client(settings))
    job = scheduler.get_job(digest_job.JOB_ID)
    assert job is not None and isinstance(job.trigger, CronTrigger)
    fields = {f.name: str(f) for f in job.trigger.fields}
    assert (fields["day_of_week"], fields["hour"], fields["minute"]) == ("thu", "15", "45")
    assert str(job.trigger.timezone) == "America/New_York"


def test_a_csm_with_nothing_to_report_gets_no_dm(engine: Engine) -> None:
    with unit_of_work(session_factory(engine)) as s:
        s.add(Account(external_id="A", name="Calm", name_lower="calm", owner_slack_id="U0CALM0001", mrr=10))
    digest_job.run(engine, scorecard=load_scorecard(), alert_channel=MAIN, tz=UTC_ZONE, now=MONDAY, dms=True)
    assert set(digests(engine)) == {"digest:2026-W28"}


def test_an_overdue_task_shows_in_the_channel_with_its_assignee(engine: Engine) -> None:
    with unit_of_work(session_factory(engine)) as s:
        account = Account(external_id="A", name="Acme", name_lower="acme", owner_slack_id="U0OWNER001", mrr=10)
        s.add(account)
        s.flush()
        alert = alerts.create(s, Alert(account_id=account.id or 0, severity="high_risk", opened_on=date(2026, 7, 1),
                                       last_fired_on=date(2026, 7, 1), opened_at=datetime(2026, 7, 1, tzinfo=UTC),
                                       due_at=datetime(2026, 7, 1, 4, tzinfo=UTC), channel=MAIN))  # fmt: skip
        tasks.create(s, [
            Task(alert_id=alert.id or 0, account_id=account.id or 0, playbook="high_risk", step=1,
                 title="Call the sponsor", owner_role="CSM", assignee="U0OWNER001",
                 due_at=datetime(2026, 7, 2, 12, tzinfo=UTC)),
            Task(alert_id=alert.id or 0, account_id=account.id or 0, playbook="high_risk", step=2,
                 title="Plan the rescue", owner_role="CSM", assignee="U0OWNER001",
                 due_at=datetime(2026, 7, 9, 12, tzinfo=UTC)),
        ])  # fmt: skip
    digest_job.run(engine, scorecard=load_scorecard(), alert_channel=MAIN, tz=UTC_ZONE, now=MONDAY, dms=True)
    rows = digests(engine)
    channel = json.dumps(rows["digest:2026-W28"].payload["blocks"])
    assert "2 open, 1 overdue" in channel and "Call the sponsor (Acme) <@U0OWNER001>, due 2026-07-02 12:00" in channel
    assert "Plan the rescue" not in channel  # a channel lists the overdue ones only
    dm = json.dumps(rows["digest:2026-W28:dm:U0OWNER001"].payload["blocks"])
    assert dm.index("Call the sponsor") < dm.index("Plan the rescue")  # overdue first
