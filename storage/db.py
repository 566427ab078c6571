"""Engine, sessions and schema migrations: the one place that knows which database we use."""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, event, text
from sqlalchemy.engine import make_url
from sqlmodel import Session, create_engine

MIGRATIONS = Path(__file__).parent / "migrations"
# Any fixed number: replicas starting together take turns to migrate.
_MIGRATION_LOCK_ID = 4_242_001

SessionFactory = Callable[[], Session]


def make_engine(url: str, echo: bool = False) -> Engine:
    """An engine with SQLite set up for a small team: WAL, busy timeout, foreign keys."""
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_engine(url, echo=echo, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    # a server that drops packets must not hang /healthz or a job for minutes
    connect_args = {} if "connect_timeout" in make_url(url).query else {"connect_timeout": 10}
    return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=20, connect_args=connect_args)


def session_factory(engine: Engine) -> SessionFactory:
    def new_session() -> Session:
        return Session(engine, expire_on_commit=False)

    return new_session


@contextmanager
def unit_of_work(sessions: SessionFactory) -> Iterator[Session]:
    """A session whose writes commit together at the end, or not at all when anything raises."""
    session = sessions()
    try:
        yield session
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
