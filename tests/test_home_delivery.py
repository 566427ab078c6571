"""App Home delivered at least once: an event is marked handled only after its Home was published.

End to end: signed Events API posts to the real HTTP endpoint (`bot_server`), or to a real `healthbot run`
process that is killed mid-publish; the fake Slack Web API fails on demand.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy import Engine, text

from storage import events
from storage.db import session_factory, unit_of_work
from tests.conftest import BOT_TOKEN, SIGNING_SECRET, BotServer, free_port, sign, wait_for_healthz
from tests.fake_slack import FakeSlack

ME = "U01CSM0001"


def event_body(event_id: str | None, user: str = ME) -> bytes:
    payload = {
        "token": "legacy",
        "team_id": "T1",
        "api_app_id": "A1",
        "type": "event_callback",
        "event_time": 1700000000,
        "event": {"type": "app_home_opened", "user": user, "channel": "D0HOME", "tab": "home", "event_ts": "1.2"},
    }
    if event_id is not None:
        payload["event_id"] = event_id
    return json.dumps(payload).encode()


def retry_headers(retry: int) -> dict[str, str]:
    return {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"} if retry else {}


def post(server: BotServer, event_id: str | None, retry: int = 0, user: str = ME) -> httpx.Response:
    return server.post_signed(event_body(event_id, user), "application/json", retry_headers(retry))


def published_ok(fake: FakeSlack, count: int = 1, timeout: float = 15) -> list[str]:
    """The users whose Home was published successfully, once `count` publishes succeeded (fails on timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        ok = [c.params["user_id"] for c in fake.calls_to("views.publish") if c.failed_status is None]
        if len(ok) >= count:
            return ok
        assert time.monotonic() < deadline, f"{len(ok)} successful views.publish, wanted {count}"
        time.sleep(0.05)


def handled(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(text("SELECT event_id FROM slack_event ORDER BY event_id"))]


def test_a_retry_arriving_while_the_first_publish_still_fails_publishes_the_home(
    engine: Engine, bot_server: BotServer, fake_slack: FakeSlack
) -> None:
    """Slack retries while our first attempt is still retrying its 500s: that retry must not be dropped."""
    fake_slack.fail_next("views.publish", status=500, times=3)  # all of one delivery's tries
    assert post(bot_server, "EvRace").status_code == 200
    fake_slack.wait_for("views.publish", 1, timeout=10)  # the first attempt is under way (and failing)
    assert post(bot_server, "EvRace", retry=1).status_code == 200  # Slack's last word on this event
    assert published_ok(fake_slack)[0] == ME  # both deliveries may publish: views.publish is idempotent
    time.sleep(2)  # both deliveries are done retrying
    assert handled(engine) == ["EvRace"]  # published: marked handled, so a later retry is dropped
    before = published_ok(fake_slack)
    post(bot_server, "EvRace", retry=2)
    post(bot_server, "EvNext", user="U01CSM0002")
    assert published_ok(fake_slack, len(before) + 1)[-1] == "U01CSM0002"
    time.sleep(0.3)
    assert published_ok(fake_slack) == [*before, "U01CSM0002"]


def test_a_publish_that_fails_all_its_retries_leaves_the_event_unhandled(
    engine: Engine, bot_server: BotServer, fake_slack: FakeSlack
) -> None:
    fake_slack.fail_next("views.publish", status=500, times=3)
    post(bot_server, "EvFail")
    fake_slack.wait_for("views.publish", 3, timeout=15)
    time.sleep(0.5)  # the handler gives up after its third try
    assert handled(engine) == []
    post(bot_server, "EvFail", retry=1)
    assert published_ok(fake_slack) == [ME]


def test_events_without_an_event_id_are_each_published(bot_server: BotServer, fake_slack: FakeSlack) -> None:
    assert post(bot_server, None).status_code == 200
    published_ok(fake_slack, 1)
    assert post(bot_server, None, user="U01CSM0002").status_code == 200
    assert published_ok(fake_slack, 2) == [ME, "U01CSM0002"]


def test_a_long_event_id_publishes_once_and_its_retry_is_dropped(
    engine: Engine, bot_server: BotServer, fake_slack: FakeSlack
) -> None:
    long_id = "Ev" + "X" * 200
    assert post(bot_server, long_id).status_code == 200
    assert published_ok(fake_slack) == [ME]
    deadline = time.monotonic() + 10
    while not handled(engine) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [len(k) <= 64 for k in handled(engine)] == [True]
    post(bot_server, long_id, retry=1)
    post(bot_server, "Ev" + "X" * 199 + "Y", user="U01CSM0002")  # another long id sharing the first 200 chars
    assert published_ok(fake_slack, 2) == [ME, "U01CSM0002"]
    time.sleep(0.3)
    assert len(fake_slack.calls_to("views.publish")) == 2


def test_event_keys_of_any_length_claim_once(engine: Engine) -> None:
    sessions = session_factory(engine)
    keys = ["Ev1", "share:C0123:1700000000.000100", "E" * 64, "E" * 65, "E" * 64 + "F", "x" * 5000]
    for key in keys:
        with unit_of_work(sessions) as session:
            assert not events.event_handled(session, key)
            assert events.claim_event(session, key) is True
        with unit_of_work(sessions) as session:
            assert events.event_handled(session, key)
            assert events.claim_event(session, key) is False
    with unit_of_work(sessions) as session:
        events.release_event(session, "x" * 5000)
        assert not events.event_handled(session, "x" * 5000)
        assert events.event_handled(session, "E" * 65)


def test_a_process_killed_while_publishing_publishes_on_slacks_retry(
    engine: Engine, database_url: str, tmp_path: Path, fake_slack: FakeSlack
) -> None:
    """SIGKILL between the ack and the published Home (here: sleeping on a 429): the retry publishes it."""

    def start() -> tuple[subprocess.Popen, str]:
        port = free_port()
        env = {
            **os.environ, "DATABASE_URL": database_url, "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": fake_slack.url, "HOST": "127.0.0.1",
            "PORT": str(port),
        }  # fmt: skip
        env.pop("SLACK_APP_TOKEN", None)
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run"], cwd=tmp_path, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        wait_for_healthz(proc, url, lambda: proc.stdout.read().decode() if proc.stdout else "")
        return proc, url

    def deliver(url: str, retry: int) -> int:
        body = event_body("EvKill")
        headers = {"Content-Type": "application/json", **sign(body), **retry_headers(retry)}
        return httpx.post(f"{url}/slack/events", content=body, headers=headers, timeout=10).status_code

    proc, url = start()
    try:
        fake_slack.fail_next("views.publish", status=429, times=1, retry_after=60)
        assert deliver(url, 0) == 200  # acked before the publish
        fake_slack.wait_for("views.publish", 1, timeout=10)  # now sleeping on the Retry-After
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        if proc.stdout:
            proc.stdout.close()
    assert handled(engine) == []
    proc, url = start()
    try:
        assert deliver(url, 1) == 200
        assert published_ok(fake_slack) == [ME]
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout:
            proc.stdout.close()
