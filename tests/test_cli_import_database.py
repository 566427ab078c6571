"""`healthbot import` and `healthbot db` when DATABASE_URL points at a database that does not answer:
one line naming DATABASE_URL and the reason, never a traceback, and nothing else touched."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from bot import cli

SETTING_NAMES = (
    "DATABASE_URL", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "SLACK_API_URL", "HOST",
    "PORT", "TIMEZONE", "SCORE_TIME", "ALERT_CHANNEL", "SCORECARD_PATH", "LISTENER_THREADS", "LOG_LEVEL",
)  # fmt: skip


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in SETTING_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "accounts.csv").write_text("external_id,name\nA1,Acme\n", encoding="utf-8")
    return monkeypatch


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("argv", [["import", "accounts", "accounts.csv"], ["db", "upgrade"], ["db", "current"]])
def test_unreachable_postgres_is_one_line(
    cli_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    port = _closed_port()
    cli_env.setenv("DATABASE_URL", f"postgresql://hb:s3cret@127.0.0.1:{port}/hb")

    assert cli.main(argv) == 2

    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(
        f"healthbot: DATABASE_URL: cannot open the database postgresql+psycopg://hb:***@127.0.0.1:{port}/hb ("
    )
    assert "s3cret" not in lines[0]


def test_file_that_is_not_a_database_is_one_line(
    cli_env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    not_a_db = tmp_path / "accounts.csv"
    cli_env.setenv("DATABASE_URL", f"sqlite:///{not_a_db}")

    assert cli.main(["import", "accounts", "accounts.csv"]) == 2

    assert capsys.readouterr().err.splitlines() == [
        f"healthbot: DATABASE_URL: cannot open the database sqlite:///{not_a_db} (file is not a database); "
        "check the URL and that the database is up"
    ]
    assert not_a_db.read_text(encoding="utf-8") == "external_id,name\nA1,Acme\n"
