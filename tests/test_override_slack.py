"""The card's Override button end to end through signed HTTP and the fake Slack: the modal (views.open with the
click's trigger_id, typed private_metadata), inline errors that write nothing, churned accounts refused, a good
submission stored before the ack with its history kept, the card redrawn privately with the override's author and
expiry, expiry by itself, and the override on the alert's root."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import httpx
import pytest
from slack_sdk.models.views import View
from sqlalchemy import Engine
from sqlmodel import col, select

from bot.alerts import messages as alert_messages
from bot.alerts import threads
from bot.health import override
from bot.health.ids import HealthIds
from bot.health.values import AccountRef, OverrideRef
from bot.scoring.scorecard import load_scorecard
from bot.settings import Settings
from bot.slack.blocks import validate_blocks
from bot.slack.values import decode, encode
from storage import alerts, outbox
from storage.db import session_factory, unit_of_work
from storage.models import Account, Alert, HealthOverride, HealthScore
from storage.types import Driver, ScoreParts
from tests.conftest import BotServer
from tests.fake_slack import FakeSlack

SCORECARD = load_scorecard()
TIERS = SCORECARD.tiers
DAY = date(2026, 6, 30)
CSM, LEAD = "U01CSM0001", "U01LEAD001"
CHANNEL, ROOT_TS = "C0ALERTS01", "1700000000.000100"


def add_account(engine: Engine, name: str = "Acme Corp", **kw: object) -> int:
    with unit_of_work(session_factory(engine)) as s:
        account = Account(external_id=name.upper().replace(" ", "-"), name=name, owner_slack_id=CSM, mrr=1000.0, **kw)
        s.add(account)
        s.flush()
        driver = Driver(measure="logins_trend", group="product_usage", points=-9, reason="logins")
        parts = ScoreParts(groups={"product_usage": 30.0}, coverage=1.0, drivers=[driver])
        s.add(HealthScore(account_id=account.id, day=DAY, score=38.0, tier="high_risk", delta_7=-9.0, parts=parts))
        return account.id or 0


def overrides(engine: Engine, account_id: int) -> list[HealthOverride]:
    with unit_of_work(session_factory(engine)) as s:
        rows = list(
            s.exec(
                select(HealthOverride).where(HealthOverride.account_id == account_id).order_by(col(HealthOverride.id))
            ).all()
        )
        for r in rows:
            s.expunge(r)
        return rows


@pytest.fixture
def server(settings: Settings, engine: Engine, fake_slack: FakeSlack) -> Iterator[BotServer]:
    bot = BotServer(settings, engine, fake_slack, today=DAY).start()
    yield bot
    bot.stop()


def card_of(server: BotServer, text: str = "Acme Corp") -> dict:
    response = server.command(text)
    assert response.status_code == 200
    return response.json()


def buttons(blocks: list[dict], action_id: str) -> list[dict]:
    return [e for b in blocks if b["type"] == "actions" for e in b["elements"] if e["action_id"] == action_id]


def open_modal(server: BotServer, account_id: int, user: str = CSM) -> dict:
    """Click Override on the card; the view Slack was asked to open."""
    before = len(server.fake.calls_to("views.open"))
    server.action(HealthIds.OVERRIDE, encode(AccountRef(account_id=account_id)), user_id=user)
    call = server.fake.wait_for("views.open", before + 1)[-1]
    assert call.params["trigger_id"] == "1337.42.abcd"  # the click's own trigger_id
    return call.params["view"]


def submit(server: BotServer, view: dict, *, tier: str | None, reason: str | None, until: str | None,
           score: str | None = None, user: str = CSM) -> httpx.Response:  # fmt: skip
    """Submit the Override modal as Slack does: its view, with the state of its inputs."""
    values = {
        HealthIds.OVERRIDE_TIER: {HealthIds.OVERRIDE_TIER: {
            "type": "static_select",
            "selected_option": {"text": {"type": "plain_text", "text": tier}, "value": tier} if tier else None}},
        HealthIds.OVERRIDE_REASON: {HealthIds.OVERRIDE_REASON: {"type": "plain_text_input", "value": reason}},
        HealthIds.OVERRIDE_UNTIL: {HealthIds.OVERRIDE_UNTIL: {"type": "datepicker", "selected_date": until}},
        HealthIds.OVERRIDE_SCORE: {HealthIds.OVERRIDE_SCORE: {"type": "number_input", "value": score}},
    }  # fmt: skip
    payload = {
        "type": "view_submission",
        "team": {"id": "T1", "domain": "test"},
        "user": {"id": user, "username": user.lower(), "team_id": "T1"},
        "api_app_id": "A1",
        "token": "legacy",
        "trigger_id": "1337.submit",
        "view": {**view, "id": "V1", "state": {"values": values}},
    }
    return server.post_signed(urlencode({"payload": json.dumps(payload)}).encode(), "application/x-www-form-urlencoded")


def test_the_override_button_opens_the_modal_with_typed_metadata(server: BotServer, engine: Engine) -> None:
    account_id = add_account(engine)
    card = card_of(server)
    [button] = buttons(card["blocks"], HealthIds.OVERRIDE)
    assert decode(AccountRef, button["value"]) == AccountRef(account_id=account_id)

    view = open_modal(server, account_id)
    View(**view).validate_json()
    assert view["callback_id"] == HealthIds.OVERRIDE_MODAL
    ref = decode(OverrideRef, view["private_metadata"])
    assert ref == OverrideRef(account_id=account_id, response_url=server.fake.response_url("action"))
    inputs = {b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"}
    assert set(inputs) == {HealthIds.OVERRIDE_TIER, HealthIds.OVERRIDE_REASON, HealthIds.OVERRIDE_UNTIL,
                           HealthIds.OVERRIDE_SCORE}  # fmt: skip
    assert [o["value"] for o in inputs[HealthIds.OVERRIDE_TIER]["options"]] == list(reversed(TIERS.order))
    assert inputs[HealthIds.OVERRIDE_UNTIL]["initial_date"] == "2026-07-30"  # a month from today
    assert "Acme Corp" in json.dumps(view["blocks"][0])


def test_bad_input_is_answered_inline_and_writes_nothing(server: BotServer, engine: Engine) -> None:
    account_id = add_account(engine)
    view = open_modal(server, account_id)
    answer = submit(server, view, tier="purple", reason="   ", until="2026-06-29", score="140")
    assert answer.status_code == 200
    errors = answer.json()
    assert errors["response_action"] == "errors"
    assert set(errors["errors"]) == {HealthIds.OVERRIDE_TIER, HealthIds.OVERRIDE_REASON, HealthIds.OVERRIDE_UNTIL,
                                     HealthIds.OVERRIDE_SCORE}  # fmt: skip
    assert "purple" in errors["errors"][HealthIds.OVERRIDE_TIER]
    assert "Say why" in errors["errors"][HealthIds.OVERRIDE_REASON]
    assert "2026-06-30" in errors["errors"][HealthIds.OVERRIDE_UNTIL]  # from today on
    assert "0 and 100" in errors["errors"][HealthIds.OVERRIDE_SCORE]
    missing = submit(server, view, tier=None, reason=None, until=None)
    assert set(missing.json()["errors"]) == {HealthIds.OVERRIDE_TIER, HealthIds.OVERRIDE_REASON,
                                             HealthIds.OVERRIDE_UNTIL}  # fmt: skip
    forged = submit(server, {**view, "private_metadata": '{"account_id":"1"}'}, tier="healthy", reason="x",
                    until="2026-07-01")  # fmt: skip
    assert forged.json()["response_action"] == "errors"
    assert overrides(engine, account_id) == []
    assert not server.fake.calls_to("response_url")


def test_a_churned_account_is_refused(server: BotServer, engine: Engine) -> None:
    churned = add_account(engine, "Gone Ltd", status="churned", churned_on=date(2026, 6, 1))
    card = card_of(server, "Gone Ltd")
    assert buttons(card["blocks"], HealthIds.OVERRIDE) == []  # no button on a churned account's card
    server.action(HealthIds.OVERRIDE, encode(AccountRef(account_id=churned)))  # an older card's button
    note = server.fake.wait_for("response_url")[0]
    assert note.params["text"].startswith("Gone Ltd churned on 2026-06-01")
    assert note.params["response_type"] == "ephemeral" and note.params["replace_original"] is False
    assert not server.fake.calls_to("views.open")

    alive = add_account(engine, "Later Gone")
    view = open_modal(server, alive)
    with unit_of_work(session_factory(engine)) as s:  # churns while the modal is open
        account = s.get(Account, alive)
        assert account is not None
        account.status, account.churned_on = "churned", DAY
        s.add(account)
    answer = submit(server, view, tier="healthy", reason="They renewed", until="2026-07-31")
    assert answer.json()["response_action"] == "errors"
    assert "churned on 2026-06-30" in answer.json()["errors"][HealthIds.OVERRIDE_TIER]
    assert overrides(engine, alive) == []


def test_a_good_submission_is_stored_and_the_card_redrawn(server: BotServer, engine: Engine) -> None:
    account_id = add_account(engine)
    view = open_modal(server, account_id)
    done = submit(server, view, tier="healthy", reason="  Champion on parental leave  ", until="2026-07-31")
    assert done.status_code == 200 and not done.content  # a plain ack closes the modal
    [first] = overrides(engine, account_id)  # stored before the ack
    assert (first.tier, first.reason, first.set_by, first.expires_on, first.score, first.cleared_at) == (
        "healthy", "Champion on parental leave", CSM, date(2026, 7, 31), None, None
    )  # fmt: skip
    redrawn = server.fake.wait_for("response_url")[0]
    assert redrawn.path.endswith("/action")  # the card the user clicked
    assert redrawn.params["replace_original"] is True and redrawn.params["response_type"] == "ephemeral"
    validate_blocks(redrawn.params["blocks"])
    assert redrawn.params["blocks"][0]["text"]["text"].endswith(
        f":pushpin: Override by <@{CSM}>: :large_green_circle: *Healthy* until 2026-07-31: _Champion on parental leave_"
    )

    # a second one (any spelling of a tier: the select's value goes through the same resolver) supersedes it
    again = open_modal(server, account_id, user=LEAD)
    tier_input = next(b for b in again["blocks"] if b.get("block_id") == HealthIds.OVERRIDE_TIER)
    assert tier_input["element"]["initial_option"]["value"] == "healthy"  # the current override's
    submit(server, again, tier="Low risk", reason="Renewal signed", until="2026-08-15", score="65", user=LEAD)
    old, new = overrides(engine, account_id)
    assert old.cleared_at is not None and new.cleared_at is None  # history kept: who, when, why
    assert (new.tier, new.set_by, new.score, new.expires_on) == ("low_risk", LEAD, 65.0, date(2026, 8, 15))
    assert new.created_at is not None and old.set_by == CSM and old.reason == "Champion on parental leave"
    shown = card_of(server)["blocks"][0]["text"]["text"]
    assert shown.endswith(
        f":pushpin: Override by <@{LEAD}>: :large_yellow_circle: *Low risk* (65 / 100) until 2026-08-15: "
        "_Renewal signed_"
    )


def test_an_expired_override_no_longer_shows(settings: Settings, engine: Engine, fake_slack: FakeSlack) -> None:
    account_id = add_account(engine)
    with unit_of_work(session_factory(engine)) as s:
        from storage import scores

        scores.set_override(s, account_id, tier="healthy", reason="Pilot", set_by=CSM, expires_on=date(2026, 7, 31))
    for today, shown in ((date(2026, 7, 31), True), (date(2026, 8, 1), False)):
        bot = BotServer(settings, engine, fake_slack, today=today).start()
        try:
            text = card_of(bot)["blocks"][0]["text"]["text"]
            assert ("Override by" in text) is shown, today
        finally:
            bot.stop()


def make_alert(engine: Engine, account_id: int) -> int:
    with unit_of_work(session_factory(engine)) as s:
        due = datetime(2026, 6, 30, 14, tzinfo=UTC)
        alert = alerts.create(s, Alert(account_id=account_id, severity="high_risk", opened_on=DAY, last_fired_on=DAY,
                                       due_at=due, channel=CHANNEL, firings={}))  # fmt: skip
        view = threads.load_view(s, alert.id or 0)
        assert view is not None and view.override is None
        threads.post_root(s, view, TIERS, ZoneInfo("UTC"))
        row = outbox.get(s, threads.root_key(alert.id or 0))
        assert row is not None
        outbox.mark_sent(s, [(row.id or 0, ROOT_TS, CHANNEL)])
        return alert.id or 0


def test_the_alert_root_shows_an_active_override(server: BotServer, engine: Engine) -> None:
    account_id = add_account(engine)
    alert_id = make_alert(engine, account_id)
    view = open_modal(server, account_id)
    submit(server, view, tier="medium", reason="Exec sponsor engaged", until="2026-07-31")
    update = server.fake.wait_for("chat.update")[0]
    assert update.params["ts"] == ROOT_TS and update.params["channel"] == CHANNEL
    validate_blocks(update.params["blocks"])
    state = update.params["blocks"][-2]["elements"][0]["text"]
    assert f":pushpin: Override by <@{CSM}>: :large_orange_circle: *Medium risk* until 2026-07-31" in state
    with unit_of_work(session_factory(engine)) as s:
        assert [e.kind for e in alerts.history(s, alert_id)] == ["opened", "overridden"]


def test_the_root_builder_draws_the_override_in_its_state_lines() -> None:
    account = Account(id=42, external_id="A", name="Acme", owner_slack_id=CSM)
    alert = Alert(id=7, account_id=42, severity="high_risk", opened_on=DAY, last_fired_on=DAY,
                  due_at=datetime(2026, 6, 30, 14, tzinfo=UTC), channel=CHANNEL, firings={})  # fmt: skip
    active = HealthOverride(account_id=42, tier="healthy", reason="<!channel> pilot", set_by=LEAD,
                            expires_on=date(2026, 7, 31))  # fmt: skip
    plain = alert_messages.root(alert_messages.AlertView(alert, account, None), TIERS, ZoneInfo("UTC"))
    drawn = alert_messages.root(alert_messages.AlertView(alert, account, None, active), TIERS, ZoneInfo("UTC"))
    assert plain.blocks is not None and drawn.blocks is not None
    assert drawn.blocks[-2]["elements"][0]["text"] == (
        plain.blocks[-2]["elements"][0]["text"]
        + f"\n:pushpin: Override by <@{LEAD}>: :large_green_circle: *Healthy* until 2026-07-31: "
        "_&lt;!channel&gt; pilot_"
    )


def test_the_modal_builder_validates(engine: Engine) -> None:
    account = Account(id=1, external_id="X", name="<!here> & Co", owner_slack_id=CSM)
    view = override.override_modal(account, None, TIERS, DAY, None)
    View(**view).validate_json()
    assert "&lt;!here&gt; &amp; Co" in json.dumps(view["blocks"][0])
    assert decode(OverrideRef, view["private_metadata"]) == OverrideRef(account_id=1)


def test_an_expired_response_url_sends_the_card_to_the_dm(server: BotServer, engine: Engine) -> None:
    account_id = add_account(engine)
    view = open_modal(server, account_id)
    server.fake.fail_next("response_url", status=404)  # Slack's answer once a response_url has expired
    assert not submit(server, view, tier="healthy", reason="Pilot extended", until="2026-07-31").content
    dm = server.fake.wait_for("chat.postMessage")[0]
    assert dm.params["channel"] == CSM
    assert "Override by" in dm.params["blocks"][0]["text"]["text"]
    assert len(overrides(engine, account_id)) == 1
