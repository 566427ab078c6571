"""The suggested coding through signed HTTP and the fake Slack (AI off): a save is acked with the suggestion as the
form's next state; the stored reason changes only when the saver clicks "Use suggestion" (as an edit: the earlier
version kept, the churn channel told), never on "Keep", never from an out-of-date or forged suggestion, never by
someone who may not read exit interviews. With a model (the real `Model` from LLM_* settings, over HTTP to the fake
OpenAI-compatible server), its suggestion replaces the keywords' in the open modal."""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from slack_sdk import WebClient
from slack_sdk.models.views import View
from sqlalchemy import Engine

from bot.exits.ids import ExitIds
from bot.exits.values import CodingRef
from bot.llm.client import Model
from bot.scoring.scorecard import load_scorecard
from bot.settings import Settings
from bot.slack.requests import Deps
from bot.slack.values import encode
from handlers.exits import _ask_model
from storage.db import session_factory
from tests.conftest import BotServer
from tests.fake_openai import FakeOpenAI, Reply
from tests.fake_slack import FakeSlack
from tests.test_churn_privacy import TODAY, TYPER, add_portfolio, carries_quote
from tests.test_exit_coding import json_prompt
from tests.test_exit_interview import (
    CHURN,
    CSM,
    DAY,
    NEUTRAL,
    OUTSIDER,
    add_account,
    form,
    interactive,
    open_by_command,
    posted_to,
    stored,
    submit,
)

WORDS = "It was far too expensive for a team our size. The price doubled at renewal and we had no budget left."


@pytest.fixture
def server(settings: Settings, engine: Engine, fake_slack: FakeSlack) -> Iterator[BotServer]:
    changed = dataclasses.replace(settings, churn_channel=CHURN, exit_interview_readers=(CSM,))
    started = BotServer(changed, engine, fake_slack, today=DAY).start()
    yield started
    started.stop()


def click(server: BotServer, shown: dict, action_id: str, value: str, user: str = CSM) -> dict:
    """A button clicked in the modal `shown` (as Slack sends it, with the view's id and hash); what the modal then
    says (views.update), or what was pushed on top of it (views.push)."""
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": "u", "team_id": "T1"},
        "container": {"type": "view", "view_id": "V1"},
        "view": {**shown, "id": "V1", "hash": "h1"},
        "actions": [{"type": "button", "action_id": action_id, "block_id": "b", "value": value, "action_ts": "1.2"}],
    }
    before = len(server.fake.calls_to("views.update")) + len(server.fake.calls_to("views.push"))
    assert interactive(server, payload).status_code == 200
    deadline = time.monotonic() + 5
    while len(server.fake.calls_to("views.update")) + len(server.fake.calls_to("views.push")) == before:
        assert time.monotonic() < deadline, "the click was not answered"
        time.sleep(0.02)
    [answer] = [c for c in server.fake.calls if c.method in ("views.update", "views.push")][before:]
    View(**answer.params["view"]).validate_json()
    return answer.params


def test_the_suggestion_is_the_forms_next_state_and_is_stored_only_on_use(server: BotServer, engine: Engine) -> None:
    account_id = add_account(engine)
    form_view = open_by_command(server)
    saved = submit(server, form_view, form(reason="onboarding", avoidable="no", answers={"why_leave": WORDS}))
    assert saved.json()["response_action"] == "update"  # stored before the ack, as ever; the suggestion in its ack
    shown = saved.json()["view"]
    View(**shown).validate_json()
    text = json.dumps(shown["blocks"])
    assert "Suggested: *Price*, avoidable: *not sure*" in text and "You chose: Onboarding, avoidable: no" in text
    assert "It was far too expensive for a team our size." in text and "keywords" in text
    [buttons] = [b for b in shown["blocks"] if b["type"] == "actions"]
    use, keep = (e["value"] for e in buttons["elements"])
    interview, history, _ = stored(engine, account_id)
    assert interview is not None and (interview.reason, interview.version, history) == ("onboarding", 1, [])

    kept = click(server, shown, ExitIds.CODING_KEEP, keep)
    assert (kept["view_id"], kept["hash"]) == ("V1", "h1") and "Kept Onboarding" in json.dumps(kept["view"])
    refused = click(server, shown, ExitIds.CODING_USE, use, user=OUTSIDER)  # not a reader: told on top, no change
    assert "restricted" in json.dumps(refused["view"])
    interview, history, _ = stored(engine, account_id)
    assert interview is not None and (interview.reason, interview.version, history) == ("onboarding", 1, [])

    used = json.dumps(click(server, shown, ExitIds.CODING_USE, use)["view"])
    assert "Price" in used and "version 2" in used
    interview, history, _ = stored(engine, account_id)
    assert interview is not None
    assert (interview.reason, interview.avoidable, interview.version) == ("price", False, 2)  # "not sure": kept no
    assert [(r.version, r.edited_by, r.values["reason"]) for r in history] == [(1, CSM, "onboarding")]
    summaries = posted_to(server, CHURN, 2)
    assert len(summaries) == 2 and "Price" in summaries[-1]["text"] and WORDS not in json.dumps(summaries)
    assert not server.fake.posted(f"D{CSM}")  # no copy of the customer's words left in a DM

    again = click(server, shown, ExitIds.CODING_USE, use)  # the suggestion was for version 1
    assert "changed since this suggestion" in json.dumps(again["view"])
    forged = CodingRef(interview_id=interview.id or 0, version=2, reason="hated_it", avoidable="yes")
    assert "out of date" in json.dumps(click(server, shown, ExitIds.CODING_USE, encode(forged))["view"])
    interview, _, _ = stored(engine, account_id)
    assert interview is not None and (interview.reason, interview.version) == ("price", 2)


def test_a_suggested_competitor_needs_the_competitors_name_first(server: BotServer, engine: Engine) -> None:
    account_id = add_account(engine)
    words = "We switched to a rival that went with a bundle deal."
    shown = submit(server, open_by_command(server), form(reason="onboarding", answers={"why_leave": words})).json()
    [buttons] = [b for b in shown["view"]["blocks"] if b["type"] == "actions"]
    assert "*Competitor*" in json.dumps(shown["view"])
    answer = click(server, shown["view"], ExitIds.CODING_USE, buttons["elements"][0]["value"])
    assert "needs the competitor's name" in json.dumps(answer["view"])
    interview, history, _ = stored(engine, account_id)
    assert interview is not None and (interview.reason, history) == ("onboarding", [])


def test_a_form_without_words_closes_as_before(server: BotServer, engine: Engine) -> None:
    add_account(engine)
    saved = submit(server, open_by_command(server), form(answers={"come_back": ""}))
    assert saved.status_code == 200 and not saved.content  # nothing to code: the plain ack closes the modal


GENERATED = {"reason": "price", "avoidable": "yes", "summary": "Too expensive for their size; the price doubled."}


@pytest.mark.parametrize(
    "reply, why",
    [
        (Reply(json.dumps(GENERATED)), None),
        (Reply("no JSON here"), "not valid JSON"),
        (Reply(json.dumps({**GENERATED, "reason": "too_pricey"})), "valid reason"),  # not one of our categories
        (Reply(status=500, retry_after="0"), "HTTP 500"),
    ],
)
def test_with_a_model_its_suggestion_replaces_the_keywords_in_the_open_modal(
    server: BotServer, engine: Engine, settings: Settings, reply: Reply, why: str | None
) -> None:
    """After the ack (a model may take its time): the model's coding, marked generated, or the keywords' with the
    reason the model's was not used; either way with the buttons the keywords' first state held back."""
    account_id = add_account(engine)
    submit(server, open_by_command(server), form(reason="onboarding", avoidable="no", answers={"why_leave": WORDS}))
    interview, _, _ = stored(engine, account_id)
    assert interview is not None
    deps = Deps(session_factory(engine), load_scorecard(), lambda: DAY, ThreadPoolExecutor(1))
    before = len(server.fake.calls_to("views.update"))
    client = WebClient(token="xoxb-test", base_url=server.fake.url)
    with FakeOpenAI(reply) as fake:
        ai = dataclasses.replace(settings, llm_base_url=fake.url, llm_model="test-model", llm_timeout=10.0)
        model = Model.from_settings(ai)
        assert model is not None
        _ask_model(deps, model, interview.id or 0, "V1", client, logging.getLogger("test"))
    assert fake.requests and all(WORDS in json_prompt(seen) for seen in fake.requests)  # json mode, the answers
    [update] = server.fake.calls_to("views.update")[before:]
    assert update.params["view_id"] == "V1"
    View(**update.params["view"]).validate_json()
    text = json.dumps(update.params["view"]["blocks"])
    assert "Use suggestion" in text and "Asking the model" not in text
    if why is None:
        assert "Generated by the model" in text and "Too expensive for their size" in text
    else:
        assert "keywords" in text and why in text and "It was far too expensive" in text
    interview, history, _ = stored(engine, account_id)
    assert interview is not None and (interview.reason, history) == ("onboarding", [])  # shown, not stored


def test_a_silent_model_holds_no_one_elses_work(settings: Settings, engine: Engine, fake_slack: FakeSlack) -> None:
    """The model's calls wait on a pool of their own: with one follow-up thread and a model that never answers, the
    next `/health exit` still opens its form (Slack's trigger_id lasts 3 s); the modal is updated when the model's
    call ends (here: given up, the keywords' coding with its buttons)."""
    with FakeOpenAI(Reply(hold=True)) as fake:
        ai = dataclasses.replace(
            settings,
            churn_channel=CHURN,
            exit_interview_readers=(CSM,),
            listener_threads=1,
            llm_base_url=fake.url,
            llm_model="test-model",
            llm_fields=("*", "exit_words"),
            llm_timeout=60.0,
        )
        server = BotServer(ai, engine, fake_slack, today=DAY).start()
        try:
            add_account(engine)
            add_account(engine, "Globex Inc")
            shown = submit(server, open_by_command(server), form(answers={"why_leave": WORDS})).json()["view"]
            assert "Asking the model" in json.dumps(shown)
            assert fake.wait_for(lambda f: f.in_flight == 1)  # the coding's call, held
            assert open_by_command(server, "Globex Inc")["type"] == "modal"  # opened while the model is silent
            assert fake.in_flight == 1 and not server.fake.calls_to("views.update")
            fake.release()  # an empty body: the model's coding is not used, the keywords' replaces "Asking"
            [update] = server.fake.wait_for("views.update", timeout=10)
            assert update.params["view_id"] == "V1" and "Use suggestion" in json.dumps(update.params["view"])
        finally:
            server.stop()


def test_the_churn_reviews_chart_does_not_wait_for_the_models_themes(
    settings: Settings, engine: Engine, fake_slack: FakeSlack
) -> None:
    """A reader's `/health churn`: the chart is uploaded while the model is still silent about the themes; the
    quotes follow, privately, when its call ends (here: given up, the keyword themes)."""
    add_portfolio(engine)
    with FakeOpenAI(Reply(hold=True)) as fake:
        ai = dataclasses.replace(
            settings,
            exit_interview_readers=(TYPER,),
            listener_threads=1,
            llm_base_url=fake.url,
            llm_model="test-model",
            llm_fields=("*", "exit_words"),
            llm_timeout=60.0,
        )
        server = BotServer(ai, engine, fake_slack, today=TODAY).start()
        try:
            assert server.command("churn 2026-Q3", user_id=TYPER).status_code == 200
            assert fake.wait_for(lambda f: f.in_flight == 1)  # the themes' call, held
            server.fake.wait_for("files.completeUploadExternal", timeout=10)
            assert fake.in_flight == 1 and not [c for c in server.fake.calls if carries_quote(c)]
            before = len(server.fake.calls_to("response_url"))
            fake.release()
            said = server.fake.wait_for("response_url", before + 1, timeout=10)[before]
            assert carries_quote(said) and said.params["response_type"] == "ephemeral"
            assert "Themes from keywords" in json.dumps(said.params["blocks"])
        finally:
            server.stop()


def test_use_and_keep_answer_only_the_saver_in_the_modal_the_suggestion_was_shown_in(
    settings: Settings, engine: Engine, fake_slack: FakeSlack
) -> None:
    """A button's value must be the one its modal was given (no other interview's coding applied from it); "Use"
    only by who saved the version coded, both only for a reader ("Keep" names the reason chosen)."""
    readers = dataclasses.replace(settings, churn_channel=CHURN, exit_interview_readers=(CSM, NEUTRAL))
    server = BotServer(readers, engine, fake_slack, today=DAY).start()
    try:
        acme, globex = add_account(engine), add_account(engine, "Globex Inc")
        saved = submit(server, open_by_command(server), form(reason="onboarding", answers={"why_leave": WORDS}))
        shown = saved.json()["view"]
        [buttons] = [b for b in shown["blocks"] if b["type"] == "actions"]
        use, keep = (e["value"] for e in buttons["elements"])
        other = open_by_command(server, "Globex Inc", user=NEUTRAL)
        submit(server, other, form(reason="onboarding", answers={"why_leave": WORDS}), user=NEUTRAL)
        theirs, _, _ = stored(engine, globex)
        assert theirs is not None
        forged = encode(CodingRef(interview_id=theirs.id or 0, version=1, reason="price", avoidable="yes"))
        assert "out of date" in json.dumps(click(server, shown, ExitIds.CODING_USE, forged)["view"])
        assert "out of date" in json.dumps(click(server, shown, ExitIds.CODING_KEEP, forged)["view"])
        kept = json.dumps(click(server, shown, ExitIds.CODING_KEEP, keep, user=OUTSIDER)["view"])
        assert "restricted" in kept and "Onboarding" not in kept
        not_theirs = json.dumps(click(server, shown, ExitIds.CODING_USE, use, user=NEUTRAL)["view"])
        assert "Only <@U01CSM0001>" in not_theirs and "nothing was changed" in not_theirs
        assert [stored(engine, a)[0].reason for a in (acme, globex)] == ["onboarding", "onboarding"]  # type: ignore[union-attr]
        assert "version 2" in json.dumps(click(server, shown, ExitIds.CODING_USE, use)["view"])
        assert [stored(engine, a)[0].reason for a in (acme, globex)] == ["price", "onboarding"]  # type: ignore[union-attr]
    finally:
        server.stop()
