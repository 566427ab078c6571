"""The chance to churn beyond the card: `/health me` and `/health top <tier>` rows, the owner's DM when an alert opens,
the run's one DM and the alert listings (the first run's "where we start"), each line checked by hand against the
hand-made bands of tests/test_chance_surfaces.py; without a number each message says why once, in words. The alert
job reads the fit once per run, however many alerts it opens. Every root redraw (a click, the escalation job, an exit
interview's churn) checks the fit against the card in use."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from sqlalchemy import Engine, event
from sqlmodel import Session, col, select

from bot.alerts import actions
from bot.alerts import messages as alerts
from bot.alerts.rules import Rules
from bot.alerts.values import AlertRef
from bot.calendar import BusinessCalendar
from bot.exits import service as exit_service
from bot.scoring.scorecard import load_scorecard
from bot.slack.chance import Chances
from jobs import escalations as escalations_job
from storage import alerts as alert_store
from storage import outbox
from storage.db import session_factory, unit_of_work
from storage.models import Account, HealthScore
from tests import test_alert_ops as ops
from tests.conftest import DEMO_END, BotServer
from tests.fake_slack import FakeSlack
from tests.test_alert_actions import ANNA, LOOK, NOW, make_alert
from tests.test_chance_surfaces import (
    FIT,
    ME,
    REFITTING,
    TOO_LITTLE,
    WHY_TOO_LITTLE,
    ack,
    block_texts,
    hand_chance,
    store,
    validate,
)
from tests.test_exit_interview import form as exit_form
from tests.test_first_run import CSM, MAIN, SAVE_TEAM, add, checked, drain, run, write_rules
from tests.test_payloads_retention import ACCOUNT, SCORE, TIERS, TZ, alert


def percent(score: float) -> str:
    return f"{hand_chance(score):.0%}".replace("%", " %")


def row_chances(blocks: list[dict]) -> dict[int, str]:
    """account id -> the text of its row, for the rows with an Open button."""
    return {
        json.loads(b["accessory"]["value"])["account_id"]: b["text"]["text"]
        for b in blocks
        if b.get("accessory", {}).get("action_id") == "health.open"
    }


def test_health_me_and_top_of_a_tier_show_each_rows_chance(seeded, bot_server: BotServer) -> None:
    store(seeded, FIT)
    with Session(seeded) as s:
        scored = {
            a.id: (a, h)
            for a, h in s.exec(
                select(Account, HealthScore)
                .join(HealthScore, col(HealthScore.account_id) == Account.id)
                .where(HealthScore.day == DEMO_END, Account.status != "churned")
            ).all()
        }
    me = ack(bot_server, "me")["blocks"]
    rows = row_chances(me)
    assert rows and all(scored[i][0].owner_slack_id == ME for i in rows)
    for account_id, text in rows.items():
        assert text.endswith(f"  ·  chance {percent(scored[account_id][1].score)}")
    assert "Chance to churn: fitted on 2 snapshots" in block_texts(me)

    top = ack(bot_server, "top 5 high_risk")["blocks"]
    rows = row_chances(top)
    assert rows and all(scored[i][1].tier == "high_risk" for i in rows)
    for account_id, text in rows.items():
        assert text.endswith(f"  ·  chance {percent(scored[account_id][1].score)}")


def test_health_me_without_a_number_says_why_once(seeded, bot_server: BotServer) -> None:
    for fit, why in ((TOO_LITTLE, WHY_TOO_LITTLE), (replace(FIT, scorecard_key="an older card"), REFITTING)):
        store(seeded, fit)
        me = ack(bot_server, "me")["blocks"]
        assert block_texts(me).count(why) == 1
        assert not any("chance" in t for t in row_chances(me).values())


RULES_OWNER_DM = """
[budget]
first_run = "open"
one_dm_per_run = false

[[rules]]
name = "low_score"
kind = "score_below"
severity = "high_risk"
below = 40
days = 3
"""


def test_the_owners_dm_when_an_alert_opens_shows_its_chance(
    engine: Engine, tmp_path: Path, fake_slack: FakeSlack
) -> None:
    rules = write_rules(tmp_path, RULES_OWNER_DM)
    for k in range(3):
        add(engine, f"LOW{k}", CSM, [35, 35, 35, 35], mrr=1000.0 * (k + 1))
    store(engine, FIT)
    reads = fit_reads(engine)
    summary = run(engine, rules, 3)
    assert len(summary.opened) == 3
    assert len(reads) == 1  # one read of the fit for the whole run, not one per alert
    drain(engine, fake_slack)
    dms = [checked(m) for m in fake_slack.posted(f"D{CSM}")]
    assert len(dms) == 3
    for dm in dms:  # score 35: the 0-39 band, 30 of 100 churned
        assert "has a risk alert in <#C0ALERTS01>: *High risk*, chance to churn 30 %, respond by" in block_texts(
            dm["blocks"]
        )


def test_the_owners_dm_without_a_number_says_why_once() -> None:
    for chances, why in ((Chances(TOO_LITTLE), WHY_TOO_LITTLE), (Chances(FIT, stale=True), REFITTING)):
        view = alerts.AlertView(alert(), ACCOUNT, SCORE, chances=chances)
        for dm in (alerts.owner_dm(view, TIERS, TZ), alerts.person_dm([alerts.NewAlert(view, [])], [], TIERS, TZ)):
            validate(dm.blocks or [])
            shown = block_texts(dm.blocks or [])
            assert shown.count(why) == 1 and "chance to churn " not in shown.replace(why, "")


def test_the_first_runs_listing_and_dm_show_each_chance_or_why_not(
    engine: Engine, tmp_path: Path, fake_slack: FakeSlack
) -> None:
    rules = write_rules(tmp_path)
    for k in range(3):
        add(engine, f"MED{k}", CSM, [80, 80, 80, 50])  # 10 %
        add(engine, f"HIGH{k}", CSM, [35, 35, 35, 35])  # 30 %
    store(engine, FIT)
    run(engine, rules, 3)
    drain(engine, fake_slack)
    for channel, chance in ((MAIN, "10 %"), (SAVE_TEAM, "30 %")):
        listing = checked(fake_slack.posted(channel)[0])
        rows = [b["text"]["text"] for b in listing["blocks"] if "accessory" in b]
        assert len(rows) == 3 and all(f"  ·  chance {chance}" in r.split("\n")[0] for r in rows)
    dm = block_texts(checked(fake_slack.posted(f"D{CSM}")[0])["blocks"])
    assert dm.count("  ·  chance 10 %") == 3 and dm.count("  ·  chance 30 %") == 3


def test_a_listing_without_a_number_says_why_once(engine: Engine, tmp_path: Path, fake_slack: FakeSlack) -> None:
    rules: Rules = write_rules(tmp_path)
    for k in range(3):
        add(engine, f"MED{k}", CSM, [80, 80, 80, 50])
    store(engine, replace(FIT, scorecard_key="an older card"))
    run(engine, rules, 3)
    drain(engine, fake_slack)
    listing = block_texts(checked(fake_slack.posted(MAIN)[0])["blocks"])
    assert listing.count(REFITTING) == 1 and "  ·  chance " not in listing


def fit_reads(engine: Engine) -> list[str]:
    """The statements that read a stored chance fit from now on (an engine event: no stub of our code)."""
    seen: list[str] = []

    def before(conn, cursor, statement: str, *args: object) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("SELECT") and "churn_chance_fit" in statement:
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    return seen


def test_a_click_redraws_the_root_with_the_fit_checked_against_the_card(engine: Engine) -> None:
    """The root a claim redraws reads the fit as the card does: one for another card shows why, not its number."""
    alert_id = make_alert(engine)
    with unit_of_work(session_factory(engine)) as s:
        account = s.exec(select(Account)).one()
        s.add(HealthScore(account_id=account.id or 0, day=NOW.date(), score=12.0, tier="high_risk"))
    look = replace(LOOK, scorecard=load_scorecard())
    for fit, shown in (
        (FIT, "*Chance to churn in the next 90 days: 30 %*"),
        (replace(FIT, scorecard_key="old"), REFITTING),
    ):
        store(engine, fit)
        with unit_of_work(session_factory(engine)) as s:
            assert actions.claim(s, AlertRef(alert_id=alert_id), ANNA, look).changed
            actions.release(s, AlertRef(alert_id=alert_id), ANNA, lambda user: False, look)
            version = alert_store.get(s, alert_id).version  # type: ignore[union-attr]
            redrawn = outbox.get(s, f"alert:{alert_id}:v{version}")
            assert redrawn is not None
            title = redrawn.payload["blocks"][0]["text"]["text"]
        assert shown in title and (fit is FIT or "30 %" not in title)


def root_title(engine: Engine, alert_id: int) -> str:
    """The first section of the root's latest redraw (`alert:N:v{version}`)."""
    with unit_of_work(session_factory(engine)) as s:
        version = alert_store.get(s, alert_id).version  # type: ignore[union-attr]
        redrawn = outbox.get(s, f"alert:{alert_id}:v{version}")
        assert redrawn is not None
        return redrawn.payload["blocks"][0]["text"]["text"]


def test_the_escalation_job_redraws_the_root_with_the_fit_checked_against_the_card(engine: Engine) -> None:
    """An edited card (the stored fit is for another one): the escalated root says why, not the old number."""
    alert_id = ops.make_alert(engine, due_at=ops.at(27, 16))
    with unit_of_work(session_factory(engine)) as s:
        account = s.exec(select(Account)).one()
        s.add(HealthScore(account_id=account.id or 0, day=NOW.date(), score=12.0, tier="high_risk"))
    store(engine, replace(FIT, scorecard_key="old"))
    escalated = escalations_job.run(
        engine,
        calendar=BusinessCalendar(),
        tiers=TIERS,
        tz=TZ,
        cs_lead=ops.LEAD,
        cs_head=ops.HEAD,
        now=ops.at(27, 16, 5),
        scorecard=load_scorecard(),
    )
    assert escalated.escalated[1] == [alert_id]
    title = root_title(engine, alert_id)
    assert REFITTING in title and "30 %" not in title


def test_an_exit_interviews_churn_redraws_the_root_without_a_chance(engine: Engine) -> None:
    """The exit's churn resolves the alert: the churned account's root shows no chance at all, so a fit for an
    edited card (or the card's own) leaves no number there."""
    alert_id = make_alert(engine)
    with unit_of_work(session_factory(engine)) as s:
        account = s.exec(select(Account)).one()
        s.add(HealthScore(account_id=account.id or 0, day=NOW.date(), score=12.0, tier="high_risk"))
    store(engine, replace(FIT, scorecard_key="old"))
    entry = exit_service.check(exit_form(), account.id, NOW.date())
    assert isinstance(entry, exit_service.Entry)
    with unit_of_work(session_factory(engine)) as s:
        saved = exit_service.save(s, entry, None, None, ANNA, NOW.date(), TIERS, TZ, None)
    assert isinstance(saved, exit_service.Saved)
    title = root_title(engine, alert_id)
    assert "Chance to churn" not in title and "30 %" not in title and REFITTING not in title
