"""Hostile `/health` input and hostile data: what Slack really sends (entities, links, control characters, huge
text, non-ASCII digits) is cleaned once in the parser, and every builder shows data as text, never as markup."""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View
from sqlalchemy import Engine

from bot.alerts import messages as alert_messages
from bot.churn import messages as churn_messages
from bot.churn.themes import Theme, Themes
from bot.exits import messages as exit_messages
from bot.exits.coding import Coding
from bot.health import messages as health_messages
from bot.health import override as health_override
from bot.health.command import NAME_MAX, SUBCOMMANDS, Find, Top, clean, help_text, parse, usage
from bot.health.ids import HealthIds
from bot.health.lookup import Lookup
from bot.health.values import ListPage
from bot.home import messages as home_messages
from bot.home.values import HomePages
from bot.retention import modal as task_modal
from bot.retention import plays
from bot.scoring.loss import LossRow, LossSummary
from bot.scoring.scorecard import load_scorecard
from bot.settings import Settings
from bot.slack import blocks as b
from bot.slack.chance import Chances
from prompts import say
from storage.models import Account, HealthOverride, HealthScore
from storage.scores import AccountRow, TierTotal
from storage.types import Driver, ScoreParts
from tests.conftest import BotServer
from tests.fake_slack import FakeSlack
from tests.test_chance_surfaces import FIT, TOO_LITTLE
from tests.test_unusual_data_in_slack import ack, add_accounts

SCORECARD = load_scorecard()
TIERS = SCORECARD.tiers
DAY = date(2026, 6, 30)
ME = "U01CSM0001"

# --- the parser: clean and clip the command text once ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "query"),
    [
        ("Acme\x00 Corp", "Acme Corp"),  # PostgreSQL refuses a NUL in a query parameter
        ("Acme\x07\x1b\x7f\x9f Corp", "Acme Corp"),  # C0, DEL and C1 controls
        ("Acme\t\n\u2028\u00a0  Corp", "Acme Corp"),  # any whitespace run is one space
        ("Smith &amp; Sons", "Smith & Sons"),  # Slack escapes &, < and > in command text
        ("&lt;b&gt; &amp;lt;", "<b> &lt;"),  # one unescape: a typed "&lt;" stays as typed
        ("<https://acme.com|acme.com>", "acme.com"),  # a typed domain, linked by Slack
        ("<https://www.acme.com/pricing>", "https://www.acme.com/pricing"),  # a pasted address
        ("<mailto:bob@acme.com|bob@acme.com>", "bob@acme.com"),
        ("<@U123ABC|ann> please", "@ann please"),  # a mention reads as the user typed it
        ("<@U123ABC>", "@U123ABC"),
        ("<#C123ABC|general>", "#general"),
        ("<!here>", "@here"),
        ("<!subteam^S123|@cs-team>", "@cs-team"),
        ("<https://x.example|Smith &amp; Sons>", "Smith & Sons"),
    ],
)
def test_command_text_is_cleaned_before_parsing(text: str, query: str) -> None:
    assert clean(text) == query
    assert parse(text, TIERS) == Find(query)


def test_command_text_is_clipped_to_the_longest_name() -> None:
    parsed = parse("x" * 50_000, TIERS)
    assert isinstance(parsed, Find) and parsed.query == "x" * NAME_MAX
    assert clean("a " * 200) == ("a " * 200)[:NAME_MAX].strip()  # no trailing space left by the cut


@pytest.mark.parametrize("number", ["²", "٣", "５", "--5", "-", "5-"])
def test_top_takes_ascii_digits_only(number: str) -> None:
    parsed = parse(f"top {number}", TIERS)  # a word that is not a number is taken as a tier: none matches
    assert isinstance(parsed, Find) and parsed.problem is not None and "is not a tier" in parsed.problem
    assert parse("top 7", TIERS) == Top(7, None)
    assert "whole number" in (parse("top -5", TIERS).problem or "")  # type: ignore[union-attr]


# --- end to end: every hostile command text gets an answer, never a 500 ------------------------------------------


@pytest.fixture
def server(engine: Engine, settings: Settings, fake_slack: FakeSlack) -> Iterator[BotServer]:
    bot = BotServer(settings, engine, fake_slack, today=DAY).start()
    yield bot
    bot.stop()


def test_a_nul_in_the_command_text_is_answered(engine, server: BotServer) -> None:
    add_accounts(engine, ["Acme Corp"])
    assert "*Acme Corp*" in ack(server, "Acme\x00 Corp")["blocks"][0]["text"]["text"]
    assert "zzqq" in ack(server, "zzqq\x00")["text"]


def test_fifty_thousand_characters_are_answered(engine, server: BotServer) -> None:
    add_accounts(engine, ["Acme Corp"])
    body = ack(server, "Acme%_ " * 7_200)  # LIKE wildcards too: SQLite calls a long pattern "too complex"
    # shown without the bold: its `_` before a space would end mrkdwn italics inside it (prompts.fill)
    assert len(body["text"]) < 2_000 and body["text"].startswith("No customer matches Acme%_ Acme%_")


def test_top_with_a_superscript_two_is_answered(engine, server: BotServer) -> None:
    add_accounts(engine, ["Acme Corp"])
    assert "*²* is not a tier" in ack(server, "top ²")["text"]
    assert "*--5* is not a tier" in ack(server, "top --5")["text"]


def test_slack_entities_and_links_are_resolved_before_the_lookup(engine, server: BotServer) -> None:
    add_accounts(engine, ["Smith & Sons", "Smith Partners"])
    add_accounts(engine, ["ACME Corp, Inc."], domain="acme.com")
    assert "*Smith &amp; Sons*" in ack(server, "Smith &amp; Sons")["blocks"][0]["text"]["text"]
    for text in ("<http://acme.com|acme.com>", "<https://www.acme.com/pricing>", "<http://www.acme.com|www.acme.com>"):
        assert "*ACME Corp, Inc.*" in ack(server, text)["blocks"][0]["text"]["text"], text
    body = ack(server, "<@U999|ann> &lt;b&gt;")
    assert body["text"] == "No customer matches *@ann &lt;b&gt;*."


def test_a_forged_tier_in_a_list_button_is_answered_as_out_of_date(engine, server: BotServer) -> None:
    add_accounts(engine, ["Acme Corp"])
    forged = json.dumps({"kind": "top", "page": 1, "tier": "<!channel>"})
    server.action("health.list.next", forged)
    told = server.fake.wait_for("response_url", timeout=10)[0].params
    assert "<!channel>" not in json.dumps(told)
    assert told["text"] == say("health.button_out_of_date")


def test_a_chart_failure_names_the_account_as_text(engine, server: BotServer) -> None:
    (aid,) = add_accounts(engine, ["<http://evil.example|Click me> Inc"])
    server.fake.fail_next("upload", status=500)
    server.action("health.chart", json.dumps({"account_id": aid}))
    told = server.fake.wait_for("response_url", timeout=30)[0].params
    assert told["text"].startswith(":warning: I could not upload the chart of *&lt;http://evil.example|Click me&gt;")
    assert_no_markup(told["text"])


def test_help_shows_its_angle_brackets_as_text(engine, server: BotServer) -> None:
    text = ack(server, "help")["text"]
    assert "<customer" not in text and "`/health &lt;customer name | domain | id&gt;`" in text
    assert_no_markup(text)


# --- every builder, fed hostile names --------------------------------------------------------------------------

HOSTILE = [
    "<!channel>",
    "<http://evil.example|Click me> Inc",
    "<@U0ADMIN01> & <#C0GENERAL>",
    "*bold* _it_ ~s~ `code`",
    "&amp; &lt;x&gt;",
    "W" * 300,
    "<&>" * 100,  # 300 characters, 1,300 once escaped
    "Party 🎉 Co 👨‍👩‍👧",
    "\u202eexe.Inc",  # RTL override: would turn the rest of the line round
]
OWNERS = {ME, "U01LEAD001", "W" * 32}  # the only mentions a payload may hold ("W" * 32 is a well-formed user id)
_ALLOWED = re.compile(r"<@(" + "|".join(OWNERS) + r")>")
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")


def assert_no_markup(text: str) -> None:
    """No link, mention or special mention but the owners' own; every & starts an entity; no bidi control."""
    rest = _ALLOWED.sub("", text)
    assert "<" not in rest and ">" not in rest, text
    assert "&" not in re.sub(r"&(amp|lt|gt);", "", rest), text
    assert not _BIDI.search(text), text
    assert len(text) <= b.TEXT_LIMIT


def mrkdwn_texts(payload: Any) -> list[str]:
    """Every mrkdwn text of a payload (blocks or a view)."""
    if isinstance(payload, list):
        return [t for item in payload for t in mrkdwn_texts(item)]
    if isinstance(payload, dict):
        own = [payload["text"]] if payload.get("type") == "mrkdwn" else []
        return own + [t for v in payload.values() if isinstance(v, dict | list) for t in mrkdwn_texts(v)]
    return []


def checked_blocks(blocks: b.Blocks, limit: int = b.MESSAGE_BLOCK_LIMIT) -> b.Blocks:
    assert len(blocks) <= limit
    for block in blocks:
        Block.parse(block).validate_json()  # type: ignore[union-attr]
    for text in mrkdwn_texts(blocks):
        assert_no_markup(text)
    return blocks


def checked_text(text: str) -> str:
    assert_no_markup(text)
    return text


def _account(i: int, name: str) -> Account:
    return Account(
        id=i, external_id=name, name=name, domain=name, owner_slack_id=ME if i % 2 else name[:32], segment=name,
        lifecycle_stage=name, mrr=1000.0 * i, renewal_date=DAY + timedelta(days=i), status="active",
        churned_on=DAY if i % 3 == 0 else None,
    )  # fmt: skip


def _score(i: int, name: str) -> HealthScore:
    tier = TIERS.order[i % len(TIERS.order)]
    return HealthScore(
        account_id=i, day=DAY, score=float(10 + 20 * (i % 4)), tier=tier, scorecard="default", partial=i % 2 == 0,
        delta_7=-3.0, delta_30=5.0,
        parts=ScoreParts(groups={"product_usage": 40.0, "support": None},
                         drivers=[Driver(measure="logins_trend", group="product_usage", points=-5, reason="logins")],
                         coverage=0.6),
    )  # fmt: skip


def _row(i: int, name: str) -> AccountRow:
    score = 30.0 if i % 2 else None
    return AccountRow(i, name, ME if i % 2 else name, 1000.0, DAY, score, "high_risk", -1.0, name if i % 3 else None)


# a fit whose cards are the hostile names (the card's own bands are named in its source text)
HOSTILE_CHANCES = Chances(replace(FIT, cards={name: FIT.pooled for name in HOSTILE if FIT.pooled}))


def health_builders() -> dict[str, Any]:
    """Every public function of bot/health/messages.py, fed every hostile name."""
    accounts = [_account(i, n) for i, n in enumerate(HOSTILE, start=1)]
    rows = [_row(i, n) for i, n in enumerate(HOSTILE, start=1)]
    totals = {"high_risk": TierTotal(5, 5000.0), "healthy": TierTotal(2, 10.0), None: TierTotal(1, 0.0)}
    page = health_messages.Page(rows, 1, len(rows), True)
    value = ListPage(kind="top", page=1, limit=50, tier="high_risk")

    def cards() -> None:
        for i, (account, name) in enumerate(zip(accounts, HOSTILE, strict=True)):
            override = HealthOverride(id=i, account_id=i, tier="healthy", score=90, reason=name,
                                      set_by=ME if i % 2 else name[:64], expires_on=DAY)  # fmt: skip
            hostile_card = _score(i, name).model_copy(update={"scorecard": name})  # its card's own bands: named
            for score, chances in (
                (_score(i, name), None),
                (hostile_card, HOSTILE_CHANCES),
                (_score(i, name), Chances(TOO_LITTLE)),
                (_score(i, name), Chances(None)),
                (None, HOSTILE_CHANCES),
            ):
                card = health_messages.CardData(account, score, [(DAY - timedelta(days=1), 50.0), (DAY, 40.0)],
                                                override if i % 2 == 0 else None, chances)  # fmt: skip
                for shared_by in (None, ME, name):
                    checked_blocks(health_messages.account_card(card, SCORECARD, DAY, shared_by))
                checked_text(health_messages.card_text(card, TIERS))

    return {
        "account_card": cards,
        "card_text": cards,
        "pick_list": lambda: [
            checked_blocks(health_messages.pick_list(Lookup(n, accounts[:10], more=True))) for n in HOSTILE
        ],
        "not_found": lambda: [
            checked_blocks(health_messages.not_found(Lookup(n, closest=accounts[:3]))) for n in HOSTILE
        ],
        "row_text": lambda: [checked_text(health_messages.row_text(r, DAY, TIERS, show_owner=True)) for r in rows],
        "tier_counts_text": lambda: checked_text(health_messages.tier_counts_text(totals, TIERS)),
        "page_text": lambda: checked_text(health_messages.page_text(page, 20)),
        "portfolio_list": lambda: checked_blocks(health_messages.portfolio_list(DAY, totals, page, TIERS)),
        "riskiest_list": lambda: [
            checked_blocks(health_messages.riskiest_list(DAY, totals, page, value, TIERS, 9.0, chances))
            for chances in (None, HOSTILE_CHANCES, Chances(TOO_LITTLE), Chances(None))
        ],
        "loss_list": lambda: checked_blocks(
            health_messages.loss_list(
                DAY,
                page,
                value.model_copy(update={"by_mrr": True}),
                TIERS,
                HOSTILE_CHANCES,
                {r.id: 1234.5 for r in rows},
                health_messages.LossTotals(len(rows), 9.0, 10.0, 99, 19.0, 20.0),
            )
        ),  # fmt: skip
        "at_risk_text": lambda: checked_text(health_messages.at_risk_text(totals, TIERS, yours=True)),
        "at_risk_figure": lambda: checked_text(health_messages.at_risk_figure(5000.0, 5, TIERS)),
        "scored_with": cards,
        "chart_failed_text": lambda: [
            checked_text(health_messages.chart_failed_text(n, r))
            for n in HOSTILE
            for r in ("missing_scope", "<urlopen error [Errno 111] Connection refused>")
        ],  # fmt: skip
        "chart_in_dm_text": lambda: [checked_text(health_messages.chart_in_dm_text(n)) for n in HOSTILE],
    }


def override_builders() -> dict[str, Any]:
    """Every public function of bot/health/override.py: the Override modal and the checks of a submission."""
    accounts = [_account(i, n) for i, n in enumerate(HOSTILE, start=1)]

    def modal() -> None:
        for i, (account, name) in enumerate(zip(accounts, HOSTILE, strict=True)):
            current = HealthOverride(id=i, account_id=i, tier=name[:32] if i % 2 else "healthy", score=50.0,
                                     reason=name, set_by=ME if i % 2 else name[:64], expires_on=DAY)  # fmt: skip
            for shown in (current, None):
                view = health_override.override_modal(account, shown, TIERS, DAY, name if i % 2 else None)
                View(**view).validate_json()
                [checked_text(t) for t in mrkdwn_texts(checked_blocks(view["blocks"], b.VIEW_BLOCK_LIMIT))]

    def submissions() -> None:  # errors are plain text under the inputs: data never reaches mrkdwn
        for account, name in zip(accounts, HOSTILE, strict=True):
            values = {ids: {ids: {"selected_option": {"value": name}, "value": name, "selected_date": name}}
                      for ids in (HealthIds.OVERRIDE_TIER, HealthIds.OVERRIDE_REASON, HealthIds.OVERRIDE_UNTIL,
                                  HealthIds.OVERRIDE_SCORE)}  # fmt: skip
            entry = health_override.read_input(values)
            assert entry.tier == entry.reason == entry.until == entry.score == name
            errors = health_override.check(entry, account, TIERS, DAY)
            assert isinstance(errors, dict) and errors and all(len(e) <= 2000 for e in errors.values())
            refused = health_override.refusal(account)
            assert (refused is None) is (account.churned_on is None)
            checked_text(b.esc(refused))

    return {"override_modal": modal, "read_input": submissions, "check": submissions, "refusal": submissions}


def plays_builders() -> dict[str, Any]:
    """Every public function of bot/retention/plays.py that draws: hostile tier names from the database."""
    from bot.retention.plays import Period, PlayRate

    rates = [PlayRate(name, i, i // 2, i, 1, i % 3, 1, 1) for i, name in enumerate(HOSTILE, start=1)]
    rates.append(PlayRate("high_risk", 0, 0, 0, 0, 0, 0, 0))
    start = DAY - timedelta(days=89)

    def table() -> None:
        checked_blocks(plays.plays_blocks(rates, TIERS, start, DAY, HOSTILE[0]))
        checked_blocks(plays.plays_blocks([], TIERS, start, DAY))
        checked_text(plays.plays_text(rates, TIERS, start, DAY))
        message = plays.plays_message(rates, TIERS, Period(start, DAY, HOSTILE[1]))
        checked_text(message.text)
        checked_blocks(message.blocks or [])
        for rate in [*rates, plays.total(rates)]:
            checked_text(plays.rate_text(rate, TIERS))
        for name in HOSTILE:
            with pytest.raises(plays.PeriodError) as refused:
                plays.parse_period(name)
            checked_text(str(refused.value))
        spec = plays.parse_period("2026-Q2")
        assert plays.period_dates(spec, DAY).label == "2026-Q2"

    return dict.fromkeys(("save_rates", "total", "parse_period", "period_dates", "rate_text", "plays_blocks",
                          "plays_text", "plays_message"), table)  # fmt: skip


def churn_builders() -> dict[str, Any]:
    """Every public function of bot/churn/messages.py: hostile segment, reasons, competitors, quotes, traits."""
    from bot.churn import analysis as churn
    from bot.churn.periods import Period

    period = Period(DAY - timedelta(days=91), DAY, "2026-Q2")
    rate = churn.ChurnRate(10, 2, 10_000.0, 2_000.0)
    reviews = [
        churn.ChurnReview(
            period=period,
            segment=name,
            today=DAY,
            headline=rate,
            churned_accounts=list(HOSTILE),
            interviewed=2,
            avoidable=1,
            reasons=[churn.ReasonRow(name, 2, 1, 1.0)],
            competitors=[churn.Competitor(name, 1)],
            quotes=[churn.Quote(name, "price", "why", name)],
            traits=[churn.TraitRow("industry", name, 3, 2, 2 / 3, 3.3)],
            plays=[plays.PlayRate(name, 2, 1, 1, 1, 1, 1, 0)],
            trend=[churn.TrendPoint(name, period.start, period.end, rate)],
            horizons=[churn.Horizon(30, 2, 1)],
            tier_labels={name: name},
        )  # fmt: skip
        for name in HOSTILE
    ]
    reviews.append(churn.ChurnReview(period=period, segment=None, today=DAY, headline=churn.ChurnRate(0, 0, 0.0, 0.0)))

    def review() -> None:
        for one in reviews:
            for open_to_all in (False, True):
                message = churn_messages.review_message(one, open_to_all=open_to_all)
                checked_text(message.text)
                checked_blocks(message.blocks or [])
            quotes = churn_messages.quotes_message(one)  # the quotes, privately to a reader
            checked_text(quotes.text)
            checked_blocks(quotes.blocks or [])
            checked_text(churn_messages.restricted_text(one, (ME, "S0READERS1")).replace("<!subteam^S0READERS1>", ""))
            checked_blocks(churn_messages.review_blocks(one))
            checked_text(churn_messages.review_text(one))
            assert not re.search("[\u202a-\u202e\u2066-\u2069]", churn_messages.title(one))
            assert not re.search("[\u202a-\u202e\u2066-\u2069]", churn_messages.chart_title(one))
            assert "/" not in churn_messages.chart_filename(one)
        for name in HOSTILE:  # a model's theme names are data too, and so is why its reply was not used
            for generated in (False, True):
                found = Themes((Theme(name[:60], (0,), 1),), generated=generated, note=None if generated else name)
                checked_blocks(churn_messages.themes_blocks(found, 1))
                checked_blocks(churn_messages.quotes_message(reviews[0], found).blocks or [])

    return dict.fromkeys(("title", "chart_title", "chart_filename", "review_text", "review_blocks", "review_message",
                          "quotes_message", "restricted_text", "themes_blocks"), review)  # fmt: skip


def home_builders() -> dict[str, Any]:
    rows = [_row(i, n) for i, n in enumerate(HOSTILE, start=1)]
    mine = {"high_risk": TierTotal(30, 1.0), "healthy": TierTotal(2, 1.0), None: TierTotal(1, 0.0)}
    data = home_messages.HomeData(
        user_id=ME, day=DAY, pages=HomePages(pages={"high_risk": 1}), mine=mine,
        my_pages={"high_risk": health_messages.Page(rows, 1, len(rows), True),
                  "healthy": health_messages.Page(rows[:2], 0, 10, False)},
        team=mine, moves=[("healthy", "high_risk", 3, 100.0)], drops=rows, gains=rows[::-1],
        tasks=_task_rows(),
    )  # fmt: skip
    loss = LossSummary(LossRow(None, 9, 9.0, 1.5, 3.0), csms=[LossRow(ME, 3, 3.0, 0.5, 1.0)])

    def home() -> None:
        for chances in (None, HOSTILE_CHANCES, Chances(TOO_LITTLE), Chances(None)):
            drawn = replace(data, chances=chances, loss=loss if chances is HOSTILE_CHANCES else None)
            view = home_messages.home_view(drawn, TIERS)
            View(**view).validate_json()
            checked_blocks(view["blocks"], b.VIEW_BLOCK_LIMIT)

    return {"home_view": home}


def alert_builders() -> dict[str, Any]:
    def thread() -> None:  # the alert thread: hostile names and rule words in every state, the DM, the modal
        from datetime import UTC, datetime
        from zoneinfo import ZoneInfo

        from storage.models import Alert, AlertListing

        at, tz, channel = datetime(2026, 6, 30, 12, tzinfo=UTC), ZoneInfo("UTC"), "C0ALERTS01"

        def ours(text: str) -> str:  # the thread's channel is the bot's own link
            return checked_text(text.replace(f"<#{channel}>", ""))

        def blocks_of(message: b.Message) -> list[str]:
            texts = mrkdwn_texts(message.blocks or [])
            for block in message.blocks or []:
                Block.parse(block).validate_json()  # type: ignore[union-attr]
            return texts

        for i, name in enumerate(HOSTILE, start=1):
            account, score = _account(i, name), _score(i, name)
            firings = {name: {"words": name, "since": "2026-06-30"}}
            states = [{}, {"claimed_by": ME, "claimed_at": at, "escalation_level": 1, "escalated_at": at},
                      {"status": "resolved", "outcome": "saved", "resolved_by": ME, "resolved_at": at}]  # fmt: skip
            for state in states:
                alert = Alert(id=i, account_id=i, severity=score.tier, opened_on=DAY, last_fired_on=DAY, due_at=at,
                              channel=channel, firings=firings, **state)  # fmt: skip
                override = HealthOverride(id=i, account_id=i, tier="healthy", reason=name, set_by=name[:64],
                                          expires_on=DAY)  # fmt: skip
                for chances in (HOSTILE_CHANCES, Chances(TOO_LITTLE)):
                    drawn = alert_messages.AlertView(alert, account, score.model_copy(update={"scorecard": name}),
                                                     override, chances)  # fmt: skip
                    [ours(t) for t in [*blocks_of(alert_messages.root(drawn, TIERS, tz, ME))]]
                view = alert_messages.AlertView(alert, account, score)
                message = alert_messages.root(view, TIERS, tz, ME)
                [ours(t) for t in [message.text, *blocks_of(message)]]
                assert alert_messages.root_text(view, TIERS) == message.text
                dm = alert_messages.owner_dm(view, TIERS, tz)
                [ours(t) for t in [dm.text, *blocks_of(dm)]]
            listing = AlertListing(id=i, account_id=i, channel=channel, severity=score.tier, reason="first_run",
                                   listed_on=DAY, last_fired_on=DAY, firings=firings, message_key="k:p1")  # fmt: skip
            page = alert_messages.listing_message(
                [alert_messages.ListingRow(listing, account, score)], "first_run", 1, 1, 1, TIERS, 10
            )
            [ours(t) for t in [page.text, *blocks_of(page)]]
            person = alert_messages.person_dm(
                [alert_messages.NewAlert(view, [])], [alert_messages.Listed(name, score.tier, channel)], TIERS, tz
            )
            [ours(t) for t in [person.text, *blocks_of(person)]]
            for reply in (alert_messages.joined_reply([name]), alert_messages.escalated_reply(1, ME, ME, at, tz),
                          alert_messages.resolved_reply("false_alarm", ME)):  # fmt: skip
                [checked_text(t) for t in [reply.text, *mrkdwn_texts(checked_blocks(reply.blocks or []))]]
            modal = alert_messages.resolve_modal(i, name)
            View(**modal).validate_json()
            [checked_text(t) for t in mrkdwn_texts(modal["blocks"])]
            checked_text(b.who(name[:32]) if not name.startswith("S") else "")
            checked_text(alert_messages.outcome_label(name))
            checked_text(b.when(at, tz))

    names = ("root", "root_text", "joined_reply", "escalated_reply", "resolved_reply", "owner_dm", "resolve_modal",
             "outcome_label", "listing_message", "person_dm")  # fmt: skip
    return dict.fromkeys(names, thread)


def _task_rows() -> list[task_modal.TaskRow]:
    """A task per hostile name (as its title, account and assignee), half of them overdue."""
    from datetime import UTC, datetime

    from storage.models import Task

    due = datetime(2026, 6, 30, 12, tzinfo=UTC)
    return [
        task_modal.TaskRow(Task(id=i, alert_id=i, account_id=i, playbook=name[:32], step=i, title=name,
                                owner_role=name[:64], assignee=ME if i % 2 else None, version=i,
                                due_at=due + timedelta(days=i % 2 * 2 - 1), escalation_level=i % 3), name)
        for i, name in enumerate(HOSTILE, start=1)
    ]  # fmt: skip


def task_builders() -> dict[str, Any]:
    """Every public function of bot/retention/modal.py: the Mark done modal, its notices and my task lists."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    rows, now, tz = _task_rows(), datetime(2026, 6, 30, 13, tzinfo=UTC), ZoneInfo("America/New_York")

    def views() -> None:
        for row, name in zip(rows, HOSTILE, strict=True):
            for view in (task_modal.done_modal(row.task, name, tz), task_modal.done_modal(row.task, None, tz)):
                View(**view).validate_json()
                [checked_text(t) for t in mrkdwn_texts(view["blocks"])]
            closed = row.task.model_copy(update={"status": "done", "closed_by": name[:32], "closed_at": now})
            for task in (row.task, closed, None):
                notice = task_modal.stale_view(checked_text(task_modal.stale_text(task, tz)))
                View(**notice).validate_json()
            checked_text(task_modal.outcome_label(name))
            assert task_modal.done_button(row.task)["action_id"] == "task.done"
            assert task_modal.is_overdue(row.task, now) in (True, False)

    def lists() -> None:
        for row in rows:
            checked_text(task_modal.task_line(row, now, tz))
        checked_blocks(task_modal.task_blocks(rows, now, tz))
        message = task_modal.my_tasks(rows, now, tz)
        checked_text(message.text)
        checked_blocks(message.blocks or [])
        checked_blocks(task_modal.home_section(rows, now, tz), b.VIEW_BLOCK_LIMIT)

    def submissions() -> None:
        for name in HOSTILE:
            values = {
                "task.done.outcome": {"task.done.outcome.pick": {"selected_option": {"value": name}}},
                "task.done.notes": {"task.done.notes.text": {"value": name * 300}},
                "task.done.next": {"task.done.next.text": {"value": name}},
                "task.done.next_on": {"task.done.next_on.date": {"selected_date": name}},
            }
            errors = task_modal.read_submission({"state": {"values": values}}, DAY)
            assert isinstance(errors, dict) and errors
            [checked_text(t) for t in errors.values()]

    table = dict.fromkeys(("done_modal", "stale_text", "stale_view", "outcome_label", "done_button", "is_overdue"),
                          views)  # fmt: skip
    return table | dict.fromkeys(("task_line", "task_blocks", "my_tasks", "home_section"), lists) | {
        "read_submission": submissions}  # fmt: skip


def exit_builders() -> dict[str, Any]:
    """Every public function of bot/exits/messages.py: the exit interview modal in every state, its notices, the
    summary for the churn channel and a stored interview with its history: hostile names, answers and notes."""
    from datetime import UTC, datetime

    from storage.models import ExitInterview, ExitInterviewRevision

    at = datetime(2026, 6, 30, 12, tzinfo=UTC)

    def interview(i: int, name: str) -> ExitInterview:
        return ExitInterview(id=i, account_id=i, churned=i % 2 == 0, reason=name[:32] if i % 3 else "competitor",
                             avoidable=i % 2 == 1, competitor=name[:255], churn_date=DAY if i % 2 else None,
                             mrr_lost=float(i) if i % 2 else None, interviewer=ME if i % 2 else name[:32],
                             recorded_by=ME if i % 2 else name[:32],
                             answers={"why_leave": name * 3, "come_back": name, name[:20]: name},
                             note=name[:3000], version=i, created_at=at, updated_at=at)  # fmt: skip

    def views() -> None:
        for i, name in enumerate(HOSTILE, start=1):
            account = _account(i, name)
            for shown_account, shown in ((account, None), (account, interview(i, name)), (None, None)):
                for opener in (ME, name[:32]):
                    view = exit_messages.exit_modal(shown_account, shown, opener, DAY, name)
                    View(**view).validate_json()
                    [checked_text(t) for t in mrkdwn_texts(checked_blocks(view["blocks"], b.VIEW_BLOCK_LIMIT))]
            for notice in (exit_messages.restricted_view(), exit_messages.notice(b.esc(name))):
                View(**notice).validate_json()
                [checked_text(t) for t in mrkdwn_texts(notice["blocks"])]
            checked_text(b.esc(exit_messages.reason_label(name)))

    def messages() -> None:
        for i, name in enumerate(HOSTILE, start=1):
            account, shown = _account(i, name), interview(i, name)
            history = [ExitInterviewRevision(id=v, interview_id=i, version=v, edited_by=name[:32] if v % 2 else ME,
                                             values={}, at=at) for v in range(1, 14)]  # fmt: skip
            for message in (exit_messages.summary(account, shown), exit_messages.shown(account, shown, history),
                            exit_messages.shown(account, shown, [])):  # fmt: skip
                checked_text(message.text)
                for block in message.blocks or []:
                    Block.parse(block).validate_json()  # type: ignore[union-attr]
                [checked_text(t) for t in mrkdwn_texts(checked_blocks(message.blocks or []))]

    def suggestions() -> None:
        for i, name in enumerate(HOSTILE, start=1):
            for coding in (Coding("price", "unsure", name[:300], note=name), Coding(name[:32], "yes", name, True)):
                for asking in (False, True):
                    view = exit_messages.suggestion(_account(i, name), interview(i, name), coding, asking)
                    View(**view).validate_json()
                    [checked_text(t) for t in mrkdwn_texts(checked_blocks(view["blocks"], b.VIEW_BLOCK_LIMIT))]

    table = dict.fromkeys(("exit_modal", "restricted_view", "notice", "reason_label"), views)
    return table | dict.fromkeys(("summary", "shown"), messages) | {"suggestion": suggestions}


def public_functions(module: Any) -> set[str]:
    return {
        name for name, f in inspect.getmembers(module, inspect.isfunction)
        if f.__module__ == module.__name__ and not name.startswith("_")
    }  # fmt: skip


@pytest.mark.parametrize(
    ("module", "builders"),
    [
        (health_messages, health_builders),
        (home_messages, home_builders),
        (alert_messages, alert_builders),
        (task_modal, task_builders),
        (health_override, override_builders),
        (plays, plays_builders),
        (churn_messages, churn_builders),
        (exit_messages, exit_builders),
    ],
    ids=["health", "home", "alerts", "task_modal", "override", "plays", "churn", "exits"],
)
def test_every_builder_shows_hostile_names_as_text(module: Any, builders: Any) -> None:
    table = builders()
    assert set(table) == public_functions(module)  # a new builder must join this test
    for run in table.values():
        run()


def test_help_and_parser_problems_show_their_input_as_text() -> None:
    checked_text(help_text(TIERS))
    for sub in SUBCOMMANDS:
        checked_text(usage(sub))
    for name in HOSTILE:
        for text in (f"top 3 {name}", f"hepl {name}", f"me {name}", f"topp {name}"):
            parsed = parse(text, TIERS)
            assert isinstance(parsed, Find)
            checked_text(parsed.problem or "")


def test_message_text_is_clipped_to_slacks_limit_without_cutting_an_entity() -> None:
    assert len(b.Message("x" * 50_000).text) == b.TEXT_LIMIT
    text = b.Message("x" * (b.TEXT_LIMIT - 3) + "&amp;" * 10).text
    assert len(text) <= b.TEXT_LIMIT and text.endswith("x…")
    section = b.section(b.esc("<" * 2_000))["text"]["text"]
    assert section.endswith("&lt;…") and len(section) <= b.SECTION_TEXT_LIMIT
    assert b.section("a <@U01CSM0001> " * 300)["text"]["text"].endswith(" …")  # a mention is kept whole or left out


def test_search_refuses_what_no_name_can_match(engine: Engine) -> None:
    from sqlmodel import Session

    from storage import accounts as account_store

    add_accounts(engine, ["Acme Corp"])
    with Session(engine) as session:
        assert account_store.find_accounts(session, "acme\x00") == []
        assert account_store.find_accounts(session, "a%" * 25_000) == []
        assert [a.name for a in account_store.find_accounts(session, "acme")] == ["Acme Corp"]
