"""/health end to end: signed requests to the real HTTP endpoint, answers checked as Slack sees them."""

from __future__ import annotations

import time

from slack_sdk.models.blocks import Block
from sqlmodel import Session, select

from storage.models import Account
from tests.conftest import BotServer, sign


def _validate(blocks: list[dict]) -> None:
    assert len(blocks) <= 50
    for b in blocks:
        Block.parse(b).validate_json()


def test_health_lookup_answers_card_in_ack(seeded, bot_server: BotServer) -> None:
    with Session(seeded) as s:
        account = s.exec(select(Account).where(Account.status == "active").order_by(Account.id)).first()
    resp = bot_server.command(account.name)
    assert resp.status_code == 200
    body = resp.json()
    assert body["response_type"] == "ephemeral"
    _validate(body["blocks"])
    assert account.name in body["blocks"][0]["text"]["text"]
    assert "/ 100" in body["blocks"][0]["text"]["text"]


def test_unknown_customer_gets_helpful_ephemeral(seeded, bot_server: BotServer) -> None:
    resp = bot_server.command("zzqqxx-no-such")
    assert resp.status_code == 200
    body = resp.json()
    assert body["response_type"] == "ephemeral"
    assert "zzqqxx-no-such" in body["text"]


def test_bad_signature_and_stale_timestamp_get_401(engine, bot_server: BotServer) -> None:
    body = b"command=%2Fhealth&text=acme"
    headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body, secret="wrong")}
    assert bot_server.http.post("/slack/events", content=body, headers=headers).status_code == 401
    stale = {"Content-Type": "application/x-www-form-urlencoded", **sign(body, timestamp=int(time.time()) - 301)}
    assert bot_server.http.post("/slack/events", content=body, headers=stale).status_code == 401


def test_healthz(engine, bot_server: BotServer) -> None:
    resp = bot_server.http.get("/healthz")
    assert resp.status_code == 200 and resp.json()["database"] == "up"
