"""The outbox of Slack messages: every post, update or DM the bot decides is a row, written in the
transaction that decided it, and sent later by `bot.slack.outbox.drain`.

A message is identified by its idempotency key (the caller's choice, e.g. ``alert:ACC-1:2026-06-30``):
enqueueing the same key again changes nothing. None of these functions commits: the caller's
`storage.db.unit_of_work` does. Times are timezone-aware UTC datetimes.

Lifecycle (`OutboxMessage.status`)::

    pending --claim--> sending --sent--> sent
                          |--transient error (429, 5xx before sending)--> pending (later)
                          |--outcome unknown (timeout, dropped connection, sender died)--> unknown
                          '--permanent error--> failed (final, or retried later for not_in_channel)
    unknown --claim--> unknown (claimed): the sender reconciles first (conversations.history, or for a
                                          reply its thread's conversations.replies)

Several senders may drain one PostgreSQL database: `claim_due` takes rows with a conditional
UPDATE over ``FOR UPDATE SKIP LOCKED`` and sets a lease (`claimed_until`), so each row has one
sender at a time; a row whose lease passed while `sending` belonged to a sender that died.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, text
from sqlalchemy import update as sql_update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from storage.models import OutboxMessage
from storage.types import OutboxStatus, UtcDateTime, utcnow

POST = "chat.postMessage"
UPDATE = "chat.update"
METHODS = (POST, UPDATE)

_TS = UtcDateTime()  # the raw statements' times bound (and read) as the ORM's columns are: aware UTC

# Due: waiting and its time has come, or claimed by a sender whose lease ran out (it died mid-send).
_DUE = """(
    (o.status IN ('pending', 'unknown', 'failed') AND o.next_attempt_at <= :now
        AND (o.claimed_until IS NULL OR o.claimed_until < :now))
    OR (o.status = 'sending' AND o.claimed_until < :now)
)"""
# An update needs its target's ts, a reply its parent's ts.
_READY = """(
    (o.target_key IS NULL
        OR EXISTS (SELECT 1 FROM outbox_message t WHERE t.key = o.target_key AND t.ts IS NOT NULL))
    AND (o.thread_key IS NULL
        OR EXISTS (SELECT 1 FROM outbox_message p WHERE p.key = o.thread_key AND p.ts IS NOT NULL))
)"""


@dataclass(frozen=True)
class Claimed:
    """A row a sender holds until its lease ends, with what it needs to send it (no session attached).

    `reconcile`: an earlier attempt may have reached Slack; look for the key in the channel's history
    (a reply: in its thread) before sending. `target_channel`/`target_ts`: the message a chat.update
    edits. `thread_ts`: the parent of a reply.
    """

    id: int
    key: str
    method: str
    channel: str
    payload: dict[str, Any]
    attempts: int
    created_at: datetime
    reconcile: bool
    lease_until: datetime | None = None  # the sender must not start a request after this
    target_channel: str | None = None
    target_ts: str | None = None
    thread_ts: str | None = None


def exit_summary_key(interview_id: int, version: int) -> str:
    """The churn channel's summary of one version of an exit interview (the features with more kinds of
    message build their keys next to their messages: `bot.alerts.threads`, `bot.retention.service`, the digest)."""
    return f"exit:{interview_id}:v{version}"


def enqueue(
    session: Session,
    key: str,
    channel: str,
    payload: dict[str, Any],
    *,
    method: str = POST,
    target_key: str | None = None,
    thread_key: str | None = None,
    at: datetime | None = None,
) -> bool:
    """Record a message to send; True when new, False when `key` was already there (nothing changes).

    `payload`: the Web API arguments besides channel/ts/thread_ts/metadata (``text``, ``blocks``,
    ``unfurl_links``...). `channel`: a channel id, or a user id for a DM. `target_key` (chat.update):
    the key of the row whose posted message to edit. `thread_key`: the key of the thread's parent row;
    the reply is sent once the parent has its ts (if the parent fails for good, it stays pending).
    `at`: not before this time (default now).
    """
    if method not in METHODS:
        raise ValueError(f"unsupported outbox method {method!r}")
    if method == UPDATE and not target_key:
        raise ValueError("chat.update needs target_key")
    now = utcnow()
    values = dict(
        key=key,
        method=method,
        channel=channel,
        payload=payload,
        target_key=target_key,
        thread_key=thread_key,
        status=OutboxStatus.PENDING,
        attempts=0,
        next_attempt_at=at or now,
        created_at=now,
    )
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    table = OutboxMessage.__table__  # type: ignore[attr-defined]
    stmt = insert(table).values(**values).on_conflict_do_nothing(index_elements=["key"]).returning(table.c.id)
    return session.execute(stmt).first() is not None


def post(session: Session, key: str, channel: str, text: str, blocks: list[dict] | None = None, **kw: Any) -> bool:
    """`enqueue` a chat.postMessage of `text` (and `blocks`); a DM when `channel` is a user id.

    `thread_key=` makes it a reply in the thread of that row's message."""
    payload: dict[str, Any] = {"text": text, **({"blocks": blocks} if blocks is not None else {})}
    return enqueue(session, key, channel, payload, **kw)


def update(session: Session, key: str, target_key: str, text: str, blocks: list[dict] | None = None) -> bool:
    """`enqueue` a chat.update of the message posted for `target_key` (enqueued before, maybe not sent yet)."""
    target = get(session, target_key)
    if target is None:
        raise ValueError(f"no outbox message {target_key!r} to update")
    payload: dict[str, Any] = {"text": text, **({"blocks": blocks} if blocks is not None else {})}
    return enqueue(session, key, target.channel, payload, method=UPDATE, target_key=target_key)


def hold(session: Session, keys: Sequence[str], until: datetime) -> None:
    """Pending messages with these keys wait until `until` (quiet hours)."""
    if keys:
        session.execute(
            sql_update(OutboxMessage)
            .where(col(OutboxMessage.key).in_(keys), col(OutboxMessage.status) == OutboxStatus.PENDING)
            .values(next_attempt_at=until)
        )


def all_messages(session: Session) -> list[OutboxMessage]:
    """Every message, oldest first."""
    return list(session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))).all())


def get(session: Session, key: str) -> OutboxMessage | None:
    return session.exec(select(OutboxMessage).where(OutboxMessage.key == key)).first()


def claim_due(
    session: Session,
    now: datetime,
    lease_until: datetime,
    *,
    per_channel: int = 10,
    limit: int = 500,
    skip_channels: Iterable[str] = (),
    own_channels: Iterable[str] = (),
) -> list[Claimed]:
    """Take up to `per_channel` due messages of each channel (oldest first, at most `limit` in all),
    leased to this sender until `lease_until`; rows that another sender holds are skipped.

    Only messages whose target/parent already has a ts are due. `skip_channels`: channels this
    sender is still busy with (or paused by a 429). A channel with rows leased to another sender is
    left to that sender, so pacing per channel holds across replicas; `own_channels`: the channels
    whose leased rows are this sender's. Returns them ordered by channel then age.
    """
    skip = sorted(set(skip_channels))
    own = sorted(set(own_channels))
    pg = session.get_bind().dialect.name == "postgresql"
    not_skipped = "AND o.channel NOT IN :skip" if skip else ""
    not_own = "AND x.channel NOT IN :own" if own else ""
    others = f"""AND o.channel NOT IN (SELECT x.channel FROM outbox_message x
        WHERE x.status IN ('sending', 'unknown') AND x.claimed_until >= :now {not_own})"""
    sql = f"""
        UPDATE outbox_message SET
            status = CASE WHEN status IN ('unknown', 'sending') THEN 'unknown' ELSE 'sending' END,
            claimed_until = :until, attempts = attempts + 1
        WHERE id IN (
            SELECT o.id FROM outbox_message o WHERE o.id IN (
                SELECT id FROM (
                    SELECT o.id, ROW_NUMBER() OVER (PARTITION BY o.channel ORDER BY o.id) AS rn
                    FROM outbox_message o WHERE {_DUE} AND {_READY} {not_skipped} {others}
                ) AS c WHERE rn <= :k ORDER BY rn, id LIMIT :limit
            ) AND {_DUE}
            {"FOR UPDATE SKIP LOCKED" if pg else ""}
        )
        RETURNING id
    """
    params: dict[str, Any] = {"now": now, "until": lease_until, "k": per_channel, "limit": limit}
    binds = [bindparam("now", type_=_TS), bindparam("until", type_=_TS)]
    for name, values in (("skip", skip), ("own", own)):
        if values:
            binds.append(bindparam(name, expanding=True))
            params[name] = values
    ids = [r[0] for r in session.execute(text(sql).bindparams(*binds), params)]
    if not ids:
        return []
    rows = session.exec(select(OutboxMessage).where(col(OutboxMessage.id).in_(ids))).all()
    refs = {k for r in rows for k in (r.target_key, r.thread_key) if k}
    ref_rows = session.exec(select(OutboxMessage).where(col(OutboxMessage.key).in_(refs))).all() if refs else []
    by_key = {r.key: r for r in ref_rows}
    out = []
    for r in rows:
        target = by_key.get(r.target_key or "")
        parent = by_key.get(r.thread_key or "")
        out.append(
            Claimed(
                id=r.id or 0,
                key=r.key,
                method=r.method,
                channel=r.channel,
                payload=dict(r.payload),
                attempts=r.attempts,
                created_at=r.created_at,
                reconcile=r.status == OutboxStatus.UNKNOWN,
                lease_until=r.claimed_until,
                target_channel=(target.sent_channel or target.channel) if target else None,
                target_ts=target.ts if target else None,
                thread_ts=parent.ts if parent else None,
            )
        )
    return sorted(out, key=lambda c: (c.channel, c.id))


def mark_sent(session: Session, sent: Sequence[tuple[int, str, str | None]], now: datetime | None = None) -> None:
    """Record delivered messages: (id, ts, channel Slack answered with) each; the lease ends."""
    if not sent:
        return
    sql = text(
        "UPDATE outbox_message SET status = 'sent', ts = :ts, sent_channel = :ch, sent_at = :at,"
        " claimed_until = NULL, next_attempt_at = NULL, error = NULL WHERE id = :id"
    ).bindparams(bindparam("at", type_=_TS))
    at = now or utcnow()
    session.execute(sql, [{"id": i, "ts": ts, "ch": ch, "at": at} for i, ts, ch in sent])


def schedule_retry(
    session: Session, ids: Sequence[int], at: datetime, error: str | None = None, *, unknown: bool = False
) -> None:
    """Try `ids` again at `at` (after a 429, a 5xx or a dropped connection); the lease ends.

    `unknown=True`: the request may have reached Slack, so the next attempt reconciles first.
    """
    if not ids:
        return
    status = "'unknown'" if unknown else "CASE WHEN status = 'unknown' THEN 'unknown' ELSE 'pending' END"
    sql = text(
        f"UPDATE outbox_message SET status = {status}, next_attempt_at = :at, claimed_until = NULL,"
        " error = :error WHERE id IN :ids"
    ).bindparams(bindparam("at", type_=_TS), bindparam("ids", expanding=True))
    session.execute(sql, {"at": at, "error": (error or "")[:255] or None, "ids": list(ids)})


def release(session: Session, ids: Sequence[int], at: datetime) -> None:
    """Give back claimed rows this sender did not try (e.g. the rest of a channel's batch after a 429):
    not before `at`, and their attempt is not counted."""
    if not ids:
        return
    sql = text(
        "UPDATE outbox_message SET status = CASE WHEN status = 'unknown' THEN 'unknown' ELSE 'pending' END,"
        " attempts = attempts - 1, next_attempt_at = :at, claimed_until = NULL WHERE id IN :ids"
    ).bindparams(bindparam("at", type_=_TS), bindparam("ids", expanding=True))
    session.execute(sql, {"at": at, "ids": list(ids)})


def mark_failed(session: Session, msg_id: int, error: str, retry_at: datetime | None = None) -> None:
    """A permanent error: stored on the row; tried again at `retry_at` if given (not_in_channel), else final."""
    sql = text(
        "UPDATE outbox_message SET status = 'failed', error = :error, next_attempt_at = :at,"
        " claimed_until = NULL WHERE id = :id"
    ).bindparams(bindparam("at", type_=_TS))
    session.execute(sql, {"id": msg_id, "error": error[:255], "at": retry_at})


def counts(session: Session) -> dict[str, int]:
    """Rows per status (e.g. ``{"sent": 10, "pending": 2}``)."""
    rows = session.exec(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all()
    return {status: int(n) for status, n in rows}


def next_due_at(session: Session, now: datetime) -> datetime | None:
    """When a row that is not due at `now` becomes due (a scheduled retry, or another sender's lease
    ending); None when no row is waiting. Rows waiting for a parent's ts are not counted."""
    sql = (
        text(f"""
        SELECT MIN(CASE WHEN o.status = 'sending' THEN o.claimed_until
                        WHEN o.claimed_until IS NOT NULL AND o.claimed_until > o.next_attempt_at THEN o.claimed_until
                        ELSE o.next_attempt_at END) AS due
        FROM outbox_message o
        WHERE o.status IN ('pending', 'unknown', 'failed', 'sending') AND NOT {_DUE} AND {_READY}
          AND (o.status = 'sending' OR o.next_attempt_at IS NOT NULL)
    """)
        .bindparams(bindparam("now", type_=_TS))
        .columns(due=_TS)
    )
    due: datetime | None = session.execute(sql, {"now": now}).scalar()
    return due
