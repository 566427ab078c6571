"""The bulk write behind `healthbot import metrics` (storage.bulk.upsert_observations): every value stored exactly
as the file gives it, first import and re-import alike, whichever way the rows take on PostgreSQL (binary COPY
straight into metric_observation, or through a temporary table when the file's days hold rows)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine

from bot.scoring.importer import import_accounts, import_metrics
from storage import bulk
from tests.test_importer import ACCOUNTS, METRICS_HEADER, metric_values, write

LONG_NAME = "m" * 64  # the longest metric name


@pytest.fixture
def two_accounts(engine: Engine, tmp_path: Path) -> Engine:
    import_accounts(engine, write(tmp_path, "seed_accounts.csv", ACCOUNTS), quiet=True)
    return engine


def metrics_file(tmp_path: Path, name: str, rows: list[tuple[str, str, str, str]]) -> Path:
    return write(tmp_path, name, METRICS_HEADER + "\n" + "".join(f"{a},{d},{m},{v}\n" for a, d, m, v in rows))


def expected(rows: list[tuple[str, str, str, str]]) -> dict[tuple[str, str, str], float]:
    return {(a, d, m): float(v) for a, d, m, v in rows}


def test_a_file_of_many_chunks_is_stored_value_for_value(
    two_accounts: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Several chunks (the last one short), metric names of different lengths interleaved, awkward floats: each
    value stored exactly."""
    monkeypatch.setattr(bulk, "CHUNK", 1000)
    days = [str(d) for d in np.arange("2024-01-01", "2025-02-03", dtype="datetime64[D]")]
    names = ["a", "logins", LONG_NAME, "seat_change"]
    values = ["0.1", "-0.5", "1e-300", "123456789.125", "7", "-2.5e14", "0", "3.14159"]
    rows = [
        (acc, day, name, values[(i + j + k) % len(values)] if name != "logins" else str(i % 50))
        for i, day in enumerate(days)
        for j, acc in enumerate(("A1", "A2"))
        for k, name in enumerate(names)
    ]
    assert len(rows) % bulk.CHUNK and len(rows) > 3 * bulk.CHUNK

    assert import_metrics(two_accounts, metrics_file(tmp_path, "big.csv", rows), quiet=True) == len(rows)

    assert metric_values(two_accounts) == expected(rows)


def test_reimport_over_stored_days_updates_changed_keeps_same_and_adds_new(
    two_accounts: Engine, tmp_path: Path
) -> None:
    first = [
        ("A1", "2026-03-01", "logins", "5"),
        ("A1", "2026-03-02", "logins", "7"),
        ("A2", "2026-03-01", LONG_NAME, "1.5"),
        ("A2", "2026-03-02", "nps", "9"),
    ]
    import_metrics(two_accounts, metrics_file(tmp_path, "m1.csv", first), quiet=True)
    again = [
        ("A1", "2026-03-01", "logins", "5"),  # the same value
        ("A1", "2026-03-02", "logins", "8"),  # changed
        ("A2", "2026-03-01", "logins", "0"),  # a new key on a stored day
        ("A2", "2026-03-03", "nps", "10"),  # a new day
    ]

    assert import_metrics(two_accounts, metrics_file(tmp_path, "m2.csv", again), quiet=True) == 4

    assert metric_values(two_accounts) == {**expected(first), **expected(again)}


def test_a_key_stored_since_the_day_check_takes_the_upsert_way(
    two_accounts: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL a file whose days hold no row is copied straight into the table; should a concurrent write
    store one of its keys after the check, the COPY fails on the key and the rows are upserted instead."""
    if two_accounts.dialect.name != "postgresql":
        pytest.skip("the straight COPY is PostgreSQL's")
    import_metrics(two_accounts, metrics_file(tmp_path, "m1.csv", [("A1", "2026-03-01", "logins", "5")]), quiet=True)
    monkeypatch.setattr(bulk, "_days_hold_rows", lambda *_: False)  # the check ran before the other write
    rows = [("A1", "2026-03-01", "logins", "6"), ("A2", "2026-03-01", "logins", "1")]

    assert import_metrics(two_accounts, metrics_file(tmp_path, "m2.csv", rows), quiet=True) == 2

    assert metric_values(two_accounts) == expected(rows)


@pytest.mark.parametrize(
    "space", [" ", "\t", "\u00a0", "\u3000", "\u2009"], ids=["space", "tab", "nbsp", "ideographic", "thin"]
)
def test_values_are_stripped_of_any_space(two_accounts: Engine, tmp_path: Path, space: str) -> None:
    """The strip is skipped for a file holding no space: one holding only a wide one is still stripped."""
    path = write(tmp_path, "m.csv", f"{METRICS_HEADER}\nA1{space},2026-03-01,logins{space},5{space}\n")

    assert import_metrics(two_accounts, path, quiet=True) == 1

    assert metric_values(two_accounts) == {("A1", "2026-03-01", "logins"): 5.0}


def test_a_quoted_line_break_is_stripped_too(two_accounts: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, "m.csv", f'{METRICS_HEADER}\nA1,2026-03-01,logins,"5\n"\n')

    assert import_metrics(two_accounts, path, quiet=True) == 1

    assert metric_values(two_accounts) == {("A1", "2026-03-01", "logins"): 5.0}


def test_a_header_only_file_imports_nothing(two_accounts: Engine, tmp_path: Path) -> None:
    assert import_metrics(two_accounts, write(tmp_path, "m.csv", f"{METRICS_HEADER}\n\n"), quiet=True) == 0

    assert metric_values(two_accounts) == {}
