"""What an outside tester found running the bot as a zh-CN Slack user (issue 23): the Home the score job republishes
in each owner's language, the churn chart's reliability note in the chart's language, `/health churn` posted in the
channel's language, Chinese period words, a sub-command's own word in its errors, and sentences joined as each
language joins them (用法 said once)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from slack_sdk import WebClient
from sqlalchemy import Engine

import prompts
from bot.churn import periods
from bot.churn.report import reliability_panel
from bot.health.command import Churn, Find, Plays, help_text, parse
from bot.health.lookup import Lookup
from bot.health.messages import not_found
from bot.retention.plays import PeriodSpec
from bot.scoring.calibration import Calibration, calibration_note
from bot.scoring.scorecard import load_scorecard
from bot.settings import Settings
from jobs import home as home_job
from prompts import ENGLISH, speaking
from storage.db import session_factory, unit_of_work
from storage.models import Account, HealthScore
from tests.conftest import BotServer
from tests.fake_slack import FakeSlack
from tests.test_e2e_home import texts
from tests.test_unusual_data_in_slack import DAY, add_accounts

TIERS = load_scorecard().tiers
TODAY = date(2026, 10, 15)
CHANNEL = "C0TEST0001"  # where the slash command is typed (tests/conftest.py slash_command_form)
CJK = re.compile(r"[\u4e00-\u9fff]")
ZH = Path(__file__).parents[1] / "prompts" / "zh-CN"


def _problem(text: str) -> str:
    found = parse(text, TIERS)
    assert isinstance(found, Find) and found.problem, found
    return found.problem


# --- 1. the Home the score job republishes ---------------------------------------------------------------------


def test_the_home_the_score_job_republishes_speaks_each_owners_slack_locale(engine: Engine, fake_slack) -> None:  # type: ignore[no-untyped-def]
    add_accounts(engine, ["One Co"], owner="U0ZHOWNER1")
    add_accounts(engine, ["Two Co"], owner="U0ENOWNER1")
    fake_slack.locales["U0ZHOWNER1"] = "zh-CN"
    client = WebClient(token="xoxb-test", base_url=fake_slack.url)
    assert home_job.run(engine, client, load_scorecard(), DAY) == 2
    views = {c.params["user_id"]: texts(c.params["view"]) for c in fake_slack.calls_to("views.publish")}
    assert "我的账户" in views["U0ZHOWNER1"] and "My accounts" not in views["U0ZHOWNER1"]
    assert "My accounts" in views["U0ENOWNER1"] and not CJK.search(views["U0ENOWNER1"])


# --- 2. the churn chart's reliability panel -------------------------------------------------------------------


def test_the_reliability_panels_note_is_worded_in_the_charts_language() -> None:
    from matplotlib.figure import Figure

    cal = Calibration(0, 0, 0, None, None, None, None, as_of="2026-07-01", horizon_days=90)
    with speaking("zh-CN"):  # the review was read in Chinese; no CJK font: the chart falls back to English
        cal.note = calibration_note(cal, 90)
    assert cal.note and CJK.search(cal.note)
    ax = Figure().subplots()
    with speaking(ENGLISH):
        reliability_panel(ax, cal)
    drawn = " ".join(t.get_text() for t in ax.texts)
    assert "No check of the chance to churn" in drawn and not CJK.search(drawn)


# --- 3. `/health churn` in the channel's language -------------------------------------------------------------


@pytest.fixture
def churn_server(settings: Settings, engine: Engine, fake_slack: FakeSlack) -> Iterator[BotServer]:
    """Four accounts at 2026-07-01; one churned in 2026-Q3."""
    with unit_of_work(session_factory(engine)) as session:
        added = [
            Account(external_id=f"a{i}", name=f"Account {i}", name_lower=f"account {i}", mrr=1000.0,
                    segment="SMB", contract_start=date(2025, 1, 1), status="churned" if i == 1 else "active",
                    churned_on=date(2026, 8, 1) if i == 1 else None)
            for i in range(1, 5)
        ]  # fmt: skip
        session.add_all(added)
        session.flush()
        for account in added:
            session.add(HealthScore(account_id=account.id, day=date(2026, 7, 1), score=50.0, tier=TIERS.order[0],
                                    scorecard="default"))  # fmt: skip
    bot = BotServer(settings, engine, fake_slack, today=TODAY).start()
    yield bot
    bot.stop()
    prompts.set_channel_languages({})


def test_health_churn_posts_in_the_channels_language_and_answers_the_typer_in_theirs(
    churn_server: BotServer,
) -> None:
    fake = churn_server.fake
    fake.locales["U0ZHUSER01"] = "zh-CN"
    ack = churn_server.command("流失 2026-Q3", user_id="U0ZHUSER01").json()
    assert CJK.search(ack["text"])  # the typer's own reply: their language
    posted = fake.wait_for("chat.postMessage", timeout=30)[0].params
    assert posted["text"].startswith("Churn review 2026-Q3:")  # the channel's: the default
    done = fake.wait_for("files.completeUploadExternal", timeout=30)[0].params
    assert done["files"][0]["title"] == "Churn review 2026-Q3: churn rate by quarter"
    prompts.set_channel_languages({CHANNEL: "zh-CN"})
    churn_server.command("churn 2026-Q3", user_id="U01CSM0002")
    posted = fake.wait_for("chat.postMessage", 2, timeout=30)[1].params
    assert posted["text"].startswith("流失复盘 2026-Q3")
    done = fake.wait_for("files.completeUploadExternal", 2, timeout=30)[1].params
    assert done["files"][0]["title"].startswith("流失复盘 2026-Q3")


# --- 4. Chinese period words ----------------------------------------------------------------------------------


def test_chinese_period_words_read_as_the_english_ones() -> None:
    for chinese, english in (("上季度", "last-quarter"), ("本季度", "this-quarter"), ("上月", "last-month"),
                             ("上个月", "last-month"), ("本月", "this-month")):  # fmt: skip
        assert parse(f"流失 {chinese}", TIERS) == Churn(chinese), chinese
        assert parse(f"流失 {chinese} smb", TIERS) == Churn(chinese, "smb"), chinese
        assert periods.parse_period(chinese, TODAY) == periods.parse_period(english, TODAY), chinese
    assert parse("打法 季度", TIERS) == Plays(PeriodSpec("this_quarter")) == parse("打法 本季度", TIERS)
    assert parse("打法 30天", TIERS) == Plays(PeriodSpec("days", 30)) == parse("plays 30d", TIERS)
    assert parse("打法 quarter", TIERS) == Plays(PeriodSpec("this_quarter"))
    assert parse("churn Enterprise", TIERS) == Churn("", "Enterprise")
    assert isinstance(parse("流失 下季度", TIERS), Find)  # a period word not known: the period's error, not a segment


def test_chinese_help_and_errors_list_the_chinese_period_words() -> None:
    with speaking("zh-CN"):
        helped = help_text(TIERS)
        plays_error = _problem("打法 上季度")
        churn_error = _problem("流失 2026-99")
    assert "`上季度`" in helped and "`30天`" in helped and "`本季度`" in helped
    assert "`30天`" in plays_error and "`本季度`" in plays_error
    assert "上季度" in churn_error and "上月" in churn_error and "last-quarter" not in churn_error


# --- 5. a sub-command's own word ------------------------------------------------------------------------------


def test_me_with_arguments_names_me_in_the_readers_language() -> None:
    with speaking("zh-CN"):
        assert _problem("我的 更多").startswith("`/health 我的` 不接受参数。")
    assert _problem("me more").startswith("`/health me` takes no arguments.")


# --- 6. sentences joined as the language joins them -----------------------------------------------------------


def test_english_errors_stay_as_they_were() -> None:
    usage = "usage: fill in the period as 2026-Q3, 2026-10, last-quarter, last-month or 2026-07-01..2026-09-30"
    assert _problem("churn 2026-99") == (
        f"'2026-99' is not a date I know. {usage} Usage: `/health churn [period] [segment]`. "
        "`/health help` lists every command."
    )
    assert _problem("churn 3000-Q1") == (
        "That period is out of range: periods lie between the years 1900 and 2999. "
        f"{usage} Usage: `/health churn [period] [segment]`. `/health help` lists every command."
    )
    assert _problem("plays xyz") == (
        "`xyz` is not a period. A period is `30d` (the last 30 days), `quarter` (this quarter so far), `2026-Q3` or "
        "`2026-10`. Usage: `/health plays [period]`. `/health help` lists every command."
    )
    assert (
        _problem("me more")
        == "`/health me` takes no arguments. Usage: `/health me`. `/health help` lists every command."
    )
    lookup = Lookup("zzz")
    assert not_found(lookup)[0]["text"]["text"] == "No customer matches *zzz*."


@pytest.mark.parametrize("typed", ["流失 2026-99", "流失 2026-13", "流失 3000-Q1", "流失 2026-09-30..2026-07-01",
                                   "打法 季", "打法 3000-Q1", "我的 更多", "风险 500"])  # fmt: skip
def test_chinese_errors_say_usage_once_and_put_no_space_after_a_full_stop(typed: str) -> None:
    with speaking("zh-CN"):
        problem = _problem(typed)
    assert problem.count("用法") == 1, problem
    assert not re.search(r"[。：，] ", problem), problem
    assert not re.search(r"[0-9a-z`]用法", problem), problem  # a sentence ends before the next starts


def test_chinese_no_match_with_the_closest_names_glues_no_space() -> None:
    row = Account(id=1, external_id="a1", name="Acme", name_lower="acme")
    with speaking("zh-CN"):
        text = not_found(Lookup("foo", closest=[row]))[0]["text"]["text"]
    assert text == "没有与 *foo* 匹配的客户。最接近的名称："
    assert not_found(Lookup("foo", closest=[row]))[0]["text"]["text"] == "No customer matches *foo*. Closest names:"


# --- 7. one word for an alert and for a period -----------------------------------------------------------------


def test_chinese_prompts_say_alert_and_period_one_way() -> None:
    for name in ("churn_review.toml", "health.toml", "commands.toml", "plays.toml"):
        text = (ZH / name).read_text(encoding="utf-8")
        assert "预警" not in text and "时段" not in text, name
