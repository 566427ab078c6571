"""The command line's own lines in Chinese (issue 23): argparse's words (its errors, "usage:", the section titles)
and what the commands say themselves (score's, override's, forecast's refusals), under LANGUAGE=zh-CN; English
reads as before. Each line is checked for English words left, beside option names, data and ids."""

from __future__ import annotations

import argparse
import inspect
import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from bot.cli import build_parser, main
from prompts import ENGLISH, raw
from tests.test_cli_language import english

# data, names and what is typed in the command line, left as they are in every language
TYPED = re.compile(
    r"(healthbot [a-z][a-z-]*|--?[\w-]+|\{[^}]*\}|\[[^][]*\]|'[^']*'|`[^`]*`"  # commands, options, choices, values
    r"|[\w./:-]*[/_.:][\w./:-]*|[A-Z][A-Z0-9_]+)"  # paths, ids, names in capitals
)


def english_left(text: str) -> list[str]:
    """The lines of `text` that still hold English words (beyond options, quoted values, paths and names)."""
    return [
        line
        for line in text.splitlines()
        if english(TYPED.sub("", line)) - {"healthbot", "CSV", "YYYY", "MM", "account"}  # `override account`
    ]


def _exit(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    return int(exit_.value.code or 0)


# --- argparse's own words -----------------------------------------------------------------------

BAD_ARGS = [
    (["bogus"], "无效的选择"),
    (["backtest"], "以下参数是必需的"),
    (["score", "--date", "x"], "不是日期"),
    (["demo", "--accounts", "many"], "'many' 不是整数"),
    (["override", "A1", "--score", "high"], "'high' 不是数字"),
    (["score", "--bogus"], "无法识别的参数"),
    (["tune", "--as-of", "2026-01-01", "--horizon", "0"], "不是正整数"),
    (["tune", "--as-of", "2026-01-01", "--horizon", "30", "--l2", "-1"], "不是大于 0 的数"),
    (["report", "--period"], "需要一个参数"),
]


@pytest.mark.parametrize(("argv", "words"), BAD_ARGS)
def test_argparse_errors_in_chinese(zh: None, capsys: pytest.CaptureFixture[str], argv: list[str], words: str) -> None:
    assert _exit(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("用法：healthbot") and "：错误：" in err and words in err, err
    assert english_left(err) == [], err


@pytest.mark.parametrize(("argv", "_words"), BAD_ARGS)
def test_argparse_errors_in_english_as_before(capsys: pytest.CaptureFixture[str], argv: list[str], _words: str) -> None:
    assert _exit(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: healthbot") and ": error: " in err and not re.search(r"[\u4e00-\u9fff]", err)


def test_every_argparse_word_is_one_this_python_asks_for() -> None:
    """The table's English texts are argparse's message ids, word for word: a Python that rewords one fails here."""
    source = inspect.getsource(argparse)
    words = raw("cli.argparse", ENGLISH)
    assert [text for text in words.values() if repr(text) not in source and f'"{text}"' not in source] == []
    assert set(raw("cli.argparse", "zh-CN")) == set(words)


def _actions(parser: argparse.ArgumentParser) -> Iterator[tuple[str, argparse.Action]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from ((f"{name} {n}".strip(), a) for n, a in _actions(sub))
        else:
            yield "", action


def test_every_argument_has_its_help_from_prompts() -> None:
    def leaves(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            for value in node.values():
                yield from leaves(value)
        else:
            yield str(node)

    texts = set(leaves(raw("cli", ENGLISH)))
    missing = [(cmd, a.dest) for cmd, a in _actions(build_parser()) if a.help not in texts]
    assert missing == []


# --- what the commands say ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "code", "words"),
    [
        (["score", "--date", "2026-01-02", "--from", "2026-01-01"], 2, "--date 或 --from/--to"),
        (["score", "--from", "2026-01-01"], 2, "--from 和 --to"),
        (["score", "--from", "2026-01-05", "--to", "2026-01-01"], 2, "早于"),
        (["score"], 1, "还没有指标"),
        (["override", "Nobody"], 1, "没有客户"),
        (["forecast", "--level", "5"], 2, ""),
    ],
)
def test_command_refusals_in_chinese(
    engine: Engine, cli_env: None, zh: None, capsys: pytest.CaptureFixture[str], argv: list[str], code: int, words: str
) -> None:
    assert main(argv) == code
    err = capsys.readouterr().err
    assert err.startswith("healthbot：") and words in err, err
    assert english_left(err) == [], err


def test_override_problems_in_chinese(
    engine: Engine, cli_env: None, zh: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("external_id,name\nA1,艾克米\n", encoding="utf-8")
    assert main(["import", "accounts", str(accounts)]) == 0
    assert main(["override", "A1", "--tier", "h", "--score", "200", "--until", "2020-01-01"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 4 and "--tier" in err and "--reason" in err and "--until" in err, err
    assert english_left(err.replace("healthy", "")) == [], err  # the tier ids are data
    until = (date.today() + timedelta(days=30)).isoformat()
    assert main(["override", "A1", "--tier", "high", "--reason", "CFO 离职", "--until", until]) == 0
    assert main(["override", "A1", "--clear"]) == 0
    assert main(["override", "A1", "--clear"]) == 0
    out = capsys.readouterr().out
    assert len(out.splitlines()) == 3 and english_left(out) == [], out


def test_another_score_run_in_chinese(
    engine: Engine, cli_env: None, zh: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from contextlib import contextmanager

    import storage.db

    @contextmanager
    def taken(*_: object) -> Iterator[bool]:
        yield False

    monkeypatch.setattr(storage.db, "job_lock", taken)
    assert main(["score"]) == 1
    err = capsys.readouterr().err
    assert "评分" in err and english_left(err) == [], err


@pytest.mark.parametrize("argv", [["--date", "2026-01-02", "--from", "2026-01-01"], ["--to", "2026-01-01"]])
def test_score_options_that_do_not_fit_create_no_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", "sqlite:///typo.db")
    assert main(["score", *argv]) == 2
    assert "--from" in capsys.readouterr().err and list(tmp_path.iterdir()) == []


def test_a_database_that_cannot_be_opened_is_said_in_chinese(
    zh: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.db").write_text("not a database, some notes\n" * 200, encoding="utf-8")
    monkeypatch.setenv("DATABASE_URL", "sqlite:///notes.db")
    assert main(["score"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "notes.db" in err, err
    assert english_left(re.sub(r"（[^（）]*）", "", err)) == [], err  # the driver's own words in brackets


def test_the_report_names_the_csms_among_its_traits_when_it_can_ask_slack(
    engine: Engine, cli_env: None, zh: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_slack: Any
) -> None:
    """A CSM among the review's traits is their name in the Markdown (users.info), with SLACK_BOT_TOKEN set."""
    churned = {1: "2026-08-01", 2: "2026-08-02", 3: "2026-08-03"}
    rows = "".join(
        f"A{i},客户{i},U0CSM{i % 2},2025-01-01,{'churned' if i in churned else 'active'},{churned.get(i, '')}\n"
        for i in range(1, 13)
    )
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("external_id,name,owner_slack_id,contract_start,status,churned_on\n" + rows, encoding="utf-8")
    assert main(["import", "accounts", str(accounts)]) == 0
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    monkeypatch.setenv("SLACK_API_URL", fake_slack.url)
    assert main(["report", "--period", "2026-Q3", "--out", str(tmp_path / "out")]) == 0
    text = (tmp_path / "out" / "churn-2026-Q3.md").read_text(encoding="utf-8")
    assert "CSM 为 User U0CSM1：" in text and "CSM U0CSM1" not in text, text  # (a small group: 2 of 6)


def test_the_sync_summary_in_chinese_and_in_english() -> None:
    from collections import Counter
    from datetime import UTC, datetime

    from bot.connectors.sync import SyncSummary, describe
    from prompts import speaking

    summary = SyncSummary("usage", "metrics", records=1234, written=2, pages=1, skipped=Counter({"date: missing": 1}))
    summary.errors, summary.retried = ["where: date: no value at 'day'"], {"ReadTimeout": 2}
    summary.since = datetime(2026, 12, 1, tzinfo=UTC)
    assert describe(summary) == [
        "usage: 1,234 records in 1 page, 2 observations written",
        "  skipped 1 record: 1 date: missing",
        "  where: date: no value at 'day'",
        "  retried: ReadTimeout x2",
        "  next sync asks for changes since 2026-12-01T00:00:00+00:00",
    ]
    summary.failed, summary.resumed = "HTTP 500", True
    with speaking("zh-CN"):
        lines = describe(summary)
    assert lines[0] == "usage：1 页共 1,234 条记录，写入 2 条观测（从上次同步中断处继续）"
    assert lines[-1] == "  已停止：HTTP 500；已写入的数据保留，下次同步从那里继续"
    data = ("usage", "date: missing", "no value at", "ReadTimeout")  # the source's name, the mapping's, httpx's
    assert english_left(re.sub("|".join(data), "", "\n".join(lines))) == []


BAD_SETTINGS = [
    {"PORT": "many"},
    {"PORT": "0"},
    {"DATABASE_URL": "mysql://x"},
    {"DATABASE_URL": "sqlite:///no/such/folder/x.db"},
    {"TIMEZONE": "Mars/Olympus"},
    {"SCORE_TIME": "25:00"},
    {"SCORECARD_PATH": "missing.toml"},
    {"LOG_LEVEL": "loud"},
    {"ALERT_CHANNEL": "#risk"},
    {"CS_LEAD": "@ann"},
    {"TEAM": "ann"},
    {"EXIT_INTERVIEW_READERS": "ann"},
    {"DIGEST_DAY": "someday"},
    {"QUIET_HOURS": "evenings"},
    {"QUIET_HOURS": "19:00-19:00"},
    {"SLACK_BOT_TOKEN": "xoxb-your-token"},
    {"SLACK_APP_TOKEN": "abc123"},
    {"INGEST_TOKEN": "short"},
    {"LLM_BASE_URL": "http://localhost:11434/v1"},
    {"LLM_API_KEY": "sk-abcdefabcdef"},
    {"LLM_BASE_URL": "http://h/v1", "LLM_MODEL": "m", "LLM_TIMEOUT": "99"},
    {"LLM_FIELDS": "Bad Name"},
    {"SLACK_API_URL": "slack"},
]


@pytest.mark.parametrize("env", BAD_SETTINGS, ids=lambda env: "-".join(env))
def test_a_wrong_setting_is_said_in_chinese(tmp_path: Path, env: dict[str, str]) -> None:
    from bot.settings import SettingsError, load_settings

    with pytest.raises(SettingsError) as english_error:
        load_settings(env_file=None, environ=env)
    with pytest.raises(SettingsError) as chinese:
        load_settings(env_file=None, environ=env | {"LANGUAGE": "zh-CN"})
    line = str(chinese.value)
    # kept: what Slack's and the README's pages are called (quoted), product names, weekdays as DIGEST_DAY takes them
    kept = re.sub(r"“[^”]*”|\b(Slack|AI|ID|URL|https?|mon|tue|wed|thu|fri|sat|sun)\b", "", line)
    assert line != str(english_error.value) and english_left(kept) == [], line


def test_a_rules_file_with_mistakes_is_said_in_chinese(
    zh: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "rules.toml"
    bad.write_text(
        'cooldown_days = -1\nbogus = 1\n[[rules]]\nname = "a"\nkind = "nope"\n[[rules]]\nname = "b"\n'
        '[[rules]]\nname = "c"\nkind = "score_below"\nbelow = "low"\ndays = 2\ncolour = "red"\n',
        encoding="utf-8",
    )
    assert main(["rules", "check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "告警规则无效" in err and "不允许 'nope'" in err and "每条规则都需要 `kind`" in err, err
    assert english_left(re.sub(r"\b(silence|flag)\b|\w+\[[0-9]+\]", "", err)) == [], err  # kinds and keys, as typed
    assert main(["rules", "check", str(tmp_path / "missing.toml")]) == 2
    assert "找不到文件" in capsys.readouterr().err
    bad.write_text("[[rules]\n", encoding="utf-8")
    assert main(["rules", "check", str(bad)]) == 2
    assert "不是有效的 TOML" in capsys.readouterr().err


def test_a_card_drawn_in_the_terminal_puts_the_languages_colon_after_a_fields_label() -> None:
    from bot.demo.run import render_blocks
    from prompts import speaking

    fields = [{"type": "section", "fields": [{"type": "mrkdwn", "text": "*Owner*\n@U1"}]}]
    assert render_blocks(fields) == "Owner: @U1"
    with speaking("zh-CN"):
        chinese = [{"type": "section", "fields": [{"type": "mrkdwn", "text": "*负责人*\n@U1"}]}]
        assert render_blocks(chinese) == "负责人：@U1"


def test_a_sources_file_with_mistakes_is_said_in_chinese(
    zh: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["sync", "--sources", "missing.toml"]) == 2
    assert "missing.toml：数据源文件无效\n  文件不存在" in capsys.readouterr().err
    bad = tmp_path / "sources.toml"
    bad.write_text('extra = 1\n[[source]]\nname = "Bad Name"\nkind = "metrics"\nbatch = -1\n', encoding="utf-8")
    assert main(["sync", "--sources", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "extra：未知的键" in err, err


# --- `healthbot import`'s errors (issue 23) --------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "content", "lines"),
    [
        ("accounts", "external_id,name,employees,status\n,Acme,x,gone\nA1,Beta,1.5,\nA1,Beta,,\n", ["2", "3", "4"]),
        ("accounts", "external_id,nom\nA1,Acme\n", ["1"]),
        ("metrics", "external_id,date,metric,value\n,2026-01-01,Logins,abc\nA1,someday,logins,\n", ["2", "3"]),
        ("metrics", "external_id,metric,value\nA1,logins,1\n", ["1"]),
    ],
)
def test_import_errors_in_chinese(
    engine: Engine,
    cli_env: None,
    zh: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    kind: str,
    content: str,
    lines: list[str],
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(content, encoding="utf-8")
    assert main(["import", kind, str(bad)]) == 1
    err = capsys.readouterr().err
    assert all(re.search(rf"第 {n} 行", err) for n in lines), err
    from bot.scoring.importer import ACCOUNT_OPTIONAL, ACCOUNT_REQUIRED, ACCOUNT_STATUSES, METRIC_COLUMNS

    names = [*ACCOUNT_REQUIRED, *ACCOUNT_OPTIONAL, *METRIC_COLUMNS, *ACCOUNT_STATUSES, "nom"]  # the file's own words
    assert english_left(re.sub(rf"\b({'|'.join(names)})\b", "", err)) == [], err


def test_import_missing_file_in_chinese(
    engine: Engine, cli_env: None, zh: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["import", "metrics", str(tmp_path / "none.csv")]) == 1
    err = capsys.readouterr().err
    assert "没有这个文件" in err and english_left(err) == [], err
