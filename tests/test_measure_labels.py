"""A scorecard's own measure labels per language (`labels_in`, as groups and tiers name theirs): a driver reads the
label of its reader's language, else the label as written (issue 23)."""

from __future__ import annotations

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
