"""Injection in Slack messages (issue 19): a portfolio whose every piece of data is hostile (account names such as
`<!channel> Acme` or `<http://evil.test|Acme>`, segments, owners' names from users.info, task titles, reasons,
notes, exit-interview words, metric names) drives the product end to end (the alert job, its deliveries, a claim
through signed HTTP, the task and alert escalations, the digest; `/health` commands, card buttons and the App Home),
and the builders no cheap path reaches are called directly. Every payload Slack would read as mrkdwn (a message's
`text`, every mrkdwn text object of its blocks or views, a file's comment) is then walked: no `<`, `>` or `&` from
data reaches Slack unescaped; the only mentions and links are those the bot builds on purpose (a validated member id,
the alert channel)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.alerts import messages as alert_messages
from bot.alerts.messages import AlertView, Listed, ListingRow, NewAlert
from bot.alerts.rules import Rules, load_rules
from bot.calendar import BusinessCalendar
from bot.churn import analysis as churn
from bot.churn import messages as churn_messages
from bot.churn import periods as churn_periods
from bot.exits import messages as exit_messages
from bot.health import messages as health_messages
from bot.health import override
from bot.health.command import help_text
from bot.retention import messages as retention_messages
from bot.retention import modal as retention_modal
from bot.retention.messages import Draft, Highlight, TaskList
from bot.retention.plays import Period, PlayRate, plays_message
from bot.scoring.scorecard import DEFAULT_PATH, Tiers, load_scorecard
from bot.settings import load_settings
from bot.slack import outbox as sender
from bot.slack.blocks import Message, esc
from bot.slack.client import UserNames, make_client
from jobs import alerts as alert_job
from jobs import digest as digest_job
from jobs import escalations as alert_escalations
from jobs import task_escalations
from storage.db import session_factory, unit_of_work
from storage.models import (
    Account,
    Alert,
    AlertListing,
    ExitInterview,
    ExitInterviewRevision,
    HealthOverride,
    HealthScore,
    MetricObservation,
    OutboxMessage,
    Task,
)
from storage.types import Driver, ScoreParts
from tests.conftest import BOT_TOKEN, SIGNING_SECRET, BotServer
from tests.fake_slack import Call, FakeSlack
from tests.test_e2e_home import home_opened

D0 = date(2026, 3, 2)  # a Monday
CHANNEL = "C0ALERTS01"
OWNER, CLAIMER, LEAD, HEAD, ME = "U0OWNER001", "U0CLAIM001", "U0LEAD0001", "U0HEAD0001", "U01CSM0001"
MEMBERS = (OWNER, CLAIMER, LEAD, HEAD, ME)  # the member ids the bot may mention (validated, from settings or clicks)
UTC_ZONE = ZoneInfo("UTC")
CALENDAR = BusinessCalendar()
TIERS = load_scorecard().tiers
# The team's scorecard names its tiers: its labels are data as well.
HOSTILE_TIERS = TIERS.model_copy(update={"labels": {t: f"<!here> {t} & <b>" for t in TIERS.order}})

# Every way data could ping, link, disguise or restyle: Slack's control sequences, entities typed as text, mrkdwn
# styling, fences, a bidi override. The suffix keeps each name unique (and findable).
HOSTILE = (
    "<!channel> Acme",
    "<http://evil.test|Acme> Beta",
    "@here <!here> Gamma",
    "<@U123> Delta",
    "<!subteam^S1> Epsilon",
    "Kiss &lt;3 &amp; Zeta",
    "*bold* _it_ ~st~ `tick` ```fence``` Eta",
    "<#C0ALERTS01> \u202eTheta",
)
EVIL = "<!channel> <http://evil.test|click> &lt;typed&gt; `x` ```y```"  # any other string from data
EVIL_PERSON = "<!here> Jane <http://evil.test|Doe> & Co"  # an owner's name as their Slack profile gives it
# An entity typed as data (`&lt;3`) must reach Slack as `&amp;lt;3`: were it sent as is, Slack would show a "<".
DATA_ENTITIES = ("&lt;3", "&lt;typed&gt;", "\u202e")
RULES = """
[budget]
first_run = "open"
one_dm_per_run = false

[[rules]]
name = "dropped"
kind = "tier_dropped"
severity = "medium_risk"
"""

# --------------------------------------------------------------------------- the one assertion

OURS = re.compile("|".join([*(f"<@{m}>" for m in MEMBERS), f"<#{CHANNEL}>"]))
QUOTE = re.compile(r"^> ", re.M)  # our templates' block quotes ("> {notes}"): a style, never a ping or a link


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) and value[:1] in "[{" else value


def mrkdwn_strings(node: Any) -> Iterator[str]:
    """Every mrkdwn text object's text under `node` (plain_text is shown as typed: it cannot ping or link)."""
    node = _json(node)
    if isinstance(node, dict):
        if node.get("type") == "mrkdwn" and isinstance(node.get("text"), str):
            yield node["text"]
        for value in node.values():
            yield from mrkdwn_strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from mrkdwn_strings(value)


def read_by_slack(params: dict[str, Any]) -> Iterator[str]:
    """What Slack parses as mrkdwn in one API call or response_url post: the message `text` (mrkdwn unless
    `mrkdwn: false`), a file's `initial_comment`, and every mrkdwn object of its blocks, attachments or view."""
    if isinstance(params.get("text"), str) and params.get("mrkdwn") not in (False, "false"):
        yield params["text"]
    if isinstance(params.get("initial_comment"), str):
        yield params["initial_comment"]
    for key in ("blocks", "attachments", "view"):
        yield from mrkdwn_strings(params.get(key))


def leaks(text: str) -> list[str]:
    """What in `text` Slack would read as markup that the bot did not build: a `<`, `>` or bare `&` left after
    our own mentions, channel links and block quotes, or an entity that came from data."""
    rest = QUOTE.sub("", OURS.sub("", text))
    found = [m.group() for m in re.finditer(r"<[^>]{0,40}>?|>|&(?!(amp|lt|gt);)", rest)]
    return found + [e for e in DATA_ENTITIES if e in text]


def assert_no_leaks(payloads: list[tuple[str, dict[str, Any]]]) -> None:
    bad = [(where, text, found) for where, p in payloads for text in read_by_slack(p) if (found := leaks(text))]
    assert not bad, "\n".join(f"{where}: {found} in {text[:300]!r}" for where, text, found in bad[:30])


def sent(fake: FakeSlack) -> list[tuple[str, dict[str, Any]]]:
    return [(c.method, c.params) for c in fake.calls if c.method not in ("users.info", "auth.test")]


def test_the_rule_catches_what_it_must_and_lets_ours_through() -> None:
    assert leaks(f"<@{OWNER}> in <#{CHANNEL}>: *{esc(HOSTILE[0])}*\n> a note &amp; more") == []
    for name in HOSTILE[:6]:
        assert leaks(f"Playbook tasks for {name}"), name
    assert leaks(f"<@U123> {esc('x')}") and leaks("A & B") and leaks("<#C0OTHER01>")


# --------------------------------------------------------------------------- the portfolio


@pytest.fixture
def rules(tmp_path: Path) -> Rules:
    path = tmp_path / "rules.toml"
    path.write_text(RULES)
    return load_rules(path, load_scorecard())


def day(n: int) -> date:
    return D0 + timedelta(days=n)


def at(d: date, hour: int) -> datetime:
    return datetime(d.year, d.month, d.day, hour, tzinfo=UTC)


def add_portfolio(engine: Engine) -> list[int]:
    """An account per hostile name (every other one without an owner, so a claim gives its tasks), each with a
    hostile segment, stage and domain, scored by a card of the file (odd ones) or a card gone, falling from
    healthy to high risk on day(1) with a hostile driver reason (metric names from the team's files reach Slack
    through it), and 8 weeks of logins."""
    ids = []
    with unit_of_work(session_factory(engine)) as s:
        for i, name in enumerate(HOSTILE):
            account = Account(external_id=f"H-{i}", name=name, name_lower=name.lower(), mrr=1000.0 + i,
                              owner_slack_id=OWNER if i % 2 == 0 else None, segment=EVIL, lifecycle_stage=EVIL,
                              domain=f"{EVIL}.test")  # fmt: skip
            s.add(account)
            s.flush()
            assert account.id is not None
            parts = ScoreParts(drivers=[Driver(measure="logins_trend", points=-12.0, reason=EVIL)],
                               groups={"product_usage": 40.0, "support": 70.0})  # fmt: skip
            for n, (score, tier) in enumerate([(80.0, "healthy"), (35.0, "high_risk")]):
                s.add(HealthScore(account_id=account.id, day=day(n), score=score, tier=tier, parts=parts,
                                  scorecard="default" if i % 2 else EVIL))  # fmt: skip
            for back in range(56):
                s.add(MetricObservation(account_id=account.id, day=day(1) - timedelta(days=back), metric="logins",
                                        value=5.0 if back < 28 else 10.0))  # fmt: skip
            ids.append(account.id)
    return ids


def client_for(fake: FakeSlack) -> Any:
    return make_client(load_settings(env_file=None, environ={"SLACK_BOT_TOKEN": "xoxb-t", "SLACK_API_URL": fake.url}))


def drain(engine: Engine, fake: FakeSlack) -> int:
    return sender.drain(session_factory(engine), client_for(fake), per_channel_interval=0, max_wait=0).sent


def drain_all(engine: Engine, fake: FakeSlack) -> None:
    """Deliver the outbox until every row is sent (the server may be sending some of them meanwhile)."""
    deadline = time.monotonic() + 20
    while True:
        drain(engine, fake)
        with Session(engine) as s:
            left = s.exec(select(OutboxMessage.key).where(OutboxMessage.status != "sent")).all()
        if not left:
            return
        assert time.monotonic() < deadline, f"not delivered: {left}"
        time.sleep(0.05)


def claim(server: BotServer, user: str, alert_id: int, root_ts: str) -> None:
    from urllib.parse import urlencode

    from bot.alerts.ids import AlertIds
    from bot.alerts.values import AlertRef
    from bot.slack.values import encode

    payload = {
        "type": "block_actions", "team": {"id": "T1", "domain": "test"},
        "user": {"id": user, "username": user.lower(), "team_id": "T1"}, "api_app_id": "A1", "token": "legacy",
        "container": {"type": "message", "message_ts": root_ts, "channel_id": CHANNEL, "is_ephemeral": False},
        "trigger_id": f"1337.{user}", "channel": {"id": CHANNEL, "name": "cs-alerts"},
        "message": {"ts": root_ts, "text": "alert"}, "response_url": server.fake.response_url("action"),
        "actions": [{"block_id": "b1", "action_ts": "1.2", "type": "button", "action_id": AlertIds.CLAIM,
                     "value": encode(AlertRef(alert_id=alert_id))}],
    }  # fmt: skip
    body = urlencode({"payload": json.dumps(payload)}).encode()
    assert server.post_signed(body, "application/x-www-form-urlencoded").status_code == 200


# --------------------------------------------------------------------------- end to end: the alert job's messages


def test_an_alert_run_of_hostile_accounts_sends_nothing_that_pings_or_links(
    engine: Engine, rules: Rules, bot_server: BotServer, fake_slack: FakeSlack
) -> None:
    """Roots, task lists, outreach drafts, the owner's DM, a claim's redraws and the claimer's task DM, overdue
    task replies, the alert's escalation replies and the weekly digest (channel and DMs)."""
    profile = {"real_name": EVIL_PERSON, "display_name": EVIL_PERSON}
    fake_slack.set_response("users.info", {"ok": True, "user": {"id": OWNER, "name": "jane", "profile": profile}})
    ids = add_portfolio(engine)
    scorecard = load_scorecard().model_copy(update={"tiers": HOSTILE_TIERS})
    alert_job.run(engine, rules=rules, scorecard=scorecard, calendar=CALENDAR, alert_channel=CHANNEL, day=day(1),
                  now=at(day(2), 7), cs_lead=LEAD, names=UserNames(client_for(fake_slack)))  # fmt: skip
    assert drain(engine, fake_slack) >= 3 * len(HOSTILE)  # a root, a task list and a draft each; DMs
    assert len([m for m in fake_slack.posted(CHANNEL) if m.get("thread_ts")]) >= 2 * len(HOSTILE)

    later = at(day(9), 10)  # every task and alert overdue: replies telling the lead, then the head
    for n in (0, 1):
        task_escalations.run(engine, calendar=CALENDAR, tiers=HOSTILE_TIERS, tz=UTC_ZONE, cs_lead=LEAD, cs_head=HEAD,
                             now=later + timedelta(days=n))  # fmt: skip
        alert_escalations.run(engine, calendar=CALENDAR, tiers=HOSTILE_TIERS, tz=UTC_ZONE, cs_lead=LEAD, cs_head=HEAD,
                              now=later + timedelta(days=n), scorecard=scorecard)  # fmt: skip
    digest_job.run(engine, scorecard=scorecard, alert_channel=CHANNEL, tz=UTC_ZONE, now=at(day(7), 9), rules=rules,
                   dms=True)  # fmt: skip
    assert drain(engine, fake_slack) > 2 * len(HOSTILE)

    with Session(engine) as s:  # last, a claim through signed HTTP (the bot delivers): root and list redrawn, a task DM
        orphan = s.exec(select(Alert).where(Alert.account_id == ids[1])).one().id or 0
    root = next(m for m in fake_slack.posted(CHANNEL) if not m.get("thread_ts") and esc(HOSTILE[1]) in m["text"])
    updates = len(fake_slack.calls_to("chat.update"))
    claim(bot_server, CLAIMER, orphan, root["ts"])
    fake_slack.wait_for("chat.update", updates + 2)
    drain_all(engine, fake_slack)

    methods = {c.method for c in fake_slack.calls}
    assert {"chat.postMessage", "chat.update"} <= methods
    texts = [m["text"] for m in fake_slack.posted()]
    for start in ("Playbook tasks for", "Outreach draft for", "Overdue task", "3 new tasks for"):
        assert any(start in t for t in texts), (start, texts)
    assert_no_leaks(sent(fake_slack))


# --------------------------------------------------------------------------- end to end: commands, cards, Home


@pytest.fixture
def hostile_server(engine: Engine, fake_slack: FakeSlack, tmp_path: Path) -> Iterator[BotServer]:
    """The bot over HTTP with the team's scorecard naming its tiers and groups with markup."""
    text = DEFAULT_PATH.read_text(encoding="utf-8")
    labels = ", ".join(f'{t} = "{HOSTILE_TIERS.label(t)}"' for t in TIERS.order)
    text = re.sub(r"^labels = .*$", f"labels = {{ {labels} }}", text, flags=re.M)
    text = re.sub(r'^label = "(\w+)', r'label = "<!here> \1 & <b>', text, flags=re.M)  # the groups' labels
    path = tmp_path / "scorecard.toml"
    path.write_text(text, encoding="utf-8")
    settings = load_settings(env_file=None, environ={
        "DATABASE_URL": str(engine.url.render_as_string(hide_password=False)), "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": fake_slack.url, "SCORECARD_PATH": str(path),
    })  # fmt: skip
    assert settings.scorecard_path == str(path)
    server = BotServer(settings, engine, fake_slack).start()
    yield server
    server.stop()


def test_commands_cards_and_home_of_hostile_accounts_send_nothing_that_pings_or_links(
    engine: Engine, rules: Rules, hostile_server: BotServer, fake_slack: FakeSlack
) -> None:
    bot_server = hostile_server
    add_portfolio(engine)
    alert_job.run(engine, rules=rules, scorecard=load_scorecard(), calendar=CALENDAR, alert_channel=CHANNEL,
                  day=day(1), now=at(day(2), 7))  # fmt: skip
    answers: list[tuple[str, dict[str, Any]]] = []
    for text, user in [
        ("Acme", OWNER), ("Zeta", OWNER), ("<!channel>", OWNER), ("&lt;!here&gt;", OWNER), ("Kiss", OWNER),
        ("zzz <@U123>", OWNER), ("me", OWNER), ("top", OWNER), ("top 5 high", OWNER), ("tasks", OWNER),
        ("plays", OWNER),
    ]:  # fmt: skip
        resp = bot_server.command(text, user_id=user)
        assert resp.status_code == 200, (text, resp.text)
        if resp.content:
            answers.append((f"/health {text}", resp.json()))
    card = next(body for where, body in answers if where == "/health Zeta")
    shown = json.dumps(card, ensure_ascii=False)  # the team's labels are in use, as text
    assert esc(HOSTILE_TIERS.label("high_risk")) in shown and esc("<!here> Product & <b> usage") in shown
    share = next(e for block in card["blocks"] if block["type"] == "actions" for e in block["elements"])
    bot_server.action(share["action_id"], share["value"], user_id=OWNER)
    fake_slack.wait_for("response_url")
    chart = next(
        e for b in card["blocks"] if b["type"] == "actions" for e in b["elements"] if "chart" in e["action_id"]
    )
    notes = len(fake_slack.calls_to("response_url"))
    bot_server.action(chart["action_id"], chart["value"], user_id=OWNER)  # the chart to my DM, a note where I am
    fake_slack.wait_for("response_url", notes + 1)
    fake_slack.wait_for("files.completeUploadExternal")
    home_opened(bot_server, "EvHostile", user=OWNER)
    fake_slack.wait_for("views.publish")
    assert_no_leaks(answers + sent(fake_slack))


# --------------------------------------------------------------------------- every other builder, called directly


def _task(i: int, status: str = "open", **extra: Any) -> Task:
    now = datetime(2026, 3, 3, 9, tzinfo=UTC)
    return Task(id=i, alert_id=1, account_id=1, playbook="high_risk", step=i, title=EVIL, owner_role=EVIL,
                assignee=[OWNER, None, "<@U123>"][i % 3], due_at=now, status=status, version=1,
                closed_by=CLAIMER if status != "open" else None, closed_at=now if status != "open" else None,
                notes=EVIL if status != "open" else None, next_step=EVIL if status != "open" else None,
                escalation_level=i % 3, **extra)  # fmt: skip


def _builders(tiers: Tiers) -> Iterator[tuple[str, Any]]:
    """Each remaining builder with hostile values (and `tiers`' labels): its name and what it returns."""
    now = datetime(2026, 3, 3, 9, tzinfo=UTC)
    account = Account(id=7, external_id="H-7", name=HOSTILE[0], name_lower="x", owner_slack_id=OWNER, segment=EVIL,
                      lifecycle_stage=EVIL, domain=EVIL, mrr=10.0, status="active")  # fmt: skip
    orphan = Account(id=8, external_id="H-8", name=HOSTILE[1], name_lower="y", owner_slack_id="<@U123>", mrr=1.0)
    parts = ScoreParts(drivers=[Driver(measure="m", points=-3.0, reason=EVIL)], groups={EVIL: 40.0})
    score = HealthScore(account_id=7, day=D0, score=35.0, tier="high_risk", parts=parts, scorecard=EVIL)
    override_row = HealthOverride(id=1, account_id=7, tier="high_risk", score=30.0, reason=EVIL, set_by=OWNER,
                              expires_on=D0 + timedelta(days=9))  # fmt: skip
    alert = Alert(id=1, account_id=7, channel=CHANNEL, severity="high_risk", status="open", version=1,
                  firings={"dropped": {"words": EVIL, "since": "2026-03-02", "severity": "high_risk"}},
                  claimed_by=OWNER, claimed_at=now, due_at=now, escalation_level=1, escalated_at=now)  # fmt: skip
    closed = Alert(id=2, account_id=8, channel=CHANNEL, severity="medium_risk", status="resolved", outcome=EVIL,
                   resolved_by="<@U123>", resolved_at=now, due_at=now, firings={})  # fmt: skip
    view, closed_view = AlertView(alert, account, score, override_row), AlertView(closed, orphan, None)
    tasks = [_task(1), _task(2), _task(3, "done"), _task(4, "not_needed"), _task(5, "escalated")]
    yield "alerts.root", alert_messages.root(view, tiers, UTC_ZONE, EVIL)
    yield "alerts.root (resolved)", alert_messages.root(closed_view, tiers, UTC_ZONE)
    yield "alerts.joined_reply", alert_messages.joined_reply([EVIL, HOSTILE[3]])
    yield "alerts.escalated_reply", alert_messages.escalated_reply(2, EVIL, "<@U123>", now, UTC_ZONE)
    yield "alerts.resolved_reply", alert_messages.resolved_reply(EVIL, "<!channel>")
    yield "alerts.owner_dm", alert_messages.owner_dm(view, tiers, UTC_ZONE)
    yield "alerts.resolve_modal", alert_messages.resolve_modal(1, HOSTILE[0])
    listing = AlertListing(id=1, account_id=7, channel=CHANNEL, severity="high_risk", reason="first_run", listed_on=D0,
                           firings={"r": {"words": EVIL}}, status="opened", opened_by="<@U123>")  # fmt: skip
    rows = [ListingRow(listing, account, score, alert), ListingRow(listing, orphan, None)]
    yield "alerts.listing_message", alert_messages.listing_message(rows, "first_run", 1, 1, 2, tiers, 5)
    many = [NewAlert(view, tasks[:2])] * 22
    yield "alerts.person_dm", alert_messages.person_dm(many, [Listed(EVIL, "high_risk", CHANNEL)], tiers, UTC_ZONE)
    yield "alerts.person_dm (one)", alert_messages.person_dm([NewAlert(view, tasks[:1])], [], tiers, UTC_ZONE)
    yield "retention.task_list", retention_messages.task_list(TaskList(EVIL, EVIL, tasks), tiers, UTC_ZONE, EVIL)
    yield "retention.task_dm", retention_messages.task_dm(EVIL, EVIL, CHANNEL, tasks[:2], tiers, UTC_ZONE)
    yield "retention.overdue_reply", retention_messages.overdue_reply(tasks[0], 2, EVIL, UTC_ZONE)
    highlight = Highlight(EVIL, "sum", 3.0, -0.5, 28)
    yield "retention.outreach", retention_messages.outreach(Draft("save_call", EVIL, OWNER, [EVIL], [highlight], EVIL))
    mine = [retention_modal.TaskRow(t, EVIL) for t in tasks[:2]]
    yield "retention.my_tasks", retention_modal.my_tasks(mine, now, UTC_ZONE)
    yield "retention.home_section", retention_modal.home_section(mine, now, UTC_ZONE)
    yield "retention.done_modal", retention_modal.done_modal(tasks[0], EVIL, UTC_ZONE)
    yield "retention.stale_view", retention_modal.stale_view(retention_modal.stale_text(tasks[2], UTC_ZONE))
    yield "retention.stale_text", retention_modal.stale_text(tasks[0], UTC_ZONE)
    rate = PlayRate(tier="high_risk", alerts=3, claimed_in_sla=1, tasks=3, tasks_on_time=1, saved=1, churned=1,
                    still_open=1)  # fmt: skip
    yield "retention.plays_message", plays_message([rate], tiers, Period(D0, D0 + timedelta(days=90), EVIL))
    card = health_messages.CardData(account, score, [(D0, 40.0), (D0 + timedelta(days=1), 35.0)], override_row)
    yield (
        "health.account_card",
        health_messages.account_card(card, load_scorecard().model_copy(update={"tiers": tiers}), D0, OWNER),
    )
    yield "health.card_text", health_messages.card_text(card, tiers)
    yield "health.chart_failed_text", health_messages.chart_failed_text(EVIL, "<urlopen error <!here>>")
    yield "health.chart_in_dm_text", health_messages.chart_in_dm_text(EVIL)
    interview = ExitInterview(id=1, account_id=7, churned=True, reason=EVIL, avoidable=True, competitor=EVIL,
                              interviewer=OWNER, recorded_by="<@U123>", answers={"why": EVIL, EVIL: EVIL}, note=EVIL,
                              mrr_lost=10.0, created_at=now, updated_at=now, version=2)  # fmt: skip
    history = [ExitInterviewRevision(id=1, interview_id=1, version=1, edited_by=OWNER, at=now)]
    yield "exits.summary", exit_messages.summary(account, interview)
    yield "exits.shown", exit_messages.shown(account, interview, history)
    yield "exits.exit_modal", exit_messages.exit_modal(account, interview, OWNER, D0, note=EVIL)
    yield "exits.notice", exit_messages.notice(esc(EVIL))
    yield "health.override_modal", override.override_modal(account, override_row, tiers, D0, None)
    yield "health.help_text", help_text(tiers)
    period = churn_periods.Period(D0, D0 + timedelta(days=90), EVIL)
    review = churn.ChurnReview(
        period, EVIL, D0, churn.ChurnRate(10, 2, 100.0, 20.0), [EVIL], 1, 1,
        [churn.ReasonRow(EVIL, 1, 1, 1.0)], [churn.Competitor(EVIL, 1)], [churn.Quote(EVIL, EVIL, EVIL, EVIL)],
        [churn.TraitRow(EVIL, EVIL, 5, 2, 0.4, 2.0)], [rate], [churn.TrendPoint(EVIL, D0, D0, None, period)],
        tier_labels={"high_risk": EVIL},
    )  # fmt: skip
    yield "churn.review_message (bot/churn: h1's)", churn_messages.review_message(review)


def _as_payload(built: Any) -> dict[str, Any]:
    if isinstance(built, Message):
        return {"text": built.text, "blocks": built.blocks}
    if isinstance(built, str):
        return {"text": built}
    if isinstance(built, list):
        return {"blocks": built}
    return {"view": built}


@pytest.mark.parametrize("tiers", [TIERS, HOSTILE_TIERS], ids=["shipped tier labels", "hostile tier labels"])
def test_every_other_builder_escapes_hostile_data(tiers: Tiers) -> None:
    assert_no_leaks([(name, _as_payload(built)) for name, built in _builders(tiers)])


def test_the_calls_recorded_are_read_as_slack_reads_them() -> None:
    """The walker sees a message's text, its blocks (JSON-encoded, as slack_sdk sends them) and a view."""
    blocks = json.dumps([{"type": "section", "text": {"type": "mrkdwn", "text": "<!here>"}}])
    call = Call("chat.postMessage", {"text": "ok", "blocks": blocks}, {}, "/api/chat.postMessage", b"")
    assert list(read_by_slack(call.params)) == ["ok", "<!here>"]
    assert list(read_by_slack({"view": {"blocks": [{"type": "context", "elements": [
        {"type": "mrkdwn", "text": "a"}, {"type": "plain_text", "text": "<!here>"}]}]}})) == ["a"]  # fmt: skip
