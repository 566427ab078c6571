"""Scoring catches up, through the real CLI on a real database: the first score backfills every day with metrics,
the daily job backfills an empty history, the daily run (and the scheduled job) fills a gap a killed backfill left
inside the catch-up window, and only one replica scores at a time (the job lock)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from bot.cli import main
from bot.demo.run import write_demo_csvs
from bot.scoring.scorecard import load_scorecard
from jobs import score as score_job
from storage.db import job_lock, make_engine

END = date(2026, 6, 30)
FIRST = END - timedelta(days=29)  # 30 days scored: the whole catch-up window


def _scored_days(engine: Engine) -> list[date]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT DISTINCT day FROM health_score ORDER BY day")).scalars().all()
    return [d if isinstance(d, date) else date.fromisoformat(d) for d in rows]


@pytest.fixture
def two_months(engine: Engine, cli_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Engine:
    """60 days of metrics for 30 demo accounts, imported through the CLI into an empty database."""
    accounts_csv, metrics_csv, _ = write_demo_csvs(tmp_path / "data", 30, 60, END)
    assert main(["import", "accounts", str(accounts_csv)]) == 0
    assert main(["import", "metrics", str(metrics_csv)]) == 0
    capsys.readouterr()
    return engine


# --- the first score backfills history ----------------------------------------------------------


def test_first_score_backfills_every_day_with_metrics(two_months: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    first = END - timedelta(days=59)

    assert main(["score"]) == 0

    captured = capsys.readouterr()
    assert "scored " in captured.out and f"for {first} to {END};" in captured.out
    assert "scoring" in captured.err and "60/60" in captured.err  # the progress bar
    days = _scored_days(two_months)
    assert days[-1] == END and len(days) >= 60 - 14  # a score needs 14 days of data
    # with a history, the next run scores only the latest day again
    assert main(["score"]) == 0
    assert f"for {END};" in capsys.readouterr().out


def test_days_to_score_on_an_empty_history() -> None:
    first = END - timedelta(days=400)
    assert score_job.days_to_score(END, None, first) == (END - timedelta(days=89), END)
    assert score_job.days_to_score(END, None, END - timedelta(days=59)) == (END - timedelta(days=59), END)
    assert score_job.days_to_score(END, None, first, lookback_days=120) == (END - timedelta(days=119), END)
    assert score_job.days_to_score(END, None, END) == (END, END)
    # a history keeps the 30-day catch-up cap
    assert score_job.days_to_score(END, END - timedelta(days=300), first) == (END - timedelta(days=29), END)
    assert score_job.days_to_score(None, None, None) is None


def test_daily_job_backfills_an_empty_history(two_months: Engine) -> None:
    summary = score_job.run(two_months, load_scorecard())

    assert summary is not None
    assert summary.days[0] == END - timedelta(days=59) and summary.days[-1] == END and len(summary.days) == 60


# --- the CLI takes the job lock ------------------------------------------------------------------


def test_score_refuses_while_another_replica_scores(
    two_months: Engine, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    if two_months.dialect.name != "postgresql":
        pytest.skip("SQLite is one process: job_lock always yields True")
    other = make_engine(database_url)
    try:
        with job_lock(other, score_job.JOB_ID) as held:
            assert held
            for argv in (["score"], ["score", "--date", str(END)], ["score", "--from", str(END), "--to", str(END)]):
                assert main(argv) == 1
                captured = capsys.readouterr()
                assert captured.out == ""
                lines = captured.err.splitlines()
                assert len(lines) == 1 and lines[0].startswith("healthbot: another healthbot is scoring")
        assert _scored_days(two_months) == []
    finally:
        other.dispose()
    assert main(["score", "--date", str(END)]) == 0


# --- a gap a killed backfill left -----------------------------------------------------------------


def _span(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


@pytest.fixture
def scored_20_days(engine: Engine, cli_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Engine:
    """60 days of metrics for 20 demo accounts, the last 30 days scored, all through the CLI."""
    accounts_csv, metrics_csv, _ = write_demo_csvs(tmp_path / "data", 20, 60, END)
    assert main(["import", "accounts", str(accounts_csv)]) == 0
    assert main(["import", "metrics", str(metrics_csv)]) == 0
    assert main(["score", "--from", str(FIRST), "--to", str(END)]) == 0
    assert _scored_days(engine) == _span(FIRST, END)
    capsys.readouterr()
    return engine


def test_score_fills_the_gap_a_killed_backfill_left(scored_20_days: Engine, capsys: pytest.CaptureFixture) -> None:
    gap = (FIRST + timedelta(days=7), FIRST + timedelta(days=11))  # days 8-12
    with scored_20_days.begin() as conn:
        conn.execute(text("DELETE FROM health_score WHERE day BETWEEN :a AND :b"), {"a": gap[0], "b": gap[1]})
    assert main(["score"]) == 0
    assert f"for {gap[0]} to {END};" in capsys.readouterr().out
    assert _scored_days(scored_20_days) == _span(FIRST, END)
    assert main(["score"]) == 0  # nothing missing: the latest day again, for late metrics
    assert f"for {END};" in capsys.readouterr().out


def test_the_scheduled_job_fills_the_gap_too(scored_20_days: Engine) -> None:
    from bot.scoring.scorecard import load_scorecard

    with scored_20_days.begin() as conn:
        conn.execute(text("DELETE FROM health_score WHERE day = :d"), {"d": FIRST + timedelta(days=3)})
    summary = score_job.run(scored_20_days, load_scorecard())
    assert summary is not None and summary.days[0] == FIRST + timedelta(days=3)
    assert _scored_days(scored_20_days) == _span(FIRST, END)


def test_a_gap_before_the_catch_up_window_stays(scored_20_days: Engine, capsys: pytest.CaptureFixture) -> None:
    """Only the last 30 days are caught up: older days are a backfill's job (`--from/--to`)."""
    old = END - timedelta(days=40)
    assert main(["score", "--from", str(old), "--to", str(FIRST - timedelta(days=1))]) == 0
    with scored_20_days.begin() as conn:
        conn.execute(text("DELETE FROM health_score WHERE day BETWEEN :a AND :b"), {"a": old, "b": old + timedelta(3)})
    capsys.readouterr()
    assert main(["score"]) == 0
    assert f"for {END};" in capsys.readouterr().out


def test_days_to_score_starts_at_the_earliest_gap_inside_the_window() -> None:
    first = END - timedelta(days=200)
    assert score_job.days_to_score(END, END, first, first_gap=END - timedelta(days=12)) == (
        END - timedelta(days=12), END
    )  # fmt: skip
    assert score_job.days_to_score(END, END - timedelta(days=3), first, first_gap=END - timedelta(days=9)) == (
        END - timedelta(days=9), END
    )  # fmt: skip
    assert score_job.days_to_score(END, END - timedelta(days=3), first) == (END - timedelta(days=2), END)
    assert score_job.days_to_score(END, END, first, first_gap=END - timedelta(days=90)) == (
        END - timedelta(days=29), END
    )  # fmt: skip
