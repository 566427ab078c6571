"""The alert thread: builder snapshots of every state, then the buttons end to end through signed HTTP and the
fake Slack (Claim first-wins with 20 simultaneous clicks, Release/Reassign permissions, Snooze, Resolve)."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import httpx
import pytest
from slack_sdk.models.views import View
from sqlalchemy import Engine
from sqlmodel import col, select

from bot.alerts import messages, threads
from bot.alerts.ids import AlertIds
from bot.alerts.values import AlertRef, SnoozeChoice, actions_block_id, alert_of_block
from bot.scoring.scorecard import load_scorecard
from bot.settings import Settings
from bot.slack.blocks import validate_blocks
from bot.slack.values import encode
from storage import alerts, outbox
from storage.db import session_factory, unit_of_work
from storage.models import Account, Alert, AlertEvent, HealthScore, OutboxMessage
from storage.types import Driver, ScoreParts
from tests.conftest import BotServer
from tests.fake_slack import FakeSlack

TIERS = load_scorecard().tiers
TZ = ZoneInfo("Europe/Berlin")
DAY = date(2026, 6, 30)
DUE = datetime(2026, 6, 30, 14, 0, tzinfo=UTC)
CHANNEL = "C0ALERTS01"
ROOT_TS = "1700000000.000100"
OWNER, CLAIMER, OTHER, LEAD = "U0OWNER01", "U0CLAIM01", "U0OTHER01", "U0LEAD001"


def _account(**kw: object) -> Account:
    return Account(**{"id": 42, "external_id": "ACC-0042", "name": "Acme <Corp>", "owner_slack_id": OWNER,
                      "segment": "enterprise", "mrr": 12500.0, **kw})  # fmt: skip


def _score(**kw: object) -> HealthScore:
    parts = ScoreParts(
        groups={"product_usage": 30.0},
        drivers=[Driver(measure="logins_trend", group="product_usage", points=-12.3, reason="logins -62 % vs prior")],
        coverage=1.0,
    )
    return HealthScore(**{"account_id": 42, "day": DAY, "score": 37.4, "tier": "high_risk", "delta_7": -12.2,
                          "parts": parts, **kw})  # fmt: skip


FIRINGS = {
    "tier_dropped": {"words": "tier dropped from Medium risk to High risk (score 37 that day)", "severity": "high_risk",
                     "since": "2026-06-30", "last": "2026-06-30"},
    "silence": {"words": "no logins for 9 days", "severity": "medium_risk", "since": "2026-06-28",
                "last": "2026-06-30"},
}  # fmt: skip


def _alert(**kw: object) -> Alert:
    return Alert(**{"id": 7, "account_id": 42, "severity": "high_risk", "opened_on": DAY, "last_fired_on": DAY,
                    "due_at": DUE, "channel": CHANNEL, "firings": FIRINGS, **kw})  # fmt: skip


def mrkdwn(text: str) -> dict:
    return {"type": "mrkdwn", "text": text}


def plain(text: str) -> dict:
    return {"type": "plain_text", "text": text, "emoji": True}


def btn(text: str, action_id: str, value: str, **extra: str) -> dict:
    return {"type": "button", "text": plain(text), "action_id": action_id, "value": value, **extra}


REF = encode(AlertRef(alert_id=7))
TITLE = {
    "type": "section",
    "text": mrkdwn(":red_circle: *Risk alert:* *Acme &lt;Corp&gt;*  ·  *High risk*  ·  score *37* (-12 in 7 days)"),
}
WHY = {
    "type": "section",
    "text": mrkdwn(
        "*Why*\n• no logins for 9 days (since 2026-06-28)\n"
        "• tier dropped from Medium risk to High risk (score 37 that day) (since 2026-06-30)"
    ),
}
DRIVERS = {"type": "section", "text": mrkdwn("*What pulls the score down*\n• logins -62 % vs prior  _(-12 pts)_")}
FACTS = {
    "type": "section",
    "fields": [mrkdwn("*Respond within 4 hours*: due Tue 30 Jun 16:00 CEST"), mrkdwn(f"*Owner*: <@{OWNER}>")],
}
PLAYBOOK = {
    "type": "section",
    "text": mrkdwn(
        "*Playbook (High risk)*\n• Form a save team: CSM, sales, product and an executive\n"
        "• Prepare a tailored save offer (discount period, free module, dedicated support)\n"
        "• Arrange an executive visit for high-value accounts"
    ),
}
SNOOZE = {
    "type": "static_select",
    "action_id": "alert.snooze",
    "placeholder": plain("Snooze…"),
    "options": [
        {"text": plain("Snooze 1 day"), "value": '{"alert_id":7,"until":"1d"}'},
        {"text": plain("Snooze 7 days"), "value": '{"alert_id":7,"until":"7d"}'},
        {"text": plain("Until the tier changes"), "value": '{"alert_id":7,"until":"tier"}'},
    ],
}
OPEN_BUTTONS = {
    "type": "actions",
    "block_id": 'alert.actions|{"alert_id":7}',
    "elements": [
        btn("Claim", "alert.claim", REF, style="primary"),
        SNOOZE,
        btn("Open card", "alert.open", REF),
        btn("Brief me", "alert.brief", REF),
    ],
}
CLAIMED_BUTTONS = {
    "type": "actions",
    "block_id": 'alert.actions|{"alert_id":7}',
    "elements": [
        btn("Release", "alert.release", REF),
        {"type": "users_select", "action_id": "alert.reassign", "placeholder": plain("Reassign to…")},
        btn("Resolve", "alert.resolve", REF),
        btn("Open card", "alert.open", REF),
        btn("Brief me", "alert.brief", REF),
    ],
}


def ctx(text: str) -> dict:
    return {"type": "context", "elements": [mrkdwn(text)]}


def draw(alert: Alert, score: HealthScore | None = None, cs_lead: str | None = None) -> messages.Message:
    view = messages.AlertView(alert, _account(), score if score is not None else _score())
    return messages.root(view, TIERS, TZ, cs_lead)


# --- builders: whole payloads, every state ---------------------------------------------------------------------


def test_root_open() -> None:
    message = draw(_alert())
    assert message.text == ":red_circle: Risk alert: Acme &lt;Corp&gt; is High risk (score 37, -12 in 7 days)"
    assert message.blocks == [
        TITLE, WHY, DRIVERS, FACTS, PLAYBOOK,
        ctx(":hourglass_flowing_sand: Unclaimed: respond by Tue 30 Jun 16:00 CEST"), OPEN_BUTTONS,
    ]  # fmt: skip


def test_root_claimed() -> None:
    message = draw(_alert(claimed_by=CLAIMER, claimed_at=datetime(2026, 6, 30, 10, 5, tzinfo=UTC)))
    assert message.blocks == [
        TITLE, WHY, DRIVERS, FACTS, PLAYBOOK, ctx(f":raising_hand: Claimed by <@{CLAIMER}> at Tue 30 Jun 12:05 CEST"),
        CLAIMED_BUTTONS,
    ]  # fmt: skip


def test_root_snoozed_for_days_and_until_the_tier_changes() -> None:
    until = draw(_alert(snoozed_until=datetime(2026, 7, 1, 10, 0, tzinfo=UTC)))
    assert until.blocks is not None and until.blocks[-2] == ctx(
        ":hourglass_flowing_sand: Unclaimed: respond by Tue 30 Jun 16:00 CEST\n"
        ":zzz: Snoozed until Wed 01 Jul 12:00 CEST"
    )
    assert until.blocks[-1] == OPEN_BUTTONS
    tier = draw(_alert(snoozed_tier="high_risk"))
    assert tier.blocks is not None
    assert tier.blocks[-2]["elements"][0]["text"].endswith(":zzz: Snoozed until the tier changes from High risk")


def test_root_escalated_shows_the_level_and_who_was_told() -> None:
    at = datetime(2026, 6, 30, 14, 5, tzinfo=UTC)
    one = draw(_alert(escalation_level=1, escalated_at=at), cs_lead="S0CSLEADS")
    assert one.blocks is not None and one.blocks[-2] == ctx(
        ":hourglass_flowing_sand: Unclaimed: respond by Tue 30 Jun 16:00 CEST\n"
        ":rotating_light: Escalated at Tue 30 Jun 16:05 CEST: unclaimed past its response time, "
        "<!subteam^S0CSLEADS> told"
    )
    two = draw(_alert(escalation_level=2, escalated_at=at), cs_lead=LEAD)
    assert two.blocks is not None
    assert "second level" in two.blocks[-2]["elements"][0]["text"]
    assert f"<@{LEAD}>" in two.blocks[-2]["elements"][0]["text"]


def test_root_resolved_keeps_only_open_card() -> None:
    at = datetime(2026, 7, 2, 9, 0, tzinfo=UTC)
    message = draw(_alert(status="resolved", outcome="false_alarm", resolved_by=CLAIMER, resolved_at=at,
                          claimed_by=CLAIMER))  # fmt: skip
    assert message.blocks == [
        TITLE, WHY, DRIVERS, FACTS,
        ctx(f":white_check_mark: Resolved as *false alarm* by <@{CLAIMER}> at Thu 02 Jul 11:00 CEST"),
        {"type": "actions", "block_id": 'alert.actions|{"alert_id":7}',
         "elements": [btn("Open card", "alert.open", REF)]},
    ]  # fmt: skip
    recovered = draw(_alert(status="resolved", outcome="recovered", resolved_by="healthbot", resolved_at=at))
    assert recovered.blocks is not None
    assert recovered.blocks[-2] == ctx(":white_check_mark: Resolved at Thu 02 Jul 11:00 CEST: *recovered*")


def test_root_without_a_score() -> None:
    view = messages.AlertView(_alert(), _account(owner_slack_id=None), None)
    message = messages.root(view, TIERS, TZ)
    assert message.text == ":red_circle: Risk alert: Acme &lt;Corp&gt; is High risk (no score yet)"
    assert message.blocks is not None
    assert (
        message.blocks[0]["text"]["text"]
        == ":red_circle: *Risk alert:* *Acme &lt;Corp&gt;*  ·  *High risk*  ·  no score yet"
    )
    assert message.blocks[2]["fields"][1] == mrkdwn("*Owner*: no owner")


def test_replies_dm_and_modal() -> None:
    joined = messages.joined_reply(["no logins for 9 days", "payment <30> days overdue"])
    assert joined.text == "New on this alert: no logins for 9 days; payment &lt;30&gt; days overdue"
    assert joined.blocks == [
        {
            "type": "section",
            "text": mrkdwn(
                ":heavy_plus_sign: *New on this alert*\n• no logins for 9 days\n• payment &lt;30&gt; days overdue"
            ),
        }
    ]
    esc1 = messages.escalated_reply(1, "S0CSLEADS", OWNER, DUE, TZ)
    assert esc1.text == (":rotating_light: <!subteam^S0CSLEADS>: this alert is unclaimed past its response time "
                         f"(due Tue 30 Jun 16:00 CEST). <@{OWNER}>, can you take it?")  # fmt: skip
    esc2 = messages.escalated_reply(2, LEAD, None, DUE, TZ)
    assert esc2.text == (f":rotating_light: <@{LEAD}>: still unclaimed, second escalation "
                         "(it was due Tue 30 Jun 16:00 CEST).")  # fmt: skip
    assert messages.resolved_reply("saved", CLAIMER).text == f":white_check_mark: Resolved as *saved* by <@{CLAIMER}>."
    assert messages.resolved_reply("recovered", "healthbot").text == ":white_check_mark: Resolved: *recovered*."
    dm = messages.owner_dm(messages.AlertView(_alert(), _account(), _score()), TIERS, TZ)
    assert dm.text == f":red_circle: Your account Acme &lt;Corp&gt; has a risk alert in <#{CHANNEL}>"
    assert dm.blocks == [{"type": "section", "text": mrkdwn(
        f":red_circle: Your account *Acme &lt;Corp&gt;* has a risk alert in <#{CHANNEL}>: *High risk*, respond by "
        "Tue 30 Jun 16:00 CEST. Claim it in the thread.\n"
        "Why: no logins for 9 days; tier dropped from Medium risk to High risk (score 37 that day)")}]  # fmt: skip
    for m in (joined, esc1, esc2, dm):
        validate_blocks(m.blocks or [])
    modal = messages.resolve_modal(7, "Acme")
    View(**modal).validate_json()
    assert modal["callback_id"] == "alert.resolve.modal" and modal["private_metadata"] == REF
    radios = modal["blocks"][1]["element"]
    assert [o["value"] for o in radios["options"]] == ["saved", "churned", "false_alarm"]
    assert [o["text"]["text"] for o in radios["options"]] == ["saved", "churned", "false alarm"]
    assert modal["blocks"][2]["optional"] is True


def test_values_round_trip_and_refuse_forgeries() -> None:
    assert alert_of_block(actions_block_id(7)) == AlertRef(alert_id=7)
    for forged in ("alert.actions", 'health.card|{"alert_id":7}', 'alert.actions|{"alert_id":"7"}', "alert.actions|x"):
        with pytest.raises(ValueError):  # pydantic's ValidationError is a ValueError
            alert_of_block(forged)
    assert SnoozeChoice(alert_id=7, until="tier").until == "tier"


def test_a_long_firing_list_still_validates() -> None:
    many = {f"r{i}": {"words": "x" * 200, "since": "2026-06-01"} for i in range(40)}
    message = draw(_alert(firings=many))
    assert message.blocks is not None and len(message.blocks) <= 50


# --- through signed HTTP and the fake Slack -------------------------------------------------------------------


def make_alert(engine: Engine, **kw: object) -> int:
    """An account, its score and an open alert whose root was posted (sent, with its ts)."""
    with unit_of_work(session_factory(engine)) as s:
        account = _account(id=None)
        s.add(account)
        s.flush()
        s.add(_score(account_id=account.id))
        alert = alerts.create(s, _alert(id=None, account_id=account.id, **kw))
        view = threads.load_view(s, alert.id or 0)
        assert view is not None
        threads.post_root(s, view, TIERS, ZoneInfo("UTC"))
        row = outbox.get(s, threads.root_key(alert.id or 0))
        assert row is not None
        outbox.mark_sent(s, [(row.id or 0, ROOT_TS, CHANNEL)])
        return alert.id or 0


def stored(engine: Engine, alert_id: int) -> Alert:
    with unit_of_work(session_factory(engine)) as s:
        alert = alerts.get(s, alert_id)
        assert alert is not None
        s.expunge(alert)
        return alert


def events(engine: Engine, alert_id: int) -> list[tuple[str, str | None, dict]]:
    with unit_of_work(session_factory(engine)) as s:
        return [(e.kind, e.actor, dict(e.detail)) for e in alerts.history(s, alert_id)]


def redraw_rows(engine: Engine, alert_id: int) -> list[OutboxMessage]:
    with unit_of_work(session_factory(engine)) as s:
        rows = s.exec(select(OutboxMessage).where(col(OutboxMessage.key).like(f"alert:{alert_id}:v%"))).all()
        for r in rows:
            s.expunge(r)
        return list(rows)


def block_action(server: BotServer, user: str, action: dict, *, response_key: str = "action") -> httpx.Response:
    """A click in the root message (a channel message, not ephemeral)."""
    payload = {
        "type": "block_actions",
        "team": {"id": "T1", "domain": "test"},
        "user": {"id": user, "username": user.lower(), "team_id": "T1"},
        "api_app_id": "A1",
        "token": "legacy",
        "container": {"type": "message", "message_ts": ROOT_TS, "channel_id": CHANNEL, "is_ephemeral": False},
        "trigger_id": f"1337.{user}",
        "channel": {"id": CHANNEL, "name": "cs-alerts"},
        "message": {"ts": ROOT_TS, "text": "alert"},
        "response_url": server.fake.response_url(response_key),
        "actions": [{"block_id": "b1", "action_ts": "1.2", **action}],
    }
    return server.post_signed(urlencode({"payload": json.dumps(payload)}).encode(), "application/x-www-form-urlencoded")


def click(server: BotServer, user: str, action_id: str, alert_id: int, **kw: str) -> httpx.Response:
    return block_action(server, user, {"type": "button", "action_id": action_id,
                                       "value": encode(AlertRef(alert_id=alert_id))}, **kw)  # fmt: skip


def notes(fake: FakeSlack, key: str = "action") -> list[str]:
    return [c.params.get("text", "") for c in fake.calls_to("response_url") if c.path.endswith(f"/{key}")]


def wait_until(check: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


@pytest.fixture
def lead_server(settings: Settings, engine: Engine, fake_slack: FakeSlack) -> Iterator[BotServer]:
    server = BotServer(dataclasses.replace(settings, cs_lead=LEAD), engine, fake_slack).start()
    yield server
    server.stop()


def test_claim_redraws_the_root_and_a_second_clicker_hears_who_has_it(bot_server: BotServer, engine: Engine) -> None:
    alert_id = make_alert(engine)
    assert click(bot_server, CLAIMER, AlertIds.CLAIM, alert_id).status_code == 200
    update = bot_server.fake.wait_for("chat.update")[0]
    assert update.params["ts"] == ROOT_TS and update.params["channel"] == CHANNEL
    assert f"Claimed by <@{CLAIMER}>" in json.dumps(update.params["blocks"])
    validate_blocks(update.params["blocks"])
    assert stored(engine, alert_id).claimed_by == CLAIMER

    assert click(bot_server, OTHER, AlertIds.CLAIM, alert_id).status_code == 200
    wait_until(lambda: notes(bot_server.fake))
    assert notes(bot_server.fake) == [f"Already claimed by <@{CLAIMER}>."]
    call = bot_server.fake.calls_to("response_url")[-1]
    assert call.params["response_type"] == "ephemeral" and call.params["replace_original"] is False
    assert len(bot_server.fake.calls_to("chat.update")) == 1
    assert stored(engine, alert_id).claimed_by == CLAIMER
    assert [k for k, _, _ in events(engine, alert_id)] == ["opened", "claimed"]


def test_twenty_simultaneous_claims_have_one_winner_and_one_redraw(bot_server: BotServer, engine: Engine) -> None:
    alert_id = make_alert(engine)
    users = [f"U0RACE{i:04d}" for i in range(20)]
    start = threading.Barrier(len(users))
    statuses: list[int] = []

    def go(user: str) -> None:
        start.wait()
        statuses.append(click(bot_server, user, AlertIds.CLAIM, alert_id).status_code)

    workers = [threading.Thread(target=go, args=(u,)) for u in users]
    for w in workers:
        w.start()
    for w in workers:
        w.join(30)
    assert statuses == [200] * 20
    wait_until(lambda: len(notes(bot_server.fake)) == 19 and bot_server.fake.calls_to("chat.update"), timeout=30)
    time.sleep(0.3)  # nothing more arrives
    winner = stored(engine, alert_id).claimed_by
    assert winner in users
    assert sorted(notes(bot_server.fake)) == [f"Already claimed by <@{winner}>."] * 19
    assert [a for k, a, _ in events(engine, alert_id) if k == "claimed"] == [winner]
    assert [r.key for r in redraw_rows(engine, alert_id)] == [f"alert:{alert_id}:v2"]
    updates = bot_server.fake.calls_to("chat.update")
    assert len(updates) == 1 and f"Claimed by <@{winner}>" in json.dumps(updates[0].params["blocks"])


def test_release_and_reassign_only_for_the_claimer_or_the_cs_lead(lead_server: BotServer, engine: Engine) -> None:
    fake = lead_server.fake
    alert_id = make_alert(engine, claimed_by=CLAIMER, claimed_at=DUE)
    click(lead_server, OTHER, AlertIds.RELEASE, alert_id)
    wait_until(lambda: notes(fake))
    assert notes(fake) == [f"Only <@{CLAIMER}> (who claimed it) or the CS lead can release or reassign this alert."]
    reassign = {"type": "users_select", "action_id": AlertIds.REASSIGN, "block_id": actions_block_id(alert_id),
                "selected_user": OTHER}  # fmt: skip
    block_action(lead_server, OTHER, reassign)
    wait_until(lambda: len(notes(fake)) == 2)
    assert stored(engine, alert_id).claimed_by == CLAIMER and not fake.calls_to("chat.update")

    block_action(lead_server, LEAD, reassign)  # the CS lead may
    wait_until(lambda: len(fake.calls_to("chat.update")) == 1)
    assert stored(engine, alert_id).claimed_by == OTHER
    assert f"Claimed by <@{OTHER}>" in json.dumps(fake.calls_to("chat.update")[0].params["blocks"])

    click(lead_server, OTHER, AlertIds.RELEASE, alert_id)  # the claimer may
    wait_until(lambda: len(fake.calls_to("chat.update")) == 2)
    after = stored(engine, alert_id)
    assert after.claimed_by is None and after.version == 3
    assert "Unclaimed" in json.dumps(fake.calls_to("chat.update")[1].params["blocks"])
    assert [(k, a) for k, a, _ in events(engine, alert_id)][1:] == [("reassigned", LEAD), ("released", OTHER)]


def test_a_cs_lead_user_group_is_asked_who_is_in_it(settings: Settings, engine: Engine, fake_slack: FakeSlack) -> None:
    server = BotServer(dataclasses.replace(settings, cs_lead="S0CSLEADS"), engine, fake_slack).start()
    try:
        fake_slack.set_response("usergroups.users.list", {"ok": True, "users": [LEAD]})
        alert_id = make_alert(engine, claimed_by=CLAIMER, claimed_at=DUE)
        click(server, LEAD, AlertIds.RELEASE, alert_id)
        wait_until(lambda: fake_slack.calls_to("chat.update"))
        assert stored(engine, alert_id).claimed_by is None
        assert fake_slack.calls_to("usergroups.users.list")[0].params["usergroup"] == "S0CSLEADS"
    finally:
        server.stop()


def test_snooze_for_a_day_and_until_the_tier_changes(bot_server: BotServer, engine: Engine) -> None:
    alert_id = make_alert(engine)
    select_ = {"type": "static_select", "action_id": AlertIds.SNOOZE, "block_id": actions_block_id(alert_id),
               "selected_option": {"text": plain("Snooze 1 day"),
                                   "value": encode(SnoozeChoice(alert_id=alert_id, until="1d"))}}  # fmt: skip
    before = datetime.now(UTC)
    block_action(bot_server, OTHER, select_)
    wait_until(lambda: bot_server.fake.calls_to("chat.update"))
    until = stored(engine, alert_id).snoozed_until
    assert until is not None
    until = until.replace(tzinfo=UTC) if until.tzinfo is None else until
    assert timedelta(hours=23, minutes=59) < until - before < timedelta(days=1, minutes=1)
    assert ":zzz: Snoozed until" in json.dumps(bot_server.fake.calls_to("chat.update")[0].params["blocks"])
    wait_until(lambda: notes(bot_server.fake))
    assert notes(bot_server.fake)[0].startswith("Snoozed: the thread stays quiet until ")

    select_["selected_option"]["value"] = encode(SnoozeChoice(alert_id=alert_id, until="tier"))
    block_action(bot_server, OTHER, select_)
    wait_until(lambda: len(bot_server.fake.calls_to("chat.update")) == 2)
    after = stored(engine, alert_id)
    assert after.snoozed_tier == "high_risk" and after.snoozed_until is None
    assert "Snoozed until the tier changes from High risk" in json.dumps(
        bot_server.fake.calls_to("chat.update")[1].params["blocks"]
    )


def test_open_card_answers_privately(bot_server: BotServer, engine: Engine) -> None:
    alert_id = make_alert(engine)
    click(bot_server, OTHER, AlertIds.OPEN_CARD, alert_id)
    call = bot_server.fake.wait_for("response_url")[0]
    assert call.params["response_type"] == "ephemeral" and call.params["replace_original"] is False
    assert "Acme &lt;Corp&gt;" in json.dumps(call.params["blocks"])
    assert not bot_server.fake.calls_to("chat.update")


def test_forged_values_are_answered_not_run(bot_server: BotServer, engine: Engine) -> None:
    alert_id = make_alert(engine)
    block_action(bot_server, OTHER, {"type": "button", "action_id": AlertIds.CLAIM, "value": '{"alert_id":"1"}'})
    block_action(bot_server, OTHER, {"type": "users_select", "action_id": AlertIds.REASSIGN, "block_id": "b1",
                                     "selected_user": OTHER})  # fmt: skip
    wait_until(lambda: len(notes(bot_server.fake)) == 2)
    assert all("out of date" in n for n in notes(bot_server.fake))
    assert stored(engine, alert_id).claimed_by is None


def submit(server: BotServer, user: str, alert_id: int, outcome: str | None, note: str | None) -> httpx.Response:
    values: dict = {
        AlertIds.OUTCOME_BLOCK: {AlertIds.OUTCOME: {"type": "radio_buttons", "selected_option":
                                 {"text": plain(outcome), "value": outcome} if outcome else None}},
        AlertIds.NOTE_BLOCK: {AlertIds.NOTE: {"type": "plain_text_input", "value": note}},
    }  # fmt: skip
    payload = {
        "type": "view_submission",
        "team": {"id": "T1", "domain": "test"},
        "user": {"id": user, "username": user.lower(), "team_id": "T1"},
        "api_app_id": "A1",
        "token": "legacy",
        "trigger_id": "1337.submit",
        "view": {**messages.resolve_modal(alert_id, "Acme"), "id": "V1", "state": {"values": values}},
    }
    return server.post_signed(urlencode({"payload": json.dumps(payload)}).encode(), "application/x-www-form-urlencoded")


def test_resolve_opens_the_modal_validates_inline_and_stores_the_outcome(bot_server: BotServer, engine: Engine) -> None:
    fake = bot_server.fake
    alert_id = make_alert(engine, claimed_by=CLAIMER, claimed_at=DUE)
    click(bot_server, CLAIMER, AlertIds.RESOLVE, alert_id)
    opened = fake.wait_for("views.open")[0]
    assert opened.params["trigger_id"] == f"1337.{CLAIMER}"
    assert opened.params["view"]["callback_id"] == AlertIds.RESOLVE_MODAL

    click(bot_server, OTHER, AlertIds.RESOLVE, alert_id)  # not theirs: no modal, a note
    wait_until(lambda: notes(fake))
    assert notes(fake) == [f"Only <@{CLAIMER}> (who claimed it) or the CS lead can resolve this alert."]
    assert len(fake.calls_to("views.open")) == 1

    answer = submit(bot_server, CLAIMER, alert_id, None, "x" * 1001)
    assert answer.status_code == 200
    assert answer.json() == {"response_action": "errors", "errors": {
        AlertIds.OUTCOME_BLOCK: "Pick an outcome.",
        AlertIds.NOTE_BLOCK: "Keep the note under 1000 characters (it has 1001)."}}  # fmt: skip
    forged = submit(bot_server, CLAIMER, alert_id, "recovered", None)  # only the job resolves as recovered
    assert forged.json()["errors"] == {AlertIds.OUTCOME_BLOCK: "Pick an outcome."}
    other = submit(bot_server, OTHER, alert_id, "saved", None)
    assert other.json()["errors"] == {
        AlertIds.OUTCOME_BLOCK: f"Only <@{CLAIMER}> (who claimed it) or the CS lead can resolve this alert."
    }
    assert stored(engine, alert_id).status == "open"

    done = submit(bot_server, CLAIMER, alert_id, "false_alarm", "  They were on holiday.  ")
    assert done.status_code == 200 and not done.content  # a plain ack closes the modal
    after = stored(engine, alert_id)  # stored before the ack
    assert (after.status, after.outcome, after.resolved_by) == ("resolved", "false_alarm", CLAIMER)
    assert events(engine, alert_id)[-2:] == [
        ("resolved", CLAIMER, {"outcome": "false_alarm"}), ("note", CLAIMER, {"text": "They were on holiday."})
    ]  # fmt: skip
    wait_until(lambda: fake.calls_to("chat.update") and fake.calls_to("chat.postMessage"))
    assert "Resolved as *false alarm*" in json.dumps(fake.calls_to("chat.update")[0].params["blocks"])
    reply = fake.calls_to("chat.postMessage")[0]
    assert reply.params["thread_ts"] == ROOT_TS and reply.params["channel"] == CHANNEL
    assert reply.params["text"] == f":white_check_mark: Resolved as *false alarm* by <@{CLAIMER}>."

    again = submit(bot_server, CLAIMER, alert_id, "saved", None)
    assert again.json()["errors"] == {AlertIds.OUTCOME_BLOCK: "This alert is already resolved."}
    click(bot_server, OTHER, AlertIds.CLAIM, alert_id)
    wait_until(lambda: len(notes(fake)) == 2)
    assert notes(fake)[-1] == "This alert is already resolved."


def test_threads_keys_make_replays_change_nothing(engine: Engine) -> None:
    alert_id = make_alert(engine)
    sessions = session_factory(engine)
    for _ in range(2):
        with unit_of_work(sessions) as s:
            threads.redraw(s, alert_id, TIERS, TZ)  # version 1: the root already shows it; still one row
            alert = alerts.get(s, alert_id)
            assert alert is not None
            threads.reply(s, alert, "joined:2026-06-30", lambda: messages.joined_reply(["no logins for 9 days"]))
            view = threads.load_view(s, alert_id)
            assert view is not None
            threads.dm_owner(s, view, TIERS, TZ)
    with unit_of_work(sessions) as s:
        keys = sorted(r.key for r in s.exec(select(OutboxMessage)).all())
        dm = outbox.get(s, threads.dm_key(alert_id))
        assert dm is not None and dm.channel == OWNER
        reply = outbox.get(s, threads.reply_key(alert_id, "joined:2026-06-30"))
        assert reply is not None and reply.thread_key == threads.root_key(alert_id)
    assert keys == sorted([f"alert:{alert_id}:root", f"alert:{alert_id}:v1", f"alert:{alert_id}:dm",
                           f"alert:{alert_id}:reply:joined:2026-06-30"])  # fmt: skip
    _ = AlertEvent


def test_a_playbook_worse_than_the_accounts_tier_says_which_rule_called_for_it() -> None:
    """ "Risk alert: Vanguard Hotels is Medium risk" over "Playbook (High risk)" and a 4-hour SLA read as a
    contradiction: the playbook is the alert's severity, set by a rule (champion left), and the root says so."""
    firings = {"champion": {"words": "champion left today", "severity": "high_risk", "since": "2026-06-30",
                            "last": "2026-06-30"}}  # fmt: skip
    root = draw(_alert(firings=firings), _score(score=49.2, tier="medium_risk"))
    text = "\n".join(b["text"]["text"] for b in root.blocks or [] if b.get("type") == "section" and "text" in b)
    assert "*Playbook (High risk)*: the account is Medium risk, but champion left today calls for the High risk" in text
    same = draw(_alert())  # the account's own tier: the plain heading
    assert "*Playbook (High risk)*\n" in "\n".join(
        b["text"]["text"] for b in same.blocks or [] if b.get("type") == "section" and "text" in b
    )


def test_a_dm_past_its_alert_limit_still_counts_the_tasks_it_does_not_draw() -> None:
    """Past DM_ALERTS new alerts a DM names the rest in a line; their tasks are in no other DM, so that line says
    how many there are and where they are."""
    from storage.models import Task

    news = []
    for k in range(messages.DM_ALERTS + 2):
        alert = _alert(id=100 + k)
        task = Task(id=k, alert_id=100 + k, account_id=42, playbook="high_risk", step=1, title="Call them",
                    owner_role="CSM", assignee="U0CSM00001", due_at=DUE)  # fmt: skip
        news.append(messages.NewAlert(messages.AlertView(alert, _account(name=f"Acme {k}"), _score()), [task]))
    dm = messages.person_dm(news, [], TIERS, TZ)
    validate_blocks(dm.blocks or [])
    last = (dm.blocks or [])[-2]["text"]["text"]  # before the footer about tasks
    assert "…and 2 more new alerts, with 2 more tasks for you (all in `/health tasks`)" in last, last
