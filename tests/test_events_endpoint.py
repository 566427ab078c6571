"""POST /slack/events from outside: the signature is checked on the raw bytes before anything is parsed,
bodies are capped, malformed signed bodies get a short 400, and nothing logs a body or a traceback."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections.abc import Iterator
from dataclasses import replace
from urllib.parse import urlencode

import httpx
import pytest
from slack_bolt import Ack
from sqlalchemy import Engine

from bot.app import create_app, listen
from bot.settings import Settings
from bot.web import MAX_BODY_BYTES, create_web
from tests.conftest import SIGNING_SECRET, BotServer, free_port, sign, slash_command_form

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
EVENT = {
    "token": "legacy",
    "team_id": "T1",
    "api_app_id": "A1",
    "type": "event_callback",
    "event_id": "EvEdge0001",
    "event_time": 1700000000,
    "event": {"type": "app_home_opened", "user": "U01CSM0001", "channel": "D0HOME", "tab": "home", "event_ts": "1.2"},
}

MALFORMED = [
    pytest.param(b'{"type": "event_callback", ', JSON, id="bad-json"),
    pytest.param(b'[{"type": "event_callback"}]', JSON, id="json-array"),
    pytest.param(b'"event_callback"', JSON, id="json-string"),
    pytest.param(b'{"type": "\xff\xfe"}', JSON, id="json-not-utf8"),
    pytest.param(b"command=%2Fhealth&text=\xff\xfe", FORM, id="form-not-utf8"),
    pytest.param(b"payload=%7Bnot-json", FORM, id="payload-garbage"),
    pytest.param(b"payload=%5B1%2C2%5D", FORM, id="payload-array"),
    pytest.param(b"payload=", FORM, id="payload-empty"),
    pytest.param(b"payloads=1&x=payload", FORM, id="form-without-payload-or-command"),
    pytest.param(b"", FORM, id="empty"),
    pytest.param(b"{oops", FORM, id="brace-in-form"),
]


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every log record of the process, uvicorn's too (its loggers do not propagate to the root)."""
    caplog.set_level(logging.DEBUG)
    uvicorn_error = logging.getLogger("uvicorn.error")
    uvicorn_error.addHandler(caplog.handler)
    yield caplog
    uvicorn_error.removeHandler(caplog.handler)


def no_traceback(logs: pytest.LogCaptureFixture) -> None:
    assert [r.getMessage() for r in logs.records if r.exc_info] == []
    assert "Traceback" not in logs.text


@pytest.mark.parametrize(("body", "content_type"), MALFORMED)
def test_unsigned_malformed_bodies_are_401_before_parsing(
    bot_server: BotServer, logs: pytest.LogCaptureFixture, body: bytes, content_type: str
) -> None:
    headers = {"Content-Type": content_type, **sign(body, secret="not-the-secret")}
    resp = bot_server.http.post("/slack/events", content=body, headers=headers)

    assert resp.status_code == 401
    no_traceback(logs)


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-signature"),
        pytest.param({"X-Slack-Request-Timestamp": "²"}, id="superscript-timestamp"),
        pytest.param({"X-Slack-Request-Timestamp": "¹²³"}, id="superscript-digits-timestamp"),
        pytest.param({"X-Slack-Request-Timestamp": "-1"}, id="negative-timestamp"),
        pytest.param({"X-Slack-Request-Timestamp": "9" * 40}, id="huge-timestamp"),
        pytest.param({"X-Slack-Request-Timestamp": str(int(time.time()) - 301)}, id="stale"),
        pytest.param({"X-Slack-Signature": "v0=\xff\xfe"}, id="non-ascii-signature"),
        pytest.param({"X-Slack-Signature": ""}, id="empty-signature"),
    ],
)
def test_bad_or_missing_signature_headers_are_401(
    bot_server: BotServer, logs: pytest.LogCaptureFixture, headers: dict[str, str]
) -> None:
    body = b'{"type": "event_callback", '  # unparsable too: the headers alone decide
    signed = sign(body) if headers else {}
    all_headers = {"Content-Type": JSON, **signed, **headers}
    encoded = [(k.encode(), v.encode("latin-1")) for k, v in all_headers.items()]  # the bytes a client may send

    resp = bot_server.http.post("/slack/events", content=body, headers=encoded)

    assert resp.status_code == 401
    no_traceback(logs)


@pytest.mark.parametrize(("body", "content_type"), MALFORMED)
def test_signed_malformed_bodies_are_a_short_400(
    bot_server: BotServer, logs: pytest.LogCaptureFixture, body: bytes, content_type: str
) -> None:
    resp = bot_server.post_signed(body, content_type)

    assert resp.status_code == 400
    assert resp.headers["content-type"].startswith("text/plain")
    assert 0 < len(resp.text) < 80 and "\n" not in resp.text.strip()
    no_traceback(logs)
    assert len([r for r in logs.records if r.levelno >= logging.WARNING]) <= 1


def test_a_bad_signature_body_is_never_logged(bot_server: BotServer, logs: pytest.LogCaptureFixture) -> None:
    body = urlencode(slash_command_form("zebra-quartz-7781", bot_server.fake.response_url())).encode()
    headers = {"Content-Type": FORM, **sign(body, secret="not-the-secret")}

    assert bot_server.http.post("/slack/events", content=body, headers=headers).status_code == 401
    assert "zebra-quartz-7781" not in logs.text


def test_valid_requests_still_reach_bolt(bot_server: BotServer) -> None:
    """A slash command form, a `payload=` form, an Events API event and Slack's URL check, all signed."""
    resp = bot_server.command("nobody-here")
    assert resp.status_code == 200 and "nobody-here" in resp.json()["text"]

    assert bot_server.action("health_unknown_action", "x").status_code in (200, 404)

    assert bot_server.post_signed(json.dumps(EVENT).encode(), JSON).status_code == 200
    assert bot_server.fake.wait_for("views.publish", timeout=10)

    check = {"token": "legacy", "challenge": "chal-123", "type": "url_verification"}
    resp = bot_server.post_signed(json.dumps(check).encode(), JSON)
    assert resp.status_code == 200 and "chal-123" in resp.text


@pytest.mark.parametrize(
    "where", ["text", "channel_name", "user_name"], ids=["in-text", "in-channel-name", "in-user-name"]
)
def test_a_slash_command_mentioning_payload_is_not_lost(bot_server: BotServer, where: str) -> None:
    """Bolt reads any form containing the letters 'payload' as an interactivity post and loses the command."""
    form = slash_command_form("nobody-here", bot_server.fake.response_url("cmd"))
    form[where] = f"{form[where]}-payload"

    resp = bot_server.post_signed(urlencode(form).encode(), FORM)

    assert resp.status_code == 200
    assert "nobody-here" in resp.json()["text"]


def test_a_body_at_the_cap_still_reaches_bolt(bot_server: BotServer) -> None:
    """Room for Slack's largest payloads: a signed form of exactly MAX_BODY_BYTES is answered."""
    body = urlencode(slash_command_form("nobody-here", bot_server.fake.response_url("cmd"))).encode()
    body += b"&pad=" + b"x" * (MAX_BODY_BYTES - len(body) - 5)
    assert len(body) == MAX_BODY_BYTES

    resp = bot_server.post_signed(body, FORM)

    assert resp.status_code == 200 and "nobody-here" in resp.json()["text"]


def test_a_signed_body_over_the_cap_is_413(bot_server: BotServer) -> None:
    body = urlencode(slash_command_form("nobody-here", bot_server.fake.response_url("cmd"))).encode()
    body += b"&pad=" + b"x" * (MAX_BODY_BYTES - len(body))

    assert bot_server.post_signed(body, FORM).status_code == 413


def _raw(port: int, head: str, chunks: list[bytes]) -> bytes:
    """Send a request head and some body bytes, never finishing the body; what the server answers (or b'')."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(head.encode())
        try:
            for chunk in chunks:
                conn.sendall(chunk)
        except OSError:  # the server answered and closed while the body was still coming
            pass
        try:
            return conn.recv(1024)
        except TimeoutError:
            return b""


def _head(extra: str) -> str:
    ts, sig = sign(b"whatever").values()
    return (
        "POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"X-Slack-Request-Timestamp: {ts}\r\nX-Slack-Signature: {sig}\r\n{extra}\r\n"
    )


def test_a_content_length_over_the_cap_is_413_before_the_body_arrives(bot_server: BotServer) -> None:
    answer = _raw(bot_server.port, _head("Content-Length: 100000000\r\n"), [b"{"])

    assert answer.startswith(b"HTTP/1.1 413 ")


def test_a_chunked_upload_is_cut_off_past_the_cap(bot_server: BotServer) -> None:
    """No Content-Length: the server stops reading past the cap, though the body never ends."""
    size = 64 * 1024
    chunk = f"{size:x}\r\n".encode() + b"x" * size + b"\r\n"
    answer = _raw(bot_server.port, _head("Transfer-Encoding: chunked\r\n"), [chunk] * (MAX_BODY_BYTES // size + 2))

    assert answer.startswith(b"HTTP/1.1 413 ")


def test_listen_turns_nagle_off(settings: Settings) -> None:
    """Accepted connections inherit TCP_NODELAY from the listening socket (Linux): no ~40 ms delayed-ACK stalls."""
    port = free_port()
    sock = listen(replace(settings, host="127.0.0.1", port=port))
    try:
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            accepted, _ = sock.accept()
            with accepted:
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        sock.close()


def test_healthz_keeps_answering_after_a_flood_of_bad_posts(bot_server: BotServer) -> None:
    for body in (b"[1]", b"\xff", b"payload=x"):
        bot_server.post_signed(body, JSON)
    with httpx.Client(base_url=bot_server.url, timeout=10) as client:
        assert client.get("/healthz").status_code == 200


def test_an_unsigned_or_wrongly_signed_request_never_reaches_a_listener(settings: Settings, engine: Engine) -> None:
    """Bolt's own signature check is off (`create_app`): the web layer's, on the raw bytes, is the one in front."""
    app = create_app(settings, engine)
    heard: list[str] = []

    @app.command("/probe")
    def probe(ack: Ack, command: dict) -> None:
        heard.append(command["text"])
        ack()

    body = urlencode(slash_command_form("probe-me", "http://127.0.0.1:9/hook", command="/probe")).encode()
    forged = {
        "unsigned": {},
        "wrong secret": sign(body, secret="not-the-secret"),
        "stale": sign(body, timestamp=int(time.time()) - 3600),
        "signed for another body": sign(body + b"&text=other"),
    }

    async def post(headers: dict[str, str]) -> int:
        transport = httpx.ASGITransport(app=create_web(app, engine, signing_secret=SIGNING_SECRET))
        async with httpx.AsyncClient(transport=transport, base_url="http://bot") as web:
            resp = await web.post("/slack/events", content=body, headers={"Content-Type": FORM, **headers})
            return resp.status_code

    for why, headers in forged.items():
        assert asyncio.run(post(headers)) == 401, why
    assert heard == []

    assert asyncio.run(post(sign(body))) == 200
    assert heard == ["probe-me"]
