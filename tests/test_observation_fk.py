"""metric_observation.account_id -> account.id: what the foreign key guaranteed still holds on PostgreSQL, where
migration 0016 replaced the key by statement-level triggers (issue 24): a row for a missing account is refused with
the key's error, an account's delete takes its rows along, two connections deleting and writing the same account
leave no orphan, and a downgrade gives the key back with every row kept. Most tests run on SQLite too (its key)."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import psycopg
import pytest
from alembic import command
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import IntegrityError

from bot.scoring import importer
from bot.scoring.importer import import_accounts, import_metrics
from storage import accounts, bulk, sync
from storage.db import alembic_config, session_factory, unit_of_work
from tests.test_importer import ACCOUNTS, METRICS_HEADER, metric_values, snapshot, write

DAY = date(2026, 3, 1)
KEY = "metric_observation_account_id_fkey"
PG_MESSAGE = f'insert or update on table "metric_observation" violates foreign key constraint "{KEY}"'


@pytest.fixture
def two_accounts(engine: Engine, tmp_path: Path) -> Engine:
    import_accounts(engine, write(tmp_path, "seed_accounts.csv", ACCOUNTS), quiet=True)
    return engine


def account_id(engine: Engine, external_id: str) -> int:
    with unit_of_work(session_factory(engine)) as session:
        return int(accounts.find_accounts(session, external_id, limit=1)[0].id or 0)


def missing_id(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT COALESCE(MAX(id), 0) + 1000 FROM account")).scalar_one())


def orphans(engine: Engine) -> int:
    with engine.connect() as conn:
        sql = (
            "SELECT COUNT(*) FROM metric_observation m WHERE NOT EXISTS (SELECT 1 FROM account WHERE id = m.account_id)"
        )
        return int(conn.execute(text(sql)).scalar_one())


def observations(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        sql = "SELECT account_id, day, metric, value FROM metric_observation ORDER BY account_id, day, metric"
        return [(r[0], date.fromisoformat(str(r[1])), r[2], r[3]) for r in conn.execute(text(sql))]  # SQLite: str


def frame(rows: list[tuple[int, date, str, float]]) -> pd.DataFrame:
    out = pd.DataFrame(rows, columns=list(bulk.OBSERVATION_COLUMNS))
    out["day"] = out["day"].map(str)
    return out


# What a write for a missing account raises: SQLAlchemy's IntegrityError, or the driver's own error from the bulk
# writes that run on the driver's cursor (PostgreSQL's binary COPY, SQLite's executemany), as with the key.
REFUSED = (IntegrityError, psycopg.errors.ForeignKeyViolation, sqlite3.IntegrityError)


def refused_as_the_key(error: BaseException, dialect: str, bad: int) -> None:
    """The error a write for a missing account raises: the key's, word for word, on PostgreSQL."""
    orig = error.orig if isinstance(error, IntegrityError) else error
    if dialect != "postgresql":
        assert "FOREIGN KEY constraint failed" in str(orig)
        return
    assert isinstance(orig, psycopg.errors.ForeignKeyViolation)
    assert orig.sqlstate == "23503"
    assert str(orig).splitlines()[0] == PG_MESSAGE
    assert orig.diag.message_detail == f'Key (account_id)=({bad}) is not present in table "account".'
    assert orig.diag.constraint_name == KEY
    assert orig.diag.table_name == "metric_observation"


# --- a row for an account that does not exist --------------------------------------------------------------------


@pytest.mark.parametrize("stored_day", [False, True], ids=["straight-copy", "through-staging"])
def test_the_bulk_write_refuses_a_row_for_a_missing_account(two_accounts: Engine, stored_day: bool) -> None:
    """Either way the PostgreSQL bulk write takes (a first import's COPY straight into the table, or the upsert
    from a temporary table when the file's days hold rows), one bad row among good ones fails the whole write."""
    a1, bad = account_id(two_accounts, "A1"), missing_id(two_accounts)
    if stored_day:
        with two_accounts.begin() as conn:
            bulk.upsert_observations(conn, frame([(a1, DAY, "logins", 1.0)]))
    before = observations(two_accounts)
    rows = [(a1, DAY, "logins", 2.0), (a1, DAY, "nps", 9.0), (bad, DAY, "logins", 3.0), (a1, DAY, "seats", 4.0)]

    with pytest.raises(REFUSED) as refused, two_accounts.begin() as conn:
        bulk.upsert_observations(conn, frame(rows))

    refused_as_the_key(refused.value, two_accounts.dialect.name, bad)
    assert observations(two_accounts) == before


def test_the_row_by_row_upsert_and_an_update_refuse_a_missing_account(two_accounts: Engine) -> None:
    """The sync's upsert (storage.sync, INSERT ... ON CONFLICT from a temporary table on PostgreSQL), a plain
    INSERT, and an UPDATE that moves rows to an account that does not exist."""
    a1, a2, bad = account_id(two_accounts, "A1"), account_id(two_accounts, "A2"), missing_id(two_accounts)
    with two_accounts.begin() as conn:
        sync.upsert_observations(conn, [(a1, DAY, "logins", 1.0), (a2, DAY, "logins", 2.0)])
    before = observations(two_accounts)

    attempts: list[Callable[[Connection], Any]] = [
        lambda conn: sync.upsert_observations(conn, [(a1, DAY, "logins", 5.0), (bad, DAY, "logins", 1.0)]),
        lambda conn: conn.execute(
            text("INSERT INTO metric_observation (account_id, day, metric, value) VALUES (:a, :d, 'nps', 1)"),
            {"a": bad, "d": DAY},
        ),
        lambda conn: conn.execute(
            text("UPDATE metric_observation SET account_id = :b WHERE account_id = :a"), {"a": a2, "b": bad}
        ),  # fmt: skip
    ]
    for attempt in attempts:
        with pytest.raises(REFUSED) as refused, two_accounts.begin() as conn:
            attempt(conn)
        refused_as_the_key(refused.value, two_accounts.dialect.name, bad)
        assert observations(two_accounts) == before

    with two_accounts.begin() as conn:  # to another account that exists: fine
        conn.execute(text("DELETE FROM metric_observation WHERE account_id = :a"), {"a": a1})
        conn.execute(text("UPDATE metric_observation SET account_id = :b WHERE account_id = :a"), {"a": a2, "b": a1})
        conn.execute(text("UPDATE metric_observation SET value = value + 1 WHERE account_id = :a"), {"a": a2})  # none
    assert observations(two_accounts) == [(a1, DAY, "logins", 2.0)]


def test_the_cli_names_the_line_of_an_unknown_account(
    two_accounts: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`healthbot import metrics` refuses the file before writing, with the line number, as before."""
    from bot import cli

    monkeypatch.setenv("DATABASE_URL", two_accounts.url.render_as_string(hide_password=False))
    monkeypatch.chdir(tmp_path)
    bad = write(tmp_path, "bad.csv", f"{METRICS_HEADER}\nA1,2026-03-02,logins,5\nNOPE,2026-03-02,logins,1\n")

    assert cli.main(["import", "metrics", str(bad)]) == 1

    err = capsys.readouterr().err
    assert "line 3, external_id: 'NOPE' is not a known account" in err
    assert err.rstrip().endswith("Nothing was imported.")
    assert metric_values(two_accounts) == {}


def test_an_account_deleted_between_the_check_and_the_write(
    two_accounts: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file is checked against the accounts, then written: an account deleted in between (another process)
    fails the write on the database's check, and nothing of the file is stored."""
    a2 = account_id(two_accounts, "A2")
    parse = importer.parse_metrics

    def parse_then_delete(*args: Any, **kwargs: Any) -> pd.DataFrame:
        rows = parse(*args, **kwargs)
        with two_accounts.begin() as conn:
            conn.execute(text("DELETE FROM account WHERE id = :a"), {"a": a2})
        return rows

    monkeypatch.setattr(importer, "parse_metrics", parse_then_delete)
    path = write(tmp_path, "m.csv", f"{METRICS_HEADER}\nA1,2026-03-01,logins,5\nA2,2026-03-01,logins,6\n")
    before = snapshot(two_accounts)["metric_observation"]

    with pytest.raises(REFUSED) as refused:
        import_metrics(two_accounts, path, quiet=True)

    refused_as_the_key(refused.value, two_accounts.dialect.name, a2)
    assert snapshot(two_accounts)["metric_observation"] == before == []


# --- an account's delete, its id, a truncate ---------------------------------------------------------------------


def test_deleting_accounts_deletes_their_observations_and_renews_their_days(
    two_accounts: Engine, tmp_path: Path
) -> None:
    import_accounts(two_accounts, write(tmp_path, "a3.csv", "external_id,name\nA3,Three\n"), quiet=True)
    a1, a2, a3 = (account_id(two_accounts, e) for e in ("A1", "A2", "A3"))
    rows = [(a, DAY + timedelta(days=d), m, float(a + d)) for a in (a1, a2, a3) for d in range(3) for m in ("x", "y")]
    with two_accounts.begin() as conn:
        bulk.upsert_observations(conn, frame(rows))
        conn.execute(text("DELETE FROM metric_day_change"))

    with two_accounts.begin() as conn:
        conn.execute(text("DELETE FROM account WHERE id IN (:a, :b)"), {"a": a1, "b": a3})

    assert observations(two_accounts) == [r for r in rows if r[0] == a2]
    with two_accounts.connect() as conn:  # the daily run's cache sees the days changed (migration 0014)
        changed = conn.execute(text("SELECT DISTINCT day FROM metric_day_change WHERE dirty ORDER BY day")).scalars()
        assert [str(d) for d in changed] == [str(DAY + timedelta(days=d)) for d in range(3)]


def test_an_account_id_with_observations_does_not_change(two_accounts: Engine) -> None:
    """The key's ON UPDATE NO ACTION: an account's id moves only while no observation names it."""
    a1, a2 = account_id(two_accounts, "A1"), account_id(two_accounts, "A2")
    with two_accounts.begin() as conn:
        conn.execute(text("DELETE FROM account_field_change"))  # the other key on account.id: not this test's
        bulk.upsert_observations(conn, frame([(a1, DAY, "logins", 1.0)]))

    with pytest.raises(REFUSED) as refused, two_accounts.begin() as conn:
        conn.execute(text("UPDATE account SET id = id + 1000 WHERE id = :a"), {"a": a1})
    if two_accounts.dialect.name == "postgresql":
        assert isinstance(refused.value.orig, psycopg.errors.ForeignKeyViolation)
        assert refused.value.orig.diag.message_detail == (
            f'Key (id)=({a1}) is still referenced from table "metric_observation".'
        )

    with two_accounts.begin() as conn:
        conn.execute(text("UPDATE account SET id = id + 1000 WHERE id = :a"), {"a": a2})  # no observations: fine
        conn.execute(text("UPDATE account SET name = 'Acme' WHERE id = :a"), {"a": a1})  # its id unchanged: fine
    assert observations(two_accounts) == [(a1, DAY, "logins", 1.0)]


def test_truncating_accounts_empties_the_observations(two_accounts: Engine, tmp_path: Path) -> None:
    """TRUNCATE account CASCADE (the other tables' keys need it) emptied metric_observation through the key; so
    does a TRUNCATE of every table (the demo's, the benchmarks')."""
    if two_accounts.dialect.name != "postgresql":
        pytest.skip("TRUNCATE is PostgreSQL's")
    for statement in ("TRUNCATE account CASCADE", "TRUNCATE health_score, metric_observation, account CASCADE"):
        import_accounts(two_accounts, write(tmp_path, "a.csv", ACCOUNTS), quiet=True)
        with two_accounts.begin() as conn:
            bulk.upsert_observations(conn, frame([(account_id(two_accounts, "A1"), DAY, "logins", 1.0)]))
        with two_accounts.begin() as conn:
            conn.execute(text(statement))
        assert observations(two_accounts) == [], statement


# --- two connections: a delete and a write of the same account -------------------------------------------------


def _pg_only(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("two writers at once: PostgreSQL's")


class Background:
    """A statement run in another connection's transaction on a thread (it may wait for a lock)."""

    def __init__(self, engine: Engine, work: Callable[[Connection], Any]) -> None:
        self.engine, self.work = engine, work
        self.error: BaseException | None = None
        self.pid: int | None = None
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.ready.wait(10)

    def _run(self) -> None:
        try:
            with self.engine.begin() as conn:
                self.pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
                conn.execute(text("SET LOCAL lock_timeout = '20s'"))
                self.ready.set()
                self.work(conn)
        except BaseException as exc:  # noqa: BLE001 (checked by the test)
            self.error = exc
        finally:
            self.ready.set()

    def waiting_for_a_lock(self, engine: Engine) -> bool:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                sql = "SELECT wait_event_type FROM pg_stat_activity WHERE pid = :p"
                if conn.execute(text(sql), {"p": self.pid}).scalar() == "Lock":
                    return True
            if not self.thread.is_alive():
                return False
            time.sleep(0.02)
        return False

    def join(self) -> BaseException | None:
        self.thread.join(30)
        assert not self.thread.is_alive()
        return self.error


@pytest.fixture
def writer_and_deleter(two_accounts: Engine) -> Iterator[tuple[Engine, int]]:
    _pg_only(two_accounts)
    a1 = account_id(two_accounts, "A1")
    with two_accounts.begin() as conn:
        bulk.upsert_observations(conn, frame([(a1, DAY - timedelta(days=1), "logins", 1.0)]))
    yield two_accounts, a1
    assert orphans(two_accounts) == 0


@pytest.mark.parametrize("way", ["bulk-copy", "insert"])
def test_a_delete_after_a_write_waits_for_it_and_takes_its_rows(
    writer_and_deleter: tuple[Engine, int], way: str
) -> None:
    """The writer holds the account (FOR KEY SHARE) until it commits; the delete waits, then deletes its rows."""
    engine, a1 = writer_and_deleter
    with engine.begin() as writer:
        if way == "bulk-copy":
            bulk.upsert_observations(writer, frame([(a1, DAY, "logins", 2.0), (a1, DAY, "nps", 8.0)]))
        else:
            writer.execute(text("INSERT INTO metric_observation VALUES (:a, :d, 'logins', 2)"), {"a": a1, "d": DAY})
        deleter = Background(engine, lambda conn: conn.execute(text("DELETE FROM account WHERE id = :a"), {"a": a1}))
        assert deleter.waiting_for_a_lock(engine)  # a delete that does not wait would leave these rows orphaned
    assert deleter.join() is None
    assert observations(engine) == []


def test_a_write_after_a_delete_waits_for_it_and_fails(writer_and_deleter: tuple[Engine, int]) -> None:
    """The delete is not committed yet when the write checks the account: the write waits for it, then fails with
    the key's error; the delete's commit leaves nothing of the account."""
    engine, a1 = writer_and_deleter
    with engine.begin() as deleter:
        deleter.execute(text("DELETE FROM account WHERE id = :a"), {"a": a1})
        writer = Background(engine, lambda conn: bulk.upsert_observations(conn, frame([(a1, DAY, "logins", 2.0)])))
        assert writer.waiting_for_a_lock(engine)
    error = writer.join()
    assert isinstance(error, REFUSED)
    refused_as_the_key(error, "postgresql", a1)
    assert observations(engine) == []


def test_writes_to_the_same_account_do_not_wait_for_each_other(writer_and_deleter: tuple[Engine, int]) -> None:
    """FOR KEY SHARE, like the key: two imports for the same accounts at once both go through."""
    engine, a1 = writer_and_deleter
    with engine.begin() as first:
        bulk.upsert_observations(first, frame([(a1, DAY, "logins", 2.0)]))
        second = Background(engine, lambda conn: bulk.upsert_observations(conn, frame([(a1, DAY, "nps", 3.0)])))
        assert second.join() is None  # done while the first still holds its lock
    assert len(observations(engine)) == 3


# --- the migration ----------------------------------------------------------------------------------------------

KEY_DEFINITION = "FOREIGN KEY (account_id) REFERENCES account(id) ON DELETE CASCADE"


def _keys_and_triggers(engine: Engine) -> tuple[list[tuple[str, str]], list[str], list[str]]:
    with engine.connect() as conn:
        keys = conn.execute(
            text("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                 "WHERE conrelid = 'metric_observation'::regclass AND contype = 'f'")
        ).all()  # fmt: skip
        triggers = conn.execute(
            text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgrelid IN "
                 "('metric_observation'::regclass, 'account'::regclass) ORDER BY tgname")
        )  # fmt: skip
        functions = conn.execute(
            text("SELECT proname FROM pg_proc WHERE pronamespace = 'public'::regnamespace "
                 "AND proname LIKE '%account%' ORDER BY proname")
        )  # fmt: skip
        return [tuple(k) for k in keys], list(triggers.scalars()), list(functions.scalars())


def _migrate(engine: Engine, revision: str, down: bool) -> None:
    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, revision)


def test_downgrade_gives_the_key_back_and_upgrade_takes_it_again_keeping_every_row(two_accounts: Engine) -> None:
    _pg_only(two_accounts)
    a1, a2 = account_id(two_accounts, "A1"), account_id(two_accounts, "A2")
    rows = [(a, DAY + timedelta(days=d), "logins", float(d)) for a in (a1, a2) for d in range(40)]
    with two_accounts.begin() as conn:
        bulk.upsert_observations(conn, frame(rows))
    at_head = _keys_and_triggers(two_accounts)
    assert at_head[0] == []
    assert "metric_observation_account_insert" in at_head[1]

    try:
        _migrate(two_accounts, "0015", down=True)
        keys, triggers, functions = _keys_and_triggers(two_accounts)
        assert keys == [(KEY, KEY_DEFINITION)]
        assert triggers == [t for t in at_head[1] if t.startswith("metric_day_change")]  # 0014's stay
        assert functions == []
        assert observations(two_accounts) == sorted(rows)
        with pytest.raises(REFUSED), two_accounts.begin() as conn:  # the key itself refuses now
            bulk.upsert_observations(conn, frame([(missing_id(two_accounts), DAY, "logins", 1.0)]))
    finally:
        _migrate(two_accounts, "head", down=False)

    assert _keys_and_triggers(two_accounts) == at_head
    assert observations(two_accounts) == sorted(rows)
    with two_accounts.begin() as conn:
        conn.execute(text("DELETE FROM account WHERE id = :a"), {"a": a1})
    assert observations(two_accounts) == sorted(r for r in rows if r[0] == a2)
