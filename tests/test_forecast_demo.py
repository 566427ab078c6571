"""The churn forecast on demo-like data (300 accounts, 180 days): the default call as of the last day, and a
backtested period (as of 60 days before it, for 60 days) whose check finds the actual churned accounts inside the
interval; a backtest reads nothing of its period's outcomes."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from bot.cli import main
from bot.demo.run import write_demo_csvs
from bot.forecast import messages, service
from bot.forecast import window as forecast_window
from bot.scoring.importer import import_accounts, import_metrics
from bot.scoring.run import score_range
from bot.scoring.scorecard import load_scorecard

END = date(2026, 6, 30)  # the demo data's last day


@pytest.fixture
def demo(engine: Engine, tmp_path: Path) -> Engine:
    accounts_csv, metrics_csv, _ = write_demo_csvs(tmp_path / "data", 300, 180, END)
    import_accounts(engine, accounts_csv, quiet=True)
    import_metrics(engine, metrics_csv, quiet=True)
    score_range(engine, load_scorecard(), END, END, today=END)
    return engine


def test_the_forecast_on_the_demo_and_its_backtest_holding_the_actual(
    demo: Engine, cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    card = load_scorecard()
    today = service.make(demo, card, forecast_window.window(END), END)  # the default call, run on the data's last day
    assert today.scores_day == END and today.window.end == END + timedelta(days=90)
    assert today.total.accounts > 250 and today.fit.enough and today.fit.id is not None  # the stored fit in use
    assert today.total.accounts_low <= today.total.expected_accounts <= today.total.accounts_high
    assert [s.segment for s in today.segments] == ["enterprise", "mid-market", "smb"]
    assert sum(s.accounts for s in today.segments) == today.total.accounts
    printed = messages.forecast_text(today)
    assert "80 % interval" in printed and "enterprise" in printed and f"forecast #{today.id}" in printed

    as_of = END - timedelta(days=60)
    assert main(["forecast", "--as-of", as_of.isoformat(), "--horizon", "60", "--json"]) == 0
    made = json.loads(capsys.readouterr().out)
    assert made["period"] == {"start": str(as_of + timedelta(days=1)), "end": str(END), "days": 60, "label": None}
    assert made["fit"]["as_of"] == str(as_of) and max(made["fit"]["snapshots"]) <= str(as_of - timedelta(days=60))

    assert main(["forecast", "check", "--json"]) == 0
    checked = {c["id"]: c for c in json.loads(capsys.readouterr().out)["checked"]}
    backtest = checked[made["id"]]
    assert backtest["churned"] >= 5  # the demo's churners in those 60 days
    assert backtest["accounts_low"] <= backtest["churned"] <= backtest["accounts_high"]
    assert backtest["accounts_inside"]

    assert main(["forecast", "check"]) == 0
    out = capsys.readouterr().out
    assert f"Forecast #{made['id']} for {as_of + timedelta(days=1)} to {END} (60 days)" in out
    assert "actual; forecast" in out and ": inside" in out


def test_a_backtest_reads_nothing_of_its_period(demo: Engine) -> None:
    card = load_scorecard()
    as_of = END - timedelta(days=60)
    win = forecast_window.window(END, as_of=as_of, horizon=60)
    before = service.make(demo, card, win, END)
    with demo.begin() as conn:  # forget every outcome and metric after the as-of day
        conn.execute(text("DELETE FROM metric_observation WHERE day > :d"), {"d": as_of})
        forgotten = conn.execute(
            text("UPDATE account SET churned_on = NULL, status = 'active' WHERE churned_on > :d"), {"d": as_of}
        )
        assert forgotten.rowcount >= 5
    after = service.make(demo, card, win, END)
    assert after.total == before.total and after.segments == before.segments
