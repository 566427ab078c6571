"""What the card's buttons and the App Home's publishing decide, called as functions on a real database with a
real WebClient and Respond pointed at the recording fake Slack (no HTTP endpoint, no Bolt): Share posts once per
clicked message, the Override button refuses a churned account and keeps the card's response_url in its modal, the
card is redrawn after an override (in the app's DM when there is no response_url), and an app_home_opened event
publishes the Home once."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any

from slack_bolt import Respond
from slack_sdk import WebClient
from slack_sdk.models.views import View
from sqlalchemy import Engine

from bot.health import buttons
from bot.health.values import AccountRef, OverrideRef
from bot.home import service as home
from bot.scoring.scorecard import load_scorecard
from bot.slack.requests import Click, Deps
from bot.slack.values import decode
from storage.db import session_factory, unit_of_work
from storage.models import Account
from tests.fake_slack import FakeSlack
from tests.test_unusual_data_in_slack import DAY, ME, add_accounts

log = logging.getLogger("tests.health_buttons")


def deps_for(engine: Engine) -> Deps:
    return Deps(session_factory(engine), load_scorecard(), lambda: DAY, ThreadPoolExecutor(1))


def click_on(engine: Engine, fake: FakeSlack, account_id: int, work: Any, reply_to: str = "r1") -> None:
    """Run `work(click)` as `on_click` does: one unit of work around a click on a message in C0TEST0001."""
    body = {
        "user": {"id": ME},
        "trigger_id": "1337.42.abcd",
        "channel": {"id": "C0TEST0001"},
        "container": {"type": "message", "message_ts": "1700000000.000100", "channel_id": "C0TEST0001"},
        "response_url": fake.response_url(reply_to),
    }
    client = WebClient(token="xoxb-test", base_url=fake.url)
    with unit_of_work(session_factory(engine)) as session:
        respond = Respond(response_url=body["response_url"])
        work(Click(session, AccountRef(account_id=account_id), ME, body, respond, client, log))


def test_share_posts_the_card_once_per_clicked_message(engine: Engine, fake_slack: FakeSlack) -> None:
    (account_id,) = add_accounts(engine, ["Acme Corp"])
    deps = deps_for(engine)
    for _ in range(2):  # a double click, or a replayed request
        click_on(engine, fake_slack, account_id, lambda click: buttons.share(deps, click))
    answers = [call.params for call in fake_slack.calls_to("response_url")]
    assert [a.get("response_type") or ("delete" if a.get("delete_original") else "") for a in answers] == [
        "in_channel",
        "delete",
    ]
    assert "Acme Corp" in answers[0]["text"]


def test_override_is_refused_for_a_churned_account_and_opens_on_the_cards_response_url(engine: Engine) -> None:
    active, churned = add_accounts(engine, ["Acme Corp", "Gone Inc"])
    deps = deps_for(engine)
    with unit_of_work(session_factory(engine)) as s:
        account = s.get(Account, churned)
        assert account is not None
        account.status, account.churned_on = "churned", date(2026, 5, 1)
        s.add(account)
    with unit_of_work(session_factory(engine)) as s:
        refused = buttons.override_form(deps, s, churned, "https://hooks.example/r")
        form = buttons.override_form(deps, s, active, "https://hooks.example/r")
    assert isinstance(refused, str) and "Gone Inc" in refused
    assert isinstance(form, dict)
    View(**form).validate_json()
    assert decode(OverrideRef, form["private_metadata"]) == OverrideRef(
        account_id=active, response_url="https://hooks.example/r"
    )


def test_the_card_redrawn_after_an_override_goes_to_the_dm_without_a_response_url(
    engine: Engine, fake_slack: FakeSlack
) -> None:
    (account_id,) = add_accounts(engine, ["Acme Corp"])
    client = WebClient(token="xoxb-test", base_url=fake_slack.url)
    buttons.redraw_overridden(deps_for(engine), OverrideRef(account_id=account_id), ME, client, log)
    (dm,) = fake_slack.calls_to("chat.postMessage")
    assert dm.params["channel"] == ME and "Acme Corp" in dm.params["text"]


def test_an_app_home_opened_event_publishes_once(engine: Engine, fake_slack: FakeSlack) -> None:
    add_accounts(engine, ["Acme Corp"])
    client = WebClient(token="xoxb-test", base_url=fake_slack.url)
    deps = deps_for(engine)
    for retry in ("0", "1"):
        home.publish_once(deps, client, "Ev01", ME, log, retry)
    home.publish_once(deps, client, None, ME, log)  # no event id: published, nothing to dedupe on
    published = fake_slack.calls_to("views.publish")
    assert len(published) == 2 and all(call.params["user_id"] == ME for call in published)
    View(**published[0].params["view"]).validate_json()
