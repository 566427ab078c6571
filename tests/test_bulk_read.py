"""The bulk read of observations: every fast path returns exactly the rows a plain query does."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest
from sqlalchemy import Engine, text

from storage import bulk_read

METRICS = ["logins", "tickets_opened", "nps"]
START = date(2026, 1, 1)


def _seed(engine: Engine, accounts: int = 40, days: int = 30) -> None:
    rng = np.random.default_rng(7)
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO account (external_id, name, name_lower, status) VALUES (:e, :n, :l, 'active')"),
            [{"e": f"A{i}", "n": f"Acc {i}", "l": f"acc {i}"} for i in range(accounts)],
        )
        ids = [row[0] for row in conn.execute(text("SELECT id FROM account ORDER BY id"))]
        rows = [
            {"a": a, "d": START + timedelta(days=d), "m": m, "v": float(rng.integers(0, 50))}
            for a in ids
            for d in range(days)
            for m in ([*METRICS, "email_opens"] if (a + d) % 5 else METRICS[:1])  # gaps and a metric not asked for
        ]
        conn.execute(
            text("INSERT INTO metric_observation (account_id, day, metric, value) VALUES (:a, :d, :m, :v)"), rows
        )


def _sorted(columns: tuple[np.ndarray, ...]) -> list[tuple[int, int, int, float]]:
    return sorted(zip(*(c.tolist() for c in columns), strict=True))


def _expected(engine: Engine, start: date, end: date) -> list[tuple[int, int, int, float]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT account_id, day, metric, value FROM metric_observation WHERE day >= :s AND day <= :e"),
            {"s": start, "e": end},
        ).all()
    out = []
    for account_id, day, metric, value in rows:
        day = day if isinstance(day, date) else date.fromisoformat(day)
        if metric in METRICS:
            out.append((account_id, (day - date(1970, 1, 1)).days, METRICS.index(metric), value))
    return sorted(out)


@pytest.mark.parametrize("window", [(0, 29), (10, 12), (-5, 3), (40, 50)])
def test_read_matches_a_plain_query(engine: Engine, window: tuple[int, int]) -> None:
    _seed(engine)
    start, end = START + timedelta(days=window[0]), START + timedelta(days=window[1])
    with engine.connect() as conn:
        got = _sorted(bulk_read.read_observations(conn, start, end, METRICS))
    assert got == _expected(engine, start, end)
    if window == (40, 50):
        assert got == []


def test_sqlite_read_split_with_a_helper_process(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """The helper process that reads half a large SQLite table gives the same rows."""
    if engine.dialect.name != "sqlite":
        pytest.skip("the read helper is SQLite only")
    _seed(engine)
    monkeypatch.setattr(bulk_read, "_HELPER_MIN_ROWS", 0)
    started = []
    real_start = bulk_read._SqliteHelper.start.__func__  # type: ignore[attr-defined]

    def spy(cls, raw, sql, params):  # type: ignore[no-untyped-def]
        helper = real_start(cls, raw, sql, params)
        started.append(helper)
        return helper

    monkeypatch.setattr(bulk_read._SqliteHelper, "start", classmethod(spy))
    collected = []
    real_collect = bulk_read._SqliteHelper.collect
    monkeypatch.setattr(
        bulk_read._SqliteHelper, "collect", lambda self, out: collected.append(real_collect(self, out)) or collected[-1]
    )
    end = START + timedelta(days=29)
    with engine.connect() as conn:
        got = _sorted(bulk_read.read_observations(conn, START, end, METRICS))
    assert started and started[0] is not None, "the helper process did not start"
    assert collected == [True], "the helper process failed and the parent read its half"
    assert got == _expected(engine, START, end)


def test_unpacked_read_agrees(engine: Engine) -> None:
    _seed(engine, accounts=5, days=10)
    end = START + timedelta(days=9)
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        got = _sorted(bulk_read._read_unpacked(raw, engine.dialect.name, START, end, METRICS))
    assert got == _expected(engine, START, end)
