"""`healthbot backtest` says what is true: which condition left every account unscored (and whether a later
--as-of would help), that churn may be missing only when it could be, and what each cap of the scorecard held."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine

from bot.cli import main
from bot.scoring.backtest import backtest, evaluate, snapshot
from bot.scoring.backtest_words import format_result
from bot.scoring.importer import import_accounts, import_metrics
from bot.scoring.scorecard import Scorecard, load_scorecard, to_toml

DAY = date(2026, 3, 31)  # the latest day with metrics in every portfolio here


def portfolio(engine: Engine, folder: Path, accounts: list[str], metrics: list[str]) -> None:
    """Import accounts (external_id,name,lifecycle_stage,contract_start,churned_on) and metrics
    (external_id,date,metric,value) as a new user would."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "accounts.csv").write_text(
        "external_id,name,lifecycle_stage,contract_start,churned_on\n" + "\n".join(accounts) + "\n", encoding="utf-8"
    )
    (folder / "metrics.csv").write_text("external_id,date,metric,value\n" + "\n".join(metrics) + "\n", encoding="utf-8")
    import_accounts(engine, folder / "accounts.csv", quiet=True)
    import_metrics(engine, folder / "metrics.csv", quiet=True)


def daily(ext: str, metric: str, days: int, value: float = 10, last: date = DAY, quiet: int = 0) -> list[str]:
    """`days` days of `metric` up to `last`; the latest `quiet` of them 0."""
    return [f"{ext},{last - timedelta(days=i)},{metric},{0 if i < quiet else value}" for i in range(days)]


def logins_card(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **data: Any) -> Scorecard:
    """A scorecard of logins only (recency and trend, two groups), pointed at by SCORECARD_PATH."""
    card = Scorecard.model_validate({
        "tiers": {"order": ["healthy", "at_risk"], "cutoffs": {"healthy": 50, "at_risk": 0}},
        "data": {"lookback_days": 60, "min_days_of_data": 14, **data},
        "cards": {"all": {
            "caps": [{"when": "login_recency >= 14", "at_most": 5}],
            "groups": {
                "usage": {"label": "Usage", "weight": 1, "measures": [
                    {"name": "login_recency", "metric": "logins", "transform": "recency", "lookback_days": 30,
                     "bands": [[1, 100], [14, 15], [30, 0]]}]},
                "support": {"label": "Support", "weight": 1, "measures": [
                    {"name": "tickets", "metric": "tickets_opened", "transform": "level", "aggregate": "sum",
                     "days": 30, "bands": [[0, 100], [5, 0]]}]},
            }}},
    })  # fmt: skip
    (tmp_path / "card.toml").write_text(to_toml(card), encoding="utf-8")
    monkeypatch.setenv("SCORECARD_PATH", str(tmp_path / "card.toml"))
    return card


def run_backtest(capsys: pytest.CaptureFixture[str], as_of: date, horizon: int) -> tuple[int, str, dict[str, Any]]:
    """The exit code, the printed report and the JSON of one backtest through the CLI."""
    code = main(["backtest", "--as-of", str(as_of), "--horizon", str(horizon)])
    printed = capsys.readouterr().out
    assert main(["backtest", "--as-of", str(as_of), "--horizon", str(horizon), "--json"]) == code
    return code, printed, json.loads(capsys.readouterr().out)


# --- nothing scored: which condition failed ------------------------------------------------------------------


def test_a_scorecard_of_other_metrics_says_so_and_how_to_get_one(
    engine: Engine, tmp_path: Path, cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """A public churn table has its own metrics: no later --as-of would help the default scorecard."""
    metrics = [row for i in range(6) for m in ("service_calls", "day_minutes") for row in daily(f"T{i}", m, 60)]
    portfolio(engine, tmp_path, [f"T{i},Telco {i},mature,," for i in range(6)], metrics)

    code, printed, result = run_backtest(capsys, DAY - timedelta(days=20), 30)

    assert code == 1 and result["accounts"] == 0
    assert result["notes"] == [
        "nothing could be scored: the scorecard reads active_users, champion_left, core_feature_events, email_opens, "
        "logins, nps, payment_days_overdue, ticket_csat and 1 more; the data has day_minutes, service_calls: write a "
        f"card for your metrics with `healthbot scorecard suggest --as-of {DAY - timedelta(days=20)} --horizon 30`"
    ]
    assert "--as-of on or after" not in printed and "enough data" not in printed
    assert "cap " not in printed  # nothing scored: no per-cap lines to read anything into


def test_too_few_days_names_the_day_a_later_as_of_starts_to_help(
    engine: Engine, tmp_path: Path, cli_env: None, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    logins_card(tmp_path, monkeypatch)
    first = DAY - timedelta(days=29)
    portfolio(
        engine,
        tmp_path,
        ["A1,Acme,mature,,", "A2,Beta,mature,,"],
        daily("A1", "logins", 30) + daily("A2", "logins", 20),
    )
    as_of = first + timedelta(days=5)

    code, _, result = run_backtest(capsys, as_of, 10)

    earliest = first + timedelta(days=13)
    assert code == 1
    assert result["notes"] == [
        f"no account had enough data up to {as_of} to be scored: the best-covered account has 6 days of metrics in "
        f"the 60 days up to it, and a score needs 14 (data.min_days_of_data); the metrics run from {first} to {DAY}: "
        f"an --as-of on or after {earliest} may score some"
    ]
    # and it does, not a day earlier
    assert run_backtest(capsys, earliest - timedelta(days=1), 10)[0] == 1
    assert run_backtest(capsys, earliest, 10)[2]["accounts"] == 1


def test_too_few_days_in_all_the_data_does_not_send_you_to_a_later_as_of(
    engine: Engine, tmp_path: Path, cli_env: None, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    logins_card(tmp_path, monkeypatch)
    portfolio(engine, tmp_path, ["A1,Acme,mature,,"], daily("A1", "logins", 10))

    code, printed, result = run_backtest(capsys, DAY - timedelta(days=4), 10)

    assert code == 1
    assert result["notes"] == [
        f"no account had enough data up to {DAY - timedelta(days=4)} to be scored: the best-covered account has "
        "6 days of metrics in the 60 days up to it, and a score needs 14 (data.min_days_of_data); the metrics run "
        f"from {DAY - timedelta(days=9)} to {DAY}, so by then an account has at most 10 days: lower "
        "data.min_days_of_data in the scorecard or import more history"
    ]
    assert "later --as-of" not in printed and "--as-of on or after" not in printed
    assert run_backtest(capsys, DAY, 10)[0] == 1  # true: not even the latest day scores


def test_before_any_account_started_and_after_the_data(
    engine: Engine, tmp_path: Path, cli_env: None, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    logins_card(tmp_path, monkeypatch)
    start = DAY - timedelta(days=10)
    portfolio(engine, tmp_path, [f"A1,Acme,mature,{start},"], daily("A1", "logins", 60))

    before = run_backtest(capsys, start - timedelta(days=1), 10)[2]
    after = run_backtest(capsys, DAY + timedelta(days=1), 10)[2]

    assert before["notes"] == [
        f"no account was active on {start - timedelta(days=1)}: every account started after it or had churned by then"
    ]
    assert after["notes"] == [f"the latest metrics are for {DAY}: backtest as of that day or earlier"]


def test_enough_days_but_too_little_of_the_weight_covered(
    engine: Engine, tmp_path: Path, cli_env: None, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """Both metrics are reported (by someone), so both measures count; each account has only one of them."""
    logins_card(tmp_path, monkeypatch, min_weight_covered=0.9)
    portfolio(engine, tmp_path, ["A1,Acme,mature,,", "A2,Beta,mature,,"],
              daily("A1", "logins", 30) + daily("A2", "tickets_opened", 30, value=1))  # fmt: skip

    code, _, result = run_backtest(capsys, DAY, 10)

    assert code == 1
    assert result["notes"] == [
        f"no account could be scored on {DAY}: 2 accounts had at least 14 days of metrics, but their data covered "
        "less than 90 % of the scorecard's weight (data.min_weight_covered): check that the metrics the scorecard "
        "reads are reported for them"
    ]


# --- the horizon past the data: only when churn could be missing ----------------------------------------------


def horizon_notes(result: dict[str, Any]) -> list[str]:
    return [n for n in result["notes"] if n.startswith("the horizon runs to")]


@pytest.mark.parametrize(
    ("latest_churn", "as_of", "horizon", "warned"),
    [
        (DAY + timedelta(days=15), DAY - timedelta(days=10), 20, False),  # churn recorded after the horizon's end
        (DAY - timedelta(days=5), DAY - timedelta(days=10), 30, True),  # nothing recorded after the metrics end
        (None, DAY - timedelta(days=10), 30, True),  # no churn recorded at all
        (DAY - timedelta(days=5), DAY - timedelta(days=40), 30, False),  # the horizon ends within the metrics
        (DAY + timedelta(days=5), DAY - timedelta(days=10), 30, True),  # churn recorded, but not to the end
    ],
    ids=["churn-known-past-end", "metrics-and-churn-end-early", "no-churn-at-all", "within-metrics", "partly"],
)  # fmt: skip
def test_the_horizon_warning_only_when_churn_could_be_missing(
    engine: Engine, tmp_path: Path, cli_env: None, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], latest_churn: date | None, as_of: date, horizon: int, warned: bool,
) -> None:  # fmt: skip
    logins_card(tmp_path, monkeypatch)
    accounts = [f"A{i},Customer {i},mature,," for i in range(1, 6)] + [f"C1,Churner,mature,,{latest_churn or ''}"]
    metrics = [row for i in range(1, 6) for row in daily(f"A{i}", "logins", 90)]
    metrics += daily("C1", "logins", 90, last=min(latest_churn or DAY, DAY))
    portfolio(engine, tmp_path, accounts, metrics)

    _, _, result = run_backtest(capsys, as_of, horizon)

    assert result["accounts"] >= 5
    end = as_of + timedelta(days=horizon)
    if not warned:
        assert horizon_notes(result) == []
    elif latest_churn is None:
        assert horizon_notes(result) == [
            f"the horizon runs to {end}, past the latest metrics ({DAY}): churn after that may not be recorded yet, "
            "so churn counts may be low"
        ]
    else:
        assert horizon_notes(result) == [
            f"the horizon runs to {end}, past the latest metrics ({DAY}) and the latest recorded churn "
            f"({latest_churn}): churn after that may not be recorded yet, so churn counts may be low"
        ]


# --- what each cap held ------------------------------------------------------------------------------------------


def silent_portfolio(engine: Engine, folder: Path, as_of: date, horizon: int) -> None:
    """Ten accounts with 90 days of logins up to DAY. S1-S4 stopped logging in 20 days before `as_of`; S1-S3
    churned within the horizon, and so did one still-active account (A1)."""
    churn = as_of + timedelta(days=horizon // 2)
    accounts = [f"S{i},Silent {i},mature,,{churn if i <= 3 else ''}" for i in range(1, 5)]
    accounts += [f"A{i},Active {i},mature,,{churn if i == 1 else ''}" for i in range(1, 7)]
    metrics = [row for i in range(1, 5) for row in daily(f"S{i}", "logins", 90, last=as_of, quiet=20)]
    metrics += [row for i in range(1, 7) for row in daily(f"A{i}", "logins", 90)]
    portfolio(engine, folder, accounts, metrics)


def test_backtest_prints_what_each_cap_held_and_silence_ranks_worst(
    engine: Engine, tmp_path: Path, cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """The default scorecard: silent accounts are held in the riskiest tier, and the summary says how many churned."""
    as_of, horizon = DAY - timedelta(days=30), 30
    silent_portfolio(engine, tmp_path, as_of, horizon)

    code, printed, result = run_backtest(capsys, as_of, horizon)

    assert code == 0 and result["accounts"] == 10
    assert "on card onboarding" not in printed  # no account was scored with it: its caps held nobody to speak of
    assert "  cap login_recency >= 14 (at most 5): held 4 accounts, 3 churned (75 %)" in printed
    assert "  cap login_recency >= 7 (at most 55): held no account" in printed
    # an account counts under the cap that holds it: the silent four under the tighter one
    caps = [(c["card"], c["when"], c["accounts"], c["churned"], c["card_accounts"]) for c in result["caps"]]
    assert caps == [
        ("onboarding", "login_recency >= 14", 0, 0, 0), ("onboarding", "login_recency >= 7", 0, 0, 0),
        ("default", "login_recency >= 14", 4, 3, 10), ("default", "login_recency >= 7", 0, 0, 10),
    ]  # fmt: skip
    assert result["caps"][2]["churn_rate"] == 0.75 and result["caps"][2]["at_most"] == 5.0
    riskiest = result["tiers"][-1]
    assert (riskiest["tier"], riskiest["accounts"], riskiest["churned"]) == ("high_risk", 4, 3)


def test_a_single_card_cap_line_and_a_subset_keep_their_counts(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    card = logins_card(tmp_path, monkeypatch)
    as_of, horizon = DAY - timedelta(days=30), 30
    silent_portfolio(engine, tmp_path, as_of, horizon)

    snap = snapshot(engine, card, as_of, horizon)
    full = backtest(engine, card, as_of, horizon)
    assert "  cap login_recency >= 14 (at most 5): held 4 accounts, 3 churned (75 %)" in format_result(full)
    silent_half = snap.scores.frame["score"].to_numpy() <= 5
    silent_half[np.flatnonzero(silent_half)[:2]] = False  # two of the four silent accounts
    part = evaluate(card, snap.subset(silent_half), as_of, horizon)
    assert [(c.accounts, c.churned) for c in part.caps] == [(2, int(snap.churned[silent_half].sum()))]
    assert load_scorecard().cards["default"].caps[0].when == "login_recency >= 14"  # the line above names it
