"""What `healthbot import` says, through the real CLI on a real database: how much it imported (counted in the
singular or plural), NUL bytes and control characters in a bad file named, never printed, and 0/1 flag metrics
that take only 0 or 1."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session

from bot.cli import main
from bot.scoring.csvfile import ImportFailed
from bot.scoring.importer import import_metrics
from storage import accounts as account_store
from tests.test_cli_override import accounts  # noqa: F401  (fixture)


def _write(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def _no_control_characters(output: str) -> None:
    bad = [ch for ch in output if ch != "\n" and unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp")]
    assert bad == [], f"raw control characters in {output!r}"


# --- import messages ----------------------------------------------------------------------------


def test_import_says_what_it_imported(
    engine: Engine, cli_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one = _write(tmp_path, "one.csv", "external_id,name\nA1,Acme\n")
    assert main(["import", "accounts", str(one)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"imported 1 account from {one} in ") and out.endswith(" s\n")
    two = _write(tmp_path, "two.csv", "external_id,name\nA1,Acme\nB1,Beta\n")
    assert main(["import", "accounts", str(two)]) == 0
    assert capsys.readouterr().out.startswith(f"imported 2 accounts from {two} in ")
    rows = "".join(f"A1,2026-01-01,m{i},1\n" for i in range(1234))
    many = _write(tmp_path, "metrics.csv", f"external_id,date,metric,value\n{rows}")
    assert main(["import", "metrics", str(many)]) == 0
    assert capsys.readouterr().out.startswith(f"imported 1,234 metric rows from {many} in ")
    single = _write(tmp_path, "single.csv", "external_id,date,metric,value\nA1,2026-01-02,logins,1\n")
    assert main(["import", "metrics", str(single)]) == 0
    assert capsys.readouterr().out.startswith(f"imported 1 metric row from {single} in ")


def test_import_and_db_speak_chinese(
    engine: Engine, cli_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`LANGUAGE=zh-CN healthbot import` / `db current` / `sync` (issue 23): the summary and error lines in Chinese."""
    import prompts

    monkeypatch.setenv("LANGUAGE", "zh-CN")
    monkeypatch.setattr(prompts, "_default", list(prompts._default))  # main() sets the default language
    one = _write(tmp_path, "one.csv", "external_id,name\nA1,Acme\n")
    assert main(["import", "accounts", str(one)]) == 0
    assert capsys.readouterr().out.startswith(f"已从 {one} 导入 1 个客户，用时 ")
    rows = "".join(f"A1,2026-01-01,m{i},1\n" for i in range(1234))
    many = _write(tmp_path, "metrics.csv", f"external_id,date,metric,value\n{rows}")
    assert main(["import", "metrics", str(many)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"已从 {many} 导入 1,234 行指标，用时 ") and out.endswith(" 秒\n")
    monkeypatch.delenv("SOURCES_PATH", raising=False)
    assert main(["sync"]) == 2
    assert capsys.readouterr().err.startswith("healthbot：未设置 SOURCES_PATH")


# --- no raw control characters in import errors -------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        b"\x00" * 200,
        "external_id,name\nA1,Acme\n".encode("utf-16"),
        "external_id,name\nA1,Acme\n".encode("utf-16-le"),
        b"external_id,name,domain\nZ1,Zed,nul\x00.example\n",
    ],
    ids=["all-nul", "utf-16", "utf-16-no-bom", "one-nul"],
)
def test_nul_bytes_are_named_not_printed(
    engine: Engine, cli_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes
) -> None:
    path = _write(tmp_path, "bad.csv", content)
    assert main(["import", "accounts", str(path)]) == 1
    err = capsys.readouterr().err
    _no_control_characters(err)
    assert "the file contains NUL bytes (is it a binary or UTF-16 file?)" in err
    assert err.rstrip().endswith("Nothing was imported.")


@pytest.mark.parametrize(
    ("content", "shown"),
    [
        ("external_id,name,\x1b[2Jevil\nA1,Acme,x\n", "unknown column(s) \\x1b[2Jevil"),
        ("external_id,name,mrr\nA1,Acme,\x1b[31m5\x07\n", "mrr: '\\x1b[31m5\\x07' is not a number"),
        ('external_id,name,mrr\nA1,Acme,"5\r\n6"\n', "mrr: '5\\r\\n6' is not a number"),
        ("external_id,name,segment\nA1,Acme,\u202eevil\u2028x" + "s" * 70 + "\n", "segment: '\\u202eevil\\u2028x"),
    ],
    ids=["header-escape", "value-escape", "newline-in-value", "bidi-and-line-separator"],
)
def test_control_characters_are_escaped(
    engine: Engine, cli_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, shown: str
) -> None:
    path = _write(tmp_path, "bad.csv", content)
    assert main(["import", "accounts", str(path)]) == 1
    err = capsys.readouterr().err
    _no_control_characters(err)
    assert shown in err


# --- 0/1 flags -----------------------------------------------------------------------------------


def test_flag_metrics_take_only_0_or_1(accounts: Engine, tmp_path: Path) -> None:  # noqa: F811
    rows = ["A1,2026-03-01,champion_left,0.5", "A1,2026-03-02,champion_left,2", "A1,2026-03-03,champion_left,1.0",
            "A1,2026-03-04,champion_left,0", "A1,2026-03-05,nps,0.5"]  # fmt: skip
    path = _write(tmp_path, "metrics.csv", "external_id,date,metric,value\n" + "\n".join(rows) + "\n")

    with pytest.raises(ImportFailed) as failed:
        import_metrics(accounts, path, quiet=True)

    assert failed.value.errors == [
        "line 2, value: 0.5 for champion_left must be 0 or 1",
        "line 3, value: 2 for champion_left must be 0 or 1",
    ]
    with Session(accounts) as s:
        assert account_store.find_accounts(s, "A1")[0].id is not None
    with accounts.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM metric_observation")).scalar() == 0
