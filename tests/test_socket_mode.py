"""`healthbot run` in Socket Mode, end to end: a real process with SLACK_APP_TOKEN set, the Web API at the
recording fake Slack, whose `apps.connections.open` hands out the ws:// URL of a small WebSocket server
standing in for Slack's Socket Mode endpoint. That server greets with `hello`, sends Slack's envelopes
and records the bot's acknowledgements."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

from storage.models import Account, SlackEvent
from tests.conftest import BOT_TOKEN, free_port, slash_command_form, wait_for_healthz
from tests.fake_slack import FakeSlack

APP_TOKEN = "xapp-1-A1-1-socketmodetest"
ME = "U01CSM0001"
WAIT = 30.0  # generous: only ever reached when something is broken


class FakeSocketMode:
    """Slack's Socket Mode endpoint on loopback: `hello` on connect, envelopes on demand, acks recorded."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._connections: list[ServerConnection] = []
        self.paths: list[str] = []
        self.acks: list[dict[str, Any]] = []
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    def start(self) -> FakeSocketMode:
        self._server = serve(self._handle, "127.0.0.1", 0, compression=None)
        port = self._server.socket.getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}/link/?ticket=test-ticket-1&app_id=A1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()  # closes open connections too
            self._server = None
        if self._thread is not None:
            self._thread.join(10)

    def _handle(self, ws: ServerConnection) -> None:
        ws.send(json.dumps(hello()))  # what Slack sends first on every new connection
        with self._cond:
            self._connections.append(ws)
            self.paths.append(ws.request.path if ws.request else "")
            self._cond.notify_all()
        try:
            for raw in ws:
                message = json.loads(raw)
                with self._cond:
                    self.acks.append(message)
                    self._cond.notify_all()
        except ConnectionClosed:
            pass
        finally:
            with self._cond:
                self._connections.remove(ws)
                self._cond.notify_all()

    def wait_connected(self, timeout: float = WAIT) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: self._connections, timeout):
                raise AssertionError(f"the bot did not open a WebSocket connection within {timeout}s")

    def wait_disconnected(self, timeout: float = WAIT) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: not self._connections, timeout):
                raise AssertionError(f"the bot's WebSocket connection was still open after {timeout}s")

    def send(self, envelope: dict[str, Any]) -> None:
        """Deliver `envelope` on the newest open connection (Slack picks any one of them)."""
        with self._cond:
            ws = self._connections[-1]
        ws.send(json.dumps(envelope))

    def ack_for(self, envelope_id: str, timeout: float = WAIT) -> dict[str, Any]:
        """The bot's acknowledgement of `envelope_id`, waiting for it to arrive."""

        def found() -> list[dict[str, Any]]:
            return [a for a in self.acks if a.get("envelope_id") == envelope_id]

        with self._cond:
            if not self._cond.wait_for(found, timeout):
                raise AssertionError(f"no ack for envelope {envelope_id} within {timeout}s; got {self.acks}")
            acks = found()
        assert len(acks) == 1, f"envelope {envelope_id} acked {len(acks)} times"
        return acks[0]


# ----- Slack's envelopes (https://docs.slack.dev/apis/events-api/using-socket-mode) ------------------------------


def hello() -> dict[str, Any]:
    return {
        "type": "hello",
        "num_connections": 1,
        "debug_info": {
            "host": "applink-test",
            "build_number": 1,
            "approximate_connection_time": 18060,
        },
        "connection_info": {"app_id": "A1"},
    }


def slash_command(text: str, response_url: str, user_id: str = ME) -> dict[str, Any]:
    return {
        "envelope_id": str(uuid.uuid4()),
        "type": "slash_commands",
        "accepts_response_payload": True,
        "payload": {**slash_command_form(text, response_url, user_id), "is_enterprise_install": "false"},
    }


def block_actions(button: dict[str, Any], response_url: str, user_id: str = ME) -> dict[str, Any]:
    """A click on `button` of an ephemeral message the bot sent."""
    action = {k: button[k] for k in ("type", "action_id", "value", "text")}
    return {
        "envelope_id": str(uuid.uuid4()),
        "type": "interactive",
        "accepts_response_payload": False,
        "payload": {
            "type": "block_actions",
            "user": {"id": user_id, "username": "csm", "name": "csm", "team_id": "T1"},
            "api_app_id": "A1",
            "token": "legacy",
            "container": {"type": "message", "message_ts": "1700000000.000100", "is_ephemeral": True},
            "trigger_id": "1337.43.abcd",
            "team": {"id": "T1", "domain": "test"},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": "C0TEST0001", "name": "customer-health"},
            "state": {"values": {}},
            "response_url": response_url,
            "actions": [{**action, "block_id": "b1", "action_ts": "1700000001.000200"}],
        },
    }


def app_home_opened(event_id: str, user: str = ME, retry_attempt: int = 0) -> dict[str, Any]:
    return {
        "envelope_id": str(uuid.uuid4()),
        "type": "events_api",
        "accepts_response_payload": False,
        "retry_attempt": retry_attempt,
        "retry_reason": "timeout" if retry_attempt else "",
        "payload": {
            "token": "legacy",
            "team_id": "T1",
            "api_app_id": "A1",
            "event": {
                "type": "app_home_opened",
                "user": user,
                "channel": "D0HOME",
                "tab": "home",
                "event_ts": "1700000000.000100",
            },
            "type": "event_callback",
            "event_id": event_id,
            "event_time": 1700000000,
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": "T1",
                    "user_id": "UBOT",
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": "4-eyJldCI6ImFwcF9ob21lX29wZW5lZCJ9",
        },
    }


# ----- the running bot ---------------------------------------------------------------------------------------------


class Running:
    def __init__(self, proc: subprocess.Popen, url: str, log: Path, socket_mode: FakeSocketMode) -> None:
        self.proc, self.url, self.log, self.socket_mode = proc, url, log, socket_mode

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_log(self, text: str, timeout: float = WAIT) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not logged by healthbot run; its output:\n{self.output()}")
            time.sleep(0.05)


@pytest.fixture
def socket_mode() -> Iterator[FakeSocketMode]:
    server = FakeSocketMode().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def running(tmp_path: Path, database_url: str, fake_slack: FakeSlack, socket_mode: FakeSocketMode) -> Iterator[Running]:
    fake_slack.set_response("apps.connections.open", {"ok": True, "url": socket_mode.url})
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_") and "proxy" not in k.lower()}
    env.update({
        "DATABASE_URL": database_url,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_APP_TOKEN": APP_TOKEN,  # Socket Mode; no signing secret needed
        "SLACK_API_URL": fake_slack.url,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "LOG_LEVEL": "INFO",
    })  # fmt: skip
    log = tmp_path / "healthbot-run.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run"], cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    bot = Running(proc, f"http://127.0.0.1:{port}", log, socket_mode)
    try:
        wait_for_healthz(proc, bot.url, bot.output, timeout=WAIT)
        socket_mode.wait_connected()
        yield bot
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(15)


def _buttons(blocks: list[dict], action_id: str) -> list[dict]:
    elements = [b["accessory"] for b in blocks if "accessory" in b]
    elements += [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
    return [e for e in elements if e.get("action_id") == action_id]


def _validate(blocks: list[dict]) -> None:
    assert 0 < len(blocks) <= 50
    for b in blocks:
        block = Block.parse(b)
        assert block is not None, b
        block.validate_json()


# ----- the tests ---------------------------------------------------------------------------------------------------


def test_socket_mode_connects_with_the_app_token_and_keeps_healthz(running: Running, fake_slack: FakeSlack) -> None:
    (opened,) = fake_slack.calls_to("apps.connections.open")
    assert opened.headers["authorization"] == f"Bearer {APP_TOKEN}"  # the app-level token, not the bot token
    assert fake_slack.calls_to("auth.test")[0].headers["authorization"] == f"Bearer {BOT_TOKEN}"
    assert running.socket_mode.paths == ["/link/?ticket=test-ticket-1&app_id=A1"]
    assert "connected to Slack in Socket Mode" in running.output()

    resp = httpx.get(f"{running.url}/healthz", timeout=10)
    assert (resp.status_code, resp.json()) == (200, {"ok": True, "database": "up", "slack": "connected"})
    # Slack talks over the WebSocket only: nothing is served at the HTTP events endpoint
    assert httpx.post(f"{running.url}/slack/events", content=b"{}", timeout=10).status_code == 404


def test_slash_command_envelope_is_acked_with_the_account_card_whose_share_button_works(
    seeded: Engine, running: Running, fake_slack: FakeSlack
) -> None:
    with Session(seeded) as s:
        account = s.exec(select(Account).where(Account.status == "active").order_by(col(Account.id))).first()
    assert account is not None
    envelope = slash_command(account.name, fake_slack.response_url("cmd"))

    running.socket_mode.send(envelope)
    ack = running.socket_mode.ack_for(envelope["envelope_id"])

    assert set(ack) == {"envelope_id", "payload"}
    payload = ack["payload"]
    assert payload["response_type"] == "ephemeral"
    _validate(payload["blocks"])
    assert account.name in payload["blocks"][0]["text"]["text"]
    assert "/ 100" in payload["blocks"][0]["text"]["text"]
    assert account.name in payload["text"]  # the notification / screen-reader fallback

    (share,) = _buttons(payload["blocks"], "health.share")
    click = block_actions(share, fake_slack.response_url("share"))
    running.socket_mode.send(click)

    assert running.socket_mode.ack_for(click["envelope_id"]) == {"envelope_id": click["envelope_id"]}
    shared, deleted = (c.params for c in fake_slack.wait_for("response_url", 2, timeout=WAIT))
    assert shared["response_type"] == "in_channel" and shared["replace_original"] is False
    _validate(shared["blocks"])
    assert f"*{account.name}*" in shared["blocks"][0]["text"]["text"]
    assert deleted["delete_original"] is True
    assert [c.path for c in fake_slack.calls_to("response_url")] == ["/response/share"] * 2


def test_unknown_customer_envelope_is_acked_with_an_ephemeral_hint(
    engine: Engine, running: Running, fake_slack: FakeSlack
) -> None:
    envelope = slash_command("zzqqxx-no-such", fake_slack.response_url("cmd"))

    running.socket_mode.send(envelope)
    payload = running.socket_mode.ack_for(envelope["envelope_id"])["payload"]

    assert payload["response_type"] == "ephemeral"
    assert "zzqqxx-no-such" in payload["text"]
    if payload.get("blocks"):
        _validate(payload["blocks"])


def _handled(engine: Engine, event_id: str) -> bool:
    with Session(engine) as s:
        return s.get(SlackEvent, event_id) is not None


def test_app_home_opened_envelope_publishes_the_home_tab_once(
    seeded: Engine, running: Running, fake_slack: FakeSlack
) -> None:
    first = app_home_opened("EvSock001")
    running.socket_mode.send(first)

    assert running.socket_mode.ack_for(first["envelope_id"]) == {"envelope_id": first["envelope_id"]}
    (call,) = fake_slack.wait_for("views.publish", 1, timeout=WAIT)
    assert call.params["user_id"] == ME
    assert call.headers["authorization"] == f"Bearer {BOT_TOKEN}"
    view = View(**call.params["view"])
    view.validate_json()
    assert view.type == "home" and 0 < len(call.params["view"]["blocks"]) <= 100
    deadline = time.monotonic() + WAIT  # marked handled once the publish succeeded: a redelivery is then dropped
    while not _handled(seeded, "EvSock001"):
        assert time.monotonic() < deadline, "the event was never marked handled"
        time.sleep(0.02)

    retry = app_home_opened("EvSock001", retry_attempt=1)  # Slack's redelivery carries retry_attempt
    running.socket_mode.send(retry)
    assert running.socket_mode.ack_for(retry["envelope_id"]) == {"envelope_id": retry["envelope_id"]}
    running.wait_for_log("dropped retry 1 of event EvSock001")
    assert len(fake_slack.calls_to("views.publish")) == 1


def test_sigterm_stops_the_bot_and_closes_its_websocket(running: Running) -> None:
    running.proc.send_signal(signal.SIGTERM)
    try:
        code = running.proc.wait(WAIT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"healthbot run did not stop on SIGTERM:\n{running.output()}")
    running.socket_mode.wait_disconnected()
    assert code == 0, running.output()  # a clean exit: the scheduler and the WebSocket were closed
    assert "Traceback" not in running.output()
