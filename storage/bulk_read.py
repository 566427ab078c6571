"""The bulk read of observations (`read_observations`) behind every scoring run.

Scoring reads tens of millions of observations at once. Fetching them row by row into
Python objects costs more than the database's own work, so the database packs
(account_id, day offset, metric index) into one BIGINT and every row comes back as two
numbers: from SQLite through one cursor iterated straight into numpy, from PostgreSQL as
one binary COPY decoded with numpy.
"""

from __future__ import annotations

import json
import mmap
import os
import subprocess
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Connection

_EPOCH = date(1970, 1, 1)
_READ_BATCH = 1 << 18  # rows fetched / decoded at a time
_PACKED = np.dtype([("key", np.int64), ("value", np.float64)])


class _Unpackable(Exception):
    """The packed read cannot represent these rows (NULLs, odd layout): use plain columns."""


class _Packed:
    """(key, value) pairs collected in 16 MiB segments, then decoded into the four columns,
    freeing the segments as it goes. Each segment is its own anonymous mmap, so it goes back
    to the OS when dropped (from the malloc heap it could stay with the process)."""

    SEGMENT = 1 << 21  # rows

    def __init__(self) -> None:
        self.segments: list[list[Any]] = []  # [keys, values, rows used]

    def add(self, keys: np.ndarray, values: np.ndarray) -> None:
        done = 0
        while done < len(keys):
            if not self.segments or self.segments[-1][2] == len(self.segments[-1][0]):
                self.segments.append([_mapped(self.SEGMENT, np.int64), _mapped(self.SEGMENT, np.float64), 0])
            seg_keys, seg_values, used = self.segments[-1]
            take = min(len(keys) - done, len(seg_keys) - used)
            seg_keys[used : used + take] = keys[done : done + take]
            seg_values[used : used + take] = values[done : done + take]
            self.segments[-1][2] = used + take
            done += take

    def read_from(self, stream: Any, rows: int) -> None:
        """Append `rows` keys then `rows` values read straight from a binary stream."""
        seg_keys, seg_values = _mapped(rows, np.int64), _mapped(rows, np.float64)
        for array in (seg_keys, seg_values):
            view, got = array.data.cast("B"), 0
            while got < len(view):
                n = stream.readinto(view[got:])
                if not n:
                    raise EOFError("the helper process stopped early")
                got += n
        self.segments.append([seg_keys, seg_values, rows])

    def write_to(self, stream: Any) -> None:
        """Frames of (row count, keys, values) for `read_from`, then a count of -1."""
        for seg_keys, seg_values, used in self.segments:
            stream.write(used.to_bytes(8, "little", signed=True))
            stream.write(seg_keys[:used].data.cast("B"))
            stream.write(seg_values[:used].data.cast("B"))
        stream.write((-1).to_bytes(8, "little", signed=True))

    def columns(
        self, first: int, day_bits: int, code_bits: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(account_id int64, day_num int64, code int16, value float64), freeing segments as it goes."""
        n = sum(used for _, _, used in self.segments)
        acc, day = np.empty(n, np.int64), np.empty(n, np.int64)
        code, value = np.empty(n, np.int16), np.empty(n, np.float64)
        at = 0
        while self.segments:
            keys, values, m = self.segments.pop(0)
            keys = keys[:m]
            code[at : at + m] = keys & ((1 << code_bits) - 1)
            keys >>= code_bits
            np.bitwise_and(keys, (1 << day_bits) - 1, out=day[at : at + m])
            day[at : at + m] += first
            np.right_shift(keys, day_bits, out=acc[at : at + m])
            value[at : at + m] = values[:m]
            at += m
            del keys, values
        return acc, day, code, value


def _mapped(n: int, dtype: Any) -> np.ndarray:
    """A writable array backed by its own anonymous memory map."""
    return np.frombuffer(mmap.mmap(-1, n * np.dtype(dtype).itemsize), dtype=dtype)


def read_observations(
    conn: Connection, start: date, end: date, metrics: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Observations with `start <= day <= end` and metric in `metrics`, as arrays:
    account_id (int64), day number since 1970-01-01 (int64), index of the metric in
    `metrics` (int16) and value (float64). Row order is unspecified."""
    metrics = list(dict.fromkeys(metrics))
    empty = _Packed().columns(0, 1, 1)
    if not metrics or end < start:
        return empty
    raw = conn.connection.driver_connection
    day_bits = ((end - start).days + 1).bit_length()
    code_bits = len(metrics).bit_length()
    lo, hi = _account_id_range(raw)
    if lo is None:
        return empty
    if lo >= 0 and hi < 2 ** (62 - day_bits - code_bits):
        reader = _pg_packed if conn.dialect.name == "postgresql" else _sqlite_packed
        packed = _Packed()
        try:
            reader(raw, start, end, metrics, day_bits, code_bits, packed)
            return packed.columns((start - _EPOCH).days, day_bits, code_bits)
        except _Unpackable:
            del packed
    return _read_unpacked(raw, conn.dialect.name, start, end, metrics)


def _account_id_range(raw: Any) -> tuple[int | None, int | None]:
    # two single-aggregate sub-selects: each is one probe of the primary-key index
    cur = raw.cursor()
    try:
        cur.execute(
            "SELECT (SELECT MIN(account_id) FROM metric_observation), (SELECT MAX(account_id) FROM metric_observation)"
        )
        lo, hi = cur.fetchone()
    finally:
        cur.close()
    return lo, hi


def _sqlite_packed(
    raw: Any, start: date, end: date, metrics: list[str], day_bits: int, code_bits: int, out: _Packed
) -> None:
    first = (start - _EPOCH).days
    case = "CASE metric " + " ".join(f"WHEN ? THEN {i}" for i in range(len(metrics))) + " END"
    cur = raw.cursor()
    try:
        cur.execute(
            "SELECT (SELECT MIN(day) FROM metric_observation), (SELECT MAX(day) FROM metric_observation),"
            " (SELECT MIN(rowid) FROM metric_observation), (SELECT MAX(rowid) FROM metric_observation)"
        )
        min_day, max_day, lo, hi = cur.fetchone()
    finally:
        cur.close()
    scan = _mostly_inside(start, end, min_day, max_day)
    select = (
        f"SELECT ((account_id * {1 << day_bits}) + (CAST(julianday(day) - 2440587.5 AS INTEGER) - {first}))"
        f" * {1 << code_bits} + {case}, value FROM metric_observation {'NOT INDEXED ' if scan else ''}WHERE "
    )
    where = f"day >= ? AND day <= ? AND metric IN ({', '.join('?' for _ in metrics)})"
    params = [*metrics, start.isoformat(), end.isoformat(), *metrics]
    helper = None
    if scan and hi is not None and hi - lo >= _HELPER_MIN_ROWS and (os.cpu_count() or 1) > 1:
        # Reading rows into Python is the bottleneck and it is single-threaded: a second
        # process reads the upper half of the table (by rowid) at the same time.
        mid = lo + (hi - lo) // 2
        helper = _SqliteHelper.start(raw, select + "rowid > ? AND " + where, [*metrics, mid, *params[len(metrics) :]])
    if helper is None:
        _fetch_packed(raw.cursor(), select + where, params, out)
        return
    try:
        _fetch_packed(raw.cursor(), select + "rowid <= ? AND " + where, [*metrics, mid, *params[len(metrics) :]], out)
        done = helper.collect(out)
    finally:
        helper.stop()
    if not done:  # the helper failed: read its half here
        _fetch_packed(raw.cursor(), select + "rowid > ? AND " + where, [*metrics, mid, *params[len(metrics) :]], out)


def _fetch_packed(cur: Any, sql: str, params: list[Any], out: _Packed) -> None:
    try:
        cur.execute(sql, params)
        while rows := cur.fetchmany(_READ_BATCH):
            try:
                packed = np.fromiter(rows, dtype=_PACKED, count=len(rows))
            except (TypeError, ValueError):
                raise _Unpackable from None
            del rows
            out.add(packed["key"], packed["value"])
    finally:
        cur.close()


_HELPER_MIN_ROWS = 4_000_000  # rowid span below which starting a process costs more than it saves


class _SqliteHelper:
    """A `python -c` child process that runs one packed read on its own connection to the
    same database file, keeps the rows, and streams them back once the parent asks. A
    process, not a thread: the per-row work holds the GIL."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc

    @classmethod
    def start(cls, raw: Any, sql: str, params: list[Any]) -> _SqliteHelper | None:
        path = next((file for _, name, file in raw.execute("PRAGMA database_list") if name == "main"), "")
        if not path or raw.in_transaction:  # in-memory, or uncommitted writes only this connection sees
            return None
        root = str(Path(__file__).resolve().parent.parent)  # the same code as this process
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
        try:
            proc = subprocess.Popen(
                [sys.executable, "-c", "from storage.bulk_read import _sqlite_helper_main; _sqlite_helper_main()"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=env,
            )
            assert proc.stdin is not None
            proc.stdin.write(json.dumps({"path": path, "sql": sql, "params": params}).encode())
            proc.stdin.close()
        except (OSError, ValueError):
            return None
        return cls(proc)

    def collect(self, out: _Packed) -> bool:
        """Add the helper's rows to `out`; False (nothing added) when it failed."""
        part = _Packed()
        stream = self.proc.stdout
        assert stream is not None
        try:
            while True:
                head = stream.read(8)
                if len(head) != 8:  # it stopped early
                    return False
                rows = int.from_bytes(head, "little", signed=True)
                if rows < 0:
                    break
                part.read_from(stream, rows)
        except (OSError, EOFError):
            return False
        if self.proc.wait() != 0:
            return False
        out.segments.extend(part.segments)
        return True

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()


def _sqlite_helper_main() -> None:
    """Entry point of the helper process (see `_SqliteHelper`)."""
    import sqlite3

    spec = json.loads(sys.stdin.buffer.read())
    con = sqlite3.connect(spec["path"], timeout=30)
    part = _Packed()
    try:
        _fetch_packed(con.cursor(), spec["sql"], spec["params"], part)
    except _Unpackable:
        sys.exit(3)
    finally:
        con.close()
    part.write_to(sys.stdout.buffer)
    sys.stdout.buffer.flush()


def _mostly_inside(start: date, end: date, min_day: Any, max_day: Any) -> bool:
    """True when [start, end] covers at least half the span of stored days: then reading the
    table in order beats a lookup per row through the day index."""
    try:
        lo, hi = date.fromisoformat(str(min_day)[:10]), date.fromisoformat(str(max_day)[:10])
    except ValueError:
        return False
    inside = (min(end, hi) - max(start, lo)).days + 1
    return inside * 2 >= (hi - lo).days + 1


def _pg_packed(
    raw: Any, start: date, end: date, metrics: list[str], day_bits: int, code_bits: int, out: _Packed
) -> None:
    """One `COPY (SELECT key, value ...) TO STDOUT (FORMAT BINARY)`: a single statement (one
    snapshot, nothing held server-side), read off libpq in large pieces and decoded with
    numpy (psycopg's `Copy` hands out one row per call, which costs more than the decoding)."""
    from psycopg import errors, pq, sql

    case = sql.SQL(" ").join(
        sql.SQL("WHEN {} THEN {}").format(sql.Literal(m), sql.Literal(i)) for i, m in enumerate(metrics)
    )
    query = sql.SQL(
        "COPY (SELECT (account_id::int8 * {day_mul} + (day - {start}::date)) * {code_mul} + CASE metric {case} END,"
        " value::float8 FROM metric_observation WHERE day >= {start}::date AND day <= {end}::date"
        " AND metric = ANY({metrics}::text[])) TO STDOUT (FORMAT BINARY)"
    ).format(
        day_mul=sql.Literal(1 << day_bits),
        code_mul=sql.Literal(1 << code_bits),
        case=case,
        start=sql.Literal(start),
        end=sql.Literal(end),
        metrics=sql.Literal(metrics),
    )
    pgconn = raw.pgconn
    blocking = pgconn.nonblocking
    pgconn.nonblocking = 0  # plain blocking libpq calls for the duration
    decoder = _PgRows(out)
    copying = False
    try:
        pgconn.send_query(query.as_bytes(raw))
        result = pgconn.get_result()
        if result is None or result.status != pq.ExecStatus.COPY_OUT:
            error = errors.error_from_result(result) if result is not None else None
            while pgconn.get_result() is not None:
                pass
            raise error or RuntimeError("COPY did not start")
        copying = True
        # one CopyData message per row: appending to a bytearray is the cheapest way to
        # collect them (psycopg's Copy costs a generator round trip per row)
        get = pgconn.get_copy_data
        batch = _READ_BATCH * _PG_ROW.itemsize
        buf = bytearray()
        while True:
            n, data = get(0)
            if n < 0:
                break
            buf += data
            if len(buf) >= batch:
                buf = bytearray(buf[decoder.feed(buf) :])
        copying = False
        rest = buf[decoder.feed(buf) :]
        failure = None
        while (result := pgconn.get_result()) is not None:
            if result.status != pq.ExecStatus.COMMAND_OK:
                failure = errors.error_from_result(result)
        if failure is not None:
            raise failure
        decoder.done(rest)
    finally:
        if copying:  # interrupted mid-stream: cancel and drain so the connection stays usable
            raw.cancel()
            while pgconn.get_copy_data(0)[0] >= 0:
                pass
            while pgconn.get_result() is not None:
                pass
        pgconn.nonblocking = blocking


_PG_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
# one row of the binary COPY: field count, then (length, int8 key), (length, float8 value)
_PG_ROW = np.dtype([("fields", ">i2"), ("klen", ">i4"), ("key", ">i8"), ("vlen", ">i4"), ("value", ">f8")])


class _PgRows:
    """Incremental decoder of a two-column (int8, float8) binary COPY stream."""

    def __init__(self, out: _Packed) -> None:
        self.out = out
        self.header = True
        self.ok = True

    def feed(self, buf: bytearray) -> int:
        """Decode the complete rows at the start of `buf`; returns the bytes consumed."""
        offset = 0
        if self.header:
            if len(buf) < 19:
                return 0
            self.ok &= bytes(buf[:11]) == _PG_SIGNATURE
            offset = 19 + int.from_bytes(buf[15:19], "big")
            self.header = False
        n = max(len(buf) - offset, 0) // _PG_ROW.itemsize
        if n:
            rows = np.frombuffer(buf, dtype=_PG_ROW, count=n, offset=offset)
            if (rows["fields"] != 2).any() or (rows["klen"] != 8).any() or (rows["vlen"] != 8).any():
                self.ok = False  # NULLs or an unexpected layout
            elif self.ok:
                self.out.add(rows["key"], rows["value"])
            del rows  # release the buffer before the caller reuses it
        return offset + n * _PG_ROW.itemsize

    def done(self, rest: bytearray) -> None:
        if not self.ok or self.header or bytes(rest) != b"\xff\xff":  # the trailer: field count -1
            raise _Unpackable


def _read_unpacked(
    raw: Any, dialect: str, start: date, end: date, metrics: list[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Four plain columns: for account ids too large to pack (or NULLs in PostgreSQL arrays)."""
    if dialect == "postgresql":
        sql = (
            "SELECT account_id, (day - DATE '1970-01-01'), array_position(%(metrics)s::text[], metric::text) - 1, "
            "value FROM metric_observation WHERE day >= %(start)s AND day <= %(end)s "
            "AND metric = ANY(%(metrics)s::text[])"
        )
        params: Any = {"start": start, "end": end, "metrics": metrics}
    else:
        case = "CASE metric " + " ".join(f"WHEN ? THEN {i}" for i in range(len(metrics))) + " END"
        sql = (
            f"SELECT account_id, CAST(julianday(day) - 2440587.5 AS INTEGER), {case}, value FROM metric_observation "
            f"WHERE day >= ? AND day <= ? AND metric IN ({', '.join('?' for _ in metrics)})"
        )
        params = [*metrics, start.isoformat(), end.isoformat(), *metrics]
    cur = raw.cursor()
    try:
        cur.execute(sql, params)
        rows = np.fromiter(cur, dtype=np.dtype([("a", np.int64), ("d", np.int64), ("c", np.int16), ("v", np.float64)]))
    finally:
        cur.close()
    return rows["a"].copy(), rows["d"].copy(), rows["c"].copy(), rows["v"].copy()
