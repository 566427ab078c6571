"""The suggested coding through signed HTTP and the fake Slack (AI off): after a save, whoever saved gets the
suggestion in a DM; the stored reason changes only when they click "Use suggestion" (as an edit: the earlier
version kept, the churn channel told), never on "Keep", never from an out-of-date suggestion, never by someone who
may not read exit interviews."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator

import pytest
from slack_sdk.models.blocks import Block
from sqlalchemy import Engine

from bot.exits.ids import ExitIds
from bot.exits.values import CodingRef
from bot.settings import Settings
from bot.slack.values import encode
from tests.conftest import BotServer
from tests.fake_slack import FakeSlack
from tests.test_exit_interview import (
    CHURN,
    CSM,
    DAY,
    OUTSIDER,
    add_account,
    form,
    open_by_command,
    posted_to,
    stored,
    submit,
)

WORDS = "It was far too expensive for a team our size. The price doubled at renewal and we had no budget left."


def clicked(server: BotServer, action_id: str, value: str, user: str = CSM) -> dict:
    """What the click answered through its response_url."""
    before = len(server.fake.calls_to("response_url"))
    assert server.action(action_id, value, user_id=user).status_code == 200
    return server.fake.wait_for("response_url", before + 1)[-1].params


@pytest.fixture
def server(settings: Settings, engine: Engine, fake_slack: FakeSlack) -> Iterator[BotServer]:
    changed = dataclasses.replace(settings, churn_channel=CHURN, exit_interview_readers=(CSM,))
    started = BotServer(changed, engine, fake_slack, today=DAY).start()
    yield started
    started.stop()


def test_the_suggestion_is_shown_after_a_save_and_stored_only_on_use(server: BotServer, engine: Engine) -> None:
    account_id = add_account(engine)
    view = open_by_command(server)
    saved = submit(server, view, form(reason="onboarding", avoidable="no", answers={"why_leave": WORDS}))
    assert saved.status_code == 200 and not saved.content

    [dm] = posted_to(server, f"D{CSM}", 1)  # to whoever saved, a reader: the fake's DM with them
    for block in dm["blocks"]:
        Block.parse(block).validate_json()  # type: ignore[union-attr]
    text = json.dumps(dm["blocks"])
    assert "Suggested: *Price*, avoidable: *not sure*" in text and "You chose: Onboarding, avoidable: no" in text
    assert "It was far too expensive for a team our size." in text and "keywords" in text
    [buttons] = [b for b in dm["blocks"] if b["type"] == "actions"]
    use, keep = (e["value"] for e in buttons["elements"])
    interview, history, _ = stored(engine, account_id)
    assert interview is not None and (interview.reason, interview.version, history) == ("onboarding", 1, [])

    kept = clicked(server, ExitIds.CODING_KEEP, keep)
    assert kept["replace_original"] and "Kept Onboarding" in kept["text"]
    refused = clicked(server, ExitIds.CODING_USE, use, user=OUTSIDER)
    assert "restricted" in refused["text"]
    interview, history, _ = stored(engine, account_id)
    assert interview is not None and (interview.reason, interview.version, history) == ("onboarding", 1, [])

    used = clicked(server, ExitIds.CODING_USE, use)
    assert used["replace_original"] and "Price" in used["text"] and "version 2" in used["text"]
    interview, history, _ = stored(engine, account_id)
    assert interview is not None
    assert (interview.reason, interview.avoidable, interview.version) == ("price", False, 2)  # "not sure": kept no
    assert [(r.version, r.edited_by, r.values["reason"]) for r in history] == [(1, CSM, "onboarding")]
    summaries = posted_to(server, CHURN, 2)
    assert len(summaries) == 2 and "Price" in summaries[-1]["text"] and WORDS not in json.dumps(summaries)

    again = clicked(server, ExitIds.CODING_USE, use)  # the suggestion was for version 1
    assert "changed since this suggestion" in again["text"]
    forged = CodingRef(interview_id=interview.id or 0, version=2, reason="hated_it", avoidable="yes")
    assert "out of date" in clicked(server, ExitIds.CODING_USE, encode(forged))["text"]
    interview, _, _ = stored(engine, account_id)
    assert interview is not None and (interview.reason, interview.version) == ("price", 2)
