"""What an exit interview's clicks and submission decide, called as functions on a real database (no HTTP, no
Slack): what opening an account shows (the form, the stored interview, or "gone"), the Edit form on the interview
as it is now, the customer search, a save that churns the account and enqueues the summary once, a stale edit
refused, and how each save result is acked."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from slack_sdk.models.views import View
from sqlalchemy import Engine

from bot.exits import service
from bot.exits.ids import ExitIds
from bot.exits.values import ExitRef
from bot.scoring.scorecard import load_scorecard
from bot.slack.blocks import Message
from bot.slack.values import decode
from prompts import say
from storage import exits, outbox
from storage.db import session_factory, unit_of_work
from storage.models import Account, ExitInterview
from tests.test_exit_interview import CSM, NEUTRAL, add_account, form

DAY = date(2026, 6, 30)
UTC = ZoneInfo("UTC")
CHURN = "C0CHURN001"
TIERS = load_scorecard().tiers


def save(engine: Engine, account_id: int, ref: ExitRef, **changes: str) -> service.Saved | service.Stale | dict:
    entry = service.check(form(**changes), account_id, DAY)
    assert isinstance(entry, service.Entry)
    with unit_of_work(session_factory(engine)) as s:
        return service.save(s, entry, ref.interview_id, ref.version, NEUTRAL, DAY, TIERS, UTC, CHURN)


def test_opening_an_account_without_an_interview_is_the_form_for_it(engine: Engine) -> None:
    account_id = add_account(engine)
    with unit_of_work(session_factory(engine)) as s:
        opened = service.opening(s, account_id, NEUTRAL, DAY, open_to_all=True)
    assert isinstance(opened, dict) and opened["callback_id"] == ExitIds.MODAL
    View(**opened).validate_json()
    assert decode(ExitRef, opened["private_metadata"]) == ExitRef(account_id=account_id)


def test_opening_a_vanished_account_says_it_is_gone(engine: Engine) -> None:
    with unit_of_work(session_factory(engine)) as s:
        assert service.opening(s, 999_999, NEUTRAL, DAY, open_to_all=False) == say("exit.gone")
        assert service.edit_form(s, ExitRef(account_id=999_999), NEUTRAL, DAY, open_to_all=False) == say("exit.gone")


def test_a_save_churns_the_account_enqueues_the_summary_once_and_opening_then_shows_it(engine: Engine) -> None:
    account_id = add_account(engine)
    saved = save(engine, account_id, ExitRef(account_id=account_id))
    assert isinstance(saved, service.Saved) and saved.version == 1 and saved.name == "Acme Corp"
    assert service.submission_ack(saved) == {}
    with unit_of_work(session_factory(engine)) as s:
        account = s.get(Account, account_id)
        assert account is not None and account.status == "churned" and account.churned_on == date(2026, 6, 15)
        assert [row.channel for row in outbox.all_messages(s)] == [CHURN]
        opened = service.opening(s, account_id, NEUTRAL, DAY, open_to_all=True)
        edit = service.edit_form(s, ExitRef(account_id=account_id), NEUTRAL, DAY, open_to_all=True)
    assert isinstance(opened, Message) and "Acme Corp" in opened.text
    assert isinstance(edit, dict)
    assert decode(ExitRef, edit["private_metadata"]) == ExitRef(
        account_id=account_id, interview_id=saved.interview_id, version=1
    )


def test_an_edit_of_an_older_version_is_stale_and_acked_with_a_notice(engine: Engine) -> None:
    account_id = add_account(engine)
    first = save(engine, account_id, ExitRef(account_id=account_id))
    assert isinstance(first, service.Saved)
    shown = ExitRef(account_id=account_id, interview_id=first.interview_id, version=1)
    assert isinstance(save(engine, account_id, shown, reason="price"), service.Saved)
    stale = save(engine, account_id, shown, reason="product")
    assert isinstance(stale, service.Stale)
    ack = service.submission_ack(stale)
    assert ack["response_action"] == "update" and stale.text in str(ack["view"])
    with unit_of_work(session_factory(engine)) as s:
        interview = exits.of_account(s, account_id)
        assert isinstance(interview, ExitInterview) and (interview.version, interview.reason) == (2, "price")


def test_a_second_interview_picked_in_the_form_is_an_error_under_the_customer(engine: Engine) -> None:
    account_id = add_account(engine)
    assert isinstance(save(engine, account_id, ExitRef(account_id=account_id)), service.Saved)
    entry = service.check(form(account=str(account_id)), None, DAY)
    assert isinstance(entry, service.Entry)
    with unit_of_work(session_factory(engine)) as s:
        errors = service.save(s, entry, None, None, CSM, DAY, TIERS, UTC, None, picked=True)
    assert isinstance(errors, dict) and list(errors) == [ExitIds.ACCOUNT]
    assert service.submission_ack(errors) == {"response_action": "errors", "errors": errors}


def test_the_customer_search_offers_matching_accounts_and_nothing_for_an_empty_query(engine: Engine) -> None:
    acme, _ = add_account(engine, "Acme Corp"), add_account(engine, "Globex")
    with unit_of_work(session_factory(engine)) as s:
        assert service.account_options(s, "") == []
        assert service.account_options(s, "acme") == [
            {"text": {"type": "plain_text", "text": "Acme Corp"}, "value": str(acme)}
        ]
