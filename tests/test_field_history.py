"""Account fields as they were: imports record changes of the tracked fields, `accounts_as_of`
reads them back for a day, and a backtest sees an account as it was on its as-of day."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from bot.cli import main
from bot.demo.run import write_demo_csvs
from bot.scoring.backtest import snapshot
from bot.scoring.csvfile import ImportFailed
from bot.scoring.importer import import_accounts, import_metrics
from bot.scoring.scorecard import DEFAULT_PATH, load_scorecard
from storage import accounts
from storage.db import make_engine, upgrade

DAY1 = date(2026, 3, 2)
DAY2 = date(2026, 5, 4)


def write(folder: Path, name: str, content: str) -> Path:
    path = folder / name
    path.write_text(content, encoding="utf-8")
    return path


def changes(engine: Engine) -> set[tuple[str, str, str, str | None]]:
    """(external_id, field, ISO seen_on, value) of every recorded change."""
    sql = (
        "SELECT a.external_id, c.field, c.seen_on, c.value FROM account_field_change c "
        "JOIN account a ON a.id = c.account_id"
    )
    with engine.connect() as conn:
        return {(r[0], r[1], str(r[2])[:10], r[3]) for r in conn.execute(text(sql))}


def as_of(engine: Engine, day: date) -> dict[str, dict[str, Any]]:
    """external_id -> the account's fields as `accounts_as_of` reads them for `day`."""
    with engine.connect() as conn:
        frame = accounts.accounts_as_of(conn, day)
    return {row["external_id"]: row for row in frame.to_dict("records")}


def stored(engine: Engine, external_id: str) -> dict[str, Any]:
    with engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM account WHERE external_id = :e"), {"e": external_id}).mappings().one()
    return dict(row)


FIRST = f"""external_id,name,segment,plan,mrr,employees,renewal_date,as_of
A1,Acme,smb,basic,100,12,2026-06-30,{DAY1}
A2,Beta,enterprise,,2500.50,,,{DAY1}
"""
SECOND = f"""external_id,name,segment,plan,mrr,employees,renewal_date,as_of
A1,Acme,enterprise,basic,250,12,2027-06-30,{DAY2}
A2,Beta,enterprise,,2500.5,,,{DAY2}
"""


def test_two_imports_on_different_days_read_back_for_each_day(
    engine: Engine, cli_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = write(tmp_path, "first.csv", FIRST), write(tmp_path, "second.csv", SECOND)
    assert main(["import", "accounts", str(first)]) == 0
    assert main(["import", "accounts", str(second)]) == 0
    assert "imported 2 accounts" in capsys.readouterr().out

    d1, d2 = DAY1.isoformat(), DAY2.isoformat()
    # unchanged values (plan, employees, all of A2) are recorded once, empty ones not at all
    assert changes(engine) == {
        ("A1", "segment", d1, "smb"), ("A1", "segment", d2, "enterprise"),
        ("A1", "plan", d1, "basic"), ("A1", "employees", d1, "12"),
        ("A1", "mrr", d1, "100.0"), ("A1", "mrr", d2, "250.0"),
        ("A1", "renewal_date", d1, "2026-06-30"), ("A1", "renewal_date", d2, "2027-06-30"),
        ("A2", "segment", d1, "enterprise"), ("A2", "mrr", d1, "2500.5"),
    }  # fmt: skip

    old = {"segment": "smb", "mrr": 100.0, "renewal_date": date(2026, 6, 30)}
    new = {"segment": "enterprise", "mrr": 250.0, "renewal_date": date(2027, 6, 30)}
    for day, expected in (
        (DAY1 - timedelta(days=30), old),  # before anything was recorded: the first values known
        (DAY1, old),
        (DAY2 - timedelta(days=1), old),
        (DAY2, new),
        (date.today(), new),
    ):
        acme = as_of(engine, day)["A1"]
        assert {k: acme[k] for k in expected} == expected, day
        assert (acme["plan"], acme["employees"]) == ("basic", 12)
        beta = as_of(engine, day)["A2"]
        assert (beta["segment"], beta["mrr"], beta["renewal_date"]) == ("enterprise", 2500.5, None)
        assert pd.isna(beta["plan"]) and pd.isna(beta["employees"])

    # the account table holds the latest values, the same as a reading for today
    acme = stored(engine, "A1")
    assert (acme["segment"], acme["mrr"], str(acme["renewal_date"])) == ("enterprise", 250.0, "2027-06-30")
    with engine.connect() as conn:
        today, current = accounts.accounts_as_of(conn, date.today()), accounts.accounts_frame(conn)
    assert list(today.columns) == list(current.columns) == list(accounts.ACCOUNT_FRAME_COLUMNS)
    assert today["segment"].tolist() == current["segment"].tolist()
    assert today["mrr"].tolist() == current["mrr"].tolist()

    # importing either file again records nothing, and the older one does not bring its values back
    recorded = changes(engine)
    assert main(["import", "accounts", str(second)]) == 0
    assert main(["import", "accounts", str(first)]) == 0
    assert changes(engine) == recorded
    assert stored(engine, "A1") | {"updated_at": None} == acme | {"updated_at": None}


def test_an_older_row_adds_history_and_updates_only_what_is_older_still(engine: Engine, tmp_path: Path) -> None:
    """The rule in the README: a tracked field takes a row's value unless a later change of that field is
    recorded; the other columns take it unless the account has any later recorded change."""
    first = write(tmp_path, "1.csv", "external_id,name,segment,region\nA1,Acme,smb,EU\n")
    import_accounts(engine, first, quiet=True, seen_on=DAY1)
    newer = "external_id,name,segment,status,churned_on\nA1,Acme Inc,enterprise,churned,2026-05-01\n"
    import_accounts(engine, write(tmp_path, "2.csv", newer), quiet=True, seen_on=DAY2)
    between = DAY1 + timedelta(days=30)
    older = f"external_id,name,segment,region,status,churned_on,as_of\nA1,Acme (old),mid,US,active,,{between}\n"
    import_accounts(engine, write(tmp_path, "3.csv", older), quiet=True)

    acme = stored(engine, "A1")
    assert (acme["segment"], acme["region"]) == ("enterprise", "US")  # segment changed later; region did not
    assert (acme["name"], acme["status"], str(acme["churned_on"])) == ("Acme Inc", "churned", "2026-05-01")
    assert {(f, d, v) for _, f, d, v in changes(engine)} == {
        ("segment", str(DAY1), "smb"), ("segment", str(between), "mid"), ("segment", str(DAY2), "enterprise"),
        ("region", str(DAY1), "EU"), ("region", str(between), "US"),
    }  # fmt: skip
    assert [as_of(engine, d)["A1"]["segment"] for d in (DAY1, between, DAY2)] == ["smb", "mid", "enterprise"]
    assert [as_of(engine, d)["A1"]["region"] for d in (DAY1, between, DAY2)] == ["EU", "US", "US"]

    # a value seen on the day of a recorded change replaces it; clearing a field is a change too
    same_day = f"external_id,name,segment,region,as_of\nA1,Acme Inc,mid-market,,{DAY2}\n"
    import_accounts(engine, write(tmp_path, "4.csv", same_day), quiet=True)
    assert (stored(engine, "A1")["segment"], stored(engine, "A1")["region"]) == ("mid-market", None)
    assert ("A1", "segment", str(DAY2), "mid-market") in changes(engine)
    assert ("A1", "region", str(DAY2), None) in changes(engine)
    assert pd.isna(as_of(engine, DAY2)["A1"]["region"]) and as_of(engine, between)["A1"]["region"] == "US"


def test_rows_are_seen_on_their_as_of_else_seen_on_else_today(engine: Engine, tmp_path: Path) -> None:
    mixed = "external_id,name,segment,as_of\nA1,Acme,smb,\nA2,Beta,mid,2026-01-05\n"
    import_accounts(engine, write(tmp_path, "mixed.csv", mixed), quiet=True, seen_on=DAY1)
    assert changes(engine) == {("A1", "segment", str(DAY1), "smb"), ("A2", "segment", "2026-01-05", "mid")}

    import_accounts(engine, write(tmp_path, "plain.csv", "external_id,name,segment\nA1,Acme,enterprise\n"), quiet=True)
    assert ("A1", "segment", date.today().isoformat(), "enterprise") in changes(engine)


def test_bad_as_of_values_are_line_numbered_and_import_nothing(
    engine: Engine, cli_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["import", "accounts", str(write(tmp_path, "first.csv", FIRST))]) == 0
    before, acme = changes(engine), stored(engine, "A1")
    today, tomorrow = date.today(), date.today() + timedelta(days=1)
    bad = (
        "external_id,name,segment,as_of\n"
        "A1,Acme,mid,2026-04-01\n"
        "A2,Beta,mid,2026-02-30\n"
        "A3,Gamma,mid,03/02/2026\n"
        f"A4,Delta,mid,{tomorrow}\n"
    )
    assert main(["import", "accounts", str(write(tmp_path, "bad.csv", bad))]) == 1
    err = capsys.readouterr().err
    assert "line 3, as_of: '2026-02-30' is not a date (use YYYY-MM-DD)" in err
    assert "line 4, as_of: '03/02/2026' is not a date (use YYYY-MM-DD)" in err
    assert f"line 5, as_of: '{tomorrow}' is after today ({today})" in err
    assert "line 2" not in err and err.rstrip().endswith("Nothing was imported.")
    assert changes(engine) == before and stored(engine, "A1") == acme
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM account")).scalar() == 2

    with pytest.raises(ImportFailed, match=r"as_of: .* is after today"):
        import_accounts(engine, write(tmp_path, "ok.csv", "external_id,name\nA5,Epsilon\n"), seen_on=tomorrow)
    assert changes(engine) == before


END = date(2026, 6, 30)
EARLY = END - timedelta(days=90)
LATER = END - timedelta(days=30)
LEGACY_CARD = """\
[cards.legacy]
match = { FIELD = ["legacy"] }

[cards.legacy.groups.usage]
label = "Usage"
weight = 1
measures = [
  { name = "logins", metric = "logins", transform = "level", days = 7, bands = [[0, 0], [10, 100]] },
]

"""


@pytest.mark.parametrize("field", ["segment", "plan"])
def test_a_backtest_reads_a_card_s_field_as_of_its_day(engine: Engine, tmp_path: Path, field: str) -> None:
    accounts_csv, metrics_csv, _ = write_demo_csvs(tmp_path / "data", 60, 180, END)
    import_accounts(engine, accounts_csv, quiet=True)
    import_metrics(engine, metrics_csv, quiet=True)
    cards = LEGACY_CARD.replace("FIELD", field) + DEFAULT_PATH.read_text(encoding="utf-8")
    card = load_scorecard(write(tmp_path, "cards.toml", cards))
    assert list(card.cards)[0] == "legacy"

    early, later = snapshot(engine, card, EARLY, 30), snapshot(engine, card, LATER, 30)
    assert "legacy" not in set(early.scores.frame["card"]) | set(later.scores.frame["card"])
    account_id = min(set(early.scores.frame["account_id"]) & set(later.scores.frame["account_id"]))
    with engine.connect() as conn:
        eid, name, today = accounts.accounts_frame(conn).set_index("id").loc[account_id, ["external_id", "name", field]]
    today = None if pd.isna(today) else today  # the demo has no plans

    # the account was "legacy" from before EARLY until halfway to LATER, then had today's value
    header = f"external_id,name,{field},as_of\n"
    legacy = f"{eid},{name},legacy,{EARLY - timedelta(days=30)}\n"
    back = f"{eid},{name},{today or ''},{EARLY + timedelta(days=30)}\n"
    import_accounts(engine, write(tmp_path, "h1.csv", header + legacy), quiet=True)
    import_accounts(engine, write(tmp_path, "h2.csv", header + back), quiet=True)

    def card_of(day: date) -> str:
        frame = snapshot(engine, card, day, 30).scores.frame.set_index("account_id")
        return str(frame.loc[account_id, "card"])

    assert card_of(EARLY) == "legacy"
    assert card_of(LATER) != "legacy"
    assert stored(engine, eid)[field] == today  # the older rows leave today's value as it is


# --- the migration ----------------------------------------------------------------------------


@pytest.fixture
def blank_engine(database_url: str, tmp_path: Path) -> Iterator[Engine]:
    """An empty database of its own (a SQLite file, or a PostgreSQL schema) to migrate step by step."""
    if make_url(database_url).get_backend_name() == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
        yield eng
        eng.dispose()
        return
    schema = "field_history_migration"
    admin = make_engine(database_url)
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    eng = make_engine(database_url)

    @sa.event.listens_for(eng, "connect")
    def _in_schema(dbapi_conn: Any, _record: Any) -> None:
        with dbapi_conn.cursor() as cur:
            cur.execute(f"SET search_path TO {schema}")
        dbapi_conn.commit()

    yield eng
    eng.dispose()
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


OLD_ACCOUNT = sa.table(
    "account",
    *(sa.column(c) for c in ("external_id", "name", "name_lower", "status", "segment", "lifecycle_stage", "region")),
    *(sa.column(c) for c in ("industry", "owner_slack_id")),
    sa.column("employees", sa.Integer()),
    sa.column("mrr", sa.Float()),
    sa.column("renewal_date", sa.Date()),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)


def test_the_migration_records_what_accounts_hold(blank_engine: Engine, tmp_path: Path) -> None:
    upgrade(blank_engine, "0008")
    created = datetime(2026, 2, 3, 23, 30, tzinfo=UTC)
    full = {
        "segment": "smb", "lifecycle_stage": "adopting", "region": "EU", "industry": "SaaS", "owner_slack_id": "U01",
        "employees": 120, "mrr": 1200.0, "renewal_date": date(2026, 6, 30),
    }  # fmt: skip
    with blank_engine.begin() as conn:
        conn.execute(OLD_ACCOUNT.insert(), [
            {"external_id": "A1", "name": "Acme", "name_lower": "acme", "status": "active", **full,
             "created_at": created, "updated_at": created},
            {"external_id": "A2", "name": "Beta", "name_lower": "beta", "status": "active", **dict.fromkeys(full),
             "created_at": created + timedelta(days=1), "updated_at": created},
        ])  # fmt: skip
    upgrade(blank_engine)

    recorded = changes(blank_engine)
    assert {(e, f, d) for e, f, d, _ in recorded} == {("A1", f, "2026-02-03") for f in full}
    values = {f: v for _, f, _, v in recorded}
    assert float(values.pop("mrr") or 0) == 1200.0  # "1200" on PostgreSQL, "1200.0" on SQLite
    assert values == {f: str(v) for f, v in full.items() if f != "mrr"}
    before = as_of(blank_engine, date(2026, 1, 1))
    assert {f: before["A1"][f] for f in full} == full
    assert pd.isna(before["A2"]["segment"]) and pd.isna(before["A2"]["mrr"])

    # the values as the upgrade recorded them are no change: importing them again adds nothing
    same = "external_id,name,segment,mrr,employees,renewal_date\nA1,Acme,smb,1200,120,2026-06-30\n"
    import_accounts(blank_engine, write(tmp_path, "same.csv", same), quiet=True)
    assert changes(blank_engine) == recorded
    import_accounts(blank_engine, write(tmp_path, "plan.csv", "external_id,name,plan\nA1,Acme,pro\n"), seen_on=DAY1)
    assert changes(blank_engine) - recorded == {("A1", "plan", str(DAY1), "pro")}


def test_a_synced_field_change_is_recorded_as_seen_today(engine: Engine) -> None:
    """Accounts fed by a connector (storage.sync) get the same history as imported ones."""
    from storage import sync

    with engine.begin() as conn:
        sync.upsert_accounts(conn, [{"external_id": "S1", "name": "Synced", "segment": "smb"}])
        assert accounts.field_history(conn, ["segment"])["value"].tolist() == ["smb"]
        sync.upsert_accounts(conn, [{"external_id": "S1", "name": "Synced", "segment": "enterprise"}])
        history = accounts.field_history(conn, ["segment"])
    assert history["value"].tolist() == ["enterprise"]  # both seen today: the later value is what today knew
    with engine.connect() as conn:
        today = accounts.accounts_as_of(conn, date.today())
    assert today.loc[today["external_id"] == "S1", "segment"].item() == "enterprise"
