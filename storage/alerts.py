"""Alerts and their history: the SQL behind the alert job, the thread's buttons and escalations.

Every state change is one conditional UPDATE (`... WHERE status = 'open' AND claimed_by IS NULL`), so
simultaneous clicks on several replicas have exactly one winner, and each bumps `version`, the
number of the root message's redraw. Nothing here commits: the caller's unit of work does.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import CursorResult, func, update
from sqlmodel import Session, col, or_, select

from storage.models import Account, Alert, AlertEvent, AlertListing
from storage.types import AlertStatus, ListingStatus, utcnow


def open_alert(session: Session, account_id: int) -> Alert | None:
    return session.exec(select(Alert).where(Alert.account_id == account_id, Alert.status == AlertStatus.OPEN)).first()


def open_alerts(session: Session, account_ids: Sequence[int] | None = None) -> list[Alert]:
    stmt = select(Alert).where(Alert.status == AlertStatus.OPEN)
    if account_ids is not None:
        stmt = stmt.where(col(Alert.account_id).in_(list(account_ids)))
    return list(session.exec(stmt.order_by(col(Alert.id))).all())


def get(session: Session, alert_id: int) -> Alert | None:
    alert = session.get(Alert, alert_id)
    if alert is not None:
        session.refresh(alert)  # a conditional UPDATE in this session may have changed it
    return alert


def lock(session: Session, alert_id: int) -> Alert | None:
    """The alert, re-read and its row locked until the unit of work ends (PostgreSQL's `FOR UPDATE`; SQLite has
    one writer anyway): a Claim committing meanwhile waits, or has won and shows in the row read."""
    stmt = select(Alert).where(Alert.id == alert_id).with_for_update().execution_options(populate_existing=True)
    return session.exec(stmt).first()


def account_owners(session: Session, alert_ids: Sequence[int]) -> list[str | None]:
    """The owner of each alert's account (one per alert, repeats kept)."""
    stmt = select(Account.owner_slack_id).join(Alert).where(col(Alert.id).in_(list(alert_ids)))
    return list(session.exec(stmt).all())


def create(session: Session, alert: Alert, detail: dict[str, Any] | None = None) -> Alert:
    """Insert a new open alert and its `opened` event (flushed: it has its id)."""
    session.add(alert)
    session.flush()
    record(session, alert.id or 0, "opened", None, detail or {})
    return alert


def record(session: Session, alert_id: int, kind: str, actor: str | None, detail: dict[str, Any] | None = None) -> None:
    session.add(AlertEvent(alert_id=alert_id, kind=kind, actor=actor, detail=detail or {}))


def opened_between(session: Session, since: datetime, until: datetime) -> list[Alert]:
    """Alerts opened in [since, until], oldest first."""
    stmt = select(Alert).where(col(Alert.opened_at) >= since, col(Alert.opened_at) <= until)
    return list(session.exec(stmt.order_by(col(Alert.id))).all())


def escalated_between(session: Session, since: datetime, until: datetime) -> list[Alert]:
    """Alerts (last) escalated in [since, until]."""
    return list(
        session.exec(select(Alert).where(col(Alert.escalated_at) >= since, col(Alert.escalated_at) <= until)).all()
    )


def resolved_between(session: Session, since: datetime, until: datetime) -> list[Alert]:
    """Alerts resolved in [since, until], in the order they were resolved."""
    stmt = select(Alert).where(col(Alert.resolved_at) >= since, col(Alert.resolved_at) <= until)
    return list(session.exec(stmt.order_by(col(Alert.resolved_at))).all())


def open_or_opened_after(session: Session, day: date) -> set[int]:
    """Accounts whose alert is open or was opened after `day`."""
    stmt = select(Alert.account_id).where(or_(Alert.status == AlertStatus.OPEN, col(Alert.opened_on) > day))
    return set(session.exec(stmt).all())


def past_due(session: Session, now: datetime, levels: int) -> list[Alert]:
    """Open, unclaimed, not snoozed alerts below escalation level `levels` whose SLA has passed, earliest due
    first: the escalation job's candidates."""
    stmt = select(Alert).where(
        Alert.status == AlertStatus.OPEN,
        col(Alert.claimed_by).is_(None),
        col(Alert.snoozed_tier).is_(None),
        or_(col(Alert.snoozed_until).is_(None), col(Alert.snoozed_until) <= now),
        col(Alert.escalation_level) < levels,
        col(Alert.due_at) <= now,
    )
    return list(session.exec(stmt.order_by(col(Alert.due_at), col(Alert.id))).all())


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
                Alert.status == AlertStatus.RESOLVED,
                col(Alert.resolved_at) >= since,
            )
        ).all()
    )


def _changed(session: Session, alert_id: int, where: Sequence[Any], values: dict[str, Any]) -> bool:
    """One conditional UPDATE of an open alert; True when this caller changed it (and bumped its version)."""
    stmt = (
        update(Alert)
        .where(col(Alert.id) == alert_id, col(Alert.status) == AlertStatus.OPEN, *where)
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


def overridden(session: Session, alert_id: int, by: str, detail: dict[str, Any]) -> bool:
    """The account's health override changed: the open alert's root shows it, so a new version (one redraw) and
    an `overridden` event. False when the alert is no longer open."""
    changed = _changed(session, alert_id, [], {})
    if changed:
        record(session, alert_id, "overridden", by, detail)
    return changed


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
        session,
        alert_id,
        [col(Alert.claimed_by).is_(None), col(Alert.escalation_level) == level - 1],
        {"escalation_level": level, "escalated_at": now},
    )
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
    won = _changed(
        session,
        alert_id,
        [],
        {"status": AlertStatus.RESOLVED, "outcome": outcome, "resolved_by": by, "resolved_at": now},
    )
    if won:
        record(session, alert_id, "resolved", None if by == "healthbot" else by, {"outcome": outcome})
    return won


# --------------------------------------------------------------------------- listings (first run, past the budget)


def any_history(session: Session) -> bool:
    """Whether the alert job ever opened or listed anything: False on a first run."""
    return (
        session.exec(select(Alert.id).limit(1)).first() is not None
        or session.exec(select(AlertListing.id).limit(1)).first() is not None
    )


def opened_in(session: Session, channel: str, since: datetime, until: datetime) -> int:
    """Alerts opened in `channel` in [since, until), except those a person opened from a listing: what the
    job's budget of new threads per channel and day has spent."""
    by_person = select(AlertListing.alert_id).where(
        col(AlertListing.alert_id).is_not(None), col(AlertListing.opened_by) != "healthbot"
    )
    stmt = (
        select(func.count())
        .select_from(Alert)
        .where(
            Alert.channel == channel,
            col(Alert.opened_at) >= since,
            col(Alert.opened_at) < until,
            col(Alert.id).not_in(by_person),
        )
    )
    return int(session.exec(stmt).one())


def add_listing(session: Session, listing: AlertListing) -> AlertListing:
    session.add(listing)
    session.flush()
    return listing


def listing(session: Session, listing_id: int) -> AlertListing | None:
    row = session.get(AlertListing, listing_id)
    if row is not None:
        session.refresh(row)  # a conditional UPDATE in this session may have changed it
    return row


def listed(session: Session) -> list[AlertListing]:
    """The accounts listed and not opened (nor recovered, nor churned)."""
    return list(session.exec(select(AlertListing).where(AlertListing.status == ListingStatus.LISTED)).all())


def on_message(session: Session, message_key: str) -> list[AlertListing]:
    """The rows of one listing message, in the order it shows them."""
    rows = session.exec(
        select(AlertListing).where(AlertListing.message_key == message_key).order_by(col(AlertListing.id))
    ).all()
    for row in rows:
        session.refresh(row)
    return list(rows)


def on_batch(session: Session, key_prefix: str) -> list[AlertListing]:
    """The rows of every page of one listing (their message keys start with `key_prefix`)."""
    stmt = select(AlertListing).where(col(AlertListing.message_key).startswith(key_prefix, autoescape=True))
    return list(session.exec(stmt.order_by(col(AlertListing.id))).all())


def listings_between(session: Session, since: datetime, until: datetime) -> list[AlertListing]:
    """Listings made in [since, until)."""
    stmt = select(AlertListing).where(col(AlertListing.listed_at) >= since, col(AlertListing.listed_at) < until)
    return list(session.exec(stmt.order_by(col(AlertListing.id))).all())


def joined_between(session: Session, since: datetime, until: datetime) -> list[Alert]:
    """Alerts a further rule joined in [since, until], once per join."""
    stmt = (
        select(Alert)
        .join(AlertEvent, col(AlertEvent.alert_id) == col(Alert.id))
        .where(AlertEvent.kind == "joined", col(AlertEvent.at) >= since, col(AlertEvent.at) <= until)
    )
    return list(session.exec(stmt).all())


def keep_listed(session: Session, listing_id: int, firings: dict[str, Any], severity: str, day: Any) -> bool:
    """A listed account's rules still fire on `day`: its firings and severity, kept current."""
    stmt = (
        update(AlertListing)
        .where(col(AlertListing.id) == listing_id, col(AlertListing.status) == ListingStatus.LISTED)
        .values(firings=firings, severity=severity, last_fired_on=day)
    )
    result = session.execute(stmt)
    assert isinstance(result, CursorResult)
    return result.rowcount == 1


def end_listing(
    session: Session,
    listing_id: int,
    status: str,
    by: str | None = None,
    alert_id: int | None = None,
    now: datetime | None = None,
) -> bool:
    """listed -> `status` (opened: by whom, its alert; recovered; churned), once: True for the caller who did."""
    values: dict[str, Any] = {"status": status}
    if status == ListingStatus.OPENED:
        values.update(opened_by=by, opened_at=now or utcnow(), alert_id=alert_id)
    stmt = (
        update(AlertListing)
        .where(col(AlertListing.id) == listing_id, col(AlertListing.status) == ListingStatus.LISTED)
        .values(**values)
    )
    result = session.execute(stmt)
    assert isinstance(result, CursorResult)
    return result.rowcount == 1


def put_on_message(session: Session, listings: Sequence[AlertListing], message_key: str) -> None:
    """These listings show on the message `message_key` (flushed)."""
    for item in listings:
        item.message_key = message_key
        session.add(item)
    session.flush()


def set_listing_alert(session: Session, listing_id: int, alert_id: int) -> None:
    session.execute(update(AlertListing).where(col(AlertListing.id) == listing_id).values(alert_id=alert_id))
