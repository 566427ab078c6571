"""`healthbot demo`, the README's first command, run as a real process in an empty folder."""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from bot.cli import main
from storage.db import make_engine

ROOT = Path(__file__).resolve().parent.parent
DATE = re.compile(
    r"\d{4}-\d{2}-\d{2}|(Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d{2} [A-Z][a-z]{2} \d{2}:\d{2}"
)  # ISO days, due times
TABLES = ("slack_event", "health_override", "health_score", "metric_observation", "account")  # children first


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN")}
    env["PYTHONPATH"] = str(ROOT)
    return env


@pytest.fixture(scope="module")
def readme_demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """`healthbot demo` exactly as the README's quick start runs it, in an empty folder."""
    folder = tmp_path_factory.mktemp("demo")
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "demo"], cwd=folder, env=_env(), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return folder, done.stdout


def test_demo_seeds_scores_and_prints_what_slack_would_get(readme_demo: tuple[Path, str]) -> None:
    folder, out = readme_demo
    tiers = dict(re.findall(r"^  (Healthy|Low risk|Medium risk|High risk) +(\d+) ", out, re.M))
    assert set(tiers) == {"Healthy", "Low risk", "Medium risk", "High risk"}
    con = sqlite3.connect(folder / "healthbot-demo.db")
    latest = con.execute("SELECT MAX(day) FROM health_score").fetchone()[0]
    stored = dict(con.execute("SELECT tier, COUNT(*) FROM health_score WHERE day = ? GROUP BY tier", (latest,)))
    days = con.execute("SELECT COUNT(DISTINCT day) FROM health_score").fetchone()[0]
    con.close()
    labels = {"healthy": "Healthy", "low_risk": "Low risk", "medium_risk": "Medium risk", "high_risk": "High risk"}
    assert {labels[t]: str(n) for t, n in stored.items()} == {k: v for k, v in tiers.items() if v != "0"}
    assert days == 90  # the span of the card's sparkline
    assert f"Health on {latest}" in out

    auc = float(re.search(r"ROC AUC (\d\.\d+)", out).group(1))  # type: ignore[union-attr]
    assert auc > 0.7  # the demo's churn is foreshadowed and the default scorecard sees it
    assert "#customer-health ── " in out and "What pulls the score down" in out
    assert (folder / "demo-data" / "accounts.csv").exists() and (folder / "demo-data" / "metrics.csv").exists()


def test_readme_sample_is_what_the_demo_prints(readme_demo: tuple[Path, str]) -> None:
    """Every line of the README's (abridged) sample is a line the demo prints, in order; only dates differ,
    every figure must be the same.

    To refresh the sample after changing what the demo prints: run `healthbot demo` in an empty folder and
    paste its output under "What the demo prints (abridged)" in the README, leaving out whole lines if you
    like (never editing one)."""
    readme = (ROOT / "README.md").read_text()
    sample = re.search(r"What the demo prints.*?\n```\n(.*?)\n```", readme, re.S)
    assert sample, "README: the demo output sample is missing"
    printed = [DATE.sub("DATE", line.rstrip()) for line in readme_demo[1].splitlines()]
    at = 0
    for line in sample.group(1).splitlines():
        wanted = DATE.sub("DATE", line.rstrip())
        assert wanted in printed[at:], f"README line not printed by the demo (or out of order): {line!r}"
        at = printed.index(wanted, at) + 1


# Figures the README's prose quotes from the demo: (the README's words, the demo's line saying the same figure).
# A passage without the words is not checked; one with them must quote what the demo prints.
README_FIGURES = [
    (r"moves (\d+) of (\d+) accounts to a worse tier in a week", r"Moved tier in the last 7 days: (\d+) worse"),
    (
        r"already at risk \((\d+) on the demo\)",
        r"jobs run alerts` on [\d-]+ \(default rules\): (\d+) accounts already at risk",
    ),
]


def test_figures_the_readme_quotes_from_the_demo_are_the_demos(readme_demo: tuple[Path, str]) -> None:
    readme = " ".join((ROOT / "README.md").read_text().split())
    out = readme_demo[1]
    for said, printed in README_FIGURES:
        quoted = re.search(said, readme)
        if quoted is None:
            continue
        shown = re.search(printed, out)
        assert shown, f"the README quotes {quoted.group(0)!r} but the demo no longer prints {printed!r}"
        assert quoted.group(1) == shown.group(1), f"README: {quoted.group(0)!r}; the demo: {shown.group(0)!r}"
    if quoted := re.search(r"about (\d+) new alerts a week for (\d+) accounts, (\d+) to (\d+) per CSM", readme):
        per_week = re.search(r"([\d.]+) new alerts a week for (\d+) accounts", out)
        per_csm = re.search(r"per CSM a week: (.*)", out)
        assert per_week and per_csm, "the demo no longer prints alerts a week (overall and per CSM)"
        csm = [float(x) for x in re.findall(r"U\w+ ([\d.]+)", per_csm.group(1))]
        said = tuple(int(x) for x in quoted.groups())
        assert said == (round(float(per_week.group(1))), int(per_week.group(2)), round(min(csm)), round(max(csm))), (
            f"README: {quoted.group(0)!r}; the demo: {per_week.group(0)!r}, {per_csm.group(0)!r}"
        )


def _demo_on(end: str, folder: Path) -> str:
    """The demo as of `end` (its data ends that day), as a real process; its output with dates masked."""
    code = "import sys, datetime; from bot.demo.run import run_demo; "
    code += "sys.exit(run_demo('sqlite:///demo.db', 120, 180, 3, end=datetime.date.fromisoformat(sys.argv[1])))"
    folder.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", code, end], cwd=folder, env=_env(), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return DATE.sub("DATE", done.stdout)


def test_what_the_demo_shows_does_not_depend_on_the_day_it_runs(tmp_path: Path) -> None:
    one = _demo_on("2026-07-01", tmp_path / "wednesday")
    other = _demo_on("2025-02-13", tmp_path / "thursday")
    assert re.search(r"ROC AUC \d\.\d+", one) and re.search(r"^  High risk +\d+ ", one, re.M)
    assert one == other


# --- the demo never replaces a database that holds anything but its own demo data ------------------------------


def _count(url: str, sql: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(sql)).scalar_one())
    finally:
        engine.dispose()


def _fingerprint(url: str) -> object:
    """What a refused demo must leave as it was: the SQLite database's whole content (schema and rows, not the
    file's bytes: a reader closing the last connection may checkpoint the WAL into the file), or every table's rows."""
    if url.startswith("sqlite"):
        con = sqlite3.connect(Path(url.removeprefix("sqlite:///")))
        try:
            return hashlib.sha256("\n".join(con.iterdump()).encode()).hexdigest()
        finally:
            con.close()
    return {t: _count(url, f"SELECT COUNT(*) FROM {t}") for t in TABLES}


@pytest.fixture
def target(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Where the demo is pointed: the test PostgreSQL database (emptied) when there is one, else a new SQLite file."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    if not os.environ.get("TEST_DATABASE_URL"):
        yield f"sqlite:///{tmp_path / 'team.db'}"
        return
    engine: Engine = request.getfixturevalue("engine")  # migrated and emptied
    yield str(request.getfixturevalue("database_url"))
    with engine.begin() as conn:
        for table in TABLES:
            conn.execute(text(f"DELETE FROM {table}"))


def _import_team_account(url: str, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    csv = folder / "team.csv"
    csv.write_text("external_id,name,owner_slack_id\n0015g00000XyZ,Real Customer Inc,U0REALCSM1\n")
    with monkeypatch.context() as env:
        env.setenv("DATABASE_URL", url)
        assert main(["import", "accounts", str(csv)]) == 0


def test_demo_refuses_a_database_with_a_teams_data(
    target: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _import_team_account(target, tmp_path, monkeypatch)
    before = _fingerprint(target)
    capsys.readouterr()

    assert main(["demo", "--database-url", target, "--accounts", "20", "--days", "120"]) != 0

    out, err = capsys.readouterr()
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert target.split("@")[-1].split("///")[-1] in lines[0] and "--force" in lines[0]
    assert _fingerprint(target) == before
    assert not (tmp_path / "demo-data").exists()
    assert _count(target, "SELECT COUNT(*) FROM account WHERE external_id = '0015g00000XyZ'") == 1

    assert main(["demo", "--database-url", target, "--accounts", "20", "--days", "120", "--force"]) == 0
    assert _count(target, "SELECT COUNT(*) FROM account WHERE external_id = '0015g00000XyZ'") == 0
    assert _count(target, "SELECT COUNT(*) FROM account") == 20


def test_demo_runs_again_on_its_own_database(target: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--database-url", target, "--accounts", "24", "--days", "120"]) == 0
    assert main(["demo", "--database-url", target, "--accounts", "20", "--days", "120"]) == 0
    assert "Health on" in capsys.readouterr().out
    assert _count(target, "SELECT COUNT(*) FROM account") == 20  # replaced, not added to


def test_demo_refuses_a_sqlite_file_that_is_not_healthbots(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "notes.db"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE note (body TEXT)")
    con.execute("INSERT INTO note VALUES ('keep me')")
    con.commit()
    con.close()
    not_sqlite = tmp_path / "report.db"
    not_sqlite.write_text("quarterly numbers\n")
    for path in (other, not_sqlite):
        before = path.read_bytes()
        assert main(["demo", "--database-url", f"sqlite:///{path}", "--accounts", "20", "--days", "120"]) != 0
        err = capsys.readouterr().err
        assert str(path) in err and "--force" in err and len(err.strip().splitlines()) == 1
        assert path.read_bytes() == before


# --- the hints the demo prints run as printed, on the demo's database -----------------------------------------
HINT_IN_PARENS = re.compile(r"\(((?:[A-Z_]+=\S+ )*healthbot [^)]*)\)")
NEXT_STEP = re.compile(r"^  [^:]+:\s+((?:[A-Z_]+=\S+ )*healthbot .*?)(?:\s{2,}\(.*\))?$")


def demo_hints(out: str) -> list[str]:
    """The commands the demo tells the user to type: `(healthbot ...)` in a line, and each line under "Next:"."""
    hints = HINT_IN_PARENS.findall(out)
    lines = out.splitlines()
    start = lines.index("Next:") + 1 if "Next:" in lines else len(lines)
    for line in lines[start:]:
        match = NEXT_STEP.match(line)
        assert match, f"a line under Next: that is not a command: {line!r}"
        hints.append(match.group(1))
    return hints


def test_every_hint_the_demo_prints_runs_as_printed_on_the_demo_database(readme_demo: tuple[Path, str]) -> None:
    """Typed in the folder the demo ran in, each hint acts on healthbot-demo.db (none creates an empty
    healthbot.db); `healthbot run` serves until stopped, so its hints are checked for the demo's database."""
    folder, out = readme_demo
    hints = demo_hints(out)
    assert any(" score " in h for h in hints) and any(" backtest " in h for h in hints)
    env = {**_env(), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    for hint in hints:
        if hint.endswith("healthbot run"):
            assert hint.startswith("DATABASE_URL=sqlite:///healthbot-demo.db "), hint
            continue
        done = subprocess.run(hint, shell=True, cwd=folder, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"{hint}: {done.stdout}{done.stderr}"
        assert not (folder / "healthbot.db").exists(), f"{hint} created an empty healthbot.db"
    rescored = next(h for h in hints if " score " in h)
    done = subprocess.run(rescored, shell=True, cwd=folder, env=env, capture_output=True, text=True, timeout=300)
    assert re.search(r"scored [1-9][\d,]* account-days", done.stdout), done.stdout + done.stderr


def test_the_demo_ends_on_the_teams_today_so_score_keeps_its_last_day(tmp_path: Path) -> None:
    """The demo's data ends on today in TIMEZONE, the day `score` calls today: a demo that ended on the machine's
    date was a day ahead for a team west of it, and the first `healthbot score` deleted its last day as future."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    utc_today = datetime.now(UTC).date()
    zone = next(z for z in ("Pacific/Pago_Pago", "Pacific/Kiritimati") if datetime.now(ZoneInfo(z)).date() != utc_today)
    team_today = datetime.now(ZoneInfo(zone)).date()
    env = {**_env(), "TIMEZONE": zone, "TZ": "UTC"}  # the machine's clock in UTC, the team elsewhere
    cli = [sys.executable, "-m", "bot.cli"]
    done = subprocess.run([*cli, "demo", "--accounts", "30", "--days", "60", "--messages", "0"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"Health on {team_today}" in done.stdout
    env["DATABASE_URL"] = "sqlite:///healthbot-demo.db"
    done = subprocess.run([*cli, "score"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    con = sqlite3.connect(tmp_path / "healthbot-demo.db")
    latest = con.execute("SELECT MAX(day) FROM health_score").fetchone()[0]
    con.close()
    assert latest == team_today.isoformat(), done.stdout
