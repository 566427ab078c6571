"""The outreach draft "ready to copy" (issue 18): what the customer reads holds no Slack markup (no mention, no
link, no entity) and is signed with the account owner's name from their Slack profile (users.info), looked up when
the alert job writes the draft into the outbox, once per owner (cached), with the team's sign-off when Slack cannot
say or the account has no owner. Delivery stays exactly once: the outbox row holds the finished text."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from bot.alerts.rules import Rules, load_rules
from bot.retention import messages
from bot.retention.messages import Draft, Highlight
from bot.scoring.scorecard import load_scorecard
from bot.settings import load_settings
from bot.slack import outbox as sender
from bot.slack.client import UserNames, make_client
from jobs import alerts as alert_job
from prompts import say
from storage.db import session_factory
from tests.fake_slack import FakeSlack
from tests.test_tasks import CALENDAR, CHANNEL, OWNER, RULES, add_account, at, blocks_of, day

TEAM_SIGN_OFF = say("outreach.message.signature_fallback")
MARKUP = re.compile(r"<[@#!]|<https?:|&(amp|lt|gt);")


@pytest.fixture
def rules(tmp_path: Path) -> Rules:
    path = tmp_path / "rules.toml"
    path.write_text(RULES)
    return load_rules(path, load_scorecard())


def copyable(message: dict[str, Any]) -> str:
    """The draft's body as the CSM copies it from Slack: the code block, with Slack's entities shown as characters."""
    code = next(b["text"]["text"] for b in blocks_of(message) if b["text"]["text"].startswith("```"))
    return html.unescape(code.strip("`"))


def client_for(fake: FakeSlack) -> Any:
    return make_client(load_settings(env_file=None, environ={"SLACK_BOT_TOKEN": "xoxb-t", "SLACK_API_URL": fake.url}))


def drafts(engine: Engine, fake: FakeSlack) -> dict[str, str]:
    """Deliver the outbox; each posted draft's copyable body by the customer it is for."""
    sender.drain(session_factory(engine), client_for(fake), per_channel_interval=0, max_wait=0)
    posted = [m for m in fake.posted(CHANNEL) if m["text"].startswith("Outreach draft for ")]
    return {m["text"].removeprefix("Outreach draft for "): copyable(m) for m in posted}


def run(engine: Engine, rules: Rules, names: UserNames | None) -> None:
    alert_job.run(engine, rules=rules, scorecard=load_scorecard(), calendar=CALENDAR, alert_channel=CHANNEL,
                  day=day(1), now=at(day(2), 7), names=names)  # fmt: skip


def test_the_draft_is_signed_with_the_owners_slack_name_and_holds_no_slack_markup(
    engine: Engine, rules: Rules, fake_slack: FakeSlack
) -> None:
    profile = {"real_name": "Jane Doe", "display_name": "jane"}
    fake_slack.set_response("users.info", {"ok": True, "user": {"id": OWNER, "name": "jdoe", "profile": profile}})
    add_account(engine, "ACC-ONE", OWNER, [80, 35])
    add_account(engine, "ACC-TWO", OWNER, [80, 50])
    add_account(engine, "ACC-NONE", None, [80, 35])
    names = UserNames(client_for(fake_slack))

    run(engine, rules, names)
    run(engine, rules, names)  # a replay: nothing new enqueued, nothing looked up again

    bodies = drafts(engine, fake_slack)
    assert set(bodies) == {"ACC-ONE Inc", "ACC-TWO Inc", "ACC-NONE Inc"}  # each delivered once
    assert len(fake_slack.posted(CHANNEL)) == len({m["ts"] for m in fake_slack.posted(CHANNEL)})
    for body in bodies.values():
        assert not MARKUP.search(body), body
        assert "<@" not in body and OWNER not in body
    assert bodies["ACC-ONE Inc"].endswith("Best,\nJane Doe") and bodies["ACC-TWO Inc"].endswith("Best,\nJane Doe")
    assert bodies["ACC-NONE Inc"].endswith(f"Best,\n{TEAM_SIGN_OFF}")  # no owner: the team signs
    assert len(fake_slack.calls_to("users.info")) == 1  # cached: one lookup for the owner's two drafts


def test_when_slack_cannot_say_the_owners_name_the_team_signs(
    engine: Engine, rules: Rules, fake_slack: FakeSlack
) -> None:
    fake_slack.set_response("users.info", {"ok": False, "error": "user_not_found"})
    add_account(engine, "ACC-ONE", OWNER, [80, 35])
    run(engine, rules, UserNames(client_for(fake_slack)))
    body = drafts(engine, fake_slack)["ACC-ONE Inc"]
    assert body.endswith(f"Best,\n{TEAM_SIGN_OFF}") and not MARKUP.search(body)


def test_without_a_name_lookup_the_team_signs(engine: Engine, rules: Rules, fake_slack: FakeSlack) -> None:
    """`healthbot demo` and tests run the alert job with no Slack: the draft is still whole and clean."""
    add_account(engine, "ACC-ONE", OWNER, [80, 35])
    run(engine, rules, None)
    body = drafts(engine, fake_slack)["ACC-ONE Inc"]
    assert body.endswith(f"Best,\n{TEAM_SIGN_OFF}")
    assert not fake_slack.calls_to("users.info")


def test_customer_data_reaches_the_copy_as_written_and_never_as_markup() -> None:
    """A customer's name or a metric label with <, > and & shows (and copies) as those characters; <!channel>
    in a name can neither ping nor link; the owner's name is plain text."""
    highlight = Highlight("seats <used> & more", "sum", 12.0, -0.5, 28)
    draft = Draft("save_call", "Smith & Sons <!channel>", OWNER, ["logins -50 %"], [highlight], "Ana <Ops> & Co")
    subject, body = messages.fill(draft)
    assert "Smith & Sons <!channel>" in subject and body.startswith("Hi Smith & Sons <!channel> team,")
    assert "• seats <used> & more: 12 in the last 28 days (-50 % vs the 28 days before)" in body
    assert body.endswith("Best,\nAna <Ops> & Co")
    message = messages.outreach(draft)
    code = next(b["text"]["text"] for b in message.blocks or [] if b["text"]["text"].startswith("```"))
    assert "<" not in code and ">" not in code  # nothing Slack could read as a mention, a link or a command
    assert html.unescape(code.strip("`")) == body  # what shows, and what is copied, is the plain body


def test_a_long_draft_is_cut_whole_inside_its_code_block() -> None:
    """Escaping lengthens the body (& is &amp;): the cut keeps the block's closing fence and no half entity."""
    highlights = [Highlight(f"metric & {i}", "sum", 1.0, None, 28) for i in range(200)]
    message = messages.outreach(Draft("check_in", "A&B", None, [], highlights, "Jane"))
    code = next(b["text"]["text"] for b in message.blocks or [] if b["text"]["text"].startswith("```"))
    assert code.endswith("…```") and len(code) <= 3000
    assert not re.search(r"&[a-z]*…", code)


def test_user_names_ask_slack_once_per_user_and_forget_failures_after_a_while(fake_slack: FakeSlack) -> None:
    clock = [0.0]
    profile = {"real_name": "", "display_name": "ana"}
    fake_slack.set_response("users.info", {"ok": True, "user": {"id": "U0X", "profile": profile}})
    names = UserNames(client_for(fake_slack), retry_after=60, clock=lambda: clock[0])
    assert names("U0X") == "ana" and names("U0X") == "ana"  # display name when there is no real name
    assert len(fake_slack.calls_to("users.info")) == 1
    fake_slack.fail_next("users.info", status=500)
    assert names("U0Y") is None and names("U0Y") is None  # a failure is remembered for a while ...
    assert len(fake_slack.calls_to("users.info")) == 2
    clock[0] = 61.0
    assert names("U0Y") == "ana"  # ... then asked again
    assert names("not-a-user") is None and len(fake_slack.calls_to("users.info")) == 3
    assert fake_slack.calls_to("users.info")[0].params["user"] == "U0X"
