"""Whole payloads of the exit interview modal (every state) and summary, the stored interview shown to a reader,
the churn review (channel, quotes, restricted) and the weekly digest (channel and DM): each built from a fixed
fixture, validated with slack_sdk.models and compared, all of it, with its snapshot in tests/snapshots/
(`UPDATE_SNAPSHOTS=1` rewrites them: see tests/snapshot.py). As tests/test_cards.py does for the card and
tests/test_alert_thread.py for the alert thread."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from bot.alerts.signals import Move
from bot.churn import messages as churn
from bot.churn.analysis import (
    ChurnRate,
    ChurnReview,
    Competitor,
    Foresight,
    Horizon,
    Quote,
    ReasonRow,
    TraitRow,
    TrendPoint,
)
from bot.churn.periods import DataSpan, Period
from bot.digest import messages as digest_messages
from bot.digest import service as digest
from bot.exits import messages as exits
from bot.retention.plays import PlayRate
from bot.scoring.chance import Band, ChanceFit, ChanceMap
from bot.scoring.loss import loss_summary
from bot.scoring.scorecard import load_scorecard
from bot.slack import expected_loss
from bot.slack.blocks import Message
from prompts import speaking
from storage.models import Account, ExitInterview, ExitInterviewRevision
from storage.types import FiringEntry
from tests.snapshot import both, message, view
from tests.snapshot import matches_spoken as matches

TODAY = date(2026, 6, 30)
CSM, NEUTRAL, READER = "U01CSM0001", "U01NEUTRAL1", "U01READER1"
TIERS = load_scorecard().tiers

ACCOUNT = Account(
    id=7,
    external_id="ACME",
    name="Acme <Corp> & *Sons*",
    name_lower="acme <corp> & *sons*",
    owner_slack_id=CSM,
    mrr=1200.0,
    status="churned",
    churned_on=date(2026, 6, 15),
)
INTERVIEW = ExitInterview(
    id=3,
    account_id=7,
    churned=True,
    reason="competitor",
    avoidable=True,
    competitor="Globex",
    churn_date=date(2026, 6, 15),
    mrr_lost=1000.0,
    interviewer=NEUTRAL,
    recorded_by=CSM,
    answers={"why_leave": "Onboarding took *three* months", "what_missing": "SSO <https://evil.example|here>"},
    note="From #acme: they signed with Globex",
    version=2,
    created_at=datetime(2026, 6, 16, 10, 0, tzinfo=UTC),
    updated_at=datetime(2026, 6, 18, 9, 30, tzinfo=UTC),
)
HISTORY = [
    ExitInterviewRevision(
        id=1,
        interview_id=3,
        version=1,
        edited_by=NEUTRAL,
        values={"reason": "price"},
        at=datetime(2026, 6, 18, 9, 30, tzinfo=UTC),
    ),
]


@both
@pytest.mark.parametrize(
    "name, build",
    [
        ("exit_modal_new_by_the_csm", lambda: exits.exit_modal(ACCOUNT, None, CSM, TODAY)),
        ("exit_modal_new_open_to_all", lambda: exits.exit_modal(ACCOUNT, None, NEUTRAL, TODAY, open_to_all=True)),
        ("exit_modal_picked_with_a_note", lambda: exits.exit_modal(None, None, NEUTRAL, TODAY, "Their last *email*")),
        ("exit_modal_edit", lambda: exits.exit_modal(ACCOUNT, INTERVIEW, NEUTRAL, TODAY)),
        ("exit_restricted", exits.restricted_view),
        ("exit_notice", lambda: exits.notice("Saved meanwhile by someone else: version 3")),
    ],
)
def test_exit_interview_views(name: str, build: Any) -> None:
    matches(name, view(build()))


@both
def test_exit_interview_summary_for_the_churn_channel() -> None:
    matches("exit_summary", message(exits.summary(ACCOUNT, INTERVIEW)))


@both
def test_exit_interview_shown_to_a_reader_with_its_history() -> None:
    matches("exit_shown", message(exits.shown(ACCOUNT, INTERVIEW, HISTORY)))


REVIEW = ChurnReview(
    period=Period(date(2026, 4, 1), date(2026, 6, 30), "2026-Q2"),
    segment=None,
    today=TODAY,
    headline=ChurnRate(accounts_at_start=120, churned=9, mrr_at_start=144_000.0, mrr_lost=10_800.0),
    churned_accounts=["Acme <Corp> & *Sons*", "Initech"],
    interviewed=2,
    avoidable=1,
    reasons=[ReasonRow("competitor", 1, 1, 0.5), ReasonRow("price", 1, 0, 0.5)],
    competitors=[Competitor("Globex", 1)],
    quotes=[
        Quote("Acme <Corp> & *Sons*", "Competitor", "Why are you leaving?", "Onboarding took *three* months"),
        Quote("Initech", "Price", "What would have kept you?", "A cheaper plan for   small teams"),
    ],
    traits=[
        TraitRow("segment", "smb", 60, 7, 7 / 60, 1.56, 0.06),
        TraitRow("plan", "starter", 8, 2, 0.25, 3.33, 0.07),
    ],
    plays=[PlayRate("high_risk", 6, 4, 12, 9, 3, 2, 1), PlayRate("medium_risk", 5, 5, 8, 8, 4, 1, 0)],
    trend=[
        TrendPoint("2026-Q1", date(2026, 1, 1), date(2026, 3, 31), ChurnRate(118, 6, 140_000.0, 7_000.0)),
        TrendPoint("2026-Q2", date(2026, 4, 1), date(2026, 6, 30), ChurnRate(120, 9, 144_000.0, 10_800.0)),
    ],
    foresight=[Foresight(7, "Acme <Corp> & *Sons*", date(2026, 6, 15), {30: "high_risk", 60: "medium_risk"})],
    horizons=[Horizon(30, 8, 6), Horizon(60, 7, 4)],
    tier_labels={tier: TIERS.label(tier) for tier in TIERS.order},
    span=DataSpan(date(2025, 1, 1), TODAY),
)


# the expected MRR loss beside what was lost (the churn review) and in the digest: a fit with enough history, and
# customers whose segments and owners are hostile data (a broadcast, markup, a name that is no Slack id)
FIT = ChanceFit(
    as_of=date(2026, 6, 29),
    horizon=90,
    scorecard_key="card",
    snapshots=[date(2026, 1, 5), date(2026, 3, 30)],
    cases=400,
    churned_cases=30,
    accounts=200,
    churned_accounts=25,
    pooled=ChanceMap((Band(0, 39, 100, 20), Band(40, 100, 300, 10))),
)
LOSS_FRAME = pd.DataFrame(
    {
        "account_id": [1, 2, 3, 4, 5, 6, 7, 8],
        "segment": ["<!channel> & *smb*", "enterprise", "enterprise", None, "mid", "a", "b", "c"],
        "owner_slack_id": [CSM, CSM, NEUTRAL, None, "jane <b>", CSM, CSM, CSM],
        "mrr": [1000.0, 4000.0, 2500.0, 300.0, 800.0, 100.0, 90.0, 80.0],
        "tier": ["high_risk", "healthy", "medium_risk", "high_risk", "low_risk", "healthy", "healthy", "healthy"],
        "chance": [0.2, 0.1 / 3, 0.2, 0.2, 0.1 / 3, 0.1 / 3, 0.1 / 3, 0.1 / 3],
    }
)
EXPECTED = expected_loss.Expected(FIT, loss_summary(LOSS_FRAME, TIERS.order), TODAY)


def spoken_review() -> ChurnReview:
    """REVIEW with the tier labels of the language spoken (the review reads them when it is made)."""
    return replace(REVIEW, tier_labels={tier: TIERS.label(tier) for tier in TIERS.order})


@both
@pytest.mark.parametrize("open_to_all", [False, True])
def test_churn_review_for_the_channel(open_to_all: bool) -> None:
    payload = message(churn.review_message(spoken_review(), open_to_all=open_to_all, expected=EXPECTED))
    matches(f"churn_review{'_open_to_all' if open_to_all else ''}", payload)


@both
def test_churn_review_quotes_and_the_restricted_note() -> None:
    payload = {
        "quotes": message(churn.quotes_message(spoken_review())),
        "restricted": churn.restricted_text(REVIEW, [READER, "S0READERS1"]),
    }
    matches("churn_review_quotes", payload)


def test_churn_review_in_chinese_lists_and_percents_as_chinese_writes_them() -> None:
    """Separators and percents come from the language (issue 23): no English ", " or " %" left in a zh-CN review."""
    review = replace(REVIEW, competitors=[Competitor("Globex", 1), Competitor("Initech", 2)])
    with speaking("zh-CN"):
        text = json.dumps(
            message(churn.review_message(review, expected=EXPECTED)), ensure_ascii=False, separators=(",", ":")
        )
        restricted = churn.restricted_text(review, [READER, "S0READERS1"])
    assert "1 个可避免，50%）" in text and "（50.0%）" in text and "流向：Globex（1）和 Initech（2）" in text
    assert "流失前 30 天 8 个中有 6 个和流失前 60 天 7 个中有 4 个" in text and "（10.5%）" in text
    assert " %" not in text and ", " not in text
    assert f"<@{READER}>和<!subteam^S0READERS1>" in restricted


WEEK = digest.WeekStats(
    start=date(2026, 6, 22),
    end=date(2026, 6, 28),
    opened=3,
    joined=1,
    listed=2,
    alerts_since=datetime(2026, 6, 22, 9, 0, tzinfo=UTC),
    alerts_until=datetime(2026, 6, 29, 9, 0, tzinfo=UTC),
    claimed_in_sla=2,
    unclaimed=1,
    escalated=1,
    resolved={"saved": 1, "churned": 1},
    moves=[("Acme <Corp> & *Sons*", Move(7, "medium_risk", "high_risk", 21.0))],
    move_why={},
    tz=ZoneInfo("Europe/Berlin"),
    at_risk_tiers=["medium_risk", "high_risk"],
    at_risk=12,
    mrr_at_risk=18_000.0,
    mrr_at_risk_before=15_500.0,
    tier_counts=[(tier, 10 + i, 9 + i) for i, tier in enumerate(TIERS.order)],
    new_at_risk=[digest.AtRisk("Acme <Corp> & *Sons*", "high_risk", 1200.0, "alert")],
    saves=[("Initech", NEUTRAL)],
    tasks_open=4,
    tasks_overdue=1,
    tasks=[digest.TaskLine("Initech", "Call the *sponsor*", CSM, datetime(2026, 6, 26, 15, 0, tzinfo=UTC), True)],
    snoozed=[digest.Snoozed("Globex", datetime(2026, 7, 3, 9, 0, tzinfo=UTC), None)],
    digest_only=[("Hooli", FiringEntry("tickets rose to 9"))],
    plays=[PlayRate("high_risk", 6, 4, 12, 9, 3, 2, 1)],
    plays_start=date(2026, 3, 31),
    expected=EXPECTED,
)


@both
@pytest.mark.parametrize("dm", [False, True])
def test_weekly_digest(dm: bool) -> None:
    week = replace(WEEK, loss_by_csm=not dm)
    matches(f"digest{'_dm' if dm else ''}", message(digest_messages.digest_message(week, TIERS, dm=dm)))


def test_the_digest_counts_read_as_sentences() -> None:
    payload = message(digest_messages.digest_message(WEEK, TIERS, dm=False))
    words = "\n".join([str(payload["text"]), *(str(b["text"]["text"]) for b in payload["blocks"] if "text" in b)])
    assert "1 times" not in words
    assert "*Joined*: a further rule joined an open alert once" in words
    assert "1 account moved to a worse tier" in words
    assert "(1 account whose signals" in words
    assert "1 accounts" not in words


def test_an_exit_interview_title_keeps_its_bold_whole() -> None:
    title = str(message(exits.summary(ACCOUNT, INTERVIEW))["blocks"][0]["text"]["text"])
    assert title == ":door: *Exit interview:* Acme &lt;Corp&gt; &amp; *Sons*"


WORDED_TRAITS = [
    TraitRow("csm", CSM, 20, 8, 0.4, 3.5, 0.22),
    TraitRow("usage", "falling", 15, 6, 0.4, 3.4, 0.2),
    TraitRow("acquisition_channel", "partner", 12, 4, 1 / 3, 2.9, 0.14),
    TraitRow("tenure", "under 6 months", 4, 2, 0.5, 4.4, 0.15),
]


@pytest.mark.parametrize(
    ("language", "words", "raw_words"),
    [
        ("en", ["CSM", "usage *falling*", "acquisition channel *partner*", "tenure under 6 months"], []),
        ("zh-CN", ["CSM", "使用情况 *下降*", "获客渠道 *partner*", "合作时长为不足 6 个月"], ["usage", "falling"]),
    ],
)
def test_churn_review_traits_in_words_and_the_csm_as_a_mention(
    language: str, words: list[str], raw_words: list[str]
) -> None:
    """The traits' keys and the review's own bands in the reader's language; a CSM as a mention, not an id."""
    with speaking(language):
        payload = message(churn.review_message(replace(REVIEW, traits=WORDED_TRAITS)))
    text = "\n".join(str(b["text"]["text"]) for b in payload["blocks"] if "text" in b and "text" in b["text"])
    assert f"CSM *<@{CSM}>*" in text and f" {CSM}" not in text and "acquisition_channel" not in text
    assert all(w in text for w in words), text
    assert not any(w in text for w in raw_words), text


def test_churn_review_markdown_names_traits_and_csms() -> None:
    from bot.churn.report import render_md

    review = replace(REVIEW, traits=WORDED_TRAITS)
    with speaking("zh-CN"):
        named = render_md(replace(review, people={CSM: "Jane Doe"}))
        unnamed = render_md(review)
    assert "| CSM | Jane Doe |" in named and CSM not in named
    assert "| 使用情况 | 下降 |" in named and "| 获客渠道 | partner |" in named and "acquisition_channel" not in named
    assert f"| CSM | {CSM} |" in unnamed  # no Slack to ask: the id
    ends = [line for line in named.splitlines() if line.endswith(".") and not line.isascii()]
    assert ends == []  # a Chinese sentence ends in "。", not an English full stop


@pytest.mark.parametrize(("language", "competitor"), [("en", "Competitor"), ("zh-CN", "竞争对手")])
def test_churn_review_reasons_by_their_words_not_their_keys(language: str, competitor: str) -> None:
    from bot.churn.report import render_md

    review = replace(REVIEW, quotes=[replace(q, reason="competitor") for q in REVIEW.quotes])
    with speaking(language):
        payload = message(churn.review_message(review))
        quotes = message(churn.quotes_message(review))
        markdown = render_md(review)
    shown = (json.dumps([payload, quotes], ensure_ascii=False), markdown)
    text, markdown = (t.replace("（", "(").replace("）", ")") for t in shown)
    assert f"• {competitor}" in text and "• competitor" not in text and f"({competitor})" in text
    assert f"| {competitor} |" in markdown and "| competitor |" not in markdown and f"({competitor})" in markdown


def test_the_readmes_chinese_card_is_the_one_docs_examples_wrote() -> None:
    """README "Languages" shows docs/card-example.zh-CN.json (written by `python docs/examples.py`) as rendered."""
    from pathlib import Path

    from bot.demo.run import render_blocks

    root = Path(__file__).resolve().parent.parent
    blocks = json.loads((root / "docs" / "card-example.zh-CN.json").read_text(encoding="utf-8"))["blocks"]
    message(Message(text="", blocks=blocks))
    section = (root / "README.md").read_text(encoding="utf-8").split("## Languages", 1)[1].split("\n## ", 1)[0]
    with speaking("zh-CN"):  # a field's label and value as the reader's language sets them apart
        assert f"```\n{render_blocks(blocks)}\n```" in section
