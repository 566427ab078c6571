"""/healthz of a real `healthbot run` in Socket Mode reports the WebSocket: connected, then 503 "disconnected" once
Slack's end goes away."""

from __future__ import annotations

import time

import httpx

from tests.test_socket_mode import Running, running, socket_mode  # noqa: F401  (fixtures)

# --- /healthz in Socket Mode reports the WebSocket ------------------------------------------------------------


def test_healthz_in_socket_mode_reports_the_websocket(running: Running) -> None:  # noqa: F811
    resp = httpx.get(f"{running.url}/healthz", timeout=10)
    assert (resp.status_code, resp.json()) == (200, {"ok": True, "database": "up", "slack": "connected"})

    running.socket_mode.stop()  # Slack's end goes away; the bot cannot reconnect to it
    deadline = time.monotonic() + 30
    while resp.status_code == 200 and time.monotonic() < deadline:
        time.sleep(0.1)
        resp = httpx.get(f"{running.url}/healthz", timeout=10)
    assert (resp.status_code, resp.json()) == (503, {"ok": False, "database": "up", "slack": "disconnected"})
