"""What an outside tester found running every CLI command under LANGUAGE=zh-CN (issue 23): `healthbot jobs run`'s
result lines, half-width colons, progress bars' labels and units, stray or missing spaces, dates, terminology and
a CSV that changed with the language. Each Chinese text is checked, and the English one reads as before."""

from __future__ import annotations

import csv
import re
import tomllib
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from tqdm import tqdm

import prompts
from bot.cli import main
from bot.progress import Bar
from bot.slack.blocks import when
from jobs import table
from prompts import ENGLISH, say, speaking
from tests.test_cli_words import english_left
from tests.test_expected_loss import _fit, book  # noqa: F401  (a fixture)

ZH = "zh-CN"
HAN = "\u4e00-\u9fff"


@pytest.fixture
def zh(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("LANGUAGE", ZH)
    try:
        yield
    finally:
        prompts.set_default(ENGLISH)


# --- `healthbot jobs run`: the line each job prints ----------------------------------------------


def _ctx() -> Any:
    settings = SimpleNamespace(
        calendar=None, alert_channel="C1", cs_lead="U1", cs_head=None, quiet_hours=None, tz=UTC, team=()
    )
    return SimpleNamespace(
        settings=settings,
        engine=None,
        client=None,
        scorecard=SimpleNamespace(tiers=()),
        rules=None,
        names=None,
        today=lambda: date(2026, 12, 7),
    )


def _alerts(first_run: bool) -> Any:
    return SimpleNamespace(
        day=date(2026, 12, 7), first_run=first_run, opened=[], listed=[1] * 60, joined=2, recovered=1, churned=0, dms=6
    )


ESC = SimpleNamespace(escalated={1: [1, 2], 2: [3]}, closed=False, skipped=False)
TASKS = SimpleNamespace(escalated={1: [1], 2: []}, handed_out={7: "U1"}, closed=False, skipped=False, changed=True)
POSTED = SimpleNamespace(key="churn-review:2026-Q3", new=True)
# job, module, what its run returns, the English line as before
RUNS: list[tuple[str, str, Any, str]] = [
    ("score", "score", None, "score: done (see the log lines above)"),
    (
        "alerts",
        "alerts",
        _alerts(True),
        "alerts for 2026-12-07: 0 opened, 60 listed (first run: where we start), 2 joined, 1 recovered, "
        "0 churned, 6 DMs",
    ),
    (
        "alerts",
        "alerts",
        _alerts(False),
        "alerts for 2026-12-07: 0 opened, 60 listed (past the day's thread budget), 2 joined, 1 recovered, "
        "0 churned, 6 DMs",
    ),
    ("alerts", "alerts", SimpleNamespace(day=None), "alerts: no scores yet; run `healthbot jobs run score` first"),
    (
        "alerts",
        "alerts",
        None,
        "another healthbot is running the alerts job now; skipped (it delivers its own messages)",
    ),
    ("escalations", "escalations", ESC, "escalations: 2 to the CS lead, 1 to the second level"),
    (
        "escalations",
        "escalations",
        SimpleNamespace(escalated={1: [], 2: []}, closed=True, skipped=False),
        "escalations: outside business hours (WORK_DAYS, WORK_HOURS, HOLIDAYS); nothing escalated",
    ),
    (
        "task-escalations",
        "task_escalations",
        TASKS,
        "task-escalations: 1 overdue tasks to the CS lead, 0 to the second level; tasks of 1 alerts handed out",
    ),
    (
        "task-escalations",
        "task_escalations",
        SimpleNamespace(escalated={1: [], 2: []}, handed_out={}, closed=True, skipped=False, changed=False),
        "task-escalations: outside business hours (WORK_DAYS, WORK_HOURS, HOLIDAYS); nothing escalated",
    ),
    ("digest", "digest", "digest:2026-W50", "digest: digest:2026-W50 enqueued"),
    ("digest", "digest", None, "digest: not posted (see the log line above)"),
    ("churn-review", "churn_review", POSTED, "churn-review: churn-review:2026-Q3 enqueued"),
    (
        "churn-review",
        "churn_review",
        SimpleNamespace(key="churn-review:2026-Q3", new=False),
        "churn-review: churn-review:2026-Q3 already posted; nothing added",
    ),
    ("churn-review", "churn_review", None, "churn-review: not posted (see the log line above)"),
]


def _line(monkeypatch: pytest.MonkeyPatch, job: str, module: str, returns: Any) -> str:
    import importlib

    mod = importlib.import_module(f"jobs.{module}")
    if module == "score":
        monkeypatch.setattr(mod, "run_daily", lambda *a, **k: None)
    else:
        monkeypatch.setattr(mod, "run", lambda *a, **k: returns)
    ran = table.JOBS[job].run(_ctx())
    assert ran.line is not None
    return ran.line


@pytest.mark.parametrize(("job", "module", "returns", "before"), RUNS)
def test_jobs_run_lines_in_chinese(
    monkeypatch: pytest.MonkeyPatch, job: str, module: str, returns: Any, before: str
) -> None:
    with speaking(ZH):
        line = _line(monkeypatch, job, module, returns)
    words = line.replace(job, "")  # the job's name, as typed on the command line
    assert re.search(f"[{HAN}]", line) and english_left(words) == [], line
    assert ": " not in line, line  # full-width colons in Chinese


@pytest.mark.parametrize(("job", "module", "returns", "before"), RUNS)
def test_jobs_run_lines_in_english_as_before(
    monkeypatch: pytest.MonkeyPatch, job: str, module: str, returns: Any, before: str
) -> None:
    assert _line(monkeypatch, job, module, returns) == before


# --- the error line's prefix: full-width in Chinese ------------------------------------------------


def test_scorecard_suggest_error_line_has_a_full_width_colon(
    zh: None, cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["scorecard", "suggest"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("healthbot：") and "healthbot: " not in err, err


def test_tune_bad_out_error_line_has_a_full_width_colon(
    zh: None, cli_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["tune", "--as-of", "2026-09-30", "--horizon", "60", "--out", str(tmp_path / "no" / "such" / "x.toml")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("healthbot：") and "healthbot: " not in err, err


def test_scorecard_suggest_error_line_in_english_as_before(cli_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scorecard", "suggest"]) == 2
    assert capsys.readouterr().err.startswith("healthbot: ")


# --- progress bars ---------------------------------------------------------------------------------

METERS: list[dict[str, Any]] = [
    {"n": 0, "total": 343_000, "elapsed": 0, "unit_scale": True},  # no rate yet: "?行/s"
    {"n": 50_000, "total": 343_000, "elapsed": 1.8, "unit_scale": True},  # rows a second
    {"n": 1, "total": 90, "elapsed": 4.47},  # seconds a day
    {"n": 30, "total": 90, "elapsed": 10.0},
]


@pytest.mark.parametrize("meter", METERS)
def test_progress_bar_label_and_units_in_chinese(meter: dict[str, Any]) -> None:
    with speaking(ZH):
        unit = say("cli.progress.rows") if meter.get("unit_scale") else say("cli.progress.day")
        text = Bar.format_meter(prefix=say("cli.progress.metrics"), unit=unit, **meter)
    assert text.startswith("指标：") and ":" not in text.split("[")[0], text
    assert "/s" not in text and "s/" not in text, text
    assert f"{unit}/秒" in text or f"秒/{unit}" in text, text


@pytest.mark.parametrize("meter", METERS)
def test_progress_bar_in_english_as_tqdm_writes_it(meter: dict[str, Any]) -> None:
    kwargs: dict[str, Any] = {"prefix": "metrics", "unit": "rows", **meter}
    assert Bar.format_meter(**kwargs) == tqdm.format_meter(**kwargs)


# --- spaces in Chinese: between a number or Latin word and Chinese, none between two Chinese words ---

SPACE_BETWEEN_HAN = re.compile(f"[{HAN}] +[{HAN}（]|[{HAN}]  +|， ")
NO_SPACE = re.compile(f"[{HAN}][0-9A-Za-z]|[0-9A-Za-z][{HAN}]")

PART = {"page": 1, "pages": 2}
TEXTS: list[tuple[str, dict[str, Any]]] = [
    ("demo.alerts_week", {"day": "2026-12-07", "opened": 20, "joined": 14, "resolved": 0, "listed": 0}),
    ("cli.say.override.done", {"name": "Acme", "label": "健康", "until": "2026-12-31"}),
    ("tune.dropped", {"measure": "续约前的登录", "coef": -0.1}),
    ("tune.negligible", {"measure": "NPS，最新值", "coef": 0.001, "largest": 0.5}),
    ("forecast.refuse.period", {"text": "x"}),
]


@pytest.mark.parametrize(("key", "values"), TEXTS)
def test_no_stray_spaces_in_chinese(key: str, values: dict[str, Any]) -> None:
    with speaking(ZH):
        text = say(key, **values).strip()
    assert not SPACE_BETWEEN_HAN.search(text), text


def test_listing_part_follows_without_a_space() -> None:
    with speaking(ZH):
        part = say("alerts.listing.part", **PART)
        text = say("alerts.listing.text_first_run", count=60, part=part)
        budget = say("alerts.listing.text_budget", count=3, budget=5, part=part)
        title = say("alerts.listing.title_first_run", count=60, part=part)
    assert text == "起点：60 个账户已有风险（第 1 条，共 2 条）"
    assert budget.endswith("暂缓（第 1 条，共 2 条）") and " （" not in title, title


def test_tune_examples_on_no_day_reads_as_one_phrase() -> None:
    with speaking(ZH):
        text = say("tune.examples", path="x.toml", examples=0, days=say("tune.no_days"), churned=0, horizon=60)
    assert "没有任何一天评分的账户" in text, text


def test_chance_between_a_cards_cases_has_spaces_around_the_card() -> None:
    with speaking(ZH):
        card = say("chance.card_named", card="default")
        values = dict(lo1=0, hi1=39, cases1=100, churned1=40, lo2=40, hi2=69, cases2=100, churned2=10, horizon=90)
        text = say("chance.source_between", card=card, **values)
        everyone = say("chance.source_between", card="", **values)
    assert "过往 `default` 案例" in text and "过往案例" in everyone, (text, everyone)


def test_a_dm_count_after_you_have_takes_a_space() -> None:
    with speaking(ZH):
        text = say("alerts.listing.dm_text", counts=say("alerts.listing.dm_count_listed", n=11))
    assert "你有 11 个列出的账户" in text and not NO_SPACE.search(text.replace("healthbot：", "")), text


def test_dm_counts_after_and_take_a_space() -> None:
    with speaking(ZH):  # as bot/alerts/messages.py joins them (the snapshot person_dm_alerts_and_listed shows it)
        counts = [say("alerts.listing.dm_count_tasks", n=1), say("alerts.listing.dm_count_listed", n=2)]
        text = say("alerts.listing.dm_count_and").join(counts)
    assert text == "1 个任务和 2 个列出的账户", text


def test_chance_fit_age_reads_days_ago() -> None:
    with speaking(ZH):
        text = say("chance.kept", as_of="2026-12-07", age=0, every=7)
    assert "（0 天前；" in text, text


# --- dates: weekday, no zero padding in Chinese; English as before --------------------------------

AT = datetime(2026, 12, 8, 9, 0, tzinfo=UTC)


def test_alert_times_in_chinese_read_month_day_weekday() -> None:
    with speaking(ZH):
        assert when(AT, ZoneInfo("UTC")) == "12月8日 周二 09:00 UTC"
        assert when(datetime(2026, 1, 5, 14, 30), ZoneInfo("Europe/Berlin")) == "1月5日 周一 15:30 CET"


def test_alert_times_in_english_as_before() -> None:
    assert when(AT, ZoneInfo("UTC")) == "Tue 08 Dec 09:00 UTC"
    assert when(datetime(2026, 6, 30, 12, 0), ZoneInfo("Europe/Berlin")) == "Tue 30 Jun 14:00 CEST"


# --- terminology: segment is 细分, a playbook 应对手册, a play 打法 ----------------------------------

ZH_DIR = Path(prompts.__file__).parent / "zh-CN"


def _texts(name: str) -> list[str]:
    def walk(node: object) -> Iterator[str]:
        if isinstance(node, dict):
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, list):
            for value in node:
                yield from walk(value)
        elif isinstance(node, str):
            yield node

    return list(walk(tomllib.loads((ZH_DIR / f"{name}.toml").read_text(encoding="utf-8"))))


@pytest.mark.parametrize("name", ["forecast", "cli"])
def test_segment_is_xifen(name: str) -> None:
    assert [t for t in _texts(name) if "分组" in t.replace("按千位分组", "")] == []


@pytest.mark.parametrize("name", ["cli", "alerts", "tasks"])
def test_playbook_and_play_words(name: str) -> None:
    bad: Callable[[str], bool] = lambda t: "应对方案" in t or "应对任务" in t  # noqa: E731
    assert [t for t in _texts(name) if bad(t)] == []


# --- the expected-loss CSV: the same values in every language -------------------------------------


def _csv(out: Path) -> list[dict[str, str]]:
    assert main(["report", "--period", "2026-Q3", "--format", "csv", "--out", str(out)]) == 0
    with (out / "churn-2026-Q3-expected-loss.csv").open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_expected_loss_csv_is_the_same_in_chinese(
    book: Engine,  # noqa: F811
    cli_env: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _fit(book)
    english = _csv(tmp_path / "en")
    monkeypatch.setenv("LANGUAGE", ZH)
    try:
        chinese = _csv(tmp_path / "zh")
    finally:
        prompts.set_default(ENGLISH)
    assert [(r["group"], r["name"]) for r in chinese] == [(r["group"], r["name"]) for r in english]
    assert ("tier", "High risk") in [(r["group"], r["name"]) for r in chinese]


def test_every_progress_bar_is_worded_from_prompts() -> None:
    """Each bar the CLI shows is a `Bar` whose label and unit come from prompts (no English literal left)."""
    import ast

    root = Path(__file__).parent.parent / "bot"
    found = []
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            if node.func.id == "tqdm" and path.name != "progress.py":
                found.append(f"{path.name}: tqdm( (use bot.progress.Bar)")
            if node.func.id in ("tqdm", "Bar"):
                for kw in node.keywords:
                    if kw.arg in ("desc", "unit") and isinstance(kw.value, (ast.Constant, ast.JoinedStr)):
                        found.append(f"{path.name}:{node.lineno}: {kw.arg} written in the code")
    assert found == []
