"""The alert rules file's, the sources file's and a pulled record's problems in Chinese (issue 23): through the
real entry points (`healthbot rules check`, `healthbot sync`), under LANGUAGE=zh-CN every line is Chinese beside
keys, values and names as typed; under the English default the lines read exactly as before."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from bot.cli import main
from bot.connectors.mapping import metric_problem
from bot.dates import FIRST_DAY, LAST_DAY
from prompts import speaking
from tests.test_cli_words import english_left
from tests.test_connectors import FakeAPI, add_accounts

TIERS = "healthy, low_risk, medium_risk, high_risk"


@pytest.fixture
def en(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(name, raising=False)


def problems(err: str) -> list[str]:
    """The problem lines of a file's error (the head line left out)."""
    return [line.strip() for line in err.splitlines()[1:]]


def chinese_only(lines: list[str], kept: str = "") -> list[str]:
    """The lines that still hold English words, beside keys, values, names as typed and the `kept` words."""
    keys = r"|\b(" + kept + r")\b" if kept else ""
    return english_left("\n".join(re.sub(r"^[\w.\[\]() -]+?[:：]|\"[^\"]*\"" + keys, "", line) for line in lines))


# --- the alert rules file -----------------------------------------------------------------------------------

RULES = """
[routing]
tiers = { high_risk = "#alerts" }
segments = { "" = "C0123456789" }
languages = { C0123456789 = "fr" }

[[rules]]
name = "a"
kind = "metric_trend"
severity = "high_rsk"
metric = "logins_trnd"
at_most = -0.5
segments = []

[[rules]]
name = "b"
kind = "silence"
severity = "high_risk"
metrics = ["logins"]
days = 14
lookback_days = 10

[[rules]]
name = "c"
kind = "tier_dropped"
severity = "orange"
into = []
"""

RULES_TWICE = """
[routing]
segments = { SMB = "C0123456789", " smb" = "C0123456780" }

[[rules]]
name = "x"
kind = "score_below"
severity = "high_risk"
below = 50
days = 3

[[rules]]
name = "x"
kind = "score_below"
severity = "high_risk"
below = 40
days = 3
"""

RULES_ENGLISH = [
    "routing.tiers.high_risk: '#alerts' is not a channel ID: use the ID (e.g. C0123456789) from the channel's "
    "'About' tab, not its name",
    "routing.segments: a segment name is empty",
    "routing.languages.C0123456789: 'fr' is not a language of prompts/: use one of en, zh-CN",
    f"rules[0].severity: unknown tier 'high_rsk' (the scorecard's tiers are {TIERS}): did you mean 'high_risk'?",
    "rules[0].segments: list at least one segment, or leave `segments` out to match every account",
    "rules[0].metric: unknown metric 'logins_trnd': did you mean 'logins'?",
    "rules[1]: lookback_days (10) must be more than days (14)",
    f"rules[2].severity: unknown tier 'orange' (the scorecard's tiers are {TIERS}): use one of {TIERS}",
    "rules[2].into: list at least one tier, or leave `into` out for the two riskiest tiers",
]
RULES_TWICE_ENGLISH = [
    "routing.segments: segments listed twice (names match regardless of case and spaces): smb",
    "rules: rule names must be unique: x",
]


def check_rules(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> tuple[Path, str]:
    path = tmp_path / "rules.toml"
    path.write_text(text, encoding="utf-8")
    assert main(["rules", "check", str(path)]) == 2
    return path, capsys.readouterr().err


def test_a_rules_file_reads_in_english_as_before(
    en: None, cli_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, err = check_rules(tmp_path, RULES, capsys)
    assert err.splitlines()[0] == f"healthbot: {path}: invalid alert rules"
    assert sorted(problems(err)) == sorted(RULES_ENGLISH), err
    _, err = check_rules(tmp_path, RULES_TWICE, capsys)
    assert sorted(problems(err)) == sorted(RULES_TWICE_ENGLISH), err


def test_a_rules_file_is_said_in_chinese(
    zh: None, cli_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, err = check_rules(tmp_path, RULES, capsys)
    lines = problems(err)
    assert len(lines) == len(RULES_ENGLISH), err
    assert "rules[0].metric: 未知指标 'logins_trnd'：是否应为 'logins'？" in lines, err
    assert f"rules[2].severity: 未知等级 'orange'（评分卡的等级为 {TIERS}）：请使用 {TIERS} 之一" in lines, err
    assert "rules[1]: lookback_days（10）必须大于 days（14）" in lines, err
    assert any(line.startswith("routing.tiers.high_risk: '#alerts' 不是频道 ID") for line in lines), err
    assert chinese_only(lines, "About|en|zh|healthy|days") == [], err
    _, err = check_rules(tmp_path, RULES_TWICE, capsys)
    lines = problems(err)
    assert lines == [
        "routing.segments: 细分重复列出（名称比较时不区分大小写和空格）：smb",
        "rules: 规则名称不能重复：x",
    ]


# --- the sources file ---------------------------------------------------------------------------------------

SOURCES = """
[[source]]
name = "Bad Name"
kind = "metrics"
base_url = "ftp://example.com"
auth = { type = "bearer", token_env = "not a name" }
pagination = { style = "page" }
metrics = { logins = { aggregate = "sum" } }

[[source]]
name = "s1"
kind = "accounts"
base_url = "https://example.com"
auth = { type = "basic", password_env = "PW" }
pagination = { style = "cursor", param = "after" }
fields = { external_id = "id", name = "name", revenue = "x" }

[[source]]
name = "s2"
kind = "accounts"
base_url = "https://example.com"

[[source]]
name = "s3"
kind = "accounts"
base_url = "https://example.com"
fields = { external_id = "id", name = "name" }
metrics = { logins = "x" }

[[source]]
name = "s4"
kind = "metrics"
base_url = "https://example.com"
fields = { account = "org", date = "at", owner = "o" }
metrics = { logins = "x" }

[[source]]
name = "s5"
kind = "metrics"
base_url = "https://example.com"
fields = { account = "org" }
metrics = { logins = "x" }

[[source]]
name = "s6"
kind = "metrics"
base_url = "https://example.com"
fields = { account = "org", date = "at" }

[[source]]
name = "s7"
kind = "metrics"
base_url = "https://example.com"
fields = { account = "org", date = "at" }
metrics = { "Bad Name" = "x" }

[[source]]
name = "s8"
kind = "metrics"
base_url = "https://example.com"
fields = { account = "org", date = "at" }
metrics = { tickets_opened = { aggregate = "count" } }

[[source]]
preset = "salesforce"
"""

SOURCES_ENGLISH = [
    "source[0] (Bad Name).name: 'Bad Name' is not a source name: lower-case letters, digits, - and _",
    "source[0] (Bad Name).base_url: 'ftp://example.com' is not an http(s) URL",
    "source[0] (Bad Name).auth: token_env 'not a name' is not an environment variable name (e.g. HUBSPOT_TOKEN)",
    "source[0] (Bad Name).pagination: style 'page' needs param (the page number parameter, e.g. page)",
    "source[0] (Bad Name).metrics.logins: a metric needs path (where its value is), unless aggregate = 'count'",
    "source[1] (s1).auth: auth type 'basic' needs username_env (the name of an environment variable)",
    "source[1] (s1).pagination: style 'cursor' needs next (where the cursor is in the response) and param",
    "source[2] (s2): fields: an accounts source needs external_id and name",
    "source[3] (s3): metrics: an accounts source maps fields only",
    "source[4] (s4): fields: unknown metrics field(s) owner; known: account, date, id",
    "source[5] (s5): fields: a metrics source needs date",
    "source[6] (s6): metrics: a metrics source needs at least one metric",
    "source[7] (s7): metrics: Bad Name is not a metric name (lower-case letters, digits, _)",
    "source[8] (s8): fields: aggregated metrics (count, sum, mean, max) need id (the record's id)",
    "source[9].preset: unknown preset 'salesforce'; shipped: hubspot_companies, zendesk_tickets",
]


def test_a_sources_file_reads_in_english_as_before(
    en: None, cli_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "sources.toml").write_text(SOURCES, encoding="utf-8")
    assert main(["sync", "--sources", "sources.toml"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[0] == "healthbot: sources.toml: invalid sources file"
    assert problems(err) == SOURCES_ENGLISH


def test_a_sources_file_is_said_in_chinese(
    zh: None, cli_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "sources.toml").write_text(SOURCES, encoding="utf-8")
    assert main(["sync", "--sources", "sources.toml"]) == 2
    lines = problems(capsys.readouterr().err)
    assert len(lines) == len(SOURCES_ENGLISH), lines
    assert lines[0] == "source[0] (Bad Name).name: 'Bad Name' 不是数据源名称：只能使用小写字母、数字、- 和 _"
    assert lines[7] == "source[2] (s2): fields：accounts 数据源需要 external_id 和 name"
    assert lines[-1] == "source[9].preset: 未知的预设 'salesforce'；内置预设：hubspot_companies, zendesk_tickets"
    # kept as typed: the settings' names and values (style 'cursor', aggregate = 'count', a source's name)
    kept = "style|next|param|path|page|aggregate|count|sum|mean|max|id|auth|fields|metrics|accounts|account|date"
    kept += "|Bad|Name|name|owner|http|URL"
    assert chinese_only(lines, kept) == [], lines


# --- a pulled record that does not fit ------------------------------------------------------------------------

RECORDS: list[Any] = [
    "not an object",
    {"org": "A1", "at": "2026-11-02", "logins": "lots"},
    {"org": "A1", "at": "someday", "logins": 3},
    {"at": "2026-11-02", "logins": 3},
    {"org": "A1", "at": "2026-11-02", "champion_left": 2},
    {"org": "A1", "at": "2026-11-02", "ticket_csat": 9},
    {"org": "A1", "at": "2026-11-02", "rating": "meh"},
    {"org": "A1", "at": "1800-01-01", "logins": 3},
    {"org": "A1", "at": "2026-11-02", "logins": 1e300},
    {"org": "A1", "at": "2026-11-02", "logins": 4},
]
RECORD_SOURCE = """
[[source]]
name = "desk"
kind = "metrics"
base_url = "{url}"
fields = {{ account = "org", date = "at" }}
metrics = {{ logins = "logins", champion_left = "champion_left", ticket_csat = "ticket_csat", nps = {{ path = "rating", map = {{ good = 9 }} }} }}
"""  # noqa: E501
RECORDS_ENGLISH = [
    "skipped 9 records: 2 date: not a date; 1 not a JSON object; 1 logins: not a number; 1 account: missing; "
    "1 champion_left: out of range; 1 ticket_csat: out of range; 1 nps: a value the mapping does not know; "
    "1 logins: out of range",
    "source desk, page 1, record 1: str where an object was expected",
    "source desk, page 1, record 2: logins: 'lots' is not a number",
    "source desk, page 1, record 3: date: 'someday' is not a date or time (ISO 8601 or Unix seconds)",
    "source desk, page 1, record 4: account: no value at 'org'",
    "source desk, page 1, record 5: champion_left: 2 must be 0 or 1",
    "source desk, page 1, record 6: ticket_csat: 9 is outside its range (1 to 5)",
    "source desk, page 1, record 7: nps: 'meh' is not one of good",
    f"source desk, page 1, record 8: date: '1800-01-01' is out of range (dates run from {FIRST_DAY} to {LAST_DAY})",
    "source desk, page 1, record 9: logins: '1e+300' is out of range (numbers run from -1e+15 to 1e+15)",
]


def sync_records(engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    add_accounts(engine, ["A1"])
    fake = FakeAPI(lambda req: (200, {}, RECORDS))
    try:
        (tmp_path / "sources.toml").write_text(RECORD_SOURCE.format(url=fake.url), encoding="utf-8")
        assert main(["sync", "--sources", "sources.toml", "--quiet"]) == 0
    finally:
        fake.close()
    return [line.strip() for line in capsys.readouterr().out.splitlines()[1:]]


def test_a_records_problems_read_in_english_as_before(
    en: None, engine: Engine, cli_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert sync_records(engine, tmp_path, capsys) == RECORDS_ENGLISH


def test_a_records_problems_are_said_in_chinese(
    zh: None, engine: Engine, cli_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = sync_records(engine, tmp_path, capsys)
    assert lines[0] == (
        "跳过 9 条记录：2 条 date：不是日期；1 条 不是 JSON 对象；1 条 logins：不是数字；1 条 account：缺失；"
        "1 条 champion_left：超出范围；1 条 ticket_csat：超出范围；1 条 nps：映射中没有的值；1 条 logins：超出范围"
    )
    assert lines[1:] == [
        "数据源 desk 第 1 页第 1 条记录：应为对象，却是 str",
        "数据源 desk 第 1 页第 2 条记录：logins：'lots' 不是数字",
        "数据源 desk 第 1 页第 3 条记录：date：'someday' 不是日期或时间（ISO 8601 或 Unix 秒数）",
        "数据源 desk 第 1 页第 4 条记录：account：'org' 处没有值",
        "数据源 desk 第 1 页第 5 条记录：champion_left：2 必须是 0 或 1",
        "数据源 desk 第 1 页第 6 条记录：ticket_csat：9 超出其取值范围（1 到 5）",
        "数据源 desk 第 1 页第 7 条记录：nps：'meh' 不是 good 之一",
        f"数据源 desk 第 1 页第 8 条记录：date：'1800-01-01' 超出范围（日期从 {FIRST_DAY} 到 {LAST_DAY}）",
        "数据源 desk 第 1 页第 9 条记录：logins：'1e+300' 超出范围（数字从 -1e+15 到 1e+15）",
    ]


def test_the_push_apis_metric_problems_in_both_languages() -> None:
    name = "'Logins' is not a metric name (lower-case letters, digits and _, e.g. logins)"
    assert metric_problem("Logins", 1) == name
    assert metric_problem("nps", 11) == "nps: 11 is outside its range (0 to 10)"
    assert metric_problem("logins", -1) == "logins: -1 is outside its range (0 or more)"
    with speaking("zh-CN"):
        assert metric_problem("Logins", 1) == "'Logins' 不是指标名（只能使用小写字母、数字和 _，如 logins）"
        assert metric_problem("logins", -1) == "logins：-1 超出其取值范围（0 或以上）"
