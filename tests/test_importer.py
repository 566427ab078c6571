"""The CSV contract of `healthbot import accounts|metrics`, against a real database.

Every file is checked whole before anything is written: a bad file leaves the database
exactly as it was and says which lines are wrong and why.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from bot import cli
from bot.scoring.csvfile import ImportFailed
from bot.scoring.importer import import_accounts, import_metrics

ACCOUNTS_HEADER = (
    "external_id,name,domain,owner_slack_id,segment,industry,employees,region,lifecycle_stage,"
    "acquisition_channel,mrr,contract_start,renewal_date,status,churned_on"
)
ACCOUNTS = (
    f"{ACCOUNTS_HEADER}\n"
    "A1,Acme Corp,acme.example,U01,enterprise,Retail,120,EMEA,adopted,sales,1500.50,2024-01-15,2026-01-15,active,\n"
    "A2,Beta LLC,beta.example,U02,smb,Software,,NA,onboarding,self-serve,99,2025-03-01,,churned,2025-09-30\n"
)
METRICS_HEADER = "external_id,date,metric,value"
SETTING_NAMES = (
    "DATABASE_URL", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "SLACK_API_URL", "HOST",
    "PORT", "TIMEZONE", "SCORE_TIME", "ALERT_CHANNEL", "SCORECARD_PATH", "LISTENER_THREADS", "LOG_LEVEL",
)  # fmt: skip


def write(tmp_path: Path, name: str, content: str) -> Path:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every stored account and metric row, in a stable order."""
    with engine.connect() as conn:
        return {
            "account": [tuple(r) for r in conn.execute(text("SELECT * FROM account ORDER BY external_id"))],
            "metric_observation": [
                tuple(r)
                for r in conn.execute(text("SELECT * FROM metric_observation ORDER BY account_id, day, metric"))
            ],
        }


def account(engine: Engine, external_id: str) -> dict[str, Any]:
    with engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM account WHERE external_id = :e"), {"e": external_id}).mappings().one()
    return dict(row)


def metric_values(engine: Engine) -> dict[tuple[str, str, str], float]:
    """(external_id, ISO day, metric) -> value."""
    sql = (
        "SELECT a.external_id, m.day, m.metric, m.value FROM metric_observation m JOIN account a ON a.id = m.account_id"
    )
    with engine.connect() as conn:
        return {(r[0], str(r[1]), r[2]): r[3] for r in conn.execute(text(sql))}


def as_date(value: Any) -> date | None:
    """SQLite hands dates back as text, PostgreSQL as `date`."""
    return date.fromisoformat(value) if isinstance(value, str) else value


def rejected(engine: Engine, fn: Any, path: Path) -> ImportFailed:
    """Run an import that must fail; check it wrote nothing and return the failure."""
    before = snapshot(engine)
    with pytest.raises(ImportFailed) as info:
        fn(engine, path, quiet=True)
    assert snapshot(engine) == before
    return info.value


@pytest.fixture
def two_accounts(engine: Engine, tmp_path: Path) -> Engine:
    import_accounts(engine, write(tmp_path, "seed_accounts.csv", ACCOUNTS), quiet=True)
    return engine


# --- accounts: the happy path and re-imports ------------------------------------------


def test_accounts_import_stores_every_column(engine: Engine, tmp_path: Path) -> None:
    assert import_accounts(engine, write(tmp_path, "accounts.csv", ACCOUNTS), quiet=True) == 2

    acme = account(engine, "A1")
    assert (acme["name"], acme["name_lower"], acme["domain"], acme["segment"]) == (
        "Acme Corp", "acme corp", "acme.example", "enterprise",
    )  # fmt: skip
    assert (acme["employees"], acme["mrr"], acme["status"], acme["churned_on"]) == (120, 1500.5, "active", None)
    assert as_date(acme["contract_start"]) == date(2024, 1, 15)
    assert as_date(acme["renewal_date"]) == date(2026, 1, 15)
    beta = account(engine, "A2")
    assert (beta["employees"], beta["renewal_date"], beta["status"]) == (None, None, "churned")
    assert as_date(beta["churned_on"]) == date(2025, 9, 30)


def test_accounts_reimport_upserts_by_external_id(two_accounts: Engine, tmp_path: Path) -> None:
    first_id = account(two_accounts, "A1")["id"]
    changed = f"{ACCOUNTS_HEADER}\nA1,Acme Corporation,,,,,,,,,,,,Paused,\nA3,Gamma,,,,,,,,,,,,,\n"

    assert import_accounts(two_accounts, write(tmp_path, "again.csv", changed), quiet=True) == 2

    with two_accounts.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM account")).scalar() == 3
    acme = account(two_accounts, "A1")
    assert acme["id"] == first_id
    assert (acme["name"], acme["name_lower"], acme["status"]) == ("Acme Corporation", "acme corporation", "paused")
    assert acme["mrr"] is None  # the column was in the file, empty: the value is cleared
    assert account(two_accounts, "A3")["status"] == "active"


def test_columns_absent_from_reimport_are_left_untouched(two_accounts: Engine, tmp_path: Path) -> None:
    before = {eid: account(two_accounts, eid) for eid in ("A1", "A2")}

    import_accounts(two_accounts, write(tmp_path, "names.csv", "external_id,name\nA1,Acme Renamed\nA2,Beta LLC\n"))

    acme = account(two_accounts, "A1")
    assert acme["name"] == "Acme Renamed"
    untouched = ("domain", "segment", "employees", "mrr", "contract_start", "renewal_date", "status", "churned_on")
    for eid in ("A1", "A2"):
        now = account(two_accounts, eid)
        assert {c: now[c] for c in untouched} == {c: before[eid][c] for c in untouched}
        assert now["created_at"] == before[eid]["created_at"]


def test_reimport_with_churned_on_but_no_status_column_keeps_stored_status(engine: Engine, tmp_path: Path) -> None:
    import_accounts(engine, write(tmp_path, "a.csv", "external_id,name,status\nP1,Paused,paused\nC1,Gone,churned\n"))

    dates = "external_id,name,churned_on\nP1,Paused,\nC1,Gone,\nP2,New,\nC2,New gone,2025-01-31\n"
    import_accounts(engine, write(tmp_path, "b.csv", dates), quiet=True)

    statuses = {eid: account(engine, eid)["status"] for eid in ("P1", "C1", "P2", "C2")}
    assert statuses == {"P1": "paused", "C1": "churned", "P2": "active", "C2": "churned"}


def test_bom_and_non_ascii_names_import(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufeffexternal_id,name\nM1,Müller GmbH\nM2,Łódź Sp. z o.o.\n".encode())

    assert import_accounts(engine, path, quiet=True) == 2

    assert account(engine, "M1")["name"] == "Müller GmbH"
    assert account(engine, "M1")["name_lower"] == "müller gmbh"
    assert account(engine, "M2")["name"] == "Łódź Sp. z o.o."


def test_header_only_file_imports_nothing(engine: Engine, tmp_path: Path) -> None:
    assert import_accounts(engine, write(tmp_path, "header.csv", "external_id,name\n"), quiet=True) == 0
    assert snapshot(engine)["account"] == []


# --- accounts: rejected files -------------------------------------------------------


def test_bad_date_names_line_column_and_value(two_accounts: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, "bad.csv", "external_id,name,renewal_date\nA1,Acme,2026-02-01\nA9,Nine,not-a-date\n")

    failure = rejected(two_accounts, import_accounts, path)

    assert "line 3, renewal_date: 'not-a-date' is not a date" in str(failure)
    assert failure.total == 1
    assert account(two_accounts, "A1")["name"] == "Acme Corp"


def test_only_last_row_bad_in_large_file_writes_nothing(two_accounts: Engine, tmp_path: Path) -> None:
    rows = [f"B{i:04d},Company {i},2025-01-01" for i in range(1, 1000)] + ["B1000,Company 1000,2025-13-01"]
    path = write(tmp_path, "big.csv", "external_id,name,contract_start\n" + "\n".join(rows) + "\n")

    failure = rejected(two_accounts, import_accounts, path)

    assert failure.errors == ["line 1001, contract_start: '2025-13-01' is not a date (use YYYY-MM-DD)"]


@pytest.mark.parametrize(
    ("columns", "row", "expected"),
    [
        ("mrr", "Z1,Zed,abc", "line 3, mrr: 'abc' is not a number"),
        ("mrr", "Z1,Zed,-5", "line 3, mrr: '-5' is below 0"),
        ("employees", "Z1,Zed,12.5", "line 3, employees: '12.5' is not a whole number"),
        ("status", "Z1,Zed,gone", "line 3, status: 'gone' is not one of active, churned, paused"),
        ("status,churned_on", "Z1,Zed,active,2025-05-01", "line 3, status: 'active' is 'active' but churned_on"),
        ("mrr", "Z1,,5", "line 3, name: '' is empty; it is required"),
        ("mrr", ",Zed,5", "line 3, external_id: '' is empty; it is required"),
    ],
    ids=["bad-number", "negative-mrr", "fractional", "bad-status", "churned-but-active", "empty-name", "empty-id"],
)
def test_bad_account_value_is_reported_and_nothing_written(
    two_accounts: Engine, tmp_path: Path, columns: str, row: str, expected: str
) -> None:
    good_row = "A1,Acme New Name" + "," * len(columns.split(","))  # empty optional values are fine
    path = write(tmp_path, "bad.csv", f"external_id,name,{columns}\n{good_row}\n{row}\n")

    failure = rejected(two_accounts, import_accounts, path)

    assert len(failure.errors) == 1
    assert failure.errors[0].startswith(expected)


def test_unknown_column_is_named(engine: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, "extra.csv", "external_id,name,tier\nA1,Acme,gold\n")

    failure = rejected(engine, import_accounts, path)

    assert failure.errors[0].startswith("line 1: unknown column(s) tier; allowed columns are external_id, name,")


def test_missing_required_column_is_named(engine: Engine, tmp_path: Path) -> None:
    failure = rejected(engine, import_accounts, write(tmp_path, "noname.csv", "external_id,domain\nA1,a.example\n"))

    assert failure.errors == ["line 1: missing required column(s) name"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("external_id,name,name\nA1,Acme,Acme\n", "line 1: column(s) name appear more than once"),
        (
            "external_id,name,\nA1,Acme,\n",
            "line 1: column(s) 3 have no name (a comma too many at the end of the line?)",
        ),
        (
            "\nexternal_id,name\nA1,Acme\n",
            "{path}: line 1 is blank; the first line must be the header (external_id,name,...)",
        ),
        ("  \r\n\r\n", "{path}: the file is empty; the first line must be the header"),
        ("external_id;name\nA1;Acme\n", "line 1: unknown column(s) external_id;name; allowed columns are"),
    ],
    ids=["repeated-column", "unnamed-column", "blank-first-line", "only-blanks", "semicolons"],
)
def test_header_problems_are_named(engine: Engine, tmp_path: Path, content: str, expected: str) -> None:
    path = write(tmp_path, "header.csv", content)

    failure = rejected(engine, import_accounts, path)

    assert failure.errors[0].startswith(expected.format(path=path))


def test_quoted_header_with_spaces_imports(engine: Engine, tmp_path: Path) -> None:
    content = '"external_id", "name" ,  "mrr"\nQ1, "Quoted, Inc" , 5\n'
    assert import_accounts(engine, write(tmp_path, "quoted.csv", content), quiet=True) == 1

    assert (account(engine, "Q1")["name"], account(engine, "Q1")["mrr"]) == ("Quoted, Inc", 5.0)


def test_semicolon_separated_file_gets_a_hint(engine: Engine, tmp_path: Path) -> None:
    failure = rejected(engine, import_accounts, write(tmp_path, "excel-de.csv", "external_id;name\nA1;Acme\n"))

    assert failure.errors[0].endswith("; the file seems separated by ';': save it with commas")


def test_duplicate_external_id_names_both_lines(engine: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, "dupes.csv", "external_id,name\nA1,Acme\nA2,Beta\nA1,Acme again\n")

    failure = rejected(engine, import_accounts, path)

    assert failure.errors == ["line 4, external_id repeats line 2"]


def test_non_utf8_file_is_refused(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("external_id,name\nM1,Müller GmbH\n".encode("latin-1"))

    failure = rejected(engine, import_accounts, path)

    assert len(failure.errors) == 1
    assert "not UTF-8" in failure.errors[0] and "save the file as UTF-8" in failure.errors[0]


def test_empty_file_is_refused(engine: Engine, tmp_path: Path) -> None:
    failure = rejected(engine, import_accounts, write(tmp_path, "empty.csv", ""))

    assert failure.errors == [f"{tmp_path / 'empty.csv'}: the file is empty; the first line must be the header"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("external_id,name\nA1,Acme\nA2,Beta,extra\n", "line 3: has 3 fields, more than the header"),
        # a wider first row would otherwise silently become pandas' index
        ("external_id,name\nA1,Acme,extra\nA2,Beta\n", "line 2: has more fields than the header"),
    ],
    ids=["later-row", "first-row"],
)
def test_row_with_too_many_fields_is_refused(engine: Engine, tmp_path: Path, content: str, expected: str) -> None:
    path = write(tmp_path, "wide.csv", content)

    failure = rejected(engine, import_accounts, path)

    assert failure.errors == [f"{path}: {expected}"]


def test_trailing_comma_on_every_line_is_refused_not_misread(engine: Engine, tmp_path: Path) -> None:
    failure = rejected(engine, import_accounts, write(tmp_path, "excel.csv", "external_id,name\nA1,Acme,\nA2,Beta,\n"))

    assert failure.errors[0].endswith("line 2: has more fields than the header")


def test_blank_lines_do_not_shift_line_numbers(engine: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, "blanks.csv", "external_id,name\nA1,Acme\n\nA2,Beta\n\nA3,\n\n")

    failure = rejected(engine, import_accounts, path)

    assert failure.errors == ["line 6, name: '' is empty; it is required"]


def test_error_report_is_truncated(engine: Engine, tmp_path: Path) -> None:
    rows = "".join(f"C{i},Company {i},lots\n" for i in range(100))
    path = write(tmp_path, "hundred.csv", "external_id,name,mrr\n" + rows)

    failure = rejected(engine, import_accounts, path)

    assert failure.total == 100
    lines = failure.report().splitlines()
    assert lines[:2] == ["line 2, mrr: 'lots' is not a number", "line 3, mrr: 'lots' is not a number"]
    assert lines[20:] == ["... and 80 more error(s)", "Nothing was imported."]
    assert len(lines) == 22


def test_quoted_values_spanning_lines_keep_line_numbers_right(engine: Engine, tmp_path: Path) -> None:
    content = (
        "external_id,name,mrr\r\n"
        'A1,"Acme, Inc.",10\r\n'
        'A2,"Beta\r\nsecond line\r\nthird line",20\r\n'
        "\r\n"
        "A3,Gamma,lots\r\n"
        'A1,"Acme\nagain",30\r\n'
    )
    failure = rejected(engine, import_accounts, write(tmp_path, "multiline.csv", content))

    assert failure.errors == ["line 7, mrr: 'lots' is not a number", "line 8, external_id repeats line 2"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('external_id,name\nA1,"two\nlines"\nA2,Beta,extra\n', "line 4: has 3 fields, more than the header"),
        ('external_id,name\nA1,"two\nlines"\nA2,"never closed\nA3,Gamma\n', "line 4: a quoted value is never closed"),
    ],
    ids=["too-many-fields", "unclosed-quote"],
)
def test_file_level_errors_after_multiline_value_name_the_real_line(
    engine: Engine, tmp_path: Path, content: str, expected: str
) -> None:
    path = write(tmp_path, "multiline.csv", content)

    failure = rejected(engine, import_accounts, path)

    assert len(failure.errors) == 1
    assert failure.errors[0].startswith(f"{path}: {expected}")


def test_multiline_value_is_imported_whole(engine: Engine, tmp_path: Path) -> None:
    import_accounts(engine, write(tmp_path, "ok.csv", 'external_id,name\nA1,"Acme\nEurope, Ltd"\n'), quiet=True)

    assert account(engine, "A1")["name"] == "Acme\nEurope, Ltd"


def test_non_utf8_error_names_the_line(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    rows = "".join(f"C{i},Company {i}\n" for i in range(50_000))
    path.write_bytes(f"external_id,name\n{rows}M1,Müller GmbH\n".encode("latin-1"))

    failure = rejected(engine, import_accounts, path)

    assert failure.errors[0].startswith(f"{path}: line 50002 is not UTF-8 (byte 0xfc)")


def test_folder_is_not_a_file(engine: Engine, tmp_path: Path) -> None:
    failure = rejected(engine, import_accounts, tmp_path)

    assert failure.errors == [f"{tmp_path}: is a folder, not a CSV file"]


@pytest.mark.parametrize(
    ("columns", "row", "expected"),
    [
        ("mrr", 'Z1,Zed,"1,200"', "line 2, mrr: '1,200' is not a number (no thousands separators"),
        (
            "contract_start,churned_on",
            "Z1,Zed,2025-06-01,2025-01-31",
            "line 2, churned_on: '2025-01-31' is before contract_start 2025-06-01",
        ),
        ("employees", "Z1,Zed,3000000000", "line 2, employees: '3000000000' is above 2,147,483,647"),
        ("segment", "Z1,Zed," + "s" * 65, "line 2, segment: '" + "s" * 57 + "...' is longer than 64 characters"),
        ("owner_slack_id", "Z1," + "N" * 256 + ",U01", "line 2, name: '" + "N" * 57 + "...' is longer than 255"),
    ],  # a NUL byte anywhere fails the whole file: tests/test_cli_import_messages.py
    ids=["thousands-separator", "churned-before-start", "employees-too-big", "long-segment", "long-name"],
)
def test_values_the_database_would_refuse_are_reported(
    two_accounts: Engine, tmp_path: Path, columns: str, row: str, expected: str
) -> None:
    path = write(tmp_path, "bad.csv", f"external_id,name,{columns}\n{row}\n")

    failure = rejected(two_accounts, import_accounts, path)

    assert len(failure.errors) == 1
    assert failure.errors[0].startswith(expected)


def test_many_duplicates_are_counted_and_capped(two_accounts: Engine, tmp_path: Path) -> None:
    rows = "".join(f"A1,2026-03-01,logins,{i}\n" for i in range(500))
    failure = rejected(two_accounts, import_metrics, write(tmp_path, "dupes.csv", f"{METRICS_HEADER}\n{rows}"))

    assert failure.total == 499
    assert failure.errors[:2] == [
        "line 3, the same external_id, date and metric repeats line 2",
        "line 4, the same external_id, date and metric repeats line 2",
    ]
    assert failure.report().splitlines()[-2:] == ["... and 479 more error(s)", "Nothing was imported."]


# --- metrics ---------------------------------------------------------------------------


def test_metrics_import_and_reimport_replaces_value(two_accounts: Engine, tmp_path: Path) -> None:
    first = f"{METRICS_HEADER}\nA1,2026-03-01,logins,5\nA1,2026-03-02,logins,7\nA2,2026-03-01,ticket_csat,4.5\n"
    assert import_metrics(two_accounts, write(tmp_path, "m1.csv", first), quiet=True) == 3

    again = f"{METRICS_HEADER}\nA1,2026-03-02,logins,9\nA2,2026-03-01,seat_change,-1\n"
    assert import_metrics(two_accounts, write(tmp_path, "m2.csv", again), quiet=True) == 2

    assert metric_values(two_accounts) == {
        ("A1", "2026-03-01", "logins"): 5.0,
        ("A1", "2026-03-02", "logins"): 9.0,
        ("A2", "2026-03-01", "ticket_csat"): 4.5,
        ("A2", "2026-03-01", "seat_change"): -1.0,
    }


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ("A7,2026-03-01,logins,1", "line 3, external_id: 'A7' is not a known account"),
        ("A1,2026-03-01,Logins,1", "line 3, metric: 'Logins' is not a metric name"),
        ("A1,2026-03-01,logins,many", "line 3, value: 'many' is not a number"),
        ("A1,2026-03-01,logins,", "line 3, value: '' is empty; a number is required"),
        ("A1,03/01/2026,logins,1", "line 3, date: '03/01/2026' is not a date"),
        ("A1,2026-02-28,logins,2", "line 3, the same external_id, date and metric repeats line 2"),
    ],
    ids=["unknown-account", "bad-metric", "bad-value", "empty-value", "bad-date", "duplicate"],
)
def test_bad_metric_row_is_reported_and_nothing_written(
    two_accounts: Engine, tmp_path: Path, row: str, expected: str
) -> None:
    import_metrics(two_accounts, write(tmp_path, "ok.csv", f"{METRICS_HEADER}\nA2,2026-02-01,logins,4\n"))
    path = write(tmp_path, "bad.csv", f"{METRICS_HEADER}\nA1,2026-02-28,logins,3\n{row}\n")

    failure = rejected(two_accounts, import_metrics, path)

    assert len(failure.errors) == 1
    assert failure.errors[0].startswith(expected)


def test_metrics_last_row_bad_in_large_file_writes_nothing(two_accounts: Engine, tmp_path: Path) -> None:
    rows = [f"A1,2025-{1 + i // 28:02d}-{1 + i % 28:02d},logins,{i}" for i in range(300)]
    rows += [f"A2,2025-{1 + i // 28:02d}-{1 + i % 28:02d},logins,{i}" for i in range(299)] + ["A2,2025-12-31,logins,x"]
    path = write(tmp_path, "big.csv", METRICS_HEADER + "\n" + "\n".join(rows) + "\n")

    failure = rejected(two_accounts, import_metrics, path)

    assert failure.errors == ["line 601, value: 'x' is not a number"]


def test_metrics_extra_column_is_named(two_accounts: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, "extra.csv", f"{METRICS_HEADER},source\nA1,2026-03-01,logins,1,crm\n")

    failure = rejected(two_accounts, import_metrics, path)

    assert failure.errors[0].startswith("line 1: unknown column(s) source;")


# --- the real CLI ------------------------------------------------------------------------


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str, engine: Engine) -> Path:
    """Run the CLI against the test database, from a directory without a `.env`."""
    for name in SETTING_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_cli_import_accounts(cli_env: Path, engine: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    good = write(cli_env, "accounts.csv", ACCOUNTS)
    assert cli.main(["import", "accounts", str(good)]) == 0
    assert f"imported 2 accounts from {good} in " in capsys.readouterr().out

    bad = write(cli_env, "bad.csv", "external_id,name,mrr\nA1,Acme,\nA5,Five,-3\n")
    assert cli.main(["import", "accounts", str(bad)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [f"{bad}: not imported", "line 3, mrr: '-3' is below 0", "Nothing was imported."]
    assert len(snapshot(engine)["account"]) == 2


def test_cli_import_metrics(cli_env: Path, engine: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    import_accounts(engine, write(cli_env, "accounts.csv", ACCOUNTS), quiet=True)
    good = write(cli_env, "metrics.csv", f"{METRICS_HEADER}\nA1,2026-03-01,logins,5\n")
    assert cli.main(["import", "metrics", str(good)]) == 0
    assert "imported 1 metric row from" in capsys.readouterr().out

    bad = write(cli_env, "bad.csv", f"{METRICS_HEADER}\nA1,2026-03-02,logins,5\nNOPE,2026-03-02,logins,1\n")
    assert cli.main(["import", "metrics", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "line 3, external_id: 'NOPE' is not a known account" in err
    assert err.rstrip().endswith("Nothing was imported.")
    assert metric_values(engine) == {("A1", "2026-03-01", "logins"): 5.0}


def test_documented_metrics_refuse_impossible_values(engine, tmp_path) -> None:
    """A CSAT of 7 or an NPS of 40 (an account-level NPS, not a 0-10 answer) would score silently wrong."""
    (tmp_path / "a.csv").write_text("external_id,name\nA1,Acme\n")
    import_accounts(engine, tmp_path / "a.csv", quiet=True)
    rows = ["A1,2026-11-20,nps,40", "A1,2026-11-20,ticket_csat,7", "A1,2026-11-20,logins,-1",
            "A1,2026-11-20,champion_left,1", "A1,2026-11-20,own_metric,-40", "A1,2026-11-21,nps,10"]  # fmt: skip
    (tmp_path / "m.csv").write_text("external_id,date,metric,value\n" + "\n".join(rows) + "\n")
    with pytest.raises(ImportFailed) as failed:
        import_metrics(engine, tmp_path / "m.csv", quiet=True)
    assert failed.value.errors == [
        "line 2, value: '40' is outside the range of nps (0 to 10)",
        "line 3, value: '7' is outside the range of ticket_csat (1 to 5)",
        "line 4, value: '-1' is outside the range of logins (0 or more)",
    ]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM metric_observation")).scalar() == 0
