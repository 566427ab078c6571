"""What a click in an alert's thread decides (`bot.alerts.actions`), on a real database and without HTTP: who may
claim, release, reassign and snooze, what each of them is told, and what is enqueued for the thread."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlmodel import Session

from bot.alerts import actions
from bot.alerts.actions import Done, Look
from bot.alerts.values import AlertRef, Reassign, SnoozeChoice
from bot.retention.actions import close, done_modal
from bot.retention.modal import Submission
from bot.retention.values import TaskRef
from bot.scoring.scorecard import load_scorecard
from prompts import say
from storage import alerts, outbox, tasks
from storage.db import session_factory, unit_of_work
from storage.models import Account, Alert, Task

CHANNEL = "C0ALERTS01"
OWNER, ANNA, BEN, LEAD = "U0OWNER001", "U0ANNA0001", "U0BEN00001", "U0LEAD0001"
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
LOOK = Look(load_scorecard().tiers, ZoneInfo("UTC"), LEAD)


def lead(user: str) -> bool:
    return user == LEAD


def nobody_leads(user: str) -> bool:
    return False


def make_alert(engine: Engine, claimed_by: str | None = None, with_task: bool = False) -> int:
    """An account and its open alert, the thread's root in the outbox (as the alert job leaves it)."""
    with unit_of_work(session_factory(engine)) as session:
        account = Account(external_id="ext-acme", name="Acme", owner_slack_id=OWNER)
        session.add(account)
        session.flush()
        alert = alerts.create(
            session,
            Alert(
                account_id=account.id or 0,
                severity="high_risk",
                opened_on=NOW.date(),
                last_fired_on=NOW.date(),
                opened_at=NOW,
                due_at=NOW,
                channel=CHANNEL,
                claimed_by=claimed_by,
                claimed_at=NOW if claimed_by else None,
                firings={"tier_dropped": {"words": "tier dropped", "severity": "high_risk", "since": "2026-11-27"}},
            ),
        )
        outbox.post(session, f"alert:{alert.id}:root", CHANNEL, "Risk alert: Acme")
        if with_task:
            tasks.create(
                session,
                [
                    Task(
                        alert_id=alert.id or 0,
                        account_id=account.id or 0,
                        playbook="high_risk",
                        step=1,
                        title="Call them",
                        owner_role="csm",
                        due_at=NOW,
                    )
                ],
            )
        return alert.id or 0


def decide(engine: Engine, decision: Callable[[Session], Done]) -> Done:
    with unit_of_work(session_factory(engine)) as session:
        return decision(session)


def stored(engine: Engine, alert_id: int) -> Alert:
    with unit_of_work(session_factory(engine)) as session:
        alert = alerts.get(session, alert_id)
        assert alert is not None
        session.expunge(alert)
        return alert


def test_the_first_claim_wins_and_the_second_hears_who_has_it(engine: Engine) -> None:
    alert_id = make_alert(engine, with_task=True)
    first = decide(engine, lambda s: actions.claim(s, AlertRef(alert_id=alert_id), ANNA, LOOK))
    second = decide(engine, lambda s: actions.claim(s, AlertRef(alert_id=alert_id), BEN, LOOK))
    again = decide(engine, lambda s: actions.claim(s, AlertRef(alert_id=alert_id), ANNA, LOOK))
    assert first == Done(changed=True)
    assert second == Done(note=say("alerts.thread.already_claimed", who=f"<@{ANNA}>"))
    assert again == Done(note=say("alerts.thread.already_yours"))
    assert stored(engine, alert_id).claimed_by == ANNA
    with unit_of_work(session_factory(engine)) as session:
        assert [t.assignee for t in tasks.of_alert(session, alert_id)] == [ANNA]  # the claim gave her the task
        assert outbox.get(session, f"alert:{alert_id}:v{stored(engine, alert_id).version}") is not None


def test_only_the_claimer_or_the_lead_may_release(engine: Engine) -> None:
    alert_id = make_alert(engine, claimed_by=ANNA)
    refused = decide(engine, lambda s: actions.release(s, AlertRef(alert_id=alert_id), BEN, nobody_leads, LOOK))
    assert refused == Done(note=say("alerts.thread.not_allowed_release", who=f"<@{ANNA}>"))
    assert stored(engine, alert_id).claimed_by == ANNA
    by_lead = decide(engine, lambda s: actions.release(s, AlertRef(alert_id=alert_id), LEAD, lead, LOOK))
    assert by_lead == Done(changed=True)
    assert stored(engine, alert_id).claimed_by is None
    unclaimed = decide(engine, lambda s: actions.release(s, AlertRef(alert_id=alert_id), ANNA, lead, LOOK))
    assert unclaimed == Done(note=say("alerts.thread.not_claimed"))


def test_the_claimer_reassigns_and_the_new_holder_may_then_release(engine: Engine) -> None:
    alert_id = make_alert(engine, claimed_by=ANNA)
    to_ben = Reassign(alert_id=alert_id, to=BEN)
    refused = decide(engine, lambda s: actions.reassign(s, to_ben, BEN, nobody_leads, LOOK))
    assert refused.note == say("alerts.thread.not_allowed_release", who=f"<@{ANNA}>")
    assert decide(engine, lambda s: actions.reassign(s, to_ben, ANNA, nobody_leads, LOOK)) == Done(changed=True)
    assert stored(engine, alert_id).claimed_by == BEN
    assert decide(engine, lambda s: actions.release(s, AlertRef(alert_id=alert_id), BEN, nobody_leads, LOOK)).changed


def test_snooze_says_until_when_and_a_resolved_alert_says_so(engine: Engine) -> None:
    alert_id = make_alert(engine)
    done = decide(engine, lambda s: actions.snooze(s, SnoozeChoice(alert_id=alert_id, until="7d"), BEN, NOW, LOOK))
    assert done == Done(changed=True, note=say("alerts.thread.snoozed_note", until="Fri 04 Dec 12:00 UTC"))
    assert stored(engine, alert_id).snoozed_until is not None
    with unit_of_work(session_factory(engine)) as session:
        assert alerts.resolve(session, alert_id, "saved", ANNA)
    late = decide(engine, lambda s: actions.snooze(s, SnoozeChoice(alert_id=alert_id, until="1d"), BEN, NOW, LOOK))
    assert late == Done(note=say("alerts.thread.already_resolved"))


def test_resolve_is_refused_to_others_and_closes_the_tasks_for_the_claimer(engine: Engine) -> None:
    alert_id = make_alert(engine, claimed_by=ANNA, with_task=True)
    view = {
        "private_metadata": f'{{"alert_id":{alert_id}}}',
        "state": {
            "values": {"alert.resolve.outcome": {"alert.resolve.outcome.pick": {"selected_option": {"value": "saved"}}}}
        },
    }
    resolution = actions.read_resolution(view)
    assert isinstance(resolution, actions.Resolution)
    with unit_of_work(session_factory(engine)) as session:
        assert actions.resolve(session, resolution, BEN, nobody_leads, LOOK) == say(
            "alerts.thread.not_allowed_resolve", who=f"<@{ANNA}>"
        )
    with unit_of_work(session_factory(engine)) as session:
        assert actions.resolve(session, resolution, ANNA, nobody_leads, LOOK) is None
    assert stored(engine, alert_id).outcome == "saved"
    with unit_of_work(session_factory(engine)) as session:
        assert all(t.status != "open" for t in tasks.of_alert(session, alert_id))
        assert outbox.get(session, f"alert:{alert_id}:reply:resolved") is not None


def test_mark_done_closes_at_the_version_shown_and_a_second_submission_is_stale(engine: Engine) -> None:
    alert_id = make_alert(engine, claimed_by=ANNA, with_task=True)
    with unit_of_work(session_factory(engine)) as session:
        task = tasks.of_alert(session, alert_id)[0]
        ref = TaskRef(task_id=task.id or 0, version=task.version)
        assert done_modal(session, ref.task_id, LOOK.tz)["callback_id"] == "task.done.modal"
    submission = Submission("done", "Called them", None, None)
    with unit_of_work(session_factory(engine)) as session:
        first = close(session, ref, submission, BEN, LOOK.tiers, LOOK.tz, LOOK.cs_lead)
    with unit_of_work(session_factory(engine)) as session:
        second = close(session, ref, submission, BEN, LOOK.tiers, LOOK.tz, LOOK.cs_lead)
    assert first.stale is None and first.homes == [BEN]  # the task had no assignee: only the closer's Home
    assert second.stale is not None and second.homes == []
