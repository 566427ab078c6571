"""`healthbot --version`, the help of each command (what it does and which database it uses), `import --help`
listing the columns, and `db current` on a missing SQLite file creating nothing."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest

from bot.cli import main
from bot.scoring.importer import ACCOUNT_OPTIONAL, ACCOUNT_REQUIRED, METRIC_COLUMNS

DB_HELP = "DATABASE_URL, from the environment or .env in the current folder; default sqlite:///healthbot.db"


# --- version and help ---------------------------------------------------------------------------


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


# --- db current on a missing SQLite file ------------------------------------------------------


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
