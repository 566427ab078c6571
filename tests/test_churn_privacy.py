"""The customers' words in exit interviews stay with EXIT_INTERVIEW_READERS: `/health churn` and the quarterly job
post counts and categories into the channel, never a quote; a reader who types the command gets the quotes
privately (an ephemeral reply), anyone else is told they are restricted and to whom. Driven through signed HTTP and
the recording fake Slack: every call it saw is searched for the quote."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import pytest
from sqlalchemy import Engine

from bot.churn import messages
from bot.churn.analysis import review
from bot.churn.periods import parse_period
from bot.scoring.scorecard import load_scorecard
from bot.settings import Settings
from bot.slack.blocks import validate_blocks
from jobs import churn_review as churn_job
from storage import outbox
from storage.db import session_factory, unit_of_work
from storage.models import Account, ExitInterview
from tests.conftest import BotServer
from tests.fake_slack import Call, FakeSlack

TODAY = date(2026, 10, 15)
TIERS = load_scorecard().tiers
QUOTE = "Your renewal rep ghosted us for nine weeks"  # distinctive: found only where the customer's words went
TYPER, READER, GROUP = "U01CSM0001", "U0READER01", "S0READERS1"


def add_portfolio(engine: Engine, interviews: int = 2, answer: str = QUOTE) -> None:
    """Ten accounts on 2026-07-01; `interviews` of them churned in 2026-Q3, each with an exit interview saying
    `answer` (plus their index, so every quote differs)."""
    with unit_of_work(session_factory(engine)) as session:
        for i in range(1, max(10, interviews) + 1):
            churned = date(2026, 8, 1 + i % 28) if i <= interviews else None
            account = Account(external_id=f"a{i}", name=f"Account {i}", name_lower=f"account {i}", mrr=1000.0,
                              contract_start=date(2025, 1, 1), status="churned" if churned else "active",
                              churned_on=churned)  # fmt: skip
            session.add(account)
            session.flush()
            if churned:
                session.add(ExitInterview(
                    account_id=account.id or 0, reason="price", avoidable=True, interviewer=TYPER, recorded_by=TYPER,
                    answers={"why_leave": f"{answer} ({i})", "what_better": f"{answer}, again ({i})"},
                ))  # fmt: skip


@pytest.fixture
def make_server(settings: Settings, engine: Engine, fake_slack: FakeSlack) -> Iterator[Callable[..., BotServer]]:
    started: list[BotServer] = []

    def make(readers: tuple[str, ...]) -> BotServer:
        changed = dataclasses.replace(settings, exit_interview_readers=readers)
        server = BotServer(changed, engine, fake_slack, today=TODAY).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


def carries_quote(call: Call) -> bool:
    return QUOTE in json.dumps(call.params, ensure_ascii=False) or QUOTE.encode() in call.body


def churn_command(server: BotServer, user_id: str) -> list[Call]:
    """`/health churn 2026-Q3` typed by `user_id`; every call to Slack once the flow is done (the chart uploaded)."""
    assert server.command("churn 2026-Q3", user_id=user_id).status_code == 200
    server.fake.wait_for("files.completeUploadExternal", timeout=30)  # the last step: after the private answer
    return list(server.fake.calls)


def channel_post(calls: list[Call]) -> dict[str, Any]:
    [posted] = [c.params for c in calls if c.method == "chat.postMessage"]
    return posted


def test_a_non_reader_gets_counts_and_categories_and_no_quote_anywhere(
    make_server: Callable[..., BotServer], engine: Engine
) -> None:
    add_portfolio(engine)
    calls = churn_command(make_server((READER,)), TYPER)
    assert [c.method for c in calls if carries_quote(c)] == []
    posted = json.dumps(channel_post(calls))
    assert "price" in posted.lower() and "2 exit interviews" in posted  # the categories and counts stay
    assert "restricted to the exit interview readers" in posted
    [private] = [c.params for c in calls if c.method == "response_url"]
    assert private["response_type"] == "ephemeral"
    assert "restricted" in private["text"] and f"<@{READER}>" in private["text"]  # who may read them


def test_a_reader_gets_the_quotes_privately_and_the_channel_never_does(
    make_server: Callable[..., BotServer], engine: Engine, fake_slack: FakeSlack
) -> None:
    add_portfolio(engine)
    fake_slack.set_response("usergroups.users.list", {"ok": True, "users": [TYPER]})  # the typer reads via a group
    calls = churn_command(make_server((READER, GROUP)), TYPER)
    quoted = [c for c in calls if carries_quote(c)]
    assert quoted and all(c.method == "response_url" and c.params["response_type"] == "ephemeral" for c in quoted)
    assert "restricted to the exit interview readers" in json.dumps(channel_post(calls))
    blocks = quoted[0].params["blocks"]
    validate_blocks(blocks)
    said = json.dumps(blocks, ensure_ascii=False)
    assert f"{QUOTE} (1)" in said and f"{QUOTE} (2)" in said and "Account 1" in said


def test_with_no_readers_set_whoever_types_reads_them_privately_and_the_channel_still_never_does(
    make_server: Callable[..., BotServer], engine: Engine
) -> None:
    """EXIT_INTERVIEW_READERS unset means everyone may read exit interviews (as for `/health exit`): the typer gets
    the quotes privately; the channel post says who may read them (anyone who asks), never what they say."""
    add_portfolio(engine)
    calls = churn_command(make_server(()), TYPER)
    quoted = [c for c in calls if carries_quote(c)]
    assert quoted and all(c.method == "response_url" and c.params["response_type"] == "ephemeral" for c in quoted)
    posted = json.dumps(channel_post(calls))
    assert "/health churn 2026-Q3" in posted and "restricted" not in posted


def test_the_quarterly_jobs_channel_post_carries_no_quote(
    engine: Engine, fake_slack: FakeSlack, settings: Settings
) -> None:
    from bot.slack.client import make_client
    from jobs import deliver as deliver_job

    add_portfolio(engine)
    posted = churn_job.run(engine, channel="C0CHURN001", today=TODAY, tiers=TIERS, readers=(READER,))
    assert posted is not None and posted.new
    with unit_of_work(session_factory(engine)) as session:
        row = outbox.get(session, posted.key)
        assert row is not None and QUOTE not in json.dumps(row.payload, ensure_ascii=False)
    deliver_job.run(engine, make_client(settings))
    [message] = fake_slack.posted("C0CHURN001")
    said = json.dumps(message, ensure_ascii=False)
    assert QUOTE not in said and "2 exit interviews" in said
    assert "restricted to the exit interview readers" in said and "/health churn 2026-Q3" in said
    assert [c.method for c in fake_slack.calls if carries_quote(c)] == []


def test_the_private_quotes_keep_within_slacks_limits(engine: Engine) -> None:
    """Sixty interviews of two 3,000-character answers: at most 50 blocks, each section within 3,000 characters,
    and the reader is told how many more there are and where to find them."""
    add_portfolio(engine, interviews=60, answer="x" * 2990)
    with unit_of_work(session_factory(engine)) as session:
        result = review(session, parse_period("2026-Q3", TODAY), today=TODAY, tiers=TIERS)
    quotes = messages.quotes_message(result)
    validate_blocks(quotes.blocks)
    assert len(quotes.blocks) <= 50
    assert len(quotes.text) <= 3000
    said = json.dumps(quotes.blocks)
    assert "more" in said and "healthbot report --period 2026-Q3 --format md" in said
    texts = [e["text"] for b in quotes.blocks for e in [b.get("text") or {}, *b.get("elements", [])] if e]
    assert not [t for t in texts if "<" in t or ">" in t]  # no raw angle bracket Slack would read as a link
