"""Crash recovery of thread replies: a reply whose outcome is unknown is looked for in its thread.

conversations.history returns no thread replies (as Slack), so an in-doubt reply reconciled against it
alone was posted a second time after every kill that caught one in flight.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta

import pytest
from slack_sdk import WebClient
from sqlalchemy import Engine, text
from sqlmodel import select

from bot.settings import Settings
from bot.slack.client import make_client
from bot.slack.outbox import EVENT_TYPE, DrainResult, drain
from storage import outbox
from storage.db import SessionFactory, session_factory, unit_of_work
from storage.models import OutboxMessage
from tests.fake_slack import FakeSlack
from tests.test_outbox import ROOT, SENDER


class Clock:
    """Epoch seconds that move only when the sender sleeps (or the test moves them)."""

    def __init__(self) -> None:
        self.t = time.time()

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture
def sessions(engine: Engine) -> SessionFactory:
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM outbox_message"))
    return session_factory(engine)


@pytest.fixture
def client(settings: Settings) -> WebClient:
    return make_client(settings)


def run(sessions: SessionFactory, client: WebClient, clock: Clock) -> DrainResult:
    return drain(sessions, client, now=clock, sleep=clock.sleep, per_channel_interval=0.0)


def rows(sessions: SessionFactory) -> dict[str, OutboxMessage]:
    with unit_of_work(sessions) as s:
        return {r.key: r for r in s.exec(select(OutboxMessage)).all()}


def posted_keys(fake: FakeSlack) -> Counter[str]:
    return Counter(m["metadata"]["event_payload"]["key"] for m in fake.posted() if m.get("metadata"))


def meta(key: str) -> dict:
    return {"event_type": EVENT_TYPE, "event_payload": {"key": key}}


def test_fake_slack_keeps_replies_out_of_the_history_and_serves_them_per_thread(fake_slack: FakeSlack) -> None:
    fake_slack.real_ts = True
    web = WebClient(token="xoxb-test", base_url=fake_slack.url)
    root = web.chat_postMessage(channel="C1", text="root", metadata=meta("root"))["ts"]
    other = web.chat_postMessage(channel="C1", text="other")["ts"]
    replies = [web.chat_postMessage(channel="C1", text=f"r{i}", thread_ts=root, metadata=meta(f"r{i}"))["ts"]
               for i in range(3)]  # fmt: skip
    web.chat_postMessage(channel="C1", text="r3", thread_ts=replies[0])  # a reply to a reply joins the thread
    web.chat_postMessage(channel="C1", text="loud", thread_ts=root, reply_broadcast=True)

    history = web.conversations_history(channel="C1", include_all_metadata=True)["messages"]
    assert [m["text"] for m in history] == ["loud", "other", "root"]  # no replies but the broadcast one
    assert (history[2]["thread_ts"], history[2]["reply_count"]) == (root, 5) and "thread_ts" not in history[1]

    thread = web.conversations_replies(channel="C1", ts=root, include_all_metadata=True)["messages"]
    assert [m["text"] for m in thread] == ["root", "r0", "r1", "r2", "r3", "loud"]  # the parent first
    assert thread[1]["metadata"] == meta("r0") and thread[1]["thread_ts"] == root
    assert "metadata" not in web.conversations_replies(channel="C1", ts=root)["messages"][1]
    assert [m["text"] for m in web.conversations_replies(channel="C1", ts=replies[1])["messages"]][:2] == ["root", "r0"]
    later = web.conversations_replies(channel="C1", ts=root, oldest=replies[1])["messages"]
    assert [m["text"] for m in later] == ["root", "r2", "r3", "loud"]  # the parent whatever `oldest`
    assert [m["text"] for m in web.conversations_replies(channel="C1", ts=other)["messages"]] == ["other"]

    pages, cursor = [], None
    while True:
        page = web.conversations_replies(channel="C1", ts=root, limit=2, cursor=cursor)
        pages.append([m["text"] for m in page["messages"]])
        cursor = page["response_metadata"]["next_cursor"]
        if not cursor:
            break
    assert pages == [["root", "r0"], ["r1", "r2"], ["r3", "loud"]]  # the parent on the first page only

    dm = web.chat_postMessage(channel="U7", text="dm root")
    web.chat_postMessage(channel="U7", text="dm reply", thread_ts=dm["ts"])
    assert [m["text"] for m in web.conversations_history(channel="DU7")["messages"]] == ["dm root"]
    assert len(web.conversations_replies(channel="DU7", ts=dm["ts"])["messages"]) == 2
    assert fake_slack.posted("C1")[0].get("thread_ts") is None  # what was posted is kept as posted
    with pytest.raises(Exception, match="thread_not_found"):
        web.conversations_replies(channel="C1", ts="1.000001")


def test_a_reply_whose_answer_is_lost_is_found_in_its_thread_not_posted_again(
    sessions: SessionFactory, client: WebClient, fake_slack: FakeSlack
) -> None:
    """In a channel and in a DM (a user id: its thread is read in the D channel conversations.open gives)."""
    fake_slack.real_ts = True
    with unit_of_work(sessions) as s:
        outbox.post(s, "root", "C1", "Acme is red")
        outbox.post(s, "dm-root", "U7", "you own Acme")
    clock = Clock()
    assert run(sessions, client, clock).sent == 2
    with unit_of_work(sessions) as s:
        outbox.post(s, "tasks", "C1", "Playbook tasks", thread_key="root")
        outbox.post(s, "draft", "C1", "Outreach draft", thread_key="root")
        outbox.post(s, "dm-tasks", "U7", "your tasks", thread_key="dm-root")
    fake_slack.drop_next("chat.postMessage", times=2)  # "tasks" and "dm-tasks" reach Slack; their answers are lost

    result = run(sessions, client, clock)

    assert (result.sent, result.unknown, result.reconciled) == (3, 2, 2)
    assert posted_keys(fake_slack) == Counter({"root": 1, "dm-root": 1, "tasks": 1, "draft": 1, "dm-tasks": 1})
    stored = rows(sessions)
    assert all(r.status == "sent" for r in stored.values())
    assert {k: stored[k].ts for k in ("tasks", "draft")} == {
        m["metadata"]["event_payload"]["key"]: m["ts"] for m in fake_slack.posted("C1") if m.get("thread_ts")
    }
    assert (stored["dm-tasks"].ts, stored["dm-tasks"].sent_channel) == (fake_slack.posted("DU7")[1]["ts"], "DU7")
    read = {(c.params["channel"], c.params["ts"]) for c in fake_slack.calls_to("conversations.replies")}
    assert read == {("C1", stored["root"].ts), ("DU7", stored["dm-root"].ts)}


def test_a_reply_posted_by_a_sender_killed_before_storing_its_ts_is_found_after_the_lease(
    sessions: SessionFactory, client: WebClient, fake_slack: FakeSlack
) -> None:
    """The kill: the rows are claimed, one reply and one root are posted, the process dies; the next
    sender takes the rows once the lease has passed and posts only what Slack does not have."""
    fake_slack.real_ts = True
    with unit_of_work(sessions) as s:
        outbox.post(s, "root", "C1", "Acme is red")
    clock = Clock()
    assert run(sessions, client, clock).sent == 1
    with unit_of_work(sessions) as s:
        outbox.post(s, "tasks", "C1", "Playbook tasks", thread_key="root")
        outbox.post(s, "next-root", "C1", "Initech is red")
        outbox.post(s, "draft", "C1", "Outreach draft", thread_key="root")
    now = outbox.utcnow()
    with unit_of_work(sessions) as s:
        claimed = outbox.claim_due(s, now, now + timedelta(seconds=60))
    assert [c.key for c in claimed] == ["tasks", "next-root", "draft"]
    web = WebClient(token="xoxb-test", base_url=fake_slack.url)
    for row in claimed[:2]:  # what the killed sender got done
        web.chat_postMessage(
            channel=row.channel, text=row.payload["text"], metadata=meta(row.key), thread_ts=row.thread_ts
        )

    clock.t = now.timestamp() + 61
    result = run(sessions, client, clock)

    assert (result.sent, result.reconciled) == (3, 2)
    assert posted_keys(fake_slack) == Counter({"root": 1, "tasks": 1, "next-root": 1, "draft": 1})
    assert {r.ts for r in rows(sessions).values()} == {m["ts"] for m in fake_slack.posted()}


def test_a_sender_killed_mid_thread_and_restarted_posts_each_reply_once(
    sessions: SessionFactory, client: WebClient, fake_slack: FakeSlack, database_url: str
) -> None:
    """A real process, killed with SIGKILL while it posts replies into three threads (and a DM's)."""
    fake_slack.real_ts = True
    parents = {"C1": "root-1", "C2": "root-2", "U7": "root-dm"}
    with unit_of_work(sessions) as s:
        for channel, key in parents.items():
            outbox.post(s, key, channel, key)
    assert run(sessions, client, Clock()).sent == 3
    keys = [f"{key}-reply-{i}" for key in parents.values() for i in range(20)]
    with unit_of_work(sessions) as s:
        for channel, parent in parents.items():
            for i in range(20):
                outbox.post(s, f"{parent}-reply-{i}", channel, f"reply {i}", thread_key=parent)
    cmd = [sys.executable, "-c", SENDER, database_url, fake_slack.url]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    first = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        fake_slack.wait_for("chat.postMessage", 3 + 15, timeout=30)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    time.sleep(0.2)  # a request written just before the kill is still being recorded
    in_doubt = sum(1 for m in fake_slack.posted() if m.get("thread_ts")) - sum(
        r.status == "sent" for k, r in rows(sessions).items() if k in keys
    )
    assert in_doubt > 0  # killed with replies posted whose ts it never stored

    second = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)

    assert second.returncode == 0, second.stdout + second.stderr
    assert f"reconciled={in_doubt}," in second.stdout  # found in their threads, not posted again
    assert posted_keys(fake_slack) == Counter(dict.fromkeys([*parents.values(), *keys], 1))
    assert all(r.status == "sent" for r in rows(sessions).values())
