"""Whole payloads of the surfaces tests/test_payloads.py does not cover: the alert thread's task list (open, some
done, all done, escalated) and its overdue replies, the outreach draft, the task DM, the Mark done modal with its
stale notices and inline errors, `/health tasks`, the Home tab with my tasks, the alert root in the states
tests/test_alert_thread.py checks only in part (snoozed, escalated, a hostile name), the person's DM and the
listing message. Each built from a fixed fixture (one account named `<!channel> Acme` pins the escaping),
validated with slack_sdk.models and compared, all of it, with its snapshot in tests/snapshots/
(`UPDATE_SNAPSHOTS=1` rewrites them: see tests/snapshot.py). No database: the builders are pure."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.alerts import messages as alerts
from bot.health.messages import Page
from bot.home.messages import HomeData, home_view
from bot.home.values import HomePages
from bot.retention import messages as tasks
from bot.retention import modal
from bot.retention.ids import RetentionIds
from bot.retention.playbooks import load_playbooks
from bot.scoring.loss import LossRow, LossSummary
from bot.scoring.scorecard import load_scorecard
from bot.slack.chance import Chances
from prompts import speaking
from storage.models import Account, Alert, AlertListing, HealthScore, Task
from storage.scores import AccountRow, TierTotal
from storage.types import Driver, ScoreParts
from tests.snapshot import both, message, view
from tests.snapshot import matches_spoken as matches
from tests.test_chance_surfaces import FIT, TOO_LITTLE

TIERS = load_scorecard().tiers
TZ = ZoneInfo("Europe/Berlin")
DAY = date(2026, 6, 30)
NOW = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)  # what "overdue" is measured against
CHANNEL = "C0SAVES001"
CSM, CLAIMER, LEAD, AE = "U01CSM0001", "U01CLAIM01", "U01LEAD001", "U01AE00001"
HOSTILE = "<!channel> Acme"

ACCOUNT = Account(
    id=42,
    external_id="ACC-42",
    name=HOSTILE,
    name_lower=HOSTILE.lower(),
    owner_slack_id=CSM,
    segment="enterprise",
    mrr=12_500.0,
)
SCORE = HealthScore(
    account_id=42,
    day=DAY,
    score=37.4,
    tier="high_risk",
    delta_7=-12.2,
    parts=ScoreParts(
        groups={"product_usage": 30.0},
        drivers=[Driver(measure="logins_trend", group="product_usage", points=-12.3, reason="logins -62 % vs prior")],
        coverage=1.0,
    ),
)
FIRINGS = {
    "tier_dropped": {
        "words": "tier dropped from Medium risk to High risk (score 37 that day)",
        "severity": "high_risk",
        "since": "2026-06-30",
        "last": "2026-06-30",
    },
}


def alert(**kw: Any) -> Alert:
    values: dict[str, Any] = {
        "id": 7,
        "account_id": 42,
        "severity": "high_risk",
        "opened_on": DAY,
        "last_fired_on": DAY,
        "due_at": datetime(2026, 6, 30, 14, 0, tzinfo=UTC),
        "channel": CHANNEL,
        "firings": FIRINGS,
    }
    return Alert(**{**values, **kw})


def task(step: int, **kw: Any) -> Task:
    """A task of alert 7; open and assigned to the CSM unless told otherwise."""
    values: dict[str, Any] = {
        "id": 100 + step,
        "alert_id": 7,
        "account_id": 42,
        "playbook": "high_risk",
        "step": step,
        "title": f"Step {step}: call the *sponsor* <today>",
        "owner_role": "CSM",
        "assignee": CSM,
        "due_at": datetime(2026, 6, 29, 15, 0, tzinfo=UTC) + timedelta(days=step // 2),
        "version": 2,
    }
    return Task(**{**values, **kw})


CLOSED_AT = datetime(2026, 6, 30, 16, 30, tzinfo=UTC)
OPEN = [
    task(1),
    task(2, assignee=None, owner_role="CS lead"),
    task(3, escalation_level=1, escalated_at=CLOSED_AT),
    task(4, assignee=AE, owner_role="AE & <exec>", escalation_level=2),
]
DONE = task(
    1,
    status="done",
    closed_by=CSM,
    closed_at=CLOSED_AT,
    notes="Spoke with <@U0SPONSOR>:\n  they   want SSO & a discount",
    next_step="Send the *offer* <draft>",
    next_step_on=date(2026, 7, 6),
)
NOT_NEEDED = task(2, status="not_needed", closed_by=LEAD, closed_at=CLOSED_AT, next_step="Revisit in Q3")
ESCALATED = task(3, status="escalated", closed_by=CSM, closed_at=CLOSED_AT, notes="Needs the VP")


# --------------------------------------------------------------------------- the alert thread's task list


@both
@pytest.mark.parametrize(
    "name, listed, lead",
    [
        ("task_list_open", OPEN, LEAD),
        ("task_list_open_no_lead", OPEN[2:], None),
        ("task_list_some_done", [DONE, NOT_NEEDED, OPEN[2], OPEN[3]], "S0CSLEADS"),
        ("task_list_all_done", [DONE, NOT_NEEDED, ESCALATED], LEAD),
    ],
)
def test_task_list(name: str, listed: list[Task], lead: str | None) -> None:
    view_ = tasks.TaskList(HOSTILE, "high_risk", list(reversed(listed)))  # drawn in playbook order
    matches(name, message(tasks.task_list(view_, TIERS, TZ, lead)))


@both
def test_task_list_of_a_tier_the_scorecard_no_longer_has() -> None:
    matches("task_list_unknown_tier", message(tasks.task_list(tasks.TaskList("Initech", "<gone>", [DONE]), TIERS, TZ)))


@both
def test_overdue_replies() -> None:
    payload = {
        "level_1": message(tasks.overdue_reply(OPEN[2], 1, LEAD, TZ)),
        "level_2_group": message(tasks.overdue_reply(OPEN[3], 2, "S0CSHEADS", TZ)),
        "no_lead_unassigned": message(tasks.overdue_reply(OPEN[1], 1, None, TZ)),
    }
    matches("task_overdue_replies", payload)


@both
def test_task_dm() -> None:
    matches("task_dm", message(tasks.task_dm(HOSTILE, "high_risk", CHANNEL, [OPEN[2], OPEN[0]], TIERS, TZ)))


# --------------------------------------------------------------------------- the outreach draft

HIGHLIGHTS = [
    tasks.Highlight("Logins", "sum", 412.0, -0.62, 28),
    tasks.Highlight("Seats <used> & more", "mean", 7.5, 0.004, 28),
    tasks.Highlight("Reports", "sum", 3.0, None, 28),
]


@both
@pytest.mark.parametrize(
    "name, draft",
    [
        (
            "outreach_save_call",
            tasks.Draft("save_call", HOSTILE, CSM, ["logins -62 % vs prior", "tickets <up>"], HIGHLIGHTS, "Ana & Co"),
        ),
        ("outreach_check_in_team_sign_off", tasks.Draft("check_in", "Initech", None, [], [])),
        ("outreach_care_email", tasks.Draft("care_email", "Globex", CSM, ["NPS fell to 3"], HIGHLIGHTS[2:], "Bo")),
    ],
)
def test_outreach_draft(name: str, draft: tasks.Draft) -> None:
    matches(name, message(tasks.outreach(draft)))


# --------------------------------------------------------------------------- the Mark done modal


def submitted(outcome: str | None, notes: str = "", step: str = "", on: str | None = None) -> dict[str, Any]:
    """A submitted Mark done view's state, as Slack sends it."""
    return {
        "state": {
            "values": {
                str(RetentionIds.OUTCOME_BLOCK): {
                    str(RetentionIds.OUTCOME): {"selected_option": {"value": outcome} if outcome else None}
                },
                str(RetentionIds.NOTES_BLOCK): {str(RetentionIds.NOTES): {"value": notes}},
                str(RetentionIds.NEXT_STEP_BLOCK): {str(RetentionIds.NEXT_STEP): {"value": step}},
                str(RetentionIds.NEXT_STEP_ON_BLOCK): {str(RetentionIds.NEXT_STEP_ON): {"selected_date": on}},
            }
        }
    }


@both
@pytest.mark.parametrize(
    "name, build",
    [
        ("done_modal", lambda: modal.done_modal(OPEN[0], HOSTILE, TZ)),
        ("done_modal_unassigned_no_account", lambda: modal.done_modal(OPEN[1], None, TZ)),
        ("done_stale_gone", lambda: modal.stale_view(modal.stale_text(None, TZ))),
        ("done_stale_closed", lambda: modal.stale_view(modal.stale_text(DONE, TZ))),
        ("done_stale_changed", lambda: modal.stale_view(modal.stale_text(OPEN[3], TZ))),
    ],
)
def test_mark_done_views(name: str, build: Any) -> None:
    matches(name, view(build()))


@both
def test_mark_done_inline_errors() -> None:
    """What `response_action: errors` shows under each field (block_id -> message)."""
    today = date(2026, 7, 1)
    payload = {
        "no_outcome": modal.read_submission(submitted(None), today),
        "too_long_and_past": modal.read_submission(
            submitted("done", "n" * (modal.NOTES_LIMIT + 1), "s" * (modal.NEXT_STEP_LIMIT + 1), "2026-06-30"), today
        ),
        "date_without_step": modal.read_submission(submitted("not_needed", on="2026-07-02"), today),
        "date_bad": modal.read_submission(submitted("escalated", step="Call", on="July 2nd"), today),
    }
    assert all(isinstance(errors, dict) for errors in payload.values())
    matches("done_inline_errors", payload)


# --------------------------------------------------------------------------- /health tasks and the Home tab

ROWS = [
    modal.TaskRow(OPEN[2], HOSTILE),  # overdue, escalated
    modal.TaskRow(OPEN[0], HOSTILE),  # overdue
    modal.TaskRow(task(5, id=205, due_at=datetime(2026, 7, 8, 9, 0, tzinfo=UTC), title="QBR & <deck>"), "Initech"),
    modal.TaskRow(task(6, id=206, due_at=datetime(2026, 7, 2, 9, 0, tzinfo=UTC)), None),
]


@both
def test_my_tasks() -> None:
    none = modal.my_tasks([], NOW, TZ)
    payload = {"none": {"text": none.text, "blocks": none.blocks}, "some": message(modal.my_tasks(ROWS, NOW, TZ))}
    matches("my_tasks", payload)


@both
def test_my_tasks_past_the_limit_says_how_many_more() -> None:
    many = [modal.TaskRow(task(7, id=300 + i, title=f"Task {i:02}"), "Globex") for i in range(modal.LIST_LIMIT + 2)]
    matches("my_tasks_more", message(modal.my_tasks(many, NOW, TZ)))


TEAM: dict[str | None, TierTotal] = {"high_risk": TierTotal(3, 60_000.0), "healthy": TierTotal(20, 50_000.0)}
MINE = AccountRow(42, HOSTILE, CSM, 12_500.0, date(2026, 9, 1), 37.4, "high_risk", -12.2)


@both
@pytest.mark.parametrize(
    "name, rows, day",
    [
        ("home_with_tasks", ROWS, DAY),
        ("home_with_tasks_before_any_score", ROWS[:1], None),
        ("home_with_more_tasks_than_it_shows", [modal.TaskRow(task(7, id=400 + i), "Globex") for i in range(12)], DAY),
    ],
)
def test_home_with_my_tasks(name: str, rows: list[modal.TaskRow], day: date | None) -> None:
    data = HomeData(
        CSM,
        day,
        HomePages(),
        mine={"high_risk": TierTotal(1, 12_500.0)},
        my_pages={"high_risk": Page([MINE], number=0, size=10, has_more=False)},
        team=TEAM,
        moves=[("medium_risk", "high_risk", 1, 12_500.0)],
        drops=[MINE],
        gains=[],
        tasks=rows,
        now=NOW,
        tz=TZ,
        chances=CHANCES,
        loss=LossSummary(LossRow(None, 23, 110_000.0, 2.1, 7_400.0), csms=[LossRow(CSM, 1, 12_500.0, 0.3, 3_750.0)]),
    )
    matches(name, view(home_view(data, TIERS)))


# --------------------------------------------------------------------------- the alert root, the DMs, the listing


CHANCES = Chances(FIT)


def root(a: Alert, lead: str | None = None, chances: Chances = CHANCES) -> dict[str, Any]:
    """The root as the thread draws it: with the chance to churn of the stored fit (37.4: 30 %, band 0-39)."""
    return message(alerts.root(alerts.AlertView(a, ACCOUNT, SCORE, chances=chances), TIERS, TZ, lead))


ESCALATED_AT = datetime(2026, 6, 30, 14, 5, tzinfo=UTC)


@both
@pytest.mark.parametrize(
    "name, build",
    [
        ("alert_root_open_hostile_name", lambda: root(alert())),
        ("alert_root_open_too_little_churn_history", lambda: root(alert(), chances=Chances(TOO_LITTLE))),
        ("alert_root_open_before_any_fit", lambda: root(alert(), chances=Chances(None))),
        ("alert_root_claimed_hostile_name", lambda: root(alert(claimed_by=CLAIMER, claimed_at=ESCALATED_AT))),
        ("alert_root_snoozed", lambda: root(alert(snoozed_until=datetime(2026, 7, 1, 10, 0, tzinfo=UTC)))),
        ("alert_root_snoozed_until_the_tier_changes", lambda: root(alert(snoozed_tier="high_risk"))),
        ("alert_root_escalated_1", lambda: root(alert(escalation_level=1, escalated_at=ESCALATED_AT), "S0CSLEADS")),
        ("alert_root_escalated_2", lambda: root(alert(escalation_level=2, escalated_at=ESCALATED_AT), LEAD)),
        ("alert_root_escalated_no_lead", lambda: root(alert(escalation_level=1, escalated_at=ESCALATED_AT))),
        (
            "alert_root_resolved_saved",
            lambda: root(alert(status="resolved", outcome="saved", resolved_by=CLAIMER, resolved_at=NOW)),
        ),
        (
            "alert_root_resolved_recovered",
            lambda: root(alert(status="resolved", outcome="recovered", resolved_by="healthbot", resolved_at=NOW)),
        ),
    ],
)
def test_alert_root(name: str, build: Any) -> None:
    matches(name, build())


@both
def test_owner_dm_with_a_hostile_name() -> None:
    dm = alerts.owner_dm(alerts.AlertView(alert(), ACCOUNT, SCORE), TIERS, TZ)
    matches("alert_owner_dm", message(dm))


INITECH = Account(id=43, external_id="ACC-43", name="Initech", name_lower="initech", owner_slack_id=None, mrr=900.0)


@both
@pytest.mark.parametrize(
    "name, news, listed",
    [
        ("person_dm_one_alert", [alerts.NewAlert(alerts.AlertView(alert(), ACCOUNT, SCORE), [OPEN[2], OPEN[0]])], []),
        ("person_dm_one_alert_no_tasks", [alerts.NewAlert(alerts.AlertView(alert(), ACCOUNT, SCORE), [])], []),
        (
            "person_dm_alerts_and_listed",
            [
                alerts.NewAlert(alerts.AlertView(alert(), ACCOUNT, SCORE), [OPEN[0]]),
                alerts.NewAlert(alerts.AlertView(alert(id=8, severity="medium_risk"), INITECH, None), []),
            ],
            [alerts.Listed(HOSTILE, "medium_risk", CHANNEL), alerts.Listed("Globex", "high_risk", "C0OTHER001")],
        ),
        ("person_dm_listed_only", [], [alerts.Listed("Globex", "high_risk", CHANNEL)]),
    ],
)
def test_person_dm(name: str, news: list[alerts.NewAlert], listed: list[alerts.Listed]) -> None:
    matches(name, message(alerts.person_dm(news, listed, TIERS, TZ)))


def listing(status: str, **kw: Any) -> AlertListing:
    values: dict[str, Any] = {
        "id": 3,
        "account_id": 42,
        "channel": CHANNEL,
        "severity": "high_risk",
        "reason": "first_run",
        "listed_on": DAY,
        "last_fired_on": DAY,
        "firings": {**FIRINGS, "silence": {"words": "no logins for <9> days"}},
        "message_key": "k:p1",
        "status": status,
    }
    return AlertListing(**{**values, **kw})


LISTING_ROWS = [
    alerts.ListingRow(listing("listed"), ACCOUNT, SCORE),
    alerts.ListingRow(listing("opened", id=4, opened_by=CLAIMER), INITECH, None, alert(id=8)),
    alerts.ListingRow(listing("opened", id=5, opened_by="healthbot"), ACCOUNT, SCORE, alert(id=9)),
    alerts.ListingRow(listing("recovered", id=6, firings={}), INITECH, None),
]


@both
@pytest.mark.parametrize(
    "name, reason, page, pages",
    [("listing_first_run", "first_run", 1, 1), ("listing_budget_page_2_of_3", "budget", 2, 3)],
)
def test_listing_message(name: str, reason: str, page: int, pages: int) -> None:
    matches(name, message(alerts.listing_message(LISTING_ROWS, reason, page, pages, 97, TIERS, 5)))


def test_listing_reasons_are_joined_as_the_language_joins_clauses() -> None:
    with speaking("zh-CN"):
        payload = message(alerts.listing_message(LISTING_ROWS, "first_run", 1, 1, 97, TIERS, 5))
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    assert "_no logins for &lt;9&gt; days；tier dropped from Medium risk to High risk (score 37 that day)_" in text


def test_tasks_and_the_alert_root_show_the_playbook_in_the_readers_language() -> None:
    """A task stores its step's English title; a zh-CN reader sees the step's title and role in Chinese, and the
    SLA worded from its parsed value, an English reader the English; a task whose title is no longer its step's
    (created from an older file) keeps its own words (issue 23)."""
    step = load_playbooks()["medium_risk"].steps[2]
    stored = task(3, playbook="medium_risk", title=step.title, owner_role=step.owner)
    old = task(3, playbook="medium_risk", title="Call the sponsor (an older playbook)", owner_role="CSM")
    with speaking("zh-CN"):
        line, kept = tasks.task_line(stored, TZ), tasks.task_line(old, TZ)
        medium = json.dumps(root(alert(severity="medium_risk")), ensure_ascii=False)
        low = json.dumps(root(alert(severity="low_risk")), ensure_ascii=False)
        listed = modal.task_blocks([modal.TaskRow(stored, "Initech")], NOW, TZ)
    assert "*对于重点客户，由 CS 负责人亲自发一封问候信*\nCS 负责人  ·" in line
    assert "*Call the sponsor (an older playbook)*\nCSM  ·" in kept
    assert (
        "请在 24 小时内响应" in medium and "预约一次 CSM 电话或视频会议" in medium and "Book a CSM call" not in medium
    )
    assert "请在 3 个工作日内响应" in low and "business" not in low
    assert "对于重点客户" in json.dumps(listed, ensure_ascii=False)
    assert f"*{step.title}*\n{step.owner}  ·" in tasks.task_line(stored, TZ)


# --------------------------------------------------------------------------- wording a CS lead reads


def texts(payload: Any) -> list[str]:
    """Every text of a payload (JSON types), to read its wording."""
    if isinstance(payload, dict):
        return [t for k, v in payload.items() for t in ([v] if k == "text" and isinstance(v, str) else texts(v))]
    if isinstance(payload, list):
        return [t for v in payload for t in texts(v)]
    return []


def test_a_count_of_one_takes_the_singular() -> None:
    listed_one = alerts.person_dm([], [alerts.Listed("Globex", "high_risk", CHANNEL)], TIERS, TZ)
    assert "1 listed account for you" in str(listed_one.text)
    assert "0 new alerts" not in str(listed_one.text) and "0 tasks" not in str(listed_one.text)
    assert "1 of your accounts is at risk" in "\n".join(texts(listed_one.blocks))
    first_run = alerts.listing_message(LISTING_ROWS[:1], "first_run", 1, 1, 1, TIERS, 1)
    assert "Where we start: 1 account already at risk" in str(first_run.text)
    assert "budget of 1 new thread a day" in str(
        alerts.listing_message(LISTING_ROWS[:1], "budget", 1, 1, 1, TIERS, 1).text
    )
    home = "\n".join(
        texts(
            view(
                home_view(
                    HomeData(
                        CSM,
                        DAY,
                        HomePages(),
                        mine={"high_risk": TierTotal(1, 12_500.0)},
                        my_pages={"high_risk": Page([MINE], number=0, size=10, has_more=False)},
                        team=TEAM,
                        moves=[("medium_risk", "high_risk", 1, 12_500.0)],
                        drops=[MINE],
                        gains=[],
                        tasks=[],
                        now=NOW,
                        tz=TZ,
                    ),
                    TIERS,
                )
            )
        )
    )
    assert "1 account  ·" in home and "1 account moved to a worse tier" in home
    assert "1 accounts" not in home
    one = modal.my_tasks([modal.TaskRow(task(7, id=300 + i, title=f"Task {i}"), "Globex") for i in range(1)], NOW, TZ)
    assert one.text == "You have 1 open task, none overdue."
    assert "none to a better one." in home and "$0 MRR" not in home


def test_an_overdue_task_nobody_has_says_so_in_words() -> None:
    line = "\n".join(texts(message(tasks.overdue_reply(OPEN[1], 1, None, TZ))))
    assert "assigned to unassigned" not in line
    assert "not assigned yet" in line
    assigned = "\n".join(texts(message(tasks.overdue_reply(OPEN[2], 1, LEAD, TZ))))
    assert f"assigned to <@{CSM}>" in assigned


def test_a_task_closed_meanwhile_reads_as_a_sentence() -> None:
    text = modal.stale_text(DONE, TZ)
    assert f"already closed (done) by <@{CSM}> at Tue 30 Jun 18:30 CEST." in text
    nobody = modal.stale_text(task(1, status="done", closed_by=None, closed_at=None), TZ)
    assert "already closed (done). Nothing" in nobody


def test_the_listing_has_no_empty_italics_and_no_owner_reads_once() -> None:
    lines = texts(message(alerts.listing_message(LISTING_ROWS, "first_run", 1, 1, 97, TIERS, 5)))
    joined = "\n".join(lines)
    assert "__" not in joined
    assert "owner no owner" not in joined
    assert "*Initech*  ·  High risk  ·  score –  ·  no owner" in joined


def test_markup_in_a_data_value_never_sits_inside_the_bot_s_own_bold_or_italics() -> None:
    """`*`, `_` or `~` in a name or title would close the bot's `*...*` early: such a value is shown unwrapped."""
    title = "Step 1: call the *sponsor* &lt;today&gt;"
    lines = [
        *texts(message(tasks.task_list(tasks.TaskList(HOSTILE, "high_risk", [OPEN[0], DONE]), TIERS, TZ))),
        *texts(message(tasks.overdue_reply(OPEN[0], 1, LEAD, TZ))),
        *texts(view(modal.done_modal(OPEN[0], HOSTILE, TZ))),
        *texts(message(tasks.task_dm(HOSTILE, "high_risk", CHANNEL, [OPEN[0]], TIERS, TZ))),
        modal.stale_text(DONE, TZ),
    ]
    assert any(title in line for line in lines)
    for wrap in "*_~":
        assert not any(f"{wrap}{title}{wrap}" in line for line in lines), wrap
    assert "*Call the sponsor*" in modal.stale_text(task(1, title="Call the sponsor", status="done"), TZ)
