"""Every command and click is acked within Slack's 3 s whatever the work after the ack is doing, and a
replayed Share click posts nothing twice. Slow Slack is the fake's `hold` (a request hangs until released),
a slow database an answer that waits on an event: no test sleeps to pass."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import Engine

from bot.health import service as portfolio
from bot.settings import Settings, load_settings
from handlers import health as commands
from tests.conftest import BOT_TOKEN, SIGNING_SECRET, BotServer, sign
from tests.fake_slack import FakeSlack
from tests.test_unusual_data_in_slack import DAY, EVIL, EVIL_SHOWN, add_accounts

FORM = "application/x-www-form-urlencoded"
THREADS = 3  # LISTENER_THREADS: the listener pool, and the follow-up pool sized by it


@pytest.fixture
def small_settings(database_url: str, fake_slack: FakeSlack) -> Settings:
    return load_settings(
        env_file=None,
        environ={
            "DATABASE_URL": database_url,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": fake_slack.url,
            "LISTENER_THREADS": str(THREADS),
        },
    )


@pytest.fixture
def server(small_settings: Settings, engine: Engine, fake_slack: FakeSlack) -> Iterator[BotServer]:
    bot = BotServer(small_settings, engine, fake_slack, today=DAY).start()
    yield bot
    fake_slack.release()  # held work finishes before the server stops
    bot.stop()


def click_body(
    fake: FakeSlack, action_id: str, value: str, reply_to: str, message_ts: str = "1700000000.000100"
) -> bytes:
    payload = {
        "type": "block_actions",
        "team": {"id": "T1", "domain": "test"},
        "user": {"id": "U01CSM0001", "username": "csm", "team_id": "T1"},
        "api_app_id": "A1",
        "token": "legacy",
        "container": {"type": "message", "message_ts": message_ts, "channel_id": "C0TEST0001", "is_ephemeral": True},
        "trigger_id": "1337.42.abcd",
        "channel": {"id": "C0TEST0001", "name": "customer-health"},
        "response_url": fake.response_url(reply_to),
        "actions": [{"type": "button", "action_id": action_id, "block_id": "b1", "value": value, "action_ts": "1.2"}],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def post_signed(url: str, body: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    """On a client of its own: many of these run at once from a thread pool."""
    with httpx.Client(base_url=url, timeout=20) as http:
        return http.post("/slack/events", content=body, headers={"Content-Type": FORM, **(headers or sign(body))})


def saturate(server: BotServer, account_id: int, clicks: int) -> list[httpx.Response]:
    """`clicks` card clicks whose response_url hangs: every follow-up thread (and more) is stuck in Slack."""
    server.fake.hold("/response/slow")
    body = click_body(server.fake, "health.pick", json.dumps({"account_id": account_id}), "slow")
    with ThreadPoolExecutor(clicks) as pool:
        acks = list(pool.map(lambda _: post_signed(server.url, body), range(clicks)))
    server.fake.wait_for("response_url", THREADS, timeout=20)  # the follow-up pool is full; the rest queue
    return acks


def test_a_command_and_a_click_are_acked_while_the_follow_up_work_hangs(engine: Engine, server: BotServer) -> None:
    first, second = add_accounts(engine, ["Acme Hang Co", "Other Co"])
    acks = saturate(server, first, clicks=THREADS * 4)
    assert [a.status_code for a in acks] == [200] * (THREADS * 4)

    command = server.command("acme hang")
    click = server.action("health.open", json.dumps({"account_id": second}))
    assert command.status_code == 200 and click.status_code == 200

    answer = command.json()
    if "blocks" not in answer:  # the holding note: the card follows on the response_url
        answer = server.fake.wait_for("/response/cmd", timeout=20)[0].params
    assert "*Acme Hang Co*" in answer["blocks"][0]["text"]["text"]

    server.fake.release()  # Slack comes back: every held click and the open click are answered
    server.fake.wait_for("response_url", THREADS * 4 + 1, timeout=30)


def test_a_held_answer_goes_to_the_follow_up_pool_and_arrives(
    engine: Engine, server: BotServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slow database: more commands than listener threads all get the holding note in time (none waits on
    an answer in a listener), and each answer arrives once the database is back, even behind hung clicks."""
    (aid,) = add_accounts(engine, ["Slow Db Co"])
    database_back = threading.Event()
    real_answer = portfolio.answer

    def slow_answer(*args: Any, **kwargs: Any) -> Any:
        database_back.wait(30)
        return real_answer(*args, **kwargs)

    monkeypatch.setattr(commands, "ANSWER_IN_ACK_SECONDS", 1.0)
    monkeypatch.setattr(portfolio, "answer", slow_answer)
    saturate(server, aid, clicks=THREADS)
    form = {"command": "/health", "text": "slow db", "user_id": "U01CSM0001", "team_id": "T1",
            "channel_id": "C0TEST0001", "trigger_id": "t"}  # fmt: skip
    bodies = [
        urlencode({**form, "response_url": server.fake.response_url(f"cmd{i}")}).encode() for i in range(4 * THREADS)
    ]
    with ThreadPoolExecutor(len(bodies)) as pool:
        acks = list(pool.map(lambda body: post_signed(server.url, body), bodies))
    assert [a.status_code for a in acks] == [200] * len(bodies)
    assert all("Looking that up" in a.json()["text"] for a in acks)

    database_back.set()
    server.fake.release("/response/slow")
    for i in range(len(bodies)):
        (card,) = server.fake.wait_for(f"/response/cmd{i}", timeout=30)
        assert "*Slow Db Co*" in card.params["blocks"][0]["text"]["text"]


class Seen(logging.Handler):
    """Waits for a log line matching `test`."""

    def __init__(self, test: Callable[[str], bool]) -> None:
        super().__init__(logging.INFO)
        self.test, self.event = test, threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.test(record.getMessage()):
            self.event.set()


def test_a_replayed_share_click_posts_the_card_once(
    engine: Engine, server: BotServer, caplog: pytest.LogCaptureFixture
) -> None:
    (aid,) = add_accounts(engine, ["Share Once Co"])
    body = click_body(server.fake, "health.share", json.dumps({"account_id": aid}), "share")
    headers = sign(body)  # Slack's signature, captured and sent again within its 5 minutes
    seen = Seen(lambda line: "already posted" in line)
    caplog.set_level(logging.INFO)
    logging.getLogger().addHandler(seen)
    try:
        assert post_signed(server.url, body, headers).status_code == 200
        server.fake.wait_for("response_url", 2)  # the in-channel card, then the private copy deleted
        assert post_signed(server.url, body, headers).status_code == 200
        assert seen.event.wait(20), [c.params.get("response_type") for c in server.fake.calls_to("response_url")]
    finally:
        logging.getLogger().removeHandler(seen)
    posts = [c.params for c in server.fake.calls_to("response_url")]
    assert [p.get("response_type") for p in posts] == ["in_channel", None]

    # another card's Share still posts
    other = click_body(server.fake, "health.share", json.dumps({"account_id": aid}), "share2", message_ts="1.5")
    assert post_signed(server.url, other).status_code == 200
    server.fake.wait_for("/response/share2", 2)


def test_a_refused_share_can_be_tried_again(engine: Engine, server: BotServer) -> None:
    """The claim commits with the posts: when Slack refuses the card, the next click posts it."""
    (aid,) = add_accounts(engine, ["Retry Share Co"])
    body = click_body(server.fake, "health.share", json.dumps({"account_id": aid}), "share")
    server.fake.fail_next("response_url", status=500, times=3)
    post_signed(server.url, body)
    server.fake.wait_for("response_url", 4, timeout=30)  # 3 refused tries of the card, then the error notice
    post_signed(server.url, body)
    calls = server.fake.wait_for("response_url", 6, timeout=30)
    assert calls[4].params["response_type"] == "in_channel" and calls[4].failed_status is None
    assert calls[5].params["delete_original"] is True


def test_the_chart_failure_note_escapes_the_name(engine: Engine, server: BotServer) -> None:
    (aid,) = add_accounts(engine, [EVIL])
    server.fake.fail_next("upload", status=500)
    server.action("health.chart", json.dumps({"account_id": aid}))
    told = server.fake.wait_for("response_url", timeout=30)[0].params["text"]
    assert f"*{EVIL_SHOWN}*" in told and "<!channel>" not in told
