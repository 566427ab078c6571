"""Languages (issue 23, the rest): what a score is made of reads in the reader's language. Drivers are stored as a
reason code with its figures and worded when shown (a row stored before, text only, shows its text); the
scorecard's tier and group labels read in the reader's language."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.scoring.explain import driver_reason
from bot.scoring.scorecard import load_scorecard
from bot.slack.blocks import validate_blocks
from prompts import speaking
from storage.db import session_factory, unit_of_work
from storage.models import Account, HealthScore
from storage.types import Driver, ScoreParts
from tests.conftest import DEMO_END, BotServer

ZH = "U0ZHUSER01"


def _text(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def _with_drivers(engine: Engine) -> tuple[Account, HealthScore]:
    with Session(engine) as s:
        rows = s.exec(
            select(Account, HealthScore)
            .join(HealthScore)
            .where(HealthScore.day == DEMO_END, HealthScore.scorecard == "default")
            .order_by(col(HealthScore.score))
        ).all()
    return next((a, h) for a, h in rows if len(h.parts.drivers) >= 2)


def test_drivers_are_worded_when_shown_in_the_readers_language(seeded: Engine, bot_server: BotServer) -> None:
    account, score = _with_drivers(seeded)
    assert all(d.words for d in score.parts.drivers)  # stored as a code with its figures
    bot_server.fake.locales[ZH] = "zh-CN"
    zh = bot_server.command(account.external_id, user_id=ZH).json()["blocks"]
    en = bot_server.command(account.external_id).json()["blocks"]
    validate_blocks(zh), validate_blocks(en)
    for d in score.parts.drivers:
        assert d.reason in _text(en) and d.reason not in _text(zh)  # English as it was stored
        with speaking("zh-CN"):
            assert driver_reason(d) in _text(zh)
    assert "vs prior" not in _text(zh) and " days" not in _text(zh) and " weeks" not in _text(zh)


def test_a_driver_stored_before_as_text_only_still_shows_its_text(seeded: Engine, bot_server: BotServer) -> None:
    account, score = _with_drivers(seeded)
    old = [Driver(measure=d.measure, group=d.group, points=d.points, reason=d.reason) for d in score.parts.drivers]
    with unit_of_work(session_factory(seeded)) as s:
        row = s.get(HealthScore, (account.id, DEMO_END))
        assert row is not None
        row.parts = ScoreParts(**(score.parts.model_dump() | {"drivers": old}))
    bot_server.fake.locales[ZH] = "zh-CN"
    zh = bot_server.command(account.external_id, user_id=ZH).json()["blocks"]
    assert all(d.reason in _text(zh) for d in old)


def test_the_default_cards_tier_and_group_labels_read_in_chinese(seeded: Engine, bot_server: BotServer) -> None:
    account, score = _with_drivers(seeded)
    bot_server.fake.locales[ZH] = "zh-CN"
    zh = _text(bot_server.command(account.external_id, user_id=ZH).json()["blocks"])
    en = _text(bot_server.command(account.external_id).json()["blocks"])
    tiers = load_scorecard().tiers
    assert tiers.label(score.tier) in en and tiers.label(score.tier) not in zh
    with speaking("zh-CN"):
        assert tiers.label(score.tier) in zh and tiers.label("high_risk") == "高风险"
    assert "Product usage" in en and "产品使用" in zh and "Product usage" not in zh
