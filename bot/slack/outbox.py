"""The outbox sender: delivers the rows of `storage.outbox` to Slack, each exactly once.

    from storage import outbox
    with unit_of_work(sessions) as s:           # the transaction that decides the alert
        outbox.post(s, "alert:ACC-1:2026-06-30", "C0ALERTS", "Acme dropped to red")
    result = drain(sessions, make_client(settings))   # later, from a job: sends what is due

How `drain` behaves:

- pacing: at most one request per channel every `per_channel_interval` seconds (Slack allows
  about one message per second per channel); channels are served side by side by a small
  thread pool, one request in flight per channel, in enqueue order within a channel.
- 429: the channel pauses for Retry-After, its message and the rest of its batch wait for it.
  5xx and connection errors: retried with exponential backoff (`backoff_base` * 2^(attempt-1),
  at most `backoff_max`). `drain` waits for retries due within `max_wait` seconds, then returns.
- exactly once: rows are claimed (`status` sending, lease `claimed_until`) in a committed
  transaction before any request. Every post carries message metadata
  ``{"event_type": "healthbot_outbox", "event_payload": {"key": KEY}}``. When an outcome is unknown
  (timeout, dropped connection, 5xx on a post, or a sender killed after claiming), the row becomes
  `unknown` and is reconciled before any new post: the channel's ``conversations.history`` since
  the row's creation (for a thread reply: its thread's ``conversations.replies``, as history holds
  no replies) is read with ``include_all_metadata`` and a message carrying the key is taken as the
  delivery (its ts is stored). chat.update is idempotent and simply sent again.
- permanent errors (channel_not_found, not_in_channel, invalid_blocks...) mark the row `failed`
  with the error and log one warning line. not_in_channel is retried every `not_in_channel_retry`
  seconds (15 min) by the first drain that runs after that (schedule `drain` every minute or so):
  once someone invites the bot to the channel, that retry delivers it.
- several senders (replicas) may drain one PostgreSQL database: claims skip rows leased by others.

The client's own retry handlers are not used (a blind retry of a post can post twice).
"""

from __future__ import annotations

import logging
import time
import urllib.error
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from storage import outbox
from storage.db import SessionFactory, unit_of_work
from storage.types import OutboxStatus

log = logging.getLogger("healthbot.outbox")

EVENT_TYPE = "healthbot_outbox"
# Slack errors after which the same request can only fail again.
PERMANENT_ERRORS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "invalid_blocks",
        "invalid_blocks_format",
        "msg_too_long",
        "no_text",
        "message_not_found",
        "cant_update_message",
        "edit_window_closed",
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "missing_scope",
        "user_not_found",
        "cannot_dm_bot",
        "restricted_action",
        "invalid_metadata_format",
        "invalid_arguments",
    }
)
RETRY_LATER_ERRORS = frozenset({"not_in_channel"})


@dataclass
class DrainResult:
    """What one `drain` did: messages delivered (`sent`, of which `reconciled` were found already
    posted), `rate_limited` 429s received, `retried` transient failures rescheduled, `unknown`
    outcomes, `failed` permanent errors, and `remaining` rows still to deliver (later or elsewhere)."""

    sent: int = 0
    reconciled: int = 0
    rate_limited: int = 0
    retried: int = 0
    unknown: int = 0
    failed: int = 0
    remaining: int = 0


@dataclass
class _Outcome:
    kind: str  # sent | ratelimited | retry | unknown | failed | reconciled
    started: float | None = None  # when the request really left (the pool may start it late)
    ts: str | None = None
    channel: str | None = None
    error: str | None = None
    retry_after: float = 0.0
    found: dict[str, tuple[str, str]] = field(default_factory=dict)  # reconcile: key -> (ts, channel)


@dataclass
class _Channel:
    queue: deque[outbox.Claimed] = field(default_factory=deque)
    not_before: float = 0.0
    inflight: Future[_Outcome] | None = None
    job: list[outbox.Claimed] = field(default_factory=list)  # the rows of the request in flight
    more: bool = False  # the last claim filled a whole batch: the channel likely has more due


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def plain_client(client: WebClient) -> WebClient:
    """`client` without retry handlers: the sender decides about every retry itself."""
    plain = WebClient(
        token=client.token,
        base_url=client.base_url,
        timeout=client.timeout,
        ssl=client.ssl,
        proxy=client.proxy,
        headers=dict(client.headers),
        logger=client.logger,
    )
    plain.retry_handlers = []
    return plain


def _error_outcome(exc: Exception, is_post: bool) -> _Outcome:
    """Classify a failed request: a 429, a permanent Slack error, or a retry (unknown when it may have posted)."""
    if isinstance(exc, SlackApiError):
        status = exc.response.status_code
        error = str(exc.response.get("error") or f"http_{status}") if isinstance(exc.response.data, dict) else ""
        error = error or f"http_{status}"
        if status == 429 or error == "ratelimited":
            raw = exc.response.headers.get("Retry-After") or exc.response.headers.get("retry-after") or "1"
            raw = raw[0] if isinstance(raw, list) else raw
            try:
                retry_after = max(float(raw), 0.0)
            except ValueError:
                retry_after = 1.0
            return _Outcome("ratelimited", error="ratelimited", retry_after=retry_after)
        if error in PERMANENT_ERRORS:
            return _Outcome("failed", error=error)
        if status >= 500 or error in ("internal_error", "fatal_error", "service_unavailable", "request_timeout"):
            return _Outcome("unknown" if is_post else "retry", error=error)
        return _Outcome("failed", error=error)
    refused = isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, ConnectionRefusedError)
    refused = refused or isinstance(exc, ConnectionRefusedError)
    kind = "retry" if refused or not is_post else "unknown"
    return _Outcome(kind, error=f"{type(exc).__name__}: {exc}"[:255])


def _history_channel(client: WebClient, channel: str) -> str:
    """The conversation a post to `channel` went to: a user id means the DM with them."""
    if channel[:1] in ("U", "W"):
        return str(client.conversations_open(users=channel)["channel"]["id"])
    return channel


def _reconcile(client: WebClient, rows: list[outbox.Claimed]) -> _Outcome:
    """Find which of `rows` (one channel) are already posted: a message's key in the channel's history,
    a reply's in its thread (conversations.history returns no thread replies)."""
    channel = _history_channel(client, rows[0].channel)
    threads: dict[str | None, list[outbox.Claimed]] = {}
    for row in rows:
        threads.setdefault(row.thread_ts, []).append(row)
    found: dict[str, tuple[str, str]] = {}
    try:
        for thread_ts, group in threads.items():
            for key, ts in _read_keys(client, channel, thread_ts, group).items():
                found[key] = (ts, channel)
    except Exception as exc:  # history unreadable: nothing is sent until it can be read
        out = _error_outcome(exc, is_post=False)
        return out if out.kind in ("ratelimited", "failed") else _Outcome("retry", error=out.error)
    return _Outcome("reconciled", found=found)


def _read_keys(client: WebClient, channel: str, thread_ts: str | None, rows: list[outbox.Claimed]) -> dict[str, str]:
    """The ts of each of `rows`' keys posted in `channel` since they were created: its history (Tier 3),
    or with `thread_ts` that thread's conversations.replies (Tier 3; the parent comes first, whatever
    `oldest`). A thread that is gone (thread_not_found) holds none of them."""
    wanted = {r.key for r in rows}
    oldest = f"{min(r.created_at for r in rows).timestamp() - 60:.6f}"  # a minute of clock skew
    found: dict[str, str] = {}
    cursor: str | None = None
    while wanted - found.keys():
        args: dict[str, Any] = dict(channel=channel, oldest=oldest, limit=200, include_all_metadata=True, cursor=cursor)
        try:
            if thread_ts:
                page = client.conversations_replies(ts=thread_ts, **args)
            else:
                page = client.conversations_history(**args)
        except SlackApiError as exc:
            if thread_ts and isinstance(exc.response.data, dict) and exc.response.get("error") == "thread_not_found":
                return found
            raise
        for msg in page.get("messages") or []:
            meta = msg.get("metadata") or {}
            key = (meta.get("event_payload") or {}).get("key") if meta.get("event_type") == EVENT_TYPE else None
            if key in wanted:
                found[key] = str(msg["ts"])
        cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
        if not cursor:
            break
    return found


def _send(client: WebClient, row: outbox.Claimed, now: Callable[[], float]) -> _Outcome:
    """One Web API request for `row`."""
    started = now()
    out = _request(client, row)
    out.started = started
    return out


def _request(client: WebClient, row: outbox.Claimed) -> _Outcome:
    try:
        if row.method == outbox.UPDATE:
            resp = client.chat_update(channel=row.target_channel or row.channel, ts=row.target_ts or "", **row.payload)
        else:
            metadata = {"event_type": EVENT_TYPE, "event_payload": {"key": row.key}}
            extra: dict[str, Any] = {"thread_ts": row.thread_ts} if row.thread_ts else {}
            resp = client.chat_postMessage(channel=row.channel, metadata=metadata, **extra, **row.payload)
    except Exception as exc:
        return _error_outcome(exc, is_post=row.method == outbox.POST)
    return _Outcome("sent", ts=str(resp.get("ts") or row.target_ts), channel=str(resp.get("channel") or row.channel))


def drain(
    sessions: SessionFactory,
    client: WebClient,
    *,
    now: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    per_channel_interval: float = 1.0,
    lease: float = 60.0,
    batch: int | None = None,
    max_workers: int = 8,
    backoff_base: float = 2.0,
    backoff_max: float = 300.0,
    not_in_channel_retry: float = 900.0,
    max_wait: float = 30.0,
    on_send: Callable[[str, str, float], None] | None = None,
) -> DrainResult:
    """Send the outbox's due messages until none are due (waiting for retries due within `max_wait`
    seconds); returns counts. Safe to run in several processes at once and to kill at any moment.

    `now`/`sleep`: the clock (epoch seconds) and how to wait, injectable for tests.
    `batch`: rows claimed per channel at once (default: about `lease` / 4 seconds' worth, 1..200).
    `on_send(channel, key, at)`: called as each request starts (tests and benchmarks).
    """
    interval = max(per_channel_interval, 0.0)
    per_channel = batch or max(1, min(200, int(lease / 4 / interval) if interval else 200))
    plain = plain_client(client)
    result = DrainResult()
    channels: dict[str, _Channel] = {}
    sent_buf: list[tuple[int, str, str | None]] = []
    exhausted = False  # the last claim found nothing
    last_claim = now()

    def flush() -> None:
        if sent_buf:
            with unit_of_work(sessions) as s:
                outbox.mark_sent(s, sent_buf, _dt(now()))
            sent_buf.clear()

    def claim() -> int:
        flush()  # rows sent but not yet marked would look like another sender's lease on their channel
        t = now()
        # a paused channel (429, backoff) gets no new rows: they would wait in memory past their lease
        busy = [c for c, st in channels.items() if len(st.queue) > per_channel // 2 or st.not_before > t + 2 * interval]
        mine = [c for c, st in channels.items() if st.queue or st.inflight is not None]
        with unit_of_work(sessions) as s:
            rows = outbox.claim_due(
                s,
                _dt(t),
                _dt(t + lease + per_channel * interval),
                per_channel=per_channel,
                limit=max(per_channel * 50, 500),
                skip_channels=busy,
                own_channels=mine,
            )
        got = Counter(row.channel for row in rows)
        for row in rows:
            channels.setdefault(row.channel, _Channel()).queue.append(row)
        for name, st in channels.items():
            if name not in busy:
                st.more = got[name] >= per_channel
        return len(rows)

    def pause(name: str, st: _Channel, row_ids: list[int], until: float, error: str | None, unknown: bool) -> None:
        """Reschedule the rows just tried and give back the rest of the channel's batch, all at `until`."""
        st.not_before = max(st.not_before, until)
        rest = [r.id for r in st.queue]
        st.queue.clear()
        with unit_of_work(sessions) as s:
            outbox.schedule_retry(s, row_ids, _dt(until), error, unknown=unknown)
            outbox.release(s, rest, _dt(until))

    def backoff(row: outbox.Claimed) -> float:
        return min(backoff_max, backoff_base * 2 ** max(row.attempts - 1, 0))

    def settle(name: str, st: _Channel, out: _Outcome) -> None:
        rows, st.job, st.inflight = st.job, [], None
        t = now()
        if out.kind == "reconciled":
            for row in rows:
                if row.key in out.found:
                    ts, ch = out.found[row.key]
                    sent_buf.append((row.id, ts, ch))
                    result.sent += 1
                    result.reconciled += 1
            todo = [r for r in rows if r.key not in out.found]
            st.queue.extendleft(reversed([replace(r, reconcile=False) for r in todo]))
            return  # reading the history is not a post: the pacing of posts is unchanged
        row = rows[0]
        if out.started is not None:
            # pace from when the request left, not from when it was queued; and after a slow answer
            # leave half an interval, so a late request and the next one do not reach Slack together
            st.not_before = max(st.not_before, out.started + interval, t + interval / 2)
        if out.kind == "sent":
            sent_buf.append((row.id, out.ts or "", out.channel))
            result.sent += 1
        elif out.kind == "ratelimited":
            result.rate_limited += 1
            flush()
            pause(name, st, [r.id for r in rows], t + out.retry_after, out.error, unknown=False)
        elif out.kind in ("retry", "unknown"):
            result.retried += 1
            result.unknown += out.kind == "unknown"
            flush()
            pause(name, st, [r.id for r in rows], t + backoff(row), out.error, unknown=out.kind == "unknown")
        else:  # failed
            error = out.error or "error"
            later = error in RETRY_LATER_ERRORS
            hint = (
                f"; retried every {not_in_channel_retry / 60:g} min: invite the bot to {row.channel}" if later else ""
            )
            with unit_of_work(sessions) as s:
                for r in rows:
                    outbox.mark_failed(s, r.id, error, _dt(t + not_in_channel_retry) if later else None)
            for r in rows:
                result.failed += 1
                log.warning("outbox: %s to %s (key %s) failed: %s%s", r.method, r.channel, r.key, error, hint)

    last_flush = now()
    margin = min(5.0, lease / 4)
    discover_every = max(1.0, 10 * interval)
    with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="outbox") as pool:
        while True:
            idle = all(not st.queue and st.inflight is None for st in channels.values())
            # refill a channel whose batch runs low while it has more; look for new channels now and then
            want = any(st.more and len(st.queue) <= per_channel // 2 for st in channels.values())
            refill = want or now() - last_claim >= discover_every
            if refill or idle or not channels:
                if idle:
                    flush()  # replies wait for their parent's ts to be stored
                exhausted = claim() == 0
                last_claim = now()
            idle = all(not st.queue and st.inflight is None for st in channels.values())
            if idle and exhausted:
                flush()
                with unit_of_work(sessions) as s:
                    due = outbox.next_due_at(s, _dt(now()))
                wait_s = due.timestamp() - now() if due else None
                if wait_s is None or wait_s > max_wait or wait_s <= 0:
                    break
                sleep(wait_s)
                exhausted = False
                continue
            t = now()
            for name, st in channels.items():
                if st.inflight is None and st.queue and st.not_before <= t:
                    if st.queue[0].reconcile and st.queue[0].method == outbox.POST:
                        st.job = [r for r in st.queue if r.reconcile and r.method == outbox.POST]
                        ids = {r.id for r in st.job}
                        st.queue = deque(r for r in st.queue if r.id not in ids)
                        st.inflight = pool.submit(_reconcile, plain, st.job)
                        continue
                    row = st.queue.popleft()
                    if row.lease_until and row.lease_until.timestamp() - t < margin:
                        # too late to start: another sender may take it from now on
                        with unit_of_work(sessions) as s:
                            outbox.release(s, [row.id], _dt(t))
                        continue
                    st.job = [row]
                    st.not_before = t + interval
                    if on_send:
                        on_send(name, row.key, t)
                    st.inflight = pool.submit(_send, plain, row, now)
            inflight = {st.inflight: name for name, st in channels.items() if st.inflight is not None}
            ready = [st.not_before for st in channels.values() if st.inflight is None and st.queue]
            delay = max(0.0, min(ready) - now()) if ready else None
            if inflight:
                done, _ = wait(list(inflight), timeout=delay if delay is not None else 1.0, return_when=FIRST_COMPLETED)
                for fut in done:
                    name = inflight[fut]
                    settle(name, channels[name], fut.result())
            elif delay:
                sleep(delay)
            if len(sent_buf) >= 100 or now() - last_flush > 0.5:
                flush()
                last_flush = now()
        flush()
    with unit_of_work(sessions) as s:
        left = outbox.counts(s)
    result.remaining = sum(n for status, n in left.items() if status not in (OutboxStatus.SENT, OutboxStatus.FAILED))
    return result
