"""Languages (issue 23): every language's prompts against English's (keys, variables, rendering), the machinery
(discovery, fallback, plurals, formats, cuts, LANGUAGE), and signed requests answered in the user's Slack locale."""

from __future__ import annotations

import json
import logging
import re
import shutil
import string
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

import prompts
from bot.health.command import Exit, Find, Help, Mine, Tasks, Top, help_text, parse
from bot.scoring.explain import worded
from bot.scoring.scorecard import load_scorecard
from bot.settings import SettingsError, load_settings, system_language
from bot.slack.blocks import cut, money, plain, renewal_text, section, validate_blocks
from prompts import ENGLISH, fill, formats, languages, plural, raw, say, speaking
from storage.models import Account, HealthScore
from tests.conftest import BotServer

OTHERS = [lang for lang in languages() if lang != ENGLISH]


def _flat(node: Any, prefix: str = "") -> dict[str, Any]:
    """Every leaf of a prompt file by its dotted key (a list's items by index)."""
    if isinstance(node, dict):
        return {k: v for key, value in node.items() for k, v in _flat(value, f"{prefix}{key}.").items()}
    if isinstance(node, list):
        return {k: v for i, value in enumerate(node) for k, v in _flat(value, f"{prefix}{i}.").items()}
    return {prefix.rstrip("."): node}


def _fields(template: str) -> dict[str, str]:
    """The `{name:spec}` fields of a template, with the kind of their spec (a count's nouns, or str.format's)."""
    found = {}
    for _, name, spec, _ in string.Formatter().parse(template):
        if name is not None and name != "":
            found[name] = "nouns" if prompts._is_nouns(spec or "") else (spec or "")
    return found


def _filled(template: str) -> str:
    values: dict[str, Any] = {}
    for name, spec in _fields(template).items():
        values[name] = 3 if spec == "nouns" or spec.endswith("d") else 0.5 if spec else "x"
    return fill(template, **values)


def _files(language: str) -> list[str]:
    folder = prompts.HERE if language == ENGLISH else prompts.HERE / language
    return sorted(p.stem for p in folder.glob("*.toml"))


@pytest.mark.parametrize("language", OTHERS)
def test_every_file_of_a_language_has_englishs_keys_and_variables_and_renders(language: str) -> None:
    """Each file of the language against English's: the same keys, the same variables, and it renders (a file it lacks
    fails the next test)."""
    problems = []
    for name in _files(language):
        english, other = _flat(prompts.load(name)), _flat(prompts.load(name, language))
        problems += [f"{language}/{name}.toml lacks {key}" for key in english.keys() - other.keys()]
        problems += [f"{language}/{name}.toml has {key}, English has not" for key in other.keys() - english.keys()]
        for key in english.keys() & other.keys():
            if isinstance(english[key], str) != isinstance(other[key], str):
                problems.append(f"{language}/{name}.toml {key}: a {type(other[key]).__name__} in English's place")
            elif isinstance(other[key], str) and _fields(english[key]) != _fields(other[key]):
                problems.append(f"{language}/{name}.{key}: {_fields(other[key])} != English's {_fields(english[key])}")
            elif isinstance(other[key], str):
                with speaking(language):
                    assert _filled(other[key])  # renders with every variable filled (a bad spec raises)
    assert problems == []


def test_every_english_prompt_renders_with_every_variable_filled() -> None:
    for name in _files(ENGLISH):
        for key, value in _flat(prompts.load(name)).items():
            if isinstance(value, str):
                assert isinstance(_filled(value), str), f"{name}.{key}"


@pytest.mark.parametrize("language", OTHERS)
def test_every_prompt_file_exists_in_every_language(language: str) -> None:
    """With the keys test above: every English key has its text in every language, so nothing falls back."""
    missing = sorted(set(_files(ENGLISH)) - set(_files(language)))
    assert missing == [], f"{language} lacks {', '.join(f'prompts/{language}/{m}.toml' for m in missing)}"


def test_shipped_languages_are_english_and_chinese() -> None:
    """A parametrised test over no other language would pass by running nothing."""
    assert {ENGLISH, "zh-CN"} <= set(languages()) and "zh-CN" in OTHERS


# A letter of a script written without spaces (Chinese, Japanese, Korean): Slack opens or closes a mrkdwn span only at
# a word's edge, and takes these for letters, so `客户的*预期损失*` shows its asterisks instead of bold.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_SPAN = re.compile(r"([*_~])(?=\S)(?:[^\n]*?\S)?\1")  # a bold, italic or strike span


def _marks_touching_letters(text: str) -> list[str]:
    """The spans of `text` whose opening mark follows, or closing mark precedes, a CJK letter (fields read as x)."""
    text = re.sub(r"\{[^{}]*\}", "x", text)
    outside = re.compile(f"[{_CJK}]")
    return [
        text[max(m.start() - 1, 0) : m.end() + 1]
        for m in _SPAN.finditer(text)
        if outside.fullmatch(text[m.start() - 1 : m.start()]) or outside.fullmatch(text[m.end() : m.end() + 1])
    ]


def test_marks_touching_cjk_letters_are_found() -> None:
    assert _marks_touching_letters("客户的*预期 MRR 损失*：{loss}") == ["的*预期 MRR 损失*："]
    assert _marks_touching_letters("*{name}*的") == ["*x*的"]
    assert _marks_touching_letters("客户的 *预期损失*：_{n}_ 个") == []
    assert _marks_touching_letters("*风险告警：* *{name}*") == []  # inside a span, a mark may touch anything


@pytest.mark.parametrize("language", OTHERS)
def test_no_mrkdwn_mark_touches_a_cjk_letter_outside_its_span(language: str) -> None:
    """Slack leaves `*`, `_` and `~` as they are when a letter touches them from outside: a space, or punctuation."""
    bad = {
        f"{language}/{name}.{key}": found
        for name in _files(language)
        for key, value in _flat(prompts.load(name, language)).items()
        if isinstance(value, str) and (found := _marks_touching_letters(value))
    }
    assert bad == {}


def test_no_space_follows_chinese_punctuation_before_a_mark() -> None:
    """Chinese punctuation carries its own space: `*风险告警：* *{name}*` reads "风险告警： Acme";
    `*风险告警*：*{name}*` reads "风险告警：Acme" (punctuation beside a mark is an edge Slack takes)."""
    after = re.compile(r"[，：；。、][*_~]?\s+[*_~]")  # a closing mark between them too
    bad = {
        f"{name}.{key}": value
        for name in _files("zh-CN")
        for key, value in _flat(prompts.load(name, "zh-CN")).items()
        if isinstance(value, str) and after.search(value)
    }
    assert bad == {}


# --- the machinery -------------------------------------------------------------------------------------------


@pytest.fixture
def added_language(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """prompts/ as shipped plus a German folder a team added (one file, one key missing)."""
    shutil.copytree(prompts.HERE, tmp_path / "prompts", ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    (tmp_path / "prompts" / "de").mkdir()
    (tmp_path / "prompts" / "de" / "health.toml").write_text(
        'not_found = "Kein Kunde passt zu *{query}*."\n[list]\nme_title = "{accounts:Kunde/Kunden} · {mrr} · {day}"\n'
    )
    (tmp_path / "prompts" / "xx").mkdir()  # named like a language, but none Babel knows: left out, logged
    (tmp_path / "prompts" / "xx" / "health.toml").write_text('gone = "?"\n')
    monkeypatch.setattr(prompts, "HERE", tmp_path / "prompts")
    prompts.languages.cache_clear()
    prompts.load.cache_clear()
    yield tmp_path / "prompts"
    prompts.languages.cache_clear()
    prompts.load.cache_clear()


def test_a_folder_adds_a_language_and_a_missing_key_falls_back_to_english_logged_once(
    added_language: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert languages() == ("en", "de", "zh-CN")
    with speaking("de"):
        assert say("health.not_found", query="acme") == "Kein Kunde passt zu *acme*."
        assert say("health.list.me_title", accounts=1, mrr="$1", day="d") == "1 Kunde · $1 · d"
        with caplog.at_level(logging.WARNING, logger="healthbot.prompts"):
            assert say("health.gone") == "That customer no longer exists."
            assert say("health.gone") == "That customer no longer exists."
            assert raw("health.tier_emoji")["healthy"] == ":large_green_circle:"  # a table: English's keys under it
    assert [r.getMessage() for r in caplog.records if "health.gone" in r.getMessage()] == [
        "prompt health.gone has no de text: English shown"
    ]


def test_speaking_nests_and_a_language_we_lack_is_the_default() -> None:
    assert prompts.current() == ENGLISH
    with speaking("zh-CN") as spoken:
        assert spoken == "zh-CN" and say("health.gone") == "该客户已不存在。"
        with speaking("xx-YY"):
            assert prompts.current() == ENGLISH
        assert prompts.current() == "zh-CN"
    assert say("health.gone") == "That customer no longer exists."


def test_plurals_follow_the_languages_categories() -> None:
    assert [plural(n, "account/accounts") for n in (0, 1, 2)] == ["0 accounts", "1 account", "2 accounts"]
    with speaking("zh-CN"):
        assert [plural(n, "个账户") for n in (0, 1, 2)] == ["0 个账户", "1 个账户", "2 个账户"]
        assert fill("{n:个账户}，AUC {auc:.2f}", n=3, auc=0.5) == "3 个账户，AUC 0.50"
    assert fill("{n:account/accounts}, AUC {auc:.2f}", n=1, auc=0.5) == "1 account, AUC 0.50"


def test_formats_keep_english_as_it_was_and_follow_chinese() -> None:
    assert (money(1234.4), money(-1234.6), money(-0.4), money(None)) == ("$1,234", "-$1,235", "$0", "–")
    assert formats.percent(0.125, 1) == "12.5 %" and formats.number(1234567.891, 2) == "1,234,567.89"
    assert formats.day(date(2026, 12, 7)) == "2026-12-07" and formats.weekday(date(2026, 12, 7)) == "Mon"
    assert renewal_text(date(2026, 12, 9), date(2026, 12, 7)) == "2026-12-09 (2 days left)"
    with speaking("zh-CN"):
        assert money(1234.4) == "US$1,234" and formats.percent(0.125, 1) == "12.5%"
        assert formats.day(date(2026, 12, 7)) == "2026年12月7日" and formats.weekday(date(2026, 12, 7)) == "周一"
        assert renewal_text(date(2026, 12, 9), date(2026, 12, 7)) == "2026年12月9日（剩 2 天）"


def test_a_change_in_percent_reads_as_the_language_writes_a_percent() -> None:
    """A driver's "-100 %" is English's; Chinese writes the sign against the number ("登录较前 4 周 -100%")."""
    trend = {"t": "trend", "v": {"metric": ["metric", "logins"], "change": ["pct", -1.0], "baseline": ["span", 28]}}
    assert (formats.change(-1.0), formats.change(0.05), formats.change(-0.004)) == ("-100 %", "+5 %", "±0 %")
    assert worded(trend) == "logins -100 % vs prior 4 weeks"
    with speaking("zh-CN"):
        assert (formats.change(-1.0), formats.change(0.05), formats.change(-0.004)) == ("-100%", "+5%", "±0%")
        assert worded(trend).endswith("较前 4 周 -100%")


def test_the_cards_footnote_in_chinese_puts_no_spaces_around_its_words() -> None:
    with speaking("zh-CN"):
        built_in = say("health.scored_on", day="2026-11-23", source=say("health.scorecard_built_in"), card="default")
        file = say("health.scorecard_file", file="a.toml")
        own = say("health.scored_on_gone", day="2026-11-23", source=file, card="x")
        held = say("health.chance.override", emoji="🟡", tier="低风险", who="@U1", scored="高风险", chance="82%")
    assert built_in == "2026-11-23 按内置默认评分卡的「default」卡评分"
    assert own == "2026-11-23 按「x」卡评分，该卡已不在「a.toml」中"
    assert "评分：高风险" in held


def test_cuts_count_as_slack_counts_and_never_split_a_character() -> None:
    chinese = "健康分数" * 1000  # 4,000 characters, 12,000 bytes in UTF-8: Slack counts characters
    block = section(chinese)
    assert len(block["text"]["text"]) == 3000 and block["text"]["text"].endswith("健康分…")
    validate_blocks([block, section("健" * 3000)])  # exactly at the limit: accepted as it is
    assert plain("健康分数很低", 4) == "健康分…"
    family = "👨\u200d👩\u200d👧"
    assert cut("ab" + family, 4) == "ab" and cut("ab" + family + "c", 7) == "ab" + family
    assert cut("cafe\u0301!", 4) == "caf" and cut("a🇨🇳🇺🇸", 4) == "a🇨🇳" and cut("a👍🏽b", 2) == "a"


def test_language_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings(env_file=None, environ={}).language is None
    assert load_settings(env_file=None, environ={"LANGUAGE": "zh-CN"}).language == "zh-CN"
    assert load_settings(env_file=None, environ={"LANGUAGE": "en"}).language == "en"
    assert load_settings(env_file=None, environ={"LANGUAGE": "de_DE:de"}).language is None  # gettext's list
    with pytest.raises(SettingsError, match=r"LANGUAGE='fr' has no prompts: use one of en, zh-CN"):
        load_settings(env_file=None, environ={"LANGUAGE": "fr"})
    assert system_language({"LANG": "zh_CN.UTF-8"}) == "zh-CN" and system_language({"LANG": "C.UTF-8"}) == ENGLISH
    assert system_language({"LC_ALL": "en_GB.UTF-8", "LANG": "zh_CN.UTF-8"}) == ENGLISH


def test_cli_follows_language_else_the_system_locale(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", "sqlite:///x.db")
    monkeypatch.delenv("LANGUAGE", raising=False)
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    try:
        assert main(["rules", "show-default"]) == 0
        assert prompts.default() == "zh-CN"
        monkeypatch.setenv("LANGUAGE", "en")
        assert main(["rules", "show-default"]) == 0
        assert prompts.default() == ENGLISH
        monkeypatch.setenv("LANGUAGE", "xx")
        assert main(["rules", "show-default"]) == 2
        assert "LANGUAGE='xx' 没有对应的提示文本：请使用 en, zh-CN 之一" in capsys.readouterr().err  # LANG's language
    finally:
        prompts.set_default(ENGLISH)


def test_a_wrong_setting_is_said_in_the_clis_language(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TIMEZONE", "Mars/Olympus")
    monkeypatch.setenv("LANGUAGE", "zh-CN")
    try:
        assert main(["rules", "show-default"]) == 2
        assert "TIMEZONE='Mars/Olympus' 不是已知时区" in capsys.readouterr().err
        monkeypatch.setenv("LANGUAGE", "en")
        assert main(["rules", "show-default"]) == 2
        assert "TIMEZONE='Mars/Olympus' is not a known time zone: use an IANA name" in capsys.readouterr().err
        monkeypatch.delenv("LANGUAGE")
        monkeypatch.setenv("LANG", "zh_CN.UTF-8")
        monkeypatch.setenv("TIMEZONE", "UTC")
        monkeypatch.setenv("DATABASE_URL", "mysql://x")
        assert main(["rules", "show-default"]) == 2
        assert "不支持 DATABASE_URL='mysql://x'" in capsys.readouterr().err
    finally:
        prompts.set_default(ENGLISH)


# --- /health in Chinese -------------------------------------------------------------------------------------


def test_health_sub_commands_in_chinese_and_english() -> None:
    tiers = load_scorecard().tiers
    assert parse("我的", tiers) == Mine() and parse("me", tiers) == Mine()
    assert parse("帮助", tiers) == Help() and parse("任务", tiers) == Tasks()
    assert parse("风险 5", tiers) == Top(5, None) and parse("风险 按MRR", tiers) == Top(10, None, True)
    assert parse("top by-mrr 3", tiers) == Top(3, None, True)
    assert parse("阿里巴巴", tiers) == Find("阿里巴巴") and parse("访谈 阿里巴巴", tiers) == Exit("阿里巴巴")
    with speaking("zh-CN"):
        text = help_text(tiers)
        assert "`/health 风险 [N] [等级]`" in text and "`/health 帮助`" in text and "本列表。" in text
    assert "`/health top [N] [tier]`" in help_text(tiers)


def _scored(engine: Engine) -> Account:
    with Session(engine) as s:
        account = s.exec(select(Account).join(HealthScore).order_by(col(Account.id))).first()
    assert account is not None
    return account


def _text(blocks: list[dict]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def test_a_zh_cn_user_gets_the_card_in_chinese_and_an_english_user_in_english(
    seeded: Engine, bot_server: BotServer
) -> None:
    account = _scored(seeded)
    bot_server.fake.locales["U0ZHUSER01"] = "zh-CN"
    zh = bot_server.command(account.external_id, user_id="U0ZHUSER01").json()
    en = bot_server.command(account.external_id, user_id="U01CSM0002").json()
    validate_blocks(zh["blocks"]), validate_blocks(en["blocks"])
    assert "*趋势*  7 天" in _text(zh["blocks"]) and "*各组分数*" in _text(zh["blocks"])
    assert "分享到频道" in _text(zh["blocks"]) and "*Trend*" not in _text(zh["blocks"])
    assert "*MRR*\\nUS$" in _text(zh["blocks"]) and "*MRR*\\n$" in _text(en["blocks"])
    assert re.search(r"\*续约日\*\\n\d{4}年\d{1,2}月\d{1,2}日（剩 \d+ 天）", _text(zh["blocks"]))
    assert "*Trend*  7 days" in _text(en["blocks"]) and "趋势" not in _text(en["blocks"])
    bot_server.command("帮助", user_id="U0ZHUSER01")
    asked = [c.params for c in bot_server.fake.calls_to("users.info")]
    assert [p["user"] for p in asked] == ["U0ZHUSER01", "U01CSM0002"]  # once per user: cached
    assert all(str(p["include_locale"]).lower() in ("1", "true") for p in asked)


def test_chinese_help_and_a_chinese_account_name(engine: Engine, bot_server: BotServer) -> None:
    with Session(engine) as s:
        s.add(Account(external_id="CN-1", name="阿里巴巴网络技术", name_lower="阿里巴巴网络技术"))
        s.commit()
    bot_server.fake.locales["U0ZHUSER01"] = "zh-CN"
    helped = bot_server.command("帮助", user_id="U0ZHUSER01").json()
    assert helped["response_type"] == "ephemeral" and "`/health 我的`" in helped["text"]
    for typed in ("阿里巴巴", "阿里巴巴网络枝术"):  # the start of the name; a typo
        answer = bot_server.command(typed, user_id="U0ZHUSER01").json()
        assert "阿里巴巴网络技术" in _text(answer.get("blocks") or []) + answer["text"], typed
        assert "没有与" not in answer["text"]


def test_the_work_after_the_ack_keeps_the_users_language(seeded: Engine, bot_server: BotServer) -> None:
    account = _scored(seeded)
    bot_server.fake.locales["U0ZHUSER01"] = "zh-CN"
    resp = bot_server.action("health.chart", json.dumps({"account_id": account.id}), user_id="U0ZHUSER01")
    assert resp.status_code == 200
    note = bot_server.fake.wait_for("response_url", timeout=30)[0].params
    assert note["text"] == f":bar_chart: *{account.name}* 的图表已发到你与 healthbot 的私信中。"


# --- a channel's language --------------------------------------------------------------------------------------


def test_a_channel_alert_speaks_the_channels_language(engine: Engine, tmp_path: Path) -> None:
    from datetime import UTC, datetime, time, timedelta
    from functools import partial

    from bot.alerts import messages, threads
    from bot.alerts.rules import RulesError, load_rules
    from bot.calendar import BusinessCalendar
    from jobs import alerts as job
    from storage.db import session_factory, unit_of_work
    from storage.models import Alert, OutboxMessage, Task

    rules_file = tmp_path / "rules.toml"
    rules_file.write_text(
        '[budget]\nfirst_run = "open"\n[routing]\nsegments = { china = "C0CHINA001" }\n'
        'languages = { C0CHINA001 = "zh-CN" }\n[[rules]]\nname = "low"\nkind = "score_below"\n'
        'severity = "high_risk"\nbelow = 40\ndays = 1\n'
    )
    rules = load_rules(rules_file, load_scorecard())
    d0 = date(2026, 3, 2)
    with unit_of_work(session_factory(engine)) as s:
        for external_id, segment in (("CN", "china"), ("US", "us")):
            account = Account(external_id=external_id, name=f"{external_id} Co", name_lower=f"{external_id.lower()} co",
                              segment=segment, mrr=1000.0)  # fmt: skip
            s.add(account)
            s.flush()
            for i in range(2):
                s.add(HealthScore(account_id=account.id, day=d0 + timedelta(days=i), score=30, tier="high_risk"))
    now = datetime.combine(d0 + timedelta(days=2), time(7), tzinfo=UTC)
    job.run(engine, rules=rules, scorecard=load_scorecard(), calendar=BusinessCalendar(), alert_channel="C0DEFAULT01",
            day=d0 + timedelta(days=1), now=now)  # fmt: skip
    with Session(engine) as s:
        roots = {m.channel: m.payload for m in s.exec(select(OutboxMessage)) if m.key.endswith(":root")}
    for payload in roots.values():
        validate_blocks(payload["blocks"])
    chinese, english = _text(roots["C0CHINA001"]["blocks"]), _text(roots["C0DEFAULT01"]["blocks"])
    assert "*风险告警*：*CN Co*" in chinese and "流失概率" in chinese and "Risk alert" not in chinese
    assert "*Risk alert:* *US Co*" in english and "Chance to churn" in english and "风险" not in english
    assert roots["C0CHINA001"]["text"].startswith(":red_circle: 风险告警：CN Co")
    with Session(engine) as s:
        lists = {m.channel: m.payload for m in s.exec(select(OutboxMessage)) if m.key.endswith(":tasks")}
    assert "应对手册任务" in _text(lists["C0CHINA001"]["blocks"])
    assert "Playbook tasks" in _text(lists["C0DEFAULT01"]["blocks"])
    # the playbook's steps and SLA: the channel's words, stored as the English file says (issue 23)
    assert "组建挽留小组" in _text(lists["C0CHINA001"]["blocks"]) and "Form a save team" not in chinese
    assert "请在 4 小时内响应" in chinese and "组建挽留小组" in chinese
    assert "Form a save team" in _text(lists["C0DEFAULT01"]["blocks"]) and "*Respond within 4 hours*" in english
    with Session(engine) as s:
        assert {t.title for t in s.exec(select(Task))} >= {"Form a save team: CSM, sales, product and an executive"}
    # a Chinese reader's click in the English channel: the thread's reply is the channel's language, not theirs
    with speaking("zh-CN"), unit_of_work(session_factory(engine)) as s:
        us_alert = s.exec(select(Alert).where(Alert.channel == "C0DEFAULT01")).one()
        threads.reply(s, us_alert, "resolved", partial(messages.resolved_reply, "saved", "U0ZHUSER01"))
    with Session(engine) as s:
        [reply] = [m.payload for m in s.exec(select(OutboxMessage)) if m.key.endswith(":reply:resolved")]
    assert reply["text"] == ":white_check_mark: Resolved as *saved* by <@U0ZHUSER01>."
    bad = tmp_path / "bad.toml"
    bad.write_text('[routing]\nlanguages = { C0CHINA001 = "fr" }\n')
    with pytest.raises(RulesError, match=re.escape("'fr' is not a language of prompts/: use one of en, zh-CN")):
        load_rules(bad, load_scorecard())


def test_the_exit_interview_form_and_its_inline_errors_in_chinese_and_english(
    engine: Engine, bot_server: BotServer
) -> None:
    from bot.exits.ids import ExitIds
    from tests.test_exit_interview import add_account, form, opened, submit

    add_account(engine)
    bot_server.fake.locales["U0ZHUSER01"] = "zh-CN"
    for user, command, title, question, error in (
        ("U0ZHUSER01", "访谈 Acme Corp", "离职访谈", "是什么让你决定离开", "请选择已流失或仅有风险。"),
        ("U01CSM0002", "exit Acme Corp", "Exit interview", "What made you decide", "Pick churned or only at risk."),
    ):
        before = len(bot_server.fake.calls_to("views.open"))
        assert bot_server.command(command, user_id=user).status_code == 200
        view = opened(bot_server, before)  # validated with slack_sdk's View
        assert view["title"]["text"] == title and question in json.dumps(view, ensure_ascii=False)
        missing = submit(bot_server, view, form(status=None), user=user)
        assert missing.json()["response_action"] == "errors"
        assert missing.json()["errors"][ExitIds.STATUS] == error


def test_the_mark_done_modal_and_its_inline_error_in_chinese(engine: Engine, bot_server: BotServer) -> None:
    from datetime import timedelta

    from slack_sdk.models.views import View

    from bot.retention.ids import RetentionIds
    from bot.slack.values import encode
    from tests.test_task_done import click_done, make_alert, make_task, ref_of, submit

    task = make_task(engine, make_alert(engine), 1, timedelta(hours=4), assignee="U0ZHUSER01")
    bot_server.fake.locales["U0ZHUSER01"] = "zh-CN"
    assert click_done(bot_server, encode(ref_of(task)), user="U0ZHUSER01").status_code == 200
    view = bot_server.fake.wait_for("views.open")[0].params["view"]
    View(**view).validate_json()
    assert view["title"]["text"] == "标记任务完成" and "已完成" in json.dumps(view, ensure_ascii=False)
    answer = submit(bot_server, ref_of(task), user="U0ZHUSER01", outcome=None).json()
    assert answer == {"response_action": "errors", "errors": {RetentionIds.OUTCOME_BLOCK: "请选择一个结果。"}}
    english = submit(bot_server, ref_of(task), user="U01CSM0001", outcome=None).json()
    assert english["errors"] == {RetentionIds.OUTCOME_BLOCK: "Pick an outcome."}


def test_app_home_in_the_users_language(seeded: Engine, bot_server: BotServer) -> None:
    from tests.test_e2e_home import home_opened, published, texts

    bot_server.fake.locales["U01CSM0001"] = "zh-CN"
    assert home_opened(bot_server, "EvZh1", user="U01CSM0001").status_code == 200
    text = texts(published(bot_server)[0]["view"])  # validated with slack_sdk's View
    for part in ("我的账户", "团队", "*本周*：", "本周变化最大", "*降幅最大*"):
        assert part in text
    assert "My accounts" not in text


def test_a_latin_name_in_a_chinese_sentence_is_set_apart_by_a_space() -> None:
    """Seen: "最近 30 天 CSAT平均为 3", "距上次NPS的天数". A template glues a metric's name to Chinese,
    right for a Chinese name ("登录较前 4 周"), not for a Latin one; Chinese text sets a Latin word apart by a space."""
    with speaking("zh-CN"):
        assert fill("{metric}较前 {span} {change}", metric="登录", span="4 周", change="-35%") == "登录较前 4 周 -35%"
        assert fill("最近 {days} {metric}平均为 {v}", days="30 天", metric="CSAT", v=3) == "最近 30 天 CSAT 平均为 3"
        assert fill("距上次{label}的天数", label="API calls") == "距上次 API calls 的天数"
        level = say("reasons.level", days="30 天", metric="CSAT", aggregate_word="平均为", value=3)
        assert level.endswith("CSAT 平均为 3"), level  # a name beside another field: its edge is Latin all the same
        assert fill("{a}{b}", a="登录", b="CSAT") == "登录 CSAT" and fill("{a}{b}", a="登录", b="较前") == "登录较前"
        assert fill("{n:个账户}（{name}）", n=2, name="Acme") == "2 个账户（Acme）"  # punctuation: no space
    assert fill("{metric}, {n:account/accounts}", metric="CSAT", n=2) == "CSAT, 2 accounts"
