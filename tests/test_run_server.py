"""`healthbot run` as a user starts it: a real process, settings from the environment,
migrations on start, uvicorn serving /slack/events and /healthz, the Web API at SLACK_API_URL."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

from tests.conftest import BOT_TOKEN, SIGNING_SECRET, sign
from tests.fake_slack import FakeSlack


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def running(tmp_path: Path, fake_slack: FakeSlack) -> Iterator[tuple[str, subprocess.Popen]]:
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'run.db'}",
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake_slack.url,
        "HOST": "127.0.0.1",
        "PORT": str(port),
    }
    env.pop("SLACK_APP_TOKEN", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            out = proc.stdout.read().decode() if proc.stdout else ""
            proc.kill()
            pytest.fail(f"healthbot run did not come up:\n{out}")
        time.sleep(0.1)
    yield url, proc
    proc.terminate()
    proc.wait(10)


def test_run_serves_signed_slash_command_and_healthz(running: tuple[str, subprocess.Popen], fake_slack) -> None:
    url, _ = running
    assert httpx.get(f"{url}/healthz").json() == {"ok": True, "database": "up"}
    form = {"command": "/health", "text": "nobody-here", "user_id": "U1", "channel_id": "C1", "team_id": "T1"}
    body = urlencode({**form, "response_url": fake_slack.response_url(), "trigger_id": "t"}).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body)}
    resp = httpx.post(f"{url}/slack/events", content=body, headers=headers)
    assert resp.status_code == 200
    assert "nobody-here" in resp.json()["text"]
    bad = {"Content-Type": "application/x-www-form-urlencoded", **sign(body, secret="not-the-secret")}
    assert httpx.post(f"{url}/slack/events", content=body, headers=bad).status_code == 401


def test_run_refuses_to_start_without_signing_secret(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_")}
    env.update({"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "SLACK_BOT_TOKEN": BOT_TOKEN})
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", "run"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "SLACK_SIGNING_SECRET" in lines[0]
