"""Tiers with hysteresis: the same tiers however the days were scored, and cards that say why a tier holds."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from bot.demo.run import write_demo_csvs
from bot.health import messages
from bot.scoring.importer import import_accounts, import_metrics
from bot.scoring.run import score_range
from bot.scoring.scorecard import Scorecard, load_scorecard
from bot.slack.blocks import tier_of
from storage.models import Account, HealthScore

END = date(2026, 6, 30)
SCORECARD = load_scorecard()  # tiers: High risk 0-39, Medium risk 40-59, ...; hysteresis 3 points
ACCOUNT = Account(id=7, external_id="ACC-7", name="Initech", status="active")


def title_and_text(score: float, tier: str, scorecard: Scorecard = SCORECARD) -> tuple[str, str]:
    """The card's first section and its plain-text fallback."""
    stored = HealthScore(account_id=7, day=END, score=score, tier=tier, delta_7=2.0)
    card = messages.CardData(ACCOUNT, stored, [], None)
    return messages.account_card(card, scorecard, END)[0]["text"]["text"], messages.card_text(card, scorecard.tiers)


@pytest.mark.parametrize(
    ("score", "tier", "title", "text"),
    [
        (40.0, "high_risk",
         ":red_circle: *Initech*  ·  *40* / 100  ·  High risk (held: needs 43 to move up)\n"
         "_A tier changes only once the score is 3 points past a cutoff._",
         "Initech: 40 (High risk, held: needs 43 to move up), 7-day change +2"),
        (39.5, "medium_risk",
         ":large_orange_circle: *Initech*  ·  *39* / 100  ·  Medium risk (held: within 3 points under 40)\n"
         "_A tier changes only once the score is 3 points past a cutoff._",
         "Initech: 39 (Medium risk, held: within 3 points under 40), 7-day change +2"),
        (79.9, "healthy",
         ":large_green_circle: *Initech*  ·  *79* / 100  ·  Healthy (held: within 3 points under 80)\n"
         "_A tier changes only once the score is 3 points past a cutoff._",
         "Initech: 79 (Healthy, held: within 3 points under 80), 7-day change +2"),
    ],
)  # fmt: skip
def test_a_tier_held_by_hysteresis_says_until_when(score: float, tier: str, title: str, text: str) -> None:
    assert title_and_text(score, tier) == (title, text)


@pytest.mark.parametrize(("score", "tier"), [(40.0, "medium_risk"), (39.9, "high_risk"), (85.0, "healthy")])
def test_a_tier_the_score_gives_needs_no_note(score: float, tier: str) -> None:
    label = SCORECARD.tiers.label(tier)
    emoji = {"medium_risk": ":large_orange_circle:", "high_risk": ":red_circle:", "healthy": ":large_green_circle:"}
    assert title_and_text(score, tier) == (
        f"{emoji[tier]} *Initech*  ·  *{int(score)}* / 100  ·  {label}",
        f"Initech: {int(score)} ({label}), 7-day change +2",
    )


def test_a_tier_past_the_hysteresis_band_is_not_explained_as_held() -> None:
    """A tier stored under other cutoffs (the scorecard changed since) is shown as stored, with no false reason."""
    title, text = title_and_text(50.0, "high_risk")
    assert title == ":red_circle: *Initech*  ·  *50* / 100  ·  High risk"
    assert text == "Initech: 50 (High risk), 7-day change +2"


def score_rows(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT account_id, day, tier, score FROM health_score ORDER BY day, account_id"))
        return [(r[0], str(r[1]), r[2], r[3]) for r in rows]


def test_a_backfill_gives_the_tiers_of_scoring_day_by_day_on_a_fresh_database(engine: Engine, tmp_path: Path) -> None:
    """The tier of day D depends only on the data and the stored tiers of D-1 (none: the raw tier),
    however the days were scored and whatever was stored for them before."""
    accounts_csv, metrics_csv, _ = write_demo_csvs(tmp_path, 40, 150, END)
    import_accounts(engine, accounts_csv, quiet=True)
    import_metrics(engine, metrics_csv, quiet=True)
    card = load_scorecard()
    days = [END - timedelta(days=59 - i) for i in range(60)]

    def fresh() -> None:
        with engine.begin() as conn:  # the same data, no scores: a fresh database
            conn.execute(text("DELETE FROM health_score"))

    score_range(engine, card, days[0], days[-1])
    backfilled = score_rows(engine)
    fresh()
    for day in days:
        score_range(engine, card, day, day)
    day_by_day = score_rows(engine)
    # stale scores inside the range (other tiers, no hysteresis) are rescored, not read
    no_hysteresis = card.model_copy(update={"tiers": card.tiers.model_copy(update={"hysteresis": 0.0})})
    score_range(engine, no_hysteresis, days[0], days[-1])
    score_range(engine, card, days[0], days[-1])
    rescored = score_rows(engine)
    fresh()
    score_range(engine, card, days[0], days[29])  # one backfill in two runs
    score_range(engine, card, days[30], days[-1])
    in_two = score_rows(engine)

    assert len({r[1] for r in backfilled}) == 60
    held = [r for r in backfilled if r[2] != tier_of(r[3], card.tiers)]
    assert len(held) > 10  # hysteresis is at work in this data
    assert day_by_day == backfilled
    assert rescored == backfilled
    assert in_two == backfilled
