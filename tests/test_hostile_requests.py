"""Hostile requests from outside, signed like Slack's (or with the ingest token): periods past the calendar,
dates that are not YYYY-MM-DD, numbers no column holds, bodies of the wrong shape, forged button values and
view state. Each gets a clear answer (400 before any listener, the "out of date" line, a 422 naming the record,
a line-numbered import error), nothing is written, and no raw value reaches the log."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import Engine, text

from bot.alerts.ids import AlertIds
from bot.exits.ids import ExitIds
from bot.health.ids import HealthIds
from bot.home.ids import HomeIds
from bot.retention.ids import RetentionIds
from bot.scoring.csvfile import ImportFailed
from bot.scoring.importer import import_metrics
from bot.settings import Settings
from prompts import say
from tests.conftest import BotServer, slash_command_form
from tests.fake_slack import FakeSlack
from tests.test_ingest import TOKEN, Web
from tests.test_ingest import add_accounts as add_ingest_accounts
from tests.test_unusual_data_in_slack import ack, add_accounts

DAY = date(2026, 6, 30)
ME = "U01CSM0001"
OUT_OF_DATE = say("health.button_out_of_date")
WRITTEN = ("health_override", "task", "task_event", "alert", "alert_event", "exit_interview", "slack_event",
           "metric_observation", "outbox_message")  # fmt: skip


@pytest.fixture
def server(engine: Engine, settings: Settings, fake_slack: FakeSlack) -> Iterator[BotServer]:
    bot = BotServer(settings, engine, fake_slack, today=DAY).start()
    yield bot
    bot.stop()


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar_one() for t in WRITTEN}


def interactive(server: BotServer, payload: dict[str, Any]) -> Any:
    return server.post_signed(urlencode({"payload": json.dumps(payload)}).encode(), "application/x-www-form-urlencoded")


# --- periods past the calendar ---------------------------------------------------------------------------------


@pytest.mark.parametrize("period", ["plays 9999-Q4", "plays 9999-12", "churn 0001-01-01..9999-12-31",
                                    "churn 9999-Q4", "churn 9999-12"])  # fmt: skip
def test_a_period_past_the_calendar_is_answered_with_its_range(engine: Engine, server: BotServer, period: str) -> None:
    add_accounts(engine, ["Acme Corp"])
    body = ack(server, period)
    assert say("inputs.period_out_of_range", first=1900, last=2999) in body["text"]
    assert server.fake.calls_to("chat.postMessage") == []


# --- dates are YYYY-MM-DD, numbers finite and in range ---------------------------------------------------------


@pytest.mark.parametrize("day", ["2026-W48-6", "20261201", "2026-6-01", "２０２６-06-01", "2026-06-01 "])
def test_only_yyyy_mm_dd_is_a_date(day: str) -> None:
    from bot.dates import parse_day  # one parser for every date that comes in

    with pytest.raises(ValueError):
        parse_day(day)
    assert parse_day("2026-06-01") == date(2026, 6, 1)


@pytest.fixture
def web(engine: Engine) -> Iterator[Web]:
    server = Web(engine, TOKEN)
    yield server
    server.stop()


YESTERDAY = (date.today() - timedelta(days=1)).isoformat()
WEEK_DATE = (date.today() - timedelta(days=7)).strftime("%G-W%V-%u")  # a past day as an ISO week date


@pytest.mark.parametrize(
    ("field", "raw", "said"),
    [
        ("date", json.dumps(WEEK_DATE), "is not a date (use YYYY-MM-DD)"),
        ("date", '"20261201"', "is not a date (use YYYY-MM-DD)"),
        ("value", "1" + "0" * 400, "is out of range"),
        ("value", "-1" + "0" * 400, "is out of range"),
        ("value", "1e300", "is out of range"),
        ("value", "-2e15", "is out of range"),
    ],
)
def test_ingest_refuses_hostile_dates_and_numbers_naming_record_and_field(
    engine: Engine, web: Web, field: str, raw: str, said: str
) -> None:
    add_ingest_accounts(engine, 1)
    record = {"external_id": '"acc-0"', "date": json.dumps(YESTERDAY), "metric": '"core_events"', "value": "3"}
    record[field] = raw
    good = json.dumps({"external_id": "acc-0", "date": YESTERDAY, "metric": "logins", "value": 1})
    body = "[" + good + ", {" + ", ".join(f'"{k}": {v}' for k, v in record.items()) + "}]"
    resp = web.post(body.encode())
    assert resp.status_code == 422, resp.text
    (error,) = resp.json()["errors"]
    assert error.startswith("record 2 (acc-0): ") and field in error and said in error
    assert counts(engine)["metric_observation"] == 0


@pytest.mark.parametrize(
    ("value", "day", "said"),
    [
        ("1e300", "2026-06-01", "line 3, value: '1e300' is out of range"),
        ("-1e16", "2026-06-01", "line 3, value: '-1e16' is out of range"),
        ("3", "2026-6-1", "line 3, date: '2026-6-1' is not a date (use YYYY-MM-DD)"),
    ],
)
def test_csv_import_refuses_hostile_dates_and_numbers_by_line(
    engine: Engine, tmp_path: Path, value: str, day: str, said: str
) -> None:
    add_ingest_accounts(engine, 1)
    path = tmp_path / "metrics.csv"
    path.write_text(f"external_id,date,metric,value\nacc-0,2026-06-01,logins,1\nacc-0,{day},core_events,{value}\n")
    with pytest.raises(ImportFailed) as info:
        import_metrics(engine, path, quiet=True)
    assert [e for e in info.value.errors if e.startswith(said)], info.value.errors
    assert counts(engine)["metric_observation"] == 0


# --- bodies of the wrong shape: 400 before any listener ----------------------------------------------------------


def _command_without(field: str) -> bytes:
    form = slash_command_form("me", "http://127.0.0.1:9/r")
    del form[field]
    return urlencode(form).encode()


def _payload(**changes: Any) -> bytes:
    payload: dict[str, Any] = {
        "type": "block_actions", "team": {"id": "T1"}, "user": {"id": ME, "team_id": "T1"}, "api_app_id": "A1",
        "container": {"type": "message", "message_ts": "1.2"}, "trigger_id": "1.2.3", "channel": {"id": "C1"},
        "response_url": "http://127.0.0.1:9/r",
        "actions": [{"type": "button", "action_id": str(HealthIds.OPEN_CARD), "value": '{"account_id":1}'}],
    }  # fmt: skip
    payload.update(changes)
    return urlencode({"payload": json.dumps(payload)}).encode()


def _submission(**changes: Any) -> bytes:
    view = {"id": "V1", "type": "modal", "callback_id": str(HealthIds.OVERRIDE_MODAL), "private_metadata": "",
            "state": {"values": {}}}  # fmt: skip
    view.update(changes)
    payload = {"type": "view_submission", "team": {"id": "T1"}, "user": {"id": ME}, "api_app_id": "A1", "view": view}
    return urlencode({"payload": json.dumps(payload)}).encode()


def _event(event: Any) -> bytes:
    return json.dumps({"type": "event_callback", "team_id": "T1", "event_id": "Ev1", "event": event}).encode()


FORM = "application/x-www-form-urlencoded"
SHAPES = {
    "command without user_id": (_command_without("user_id"), FORM),
    "command without channel_id": (_command_without("channel_id"), FORM),
    "command without response_url": (_command_without("response_url"), FORM),
    "a payload type Slack has not": (_payload(type="FZQ-forged"), FORM),
    "payload not JSON": (b"payload=%7Bnot+json", FORM),
    "actions a string": (_payload(actions="health.open"), FORM),
    "actions a list of strings": (_payload(actions=["health.open"]), FORM),
    "action without action_id": (_payload(actions=[{"type": "button", "value": "{}"}]), FORM),
    "a value not a string": (_payload(actions=[{"action_id": "health.open", "value": {"account_id": 1}}]), FORM),
    "user not an object": (_payload(user=ME), FORM),
    "user without id": (_payload(user={"name": "x"}), FORM),
    "a 41-character user id": (_payload(user={"id": "U" + "A" * 40}), FORM),
    "view a list": (_payload(view=["home"]), FORM),
    "container a string": (_payload(container="message"), FORM),
    "channel a string": (_payload(channel="C1"), FORM),
    "type a list": (_payload(type=["block_actions"]), FORM),
    "state values a list": (_submission(state={"values": [1]}), FORM),
    "state a string": (_submission(state="x"), FORM),
    "an input a string": (_submission(state={"values": {"b": {"a": "x"}}}), FORM),
    "metadata a number": (_submission(private_metadata=7), FORM),
    "event a string": (_event("app_home_opened"), "application/json"),
    "event a list": (_event([{"type": "app_home_opened"}]), "application/json"),
    "event without type": (_event({"user": ME}), "application/json"),
    "event type no Slack event has": (_event({"type": "<!channel> FZQ-forged"}), "application/json"),
    "event user a number": (_event({"type": "app_home_opened", "user": 7, "tab": "home"}), "application/json"),
}


@pytest.mark.parametrize("case", list(SHAPES))
def test_a_signed_body_of_the_wrong_shape_is_refused_before_any_listener(
    engine: Engine, server: BotServer, case: str
) -> None:
    add_accounts(engine, ["Acme Corp"])
    before = counts(engine)
    body, content_type = SHAPES[case]
    resp = server.post_signed(body, content_type)
    assert resp.status_code == 400, resp.text
    assert server.fake.calls == []
    assert counts(engine) == before


def test_real_shapes_still_pass(engine: Engine, server: BotServer) -> None:
    (aid,) = add_accounts(engine, ["Acme Corp"])
    button = {"type": "button", "action_id": str(HealthIds.OPEN_CARD), "block_id": "b", "action_ts": "1.2",
              "value": json.dumps({"account_id": aid})}  # fmt: skip
    body = _payload(actions=[button], response_url=server.fake.response_url("card"))
    assert server.post_signed(body, FORM).status_code == 200
    assert "Acme Corp" in server.fake.wait_for("response_url", timeout=10)[0].params["text"]
    home = {"type": "app_home_opened", "user": ME, "channel": "D1", "tab": "home", "event_ts": "1.2"}
    assert server.post_signed(_event(home), "application/json").status_code == 200
    assert server.fake.wait_for("views.publish", timeout=10)


# --- forged values: the "out of date" answer, nothing written ---------------------------------------------------


def click(server: BotServer, action_id: str, value: str, container: str = "message") -> None:
    payload: dict[str, Any] = {
        "type": "block_actions", "team": {"id": "T1", "domain": "test"}, "user": {"id": ME, "team_id": "T1"},
        "api_app_id": "A1", "token": "legacy", "trigger_id": "1.2.3",
        "actions": [{"type": "button", "action_id": action_id, "block_id": "b1", "value": value, "action_ts": "1.2"}],
    }  # fmt: skip
    if container == "message":
        payload.update(container={"type": "message", "message_ts": "1700000000.000100", "is_ephemeral": True},
                       channel={"id": "C0TEST0001"}, response_url=server.fake.response_url("action"))  # fmt: skip
    else:
        payload.update(container={"type": "view", "view_id": "V1"},
                       view={"id": "V1", "type": "home", "callback_id": "", "hash": "1.a"})  # fmt: skip
    assert interactive(server, payload).status_code == 200


def told(server: BotServer, container: str) -> str:
    """What the clicker was told: privately through the response_url (message), or in the app's DM (Home)."""
    if container == "message":
        return str(server.fake.wait_for("response_url", timeout=10)[0].params["text"])
    return str(server.fake.wait_for("chat.postMessage", timeout=10)[0].params["text"])


@pytest.mark.parametrize(
    ("action_id", "value"),
    [
        (HealthIds.OPEN_CARD, {"account_id": 2**63}),
        (HealthIds.PICK_ACCOUNT, {"account_id": 10**30}),
        (HealthIds.SHARE, {"account_id": 2**31}),
        (HealthIds.CHART, {"account_id": -(2**63) - 1}),
        (HealthIds.OVERRIDE, {"account_id": 2**63}),
        (ExitIds.OPEN, {"account_id": 2**63}),
        (ExitIds.EDIT, {"interview_id": 2**63, "version": 1}),
        (AlertIds.CLAIM, {"alert_id": 2**63}),
        (AlertIds.RESOLVE, {"alert_id": 10**30}),
        (RetentionIds.MARK_DONE, {"task_id": 2**63, "version": 0}),
        (RetentionIds.MARK_DONE, {"task_id": 1, "version": 2**63}),
        (HealthIds.LIST_NEXT, {"kind": "top", "page": 1, "limit": 5, "tier": "U" + "A" * 40}),
    ],
)
def test_a_forged_value_is_answered_as_out_of_date(
    engine: Engine, server: BotServer, caplog: pytest.LogCaptureFixture, action_id: str, value: dict
) -> None:
    add_accounts(engine, ["Acme Corp"])
    before = counts(engine)
    with caplog.at_level(logging.INFO):
        click(server, action_id, json.dumps(value))
        assert told(server, "message") == OUT_OF_DATE
    assert counts(engine) == before
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    ("action_id", "container"),
    [
        (HealthIds.OPEN_CARD, "view"),
        (HealthIds.SHARE, "view"),
        (HealthIds.LIST_NEXT, "view"),
        (HomeIds.PAGE_NEXT, "message"),
    ],
)
def test_a_button_from_the_wrong_container_is_answered_as_out_of_date(
    engine: Engine, server: BotServer, caplog: pytest.LogCaptureFixture, action_id: str, container: str
) -> None:
    (aid,) = add_accounts(engine, ["Acme Corp"])
    value = {HealthIds.LIST_NEXT: {"kind": "me", "page": 1}, HomeIds.PAGE_NEXT: {"pages": {"mine": 1}}}.get(
        action_id, {"account_id": aid}
    )
    with caplog.at_level(logging.INFO):
        click(server, action_id, json.dumps(value), container)
        assert told(server, container) == OUT_OF_DATE
    assert server.fake.calls_to("views.publish") == []
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


def test_a_forged_value_is_logged_by_kind_and_length_only(
    engine: Engine, server: BotServer, caplog: pytest.LogCaptureFixture
) -> None:
    marker = "ZQX-forged-" + "x" * 30
    with caplog.at_level(logging.DEBUG):
        click(server, HealthIds.OPEN_CARD, marker)
        click(server, RetentionIds.MARK_DONE, json.dumps({"task_id": marker}))
        server.fake.wait_for("response_url", count=2, timeout=10)
    assert not [r for r in caplog.records if marker in r.getMessage()]
    assert f"out-of-date value on health.open (str, {len(marker)} characters)" in caplog.messages


# --- view state of the wrong type: an answer in the modal, nothing written ---------------------------------------


def submit(server: BotServer, callback_id: str, metadata: str, values: dict[str, Any]) -> dict[str, Any]:
    payload = {
        "type": "view_submission", "team": {"id": "T1", "domain": "test"}, "user": {"id": ME, "team_id": "T1"},
        "api_app_id": "A1", "token": "legacy", "trigger_id": "1.2.3",
        "view": {"id": "V1", "type": "modal", "callback_id": callback_id, "private_metadata": metadata,
                 "hash": "1.a", "state": {"values": values}},
    }  # fmt: skip
    resp = interactive(server, payload)
    assert resp.status_code == 200, resp.text
    return resp.json() if resp.content else {}


def element(block: str, **leaf: Any) -> dict[str, Any]:
    return {str(block): {str(block): {"type": "x", **leaf}}}


def _task_done(aid: int) -> tuple[str, str, dict[str, Any]]:
    values = element(RetentionIds.OUTCOME_BLOCK) | element(RetentionIds.NEXT_STEP_ON_BLOCK, selected_date="x")
    values[str(RetentionIds.OUTCOME_BLOCK)] = {str(RetentionIds.OUTCOME): {"selected_option": {"value": "done"}}}
    values[str(RetentionIds.NEXT_STEP_ON_BLOCK)] = {str(RetentionIds.NEXT_STEP_ON): {"selected_date": "2026-W52-1"}}
    values[str(RetentionIds.NEXT_STEP_BLOCK)] = {str(RetentionIds.NEXT_STEP): {"value": "call them"}}
    return str(RetentionIds.DONE_MODAL), json.dumps({"task_id": 1, "version": 0}), values


SUBMISSIONS = {
    "override tier a number": lambda aid: (
        str(HealthIds.OVERRIDE_MODAL), json.dumps({"account_id": aid}),
        {str(HealthIds.OVERRIDE_TIER): {str(HealthIds.OVERRIDE_TIER): {"selected_option": {"value": 3}}},
         str(HealthIds.OVERRIDE_REASON): {str(HealthIds.OVERRIDE_REASON): {"value": ["why"]}},
         str(HealthIds.OVERRIDE_UNTIL): {str(HealthIds.OVERRIDE_UNTIL): {"selected_date": 20261201}}},
    ),
    "override until an ISO week date": lambda aid: (
        str(HealthIds.OVERRIDE_MODAL), json.dumps({"account_id": aid}),
        {str(HealthIds.OVERRIDE_TIER): {str(HealthIds.OVERRIDE_TIER): {"selected_option": {"value": "red"}}},
         str(HealthIds.OVERRIDE_REASON): {str(HealthIds.OVERRIDE_REASON): {"value": "why"}},
         str(HealthIds.OVERRIDE_UNTIL): {str(HealthIds.OVERRIDE_UNTIL): {"selected_date": "2026-W52-1"}}},
    ),
    "override account past the integers": lambda aid: (
        str(HealthIds.OVERRIDE_MODAL), json.dumps({"account_id": 2**63}), {},
    ),
    "task next-step date an ISO week date": _task_done,
    "task past the integers": lambda aid: (
        str(RetentionIds.DONE_MODAL), json.dumps({"task_id": 2**63, "version": 0}),
        {str(RetentionIds.OUTCOME_BLOCK): {str(RetentionIds.OUTCOME): {"selected_option": {"value": "done"}}}},
    ),
    "resolve outcome a string option": lambda aid: (
        str(AlertIds.RESOLVE_MODAL), json.dumps({"alert_id": 1}),
        {str(AlertIds.OUTCOME_BLOCK): {str(AlertIds.OUTCOME): {"selected_option": "saved"}},
         str(AlertIds.NOTE_BLOCK): {str(AlertIds.NOTE): {"value": 7}}},
    ),
    "resolve alert past the integers": lambda aid: (
        str(AlertIds.RESOLVE_MODAL), json.dumps({"alert_id": 2**63}),
        {str(AlertIds.OUTCOME_BLOCK): {str(AlertIds.OUTCOME): {"selected_option": {"value": "saved"}}}},
    ),
    "exit account past the integers": lambda aid: (
        str(ExitIds.MODAL), json.dumps({"account_id": 2**63}), {},
    ),
    "exit churn date an ISO week date": lambda aid: (
        str(ExitIds.MODAL), json.dumps({"account_id": aid}),
        {str(ExitIds.CHURN_DATE): {str(ExitIds.CHURN_DATE): {"selected_date": "2026-W20-1"}},
         str(ExitIds.INTERVIEWER): {str(ExitIds.INTERVIEWER): {"selected_user": ["U1"]}}},
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(SUBMISSIONS))
def test_wrong_typed_view_state_is_answered_in_the_modal(
    engine: Engine, server: BotServer, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    (aid,) = add_accounts(engine, ["Acme Corp"])
    before = counts(engine)
    callback_id, metadata, values = SUBMISSIONS[case](aid)
    with caplog.at_level(logging.INFO):
        answer = submit(server, callback_id, metadata, values)
    assert answer.get("response_action") in ("errors", "update"), answer
    shown = json.dumps(answer)
    assert "error id" not in shown.lower() and "went wrong" not in shown.lower()
    if "ISO week" in case:
        assert "date" in shown.lower()
    assert counts(engine) == before
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


# --- every other way a date comes in: connector sync, the CLI ---------------------------------------------------


@pytest.mark.parametrize("day", ["2026-W48-6", "0001-01-01"])
def test_a_synced_plain_date_is_yyyy_mm_dd_only(day: str) -> None:
    from bot.connectors.mapping import RecordError, day_of

    with pytest.raises(RecordError) as info:
        day_of(day, "date", UTC)
    assert info.value.reason == "date: not a date"
    assert day_of("1767225600", "date", UTC) == date(2026, 1, 1)  # 10 digits: Unix seconds, as documented


@pytest.mark.parametrize("args", [["score", "--date", "2026-W48-6"], ["score", "--date", "20261201"],
                                  ["backtest", "--as-of", "2026-W48-6", "--horizon", "30"]])  # fmt: skip
def test_the_cli_takes_yyyy_mm_dd_only(cli_env: None, capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    from bot.cli import main

    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == 2
    assert f"'{args[2]}' is not a date (use YYYY-MM-DD)" in capsys.readouterr().err


def test_a_home_page_button_with_forged_lists_is_answered_as_out_of_date(
    engine: Engine, server: BotServer, caplog: pytest.LogCaptureFixture
) -> None:
    add_accounts(engine, ["Acme Corp"])
    forged = {"pages": {f"list-{i:03d}-" + "x" * 40: 1 for i in range(60)}}  # carried into every next button
    with caplog.at_level(logging.INFO):
        click(server, HomeIds.PAGE_NEXT, json.dumps(forged), "view")
        assert told(server, "view") == OUT_OF_DATE
    assert server.fake.calls_to("views.publish") == []
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
