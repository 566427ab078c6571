"""Exit interviews end to end through signed HTTP and the fake Slack: the form opened from `/health exit`, the card's
button, the global shortcut (customer searched as you type) and the message shortcut; inline errors that write
nothing; a good save stored before the ack, the account churned, its alert resolved as churned and the summary
posted once; a stored interview shown with Edit, edits keeping history, a stale edit reported; EXIT_INTERVIEW_READERS
keeping the answers from everyone else; the neutral-interviewer warning."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from slack_sdk.models.views import View
from sqlalchemy import Engine
from sqlmodel import select

from bot.exits.ids import QUESTION_PREFIX, ExitIds
from bot.exits.values import ExitRef
from bot.health.values import AccountRef
from bot.settings import Settings
from bot.slack.values import decode, encode
from storage import alerts, exits
from storage.db import session_factory, unit_of_work
from storage.models import Account, Alert, ExitInterview, ExitInterviewRevision
from tests.conftest import BotServer
from tests.fake_slack import FakeSlack

DAY = date(2026, 6, 30)
CSM, NEUTRAL, OUTSIDER = "U01CSM0001", "U01NEUTRAL1", "U01OUTSIDE1"
CHURN, ALERTS = "C0CHURN001", "C0ALERTS01"
SECRET_WORDS = "Your onboarding was a mess"


def add_account(engine: Engine, name: str = "Acme Corp", alert: bool = False) -> int:
    with unit_of_work(session_factory(engine)) as s:
        account = Account(
            external_id=name.upper().replace(" ", "-"),
            name=name,
            owner_slack_id=CSM,
            mrr=1200.0,
            name_lower=name.lower(),
        )
        s.add(account)
        s.flush()
        if alert:
            alerts.create(s, Alert(account_id=account.id or 0, severity="high_risk", opened_on=DAY, last_fired_on=DAY,
                                   due_at=datetime(2026, 7, 1, tzinfo=UTC), channel=ALERTS, firings={}))  # fmt: skip
        return account.id or 0


def stored(engine: Engine, account_id: int) -> tuple[ExitInterview | None, list[ExitInterviewRevision], Account]:
    with unit_of_work(session_factory(engine)) as s:
        interview = exits.of_account(s, account_id)
        history = exits.revisions(s, interview.id or 0) if interview else []
        account = s.get(Account, account_id)
        assert account is not None
        for row in [interview, *history, account]:
            if row is not None:
                s.expunge(row)
        return interview, history, account


@pytest.fixture
def make_server(settings: Settings, engine: Engine, fake_slack: FakeSlack) -> Iterator[Callable[..., BotServer]]:
    started: list[BotServer] = []

    def make(**changes: Any) -> BotServer:
        server = BotServer(dataclasses.replace(settings, **changes), engine, fake_slack, today=DAY).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def server(make_server: Callable[..., BotServer]) -> BotServer:
    return make_server(churn_channel=CHURN)


def interactive(server: BotServer, payload: dict[str, Any]) -> httpx.Response:
    base = {"team": {"id": "T1", "domain": "test"}, "api_app_id": "A1", "token": "legacy", "trigger_id": "1337.42.x"}
    body = urlencode({"payload": json.dumps({**base, **payload})}).encode()
    return server.post_signed(body, "application/x-www-form-urlencoded")


def opened(server: BotServer, before: int) -> dict:
    view = server.fake.wait_for("views.open", before + 1)[-1].params["view"]
    View(**view).validate_json()
    return view


def open_by_command(server: BotServer, text: str = "Acme Corp", user: str = CSM) -> dict:
    before = len(server.fake.calls_to("views.open"))
    response = server.command(f"exit {text}", user_id=user)
    assert response.status_code == 200
    return opened(server, before)


def form(status: str | None = "churned", reason: str | None = "onboarding", avoidable: str | None = "yes",
         competitor: str = "", day: str | None = "2026-06-15", mrr: str | None = "1000", interviewer: str | None = CSM,
         answers: dict[str, str] | None = None, note: str = "", account: str | None = None) -> dict:  # fmt: skip
    def pick(value: str | None) -> dict:
        return {"selected_option": {"value": value, "text": {"type": "plain_text", "text": "x"}} if value else None}

    values: dict[str, Any] = {
        ExitIds.STATUS: {ExitIds.STATUS: pick(status)},
        ExitIds.REASON: {ExitIds.REASON: pick(reason)},
        ExitIds.AVOIDABLE: {ExitIds.AVOIDABLE: pick(avoidable)},
        ExitIds.COMPETITOR: {ExitIds.COMPETITOR: {"value": competitor or None}},
        ExitIds.CHURN_DATE: {ExitIds.CHURN_DATE: {"selected_date": day}},
        ExitIds.MRR_LOST: {ExitIds.MRR_LOST: {"value": mrr}},
        ExitIds.INTERVIEWER: {ExitIds.INTERVIEWER: {"selected_user": interviewer}},
        ExitIds.NOTE: {ExitIds.NOTE: {"value": note or None}},
    }
    for key, text in (answers or {"why_leave": SECRET_WORDS}).items():
        values[QUESTION_PREFIX + key] = {QUESTION_PREFIX + key: {"value": text}}
    if account is not None:
        values[ExitIds.ACCOUNT] = {ExitIds.ACCOUNT: pick(account)}
    return values


def saved_ack(response: httpx.Response) -> bool:
    """A save's ack: the form's next state is the suggested coding of its words (tests/test_exit_coding_slack.py)."""
    return response.status_code == 200 and response.json()["view"]["callback_id"] == ExitIds.CODING_VIEW


def posted_to(server: BotServer, channel: str, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
    """The messages in `channel` once there are `count` (the outbox drains after the ack), then a moment more."""
    deadline = time.monotonic() + timeout
    while len(server.fake.posted(channel)) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)  # a duplicate would show by now
    return server.fake.posted(channel)


def submit(server: BotServer, view: dict, values: dict, user: str = CSM) -> httpx.Response:
    return interactive(server, {"type": "view_submission", "user": {"id": user, "username": "u", "team_id": "T1"},
                                "view": {**view, "id": "V1", "state": {"values": values}}})  # fmt: skip


def test_the_command_opens_the_form_errors_are_inline_and_a_save_churns_resolves_and_posts_once(
    server: BotServer, engine: Engine
) -> None:
    account_id = add_account(engine, alert=True)
    view = open_by_command(server)
    assert view["callback_id"] == ExitIds.MODAL
    assert decode(ExitRef, view["private_metadata"]) == ExitRef(account_id=account_id)
    blocks = json.dumps(view["blocks"])
    assert "Acme Corp" in blocks and "neutral" in blocks  # opened by the account's own CSM: warned, not blocked
    inputs = {b["block_id"] for b in view["blocks"] if b["type"] == "input"}
    assert {
        ExitIds.STATUS,
        ExitIds.REASON,
        ExitIds.AVOIDABLE,
        ExitIds.INTERVIEWER,
        QUESTION_PREFIX + "why_leave",
    } <= inputs
    assert ExitIds.ACCOUNT not in inputs

    missing = submit(server, view, form(status=None, reason=None, avoidable=None, interviewer=None))
    assert missing.json()["response_action"] == "errors"
    assert set(missing.json()["errors"]) == {ExitIds.STATUS, ExitIds.REASON, ExitIds.AVOIDABLE, ExitIds.INTERVIEWER}
    bad = submit(server, view, form(reason="competitor", day="2026-07-30", mrr="-5", answers={"why_leave": "x" * 3001}))
    assert set(bad.json()["errors"]) == {ExitIds.COMPETITOR, ExitIds.CHURN_DATE, ExitIds.MRR_LOST,
                                         QUESTION_PREFIX + "why_leave"}  # fmt: skip
    assert "2026-06-30" in bad.json()["errors"][ExitIds.CHURN_DATE]
    forged = submit(server, view, form(reason="hated_it"))
    assert set(forged.json()["errors"]) == {ExitIds.REASON}
    interview, _, account = stored(engine, account_id)
    assert interview is None and account.status == "active"  # nothing half-saved

    done = submit(server, view, form(competitor="", note="Met at their office"))
    assert saved_ack(done)
    interview, history, account = stored(engine, account_id)  # stored before the ack
    assert interview is not None and history == []
    assert (interview.churned, interview.reason, interview.avoidable, interview.churn_date, interview.mrr_lost,
            interview.interviewer, interview.recorded_by, interview.answers, interview.note, interview.version) == (
        True, "onboarding", True, date(2026, 6, 15), 1000.0, CSM, CSM, {"why_leave": SECRET_WORDS},
        "Met at their office", 1)  # fmt: skip
    assert (account.status, account.churned_on) == ("churned", date(2026, 6, 15))
    with unit_of_work(session_factory(engine)) as s:
        [alert] = list(s.exec(select(Alert)).all())
        assert (alert.status, alert.outcome, alert.resolved_by) == ("resolved", "churned", CSM)

    summary = posted_to(server, CHURN, 1)
    assert len(summary) == 1 and "Acme Corp" in summary[0]["text"]
    assert SECRET_WORDS not in json.dumps(summary)  # the customer's words stay behind the readers
    assert "own CSM" in json.dumps(summary)
    again = submit(server, view, form())  # a second submit of the same form: the interview exists now
    assert again.json()["response_action"] == "update"
    assert len(server.fake.posted(CHURN)) == 1


def test_a_stored_interview_is_shown_with_edit_and_edits_keep_history_and_stale_edits_are_refused(
    server: BotServer, engine: Engine
) -> None:
    account_id = add_account(engine)
    # from the card's button
    card = server.command("Acme Corp").json()
    [exit_button] = [e for b in card["blocks"] if b["type"] == "actions" for e in b["elements"]
                     if e["action_id"] == ExitIds.OPEN]  # fmt: skip
    assert decode(AccountRef, exit_button["value"]).account_id == account_id
    before = len(server.fake.calls_to("views.open"))
    server.action(ExitIds.OPEN, exit_button["value"], user_id=NEUTRAL)
    view = opened(server, before)
    assert "neutral" not in json.dumps(view["blocks"])  # a neutral interviewer: no warning
    assert saved_ack(submit(server, view, form(status="at_risk", interviewer=NEUTRAL), user=NEUTRAL))
    interview, _, account = stored(engine, account_id)
    assert interview is not None and interview.churned is False and account.status == "active"  # only at risk

    server.command("exit Acme Corp", user_id=NEUTRAL)  # has one: shown, with Edit
    shown = server.fake.wait_for("response_url")[-1].params
    assert SECRET_WORDS in json.dumps(shown["blocks"])
    [edit_button] = [e for b in shown["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert edit_button["action_id"] == ExitIds.EDIT
    before = len(server.fake.calls_to("views.open"))
    server.action(ExitIds.EDIT, edit_button["value"], user_id=NEUTRAL)
    first = opened(server, before)
    server.action(ExitIds.EDIT, edit_button["value"], user_id=CSM)
    second = opened(server, before + 1)
    assert decode(ExitRef, first["private_metadata"]).version == 1

    ok = submit(server, first, form(status="churned", reason="price", interviewer=NEUTRAL), user=NEUTRAL)
    assert saved_ack(ok)
    stale = submit(server, second, form(reason="service"), user=CSM)
    assert stale.json()["response_action"] == "update"
    assert "changed this exit interview" in json.dumps(stale.json()["view"])
    interview, history, account = stored(engine, account_id)
    assert interview is not None and (interview.version, interview.reason) == (2, "price")
    assert [(r.version, r.edited_by, r.values["reason"], r.values["churned"]) for r in history] == [
        (1, NEUTRAL, "onboarding", False)]  # fmt: skip
    assert account.status == "churned"

    assert len(posted_to(server, CHURN, 2)) == 2  # v1 and v2, each once
    before = len(server.fake.calls_to("response_url"))
    server.command("exit Acme Corp", user_id=NEUTRAL)
    shown = server.fake.wait_for("response_url", before + 1)[-1].params  # the answer to this command, not an older one
    assert "version 1, changed by" in json.dumps(shown["blocks"])


def test_the_global_shortcut_searches_as_you_type_and_the_message_shortcut_prefills_the_note(
    server: BotServer, engine: Engine
) -> None:
    add_account(engine, "Globex")
    account_id = add_account(engine, "Acme Corp")
    user = {"id": NEUTRAL, "username": "n", "team_id": "T1"}
    before = len(server.fake.calls_to("views.open"))
    assert interactive(server, {"type": "shortcut", "callback_id": ExitIds.SHORTCUT, "user": user,
                                "action_ts": "1.2"}).status_code == 200  # fmt: skip
    view = opened(server, before)
    [picker] = [b for b in view["blocks"] if b.get("block_id") == ExitIds.ACCOUNT]
    assert picker["element"]["type"] == "external_select"

    options = interactive(server, {"type": "block_suggestion", "user": user, "action_id": ExitIds.ACCOUNT,
                                   "block_id": ExitIds.ACCOUNT, "value": "acm", "view": view})  # fmt: skip
    assert [o["value"] for o in options.json()["options"]] == [str(account_id)]
    nul = interactive(server, {"type": "block_suggestion", "user": user, "action_id": ExitIds.ACCOUNT,
                               "block_id": ExitIds.ACCOUNT, "value": "\x00" * 400, "view": view})  # fmt: skip
    assert nul.status_code == 200 and nul.json()["options"] == []

    no_account = submit(server, view, form(interviewer=NEUTRAL), user=NEUTRAL)
    assert set(no_account.json()["errors"]) == {ExitIds.ACCOUNT}
    assert saved_ack(submit(server, view, form(interviewer=NEUTRAL, account=str(account_id)), user=NEUTRAL))
    assert stored(engine, account_id)[0] is not None
    taken = submit(server, view, form(interviewer=NEUTRAL, account=str(account_id)), user=NEUTRAL)
    assert set(taken.json()["errors"]) == {ExitIds.ACCOUNT}  # already has one: said under the picker

    before = len(server.fake.calls_to("views.open"))
    message = {"type": "message", "ts": "1.1", "text": "They said <b>price</b> & the CFO left"}
    interactive(server, {"type": "message_action", "callback_id": ExitIds.MESSAGE_SHORTCUT, "user": user,
                         "channel": {"id": "C0TEST0001"}, "message": message,
                         "response_url": server.fake.response_url("m")})  # fmt: skip
    view = opened(server, before)
    [note] = [b for b in view["blocks"] if b.get("block_id") == ExitIds.NOTE]
    assert note["element"]["initial_value"] == "They said <b>price</b> & the CFO left"


def test_readers_only_and_everyone_else_hears_restricted(
    make_server: Callable[..., BotServer], engine: Engine, fake_slack: FakeSlack
) -> None:
    fake_slack.set_response("usergroups.users.list", {"ok": True, "users": [NEUTRAL]})
    server = make_server(churn_channel=CHURN, exit_interview_readers=("U01LEAD001", "S0READERS1"))
    account_id = add_account(engine)
    view = open_by_command(server, user=NEUTRAL)  # a member of the readers' group
    assert saved_ack(submit(server, view, form(interviewer=NEUTRAL), user=NEUTRAL))

    server.command("exit Acme Corp", user_id=OUTSIDER)
    said = server.fake.wait_for("response_url")[-1].params
    assert "restricted" in said["text"] and SECRET_WORDS not in json.dumps(said)
    server.action(ExitIds.OPEN, encode(AccountRef(account_id=account_id)), user_id=OUTSIDER)
    said = server.fake.wait_for("response_url", 2)[-1].params
    assert "restricted" in said["text"] and SECRET_WORDS not in json.dumps(said)
    forged = submit(server, view, form(reason="price"), user=OUTSIDER)
    assert forged.json()["response_action"] == "update" and "restricted" in json.dumps(forged.json()["view"])
    assert stored(engine, account_id)[0].reason == "onboarding"  # type: ignore[union-attr]
    before = len(server.fake.calls_to("views.open"))
    interactive(server, {"type": "shortcut", "callback_id": ExitIds.SHORTCUT, "action_ts": "1.2",
                         "user": {"id": OUTSIDER, "username": "o", "team_id": "T1"}})  # fmt: skip
    assert "restricted" in json.dumps(opened(server, before))


OPEN_TO_ALL = "Anyone in the workspace who can run /health can read these answers"


def test_with_no_readers_set_the_form_says_who_will_see_the_answers(
    make_server: Callable[..., BotServer], engine: Engine
) -> None:
    """EXIT_INTERVIEW_READERS unset: the customer's words are open to the workspace, and the form says so (with how
    to restrict it) before anyone types them; with readers set it says nothing of the kind."""
    account_id = add_account(engine)
    open_server = make_server(churn_channel=CHURN)
    view = open_by_command(open_server)
    said = json.dumps(view["blocks"])
    assert OPEN_TO_ALL in said and "EXIT_INTERVIEW_READERS" in said
    before = len(open_server.fake.calls_to("views.open"))
    interactive(open_server, {"type": "shortcut", "callback_id": ExitIds.SHORTCUT, "action_ts": "1.2",
                              "user": {"id": CSM, "username": "c", "team_id": "T1"}})  # fmt: skip
    assert OPEN_TO_ALL in json.dumps(opened(open_server, before)["blocks"])
    open_server.stop()

    restricted = make_server(churn_channel=CHURN, exit_interview_readers=(CSM,))
    view = open_by_command(restricted)
    assert decode(ExitRef, view["private_metadata"]).account_id == account_id
    assert OPEN_TO_ALL not in json.dumps(view["blocks"])
