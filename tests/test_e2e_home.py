"""The App Home tab end to end: signed Events API posts and view clicks to the real HTTP endpoint."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import httpx
from slack_sdk.models.views import View
from sqlmodel import Session, select

from storage.models import Account, SlackEvent
from tests.conftest import BotServer

ME = "U01CSM0001"


def home_opened(server: BotServer, event_id: str, user: str = ME, tab: str = "home", retry: int = 0) -> httpx.Response:
    payload = {
        "token": "legacy",
        "team_id": "T1",
        "api_app_id": "A1",
        "type": "event_callback",
        "event_id": event_id,
        "event_time": 1700000000,
        "event": {"type": "app_home_opened", "user": user, "channel": "D0HOME", "tab": tab, "event_ts": "1.2"},
    }
    headers = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"} if retry else {}
    return server.post_signed(json.dumps(payload).encode(), "application/json", headers)


def click_in_home(server: BotServer, action_id: str, value: str, user: str = ME) -> httpx.Response:
    payload = {
        "type": "block_actions",
        "team": {"id": "T1", "domain": "test"},
        "user": {"id": user, "username": "csm", "team_id": "T1"},
        "api_app_id": "A1",
        "token": "legacy",
        "container": {"type": "view", "view_id": "V1"},
        "trigger_id": "1337.42.abcd",
        "view": {"id": "V1", "type": "home", "hash": "h1", "blocks": []},
        "actions": [{"type": "button", "action_id": action_id, "block_id": "b1", "value": value, "action_ts": "1.2"}],
    }
    return server.post_signed(urlencode({"payload": json.dumps(payload)}).encode(), "application/x-www-form-urlencoded")


def published(server: BotServer, count: int = 1) -> list[dict]:
    """The views published so far (waiting for `count`), each checked with slack_sdk's View."""
    views = []
    for call in server.fake.wait_for("views.publish", count, timeout=10):
        view = View(**call.params["view"])
        view.validate_json()
        assert view.type == "home" and len(call.params["view"]["blocks"]) <= 100
        views.append(call.params)
    return views


def texts(view: dict) -> str:
    out = []
    for block in view["blocks"]:
        if isinstance(block.get("text"), dict):
            out.append(block["text"]["text"])
        out += [f["text"] for f in block.get("fields", [])]
        out += [e["text"] for e in block.get("elements", []) if isinstance(e.get("text"), str)]
    return "\n".join(out)


def home_buttons(view: dict, action_id: str) -> list[dict]:
    return [e for b in view["blocks"] if b["type"] == "actions" for e in b["elements"] if e["action_id"] == action_id]


def test_opening_home_publishes_my_dashboard(seeded, bot_server: BotServer) -> None:
    assert home_opened(bot_server, "Ev001").status_code == 200
    call = published(bot_server)[0]
    assert call["user_id"] == ME
    text = texts(call["view"])
    for part in ("My accounts", "Team", "*This week*:", "Moved most this week", "*Biggest drops*", "*Biggest gains*"):
        assert part in text
    with Session(seeded) as s:
        mine = s.exec(select(Account.name).where(Account.owner_slack_id == ME, Account.status != "churned")).all()
    assert any(f"*{name}*" in text for name in mine)


def wait_handled(engine, event_id: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with Session(engine) as s:
            if s.get(SlackEvent, event_id) is not None:
                return
        assert time.monotonic() < deadline, f"event {event_id} was never marked handled"
        time.sleep(0.02)


def test_a_retried_event_does_not_publish_twice(seeded, bot_server: BotServer) -> None:
    home_opened(bot_server, "Ev002")
    published(bot_server, 1)
    wait_handled(seeded, "Ev002")  # marked once the publish succeeded; a retry racing it may publish again
    assert home_opened(bot_server, "Ev002", retry=1).status_code == 200  # Slack's retry: acked, dropped
    home_opened(bot_server, "Ev003", user="U01CSM0002")  # a new event still publishes
    calls = published(bot_server, 2)
    assert [c["user_id"] for c in calls] == [ME, "U01CSM0002"]
    assert len(bot_server.fake.calls_to("views.publish")) == 2


def test_a_retry_after_a_failed_publish_goes_through(seeded, bot_server: BotServer) -> None:
    bot_server.fake.fail_next("views.publish", status=500, times=3)  # the client's own retries fail too
    home_opened(bot_server, "Ev004")
    bot_server.fake.wait_for("views.publish", 3, timeout=15)
    for retry in (1, 2, 3):  # as Slack does, until one publishes
        home_opened(bot_server, "Ev004", retry=retry)
        try:
            bot_server.fake.wait_for("views.publish", 4, timeout=3)
            break
        except AssertionError:
            continue
    calls = bot_server.fake.calls_to("views.publish")
    assert [c.failed_status for c in calls] == [500, 500, 500, None]


def test_messages_tab_publishes_nothing(seeded, bot_server: BotServer) -> None:
    home_opened(bot_server, "Ev005", tab="messages")
    home_opened(bot_server, "Ev006", user="U01CSM0003")
    assert [c["user_id"] for c in published(bot_server)] == ["U01CSM0003"]
    assert len(bot_server.fake.calls_to("views.publish")) == 1


def test_more_and_previous_page_a_tier_list(seeded, bot_server: BotServer) -> None:
    with Session(seeded) as s:  # enough healthy accounts for three pages
        for i in range(20):
            other = s.exec(select(Account).where(Account.owner_slack_id != ME).offset(i)).first()
            assert other is not None
            other.owner_slack_id = ME
            s.add(other)
        s.commit()
    home_opened(bot_server, "Ev007")
    first = published(bot_server)[0]["view"]
    more = home_buttons(first, "home.page.next")
    assert more, "a tier with more accounts than a page has a More button"
    pages = json.loads(more[0]["value"])["pages"]
    (tier, page) = next(iter(pages.items()))
    assert page == 1

    assert click_in_home(bot_server, "home.page.next", more[0]["value"]).status_code == 200
    second = published(bot_server, 2)[1]["view"]
    assert second["blocks"] != first["blocks"] and "9–" in texts(second)
    back = home_buttons(second, "home.page.prev")
    assert json.loads(back[0]["value"])["pages"][tier] == 0

    click_in_home(bot_server, "home.page.prev", back[0]["value"])
    assert published(bot_server, 3)[2]["view"]["blocks"] == first["blocks"]


def test_home_before_any_scores_says_what_to_do(engine, bot_server: BotServer) -> None:
    home_opened(bot_server, "Ev008")
    assert "There are no health scores yet" in texts(published(bot_server)[0]["view"])
