"""One number, one meaning: the same account reads the same score, the same change, the same held tier and the
same MRR at risk on every surface (card, /health top, App Home, digest, alert thread, alert reasons, the demo's
alert printout). Real database; the builders' payloads are validated with slack_sdk.models."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from slack_sdk.models.blocks import Block
from sqlalchemy import Engine
from sqlmodel import Session

from bot.alerts import messages as alert_messages
from bot.alerts.rules import load_rules
from bot.alerts.signals import evaluate
from bot.demo.run import render_blocks
from bot.digest import messages as digest_messages
from bot.digest import service as digest_service
from bot.health import service
from bot.health.command import Top
from bot.health.lookup import AccountNames
from bot.home.service import home
from bot.home.values import HomePages
from bot.scoring.explain import at_risk_tiers, held_note, score_change, score_text
from bot.scoring.scorecard import Scorecard, load_scorecard
from storage.models import Account, Alert, HealthScore

SCORECARD = load_scorecard()  # High risk 0-39, Medium risk 40-59, Low risk 60-79, Healthy 80+; hysteresis 3
D = date(2026, 6, 30)
UTC_ZONE = ZoneInfo("UTC")
ME, OTHER = "U01CSM0001", "U01CSM0002"
# (id, name, owner, MRR, [(days before D, score, tier)]); Initech fell from Low risk: 39.6 alone is High risk,
# hysteresis holds it in Medium risk until it falls below 37. Umbrella rose to 82.4: held in Low risk until 83.
PORTFOLIO = [
    (1, "Initech", ME, 10000.0, [(7, 70.0, "low_risk"), (1, 61.0, "low_risk"), (0, 39.6, "medium_risk")]),
    (2, "Hooli", OTHER, 20000.0, [(7, 20.0, "high_risk"), (1, 21.0, "high_risk"), (0, 20.0, "high_risk")]),
    (3, "Globex", OTHER, 5000.0, [(7, 90.0, "healthy"), (1, 90.0, "healthy"), (0, 90.0, "healthy")]),
    (4, "Umbrella", ME, 3000.0, [(7, 78.0, "low_risk"), (1, 78.0, "low_risk"), (0, 82.4, "low_risk")]),
    (5, "Stark", OTHER, 7000.0, [(7, 50.0, "medium_risk"), (1, 50.0, "medium_risk"), (0, 50.0, "medium_risk")]),
]
AT_RISK = "*MRR at risk* (Medium risk or High risk): $37,000 in 3 accounts"  # Initech, Hooli, Stark
RULES = """
[[rules]]
name = "tier_dropped"
kind = "tier_dropped"
severity = "medium_risk"

[[rules]]
name = "low_score"
kind = "score_below"
severity = "high_risk"
below = 40
days = 1
"""


@pytest.fixture
def portfolio(engine: Engine) -> Engine:
    with Session(engine) as s:
        for account_id, name, owner, mrr, _ in PORTFOLIO:
            s.add(Account(id=account_id, external_id=f"ACC-{account_id}", name=name, name_lower=name.lower(),
                          owner_slack_id=owner, mrr=mrr, status="active", segment="smb"))  # fmt: skip
        s.flush()
        for account_id, _, _, _, scores in PORTFOLIO:
            week_ago = scores[0][1]
            for back, score, tier in scores:
                s.add(HealthScore(account_id=account_id, day=D - timedelta(days=back), score=score, tier=tier,
                                  delta_7=score - week_ago if back == 0 else None))  # fmt: skip
        s.commit()
    return engine


def texts(payload: Any) -> str:
    """Every text of a payload (blocks, a view), one per line."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("text"), str):
                out.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(payload)
    return "\n".join(out)


def valid(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for block in blocks:
        Block.parse(block).validate_json()  # type: ignore[union-attr]
    return blocks


def line_of(name: str, text: str) -> str:
    lines = [line for line in text.splitlines() if name in line]
    assert len(lines) == 1, (name, text)
    return lines[0]


def test_one_rounding_rule_for_scores_and_changes() -> None:
    """A score reads as its whole number rounded down (cutoffs are whole numbers: 39.6 is High risk, never "40");
    a change is the difference of the scores as they read, so "39 (-31 in 7 days)" sits beside a 70 a week ago."""
    assert [score_text(x) for x in (39.6, 49.6, 1.5, 0.0, 100.0, 59.99999999999)] == ["39", "49", "1", "0", "100", "60"]
    assert score_change(39.6, -30.4) == "-31"  # 70 then, 39 now
    assert score_change(47.4, -6.2) == "-6"
    assert score_change(50.2, 0.3) == "+1"  # 49.9 read "49" then
    assert score_change(50.2, 0.1) == "±0" and score_change(50.0, None) == "–"


def test_held_note_is_one_wording() -> None:
    tiers = SCORECARD.tiers
    assert held_note(39.6, "medium_risk", tiers) == "held: within 3 points under 40"
    assert held_note(82.4, "low_risk", tiers) == "held: needs 83 to move up"
    assert held_note(50.0, "medium_risk", tiers) is None  # the score gives this tier
    assert held_note(50.0, "high_risk", tiers) is None  # more than hysteresis explains: stored under other cutoffs


def test_mrr_at_risk_is_the_two_riskiest_tiers_never_the_healthiest() -> None:
    assert at_risk_tiers(SCORECARD.tiers) == ["medium_risk", "high_risk"]
    two = SCORECARD.tiers.model_copy(update={"order": ["healthy", "at_risk"], "labels": {},
                                             "cutoffs": {"healthy": 50, "at_risk": 0}})  # fmt: skip
    assert at_risk_tiers(two) == ["at_risk"]


def _top(engine: Engine, text: str, scorecard: Scorecard = SCORECARD) -> str:
    from bot.health.command import parse

    command = parse(text, scorecard.tiers)
    assert isinstance(command, Top)
    with Session(engine) as s:
        message = service.answer(s, command, ME, scorecard, D, AccountNames())
    assert message.blocks is not None
    return texts(valid(message.blocks))


def _home(engine: Engine) -> str:
    with Session(engine) as s:
        return texts(home(s, ME, HomePages(), SCORECARD, D))


def _digest(engine: Engine, dm: bool = False) -> str:
    now = datetime.combine(D + timedelta(days=1), time(9, 0), tzinfo=UTC)
    with Session(engine) as s:
        week = digest_service.gather(s, SCORECARD, now, UTC_ZONE)
    audience = digest_service.Audience("k", ME, user=ME) if dm else None
    stats = digest_service.stats(week, SCORECARD.tiers, audience, UTC_ZONE)
    message = digest_messages.digest_message(stats, SCORECARD.tiers, dm=dm)
    assert message.blocks is not None
    return texts(valid(message.blocks))


def test_mrr_at_risk_is_one_figure_on_every_surface_and_a_list_shows_its_own_total(portfolio: Engine) -> None:
    top = _top(portfolio, "top 2")
    assert AT_RISK in top
    assert "*The team's 2 riskiest accounts*  ·  these 2: *$30,000* MRR  ·  scores of 2026-06-30" in top
    medium = _top(portfolio, "top 5 medium")
    assert AT_RISK in medium
    assert "*The team's 2 riskiest accounts in Medium risk*  ·  these 2: *$17,000* MRR" in medium
    red = _top(portfolio, "top 5 red")
    assert AT_RISK in red and "*The team's riskiest account in High risk*  ·  *$20,000* MRR" in red
    assert AT_RISK in _home(portfolio)
    assert "*MRR at risk* (Medium risk or High risk), yours: $10,000 in 1 account" in _home(portfolio)
    assert AT_RISK + ", +$10,000 vs a week ago" in _digest(portfolio)  # Hooli and Stark a week ago
    assert "*MRR at risk* (Medium risk or High risk): $10,000 in 1 account, +$10,000 vs a week ago" in _digest(
        portfolio, dm=True
    )


def test_the_same_account_reads_the_same_score_and_held_tier_on_every_surface(
    portfolio: Engine,
    tmp_path: Path,
) -> None:
    held = "Medium risk (held: within 3 points under 40)"
    with Session(portfolio) as s:
        card = service.card(s, 1, SCORECARD, D)
    assert card.blocks is not None
    card_text = texts(valid(card.blocks))
    assert line_of("Initech", card_text) == f":large_orange_circle: *Initech*  ·  *39* / 100  ·  {held}"
    assert "7 days *-31*" in card_text
    assert card.text == "Initech: 39 (Medium risk, held: within 3 points under 40), 7-day change -31"

    row = f"*Initech*  *39* (-31 in 7 days)  ·  {held}  ·  $10,000 MRR"
    assert row in line_of("Initech", _top(portfolio, "top"))
    assert row in line_of("Initech", _home(portfolio).split("Moved most")[0])
    assert line_of("Initech: Low risk →", _digest(portfolio)) == f"• Initech: Low risk → {held}, score 39"
    umbrella = "*Umbrella*  *82* (+4 in 7 days)  ·  Low risk (held: needs 83 to move up)"
    assert umbrella in line_of("Umbrella", _top(portfolio, "top 5 low"))

    rules_path = tmp_path / "rules.toml"
    rules_path.write_text(RULES, encoding="utf-8")
    rules = load_rules(rules_path, SCORECARD)
    with portfolio.connect() as conn:
        words = {f.rule: f.words for f in evaluate(conn, rules, SCORECARD, D) if f.account_id == 1}
    assert words == {
        "tier_dropped": "tier dropped from Low risk to Medium risk (score 39 that day)",
        "low_score": "score below 40 for 1 day (score 39 that day)",
    }
    with Session(portfolio) as s:
        account, score = s.get(Account, 1), s.get(HealthScore, (1, D))
    assert account is not None and score is not None
    firings = {rule: {"words": w, "severity": "medium_risk", "since": "2026-06-30"} for rule, w in words.items()}
    alert = Alert(id=7, account_id=1, severity="medium_risk", opened_on=D, last_fired_on=D, channel="C0ALERTS01",
                  firings=firings, due_at=datetime(2026, 6, 30, 16, tzinfo=UTC))  # fmt: skip
    root = alert_messages.root(alert_messages.AlertView(alert, account, score), SCORECARD.tiers, UTC_ZONE)
    assert root.blocks is not None
    title = texts(valid(root.blocks)).splitlines()[0]
    assert title == f":large_orange_circle: *Risk alert:* *Initech*  ·  *{held}*  ·  score *39* (-31 in 7 days)"
    assert root.text == f":large_orange_circle: Risk alert: Initech is {held} (score 39, -31 in 7 days)"
    printed = render_blocks(root.blocks)  # the demo's printout of an alert thread
    assert "score 39 (-31 in 7 days)" in printed and printed.count("(score 39 that day)") == 2
    everything = json.dumps([card_text, _top(portfolio, "top"), _home(portfolio), _digest(portfolio), printed])
    assert not re.search(r"\b40\b", everything.replace("below 40", "").replace("under 40", ""))  # 39.6 never reads "40"


def test_a_card_names_the_scorecard_file_it_was_scored_with(portfolio: Engine, tmp_path: Path) -> None:
    with Session(portfolio) as s:
        built_in = service.card(s, 3, SCORECARD, D)
    assert built_in.blocks is not None
    assert "Scored 2026-06-30 with the built-in default scorecard, its *default* card" in texts(built_in.blocks)
    own = tmp_path / "scorecard.toml"
    own.write_text(Path("bot/scoring/default_scorecard.toml").read_text(encoding="utf-8"), encoding="utf-8")
    with Session(portfolio) as s:
        theirs = service.card(s, 3, load_scorecard(own), D)
    assert theirs.blocks is not None
    assert "Scored 2026-06-30 with `scorecard.toml`, its *default* card" in texts(theirs.blocks)
    gone = SCORECARD.model_copy(update={"cards": {"onboarding": SCORECARD.cards["onboarding"]}})
    with Session(portfolio) as s:
        old = service.card(s, 3, gone, D)
    assert old.blocks is not None
    assert "Scored 2026-06-30 with a *default* card, no longer in the built-in default scorecard" in texts(old.blocks)
