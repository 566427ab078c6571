"""Checks for the deterministic demo portfolio generator."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from bot.demo.data import (
    ARCHETYPE_SHARES,
    ARCHETYPES,
    LATE_DECLINE_SHARE,
    METRICS,
    generate_portfolio,
)

END = date(2025, 6, 30)
ACCOUNT_COLUMNS = [
    "external_id", "name", "domain", "owner_slack_id", "segment", "industry", "employees",
    "region", "lifecycle_stage", "acquisition_channel", "mrr", "contract_start",
    "renewal_date", "status", "churned_on", "archetype",
]  # fmt: skip


@pytest.fixture(scope="module")
def portfolio() -> tuple[pd.DataFrame, pd.DataFrame]:
    return generate_portfolio(1000, 180, end=END, seed=7)


@pytest.fixture(scope="module")
def bounds(portfolio: tuple[pd.DataFrame, pd.DataFrame]) -> pd.DataFrame:
    """Per account: first/last metric day joined with the account row."""
    accounts, metrics = portfolio
    span = metrics.groupby("external_id")["day"].agg(["min", "max"]).reset_index()
    return accounts.merge(span, on="external_id", how="left")


def _series(metrics: pd.DataFrame, metric: str) -> pd.DataFrame:
    return metrics[metrics["metric"] == metric]


def test_shapes_and_columns(portfolio: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    accounts, metrics = portfolio
    assert list(accounts.columns) == ACCOUNT_COLUMNS
    assert len(accounts) == 1000
    assert list(metrics.columns) == ["external_id", "day", "metric", "value"]
    assert set(metrics["metric"]) == set(METRICS)
    assert metrics["value"].dtype == np.float64
    assert isinstance(metrics["day"].iloc[0], date)
    assert metrics["day"].min() >= END - timedelta(days=179) and metrics["day"].max() == END
    assert set(accounts["segment"]) == {"enterprise", "mid-market", "smb"}
    assert set(accounts["region"]) == {"EMEA", "NA", "APAC", "LATAM"}
    assert set(accounts["status"]) == {"active", "churned"}
    assert accounts["owner_slack_id"].nunique() <= 8
    assert accounts["external_id"].iloc[0] == "ACC-0001"
    assert (accounts["status"] == "churned").eq(accounts["churned_on"].notna()).all()
    # one row per account, day and metric
    assert not metrics.duplicated(["external_id", "day", "metric"]).any()


def test_values_in_range(portfolio: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    _, metrics = portfolio
    assert (metrics["value"] == metrics["value"].round()).all()  # counts are whole numbers
    assert (metrics["value"] >= 0).all()
    assert _series(metrics, "ticket_csat")["value"].between(1, 5).all()
    assert _series(metrics, "nps")["value"].between(0, 10).all()
    assert set(_series(metrics, "champion_left")["value"]) == {0.0, 1.0}
    logins = _series(metrics, "logins").set_index(["external_id", "day"])["value"]
    users = _series(metrics, "active_users").set_index(["external_id", "day"])["value"]
    assert (users <= logins).all()


def test_deterministic() -> None:
    a1, m1 = generate_portfolio(120, 60, end=END, seed=3)
    a2, m2 = generate_portfolio(120, 60, end=END, seed=3)
    pd.testing.assert_frame_equal(a1, a2)
    pd.testing.assert_frame_equal(m1, m2)
    a3, _ = generate_portfolio(120, 60, end=END, seed=4)
    assert not a1["name"].equals(a3["name"])


def test_unique_names_and_ids(portfolio: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    accounts, _ = portfolio
    for column in ("external_id", "name", "domain"):
        assert accounts[column].is_unique, column
    big, _ = generate_portfolio(5000, 2, end=END)
    assert big["name"].is_unique and big["domain"].is_unique


def test_no_rows_outside_contract(bounds: pd.DataFrame) -> None:
    has_rows = bounds["min"].notna()
    assert (bounds.loc[has_rows, "min"] >= bounds.loc[has_rows, "contract_start"]).all()
    churned = bounds[(bounds["status"] == "churned") & has_rows]
    assert len(churned) > 0
    assert (churned["max"] <= churned["churned_on"]).all()
    active = bounds[bounds["status"] == "active"]
    assert (active["max"] == END).all()


def test_archetype_shares(portfolio: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    accounts, _ = portfolio
    shares = accounts["archetype"].value_counts(normalize=True)
    assert set(shares.index) == set(ARCHETYPES)
    expected = dict(ARCHETYPE_SHARES)
    expected["healthy"] -= LATE_DECLINE_SHARE  # late decliners are labelled "declining"
    expected["declining"] += LATE_DECLINE_SHARE
    for name, share in expected.items():
        assert shares[name] == pytest.approx(share, abs=0.02), name


def test_archetype_dates(portfolio: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    accounts, _ = portfolio
    by = accounts.groupby("archetype")
    renewing = by.get_group("renewing")
    ahead = np.array([(d - END).days for d in renewing["renewal_date"]])
    assert ((ahead >= 10) & (ahead <= 60)).all()
    churned = by.get_group("churned")
    assert (churned["status"] == "churned").all()
    ago = np.array([(END - d).days for d in churned["churned_on"]])
    assert ((ago >= 20) & (ago <= 150)).all()
    onboarding = by.get_group("onboarding")
    assert (onboarding["lifecycle_stage"] == "onboarding").all()
    age = np.array([(END - d).days for d in onboarding["contract_start"]])
    assert ((age >= 30) & (age <= 80)).all()
    assert (accounts.loc[accounts["status"] == "active", "churned_on"].isna()).all()


def test_silent_accounts_go_quiet(portfolio: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    accounts, metrics = portfolio
    silent = set(accounts.loc[accounts["archetype"] == "silent", "external_id"])
    recent = metrics[metrics["external_id"].isin(silent) & (metrics["day"] > END - timedelta(20))]
    logins = _series(recent, "logins")
    assert logins["external_id"].nunique() == len(silent)
    assert (logins["value"] == 0).all()
    assert (_series(recent, "tickets_opened")["value"] == 0).all()


def test_churn_is_foreshadowed(portfolio: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    accounts, metrics = portfolio
    churned = accounts.loc[accounts["status"] == "churned", ["external_id", "churned_on"]]
    logins = _series(metrics, "logins").merge(churned, on="external_id")
    before = np.array([(c - d).days for c, d in zip(logins["churned_on"], logins["day"], strict=True)])
    recent = logins[(before >= 0) & (before < 30)].groupby("external_id")["value"].mean()
    earlier = logins[(before >= 60) & (before < 90)].groupby("external_id")["value"].mean()
    both = recent.index.intersection(earlier.index)
    assert len(both) >= 20
    assert recent[both].mean() < 0.8 * earlier[both].mean()
    assert (recent[both] < earlier[both]).mean() > 0.8


def test_ticket_spike_and_declines(portfolio: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    accounts, metrics = portfolio
    kind = accounts.set_index("external_id")["archetype"]
    last7 = metrics[metrics["day"] > END - timedelta(7)]
    tickets = _series(last7, "tickets_opened").groupby("external_id")["value"].mean()
    assert tickets[kind[tickets.index] == "ticket_spike"].min() >= 1.5
    assert tickets[kind[tickets.index] == "healthy"].mean() < 0.5


def test_end_only_shifts_the_dates() -> None:
    """The demo's figures must not depend on the day it runs: another `end` moves every date, nothing else."""
    later = date(2026, 1, 15)  # a Thursday; END is a Monday
    a1, m1 = generate_portfolio(150, 90, end=END)
    a2, m2 = generate_portfolio(150, 90, end=later)
    shift = later - END
    for column in ("contract_start", "renewal_date", "churned_on"):
        a1[column] = [d + shift if d is not None else None for d in a1[column]]
    m1["day"] = [d + shift for d in m1["day"]]
    pd.testing.assert_frame_equal(a1, a2)
    pd.testing.assert_frame_equal(m1, m2)
