"""Save rate per play: crafted alerts and tasks with known outcomes give the expected table (bot/retention/plays.py),
and `/health plays [period]` answers it through signed HTTP, bad periods with the usage."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine

from bot.health.command import Find, Plays, parse
from bot.retention import plays
from bot.retention.plays import Period, PeriodError, PeriodSpec, PlayRate, parse_period, period_dates
from bot.scoring.scorecard import load_scorecard
from bot.settings import Settings
from storage.db import session_factory, unit_of_work
from storage.models import Account, Alert, AlertEvent, Task
from tests.conftest import BotServer
from tests.fake_slack import FakeSlack

TIERS = load_scorecard().tiers
TODAY = date(2026, 10, 15)


def at(day: str, hour: int) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def _alert(s, name: str, tier: str, opened: str, *, due_hour: int = 10, claimed: int | None = None,
           outcome: str | None = None, events: tuple[tuple[str, int], ...] = ()) -> int:  # fmt: skip
    """An account and one alert opened on `opened` (due that day at `due_hour` UTC), claimed at hour `claimed`,
    resolved with `outcome`; `events` are further (kind, hour) history rows of that day."""
    account = Account(external_id=name, name=name)
    s.add(account)
    s.flush()
    alert = Alert(
        account_id=account.id, severity=tier, opened_on=date.fromisoformat(opened),
        last_fired_on=date.fromisoformat(opened),
        due_at=at(opened, due_hour), channel="C0ALERTS01", firings={},
        claimed_by="U0CSM0001" if claimed is not None else None,
        claimed_at=at(opened, claimed) if claimed is not None else None,
        status="resolved" if outcome else "open", outcome=outcome,
    )  # fmt: skip
    s.add(alert)
    s.flush()
    history = ([("claimed", claimed)] if claimed is not None else []) + list(events)
    for kind, hour in history:
        s.add(AlertEvent(alert_id=alert.id, kind=kind, actor="U0CSM0001", at=at(opened, hour)))
    return alert.id or 0


def _task(s, alert_id: int, step: int, status: str, due: datetime, closed: datetime | None = None) -> None:
    alert = s.get(Alert, alert_id)
    s.add(Task(alert_id=alert_id, account_id=alert.account_id, playbook=alert.severity, step=step, title=f"step {step}",
               owner_role="CSM", assignee="U0CSM0001", due_at=due, status=status, closed_at=closed))  # fmt: skip


@pytest.fixture
def outcomes(engine: Engine) -> Engine:
    """Q3 2026: three high-risk alerts (saved, churned, still open), two medium-risk ones (recovered, saved);
    one high-risk alert just before the quarter and one low-risk alert in October."""
    with unit_of_work(session_factory(engine)) as s:
        a1 = _alert(s, "A1", "high_risk", "2026-07-05", due_hour=14, claimed=12, outcome="saved")
        _task(s, a1, 1, "done", at("2026-07-06", 10), at("2026-07-06", 9))  # on time
        _task(s, a1, 2, "done", at("2026-07-06", 10), at("2026-07-08", 9))  # late
        _task(s, a1, 3, "not_needed", at("2026-07-06", 10), at("2026-07-06", 8))  # not counted
        a2 = _alert(s, "A2", "high_risk", "2026-08-10", due_hour=10, claimed=11, outcome="churned")  # claimed late
        _task(s, a2, 1, "open", at("2026-08-11", 10))
        _task(s, a2, 2, "escalated", at("2026-08-11", 10), at("2026-08-11", 9))  # closed, but not done
        # claimed in time, then released: the history keeps the claim
        _alert(s, "A3", "high_risk", "2026-09-01", due_hour=10, events=(("claimed", 9), ("released", 12)))
        _alert(s, "B1", "medium_risk", "2026-07-20", outcome="recovered")  # unclaimed; no play's doing
        b2 = _alert(s, "B2", "medium_risk", "2026-09-15", due_hour=16, claimed=15, outcome="saved")
        _task(s, b2, 1, "done", at("2026-09-17", 10), at("2026-09-16", 10))
        _alert(s, "C1", "high_risk", "2026-06-30", claimed=9, outcome="saved")  # before Q3
        _alert(s, "D1", "low_risk", "2026-10-01", claimed=9)  # October
    return engine


def rates(engine: Engine, start: date, end: date) -> list[PlayRate]:
    with unit_of_work(session_factory(engine)) as s:
        return plays.save_rates(s, start, end, TIERS)


def test_crafted_outcomes_give_the_expected_table(outcomes: Engine) -> None:
    q3 = rates(outcomes, date(2026, 7, 1), date(2026, 9, 30))
    assert q3 == [
        PlayRate("high_risk", alerts=3, claimed_in_sla=2, tasks=4, tasks_on_time=1, saved=1, churned=1, still_open=1),
        PlayRate("medium_risk", alerts=2, claimed_in_sla=1, tasks=1, tasks_on_time=1, saved=1, churned=0,
                 still_open=0),
    ]  # fmt: skip
    assert [r.save_rate for r in q3] == [0.5, 1.0] and all(r.few for r in q3)
    with unit_of_work(session_factory(outcomes)) as s:  # a Connection does as well as a Session
        assert plays.save_rates(s.connection(), date(2026, 7, 1), date(2026, 9, 30), TIERS) == q3
    assert rates(outcomes, date(2026, 10, 1), TODAY) == [PlayRate("low_risk", 1, 1, 0, 0, 0, 0, 1)]
    assert rates(outcomes, date(2026, 11, 1), date(2026, 11, 30)) == []


def test_the_table_shows_counts_beside_every_rate() -> None:
    q3 = [
        PlayRate("high_risk", alerts=3, claimed_in_sla=2, tasks=4, tasks_on_time=1, saved=1, churned=1, still_open=1),
        PlayRate("medium_risk", alerts=1, claimed_in_sla=1, tasks=0, tasks_on_time=0, saved=0, churned=0,
                 still_open=0),
        PlayRate("low_risk", alerts=9, claimed_in_sla=9, tasks=9, tasks_on_time=9, saved=6, churned=1, still_open=2),
    ]  # fmt: skip
    message = plays.plays_message(q3, TIERS, Period(date(2026, 7, 1), date(2026, 9, 30), "2026-Q3"))
    assert message.text == (
        "Save rate per play, 2026-07-01 to 2026-09-30: High risk 50% (1 of 2); Medium risk – (0 of 0); "
        "Low risk 86% (6 of 7)"
    )
    sec = lambda text: {"type": "section", "text": {"type": "mrkdwn", "text": text}}  # noqa: E731
    assert message.blocks == [
        sec("*Save rate per play*  ·  2026-07-01 to 2026-09-30 (2026-Q3)"),
        sec(":red_circle: *High risk*  ·  3 alerts\n"
            "claimed within SLA *2* of 3 (67%)  ·  tasks done on time *1* of 4 (25%)\n"
            "saved *1*  ·  churned *1*  ·  save rate *50%* (of 2 decided)  ·  1 still open\n"
            ":warning: only 2 decided: read with care"),
        sec(":large_orange_circle: *Medium risk*  ·  1 alert\n"
            "claimed within SLA *1* of 1 (100%)  ·  no tasks\n"
            "saved *0*  ·  churned *0*  ·  save rate –: no saved or churned outcome yet"),
        sec(":large_yellow_circle: *Low risk*  ·  9 alerts\n"
            "claimed within SLA *9* of 9 (100%)  ·  tasks done on time *9* of 9 (100%)\n"
            "saved *6*  ·  churned *1*  ·  save rate *86%* (of 7 decided)  ·  2 still open"),
        sec("*All tiers*  ·  13 alerts\n"
            "claimed within SLA *12* of 13 (92%)  ·  tasks done on time *10* of 13 (77%)\n"
            "saved *7*  ·  churned *2*  ·  save rate *78%* (of 9 decided)  ·  3 still open"),
        {"type": "context", "elements": [{"type": "mrkdwn", "text": (
            "Alerts opened in the period, per the tier whose playbook applied. Save rate = saved ÷ (saved + churned); "
            "false alarms and recoveries are left out. Tasks marked not needed are not counted.")}]},
    ]  # fmt: skip
    empty = plays.plays_message([], TIERS, Period(date(2026, 7, 1), date(2026, 9, 30), "2026-Q3"))
    assert empty.text == "Save rate per play, 2026-07-01 to 2026-09-30: no alerts opened."
    assert empty.blocks is not None and len(empty.blocks) == 1


@pytest.mark.parametrize(
    ("text", "start", "end", "label"),
    [
        ("", date(2026, 7, 18), TODAY, "last 90 days"),
        ("30d", date(2026, 9, 16), TODAY, "last 30 days"),
        ("quarter", date(2026, 10, 1), TODAY, "2026-Q4"),
        ("2026-Q3", date(2026, 7, 1), date(2026, 9, 30), "2026-Q3"),
        ("2026q4", date(2026, 10, 1), TODAY, "2026-Q4"),  # this quarter: to today
        ("2026-10", date(2026, 10, 1), TODAY, "2026-10"),
        ("2026-2", date(2026, 2, 1), date(2026, 2, 28), "2026-02"),
        ("2025-12", date(2025, 12, 1), date(2025, 12, 31), "2025-12"),
    ],
)
def test_periods(text: str, start: date, end: date, label: str) -> None:
    assert period_dates(parse_period(text), TODAY) == Period(start, end, label)


@pytest.mark.parametrize("text", ["yesterday", "0d", "99999d", "2026-13", "2026-Q5", "26-10", "1999-01", "-30d"])
def test_bad_periods_are_refused(text: str) -> None:
    with pytest.raises(PeriodError, match="is not a period"):
        parse_period(text)


def test_a_period_that_has_not_started_is_refused() -> None:
    with pytest.raises(PeriodError, match="has not started"):
        period_dates(PeriodSpec("quarter", 1, 2027), TODAY)
    assert parse("plays 2026-Q3", TIERS) == Plays(PeriodSpec("quarter", 3, 2026))


# --- `/health plays` through signed HTTP ------------------------------------------------------------------------


@pytest.fixture
def server(settings: Settings, outcomes: Engine, fake_slack: FakeSlack) -> Iterator[BotServer]:
    bot = BotServer(settings, outcomes, fake_slack, today=TODAY).start()
    yield bot
    bot.stop()


def answer(server: BotServer, text: str) -> dict:
    response = server.command(text)
    assert response.status_code == 200
    body = response.json()
    assert body["response_type"] == "ephemeral"
    return body


def test_health_plays_answers_the_table(server: BotServer) -> None:
    default = answer(server, "plays")  # the last 90 days: 2026-07-18 to today
    assert default["text"] == (
        "Save rate per play, 2026-07-18 to 2026-10-15: High risk 0% (0 of 1); Medium risk 100% (1 of 1); "
        "Low risk – (0 of 0)"
    )
    assert default["blocks"][0]["text"]["text"] == "*Save rate per play*  ·  2026-07-18 to 2026-10-15 (last 90 days)"
    q3 = answer(server, "plays 2026-Q3")
    assert (
        q3["text"] == "Save rate per play, 2026-07-01 to 2026-09-30: High risk 50% (1 of 2); Medium risk 100% (1 of 1)"
    )
    assert q3["blocks"][1]["text"]["text"].startswith(
        ":red_circle: *High risk*  ·  3 alerts\nclaimed within SLA *2* of 3 (67%)  ·  tasks done on time *1* of 4 (25%)"
    )
    for text in ("plays quarter", "PLAYS 2026-10", "plays 2026-q4"):
        body = answer(server, text)
        assert body["text"].startswith("Save rate per play, 2026-10-01 to 2026-10-15: Low risk – (0 of 0)"), text
    assert answer(server, "plays 30d")["text"] == "Save rate per play, 2026-09-16 to 2026-10-15: Low risk – (0 of 0)"
    assert answer(server, "plays 2026-11")["text"].startswith("2026-11-01 is after today (2026-10-15)")


@pytest.mark.parametrize("period", ["yesterday", "2026-13", "2026-Q7", "last quarter"])
def test_health_plays_with_a_bad_period_answers_with_the_usage(server: BotServer, period: str) -> None:
    body = answer(server, f"plays {period}")
    assert "is not a period" in body["text"]
    assert "Usage: `/health plays [period]`" in body["text"]
    assert "`30d`" in body["text"] and "`2026-Q3`" in body["text"]
    assert isinstance(parse(f"plays {period}", TIERS), Find)


def test_help_lists_plays(server: BotServer) -> None:
    assert "`/health plays [period]`" in answer(server, "help")["text"]


def test_a_tier_no_longer_in_the_scorecard_comes_last(engine: Engine) -> None:
    with unit_of_work(session_factory(engine)) as s:
        _alert(s, "R1", "renamed_tier", "2026-09-02", claimed=8, outcome="churned")
        _alert(s, "R2", "high_risk", "2026-09-02", claimed=8, outcome="saved")
    got = rates(engine, date(2026, 9, 1), date(2026, 9, 30))
    assert [r.tier for r in got] == ["high_risk", "renamed_tier"]
    blocks = plays.plays_blocks(got, TIERS, date(2026, 9, 1), date(2026, 9, 30))
    assert "*Renamed tier*" in blocks[2]["text"]["text"]
