"""Silence ranks worst, and coverage counts only what the portfolio tracks: properties of the default scorecard.

Before issue 12 both failed: with only logins, core-feature events and tickets tracked, measures of metrics
nobody reports counted against coverage (accounts went unscored), and a silent account (zero tickets read as
perfect support) scored above still-active, declining ones.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from bot.scoring.engine import score_day
from bot.scoring.panel import Panel, day_number
from bot.scoring.scorecard import load_scorecard

DAY = date(2026, 6, 30)
COMMON = ["logins", "core_feature_events", "tickets_opened"]


def _portfolio(
    seed: int, days: int, extra_metrics: bool, silence: tuple[int, int] = (14, 45)
) -> tuple[pd.DataFrame, Panel, np.ndarray, np.ndarray]:  # fmt: skip
    """Accounts of many shapes; returns accounts, panel, and masks of the silent and the still-active ones."""
    rng = np.random.default_rng(seed)
    n = 600
    size = rng.lognormal(1.0, 0.8, n)  # usage level differs a lot between accounts
    shape = rng.choice(["steady", "declining", "collapsing", "ticket_storm", "silent"], n)
    t = np.arange(days)
    level = np.outer(size, np.ones(days))
    level[shape == "declining"] *= np.linspace(1.0, 0.25, days)
    level[shape == "collapsing"] *= np.where(t < days - 10, 1.0, 0.05)
    silent_for = rng.integers(silence[0], max(min(days, silence[1]), silence[0] + 1), n)
    quiet = (shape == "silent")[:, None] & (t >= days - silent_for[:, None])
    logins = rng.poisson(level)
    core = rng.poisson(level * 0.5)
    tickets = rng.poisson(np.where(shape == "ticket_storm", 0.8, 0.1)[:, None] * np.ones(days))
    tickets[(shape == "ticket_storm")[:, None] & (t < days - 7)] = 0
    for arr in (logins, core, tickets):
        arr[quiet] = 0
    active = shape != "silent"
    logins[active, -3] = np.maximum(logins[active, -3], 1)  # still in use: a login in the last 7 days
    frames = {"logins": logins, "core_feature_events": core, "tickets_opened": tickets}
    if extra_metrics:  # the silent ones look great on everything that does not need them to show up
        frames["ticket_csat"] = np.where(active[:, None], rng.uniform(1, 5, (n, days)), 5.0)
        frames["nps"] = np.where(active[:, None], rng.integers(0, 11, (n, days)), 10.0)
        frames["payment_days_overdue"] = np.where(active[:, None], rng.integers(0, 60, (n, days)), 0.0)
    ids = np.arange(1, n + 1)
    first = day_number(DAY) - days + 1
    rows = [
        pd.DataFrame(
            {
                "account_id": np.repeat(ids, days),
                "day_num": np.tile(first + t, n),
                "metric": metric,
                "value": values.reshape(-1).astype(float),
            }
        )  # fmt: skip
        for metric, values in frames.items()
    ]
    obs = pd.concat(rows, ignore_index=True)
    accounts = pd.DataFrame({
        "id": ids, "name": [f"A{i}" for i in ids], "segment": None, "lifecycle_stage": "mature", "industry": None,
        "region": None, "mrr": None, "contract_start": None, "renewal_date": None,
    })  # fmt: skip
    card = load_scorecard()
    lookback = card.data.lookback_days
    panel = Panel.from_long(ids, obs, day_number(DAY) - lookback + 1, day_number(DAY), card.metrics)
    silent = ~active & (silent_for >= silence[0])
    return accounts, panel, silent, active


@pytest.mark.parametrize("extra_metrics", [False, True], ids=["three-common-metrics", "all-metrics"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_silent_account_ranks_below_every_account_still_in_use(seed: int, extra_metrics: bool) -> None:
    accounts, panel, silent, active = _portfolio(seed, 60, extra_metrics)
    result = score_day(load_scorecard(), accounts, panel, DAY)
    score = result.frame.set_index("account_id")["score"]
    ids = accounts["id"].to_numpy()
    assert score.reindex(ids[silent]).notna().all() and score.reindex(ids[active]).notna().all()
    worst_active = score.reindex(ids[active]).min()
    best_silent = score.reindex(ids[silent]).max()
    assert best_silent < worst_active, f"a silent account scored {best_silent}, an active one {worst_active}"
    # and the reason says why, in words
    row = int(np.flatnonzero(result.frame["account_id"].to_numpy() == ids[silent][0])[0])
    first = result.score_parts(row).drivers[0]
    assert first.measure == "cap:login_recency" and first.reason.startswith("no logins for ")


def test_with_the_three_common_metrics_and_14_days_every_account_is_scored() -> None:
    accounts, panel, _, _ = _portfolio(seed=7, days=14, extra_metrics=False)
    result = score_day(load_scorecard(), accounts, panel, DAY)
    assert len(result.frame) == len(accounts)
    # partial only because a 14-day trend has no baseline yet: metrics nobody reports are not "missing data"
    assert set(result.score_parts(0).measures) >= {"logins_trend", "login_recency", "ticket_load"}
    assert "csat" not in result.score_parts(0).measures


def test_a_new_account_is_not_read_as_growing() -> None:
    """With two weeks of data, a 28-day baseline reaching back before the first day must not count as zeros
    (which read as +100 % growth): the baseline is the days the account has."""
    accounts, panel, _, _ = _portfolio(seed=5, days=14, extra_metrics=False)
    result = score_day(load_scorecard(), accounts, panel, DAY)
    trend = pd.Series([result.parts[i]["measures"]["logins_trend"] for i in range(len(result.frame))])
    assert (trend.dropna() < 100).any(), "every trend read as growth: the missing baseline days counted as zeros"


def test_days_before_the_first_metric_are_not_zero_usage() -> None:
    """Seven days of steady logins after a quiet start of the data: no decline, no growth."""
    obs = pd.DataFrame({
        "account_id": 1, "day_num": [day_number(DAY - timedelta(days=d)) for d in range(14)],
        "metric": "logins", "value": 5.0,
    })  # fmt: skip
    card = load_scorecard()
    panel = Panel.from_long(np.array([1]), obs, day_number(DAY) - 89, day_number(DAY), card.metrics)
    accounts = pd.DataFrame({"id": [1], "name": ["A"], "lifecycle_stage": ["mature"], "renewal_date": [None]})
    for column in ("segment", "industry", "region"):
        accounts[column] = None
    result = score_day(card, accounts, panel, DAY)
    assert result.parts[0]["measures"]["logins_trend"] == 100.0  # ±0 %: the band's top
    drivers = [d["reason"] for d in result.parts[0]["drivers"]]
    assert not any("logins" in r for r in drivers), drivers


def test_a_quiet_week_is_medium_risk_at_best_and_ranks_below_most_accounts_in_use() -> None:
    """Seven to thirteen days without a login (and so without tickets): zero tickets is not perfect support."""
    accounts, panel, quiet, active = _portfolio(seed=4, days=60, extra_metrics=False, silence=(7, 14))
    result = score_day(load_scorecard(), accounts, panel, DAY)
    score = result.frame.set_index("account_id")["score"]
    ids = accounts["id"].to_numpy()
    assert score.reindex(ids[quiet]).max() <= 55
    assert score.reindex(ids[quiet]).median() < score.reindex(ids[active]).quantile(0.1)
