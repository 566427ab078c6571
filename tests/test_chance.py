"""The chance to churn (bot/scoring/chance.py) on fixtures computed by hand: the bands, the held-out check, its
Brier score and calibration error, the stale rules, the stored form; then on a database: the daily `healthbot score`
fits and refits it, the fit reads no outcome after its day, `healthbot backtest` prints and carries the check."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine, text

from bot.cli import main
from bot.demo.run import write_demo_csvs
from bot.forecast import interval as forecast_interval
from bot.scoring import calibration, chance, chance_fit, chance_words, fitting
from bot.scoring.chance import Band, ChanceFit, ChanceMap, fit_bands
from bot.scoring.importer import import_accounts, import_metrics
from bot.scoring.scorecard import DEFAULT_PATH, load_scorecard
from prompts import speaking

END = date(2026, 6, 30)  # the last day of the demo-like portfolio (as tests/test_backtest_tune.py builds it)


def _cases(scores: list[tuple[float, int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """(score, cases, churned) groups as one row per case."""
    s, y = [], []
    for score, n, churned in scores:
        s += [score] * n
        y += [True] * churned + [False] * (n - churned)
    return np.array(s, dtype=float), np.array(y, dtype=bool)


# -- bands ------------------------------------------------------------------------------------------------------------


def test_fit_bands_pools_adjacent_violators_into_one_band() -> None:
    # whole score 10: 2 of 4 churned (50 %), 20: 3 of 4 (75 %): a rise with the score, so they pool (5 of 8, 62.5 %);
    # 30: 1 of 4, 40: 0 of 4 fall. Band edges: 0 to the next band's first score - 1, the last one to 100.
    scores, churned = _cases([(10.4, 4, 2), (20.9, 4, 3), (30, 4, 1), (40, 4, 0)])
    got = fit_bands(scores, churned, min_cases=1)
    assert got.bands == (Band(0, 29, 8, 5), Band(30, 39, 4, 1), Band(40, 100, 4, 0))
    assert [b.chance for b in got.bands] == [0.625, 0.25, 0.0]
    assert (got.cases, got.churned) == (16, 6)
    # an account's band by its whole score (as displayed: rounded down), scores past the ends clipped
    assert got.index(np.array([0.0, 29.99, 30.0, 39.5, 40.0, 100.0, -3.0, 104.0])).tolist() == [0, 0, 1, 1, 2, 2, 0, 2]
    # centres (the mean whole score of each band's cases): 15, 30, 40. A score below the first or past the last reads
    # the end band's rate; one between two centres reads between them: 35 is halfway from 30 (25 %) to 40 (0 %).
    assert [b.centre for b in got.bands] == [15.0, 30.0, 40.0]
    assert got.chances(np.array([12.0, 35.0, 99.0])).tolist() == [0.625, 0.125, 0.0]
    assert got.band(29.99) == Band(0, 29, 8, 5)


def test_a_band_with_too_few_cases_joins_the_neighbour_whose_rate_is_closer() -> None:
    # 5: 8 of 10 (80 %), 50: 1 of 2 (50 %), 90: 1 of 10 (10 %). The middle block (2 < 5 cases) is 30 points from
    # the left one and 40 from the right one: it joins the left: 9 of 12.
    scores, churned = _cases([(5, 10, 8), (50, 2, 1), (90, 10, 1)])
    assert fit_bands(scores, churned, min_cases=5).bands == (Band(0, 89, 12, 9), Band(90, 100, 10, 1))
    # 50: 1 of 5 (20 %) is 10 points from the right (10 %), 60 from the left (80 %): it joins the right: 2 of 15
    scores, churned = _cases([(5, 10, 8), (50, 5, 1), (90, 10, 1)])
    assert fit_bands(scores, churned, min_cases=6).bands == (Band(0, 49, 10, 8), Band(50, 100, 15, 2))
    # an end block has one neighbour: the first joins the second
    scores, churned = _cases([(5, 2, 2), (50, 10, 4), (90, 10, 1)])
    assert fit_bands(scores, churned, min_cases=5).bands == (Band(0, 89, 12, 6), Band(90, 100, 10, 1))
    # all too small: one band, 0-100
    scores, churned = _cases([(5, 3, 2), (50, 3, 1), (90, 3, 0)])
    assert fit_bands(scores, churned, min_cases=30).bands == (Band(0, 100, 9, 3),)


def test_the_default_band_holds_at_least_min_band_cases() -> None:
    scores, churned = _cases([(s, 10, max(0, 5 - s // 20)) for s in range(0, 100, 5)])
    got = fit_bands(scores, churned)
    assert all(b.cases >= chance.MIN_BAND_CASES for b in got.bands)
    assert got.bands[0].lo == 0 and got.bands[-1].hi == 100
    assert all(a.hi + 1 == b.lo for a, b in zip(got.bands, got.bands[1:], strict=False))
    rates = [b.chance for b in got.bands]
    assert rates == sorted(rates, reverse=True)  # never rises with the score


LOW = ChanceMap((Band(0, 49, 40, 20), Band(50, 100, 60, 3)))
OWN = ChanceMap((Band(0, 100, 50, 5),))


def _fit(**kw: object) -> ChanceFit:
    values: dict = dict(as_of=date(2026, 12, 1), horizon=90, scorecard_key="k", snapshots=[date(2026, 9, 2)])
    return ChanceFit(**(values | kw))  # type: ignore[arg-type]


def test_chances_per_card_and_pooled() -> None:
    fit = _fit(pooled=LOW, cards={"onboarding": OWN})
    cards = np.array(["default", "onboarding", None, "other", "onboarding"], dtype=object)
    scores = np.array([10.0, 10.0, 70.0, 49.9, 90.0])
    # the card with bands of its own reads them; any other card (or none) the pooled ones
    assert fit.chances(cards, scores).tolist() == [0.5, 0.1, 0.05, 0.5, 0.1]
    assert fit.map_for("onboarding") is OWN and fit.map_for("default") is LOW and fit.map_for(None) is LOW
    assert np.isnan(_fit().chances(cards, scores)).all()  # too little history: no chance for anyone
    assert not _fit().enough and fit.enough


def test_to_json_and_back() -> None:
    fit = _fit(
        snapshots=[date(2026, 9, 2), date(2026, 8, 19)],
        cases=100,
        churned_cases=23,
        accounts=60,
        churned_accounts=12,
        pooled=LOW,
        cards={"onboarding": OWN},
    )
    body = json.loads(json.dumps(fit.to_json()))  # what the database stores
    assert body["pooled"] == [
        {"lo": 0, "hi": 49, "cases": 40, "churned": 20, "centre": None},  # a hand-made band: read as a step
        {"lo": 50, "hi": 100, "cases": 60, "churned": 3, "centre": None},
    ]
    at = datetime(2026, 12, 1, 6, 0)
    back = ChanceFit.from_json(body, as_of=fit.as_of, horizon=90, scorecard_key="k", fitted_at=at, id=7)
    assert back == ChanceFit(**(vars(fit) | {"fitted_at": at, "id": 7}))
    little = _fit(cases=40, churned_accounts=3)
    assert ChanceFit.from_json(little.to_json(), as_of=little.as_of, horizon=90, scorecard_key="k") == little


def _snapshots(groups: list[tuple[str, float, int, int]]) -> chance.Cases:
    """(snapshot day, score, cases, churned) groups as cases, each case an account of its own."""
    day, score, churned = [], [], []
    for d, s, n, c in groups:
        day += [np.datetime64(d, "D")] * n
        score += [s] * n
        churned += [True] * c + [False] * (n - c)
    n = len(day)
    return chance.Cases(
        np.array(day),
        np.arange(n, dtype=np.int64),
        np.full(n, "default", dtype=object),
        np.array(score),
        np.array(churned),
    )


EARLIER = [("2026-06-01", 10.0, 30, 15), ("2026-06-01", 90.0, 30, 0)]  # the score separated churn then


def _flat_fit(monkeypatch: pytest.MonkeyPatch, min_check_churned: int = 1) -> ChanceFit:
    """On 2026-06-01 half the accounts scored 10 churned and none scored 90; on the two latest snapshots 3 of 30
    churned at either score: the score carries no signal any more."""
    monkeypatch.setattr(chance, "MIN_CASES", 1)
    monkeypatch.setattr(chance, "MIN_CHURNED", 1)
    monkeypatch.setattr(chance, "MIN_CHECK_CHURNED", min_check_churned)
    latest = [(d, s, 30, 3) for d in ("2026-06-15", "2026-06-29") for s in (10.0, 90.0)]
    return chance.fit_cases(_snapshots(EARLIER + latest), as_of=END, horizon=90, key="k", snapshots=[END])


def test_a_score_without_signal_reads_the_base_rate_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    fit = _flat_fit(monkeypatch)
    # The check: bands from 2026-06-01 (0.5 at 10, 0 at 90) on the latest two snapshots (120 cases, 12 churned):
    # Brier (60 x 0.25 + 6 x 1 + 54 x 0) / 120 = 0.175; the base rate 15/60 = 0.25 scores
    # (12 x 0.75^2 + 108 x 0.25^2) / 120 = 0.1125; 0.175 is not below 0.97 x 0.1125: no separation.
    assert not fit.separates
    # one band of the 120 cases it was checked on (churn drifts: they are the nearest today's), 12 churned: every
    # score reads 12/120 = 0.1
    assert fit.chances(np.array(["default"] * 3, dtype=object), np.array([0.0, 10.0, 90.0])) == pytest.approx(0.1)
    assert fit.pooled is not None
    assert [(b.lo, b.hi, b.cases, b.churned) for b in fit.pooled.bands] == [(0, 100, 120, 12)]
    assert chance_words.source_text(fit, "default", 10) == (
        "the score does not separate churn yet: of 120 past cases on the latest 2 snapshots, 12 churned within 90 "
        "days, whatever their scores"
    )
    assert chance_words.fit_text(fit).endswith(
        "; the score does not separate churn yet (fitted without the latest 2 snapshots, its bands predicted them no "
        "better than the base rate), so every account reads the churn rate of those 2 snapshots"
    )
    back = ChanceFit.from_json(json.loads(json.dumps(fit.to_json())), as_of=END, horizon=90, scorecard_key="k")
    assert not back.separates and back.pooled == fit.pooled


def test_a_score_that_still_separates_keeps_its_bands(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chance, "MIN_CASES", 1)
    monkeypatch.setattr(chance, "MIN_CHURNED", 1)
    monkeypatch.setattr(chance, "MIN_CHECK_CHURNED", 1)
    latest = [(d, s, 30, c) for d in ("2026-06-15", "2026-06-29") for s, c in ((10.0, 15), (90.0, 0))]
    fit = chance.fit_cases(_snapshots(EARLIER + latest), as_of=END, horizon=90, key="k", snapshots=[END])
    # the check: Brier 0.25 x 60 / 120 = 0.125 against the base rate's 0.1875 (0.25 on every case): it separates
    assert fit.separates
    assert fit.chances(np.array(["default"] * 2, dtype=object), np.array([10.0, 90.0])).tolist() == [0.5, 0.0]


def test_too_few_churned_in_the_checked_snapshots_keeps_the_bands(monkeypatch: pytest.MonkeyPatch) -> None:
    fit = _flat_fit(monkeypatch, min_check_churned=13)  # 12 churned accounts on the latest two: the check cannot tell
    assert fit.separates and fit.pooled is not None
    # bands of all cases: at 10, 15 + 3 + 3 = 21 of 90 churned; at 90, 6 of 90
    assert [(b.cases, b.churned) for b in fit.pooled.bands] == [(90, 21), (90, 6)]
    # the level: on the latest two, 12 churned where the bands expected 60 x 21/90 + 60 x 6/90 = 18: (12 + 2) / (18 + 2)
    assert fit.level == chance.Ratio(12, pytest.approx(18.0))
    got = fit.chances(np.array(["default"] * 2, dtype=object), np.array([10.0, 90.0]))
    assert got == pytest.approx([_odds(21 / 90, 0.7), _odds(6 / 90, 0.7)])


def _odds(p: float, f: float) -> float:
    """`chance.scaled` by hand: a factor on the odds."""
    return p * f / (1 - p + p * f)


def test_the_chance_follows_churn_of_late(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chance, "MIN_CASES", 1)
    monkeypatch.setattr(chance, "MIN_CHURNED", 1)
    monkeypatch.setattr(chance, "MIN_CHECK_CHURNED", 1)
    # on 2026-06-01 15 of 30 scored 10 churned, then 9 of 30 on each of the two latest snapshots; nobody scored 90 did
    latest = [(d, s, 30, c) for d in ("2026-06-15", "2026-06-29") for s, c in ((10.0, 9), (90.0, 0))]
    fit = chance.fit_cases(_snapshots(EARLIER + latest), as_of=END, horizon=90, key="k", snapshots=[END])
    # the check: bands of 2026-06-01 (0.5, 0) on the latest: Brier 60 x 0.25 / 120 = 0.125; the base rate 0.25 scores
    # (18 x 0.75^2 + 42 x 0.25^2 + 60 x 0.25^2) / 120 = 0.1375, and 0.125 < 0.97 x 0.1375: the score separates
    assert fit.separates and fit.pooled is not None
    # bands of all cases: at 10, 15 + 9 + 9 = 33 of 90 (11/30); at 90, 0 of 90
    assert [(b.cases, b.churned) for b in fit.pooled.bands] == [(90, 33), (90, 0)]
    # the latest two: 18 churned where the bands said 60 x 11/30 = 22; shrunk: (18 + 2) / (22 + 2) = 5/6
    assert fit.level == chance.Ratio(18, pytest.approx(22.0))
    cards = np.array(["default"] * 2, dtype=object)
    got = fit.chances(cards, np.array([10.0, 90.0]))
    assert got.tolist() == pytest.approx([55 / 169, 0.0])  # (11/30 x 5/6) / (19/30 + 11/30 x 5/6)
    assert got[0] == pytest.approx(_odds(11 / 30, 5 / 6))
    assert chance_words.source_text(fit, "default", 10.0) == (
        "of 90 past cases with scores 0-89, 33 churned within 90 days; of late (the latest 2 snapshots) accounts "
        "churned 0.83x as often as their scores said (18 past cases where 22.0 were expected), and the chance counts "
        "that in"
    )
    with speaking("zh-CN"):
        assert "最近 2 个快照" in chance_words.source_text(fit, "default", 10.0)
    bands = forecast_interval.bands_of(fit, cards, np.array([10.0, 90.0]), np.full(2, None))
    assert bands.chances.tolist() == pytest.approx(got.tolist())  # the forecast reads the same chances
    back = ChanceFit.from_json(json.loads(json.dumps(fit.to_json())), as_of=END, horizon=90, scorecard_key="k")
    assert back.level == fit.level


# -- the held-out check --------------------------------------------------------------------------------------------


def _keys_one_per_fold() -> list[int]:
    """An account key in each fold, fold 0 first."""
    keys = np.arange(1, 200, dtype=np.int64)
    folds = fitting.folds(keys)
    return [int(keys[folds == f][0]) for f in range(fitting.FOLDS)]


def _rows(groups: list[tuple[int, float, int, int]]) -> chance.Cases:
    """(account key, score, cases, churned) groups as cases."""
    key, score, churned = [], [], []
    for k, s, n, c in groups:
        key += [k] * n
        score += [s] * n
        churned += [True] * c + [False] * (n - c)
    n = len(key)
    return chance.Cases(
        np.full(n, np.datetime64("2026-09-01", "D")),
        np.array(key, dtype=np.int64),
        np.full(n, "default", dtype=object),
        np.array(score, dtype=float),
        np.array(churned, dtype=bool),
    )


LOW_CHURNED = [5, 4, 6, 5, 4]  # per fold: of 10 training cases scored 20 (24 in all)
HIGH_CHURNED = [1, 0, 2, 1, 0]  # per fold: of 10 training cases scored 80 (4 in all)


def _tiny(monkeypatch: pytest.MonkeyPatch, min_churned: int = 1) -> tuple[chance.Cases, chance.Cases]:
    """Five accounts, one per fold, each with 10 training cases at score 20 and 10 at 80; each is tested once at 20
    (churned: folds 0, 1, 3) and once at 85 (nobody churned): at the bands' centres or past the last, so each
    prediction is a band's own rate."""
    monkeypatch.setattr(chance, "MIN_CASES", 1)
    monkeypatch.setattr(chance, "MIN_CHURNED", min_churned)
    keys = _keys_one_per_fold()
    assert fitting.folds(np.array(keys)).tolist() == [0, 1, 2, 3, 4]
    train = _rows(
        [(k, 20.0, 10, LOW_CHURNED[f]) for f, k in enumerate(keys)]
        + [(k, 80.0, 10, HIGH_CHURNED[f]) for f, k in enumerate(keys)]
    )
    low_y = [1, 1, 0, 1, 0]
    test = _rows([(k, 20.0, 1, low_y[f]) for f, k in enumerate(keys)] + [(k, 85.0, 1, 0) for k in keys])
    return train, test


def test_held_out_predicts_each_fold_from_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    train, test = _tiny(monkeypatch)
    got = calibration.held_out(train, test)
    # Without fold f, 40 cases at 20 (24 - LOW_CHURNED[f] churned) and 40 at 80 (4 - HIGH_CHURNED[f]): two bands of
    # 40 cases each (0-79, 80-100). Predictions at 20: 19/40, 20/40, 18/40, 19/40, 20/40 = .475 .5 .45 .475 .5;
    # at 85: 3/40, 4/40, 2/40, 3/40, 4/40 = .075 .1 .05 .075 .1. The base rate without fold f: 22/80, 24/80,
    # 20/80, 22/80, 24/80 = .275 .3 .25 .275 .3.
    # Brier: at 20 (churned 1 1 0 1 0): .525² + .5² + .45² + .525² + .5² = 1.25375; at 85 (none churned):
    # .075² + .1² + .05² + .075² + .1² = .03375; (1.25375 + .03375) / 10 = .12875.
    # Base: .725² + .7² + .25² + .725² + .3² = 1.69375 and .275² + .3² + .25² + .275² + .3² = .39375: .20875.
    assert (got.accounts, got.churned, got.without_chance) == (10, 3, 0)
    assert got.brier == pytest.approx(0.12875)
    assert got.base_brier == pytest.approx(0.20875)
    assert got.base_rate == pytest.approx(28 / 100)
    assert (got.training_cases, got.training_churned_accounts) == (100, 5)
    # Reliability (bands of predicted chance 0-2-5-10-20-40-100 %): .075 .05 .075 in 5-10 %, none churned;
    # .1 .1 in 10-20 %, none churned; the five at 20 in 40-100 %: mean 2.4/5 = .48, 3 of 5 churned.
    rows = [(r.accounts, r.churned, r.predicted, r.observed) for r in got.rows]
    assert rows[:2] == [(0, 0, None, None), (0, 0, None, None)]
    assert rows[2][:2] == (3, 0) and rows[2][2] == pytest.approx(0.2 / 3) and rows[2][3] == 0
    assert rows[3][:2] == (2, 0) and rows[3][2] == pytest.approx(0.1) and rows[3][3] == 0
    assert rows[4] == (0, 0, None, None)
    assert rows[5][:2] == (5, 3) and rows[5][2] == pytest.approx(0.48) and rows[5][3] == pytest.approx(0.6)
    # ECE: (3 x .0667 + 2 x .1 + 5 x .12) / 10 = (.2 + .2 + .6) / 10 = .1
    assert got.ece == pytest.approx(0.1)
    assert calibration.calibration_note(got, 90) is None


def test_held_out_without_enough_history_in_any_fold_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    train, test = _tiny(monkeypatch, min_churned=5)  # without any fold, 4 churned accounts: too few
    got = calibration.held_out(train, test, [date(2026, 9, 1)])
    assert (got.accounts, got.without_chance, got.brier, got.base_brier, got.ece, got.rows) == (
        0,
        10,
        None,
        None,
        None,
        [],
    )
    assert calibration.calibration_note(got, 90) == (
        "10 of the 10 accounts have no held-out chance: without their fold of accounts, the past cases have too "
        "little churn history (a chance needs at least 5 churned accounts and 1 case)"
    )
    empty = calibration.held_out(chance.Cases.empty(), test, [])
    assert (
        calibration.calibration_note(empty, 90)
        == "no chance to churn yet: no past day has 90 days of outcomes after it"
    )
    few = calibration.held_out(train.where(train.account_key == train.account_key[0]), test, [date(2026, 9, 1)])
    assert calibration.calibration_note(few, 60) == (
        "no chance to churn yet: 1 churned account in 20 past cases, and a chance needs at least 5 churned "
        "accounts and 1 case"
    )
    assert calibration.calibration_note(calibration.held_out(train, chance.Cases.empty()), 90) == (
        "no account was scored on that day: nothing to check the chance to churn against"
    )


def test_reliability_and_ece_by_hand() -> None:
    p = np.array([0.01, 0.03, 0.03, 0.4, 1.0])
    y = np.array([0.0, 1.0, 0.0, 1.0, 1.0])
    rows = calibration.reliability(p, y)
    assert [(r.lo, r.hi, r.accounts, r.churned) for r in rows] == [
        (0.0, 0.02, 1, 0),
        (0.02, 0.05, 2, 1),
        (0.05, 0.10, 0, 0),
        (0.10, 0.20, 0, 0),
        (0.20, 0.40, 0, 0),
        (0.40, 1.0, 2, 2),  # 0.4 opens the last band and 1.0 closes it
    ]
    assert rows[1].predicted == pytest.approx(0.03) and rows[1].observed == 0.5
    assert rows[5].predicted == pytest.approx(0.7) and rows[5].observed == 1.0
    # |.01 - 0| x 1 + |.03 - .5| x 2 + |.7 - 1| x 2, over 5 accounts: (.01 + .94 + .6) / 5 = .31
    assert calibration.expected_calibration_error(rows) == pytest.approx(0.31)
    assert calibration.expected_calibration_error(calibration.reliability(np.array([]), np.array([]))) is None


# -- the fit in use, in words -----------------------------------------------------------------------------------------


def test_is_stale_rules() -> None:
    card = load_scorecard()
    today = date(2026, 12, 7)
    fresh = _fit(scorecard_key=chance.scorecard_key(card), as_of=today - timedelta(days=chance_fit.REFIT_AFTER - 1))
    assert not chance_fit.is_stale(fresh, card, today)
    assert chance_fit.is_stale(None, card, today)  # none yet
    assert chance_fit.is_stale(_fit(scorecard_key="another card", as_of=today), card, today)
    old = _fit(scorecard_key=chance.scorecard_key(card), as_of=today - timedelta(days=chance_fit.REFIT_AFTER))
    assert chance_fit.is_stale(old, card, today)
    edited = card.model_copy(deep=True)
    edited.tiers.cutoffs[edited.tiers.order[0]] += 1
    assert chance.scorecard_key(edited) != chance.scorecard_key(card)  # a changed card is another card


def test_chance_percent() -> None:
    assert chance_words.chance_percent(0.18) == "18 %"
    assert chance_words.chance_percent(0.0) == "under 1 %"
    assert chance_words.chance_percent(0.004) == "under 1 %"
    assert chance_words.chance_percent(0.005) == "under 1 %"  # rounds to 0 %: under 1 %, not "0 %"
    assert chance_words.chance_percent(0.0051) == "1 %"
    assert chance_words.chance_percent(0.994) == "99 %"
    assert chance_words.chance_percent(1.0) == "over 99 %"  # every past case churned: still not a certainty


def test_fit_text_and_source_text() -> None:
    fit = _fit(
        snapshots=[date(2026, 9, 2), date(2026, 8, 19)], cases=100, churned_accounts=12, pooled=LOW, cards={"x": OWN}
    )
    assert chance_words.fit_text(fit) == (
        "fitted on 2 snapshots from 2026-08-19 to 2026-09-02 (100 cases, 12 churned accounts)"
    )
    assert (
        chance_words.source_text(fit, "default", 30) == "of 40 past cases with scores 0-49, 20 churned within 90 days"
    )
    assert chance_words.source_text(fit, "x", 30) == "of 50 past `x` cases with scores 0-100, 5 churned within 90 days"
    assert chance_words.fit_text(_fit(cases=40, churned_accounts=3)) == (
        "no chance to churn yet: 3 churned accounts in 40 past cases, and a chance needs at least 10 churned "
        "accounts and 100 cases"
    )


# -- on a database ---------------------------------------------------------------------------------------------------


@pytest.fixture
def portfolio(engine: Engine, tmp_path: Path) -> Engine:
    accounts_csv, metrics_csv, _ = write_demo_csvs(tmp_path / "data", 300, 180, END)
    import_accounts(engine, accounts_csv, quiet=True)
    import_metrics(engine, metrics_csv, quiet=True)
    return engine


def test_fit_reads_no_outcome_after_its_day(portfolio: Engine) -> None:
    card = load_scorecard()
    as_of = END - timedelta(days=30)
    before = chance.fit(portfolio, card, as_of, 60)
    assert before.enough and before.snapshots[0] == as_of - timedelta(days=60)
    with portfolio.connect() as conn:
        alive = [r[0] for r in conn.execute(text("SELECT id FROM account WHERE churned_on IS NULL ORDER BY id"))]
    # every account still active churns the day after as_of: no case may count it
    with portfolio.begin() as conn:
        conn.execute(
            text("UPDATE account SET churned_on = :d WHERE churned_on IS NULL"), {"d": as_of + timedelta(days=1)}
        )
    after = chance.fit(portfolio, card, as_of, 60)
    assert after.to_json() == before.to_json()
    # ...while one churned by as_of, within the horizon of the latest snapshot, counts
    with portfolio.begin() as conn:
        conn.execute(text("UPDATE account SET churned_on = :d WHERE id = :id"), {"d": as_of, "id": alive[0]})
    counted = chance.fit(portfolio, card, as_of, 60)
    assert counted.churned_cases > before.churned_cases


def test_the_daily_score_run_fits_the_chance_and_refits_it_when_old_or_for_a_new_card(
    portfolio: Engine, cli_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    assert chance_fit.stored(portfolio) is None
    assert main(["score"]) == 0
    out = capsys.readouterr().out
    first = chance_fit.stored(portfolio)
    assert first is not None and first.enough and first.horizon == chance.HORIZON
    assert f"chance to churn in the next 90 days refitted: {chance_words.fit_text(first)}" in out
    today = first.as_of

    assert main(["score"]) == 0  # the same day: the stored fit is kept, and its age said
    assert (
        f"chance to churn: the fit of {today} is in use (0 days old; refitted every 7 days" in capsys.readouterr().out
    )
    assert chance_fit.stored(portfolio) == first

    six_days = ChanceFit(**(vars(first) | {"as_of": today - timedelta(days=chance_fit.REFIT_AFTER - 1)}))
    chance_fit.save(portfolio, six_days)
    assert main(["score"]) == 0
    assert f"the fit of {six_days.as_of} is in use (6 days old" in capsys.readouterr().out

    week = ChanceFit(**(vars(first) | {"as_of": today - timedelta(days=chance_fit.REFIT_AFTER)}))
    chance_fit.save(portfolio, week)
    assert main(["score"]) == 0
    assert "chance to churn in the next 90 days refitted" in capsys.readouterr().out
    refitted = chance_fit.stored(portfolio)
    assert refitted is not None and refitted.id != week.id and refitted.as_of == today

    card = tmp_path / "edited.toml"  # the same card, a tier cutoff moved: another scorecard
    card.write_text(
        DEFAULT_PATH.read_text(encoding="utf-8").replace("cutoffs = { healthy = 80,", "cutoffs = { healthy = 81,"),
        encoding="utf-8",
    )
    assert chance.scorecard_key(load_scorecard(card)) != first.scorecard_key
    monkeypatch.setenv("SCORECARD_PATH", str(card))
    assert main(["score"]) == 0
    assert "chance to churn in the next 90 days refitted" in capsys.readouterr().out
    latest = chance_fit.stored(portfolio)
    assert latest is not None and latest.scorecard_key == chance.scorecard_key(load_scorecard(card))


def test_backtest_prints_and_carries_the_chance_held_out(
    portfolio: Engine, cli_env: None, capsys: pytest.CaptureFixture
) -> None:
    as_of = (END - timedelta(days=60)).isoformat()  # the demo's `backtest --as-of <today - 60> --horizon 60`
    assert main(["backtest", "--as-of", as_of, "--horizon", "60", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {
        "as_of", "horizon_days", "accounts", "unscored", "churned", "base_rate", "auc", "riskiest_tier_lift",
        "tiers", "notes", "caps", "stability",
    } < out.keys()  # fmt: skip
    cal = out["calibration"]
    assert (cal["as_of"], cal["horizon_days"], cal["note"]) == (as_of, 60, None)
    assert cal["accounts"] == out["accounts"] and cal["without_chance"] == 0
    assert cal["brier"] < cal["base_brier"]  # the chance knows more than the base rate
    assert cal["ece"] < 0.03  # within a few points
    assert [(r["lo"], r["hi"]) for r in cal["rows"]] == [
        (0, 0.02),
        (0.02, 0.05),
        (0.05, 0.1),
        (0.1, 0.2),
        (0.2, 0.4),
        (0.4, 1),
    ]
    assert sum(r["accounts"] for r in cal["rows"]) == cal["accounts"]
    assert sum(r["churned"] for r in cal["rows"]) == cal["churned"] == out["churned"]
    assert len(cal["snapshots"]) >= 3 and cal["training_churned_accounts"] >= chance.MIN_CHURNED

    assert main(["backtest", "--as-of", as_of, "--horizon", "60"]) == 0
    printed = capsys.readouterr().out
    lines = printed.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("  Chance to churn, held out: bands fitted on"))
    assert lines[head + 1].startswith(
        f"    Brier score {cal['brier']:.4f}, below the base-rate Brier {cal['base_brier']:.4f}"
    )
    assert lines[head + 2] == f"    expected calibration error {100 * cal['ece']:.1f} points" + (
        " (predicted vs observed churn per band, weighted by accounts)"
    )
    assert lines[head + 3].split() == ["predicted", "chance", "accounts", "churned", "predicted", "observed"]
    first = cal["rows"][0]
    assert lines[head + 4].split()[:4] == ["0-2", "%", str(first["accounts"]), str(first["churned"])]
    assert lines[head + 9].split()[:2] == ["40-100", "%"]
    assert printed.index("ROC AUC") < printed.index("Chance to churn, held out") < printed.index("Tier stability")


def test_backtest_says_why_the_chance_has_no_figures(
    portfolio: Engine, cli_env: None, capsys: pytest.CaptureFixture
) -> None:
    # 30 days after the first metrics, no past day has 30 days of outcomes and metrics before it
    as_of = (END - timedelta(days=150)).isoformat()
    assert main(["backtest", "--as-of", as_of, "--horizon", "30", "--json"]) == 0
    cal = json.loads(capsys.readouterr().out)["calibration"]
    assert cal["accounts"] == 0 and cal["brier"] is None and cal["rows"] == []
    assert cal["note"].startswith("no chance to churn yet: ")
    assert main(["backtest", "--as-of", as_of, "--horizon", "30"]) == 0
    printed = capsys.readouterr().out
    assert f"  Chance to churn, held out: no figures: {cal['note']}" in printed
    assert "Brier" not in printed


def test_tune_and_suggest_fit_the_chance_for_the_card_they_write(
    portfolio: Engine, cli_env: None, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A proposal's fit is shown, not stored (the surfaces read the stored fit beside the scores of the card in
    use); a card written over the one in use has its fit stored at once."""
    as_of = (END - timedelta(days=60)).isoformat()
    assert main(["tune", "--as-of", as_of, "--horizon", "60", "--out", "proposed.toml", "--force"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert chance_fit.stored(portfolio) is None
    proposed = chance.fit(portfolio, load_scorecard(Path("proposed.toml")), END, chance.HORIZON)
    assert printed[-1] == (
        f"chance to churn in the next 90 days with this card: {chance_words.fit_text(proposed)} "
        "(stored by the first daily score run once SCORECARD_PATH points at it)"
    )
    assert printed[-3].startswith("wrote proposed.toml: fitted cards")  # the rest of the output as it was

    assert main(["scorecard", "suggest", "--as-of", as_of, "--horizon", "60", "--out", "suggested.toml"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert chance_fit.stored(portfolio) is None
    assert printed[-2].startswith("wrote suggested.toml: review it")
    assert printed[-1].startswith("chance to churn in the next 90 days with this card: ")

    monkeypatch.setenv("SCORECARD_PATH", "proposed.toml")  # tune the card in use, written over it
    assert main(["tune", "--as-of", as_of, "--horizon", "60", "--out", "proposed.toml", "--force"]) == 0
    printed = capsys.readouterr().out.splitlines()
    tuned = chance_fit.stored(portfolio)
    assert tuned is not None and tuned.scorecard_key == chance.scorecard_key(load_scorecard(Path("proposed.toml")))
    assert printed[-1] == f"chance to churn in the next 90 days refitted: {chance_words.fit_text(tuned)}"


# -- the churn review's chart ----------------------------------------------------------------------------------------


def _checked(**kw: object) -> calibration.Calibration:
    rows = calibration.reliability(np.array([0.01, 0.01, 0.03, 0.3, 0.3]), np.array([0.0, 0.0, 0.0, 1.0, 0.0]))
    values: dict = dict(
        accounts=5, churned=1, without_chance=0, base_rate=0.2, brier=0.1, base_brier=0.16, ece=0.05, rows=rows,
        as_of="2026-07-01", horizon_days=90,
    )  # fmt: skip
    return calibration.Calibration(**(values | kw))


def test_the_churn_review_chart_has_a_reliability_panel(portfolio: Engine) -> None:
    from dataclasses import replace

    from bot.churn.analysis import review
    from bot.churn.periods import parse_period
    from bot.churn.report import chart, render_png
    from storage.db import session_factory, unit_of_work

    card = load_scorecard()
    with unit_of_work(session_factory(portfolio)) as session:
        plain = review(session, parse_period("2026-Q2", END), today=END)
        checked = review(session, parse_period("2026-Q2", END), today=END, scorecard=card)
    assert plain.calibration is None and len(chart(plain).axes) == 2  # not asked: the chart as it was
    # the quarter's first day, the 90 days after it over by END; 180 days of data hold no earlier 90-day outcome
    cal = checked.calibration
    assert cal is not None and (cal.as_of, cal.horizon_days, cal.accounts) == ("2026-04-01", 90, 0)
    assert cal.note == "no chance to churn yet: no past day has 90 days of outcomes after it"
    panel = chart(checked).axes[2]
    assert panel.get_title(loc="left") == "Chance to churn in 90 days, held out\naccounts on 2026-04-01"
    assert [" ".join(t.get_text().split()) for t in panel.texts] == [  # wrapped to fit the panel
        "No check of the chance to churn: no chance to churn yet: no past day has 90 days of outcomes after it"
    ]

    figure = chart(replace(checked, calibration=_checked(), segment="Enterprise"))
    panel = figure.axes[2]
    assert panel.get_title(loc="left") == (
        "Chance to churn in 90 days, held out\naccounts on 2026-07-01, all segments\n"
        "Brier 0.100 (base rate 0.160), calibration error 5.0 pts"
    )
    # a point per band with accounts (1 %: 2 accounts, 3 %: 1, 30 %: 2 of which 1 churned), labelled with its counts
    points = panel.collections[0].get_offsets()
    assert np.allclose(points, [[1.0, 0.0], [3.0, 0.0], [30.0, 50.0]])
    assert [t.get_text() for t in panel.texts] == ["2 (0 churned)", "1 (0 churned)", "2 (1 churned)"]
    diagonal = panel.lines[0].get_xydata()
    assert np.allclose(diagonal[:, 0], diagonal[:, 1])  # predicted = observed
    assert render_png(replace(checked, calibration=_checked())).startswith(b"\x89PNG")


def test_the_quarterly_review_checks_the_chance_with_the_card_in_use(portfolio: Engine) -> None:
    from jobs import churn_review as churn_job

    posted = churn_job.run(portfolio, channel="C0CHURN", today=date(2026, 7, 1), scorecard=load_scorecard())
    assert posted is not None and posted.review.calibration is not None
    assert posted.review.calibration.as_of == "2026-04-01"


def test_segments_get_a_shrunk_factor_not_bands_of_their_own() -> None:
    # everyone: scores 10 churn 10 of 40 (25 %), scores 60 churn 5 of 100 (5 %). Enterprise (20 cases under 50, 20
    # over) churned 8 where the bands expected 20 x 0.25 + 20 x 0.05 = 6: factor (8 + 2) / (6 + 2) = 10/8, applied on
    # the odds (`chance.scaled`: p f / (1 - p + p f)).
    low = np.repeat([10.0, 60.0], [40, 100])
    churned = np.zeros(140, dtype=bool)
    churned[[0, 1, 2, 3, 4, 5, 6, 7, 20, 21]] = True  # 10 under 50 (8 of them enterprise)
    churned[[60, 61, 62, 63, 64]] = True  # 5 over 50, all smb
    segment = np.array(["Enterprise"] * 20 + ["smb"] * 20 + ["enterprise"] * 20 + ["smb"] * 80, dtype=object)
    cases = chance.Cases(
        np.full(140, np.datetime64("2026-06-01", "D")),
        np.arange(140, dtype=np.int64),
        np.full(140, "default", dtype=object),
        low,
        churned,
        chance.segment_keys(segment),
    )
    monkey = chance.MIN_CHURNED
    try:
        chance.MIN_CHURNED = 5
        fitted = chance.fit_cases(cases, as_of=date(2026, 9, 1), horizon=90, key="k", snapshots=[date(2026, 6, 1)])
    finally:
        chance.MIN_CHURNED = monkey
    assert [(b.lo, b.hi, b.cases, b.churned) for b in fitted.pooled.bands] == [(0, 59, 40, 10), (60, 100, 100, 5)]
    assert fitted.ratios["enterprise"] == chance.Ratio(8, pytest.approx(6.0))
    assert fitted.ratios["enterprise"].factor == pytest.approx(10 / 8)
    assert fitted.ratios["smb"].factor == pytest.approx((7 + 2) / (9 + 2))  # 7 churned where 20 x .25 + 80 x .05 = 9
    got = fitted.chances(np.array(["default"] * 3, dtype=object), np.array([10.0, 10.0, 10.0]),
                         np.array([" ENTERPRISE ", "smb", None], dtype=object))  # fmt: skip

    def odds(p: float, f: float) -> float:
        return p * f / (1 - p + p * f)

    assert got.tolist() == pytest.approx([odds(0.25, 10 / 8), odds(0.25, 9 / 11), 0.25])
    words = chance_words.source_text(fitted, "default", 10.0, "Enterprise")
    assert words == (
        "of 40 past cases with scores 0-59, 10 churned within 90 days; Enterprise accounts churned 1.2x as often as "
        "their scores said (8 past cases where 6.0 were expected), and the chance counts that in"
    )


def test_a_score_between_two_bands_reads_between_them_and_says_so() -> None:
    # bands centred at 20 (30 of 100 churned) and 80 (3 of 100): a score of 35 lies a quarter of the way, 30 % -> 3 %
    centred = ChanceMap((Band(0, 49, 100, 30, 20.0), Band(50, 100, 100, 3, 80.0)))
    fitted = _fit(snapshots=[date(2026, 9, 2)], cases=200, churned_accounts=20, pooled=centred)
    cards = np.array(["default"] * 4, dtype=object)
    got = fitted.chances(cards, np.array([5.0, 35.0, 80.0, 99.0]))
    assert got.tolist() == pytest.approx([0.30, 0.30 * 0.75 + 0.03 * 0.25, 0.03, 0.03])
    assert chance_words.source_text(fitted, "default", 35.0) == (
        "between past cases with scores 0-49 (30 of 100 churned within 90 days) and 50-100 (3 of 100)"
    )
    assert (
        chance_words.source_text(fitted, "default", 90.0)
        == "of 100 past cases with scores 50-100, 3 churned within 90 days"
    )
    bands = forecast_interval.bands_of(fitted, cards, np.array([5.0, 35.0, 80.0, 99.0]), np.full(4, None))
    assert bands.chances.tolist() == pytest.approx(got.tolist())  # the forecast reads the same chances
