"""The alert job's first run and its message budget (the rules' `[budget]`), counted against the fake Slack: one
"where we start" message per alert channel, one DM per person, a button per account that opens its alert as a
normal alert; later runs open at most the budget of threads per channel and day and list the rest, held back,
never dropped; a listed account neither floods nor vanishes on the days after."""

from __future__ import annotations

import json
import time as clock
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from slack_sdk.models.blocks import Block
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.alerts import signals
from bot.alerts.ids import ListingIds
from bot.alerts.messages import LISTING_PAGE
from bot.alerts.rules import Rules, RulesError, load_rules
from bot.alerts.values import ListingRef
from bot.calendar import BusinessCalendar
from bot.digest import messages as digest_messages
from bot.digest import service as digest_service
from bot.scoring.scorecard import load_scorecard
from bot.settings import load_settings
from bot.slack import outbox as sender
from bot.slack.blocks import validate_blocks
from bot.slack.client import make_client
from bot.slack.values import decode, encode
from jobs import alerts as job
from storage.db import session_factory, unit_of_work
from storage.models import Account, Alert, AlertListing, HealthScore, OutboxMessage, Task
from tests.conftest import BotServer
from tests.fake_slack import FakeSlack

D0 = date(2026, 3, 2)  # a Monday
MAIN, SAVE_TEAM = "C0ALERTS01", "C0SAVETEAM1"
CSM, OTHER = "U0CSM00001", "U0CSM00002"
TIER = {80: "healthy", 65: "low_risk", 50: "medium_risk", 35: "high_risk"}
RULES = f"""
[routing]
tiers = {{ high_risk = "{SAVE_TEAM}" }}

[[rules]]
name = "dropped"
kind = "tier_dropped"
severity = "medium_risk"

[[rules]]
name = "low_score"
kind = "score_below"
severity = "high_risk"
below = 40
days = 3
"""


def write_rules(tmp_path: Path, text: str = RULES) -> Rules:
    path = tmp_path / "rules.toml"
    path.write_text(text, encoding="utf-8")
    return load_rules(path, load_scorecard())


def day(n: int) -> date:
    return D0 + timedelta(days=n)


def morning(n: int) -> datetime:
    """The morning after day(n): when the job runs for it."""
    return datetime.combine(day(n + 1), time(7), tzinfo=UTC)


def add(engine: Engine, name: str, owner: str | None, values: list[int], first: int = 0, mrr: float = 1000.0) -> int:
    """An account with one score a day from day(first) on."""
    with unit_of_work(session_factory(engine)) as s:
        account = Account(external_id=name, name=f"{name} Inc", name_lower=f"{name.lower()} inc", owner_slack_id=owner,
                          mrr=mrr)  # fmt: skip
        s.add(account)
        s.flush()
        for k, value in enumerate(values):
            s.add(HealthScore(account_id=account.id or 0, day=day(first + k), score=value, tier=TIER[value]))
        return account.id or 0


def run(engine: Engine, rules: Rules, n: int) -> job.AlertRunSummary:
    summary = job.run(engine, rules=rules, scorecard=load_scorecard(), calendar=BusinessCalendar(),
                      alert_channel=MAIN, day=day(n), now=morning(n))  # fmt: skip
    assert summary is not None
    return summary


def drain(engine: Engine, fake: FakeSlack) -> int:
    client = make_client(load_settings(env_file=None, environ={"SLACK_BOT_TOKEN": "xoxb-t",
                                                               "SLACK_API_URL": fake.url}))  # fmt: skip
    return sender.drain(session_factory(engine), client, per_channel_interval=0, max_wait=0).sent


def sent_to(fake: FakeSlack) -> Counter[str]:
    """Messages posted per channel, or per user for a DM."""
    return Counter(c.params["channel"] for c in fake.calls_to("chat.postMessage"))


def buttons(message: dict) -> list[dict]:
    return [b["accessory"] for b in message.get("blocks") or [] if b.get("accessory", {}).get("type") == "button"]


def checked(message: dict) -> dict:
    """The message's blocks parse and validate with slack_sdk.models, within 50 blocks."""
    validate_blocks(message["blocks"])
    for block in message["blocks"]:
        parsed = Block.parse(block)
        assert parsed is not None
        parsed.validate_json()
    return message


def portfolio(engine: Engine) -> dict[str, int]:
    """30 accounts of one CSM already at risk (25 dropped into medium risk, 5 high risk for days), 3 of another."""
    ids = {}
    for k in range(25):
        ids[f"MED{k:02d}"] = add(engine, f"MED{k:02d}", CSM, [80, 80, 80, 50])
    for k in range(5):
        ids[f"HIGH{k}"] = add(engine, f"HIGH{k}", CSM, [35, 35, 35, 35])
    for k in range(3):
        ids[f"OTH{k}"] = add(engine, f"OTH{k}", OTHER, [80, 80, 80, 50])
    ids["CALM"] = add(engine, "CALM", CSM, [80, 80, 80, 80])
    return ids


def test_the_first_run_posts_one_listing_per_channel_and_one_dm_per_person(
    engine: Engine, tmp_path: Path, fake_slack: FakeSlack
) -> None:
    rules = write_rules(tmp_path)
    portfolio(engine)

    summary = run(engine, rules, 3)
    drain(engine, fake_slack)

    assert summary.first_run and summary.opened == [] and len(summary.listed) == 33
    # 28 medium + 5 high accounts at risk: ONE message per alert channel, ONE DM per CSM, nothing else
    assert sent_to(fake_slack) == {MAIN: 1, SAVE_TEAM: 1, CSM: 1, OTHER: 1}
    with Session(engine) as s:
        assert s.exec(select(Alert)).all() == [] and s.exec(select(Task)).all() == []
    main = checked(fake_slack.posted(MAIN)[0])
    assert "Where we start: 28 accounts already at risk" in main["text"]
    assert len(buttons(main)) == 28
    assert {b["action_id"] for b in buttons(main)} == {ListingIds.OPEN}
    refs = [decode(ListingRef, b["value"]) for b in buttons(main)]
    with Session(engine) as s:
        listed = {r.id: r for r in s.exec(select(AlertListing))}
    assert {listed[r.listing_id].channel for r in refs} == {MAIN}
    assert len(buttons(checked(fake_slack.posted(SAVE_TEAM)[0]))) == 5
    dm = checked(fake_slack.posted(f"D{CSM}")[0])
    assert "30 listed accounts" in dm["text"]
    assert "MED00 Inc" in json.dumps(dm["blocks"]) and "HIGH4 Inc" in json.dumps(dm["blocks"])

    assert run(engine, rules, 3).listed == []  # the same day again: nothing new
    assert drain(engine, fake_slack) == 0


def test_a_long_list_is_paginated_within_slacks_limits(engine: Engine, tmp_path: Path, fake_slack: FakeSlack) -> None:
    rules = write_rules(tmp_path)
    for k in range(2 * LISTING_PAGE + 3):
        add(engine, f"ACC{k:03d}", None, [80, 80, 80, 50])

    run(engine, rules, 3)
    drain(engine, fake_slack)

    pages = [checked(m) for m in fake_slack.posted(MAIN)]
    assert [len(buttons(p)) for p in pages] == [LISTING_PAGE, LISTING_PAGE, 3]
    assert all(len(p["blocks"]) <= 50 for p in pages)
    assert [p["text"].split("(")[-1] for p in pages] == ["1 of 3)", "2 of 3)", "3 of 3)"]
    assert sent_to(fake_slack) == {MAIN: 3}  # no owner: no DM


def test_a_tier_drop_the_day_before_the_first_run_is_listed(engine: Engine, tmp_path: Path) -> None:
    """Apex Manufacturing Corp on the demo: Low -> Medium the day before the first run, still Medium."""
    rules = write_rules(tmp_path)
    apex = add(engine, "APEX", CSM, [65, 65, 65, 50, 50])
    with Session(engine) as s:  # an ordinary run compares with the day before only
        assert [
            f for f in signals.evaluate(s.connection(), rules, load_scorecard(), day(4)) if f.account_id == apex
        ] == []

    summary = run(engine, rules, 4)

    assert summary.first_run
    with Session(engine) as s:
        [listing] = s.exec(select(AlertListing)).all()
    assert (
        listing.account_id == apex
        and "tier dropped from Low risk to Medium risk" in listing.firings["dropped"]["words"]
    )


def click_open(server: BotServer, user: str, listing_id: int) -> httpx.Response:
    payload = {
        "type": "block_actions", "team": {"id": "T1", "domain": "test"},
        "user": {"id": user, "username": user.lower(), "team_id": "T1"}, "api_app_id": "A1", "token": "legacy",
        "container": {"type": "message", "message_ts": "1.1", "channel_id": MAIN, "is_ephemeral": False},
        "trigger_id": f"1337.{user}", "channel": {"id": MAIN, "name": "cs-alerts"},
        "message": {"ts": "1.1", "text": "where we start"}, "response_url": server.fake.response_url("open"),
        "actions": [{"block_id": "b1", "action_ts": "1.2", "type": "button", "action_id": str(ListingIds.OPEN),
                     "value": encode(ListingRef(listing_id=listing_id))}],
    }  # fmt: skip
    return server.post_signed(urlencode({"payload": json.dumps(payload)}).encode(), "application/x-www-form-urlencoded")


def all_sent(engine: Engine) -> bool:
    with Session(engine) as s:
        return all(m.status == "sent" for m in s.exec(select(OutboxMessage)))


def wait_until(check: object, timeout: float = 10.0) -> None:
    deadline = clock.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if clock.monotonic() > deadline:
            raise AssertionError("timed out")
        clock.sleep(0.02)


def test_open_alert_opens_it_as_a_normal_alert_once(
    bot_server: BotServer, engine: Engine, tmp_path: Path, fake_slack: FakeSlack
) -> None:
    rules = write_rules(tmp_path)
    acme = add(engine, "ACME", CSM, [80, 80, 80, 50])
    add(engine, "BETA", CSM, [80, 80, 80, 50])
    run(engine, rules, 3)
    drain(engine, fake_slack)
    listing = fake_slack.posted(MAIN)[0]
    with Session(engine) as s:
        acme_listing = s.exec(select(AlertListing).where(AlertListing.account_id == acme)).one()
    before = sent_to(fake_slack)

    assert click_open(bot_server, CSM, acme_listing.id or 0).status_code == 200
    wait_until(lambda: len(fake_slack.calls_to("chat.update")) == 1 and all_sent(engine))

    with Session(engine) as s:
        [alert] = s.exec(select(Alert)).all()
        stored = s.get(AlertListing, acme_listing.id)
        assert stored is not None and (stored.status, stored.alert_id, stored.opened_by) == ("opened", alert.id, CSM)
        assert len(s.exec(select(Task).where(Task.alert_id == alert.id)).all()) == 3
    assert (
        alert.account_id == acme and alert.channel == MAIN and alert.firings["dropped"]["since"] == day(3).isoformat()
    )
    # a normal alert: its root, the task list and the draft in its thread, ONE DM to the owner (alert and tasks)
    new = sent_to(fake_slack) - before
    assert new == {MAIN: 3, CSM: 1}
    root = next(m for m in fake_slack.posted(MAIN) if "Risk alert" in m["text"])
    assert sum(1 for m in fake_slack.posted(MAIN) if m.get("thread_ts") == root["ts"]) == 2
    assert "tasks for you" in fake_slack.posted(f"D{CSM}")[-1]["text"]
    # the listing is redrawn: ACME's button gone, BETA's still there
    [update] = fake_slack.calls_to("chat.update")
    assert update.params["ts"] == listing["ts"]
    redrawn = (
        json.loads(update.params["blocks"]) if isinstance(update.params["blocks"], str) else update.params["blocks"]
    )
    validate_blocks(redrawn)
    assert len([b for b in redrawn if b.get("accessory", {}).get("type") == "button"]) == 1
    assert "Alert opened" in json.dumps(redrawn)

    # a second click opens nothing and says where the alert is
    assert click_open(bot_server, OTHER, acme_listing.id or 0).status_code == 200
    wait_until(lambda: any("already open" in c.params.get("text", "") for c in fake_slack.calls_to("response_url")))
    with Session(engine) as s:
        assert len(s.exec(select(Alert)).all()) == 1
    # the job leaves the open alert to itself: the next day is an ordinary day for it
    assert run(engine, rules, 4).opened == []


def test_days_after_a_listing_neither_flood_nor_drop(engine: Engine, tmp_path: Path, fake_slack: FakeSlack) -> None:
    rules = write_rules(tmp_path)
    for k in range(12):  # listed on the first run (high risk, the save team's channel); low scores every day after
        add(engine, f"OLD{k:02d}", CSM, [35] * 6)
    run(engine, rules, 3)
    drain(engine, fake_slack)
    first = sent_to(fake_slack)
    assert first == {SAVE_TEAM: 1, CSM: 1}

    # day 2: the same accounts still fire: no new message, still listed (the buttons work), no thread
    summary = run(engine, rules, 4)
    assert (summary.opened, summary.listed, summary.still_listed) == ([], [], 12)
    assert drain(engine, fake_slack) == 0
    with Session(engine) as s:
        assert len(s.exec(select(AlertListing).where(AlertListing.status == "listed")).all()) == 12
        assert s.exec(select(Alert)).all() == []

    # day 3: a change: 12 new accounts drop: the budget (10 a channel a day) opens the riskiest, lists the rest
    for k in range(12):
        add(engine, f"NEW{k:02d}", OTHER, [80, 50], first=4, mrr=1000.0 + k)
    summary = run(engine, rules, 5)
    assert len(summary.opened) == 10 and len(summary.listed) == 2 and summary.still_listed == 12
    drain(engine, fake_slack)
    new = sent_to(fake_slack) - first
    # 10 roots, 10 task lists and 10 drafts in their threads, one listing of the 2 held back, one DM to OTHER
    assert new == {MAIN: 31, OTHER: 1}
    with Session(engine) as s:
        held = s.exec(select(AlertListing).where(AlertListing.reason == "budget")).all()
        names = {s.get(Account, h.account_id).name for h in held}  # type: ignore[union-attr]
    assert names == {"NEW00 Inc", "NEW01 Inc"}  # the smallest MRR wait; the listing names them with a button
    held_back = next(m for m in fake_slack.posted(MAIN) if "held back" in m["text"])
    assert len(buttons(checked(held_back))) == 2
    dm = fake_slack.posted(f"D{OTHER}")[-1]
    assert "10 new alerts" in dm["text"] and "2 listed accounts" in dm["text"]

    # listed accounts whose rules stop firing for `recover_days` (7) leave the list (their row says so)
    with unit_of_work(session_factory(engine)) as s:
        for account in s.exec(select(Account)).all():
            value = 35 if account.external_id.startswith("OLD") and account.external_id != "OLD00" else 80
            for n in range(6, 13):
                s.merge(HealthScore(account_id=account.id or 0, day=day(n), score=value, tier=TIER[value]))
    summary = run(engine, rules, 12)
    assert summary.unlisted == 3 and summary.opened == []  # OLD00, NEW00, NEW01
    with Session(engine) as s:
        assert len(s.exec(select(AlertListing).where(AlertListing.status == "listed")).all()) == 11


def test_the_budget_is_in_the_rules_file(tmp_path: Path) -> None:
    default = load_rules()
    assert (default.budget.threads_per_channel_per_day, default.budget.first_run) == (10, "list")
    assert default.budget.one_dm_per_run and default.budget.first_run_days == 7
    with pytest.raises(RulesError) as bad:
        write_rules(tmp_path, '[budget]\nthreads_per_channel_per_day = -1\nfirst_run = "flood"\ndms = 2\n')
    problems = "\n".join(bad.value.problems)
    assert "budget.threads_per_channel_per_day: Input should be greater than or equal to 0" in problems
    assert "budget.first_run: 'flood' is not allowed" in problems
    assert "budget.dms: Extra inputs are not permitted" in problems


def test_the_first_digest_counts_what_the_first_alert_run_did(
    engine: Engine, tmp_path: Path, fake_slack: FakeSlack
) -> None:
    """The alert job ran at 07:00 on the digest's day; the digest at 09:00 counts its alerts, and the reason it
    gives for an account with no thread is the true one."""
    rules = write_rules(tmp_path, '[budget]\nfirst_run = "open"\n' + RULES)
    for k in range(3):
        add(engine, f"ACC{k}", CSM, [80, 80, 80, 80, 80, 80, 80, 50])  # drop into medium risk on day 7
    add(engine, "SLIP", CSM, [80, 80, 80, 80, 80, 80, 80, 65])  # healthy -> low risk: no rule alerts on it
    opened = run(engine, rules, 7)  # runs Tuesday day(8) 07:00
    assert len(opened.opened) == 3

    with Session(engine) as s:
        week = digest_service.collect(s, load_scorecard(), datetime.combine(day(8), time(9), tzinfo=UTC), UTC, rules)
    assert week.opened == 3
    message = digest_messages.digest_message(week, load_scorecard().tiers)
    text = json.dumps(message.blocks)
    assert "3 opened" in text and "none opened" not in text
    assert "SLIP Inc" in text and "noise budget" in text and "UTC" in text


def test_a_listed_move_is_not_blamed_on_the_noise_budget(engine: Engine, tmp_path: Path) -> None:
    rules = write_rules(tmp_path)
    add(engine, "APEX", CSM, [65] * 8 + [50, 50])  # dropped the day before the first run
    run(engine, rules, 9)  # the first run lists it
    with Session(engine) as s:
        week = digest_service.collect(s, load_scorecard(), datetime.combine(day(10), time(9), tzinfo=UTC), UTC, rules)
    text = json.dumps(digest_messages.digest_message(week, load_scorecard().tiers).blocks)
    assert "APEX Inc" in text and "noise budget" not in text and "listed" in text
    assert "Listed without a thread*: 1 account at risk" in text  # what the alert job did, though it opened nothing


def test_listing_rows_of_the_outbox_have_their_keys(engine: Engine, tmp_path: Path) -> None:
    rules = write_rules(tmp_path)
    add(engine, "ACME", CSM, [80, 80, 80, 50])
    run(engine, rules, 3)
    with Session(engine) as s:
        keys = [m.key for m in s.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))]
        [listing] = s.exec(select(AlertListing)).all()
    assert keys == [listing.message_key, f"alerts:dm:{CSM}:l{listing.id}"]
    assert listing.message_key == f"alerts:list:{MAIN}:{listing.id}:p1"


def test_the_listing_builder_draws_each_state_within_limits() -> None:
    from bot.alerts import messages

    tiers = load_scorecard().tiers
    account = Account(id=7, external_id="A7", name="Acme <Corp>", name_lower="acme <corp>", owner_slack_id=CSM)
    firings = {"dropped": {"words": "tier dropped from Low risk to Medium risk (score 50 that day)"}}

    def row(status: str, **kw: object) -> messages.ListingRow:
        listing = AlertListing(id=3, account_id=7, channel=MAIN, severity="medium_risk", reason="first_run",
                               listed_on=day(3), last_fired_on=day(3), firings=firings, message_key="k:p1",
                               status=status, **kw)  # fmt: skip
        return messages.ListingRow(listing, account, None)

    message = messages.listing_message([row("listed"), row("opened", opened_by=OTHER), row("recovered")],
                                       "first_run", 1, 1, 3, tiers, 10)  # fmt: skip
    assert message.text == "Where we start: 3 accounts already at risk"
    blocks = message.blocks or []
    assert blocks[0] == {"type": "section", "text": {"type": "mrkdwn",
                         "text": ":compass: *Where we start: 3 accounts already at risk*"}}  # fmt: skip
    assert blocks[1]["type"] == "context"
    assert blocks[2]["accessory"] == {
        "type": "button", "action_id": "alert.listing.open", "value": encode(ListingRef(listing_id=3)),
        "text": {"type": "plain_text", "text": "Open alert", "emoji": True},
    }  # fmt: skip
    assert "Acme &lt;Corp&gt;" in blocks[2]["text"]["text"] and f"<@{CSM}>" in blocks[2]["text"]["text"]
    assert "accessory" not in blocks[3] and f"Alert opened (<@{OTHER}>)" in blocks[3]["text"]["text"]
    assert "accessory" not in blocks[4] and "No longer firing" in blocks[4]["text"]["text"]
    with pytest.raises(ValueError):
        messages.listing_message([row("listed")] * (LISTING_PAGE + 1), "budget", 1, 1, 46, tiers, 10)


def test_a_listed_account_reads_its_tier_in_the_dm_as_in_the_list(
    engine: Engine, tmp_path: Path, fake_slack: FakeSlack
) -> None:
    """A rule's severity may be a worse tier than the account's: a DM that called a Medium-risk account (score 50)
    "High risk" contradicted the channel's list beside it. Both show the account's tier."""
    rules = write_rules(tmp_path, RULES.replace("below = 40", "below = 60"))  # severity high_risk, fires on 50
    add(engine, "MID", CSM, [50, 50, 50, 50])

    run(engine, rules, 3)
    drain(engine, fake_slack)

    dm = json.dumps(checked(fake_slack.posted(f"D{CSM}")[0])["blocks"])
    assert "MID Inc: Medium risk" in dm and "High risk" not in dm
    listing = json.dumps(checked(fake_slack.posted(SAVE_TEAM)[0])["blocks"])
    assert "Medium risk" in listing and "score 50" in listing


def test_a_listed_row_says_when_hysteresis_holds_its_tier() -> None:
    """ "score 37 · Medium risk" beside each other contradict without a word (issue 18): the list says so, as the
    card does (prompts/health.toml [held])."""
    from bot.alerts import messages

    tiers = load_scorecard().tiers
    account = Account(id=7, external_id="A7", name="Acme", name_lower="acme", owner_slack_id=CSM)
    listing = AlertListing(id=3, account_id=7, channel=MAIN, severity="medium_risk", reason="first_run",
                           listed_on=day(3), last_fired_on=day(3), firings={}, message_key="k:p1")  # fmt: skip
    held = HealthScore(account_id=7, day=day(3), score=38.5, tier="medium_risk")
    message = messages.listing_message([messages.ListingRow(listing, account, held)], "first_run", 1, 1, 1, tiers, 10)
    row = (message.blocks or [])[2]["text"]["text"]
    assert "Medium risk (held: " in row and "score 38" in row, row


def test_the_digest_blames_a_cooldown_only_when_the_rule_for_the_move_is_in_its_own(
    engine: Engine, tmp_path: Path
) -> None:
    """A resolved alert of another rule (score below 40) put no tier_dropped rule in its cooldown: the digest
    said "inside a rule's cooldown" for any resolved alert of the account. The reason is the alert job's."""
    rules = write_rules(tmp_path, '[budget]\nfirst_run = "open"\n' + RULES)
    cool = add(engine, "COOL", CSM, [80] * 7 + [50])  # moves into medium risk on day 7, no alert run since
    with unit_of_work(session_factory(engine)) as s:
        s.add(Alert(account_id=cool, severity="high_risk", opened_on=day(-9), last_fired_on=day(-8),
                    due_at=morning(-9), channel=MAIN, status="resolved", resolved_at=morning(-6), outcome="recovered",
                    firings={"low_score": {"words": "score below 40 for 3 days", "since": str(day(-9))}}))  # fmt: skip
    with Session(engine) as s:
        week = digest_service.collect(s, load_scorecard(), datetime.combine(day(8), time(9), tzinfo=UTC), UTC, rules)
    text = json.dumps(digest_messages.digest_message(week, load_scorecard().tiers).blocks, ensure_ascii=False)
    assert "COOL Inc: Healthy → Medium risk" in text and "cooldown" not in text

    with unit_of_work(session_factory(engine)) as s:  # its own rule resolved 11 days before: inside its 14
        s.add(Alert(account_id=cool, severity="medium_risk", opened_on=day(-9), last_fired_on=day(-8),
                    due_at=morning(-9), channel=MAIN, status="resolved", resolved_at=morning(-5), outcome="recovered",
                    firings={"dropped": {"words": "tier dropped", "since": str(day(-9))}}))  # fmt: skip
    with Session(engine) as s:
        week = digest_service.collect(s, load_scorecard(), datetime.combine(day(8), time(9), tzinfo=UTC), UTC, rules)
    assert "cooldown" in json.dumps(digest_messages.digest_message(week, load_scorecard().tiers).blocks)


def test_one_dm_per_person_holds_without_the_owner_dm(engine: Engine, tmp_path: Path, fake_slack: FakeSlack) -> None:
    """`[routing] dm_owner = false` (no alert DM) still gives the owner one DM for the run's tasks, not one per
    alert: their tasks are theirs whether or not the alert itself is DMed."""
    text = '[budget]\nfirst_run = "open"\n' + RULES.replace("[routing]\n", "[routing]\ndm_owner = false\n")
    rules = write_rules(tmp_path, text)
    for k in range(3):
        add(engine, f"ACC{k}", CSM, [80, 80, 80, 50])

    assert len(run(engine, rules, 3).opened) == 3
    drain(engine, fake_slack)

    assert sent_to(fake_slack)[CSM] == 1
    dm = checked(fake_slack.posted(f"D{CSM}")[0])
    assert all(f"ACC{k} Inc" in json.dumps(dm["blocks"]) for k in range(3))


def test_a_listed_account_that_gets_worse_opens_its_alert(engine: Engine, tmp_path: Path) -> None:
    """Listed at Medium risk on the first run, it drops to High risk the next day: a change, not silence (the
    same rule firing again only moved its last day, so the account stayed on the list at its old severity)."""
    rules = write_rules(tmp_path)
    acct = add(engine, "SLIDE", CSM, [80, 80, 80, 50, 35])
    assert run(engine, rules, 3).listed  # the first run lists it
    opened = run(engine, rules, 4)
    with Session(engine) as s:
        (alert,) = s.exec(select(Alert).where(Alert.account_id == acct)).all()
        (listing,) = s.exec(select(AlertListing)).all()
    assert opened.opened == [alert.id] and alert.severity == "high_risk"
    assert listing.status == "opened" and listing.alert_id == alert.id
