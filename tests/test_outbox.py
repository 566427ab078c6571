"""The outbox and its sender against a real database and the fake Slack over real HTTP.

Pacing and backoff run on an injected clock (`Clock`): its sleep advances time, nothing waits.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import Engine, text
from sqlmodel import select

from bot.settings import Settings
from bot.slack.client import make_client
from bot.slack.outbox import DrainResult, drain
from storage import outbox
from storage.db import SessionFactory, session_factory, unit_of_work
from storage.models import OutboxMessage
from tests.conftest import free_port
from tests.fake_slack import FakeSlack

ROOT = Path(__file__).resolve().parent.parent


class Sends(list[tuple[str, str, float]]):
    """(channel, key, time) of each request the sender started."""


class Clock:
    """Epoch seconds that move only when the sender sleeps."""

    def __init__(self) -> None:
        self.t = time.time()
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds


@pytest.fixture
def sessions(engine: Engine) -> SessionFactory:
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM outbox_message"))
    return session_factory(engine)


@pytest.fixture
def client(settings: Settings) -> WebClient:
    return make_client(settings)


def rows(sessions: SessionFactory) -> dict[str, OutboxMessage]:
    with unit_of_work(sessions) as s:
        return {r.key: r for r in s.exec(select(OutboxMessage)).all()}


def run(
    sessions: SessionFactory, client: WebClient, clock: Clock, sends: list | None = None, **kw: object
) -> DrainResult:
    on_send = (lambda ch, key, at: sends.append((ch, key, at))) if sends is not None else None
    return drain(sessions, client, now=clock, sleep=clock.sleep, on_send=on_send, **kw)  # type: ignore[arg-type]


def posted_keys(fake: FakeSlack) -> Counter[str]:
    return Counter(m["metadata"]["event_payload"]["key"] for m in fake.posted() if m.get("metadata"))


def ok_posts(fake: FakeSlack) -> list:
    return [c for c in fake.calls_to("chat.postMessage") if c.failed_status is None]


# ----- storage ---------------------------------------------------------------------------------------


def test_enqueue_twice_with_one_key_keeps_one_row(sessions: SessionFactory) -> None:
    with unit_of_work(sessions) as s:
        assert outbox.post(s, "k1", "C1", "first") is True
        assert outbox.post(s, "k1", "C2", "second") is False
    with unit_of_work(sessions) as s:
        assert outbox.post(s, "k1", "C1", "third") is False
    got = rows(sessions)
    assert list(got) == ["k1"] and got["k1"].payload == {"text": "first"} and got["k1"].channel == "C1"


def test_a_claimed_row_is_leased_then_reconciled_when_its_sender_is_gone(sessions: SessionFactory) -> None:
    with unit_of_work(sessions) as s:
        outbox.post(s, "k1", "C1", "hi")
    t = outbox.utcnow()
    with unit_of_work(sessions) as s:
        first = outbox.claim_due(s, t, t + timedelta(seconds=30))
    with unit_of_work(sessions) as s:
        assert outbox.claim_due(s, t + timedelta(seconds=29), t + timedelta(seconds=60)) == []
    with unit_of_work(sessions) as s:
        again = outbox.claim_due(s, t + timedelta(seconds=31), t + timedelta(seconds=60))
    assert [c.key for c in first] == ["k1"] and not first[0].reconcile
    assert [c.key for c in again] == ["k1"] and again[0].reconcile  # may have been posted: look first


def test_a_channel_leased_to_one_sender_is_left_to_it(sessions: SessionFactory) -> None:
    """Two replicas never send to one channel at once: pacing per channel holds across senders."""
    with unit_of_work(sessions) as s:
        for i in range(4):
            outbox.post(s, f"c1-{i}", "C1", "x")
        outbox.post(s, "c2-0", "C2", "x")
    t = outbox.utcnow()
    until = t + timedelta(seconds=60)
    with unit_of_work(sessions) as s:
        a = outbox.claim_due(s, t, until, per_channel=2)
    with unit_of_work(sessions) as s:
        b = outbox.claim_due(s, t, until, per_channel=2)
    with unit_of_work(sessions) as s:
        a_again = outbox.claim_due(s, t, until, per_channel=2, own_channels=["C1", "C2"])
    assert [c.key for c in a] == ["c1-0", "c1-1", "c2-0"]
    assert b == []  # c1-2 and c1-3 are due, but C1 is being paced by the first sender
    assert [c.key for c in a_again] == ["c1-2", "c1-3"]


# ----- delivery ----------------------------------------------------------------------------------------


def test_messages_are_sent_once_with_their_ts_and_metadata(
    sessions: SessionFactory, client: WebClient, fake_slack: FakeSlack
) -> None:
    with unit_of_work(sessions) as s:
        outbox.post(s, "a", "C1", "alert A", blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "A"}}])
        outbox.post(s, "b", "C2", "alert B")
        outbox.post(s, "a", "C1", "alert A again")
    clock = Clock()
    result = run(sessions, client, clock)
    assert (result.sent, result.remaining, result.rate_limited) == (2, 0, 0)
    assert run(sessions, client, clock).sent == 0
    calls = fake_slack.calls_to("chat.postMessage")
    assert sorted(c.params["text"] for c in calls) == ["alert A", "alert B"]
    a = next(c for c in calls if c.params["channel"] == "C1")
    assert a.params["metadata"] == {"event_type": "healthbot_outbox", "event_payload": {"key": "a"}}
    assert a.params["blocks"][0]["text"]["text"] == "A"
    stored = rows(sessions)
    assert {k: r.status for k, r in stored.items()} == {"a": "sent", "b": "sent"}
    assert {stored[k].ts for k in "ab"} == {m["ts"] for m in fake_slack.posted()}


def test_update_uses_the_target_ts_and_a_reply_waits_for_its_parent(
    sessions: SessionFactory, client: WebClient, fake_slack: FakeSlack
) -> None:
    fake_slack.real_ts = True
    with unit_of_work(sessions) as s:  # one transaction decides all four
        outbox.post(s, "parent", "C1", "Acme is red")
        outbox.post(s, "reply", "C1", "details", thread_key="parent")
        outbox.update(s, "edit", "parent", "Acme is red (acknowledged)")
        outbox.post(s, "dm", "U42", "you own Acme")
        outbox.update(s, "dm-edit", "dm", "you own Acme (seen)")
    assert run(sessions, client, Clock(), per_channel_interval=0.0).sent == 5
    stored = rows(sessions)
    parent_ts = stored["parent"].ts
    methods = [(c.method, c.params.get("channel")) for c in fake_slack.calls if c.method.startswith("chat.")]
    assert methods.index(("chat.postMessage", "C1")) == 0 or methods[0][1] == "U42"
    reply = next(c for c in fake_slack.calls_to("chat.postMessage") if c.params["text"] == "details")
    assert reply.params["thread_ts"] == parent_ts
    updates = {c.params["text"]: c.params for c in fake_slack.calls_to("chat.update")}
    assert updates["Acme is red (acknowledged)"]["ts"] == parent_ts
    assert updates["you own Acme (seen)"]["channel"] == "DU42"  # the DM's channel, not the user id
    assert updates["you own Acme (seen)"]["ts"] == stored["dm"].ts
    assert [m["text"] for m in fake_slack.posted("C1")] == ["Acme is red (acknowledged)", "details"]
    assert all(r.status == "sent" for r in stored.values())


# ----- pacing ------------------------------------------------------------------------------------------


def test_messages_to_one_channel_are_spaced_by_the_interval(
    sessions: SessionFactory, client: WebClient, fake_slack: FakeSlack
) -> None:
    with unit_of_work(sessions) as s:
        for i in range(5):
            outbox.post(s, f"m{i}", "C1", f"message {i}")
    clock, sends = Clock(), Sends()
    t0 = clock.t
    assert run(sessions, client, clock, sends, per_channel_interval=1.0).sent == 5
    assert [k for _, k, _ in sends] == [f"m{i}" for i in range(5)]  # in enqueue order
    assert [round(at - t0, 6) for _, _, at in sends] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert [c.params["text"] for c in fake_slack.calls_to("chat.postMessage")] == [f"message {i}" for i in range(5)]


def test_messages_to_different_channels_interleave(sessions: SessionFactory, client: WebClient) -> None:
    with unit_of_work(sessions) as s:
        for ch in ("C1", "C2", "C3"):
            for i in range(3):
                outbox.post(s, f"{ch}-{i}", ch, "x")
    clock, sends = Clock(), Sends()
    t0 = clock.t
    assert run(sessions, client, clock, sends, per_channel_interval=1.0).sent == 9
    by_second: dict[float, set[str]] = {}
    for ch, _, at in sends:
        by_second.setdefault(round(at - t0, 6), set()).add(ch)
    assert by_second == {0.0: {"C1", "C2", "C3"}, 1.0: {"C1", "C2", "C3"}, 2.0: {"C1", "C2", "C3"}}


# ----- errors ------------------------------------------------------------------------------------------


def test_429_pauses_the_channel_for_retry_after(
    sessions: SessionFactory, client: WebClient, fake_slack: FakeSlack
) -> None:
    with unit_of_work(sessions) as s:
        outbox.post(s, "a1", "C1", "x")
        outbox.post(s, "a2", "C1", "x")
        outbox.post(s, "b1", "C2", "x")
        outbox.post(s, "b2", "C2", "x")
    fake_slack.fail_next("chat.postMessage", status=429, retry_after=7)
    clock, sends = Clock(), Sends()
    t0 = clock.t
    result = run(sessions, client, clock, sends, per_channel_interval=1.0)
    assert (result.sent, result.rate_limited, result.remaining) == (4, 1, 0)
    first = fake_slack.calls_to("chat.postMessage")[0].params["channel"]
    other = "C2" if first == "C1" else "C1"
    limited = [round(at - t0, 6) for ch, _, at in sends if ch == first]
    assert limited[0] == 0.0 and all(t >= 7.0 for t in limited[1:]) and len(limited) == 3  # 429, then both after 7 s
    assert [round(at - t0, 6) for ch, _, at in sends if ch == other] == [0.0, 1.0]  # the other channel carries on
    assert posted_keys(fake_slack) == Counter({"a1": 1, "a2": 1, "b1": 1, "b2": 1})


def test_5xx_and_connection_errors_are_retried_with_backoff(
    sessions: SessionFactory, client: WebClient, fake_slack: FakeSlack, settings: Settings
) -> None:
    fake_slack.real_ts = True
    with unit_of_work(sessions) as s:
        outbox.post(s, "k", "C1", "x")
    fake_slack.fail_next("chat.postMessage", status=500, times=2)
    clock, sends = Clock(), Sends()
    t0 = clock.t
    result = run(sessions, client, clock, sends)
    assert (result.sent, result.retried) == (1, 2)
    assert [round(at - t0, 6) for _, _, at in sends] == [0.0, 2.0, 6.0]  # backoff 2 s, then 4 s
    # a 5xx may hide a post: each retry read the history before posting again
    assert len(fake_slack.calls_to("conversations.history")) == 2
    assert posted_keys(fake_slack) == Counter({"k": 1}) and rows(sessions)["k"].attempts == 3

    with unit_of_work(sessions) as s:
        outbox.post(s, "down", "C1", "x")
    dead = make_client(replace(settings, slack_api_url=f"http://127.0.0.1:{free_port()}/api/"))
    result = run(sessions, dead, clock, max_wait=0)
    assert (result.sent, result.retried, result.remaining) == (0, 1, 1)
    row = rows(sessions)["down"]
    assert row.status == "pending" and "Connection" in (row.error or "")  # refused: certainly not posted
    clock.sleep(2)
    assert run(sessions, client, clock).sent == 1
    assert posted_keys(fake_slack) == Counter({"k": 1, "down": 1})


def test_permanent_errors_mark_the_row_failed_and_not_in_channel_is_retried_later(
    sessions: SessionFactory, client: WebClient, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    with unit_of_work(sessions) as s:
        outbox.post(s, "gone", "C404", "x")
    fake_slack.set_response("chat.postMessage", {"ok": False, "error": "channel_not_found"})
    clock = Clock()
    with caplog.at_level(logging.WARNING, logger="healthbot.outbox"):
        result = run(sessions, client, clock)
    assert (result.failed, result.sent) == (1, 0)
    row = rows(sessions)["gone"]
    assert (row.status, row.error, row.next_attempt_at) == ("failed", "channel_not_found", None)
    lines = [r.getMessage() for r in caplog.records if r.name == "healthbot.outbox"]
    assert lines == ["outbox: chat.postMessage to C404 (key gone) failed: channel_not_found"]

    caplog.clear()
    with unit_of_work(sessions) as s:
        outbox.post(s, "private", "C9", "x")
    fake_slack.set_response("chat.postMessage", {"ok": False, "error": "not_in_channel"})
    with caplog.at_level(logging.WARNING, logger="healthbot.outbox"):
        assert run(sessions, client, clock).failed == 1
    assert "invite the bot to C9" in caplog.records[-1].getMessage()
    assert rows(sessions)["private"].status == "failed"
    fake_slack.reset()  # someone invites the bot
    failed_at = clock.t
    clock.sleep(600)
    assert run(sessions, client, clock, max_wait=0).sent == 0  # not before 15 minutes
    sends = Sends()
    clock.sleep(299)
    assert run(sessions, client, clock, sends).sent == 1  # waits the last second, then delivers
    assert [round(at - failed_at, 6) for _, _, at in sends] == [900.0]
    assert posted_keys(fake_slack) == Counter({"private": 1}) and rows(sessions)["gone"].status == "failed"


def test_a_post_whose_answer_is_lost_is_reconciled_not_posted_again(
    sessions: SessionFactory, client: WebClient, fake_slack: FakeSlack
) -> None:
    fake_slack.real_ts = True
    with unit_of_work(sessions) as s:
        outbox.post(s, "lost", "C1", "x")
        outbox.post(s, "next", "C1", "y")
        outbox.post(s, "dm", "U7", "z")
    fake_slack.drop_next("chat.postMessage", times=2)  # "lost" and "dm" (first of each channel) never answered
    clock = Clock()
    result = run(sessions, client, clock)
    assert (result.sent, result.unknown, result.reconciled) == (3, 2, 2)
    assert posted_keys(fake_slack) == Counter({"lost": 1, "next": 1, "dm": 1})
    assert len(ok_posts(fake_slack)) == 3
    stored = rows(sessions)
    assert stored["lost"].ts == fake_slack.posted("C1")[0]["ts"]
    assert (stored["dm"].ts, stored["dm"].sent_channel) == (fake_slack.posted("DU7")[0]["ts"], "DU7")


# ----- the fake's rate limit and history --------------------------------------------------------------


def test_fake_slack_rate_limits_per_channel_and_keeps_history(fake_slack: FakeSlack) -> None:
    web = WebClient(token="xoxb-test", base_url=fake_slack.url)
    fake_slack.rate_limit(2, 60)
    meta = {"event_type": "healthbot_outbox", "event_payload": {"key": "k1"}}
    first = web.chat_postMessage(channel="C1", text="one", metadata=meta)
    web.chat_postMessage(channel="C1", text="two")
    with pytest.raises(SlackApiError) as err:
        web.chat_postMessage(channel="C1", text="three")
    assert err.value.response.status_code == 429 and int(err.value.response.headers["Retry-After"]) >= 59
    assert web.chat_postMessage(channel="C2", text="other")["ok"]
    assert fake_slack.rate_limited == 1
    history = web.conversations_history(channel="C1", include_all_metadata=True)["messages"]
    assert [m["text"] for m in history] == ["two", "one"] and history[1]["metadata"] == meta
    assert "metadata" not in web.conversations_history(channel="C1")["messages"][1]
    assert web.conversations_history(channel="C1", oldest=first["ts"])["messages"][0]["text"] == "two"
    page = web.conversations_history(channel="C1", limit=1)
    assert len(page["messages"]) == 1 and page["response_metadata"]["next_cursor"]


# ----- crash safety and concurrency --------------------------------------------------------------------

SENDER = """
import sys
from bot.settings import load_settings
from bot.slack.client import make_client
from bot.slack.outbox import drain
from storage.db import make_engine, session_factory
url, api = sys.argv[1], sys.argv[2]
env = {"DATABASE_URL": url, "SLACK_BOT_TOKEN": "xoxb-t", "SLACK_API_URL": api}
settings = load_settings(env_file=None, environ=env)
r = drain(session_factory(make_engine(url)), make_client(settings), per_channel_interval=0.05, lease=1.0, batch=5)
print(r)
"""


def test_a_sender_killed_mid_run_and_restarted_posts_each_message_once(
    sessions: SessionFactory, fake_slack: FakeSlack, database_url: str
) -> None:
    fake_slack.real_ts = True
    keys = [f"{ch}-{i}" for ch in ("C1", "C2", "C3") for i in range(20)]
    with unit_of_work(sessions) as s:
        for key in keys:
            outbox.post(s, key, key.split("-")[0], key)
    cmd = [sys.executable, "-c", SENDER, database_url, fake_slack.url]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    first = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        fake_slack.wait_for("chat.postMessage", 15, timeout=30)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    assert first.returncode == -signal.SIGKILL
    time.sleep(0.2)  # a request written just before the kill is still being recorded
    killed_at = len(ok_posts(fake_slack))
    marked = sum(r.status == "sent" for r in rows(sessions).values())
    assert marked <= killed_at < len(keys)  # killed mid-run, usually with posts whose ts it never stored
    second = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"reconciled={killed_at - marked}," in second.stdout  # found in the history, not posted again
    assert posted_keys(fake_slack) == Counter(dict.fromkeys(keys, 1))
    assert len(ok_posts(fake_slack)) == len(keys)
    stored = rows(sessions)
    assert all(r.status == "sent" and r.ts for r in stored.values())
    assert {r.ts for r in stored.values()} == {m["ts"] for m in fake_slack.posted()}


def test_two_senders_draining_at_once_send_each_message_once(
    sessions: SessionFactory, settings: Settings, fake_slack: FakeSlack
) -> None:
    keys = [f"{ch}-{i}" for ch in ("C1", "C2", "C3", "C4") for i in range(25)]
    with unit_of_work(sessions) as s:
        for key in keys:
            outbox.post(s, key, key.split("-")[0], key)
    results: list[DrainResult] = []

    def sender() -> None:
        results.append(drain(sessions, make_client(settings), per_channel_interval=0.005, batch=3))

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert sum(r.sent for r in results) == len(keys)
    assert posted_keys(fake_slack) == Counter(dict.fromkeys(keys, 1))
    assert all(r.status == "sent" for r in rows(sessions).values())
