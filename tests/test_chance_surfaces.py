"""The chance to churn on the per-account surfaces, end to end: signed requests to the real HTTP endpoint (the card,
`/health top`, `/health top by-mrr`, App Home) and the alert root drawn from the database, on the seeded demo with a
hand-made fit stored, so every number is checked by hand from its bands."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
from slack_sdk.models.blocks import Block
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.alerts import messages as alert_messages
from bot.alerts import threads
from bot.assistant.answers import answer_text
from bot.assistant.brief import brief
from bot.health.lookup import AccountNames
from bot.scoring import chance_fit
from bot.scoring.chance import Band, ChanceFit, ChanceMap, scorecard_key
from bot.scoring.scorecard import load_scorecard
from bot.slack import expected_loss
from bot.slack.blocks import money
from bot.slack.chance import Chances
from storage import alerts as alert_store
from storage import scores as score_store
from storage.db import session_factory, unit_of_work
from storage.models import Account, Alert, HealthScore, utcnow
from tests import snapshot
from tests.conftest import DEMO_END, BotServer
from tests.test_e2e_home import home_opened, published, texts

ME = "U01CSM0001"
TIERS = load_scorecard().tiers

# Hand-made bands: 30 of 100 cases under 40 churned (30 %), 20 of 200 from 40 to 59 (10 %), 4 of 400 above (1 %).
BANDS = ChanceMap((Band(0, 39, 100, 30), Band(40, 59, 200, 20), Band(60, 100, 400, 4)))
SNAPSHOTS = [date(2026, 3, 16), date(2026, 3, 2)]
FIT = ChanceFit(
    as_of=DEMO_END,
    horizon=90,
    scorecard_key=scorecard_key(load_scorecard()),  # the card the bot serves with
    snapshots=SNAPSHOTS,
    cases=700,
    churned_cases=54,
    accounts=350,
    churned_accounts=20,
    pooled=BANDS,
)
# Too little churn history: 3 churned accounts in 80 cases (a chance needs 10 and 100).
TOO_LITTLE = replace(FIT, cases=80, churned_cases=3, accounts=80, churned_accounts=3, pooled=None)
FITTED = "fitted on 2 snapshots from 2026-03-02 to 2026-03-16 (700 cases, 20 churned accounts); fit of 2026-06-30"
WHY_TOO_LITTLE = (
    "no chance to churn yet: 3 churned accounts in 80 past cases, and a chance needs at least 10 churned accounts"
    " and 100 cases"
)
REFITTING = (
    "no chance to churn until the next daily score run: the scorecard changed since the fit of 2026-06-30, and that"
    " run refits it for the new card"
)
NO_FIT = "appears after the first daily score run (`healthbot score`)"


def hand_chance(score: float) -> float:
    whole = math.floor(score)
    return 0.30 if whole <= 39 else 0.10 if whole <= 59 else 0.01


def store(engine: Engine, fit: ChanceFit) -> None:
    chance_fit.save(engine, replace(fit))


def validate(blocks: list[dict]) -> None:
    assert len(blocks) <= 50
    for b in blocks:
        Block.parse(b).validate_json()


def ack(server: BotServer, text: str, user_id: str = ME) -> dict:
    resp = server.command(text, user_id=user_id)
    assert resp.status_code == 200
    body = resp.json()
    assert body["response_type"] == "ephemeral"
    validate(body.get("blocks") or [])
    return body


def block_texts(blocks: list[dict]) -> str:
    out = []
    for b in blocks:
        if isinstance(b.get("text"), dict):
            out.append(b["text"]["text"])
        out += [e["text"] for e in b.get("elements", []) if isinstance(e.get("text"), str)]
    return "\n".join(out)


def open_ids(blocks: list[dict]) -> list[int]:
    return [
        json.loads(b["accessory"]["value"])["account_id"]
        for b in blocks
        if b.get("accessory", {}).get("action_id") == "health.open"
    ]


def scored_accounts(engine: Engine, n: int) -> list[tuple[Account, HealthScore]]:
    with Session(engine) as s:
        rows = s.exec(
            select(Account, HealthScore)
            .join(HealthScore, col(HealthScore.account_id) == Account.id)
            .where(HealthScore.day == DEMO_END, Account.status != "churned", col(Account.churned_on).is_(None))
            .order_by(col(Account.id))
        ).all()
    return [(a, h) for a, h in rows][:n]


def set_score(engine: Engine, account_id: int, value: float) -> None:
    with Session(engine) as s:
        row = s.exec(select(HealthScore).where(HealthScore.account_id == account_id, HealthScore.day == DEMO_END)).one()
        row.score = value
        s.add(row)
        s.commit()


def test_card_shows_the_chance_of_its_band_where_it_comes_from_and_the_fit(seeded, bot_server: BotServer) -> None:
    store(seeded, FIT)
    picks = scored_accounts(seeded, 3)
    for (account, _), value in zip(picks, (12.0, 45.3, 80.0), strict=True):
        set_score(seeded, account.id or 0, value)
    expected = [
        ("30 %", "of 100 past cases with scores 0-39, 30 churned within 90 days"),  # 30 / 100
        ("10 %", "of 200 past cases with scores 40-59, 20 churned within 90 days"),  # 20 / 200
        ("1 %", "of 400 past cases with scores 60-100, 4 churned within 90 days"),  # 4 / 400
    ]
    for (account, _), (percent, source) in zip(picks, expected, strict=True):
        blocks = ack(bot_server, account.external_id)["blocks"]
        title = blocks[0]["text"]["text"]
        assert f"*Chance to churn in the next 90 days: {percent}*\n_{source}_" in title
        footer = [b for b in blocks if b["type"] == "context"][-1]["elements"][0]["text"]
        assert f"Chance to churn: {FITTED}" in footer


def test_a_card_with_bands_of_its_own_names_them(seeded, bot_server: BotServer) -> None:
    (account, score), *_ = scored_accounts(seeded, 1)
    own = ChanceMap((Band(0, 49, 50, 25), Band(50, 100, 60, 3)))  # 25 / 50: 50 %
    store(seeded, replace(FIT, cards={score.scorecard: own}))
    set_score(seeded, account.id or 0, 45.3)
    title = ack(bot_server, account.external_id)["blocks"][0]["text"]["text"]
    assert "*Chance to churn in the next 90 days: 50 %*" in title
    assert f"_of 50 past `{score.scorecard}` cases with scores 0-49, 25 churned within 90 days_" in title


def test_too_little_churn_history_says_so_instead_of_a_number(seeded, bot_server: BotServer) -> None:
    store(seeded, TOO_LITTLE)
    (account, _), *_ = scored_accounts(seeded, 1)
    card = ack(bot_server, account.external_id)["blocks"]
    assert f"*Chance to churn in the next 90 days*: {WHY_TOO_LITTLE}" in card[0]["text"]["text"]
    assert "90 days: " not in block_texts(card) and "fitted on" not in block_texts(card)  # no number, no fit
    top = ack(bot_server, "top 5")["blocks"]
    assert block_texts(top).count(WHY_TOO_LITTLE) == 1  # once, above the rows
    assert "chance " not in "\n".join(b["text"]["text"] for b in top[1:] if "accessory" in b)
    by_mrr = ack(bot_server, "top by-mrr")
    assert "blocks" not in by_mrr or not by_mrr["blocks"]
    assert by_mrr["text"].startswith("`/health top by-mrr` ranks accounts by expected MRR loss")
    assert WHY_TOO_LITTLE in by_mrr["text"] and "`/health top` ranks them by score" in by_mrr["text"]


def test_before_any_fit_the_surfaces_say_when_the_chance_appears(seeded, bot_server: BotServer) -> None:
    (account, _), *_ = scored_accounts(seeded, 1)
    assert NO_FIT in ack(bot_server, account.external_id)["blocks"][0]["text"]["text"]
    assert NO_FIT in block_texts(ack(bot_server, "top")["blocks"])
    by_mrr = ack(bot_server, "top by-mrr 5")
    assert by_mrr["text"].startswith("`/health top by-mrr` ranks") and NO_FIT in by_mrr["text"]
    assert home_opened(bot_server, "EvNoFit").status_code == 200
    assert NO_FIT in texts(published(bot_server)[0]["view"])


def test_a_fit_for_another_card_shows_no_chance_until_the_next_score_run(seeded, bot_server: BotServer) -> None:
    """SCORECARD_PATH edited since the fit: its bands belong to the old card, so no surface reads a number from them
    (the daily score run refits for the new card)."""
    store(seeded, replace(FIT, scorecard_key="the card before an edit"))
    (account, _), *_ = scored_accounts(seeded, 1)
    set_score(seeded, account.id or 0, 12.0)  # 30 % with the old card's bands
    card = ack(bot_server, account.external_id)["blocks"]
    assert f"*Chance to churn in the next 90 days*: {REFITTING}" in card[0]["text"]["text"]
    assert "30 %" not in block_texts(card) and "fitted on" not in block_texts(card)
    top = ack(bot_server, "top 5")["blocks"]
    assert block_texts(top).count(REFITTING) == 1 and "  ·  chance " not in block_texts(top)
    by_mrr = ack(bot_server, "top by-mrr")
    assert by_mrr["text"].startswith("`/health top by-mrr` ranks") and REFITTING in by_mrr["text"]
    assert home_opened(bot_server, "EvOtherCard").status_code == 200
    home = texts(published(bot_server)[0]["view"])
    assert REFITTING in home and "  ·  chance " not in home and "*Expected MRR loss* in the next" not in home
    with unit_of_work(session_factory(seeded)) as s:
        lines = expected_loss.lines(expected_loss.read(s, load_scorecard()).expected(TIERS), TIERS.label)
    assert lines == [f"*Expected MRR loss in the next 90 days*: not shown, {REFITTING}."]
    with unit_of_work(session_factory(seeded)) as s:  # Ask healthbot: its card, its at-risk list, Brief me
        asked = [
            answer_text(s, q, ME, load_scorecard(), date.today(), AccountNames(), ZoneInfo("UTC")).text
            for q in (f"how is {account.name}?", "who is at risk?")
        ]
        briefed = brief(s, account.id or 0, load_scorecard(), date.today(), ZoneInfo("UTC"))
    assert briefed is not None
    for text in [*asked, briefed.text]:
        assert "30 %" not in text and "chance 30" not in text, text


def test_an_override_changes_the_tier_shown_not_the_chance(seeded, bot_server: BotServer) -> None:
    store(seeded, FIT)
    (account, score), *_ = scored_accounts(seeded, 1)
    set_score(seeded, account.id or 0, 45.3)
    before = ack(bot_server, account.external_id)["blocks"][0]["text"]["text"]
    line = "*Chance to churn in the next 90 days: 10 %*"
    assert line in before and "Tier:" not in before
    today = date.today()  # the server's
    with unit_of_work(session_factory(seeded)) as s:
        score_store.set_override(
            s, account.id or 0, tier="healthy", reason="Renewal signed", set_by=ME, expires_on=today + timedelta(30)
        )
    after = ack(bot_server, account.external_id)["blocks"][0]["text"]["text"]
    assert line in after  # the chance is the score's
    scored = TIERS.label(score.tier)
    assert f"Tier: :large_green_circle: *Healthy* (set by <@{ME}>)  ·  scored {scored}  ·  chance 10 %" in after

    # the alert root shows both too
    with unit_of_work(session_factory(seeded)) as s:
        alert = alert_store.create(
            s,
            Alert(
                account_id=account.id or 0,
                severity="high_risk",
                opened_on=DEMO_END,
                last_fired_on=DEMO_END,
                channel="C0ALERTS01",
                due_at=utcnow(),
            ),  # fmt: skip
            {},
        )
        view = threads.load_view(s, alert.id or 0, today)
        assert view is not None
        root = alert_messages.root(view, TIERS, ZoneInfo("UTC"))
    validate(root.blocks or [])
    title = (root.blocks or [])[0]["text"]["text"]
    assert line in title and "_of 200 past cases with scores 40-59, 20 churned within 90 days_" in title
    assert f"*Healthy* (set by <@{ME}>)  ·  scored {scored}  ·  chance 10 %" in title


def test_top_by_mrr_ranks_by_expected_loss_and_top_gains_the_chance(seeded, bot_server: BotServer) -> None:
    store(seeded, FIT)
    with Session(seeded) as s:
        rows = s.exec(
            select(Account, HealthScore)
            .join(HealthScore, col(HealthScore.account_id) == Account.id)
            .where(HealthScore.day == DEMO_END, Account.status != "churned")
        ).all()
    by_hand = sorted(
        ((hand_chance(h.score) * (a.mrr or 0.0), hand_chance(h.score), a.name, a.id or 0) for a, h in rows),
        key=lambda r: (-r[0], -r[1], r[2], r[3]),
    )
    body = ack(bot_server, "top by-mrr 7")
    blocks = body["blocks"]
    assert open_ids(blocks) == [r[3] for r in by_hand[:7]]
    assert [r[0] for r in by_hand[:7]] == sorted((r[0] for r in by_hand[:7]), reverse=True)
    row_texts = [b["text"]["text"] for b in blocks if "accessory" in b]
    for (loss, p, _, _), text in zip(by_hand, row_texts, strict=False):
        assert text.endswith(f"  ·  chance {p:.0%}".replace("%", " %") + f"  ·  expected loss *{money(loss)}*")
    listed = sum(r[0] for r in by_hand[:7])
    assert f"these 7: *{money(listed)}*" in blocks[0]["text"]["text"]
    assert f"*Expected MRR loss* of all {len(rows)} customers: {money(sum(r[0] for r in by_hand))}" in body["text"]
    assert FITTED in block_texts(blocks)

    # `/health top` (by score) gains the chance per row
    top = ack(bot_server, "top 5")["blocks"]
    by_score = {a.id: h.score for a, h in rows}
    for block in (b for b in top if "accessory" in b):
        account_id = json.loads(block["accessory"]["value"])["account_id"]
        percent = f"{hand_chance(by_score[account_id]):.0%}".replace("%", " %")
        assert block["text"]["text"].endswith(f"  ·  chance {percent}")


def test_home_shows_my_and_the_portfolios_expected_loss(seeded, bot_server: BotServer) -> None:
    store(seeded, FIT)
    with Session(seeded) as s:
        rows = s.exec(
            select(Account, HealthScore)
            .join(HealthScore, col(HealthScore.account_id) == Account.id)
            .where(HealthScore.day == DEMO_END, Account.status != "churned")
        ).all()
    mine = [(a, h) for a, h in rows if a.owner_slack_id == ME]
    assert mine
    loss = sum(hand_chance(h.score) * (a.mrr or 0.0) for a, h in mine)
    team = sum(hand_chance(h.score) * (a.mrr or 0.0) for a, h in rows)
    assert home_opened(bot_server, "EvLoss").status_code == 200
    text = texts(published(bot_server)[0]["view"])
    mrr = sum(a.mrr or 0.0 for a, _ in mine)
    assert f"*Expected MRR loss* in the next 90 days, yours: {money(loss)} of {money(mrr)} MRR" in text
    assert f"*Expected MRR loss* in the next 90 days: {money(team)} of " in text
    assert "  ·  chance " in text


@pytest.mark.parametrize("name", ["<!channel> *Acme* & <@U0EVIL|boss>", "`code` <https://evil.example|click> ~x~"])
def test_hostile_account_names_stay_text_beside_the_chance(seeded, bot_server: BotServer, name: str) -> None:
    store(seeded, FIT)
    (account, _), *_ = scored_accounts(seeded, 1)
    with Session(seeded) as s:
        row = s.get(Account, account.id)
        assert row is not None
        row.name, row.name_lower, row.mrr = name, name.lower(), 10_000_000.0  # first by expected loss
        s.add(row)
        s.commit()
    set_score(seeded, account.id or 0, 12.0)
    card = ack(bot_server, account.external_id)
    by_mrr = ack(bot_server, "top by-mrr 3")
    for body in (card, by_mrr):
        shown = block_texts(body["blocks"]) + body["text"]
        assert "<!channel>" not in shown and "<@U0EVIL" not in shown and "<https://evil" not in shown
    assert "&lt;!channel&gt;" in card["blocks"][0]["text"]["text"] or "&lt;https" in card["blocks"][0]["text"]["text"]
    assert open_ids(by_mrr["blocks"])[0] == account.id
    assert "expected loss *$3,000,000*" in by_mrr["blocks"][1]["text"]["text"]  # 30 % of $10,000,000


# --- whole payloads (snapshots): the card with its chance beside an override, `/health top by-mrr` -------------


def test_card_snapshot_with_a_chance_beside_an_override() -> None:
    from bot.health import messages
    from storage.models import HealthOverride
    from tests.test_cards import ACCOUNT, SCORE, SCORECARD, SERIES

    override = HealthOverride(id=1, account_id=42, tier="high_risk", reason="Champion left <@U0X>", set_by="U01LEAD001",
                              expires_on=date(2026, 7, 31))  # fmt: skip
    card = messages.CardData(ACCOUNT, SCORE, SERIES, override, Chances(FIT))  # 47.4: band 40-59, 20 / 200 = 10 %
    blocks = messages.account_card(card, SCORECARD, DEMO_END)
    validate(blocks)
    snapshot.matches("card_with_chance_and_override", {"text": messages.card_text(card, TIERS), "blocks": blocks})


def test_top_by_mrr_snapshot() -> None:
    from bot.health import messages
    from bot.health.values import ListPage
    from storage.scores import AccountRow

    rows = [
        AccountRow(7, "<!here> Delta & Co", "U01CSM0001", 49_854.0, date(2026, 9, 1), 27.2, "high_risk", -2.0),
        AccountRow(8, "Quarry Analytics", None, 61_000.0, None, 48.0, "medium_risk", None, "default"),
    ]
    losses = {7: 0.30 * 49_854.0, 8: 0.10 * 61_000.0}  # 30 % and 10 % of the hand-made bands
    page = messages.Page(rows, 0, 10, False)
    value = ListPage(kind="top", limit=2, by_mrr=True)
    sums = messages.LossTotals(2, sum(losses.values()), 110_854.0, 40, 25_000.0, 400_000.0)
    blocks = messages.loss_list(DEMO_END, page, value, TIERS, Chances(FIT), losses, sums)
    validate(blocks)
    assert (
        "expected loss *$14,956*" in blocks[1]["text"]["text"] and "expected loss *$6,100*" in blocks[2]["text"]["text"]
    )
    snapshot.matches("top_by_mrr", blocks)


def test_top_by_mrr_pages_keep_the_ranking(seeded, bot_server: BotServer) -> None:
    store(seeded, FIT)
    body = ack(bot_server, "top by-mrr 15")
    first = open_ids(body["blocks"])
    assert len(first) == 10 and body["blocks"][-2]["elements"][0]["text"].startswith("1–10 of 15   Chance to churn: ")
    more = next(e for b in body["blocks"] if b["type"] == "actions" for e in b["elements"])
    assert json.loads(more["value"])["by_mrr"] is True
    bot_server.action("health.list.next", more["value"])
    second = bot_server.fake.wait_for("response_url")[0].params
    validate(second["blocks"])
    assert second["text"].startswith("*The team's 15 largest expected MRR losses*")
    rest = open_ids(second["blocks"])
    assert len(rest) == 5 and not set(rest) & set(first)
    assert first == open_ids(ack(bot_server, "top by-mrr 100")["blocks"])  # the same order, whatever N
