"""Playbook tasks (issue 11) on a real database: created per playbook when an alert opens, assigned (owner, else
the claimer, else round-robin over TEAM), due on the business calendar, drawn in the thread with an outreach draft
and DMed once; claimed through signed HTTP; overdue tasks escalating on the calendar, once."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.alerts.ids import AlertIds
from bot.alerts.rules import Rules, load_rules
from bot.alerts.values import AlertRef
from bot.calendar import BusinessCalendar
from bot.retention import messages
from bot.retention.ids import RetentionIds
from bot.retention.playbooks import PlaybookError, load_playbooks
from bot.retention.service import redraw_tasks
from bot.retention.values import TaskRef
from bot.scoring.scorecard import load_scorecard
from bot.settings import SettingsError, load_settings
from bot.slack import outbox as sender
from bot.slack.blocks import validate_blocks
from bot.slack.client import make_client
from bot.slack.values import decode, encode
from jobs import alerts as alert_job
from jobs import task_escalations
from storage import tasks as store
from storage.db import session_factory, unit_of_work
from storage.models import Account, Alert, HealthScore, MetricObservation, OutboxMessage, Task
from storage.types import Driver, ScoreParts
from tests.conftest import BotServer
from tests.fake_slack import FakeSlack

D0 = date(2026, 3, 2)  # a Monday
CHANNEL = "C0ALERTS01"
OWNER, CLAIMER, LEAD, HEAD = "U0OWNER001", "U0CLAIM001", "U0LEAD0001", "U0HEAD0001"
TEAM = ("U0TEAMAAA1", "U0TEAMBBB1")
UTC_ZONE = ZoneInfo("UTC")
CALENDAR = BusinessCalendar()  # Mon-Fri 09:00-17:00 UTC
RULES = """
[budget]  # the thread behaviour of a later run from the first (the first run's listing: test_first_run.py)
first_run = "open"
one_dm_per_run = false

[[rules]]
name = "dropped"
kind = "tier_dropped"
severity = "medium_risk"
"""
TIER = {80: "healthy", 50: "medium_risk", 35: "high_risk"}
TIERS = load_scorecard().tiers


def day(n: int) -> date:
    return D0 + timedelta(days=n)


def at(d: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(d, time(hour, minute), tzinfo=UTC)


def utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@pytest.fixture
def rules(tmp_path: Path) -> Rules:
    path = tmp_path / "rules.toml"
    path.write_text(RULES)
    return load_rules(path, load_scorecard())


def add_account(engine: Engine, external_id: str, owner: str | None, values: list[int]) -> int:
    """An account with a score a day from day(0) on (the last one with a driver), and 8 weeks of logins that
    halved in the last 4."""
    with unit_of_work(session_factory(engine)) as s:
        account = Account(external_id=external_id, name=f"{external_id} Inc", name_lower=f"{external_id.lower()} inc",
                          owner_slack_id=owner, mrr=1000.0)  # fmt: skip
        s.add(account)
        s.flush()
        assert account.id is not None
        parts = ScoreParts(drivers=[Driver(measure="logins_trend", points=-12.0, reason="logins -50 % vs prior")])
        for i, value in enumerate(values):
            s.add(HealthScore(account_id=account.id, day=day(i), score=value, tier=TIER[value], parts=parts))
        last = day(len(values) - 1)
        for back in range(56):
            s.add(MetricObservation(account_id=account.id, day=last - timedelta(days=back), metric="logins",
                                    value=5.0 if back < 28 else 10.0))  # fmt: skip
        return account.id


def run_alerts(engine: Engine, rules: Rules, n: int, now: datetime) -> alert_job.AlertRunSummary:
    summary = alert_job.run(engine, rules=rules, scorecard=load_scorecard(), calendar=CALENDAR, alert_channel=CHANNEL,
                            day=day(n), now=now)  # fmt: skip
    assert summary is not None
    return summary


def tasks_of(engine: Engine, account_id: int) -> list[Task]:
    with Session(engine) as s:
        rows = s.exec(select(Task).where(Task.account_id == account_id).order_by(col(Task.step))).all()
        for r in rows:
            s.expunge(r)
        return list(rows)


def alert_of(engine: Engine, account_id: int) -> Alert:
    with Session(engine) as s:
        alert = s.exec(select(Alert).where(Alert.account_id == account_id)).one()
        s.expunge(alert)
        return alert


def outbox_keys(engine: Engine) -> list[str]:
    with Session(engine) as s:
        return list(s.exec(select(OutboxMessage.key).order_by(col(OutboxMessage.id))).all())


def drain(engine: Engine, fake: FakeSlack) -> int:
    client = make_client(load_settings(env_file=None, environ={"SLACK_BOT_TOKEN": "xoxb-t", "SLACK_API_URL": fake.url}))
    return sender.drain(session_factory(engine), client, per_channel_interval=0, max_wait=0).sent


def blocks_of(message: dict[str, Any]) -> list[dict[str, Any]]:
    blocks = message["blocks"]
    return blocks if isinstance(blocks, list) else json.loads(blocks)


def click_claim(server: BotServer, user: str, alert_id: int, root_ts: str) -> None:
    payload = {
        "type": "block_actions", "team": {"id": "T1", "domain": "test"},
        "user": {"id": user, "username": user.lower(), "team_id": "T1"}, "api_app_id": "A1", "token": "legacy",
        "container": {"type": "message", "message_ts": root_ts, "channel_id": CHANNEL, "is_ephemeral": False},
        "trigger_id": f"1337.{user}", "channel": {"id": CHANNEL, "name": "cs-alerts"},
        "message": {"ts": root_ts, "text": "alert"}, "response_url": server.fake.response_url("action"),
        "actions": [{"block_id": "b1", "action_ts": "1.2", "type": "button", "action_id": AlertIds.CLAIM,
                     "value": encode(AlertRef(alert_id=alert_id))}],
    }  # fmt: skip
    body = urlencode({"payload": json.dumps(payload)}).encode()
    assert server.post_signed(body, "application/x-www-form-urlencoded").status_code == 200


# --------------------------------------------------------------------------- the playbooks file


def test_the_shipped_playbooks_load_and_mistakes_name_the_tier_step_and_key() -> None:
    books = load_playbooks(tiers=TIERS.order)
    assert [s.title for s in books["high_risk"].steps][0].startswith("Form a save team")
    assert books["high_risk"].steps[0].due_hours == 4 and books["high_risk"].steps[1].due_days == 1
    assert books["high_risk"].template == "save_call"

    good = {"owner": "CSM", "respond_hours": 4, "steps": [{"title": "Call", "owner": "CSM", "due": "4 business hours"}]}
    cases = {
        "due = '4 hours' is not an offset": {"steps": [{"title": "Call", "owner": "CSM", "due": "4 hours"}]},
        "step 1: template = 'nope' is not in prompts/outreach.toml": {
            "steps": [{"title": "Call", "owner": "CSM", "due": "1 business day", "template": "nope"}]
        },
        "step 1: unknown key 'assignee'": {
            "steps": [{"title": "Call", "owner": "CSM", "due": "1 business day", "assignee": "U1"}]
        },
        "step 1: title is missing or empty": {"steps": [{"owner": "CSM", "due": "1 business day"}]},
        "no SLA": {"respond_hours": None},
    }
    for expected, change in cases.items():
        entry = {k: v for k, v in {**good, **change}.items() if v is not None}
        with pytest.raises(PlaybookError, match="prompts/playbooks.toml \\[high_risk\\]") as error:
            load_playbooks({"high_risk": entry})
        assert expected in str(error.value), error.value
    with pytest.raises(PlaybookError, match="no tier of that name"):
        load_playbooks({"urgent": good}, tiers=TIERS.order)


def test_team_setting_takes_member_ids_and_names_the_setting_when_wrong() -> None:
    assert load_settings(env_file=None, environ={"TEAM": " U0TEAMAAA1, U0TEAMBBB1 ,"}).team == TEAM
    assert load_settings(env_file=None, environ={}).team == ()
    with pytest.raises(SettingsError, match="^TEAM: '@anna' is not a Slack member ID"):
        load_settings(env_file=None, environ={"TEAM": "U0TEAMAAA1,@anna"})


# --------------------------------------------------------------------------- an alert opens: its tasks


def test_an_alert_opening_creates_its_playbook_tasks_posts_them_once_and_a_claim_takes_the_unassigned(
    engine: Engine, rules: Rules, bot_server: BotServer, fake_slack: FakeSlack
) -> None:
    owned = add_account(engine, "ACC-OWNED", OWNER, [80, 35])  # into high risk: its owner's tasks
    orphan = add_account(engine, "ACC-ORPHAN", None, [80, 50])  # into medium risk: no owner
    now = at(day(2), 7)  # Wednesday 07:00, before opening

    run_alerts(engine, rules, 1, now)

    owned_tasks, orphan_tasks = tasks_of(engine, owned), tasks_of(engine, orphan)
    assert [(t.step, t.owner_role, t.assignee, t.playbook) for t in owned_tasks] == [
        (1, "CSM", OWNER, "high_risk"), (2, "CSM", OWNER, "high_risk"), (3, "Executive", OWNER, "high_risk"),
    ]  # fmt: skip
    # business calendar: 4 business hours from Wed 07:00 = 13:00; 1 business day = Thu at opening; 3 = Mon
    assert [utc(t.due_at) for t in owned_tasks] == [at(day(2), 13), at(day(3), 9), at(day(7), 9)]
    assert [t.assignee for t in orphan_tasks] == [None, None, None]
    # medium: 8 business hours = Wed 17:00; 2 business days = Fri 09:00; 3 = Mon 09:00
    assert [utc(t.due_at) for t in orphan_tasks] == [at(day(2), 17), at(day(4), 9), at(day(7), 9)]

    keys = outbox_keys(engine)
    a_owned, a_orphan = alert_of(engine, owned), alert_of(engine, orphan)
    first = owned_tasks[0].id
    for alert_id in (a_owned.id, a_orphan.id):
        assert f"alert:{alert_id}:tasks" in keys and f"alert:{alert_id}:draft" in keys
    assert f"alert:{a_owned.id}:dm" in keys and not [k for k in keys if k.startswith("task:")]  # one DM: below
    assert not [k for k in keys if k.startswith(f"task:{orphan_tasks[0].id}:dm")]  # nobody to tell yet

    # rerunning the job creates and enqueues nothing new
    run_alerts(engine, rules, 1, now + timedelta(minutes=5))
    assert outbox_keys(engine) == keys
    assert len(tasks_of(engine, owned)) == 3

    assert drain(engine, fake_slack) == len(keys)
    posted = fake_slack.posted(CHANNEL)
    root = next(m for m in posted if "thread_ts" not in m and "ACC-OWNED" in m["text"])
    in_thread = [m for m in posted if m.get("thread_ts") == root["ts"]]
    assert len(in_thread) == 2
    task_list, draft = (next(m for m in in_thread if m["text"].startswith(p)) for p in ("Playbook", "Outreach"))
    for message in (task_list, draft):
        validate_blocks(blocks_of(message))
    listed = json.dumps(blocks_of(task_list))
    assert "Form a save team" in listed and f"<@{OWNER}>" in listed
    buttons = [b["accessory"] for b in blocks_of(task_list) if "accessory" in b]
    assert [b["action_id"] for b in buttons] == [RetentionIds.MARK_DONE] * 3
    assert decode(TaskRef, buttons[0]["value"]) == TaskRef(task_id=first or 0, version=1)
    drafted = json.dumps(blocks_of(draft))
    assert "ACC-OWNED Inc" in drafted and f"<@{OWNER}>" in drafted  # the customer and the owner
    assert "logins -50 % vs prior" in drafted  # the drivers
    assert "logins: 140 in the last 28 days (-50 % vs the 28 days before)" in drafted  # recent usage
    dms = fake_slack.posted(f"D{OWNER}")  # the alert and its tasks reach the owner as ONE DM, not two
    assert len(dms) == 1 and "3 tasks for you" in dms[0]["text"]
    assert "ACC-OWNED Inc" in json.dumps(blocks_of(dms[0])) and "Form a save team" in json.dumps(blocks_of(dms[0]))

    # a claim through signed HTTP gives the claimer the unassigned tasks, redraws the list and DMs them once
    orphan_root = next(m for m in posted if "thread_ts" not in m and "ACC-ORPHAN" in m["text"])
    updates_before = len(fake_slack.calls_to("chat.update"))
    click_claim(bot_server, CLAIMER, a_orphan.id or 0, orphan_root["ts"])
    fake_slack.wait_for("chat.update", updates_before + 2)  # the root and the task list
    assert [t.assignee for t in tasks_of(engine, orphan)] == [CLAIMER] * 3
    orphan_list = next(m for m in posted if m.get("thread_ts") == orphan_root["ts"] and m["text"].startswith("Play"))
    redrawn = [c for c in fake_slack.calls_to("chat.update") if c.params["ts"] == orphan_list["ts"]]
    assert len(redrawn) == 1 and f"<@{CLAIMER}>" in json.dumps(redrawn[0].params["blocks"])
    assert len([m for m in fake_slack.posted(f"D{CLAIMER}") if "new tasks" in m["text"]]) == 1
    with Session(engine) as s:
        history = store.history(s, orphan_tasks[0].id or 0)
    assert [(e.kind, e.actor) for e in history] == [("created", None), ("assigned", CLAIMER)]
    # a second claimer (already claimed) changes nothing
    click_claim(bot_server, "U0LATECOMER", a_orphan.id or 0, orphan_root["ts"])
    assert [t.assignee for t in tasks_of(engine, orphan)] == [CLAIMER] * 3


def test_redraw_tasks_posts_the_list_once_then_one_update_per_change(engine: Engine, rules: Rules) -> None:
    acc = add_account(engine, "ACC-1", OWNER, [80, 35])
    run_alerts(engine, rules, 1, at(day(2), 7))
    alert = alert_of(engine, acc)
    [t1, *_] = tasks_of(engine, acc)
    with unit_of_work(session_factory(engine)) as s:
        redraw_tasks(s, alert.id or 0, TIERS, UTC_ZONE)  # nothing changed: the same key again, nothing new
    assert not [k for k in outbox_keys(engine) if ":tasks:v" in k]
    with unit_of_work(session_factory(engine)) as s:
        assert store.close(s, t1.id or 0, version=1, outcome="done", by=OWNER, notes="Called them", next_step="Demo",
                           next_step_on=day(9))  # fmt: skip
        redraw_tasks(s, alert.id or 0, TIERS, UTC_ZONE)
        redraw_tasks(s, alert.id or 0, TIERS, UTC_ZONE)
    redraws = [k for k in outbox_keys(engine) if ":tasks:v" in k]
    assert redraws == [f"alert:{alert.id}:tasks:v4"]
    with Session(engine) as s:
        row = s.exec(select(OutboxMessage).where(OutboxMessage.key == redraws[0])).one()
    assert row.target_key == f"alert:{alert.id}:tasks" and row.method == "chat.update"
    shown = json.dumps(row.payload["blocks"])
    assert f"Done by <@{OWNER}>" in shown and "Next: Demo (2026-03-11)" in shown and "Called them" in shown
    assert len([b for b in row.payload["blocks"] if "accessory" in b]) == 2  # no button on the closed task


def test_a_resolved_alert_closes_its_open_tasks_and_redraws_the_list(engine: Engine, rules: Rules) -> None:
    """A saved or recovered account's tasks must not stay open, escalate and count as overdue in the digest."""
    acc = add_account(engine, "ACC-9", OWNER, [80, 35])
    run_alerts(engine, rules, 1, at(day(2), 7))
    assert alert_of(engine, acc).status == "open"
    [t1, *_] = tasks_of(engine, acc)
    with unit_of_work(session_factory(engine)) as s:
        assert store.close(s, t1.id or 0, version=1, outcome="done", by=OWNER)
    rules_quick = rules.model_copy(update={"alerts": rules.alerts.model_copy(update={"recover_days": 1})})
    with unit_of_work(session_factory(engine)) as s:  # the account recovered: no firing on the next day
        s.add(HealthScore(account_id=acc, day=day(2), score=80, tier="healthy", parts=ScoreParts()))
    summary = run_alerts(engine, rules_quick, 2, at(day(3), 7))
    assert summary.recovered == 1
    statuses = [(t.status, t.notes) for t in tasks_of(engine, acc)]
    assert statuses[0] == ("done", None)
    assert statuses[1:] == [("not_needed", "alert resolved: recovered")] * (len(statuses) - 1)
    assert alert_of(engine, acc).outcome == "recovered"
    assert [k for k in outbox_keys(engine) if ":tasks:v" in k]  # the thread's list shows them closed


# --------------------------------------------------------------------------- the task escalation job


def test_unclaimed_alerts_tasks_go_round_robin_over_team_after_the_response_time(
    engine: Engine, rules: Rules, fake_slack: FakeSlack
) -> None:
    one = add_account(engine, "ACC-A", None, [80, 50])
    two = add_account(engine, "ACC-B", None, [80, 50])
    three = add_account(engine, "ACC-C", None, [80, 50])
    run_alerts(engine, rules, 1, at(day(2), 7))  # medium risk: respond within 24 hours, due Thu 07:00 -> 09:00
    esc = lambda now: task_escalations.run(engine, calendar=CALENDAR, tiers=TIERS, tz=UTC_ZONE,  # noqa: E731
                                           cs_lead=LEAD, team=TEAM, now=now)  # fmt: skip

    assert esc(at(day(2), 15)).handed_out == {}  # not past the response time yet
    summary = esc(at(day(3), 10))
    assert sorted(summary.handed_out.values()) == sorted([TEAM[0], TEAM[1], TEAM[0]])
    assert {t.assignee for t in tasks_of(engine, one)} == {summary.handed_out[alert_of(engine, one).id or 0]}
    assert esc(at(day(3), 10, 5)).handed_out == {}  # nothing left to hand out
    four = add_account(engine, "ACC-D", None, [80, 80, 50])
    run_alerts(engine, rules, 2, at(day(3), 11))
    later = esc(at(day(4), 12)).handed_out
    assert later == {alert_of(engine, four).id: TEAM[1]}  # the turn goes on from where it was
    assert drain(engine, fake_slack) > 0
    assert len([m for m in fake_slack.posted(f"D{TEAM[0]}") if "new tasks" in m["text"]]) == 2
    assert {t.assignee for t in tasks_of(engine, two) + tasks_of(engine, three)} <= set(TEAM)


def test_an_overdue_task_escalates_on_the_calendar_once_then_to_the_cs_head(
    engine: Engine, rules: Rules, fake_slack: FakeSlack
) -> None:
    acc = add_account(engine, "ACC-LATE", OWNER, [80, 35])
    run_alerts(engine, rules, 1, at(day(4), 7))  # Friday 07:00: step 1 due Friday 13:00
    alert = alert_of(engine, acc)
    [t1, t2, t3] = tasks_of(engine, acc)
    assert utc(t1.due_at) == at(day(4), 13)

    def esc(now: datetime) -> task_escalations.TaskEscalationSummary:
        return task_escalations.run(engine, calendar=CALENDAR, tiers=TIERS, tz=UTC_ZONE, cs_lead=LEAD, cs_head=HEAD,
                                    now=now)  # fmt: skip

    assert esc(at(day(4), 12)).escalated == {1: [], 2: []}  # not due yet
    assert esc(at(day(4), 18)).closed  # overdue since 13:00, but Friday evening: nobody is told
    assert esc(at(day(5), 3)).closed  # nor at 3 a.m. on Saturday
    first = esc(at(day(7), 9))  # Monday's opening
    assert first.escalated == {1: [t1.id], 2: []}
    assert esc(at(day(7), 9)).escalated == {1: [], 2: []}  # the job run twice: once
    assert esc(at(day(7), 9, 5)).escalated == {1: [t2.id], 2: []}  # step 2 was due at Monday's opening
    [t1_now, *_] = tasks_of(engine, acc)
    assert (t1_now.escalation_level, utc(t1_now.escalated_at or t1_now.due_at)) == (1, at(day(7), 9))
    with Session(engine) as s:
        assert [e.kind for e in store.history(s, t1.id or 0)] == ["created", "overdue"]
    assert f"task:{t1.id}:overdue:1" in outbox_keys(engine)

    # level 2: one more full step (4 business hours) after the first escalation, to the CS head
    assert esc(at(day(7), 12)).escalated == {1: [], 2: []}
    assert esc(at(day(7), 13)).escalated == {1: [], 2: [t1.id]}
    assert esc(at(day(7), 14)).escalated == {1: [], 2: []}
    assert drain(engine, fake_slack) > 0
    root = next(m for m in fake_slack.posted(CHANNEL) if "thread_ts" not in m)
    replies = [
        m for m in fake_slack.posted(CHANNEL) if m.get("thread_ts") == root["ts"] and m["text"].startswith("Overdue")
    ]
    assert len(replies) == 3
    texts = [json.dumps(blocks_of(m)) for m in replies]
    assert f"<@{LEAD}>" in texts[0] and f"<@{OWNER}>" in texts[0] and "Form a save team" in texts[0]
    assert "Prepare a tailored save offer" in texts[1]
    assert f"<@{HEAD}>" in texts[2] and "second escalation" in texts[2] and "Form a save team" in texts[2]
    for m in replies:
        validate_blocks(blocks_of(m))
    # the task list shows the escalation (redrawn), and a resolved alert's tasks no longer escalate
    with Session(engine) as s:
        rows = s.exec(select(OutboxMessage).where(col(OutboxMessage.key).like(f"alert:{alert.id}:tasks:v%"))).all()
        assert rows and "overdue since" in json.dumps(rows[-1].payload["blocks"])
    with unit_of_work(session_factory(engine)) as s:
        from storage import alerts as alert_store

        assert alert_store.resolve(s, alert.id or 0, "saved", OWNER)
    assert esc(at(day(10), 10)).escalated == {1: [], 2: []}
    assert tasks_of(engine, acc)[2].escalation_level == 0 and t3.escalation_level == 0


def test_task_messages_are_valid_block_kit_with_odd_input() -> None:
    task = Task(id=3, alert_id=1, account_id=1, playbook="high_risk", step=1, title="Call <them> & *now*",
                owner_role="CSM", assignee=None, due_at=at(day(0), 9), version=2)  # fmt: skip
    message = messages.task_list(messages.TaskList("Acme <Corp>", "high_risk", [task]), TIERS, UTC_ZONE)
    shown = json.dumps(message.blocks)
    assert "Call &lt;them&gt; &amp; *now*" in shown and "unassigned" in shown
    assert decode(TaskRef, message.blocks[1]["accessory"]["value"]) == TaskRef(task_id=3, version=2)  # type: ignore[index]
    draft = messages.outreach(messages.Draft("care_email", "Acme {Corp}", None, ["a" * 500] * 10, []))
    assert "Acme {Corp}" in json.dumps(draft.blocks) and "no usage data" in json.dumps(draft.blocks)
    validate_blocks(messages.task_dm("Acme", "nope", CHANNEL, [task], TIERS, UTC_ZONE).blocks or [])
