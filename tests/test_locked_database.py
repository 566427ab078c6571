"""A locked database: what the user is told matches what is stored.

Another connection holds a write lock (SQLite: a raw connection in `BEGIN IMMEDIATE`; PostgreSQL: `LOCK TABLE
... IN ACCESS EXCLUSIVE MODE` on the table the request writes) while a modal is submitted or a button clicked
through the real HTTP endpoint. A submission is answered within Slack's 3 s, before the lock goes, with "not
saved, try again" and nothing is written once the lock goes; a click is answered privately with "try again" and
nothing changes. Jobs, imports and the CLI keep their long wait (`storage.db.make_engine`'s 30 s)."""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text

from bot.alerts.ids import AlertIds
from bot.health.ids import HealthIds
from bot.health.values import AccountRef
from bot.settings import Settings
from bot.slack.values import encode
from prompts import say
from storage import db, tasks
from storage.db import session_factory, unit_of_work
from storage.models import Task
from storage.types import utcnow
from tests import test_alert_thread as alert_t
from tests import test_exit_interview as exit_t
from tests import test_override_slack as override_t
from tests import test_task_done as done_t
from tests.conftest import BotServer
from tests.fake_slack import FakeSlack

DAY = exit_t.DAY
NOT_SAVED = "health.busy_not_saved"
NOT_APPLIED = "health.busy_not_applied"
FEW_SECONDS = 5.0  # a clicker hears back within this


@pytest.fixture
def server(settings: Settings, engine: Engine, fake_slack: FakeSlack) -> Iterator[BotServer]:
    bot = BotServer(settings, engine, fake_slack, today=DAY).start()
    yield bot
    bot.stop()


@contextmanager
def write_lock(engine: Engine, table: str, log: list[str], row: int | None = None) -> Iterator[None]:
    """Another connection holding the database's write lock (SQLite) or, on PostgreSQL, `table` exclusively
    or only its `row` (SELECT ... FOR UPDATE, as another transaction updating it would)."""
    if engine.dialect.name == "sqlite":
        raw = sqlite3.connect(engine.url.database or "", isolation_level=None)
        raw.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            raw.execute("ROLLBACK")
            raw.close()
            log.append("released")
    else:
        with engine.connect() as conn:
            if row is None:
                conn.execute(text(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))
            else:
                conn.execute(text(f"SELECT id FROM {table} WHERE id = :id FOR UPDATE"), {"id": row})
            try:
                yield
            finally:
                conn.rollback()
                log.append("released")


def settle() -> None:
    """A write the lock held back would land in this moment after the lock goes."""
    time.sleep(0.5)


def told(answer: httpx.Response) -> str:
    """What a view_submission's ack shows the user: inline errors, or the text of a view pushed or updated."""
    body: dict[str, Any] = answer.json() if answer.content else {}
    errors = list((body.get("errors") or {}).values())
    blocks = (body.get("view") or {}).get("blocks") or []
    return "\n".join(errors + [b["text"]["text"] for b in blocks if isinstance(b.get("text"), dict)])


def submitted_under_lock(engine: Engine, table: str, send: Any, row: int | None = None) -> httpx.Response:
    """`send()` while the lock is held; the answer must come before the lock goes."""
    log: list[str] = []
    with write_lock(engine, table, log, row):
        answer = send()
        log.append("answered")
    assert log == ["answered", "released"]
    assert answer.status_code == 200, f"no answer within Slack's 3 s: {answer.status_code} {answer.text}"
    assert say(NOT_SAVED) in told(answer)
    settle()
    return answer


# --- submissions: answered within 3 s, "not saved", nothing written ------------------------------------------------


def test_mark_done_under_a_lock_is_not_saved_and_says_so(server: BotServer, engine: Engine) -> None:
    alert_id = done_t.make_alert(engine)
    task = done_t.make_task(engine, alert_id, 1, timedelta(hours=4))
    submitted_under_lock(engine, "task", lambda: done_t.submit(server, done_t.ref_of(task), notes="Called them"))
    after = done_t.stored(engine, task.id or 0)
    assert (after.status, after.version, after.notes) == ("open", 1, None)  # nothing written, not even later
    assert done_t.task_events(engine, task.id or 0) == [("created", None)]

    again = done_t.submit(server, done_t.ref_of(task), notes="Called them")  # trying again works
    assert again.status_code == 200 and again.content in (b"", b"{}")
    assert done_t.stored(engine, task.id or 0).status == "done"


def test_mark_done_under_a_row_lock_is_not_saved_and_says_so(server: BotServer, engine: Engine) -> None:
    """PostgreSQL: another transaction holding the task's row (SQLite locks the whole file: the test above)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("row locks are PostgreSQL's")
    alert_id = done_t.make_alert(engine)
    task = done_t.make_task(engine, alert_id, 1, timedelta(hours=4))
    send = lambda: done_t.submit(server, done_t.ref_of(task))  # noqa: E731
    submitted_under_lock(engine, "task", send, row=task.id)
    assert (done_t.stored(engine, task.id or 0).status, done_t.task_events(engine, task.id or 0)) == (
        "open", [("created", None)])  # fmt: skip


def test_an_exit_interview_under_a_lock_is_not_saved_and_says_so(server: BotServer, engine: Engine) -> None:
    account_id = exit_t.add_account(engine, alert=True)
    view = exit_t.open_by_command(server)
    submitted_under_lock(engine, "exit_interview", lambda: exit_t.submit(server, view, exit_t.form()))
    interview, history, account = exit_t.stored(engine, account_id)
    assert (interview, history, account.status) == (None, [], "active")

    again = exit_t.submit(server, view, exit_t.form())  # saved: the ack shows the suggested coding, no errors
    assert again.status_code == 200 and again.json()["response_action"] == "update"
    assert again.json()["view"]["callback_id"] == "exit.coding"
    interview, _, account = exit_t.stored(engine, account_id)
    assert interview is not None and account.status == "churned"


def test_an_override_under_a_lock_is_not_saved_and_says_so(server: BotServer, engine: Engine) -> None:
    account_id = override_t.add_account(engine)
    view = override_t.open_modal(server, account_id)

    def send() -> httpx.Response:
        return override_t.submit(server, view, tier="healthy", reason="Champion back", until="2026-07-31")

    submitted_under_lock(engine, "health_override", send)
    assert override_t.overrides(engine, account_id) == []

    assert send().status_code == 200
    assert [o.tier for o in override_t.overrides(engine, account_id)] == ["healthy"]


def test_a_submission_past_slacks_3_s_is_never_stored(
    settings: Settings, engine: Engine, fake_slack: FakeSlack
) -> None:
    """One listener thread: the second submission waits for the first (2 s), then for the lock; Slack has given
    up on it (404 at 3 s) by the time the lock goes, so it must roll back rather than be stored unseen."""
    server = BotServer(dataclasses.replace(settings, listener_threads=1), engine, fake_slack, today=DAY).start()
    try:
        alert_id = done_t.make_alert(engine)
        first, second = (done_t.make_task(engine, alert_id, step, timedelta(hours=4)) for step in (1, 2))
        answers: dict[int, httpx.Response] = {}

        def send(task: Task) -> None:
            answers[task.id or 0] = done_t.submit(server, done_t.ref_of(task))

        log: list[str] = []
        with write_lock(engine, "task", log):
            threads = [threading.Thread(target=send, args=(t,)) for t in (first, second)]
            for t in threads:
                t.start()
                time.sleep(0.1)  # the first is first in the listener's queue
            threads[1].join()  # Slack's answer to the second: 404 at 3 s, its listener still waiting for the lock
            log.append("second answered")
        threads[0].join()
        assert log == ["second answered", "released"]
        settle()
        assert say(NOT_SAVED) in told(answers[first.id or 0])
        assert answers[second.id or 0].status_code == 404  # Slack shows the user an error
        assert [done_t.stored(engine, t.id or 0).status for t in (first, second)] == ["open", "open"]
    finally:
        server.stop()


# --- clicks: told privately, nothing half-applied ------------------------------------------------------------------


def test_a_claim_under_a_lock_tells_the_clicker_to_try_again(server: BotServer, engine: Engine) -> None:
    alert_id = alert_t.make_alert(engine)
    before = alert_t.redraw_rows(engine, alert_id)
    log: list[str] = []
    with write_lock(engine, "alert", log):
        assert alert_t.click(server, alert_t.CLAIMER, AlertIds.CLAIM, alert_id).status_code == 200
        note = server.fake.wait_for("response_url", timeout=FEW_SECONDS)[0].params
        log.append("told")
    assert log == ["told", "released"]
    assert note["text"] == say(NOT_APPLIED)
    assert note["response_type"] == "ephemeral" and note["replace_original"] is False
    settle()
    assert alert_t.stored(engine, alert_id).claimed_by is None
    assert [k for k, _, _ in alert_t.events(engine, alert_id)] == ["opened"]
    assert len(alert_t.redraw_rows(engine, alert_id)) == len(before)
    assert server.fake.calls_to("chat.update") == []

    alert_t.click(server, alert_t.CLAIMER, AlertIds.CLAIM, alert_id)  # trying again works
    server.fake.wait_for("chat.update")
    assert alert_t.stored(engine, alert_id).claimed_by == alert_t.CLAIMER


def test_a_share_under_a_lock_tells_the_clicker_to_try_again(server: BotServer, engine: Engine) -> None:
    account_id = override_t.add_account(engine)
    log: list[str] = []
    with write_lock(engine, "slack_event", log):
        assert server.action(HealthIds.SHARE, encode(AccountRef(account_id=account_id))).status_code == 200
        note = server.fake.wait_for("response_url", timeout=FEW_SECONDS)[0].params
        log.append("told")
    assert log == ["told", "released"]
    assert note["text"] == say(NOT_APPLIED) and note["response_type"] == "ephemeral"
    settle()
    assert len(server.fake.calls_to("response_url")) == 1  # the card was not posted

    server.action(HealthIds.SHARE, encode(AccountRef(account_id=account_id)))  # trying again posts it
    shared = server.fake.wait_for("response_url", 2)[1].params
    assert shared["response_type"] == "in_channel"


# --- the bound is the request path's only ------------------------------------------------------------------------


def test_jobs_and_the_cli_keep_their_long_wait(engine: Engine) -> None:
    """A lock held past the request bound does not fail a unit of work without `lock_wait` (a job, the CLI),
    even on a pooled connection a request used just before (its short wait stays with the request)."""
    alert_id = done_t.make_alert(engine)
    account_id = alert_t.stored(engine, alert_id).account_id
    with unit_of_work(session_factory(engine, lock_wait=db.REQUEST_LOCK_WAIT)) as s:  # a request came and went
        assert tasks.of_alert(s, alert_id) == []
    log: list[str] = []
    holding = threading.Event()

    def hold() -> None:
        with write_lock(engine, "task", log):
            holding.set()
            time.sleep(db.REQUEST_LOCK_WAIT + 1)

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait()
    try:
        with unit_of_work(session_factory(engine)) as s:
            created = tasks.create(s, [Task(alert_id=alert_id, account_id=account_id, playbook="high_risk", step=1,
                                            title="Wait for it", owner_role="CSM", due_at=utcnow())])  # fmt: skip
            task_id = created[0].id or 0
        log.append("written")
    finally:
        holder.join()
    assert log == ["released", "written"]
    assert done_t.stored(engine, task_id).title == "Wait for it"
