"""The "Show chart" button, through signed requests to the real HTTP endpoint and the recording fake Slack: the
chart goes into the clicker's DM with the app, never the channel; the conversation gets a private note; a missing
scope is named."""

from __future__ import annotations

import json

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from storage.models import Account, HealthScore
from tests.conftest import BotServer


def _first_scored(engine: Engine) -> Account:
    with Session(engine) as s:
        account = s.exec(select(Account).join(HealthScore).order_by(col(Account.id))).first()
    assert account is not None
    return account


# --- "Show chart" goes to the clicker's DM, not into the channel ---------------------------------------------


def test_chart_is_uploaded_into_the_clickers_dm_and_the_conversation_only_gets_a_private_note(
    seeded: Engine, bot_server: BotServer
) -> None:
    account = _first_scored(seeded)
    resp = bot_server.action("health.chart", json.dumps({"account_id": account.id}), user_id="U01CSM0002")
    assert resp.status_code == 200 and resp.content == b""
    fake = bot_server.fake
    done = fake.wait_for("files.completeUploadExternal", timeout=30)[0]
    (opened,) = fake.calls_to("conversations.open")
    assert opened.params["users"] == "U01CSM0002"
    assert done.params["channel_id"] == "DU01CSM0002"  # the DM the fake opened, never the channel C0TEST0001
    assert all(c.params.get("channel_id") != "C0TEST0001" and c.params.get("channel") != "C0TEST0001"
               for c in fake.calls)  # fmt: skip
    note = fake.wait_for("response_url", timeout=30)[0].params
    assert note["response_type"] == "ephemeral" and note["replace_original"] is False
    assert note["text"] == f":bar_chart: The chart of *{account.name}* is in your DM with healthbot."
    methods = [c.method for c in fake.calls if c.method not in ("auth.test", "users.info")]
    assert methods == [
        "conversations.open", "files.getUploadURLExternal", "upload", "files.completeUploadExternal", "response_url"
    ]  # fmt: skip


def test_chart_without_the_dm_scope_says_which_scope_is_missing(seeded: Engine, bot_server: BotServer) -> None:
    account = _first_scored(seeded)
    bot_server.fake.set_response("conversations.open", {"ok": False, "error": "missing_scope", "needed": "im:write"})
    bot_server.action("health.chart", json.dumps({"account_id": account.id}))
    told = bot_server.fake.wait_for("response_url", timeout=30)[0].params
    assert told["response_type"] == "ephemeral" and told["replace_original"] is False
    assert told["text"].startswith(f":warning: I could not upload the chart of *{account.name}* (missing_scope)")
    assert "im:write" in told["text"] and "files:write" in told["text"]
    assert bot_server.fake.calls_to("files.getUploadURLExternal") == []
