"""The request path every Slack feature shares: out-of-date buttons, and errors told to the user where they are.

Driven through the real HTTP endpoint with signed bodies and the recording fake Slack.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any
from urllib.parse import urlencode

import pytest
from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.models.views import View
from sqlalchemy import Engine

from bot.app import create_app
from bot.health.ids import HealthIds
from bot.home.ids import HomeIds
from bot.settings import Settings
from bot.slack.requests import Deps, after_ack, notice_view, where
from bot.web import create_web
from tests.conftest import BotServer
from tests.fake_slack import FakeSlack

OUT_OF_DATE = "This button is out of date"
FORGED = ["abc", "{}", '{"account_id": 1.5}', '{"account_id": 1, "extra": 2}', '{"account_id": "x"}', ""]


@pytest.mark.parametrize("value", FORGED)
def test_a_forged_or_stale_card_button_is_acked_and_answered_out_of_date(bot_server: BotServer, value: str) -> None:
    response = bot_server.action(HealthIds.SHARE, value)
    assert response.status_code == 200
    sent = bot_server.fake.wait_for("response_url")[0].params
    assert OUT_OF_DATE in sent["text"] and sent["response_type"] == "ephemeral"
    assert bot_server.fake.calls_to("chat.postMessage") == []


@pytest.mark.parametrize(
    "value",
    [
        '{"kind": "me", "page": -1}',
        '{"kind": "nope"}',
        '{"kind": "top", "page": "1"}',
        '{"kind": "me", "page": 1000000000000000000}',
        '{"kind": "top", "limit": 0}',
    ],
)
def test_a_forged_list_page_is_refused(bot_server: BotServer, value: str) -> None:
    assert bot_server.action(HealthIds.LIST_NEXT, value).status_code == 200
    assert OUT_OF_DATE in bot_server.fake.wait_for("response_url")[0].params["text"]


def test_a_forged_home_page_is_told_in_the_apps_dm(bot_server: BotServer) -> None:
    """App Home has no response_url: the user hears it in the app's DM, and Home is not republished."""
    response = bot_server.post_signed(_payload(_home_click(HomeIds.PAGE_NEXT, '{"pages": {"high_risk": -1}}')), FORM)
    assert response.status_code == 200
    told = bot_server.fake.wait_for("chat.postMessage")[0].params
    assert told["channel"] == "U01CSM0001" and OUT_OF_DATE in told["text"]
    assert bot_server.fake.calls_to("views.publish") == []


# --- the error handler: wherever the user is --------------------------------------------------

FORM = "application/x-www-form-urlencoded"
BOOM = "test.boom"


class BoomServer(BotServer):
    """The real bot plus listeners that fail, one per kind of place a user can be."""

    def __init__(self, settings: Settings, engine: Engine, fake: FakeSlack):
        super().__init__(settings, engine, fake)
        bolt = create_app(settings, engine)

        @bolt.action(BOOM)
        def fail_after_ack(ack: Ack) -> None:
            ack()
            raise RuntimeError("boom after the ack")

        @bolt.view("test.form")
        def fail_in_submission(ack: Ack) -> None:
            raise RuntimeError("boom before the ack")

        follow_up = Deps(lambda: None, None, date.today, ThreadPoolExecutor(1))  # type: ignore[arg-type]

        @bolt.view("test.saved")
        def fail_after_saving(ack: Ack, body: dict, client: WebClient, logger: logging.Logger) -> None:
            ack()  # stored before the ack, as every submission is; then the redraw fails
            after_ack(follow_up, body, client, None, logger, lambda: _raise(RuntimeError("boom in the redraw")))

        self.bolt: App = bolt
        self.server.config.app = create_web(bolt, engine, signing_secret=settings.slack_signing_secret or "")


@pytest.fixture
def boom(settings: Settings, engine: Engine, fake_slack: FakeSlack) -> Iterator[BoomServer]:
    server = BoomServer(settings, engine, fake_slack).start()
    yield server
    server.stop()


def _raise(error: Exception) -> None:
    raise error


def _payload(payload: dict[str, Any]) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


def _click(container: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "type": "block_actions",
        "team": {"id": "T1", "domain": "test"},
        "user": {"id": "U01CSM0001", "username": "csm", "team_id": "T1"},
        "api_app_id": "A1",
        "token": "legacy",
        "container": container,
        "trigger_id": "1337.42.abcd",
        "actions": [{"type": "button", "action_id": BOOM, "block_id": "b1", "value": "x", "action_ts": "1.2"}],
        **extra,
    }


def _submission(view_id: str, callback_id: str) -> dict[str, Any]:
    """A view_submission of an empty modal: the listener registered for `callback_id` handles it."""
    return {
        "type": "view_submission",
        "team": {"id": "T1", "domain": "test"},
        "user": {"id": "U01CSM0001", "username": "csm", "team_id": "T1"},
        "api_app_id": "A1",
        "token": "legacy",
        "trigger_id": "1337.42.abcd",
        "view": {"id": view_id, "type": "modal", "callback_id": callback_id, "blocks": [],
                 "state": {"values": {}}, "private_metadata": "", "hash": "h"},
    }  # fmt: skip


def _home_click(action_id: str, value: str) -> dict[str, Any]:
    click = _click({"type": "view", "view_id": "V1"}, view={"id": "V1", "type": "home", "blocks": []})
    click["actions"][0].update(action_id=action_id, value=value)
    return click


def test_an_error_in_a_message_is_an_ephemeral_reply_with_an_id(boom: BoomServer) -> None:
    click = _click({"type": "message", "message_ts": "1.1"}, channel={"id": "C0TEST0001"},
                   response_url=boom.fake.response_url("err"))  # fmt: skip
    assert boom.post_signed(_payload(click), FORM).status_code == 200
    sent = boom.fake.wait_for("response_url")[0].params
    assert (
        sent["response_type"] == "ephemeral" and "Something went wrong" in sent["text"] and "error id" in sent["text"]
    )


def test_an_error_in_a_thread_is_an_ephemeral_reply_in_that_thread(boom: BoomServer) -> None:
    click = _click({"type": "message", "message_ts": "1.9", "channel_id": "C0TEST0001", "thread_ts": "1.1"},
                   channel={"id": "C0TEST0001"}, response_url=boom.fake.response_url("err"))  # fmt: skip
    boom.post_signed(_payload(click), FORM)
    sent = boom.fake.wait_for("chat.postEphemeral")[0].params
    assert (sent["channel"], sent["user"], sent["thread_ts"]) == ("C0TEST0001", "U01CSM0001", "1.1")
    assert "Something went wrong" in sent["text"]


def test_an_error_on_app_home_is_told_in_the_apps_dm(boom: BoomServer) -> None:
    boom.post_signed(_payload(_home_click(BOOM, "x")), FORM)
    sent = boom.fake.wait_for("chat.postMessage")[0].params
    assert sent["channel"] == "U01CSM0001" and "Something went wrong" in sent["text"]


def test_an_error_in_a_modal_button_pushes_a_modal_saying_so(boom: BoomServer) -> None:
    click = _click({"type": "view", "view_id": "V2"}, view={"id": "V2", "type": "modal", "blocks": []})
    boom.post_signed(_payload(click), FORM)
    pushed = boom.fake.wait_for("views.push")[0].params
    assert pushed["trigger_id"] == "1337.42.abcd"
    assert "Something went wrong" in json.dumps(pushed["view"])


def test_an_error_in_a_modal_submission_is_answered_in_the_ack(boom: BoomServer) -> None:
    """Before the ack a submission can still answer inline: the modal shows the error instead of Slack's timeout."""
    response = boom.post_signed(_payload(_submission("V3", "test.form")), FORM)
    assert response.status_code == 200
    answer = response.json()
    assert answer["response_action"] == "push"
    assert "Something went wrong" in json.dumps(answer["view"])


def test_a_submission_saved_whose_redraw_fails_is_told_it_was_saved(boom: BoomServer) -> None:
    """After the ack the modal is gone: the user hears in the app's DM that the form was stored, not 'not saved'."""
    response = boom.post_signed(_payload(_submission("V4", "test.saved")), FORM)
    assert response.status_code == 200 and not response.content
    sent = boom.fake.wait_for("chat.postMessage")[0].params
    assert sent["channel"] == "U01CSM0001" and "was saved" in sent["text"] and "error id" in sent["text"]
    assert boom.fake.calls_to("views.push") == []


def test_notice_view_is_a_valid_modal() -> None:
    view = notice_view("x" * 2900)
    View(**view).validate_json()


@pytest.mark.parametrize(
    ("body", "place"),
    [
        ({"type": "view_submission", "view": {"type": "modal"}}, "modal"),
        ({"type": "block_actions", "container": {"type": "view"}, "view": {"type": "home"}}, "home"),
        (
            {"type": "block_actions", "container": {"type": "message", "thread_ts": "1.1"}, "response_url": "u"},
            "thread",
        ),
        ({"type": "block_actions", "container": {"type": "message"}, "response_url": "u"}, "message"),
        ({"command": "/health", "response_url": "u"}, "command"),
        ({"type": "event_callback"}, "dm"),
    ],
)
def test_where_the_user_is(body: dict[str, Any], place: str) -> None:
    assert where(body) == place
