"""Ask healthbot with AI off (issue 22): a golden set of questions in words and the answers they must give, read
from the bot's own data (the demo portfolio, plus an alert with tasks, an exit interview and a hostile name made
here); Brief me and the outreach draft; a fresh install with no data at all."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.assistant.answer import Answer
from bot.assistant.answers import answer_text, suggested_prompts
from bot.assistant.brief import brief
from bot.assistant.draft import draft
from bot.health.lookup import AccountNames
from bot.scoring.scorecard import load_scorecard
from prompts import fill, raw
from storage import scores
from storage.db import session_factory, unit_of_work
from storage.models import Account, Alert, ExitInterview, HealthOverride, HealthScore, Task
from storage.types import Driver, ScoreParts, TaskStatus
from tests.conftest import DEMO_END

TODAY = DEMO_END  # 2026-06-30, the demo's last scored day
UTC_ZONE = ZoneInfo("UTC")
ME = "U01CSM0003"  # owns Granite Media LLC (High risk, renews 2026-09-16) and Ironwood Shipping KK (Medium risk)
SAVER = "U01CSM0005"
CHANNEL = "C0ALERTS01"
VERBATIM = "We hated the new pricing page"  # an exit interview's own words: never in an answer


def _add_fixtures(engine: Engine) -> dict[str, int]:
    """An open alert on Vandelay Properties with an overdue task and a done one, an exit interview of a Q1 churner,
    and an account whose name is a Slack broadcast."""
    with unit_of_work(session_factory(engine)) as s:
        vandelay = s.exec(select(Account).where(Account.name == "Vandelay Properties")).one()
        opened = datetime(2026, 6, 20, 9, tzinfo=UTC)
        alert = Alert(
            account_id=vandelay.id or 0,
            severity="high_risk",
            opened_on=date(2026, 6, 20),
            last_fired_on=date(2026, 6, 29),
            opened_at=opened,
            due_at=opened + timedelta(hours=4),
            channel=CHANNEL,
        )
        s.add(alert)
        s.flush()
        common = {"alert_id": alert.id or 0, "account_id": vandelay.id or 0, "playbook": "high_risk"}
        s.add(
            Task(
                **common,
                step=1,
                title="Form a save team",
                owner_role="CSM",
                assignee=SAVER,
                due_at=opened + timedelta(hours=4),
            )
        )
        s.add(
            Task(
                **common,
                step=2,
                title="Call the sponsor",
                owner_role="CSM",
                assignee=SAVER,
                due_at=opened + timedelta(days=1),
                status=TaskStatus.DONE,
                closed_at=opened + timedelta(days=1),
                closed_by=SAVER,
            )
        )
        kestrel = s.exec(select(Account).where(Account.name == "Kestrel Logistics Corp")).one()
        s.add(
            ExitInterview(
                account_id=kestrel.id or 0,
                reason="price",
                avoidable=True,
                competitor="Initrode",
                interviewer="U0NEUTRAL1",
                recorded_by="U0NEUTRAL1",
                answers={"main_reason": VERBATIM},
            )
        )
        hostile = Account(
            external_id="HOSTILE-1",
            name="<!channel> Acme",
            name_lower="<!channel> acme",
            owner_slack_id=ME,
            segment="smb",
            mrr=500.0,
            renewal_date=date(2026, 8, 1),
        )
        s.add(hostile)
        s.flush()
        parts = ScoreParts(drivers=[Driver(measure="logins_trend", points=-20.0, reason="logins <b>-40 %</b>")])
        s.add(HealthScore(account_id=hostile.id or 0, day=TODAY, score=52.4, tier="medium_risk", parts=parts))
        hooli = s.exec(select(Account).where(Account.name == "Hooli Realty BV")).one()
        scores.set_override(
            s, hooli.id or 0, tier="high_risk", reason="Champion left", set_by=ME, expires_on=date(2026, 7, 31)
        )
        return {"alert": alert.id or 0, "vandelay": vandelay.id or 0, "hostile": hostile.id or 0}


@pytest.fixture
def demo(seeded: Engine) -> tuple[Engine, dict[str, int]]:
    return seeded, _add_fixtures(seeded)


def ask(session: Session, text: str, user: str = ME, channel: str | None = None) -> Answer:
    answer = answer_text(session, text, user, load_scorecard(), TODAY, AccountNames(), UTC_ZONE, channel)
    json.dumps(dict(answer.facts))  # the facts are JSON-able: all a model is ever given
    assert len(answer.text) < 3000, "one section of text"
    return answer


def shown(answer: Answer) -> dict[str, str]:
    return {f.label: f.value for f in answer.figures}


# (question, kind, phrases the text must hold, phrases it must not, a command it must offer)
GOLDEN: list[tuple[str, str, list[str], list[str], str]] = [
    (
        "how is Granite Media LLC?",
        "answer",
        [
            "*Granite Media LLC* is *High risk* at *1*",
            "-93 in 30 days",
            "no logins for 28 days",
            "2026-09-16",
            "<@U01CSM0003>",
            "$363",
            "No open tasks",
        ],
        [],
        "/health Granite Media LLC",
    ),
    (
        "hows vandelay propertes doing",
        "answer",  # typos in the name
        ["*Vandelay Properties* is *High risk* at *2*", "Open tasks: 1 task; next: Form a save team"],
        [],
        "/health Vandelay Properties",
    ),
    (
        "who is at risk in enterprise?",
        "answer",
        ["*2 accounts at risk* in enterprise", "1. *Vandelay Properties*", "2. *Hooli Realty BV*"],
        ["Granite Media"],
        "/health top 10",
    ),
    (
        "top 3 at rsik",
        "answer",
        ["*13 accounts at risk*", "3. *Granite Logistics*", "and 10 more"],
        ["4. "],
        "/health top 3",
    ),
    (
        "who is high risk?",
        "answer",
        ["*5 accounts at risk* (High risk)"],
        ["Piedmont Medical"],
        "/health top 10 high_risk",
    ),
    (
        "what changed for Vandelay Properties this month?",
        "answer",
        [
            "since 2026-06-01: score *94* on 2026-06-01 → *2* on 2026-06-30 (-92); tier Healthy → High risk",
            "no logins for 20 days",
            "±0 → -52 pts",
            "Alerts opened: 1: 2026-06-20 (High risk)",
            "Tasks done: 1: Call the sponsor",
        ],
        [],
        "/health Vandelay Properties",
    ),
    (
        "what chnaged for vandelay properties since 2026-06-25",
        "answer",
        ["since 2026-06-25", "Tasks done: 0"],
        [],
        "/health Vandelay Properties",
    ),
    (
        "which of my accounts renew next quarter and are not healthy?",
        "answer",
        [
            "*3 accounts* of yours renewing between 2026-07-01 and 2026-09-30 (leaving out Healthy)",
            "*Ironwood Shipping KK* renews 2026-07-15",
            "*Granite Media LLC* renews 2026-09-16",
            "&lt;!channel&gt; Acme",
        ],
        ["Harbor Software"],
        "/health me",
    ),
    (
        "why did we lose customers last quarter?",
        "answer",
        [
            "*2026-Q1*: 4 of 58 customers churned (6.9 %)",
            "Exit interviews: 1 of 4; avoidable: 1 (100.0 %)",
            "• price: 1 (100.0 %), 1 avoidable",
            "Initrode (1)",
            "tenure 1-2 years",
        ],
        [VERBATIM],
        "/health churn last-quarter",
    ),
    (
        "my accounts",
        "answer",
        ["*Your 13 accounts* on 2026-06-30", "*Granite Media LLC*  1 High risk"],
        [],
        "/health me",
    ),
    (
        "Hooli Realty",
        "answer",
        [
            "*Hooli Realty BV* is *Medium risk* at *49*",
            "Override by <@U01CSM0003>",
            "*High risk* until 2026-07-31: _Champion left_",
        ],
        [],
        "/health Hooli Realty BV",
    ),
    (
        "how is Granite?",
        "answer",
        ["customers match *Granite*", "*Granite Media LLC*", "Which one?"],
        [],
        "/health Granite Media LLC",
    ),
    ("enterprise accounts at risk", "answer", ["*2 accounts at risk* in enterprise"], ["Granite"], "/health top 10"),
    (
        "what changed for hooli realty last month",
        "answer",
        ["*Hooli Realty BV* since 2026-05-01"],
        [],
        "/health Hooli Realty BV",
    ),
    (
        "<@U0BOT0001> how is Piedmont Medical?",
        "answer",
        ["*Piedmont Medical* is *Medium risk*"],
        [],
        "/health Piedmont Medical",
    ),
    (
        "what changed for Globex since 2026-13-45?",
        "answer",
        ["*2026-13-45* is not a date I can read"],
        [],
        "/health help",
    ),
    (
        "is Piedmont Medical at risk?",
        "answer",
        ["*Piedmont Medical* is *Medium risk* at *40*"],
        [],
        "/health Piedmont Medical",
    ),
    ("hi", "answer", ["Here is what I can answer"], [], "/health help"),
    (
        "which of my accounts are at risk?",
        "answer",
        ["*4 accounts at risk* of yours", "1. *Granite Media LLC*", "3. *&lt;!channel&gt; Acme*"],
        ["Vandelay"],
        "/health top 10",
    ),
    ("help", "answer", ["how is acme?", "why did we lose customers last quarter?"], [], "/health help"),
    (
        "how is <!channel> Acme?",
        "answer",
        ["*&lt;!channel&gt; Acme* is *Medium risk* at *52*", "logins &lt;b&gt;-40 %&lt;/b&gt;"],
        ["<!channel>", "<b>"],
        "/health <!channel> Acme",  # data; escaped once where it is shown (slack.py)
    ),
    (
        "how is Zorblax Quantum?",
        "answer",
        ["No customer matches *Zorblax Quantum*", "Closest names"],
        [],
        "/health help",
    ),
    (
        "what is the weather like in Paris tomorrow morning",
        "unknown",
        ["I can't read that question", "who is at risk in enterprise?"],
        [],
        "/health help",
    ),
]


@pytest.mark.parametrize(("question", "kind", "must", "never", "command"), GOLDEN, ids=[g[0] for g in GOLDEN])
def test_the_golden_questions(
    demo: tuple[Engine, dict[str, int]], question: str, kind: str, must: list[str], never: list[str], command: str
) -> None:
    engine, _ = demo
    with unit_of_work(session_factory(engine)) as s:
        answer = ask(s, question)
    assert answer.kind == kind
    for phrase in must:
        assert phrase in answer.text, f"{phrase!r} not in:\n{answer.text}"
    for phrase in never:  # (facts are data, not mrkdwn: a name is kept as it is there)
        assert phrase not in answer.text, phrase
    assert VERBATIM not in answer.text and VERBATIM not in json.dumps(dict(answer.facts))
    assert command in answer.commands


def test_the_figures_and_facts_are_the_numbers_shown(demo: tuple[Engine, dict[str, int]]) -> None:
    engine, _ = demo
    with unit_of_work(session_factory(engine)) as s:
        card = ask(s, "how is granite media llc")
        lost = ask(s, "why did we lose customers last quarter")
        risk = ask(s, "at risk in enterprise")
    assert shown(card)["Health score"] == "1 (High risk, 2026-06-30)"
    assert shown(card)["Change in 30 days"] == "-93" and shown(card)["MRR"] == "$363"
    assert card.facts["drivers"][0] == {"reason": "no logins for 28 days: score held at 5 or below", "points": "-47"}
    assert "contact" not in json.dumps(dict(card.facts)) and "@" not in json.dumps(dict(card.facts))
    assert shown(lost)["Customers churned"] == "4 of 58" and lost.facts["avoidable_share"] == "100.0 %"
    assert shown(risk)["Accounts listed"] == "2" and shown(risk)["MRR of those listed"] == "$36,540"
    assert [row["name"] for row in risk.facts["listed"]] == ["Vandelay Properties", "Hooli Realty BV"]


def test_a_question_naming_no_account_is_about_the_channel_being_viewed(demo: tuple[Engine, dict[str, int]]) -> None:
    engine, _ = demo
    with unit_of_work(session_factory(engine)) as s:
        how = ask(s, "how is it doing?", channel=CHANNEL)
        changed = ask(s, "what changed this week?", channel=CHANNEL)
        nowhere = ask(s, "how is it doing?", channel="C0ELSEWHERE")
    assert how.text.startswith("*Vandelay Properties* is *High risk*")
    assert changed.text.startswith("*Vandelay Properties* since 2026-06-29")
    assert "tier stayed High risk." in changed.text and "→ High risk" not in changed.text  # the tier did not move
    assert nowhere.kind == "unknown"


def test_my_tasks_lists_the_overdue_first(demo: tuple[Engine, dict[str, int]]) -> None:
    engine, _ = demo
    with unit_of_work(session_factory(engine)) as s:
        mine = ask(s, "my tasks", user=SAVER)
        none = ask(s, "my tsaks", user=ME)
    assert "*You have 1 open task*, 1 overdue" in mine.text
    assert "Form a save team  ·  Vandelay Properties" in mine.text and "*(overdue)*" in mine.text
    assert shown(mine) == {"Your open tasks": "1", "Overdue": "1"}
    assert none.text == "You have no open tasks."


def test_suggested_prompts_name_the_account_of_the_channel_being_viewed(demo: tuple[Engine, dict[str, int]]) -> None:
    engine, _ = demo
    scorecard = load_scorecard()
    with unit_of_work(session_factory(engine)) as s:
        in_thread = suggested_prompts(s, ME, CHANNEL, scorecard, TODAY)
        elsewhere = suggested_prompts(s, ME, "C0ELSEWHERE", scorecard, TODAY)
        stranger = suggested_prompts(s, "U0NOBODY01", None, scorecard, TODAY)
        assert len(in_thread) == 4 and in_thread[0] == ("How is Vandelay Properties?", "how is Vandelay Properties?")
        assert in_thread[1][1] == "what changed for Vandelay Properties this month?"
        assert elsewhere[0][0] == "How is Granite Media LLC?"  # the user's riskiest
        assert [title for title, _ in stranger] == [
            "Who is at risk?",
            "My renewals",
            "Why did we lose customers?",
            "My accounts",
        ]
        for _, message in in_thread + stranger:  # each suggested prompt is a question the assistant reads
            assert ask(s, message).kind == "answer", message


def test_brief_me_says_what_changed_why_tasks_renewal_and_what_to_say(demo: tuple[Engine, dict[str, int]]) -> None:
    engine, ids = demo
    with unit_of_work(session_factory(engine)) as s:
        said = brief(s, ids["vandelay"], load_scorecard(), TODAY, UTC_ZONE)
        gone = brief(s, 987654, load_scorecard(), TODAY, UTC_ZONE)
    assert gone is None and said is not None and said.kind == "brief"
    text = said.text
    for phrase in (
        "*Brief: Vandelay Properties*",
        "*What changed* (since 2026-05-31)",
        "→ *2* on 2026-06-30",
        "*Why the score moved*",
        "no logins for 20 days: score held at 5 or below: ±0 → -52 pts",
        "• Form a save team (CSM), <@U01CSM0005>, due",
        "*(overdue)*",
        "*Renewal*: 2027-04-07",
        "*What to say on the call*",
        raw("assistant.intent.high_risk"),
        "The playbook's next step: Form a save team: CSM, sales, product and an executive",
    ):
        assert phrase in text, f"{phrase!r} not in:\n{text}"
    assert "Call the sponsor" not in text  # done: not an open task
    assert said.facts["open_tasks"][0]["overdue"] is True and said.facts["score_now"]["score"] == "2"
    json.dumps(dict(said.facts))


def test_brief_me_names_the_playbooks_next_step_in_the_readers_language(demo: tuple[Engine, dict[str, int]]) -> None:
    """The step's title is stored and read in English; a zh-CN reader sees the Chinese playbook's title."""
    from bot.retention.playbooks import playbook, shown
    from prompts import speaking

    engine, ids = demo
    with unit_of_work(session_factory(engine)) as s, speaking("zh-CN"):
        said = brief(s, ids["vandelay"], load_scorecard(), TODAY, UTC_ZONE)
        step = playbook("high_risk").steps[0]  # type: ignore[union-attr]
        chinese = shown("high_risk", step.number, "title", step.title)
    assert said is not None and chinese != step.title
    assert chinese in said.text and step.title not in said.text


def test_the_outreach_draft_is_the_template_plus_drivers_and_intent(demo: tuple[Engine, dict[str, int]]) -> None:
    engine, ids = demo
    scorecard = load_scorecard()
    with unit_of_work(session_factory(engine)) as s:
        written = draft(s, ids["alert"], scorecard, TODAY, UTC_ZONE)
        plain = draft(s, ids["alert"], scorecard, TODAY, UTC_ZONE, template=True)
        gone = draft(s, 987654, scorecard, TODAY, UTC_ZONE)
    assert gone is None and written is not None and plain is not None
    template = raw("outreach.save_call")
    assert plain.kind == written.kind == "draft" and plain.facts["template"] == "save_call"
    assert plain.facts["subject"] == fill(template["subject"], name="Vandelay Properties")
    assert plain.facts["body"].endswith("Best,\n" + raw("outreach.message.signature_fallback"))
    assert "What I would like to look at" not in plain.facts["body"]
    body = written.facts["body"]
    assert "What I would like to look at with you:\n• how your team uses the product day to day" in body
    assert raw("assistant.draft.offer.high_risk") in body and "score held" not in body  # the customer's words
    assert written.facts["drivers"][0] == "no logins for 20 days: score held at 5 or below"
    assert body.index("What I would like") < body.rindex("Best,")  # before the sign-off
    assert "<@" not in body and SAVER not in body  # the customer's copy: no Slack markup, no ids
    assert "```" in written.text and "\n• no logins for 20 days: score held at 5 or below" in written.text


def test_a_regenerated_draft_looks_like_the_threads_own(demo: tuple[Engine, dict[str, int]]) -> None:
    """The outside tester's case: Regenerate wrote "*Subject:*" and a one-line "Why now" where the thread's draft
    (messages.outreach, "Use template") writes "*Subject*:" and a bullet list; the template was named by its key."""
    from prompts import speaking

    engine, ids = demo
    scorecard = load_scorecard()
    with unit_of_work(session_factory(engine)) as s:
        written = draft(s, ids["alert"], scorecard, TODAY, UTC_ZONE)
        plain = draft(s, ids["alert"], scorecard, TODAY, UTC_ZONE, template=True)
        with speaking("zh-CN"):
            chinese = draft(s, ids["alert"], scorecard, TODAY, UTC_ZONE)
    assert written is not None and plain is not None and chinese is not None
    subject = [line for line in plain.text.splitlines() if line.startswith("*Subject*: ")]
    why = plain.text[plain.text.index("*Why now*") :]
    assert len(subject) == 1 and subject[0] in written.text.splitlines() and "*Subject:*" not in written.text
    assert why in written.text and "*The play*: " in written.text.removeprefix(written.text[: written.text.index(why)])
    assert "(save call)" in written.text  # its title in prompts/outreach.toml
    assert "（挽留沟通）" in chinese.text and "save call" not in chinese.text and "*主题*：" in chinese.text


def test_a_fresh_install_answers_every_question_without_data(engine: Engine) -> None:
    scorecard = load_scorecard()
    with unit_of_work(session_factory(engine)) as s:
        answers = {
            q: ask(s, q)
            for q in (
                "how is acme?",
                "who is at risk?",
                "my accounts",
                "my tasks",
                "which of my accounts renew this quarter?",
                "why did we lose customers last quarter?",
                "what changed for acme?",
            )
        }
        prompts = suggested_prompts(s, ME, CHANNEL, scorecard, TODAY)
    assert "No customer matches *acme*" in answers["how is acme?"].text
    assert "no health scores yet" in answers["who is at risk?"].text
    assert "no health scores yet" in answers["my accounts"].text
    assert answers["my tasks"].text == "You have no open tasks."
    assert "No account of yours renews" in answers["which of my accounts renew this quarter?"].text
    assert "no data" in answers["why did we lose customers last quarter?"].text.lower()
    assert "No customer matches *acme*" in answers["what changed for acme?"].text
    assert [t for t, _ in prompts] == ["Who is at risk?", "My renewals", "Why did we lose customers?", "My accounts"]


def test_brief_me_on_an_account_not_scored_yet(engine: Engine) -> None:
    with unit_of_work(session_factory(engine)) as s:
        new = Account(external_id="NEW-1", name="Newco", name_lower="newco", renewal_date=date(2026, 9, 1))
        s.add(new)
        s.flush()
        said = brief(s, new.id or 0, load_scorecard(), TODAY, UTC_ZONE)
        card = ask(s, "how is newco?")
    assert said is not None
    assert "*Newco* has no health score since" in said.text and "Why the score moved" not in said.text
    assert "*Renewal*: 2026-09-01 (63 days left)" in said.text and raw("assistant.intent.default") in said.text
    assert card.text.startswith("*Newco* has no health score yet.")


def test_every_word_of_the_assistant_is_in_its_prompts_file() -> None:
    texts: dict[str, Any] = raw("assistant")
    assert {"card", "changed", "at_risk", "renewals", "churn", "unknown", "brief", "intent", "draft"} <= set(texts)


READ: list[tuple[str, str, dict[str, Any]]] = [
    ("what changed for Globex this week?", "changed", {"name": "Globex", "start": date(2026, 6, 29)}),
    ("what changed for Globex since 2026-05-02", "changed", {"name": "Globex", "start": date(2026, 5, 2)}),
    ("what changed for Globex since 2026-13-45", "bad_date", {"name": "2026-13-45"}),
    ("which accounts renew in the next 90 days?", "renewals", {"start": TODAY, "end": date(2026, 9, 28)}),
    ("which of my acounts renwe this month?", "renewals", {"mine": True, "end": date(2026, 6, 30)}),
    ("why did we lose customers in 2026-Q1?", "churn", {"period": "2026-q1"}),
    ("why did we lose enterprise customers?", "churn", {"period": ""}),
    ("top 5 high risk", "at_risk", {"limit": 5, "tier": "high_risk"}),
    ("my tasks", "tasks", {}),
    ("", "help", {}),
    ("what can you do?", "help", {}),
    ("how are you?", "unknown", {}),
]


@pytest.mark.parametrize(("text", "kind", "parts"), READ, ids=[r[0] or "(empty)" for r in READ])
def test_reading_a_question(text: str, kind: str, parts: dict[str, Any]) -> None:
    from bot.assistant.reading import read

    q = read(text, load_scorecard().tiers, TODAY)
    assert q.kind == kind
    for key, value in parts.items():
        got = getattr(q.span, key) if key in ("start", "end") else getattr(q, key)
        assert got == value, (key, got)


def test_a_sentence_naming_no_customer_gets_what_it_can_answer(demo: tuple[Engine, dict[str, int]]) -> None:
    engine, _ = demo
    with unit_of_work(session_factory(engine)) as s:
        weather = ask(s, "what's the weather")
        near = ask(s, "what is granit medai?")
        bare = ask(s, "granit medai")
        how = ask(s, "how is granit medai?")
    assert weather.kind == "unknown" and weather.text.startswith("I can't read that question")
    assert "No customer matches" not in weather.text and "Did you mean" not in weather.text
    assert near.kind == "unknown" and "I can't read that question" in near.text
    assert near.text.endswith("Did you mean *Granite Media LLC*? `/health Granite Media LLC` shows its card.")
    assert "/health Granite Media LLC" in near.commands
    for lookup in (bare, how):  # a name alone, or asked about as a customer: the closest names
        assert "No customer matches *granit medai*. Closest names: *Granite Media LLC*" in lookup.text


def test_the_churn_traits_mention_the_csm(demo: tuple[Engine, dict[str, int]]) -> None:
    engine, _ = demo
    with unit_of_work(session_factory(engine)) as s:
        lost = ask(s, "why did we lose customers in 2026-Q2?")
    assert "• csm <@U01CSM0004>: 1 of 11 churned" in lost.text and "csm U01CSM0004" not in lost.text


def test_an_accounts_open_tasks(demo: tuple[Engine, dict[str, int]]) -> None:
    engine, _ = demo
    with unit_of_work(session_factory(engine)) as s:
        on = ask(s, "what are the open tasks on vandelay properties?")
        short = ask(s, "tasks for Vandelay Properties")
        none = ask(s, "open tasks for granite media llc")
        mine = ask(s, "my tasks", user=SAVER)
    assert on.text == short.text
    assert on.text.startswith("*Vandelay Properties*: 1 open task, 1 overdue")
    assert "• Form a save team (CSM)  ·  <@U01CSM0005>  ·  due " in on.text and "*(overdue)*" in on.text
    assert "Call the sponsor" not in on.text  # done
    assert "`/health tasks` lists yours" in on.text
    assert on.commands == ("/health Vandelay Properties", "/health tasks")
    assert shown(on) == {"Open tasks": "1", "Overdue": "1"} and on.facts["open_tasks"][0]["overdue"] is True
    assert none.text.startswith("*Granite Media LLC* has no open tasks.")
    assert mine.text.startswith("*You have 1 open task*")


def test_what_changed_says_the_overrides_set_cleared_and_run_out(demo: tuple[Engine, dict[str, int]]) -> None:
    engine, _ = demo
    with unit_of_work(session_factory(engine)) as s:
        hooli = s.exec(select(Account).where(Account.name == "Hooli Realty BV")).one()
        scores.set_override(  # replaces the fixture's High risk one: that one is cleared
            s, hooli.id or 0, tier="low_risk", reason="Renewal signed", set_by=SAVER, expires_on=date(2026, 8, 31)
        )
        vandelay = s.exec(select(Account).where(Account.name == "Vandelay Properties")).one()
        s.add(
            HealthOverride(
                account_id=vandelay.id or 0,
                tier="healthy",
                reason="Pilot",
                set_by=ME,
                expires_on=date(2026, 6, 20),
                created_at=datetime(2026, 6, 2, 9, tzinfo=UTC),
            )
        )
        s.flush()
        changed = ask(s, "what changed for hooli realty this month?")
        ran_out = ask(s, "what changed for vandelay properties this month?")
        before = ask(s, "what changed for vandelay properties since 2026-06-25")
    assert "Overrides set, cleared or run out: 3" in changed.text
    assert (
        "Override by <@U01CSM0005>: :large_yellow_circle: *Low risk* until 2026-08-31: _Renewal signed_" in changed.text
    )
    assert "the override to *High risk* by <@U01CSM0003> was cleared" in changed.text
    assert [o["event"] for o in changed.facts["overrides"]] == ["set", "cleared", "set"]
    assert "• 2026-06-02: :pushpin: Override by <@U01CSM0003>" in ran_out.text
    assert "• 2026-06-20: the override to *Healthy* by <@U01CSM0003> ran out" in ran_out.text
    assert "Overrides: none set, cleared or run out." in before.text


def test_a_long_renewals_list_says_how_many_more(demo: tuple[Engine, dict[str, int]]) -> None:
    engine, _ = demo
    with unit_of_work(session_factory(engine)) as s:
        year = ask(s, "which accounts renew in the next 365 days?")
    assert year.text.startswith("*55 accounts* renewing between 2026-06-30 and 2027-06-30")
    assert year.text.count("\n• ") == 30
    assert year.text.endswith(
        "…and 25 more, renewing from 2027-01-25 to 2027-06-20: ask for a shorter period to list them, "
        "e.g. _which accounts renew next month?_ or _in the next 30 days_."
    )
    assert year.facts["accounts"] == 55 and len(year.facts["listed"]) == 30


def test_an_unknown_segment_is_said_with_the_segments_there_are(demo: tuple[Engine, dict[str, int]]) -> None:
    engine, _ = demo
    with unit_of_work(session_factory(engine)) as s:
        risk = ask(s, "who is at risk in strategic?")
        lost = ask(s, "why did we lose customers in strategic?")
    for answer in (risk, lost):
        assert answer.text.startswith("There is no segment *strategic*. The segments are: ")
        assert "*smb*" in answer.text and "*enterprise*" in answer.text and "at risk on" not in answer.text


def test_top_by_mrr_ranks_by_expected_loss_and_its_figures_are_of_those_shown(
    demo: tuple[Engine, dict[str, int]],
) -> None:
    from tests.test_chance_surfaces import FIT, store

    engine, _ = demo
    with unit_of_work(session_factory(engine)) as s:
        unfitted = ask(s, "top 3 by mrr")
    assert unfitted.text.startswith("`/health top by-mrr` ranks accounts by expected MRR loss, which needs")
    store(engine, FIT)
    with unit_of_work(session_factory(engine)) as s:
        top = ask(s, "top 3 by mrr")
        smb = ask(s, "top 3 at risk in smb")
        every = ask(s, "who is at risk?")
    losses = [float(r["expected_loss"].strip("$").replace(",", "")) for r in top.facts["listed"]]
    assert len(losses) == 3 and losses == sorted(losses, reverse=True) and "expected loss" in top.text
    assert shown(top)["Accounts listed"] == "3" and "/health top by-mrr 3" not in top.commands[1:]
    listed_mrr = sum(float(r["mrr"].strip("$").replace(",", "")) for r in top.facts["listed"])
    figure = float(shown(top)["MRR of those listed"].strip("$").replace(",", ""))
    assert abs(figure - listed_mrr) <= len(losses)  # the 3 shown (each rounded to the dollar), not all listed
    assert shown(smb)["Accounts listed"] == "3"
    more = smb.text.splitlines()[-1]  # /health top has no segment filter: the question again, with a bigger number
    assert "/health top" not in more and f"ask _top {smb.facts['accounts']} at risk in smb_" in more
    assert f"`/health top {every.facts['accounts']}` shows them" in every.text.splitlines()[-1]


def test_more_than_health_top_shows_is_said_honestly() -> None:
    """The outside tester's case: "…and 267 more: `/health top by-mrr 100` shows them" promised 100 of 267."""
    from bot.assistant.portfolio import _more
    from bot.assistant.reading import Question

    tiers = load_scorecard().tiers
    capped = _more(Question("at_risk", by_mrr=True), 257, 267, None, tiers)
    assert capped == "…and 257 more: `/health top by-mrr 100` shows the first 100 of 267."
    assert _more(Question("at_risk"), 30, 40, None, tiers) == "…and 30 more: `/health top 40` shows them."


def test_a_name_inside_a_sentence_or_in_chinese(demo: tuple[Engine, dict[str, int]]) -> None:
    engine, _ = demo
    with unit_of_work(session_factory(engine)) as s:
        likely = ask(s, "is granite media likely to churn?")
        chinese = ask(s, "granite media llc 的健康状况如何？")
        changed = ask(s, "Vandelay Properties 有什么变化？")
        long = ask(s, "how is acme? " * 400)  # 5,199 characters once stripped
    assert likely.text.startswith("*Granite Media LLC* is *High risk*")
    assert chinese.text.startswith("*Granite Media LLC* is *High risk*")
    assert changed.text.startswith("*Vandelay Properties* since 2026-05-31")
    assert long.text.startswith("That message is 5199 characters long: I read questions of up to 500")


def test_chinese_questions_and_a_blank_message(demo: tuple[Engine, dict[str, int]]) -> None:
    engine, _ = demo
    with unit_of_work(session_factory(engine)) as s:
        risk = ask(s, "谁有流失风险？")
        mine = ask(s, "我的客户")
        tasks = ask(s, "我的任务")
        renew = ask(s, "哪些客户续约？")
        lost = ask(s, "为什么流失？")
        nothing = ask(s, "天气怎么样？")
        blank = ask(s, "   ")
    assert risk.facts["kind"] == "at_risk" and mine.facts["kind"] == "mine" and tasks.facts["kind"] == "tasks"
    assert renew.facts["kind"] == "renewals" and lost.facts["kind"] == "churn"
    assert nothing.kind == "unknown" and "Closest names" not in nothing.text and "Did you mean" not in nothing.text
    assert blank.text.startswith("Here is what I can answer")


def test_the_more_command_of_a_hostile_name_is_escaped_once(demo: tuple[Engine, dict[str, int]]) -> None:
    from bot.assistant.slack import answer_blocks

    engine, _ = demo
    with unit_of_work(session_factory(engine)) as s:
        card = ask(s, "how is <!channel> Acme?")
    assert card.commands[0] == "/health <!channel> Acme"  # data: slack.py escapes it where it is shown
    shown_text = json.dumps(answer_blocks(card, None))
    assert "/health &lt;!channel&gt; Acme" in shown_text and "&amp;lt;" not in shown_text


def test_why_did_one_customer_leave(demo: tuple[Engine, dict[str, int]]) -> None:
    engine, _ = demo
    with unit_of_work(session_factory(engine)) as s:
        kestrel = ask(s, "why did Kestrel Logistics Corp leave?")
        churned = s.exec(select(Account).where(Account.churned_on.is_not(None))).all()  # type: ignore[union-attr]
        other = next(a for a in churned if a.name != "Kestrel Logistics Corp")
        silent = ask(s, f"why did {other.name} churn?")
        active = ask(s, "why did Granite Media LLC leave?")
    assert kestrel.text.startswith("*Kestrel Logistics Corp* churned on ")
    assert "Exit interview: reason *price*, judged avoidable." in kestrel.text and VERBATIM not in kestrel.text
    assert "churned on" in silent.text and "No exit interview is recorded for it." in silent.text
    assert active.text.startswith("*Granite Media LLC* has not churned")


def test_a_customer_that_does_not_exist_is_said_so_with_the_close_names_never_answered_as_another(
    demo: tuple[Engine, dict[str, int]],
) -> None:
    """ "what about globex freight" named no customer: the assistant said so, never the card of Globex Consulting
    LLC, which /health's typo matching found for it (issue 23, noticed); a typo of a whole name is still forgiven."""
    engine, _ = demo
    with unit_of_work(session_factory(engine)) as s:
        freight = ask(s, "what about globex freight")
        at_risk = ask(s, "is globex freight at risk?")
        changed = ask(s, "what changed for globex freight this month?")
        typo = ask(s, "how is globex consultng llc?")
    for answer in (freight, at_risk, changed):
        assert answer.text.startswith("No customer matches *globex freight*"), answer.text
        assert "Globex Consulting LLC" in answer.text and " is *" not in answer.text  # a suggestion, not its card
        assert "/health Globex Consulting LLC" in answer.commands
        assert answer.facts["kind"] == "lookup" and "Globex Consulting LLC" in answer.facts["closest"]
    assert typo.text.startswith("*Globex Consulting LLC* is *")


def test_a_chinese_churn_answer_writes_its_percents_as_chinese_does_and_passes_the_figure_check(
    demo: tuple[Engine, dict[str, int]],
) -> None:
    """The assistant wrote its own percents ("6.9 %", English's spacing) in a Chinese answer too; they go through
    prompts.formats ("6.9%"), and a reply stating the answer's percents, glued to Chinese as Chinese writes them,
    passes the figure check while a made-up one is caught."""
    from bot.llm.grounding import unsupported
    from prompts import speaking

    engine, _ = demo
    with unit_of_work(session_factory(engine)) as s:
        english = ask(s, "why did we lose customers last quarter?")
        with speaking("zh-CN"):
            chinese = ask(s, "why did we lose customers last quarter?")
    assert "(6.9 %)" in english.text and english.facts["avoidable_share"] == "100.0 %"
    assert "（6.9%）" in chinese.text and "100.0%" in chinese.text and " %" not in chinese.text, chinese.text
    assert chinese.facts["churn_rate"] == "6.9%" and shown(chinese)["客户流失率"] == "6.9%"
    assert shown(english)["Customers churned"] == "4 of 58" and shown(english)["Avoidable"] == "1 (100.0 %)"
    assert [v for v in shown(chinese).values() if " of " in v or " (" in v] == [], shown(chinese)
    percents = re.findall(r"\d+(?:\.\d+)?%", chinese.text)
    assert len(percents) >= 4 and unsupported("；".join(f"占{p}" for p in percents), chinese.facts) == []
    reply = "上季度流失率为6.9%，可避免的占100.0%。"
    assert unsupported(reply, chinese.facts) == []
    assert unsupported("上季度流失率为9.6%，可避免的占100.0%。", chinese.facts) == ["9.6%"]
    # its lists as Chinese lists them: 、 and 和, a count in full-width brackets, never ", " or " ("
    assert ", " not in chinese.text and " (" not in chinese.text, chinese.text
