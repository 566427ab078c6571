"""Data that has not happened yet (issue 18), through the real CLI and HTTP paths.

A metric dated after today (today in the team's TIMEZONE, one day of slack for clock skew) is a line error
in a CSV import, a 422 naming the record at POST /ingest/metrics and a per-record error in `healthbot sync`.
A future row already stored (from before this rule, or written directly) never makes `healthbot score` score
a day after today, never moves a real day's score, never stops the daily run, and is named once.
Dates are relative to today: the rule is about today, so the data is too.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session, select

from bot.cli import main
from bot.demo.run import write_demo_csvs
from bot.scoring.importer import last_metric_day
from bot.scoring.scorecard import load_scorecard
from jobs import score as score_job
from storage.db import session_factory, unit_of_work
from storage.models import Account
from tests.test_connectors import FakeAPI
from tests.test_ingest import TOKEN, Web, stored
from tests.test_ingest import add_accounts as add_numbered_accounts

TODAY = datetime.now(UTC).date()
END = TODAY - timedelta(days=2)  # the last day of real data
AHEAD = TODAY + timedelta(days=30)  # `CUST001,2027-01-06,api_calls,100`: a month ahead
TYPO = date(2062, 11, 28)  # a typo pushed to POST /ingest/metrics


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TIMEZONE", raising=False)


@pytest.fixture
def team(engine: Engine, cli_env: None, utc: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Engine:
    """20 demo accounts with 60 days of metrics up to two days ago, imported through the CLI."""
    accounts_csv, metrics_csv, _ = write_demo_csvs(tmp_path / "data", 20, 60, END)
    assert main(["import", "accounts", str(accounts_csv)]) == 0
    assert main(["import", "metrics", str(metrics_csv)]) == 0
    capsys.readouterr()
    return engine


def _observations(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT COUNT(*) FROM metric_observation")).scalar_one())


def _insert(engine: Engine, external_id: str, day: date, metric: str, value: float) -> None:
    """A row as stored data from before the rule may hold it: written directly, past every check."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO metric_observation (account_id, day, metric, value) "
                "SELECT id, :d, :m, :v FROM account WHERE external_id = :e"
            ),
            {"d": day, "m": metric, "v": value, "e": external_id},
        )


def _scored_days(engine: Engine) -> list[date]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT DISTINCT day FROM health_score ORDER BY day")).scalars().all()
    return [d if isinstance(d, date) else date.fromisoformat(d) for d in rows]


def _scores(engine: Engine, day: date) -> dict[int, tuple[float, str, bool]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT account_id, score, tier, partial FROM health_score WHERE day = :d"), {"d": day}
        ).all()
    return {r[0]: (r[1], r[2], bool(r[3])) for r in rows}


def _drop_scores(engine: Engine, day: date | None = None) -> None:
    with engine.begin() as conn:
        if day is None:
            conn.execute(text("DELETE FROM health_score"))
        else:
            conn.execute(text("DELETE FROM health_score WHERE day = :d"), {"d": day})


# --- the rule's day --------------------------------------------------------------------------------------


def test_the_latest_day_a_metric_may_have_is_tomorrow_in_the_teams_time_zone() -> None:
    evening = datetime(2026, 12, 7, 20, 0, tzinfo=UTC)
    assert last_metric_day(ZoneInfo("UTC"), evening) == date(2026, 12, 8)
    assert last_metric_day(ZoneInfo("Pacific/Kiritimati"), evening) == date(2026, 12, 9)  # already the 8th there
    assert last_metric_day(ZoneInfo("America/Los_Angeles"), evening) == date(2026, 12, 8)


# --- every way in refuses it -----------------------------------------------------------------------------


def test_a_csv_import_refuses_a_metric_dated_after_today(
    team: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _observations(team)
    tomorrow = TODAY + timedelta(days=1)  # one day of slack for clock skew
    path = tmp_path / "late.csv"
    good = f"external_id,date,metric,value\nACC-0001,{tomorrow},api_calls,5\nACC-0002,{END},api_calls,7\n"
    path.write_text(good + f"ACC-0001,{AHEAD},api_calls,100\n", encoding="utf-8")

    assert main(["import", "metrics", str(path)]) == 1

    err = capsys.readouterr().err
    assert f"line 4, date: '{AHEAD}' is after today ({TODAY}" in err
    assert "line 2" not in err and "line 3" not in err
    assert err.rstrip().endswith("Nothing was imported.")
    assert _observations(team) == before
    path.write_text(good, encoding="utf-8")
    assert main(["import", "metrics", str(path)]) == 0
    assert _observations(team) == before + 2


@pytest.fixture
def web(engine: Engine) -> Iterator[Web]:
    server = Web(engine, TOKEN)
    yield server
    server.stop()


def test_ingest_refuses_a_body_with_a_future_record_naming_it(engine: Engine, web: Web) -> None:
    add_numbered_accounts(engine, 2)
    body = [
        {"external_id": "acc-0", "date": END.isoformat(), "metric": "logins", "value": 3},
        {"external_id": "acc-1", "date": TYPO.isoformat(), "metric": "logins", "value": 4},
        {"external_id": "acc-1", "date": (TODAY + timedelta(days=1)).isoformat(), "metric": "logins", "value": 5},
    ]

    answer = web.post(json.dumps(body).encode())

    assert answer.status_code == 422
    (error,) = answer.json()["errors"]
    assert error.startswith(f"record 2 (acc-1, {TYPO}): date {TYPO} is after today ({TODAY}")
    assert stored(engine) == []
    del body[1]
    assert web.post(json.dumps(body).encode()).status_code == 200
    assert len(stored(engine)) == 2


def test_sync_reports_a_future_record_and_writes_the_others(
    engine: Engine, cli_env: None, utc: None, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
) -> None:  # fmt: skip
    add_numbered_accounts(engine, 3)
    usage = [
        {"id": 1, "account": "acc-0", "day": END.isoformat(), "logins": 3},
        {"id": 2, "account": "acc-1", "day": TYPO.isoformat(), "logins": 4},
        {"id": 3, "account": "acc-2", "day": END.isoformat(), "logins": 5},
    ]
    fake = FakeAPI(lambda req: (200, {}, usage))
    request.addfinalizer(fake.close)
    sources = tmp_path / "sources.toml"
    sources.write_text(
        f"""
[[source]]
name = "usage"
kind = "metrics"
base_url = "{fake.url}"
fields = {{ account = "account", date = "day", id = "id" }}
metrics = {{ logins = "logins" }}
""",
        encoding="utf-8",
    )

    assert main(["sync", "--sources", str(sources), "--quiet"]) == 0

    out = capsys.readouterr().out
    assert "3 records in 1 page, 2 observations written" in out
    assert "skipped 1 record: 1 date: after today" in out
    assert f"source usage, page 1, record 2 (id 2): date: {TYPO} is after today ({TODAY}" in out
    assert sorted(stored(engine)) == [
        ("acc-0", END.isoformat(), "logins", 3.0),
        ("acc-2", END.isoformat(), "logins", 5.0),
    ]


# --- a future row already stored -------------------------------------------------------------------------


def test_a_stored_row_a_month_ahead_scores_no_future_day_and_moves_no_score(
    team: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["score"]) == 0
    real = _scores(team, END)
    assert real and _scored_days(team)[-1] == END
    _insert(team, "ACC-0001", AHEAD, "api_calls", 100)
    with team.begin() as conn:  # what the run before this rule stored: 30 future days, everyone High risk
        conn.execute(
            text(
                "INSERT INTO health_score (account_id, day, score, tier, scorecard, partial, parts, computed_at) "
                "SELECT account_id, :d, 1, 'high_risk', scorecard, partial, parts, computed_at FROM health_score "
                "WHERE day = :end"
            ),
            {"d": AHEAD, "end": END},
        )
    _drop_scores(team, END)
    capsys.readouterr()

    assert main(["score"]) == 0

    out = capsys.readouterr().out
    assert f"for {END};" in out
    assert _scored_days(team)[-1] == END  # no day after today
    assert _scores(team, END) == real  # nobody moved to High risk
    (note,) = [line for line in out.splitlines() if "after today" in line]
    assert f"1 stored metric row is dated after today ({TODAY}" in note
    assert f"ACC-0001 on {AHEAD}" in note and "DELETE FROM metric_observation WHERE day >" in note
    assert f"{len(real)} stored scores dated after today were removed" in note
    assert main(["score"]) == 0  # said once: the next run names the row again, the scores are gone
    (again,) = [line for line in capsys.readouterr().out.splitlines() if "after today" in line]
    assert "removed" not in again


def test_a_stored_row_dated_2062_does_not_stop_the_daily_run(
    team: Engine, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    yesterday = END - timedelta(days=1)
    assert main(["score", "--from", str(END - timedelta(days=29)), "--to", str(yesterday)]) == 0
    _insert(team, "ACC-0002", TYPO, "logins", 7)
    capsys.readouterr()

    assert main(["score"]) == 0

    out = capsys.readouterr().out
    assert f"for {END};" in out and "2062" in out  # the real day; the typo named once
    assert not any(line.startswith("scored 0 ") for line in out.splitlines())
    assert _scored_days(team)[-1] == END and _scores(team, END)
    # the scheduled job too: the real day scored, one line in the log
    _drop_scores(team, END)
    with caplog.at_level(logging.INFO, logger="healthbot.jobs.score"):
        summary = score_job.run(team, load_scorecard(), today=TODAY)
    assert summary is not None and summary.days == [END] and summary.scored > 0
    notes = [r for r in caplog.records if "after today" in r.getMessage()]
    assert len(notes) == 1 and notes[0].levelno == logging.WARNING and f"ACC-0002 on {TYPO}" in notes[0].getMessage()


def test_score_refuses_days_after_today(team: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    _insert(team, "ACC-0001", AHEAD, "logins", 3)

    assert main(["score", "--date", str(AHEAD)]) == 1
    captured = capsys.readouterr()
    assert f"not scored {AHEAD}: after today ({TODAY}" in captured.err
    assert AHEAD not in _scored_days(team)

    assert main(["score", "--from", str(END), "--to", str(TODAY + timedelta(days=3))]) == 0
    captured = capsys.readouterr()
    assert f"not scored {TODAY + timedelta(days=1)} to {TODAY + timedelta(days=3)}: after today" in captured.err
    assert f"for {END};" in captured.out
    assert _scored_days(team)[-1] == END


def test_a_day_of_a_backfill_reads_nothing_after_it(team: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    """No look-ahead: a day scores the same alone and inside a range whose later days bring a new metric."""
    first = END - timedelta(days=5)
    with team.begin() as conn:  # nps is reported from END - 1 on only
        conn.execute(
            text("DELETE FROM metric_observation WHERE metric = 'nps' AND day < :d"), {"d": END - timedelta(1)}
        )
    assert main(["score", "--date", str(first)]) == 0
    alone = _scores(team, first)
    _drop_scores(team)

    assert main(["score", "--from", str(first), "--to", str(END)]) == 0

    assert alone and _scores(team, first) == alone


# --- small teams: their own metric names -----------------------------------------------------------------


def test_score_names_the_metrics_the_card_does_not_read_and_points_at_suggest(
    engine: Engine, cli_env: None, utc: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("external_id,name\n" + "".join(f"T{i:03d},Team {i}\n" for i in range(40)), encoding="utf-8")
    lines = ["external_id,date,metric,value"]
    for i in range(40):
        for d in range(60):
            day = END - timedelta(days=d)
            lines += [f"T{i:03d},{day},api_calls,{100 + i + d}", f"T{i:03d},{day},seats_used,{5 + i % 3}"]
            lines += [f"T{i:03d},{day},support_tickets,{d % 2}"]
    metrics = tmp_path / "metrics.csv"
    metrics.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["import", "accounts", str(accounts)]) == 0
    assert main(["import", "metrics", str(metrics)]) == 0
    capsys.readouterr()

    assert main(["score"]) == 1

    captured = capsys.readouterr()
    said = captured.out + captured.err
    (line,) = [x for x in said.splitlines() if "api_calls" in x]
    assert "api_calls, seats_used, support_tickets" in line
    assert "logins" in line and "nps" in line  # what the card expects
    assert "healthbot scorecard suggest --as-of " in line and "--horizon " in line


def test_score_with_only_future_rows_names_them(
    engine: Engine, cli_env: None, utc: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("external_id,name\nCUST001,Acme\n", encoding="utf-8")
    assert main(["import", "accounts", str(accounts)]) == 0
    _insert(engine, "CUST001", AHEAD, "api_calls", 100)
    capsys.readouterr()

    assert main(["score"]) == 1

    captured = capsys.readouterr()
    assert f"1 stored metric row is dated after today ({TODAY}), not read and not scored: CUST001 on {AHEAD}" in (
        captured.out
    )
    assert "no metrics yet" in captured.err and _scored_days(engine) == []


def test_a_stored_future_row_moves_neither_backtest_nor_suggest(
    team: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """backtest and suggest pick their latest day as the daily run does: a row dated 2062 is not data."""
    as_of = TODAY  # after the real data (END): the backtest reads nothing past END, suggest refuses it
    code = main(["backtest", "--as-of", str(as_of), "--horizon", "30", "--json"])
    before = json.loads(capsys.readouterr().out)
    assert before["notes"] == [f"the latest metrics are for {END}: backtest as of that day or earlier"]
    _insert(team, "ACC-0002", TYPO, "logins", 7)
    _insert(team, "ACC-0003", TODAY + timedelta(days=1), "logins", 3)  # a clock-skew tomorrow: not data yet either

    assert main(["backtest", "--as-of", str(as_of), "--horizon", "30", "--json"]) == code
    after = json.loads(capsys.readouterr().out)
    assert after == before

    out = tmp_path / "card.toml"
    assert main(["scorecard", "suggest", "--as-of", str(as_of), "--horizon", "30", "--out", str(out)]) != 0
    assert f"is after the latest metrics ({END})" in capsys.readouterr().err
    assert not out.exists()


def test_an_alert_that_fired_on_a_future_score_can_recover(team: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    """The alert job of a run before this rule alerted on future scores: its alert's last firing day was in the
    future, so 'not fired for recover_days' never came. Removing the future scores brings that day back to today."""
    from storage.models import Alert

    with unit_of_work(session_factory(team)) as s:
        account = s.exec(select(Account).where(Account.external_id == "ACC-0001")).one()
        s.add(Alert(account_id=account.id or 0, severity="high_risk", opened_on=AHEAD, last_fired_on=AHEAD,
                    due_at=datetime.now(UTC), channel="C0ALERTS"))  # fmt: skip
    with team.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO health_score (account_id, day, score, tier, scorecard, partial, parts, computed_at) "
                "SELECT id, :d, 1, 'high_risk', 'default', false, '{}', :now FROM account WHERE external_id = :e"
            ),
            {"d": AHEAD, "now": datetime.now(UTC), "e": "ACC-0001"},
        )

    assert main(["score"]) == 0

    with Session(team) as s:
        (alert,) = s.exec(select(Alert)).all()
    assert alert.last_fired_on == TODAY
