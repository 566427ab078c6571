"""Fast bulk writes (account, metric and score upserts); the bulk read of observations is `storage.bulk_read`.

Each write runs inside the caller's connection/transaction so an import is all or
nothing. SQLite uses the driver's `executemany`; PostgreSQL uses COPY into a temporary
table followed by one `INSERT ... ON CONFLICT`. Metric observations (`upsert_observations`) go to
PostgreSQL as binary COPY built with numpy, with no Python object per row.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import psycopg
from sqlalchemy import Connection, text

Progress = Callable[[int], None]
CHUNK = 50_000


def _noop(_: int) -> None:
    return None


def account_ids(conn: Connection) -> dict[str, int]:
    """external_id -> id for every account."""
    return {row[0]: row[1] for row in conn.execute(text("SELECT external_id, id FROM account"))}


def account_statuses(conn: Connection) -> dict[str, str]:
    """external_id -> status for every account."""
    return {row[0]: row[1] for row in conn.execute(text("SELECT external_id, status FROM account"))}


def upsert_rows(
    conn: Connection,
    table: str,
    columns: Sequence[str],
    key: Sequence[str],
    rows: Iterable[Sequence[Any]],
    progress: Progress = _noop,
    json_columns: Sequence[str] = (),
) -> int:
    """Insert rows, replacing the non-key columns of rows whose `key` already exists."""
    updates = [c for c in columns if c not in key]
    if conn.dialect.name == "postgresql":
        return _pg_copy_upsert(conn, table, columns, key, updates, rows, progress, json_columns)
    placeholders = ", ".join("?" for _ in columns)
    set_clause = ", ".join(f"{c} = excluded.{c}" for c in updates) or None
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders}) ON CONFLICT ({', '.join(key)}) " + (
        f"DO UPDATE SET {set_clause}" if set_clause else "DO NOTHING"
    )
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    json_idx = [columns.index(c) for c in json_columns]
    total = 0
    for chunk in _chunks(rows):
        if json_idx:
            chunk = [_with_json(r, json_idx) for r in chunk]
        cursor.executemany(sql, chunk)
        total += len(chunk)
        progress(len(chunk))
    cursor.close()
    return total


def _pg_copy_upsert(
    conn: Connection,
    table: str,
    columns: Sequence[str],
    key: Sequence[str],
    updates: Sequence[str],
    rows: Iterable[Sequence[Any]],
    progress: Progress,
    json_columns: Sequence[str],
) -> int:
    cols = ", ".join(columns)
    staging = f"_staging_{table}"
    conn.execute(text(f"CREATE TEMP TABLE IF NOT EXISTS {staging} (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DROP"))
    conn.execute(text(f"TRUNCATE {staging}"))
    raw = conn.connection.driver_connection
    json_idx = [columns.index(c) for c in json_columns]
    total = 0
    with raw.cursor() as cur, cur.copy(f"COPY {staging} ({cols}) FROM STDIN") as copy:  # type: ignore[union-attr]
        for chunk in _chunks(rows):
            for row in chunk:
                copy.write_row(_with_json(row, json_idx) if json_idx else row)
            total += len(chunk)
            progress(len(chunk))
    set_clause = ", ".join(f"{c} = EXCLUDED.{c}" for c in updates)
    conflict = f"DO UPDATE SET {set_clause}" if set_clause else "DO NOTHING"
    conn.execute(
        text(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {staging} ON CONFLICT ({', '.join(key)}) {conflict}")
    )
    conn.execute(text(f"DROP TABLE {staging}"))
    return total


OBSERVATION_COLUMNS = ("account_id", "day", "metric", "value")
_PG_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # binary COPY: signature, flags, header extension length
_PG_EPOCH = np.datetime64("2000-01-01", "D")
_OBS_STAGING = "_staging_observation"


def _pg_row_type(name_length: int) -> np.dtype:
    """One binary COPY row of metric_observation whose metric is `name_length` bytes long: the field count, then
    each field's length and big-endian value (account_id int4, day date, metric text, value float8)."""
    return np.dtype(
        [("fields", ">i2"), ("n1", ">i4"), ("account_id", ">i4"), ("n2", ">i4"), ("day", ">i4"), ("n3", ">i4"),
         ("metric", f"S{name_length}"), ("n4", ">i4"), ("value", ">f8")]
    )  # fmt: skip


def upsert_observations(conn: Connection, rows: pd.DataFrame, progress: Progress = _noop) -> int:
    """Upsert metric observations: `rows` has `OBSERVATION_COLUMNS` (day as 'YYYY-MM-DD'; day and metric best as
    categoricals), no NULL and no key twice.

    On PostgreSQL the rows go as binary COPY built with numpy (no Python object per row). When no row is stored
    on the file's days, straight into metric_observation (inside a savepoint: should a concurrent write have
    stored one of its keys since, the COPY fails on the key and the rows take the other way). Else into a
    temporary table, where the rows whose stored value is already the same are dropped (a re-import rewrites,
    locks and logs only what changed), then one INSERT ... ON CONFLICT writes the rest."""
    if conn.dialect.name != "postgresql":
        records = zip(*(rows[c].astype(object).tolist() for c in OBSERVATION_COLUMNS), strict=True)
        return upsert_rows(conn, "metric_observation", OBSERVATION_COLUMNS, OBSERVATION_COLUMNS[:3], records, progress)
    if rows.empty:
        return 0
    day = pd.Categorical(rows["day"])
    first, last = (date.fromisoformat(str(d)) for d in (day.categories.min(), day.categories.max()))
    if not _days_hold_rows(conn, first, last):
        try:
            with conn.begin_nested():
                _pg_copy_observations(conn, "metric_observation", rows, day, progress)
            return len(rows)
        except psycopg.errors.UniqueViolation:
            progress = _noop  # the bar is full already
    conn.execute(text(f"CREATE TEMP TABLE IF NOT EXISTS {_OBS_STAGING} (LIKE metric_observation) ON COMMIT DROP"))
    conn.execute(text(f"TRUNCATE {_OBS_STAGING}"))
    _pg_copy_observations(conn, _OBS_STAGING, rows, day, progress)
    conn.execute(
        text(f"DELETE FROM {_OBS_STAGING} s USING metric_observation m WHERE m.account_id = s.account_id "
             "AND m.day = s.day AND m.metric = s.metric AND m.value = s.value")
    )  # fmt: skip
    conn.execute(
        text(f"INSERT INTO metric_observation SELECT * FROM {_OBS_STAGING} "
             "ON CONFLICT (account_id, day, metric) DO UPDATE SET value = EXCLUDED.value")
    )  # fmt: skip
    conn.execute(text(f"DROP TABLE {_OBS_STAGING}"))
    return len(rows)


def _days_hold_rows(conn: Connection, first: date, last: date) -> bool:
    """Whether metric_observation holds a row dated `first` to `last` (one probe of its day index)."""
    sql = "SELECT EXISTS (SELECT 1 FROM metric_observation WHERE day BETWEEN :first AND :last)"
    return bool(conn.execute(text(sql), {"first": first, "last": last}).scalar())


def _pg_copy_observations(
    conn: Connection, table: str, rows: pd.DataFrame, day: pd.Categorical, progress: Progress
) -> None:
    """Binary COPY of `rows` into `table`, CHUNK rows at a time, each chunk's rows grouped by metric name (a
    fixed-size numpy record per name length)."""
    day_numbers = (np.asarray(day.categories, dtype="datetime64[D]") - _PG_EPOCH).astype(np.int32)[day.codes]
    metric = pd.Categorical(rows["metric"])
    names = [str(m).encode() for m in metric.categories]
    account_id, value = rows["account_id"].to_numpy(), rows["value"].to_numpy(dtype=np.float64)
    raw = conn.connection.driver_connection
    sql = f"COPY {table} ({', '.join(OBSERVATION_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
    with raw.cursor() as cur, cur.copy(sql) as copy:  # type: ignore[union-attr]
        copy.write(_PG_COPY_HEADER)
        for lo in range(0, len(rows), CHUNK):
            codes = metric.codes[lo : lo + CHUNK]
            order = np.argsort(codes, kind="stable")
            bounds = np.cumsum(np.bincount(codes, minlength=len(names)))
            for code, end in enumerate(bounds):
                at = lo + order[(bounds[code - 1] if code else 0) : end]
                if not len(at):
                    continue
                out = np.empty(len(at), dtype=_pg_row_type(len(names[code])))
                out["fields"], out["n1"], out["n2"], out["n3"], out["n4"] = 4, 4, 4, len(names[code]), 8
                out["account_id"], out["day"], out["value"] = account_id[at], day_numbers[at], value[at]
                out["metric"] = names[code]
                copy.write(out.data)
            progress(len(codes))
        copy.write(b"\xff\xff")


def _with_json(row: Sequence[Any], idx: Sequence[int]) -> list[Any]:
    out = list(row)
    for i in idx:
        out[i] = json.dumps(out[i], separators=(",", ":"))
    return out


def _chunks(rows: Iterable[Sequence[Any]]) -> Iterable[list[Sequence[Any]]]:
    chunk: list[Sequence[Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
