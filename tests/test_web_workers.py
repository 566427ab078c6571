"""WEB_WORKERS: `healthbot run` serving HTTP from several processes, the scheduler in exactly one (bot/workers.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import Engine

from bot.settings import SettingsError, load_settings
from tests.conftest import BOT_TOKEN, SIGNING_SECRET, free_port, sign, wait_for_healthz
from tests.fake_slack import FakeSlack

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and fork: Linux")


def test_web_workers_setting() -> None:
    base = {"DATABASE_URL": "sqlite:///x.db"}
    assert load_settings(env_file=None, environ=base).web_workers == 1
    assert load_settings(env_file=None, environ={**base, "WEB_WORKERS": "3"}).web_workers == 3
    with pytest.raises(SettingsError, match="WEB_WORKERS"):
        load_settings(env_file=None, environ={**base, "WEB_WORKERS": "0"})


def children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


@pytest.fixture
def two_workers(
    tmp_path: Path, fake_slack: FakeSlack, database_url: str, engine: Engine
) -> Iterator[tuple[str, subprocess.Popen, Path]]:
    """`healthbot run` with WEB_WORKERS=2 on the test database (SQLite, or PostgreSQL with TEST_DATABASE_URL)."""
    port, log = free_port(), tmp_path / "run.log"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake_slack.url,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_WORKERS": "2",
        "LOG_LEVEL": "DEBUG",  # APScheduler's "Scheduler started", once per scheduler
    }
    env.pop("SLACK_APP_TOKEN", None)
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], cwd=tmp_path, env=env, stdout=out, stderr=out)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_for_healthz(proc, url, log.read_text)
            yield url, proc, log
        finally:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(30)


def ask(url: str, fake_slack: FakeSlack) -> httpx.Response:
    form = {"command": "/health", "text": "nobody-here", "user_id": "U1", "channel_id": "C1", "team_id": "T1"}
    body = urlencode({**form, "response_url": fake_slack.response_url(), "trigger_id": "t"}).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body)}
    return httpx.post(f"{url}/slack/events", content=body, headers=headers, timeout=20)


def test_each_worker_answers_and_one_scheduler_runs(two_workers, fake_slack: FakeSlack) -> None:
    url, proc, log = two_workers
    (worker,) = children(proc.pid)  # WEB_WORKERS=2: this process and one worker
    for stopped in (proc.pid, worker):  # the other process alone answers while one is stopped
        os.kill(stopped, signal.SIGSTOP)
        try:
            assert httpx.get(f"{url}/healthz", timeout=20).json() == {"ok": True, "database": "up"}
            answer = ask(url, fake_slack)
            assert answer.status_code == 200 and "nobody-here" in answer.json()["text"]
        finally:
            os.kill(stopped, signal.SIGCONT)
    proc.terminate()
    assert proc.wait(30) == 0
    out = log.read_text()
    assert out.count("Scheduler started") == 1, out
    assert "Traceback" not in out
    with pytest.raises(FileNotFoundError):  # the worker stopped with the first process
        Path(f"/proc/{worker}/stat").read_text()
