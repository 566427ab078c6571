"""Shared fixtures: a real database (SQLite, or PostgreSQL via TEST_DATABASE_URL), the
recording fake Slack, and the bot served over real HTTP on a random loopback port."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
import uvicorn
from sqlalchemy import Engine, text

from bot.app import create_app
from bot.settings import Settings, load_settings
from bot.web import create_web
from prompts import ENGLISH, languages, set_default, speaking
from storage.db import make_engine, upgrade
from tests.fake_slack import FakeSlack

SIGNING_SECRET = "test-signing-secret"
BOT_TOKEN = "xoxb-test-token"
TABLES = (  # children first
    "churn_forecast", "churn_chance_fit", "assistant_feedback",
    "exit_interview_revision", "exit_interview", "sync_item", "sync_state", "task_event", "task", "alert_listing",
    "alert_event",
    "alert", "outbox_message", "slack_event", "health_override", "health_score", "metric_observation",
    "metric_day_change",
    "account_field_change", "account", "churn_forecast", "churn_chance_fit",
)  # fmt: skip


def _reset_postgres(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session", autouse=True)
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The daily run's metric cache (CACHE_DIR) in a temp folder, never the user's ~/.cache."""
    folder = tmp_path_factory.mktemp("cache")
    os.environ["CACHE_DIR"] = str(folder)
    return folder


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        url = load_settings(env_file=None, environ={"DATABASE_URL": url}).database_url
        _reset_postgres(url)
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture
def zh(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The command line in Chinese (LANGUAGE=zh-CN), the default put back after."""
    monkeypatch.setenv("LANGUAGE", "zh-CN")
    try:
        yield
    finally:
        set_default(ENGLISH)


@pytest.fixture(params=languages())
def language(request: pytest.FixtureRequest) -> Iterator[str]:
    """The test's builders speak each language in turn (issue 23): a payload test marked `snapshot.both`."""
    with speaking(request.param) as spoken:
        yield spoken


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """A migrated database emptied before each test."""
    eng = make_engine(database_url)
    with eng.begin() as conn:
        for table in TABLES:
            conn.execute(text(f"DELETE FROM {table}"))
    yield eng
    eng.dispose()


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str) -> None:
    """`healthbot` CLI calls in this test use the test database and the default scorecard."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    for name in ("SCORECARD_PATH", "SLACK_APP_TOKEN"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def settings(database_url: str, fake_slack: FakeSlack) -> Settings:
    return load_settings(
        env_file=None,
        environ={
            "DATABASE_URL": database_url,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": fake_slack.url,
        },
    )


def sign(body: bytes, timestamp: int | None = None, secret: str = SIGNING_SECRET) -> dict[str, str]:
    """Slack's request signature headers for `body`."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def slash_command_form(text: str, response_url: str, user_id: str = "U01CSM0001", command: str = "/health") -> dict:
    """The fields Slack sends for a slash command (form-encoded over HTTP, `payload` in Socket Mode)."""
    return {
        "token": "legacy",
        "team_id": "T1",
        "team_domain": "test",
        "channel_id": "C0TEST0001",
        "channel_name": "customer-health",
        "user_id": user_id,
        "user_name": "csm",
        "command": command,
        "text": text,
        "api_app_id": "A1",
        "response_url": response_url,
        "trigger_id": "1337.42.abcd",
    }


def wait_for_healthz(proc: subprocess.Popen, url: str, output: Callable[[], str], timeout: float = 30) -> None:
    """Until a `healthbot run` process answers /healthz; the test fails with its output if it stops or hangs."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            if proc.poll() is None:
                proc.kill()
            pytest.fail(f"healthbot run did not come up:\n{output()}")
        time.sleep(0.1)


class BotServer:
    """The bot's ASGI app under uvicorn on a free loopback port, driven like Slack drives it."""

    def __init__(self, settings: Settings, engine: Engine, fake: FakeSlack, today: date | None = None):
        # bound here and handed to uvicorn: a port picked free and bound later can be taken in between
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.fake = fake
        bolt = create_app(settings, engine, today=(lambda: today) if today else None)
        config = uvicorn.Config(
            create_web(bolt, engine, signing_secret=SIGNING_SECRET),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.url = f"http://127.0.0.1:{self.port}"
        self.http = httpx.Client(base_url=self.url, timeout=10)

    def start(self) -> BotServer:
        self.thread.start()
        deadline = time.time() + 10
        while not self.server.started:
            if time.time() > deadline:
                raise RuntimeError("bot server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(5)
        self.http.close()
        self.sock.close()

    def post_signed(self, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> httpx.Response:
        all_headers = {"Content-Type": content_type, **sign(body), **(headers or {})}
        return self.http.post("/slack/events", content=body, headers=all_headers)

    def command(self, text: str, command: str = "/health", user_id: str = "U01CSM0001") -> httpx.Response:
        form = slash_command_form(text, self.fake.response_url("cmd"), user_id, command)
        return self.post_signed(urlencode(form).encode(), "application/x-www-form-urlencoded")

    def action(self, action_id: str, value: str, user_id: str = "U01CSM0001") -> httpx.Response:
        payload = {
            "type": "block_actions",
            "team": {"id": "T1", "domain": "test"},
            "user": {"id": user_id, "username": "csm", "team_id": "T1"},
            "api_app_id": "A1",
            "token": "legacy",
            "container": {"type": "message", "message_ts": "1700000000.000100", "is_ephemeral": True},
            "trigger_id": "1337.42.abcd",
            "channel": {"id": "C0TEST0001", "name": "customer-health"},
            "response_url": self.fake.response_url("action"),
            "actions": [
                {"type": "button", "action_id": action_id, "block_id": "b1", "value": value, "action_ts": "1.2"}
            ],
        }
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return self.post_signed(body, "application/x-www-form-urlencoded")


@pytest.fixture
def bot_server(settings: Settings, engine: Engine, fake_slack: FakeSlack) -> Iterator[BotServer]:
    server = BotServer(settings, engine, fake_slack).start()
    yield server
    server.stop()


FIXTURES = Path(__file__).parent / "fixtures"

DEMO_END = date(2026, 6, 30)


@pytest.fixture
def seeded(engine: Engine, tmp_path: Path) -> Engine:
    """A small demo portfolio imported through the CSV path and scored for its last 35 days."""
    from datetime import timedelta

    from bot.demo.run import write_demo_csvs
    from bot.scoring.importer import import_accounts, import_metrics
    from bot.scoring.run import score_range
    from bot.scoring.scorecard import load_scorecard

    accounts_csv, metrics_csv, _ = write_demo_csvs(tmp_path, 60, 120, DEMO_END)
    import_accounts(engine, accounts_csv, quiet=True)
    import_metrics(engine, metrics_csv, quiet=True)
    score_range(engine, load_scorecard(), DEMO_END - timedelta(days=34), DEMO_END)
    return engine
