"""Ask healthbot in Slack end to end: signed events and clicks to the real HTTP endpoint, the fake Slack's calls.

What an answer says is bot/assistant's (tests/test_assistant_answers.py); here each test reads the answer the bot
must give straight from those functions, with the same inputs, and checks that it arrives where it was asked,
framed (figures, commands, feedback buttons), valid Block Kit, and with AI off end to end.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import httpx
import pytest
from slack_sdk.models.blocks import Block
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.alerts.ids import AlertIds
from bot.alerts.values import AlertRef
from bot.assistant import slack as ask
from bot.assistant.answer import Answer, Figure
from bot.assistant.answers import answer_text, suggested_prompts
from bot.assistant.brief import brief
from bot.assistant.draft import draft
from bot.assistant.ids import AssistantIds
from bot.assistant.values import AnswerRef
from bot.health.ids import HealthIds
from bot.health.lookup import AccountNames
from bot.health.values import AccountRef
from bot.llm.client import Model
from bot.retention.ids import DraftIds
from bot.retention.values import DraftRef
from bot.scoring.scorecard import load_scorecard
from bot.settings import Settings, load_settings
from bot.slack.requests import Deps
from bot.slack.values import encode
from prompts import say
from storage.assistant import feedback_counts
from storage.db import session_factory
from storage.models import Account, Alert, AssistantFeedback
from tests.conftest import BOT_TOKEN, SIGNING_SECRET, BotServer
from tests.fake_slack import Call, FakeSlack

ME = "U01CSM0001"
TODAY = date(2026, 6, 30)
PANE = "D0ASSIST01"  # the assistant pane's DM
THREAD = "1600000000.000100"  # an assistant thread (older than every ts the fake hands out)
VIEWING = "C0VIEW0001"  # the channel the user looks at beside the pane
UTC = ZoneInfo("UTC")


@pytest.fixture
def acme(engine: Engine) -> int:
    """One customer, the smallest data an answer can be read from."""
    with Session(engine) as s:
        account = Account(external_id="acme-1", name="Acme", owner_slack_id=ME, mrr=1200.0, segment="enterprise")
        s.add(account)
        s.commit()
        return account.id or 0


@pytest.fixture
def server(settings: Settings, engine: Engine, fake_slack: FakeSlack) -> Iterator[BotServer]:
    bot = BotServer(settings, engine, fake_slack, today=TODAY).start()
    yield bot
    bot.stop()


def event(server: BotServer, body: dict, event_id: str) -> httpx.Response:
    payload = {
        "token": "legacy",
        "team_id": "T1",
        "api_app_id": "A1",
        "type": "event_callback",
        "event_id": event_id,
        "event_time": 1700000000,
        "authorizations": [{"team_id": "T1", "user_id": "UBOT", "is_bot": True}],
        "event": body,
    }
    response = server.post_signed(json.dumps(payload).encode(), "application/json")
    assert response.status_code == 200
    return response


def thread_started(server: BotServer, viewing: str | None = VIEWING) -> None:
    context = {"channel_id": viewing, "team_id": "T1"} if viewing else {}
    thread = {"user_id": ME, "context": context, "channel_id": PANE, "thread_ts": THREAD}
    event(server, {"type": "assistant_thread_started", "assistant_thread": thread, "event_ts": "1.1"}, "EvStart")


def user_message(server: BotServer, text: str, ts: str = "1800000000.000100", thread_ts: str | None = THREAD) -> None:
    body = {"type": "message", "channel": PANE, "channel_type": "im", "user": ME, "text": text, "ts": ts}
    if thread_ts:
        body["thread_ts"] = thread_ts
    event(server, {**body, "event_ts": ts}, f"EvMsg{ts}")


def click(
    server: BotServer, action_id: str, value: str, channel: str, ts: str, thread_ts: str | None = None
) -> httpx.Response:
    """A click on a button of a (non-ephemeral) message the bot posted in `channel`."""
    container = {"type": "message", "message_ts": ts, "channel_id": channel, "is_ephemeral": False}
    message = {"ts": ts, "type": "message", "user": "UBOT", "text": "x"}
    if thread_ts:
        container["thread_ts"] = message["thread_ts"] = thread_ts
    payload = {
        "type": "block_actions",
        "team": {"id": "T1", "domain": "test"},
        "user": {"id": ME, "username": "csm", "team_id": "T1"},
        "api_app_id": "A1",
        "token": "legacy",
        "container": container,
        "trigger_id": "1337.42.abcd",
        "channel": {"id": channel, "name": "x"},
        "message": message,
        "response_url": server.fake.response_url("click"),
        "actions": [{"type": "button", "action_id": action_id, "block_id": "b1", "value": value, "action_ts": "1.2"}],
    }
    response = server.post_signed(
        urlencode({"payload": json.dumps(payload)}).encode(), "application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    return response


def valid(blocks: list[dict]) -> list[dict]:
    for block in blocks:
        Block.parse(block).validate_json()  # type: ignore[union-attr]
    return blocks


def expected(engine: Engine, question: str, channel_id: str | None) -> Answer:
    with Session(engine) as s:
        return answer_text(s, question, ME, load_scorecard(), TODAY, AccountNames(), UTC, channel_id=channel_id)


def posted(fake: FakeSlack, count: int) -> Call:
    """The `count`th chat.postMessage, its blocks checked with slack_sdk.models."""
    call = fake.wait_for("chat.postMessage", count, timeout=15)[count - 1]
    valid(call.params.get("blocks") or [])
    return call


def actions_of(blocks: list[dict]) -> list[str]:
    return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


# --------------------------------------------------------------------------- the assistant pane


def test_a_thread_opens_with_a_greeting_carrying_its_context_and_prompts_for_the_channel_viewed(
    acme: int, engine: Engine, server: BotServer
) -> None:
    server.fake.user_posted(PANE, THREAD, ME, subtype="assistant_app_thread")
    thread_started(server)
    greeting = posted(server.fake, 1)
    assert greeting.params["channel"] == PANE and greeting.params["thread_ts"] == THREAD
    assert greeting.params["text"] == say("assistant_slack.greeting")
    assert greeting.params["metadata"]["event_payload"]["channel_id"] == VIEWING  # what later questions read
    with Session(engine) as s:
        prompts = ask.prompt_list(suggested_prompts(s, ME, VIEWING, load_scorecard(), TODAY))
    if prompts:  # the skeleton suggests none yet (helper E's answers.py does)
        call = server.fake.wait_for("assistant.threads.setSuggestedPrompts")[0]
        assert call.params["prompts"] == prompts and call.params["thread_ts"] == THREAD


def test_a_question_in_the_pane_shows_the_status_then_the_answer_for_the_channel_viewed(
    acme: int, engine: Engine, server: BotServer
) -> None:
    server.fake.user_posted(PANE, THREAD, ME, subtype="assistant_app_thread")
    thread_started(server)
    posted(server.fake, 1)
    user_message(server, "how is acme?")
    status = server.fake.wait_for("assistant.threads.setStatus")[0]
    assert status.params["status"] == say("assistant_slack.status")
    assert (status.params["channel_id"], status.params["thread_ts"]) == (PANE, THREAD)
    call = posted(server.fake, 2)
    assert call.params["channel"] == PANE and call.params["thread_ts"] == THREAD
    message = ask.answer_message(expected(engine, "how is acme?", VIEWING), None)
    assert call.params["blocks"] == message.blocks and call.params["text"] == message.text
    assert actions_of(call.params["blocks"]) == [AssistantIds.HELPED, AssistantIds.NOT_HELPED]
    assert "Generated by" not in json.dumps(call.params["blocks"])  # AI off: never marked as generated


def test_the_channel_viewed_follows_the_user(acme: int, server: BotServer) -> None:
    server.fake.user_posted(PANE, THREAD, ME, subtype="assistant_app_thread")
    thread_started(server)
    posted(server.fake, 1)
    moved = {"user_id": ME, "context": {"channel_id": "C0OTHER001"}, "channel_id": PANE, "thread_ts": THREAD}
    event(server, {"type": "assistant_thread_context_changed", "assistant_thread": moved, "event_ts": "1.3"}, "EvCtx")
    update = server.fake.wait_for("chat.update")[0]
    assert update.params["ts"] == server.fake.posted(PANE)[1]["ts"]  # the greeting (after the thread's root)
    assert update.params["metadata"]["event_payload"]["channel_id"] == "C0OTHER001"


# --------------------------------------------------------------------------- DMs and mentions


def test_a_dm_is_answered_in_the_dm(acme: int, engine: Engine, server: BotServer) -> None:
    # the check below tells answers apart: another question has another answer
    assert expected(engine, "who is at risk in enterprise?", None) != expected(engine, "how is acme?", None)
    user_message(server, "who is at risk in enterprise?", thread_ts=None)
    call = posted(server.fake, 1)
    assert call.params["channel"] == PANE and not call.params.get("thread_ts")
    assert (
        call.params["blocks"]
        == ask.answer_message(expected(engine, "who is at risk in enterprise?", None), None).blocks
    )
    assert not server.fake.calls_to("assistant.threads.setStatus")  # no assistant thread: no status


def mention(server: BotServer, text: str, event_id: str, ts: str = "1800000000.000200", **extra: object) -> None:
    body = {"type": "app_mention", "user": ME, "text": text, "ts": ts, "channel": "C0TEST0001", "event_ts": ts}
    event(server, {**body, **extra}, event_id)


def test_a_mention_is_answered_privately_to_its_author_in_its_thread_for_its_channel(
    acme: int, engine: Engine, server: BotServer
) -> None:
    """Guests and Slack Connect customers read channel threads: an answer there is for the asker's eyes only."""
    mention(server, "<@UBOT> how is <@U0OTHER01> <!channel> acme?", "EvMention")
    call = server.fake.wait_for("chat.postEphemeral", timeout=15)[0]
    assert (call.params["channel"], call.params["thread_ts"]) == ("C0TEST0001", "1800000000.000200")
    assert call.params["user"] == ME
    answer = expected(engine, "how is <@U0OTHER01> <!channel> acme?", "C0TEST0001")  # only the bot's mention goes
    assert valid(call.params["blocks"]) == ask.answer_message(answer, None).blocks
    assert not server.fake.calls_to("chat.postMessage")


def test_a_bots_mention_and_an_edited_mention_are_not_questions(acme: int, server: BotServer) -> None:
    mention(server, "<@UBOT> how is acme?", "EvBot", user=None, bot_id="B0OTHER01")
    edited = {"user": ME, "ts": "1800000000.000150"}
    mention(server, "<@UBOT> how is acme?", "EvEdit", ts="1800000000.000250", edited=edited)
    mention(server, "<@UBOT> who is at risk?", "EvAsk", ts="1800000000.000300")  # a later question is answered...
    server.fake.wait_for("chat.postEphemeral", timeout=15)
    user_message(server, "help", ts="1800000000.000400", thread_ts=None)  # ...and so is one after it
    posted(server.fake, 1)
    answers = server.fake.calls_to("chat.postEphemeral")
    assert [c.params["thread_ts"] for c in answers] == ["1800000000.000300"]  # ...and it is the only one


def test_a_retried_event_is_answered_once(acme: int, engine: Engine, server: BotServer) -> None:
    """Slack retries an event it thinks was lost (x-slack-retry-num) with the same event_id."""
    body = {"type": "message", "channel": PANE, "channel_type": "im", "user": ME, "text": "help"}
    payload = {
        "token": "legacy",
        "team_id": "T1",
        "api_app_id": "A1",
        "type": "event_callback",
        "event_id": "EvOnce",
        "event_time": 1700000000,
        "authorizations": [{"team_id": "T1", "user_id": "UBOT", "is_bot": True}],
        "event": {**body, "ts": "1800000000.000100", "event_ts": "1800000000.000100"},
    }
    raw = json.dumps(payload).encode()
    assert server.post_signed(raw, "application/json").status_code == 200
    posted(server.fake, 1)
    retry = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    assert server.post_signed(raw, "application/json", retry).status_code == 200
    user_message(server, "who is at risk?", ts="1800000000.000200", thread_ts=None)  # a new question is answered
    second = posted(server.fake, 2)
    assert second.params["blocks"] == ask.answer_message(expected(engine, "who is at risk?", None), None).blocks
    assert len(server.fake.calls_to("chat.postMessage")) == 2  # the retry was not


def test_the_bots_own_messages_are_not_questions(
    acme: int, engine: Engine, database_url: str, fake_slack: FakeSlack
) -> None:
    """Nor another bot's (an integration posting in the DM): Bolt drops only the bot's own events itself. One
    listener thread, AI off: events are handled in the order they arrive, so a bot's message answered would be
    the first answer."""
    environ = {"DATABASE_URL": database_url, "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET}
    settings = load_settings(
        env_file=None, environ={**environ, "SLACK_API_URL": fake_slack.url, "LISTENER_THREADS": "1"}
    )
    server = BotServer(settings, engine, fake_slack, today=TODAY).start()
    bot = {"type": "message", "channel": PANE, "channel_type": "im", "text": "how is acme?"}
    try:
        event(server, {**bot, "user": "UBOT", "bot_id": "BBOT", "ts": "1800000000.000300", "event_ts": "1.3"}, "EvOwn")
        other = {**bot, "user": "U0INTEGR01", "bot_id": "B0INTEGR01", "ts": "1800000000.000350", "event_ts": "1.35"}
        event(server, other, "EvOtherBot")
        user_message(server, "help", ts="1800000000.000400", thread_ts=None)  # later questions are answered...
        user_message(server, "who is at risk?", ts="1800000000.000500", thread_ts=None)
        first, second = fake_slack.wait_for("chat.postMessage", 2, timeout=15)[:2]
    finally:
        server.stop()
    questions = ("help", "who is at risk?", "how is acme?")
    answers = {ask.answer_message(expected(engine, q, None), None).text: q for q in questions}
    assert len(answers) == 3  # three questions, three answers told apart by their text
    said = [answers.get(c.params["text"], "?") for c in (first, second)]
    assert said == ["help", "who is at risk?"]  # ...in order, and the bots' "how is acme?" is not


def test_a_pane_answer_is_posted_when_the_threads_context_cannot_be_read(
    acme: int, engine: Engine, server: BotServer
) -> None:
    server.fake.set_response("conversations.replies", {"ok": False, "error": "thread_not_found"})
    user_message(server, "how is acme?")
    call = posted(server.fake, 1)
    assert (call.params["channel"], call.params["thread_ts"]) == (PANE, THREAD)
    assert call.params["blocks"] == ask.answer_message(expected(engine, "how is acme?", None), None).blocks
    assert len(server.fake.calls_to("conversations.replies")) <= 1  # the context read once, for the question


def test_a_file_shared_without_words_gets_a_line_saying_what_to_ask(server: BotServer) -> None:
    shared = {"type": "message", "subtype": "file_share", "channel": PANE, "channel_type": "im", "user": ME}
    files = [{"id": "F0FILE0001"}]
    event(server, {**shared, "ts": "1800000000.000900", "thread_ts": THREAD, "files": files, "event_ts": "1.9"}, "EvF")
    call = posted(server.fake, 1)
    assert call.params["text"] == say("assistant_slack.no_text") and call.params["thread_ts"] == THREAD


def test_a_blank_message_without_a_file_gets_the_help_list(server: BotServer) -> None:
    blank = {"type": "message", "channel": PANE, "channel_type": "im", "user": ME, "text": "   "}
    event(server, {**blank, "ts": "1800000000.000950", "thread_ts": THREAD, "event_ts": "1.95"}, "EvB")
    call = posted(server.fake, 1)
    assert call.params["text"] != say("assistant_slack.no_text")
    assert call.params["text"].startswith(say("assistant.unknown.help_title"))


# --------------------------------------------------------------------------- feedback


def test_feedback_is_stored_before_the_ack_and_thanked_privately(engine: Engine, server: BotServer) -> None:
    ref = encode(AnswerRef(kind="answer", generated=False))
    click(server, AssistantIds.NOT_HELPED, ref, PANE, "1800000000.000500", thread_ts=THREAD)
    with Session(engine) as s:  # the ack came back: the row is there already
        row = s.exec(select(AssistantFeedback)).one()
    assert (row.user_id, row.channel_id, row.message_ts, row.kind, row.helped) == (
        ME,
        PANE,
        "1800000000.000500",
        "answer",
        False,
    )
    thanks = server.fake.wait_for("chat.postEphemeral")[0]
    assert thanks.params["text"] == ask.thanks(False) and thanks.params["thread_ts"] == THREAD


def test_each_users_latest_click_on_an_answer_is_their_one_say(engine: Engine, server: BotServer) -> None:
    ref = encode(AnswerRef(kind="answer", generated=False))
    for action_id in (AssistantIds.HELPED, AssistantIds.HELPED, AssistantIds.NOT_HELPED):
        click(server, action_id, ref, PANE, "1800000000.000500", thread_ts=THREAD)
    click(server, AssistantIds.HELPED, ref, PANE, "1800000000.000700", thread_ts=THREAD)  # another answer
    with Session(engine) as s:
        assert len(s.exec(select(AssistantFeedback)).all()) == 4  # every click kept...
        assert feedback_counts(s) == {("answer", False, False): 1, ("answer", False, True): 1}  # ...each say once


def test_a_forged_feedback_value_stores_nothing(engine: Engine, server: BotServer) -> None:
    click(server, AssistantIds.HELPED, '{"kind": 1}', PANE, "1800000000.000600")
    with Session(engine) as s:
        assert s.exec(select(AssistantFeedback)).all() == []


# --------------------------------------------------------------------------- Brief me and the draft buttons


def test_brief_me_on_the_card_answers_privately(acme: int, engine: Engine, server: BotServer) -> None:
    server.action(HealthIds.BRIEF, encode(AccountRef(account_id=acme)))
    call = server.fake.wait_for("response_url", timeout=15)[0]
    assert call.params["response_type"] == "ephemeral" and call.params["replace_original"] is False
    with Session(engine) as s:
        found = brief(s, acme, load_scorecard(), TODAY, UTC)
    assert found is not None and valid(call.params["blocks"]) == ask.answer_message(found, None).blocks


def test_brief_me_on_a_customer_no_longer_there_says_so(acme: int, server: BotServer) -> None:
    server.action(HealthIds.BRIEF, encode(AccountRef(account_id=acme + 100)))
    assert server.fake.wait_for("response_url", timeout=15)[0].params["text"] == say("assistant_slack.brief_gone")


def _alert(engine: Engine, account_id: int) -> int:
    with Session(engine) as s:
        now = datetime(2026, 6, 30, 9, tzinfo=UTC)
        alert = Alert(
            account_id=account_id,
            severity="at_risk",
            opened_on=TODAY,
            last_fired_on=TODAY,
            due_at=now + timedelta(days=1),
            channel="C0ALERTS01",
        )
        s.add(alert)
        s.commit()
        return alert.id or 0


def test_brief_me_on_the_alert_root_answers_privately(acme: int, engine: Engine, server: BotServer) -> None:
    """The alert's channel may have guests: the brief is for the clicker only, like the card's."""
    alert_id = _alert(engine, acme)
    click(server, AlertIds.BRIEF, encode(AlertRef(alert_id=alert_id)), "C0ALERTS01", "1750000000.000100")
    call = server.fake.wait_for("response_url", timeout=15)[0]
    assert call.params["response_type"] == "ephemeral" and call.params["replace_original"] is False
    with Session(engine) as s:
        found = brief(s, acme, load_scorecard(), TODAY, UTC)
    assert found is not None and valid(call.params["blocks"]) == ask.answer_message(found, None).blocks
    assert not server.fake.calls_to("chat.postMessage")


@pytest.mark.parametrize("action_id", [DraftIds.AGAIN, DraftIds.TEMPLATE])
def test_the_draft_buttons_redraw_the_draft_in_place(
    action_id: str, acme: int, engine: Engine, server: BotServer
) -> None:
    alert_id = _alert(engine, acme)
    root, draft_ts = "1750000000.000100", "1750000000.000300"
    click(server, action_id, encode(DraftRef(alert_id=alert_id)), "C0ALERTS01", draft_ts, thread_ts=root)
    with Session(engine) as s:
        template = action_id == DraftIds.TEMPLATE
        found = draft(s, alert_id, load_scorecard(), TODAY, UTC, template, names=lambda user: f"User {user}")
    assert found is not None  # (signed with the fake Slack's users.info name of the owner)
    call = server.fake.wait_for("chat.update", timeout=15)[0]
    assert (call.params["channel"], call.params["ts"]) == ("C0ALERTS01", draft_ts)
    assert valid(call.params["blocks"]) == ask.draft_message(found, alert_id, None).blocks
    assert actions_of(call.params["blocks"]) == [DraftIds.AGAIN, DraftIds.TEMPLATE]


@pytest.mark.parametrize("action_id", [DraftIds.AGAIN, DraftIds.TEMPLATE])
def test_a_redrawn_draft_keeps_the_owner_as_signer_and_in_its_header(
    action_id: str, acme: int, engine: Engine, server: BotServer
) -> None:
    """The alert thread's draft signs with the owner's Slack name and is headed "for @owner": so is the redrawn one
    (Use template: the thread's draft itself, messages.outreach)."""
    alert_id = _alert(engine, acme)
    click(server, action_id, encode(DraftRef(alert_id=alert_id)), "C0ALERTS01", "1750000000.000300")
    shown = json.dumps(server.fake.wait_for("chat.update", timeout=15)[0].params["blocks"])
    assert f"Best,\\nUser {ME}" in shown and say("outreach.message.signature_fallback") not in shown  # fake's name
    assert f"for <@{ME}>" in shown and "ready to copy" in shown
    if action_id == DraftIds.TEMPLATE:
        template = say("outreach.message.title_for", template="check-in", owner=f"<@{ME}>")
        assert json.dumps(template)[1:-1] in shown


@pytest.mark.parametrize("action_id", [DraftIds.AGAIN, DraftIds.TEMPLATE, AlertIds.BRIEF])
def test_a_button_on_an_alert_no_longer_there_says_so_in_its_thread(action_id: str, server: BotServer) -> None:
    value = encode(AlertRef(alert_id=999)) if action_id == AlertIds.BRIEF else encode(DraftRef(alert_id=999))
    click(server, action_id, value, "C0ALERTS01", "1750000000.000300", thread_ts="1750000000.000100")
    gone = say("assistant_slack.brief_gone" if action_id == AlertIds.BRIEF else "assistant_slack.draft_gone")
    assert server.fake.wait_for("chat.postEphemeral", timeout=15)[0].params["text"] == gone


# --------------------------------------------------------------------------- the message itself


def test_an_answer_shows_its_figures_commands_the_model_and_why_a_wording_was_dropped() -> None:
    answer = Answer(
        text="*<!channel> Acme* is at risk: score 41.\nSecond line.",
        figures=(Figure("Health score", "41 (63 on 2026-05-31)"), Figure("MRR", "$1,200")),
        commands=("/health acme",),
        kind="answer",
    )
    plain = ask.answer_message(answer, None)
    text = json.dumps(valid(plain.blocks), ensure_ascii=False)
    assert "*Figures used*: Health score 41 (63 on 2026-05-31)  ·  MRR $1,200" in text
    assert "`/health acme`" in text and "Generated by" not in text
    generated = ask.answer_message(answer.reworded("Acme is at risk (41)."), "llama3.1:8b")
    assert say("assistant_slack.generated", model="llama3.1:8b") in json.dumps(valid(generated.blocks))
    noted = ask.answer_message(answer.noted("The model's answer named a figure not in the data: 57."), "m")
    assert "not in the data: 57." in json.dumps(valid(noted.blocks))
    hostile = ask.answer_message(Answer(text="x", figures=(Figure("<!here>", "<https://evil|x>"),)), None)
    assert "<!here>" not in json.dumps(hostile.blocks) and "&lt;!here&gt;" in json.dumps(hostile.blocks)


def test_an_answer_too_long_for_one_message_ends_saying_how_much_more_and_where() -> None:
    lines = [f"{n}: " + "x" * 2900 for n in range(60)]  # one section each: 60 blocks of text
    answer = Answer(text="\n".join(lines), figures=(Figure("a", "1"),), commands=("/health at-risk",))
    message = ask.answer_message(answer, None)
    assert len(valid(message.blocks)) <= 50
    shown = [b["text"]["text"] for b in message.blocks if b["type"] == "section"]
    assert shown == lines[: len(shown)]
    more = say("assistant_slack.more", n=len(lines) - len(shown), command="/health at-risk")
    assert more in json.dumps(message.blocks, ensure_ascii=False)
    assert actions_of(message.blocks) == [AssistantIds.HELPED, AssistantIds.NOT_HELPED]


def test_an_empty_answer_still_says_something() -> None:
    message = ask.answer_message(Answer(text="", kind="unknown"), None)
    assert message.text == say("assistant_slack.empty") and valid(message.blocks)


# --------------------------------------------------------------------------- a model that never answers


@pytest.fixture
def silent_model() -> Iterator[str]:
    """An endpoint that accepts connections and never says a word: the base URL of it."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
    stop.set()
    thread.join(2)
    for conn in held:
        conn.close()
    listener.close()


def model_settings(database_url: str, fake_slack: FakeSlack, base_url: str) -> Settings:
    return load_settings(
        env_file=None,
        environ={
            "DATABASE_URL": database_url,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": fake_slack.url,
            "LLM_BASE_URL": base_url,
            "LLM_MODEL": "silent-1",
            "LLM_TIMEOUT": "1",
        },
    )


def test_a_model_that_never_answers_still_gets_the_user_the_data_answer_saying_so(
    acme: int, engine: Engine, database_url: str, fake_slack: FakeSlack, silent_model: str
) -> None:
    settings = model_settings(database_url, fake_slack, silent_model)
    if Model.from_settings(settings) is None:
        pytest.skip("runs once bot/llm/client.py reads LLM_* (helper F)")
    bot = BotServer(settings, engine, fake_slack, today=TODAY).start()
    try:
        user_message(bot, "how is acme?", thread_ts=None)
        working = posted(fake_slack, 1)  # at once: "reading the data"...
        call = fake_slack.wait_for("chat.update", timeout=15)[0]  # ...replaced by the answer, the model silent
    finally:
        bot.stop()
    assert working.params["text"] == ask.working().text and working.params["channel"] == PANE
    assert call.params["ts"] == fake_slack.posted(PANE)[0]["ts"]
    plain = ask.answer_blocks(expected(engine, "how is acme?", None), None)
    shown = call.params["blocks"][:-1]  # without the feedback buttons
    assert shown[: len(plain)] == plain and "Generated by" not in json.dumps(shown)
    assert len(shown) == len(plain) + 1 and shown[-1]["type"] == "context"  # the note: why no model wording


def test_the_outreach_draft_in_an_alert_thread_carries_its_two_buttons() -> None:
    from bot.retention.messages import Draft, outreach

    message = outreach(Draft("check_in", "Acme", None, ["logins -50 %"], [], None), alert_id=7)
    assert message.blocks is not None and valid(message.blocks)[-1]["block_id"] == DraftIds.ACTIONS
    assert actions_of(message.blocks) == [DraftIds.AGAIN, DraftIds.TEMPLATE]
    assert {e["value"] for e in message.blocks[-1]["elements"]} == {encode(DraftRef(alert_id=7))}


def test_past_the_deadline_the_data_answer_goes_out_saying_the_model_did_not_answer(
    engine: Engine, database_url: str, fake_slack: FakeSlack, silent_model: str
) -> None:
    """The backstop behind reword's own timeout: every model slot taken, the call never starts in time."""
    model = Model.from_settings(model_settings(database_url, fake_slack, silent_model))
    if model is None:
        pytest.skip("runs once bot/llm/client.py reads LLM_* (helper F)")
    taken, gate = ThreadPoolExecutor(max_workers=1), threading.Event()
    taken.submit(gate.wait, 30)
    deps = Deps(
        session_factory(engine),
        load_scorecard(),
        lambda: TODAY,
        ThreadPoolExecutor(max_workers=1),
        model=model,
        answer_deadline=1.0,
        model_calls=taken,
    )
    answer = Answer(text="*Acme*: score 41.", figures=(Figure("Health score", "41"),), facts={"score": 41})
    try:
        shown = ask.worded(deps, answer, "how is acme?", time.monotonic())
    finally:
        gate.set()
        taken.shutdown(cancel_futures=True)
    assert shown == answer.noted(say("assistant_slack.model_silent", seconds="1"))
    assert not shown.generated


@pytest.fixture
def gated_model() -> Iterator[tuple[str, threading.Event]]:
    """An endpoint that holds every call until the test sets the event, then hangs up: (base URL, the event)."""
    listener = socket.create_server(("127.0.0.1", 0))
    gate, stop, held = threading.Event(), threading.Event(), []

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(OSError):  # the accept timed out
                held.append(listener.accept()[0])
            if gate.is_set():  # hang up on every call held, and on every later one at once
                while held:
                    held.pop().close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1", gate
    gate.set()
    stop.set()
    thread.join(2)
    listener.close()


def test_questions_waiting_on_the_model_never_hold_other_work_and_a_full_queue_answers_at_once(
    acme: int, engine: Engine, database_url: str, fake_slack: FakeSlack, gated_model: tuple[str, threading.Event]
) -> None:
    """2 listener threads, 1 model slot, a model holding every call: 3 DMs take the slot, its one waiting place,
    and the third is answered at once (the model is busy); Home still opens while the first two wait."""
    url, gate = gated_model
    environ = {
        "DATABASE_URL": database_url,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake_slack.url,
        "LLM_BASE_URL": url,
        "LLM_MODEL": "gated-1",
        "LLM_TIMEOUT": "25",  # the most it may be: only the gate ends the calls
        "LISTENER_THREADS": "2",
        "LLM_CONCURRENCY": "1",
    }
    bot = BotServer(load_settings(env_file=None, environ=environ), engine, fake_slack, today=TODAY).start()
    try:
        for n in range(3):
            user_message(bot, f"how is acme {n}?", ts=f"180000000{n}.000100", thread_ts=None)
        fake_slack.wait_for("chat.postMessage", 3, timeout=15)  # three "reading the data" lines
        busy = fake_slack.wait_for("chat.update", timeout=15)[0]
        home = {"type": "app_home_opened", "user": ME, "channel": "D0HOME", "tab": "home", "event_ts": "1.2"}
        event(bot, home, "EvHome")
        fake_slack.wait_for("views.publish", timeout=15)  # the follow-up pool is free: the model holds none of it
        assert len(fake_slack.calls_to("chat.update")) == 1  # the two waiting on the model still wait
        gate.set()
        updates = fake_slack.wait_for("chat.update", 3, timeout=15)
    finally:
        gate.set()
        bot.stop()
    assert say("llm.note.busy") in json.dumps(valid(busy.params["blocks"]), ensure_ascii=False)
    assert all("Generated by" not in json.dumps(u.params["blocks"]) for u in updates)


def test_the_ceiling_counts_from_the_questions_arrival(
    acme: int, engine: Engine, database_url: str, fake_slack: FakeSlack, silent_model: str
) -> None:
    """A model that never answers and an LLM_TIMEOUT above the ceiling: the answer comes within the ceiling
    anyway, saying so; a question that waited its ceiling out before it was read gets the data's answer at once."""
    settings = model_settings(database_url, fake_slack, silent_model)
    deps = Deps(
        session_factory(engine),
        load_scorecard(),
        lambda: TODAY,
        ThreadPoolExecutor(max_workers=1),
        model=Model.from_settings(settings),
        llm_timeout=60.0,
        answer_deadline=3.0,
        model_calls=ask.ModelCalls(1),
    )
    plain = expected(engine, "how is acme?", None)
    shown = ask.ask(deps, "how is acme?", ME, None, AccountNames(), time.monotonic())
    assert not shown.generated and shown.text == plain.text and shown.note  # the model's timeout: 2 s, not 60
    assert "60" not in shown.note
    late = ask.ask(deps, "how is acme?", ME, None, AccountNames(), time.monotonic() - 3.0)
    assert late == plain.noted(say("assistant_slack.model_silent", seconds="3"))


def test_a_call_the_asker_stopped_waiting_for_is_cancelled_and_a_full_queue_refuses_at_once(engine: Engine) -> None:
    calls, gate = ask.ModelCalls(1), threading.Event()
    calls.submit(gate.wait, 30)  # the one slot taken
    deps = Deps(
        session_factory(engine),
        load_scorecard(),
        lambda: TODAY,
        ThreadPoolExecutor(max_workers=1),
        model=object(),  # never called: every call below waits behind the gate
        answer_deadline=2.0,
        model_calls=calls,
    )
    answer = Answer(text="*Acme*: score 41.", figures=(Figure("Health score", "41"),), facts={"score": 41})
    busy = answer.noted(say("llm.note.busy"))  # the real reason: the model never got to it
    try:
        assert ask.worded(deps, answer, "q", time.monotonic()) == busy  # queued, then cancelled...
        assert ask.worded(deps, answer, "q", time.monotonic()) == busy  # ...so its place is free again
        waiting = calls.submit(gate.wait, 30)  # the one waiting place taken:
        assert ask.worded(deps, answer, "q", time.monotonic()) == busy  # at once
        gate.set()
        assert waiting.result(timeout=10) is True  # the waiting call ran once the slot was free
    finally:
        gate.set()
        calls.shutdown(cancel_futures=True)


def test_a_question_that_fails_replaces_its_reading_line_with_the_error(
    acme: int, engine: Engine, database_url: str, fake_slack: FakeSlack, silent_model: str
) -> None:
    """With a model the "reading the data" line shows first; a failure must not leave it there forever."""
    bot = BotServer(model_settings(database_url, fake_slack, silent_model), engine, fake_slack, today=TODAY).start()
    with engine.begin() as conn:  # the data cannot be read
        conn.exec_driver_sql("ALTER TABLE account RENAME TO account_away")
    try:
        user_message(bot, "how is acme?", thread_ts=None)
        working = posted(fake_slack, 1)
        call = fake_slack.wait_for("chat.update", timeout=15)[0]
    finally:
        bot.stop()
        with engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE account_away RENAME TO account")
    assert working.params["text"] == ask.working().text and call.params["ts"] == fake_slack.posted(PANE)[0]["ts"]
    assert call.params["text"].startswith(say("health.error", error_id="X").split("X")[0])
    assert len(fake_slack.calls_to("chat.postMessage")) == 1  # the error said once, in place


def test_a_question_that_waited_for_a_busy_model_says_so_not_a_timeout_it_never_had(
    engine: Engine, database_url: str, fake_slack: FakeSlack, silent_model: str
) -> None:
    """One slot, taken by another question for a while: this one waits for it, then the model (silent) gets what
    time is left. The note and the log say the question waited for a busy model, not "did not answer within 1 s"."""
    calls = ask.ModelCalls(1)
    calls.submit(time.sleep, 1.5)  # another question's call holding the one slot
    deps = Deps(
        session_factory(engine),
        load_scorecard(),
        lambda: TODAY,
        ThreadPoolExecutor(max_workers=1),
        model=Model.from_settings(model_settings(database_url, fake_slack, silent_model)),
        llm_timeout=25.0,
        answer_deadline=4.0,
        model_calls=calls,
    )
    answer = Answer(text="*Acme*: score 41.", figures=(Figure("Health score", "41"),), facts={"score": 41})
    try:
        shown = ask.worded(deps, answer, "how is acme?", time.monotonic())
    finally:
        calls.shutdown(cancel_futures=True)
    assert not shown.generated and shown.note is not None
    assert "busy" in shown.note, shown.note


def test_regenerate_and_brief_me_with_a_model_keep_the_bot_s_structure_and_reword_only_their_part(
    acme: int, engine: Engine, database_url: str, fake_slack: FakeSlack
) -> None:
    """The outside tester's case: Regenerate dropped Subject, header, copy block and "Why now"; a brief lost its
    sections. With a model the draft's paragraph and the brief's call points are its words, the rest the bot's."""
    from tests.fake_openai import FakeOpenAI, Reply

    alert_id = _alert(engine, acme)
    with Session(engine) as s:
        plain_draft = draft(s, alert_id, load_scorecard(), TODAY, UTC, names=lambda user: f"User {user}")
        plain_brief = brief(s, acme, load_scorecard(), TODAY, UTC)
    assert plain_draft is not None and plain_brief is not None
    assert plain_draft.prose in plain_draft.text and plain_brief.text.endswith(plain_brief.prose)
    paragraph, points = "Could we look at how things are going for your team?", "• Ask how the team is doing."
    with FakeOpenAI() as fake:
        fake.then(Reply(paragraph), Reply(points))
        bot = BotServer(model_settings(database_url, fake_slack, fake.url), engine, fake_slack, today=TODAY).start()
        try:
            root, draft_ts = "1750000000.000100", "1750000000.000300"
            click(bot, DraftIds.AGAIN, encode(DraftRef(alert_id=alert_id)), "C0ALERTS01", draft_ts, thread_ts=root)
            redrawn = fake_slack.wait_for("chat.update", timeout=15)[0]
            bot.action(HealthIds.BRIEF, encode(AccountRef(account_id=acme)))
            briefed = fake_slack.wait_for("response_url", timeout=15)[0]
        finally:
            bot.stop()
    worded_draft = plain_draft.reworded(paragraph)
    assert worded_draft.text == plain_draft.text.replace(plain_draft.prose, paragraph)
    assert valid(redrawn.params["blocks"]) == ask.draft_message(worded_draft, alert_id, "silent-1").blocks
    for kept in ("*Subject*:", "```", "Why now"):
        assert kept in worded_draft.text
    worded_brief = plain_brief.reworded(points)
    assert worded_brief.text == plain_brief.text.removesuffix(plain_brief.prose) + points
    assert valid(briefed.params["blocks"]) == ask.answer_message(worded_brief, "silent-1").blocks


def test_a_customer_that_does_not_exist_is_said_so_over_slack(engine: Engine, server: BotServer) -> None:
    """A DM naming no customer, one word away from one: the answer says there is none and suggests the close one,
    never its card (issue 23, noticed)."""
    with Session(engine) as s:
        s.add(Account(external_id="gx-1", name="Globex Consulting LLC", owner_slack_id=ME, mrr=900.0))
        s.commit()
    user_message(server, "what about globex freight", thread_ts=None)
    call = posted(server.fake, 1)
    text = json.dumps(call.params["blocks"])
    assert "No customer matches *globex freight*" in text and "*Globex Consulting LLC*" in text
    assert "/health Globex Consulting LLC" in text and "MRR" not in text
