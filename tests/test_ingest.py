"""POST /ingest/metrics over real HTTP: bearer token, size limit, whole-body validation, idempotent writes."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
import uvicorn
from sqlalchemy import Engine, text

from bot.settings import SettingsError, load_settings
from bot.web import MAX_INGEST_BYTES, create_web
from tests.conftest import free_port

TOKEN = "ingest-token-0123456789abcdef"


class Web:
    def __init__(self, engine: Engine, token: str | None):
        self.port = free_port()
        config = uvicorn.Config(create_web(None, engine, ingest_token=token), host="127.0.0.1", port=self.port,
                                log_level="warning")  # fmt: skip
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.time() + 10
        while not self.server.started:
            assert time.time() < deadline, "server did not start"
            time.sleep(0.02)
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=120)

    def post(self, body: bytes, token: str | None = TOKEN, content_type: str = "application/json") -> httpx.Response:
        headers = {"Content-Type": content_type} | ({"Authorization": f"Bearer {token}"} if token else {})
        return self.http.post("/ingest/metrics", content=body, headers=headers)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(5)
        self.http.close()


@pytest.fixture
def web(engine: Engine) -> Iterator[Web]:
    server = Web(engine, TOKEN)
    yield server
    server.stop()


def add_accounts(engine: Engine, n: int) -> None:
    now = datetime.now(UTC).isoformat()
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO account (external_id, name, name_lower, status, created_at, updated_at) "
                "VALUES (:e, :n, :l, 'active', :t, :t)"
            ),
            [{"e": f"acc-{i}", "n": f"Acc {i}", "l": f"acc {i}", "t": now} for i in range(n)],
        )


def stored(engine: Engine) -> list[tuple[str, str, str, float]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT a.external_id, o.day, o.metric, o.value FROM metric_observation o "
                "JOIN account a ON a.id = o.account_id ORDER BY 1, 2, 3"
            )
        ).all()
    return [(r[0], str(r[1])[:10], r[2], r[3]) for r in rows]


def records(accounts: int, days: int, metrics: list[str], bump: float = 0) -> list[dict]:
    start = date(2026, 1, 1)
    return [
        {"external_id": f"acc-{a}", "date": (start + timedelta(days=d)).isoformat(), "metric": m, "value": d + bump}
        for a in range(accounts)
        for d in range(days)
        for m in metrics
    ]


def test_no_token_configured_means_the_endpoint_is_off(engine: Engine) -> None:
    server = Web(engine, None)
    try:
        assert server.post(b"[]", token="anything").status_code == 404
    finally:
        server.stop()


def test_bad_or_missing_tokens_are_refused_before_the_body_is_read(engine: Engine, web: Web) -> None:
    add_accounts(engine, 1)
    body = json.dumps(records(1, 1, ["logins"])).encode()
    assert web.post(body, token=None).status_code == 401
    assert web.post(body, token=TOKEN[:-1] + "x").status_code == 401
    assert web.post(body, token=TOKEN + "x").status_code == 401
    basic = web.http.post("/ingest/metrics", content=body, headers={"Authorization": f"Basic {TOKEN}"})
    assert basic.status_code == 401 and basic.headers["www-authenticate"] == "Bearer"
    assert stored(engine) == []


def test_oversize_bodies_are_refused(engine: Engine, web: Web) -> None:
    declared = web.post(b"x" * 10, content_type="application/json")
    assert declared.status_code == 422  # (sanity: a small bad body is read and refused as bad)
    big = web.http.post(
        "/ingest/metrics", content=b"[" + b" " * MAX_INGEST_BYTES + b"]",
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )  # fmt: skip
    assert big.status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: refused once past the limit while streaming
        yield b"["
        for _ in range(MAX_INGEST_BYTES // (1 << 20) + 2):
            yield b" " * (1 << 20)
        yield b"]"

    try:
        streamed = web.http.post("/ingest/metrics", content=chunks(), headers={"Authorization": f"Bearer {TOKEN}"})
        assert streamed.status_code == 413
    except httpx.TransportError:
        pass  # the server answered 413 and closed while the client was still sending
    assert stored(engine) == []


def test_a_bad_record_rejects_the_whole_body_naming_it(engine: Engine, web: Web) -> None:
    add_accounts(engine, 2)
    good = records(2, 3, ["logins", "nps"])
    bad = [
        *good,
        {"external_id": "acc-9", "date": "2026-01-01", "metric": "logins", "value": 1},
        {"external_id": "acc-0", "date": "2026-02-30", "metric": "logins", "value": 1},
        {"external_id": "acc-0", "date": "2026-01-05", "metric": "nps", "value": 11},
        {"external_id": "acc-0", "date": "2026-01-05", "metric": "Logins", "value": 1},
        {"external_id": "acc-0", "date": "2026-01-05", "metric": "logins", "value": "3"},
        {"external_id": "acc-0", "date": "2026-01-05", "metric": "champion_left", "value": 0.5},
        {"external_id": "acc-0", "date": "2026-01-06", "metric": "logins"},
        good[0],
    ]
    response = web.post(json.dumps(bad).encode())
    assert response.status_code == 422
    assert response.json()["errors"] == [
        "record 13 (acc-9): external_id 'acc-9' is not a known account (import or sync accounts first)",
        "record 14 (acc-0): date '2026-02-30' is not a date (use YYYY-MM-DD)",
        "record 15 (acc-0): nps: 11 is outside its range (0 to 10)",
        "record 16 (acc-0): 'Logins' is not a metric name (lower-case letters, digits and _, e.g. logins)",
        "record 17 (acc-0): value '3' is not a number",
        "record 18 (acc-0): champion_left: 0.5 must be 0 or 1",
        "record 19 (acc-0): missing value (a record is {external_id, date, metric, value})",
        "record 20 (acc-0): the same external_id, date and metric as record 1",
    ]
    assert stored(engine) == []  # nothing written
    assert web.post(b'{"external_id": "acc-0"').status_code == 422
    assert web.post(b"[1, 2").json()["errors"][0].startswith("the body is not valid JSON")
    assert stored(engine) == []


def test_ndjson_and_re_sent_data_replaces_never_doubles(engine: Engine, web: Web) -> None:
    add_accounts(engine, 2)
    rows = records(2, 2, ["logins"])
    ndjson = "\n".join(json.dumps(r) for r in rows).encode() + b"\n"
    first = web.post(ndjson, content_type="application/x-ndjson")
    assert first.status_code == 200 and first.json() == {"ok": True, "written": 4}
    again = web.post(json.dumps(records(2, 2, ["logins"], bump=10)).encode())
    assert again.status_code == 200
    assert stored(engine) == [
        ("acc-0", "2026-01-01", "logins", 10.0), ("acc-0", "2026-01-02", "logins", 11.0),
        ("acc-1", "2026-01-01", "logins", 10.0), ("acc-1", "2026-01-02", "logins", 11.0),
    ]  # fmt: skip


def test_a_100000_record_body_is_accepted_and_re_sending_it_does_not_double(engine: Engine, web: Web) -> None:
    add_accounts(engine, 100)
    metrics = ["logins", "active_users", "core_feature_events", "tickets_opened", "email_opens"]
    body = json.dumps(records(100, 200, metrics)).encode()
    started = time.monotonic()
    response = web.post(body)
    took = time.monotonic() - started
    assert response.status_code == 200 and response.json()["written"] == 100_000, response.text[:500]
    print(f"\n100,000 records ({len(body) / 1e6:.1f} MB) ingested in {took:.1f} s")
    assert web.post(json.dumps(records(100, 200, metrics, bump=1)).encode()).status_code == 200
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*), SUM(value) FROM metric_observation")).one() == (
            100_000, float(sum(d + 1 for d in range(200)) * 500),
        )  # fmt: skip


def test_ingest_token_setting_refuses_placeholders_and_short_tokens() -> None:
    assert load_settings(env_file=None, environ={}).ingest_token is None
    assert load_settings(env_file=None, environ={"INGEST_TOKEN": TOKEN}).ingest_token == TOKEN
    with pytest.raises(SettingsError, match="INGEST_TOKEN is too short"):
        load_settings(env_file=None, environ={"INGEST_TOKEN": "abc"})
    with pytest.raises(SettingsError, match="INGEST_TOKEN still holds the placeholder"):
        load_settings(env_file=None, environ={"INGEST_TOKEN": "change-me-please-123"})
    with pytest.raises(SettingsError, match="SOURCES_PATH='nope.toml' does not exist"):
        load_settings(env_file=None, environ={"SOURCES_PATH": "nope.toml"})
