"""What a CS-ops user trying the engine with their own data ran into: card matching by how people
type segments, no scores invented for days the data has not reached, honest backtests and tuning
on small or one-sided data."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session

from bot.cli import main
from bot.scoring.backtest import backtest
from bot.scoring.explain import reason_text
from bot.scoring.fitting import fit_logistic
from bot.scoring.importer import import_accounts, import_metrics
from bot.scoring.run import score_range
from bot.scoring.scorecard import Measure, Scorecard
from storage import accounts as account_store
from storage import scores
from tests.test_scoring import accounts, card_for_accounts, measure, scorecard


def test_card_match_ignores_case_and_spaces() -> None:
    card = scorecard(
        {"g": (1.0, [measure("level", [[0, 0], [10, 100]], name="usage")])},
        enterprise={"match": {"segment": ["Enterprise"]},
                    "groups": {"g": {"label": "G", "weight": 1, "measures": [
                        measure("level", [[0, 0], [4, 100]], name="ent_usage")]}}},
    )  # fmt: skip
    segments = ["enterprise", " ENTERPRISE ", "Enterprise", None, "smb"]

    chosen = card_for_accounts(card, accounts([1, 2, 3, 4, 5], segment=segments))

    assert chosen.tolist() == ["enterprise", "enterprise", "enterprise", "all", "all"]


DAY = date(2026, 3, 31)


def write_portfolio(engine: Engine, folder: Path, accounts_rows: list[str], metric_rows: list[str]) -> None:
    """Import accounts (external_id,name,segment,lifecycle_stage,churned_on) and metrics
    (external_id,date,metric,value) written as a new user would, through the importer."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "accounts.csv").write_text(
        "external_id,name,segment,lifecycle_stage,churned_on\n" + "\n".join(accounts_rows) + "\n", encoding="utf-8"
    )
    (folder / "metrics.csv").write_text(
        "external_id,date,metric,value\n" + "\n".join(metric_rows) + "\n", encoding="utf-8"
    )
    import_accounts(engine, folder / "accounts.csv", quiet=True)
    import_metrics(engine, folder / "metrics.csv", quiet=True)


def daily_logins(external_id: str, last: date, days: int, value: float = 10) -> list[str]:
    return [f"{external_id},{last - timedelta(days=i)},logins,{value}" for i in range(days)]


LOGINS_ONLY = {"lookback_days": 60, "min_days_of_data": 14, "min_weight_covered": 0.5}


def logins_card() -> Scorecard:
    return scorecard({"usage": (1.0, [measure("trend", [[-0.5, 0], [0.0, 100]], fill="zero", days=7,
                                              baseline_days=28, name="logins_trend")])}, data=LOGINS_ONLY)  # fmt: skip


def test_days_after_the_latest_metrics_are_not_scored(engine: Engine, tmp_path: Path) -> None:
    """Scoring a day whose metrics have not arrived would read it as "no logins" and invent a decline."""
    write_portfolio(engine, tmp_path, ["A1,Acme,smb,mature,"], daily_logins("A1", DAY, 60))

    summary = score_range(engine, logins_card(), DAY - timedelta(days=1), DAY + timedelta(days=3))

    assert summary.days == [DAY - timedelta(days=1), DAY]
    assert summary.latest_metrics == DAY
    assert summary.beyond_data == [DAY + timedelta(days=i) for i in (1, 2, 3)]
    with engine.connect() as conn:
        assert scores.latest_score_day(conn) == DAY
        assert conn.execute(text("SELECT MIN(score) FROM health_score")).scalar() == 100.0

    nothing = score_range(engine, logins_card(), DAY + timedelta(days=1), DAY + timedelta(days=1))
    assert nothing.days == [] and nothing.scored == 0 and nothing.beyond_data == [DAY + timedelta(days=1)]


def test_cli_score_says_which_days_it_did_not_score(
    engine: Engine, tmp_path: Path, cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    write_portfolio(engine, tmp_path / "data", ["A1,Acme,smb,mature,"], daily_logins("A1", DAY, 60))

    assert main(["score", "--date", str(DAY + timedelta(days=2))]) == 1
    err = capsys.readouterr().err
    assert f"not scored {DAY + timedelta(days=2)}: the latest metrics are for {DAY}" in err

    assert main(["score", "--from", str(DAY), "--to", str(DAY + timedelta(days=1))]) == 0
    out, err = capsys.readouterr()
    assert f"account-days for {DAY};" in out
    assert f"not scored {DAY + timedelta(days=1)}:" in err
    # the default scorecard reads NPS; this portfolio never reported it
    assert "note: the scorecard reads metrics no account has reported: active_users," in out
    assert "nps" in out


def churn_portfolio(engine: Engine, folder: Path, churn: dict[str, str]) -> None:
    """Four accounts with 60 days of logins up to DAY; A3 and A4 fade over the last 20 days.
    `churn` maps external id -> churned_on."""
    rows, metrics = [], []
    for ext, value in (("A1", 10), ("A2", 10), ("A3", 10), ("A4", 10)):
        rows.append(f"{ext},Customer {ext},smb,mature,{churn.get(ext, '')}")
        fade = ext in ("A3", "A4")
        metrics += [f"{ext},{DAY - timedelta(days=i)},logins,{2 if fade and i < 20 else value}" for i in range(60)]
    write_portfolio(engine, folder, rows, metrics)


def logins_scorecard_file(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = folder / "logins.toml"
    path.write_text(
        """
[tiers]
order = ["healthy", "at_risk"]
cutoffs = { healthy = 50, at_risk = 0 }

[data]
lookback_days = 60
min_days_of_data = 14

[cards.all.groups.usage]
label = "Usage"
weight = 1

[[cards.all.groups.usage.measures]]
name = "logins_trend"
metric = "logins"
transform = "trend"
days = 7
baseline_days = 28
bands = [[-0.5, 0], [0.0, 100]]
""",
        encoding="utf-8",
    )
    monkeypatch.setenv("SCORECARD_PATH", str(path))


@pytest.mark.parametrize(
    ("churn", "auc", "note"),
    [
        ({}, None, "AUC undefined: no scored account churned within the horizon"),
        ({e: str(DAY - timedelta(days=10)) for e in ("A1", "A2", "A3", "A4")}, None,
         "AUC undefined: every scored account churned within the horizon"),
        ({"A3": str(DAY - timedelta(days=10)), "A4": str(DAY - timedelta(days=5))}, 1.0,
         "only 2 churned and 2 stayed: with so few, the AUC and lifts are a rough sign"),
    ],
    ids=["nobody-churned", "everyone-churned", "few"],
)  # fmt: skip
def test_backtest_json_is_one_honest_object(
    engine: Engine, tmp_path: Path, cli_env: None, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], churn: dict[str, str], auc: float | None, note: str,
) -> None:  # fmt: skip
    churn_portfolio(engine, tmp_path / "data", churn)
    logins_scorecard_file(tmp_path, monkeypatch)
    as_of = DAY - timedelta(days=12)

    assert main(["backtest", "--as-of", str(as_of), "--horizon", "10", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)  # exactly one JSON object, nothing else on stdout

    assert out["accounts"] == 4 and out["auc"] == auc
    assert [t["tier"] for t in out["tiers"]] == ["healthy", "at_risk"]
    assert note in out["notes"]


def test_backtest_before_or_after_the_data(
    engine: Engine, tmp_path: Path, cli_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    churn_portfolio(engine, tmp_path / "data", {})
    logins_scorecard_file(tmp_path, monkeypatch)

    assert main(["backtest", "--as-of", str(DAY - timedelta(days=365)), "--horizon", "30", "--json"]) == 1
    before = json.loads(capsys.readouterr().out)
    assert before["accounts"] == 0 and before["auc"] is None
    assert before["notes"][0].startswith("no account had enough data up to")

    # after the data ends every day would read as "no logins": nothing is scored rather than all at risk
    assert main(["backtest", "--as-of", str(DAY + timedelta(days=10)), "--horizon", "30"]) == 1
    text_out = capsys.readouterr().out
    assert "accounts scored 0" in text_out
    assert f"note: the latest metrics are for {DAY}: backtest as of that day or earlier" in text_out


def test_backtest_horizon_past_the_data_says_churn_may_be_missing(engine: Engine, tmp_path: Path) -> None:
    churn_portfolio(engine, tmp_path, {})
    result = backtest(engine, logins_card(), DAY - timedelta(days=5), 30)
    assert any(n.startswith(f"the horizon runs to {DAY + timedelta(days=25)}, past the latest metrics ({DAY})")
               for n in result.notes)  # fmt: skip


def test_fit_logistic_survives_a_measure_nobody_reported() -> None:
    """A measure without data is a constant column (its mean): without regularisation the Hessian is singular."""
    x = np.column_stack([np.linspace(0, 1, 40), np.full(40, 0.3)])
    y = (np.arange(40) >= 30).astype(float)

    beta = fit_logistic(x, y, l2=0.0)

    assert np.isfinite(beta).all() and beta[1] > 0


def test_tune_rejects_l2_that_is_not_positive(capsys: pytest.CaptureFixture[str]) -> None:
    for bad in ("0", "-1", "nan", "lots"):
        with pytest.raises(SystemExit) as info:
            main(["tune", "--as-of", str(DAY), "--horizon", "30", "--l2", bad])
        assert info.value.code == 2
        assert f"argument --l2: '{bad}' is not a number above 0" in capsys.readouterr().err


def test_tune_on_tiny_data_says_so(
    engine: Engine, tmp_path: Path, cli_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    churn_portfolio(engine, tmp_path / "data", {"A3": str(DAY - timedelta(days=10))})
    logins_scorecard_file(tmp_path, monkeypatch)

    assert main(["tune", "--as-of", str(DAY - timedelta(days=12)), "--horizon", "10"]) == 1
    out, err = capsys.readouterr()
    assert "card all: kept its weights (too little data to fit: " in out
    assert "needs at least 30 and 5 churned)" in out
    assert "too little data or churn up to --as-of to fit weights; nothing written" in err
    assert not (tmp_path / "scorecard.proposed.toml").exists()


@pytest.mark.parametrize(
    ("fields", "figures", "expected"),
    [
        ({"metric": "payment_days_overdue", "transform": "level", "aggregate": "last", "days": 7},
         {"value": 20.0}, "payment 20 days overdue"),
        # surveys are declared fill = "none" (as in the default card): with "zero" they would read as daily counts
        ({"metric": "nps", "transform": "level", "aggregate": "last", "days": 90, "fill": "none"},
         {"value": 5.0}, "NPS 5 (latest in the last 90 days)"),
        ({"metric": "ticket_csat", "transform": "level", "aggregate": "mean", "days": 1, "fill": "none"},
         {"value": 3.25}, "CSAT averaged 3.2 over the last day"),
        ({"metric": "logins", "transform": "recency", "lookback_days": 30},
         {"days_since": 1.0}, "no logins for 1 day"),
        ({"metric": "tickets_opened", "transform": "ratio", "days": 14},
         {"recent": 6.0, "usual": 1.0}, "6 tickets in the last 2 weeks, usually 1"),
        ({"metric": "logins", "transform": "renewal", "days": 7},
         {"change": -0.5, "days_to_renewal": 1.0}, "renewal in 1 day with logins -50 %"),
    ],
    ids=["payment-overdue", "latest-nps", "one-day-level", "one-day-recency", "two-week-ratio", "renewal-tomorrow"],
)  # fmt: skip
def test_reasons_read_as_plain_english(fields: dict[str, object], figures: dict[str, float], expected: str) -> None:
    m = Measure.model_validate({"name": "m", "bands": [[0, 0], [1, 100]], **fields})
    assert reason_text(m, figures) == expected


def test_override_takes_the_tier_as_people_say_it(
    engine: Engine, tmp_path: Path, cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """The card shows "Low risk"; a CSM types that back, not `low_risk`."""
    write_portfolio(engine, tmp_path / "data", ["A1,Acme,smb,mature,"], daily_logins("A1", DAY, 20))
    until = str(date.today() + timedelta(days=10))

    assert main(["override", "A1", "--tier", "Low risk", "--reason", "exec sponsor left", "--until", until]) == 0
    assert f"Acme: overridden to Low risk until {until}" in capsys.readouterr().out
    with Session(engine) as s:
        override = scores.active_override(s, account_store.find_accounts(s, "A1")[0].id, date.today())
        assert override is not None and override.tier == "low_risk" and override.reason == "exec sponsor left"


def test_cli_score_before_any_metrics_says_there_are_none(
    engine: Engine, cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["score", "--date", str(DAY)]) == 1
    assert f"not scored {DAY}: there are no metrics yet;" in capsys.readouterr().err


def test_cli_score_names_the_accounts_left_without_a_score(
    engine: Engine, tmp_path: Path, cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """A CS-ops user must see which customers the daily run could not score, and what a score needs."""
    accounts = ["A1,Acme,smb,mature,", "A2,Brand New,smb,onboarding,", "A3,Gone,smb,mature,2026-01-01"]
    logins = daily_logins("A1", DAY, 60) + daily_logins("A2", DAY, 3) + daily_logins("A3", DAY, 60)
    write_portfolio(engine, tmp_path / "data", accounts, logins)
    assert main(["score", "--date", str(DAY)]) == 0
    out = capsys.readouterr().out
    # only logins are tracked: measures of other metrics leave the card, so 60 days of logins score Acme;
    # 3 days are too few for Brand New, and the churned account is not named
    assert f"no score on {DAY} for 1 active account: Brand New (a score needs 14 days of metrics" in out
