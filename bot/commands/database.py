"""The database a command opens: refused in one line when it cannot be used (`healthbot db` too)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bot.settings import Settings, SettingsError
from prompts import say

if TYPE_CHECKING:
    from sqlalchemy import Engine


def database_problem(exc: BaseException, url: str) -> str | None:
    """One line naming the database and what is wrong with it; None for an error that is not the database's.

    Read-only and corrupt SQLite files, a server gone or out of room; not our own mistakes
    (integrity or SQL errors), whose traceback is what a bug report needs.
    """
    import sqlite3

    import psycopg
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import DBAPIError

    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    reason = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if not isinstance(orig, sqlite3.DatabaseError):
            return None
        file_problem = _sqlite_file_problem(orig, parsed.database or "")
        if file_problem is None and "database is locked" in reason:
            return say("cli.say.database.locked", path=parsed.database)
        if file_problem is None and isinstance(orig, sqlite3.OperationalError):
            return say("cli.say.database.file_failed", path=parsed.database, reason=reason)
        return file_problem
    where = parsed.render_as_string(hide_password=True)
    if isinstance(orig, psycopg.errors.ReadOnlySqlTransaction):
        return say("cli.say.database.server_read_only", url=where, reason=reason)
    if isinstance(orig, psycopg.OperationalError):
        return say("cli.say.database.server_failed", url=where, reason=reason)
    return None


def _sqlite_file_problem(orig: BaseException, path: str) -> str | None:
    """The SQLite file is read-only, or no database, or damaged: one line; else None."""
    import sqlite3

    reason = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
    if "readonly" in reason or "read-only" in reason:
        return say("cli.say.database.read_only", path=path, reason=reason)
    if type(orig) is sqlite3.DatabaseError or "malformed" in reason or "not a database" in reason:
        return say("cli.say.database.corrupt", path=path, reason=reason)
    return None


def writable_engine(settings: Settings, url: str | None = None) -> Engine:
    """An engine on a migrated database this command may write to (a read-only SQLite file is refused here)."""
    from storage.db import upgrade

    engine = open_engine(url or settings.database_url)
    _check_writable(engine)
    upgrade(engine)
    return engine


def open_engine(url: str) -> Engine:
    """An engine on a database that answers; else one line saying which and why.

    A SQLite file is also read a little: its schema and the first and last rows of each table,
    which finds a file that is no database or whose pages are damaged there, in milliseconds
    at any size (PRAGMA quick_check reads every page: 25 s for 1 GB from disk).
    """
    from sqlalchemy.exc import DBAPIError

    from storage.db import make_engine, read_sqlite_ends

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                read_sqlite_ends(conn)
    except DBAPIError as exc:
        reason = str(exc.orig or exc).strip().splitlines()[0]
        # "file is not a database" is as often a URL naming the wrong file: the line below says check the URL
        if engine.dialect.name == "sqlite" and "not a database" not in reason:
            problem = _sqlite_file_problem(exc.orig or exc, engine.url.database or "")
            if problem is not None:
                raise SettingsError(problem) from None
        where = engine.url.render_as_string(hide_password=True)
        raise SettingsError(say("cli.say.database.cannot_open", url=where, reason=reason)) from None
    return engine


def _check_writable(engine: Engine) -> None:
    """Refuse a SQLite file (or its folder, where SQLite keeps the -wal and -shm files) this user cannot write."""
    import os

    if engine.dialect.name != "sqlite" or not engine.url.database:
        return
    path = Path(engine.url.database).resolve()
    reason = None
    if path.exists() and not os.access(path, os.W_OK):
        reason = say("cli.say.database.file_not_writable")
    elif not os.access(path.parent, os.W_OK):
        reason = say("cli.say.database.folder_not_writable", folder=path.parent)
    if reason:
        raise SettingsError(say("cli.say.database.read_only", path=engine.url.database, reason=reason))


def cmd_db(settings: Settings, args: argparse.Namespace) -> int:
    from sqlalchemy.engine import make_url

    from storage.db import current_revision, upgrade

    url = make_url(settings.database_url)
    if args.action == "current" and url.get_backend_name() == "sqlite" and not Path(url.database or "").exists():
        print(say("cli.say.db.missing", path=url.database), file=sys.stderr)
        return 1  # opening it would create an empty file
    engine = open_engine(settings.database_url)
    if args.action == "upgrade":
        upgrade(engine)
    print(say("cli.say.db.revision", revision=current_revision(engine) or say("cli.say.db.empty")))
    return 0
