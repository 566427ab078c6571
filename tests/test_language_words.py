"""Languages (issue 23, the rest): what a score is made of reads in the reader's language. Drivers are stored as a
reason code with its figures and worded when shown (a row stored before, text only, shows its text); the
scorecard's tier and group labels read in the reader's language."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import warnings
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.alerts.rules import load_rules
from bot.calendar import BusinessCalendar
from bot.scoring.explain import driver_reason
from bot.scoring.scorecard import load_scorecard
from bot.settings import Settings
from bot.slack.blocks import validate_blocks
from bot.slack.client import make_client
from jobs.table import Context
from prompts import speaking
from storage.db import session_factory, unit_of_work
from storage.models import Account, HealthScore, OutboxMessage
from storage.types import Driver, ScoreParts
from tests.conftest import DEMO_END, BotServer
from tests.fake_slack import FakeSlack

ZH, EN = "U0ZHUSER01", "U01CSM0002"


def _text(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def _with_drivers(engine: Engine) -> tuple[Account, HealthScore]:
    with Session(engine) as s:
        rows = s.exec(
            select(Account, HealthScore)
            .join(HealthScore)
            .where(HealthScore.day == DEMO_END, HealthScore.scorecard == "default")
            .order_by(col(HealthScore.score))
        ).all()
    return next((a, h) for a, h in rows if len(h.parts.drivers) >= 2)


def test_drivers_are_worded_when_shown_in_the_readers_language(seeded: Engine, bot_server: BotServer) -> None:
    account, score = _with_drivers(seeded)
    assert all(d.words for d in score.parts.drivers)  # stored as a code with its figures
    bot_server.fake.locales[ZH] = "zh-CN"
    zh = bot_server.command(account.external_id, user_id=ZH).json()["blocks"]
    en = bot_server.command(account.external_id).json()["blocks"]
    validate_blocks(zh), validate_blocks(en)
    for d in score.parts.drivers:
        assert d.reason in _text(en) and d.reason not in _text(zh)  # English as it was stored
        with speaking("zh-CN"):
            assert driver_reason(d) in _text(zh)
    assert "vs prior" not in _text(zh) and " days" not in _text(zh) and " weeks" not in _text(zh)


def test_a_driver_stored_before_as_text_only_still_shows_its_text(seeded: Engine, bot_server: BotServer) -> None:
    account, score = _with_drivers(seeded)
    old = [Driver(measure=d.measure, group=d.group, points=d.points, reason=d.reason) for d in score.parts.drivers]
    with unit_of_work(session_factory(seeded)) as s:
        row = s.get(HealthScore, (account.id, DEMO_END))
        assert row is not None
        row.parts = ScoreParts(**(score.parts.model_dump() | {"drivers": old}))
    bot_server.fake.locales[ZH] = "zh-CN"
    zh = bot_server.command(account.external_id, user_id=ZH).json()["blocks"]
    assert all(d.reason in _text(zh) for d in old)


def test_the_default_cards_tier_and_group_labels_read_in_chinese(seeded: Engine, bot_server: BotServer) -> None:
    account, score = _with_drivers(seeded)
    bot_server.fake.locales[ZH] = "zh-CN"
    zh = _text(bot_server.command(account.external_id, user_id=ZH).json()["blocks"])
    en = _text(bot_server.command(account.external_id).json()["blocks"])
    tiers = load_scorecard().tiers
    assert tiers.label(score.tier) in en and tiers.label(score.tier) not in zh
    with speaking("zh-CN"):
        assert tiers.label(score.tier) in zh and tiers.label("high_risk") == "高风险"
    assert "Product usage" in en and "产品使用" in zh and "Product usage" not in zh


# --- what jobs send a person: in their Slack locale ------------------------------------------------------------


def test_dms_jobs_send_speak_each_recipients_locale(
    engine: Engine, settings: Settings, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    from jobs import alerts as alert_job
    from jobs import digest as digest_job

    fake_slack.locales[ZH] = "zh-CN"
    Context(settings, engine, make_client(settings), load_scorecard())  # as `healthbot run` and `jobs run` start
    rules_file = tmp_path / "rules.toml"
    rules_file.write_text(
        '[budget]\nfirst_run = "open"\n[[rules]]\nname = "low"\nkind = "score_below"\nseverity = "high_risk"\n'
        "below = 40\ndays = 1\n"
    )
    rules = load_rules(rules_file, load_scorecard())
    d0 = date(2026, 3, 2)
    with unit_of_work(session_factory(engine)) as s:
        for external_id, owner in (("CN", ZH), ("US", EN)):
            account = Account(external_id=external_id, name=f"{external_id} Co", name_lower=f"{external_id} co",
                              owner_slack_id=owner, mrr=1000.0)  # fmt: skip
            s.add(account)
            s.flush()
            for i in range(2):
                s.add(HealthScore(account_id=account.id, day=d0 + timedelta(days=i), score=30, tier="high_risk"))
    now = datetime.combine(d0 + timedelta(days=2), time(7), tzinfo=UTC)
    alert_job.run(engine, rules=rules, scorecard=load_scorecard(), calendar=BusinessCalendar(),
                  alert_channel="C0DEFAULT01", day=d0 + timedelta(days=1), now=now)  # fmt: skip
    digest_job.run(engine, scorecard=load_scorecard(), alert_channel="C0DEFAULT01", tz=UTC, now=now, dms=True)
    with Session(engine) as s:
        sent = [(m.key, m.channel, m.payload) for m in s.exec(select(OutboxMessage))]
    dms = {channel: [] for channel in (ZH, EN)}
    for key, channel, payload in sent:
        validate_blocks(payload["blocks"])
        if channel in dms:
            dms[channel].append((key, _text(payload["blocks"])))
        else:  # the channel's messages: the default language
            assert not re.search(r"[\u4e00-\u9fff]", _text(payload["blocks"])), key
    assert {k.split(":")[0] for k, _ in dms[ZH]} == {"alerts", "digest"} == {k.split(":")[0] for k, _ in dms[EN]}
    for key, text in dms[ZH]:
        assert "高风险" in text or "本周" in text, key
        assert "High risk" not in text and "Risk alert" not in text, key
    for key, text in dms[EN]:
        assert not re.search(r"[\u4e00-\u9fff]", text), key


# --- what a channel sees: the channel's language, whoever acted -------------------------------------------------


def _has_chinese(payload: Any) -> bool:
    return bool(re.search(r"[\u4e00-\u9fff]", json.dumps(payload, ensure_ascii=False)))


def test_a_card_a_chinese_reader_shares_reads_in_the_channels_language(seeded: Engine, bot_server: BotServer) -> None:
    account, _ = _with_drivers(seeded)
    bot_server.fake.locales[ZH] = "zh-CN"
    resp = bot_server.action("health.share", json.dumps({"account_id": account.id}), user_id=ZH)
    assert resp.status_code == 200
    posts = bot_server.fake.wait_for("response_url", timeout=30)
    [shared] = [p.params for p in posts if p.params.get("response_type") == "in_channel"]
    validate_blocks(shared["blocks"])
    assert account.name in shared["text"] and not _has_chinese(shared["blocks"])


def test_an_exit_summary_a_chinese_reader_saves_reads_in_the_channels_language(
    engine: Engine, settings: Settings, fake_slack: FakeSlack
) -> None:
    from tests.test_exit_interview import CHURN, DAY, add_account, form, open_by_command, posted_to, submit

    server = BotServer(dataclasses.replace(settings, churn_channel=CHURN), engine, fake_slack, today=DAY).start()
    try:
        add_account(engine)
        fake_slack.locales[ZH] = "zh-CN"
        view = open_by_command(server, user=ZH)
        assert _has_chinese(view)  # the form is theirs
        assert submit(server, view, form(), user=ZH).status_code == 200
        [summary] = posted_to(server, CHURN, 1)
    finally:
        server.stop()
    assert "Acme Corp" in summary["text"] and not _has_chinese(summary)


# --- charts: a font with the language's glyphs, else English labels ----------------------------------------------


def test_a_chinese_chart_without_a_cjk_font_draws_english_labels_and_says_so_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from bot.health import chart
    from bot.slack import language

    monkeypatch.setattr(language, "CJK_FONTS", ("No Such CJK Font",))  # as on a host without fonts-noto-cjk
    series = [(date(2026, 6, 1) + timedelta(days=i), 40.0 + i) for i in range(30)]
    data = chart.ChartData("Acme Corp", 90, series, {"logins": series, "support_tickets": series})
    tiers = load_scorecard().tiers
    with speaking("zh-CN"), warnings.catch_warnings(), caplog.at_level(logging.WARNING, "healthbot.slack"):
        warnings.simplefilter("error")  # a glyph the font lacks (drawn as a box) warns: here it fails the test
        with language.chart_language() as drawn:
            assert drawn == "en" and tiers.label("high_risk") == "High risk"
        pngs = [chart.render_chart(data, tiers) for _ in range(2)]
        assert tiers.label("high_risk") == "高风险"  # after the chart: the reader's language again
    assert all(png.startswith(b"\x89PNG") for png in pngs)
    said = [r.getMessage() for r in caplog.records if "CJK font" in r.getMessage()]
    assert said == ["no CJK font installed (No Such CJK Font): charts draw their labels in English"]
    with speaking("en"), chart.chart_language() as drawn:
        assert drawn == "en"


def test_an_overdue_task_is_escalated_in_the_threads_language(engine: Engine, tmp_path: Path) -> None:
    from jobs import alerts as alert_job
    from jobs import task_escalations
    from prompts import set_channel_languages

    rules_file = tmp_path / "rules.toml"
    rules_file.write_text(
        '[budget]\nfirst_run = "open"\n[routing]\nlanguages = { C0CHINA001 = "zh-CN" }\n[[rules]]\nname = "low"\n'
        'kind = "score_below"\nseverity = "high_risk"\nbelow = 40\ndays = 1\n'
    )
    rules = load_rules(rules_file, load_scorecard())
    d0 = date(2026, 3, 2)  # a Monday
    with unit_of_work(session_factory(engine)) as s:
        account = Account(external_id="CN", name="CN Co", name_lower="cn co", owner_slack_id=EN, mrr=1000.0)
        s.add(account)
        s.flush()
        for i in range(2):
            s.add(HealthScore(account_id=account.id, day=d0 + timedelta(days=i), score=30, tier="high_risk"))
    try:
        now = datetime.combine(d0 + timedelta(days=2), time(7), tzinfo=UTC)
        alert_job.run(engine, rules=rules, scorecard=load_scorecard(), calendar=BusinessCalendar(),
                      alert_channel="C0CHINA001", day=d0 + timedelta(days=1), now=now)  # fmt: skip
        later = datetime.combine(d0 + timedelta(days=14), time(10), tzinfo=UTC)
        summary = task_escalations.run(engine, calendar=BusinessCalendar(), tiers=load_scorecard().tiers, tz=UTC,
                                       cs_lead="U0LEAD0001", now=later)  # fmt: skip
    finally:
        set_channel_languages({})
    assert summary.escalated[1]
    with Session(engine) as s:
        overdue = [m.payload for m in s.exec(select(OutboxMessage)) if ":overdue:" in m.key]
    assert overdue and all(p["text"].startswith("逾期任务") for p in overdue)


def test_a_scorecard_names_its_own_labels_per_language_and_keeps_them_when_written(tmp_path: Path) -> None:
    from bot.scoring.scorecard import ScorecardError, to_toml

    text = load_scorecard().file.read_text(encoding="utf-8")  # type: ignore[union-attr]
    text = text.replace(
        'high_risk = "High risk" }', 'high_risk = "At risk" }\nlabels_in = { zh-CN = { high_risk = "危险" } }'
    )
    text = text.replace('label = "Engagement"', 'label = "Relationship"\nlabels_in = { zh-CN = "关系" }')
    own = tmp_path / "own.toml"
    own.write_text(text, encoding="utf-8")
    card = load_scorecard(own)
    again = tmp_path / "again.toml"
    again.write_text(to_toml(card), encoding="utf-8")
    for scorecard in (card, load_scorecard(again)):
        default = scorecard.cards["default"]
        assert scorecard.tiers.label("high_risk") == "At risk" and default.group_label("engagement") == "Relationship"
        with speaking("zh-CN"):
            assert scorecard.tiers.label("high_risk") == "危险" and default.group_label("engagement") == "关系"
            assert scorecard.tiers.label("low_risk") == "低风险"  # the default's own label: prompts/zh-CN/labels.toml
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace('{ high_risk = "危险" }', '{ at_risk = "危险" }'), encoding="utf-8")
    with pytest.raises(ScorecardError, match="labels name at_risk"):
        load_scorecard(bad)


def test_a_redrawn_draft_speaks_the_channels_language_whoever_clicks(
    engine: Engine, settings: Settings, fake_slack: FakeSlack
) -> None:
    """Regenerate / Use template redraw a message the whole channel sees: a zh-CN user's click keeps an English
    channel's draft English, an English user's click keeps a zh-CN channel's draft Chinese (issue 23, second trial)."""
    from bot.retention.ids import DraftIds
    from bot.retention.values import DraftRef
    from bot.slack.values import encode
    from prompts import set_channel_languages
    from tests.test_assistant_slack import ME, TODAY, _alert, click

    with Session(engine) as s:
        account = Account(external_id="acme-1", name="Acme", owner_slack_id=ME, mrr=1200.0, segment="enterprise")
        s.add(account)
        s.commit()
        alert_id = _alert(engine, account.id or 0)
    fake_slack.locales[ME] = "zh-CN"
    server = BotServer(settings, engine, fake_slack, today=TODAY).start()
    try:
        click(server, DraftIds.TEMPLATE, encode(DraftRef(alert_id=alert_id)), "C0ALERTS01", "1750000000.000300")
        [english] = server.fake.wait_for("chat.update", timeout=15)
        fake_slack.locales[ME] = "en-US"
        set_channel_languages({"C0ALERTS01": "zh-CN"})
        try:
            click(server, DraftIds.AGAIN, encode(DraftRef(alert_id=alert_id)), "C0ALERTS01", "1750000000.000300")
            chinese = server.fake.wait_for("chat.update", count=2, timeout=15)[-1]
        finally:
            set_channel_languages({})
    finally:
        server.stop()
    validate_blocks(english.params["blocks"]), validate_blocks(chinese.params["blocks"])
    assert not _has_chinese(english.params["blocks"]) and _has_chinese(chinese.params["blocks"])


def test_the_assistant_panes_greeting_speaks_the_users_language(
    engine: Engine, settings: Settings, fake_slack: FakeSlack
) -> None:
    """assistant_thread_started carries its user in event.assistant_thread.user_id, where Bolt does not look."""
    from tests.test_assistant_slack import ME, TODAY, thread_started

    fake_slack.locales[ME] = "zh-CN"
    server = BotServer(settings, engine, fake_slack, today=TODAY).start()
    try:
        thread_started(server)
        [hello] = server.fake.wait_for("chat.postMessage", timeout=15)
    finally:
        server.stop()
    assert hello.params["text"].startswith("问我关于你的客户的问题")


def test_grounding_reads_a_chinese_date_and_an_iso_one_as_the_same_day() -> None:
    """zh-CN facts carry dates as a Chinese reader sees them: a reply writing the ISO form (or the other way round)
    states the same day, and a day the facts do not hold is still refused."""
    from bot.llm.grounding import unsupported

    facts = {"renewal": "2027年10月24日（剩 321 天）", "last_login": "2026-11-07"}
    assert unsupported("续约日期为 2027-10-24，还剩 321 天。", facts) == []
    assert unsupported("续约在 2027年10月24日；最后登录 2026年11月7日（11月7日）。", facts) == []
    assert unsupported("续约在 2027-10-25。", facts) == ["2027-10-25"]
    assert unsupported("最后登录 2026年11月8日。", facts) == ["2026年11月8日"]


def test_the_alert_job_words_reasons_and_the_drafts_metrics_in_the_channels_language(
    engine: Engine, tmp_path: Path
) -> None:
    """The job evaluates the rules once for every channel: a zh-CN channel's alert still reads its reasons, the
    playbook's "why" and the draft's metric names in Chinese, the default channel's in English (second trial, B)."""
    from jobs import alerts as job
    from storage.models import MetricObservation

    rules_file = tmp_path / "rules.toml"
    rules_file.write_text(
        '[budget]\nfirst_run = "open"\n[routing]\nsegments = { china = "C0CHINA001" }\n'
        'languages = { C0CHINA001 = "zh-CN" }\n[[rules]]\nname = "low"\nkind = "score_below"\n'
        'severity = "high_risk"\nbelow = 40\ndays = 1\n'
    )
    d0 = date(2026, 3, 2)
    with unit_of_work(session_factory(engine)) as s:
        for external_id, segment in (("CN", "china"), ("US", "us")):
            account = Account(
                external_id=external_id, name=f"{external_id} Co", name_lower=external_id.lower(), segment=segment
            )
            s.add(account)
            s.flush()
            for i in range(2):
                s.add(HealthScore(account_id=account.id, day=d0 + timedelta(days=i), score=30, tier="high_risk"))
            for i in range(10):
                s.add(MetricObservation(account_id=account.id, day=d0 - timedelta(days=i), metric="logins", value=3))
    now = datetime.combine(d0 + timedelta(days=2), time(7), tzinfo=UTC)
    rules = load_rules(rules_file, load_scorecard())
    job.run(engine, rules=rules, scorecard=load_scorecard(), calendar=BusinessCalendar(), alert_channel="C0DEFAULT01",
            day=d0 + timedelta(days=1), now=now)  # fmt: skip
    with Session(engine) as s:
        sent = {(m.channel, m.key.split(":")[-1]): m.payload for m in s.exec(select(OutboxMessage))}
    for payload in sent.values():
        validate_blocks(payload["blocks"])
    chinese, english = _text(sent["C0CHINA001", "root"]["blocks"]), _text(sent["C0DEFAULT01", "root"]["blocks"])
    assert "分数连续 1 天低于 40" in chinese and "score below" not in chinese
    assert "score below 40 for 1 day " in english and "分数" not in english
    zh_draft, en_draft = _text(sent["C0CHINA001", "draft"]["blocks"]), _text(sent["C0DEFAULT01", "draft"]["blocks"])
    assert "登录" in zh_draft and "logins" not in zh_draft.lower()
    assert "logins" in en_draft.lower() and "登录" not in en_draft
