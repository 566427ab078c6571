"""The scoring engine on hand-built panels, one transform at a time, and `score_range` on a real database.

Panels here hold one series per (account, metric) that ends on the scored day `DAY`;
`None` means "no row that day". Each test builds the smallest scorecard that isolates
what it checks.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session, select

from bot.demo.run import write_demo_csvs
from bot.scoring.engine import DayScores, apply_hysteresis, card_for_accounts, score_day, tier_of
from bot.scoring.importer import import_accounts, import_metrics
from bot.scoring.panel import Panel, day_number
from bot.scoring.run import score_range
from bot.scoring.scorecard import Scorecard, load_scorecard
from storage.models import HealthScore
from storage.types import Driver, ScoreParts

N_DAYS = 90
START = date(2026, 1, 1)
DAY = START + timedelta(days=N_DAYS - 1)  # the scored day: the last day of every panel
TIERS = {
    "order": ["healthy", "low_risk", "medium_risk", "high_risk"],
    "cutoffs": {"healthy": 80, "low_risk": 60, "medium_risk": 40, "high_risk": 0},
    "hysteresis": 3.0,
}
LENIENT = {"lookback_days": N_DAYS, "min_days_of_data": 1, "min_weight_covered": 0.01}
Series = list[float | None]


# --- builders ------------------------------------------------------------------------------


def scorecard(groups: dict[str, tuple[float, list[dict[str, Any]]]], data: dict[str, Any] | None = None,
              **cards: dict[str, Any]) -> Scorecard:  # fmt: skip
    """A scorecard whose fallback card `all` has `groups` (name -> (weight, measures)); extra cards first."""
    all_card = {"groups": {g: {"label": g, "weight": w, "measures": ms} for g, (w, ms) in groups.items()}}
    return Scorecard.model_validate({"tiers": TIERS, "data": data or LENIENT, "cards": {**cards, "all": all_card}})


def measure(transform: str, bands: list[list[float]], metric: str = "logins", name: str = "m", **fields: Any) -> dict:
    return {"name": name, "metric": metric, "transform": transform, "bands": bands, **fields}


def one_measure(transform: str, bands: list[list[float]], **fields: Any) -> Scorecard:
    return scorecard({"g": (1.0, [measure(transform, bands, **fields)])})


def make_panel(series: dict[tuple[int, str], Series], metrics: list[str]) -> Panel:
    """Series end on `DAY` (shorter ones start later); the panel spans START..DAY."""
    rows = []
    for (account_id, metric), values in series.items():
        offset = day_number(DAY) - len(values) + 1
        rows += [(account_id, offset + i, metric, v) for i, v in enumerate(values) if v is not None]
    obs = pd.DataFrame(rows, columns=["account_id", "day_num", "metric", "value"])
    ids = np.array(sorted({a for a, _ in series}), dtype=np.int64)
    return Panel.from_long(ids, obs, day_number(START), day_number(DAY), metrics)


def accounts(ids: list[int], **columns: list[Any]) -> pd.DataFrame:
    frame = pd.DataFrame({"id": ids, "renewal_date": [None] * len(ids)})
    for name, values in columns.items():
        frame[name] = values
    for name in ("segment", "lifecycle_stage", "industry", "region"):
        if name not in frame:
            frame[name] = None
    return frame


def score(card: Scorecard, series: dict[tuple[int, str], Series], **account_columns: list[Any]) -> DayScores:
    panel = make_panel(series, card.metrics)
    return score_day(card, accounts(panel.account_ids.tolist(), **account_columns), panel, DAY)


def only(result: DayScores) -> tuple[float, dict[str, Any]]:
    """The score and parts of the single account scored."""
    assert len(result.frame) == 1
    return float(result.frame["score"].iloc[0]), result.parts[0]


def constant(value: float | None, days: int) -> Series:
    return [value] * days


def every(n: int, days: int, value: float = 1.0) -> Series:
    """`value` on every n-th day (counting back from the last), 0 otherwise."""
    return [value if (days - 1 - i) % n == 0 else 0.0 for i in range(days)]


# --- transforms ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("aggregate", "days", "fill", "values", "expected"),
    [
        ("mean", 7, "zero", [100.0] * 3 + [1.0, 2, 3, 4, 5, 6, 7], 40.0),  # only the last 7 days count
        ("sum", 3, "zero", [9.0, 2, 3, 4], 90.0),
        ("last", 7, "none", [5.0, 3.0, None, None], 30.0),  # the last value reported
        ("last", 7, "zero", [5.0, 3.0, None, None], 0.0),  # a missing day is a 0
        ("max", 7, "zero", [1.0, 8, 2], 80.0),
        ("min", 3, "none", [0.0, 4, 6, 5], 40.0),
    ],
)
def test_level_aggregates(aggregate: str, days: int, fill: str, values: Series, expected: float) -> None:
    card = one_measure("level", [[0, 0], [10, 100]], aggregate=aggregate, days=days, fill=fill)

    got, parts = only(score(card, {(1, "logins"): values}))

    assert got == expected
    assert parts["measures"] == {"m": expected}


@pytest.mark.parametrize(("value", "expected"), [(0.0, 0.0), (1.0, 25.0), (3.5, 75.0), (5.0, 100.0), (8.0, 100.0)])
def test_level_bands_interpolate_and_clamp(value: float, expected: float) -> None:
    card = one_measure("level", [[0, 0], [2, 50], [5, 100]], days=7)

    assert only(score(card, {(1, "logins"): constant(value, 30)}))[0] == expected


@pytest.mark.parametrize(
    ("recent", "expected"),
    [(5.0, 0.0), (7.5, 50.0), (10.0, 100.0), (20.0, 100.0), (2.0, 0.0)],
    ids=["minus-50", "minus-25", "flat", "doubled", "minus-80"],
)
def test_trend_recent_week_against_prior_four(recent: float, expected: float) -> None:
    card = one_measure("trend", [[-0.5, 0], [0.0, 100]], days=7, baseline_days=28)

    got, _ = only(score(card, {(1, "logins"): [99.0] * 10 + constant(10.0, 28) + constant(recent, 7)}))

    assert got == expected


def test_trend_reason_quotes_the_change() -> None:
    card = one_measure("trend", [[-0.5, 0], [0.0, 100]], days=7, baseline_days=28)

    _, parts = only(score(card, {(1, "logins"): constant(10.0, 28) + constant(5.0, 7)}))

    assert _texts(parts["drivers"]) == [{"measure": "m", "group": "g", "points": -100.0,
                                 "reason": "logins -50 % vs prior 4 weeks"}]  # fmt: skip
    trend = {"metric": ["metric", "logins"], "change": ["pct", -0.5], "baseline": ["span", 28]}
    assert parts["drivers"][0]["words"] == {"t": "trend", "v": trend}  # worded when shown, in the reader's language


def _texts(drivers: list[Any]) -> list[dict[str, Any]]:
    """Drivers as text, without the code they are worded from when shown."""
    return [{k: v for k, v in d.items() if k != "words"} for d in drivers]


@pytest.mark.parametrize(("values", "expected"), [
    (constant(3.0, 20) + constant(0.0, 4), 60.0),  # last active 4 days ago
    (constant(3.0, 25), 100.0),  # active today
    (constant(3.0, 20) + constant(None, 4), 60.0),  # missing days count as inactive (fill zero)
    (constant(5.0, 10) + constant(0.0, 40), 0.0),  # nothing within lookback_days=30
])  # fmt: skip
def test_recency_days_since_last_activity(values: Series, expected: float) -> None:
    card = one_measure("recency", [[0, 100], [10, 0]], lookback_days=30)

    got, parts = only(score(card, {(1, "logins"): values}))

    assert got == expected
    if expected == 60.0:
        assert parts["drivers"][0]["reason"] == "no logins for 4 days"


TICKET_BANDS = [[0.0, 20], [0.5, 100], [1.5, 100], [3.0, 30], [5.0, 0]]


def ticket_card() -> Scorecard:
    return one_measure(
        "ratio", TICKET_BANDS, metric="tickets_opened", days=7, baseline_days=56, baseline_floor=0.5, min_baseline=2.0
    )


@pytest.mark.parametrize(
    ("baseline", "recent", "expected", "reason"),
    [
        # usually 4 tickets in 8 weeks (0.5 a week), now 3 in a week: ratio 6
        (every(14, 56), [1.0, 0, 1, 0, 0, 1, 0], 0.0, "3 tickets in the last 7 days, usually 0.5"),
        # usually a ticket every other day (3.5 a week), now none: sudden silence
        (every(2, 56), constant(0.0, 7), 20.0, "no tickets in the last 7 days, usually 3.5: sudden silence"),
        # a quiet account (usual 0.5 < min_baseline 2) with no tickets this week is normal
        (every(14, 56), constant(0.0, 7), 100.0, None),
        # usual 3.5, now 4: normal load
        (every(2, 56), every(2, 7), 100.0, None),
    ],
    ids=["spike", "silence", "quiet-account", "usual"],
)
def test_ratio_spike_silence_and_quiet_accounts(baseline: Series, recent: Series, expected: float,
                                                reason: str | None) -> None:  # fmt: skip
    got, parts = only(score(ticket_card(), {(1, "tickets_opened"): baseline + recent}))

    assert got == expected
    assert [d["reason"] for d in parts["drivers"]] == ([reason] if reason else [])


@pytest.mark.parametrize(("values", "expected"), [
    (constant(0.0, 40) + [1.0] + constant(0.0, 10), 0.0),  # champion left 10 days ago
    (constant(0.0, 51), 100.0),
    ([1.0] + constant(None, 4) + constant(0.0, 35), 100.0),  # left 39 days ago: outside days=30
    (constant(0.0, 20) + [0.5] + constant(None, 5), 100.0),  # below threshold
])  # fmt: skip
def test_flag_within_days(values: Series, expected: float) -> None:
    card = one_measure("flag", [[0, 100], [1, 0]], metric="champion_left", days=30, threshold=1, fill="none")

    assert only(score(card, {(1, "champion_left"): values}))[0] == expected


def test_flag_without_rows_in_window_is_left_out() -> None:
    card = scorecard({"g": (1.0, [
        measure("level", [[0, 0], [10, 100]], name="usage", days=7),
        measure("flag", [[0, 100], [1, 0]], metric="champion_left", name="champion", days=30, fill="none"),
    ])})  # fmt: skip

    _, parts = only(score(card, {(1, "logins"): constant(5.0, 60), (1, "champion_left"): [1.0, *constant(None, 40)]}))

    assert parts["measures"] == {"usage": 50.0, "champion": None}


def renewal_card() -> Scorecard:
    return scorecard({"g": (1.0, [
        measure("level", [[0, 0], [10, 100]], name="usage", days=7),
        measure("renewal", [[-0.5, 0], [0.0, 100]], name="renewal", days=7, baseline_days=28, within_days=90),
    ])})  # fmt: skip


@pytest.mark.parametrize(
    ("renewal", "expected_measure", "expected_score"),
    [(DAY + timedelta(days=30), 0.0, 25.0), (DAY, 0.0, 25.0), (DAY + timedelta(days=120), None, 50.0),
     (DAY - timedelta(days=5), None, 50.0), (None, None, 50.0)],
    ids=["in-30-days", "today", "in-120-days", "passed", "unknown"],
)  # fmt: skip
def test_renewal_counts_only_within_days(renewal: date | None, expected_measure: float | None,
                                         expected_score: float) -> None:  # fmt: skip
    result = score(renewal_card(), {(1, "logins"): constant(10.0, 28) + constant(5.0, 7)}, renewal_date=[renewal])
    got, parts = only(result)

    assert parts["measures"] == {"usage": 50.0, "renewal": expected_measure}
    assert got == expected_score
    # a renewal measure that does not apply yet is not missing data: the score is complete
    assert (result.frame["partial"].iloc[0], result.frame["coverage"].iloc[0]) == (False, 1.0)
    if renewal is not None and expected_measure is not None:
        assert parts["drivers"][0]["reason"] == f"renewal in {(renewal - DAY).days} days with logins -50 %"


@pytest.mark.parametrize(("fill", "expected"), [("zero", 25.7), ("none", 60.0)])
def test_fill_zero_counts_missing_days_none_skips_them(fill: str, expected: float) -> None:
    card = one_measure("level", [[0, 0], [10, 100]], days=7, fill=fill)
    values: Series = [6.0, None, None, 6.0, None, None, 6.0]  # 3 of the last 7 days reported

    assert only(score(card, {(1, "logins"): constant(1.0, 20) + values}))[0] == expected


# --- missing data, coverage, too little data -------------------------------------------------------


def usage_and_csat(data: dict[str, Any] | None = None) -> Scorecard:
    return scorecard(
        {
            "usage": (3.0, [measure("level", [[0, 0], [10, 100]], name="logins", days=7)]),
            "support": (1.0, [measure("level", [[3, 0], [5, 100]], metric="ticket_csat", name="csat",
                                      days=30, fill="none")]),
        },
        data,
    )  # fmt: skip


def test_missing_measure_is_left_out_and_weights_renormalised() -> None:
    result = score(usage_and_csat(), {
        (1, "logins"): constant(8.0, 30), (1, "ticket_csat"): constant(3.5, 20),  # both measures
        (2, "logins"): constant(8.0, 30),  # no CSAT at all
        (3, "logins"): constant(8.0, 30), (3, "ticket_csat"): [4.0, *constant(None, 40)],  # CSAT too old
    })  # fmt: skip

    frame = result.frame.set_index("account_id")
    assert frame.loc[1, "score"] == pytest.approx(0.75 * 80 + 0.25 * 25, abs=0.05)
    assert (frame.loc[1, "partial"], frame.loc[1, "coverage"]) == (False, 1.0)
    for account_id in (2, 3):
        assert frame.loc[account_id, "score"] == 80.0  # not 0.75 * 80: the weights are renormalised
        assert (frame.loc[account_id, "partial"], frame.loc[account_id, "coverage"]) == (True, 0.75)
    assert result.parts[1]["measures"] == {"logins": 80.0, "csat": None}
    assert result.parts[1]["groups"] == {"usage": 80.0, "support": None}
    # the points a driver costs are renormalised too: they still add up to 100
    assert [(d["measure"], d["points"]) for d in result.parts[1]["drivers"]] == [("logins", -20.0)]


def test_too_little_data_gets_no_row() -> None:
    card = usage_and_csat({"lookback_days": N_DAYS, "min_days_of_data": 14, "min_weight_covered": 0.5})

    result = score(card, {
        (1, "logins"): constant(8.0, 13),  # 13 days of data: one too few
        (2, "logins"): constant(8.0, 14),
        (3, "ticket_csat"): constant(4.0, 30),  # plenty of days, but only 25 % of the weight
        (4, "logins"): constant(8.0, 5) + constant(None, 5) + constant(8.0, 9),  # 14 days with gaps
    })  # fmt: skip

    assert result.frame["account_id"].tolist() == [2, 4]


def test_days_of_data_count_only_within_lookback() -> None:
    card = usage_and_csat({"lookback_days": 30, "min_days_of_data": 14, "min_weight_covered": 0.5})

    result = score(card, {(1, "logins"): constant(8.0, 20) + constant(None, 20) + constant(8.0, 10)})

    assert result.frame.empty


# --- cards ------------------------------------------------------------------------------------------


def test_card_matching_first_match_wins_then_fallback() -> None:
    card = scorecard(
        {"g": (1.0, [measure("level", [[0, 0], [10, 100]], name="default_usage")])},
        onboarding={"match": {"lifecycle_stage": ["onboarding"]},
                    "groups": {"g": {"label": "G", "weight": 1, "measures": [
                        measure("level", [[0, 0], [4, 100]], name="ramp")]}}},
        smb={"match": {"segment": ["smb"], "lifecycle_stage": ["adopted", "expanding"]},
             "groups": {"g": {"label": "G", "weight": 1, "measures": [
                 measure("level", [[0, 0], [20, 100]], name="smb_usage")]}}},
    )  # fmt: skip
    stages = ["onboarding", "adopted", "adopted", None, "churning"]
    segments = ["smb", "smb", "enterprise", "smb", "smb"]

    chosen = card_for_accounts(card, accounts([1, 2, 3, 4, 5], lifecycle_stage=stages, segment=segments))
    assert chosen.tolist() == ["onboarding", "smb", "all", "all", "all"]

    result = score(card, {(i, "logins"): constant(2.0, 20) for i in range(1, 6)},
                   lifecycle_stage=stages, segment=segments)  # fmt: skip
    assert result.frame["card"].tolist() == chosen.tolist()
    assert result.frame["score"].tolist() == [50.0, 10.0, 20.0, 20.0, 20.0]
    assert [list(p["measures"]) for p in result.parts] == [["ramp"], ["smb_usage"]] + [["default_usage"]] * 3


# --- drivers -------------------------------------------------------------------------------------


def three_losses() -> dict[tuple[int, str], Series]:
    return {
        (1, "logins"): constant(10.0, 28) + constant(7.5, 7),  # -25 %: 50
        (1, "core_feature_events"): constant(2.0, 20) + constant(0.0, 4),  # 4 days ago: 60
        (1, "tickets_opened"): every(14, 56) + [1.0, 0, 1, 0, 0, 1, 0],  # spike: 0
    }


def driver_card(extra_usage: Sequence[dict[str, Any]] = ()) -> Scorecard:
    return scorecard({
        "usage": (0.6, [
            measure("trend", [[-0.5, 0], [0.0, 100]], name="logins_trend", days=7, baseline_days=28),
            measure("recency", [[0, 100], [10, 0]], metric="core_feature_events", name="core_recency",
                    lookback_days=30),
            *extra_usage,
        ]),
        "support": (0.4, [measure("ratio", TICKET_BANDS, metric="tickets_opened", name="ticket_load", days=7,
                                  baseline_days=56, min_baseline=2.0)]),
    })  # fmt: skip


def test_drivers_sorted_by_points_lost_and_add_up() -> None:
    got, parts = only(score(driver_card(), three_losses()))

    assert got == 0.6 * (50 + 60) / 2 + 0.4 * 0  # 33.0
    assert _texts(parts["drivers"]) == [
        {"measure": "ticket_load", "group": "support", "points": -40.0,
         "reason": "3 tickets in the last 7 days, usually 0.5"},
        {"measure": "logins_trend", "group": "usage", "points": -15.0, "reason": "logins -25 % vs prior 4 weeks"},
        {"measure": "core_recency", "group": "usage", "points": -12.0, "reason": "no core-feature use for 4 days"},
    ]  # fmt: skip
    assert got - sum(d["points"] for d in parts["drivers"]) == pytest.approx(100.0, abs=0.2)
    assert parts["groups"] == {"usage": 55.0, "support": 0.0}


def test_at_most_three_drivers_and_full_marks_never_drive() -> None:
    extra = [measure("level", [[0, 0], [10, 100]], metric="active_users", name="seats", days=7),
             measure("level", [[0, 0], [10, 100]], metric="email_opens", name="opens", days=7)]  # fmt: skip
    series = {**three_losses(), (1, "active_users"): constant(9.0, 30), (1, "email_opens"): constant(10.0, 30)}

    got, parts = only(score(driver_card(extra), series))

    # usage now has 4 measures of 0.6 / 4 = 0.15 each: seats loses 1.5, opens nothing
    assert [d["measure"] for d in parts["drivers"]] == ["ticket_load", "logins_trend", "core_recency"]
    assert parts["measures"]["opens"] == 100.0
    lost = {"ticket_load": 40.0, "logins_trend": 7.5, "core_recency": 6.0, "seats": 1.5}
    assert got == pytest.approx(100.0 - sum(lost.values()))


# --- tiers ------------------------------------------------------------------------------------------


def test_tier_of_cutoffs() -> None:
    card = one_measure("level", [[0, 0], [10, 100]])
    scores = np.array([100.0, 80.0, 79.9, 60.0, 59.9, 40.0, 39.9, 0.0])

    assert tier_of(card, scores).tolist() == [
        "healthy", "healthy", "low_risk", "low_risk", "medium_risk", "medium_risk", "high_risk", "high_risk",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("previous", "new_score", "expected"),
    [
        ("healthy", 78.0, "healthy"),  # slipped below 80, but not 3 points: stays
        ("low_risk", 82.0, "low_risk"),  # above 80, but not by 3 points: stays
        ("healthy", 76.0, "low_risk"),
        ("low_risk", 84.0, "healthy"),
        ("healthy", 30.0, "high_risk"),  # a multi-tier fall passes straight through
        ("high_risk", 95.0, "healthy"),  # and so does a multi-tier climb
        ("high_risk", 81.0, "low_risk"),  # climbing, healthy not yet earned by 3 points
        ("medium_risk", 58.0, "medium_risk"),  # same raw tier
        (None, 78.0, "low_risk"),  # no yesterday: the raw tier
        ("retired_tier", 78.0, "low_risk"),
    ],
)
def test_hysteresis(previous: str | None, new_score: float, expected: str) -> None:
    card = one_measure("level", [[0, 0], [10, 100]])

    got = apply_hysteresis(card, np.array([new_score]), np.array([previous], dtype=object))

    assert got.tolist() == [expected]


def test_hysteresis_zero_margin_is_the_raw_tier() -> None:
    card = Scorecard.model_validate({
        "tiers": {**TIERS, "hysteresis": 0},
        "cards": {"all": {"groups": {"g": {"label": "G", "weight": 1, "measures": [
            measure("level", [[0, 0], [10, 100]])]}}}},
    })  # fmt: skip
    scores = np.array([78.0, 82.0, 59.0])
    previous = np.array(["healthy", "low_risk", "low_risk"], dtype=object)

    assert apply_hysteresis(card, scores, previous).tolist() == ["low_risk", "healthy", "medium_risk"]


# --- no look-ahead ---------------------------------------------------------------------------------


def test_scoring_a_day_never_reads_later_days() -> None:
    card = load_scorecard()
    rng = np.random.default_rng(3)
    ids = [11, 12, 13, 14, 15, 16]
    total_days, scored = 140, 100  # the scored day is day 100; 40 wild days follow it
    rows = []
    for account_id in ids:
        for metric in card.metrics:
            calm = rng.poisson(4, scored).astype(float)
            wild = rng.choice([0.0, 1.0, 500.0], total_days - scored)
            present = rng.random(total_days) > 0.2
            rows += [(account_id, day_number(START) + i, metric, v)
                     for i, v in enumerate(np.concatenate([calm, wild])) if present[i]]  # fmt: skip
    obs = pd.DataFrame(rows, columns=["account_id", "day_num", "metric", "value"])
    day = START + timedelta(days=scored - 1)
    frame = accounts(
        ids,
        renewal_date=[day + timedelta(days=d) for d in (10, 45, 200, -3, 89, 0)],
        lifecycle_stage=["onboarding", "adopted", "adopted", "onboarding", None, "adopted"],
    )
    full = Panel.from_long(np.array(ids), obs, day_number(START), day_number(START) + total_days - 1, card.metrics)
    # what `score_range` loads for that day alone: `lookback_days` ending on it
    cut = Panel.from_long(np.array(ids), obs, day_number(day) - card.data.lookback_days + 1, day_number(day),
                          card.metrics)  # fmt: skip

    seen_all = score_day(card, frame, full, day)
    seen_cut = score_day(card, frame, cut, day)

    assert len(seen_all.frame) == len(ids)
    pd.testing.assert_frame_equal(seen_all.frame, seen_cut.frame)
    assert seen_all.parts == seen_cut.parts
    # the wild days do move later scores: they would have shown up had they leaked
    later = score_day(card, frame, full, day + timedelta(days=10))
    assert not np.allclose(later.frame["score"].to_numpy(), seen_all.frame["score"].to_numpy(), atol=5)


def test_panel_ignores_unknown_accounts_and_days_outside() -> None:
    obs = pd.DataFrame(
        [(1, 100, "logins", 1.0), (2, 100, "logins", 2.0), (1, 99, "logins", 3.0), (1, 103, "logins", 4.0),
         (1, 102, "nps", 9.0), (3, 101, "logins", 5.0)],
        columns=["account_id", "day_num", "metric", "value"],
    )  # fmt: skip

    panel = Panel.from_long(np.array([3, 1]), obs, 100, 102, ["logins"])

    assert panel.account_ids.tolist() == [1, 3]
    np.testing.assert_array_equal(panel.values["logins"], [[1.0, np.nan, np.nan], [np.nan, 5.0, np.nan]])


# --- score_range on a real database ---------------------------------------------------------


END = date(2026, 6, 30)


@pytest.fixture
def demo_db(engine: Engine, tmp_path: Path) -> Engine:
    """A small generated portfolio imported through the CSV path, not yet scored."""
    accounts_csv, metrics_csv, _ = write_demo_csvs(tmp_path, 24, 110, END)
    import_accounts(engine, accounts_csv, quiet=True)
    import_metrics(engine, metrics_csv, quiet=True)
    return engine


def stored(engine: Engine, day: date | None = None) -> list[tuple[Any, ...]]:
    """Stored score rows (account_id, day, score, tier, partial, delta_7, delta_30, parts), ordered."""
    sql = "SELECT account_id, day, score, tier, partial, delta_7, delta_30, parts FROM health_score"
    params = {}
    if day is not None:
        sql += " WHERE day = :d"
        params["d"] = day
    with engine.connect() as conn:
        rows = conn.execute(text(sql + " ORDER BY day, account_id"), params).fetchall()
    return [(r[0], str(r[1]), r[2], r[3], bool(r[4]), r[5], r[6], r[7] if isinstance(r[7], dict) else json.loads(r[7]))
            for r in rows]  # fmt: skip


def test_rerunning_a_day_replaces_its_rows(demo_db: Engine) -> None:
    card = load_scorecard()
    first = score_range(demo_db, card, END, END)
    rows = stored(demo_db)
    assert first.scored == len(rows) > 10

    again = score_range(demo_db, card, END, END)

    assert again.scored == first.scored
    assert [r[:5] for r in stored(demo_db)] == [r[:5] for r in rows]

    strict = Scorecard.model_validate(
        {**card.model_dump(), "data": {**card.data.model_dump(), "min_weight_covered": 1}}
    )
    fewer = score_range(demo_db, strict, END, END)
    left = stored(demo_db)
    assert 0 < fewer.scored == len(left) < len(rows)  # rows of accounts no longer scored are removed
    assert all(not r[4] for r in left)


def test_deltas_come_from_earlier_stored_days(demo_db: Engine) -> None:
    card = load_scorecard()
    score_range(demo_db, card, END - timedelta(days=30), END - timedelta(days=1))
    score_range(demo_db, card, END, END)  # a separate run: the history is read back from the database

    week_ago = {r[0]: r[2] for r in stored(demo_db, END - timedelta(days=7))}
    month_ago = {r[0]: r[2] for r in stored(demo_db, END - timedelta(days=30))}
    today = stored(demo_db, END)
    assert today
    for account_id, _, value, _, _, delta_7, delta_30, _ in today:
        assert delta_7 == (pytest.approx(round(value - week_ago[account_id], 1)) if account_id in week_ago else None)
        assert delta_30 == (pytest.approx(round(value - month_ago[account_id], 1)) if account_id in month_ago else None)
    assert any(r[5] not in (None, 0) for r in today)
    assert all(r[6] is None for r in stored(demo_db, END - timedelta(days=30)))  # nothing stored 30 days before


def test_backfill_equals_scoring_day_by_day(demo_db: Engine) -> None:
    card = load_scorecard()
    first, last = END - timedelta(days=20), END
    score_range(demo_db, card, first - timedelta(days=10), first - timedelta(days=1))  # some stored history

    summary = score_range(demo_db, card, first, last)
    backfilled = stored(demo_db)
    with demo_db.begin() as conn:
        conn.execute(text("DELETE FROM health_score WHERE day >= :d"), {"d": first})
    day = first
    while day <= last:
        score_range(demo_db, card, day, day)
        day += timedelta(days=1)

    assert summary.scored == len([r for r in backfilled if r[1] >= first.isoformat()]) > 0
    assert stored(demo_db) == backfilled


def test_tiers_carry_hysteresis_from_the_stored_day_before(engine: Engine, tmp_path: Path) -> None:
    """The score is the day's logins, so each day's tier follows from the numbers below."""
    card = Scorecard.model_validate({
        "tiers": TIERS,
        "data": {"lookback_days": 7, "min_days_of_data": 1, "min_weight_covered": 0.5},
        "cards": {"all": {"groups": {"g": {"label": "G", "weight": 1, "measures": [
            measure("level", [[0, 0], [100, 100]], aggregate="last", days=1, fill="none")]}}}},
    })  # fmt: skip
    days = [END + timedelta(days=i) for i in range(5)]
    logins = {"STAY": [85, 78, 76, 82, 84], "GONE": [50, 50, 50, 50, 50], "LATE": [30, 30, 30, 30, 30]}
    (tmp_path / "a.csv").write_text(
        "external_id,name,status,contract_start,churned_on\n"
        f"STAY,Stay Inc,active,,\nGONE,Gone Ltd,churned,,{days[3]}\nLATE,Late AG,active,{days[3]},\n",
        encoding="utf-8",
    )
    (tmp_path / "m.csv").write_text("external_id,date,metric,value\n" + "".join(
        f"{eid},{d},logins,{v}\n" for eid, values in logins.items() for d, v in zip(days, values, strict=True)
    ), encoding="utf-8")  # fmt: skip
    import_accounts(engine, tmp_path / "a.csv", quiet=True)
    import_metrics(engine, tmp_path / "m.csv", quiet=True)

    score_range(engine, card, days[0], days[1])
    score_range(engine, card, days[2], days[4])  # day 3 reads day 2's tier back from the database

    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT a.external_id, s.score, s.tier FROM health_score s JOIN account a ON a.id = s.account_id "
            "ORDER BY a.external_id, s.day"
        )).fetchall()  # fmt: skip
    assert [tuple(r) for r in rows] == [
        ("GONE", 50.0, "medium_risk"), ("GONE", 50.0, "medium_risk"), ("GONE", 50.0, "medium_risk"),  # churned day 4
        ("LATE", 30.0, "high_risk"), ("LATE", 30.0, "high_risk"),  # a customer from day 4
        ("STAY", 85.0, "healthy"),
        ("STAY", 78.0, "healthy"),  # under 80 by less than 3 points
        ("STAY", 76.0, "low_risk"),
        ("STAY", 82.0, "low_risk"),  # over 80 by less than 3 points
        ("STAY", 84.0, "healthy"),
    ]  # fmt: skip


def test_a_stored_score_reads_back_as_score_parts(demo_db: Engine) -> None:
    """The engine writes plain dicts in bulk; the ORM gives every reader the typed model, on either database."""
    score_range(demo_db, load_scorecard(), END, END)
    raw = {r[0]: r[7] for r in stored(demo_db, END)}
    with Session(demo_db) as session:
        scores = session.exec(select(HealthScore).where(HealthScore.day == END)).all()
        assert scores and {s.account_id for s in scores} == set(raw)
        for s in scores:
            assert isinstance(s.parts, ScoreParts)
            assert all(isinstance(d, Driver) for d in s.parts.drivers)
            assert s.parts.model_dump() == raw[s.account_id]  # nothing lost or added on the way
        assert any(s.parts.drivers for s in scores)

        # written through the ORM, as a model or as a dict, it reads back the same
        account_id = scores[0].account_id
        parts = ScoreParts(groups={"usage": 40.0, "support": None}, measures={"logins": 40.0},
                           drivers=[Driver(measure="logins", group="usage", points=-60.0, reason="few logins")],
                           coverage=0.75)  # fmt: skip
        session.add(HealthScore(account_id=account_id, day=END - timedelta(days=1), score=40, tier="medium_risk",
                                parts=parts))  # fmt: skip
        session.add(HealthScore(account_id=account_id, day=END - timedelta(days=2), score=40, tier="medium_risk",
                                parts=parts.model_dump()))  # type: ignore[arg-type]  # fmt: skip
        session.commit()
    with Session(demo_db) as session:
        back = session.exec(
            select(HealthScore.parts).where(HealthScore.account_id == account_id, HealthScore.day < END)
        ).all()
    assert back == [parts, parts]
