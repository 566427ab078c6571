"""Fast bulk writes (account, metric and score upserts); the bulk read of observations is `storage.bulk_read`.

Each write runs inside the caller's connection/transaction so an import is all or
nothing. SQLite uses the driver's `executemany`; PostgreSQL uses COPY into a temporary
table followed by one `INSERT ... ON CONFLICT`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

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
