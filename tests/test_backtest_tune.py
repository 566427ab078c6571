"""Backtest, tune, overrides and the daily job, through the functions and the CLI."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session

from bot.cli import main
from bot.demo.run import write_demo_csvs
from bot.scoring.backtest import backtest, roc_auc
from bot.scoring.importer import import_accounts, import_metrics
from bot.scoring.scorecard import load_scorecard
from bot.scoring.tune import fit_logistic
from jobs import score as score_job
from storage import queries
from storage.db import job_lock, make_engine

END = date(2026, 6, 30)


@pytest.fixture
def portfolio(engine: Engine, tmp_path: Path) -> Engine:
    accounts_csv, metrics_csv, _ = write_demo_csvs(tmp_path / "data", 300, 180, END)
    import_accounts(engine, accounts_csv, quiet=True)
    import_metrics(engine, metrics_csv, quiet=True)
    return engine


def test_roc_auc_known_values() -> None:
    churned = np.array([True, True, False, False])
    assert roc_auc(np.array([9.0, 8, 2, 1]), churned) == 1.0
    assert roc_auc(np.array([1.0, 2, 8, 9]), churned) == 0.0
    assert roc_auc(np.array([5.0, 5, 5, 5]), churned) == 0.5
    assert roc_auc(np.array([1.0, 2]), np.array([False, False])) is None


def test_fit_logistic_recovers_direction() -> None:
    rng = np.random.default_rng(1)
    x = rng.random((2000, 2))
    y = (rng.random(2000) < 1 / (1 + np.exp(-(4 * x[:, 0] - 2)))).astype(float)
    beta = fit_logistic(x, y, l2=0.1)
    assert beta[1] > 2.5 and abs(beta[2]) < 0.7


def test_backtest_sees_demo_churn_coming_without_look_ahead(portfolio: Engine) -> None:
    card = load_scorecard()
    as_of = END - timedelta(days=90)
    result = backtest(portfolio, card, as_of, 60)
    assert result.accounts > 200 and result.churned >= 5
    assert result.auc is not None and result.auc > 0.7  # the demo's churners decline before they leave
    assert sum(t.accounts for t in result.tiers) == result.accounts
    assert sum(t.churned for t in result.tiers) == result.churned
    riskiest = [t for t in result.tiers if t.accounts][-1]
    assert riskiest.lift is not None and riskiest.lift > 1

    # Metrics after the as-of day must not change any figure (only the note that the data now ends
    # before the horizon does).
    assert result.notes == []
    with portfolio.begin() as conn:
        conn.execute(text("DELETE FROM metric_observation WHERE day > :d"), {"d": as_of})
    again = backtest(portfolio, card, as_of, 60)
    assert replace(again, notes=[]) == result
    assert again.notes[0].startswith(f"the horizon runs to {as_of + timedelta(days=60)}, past the latest metrics")


def test_backtest_cli_json(portfolio: Engine, cli_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    as_of = (END - timedelta(days=90)).isoformat()
    assert main(["backtest", "--as-of", as_of, "--horizon", "60", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"auc", "accounts", "churned", "tiers"} <= out.keys()
    assert [t["tier"] for t in out["tiers"]] == ["healthy", "low_risk", "medium_risk", "high_risk"]
    assert main(["backtest", "--as-of", as_of, "--horizon", "60"]) == 0
    assert "ROC AUC" in capsys.readouterr().out


def test_tune_writes_a_valid_scorecard(portfolio: Engine, cli_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    out = Path("proposed.toml")
    code = main(["tune", "--as-of", (END - timedelta(days=90)).isoformat(), "--horizon", "60", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "Current scorecard" in printed and "Proposed scorecard" in printed
    proposed = load_scorecard(out)
    default = load_scorecard()
    weights = [m.weight for _, m in proposed.cards["default"].measures()]
    assert weights != [m.weight for _, m in default.cards["default"].measures()]
    assert main(["scorecard", "check", str(out)]) == 0


def test_override_cli(portfolio: Engine, cli_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    until = (date.today() + timedelta(days=30)).isoformat()
    assert (
        main(
            ["override", "ACC-0001", "--tier", "high_risk", "--reason", "CFO told us they are moving", "--until", until]
        )
        == 0
    )
    with Session(portfolio) as s:
        account = queries.find_accounts(s, "ACC-0001")[0]
        override = queries.active_override(s, account.id, date.today())
        assert override is not None and override.tier == "high_risk" and override.reason.startswith("CFO")
    capsys.readouterr()
    assert main(["override", "ACC-0001", "--tier", "doomed", "--until", "2001-01-01"]) == 2
    err = capsys.readouterr().err
    assert "--tier must be one of" in err and "--reason is required" in err and "--until must be" in err
    assert main(["override", "ACC-0001", "--clear"]) == 0
    with Session(portfolio) as s:
        assert queries.active_override(s, account.id, date.today()) is None


def test_daily_job_catches_up_then_rescores_latest(portfolio: Engine) -> None:
    first_day = END - timedelta(days=179)
    assert score_job.days_to_score(None, None, None) is None
    assert score_job.days_to_score(END, None, first_day) == (END - timedelta(days=89), END)  # the first run
    assert score_job.days_to_score(END, END - timedelta(days=3), first_day) == (END - timedelta(days=2), END)
    assert score_job.days_to_score(END, END - timedelta(days=300), first_day) == (END - timedelta(days=29), END)
    card = load_scorecard()
    first = score_job.run(portfolio, card)
    assert first is not None and first.days[0] == END - timedelta(days=89) and first.days[-1] == END
    with portfolio.connect() as conn:
        assert queries.latest_score_day(conn) == END
        count = conn.execute(text("SELECT COUNT(*) FROM health_score")).scalar()
    score_job.run(portfolio, card)
    with portfolio.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM health_score")).scalar() == count


def test_job_lock_lets_one_replica_run(database_url: str) -> None:
    a, b = make_engine(database_url), make_engine(database_url)
    with job_lock(a, "score.daily") as first, job_lock(b, "score.daily") as second:
        assert first is True
        assert second is (a.dialect.name != "postgresql")  # SQLite is one process by definition
    with job_lock(b, "score.daily") as after:
        assert after is True


def test_daily_run_scores_then_refreshes_every_owners_home(portfolio: Engine, settings, fake_slack) -> None:
    from slack_sdk.models.views import View

    from bot.slack.client import make_client

    score_job.run_daily(portfolio, load_scorecard(), make_client(settings), lambda: END)
    with Session(portfolio) as s:
        owners = queries.account_owners(s)
    calls = fake_slack.calls_to("views.publish")
    assert sorted(c.params["user_id"] for c in calls) == owners and len(owners) >= 3
    for call in calls:
        View(**call.params["view"]).validate_json()
    fake_slack.reset()
    fake_slack.fail_next("views.publish", status=429, retry_after=0)
    assert score_job.run_daily(portfolio, load_scorecard(), make_client(settings), lambda: END) is None
    assert len([c for c in fake_slack.calls_to("views.publish") if c.failed_status is None]) == len(owners)
