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

from tests.conftest import BOT_TOKEN, SIGNING_SECRET, free_port, sign, wait_for_healthz
from tests.fake_slack import FakeSlack


@pytest.fixture
def running(tmp_path: Path, fake_slack: FakeSlack) -> Iterator[tuple[str, subprocess.Popen]]:
    port = free_port()
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
    wait_for_healthz(proc, url, lambda: proc.stdout.read().decode() if proc.stdout else "")
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


def test_run_stops_cleanly_on_sigterm(running: tuple[str, subprocess.Popen]) -> None:
    """What `docker stop` and Kubernetes send: a graceful shutdown and exit code 0."""
    _, proc = running
    proc.terminate()
    assert proc.wait(30) == 0
    out = proc.stdout.read().decode() if proc.stdout else ""
    assert "Traceback" not in out


def test_run_refuses_to_start_without_signing_secret(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_")}
    env.update({"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "SLACK_BOT_TOKEN": BOT_TOKEN})
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", "run"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "SLACK_SIGNING_SECRET" in lines[0]


def _run_once(tmp_path: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    """`healthbot run` that is expected to stop at start."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_")}
    env.update({
        "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": "http://127.0.0.1:9/api/",
        **settings,
    })  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "run"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )


def test_run_with_port_in_use_says_so_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        proc = _run_once(tmp_path, HOST="127.0.0.1", PORT=str(port))

    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"healthbot: PORT={port}: cannot listen on 127.0.0.1:{port} (Address already in use); "
        "stop the program using it or set another PORT"
    ]


def test_run_with_unknown_host_says_so_in_one_line(tmp_path: Path) -> None:
    proc = _run_once(tmp_path, HOST="no-such-host.invalid", PORT=str(free_port()))

    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("healthbot: HOST=no-such-host.invalid: cannot listen on")


def test_healthz_is_503_when_the_database_does_not_answer(tmp_path: Path) -> None:
    import threading

    import uvicorn

    from bot.web import create_web
    from storage.db import make_engine

    gone = make_engine(f"sqlite:///{tmp_path / 'no-such-folder' / 'x.db'}")
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_web(None, gone), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started and thread.is_alive():
            time.sleep(0.02)
        resp = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
    finally:
        server.should_exit = True
        thread.join(10)

    assert (resp.status_code, resp.json()) == (503, {"ok": False, "database": "down"})


@pytest.mark.parametrize(
    ("settings", "method", "expected"),
    [
        ({}, "auth.test", "healthbot: SLACK_BOT_TOKEN was refused by Slack (invalid_auth): copy the current"),
        ({"SLACK_APP_TOKEN": "xapp-1-A1-1-abc"}, "apps.connections.open",
         "healthbot: SLACK_APP_TOKEN was refused by Slack (invalid_auth): create an App-Level Token"),
    ],
    ids=["bot-token", "app-token"],
)  # fmt: skip
def test_run_with_a_token_slack_refuses_says_which_in_one_line(
    tmp_path: Path, fake_slack: FakeSlack, settings: dict[str, str], method: str, expected: str
) -> None:
    fake_slack.set_response(method, {"ok": False, "error": "invalid_auth"})

    proc = _run_once(tmp_path, HOST="127.0.0.1", PORT=str(free_port()), SLACK_API_URL=fake_slack.url, **settings)

    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith(expected)
    assert "Traceback" not in proc.stderr


def test_settle_sets_what_start_built_aside_from_the_garbage_collector() -> None:
    """`healthbot run` calls it once the app is built: a full collection then walks only what requests made."""
    import gc

    from bot.app import settle

    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    try:
        settle()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


@pytest.mark.parametrize("language", [{"LANGUAGE": "zh-CN"}, {"LANG": "zh_CN.UTF-8", "LC_ALL": "", "LANGUAGE": ""}])
def test_run_says_a_start_up_failure_in_the_command_lines_language(
    tmp_path: Path, fake_slack: FakeSlack, language: dict[str, str]
) -> None:
    """`healthbot run` speaks as every other command does: LANGUAGE, else the system locale (issue 23)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = _run_once(tmp_path, HOST="127.0.0.1", PORT=str(port), **language)
    assert busy.returncode == 2
    assert busy.stderr.strip().splitlines() == [
        f"healthbot：PORT={port}：无法在 127.0.0.1:{port} 上监听（Address already in use）；"
        "请停止占用该端口的程序，或设置其他 PORT"
    ]
    fake_slack.set_response("auth.test", {"ok": False, "error": "invalid_auth"})
    refused = _run_once(tmp_path, HOST="127.0.0.1", PORT=str(free_port()), SLACK_API_URL=fake_slack.url, **language)
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines()[-1].startswith("healthbot：Slack 拒绝了 SLACK_BOT_TOKEN（invalid_auth）")
