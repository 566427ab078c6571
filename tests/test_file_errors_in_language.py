"""The scorecard file's and the playbooks file's mistakes are said in the CLI's language (issue 23): Chinese under
LANGUAGE=zh-CN, the same English as always otherwise, through `healthbot scorecard check` and `healthbot run`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import prompts
from bot.scoring.scorecard import DEFAULT_PATH
from prompts import ENGLISH

DEFAULT_TEXT = DEFAULT_PATH.read_text(encoding="utf-8")
CUTOFFS = "cutoffs = { healthy = 80, low_risk = 60, medium_risk = 40, high_risk = 0 }"
NPS = '{ name = "nps", metric = "nps"'
CSAT_BANDS = 'bands = [[3.0, 0], [4.5, 100]], weight = 1 },\n  { name = "nps"'


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """`healthbot ARGS` in-process under LANGUAGE (None: unset, and no locale saying otherwise); (code, stderr)."""
    from bot.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    for name in ("SCORECARD_PATH", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(name, raising=False)

    def run(capsys: pytest.CaptureFixture[str], language: str | None, *argv: str) -> tuple[int, str]:
        if language is None:
            monkeypatch.delenv("LANGUAGE", raising=False)
        else:
            monkeypatch.setenv("LANGUAGE", language)
        try:
            code = main(list(argv))
        finally:
            prompts.set_default(ENGLISH)
        return code, capsys.readouterr().err

    return run


def _card(tmp_path: Path, old: str, new: str) -> str:
    assert DEFAULT_TEXT.count(old) == 1, old
    path = tmp_path / "card.toml"
    path.write_text(DEFAULT_TEXT.replace(old, new), encoding="utf-8")
    return str(path)


SCORECARD_CASES = [
    (
        CUTOFFS,
        CUTOFFS.replace("high_risk = 0", "high_risk = 10"),
        "tiers: the last tier (high_risk) must start at 0 so every score has a tier",
        "tiers：最后一个等级（high_risk）的分数线必须是 0，这样每个分数都有等级",
    ),
    (
        NPS,
        NPS.replace('metric = "nps"', 'metric = "npss"'),
        "cards.default.groups.support.measures[2]: unknown metric 'npss': did you mean 'nps'? (if your data names it "
        "'npss', give the measure a `label` saying how it reads)",
        "cards.default.groups.support.measures[2]：未知指标 'npss'：是不是 'nps'？"
        "（如果你的数据就叫 'npss'，请给这个度量加上 `label`，说明它的含义）",
    ),
    (
        CSAT_BANDS,
        CSAT_BANDS.replace("[[3.0, 0], [4.5, 100]]", "[[4.5, 0], [3.0, 100]]"),
        "cards.default.groups.support.measures[1].bands: band inputs must be strictly increasing, "
        "e.g. [[-0.5, 0], [0.0, 100]]",
        "cards.default.groups.support.measures[1].bands：bands 的输入值必须严格递增，如 [[-0.5, 0], [0.0, 100]]",
    ),
    (
        'transform = "level", aggregate = "mean", days = 7',
        'transform = "average", aggregate = "mean", days = 7',
        "cards.onboarding.groups.adoption.measures[0].transform: 'average' is not allowed: input should be 'level', "
        "'trend', 'recency', 'ratio', 'flag', 'renewal' or 'field'",
        "cards.onboarding.groups.adoption.measures[0].transform：不允许 'average'：应为 'level', 'trend', 'recency', "
        "'ratio', 'flag', 'renewal' or 'field'",
    ),
    (
        'label = "Engagement"\n',
        'label = "Engagement"\ncolour = "blue"\n',
        "cards.default.groups.engagement.colour: Extra inputs are not permitted",
        "cards.default.groups.engagement.colour：不允许此设置",
    ),
]


@pytest.mark.parametrize(("old", "new", "english", "chinese"), SCORECARD_CASES, ids=lambda x: str(x)[:12])
def test_a_broken_scorecard_is_said_in_the_clis_language(
    cli: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path, old: str, new: str, english: str, chinese: str
) -> None:
    path = _card(tmp_path, old, new)
    code, err = cli(capsys, "zh-CN", "scorecard", "check", path)
    assert code == 2
    assert err == f"healthbot：{path}：评分卡无效\n  {chinese}\n"
    code, err = cli(capsys, None, "scorecard", "check", path)
    assert code == 2
    assert err == f"healthbot: {path}: invalid scorecard\n  {english}\n"


def test_a_missing_or_unreadable_scorecard_in_both_languages(
    cli: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = str(tmp_path / "nope.toml")
    chinese = f"healthbot：{missing}：评分卡无效\n  找不到文件\n"
    assert cli(capsys, "zh-CN", "scorecard", "check", missing) == (2, chinese)
    assert cli(capsys, "en", "scorecard", "check", missing) == (
        2,
        f"healthbot: {missing}: invalid scorecard\n  file not found\n",
    )
    broken = _card(tmp_path, "hysteresis = 3.0", "hysteresis = ")
    code, err = cli(capsys, "zh-CN", "scorecard", "check", broken)
    assert code == 2 and "\n  不是有效的 TOML：" in err and "line 44" in err
    code, err = cli(capsys, None, "scorecard", "check", broken)
    assert code == 2 and "\n  not valid TOML: " in err and "line 44" in err


def test_scorecard_checks_pydantic_words_are_chinese_too(
    cli: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Checks pydantic words itself (a name's pattern, a list too short) read in Chinese, not in pydantic's English."""
    path = _card(tmp_path, '{ name = "nps", metric = "nps"', '{ name = "NPS", metric = "nps"')
    code, err = cli(capsys, "zh-CN", "scorecard", "check", path)
    assert code == 2
    assert "cards.default.groups.support.measures[2].name：不允许 'NPS'：应符合格式 '^[a-z][a-z0-9_]*$'\n" in err
    code, err = cli(capsys, None, "scorecard", "check", path)
    assert "measures[2].name: 'NPS' is not allowed: string should match pattern '^[a-z][a-z0-9_]*$'\n" in err
    path = _card(
        tmp_path,
        '"login_recency >= 7", at_most = 55 },  # a quiet week: Medium risk at best, below',
        ('"login_recency >= 7", at_most = 555 },  # a quiet week: Medium risk at best, below'),
    )
    code, err = cli(capsys, "zh-CN", "scorecard", "check", path)
    assert err.endswith("\n  cards.default.caps[1].at_most：应小于或等于 100\n")  # a bound as written: not 100.0
    code, err = cli(capsys, None, "scorecard", "check", path)
    assert err.endswith("\n  cards.default.caps[1].at_most: Input should be less than or equal to 100\n")


# --------------------------------------------------------------------------- the playbooks file at `healthbot run`

GOOD = {"owner": "CSM", "respond_hours": 4, "steps": [{"title": "Call", "owner": "CSM", "due": "4 business hours"}]}
PLAYBOOK_CASES = [
    (
        {"high_risk": {**GOOD, "steps": [{"title": "Call", "owner": "CSM", "due": "4 hours"}]}},
        "prompts/playbooks.toml [high_risk] step 1: due = '4 hours' is not an offset: write e.g. "
        '"4 business hours" or "2 business days"',
        "prompts/playbooks.toml [high_risk] 第 1 步：due = '4 hours' 不是时间间隔：请写成如 "
        '"4 business hours" 或 "2 business days"',
    ),
    (
        {"high_risk": {**GOOD, "steps": [{"owner": "CSM", "due": "1 business day"}]}},
        'prompts/playbooks.toml [high_risk] step 1: title is missing or empty: set e.g. title = "Book a CSM call"',
        'prompts/playbooks.toml [high_risk] 第 1 步：title 缺失或为空：请设置，如 title = "Book a CSM call"',
    ),
    (
        {"high_risk": {**GOOD, "steps": [{"title": "Call", "owner": "CSM", "due": "1 business day", "to": "U1"}]}},
        "prompts/playbooks.toml [high_risk] step 1: unknown key 'to': a step has due, owner, template, title",
        "prompts/playbooks.toml [high_risk] 第 1 步：未知的键 'to'：步骤的键有 due, owner, template, title",
    ),
    (
        {"urgent": GOOD},
        "prompts/playbooks.toml [urgent]: no tier of that name in the scorecard: use one of healthy, high_risk, "
        "low_risk, medium_risk",
        "prompts/playbooks.toml [urgent]：评分卡中没有这个等级：请使用 healthy, high_risk, low_risk, medium_risk 之一",
    ),
]


@pytest.mark.parametrize(("data", "english", "chinese"), PLAYBOOK_CASES, ids=lambda x: str(x)[:20])
def test_a_broken_playbooks_file_stops_run_in_the_clis_language(
    cli: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    data: dict[str, Any],
    english: str,
    chinese: str,
) -> None:
    """`healthbot run` checks prompts/playbooks.toml at start (bot/app.py create_scheduler), before it serves."""
    import bot.app
    import bot.retention.playbooks as playbooks
    from tests.conftest import free_port

    real = playbooks.load
    monkeypatch.setattr(playbooks, "load", lambda name, *a: data if name == "playbooks" else real(name, *a))
    monkeypatch.setattr(bot.app, "check_bot_token", lambda client: None)  # no Slack to ask
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test-token")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "test-signing-secret")
    monkeypatch.setenv("PORT", str(free_port()))
    monkeypatch.setenv("HOST", "127.0.0.1")
    assert cli(capsys, "zh-CN", "run") == (2, f"healthbot：{chinese}\n")
    assert cli(capsys, None, "run") == (2, f"healthbot: {english}\n")
