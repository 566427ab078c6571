"""Engine, sessions and schema migrations: the one place that knows which database we use."""

from __future__ import annotations

import os
import sqlite3
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, create_engine

MIGRATIONS = Path(__file__).parent / "migrations"
# Any fixed number: replicas starting together take turns to migrate.
_MIGRATION_LOCK_ID = 4_242_001

SessionFactory = Callable[[], Session]

LOCK_WAIT = 30.0
"""Seconds a job, an import or the CLI waits for another writer's lock (SQLite's busy timeout): a daily run
must not fail because a click held the lock for a moment."""

REQUEST_LOCK_WAIT = 2.0
"""Seconds a Slack request waits for a lock (`session_factory(engine, lock_wait=REQUEST_LOCK_WAIT)`). A view
submission is stored before its ack, and Slack gives up on the ack after 3 s: 2 s leaves the rest for Bolt's
dispatch, the other statements and the network, so a submission that cannot get the lock is answered "not
saved" (its transaction rolled back) instead of timing out and being written later, unseen."""

_BUSY_SQLSTATES = frozenset({"55P03", "40P01", "40001"})  # lock_not_available, deadlock, serialization failure
_SQLITE_BUSY, _SQLITE_LOCKED = 5, 6


def make_engine(url: str, echo: bool = False) -> Engine:
    """An engine with SQLite set up for a small team: WAL, busy timeout, foreign keys."""
    if make_url(url).get_backend_name() == "sqlite":
        wait_ms = int(LOCK_WAIT * 1000)
        engine = create_engine(url, echo=echo, connect_args={"check_same_thread": False, "timeout": LOCK_WAIT})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA busy_timeout={wait_ms}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "checkin")
        def _long_wait_again(dbapi_conn: Any, record: Any) -> None:
            # a request's short busy timeout stays with its session: the pool hands out the long one
            if record.info.pop("lock_wait", None) is not None and dbapi_conn is not None:
                dbapi_conn.execute(f"PRAGMA busy_timeout={wait_ms}")

        return engine
    # a server that drops packets must not hang /healthz or a job for minutes
    connect_args = {} if "connect_timeout" in make_url(url).query else {"connect_timeout": 10}
    return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=20, connect_args=connect_args)


def session_factory(engine: Engine, lock_wait: float | None = None) -> SessionFactory:
    """Sessions on `engine`; with `lock_wait`, each transaction waits at most that many seconds for a lock
    (SQLite's busy timeout, PostgreSQL's `lock_timeout`) and then fails with an error `is_busy` recognises.

    Only lock waits are bounded, not slow statements: a big listing that takes 3 s to read is not stuck.
    """
    if lock_wait is None:

        def new_session() -> Session:
            return Session(engine, expire_on_commit=False)

        return new_session
    wait_ms = max(1, int(lock_wait * 1000))

    def bound(_session: Session, _transaction: Any, connection: Connection) -> None:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SET LOCAL lock_timeout = {wait_ms}")  # this transaction only
        elif connection.dialect.name == "sqlite":
            connection.exec_driver_sql(f"PRAGMA busy_timeout = {wait_ms}")
            connection.info["lock_wait"] = wait_ms  # restored when the connection goes back to the pool

    sessions = sessionmaker(engine, class_=Session, expire_on_commit=False)
    event.listen(sessions, "after_begin", bound)  # once, here: listening is configuration, not per request
    return sessions


class TooLate(Exception):
    """A unit of work that reached its commit after its `commit_by`: rolled back, nothing written."""


def is_busy(error: BaseException) -> bool:
    """Whether `error` is the database refusing to wait longer for another writer's lock (or breaking a
    deadlock), or a unit of work `TooLate` to commit: the transaction rolled back, nothing was written, and the
    same request may work in a moment."""
    if isinstance(error, TooLate):
        return True
    orig = error.orig if isinstance(error, DBAPIError) else error
    if isinstance(orig, sqlite3.OperationalError):
        return getattr(orig, "sqlite_errorcode", 0) & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)
    return getattr(orig, "sqlstate", None) in _BUSY_SQLSTATES


@contextmanager
def unit_of_work(sessions: SessionFactory, commit_by: float | None = None) -> Iterator[Session]:
    """A session whose writes commit together at the end, or not at all when anything raises.

    With `commit_by` (a `time.monotonic()` value), a unit that reaches its commit later rolls back and raises
    `TooLate`: a view submission whose ack Slack no longer waits for must not be stored unseen.
    """
    session = sessions()
    try:
        yield session
        if commit_by is not None and time.monotonic() > commit_by:
            raise TooLate(f"{time.monotonic() - commit_by:.2f} s past its commit deadline")
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def delete_all(session: Session, tables: Sequence[str]) -> None:
    """Empty these tables (children first), in the caller's unit of work."""
    for table in tables:
        session.execute(text(f"DELETE FROM {table}"))


def read_sqlite_ends(conn: Connection) -> None:
    """Read a SQLite file's schema and the first and last rows of each table (raises `DBAPIError` where it is no
    database or damaged): milliseconds at any size, where PRAGMA quick_check reads every page."""
    conn.execute(text("PRAGMA schema_version"))
    tables = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'")).scalars().all()
    for table in tables:
        quoted = '"' + table.replace('"', '""') + '"'
        conn.execute(text(f"SELECT * FROM {quoted} LIMIT 1")).all()
        conn.execute(text(f"SELECT * FROM {quoted} ORDER BY rowid DESC LIMIT 1")).all()


def truncate(conn: Connection, tables: Sequence[str]) -> None:
    """Empty these tables and restart their ids (PostgreSQL), in the caller's transaction."""
    conn.execute(text(f"TRUNCATE TABLE {', '.join(tables)} RESTART IDENTITY"))


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    # configparser reads % as interpolation: a percent-encoded password must be escaped
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to `revision`; on PostgreSQL, one replica at a time."""
    cfg = alembic_config(engine)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def enabled_triggers(conn: Connection) -> set[tuple[str, str]]:
    """PostgreSQL's own (not constraint-internal) triggers that fire in normal operation, as (table, trigger): what
    migrations 0014 and 0016 install."""
    rows = conn.execute(
        text("SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
             "WHERE NOT t.tgisinternal AND t.tgenabled = 'O'")
    )  # fmt: skip
    return {(str(table), str(name)) for table, name in rows}


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        try:
            row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
        except Exception:
            return None
    return row[0] if row else None


def ping(engine: Engine) -> bool:
    """True when the database answers a query that reads it (`SELECT 1` never touches a SQLite file).

    A SQLite file (or its folder) this process cannot write is down too: every write would fail.
    """
    if engine.dialect.name == "sqlite" and engine.url.database:
        path = Path(engine.url.database).resolve()
        if not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)):
            return False
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT version_num FROM alembic_version"))
        return True
    except Exception:
        return False


@contextmanager
def job_lock(engine: Engine, name: str) -> Iterator[bool]:
    """Yields True in the one process that may run job `name` now.

    On PostgreSQL several replicas fire the same schedule; a session advisory lock keyed
    by the job name lets one run and the others skip. SQLite means a single process.
    """
    if engine.dialect.name != "postgresql":
        yield True
        return
    key = zlib.crc32(name.encode()) & 0x7FFFFFFF
    with engine.connect() as conn:
        got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
        try:
            yield got
        finally:
            if got:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
