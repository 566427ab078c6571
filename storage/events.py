"""Slack event de-duplication: each event id is handled once, across retries and replicas.

None of them commits: the caller's unit of work (one per Slack request, job or command) does, once.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from sqlalchemy import text
from sqlmodel import Session, col

from storage.models import SlackEvent
from storage.types import utcnow

EVENT_KEY_LENGTH = 64  # slack_event.event_id


def event_key(event_id: str) -> str:
    """What slack_event stores for `event_id`: the id itself, or a digest of the same length when it is longer."""
    if len(event_id) <= EVENT_KEY_LENGTH:
        return event_id
    prefix = "sha256:"
    return prefix + hashlib.sha256(event_id.encode()).hexdigest()[: EVENT_KEY_LENGTH - len(prefix)]


def event_handled(session: Session, event_id: str) -> bool:
    """True once `event_id` was recorded by `claim_event`: a retry of it needs no handling."""
    found = session.execute(text("SELECT 1 FROM slack_event WHERE event_id = :e"), {"e": event_key(event_id)})
    return found.first() is not None


def claim_event(session: Session, event_id: str) -> bool:
    """True for the one caller that records `event_id` first; False for a retry or another replica.

    Any length: an id longer than the column is stored as a digest (`event_key`).
    """
    values = {"event_id": event_key(event_id), "received_at": utcnow()}
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    stmt = insert(SlackEvent).values(**values).on_conflict_do_nothing(index_elements=["event_id"])
    claimed = session.execute(stmt.returning(col(SlackEvent.event_id))).first()
    return claimed is not None


def release_event(session: Session, event_id: str) -> None:
    """Handling failed: let Slack's next retry of `event_id` through."""
    session.execute(text("DELETE FROM slack_event WHERE event_id = :e"), {"e": event_key(event_id)})


def prune_events(session: Session, older_than: timedelta = timedelta(days=1)) -> int:
    """Slack stops retrying after minutes; a day of ids is plenty."""
    result = session.execute(text("DELETE FROM slack_event WHERE received_at < :t"), {"t": utcnow() - older_than})
    return int(result.rowcount)  # type: ignore[attr-defined]
