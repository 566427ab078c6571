"""The /health builders on small fixed inputs: whole-payload snapshots, validated with slack_sdk.models."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from pydantic import ValidationError
from slack_sdk.models.blocks import Block

from bot.health import messages
from bot.health.command import SUBCOMMANDS, TOP_DEFAULT, Find, Help, Mine, Top, help_text, parse
from bot.health.lookup import Lookup
from bot.health.values import AccountRef, ListPage
from bot.home.values import HomePages
from bot.scoring.scorecard import load_scorecard
from bot.slack.blocks import esc, renewal_text, sparkline, validate_blocks
from bot.slack.values import decode, encode
from storage.models import Account, HealthOverride, HealthScore
from storage.scores import AccountRow, TierTotal
from storage.types import Driver, ScoreParts

SCORECARD = load_scorecard()
TIERS = SCORECARD.tiers
TODAY = date(2026, 6, 30)
ACCOUNT = Account(
    id=42, external_id="ACC-0042", name="Acme Corp, Inc.", domain="acme.com", owner_slack_id="U01CSM0001",
    segment="enterprise", lifecycle_stage="mature", mrr=12500.0, renewal_date=date(2026, 8, 14), status="active",
)  # fmt: skip
SCORE = HealthScore(
    account_id=42, day=TODAY, score=47.4, tier="medium_risk", scorecard="default", partial=False, delta_7=-6.2,
    delta_30=-18.0,
    parts=ScoreParts(
        groups={"product_usage": 38.0, "support": 71.5, "commercial": None, "engagement": 90.0},
        drivers=[
            Driver(measure="logins_trend", group="product_usage", points=-12.3,
                   reason="logins -62 % vs prior 4 weeks"),
            Driver(measure="csat", group="support", points=-5.0, reason="CSAT averaged 3.1 over the last 30 days"),
        ],
        coverage=1.0,
    ),
)  # fmt: skip
SERIES = [(TODAY - timedelta(days=7 - i), v) for i, v in enumerate([72.0, 70, 66, 61, 58, 53, 50, 47.4])]
OVERRIDE = HealthOverride(
    id=1, account_id=42, tier="low_risk", score=65, reason="Champion on parental leave", set_by="U01LEAD001",
    expires_on=date(2026, 7, 31),
)  # fmt: skip
SCORED = "Scored 2026-06-30 with the built-in default scorecard, its *default* card"


def mrkdwn(text: str) -> dict:
    return {"type": "mrkdwn", "text": text}


def button(text: str, action_id: str, value: str, **extra: str) -> dict:
    return {"type": "button", "text": {"type": "plain_text", "text": text, "emoji": True}, "action_id": action_id,
            "value": value, **extra}  # fmt: skip


FACTS = {
    "type": "section",
    "fields": [
        mrkdwn("*Owner*\n<@U01CSM0001>"),
        mrkdwn("*Segment*\nenterprise"),
        mrkdwn("*MRR*\n$12,500"),
        mrkdwn("*Renewal*\n2026-08-14 (45 days left)"),
        mrkdwn("*Lifecycle stage*\nmature"),
    ],
}
CARD_TAIL = [
    {
        "type": "section",
        "text": mrkdwn(
            "*Score by group*\n:red_circle: Product usage  *38*  ·  :large_yellow_circle: Support  *71*  ·  "
            ":white_circle: Commercial  *–*  ·  :large_green_circle: Engagement  *90*"
        ),
    },
    {
        "type": "section",
        "text": mrkdwn(
            "*What pulls the score down*\n• logins -62 % vs prior 4 weeks  _(-12 pts)_\n"
            "• CSAT averaged 3.1 over the last 30 days  _(-5 pts)_"
        ),
    },
]


def validated(blocks: list[dict]) -> list[dict]:
    assert len(blocks) <= 50
    for block in blocks:
        Block.parse(block).validate_json()  # type: ignore[union-attr]
    return blocks


def test_full_card_shows_override_beside_the_computed_score() -> None:
    blocks = validated(messages.account_card(messages.CardData(ACCOUNT, SCORE, SERIES, OVERRIDE), SCORECARD, TODAY))
    assert blocks == [
        {
            "type": "section",
            "text": mrkdwn(
                ":large_orange_circle: *Acme Corp, Inc.*  ·  *47* / 100  ·  Medium risk\n"
                ":pushpin: Override by <@U01LEAD001>: :large_yellow_circle: *Low risk* (65 / 100) until 2026-07-31: "
                "_Champion on parental leave_"
            ),
        },
        {"type": "section", "text": mrkdwn("*Trend*  7 days *-6*  ·  30 days *-18*\n`█▇▆▅▄▃▂▁`  _8 days: 72 → 47_")},
        FACTS,
        *CARD_TAIL,
        {"type": "context", "elements": [mrkdwn(SCORED)]},
        {
            "type": "actions",
            "elements": [
                button("Share in channel", "health.share", '{"account_id":42}', style="primary"),
                button("Show chart", "health.chart", '{"account_id":42}'),
                button("Override", "health.override", '{"account_id":42}'),
                button("Exit interview", "exit.open", '{"account_id":42}'),
                button("Brief me", "health.brief", '{"account_id":42}'),
            ],
            "block_id": "health.card.actions",
        },
    ]
    assert messages.card_text(messages.CardData(ACCOUNT, SCORE, SERIES, None), TIERS) == (
        "Acme Corp, Inc.: 47 (Medium risk), 7-day change -6"
    )


def test_shared_card_names_who_shared_and_keeps_only_the_chart_button() -> None:
    blocks = validated(
        messages.account_card(messages.CardData(ACCOUNT, SCORE, SERIES, None), SCORECARD, TODAY, shared_by="U01CSM0002")
    )
    assert blocks[0] == {
        "type": "section",
        "text": mrkdwn(":large_orange_circle: *Acme Corp, Inc.*  ·  *47* / 100  ·  Medium risk"),
    }
    assert blocks[-2:] == [
        {
            "type": "context",
            "elements": [mrkdwn(f"{SCORED}   Shared by <@U01CSM0002>")],
        },
        {
            "type": "actions",
            "elements": [button("Show chart", "health.chart", '{"account_id":42}')],
            "block_id": "health.card.actions",
        },
    ]


def test_churned_partial_card_shows_churn_date_instead_of_renewal() -> None:
    churned = ACCOUNT.model_copy(update={"status": "churned", "churned_on": date(2026, 6, 1), "owner_slack_id": None})
    partial = SCORE.model_copy(update={"partial": True, "parts": SCORE.parts.model_copy(update={"coverage": 0.62})})
    blocks = validated(messages.account_card(messages.CardData(churned, partial, [], None), SCORECARD, TODAY))
    assert blocks[0]["text"]["text"].endswith("Medium risk\n:black_circle: Churned on 2026-06-01")
    assert blocks[1] == {"type": "section", "text": mrkdwn("*Trend*  7 days *-6*  ·  30 days *-18*")}
    assert blocks[2]["fields"] == [
        mrkdwn("*Owner*\nno owner"),
        mrkdwn("*Segment*\nenterprise"),
        mrkdwn("*MRR*\n$12,500"),
        mrkdwn("*Churned on*\n2026-06-01"),
        mrkdwn("*Lifecycle stage*\nmature"),
    ]
    assert blocks[-2]["elements"][0]["text"].startswith(":warning: Partial data: this score rests on 62%")


def test_unscored_card_has_facts_and_share_but_no_chart() -> None:
    blocks = validated(messages.account_card(messages.CardData(ACCOUNT, None, [], None), SCORECARD, TODAY))
    assert blocks == [
        {"type": "section", "text": mrkdwn(":white_circle: *Acme Corp, Inc.*  ·  no score yet")},
        FACTS,
        {"type": "context", "elements": [mrkdwn("No health score yet: it needs at least 14 days of metrics.")]},
        {
            "type": "actions",
            "elements": [
                button("Share in channel", "health.share", '{"account_id":42}', style="primary"),
                button("Override", "health.override", '{"account_id":42}'),
                button("Exit interview", "exit.open", '{"account_id":42}'),
                button("Brief me", "health.brief", '{"account_id":42}'),
            ],
            "block_id": "health.card.actions",
        },
    ]


def test_pick_list_and_not_found_offer_a_button_per_account() -> None:
    other = ACCOUNT.model_copy(update={"id": 7, "name": "Acme Hotels", "domain": None, "external_id": "ACC-0007"})
    pick = [
        {
            "type": "section",
            "text": mrkdwn("*Acme Corp, Inc.*  ·  acme.com"),
            "accessory": button("Acme Corp, Inc.", "health.pick", '{"account_id":42}'),
        },
        {
            "type": "section",
            "text": mrkdwn("*Acme Hotels*  ·  ACC-0007"),
            "accessory": button("Acme Hotels", "health.pick", '{"account_id":7}'),
        },
    ]
    assert validated(messages.pick_list(Lookup("acme", [ACCOUNT, other]))) == [
        {"type": "section", "text": mrkdwn("2 customers match *acme*: pick one.")},
        *pick,
    ]
    more = messages.pick_list(Lookup("acme", [ACCOUNT, other], more=True))
    assert more[0]["text"]["text"].startswith("More than 2 customers match *acme*; here are the first 2.")
    assert validated(messages.not_found(Lookup("acmee", closest=[ACCOUNT, other]))) == [
        {"type": "section", "text": mrkdwn("No customer matches *acmee*. Closest names:")},
        *pick,
    ]


ROWS = [
    AccountRow(1, "Delta Pharma", "U01CSM0001", 49854.0, date(2026, 9, 1), 27.2, "high_risk", -2.0),
    AccountRow(2, "Quarry Analytics", "U01CSM0003", 861.0, None, 48.0, "medium_risk", None),
    AccountRow(3, "New Co", "U01CSM0001", None, date(2026, 6, 1), None, None, None),
]
TOTALS = {
    "high_risk": TierTotal(1, 49854.0),
    "medium_risk": TierTotal(1, 861.0),
    "healthy": TierTotal(4, 1000.0),
    None: TierTotal(1, 0.0),
}


def test_portfolio_list_page_with_more_button() -> None:
    page = messages.Page(ROWS, number=0, size=3, has_more=True)
    blocks = validated(messages.portfolio_list(TODAY, TOTALS, page, TIERS))
    assert blocks == [
        {
            "type": "section",
            "text": mrkdwn(
                "*Your portfolio*: 7 customers  ·  $51,715 MRR  ·  scores of 2026-06-30\n"
                ":red_circle: High risk 1  ·  :large_orange_circle: Medium risk 1  ·  :large_green_circle: Healthy 4"
                "  ·  :white_circle: No score yet 1"
            ),
        },
        {
            "type": "section",
            "text": mrkdwn(
                ":red_circle: *Delta Pharma*  *27* (-2 in 7 days)  ·  $49,854 MRR  ·  renewal 2026-09-01 (63 days left)"
            ),
            "accessory": button("Open", "health.open", '{"account_id":1}'),
        },
        {
            "type": "section",
            "text": mrkdwn(":large_orange_circle: *Quarry Analytics*  *48* (– in 7 days)  ·  $861 MRR  ·  renewal –"),
            "accessory": button("Open", "health.open", '{"account_id":2}'),
        },
        {
            "type": "section",
            "text": mrkdwn(":white_circle: *New Co*  no score yet  ·  – MRR  ·  renewal 2026-06-01 (passed)"),
            "accessory": button("Open", "health.open", '{"account_id":3}'),
        },
        {"type": "context", "elements": [mrkdwn("1–3 of 7")]},
        {
            "type": "actions",
            "elements": [button("More", "health.list.next", '{"kind":"me","page":1}')],
            "block_id": "health.list.actions",
        },
    ]


def test_riskiest_list_second_page_names_owners_and_mrr_at_risk() -> None:
    value = ListPage(kind="top", page=1, limit=5, tier="high_risk")
    page = messages.Page(ROWS[:1], number=1, size=1, has_more=True)
    totals = {**TOTALS, "high_risk": TierTotal(3, 60000.0)}
    blocks = validated(messages.riskiest_list(TODAY, totals, page, value, TIERS, 60000.0))
    assert blocks[0] == {
        "type": "section",
        "text": mrkdwn(
            "*The team's 3 riskiest accounts in High risk*  ·  these 3: *$60,000* MRR  ·  scores of 2026-06-30\n"
            "*MRR at risk* (Medium risk or High risk): $60,861 in 4 accounts"
        ),
    }
    assert blocks[1]["text"]["text"].endswith("(63 days left)  ·  <@U01CSM0001>")
    assert blocks[2:] == [
        {"type": "context", "elements": [mrkdwn("2–2 of 3")]},
        {
            "type": "actions",
            "elements": [
                button("Previous", "health.list.prev", '{"kind":"top","limit":5,"tier":"high_risk"}'),
                button("More", "health.list.next", '{"kind":"top","page":2,"limit":5,"tier":"high_risk"}'),
            ],
            "block_id": "health.list.actions",
        },
    ]
    page = messages.Page(ROWS[:2], 0, 10, False)
    everyone = messages.riskiest_list(TODAY, TOTALS, page, ListPage(kind="top", limit=10), TIERS, 51715.0)
    assert everyone[0]["text"]["text"] == (  # the list's own total, apart from the MRR at risk (no Healthy in it)
        "*The team's 6 riskiest accounts*  ·  these 6: *$51,715* MRR  ·  scores of 2026-06-30\n"
        "*MRR at risk* (Medium risk or High risk): $50,715 in 2 accounts"
    )
    assert len(everyone) == 3  # title and two rows; one page, so no paging


def test_sparkline_and_renewal_text() -> None:
    assert sparkline([]) == ""
    assert sparkline([0, 100]) == "▁█"
    assert sparkline([50.0, 51.0, 50.5]) == "▄▅▅"  # a one-point wobble stays a wobble
    assert len(sparkline([float(i) for i in range(90)])) == 30
    assert sparkline([float(i) for i in range(90)])[0] == "▁" and sparkline([float(i) for i in range(90)])[-1] == "█"
    assert renewal_text(None, TODAY) == "–"
    assert renewal_text(TODAY, TODAY) == "2026-06-30 (today)"
    assert renewal_text(date(2026, 7, 1), TODAY) == "2026-07-01 (1 day left)"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", Mine()),
        ("me", Mine()),
        ("ME", Mine()),
        ("help", Help()),
        ("top", Top(TOP_DEFAULT, None)),
        ("top 5", Top(5, None)),
        ("top 5 high", Top(5, "high_risk")),
        ("top medium-risk 20", Top(20, "medium_risk")),
        ("top Low risk", Top(TOP_DEFAULT, "low_risk")),
        ("top red", Top(TOP_DEFAULT, "high_risk")),
        ("top 3 Orange", Top(3, "medium_risk")),
        ("acme", Find("acme")),
        ("  Acme   Corp ", Find("Acme Corp")),
        ("meridian", Find("meridian")),
    ],
)
def test_parse(text: str, expected: object) -> None:
    assert parse(text, TIERS) == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("hepl", "`hepl` is not a `/health` command and no customer matches it. Did you mean `/health help`?"),
        (
            "topp 5",
            "`topp` is not a `/health` command and no customer matches it. Did you mean `/health top [N] [tier]`?",
        ),
        ("top 0", "N must be a whole number from 1 to 100. Usage: `/health top [N] [tier]`."),
        ("top 5 7", "N must be a whole number from 1 to 100."),
        ("top 5 bogus", "*bogus* is not a tier: use one of `healthy`, `low risk`, `medium risk`, `high risk`."),
        ("top risk", "*risk* is not a tier"),  # ambiguous: three tiers end in risk, none starts with it
        ("me please", "`/health me` takes no arguments. Usage: `/health me`."),
    ],
)
def test_bad_input_becomes_a_lookup_with_a_helpful_problem(text: str, problem: str) -> None:
    parsed = parse(text, TIERS)
    assert isinstance(parsed, Find) and parsed.query == " ".join(text.split())
    assert parsed.problem is not None and parsed.problem.startswith(problem)


def test_help_is_generated_from_the_parsers_table() -> None:
    text = help_text(TIERS)
    lines = text.splitlines()
    assert len(lines) == 1 + len(SUBCOMMANDS)
    for sub, line in zip(SUBCOMMANDS, lines[1:], strict=True):
        assert line.startswith(f"• `{esc(' '.join(p for p in ('/health', sub.name, sub.args) if p))}`")  # no link
    assert "`/health top [N] [tier]`" in text and "N from 1 to 100" in text and "`high risk`" in text


def test_button_values_round_trip_and_refuse_forgeries() -> None:
    assert decode(AccountRef, encode(AccountRef(account_id=5))) == AccountRef(account_id=5)
    page = ListPage(kind="top", page=2, limit=30, tier="high_risk")
    assert decode(ListPage, encode(page)) == page
    pages = HomePages(pages={"high_risk": 1})
    assert pages.turned("high_risk", -1).pages == {"high_risk": 0}
    assert pages.turned("healthy", -1).pages == {"high_risk": 1, "healthy": 0}
    forged = (AccountRef, '{"account_id":"x"}'), (ListPage, '{"kind":"all"}'), (AccountRef, "42")
    for kind, raw in (*forged, (HomePages, '{"pages":{"high_risk":-2}}'), (ListPage, '{"kind":"me","page":-1}')):
        with pytest.raises(ValidationError):
            decode(kind, raw)


def test_validate_blocks_refuses_more_than_the_limit() -> None:
    with pytest.raises(ValueError, match="exceed"):
        validate_blocks([{"type": "divider"}] * 51)
    with pytest.raises(Exception):  # noqa: B017 - slack_sdk raises its own error type
        validate_blocks([{"type": "section", "text": mrkdwn("x" * 3001)}])


def test_scores_read_as_whole_numbers_that_agree_with_the_tier_cutoffs() -> None:
    from bot.slack.blocks import score_text

    assert [score_text(x) for x in (39.7, 40.0, 79.96, 80.0, 0.0, 100.0)] == ["39", "40", "79", "80", "0", "100"]
    assert score_text(80 - 1e-12) == "80"  # float noise just under a whole number does not drop a point
