"""The "Mark done" button and modal, `/health tasks` and the Home's "My tasks", end to end through signed HTTP and
the fake Slack: an alert and its tasks are stored with storage.alerts/storage.tasks, their thread's root and task
list posted (sent, with a ts), then clicked, submitted and listed as Slack would."""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import httpx
from slack_sdk.models.views import View
from sqlalchemy import Engine
from sqlmodel import col, select

from bot.retention import modal
from bot.retention.ids import RetentionIds
from bot.retention.values import TaskRef
from bot.slack.values import encode
from storage import alerts, outbox, tasks
from storage.db import session_factory, unit_of_work
from storage.models import Account, Alert, OutboxMessage, Task, TaskEvent
from storage.types import utcnow
from tests.conftest import BotServer
from tests.test_e2e_home import home_opened, published

CHANNEL = "C0ALERTS01"
ROOT_TS, LIST_TS = "1700000000.000100", "1700000000.000200"
ME, OTHER = "U01CSM0001", "U0OTHER01"
TODAY = date(2026, 6, 30)


def make_alert(engine: Engine, name: str = "Acme Corp") -> int:
    """An account and its open alert, whose root and task list were posted (sent, with their ts)."""
    with unit_of_work(session_factory(engine)) as s:
        account = Account(external_id=name, name=name, owner_slack_id=ME, mrr=1000.0)
        s.add(account)
        s.flush()
        alert = alerts.create(s, Alert(account_id=account.id or 0, severity="high_risk", opened_on=TODAY,
                                       last_fired_on=TODAY, due_at=utcnow(), channel=CHANNEL, firings={}))  # fmt: skip
        alert_id = alert.id or 0
        outbox.post(s, f"alert:{alert_id}:root", CHANNEL, "alert")
        outbox.post(s, f"alert:{alert_id}:tasks", CHANNEL, "tasks", thread_key=f"alert:{alert_id}:root")
        for key, ts in ((f"alert:{alert_id}:root", ROOT_TS), (f"alert:{alert_id}:tasks", LIST_TS)):
            row = outbox.get(s, key)
            assert row is not None
            outbox.mark_sent(s, [(row.id or 0, ts, CHANNEL)])
        return alert_id


def make_task(engine: Engine, alert_id: int, step: int, due_in: timedelta, assignee: str | None = ME,
              title: str = "Call the champion") -> Task:  # fmt: skip
    with unit_of_work(session_factory(engine)) as s:
        alert = alerts.get(s, alert_id)
        assert alert is not None
        task = Task(alert_id=alert_id, account_id=alert.account_id, playbook="high_risk", step=step, title=title,
                    owner_role="CSM", assignee=assignee, due_at=utcnow() + due_in)  # fmt: skip
        created = tasks.create(s, [task])[0]
        s.expunge(created)
        return created


def stored(engine: Engine, task_id: int) -> Task:
    with unit_of_work(session_factory(engine)) as s:
        task = tasks.get(s, task_id)
        assert task is not None
        s.expunge(task)
        return task


def outbox_keys(engine: Engine) -> list[str]:
    with unit_of_work(session_factory(engine)) as s:
        return list(s.exec(select(OutboxMessage.key).order_by(col(OutboxMessage.id))).all())


def task_events(engine: Engine, task_id: int) -> list[tuple[str, str | None]]:
    with unit_of_work(session_factory(engine)) as s:
        rows = s.exec(select(TaskEvent).where(TaskEvent.task_id == task_id).order_by(col(TaskEvent.id))).all()
        return [(e.kind, e.actor) for e in rows]


def wait_until(check: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def click_done(server: BotServer, value: str, user: str = ME) -> httpx.Response:
    """A click on a task's Mark done button in the alert thread."""
    payload = {
        "type": "block_actions",
        "team": {"id": "T1", "domain": "test"},
        "user": {"id": user, "username": user.lower(), "team_id": "T1"},
        "api_app_id": "A1",
        "token": "legacy",
        "container": {"type": "message", "message_ts": LIST_TS, "channel_id": CHANNEL, "thread_ts": ROOT_TS},
        "trigger_id": f"1337.{user}",
        "channel": {"id": CHANNEL, "name": "cs-alerts"},
        "message": {"ts": LIST_TS, "thread_ts": ROOT_TS, "text": "tasks"},
        "response_url": server.fake.response_url("action"),
        "actions": [{"type": "button", "action_id": RetentionIds.MARK_DONE, "block_id": "b1", "value": value,
                     "action_ts": "1.2"}],
    }  # fmt: skip
    return server.post_signed(urlencode({"payload": json.dumps(payload)}).encode(), "application/x-www-form-urlencoded")


def submit(server: BotServer, ref: TaskRef | str, user: str = ME, outcome: str | None = "done", notes: str = "",
           next_step: str = "", next_on: str | None = None) -> httpx.Response:  # fmt: skip
    """The Mark done modal submitted with these values (as Slack sends a view_submission)."""
    values: dict = {
        RetentionIds.OUTCOME_BLOCK: {RetentionIds.OUTCOME: {
            "type": "radio_buttons", "selected_option": {"value": outcome} if outcome else None}},
        RetentionIds.NOTES_BLOCK: {RetentionIds.NOTES: {"type": "plain_text_input", "value": notes or None}},
        RetentionIds.NEXT_STEP_BLOCK: {RetentionIds.NEXT_STEP: {"type": "plain_text_input",
                                                                "value": next_step or None}},
        RetentionIds.NEXT_STEP_ON_BLOCK: {RetentionIds.NEXT_STEP_ON: {"type": "datepicker", "selected_date": next_on}},
    }  # fmt: skip
    metadata = ref if isinstance(ref, str) else encode(ref)
    payload = {
        "type": "view_submission",
        "team": {"id": "T1", "domain": "test"},
        "user": {"id": user, "username": user.lower(), "team_id": "T1"},
        "api_app_id": "A1",
        "token": "legacy",
        "trigger_id": "1337.submit",
        "view": {"id": "V1", "type": "modal", "callback_id": RetentionIds.DONE_MODAL, "private_metadata": metadata,
                 "blocks": [], "state": {"values": values}},
    }  # fmt: skip
    return server.post_signed(urlencode({"payload": json.dumps(payload)}).encode(), "application/x-www-form-urlencoded")


def ref_of(task: Task) -> TaskRef:
    return TaskRef(task_id=task.id or 0, version=task.version)


def view_text(view: dict) -> str:
    return "\n".join(b["text"]["text"] for b in view["blocks"] if isinstance(b.get("text"), dict))


# --- the button opens the modal -----------------------------------------------------------------------------------


def test_mark_done_opens_the_modal_with_the_trigger_and_the_typed_task(bot_server: BotServer, engine: Engine) -> None:
    alert_id = make_alert(engine, "Acme <Corp>")
    task = make_task(engine, alert_id, 1, timedelta(hours=4))
    assert click_done(bot_server, encode(ref_of(task))).status_code == 200
    opened = bot_server.fake.wait_for("views.open")[0]
    assert opened.params["trigger_id"] == f"1337.{ME}"
    view = opened.params["view"]
    View(**view).validate_json()
    assert view["callback_id"] == RetentionIds.DONE_MODAL
    assert TaskRef.model_validate_json(view["private_metadata"]) == TaskRef(task_id=task.id or 0, version=1)
    assert "*Call the champion*  ·  Acme &lt;Corp&gt;" in view_text(view)
    blocks = {b.get("block_id"): b for b in view["blocks"]}
    radios = blocks[RetentionIds.OUTCOME_BLOCK]["element"]
    assert [o["value"] for o in radios["options"]] == ["done", "not_needed", "escalated"]
    assert [o["text"]["text"] for o in radios["options"]] == ["done", "not needed", "escalate"]
    assert blocks[RetentionIds.NEXT_STEP_ON_BLOCK]["element"]["type"] == "datepicker"
    assert all(blocks[k]["optional"] for k in (RetentionIds.NOTES_BLOCK, RetentionIds.NEXT_STEP_BLOCK,
                                               RetentionIds.NEXT_STEP_ON_BLOCK))  # fmt: skip


def test_a_closed_tasks_button_opens_a_notice_not_the_form(bot_server: BotServer, engine: Engine) -> None:
    task = make_task(engine, make_alert(engine), 1, timedelta(hours=4))
    with unit_of_work(session_factory(engine)) as s:
        assert tasks.close(s, task.id or 0, version=1, outcome="not_needed", by=OTHER)
    click_done(bot_server, encode(ref_of(task)))
    view = bot_server.fake.wait_for("views.open")[0].params["view"]
    assert view["callback_id"] == RetentionIds.STALE_MODAL and "submit" not in view
    assert f"was already closed (not needed) by <@{OTHER}>" in view_text(view)


def test_a_forged_button_value_is_answered_as_out_of_date(bot_server: BotServer, engine: Engine) -> None:
    for forged in ('{"task_id":"1","version":1}', "x", '{"task_id":0,"version":1}'):
        assert click_done(bot_server, forged).status_code == 200
    wait_until(lambda: len(bot_server.fake.calls_to("chat.postEphemeral")) == 3)
    assert not bot_server.fake.calls_to("views.open")


# --- inline errors ------------------------------------------------------------------------------------------------


def test_bad_submissions_get_inline_errors_and_change_nothing(bot_server: BotServer, engine: Engine) -> None:
    task = make_task(engine, make_alert(engine), 1, timedelta(hours=4))
    keys = outbox_keys(engine)
    yesterday = (datetime.now(UTC) - timedelta(days=2)).date().isoformat()

    def errors(**kw: object) -> dict:
        answer = submit(bot_server, ref_of(task), **kw)  # type: ignore[arg-type]
        assert answer.status_code == 200
        body = answer.json()
        assert body["response_action"] == "errors"
        return body["errors"]

    assert errors(outcome=None) == {RetentionIds.OUTCOME_BLOCK: "Pick an outcome."}
    assert errors(outcome="open") == {RetentionIds.OUTCOME_BLOCK: "Pick an outcome."}  # forged: not an outcome
    assert errors(next_step="Renewal call", next_on=yesterday) == {
        RetentionIds.NEXT_STEP_ON_BLOCK: f"Pick today or a later day: {yesterday} has passed."}  # fmt: skip
    assert errors(notes="x" * 3001, next_step="y" * 501) == {
        RetentionIds.NOTES_BLOCK: "At most 3000 characters (this has 3001).",
        RetentionIds.NEXT_STEP_BLOCK: "At most 500 characters (this has 501).",
    }
    assert errors(next_on="2099-01-01") == {
        RetentionIds.NEXT_STEP_BLOCK: "Say what the next step is, or clear its date."
    }
    assert errors(next_step="call", next_on="2026-13-45") == {
        RetentionIds.NEXT_STEP_ON_BLOCK: "Pick a date from the calendar."}  # fmt: skip
    after = stored(engine, task.id or 0)
    assert (after.status, after.version, after.closed_by, after.notes) == ("open", 1, None, None)
    assert outbox_keys(engine) == keys
    assert task_events(engine, task.id or 0) == [("created", None)]


# --- a stale task ---------------------------------------------------------------------------------------------------


def test_a_task_closed_meanwhile_is_reported_in_the_modal_not_overwritten(
    bot_server: BotServer, engine: Engine
) -> None:
    task = make_task(engine, make_alert(engine), 1, timedelta(hours=4))
    with unit_of_work(session_factory(engine)) as s:  # someone else closed it while my modal was open
        assert tasks.close(s, task.id or 0, version=1, outcome="done", by=OTHER, notes="theirs")
    keys = outbox_keys(engine)
    answer = submit(bot_server, ref_of(task), outcome="not_needed", notes="mine")
    body = answer.json()
    assert body["response_action"] == "update"
    View(**body["view"]).validate_json()
    assert f"*Call the champion* was already closed (done) by <@{OTHER}>" in view_text(body["view"])
    after = stored(engine, task.id or 0)
    assert (after.status, after.closed_by, after.notes) == ("done", OTHER, "theirs")
    assert outbox_keys(engine) == keys


def test_a_task_changed_meanwhile_is_reported_in_the_modal_not_overwritten(
    bot_server: BotServer, engine: Engine
) -> None:
    task = make_task(engine, make_alert(engine), 1, timedelta(hours=4))
    with unit_of_work(session_factory(engine)) as s:  # reassigned while my modal (version 1) was open
        assert tasks.assign(s, task.id or 0, OTHER, by=OTHER)
    body = submit(bot_server, ref_of(task), outcome="done").json()
    assert body["response_action"] == "update"
    assert f"changed while this form was open (assigned to <@{OTHER}> now" in view_text(body["view"])
    after = stored(engine, task.id or 0)
    assert (after.status, after.version, after.assignee) == ("open", 2, OTHER)
    for metadata in ("not json", '{"task_id":1}'):  # forged metadata: said so in the modal, nothing changes
        forged = submit(bot_server, metadata).json()
        assert forged["response_action"] == "update" and "out of date" in view_text(forged["view"])


# --- a good submission ----------------------------------------------------------------------------------------------


def test_a_good_submission_closes_redraws_the_thread_list_and_my_home(bot_server: BotServer, engine: Engine) -> None:
    fake = bot_server.fake
    alert_id = make_alert(engine)
    task = make_task(engine, alert_id, 1, timedelta(hours=4))
    other = make_task(engine, alert_id, 2, timedelta(days=2), title="Send the save offer")
    next_on = (datetime.now(UTC) + timedelta(days=3)).date()
    answer = submit(bot_server, ref_of(task), outcome="done", notes="Champion is back on board",
                    next_step="Renewal call", next_on=next_on.isoformat())  # fmt: skip
    assert answer.status_code == 200 and answer.content in (b"", b"{}")  # the modal closes
    after = stored(engine, task.id or 0)  # stored before the ack
    assert (after.status, after.closed_by, after.notes, after.next_step, after.next_step_on, after.version) == (
        "done", ME, "Champion is back on board", "Renewal call", next_on, 2)  # fmt: skip
    assert task_events(engine, task.id or 0) == [("created", None), ("done", ME)]
    version_sum = 2 + 1
    assert f"alert:{alert_id}:tasks:v{version_sum}" in outbox_keys(engine)

    update = fake.wait_for("chat.update")[0]  # the thread's task list, redrawn once
    assert (update.params["channel"], update.params["ts"]) == (CHANNEL, LIST_TS)
    blocks = update.params["blocks"] if isinstance(update.params["blocks"], list) else json.loads(
        update.params["blocks"])  # fmt: skip
    buttons = [b["accessory"] for b in blocks if b.get("accessory", {}).get("action_id") == RetentionIds.MARK_DONE]
    assert [TaskRef.model_validate_json(b["value"]).task_id for b in buttons] == [other.id]  # the closed one has none
    home = published(bot_server)[0]  # the owner's Home, republished: only the task still open
    assert home["user_id"] == ME
    assert "My tasks" in json.dumps(home["view"]) and "Send the save offer" in json.dumps(home["view"])
    assert "Call the champion" not in json.dumps(home["view"])
    time.sleep(0.3)
    assert len(fake.calls_to("chat.update")) == 1

    again = submit(bot_server, ref_of(task), outcome="not_needed").json()  # a double submit changes nothing
    assert again["response_action"] == "update" and "already closed (done)" in view_text(again["view"])
    assert stored(engine, task.id or 0).status == "done"


# --- /health tasks and the Home -------------------------------------------------------------------------------------


def test_health_tasks_lists_my_open_tasks_overdue_first_with_their_buttons(
    bot_server: BotServer, engine: Engine
) -> None:
    none = bot_server.command("tasks").json()
    assert none["text"] == "You have no open tasks. :tada:" and not none.get("blocks")
    alert_id = make_alert(engine, "Acme & Co")
    later = make_task(engine, alert_id, 1, timedelta(days=3), title="Send the save offer")
    overdue = make_task(engine, alert_id, 2, -timedelta(hours=5), title="Call the champion")
    make_task(engine, alert_id, 3, -timedelta(days=1), assignee=OTHER, title="Not mine")
    closed = make_task(engine, alert_id, 4, -timedelta(days=2), title="Done already")
    with unit_of_work(session_factory(engine)) as s:
        assert tasks.close(s, closed.id or 0, version=1, outcome="done", by=ME)
    body = bot_server.command("tasks").json()
    assert body["response_type"] == "ephemeral"
    assert body["text"] == "You have 2 open tasks (1 overdue)."
    blocks = body["blocks"]
    assert blocks[0]["text"]["text"] == "*My open tasks* (2)"
    rows = blocks[1:]
    assert [r["accessory"]["action_id"] for r in rows] == [RetentionIds.MARK_DONE] * 2
    assert [TaskRef.model_validate_json(r["accessory"]["value"]) for r in rows] == [ref_of(overdue), ref_of(later)]
    assert rows[0]["text"]["text"].startswith("*Call the champion*  ·  Acme &amp; Co\n:warning: *overdue* since ")
    assert "\ndue " in rows[1]["text"]["text"]
    assert "Not mine" not in json.dumps(blocks) and "Done already" not in json.dumps(blocks)

    click_done(bot_server, rows[0]["accessory"]["value"])  # its button opens the modal
    assert bot_server.fake.wait_for("views.open")[0].params["view"]["callback_id"] == RetentionIds.DONE_MODAL
    assert "`/health tasks`" in bot_server.command("help").json()["text"]


def test_home_shows_my_tasks_with_their_buttons(bot_server: BotServer, engine: Engine) -> None:
    task = make_task(engine, make_alert(engine), 1, -timedelta(hours=1))
    assert home_opened(bot_server, "EvTasks1").status_code == 200
    view = published(bot_server)[0]["view"]
    assert view["blocks"][1]["text"]["text"] == "My tasks"
    row = view["blocks"][2]
    assert row["accessory"]["action_id"] == RetentionIds.MARK_DONE
    assert TaskRef.model_validate_json(row["accessory"]["value"]) == ref_of(task)
    assert ":warning: *overdue*" in row["text"]["text"]
    home_opened(bot_server, "EvTasks2", user=OTHER)  # no tasks: no section
    other = published(bot_server, 2)[1]["view"]
    assert "My tasks" not in json.dumps(other)


# --- the pure parts -------------------------------------------------------------------------------------------------


def test_read_submission_trims_and_takes_an_empty_form_as_no_outcome() -> None:
    state = {"state": {"values": {
        RetentionIds.OUTCOME_BLOCK: {RetentionIds.OUTCOME: {"selected_option": {"value": "escalated"}}},
        RetentionIds.NOTES_BLOCK: {RetentionIds.NOTES: {"value": "  stuck on legal  "}},
        RetentionIds.NEXT_STEP_ON_BLOCK: {RetentionIds.NEXT_STEP_ON: {"selected_date": None}},
    }}}  # fmt: skip
    assert modal.read_submission(state, TODAY) == modal.Submission("escalated", "stuck on legal", None, None)
    assert modal.read_submission({}, TODAY) == {RetentionIds.OUTCOME_BLOCK: "Pick an outcome."}
    values = {
        **state["state"]["values"],
        RetentionIds.NEXT_STEP_BLOCK: {RetentionIds.NEXT_STEP: {"value": "call"}},
        RetentionIds.NEXT_STEP_ON_BLOCK: {RetentionIds.NEXT_STEP_ON: {"selected_date": TODAY.isoformat()}},
    }
    today = {"state": {"values": values}}
    assert modal.read_submission(today, TODAY) == modal.Submission("escalated", "stuck on legal", "call", TODAY)


def test_the_modal_and_lists_validate_in_another_time_zone() -> None:
    tz = ZoneInfo("Europe/Berlin")
    task = Task(id=3, alert_id=1, account_id=1, playbook="high_risk", step=1, title="t", owner_role="CSM",
                due_at=datetime(2026, 6, 30, 12, tzinfo=UTC), version=4)  # fmt: skip
    view = modal.done_modal(task, None, tz)
    assert "Due Tue 30 Jun 14:00 CEST  ·  assigned to nobody yet" in view_text(view)
    assert view["private_metadata"] == '{"task_id":3,"version":4}'
    many = [modal.TaskRow(task, "a") for _ in range(60)]
    message = modal.my_tasks(many, datetime(2026, 7, 1, tzinfo=UTC), tz)
    assert message.blocks is not None and len(message.blocks) == 1 + modal.LIST_LIMIT + 1
    assert message.blocks[-1]["elements"][0]["text"] == "…and 20 more, due later."
    assert len(modal.home_section(many, datetime(2026, 7, 1, tzinfo=UTC), tz)) == 1 + modal.HOME_LIMIT + 2
