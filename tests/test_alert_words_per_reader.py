"""An alert's firing words are stored as a reason code with its figures and worded when shown, in the reader's
language: the owner's DM in the owner's, the thread in the channel's (issue 23); a row stored before codes shows
its stored words."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.alerts.rules import load_rules
from bot.calendar import BusinessCalendar
from bot.scoring.scorecard import load_scorecard
from bot.settings import Settings
from bot.slack.blocks import validate_blocks
from bot.slack.client import make_client
from jobs.table import Context
from prompts import set_channel_languages
from storage.db import session_factory, unit_of_work
from storage.models import Account, Alert, HealthScore, OutboxMessage, firings_of
from tests.fake_slack import FakeSlack

ZH, EN = "U0ZHUSER01", "U01CSM0002"
CHINESE = re.compile(r"[\u4e00-\u9fff]")
D0 = date(2026, 3, 2)


def _text(payload: dict[str, Any]) -> str:
    validate_blocks(payload["blocks"])
    return json.dumps(payload["blocks"], ensure_ascii=False)


def _run(engine: Engine, settings: Settings, tmp_path: Path, owner: str, channel_language: str | None) -> dict:
    """An alert on a score below 40, in channel C0ALERTS01 (speaking `channel_language`), owned by `owner`: the
    outbox's messages by the last part of their key ("root", "dm"...)."""
    from jobs import alerts as alert_job

    Context(settings, engine, make_client(settings), load_scorecard())  # as `healthbot run` starts: locales asked
    languages = f'[routing]\nlanguages = {{ C0ALERTS01 = "{channel_language}" }}\n' if channel_language else ""
    rules_file = tmp_path / "rules.toml"
    rules_file.write_text(
        f'[budget]\nfirst_run = "open"\none_dm_per_run = false\n{languages}[[rules]]\nname = "low"\n'
        'kind = "score_below"\nseverity = "high_risk"\nbelow = 40\ndays = 1\n'
    )
    with unit_of_work(session_factory(engine)) as s:
        account = Account(external_id="A1", name="Acme", name_lower="acme", owner_slack_id=owner, mrr=1000.0)
        s.add(account)
        s.flush()
        for i in range(2):
            s.add(HealthScore(account_id=account.id, day=D0 + timedelta(days=i), score=30, tier="high_risk"))
    try:
        rules = load_rules(rules_file, load_scorecard())
        now = datetime.combine(D0 + timedelta(days=2), time(7), tzinfo=UTC)
        alert_job.run(engine, rules=rules, scorecard=load_scorecard(), calendar=BusinessCalendar(),
                      alert_channel="C0ALERTS01", day=D0 + timedelta(days=1), now=now)  # fmt: skip
    finally:
        set_channel_languages({})
    with Session(engine) as s:
        return {m.key.split(":")[-1]: m.payload for m in s.exec(select(OutboxMessage))}


def test_a_chinese_owners_dm_words_an_english_channels_alert_in_chinese(
    engine: Engine, settings: Settings, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    fake_slack.locales[ZH] = "zh-CN"
    sent = _run(engine, settings, tmp_path, ZH, None)
    root, dm = _text(sent["root"]), _text(sent["dm"])
    assert "score below 40 for 1 day " in root and not CHINESE.search(root)
    assert "分数连续 1 天低于 40" in dm and "score below" not in dm


def test_an_english_owners_dm_words_a_chinese_channels_alert_in_english(
    engine: Engine, settings: Settings, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    sent = _run(engine, settings, tmp_path, EN, "zh-CN")
    root, dm = _text(sent["root"]), _text(sent["dm"])
    assert "分数连续 1 天低于 40" in root and "score below" not in root
    assert "score below 40 for 1 day " in dm and not CHINESE.search(dm)


def test_a_firing_is_stored_as_a_code_and_one_stored_as_words_only_still_shows_them(
    engine: Engine, settings: Settings, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    from bot.alerts import messages, threads

    _run(engine, settings, tmp_path, EN, None)
    with unit_of_work(session_factory(engine)) as s:
        alert = s.exec(select(Alert)).one()
        entry = firings_of(alert)["low"]
        assert entry.reason is not None and entry.reason["t"] == "score_below"
        alert.firings = {"low": {"words": "an old reason as stored", "severity": "high_risk", "since": "2026-03-03"}}
        s.add(alert)
        s.flush()
        view = threads.load_view(s, alert.id or 0)
        assert view is not None
        tiers, tz = load_scorecard().tiers, ZoneInfo("UTC")
        for message in (messages.root(view, tiers, tz), messages.owner_dm(view, tiers, tz)):
            assert "an old reason as stored" in _text({"blocks": message.blocks})


def test_the_digest_words_a_digest_only_firing_in_its_readers_language(
    engine: Engine, settings: Settings, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    """A `[routing] digest_only` tier's firing is in the digest, not a thread: worded there when shown too, in a
    zh-CN owner's DM in Chinese while the channel's digest reads English."""
    from jobs import alerts as alert_job
    from jobs import digest as digest_job
    from tests.test_digest import MAIN, MONDAY, ROUTED

    fake_slack.locales[ZH] = "zh-CN"
    Context(settings, engine, make_client(settings), load_scorecard())
    rules_file = tmp_path / "rules.toml"
    rules_file.write_text(ROUTED.replace("[routing]", '[routing]\ndigest_only = ["medium_risk"]'), encoding="utf-8")
    rules = load_rules(rules_file, load_scorecard())
    with unit_of_work(session_factory(engine)) as s:
        account = Account(external_id="Q", name="Quiet Co", name_lower="quiet co", owner_slack_id=ZH, mrr=1000)
        s.add(account)
        s.flush()
        for k, value in enumerate([80] * 7 + [50]):
            tier = "healthy" if value == 80 else "medium_risk"
            s.add(HealthScore(account_id=account.id, day=date(2026, 6, 23) + timedelta(days=k), score=value, tier=tier))
    for day in (date(2026, 6, 29), date(2026, 6, 30)):
        alert_job.run(engine, rules=rules, scorecard=load_scorecard(), calendar=BusinessCalendar(),
                      alert_channel=MAIN, day=day, now=datetime.combine(day, time(7), tzinfo=UTC))  # fmt: skip
    digest_job.run(
        engine, scorecard=load_scorecard(), alert_channel=MAIN, tz=ZoneInfo("UTC"), now=MONDAY, rules=rules, dms=True
    )
    with Session(engine) as s:
        sent = {m.key: m.payload for m in s.exec(select(OutboxMessage)) if m.key.startswith("digest:")}
    channel = _text(sent["digest:2026-W28"])
    dm = _text(next(p for k, p in sent.items() if k.endswith(ZH)))
    assert "Quiet Co: tier dropped from Healthy to Medium risk" in channel
    assert "Quiet Co" in dm and "等级从" in dm and "tier dropped" not in dm
