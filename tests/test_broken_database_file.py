"""Broken database files, through the real CLI: a read-only, corrupt or damaged SQLite file, or one another process
locks, is one line from every command (score, import, run), `run` refuses it and /healthz says it is down."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

from bot.demo.run import write_demo_csvs
from tests.conftest import free_port

END = date(2026, 6, 30)


# --- a database file that cannot be written or read: one line from every command, `run` refuses to start ----------

NO_DAC = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--inh-caps=-all"]


def _cli(url: str, *args: str, as_plain_user: bool = False, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """`healthbot ARGS` in a process of its own; `as_plain_user`: root without the right to ignore file modes."""
    env = {**os.environ, "DATABASE_URL": url, "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": "s",
           "SLACK_API_URL": "http://127.0.0.1:9/api/", "PORT": str(free_port()), "HOST": "127.0.0.1"}  # fmt: skip
    env.pop("SLACK_APP_TOKEN", None)
    command = [*(NO_DAC if as_plain_user else []), sys.executable, "-m", "bot.cli", *args]
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=60)


def _one_line(proc: subprocess.CompletedProcess, *parts: str) -> str:
    lines = [line for line in proc.stderr.strip().splitlines() if not line.startswith("scoring:")]  # progress bar
    assert proc.returncode in (1, 2) and len(lines) == 1, proc.stderr
    for part in parts:
        assert part in lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def database_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small scored SQLite database, and the demo CSVs beside it."""
    if os.environ.get("TEST_DATABASE_URL"):
        pytest.skip("SQLite files")
    folder = tmp_path_factory.mktemp("files")
    accounts_csv, metrics_csv, _ = write_demo_csvs(folder, 10, 40, END)
    url = f"sqlite:///{folder / 'good.db'}"
    for args in (["import", "accounts", str(accounts_csv)], ["import", "metrics", str(metrics_csv)], ["score"]):
        proc = _cli(url, *args)
        assert proc.returncode == 0, proc.stderr
    return folder / "good.db"


def _copy(database_file: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "copy.db"
    shutil.copy(database_file, copy)
    return copy


@pytest.fixture
def read_only(database_file: Path, tmp_path: Path) -> Path:
    if shutil.which("setpriv") is None or subprocess.run([*NO_DAC, "true"], capture_output=True).returncode != 0:
        pytest.skip("setpriv cannot drop CAP_DAC_OVERRIDE here")
    tmp_path.chmod(0o755)
    copy = _copy(database_file, tmp_path)
    copy.chmod(0o444)
    return copy


def test_a_read_only_file_is_one_line_from_score_import_and_run(read_only: Path, database_file: Path) -> None:
    url = f"sqlite:///{read_only}"
    accounts_csv = database_file.parent / "accounts.csv"
    for args in (["score"], ["import", "accounts", str(accounts_csv)], ["run"]):
        line = _one_line(_cli(url, *args, as_plain_user=True), f"the database file {read_only} is read-only")
        assert "writable" in line
    read_only.chmod(0o644)
    read_only.parent.chmod(0o555)  # the folder, where SQLite keeps -wal and -shm
    try:
        _one_line(_cli(url, "score", as_plain_user=True), "is read-only", f"its folder {read_only.parent}")
    finally:
        read_only.parent.chmod(0o755)


def test_a_file_that_is_no_database_is_one_line_from_every_command(database_file: Path, tmp_path: Path) -> None:
    copy = _copy(database_file, tmp_path)
    with copy.open("r+b") as f:
        f.write(b"\0" * 100)  # the header
    url = f"sqlite:///{copy}"
    accounts_csv = database_file.parent / "accounts.csv"
    for args in (["score"], ["import", "accounts", str(accounts_csv)], ["run"], ["db", "current"], ["db", "upgrade"]):
        # the message a URL naming another file gets too (tests/test_cli_import_database.py)
        _one_line(_cli(url, *args), f"cannot open the database {url} (file is not a database); check the URL")


def test_a_damaged_page_is_one_line_from_score_import_and_run(database_file: Path, tmp_path: Path) -> None:
    copy = _copy(database_file, tmp_path)
    size = copy.stat().st_size
    with copy.open("r+b") as f:  # pages in the middle of the file: metric rows
        f.seek((size // 2) // 4096 * 4096)
        f.write(b"\xff" * 4096 * 8)
    url = f"sqlite:///{copy}"
    metrics_csv = database_file.parent / "metrics.csv"
    for args in (["score", "--from", str(END - timedelta(days=5)), "--to", str(END)], ["import", "metrics",
                 str(metrics_csv)]):  # fmt: skip
        _one_line(_cli(url, *args), f"the database file {copy} is not a database or is corrupt", "malformed")


def test_healthz_says_a_read_only_file_is_down(read_only: Path) -> None:
    """`ping` is what /healthz reports: a file this process cannot write is down, not up."""
    check = "from storage.db import make_engine, ping; import sys; print(ping(make_engine(sys.argv[1])))"
    url = f"sqlite:///{read_only}"
    proc = subprocess.run([*NO_DAC, sys.executable, "-c", check, url], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "False", proc.stderr
    read_only.chmod(0o644)
    proc = subprocess.run([*NO_DAC, sys.executable, "-c", check, url], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "True", proc.stderr


def test_a_locked_file_says_another_process_holds_it() -> None:
    """After the 30 s busy timeout a locked SQLite file said "failed (database is locked); check the disk and the
    file": it is another process's write transaction, and nothing is wrong with the disk."""
    import sqlite3

    from bot.commands.database import database_problem

    line = database_problem(sqlite3.OperationalError("database is locked"), "sqlite:///team.db") or ""
    assert "team.db stayed locked by another process" in line and "check the disk" not in line
    assert "run it again" in line
