"""The CLI in Chinese (issue 23): the words its code wrote itself (backtest's table and weekdays, lists, suggest's
shape card, tune's cutoffs, the demo's tier table and progress bars) come from prompts, and its tables line up by
terminal columns (a Chinese character takes two); English reads as before."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import prompts
from bot.cli import main
from bot.scoring.backtest import BacktestResult, Stability, TierRow, WeekdayStability
from bot.scoring.backtest_words import format_result
from prompts import ENGLISH, fill, pad, speaking, width
from prompts.formats import listing

AS_OF, HORIZON = "2026-10-08", "60"  # the demo's backtest day
# words that are data or names in both languages: the default scorecard's tier labels, acronyms, ids, commands
KEPT = {"Healthy", "Low", "Medium", "High", "risk", "ROC", "AUC", "MRR", "US", "CSM", "healthbot", "suggest"}


def english(line: str) -> set[str]:
    """The English words left in a line, beside the kept ones and ids (U01CSM0001, login_recency)."""
    words = re.findall(r"(?<![\w_])[A-Za-z]{2,}(?![\w_])", line)
    return {w for w in words if w not in KEPT}


@pytest.fixture(scope="module")
def zh_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str, str]]:
    """`LANGUAGE=zh-CN healthbot demo` (200 accounts: churn enough for a forecast) in an empty folder: the folder,
    its output and its stderr."""
    folder = tmp_path_factory.mktemp("zh-demo")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)
        mp.setenv("LANGUAGE", "zh-CN")
        mp.delenv("DATABASE_URL", raising=False)
        mp.delenv("SCORECARD_PATH", raising=False)
        capture = _Capture()
        with capture:
            assert main(["demo", "--accounts", "200", "--messages", "1"]) == 0
        prompts.set_default(ENGLISH)
    yield folder, capture.out, capture.err


class _Capture:
    """stdout and stderr of the block (capsys is function-scoped; the demo runs once for the module)."""

    def __enter__(self) -> None:
        import contextlib
        import io

        self._out, self._err = io.StringIO(), io.StringIO()
        self._stack = contextlib.ExitStack()
        self._stack.enter_context(contextlib.redirect_stdout(self._out))
        self._stack.enter_context(contextlib.redirect_stderr(self._err))

    def __exit__(self, *exc: object) -> None:
        self._stack.close()
        self.out, self.err = self._out.getvalue(), self._err.getvalue()


def run_zh(folder: Path, args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> str:
    """`LANGUAGE=zh-CN healthbot ARGS` on the demo's database; what it printed."""
    monkeypatch.chdir(folder)
    monkeypatch.setenv("LANGUAGE", "zh-CN")
    monkeypatch.setenv("DATABASE_URL", "sqlite:///healthbot-demo.db")
    monkeypatch.delenv("SCORECARD_PATH", raising=False)
    try:
        assert main(args) == 0, capsys.readouterr().err
    finally:
        prompts.set_default(ENGLISH)
    return capsys.readouterr().out


def test_columns_are_counted_as_a_terminal_shows_them() -> None:
    assert width("Low risk") == 8 and width("等级") == 4 and width("ＡＢ") == 4
    assert pad("等级", 6) == "等级  " and pad("等级", 6, ">") == "  等级" and pad("等级", 3) == "等级"
    assert fill("[{a:<6}|{b:>5}]", a="tier", b="lift") == "[tier  | lift]"  # English pads as str.format did
    assert fill("[{a:<6}|{b:>5}|{n:>4}]", a="等级", b="提升", n=12) == "[等级  | 提升|  12]"
    assert fill("{x:.1f}", x=0.25) == "0.2"  # other specs are str.format's own


def test_lists_per_language() -> None:
    assert listing(["a", "b", "c"]) == "a, b, c" and listing(["a; b", "c"], long=True) == "a; b; c"
    with speaking("zh-CN"):
        assert listing(["甲", "乙", "丙"]) == "甲、乙和丙" and listing(["甲，乙", "丙"], long=True) == "甲，乙；丙"
    assert listing([]) == ""


def _result() -> BacktestResult:
    monday = WeekdayStability("Monday", 4, 400, 48, 0.12)
    return BacktestResult(
        as_of=AS_OF,
        horizon_days=60,
        accounts=1234,
        unscored=5,
        churned=40,
        base_rate=0.0324,
        auc=None,
        riskiest_tier_lift=4.0,
        tiers=[
            TierRow("healthy", "Healthy", 1000, 10, 0.01, 0.3),
            TierRow("high_risk", "High risk", 234, 30, 0.128, 4.0),
        ],
        notes=["a note"],
        stability=Stability("2026-09-11", AS_OF, 28, 400, 48, 0.12, [monday], warning="a warning"),
    )


def test_the_backtest_table_reads_as_before_in_english() -> None:
    lines = format_result(_result()).splitlines()
    assert lines[:7] == [
        "Backtest: as of 2026-10-08, churn within 60 days",
        "  accounts scored 1,234 (not scored, too little data: 5); churned 40 = base rate 3.2%",
        "  ROC AUC of (100 - score) for churn: n/a (see below)",
        f"  {'tier':<14}{'accounts':>9}{'churned':>9}{'rate':>8}{'lift':>7}",
        f"  {'Healthy':<14}{1000:>9,}{10:>9,}{'1.0%':>8}{'0.3x':>7}",
        f"  {'High risk':<14}{234:>9,}{30:>9,}{'12.8%':>8}{'4.0x':>7}",
        "  note: a note",
    ]
    assert (
        lines[8] == "  Monday      12 % (48 tier changes in 400 account-days, 4 days)"
        and lines[-1] == "warning: a warning"
    )


def test_the_backtest_table_in_chinese_has_no_english_and_lines_up() -> None:
    with speaking("zh-CN"):
        lines = format_result(_result()).splitlines()
    assert lines[0] == "回测：基准日 2026-10-08，60 天内的流失"
    assert all(not english(line) for line in lines if "note" not in line and "warning" not in line), lines
    table = lines[3:6]
    assert table[0].split() == ["等级", "账户数", "流失数", "流失率", "提升"]
    assert len({width(line) for line in table}) == 1  # every column ends where its head ends
    assert lines[6] == "  注：a note" and lines[8].startswith("  星期一") and lines[-1] == "警告：a warning"


def test_zh_cn_demo_its_tier_table_lists_and_progress(zh_demo: tuple[Path, str, str]) -> None:
    _, out, err = zh_demo
    tiers = [line for line in out.splitlines() if " MRR  " in line and line.startswith("  ")]
    assert len(tiers) == 4
    assert len({width(line[: line.index(" MRR")]) for line in tiers}) == 1
    per_csm = next(line for line in out.splitlines() if "每位 CSM 每周" in line)
    assert "、" in per_csm and ", " not in per_csm and not english(per_csm.replace("U01CSM", ""))
    assert "评分中：" in err and "天/秒" in err and "/s" not in err and "scoring" not in err


def test_zh_cn_backtest_on_the_demo(
    zh_demo: tuple[Path, str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = run_zh(zh_demo[0], ["backtest", "--as-of", AS_OF, "--horizon", HORIZON], monkeypatch, capsys)
    lines = out.splitlines()
    assert lines[0] == f"回测：基准日 {AS_OF}，{HORIZON} 天内的流失"
    assert not set().union(*(english(line) for line in lines[:3]))
    head = lines.index(next(line for line in lines if line.split()[:1] == ["等级"]))
    table = lines[head : head + 5]
    assert len({width(line) for line in table}) == 1, table
    weekdays = [line.split()[0] for line in lines[lines.index(next(x for x in lines if "等级稳定性" in x)) + 1 :]]
    assert weekdays[:7] == ["星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日"]


def test_zh_cn_forecast_table_lines_up(
    zh_demo: tuple[Path, str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = run_zh(zh_demo[0], ["forecast", "--as-of", "2026-12-07"], monkeypatch, capsys).splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("细分"))
    table = lines[head : lines.index("", head)]
    assert len(table) >= 3 and len({width(line) for line in table}) == 1, table


def test_zh_cn_suggest_shape_card_and_tune_cutoffs(
    zh_demo: tuple[Path, str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = zh_demo[0]
    out = run_zh(folder, ["scorecard", "suggest", "--as-of", AS_OF, "--horizon", HORIZON], monkeypatch, capsys)
    mark = next(line for line in out.splitlines() if line.startswith("未拟合："))
    assert re.fullmatch(r"未拟合：\d+ 个流失客户；流失客户更多时请再次运行 suggest", mark)
    for english_words in ("Monday", "Saturday", "Sunday", " times", " days", "churner"):
        assert english_words not in out
    assert re.search(r"有周循环（星期.最低，为星期.水平的 \d+%）", out) and re.search(r"\d 倍", out)
    assert not re.search(r"[\u4e00-\u9fff] +[\u4e00-\u9fff]", out), out  # no space between Chinese words
    out = run_zh(folder, ["tune", "--as-of", AS_OF, "--horizon", HORIZON], monkeypatch, capsys)
    cutoffs = next(line for line in out.splitlines() if line.startswith("建议的等级分界线"))
    assert "、" in cutoffs and ", " not in cutoffs
    assert "; " not in out


def _help(argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> str:
    monkeypatch.setenv("LANGUAGE", "zh-CN")
    try:
        with pytest.raises(SystemExit) as exit_:
            main([*argv, "--help"])
    finally:
        prompts.set_default(ENGLISH)
    assert exit_.value.code == 0
    return capsys.readouterr().out


def _cjk(text: str) -> bool:
    return any(width(ch) == 2 for ch in text)


def test_every_help_text_has_its_chinese() -> None:
    def leaves(node: object, key: str = "") -> Iterator[tuple[str, str]]:
        if isinstance(node, dict):
            for k, v in node.items():
                yield from leaves(v, f"{key}.{k}")
        else:
            yield key, str(node)

    chinese = dict(leaves(prompts.raw("cli.help", "zh-CN")))
    assert set(chinese) == set(dict(leaves(prompts.raw("cli.help", ENGLISH))))
    assert [key for key, text in chinese.items() if not _cjk(text)] == []


@pytest.mark.parametrize("command", ["", "demo", "import", "backtest", "tune", "scorecard", "jobs", "forecast"])
def test_help_reads_chinese_under_language_zh_cn(
    command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _help([command] if command else [], monkeypatch, capsys)
    assert out.startswith("用法：healthbot") and "显示此帮助信息并退出" in out
    assert "选项：" in out and "选项:" not in out  # a section title ends as Chinese ends it
    for english_words in ("usage:", "options:", "show this help", "Database:", "the day", "(default"):
        assert english_words not in out
    # every line of words (not an option's name, a choice list or a path) is Chinese
    for line in out.splitlines():
        words = re.sub(r"(--?[\w-]+|\{[^}]*\}|`[^`]*`|[\w./:-]*[/_.:][\w./:-]*|[A-Z][A-Z0-9_]+)", "", line)
        assert len(english(words) - {"healthbot", "CSV", "UTF", "JSON", "TOML", "Slack", "App", "Home"}) <= 2 or _cjk(
            line
        ), line
