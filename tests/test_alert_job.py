"""The alert job (jobs.alerts.run) on a real database: which alerts it opens, joins, updates and resolves for a
scored day, the outbox rows it writes for them, and (end to end) what the fake Slack receives once they are sent."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from bot.alerts.rules import Rules, load_rules
from bot.calendar import BusinessCalendar
from bot.scoring.scorecard import load_scorecard
from bot.settings import load_settings
from bot.slack import outbox as sender
from bot.slack.blocks import validate_blocks
from bot.slack.client import make_client
from jobs import alerts as job
from storage import alerts as store
from storage.db import session_factory, unit_of_work
from storage.models import Account, Alert, HealthScore, OutboxMessage
from tests.fake_slack import FakeSlack

D0 = date(2026, 3, 2)  # a Monday
DEFAULT = "C0DEFAULT01"
ENTERPRISE = "C0ENTERPRS1"
SAVE_TEAM = "C0SAVETEAM1"
RULES = f"""
cooldown_days = 5

[budget]  # the thread behaviour of a later run from the first (the first run's listing: test_first_run.py)
first_run = "open"
one_dm_per_run = false

[alerts]
recover_days = 3

[routing]
tiers = {{ high_risk = "{SAVE_TEAM}" }}
segments = {{ Enterprise = "{ENTERPRISE}" }}

[[rules]]
name = "dropped"
kind = "tier_dropped"
severity = "medium_risk"

[[rules]]
name = "low_score"
kind = "score_below"
severity = "high_risk"
below = 40
days = 2
"""
TIER = {80: "healthy", 65: "low_risk", 50: "medium_risk", 35: "high_risk", 30: "high_risk"}


@pytest.fixture
def rules(tmp_path: Path) -> Rules:
    path = tmp_path / "rules.toml"
    path.write_text(RULES)
    return load_rules(path, load_scorecard())


def day(n: int) -> date:
    return D0 + timedelta(days=n)


def add_account(engine: Engine, external_id: str, segment: str | None, owner: str | None = "U0OWNER001") -> int:
    with unit_of_work(session_factory(engine)) as s:
        account = Account(external_id=external_id, name=f"{external_id} Inc", name_lower=f"{external_id.lower()} inc",
                          segment=segment, owner_slack_id=owner, mrr=1000.0)  # fmt: skip
        s.add(account)
        s.flush()
        return account.id or 0


def scores(engine: Engine, account_id: int, first: int, values: list[int]) -> None:
    """Store the account's scores from day(first) on, one a day (tier from TIER)."""
    with unit_of_work(session_factory(engine)) as s:
        for i, value in enumerate(values):
            s.merge(HealthScore(account_id=account_id, day=day(first + i), score=value, tier=TIER[value]))


def run(engine: Engine, rules: Rules, n: int) -> job.AlertRunSummary:
    summary = job.run(
        engine, rules=rules, scorecard=load_scorecard(), calendar=BusinessCalendar(), alert_channel=DEFAULT,
        day=day(n), now=datetime.combine(day(n + 1), time(7), tzinfo=UTC),
    )  # fmt: skip
    assert summary is not None
    return summary


def outbox(engine: Engine) -> dict[str, OutboxMessage]:
    with Session(engine) as s:
        return {m.key: m for m in s.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))}


def alerts_of(engine: Engine, account_id: int) -> list[Alert]:
    with Session(engine) as s:
        return list(s.exec(select(Alert).where(Alert.account_id == account_id).order_by(col(Alert.id))))


def test_a_move_into_high_risk_opens_one_alert_routed_by_segment_then_tier_then_alert_channel(
    engine: Engine, rules: Rules
) -> None:
    big = add_account(engine, "ACC-BIG", "enterprise", owner="U0OWNERBIG")
    nobody = add_account(engine, "ACC-NOSEG", None, owner="U0OWNERNOS")
    small = add_account(engine, "ACC-SMALL", "smb", owner=None)
    calm = add_account(engine, "ACC-CALM", "smb")
    scores(engine, big, 0, [80, 35])
    scores(engine, nobody, 0, [80, 35])
    scores(engine, small, 0, [80, 50])
    scores(engine, calm, 0, [80, 65])  # a move to low risk: the digest's, not an alert (noise budget)

    summary = run(engine, rules, 1)

    assert len(summary.opened) == 3
    rows = outbox(engine)
    [a_big], [a_nobody], [a_small] = alerts_of(engine, big), alerts_of(engine, nobody), alerts_of(engine, small)
    assert alerts_of(engine, calm) == []
    assert (a_big.channel, a_big.severity) == (ENTERPRISE, "high_risk")  # the segment beats the tier
    assert (a_nobody.channel, a_nobody.severity) == (SAVE_TEAM, "high_risk")
    assert (a_small.channel, a_small.severity) == (DEFAULT, "medium_risk")
    assert list(a_big.firings) == ["dropped"] and a_big.firings["dropped"]["since"] == day(1).isoformat()
    assert rows[f"alert:{a_big.id}:root"].channel == ENTERPRISE
    assert rows[f"alert:{a_big.id}:dm"].channel == "U0OWNERBIG"
    assert rows[f"alert:{a_nobody.id}:root"].channel == SAVE_TEAM
    assert rows[f"alert:{a_small.id}:root"].channel == DEFAULT
    assert f"alert:{a_small.id}:dm" not in rows  # no owner, no DM
    tasks = {k for k in rows if k.startswith("task:") or k.endswith((":tasks", ":draft"))}  # (tests/test_tasks.py)
    assert len(rows) - len(tasks) == 5
    for row in rows.values():
        validate_blocks(row.payload["blocks"])
        assert row.payload["text"]
    # due: the playbook's SLA from the run's time (high risk: 4 hours of the clock from Wednesday 07:00)
    assert a_big.due_at.replace(tzinfo=a_big.due_at.tzinfo or UTC) == datetime(2026, 3, 4, 11, 0, tzinfo=UTC)

    assert run(engine, rules, 1).opened == []  # the same day again: nothing new
    assert outbox(engine).keys() == rows.keys()


def test_a_second_rule_joins_then_still_firing_updates_without_a_message(engine: Engine, rules: Rules) -> None:
    acc = add_account(engine, "ACC-1", "smb")
    scores(engine, acc, 0, [80, 35, 35, 35])
    run(engine, rules, 1)
    [alert] = alerts_of(engine, acc)
    before = outbox(engine)

    summary = run(engine, rules, 2)  # score below 40 for 2 days: a second rule

    assert summary.joined == 1 and summary.opened == []
    [joined] = alerts_of(engine, acc)
    assert joined.id == alert.id and set(joined.firings) == {"dropped", "low_score"}
    new = {k: m for k, m in outbox(engine).items() if k not in before}
    assert sorted(new) == sorted([f"alert:{alert.id}:reply:joined:{day(2)}", f"alert:{alert.id}:v{joined.version}"])
    reply, redraw = new[f"alert:{alert.id}:reply:joined:{day(2)}"], new[f"alert:{alert.id}:v{joined.version}"]
    assert reply.thread_key == f"alert:{alert.id}:root" and reply.method == "chat.postMessage"
    assert redraw.target_key == f"alert:{alert.id}:root" and redraw.method == "chat.update"
    assert "40" in json.dumps(reply.payload)  # what is new: the score below 40

    assert run(engine, rules, 2).joined == 0  # rerun: nothing
    after_two = outbox(engine)
    assert after_two.keys() == before.keys() | new.keys()

    summary = run(engine, rules, 3)  # low_score still fires: "last" moves, no message
    assert summary.updated == 1 and summary.joined == 0 and summary.opened == []
    assert outbox(engine).keys() == after_two.keys()
    [still] = alerts_of(engine, acc)
    assert still.firings["low_score"]["last"] == day(3).isoformat() and still.last_fired_on == day(3)
    assert still.firings["low_score"]["since"] == day(2).isoformat()


def test_recovery_resolves_then_the_cooldown_keeps_the_same_rules_quiet(engine: Engine, rules: Rules) -> None:
    acc = add_account(engine, "ACC-1", "smb")
    #                     0   1   2   3   4   5   6   7   8   9  10  11  12
    scores(engine, acc, 0, [80, 35, 35, 80, 80, 80, 80, 35, 35, 35, 35, 35, 80])
    for n in range(1, 5):
        run(engine, rules, n)
    [alert] = alerts_of(engine, acc)
    assert alert.status == "open" and alert.last_fired_on == day(2)

    summary = run(engine, rules, 5)  # 3 days (recover_days) without a firing

    assert summary.recovered == 1
    [done] = alerts_of(engine, acc)
    assert (done.status, done.outcome, done.resolved_by) == ("resolved", "recovered", "healthbot")
    rows = outbox(engine)
    assert rows[f"alert:{alert.id}:reply:resolved"].thread_key == f"alert:{alert.id}:root"
    assert f"alert:{alert.id}:v{done.version}" in rows
    assert [e.kind for e in _history(engine, alert.id or 0)] == ["opened", "joined", "resolved"]

    # the account drops again on day 7: both rules are within their 5-day cooldown from day 5
    for n in range(6, 10):
        assert run(engine, rules, n).opened == []
    assert run(engine, rules, 8).held_back == 1
    assert len(alerts_of(engine, acc)) == 1
    summary = run(engine, rules, 10)  # 5 days on: low_score (still firing) may alert again
    assert len(summary.opened) == 1
    assert [a.status for a in alerts_of(engine, acc)] == ["resolved", "open"]
    assert list(alerts_of(engine, acc)[1].firings) == ["low_score"]


def test_snoozed_alert_gets_no_reply_and_a_snooze_until_the_tier_changes_ends_with_it(
    engine: Engine, rules: Rules
) -> None:
    timed = add_account(engine, "ACC-T", "smb")
    tiered = add_account(engine, "ACC-S", "smb")
    scores(engine, timed, 0, [80, 50, 35, 35])
    scores(engine, tiered, 0, [80, 50, 50, 35])
    run(engine, rules, 1)
    [a_timed], [a_tiered] = alerts_of(engine, timed), alerts_of(engine, tiered)
    with unit_of_work(session_factory(engine)) as s:
        assert store.snooze(s, a_timed.id or 0, "U0CSM00001", datetime(2026, 3, 20, tzinfo=UTC), None)
        assert store.snooze(s, a_tiered.id or 0, "U0CSM00001", None, "medium_risk")
    before = outbox(engine)

    run(engine, rules, 2)  # timed: dropped again, into high risk; tiered: the same tier, nothing
    rows = outbox(engine)
    [worse] = alerts_of(engine, timed)
    assert worse.severity == "high_risk" and list(worse.firings) == ["dropped"]
    assert set(rows) - set(before) == {f"alert:{a_timed.id}:v{worse.version}"}  # the root shows it, silently
    assert alerts_of(engine, tiered)[0].snoozed_tier == "medium_risk"

    run(engine, rules, 3)  # timed: low_score joins while snoozed; tiered: high risk now, its snooze ends
    rows, new = outbox(engine), set(outbox(engine)) - set(rows)
    [sleeping] = alerts_of(engine, timed)
    assert set(sleeping.firings) == {"dropped", "low_score"} and sleeping.snoozed_until is not None
    assert f"alert:{a_timed.id}:reply:joined:{day(3)}" not in rows  # no reply while snoozed
    [woke] = alerts_of(engine, tiered)
    assert woke.snoozed_tier is None and woke.snoozed_until is None and woke.severity == "high_risk"
    assert new == {f"alert:{a_timed.id}:v{sleeping.version}", f"alert:{woke.id}:v{woke.version}"}
    assert [e.kind for e in _history(engine, woke.id or 0)] == ["opened", "snoozed", "unsnoozed"]

    run(engine, rules, 4)  # timed: low_score joined already; nothing new for either
    assert set(outbox(engine)) == set(rows)


def test_an_account_that_churned_resolves_its_alert_as_churned(engine: Engine, rules: Rules) -> None:
    acc = add_account(engine, "ACC-1", "smb")
    scores(engine, acc, 0, [80, 35, 35])
    run(engine, rules, 1)
    with unit_of_work(session_factory(engine)) as s:
        account = s.get(Account, acc)
        assert account is not None
        account.status, account.churned_on = "churned", day(2)
        s.add(account)

    summary = run(engine, rules, 2)

    assert summary.churned == 1
    [alert] = alerts_of(engine, acc)
    assert (alert.status, alert.outcome) == ("resolved", "churned")
    assert f"alert:{alert.id}:reply:resolved" in outbox(engine)


def test_no_scores_for_the_day_changes_nothing(engine: Engine, rules: Rules) -> None:
    acc = add_account(engine, "ACC-1", "smb")
    scores(engine, acc, 0, [80, 35])
    run(engine, rules, 1)
    summary = run(engine, rules, 30)  # the scoring run has not happened: no recovery for everyone
    assert summary.skipped and alerts_of(engine, acc)[0].status == "open"


def test_without_a_channel_nothing_is_raised_and_one_line_says_why(
    engine: Engine, rules: Rules, caplog: pytest.LogCaptureFixture
) -> None:
    acc = add_account(engine, "ACC-1", "smb")
    scores(engine, acc, 0, [80, 50])
    summary = job.run(engine, rules=rules, scorecard=load_scorecard(), calendar=BusinessCalendar(),
                      alert_channel=None, day=day(1), now=datetime(2026, 3, 3, 7, tzinfo=UTC))  # fmt: skip
    assert summary is not None and summary.unrouted == 1 and summary.opened == []
    assert [r.message for r in caplog.records if "ALERT_CHANNEL" in r.message] != []


def _history(engine: Engine, alert_id: int) -> list:
    with Session(engine) as s:
        return store.history(s, alert_id)


# --- end to end: the outbox drained into the fake Slack ---------------------------------------------------------


def test_alerts_reach_slack_once_with_valid_block_kit(engine: Engine, rules: Rules, fake_slack: FakeSlack) -> None:
    acc = add_account(engine, "ACC-1", "enterprise", owner="U0OWNER001")
    scores(engine, acc, 0, [80, 35, 35, 35])
    client = make_client(load_settings(env_file=None, environ={"SLACK_BOT_TOKEN": "xoxb-t",
                                                               "SLACK_API_URL": fake_slack.url}))  # fmt: skip
    drain = lambda: sender.drain(session_factory(engine), client, per_channel_interval=0, max_wait=0)  # noqa: E731

    run(engine, rules, 1)
    assert drain().sent == 4  # the root, the task list and draft, and ONE DM to the owner (the alert, its tasks)
    dms = fake_slack.posted("DU0OWNER001")
    assert len(dms) == 1 and "Risk alert" not in dms[0]["text"] and "ACC-1 Inc" in json.dumps(dms[0]["blocks"])
    run(engine, rules, 1)
    run(engine, rules, 2)
    assert drain().sent == 2  # the reply and the redraw
    run(engine, rules, 2)
    run(engine, rules, 3)
    assert drain().sent == 0

    [alert] = alerts_of(engine, acc)
    roots = [m for m in fake_slack.posted(ENTERPRISE) if "thread_ts" not in m]
    replies = [m for m in fake_slack.posted(ENTERPRISE) if "thread_ts" in m]
    assert len(roots) == 1 and len(replies) == 3  # the playbook's task list and outreach draft, the joined reply
    assert all(r["thread_ts"] == roots[0]["ts"] for r in replies)
    dms = fake_slack.posted("DU0OWNER001")
    assert len(dms) == 1  # the alert and the owner's tasks: one DM
    updates = fake_slack.calls_to("chat.update")
    assert len(updates) == 1 and updates[0].params["ts"] == roots[0]["ts"]
    for message in [*roots, *replies, *dms, roots[0]]:
        blocks = message["blocks"] if isinstance(message["blocks"], list) else json.loads(message["blocks"])
        validate_blocks(blocks)
    assert "ACC-1 Inc" in json.dumps(roots[0]["blocks"])
    assert alert.version >= 2
    with Session(engine) as s:
        pending = s.exec(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status != "sent")).one()
    assert pending == 0
