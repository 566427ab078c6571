"""Scorecard files: the shipped default loads; a broken copy says where and what is wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from bot.scoring.scorecard import DEFAULT_PATH, Scorecard, ScorecardError, load_scorecard

DEFAULT_TEXT = DEFAULT_PATH.read_text(encoding="utf-8")
CUTOFFS = "cutoffs = { healthy = 80, low_risk = 60, medium_risk = 40, high_risk = 0 }"
CSAT_BANDS = 'bands = [[3.0, 0], [4.5, 100]], weight = 1 },\n  { name = "nps"'
NPS_BANDS = "bands = [[0, 0], [6, 40], [9, 100]], weight = 1 }"
EMAIL = 'transform = "trend", days = 30, baseline_days = 60, fill = "zero", bands = [[-0.7, 0], [-0.3, 60], [0.0, 100]]'


def problems_of(tmp_path: Path, *edits: tuple[str, str]) -> list[str]:
    """Load a copy of the default scorecard with each (old, new) text edit applied; return its problems."""
    text = DEFAULT_TEXT
    for old, new in edits:
        assert text.count(old) == 1, f"edit target not unique in the default scorecard: {old!r}"
        text = text.replace(old, new)
    path = tmp_path / "scorecard.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ScorecardError) as info:
        load_scorecard(path)
    assert str(info.value).startswith(f"{path}: invalid scorecard\n")
    return info.value.problems


def test_default_scorecard_loads() -> None:
    card = load_scorecard()

    assert card == load_scorecard(DEFAULT_PATH)
    assert card.tiers.order == ["healthy", "low_risk", "medium_risk", "high_risk"]
    assert card.tiers.label("medium_risk") == "Medium risk"
    assert list(card.cards) == ["onboarding", "default"]
    assert card.cards["onboarding"].match == {"lifecycle_stage": ["onboarding"]}
    assert "logins" in card.metrics and "tickets_opened" in card.metrics
    for c in card.cards.values():
        assert sum(g.weight for g in c.groups.values()) == pytest.approx(1.0)
        assert all(m.span <= card.data.lookback_days for _, m in c.measures())


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ScorecardError) as info:
        load_scorecard(tmp_path / "nope.toml")
    assert info.value.problems == ["file not found"]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            'transform = "level", aggregate = "mean", days = 7',
            'transform = "average", aggregate = "mean", days = 7',
            "cards.onboarding.groups.adoption.measures[0].transform: 'average' is not allowed: "
            "input should be 'level', 'trend',",
        ),
        (
            CSAT_BANDS,
            CSAT_BANDS.replace("[[3.0, 0], [4.5, 100]]", "[[4.5, 0], [3.0, 100]]"),
            "cards.default.groups.support.measures[1].bands: band inputs must be strictly increasing",
        ),
        (
            NPS_BANDS,
            NPS_BANDS.replace("[9, 100]", "[9, 110]"),
            "cards.default.groups.support.measures[2].bands: band scores must be between 0 and 100",
        ),
        (
            f"{EMAIL}, weight = 1 }}",
            f"{EMAIL}, weight = -1 }}",
            "cards.default.groups.engagement.measures[0].weight: Input should be greater than 0",
        ),
        (
            'label = "Engagement"\nweight = 0.1',
            'label = "Engagement"\nweight = -0.1',
            "cards.default.groups.engagement.weight: Input should be greater than 0",
        ),
        (
            CUTOFFS,
            CUTOFFS.replace("low_risk = 60, medium_risk = 40", "low_risk = 40, medium_risk = 60"),
            "tiers: cutoffs must fall strictly from the first tier in order to the last",
        ),
        (
            CUTOFFS,
            CUTOFFS.replace("medium_risk", "at_risk"),
            "tiers: cutoffs must name exactly the tiers listed in order",
        ),
        (
            CUTOFFS,
            CUTOFFS.replace("high_risk = 0", "high_risk = 10"),
            "tiers: the last tier (high_risk) must start at 0",
        ),
        (
            "[cards.default]\n",
            '[cards.default]\nmatch = { segment = ["smb"] }\n',
            "cards: one card must have no `match`",
        ),
        (
            'match = { lifecycle_stage = ["onboarding"] }',
            'match = { tier = ["onboarding"] }',
            "cards.onboarding.match: cannot match on tier; use segment, plan, lifecycle_stage,",
        ),
        (
            '{ name = "nps", metric = "nps"',
            '{ name = "csat", metric = "nps"',
            "cards.default: measure names must be unique within a card: csat",
        ),
        (
            EMAIL,
            EMAIL.replace("baseline_days = 60", "baseline_days = 80"),
            "cards.default.groups.engagement measure email_engagement reads 110 days, "
            "more than data.lookback_days (90)",
        ),
        (
            'label = "Engagement"\n',
            'label = "Engagement"\ncolour = "blue"\n',
            "cards.default.groups.engagement.colour: Extra inputs are not permitted",
        ),
        (
            NPS_BANDS,
            NPS_BANDS.replace("weight", "wieght"),
            "cards.default.groups.support.measures[2].wieght: Extra inputs are not permitted",
        ),
        (
            "min_days_of_data = 14",
            "min_days = 14",
            "data.min_days: Extra inputs are not permitted",
        ),
    ],
    ids=[
        "unknown-transform", "bands-not-increasing", "band-score-over-100", "negative-measure-weight",
        "negative-group-weight", "cutoffs-not-decreasing", "cutoffs-not-matching-order", "last-cutoff-not-0",
        "no-fallback-card", "unknown-match-key", "duplicated-measure", "span-over-lookback", "unknown-group-key",
        "misspelt-measure-key", "unknown-data-key",
    ],
)  # fmt: skip
def test_broken_scorecard_names_key_and_problem(tmp_path: Path, old: str, new: str, expected: str) -> None:
    problems = problems_of(tmp_path, (old, new))

    assert len(problems) == 1
    assert expected in problems[0]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    problems = problems_of(
        tmp_path,
        ('transform = "level", aggregate = "mean", days = 7', 'transform = "lvl", aggregate = "mean", days = 7'),
        (NPS_BANDS, NPS_BANDS.replace("weight = 1", "weight = 0")),
    )

    assert [p.split(":")[0] for p in problems] == [
        "cards.onboarding.groups.adoption.measures[0].transform",
        "cards.default.groups.support.measures[2].weight",
    ]


def test_invalid_toml_gives_line(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, ("hysteresis = 3.0", "hysteresis = "))

    assert len(problems) == 1
    assert problems[0].startswith("not valid TOML:") and "line 44" in problems[0]


def test_model_validate_rejects_the_same_things() -> None:
    """What the engine tests build in code goes through the same checks as a file."""
    minimal: dict[str, Any] = {
        "tiers": {"order": ["good", "bad"], "cutoffs": {"good": 50, "bad": 0}},
        "cards": {"all": {"groups": {"g": {"label": "G", "weight": 1, "measures": [
            {"name": "logins", "metric": "logins", "transform": "level", "bands": [[0, 0], [10, 100]]},
        ]}}}},
    }  # fmt: skip
    assert Scorecard.model_validate(minimal).metrics == ["logins"]

    minimal["data"] = {"lookback_days": 7, "min_days_of_data": 7}
    minimal["cards"]["all"]["groups"]["g"]["measures"][0]["days"] = 8
    with pytest.raises(ValueError, match="reads 8 days, more than data.lookback_days"):
        Scorecard.model_validate(minimal)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "min_days_of_data = 14",
            "min_days_of_data = 120",
            "data: min_days_of_data (120) is more than lookback_days (90): no account could ever be scored",
        ),
        (
            'labels = { healthy = "Healthy"',
            'labels = { helthy = "Healthy"',
            "tiers: labels name helthy, which is not a tier in order",
        ),
        (
            'order = ["healthy", "low_risk"',
            'order = ["healthy", "healthy"',
            "tiers: order lists healthy more than once",
        ),
        (
            '{ name = "nps", metric = "nps"',
            '{ name = "nps", metric = "npss"',
            "cards.default.groups.support.measures[2]: unknown metric 'npss': did you mean 'nps'?",
        ),
        (
            CUTOFFS,
            CUTOFFS.replace("low_risk = 60, medium_risk = 40", "low_risk = 40, medium_risk = 60"),
            "(got healthy 80, low_risk 40, medium_risk 60, high_risk 0)",
        ),
    ],
    ids=["min-days-over-lookback", "label-of-unknown-tier", "tier-listed-twice", "misspelt-metric", "cutoff-values"],
)
def test_mistakes_that_used_to_load_or_say_too_little(tmp_path: Path, old: str, new: str, expected: str) -> None:
    problems = problems_of(tmp_path, (old, new))

    assert len(problems) == 1
    assert expected in problems[0]
    assert "Value error" not in problems[0]


def test_a_metric_of_your_own_is_fine() -> None:
    """Only near-misses of documented metrics are typos; a team's own metric loads."""
    text = DEFAULT_TEXT.replace('{ name = "nps", metric = "nps"', '{ name = "nps", metric = "webinar_attendance"')
    assert Scorecard.model_validate(__import__("tomllib").loads(text)).metrics.count("webinar_attendance") == 1


def test_a_metric_named_like_a_documented_one_loads_with_a_label() -> None:
    """A team whose data says `login` (not `logins`) is not stuck with a typo error: a label says it is meant."""
    typo = DEFAULT_TEXT.replace('{ name = "nps", metric = "nps"', '{ name = "nps", metric = "npss"')
    with pytest.raises(ValidationError, match="give the measure a `label`"):
        Scorecard.model_validate(__import__("tomllib").loads(typo))
    meant = typo.replace('metric = "npss"', 'metric = "npss", label = "NPS survey score"')
    assert "npss" in Scorecard.model_validate(__import__("tomllib").loads(meant)).metrics


def test_a_cap_compares_a_category_value_with_spaces_when_quoted() -> None:
    """`industry == "research and development"`: the value may hold spaces and even the word `and`."""
    from datetime import date

    import numpy as np
    import pandas as pd

    from bot.scoring.engine import score_day
    from bot.scoring.panel import Panel, day_number

    card = {
        "tiers": {"order": ["good", "bad"], "cutoffs": {"good": 50, "bad": 0}},
        "cards": {"all": {
            "caps": [{"when": 'industry == "Research and Development" and logins_level >= 1', "at_most": 20}],
            "groups": {"g": {"label": "G", "weight": 1, "measures": [
                {"name": "logins_level", "metric": "logins", "transform": "level", "bands": [[0, 0], [2, 100]]},
                {"name": "industry", "transform": "field", "field": "industry", "categories": {"retail": 100},
                 "other": 100},
            ]}},
        }},
    }  # fmt: skip
    scorecard = Scorecard.model_validate(card)
    cap = scorecard.cards["all"].caps[0]
    assert [(c.measure, c.op, c.value) for c in cap.conditions] == [
        ("industry", "==", "research and development"), ("logins_level", ">=", 1.0),
    ]  # fmt: skip
    day = date(2026, 6, 30)
    obs = pd.DataFrame({"account_id": [1, 2], "day_num": day_number(day), "metric": "logins", "value": 5.0})
    panel = Panel.from_long(np.array([1, 2]), obs, day_number(day), day_number(day), ["logins"])
    accounts = pd.DataFrame({"id": [1, 2], "industry": ["research and development ", "Retail"], "renewal_date": None})
    scorecard = scorecard.model_copy(update={"data": scorecard.data.model_copy(update={"min_days_of_data": 1})})
    scores = score_day(scorecard, accounts, panel, day).frame.set_index("account_id")["score"]
    assert scores[1] == 20.0 and scores[2] == 100.0
