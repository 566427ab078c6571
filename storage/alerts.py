"""Alerts and their history: the SQL behind the alert job, the thread's buttons and escalations.

Every state change is one conditional UPDATE (`... WHERE status = 'open' AND claimed_by IS NULL`), so
simultaneous clicks on several replicas have exactly one winner, and each bumps `version`, the
number of the root message's redraw. Nothing here commits: the caller's unit of work does.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import CursorResult, update
from sqlmodel import Session, col, select

from storage.models import Alert, AlertEvent, utcnow


def open_alert(session: Session, account_id: int) -> Alert | None:
    return session.exec(select(Alert).where(Alert.account_id == account_id, Alert.status == "open")).first()


def open_alerts(session: Session, account_ids: Sequence[int] | None = None) -> list[Alert]:
    stmt = select(Alert).where(Alert.status == "open")
    if account_ids is not None:
        stmt = stmt.where(col(Alert.account_id).in_(list(account_ids)))
    return list(session.exec(stmt.order_by(col(Alert.id))).all())


def get(session: Session, alert_id: int) -> Alert | None:
    alert = session.get(Alert, alert_id)
    if alert is not None:
        session.refresh(alert)  # a conditional UPDATE in this session may have changed it
    return alert


def create(session: Session, alert: Alert, detail: dict[str, Any] | None = None) -> Alert:
    """Insert a new open alert and its `opened` event (flushed: it has its id)."""
    session.add(alert)
    session.flush()
    record(session, alert.id or 0, "opened", None, detail or {})
    return alert


def record(session: Session, alert_id: int, kind: str, actor: str | None, detail: dict[str, Any] | None = None) -> None:
    session.add(AlertEvent(alert_id=alert_id, kind=kind, actor=actor, detail=detail or {}))


def history(session: Session, alert_id: int) -> list[AlertEvent]:
    return list(
        session.exec(select(AlertEvent).where(AlertEvent.alert_id == alert_id).order_by(col(AlertEvent.id))).all()
    )


def resolved_since(session: Session, account_ids: Sequence[int], since: datetime) -> list[Alert]:
    """Alerts of these accounts resolved at or after `since`: what the rules' cooldowns look at."""
    if not account_ids:
        return []
    return list(
        session.exec(
            select(Alert).where(
                col(Alert.account_id).in_(list(account_ids)),
                Alert.status == "resolved",
                col(Alert.resolved_at) >= since,
            )
        ).all()
    )


def _changed(session: Session, alert_id: int, where: Sequence[Any], values: dict[str, Any]) -> bool:
    """One conditional UPDATE of an open alert; True when this caller changed it (and bumped its version)."""
    stmt = (
        update(Alert)
        .where(col(Alert.id) == alert_id, col(Alert.status) == "open", *where)
        .values(**values, version=col(Alert.version) + 1)
    )
    result = session.execute(stmt)
    assert isinstance(result, CursorResult)
    return result.rowcount == 1


def claim(session: Session, alert_id: int, user_id: str, now: datetime | None = None) -> bool:
    """The first claim wins: True for the caller who claimed it, False when someone already had."""
    now = now or utcnow()
    won = _changed(session, alert_id, [col(Alert.claimed_by).is_(None)], {"claimed_by": user_id, "claimed_at": now})
    if won:
        record(session, alert_id, "claimed", user_id)
    return won


def release(session: Session, alert_id: int, by: str, claimed_by: str) -> bool:
    """Unclaim, if `claimed_by` still holds it (a stale Release click changes nothing)."""
    won = _changed(session, alert_id, [col(Alert.claimed_by) == claimed_by], {"claimed_by": None, "claimed_at": None})
    if won:
        record(session, alert_id, "released", by, {"was": claimed_by})
    return won


def reassign(session: Session, alert_id: int, by: str, to: str, now: datetime | None = None) -> bool:
    now = now or utcnow()
    won = _changed(session, alert_id, [], {"claimed_by": to, "claimed_at": now})
    if won:
        record(session, alert_id, "reassigned", by, {"to": to})
    return won


def snooze(session: Session, alert_id: int, by: str, until: datetime | None, tier: str | None) -> bool:
    """Snooze until a time, or (`tier`) until the account's tier changes from `tier`."""
    won = _changed(session, alert_id, [], {"snoozed_until": until, "snoozed_tier": tier})
    if won:
        record(session, alert_id, "snoozed", by, {"until": until.isoformat() if until else None, "tier": tier})
    return won


def unsnooze(session: Session, alert_id: int, why: str) -> bool:
    won = _changed(session, alert_id, [], {"snoozed_until": None, "snoozed_tier": None})
    if won:
        record(session, alert_id, "unsnoozed", None, {"why": why})
    return won


def escalate(session: Session, alert_id: int, level: int, now: datetime | None = None) -> bool:
    """Move an unclaimed alert to escalation `level`, once: a replica running the same job changes nothing."""
    now = now or utcnow()
    won = _changed(
        session, alert_id, [col(Alert.claimed_by).is_(None), col(Alert.escalation_level) == level - 1],
        {"escalation_level": level, "escalated_at": now},
    )  # fmt: skip
    if won:
        record(session, alert_id, "escalated", None, {"level": level})
    return won


def join(session: Session, alert_id: int, firings: dict[str, Any], severity: str, day: Any) -> bool:
    """Store the alert's firings (new rules joined, or still firing on `day`) and its severity."""
    won = _changed(session, alert_id, [], {"firings": firings, "severity": severity, "last_fired_on": day})
    return won


def resolve(session: Session, alert_id: int, outcome: str, by: str, now: datetime | None = None) -> bool:
    """Close an open alert with its outcome; False when it was closed already."""
    now = now or utcnow()
    won = _changed(session, alert_id, [], {"status": "resolved", "outcome": outcome, "resolved_by": by,
                                           "resolved_at": now})  # fmt: skip
    if won:
        record(session, alert_id, "resolved", None if by == "healthbot" else by, {"outcome": outcome})
    return won
