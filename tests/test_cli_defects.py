"""`healthbot` CLI defects found in review, each through the real CLI on a real database:
first-run scoring, the job lock, exact overrides, tier spellings, help and version, import
messages, `db current` on a missing file, control characters in import errors, 0/1 flags."""

from __future__ import annotations

import importlib.metadata
import unicodedata
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session

from bot.cli import main
from bot.demo.run import write_demo_csvs
from bot.scoring.importer import ACCOUNT_OPTIONAL, ACCOUNT_REQUIRED, METRIC_COLUMNS, ImportFailed, import_metrics
from bot.scoring.scorecard import load_scorecard
from jobs import score as score_job
from storage import queries
from storage.db import job_lock, make_engine

END = date(2026, 6, 30)
DB_HELP = "DATABASE_URL, from the environment or .env in the current folder; default sqlite:///healthbot.db"


def _write(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def _scored_days(engine: Engine) -> list[date]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT DISTINCT day FROM health_score ORDER BY day")).scalars().all()
    return [d if isinstance(d, date) else date.fromisoformat(d) for d in rows]


def _no_control_characters(output: str) -> None:
    bad = [ch for ch in output if ch != "\n" and unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp")]
    assert bad == [], f"raw control characters in {output!r}"


@pytest.fixture
def two_months(engine: Engine, cli_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Engine:
    """60 days of metrics for 30 demo accounts, imported through the CLI into an empty database."""
    accounts_csv, metrics_csv, _ = write_demo_csvs(tmp_path / "data", 30, 60, END)
    assert main(["import", "accounts", str(accounts_csv)]) == 0
    assert main(["import", "metrics", str(metrics_csv)]) == 0
    capsys.readouterr()
    return engine


# --- 1. the first score backfills history ----------------------------------------------------------


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


# --- 2. the CLI takes the job lock ------------------------------------------------------------------


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


# --- 3, 4, 5. overrides ----------------------------------------------------------------------------

ACCOUNTS = (
    "external_id,name,domain,status,churned_on\n"
    "A1,Acme,acme.example,active,\n"
    "W1,Wayne Enterprises,wayne.example,active,\n"
    "G1,Gone Inc,gone.example,churned,2026-01-31\n"
)


@pytest.fixture
def accounts(engine: Engine, cli_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Engine:
    assert main(["import", "accounts", str(_write(tmp_path, "accounts.csv", ACCOUNTS))]) == 0
    capsys.readouterr()
    return engine


def _override(account: str, *more: str) -> int:
    until = (date.today() + timedelta(days=30)).isoformat()
    return main(["override", account, "--tier", "high_risk", "--reason", "CFO is leaving", "--until", until, *more])


def _overrides(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT a.external_id, o.tier FROM health_override o JOIN account a ON a.id = o.account_id")
        ).all()
    return {e: t for e, t in rows}


@pytest.mark.parametrize(("query", "suggested"), [("Acmee", "Acme"), ("Acm", "Acme"), ("Wayn", "Wayne Enterprises")])
def test_override_needs_an_exact_account(
    accounts: Engine, capsys: pytest.CaptureFixture[str], query: str, suggested: str
) -> None:
    assert _override(query) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "did you mean: " in err[0] and suggested in err[0]
    assert _overrides(accounts) == {}

    assert _override(suggested) == 0  # the exact name is taken
    capsys.readouterr()
    assert main(["override", query, "--clear"]) == 1
    assert "did you mean: " in capsys.readouterr().err
    assert len(_overrides(accounts)) == 1  # not cleared


@pytest.mark.parametrize("query", ["A1", "acme.example", "ACME", "acme"])
def test_override_takes_exact_id_domain_or_name(accounts: Engine, query: str) -> None:
    assert _override(query) == 0
    assert _overrides(accounts) == {"A1": "high_risk"}


def test_override_on_a_churned_account_is_refused(accounts: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    assert _override("G1") == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "healthbot: Gone Inc churned on 2026-01-31: it is no longer scored, so there is nothing to override; "
        "nothing written"
    ]
    assert _overrides(accounts) == {}


@pytest.mark.parametrize(
    ("spelled", "tier"), [("high", "high_risk"), ("High risk", "high_risk"), ("red", "high_risk"), ("low", "low_risk")]
)
def test_override_takes_the_tiers_slack_takes(accounts: Engine, spelled: str, tier: str) -> None:
    until = (date.today() + timedelta(days=30)).isoformat()
    assert main(["override", "A1", "--tier", spelled, "--reason", "r", "--until", until]) == 0
    assert _overrides(accounts) == {"A1": tier}


def test_override_bad_tier_lists_the_choices(accounts: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    until = (date.today() + timedelta(days=30)).isoformat()
    assert main(["override", "A1", "--tier", "h", "--reason", "r", "--until", until]) == 2
    err = capsys.readouterr().err
    assert "--tier must be one of healthy, low_risk, medium_risk, high_risk" in err
    assert _overrides(accounts) == {}


# --- 6. version and help ---------------------------------------------------------------------------


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"healthbot {importlib.metadata.version('healthbot')}\n"


@pytest.mark.parametrize("command", ["import", "score", "backtest", "tune", "override", "run", "db"])
def test_help_says_what_and_which_database(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert DB_HELP in " ".join(out.split())
    description = out.split("\n\n")[1]
    assert len(description.split()) >= 5  # a sentence saying what it does, not just the usage


def test_import_help_lists_the_columns_and_the_all_or_nothing_rule(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["import", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for column in (*ACCOUNT_REQUIRED, *ACCOUNT_OPTIONAL, *METRIC_COLUMNS):
        assert column in out
    assert "required" in out and "optional" in out
    assert "a file with any bad row imports nothing" in out


# --- 7. import messages ----------------------------------------------------------------------------


def test_import_says_what_it_imported(
    engine: Engine, cli_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one = _write(tmp_path, "one.csv", "external_id,name\nA1,Acme\n")
    assert main(["import", "accounts", str(one)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"imported 1 account from {one} in ") and out.endswith(" s\n")
    two = _write(tmp_path, "two.csv", "external_id,name\nA1,Acme\nB1,Beta\n")
    assert main(["import", "accounts", str(two)]) == 0
    assert capsys.readouterr().out.startswith(f"imported 2 accounts from {two} in ")
    rows = "".join(f"A1,2026-01-01,m{i},1\n" for i in range(1234))
    many = _write(tmp_path, "metrics.csv", f"external_id,date,metric,value\n{rows}")
    assert main(["import", "metrics", str(many)]) == 0
    assert capsys.readouterr().out.startswith(f"imported 1,234 metric rows from {many} in ")
    single = _write(tmp_path, "single.csv", "external_id,date,metric,value\nA1,2026-01-02,logins,1\n")
    assert main(["import", "metrics", str(single)]) == 0
    assert capsys.readouterr().out.startswith(f"imported 1 metric row from {single} in ")


# --- 8. db current on a missing SQLite file ------------------------------------------------------


def test_db_current_creates_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", "sqlite:///nothing-here.db")

    assert main(["db", "current"]) == 1

    assert capsys.readouterr().err.splitlines() == [
        "healthbot: no database at nothing-here.db yet (run healthbot db upgrade)"
    ]
    assert list(tmp_path.iterdir()) == []
    assert main(["db", "upgrade"]) == 0
    assert main(["db", "current"]) == 0


# --- 9. no raw control characters in import errors -------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        b"\x00" * 200,
        "external_id,name\nA1,Acme\n".encode("utf-16"),
        "external_id,name\nA1,Acme\n".encode("utf-16-le"),
        b"external_id,name,domain\nZ1,Zed,nul\x00.example\n",
    ],
    ids=["all-nul", "utf-16", "utf-16-no-bom", "one-nul"],
)
def test_nul_bytes_are_named_not_printed(
    engine: Engine, cli_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes
) -> None:
    path = _write(tmp_path, "bad.csv", content)
    assert main(["import", "accounts", str(path)]) == 1
    err = capsys.readouterr().err
    _no_control_characters(err)
    assert "the file contains NUL bytes (is it a binary or UTF-16 file?)" in err
    assert err.rstrip().endswith("Nothing was imported.")


@pytest.mark.parametrize(
    ("content", "shown"),
    [
        ("external_id,name,\x1b[2Jevil\nA1,Acme,x\n", "unknown column(s) \\x1b[2Jevil"),
        ("external_id,name,mrr\nA1,Acme,\x1b[31m5\x07\n", "mrr: '\\x1b[31m5\\x07' is not a number"),
        ('external_id,name,mrr\nA1,Acme,"5\r\n6"\n', "mrr: '5\\r\\n6' is not a number"),
        ("external_id,name,segment\nA1,Acme,\u202eevil\u2028x" + "s" * 70 + "\n", "segment: '\\u202eevil\\u2028x"),
    ],
    ids=["header-escape", "value-escape", "newline-in-value", "bidi-and-line-separator"],
)
def test_control_characters_are_escaped(
    engine: Engine, cli_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, shown: str
) -> None:
    path = _write(tmp_path, "bad.csv", content)
    assert main(["import", "accounts", str(path)]) == 1
    err = capsys.readouterr().err
    _no_control_characters(err)
    assert shown in err


# --- 10. 0/1 flags -----------------------------------------------------------------------------------


def test_flag_metrics_take_only_0_or_1(accounts: Engine, tmp_path: Path) -> None:
    rows = ["A1,2026-03-01,champion_left,0.5", "A1,2026-03-02,champion_left,2", "A1,2026-03-03,champion_left,1.0",
            "A1,2026-03-04,champion_left,0", "A1,2026-03-05,nps,0.5"]  # fmt: skip
    path = _write(tmp_path, "metrics.csv", "external_id,date,metric,value\n" + "\n".join(rows) + "\n")

    with pytest.raises(ImportFailed) as failed:
        import_metrics(accounts, path, quiet=True)

    assert failed.value.errors == [
        "line 2, value: 0.5 for champion_left must be 0 or 1",
        "line 3, value: 2 for champion_left must be 0 or 1",
    ]
    with Session(accounts) as s:
        assert queries.find_accounts(s, "A1")[0].id is not None
    with accounts.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM metric_observation")).scalar() == 0
