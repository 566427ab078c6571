"""A scorecard's own measure labels per language (`labels_in`, as groups and tiers name theirs): a driver reads the
label of its reader's language, else the label as written (issue 23)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.scoring.explain import driver_reason, reason_code
from bot.scoring.scorecard import ScorecardError, load_scorecard, to_toml
from prompts import speaking
from storage.types import Driver

LABELS = 'label = "the international plan", labels_in = { zh-CN = "国际套餐" }'


def _card(tmp_path: Path, measure: str) -> Path:
    text = load_scorecard().file.read_text(encoding="utf-8")  # type: ignore[union-attr]
    first = "measures = [\n"
    at = text.index(first, text.index('label = "Product usage"')) + len(first)
    own = tmp_path / "own.toml"
    own.write_text(text[:at] + f"  {measure},\n" + text[at:], encoding="utf-8")
    return own


def _driver(measure: Any, figures: dict[str, Any]) -> Driver:
    return Driver(measure=measure.name, points=-10, reason="as stored", words=reason_code(measure, figures))


def test_a_measure_label_reads_in_the_readers_language_and_as_written_without_one(tmp_path: Path) -> None:
    spec = f'{{ name = "intl", metric = "intl_plan", transform = "level", aggregate = "last", {LABELS}, '
    spec += "bands = [[0, 100], [1, 40]], weight = 1 }"
    card = load_scorecard(_card(tmp_path, spec))
    again = tmp_path / "again.toml"
    again.write_text(to_toml(card), encoding="utf-8")
    for scorecard in (card, load_scorecard(again)):
        measure = next(m for _, m in scorecard.cards["default"].measures() if m.name == "intl")
        assert measure.labels_in == {"zh-CN": "国际套餐"}
        driver = _driver(measure, {"value": 1.0})
        assert driver_reason(driver) == "has the international plan"
        with speaking("zh-CN"):
            assert driver_reason(driver) == "有国际套餐"
        plain = measure.model_copy(update={"labels_in": {}})
        with speaking("zh-CN"):  # a label without one for the language reads as written
            assert driver_reason(_driver(plain, {"value": 1.0})) == "有the international plan"


def test_a_category_field_and_a_count_read_their_label_per_language() -> None:
    from bot.scoring.scorecard import Measure

    plan = Measure.model_validate(
        {"name": "p", "field": "plan", "transform": "field", "categories": {"x": 10}, "label": "contract",
         "labels_in": {"zh-CN": "合同"}}
    )  # fmt: skip
    calls = Measure.model_validate(
        {"name": "c", "metric": "service_calls", "transform": "level", "aggregate": "sum", "days": 30,
         "bands": [[0, 100], [9, 0]], "label": "customer service calls", "labels_in": {"zh-CN": "客服来电"}}
    )  # fmt: skip
    with speaking("zh-CN"):
        assert "合同" in driver_reason(_driver(plan, {"category": "two_year"}))
        assert "客服来电" in driver_reason(_driver(calls, {"value": 4.0}))
    assert driver_reason(_driver(plan, {"category": "two_year"})) == "contract: two year"
    assert "4 customer service calls" in driver_reason(_driver(calls, {"value": 4.0}))


def test_labels_in_without_a_label_is_refused(tmp_path: Path) -> None:
    spec = '{ name = "intl", metric = "intl_plan", transform = "level", aggregate = "last", '
    spec += 'labels_in = { zh-CN = "国际套餐" }, bands = [[0, 100], [1, 40]], weight = 1 }'
    with pytest.raises(ScorecardError, match="labels_in"):
        load_scorecard(_card(tmp_path, spec))


OWN_CARD = """
[tiers]
order = ["healthy", "low_risk", "medium_risk", "high_risk"]
cutoffs = { healthy = 80, low_risk = 60, medium_risk = 40, high_risk = 0 }

[data]
lookback_days = 30
min_days_of_data = 7

[cards.default.groups.plan]
label = "Plan"
labels_in = { zh-CN = "套餐" }
weight = 1
measures = [
  { name = "intl", metric = "intl_plan", transform = "level", aggregate = "last", days = 7, fill = "none", \
bands = [[0, 100], [1, 30]], label = "the international plan", labels_in = { zh-CN = "国际套餐" } },
]
"""


def test_a_chinese_reader_sees_the_own_cards_measure_label_in_chinese_over_slack(
    engine: Any, database_url: str, fake_slack: Any, tmp_path: Path
) -> None:
    """The card over signed requests: a zh-CN user reads the measure's zh-CN label, an English one the label."""
    from datetime import date, timedelta

    from bot.scoring.run import score_range
    from bot.settings import load_settings
    from storage.db import session_factory, unit_of_work
    from storage.models import Account, MetricObservation
    from tests.conftest import BOT_TOKEN, SIGNING_SECRET, BotServer

    own = tmp_path / "own.toml"
    own.write_text(OWN_CARD, encoding="utf-8")
    day = date(2026, 6, 30)
    with unit_of_work(session_factory(engine)) as s:
        account = Account(external_id="intl-1", name="Intl Co", name_lower="intl co")
        s.add(account)
        s.flush()
        for k in range(10):
            s.add(MetricObservation(account_id=account.id, day=day - timedelta(days=k), metric="intl_plan", value=1))
    score_range(engine, load_scorecard(own), day, day)
    environ = {"DATABASE_URL": database_url, "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
               "SLACK_API_URL": fake_slack.url, "SCORECARD_PATH": str(own)}  # fmt: skip
    fake_slack.locales["U0ZHUSER01"] = "zh-CN"
    server = BotServer(load_settings(env_file=None, environ=environ), engine, fake_slack, today=day).start()
    try:
        zh = server.command("Intl Co", user_id="U0ZHUSER01").json()
        en = server.command("Intl Co").json()
    finally:
        server.stop()
    zh_text, en_text = json.dumps(zh, ensure_ascii=False), json.dumps(en, ensure_ascii=False)
    assert "有国际套餐" in zh_text and "international plan" not in zh_text
    assert "has the international plan" in en_text and "国际套餐" not in en_text


def test_the_scoring_commands_name_a_measure_by_its_label_in_their_language() -> None:
    from bot.scoring.formats import measure_words
    from bot.scoring.scorecard import Measure

    calls = Measure.model_validate(
        {"name": "c", "metric": "service_calls", "transform": "level", "aggregate": "sum", "days": 30,
         "bands": [[0, 100], [9, 0]], "label": "customer service calls", "labels_in": {"zh-CN": "客服来电"}}
    )  # fmt: skip
    assert measure_words(calls).startswith("customer service calls")
    with speaking("zh-CN"):
        assert "客服来电" in measure_words(calls) and "customer service" not in measure_words(calls)
