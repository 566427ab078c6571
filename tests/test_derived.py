"""The daily run's derived copy of its metric window (`bot.scoring.derived`, `storage.metric_cache`) never changes
a score: after any write to a past day (import, ingest push, sync, deleted rows or account), a crash mid-rebuild,
or a cache left by another database at the same URL, the stored scores equal those of a run reading every day from
the database. Every test also checks the cache was really used (fewer days read), so none can pass by reading all."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Engine, text

from bot.cli import main
from bot.connectors.ingest import ingest
from bot.demo.run import write_demo_csvs
from bot.scoring.importer import import_accounts, import_metrics
from bot.scoring.run import score_range
from bot.scoring.scorecard import load_scorecard
from storage import metric_cache, scores
from storage.db import make_engine, upgrade
from tests.conftest import _reset_postgres
from tests.test_connectors import FakeAPI
from tests.test_scoring import stored

END = date(2026, 6, 30)
CARD = load_scorecard()
WINDOW = CARD.data.lookback_days


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[date, date]]:
    """The (start, end) of every read of observations."""
    seen: list[tuple[date, date]] = []
    real = scores.observations

    def spy(conn: Any, start: date, end: date, metrics: Any) -> pd.DataFrame:
        seen.append((start, end))
        return real(conn, start, end, metrics)

    monkeypatch.setattr(scores, "observations", spy)
    return seen


@pytest.fixture
def portfolio(engine: Engine, tmp_path: Path) -> Engine:
    accounts_csv, metrics_csv, _ = write_demo_csvs(tmp_path / "data", 30, 120, END)
    import_accounts(engine, accounts_csv, quiet=True)
    import_metrics(engine, metrics_csv, quiet=True)
    return engine


def days_read(reads: list[tuple[date, date]]) -> int:
    return sum((b - a).days + 1 for a, b in reads)


def same_as_a_full_read(engine: Engine, reads: list[tuple[date, date]], day: date = END) -> list[tuple[Any, ...]]:
    """Score `day` with the cache, then without: the stored rows (every column but computed_at) are equal."""
    reads.clear()
    score_range(engine, CARD, day, day, today=day)
    derived = stored(engine, day)
    derived_reads = days_read(reads)
    score_range(engine, CARD, day, day, today=day, use_cache=False)
    assert stored(engine, day) == derived
    assert derived
    reads.clear()
    return [derived_reads]


def warm(engine: Engine, reads: list[tuple[date, date]]) -> list[tuple[Any, ...]]:
    """A first run (builds the cache) and a second one that reads nothing from the database: the cache works."""
    score_range(engine, CARD, END, END, today=END)
    reads.clear()
    score_range(engine, CARD, END, END, today=END)
    assert days_read(reads) == 0
    return stored(engine, END)


def past_day_csv(engine: Engine, tmp_path: Path, day: date, factor: float) -> Path:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT a.external_id, o.day, o.metric, o.value FROM metric_observation o"
                " JOIN account a ON a.id = o.account_id"
                " WHERE o.day = :d AND o.metric IN ('logins', 'core_feature_events')"
            ),
            {"d": day},
        ).all()
    frame = pd.DataFrame(rows, columns=["external_id", "date", "metric", "value"])
    frame["value"] = (frame["value"] * factor + 40).round(0)
    path = tmp_path / "change.csv"
    frame.to_csv(path, index=False)
    return path


def test_an_import_that_changes_a_past_day(portfolio: Engine, reads: list, tmp_path: Path) -> None:
    before = warm(portfolio, reads)
    import_metrics(portfolio, past_day_csv(portfolio, tmp_path, END - timedelta(days=2), 9.0), quiet=True)

    [days] = same_as_a_full_read(portfolio, reads)
    assert days == 1  # only the changed day came from the database
    assert stored(portfolio, END) != before  # the change moved scores: a stale cache would have shown


def test_an_ingest_push_and_a_sync_of_past_days(
    portfolio: Engine, reads: list, cli_env: None, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    warm(portfolio, reads)
    with portfolio.connect() as conn:
        ids = conn.execute(text("SELECT external_id FROM account ORDER BY id")).scalars().all()
    pushed = [
        {"external_id": e, "date": (END - timedelta(days=5)).isoformat(), "metric": "logins", "value": 0} for e in ids
    ]
    assert ingest(portfolio, json.dumps(pushed).encode(), UTC) == len(ids)
    [days] = same_as_a_full_read(portfolio, reads)
    assert days == 1

    usage = [{"id": i, "account": e, "day": (END - timedelta(days=1)).isoformat(), "logins": 500 + i}
             for i, e in enumerate(ids)]  # fmt: skip
    fake = FakeAPI(lambda req: (200, {}, usage))
    request.addfinalizer(fake.close)
    sources = tmp_path / "sources.toml"
    sources.write_text(
        f'[[source]]\nname = "usage"\nkind = "metrics"\nbase_url = "{fake.url}"\n'
        'fields = { account = "account", date = "day", id = "id" }\nmetrics = { logins = "logins" }\n',
        encoding="utf-8",
    )
    os.environ.pop("TIMEZONE", None)
    assert main(["sync", "--sources", str(sources), "--quiet"]) == 0
    [days] = same_as_a_full_read(portfolio, reads)
    assert days == 1


def test_deleted_rows_and_a_deleted_account(portfolio: Engine, reads: list) -> None:
    warm(portfolio, reads)
    with portfolio.begin() as conn:
        conn.execute(text("DELETE FROM metric_observation WHERE day = :d AND metric = 'logins'"),
                     {"d": END - timedelta(days=3)})  # fmt: skip
    [days] = same_as_a_full_read(portfolio, reads)
    assert days == 1

    with portfolio.begin() as conn:
        victim = conn.execute(text("SELECT MIN(id) FROM account")).scalar_one()
        conn.execute(text("DELETE FROM health_score WHERE account_id = :a"), {"a": victim})
        conn.execute(text("DELETE FROM account WHERE id = :a"), {"a": victim})  # its metrics go by cascade
    same_as_a_full_read(portfolio, reads)


def test_an_update_that_moves_rows_to_another_day(portfolio: Engine, reads: list) -> None:
    warm(portfolio, reads)
    with portfolio.begin() as conn:
        conn.execute(text("DELETE FROM metric_observation WHERE day = :d"), {"d": END - timedelta(days=4)})
        conn.execute(text("UPDATE metric_observation SET day = :new WHERE day = :old"),
                     {"old": END - timedelta(days=6), "new": END - timedelta(days=4)})  # fmt: skip
    [days] = same_as_a_full_read(portfolio, reads)
    assert days == 2


def _kill_before_the_manifest(database_url: str, cache: str) -> None:
    """Score END in a child process that is killed (SIGKILL) after writing its cube, before the manifest."""
    code = (
        "import os, signal, sys\n"
        "from datetime import date\n"
        "from storage import metric_cache\n"
        "def crash(*a, **k):\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "metric_cache.os.replace = crash\n"
        "from bot.scoring.run import score_range\n"
        "from bot.scoring.scorecard import load_scorecard\n"
        "from storage.db import make_engine\n"
        f"score_range(make_engine({database_url!r}), load_scorecard(), date(2026, 6, 30), date(2026, 6, 30),"
        " today=date(2026, 6, 30))\n"
    )
    root = str(Path(__file__).resolve().parent.parent)
    proc = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, "CACHE_DIR": cache, "PYTHONPATH": root}, check=False
    )
    assert proc.returncode == -signal.SIGKILL


def test_a_crash_mid_rebuild(portfolio: Engine, reads: list, tmp_path: Path, database_url: str) -> None:
    folder = metric_cache.folder_for(portfolio.url.set(password=None).render_as_string(hide_password=False))
    assert folder is not None
    warm(portfolio, reads)
    manifest = (folder / "manifest.json").read_text()
    import_metrics(portfolio, past_day_csv(portfolio, tmp_path, END - timedelta(days=2), 5.0), quiet=True)

    _kill_before_the_manifest(database_url, os.environ["CACHE_DIR"])
    assert (folder / "manifest.json").read_text() == manifest  # the old generation stays current
    leftovers = {p.name for p in folder.iterdir()} - {"manifest.json", "lock"}
    assert len(leftovers) > 3  # the old generation's three files and the dead run's

    [days] = same_as_a_full_read(portfolio, reads)
    assert days == 1
    assert len({p.name for p in folder.iterdir()} - {"manifest.json", "lock"}) == 3  # leftovers removed

    # a damaged current generation: its cube cut short
    cube = next(folder.glob("cube-*.npy"))
    with open(cube, "r+b") as f:
        f.truncate(os.path.getsize(cube) // 2)
    import_metrics(portfolio, past_day_csv(portfolio, tmp_path, END - timedelta(days=9), 3.0), quiet=True)
    [days] = same_as_a_full_read(portfolio, reads)
    assert days == WINDOW  # unreadable: one full read


def _recreate(database_url: str) -> Engine:
    if database_url.startswith("postgresql"):
        _reset_postgres(database_url)
    else:
        for suffix in ("", "-wal", "-shm"):
            Path(database_url.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
    engine = make_engine(database_url)
    upgrade(engine)
    return engine


@pytest.fixture
def recreated(database_url: str, engine: Engine) -> Iterator[list[Engine]]:
    made: list[Engine] = []
    yield made
    for e in made:
        e.dispose()


def test_a_cache_from_another_database_at_the_same_url(
    portfolio: Engine, reads: list, tmp_path: Path, database_url: str, recreated: list[Engine]
) -> None:
    before = warm(portfolio, reads)
    portfolio.dispose()
    again = _recreate(database_url)
    recreated.append(again)
    accounts_csv, metrics_csv, _ = write_demo_csvs(tmp_path / "other", 30, 120, END)
    frame = pd.read_csv(metrics_csv)
    counts = frame["metric"].isin(["logins", "core_feature_events"])
    frame.loc[counts, "value"] = (frame.loc[counts, "value"] * 1.7 + 3).round(0)  # the same accounts, other values
    frame.to_csv(metrics_csv, index=False)
    import_accounts(again, accounts_csv, quiet=True)
    import_metrics(again, metrics_csv, quiet=True)

    [days] = same_as_a_full_read(again, reads)
    assert days == WINDOW  # no day's token matched
    assert stored(again, END) != before


def test_postgres_writes_in_replica_mode_and_a_truncate(portfolio: Engine, reads: list, tmp_path: Path) -> None:
    """A bulk load that skips foreign-key checks (session_replication_role = replica) still renews the day; a
    TRUNCATE forgets every day."""
    if portfolio.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only")
    warm(portfolio, reads)
    with portfolio.begin() as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(text("UPDATE metric_observation SET value = value + 5 WHERE day = :d AND metric = 'logins'"),
                     {"d": END - timedelta(days=3)})  # fmt: skip
    [days] = same_as_a_full_read(portfolio, reads)
    assert days == 1

    with portfolio.begin() as conn:
        conn.execute(text("TRUNCATE metric_observation"))
        assert conn.execute(text("SELECT COUNT(*) FROM metric_day_change")).scalar_one() == 0
    import_metrics(portfolio, write_demo_csvs(tmp_path / "again", 30, 120, END)[1], quiet=True)
    [days] = same_as_a_full_read(portfolio, reads)
    assert days == WINDOW
