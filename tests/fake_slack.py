"""A recording fake of the Slack Web API served over real HTTP on loopback.

Point ``slack_sdk.WebClient(base_url=fake.url)`` at it; every request is kept
as a :class:`Call` so tests can assert on what the bot sent.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Call:
    """One recorded request. ``method`` is the API method, ``"response_url"`` or ``"upload"``."""

    method: str
    params: dict
    headers: dict
    path: str
    body: bytes
    failed_status: int | None = None


def _parse_qs(raw: str) -> dict[str, Any]:
    """Parse a query/form string; single values flattened, JSON arrays/objects decoded."""
    out: dict[str, Any] = {}
    for key, values in parse_qs(raw, keep_blank_values=True).items():
        value: Any = values[0] if len(values) == 1 else values
        if isinstance(value, str) and value[:1] in ("[", "{"):
            with contextlib.suppress(ValueError):
                value = json.loads(value)
        out[key] = value
    return out


def _json_obj(body: bytes) -> dict[str, Any]:
    """Decode a JSON object body; anything else (empty, invalid, non-object) gives ``{}``."""
    try:
        value = json.loads(body)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


_AUTH = {
    "user_id": "UBOT",
    "bot_id": "BBOT",
    "team_id": "T1",
    "team": "Test",
    "url": "https://test.slack.com/",
}
_VIEW_METHODS = ("views.publish", "views.open", "views.update", "views.push")
_MESSAGE_METHODS = ("chat.postMessage", "chat.update", "conversations.history", "conversations.replies")


def _asked(flag: Any) -> bool:
    """A boolean argument as slack_sdk sends it (`True`, `1`, `true`)."""
    return str(flag).lower() in ("1", "true")


def _pick(d: Any, *keys: str) -> dict[str, Any]:
    """``{k: d.get(k)}`` for ``keys`` (``{}`` when ``d`` is not a dict)."""
    return {k: d.get(k) for k in keys} if isinstance(d, dict) else {}


class FakeSlack:
    """Loopback HTTP server mimicking ``https://slack.com/api/``; use as a context manager."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._cond = threading.Condition()
        self._failures: dict[str, list[tuple[int, int]]] = {}
        self._overrides: dict[str, dict] = {}
        self._holds: dict[str, threading.Event] = {}
        self._counter = itertools.count(1)
        # outbox support: posted messages per channel (oldest first), per-channel rate limit, dropped answers
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self.rate_limited = 0
        self.real_ts = False
        self._last_ts = 0.0
        self._limit: tuple[int, float] | None = None
        self._sent_at: dict[str, deque[float]] = {}
        self._drops: dict[str, int] = {}
        self._server: ThreadingHTTPServer | None = None
        self.base = ""
        self.url = ""
        # users.info's `locale` (asked with include_locale) per user id; "en-US" for anyone not named here
        self.locales: dict[str, str] = {}

    # ----- lifecycle -------------------------------------------------------
    def start(self) -> FakeSlack:
        """Bind a random free port and serve in a daemon thread."""
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                fake._handle(self)

            do_PUT = do_GET = do_POST  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler, bind_and_activate=False)
        self._server.request_queue_size = 128  # many senders connecting at once are queued, not reset
        self._server.server_bind()
        self._server.server_activate()
        self._server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.url = self.base + "/api/"
        serve = self._server.serve_forever
        threading.Thread(target=serve, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        """Shut the server down and release the port."""
        self.release()  # a held request must not outlive the test
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----- test controls ---------------------------------------------------
    def calls_to(self, method: str) -> list[Call]:
        """All recorded calls to ``method`` (or to a path, such as ``"/response/r1"``), in arrival order
        (failed ones included)."""
        with self._cond:
            return [c for c in self.calls if method in (c.method, c.path)]

    def wait_for(self, method: str, count: int = 1, timeout: float = 5.0) -> list[Call]:
        """Block until at least ``count`` calls to ``method`` arrived; AssertionError on timeout."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.calls_to(method)) >= count, timeout):
                seen = [c.method for c in self.calls]
                raise AssertionError(f"expected {count} call(s) to {method!r} within {timeout}s; got {seen}")
            return self.calls_to(method)

    def fail_next(self, method: str, status: int = 429, times: int = 1, retry_after: int = 1) -> None:
        """Fail the next ``times`` calls to ``method`` with ``status`` (429 adds Retry-After)."""
        with self._cond:
            self._failures.setdefault(method, []).extend([(status, retry_after)] * times)

    def set_response(self, method: str, payload: dict) -> None:
        """Answer ``method`` with ``payload`` (as JSON) instead of the default."""
        with self._cond:
            self._overrides[method] = payload

    def hold(self, target: str) -> None:
        """Hang requests to ``target`` (a method such as ``"response_url"``, or a path such as
        ``"/response/slow"``) after recording them, until :meth:`release`: a slow or stuck Slack."""
        with self._cond:
            self._holds.setdefault(target, threading.Event())

    def release(self, target: str | None = None) -> None:
        """Let held requests to ``target`` (default: every target) be answered, and stop holding it."""
        with self._cond:
            gates = [self._holds.pop(target)] if target in self._holds else []
            if target is None:
                gates, self._holds = list(self._holds.values()), {}
        for gate in gates:
            gate.set()

    def rate_limit(self, max_messages: int, window: float) -> None:
        """Answer chat.postMessage/chat.update with 429 (Retry-After in whole seconds, at least 1) when
        a channel already had ``max_messages`` accepted in the last ``window`` seconds; counted in
        :attr:`rate_limited`. Also turns on :attr:`real_ts` (ts from the wall clock)."""
        with self._cond:
            self._limit = (max_messages, window)
            self.real_ts = True

    def drop_next(self, method: str, times: int = 1) -> None:
        """Handle the next ``times`` calls to ``method`` (a post is recorded and shows in the history)
        but close the connection without an answer: the caller cannot know the outcome."""
        with self._cond:
            self._drops[method] = self._drops.get(method, 0) + times

    def posted(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Messages posted (oldest first), to ``channel`` or to all channels."""
        with self._cond:
            chans = [channel] if channel is not None else list(self.messages)
            return [dict(m) for c in chans for m in self.messages.get(c, [])]

    def user_posted(self, channel: str, ts: str, user: str, text: str = "", subtype: str | None = None) -> None:
        """A message a person posted (Slack has it; the bot never sent it): the root of an assistant thread
        (subtype ``assistant_app_thread``) or of a channel thread, so conversations.replies finds the thread."""
        msg = {"type": "message", "user": user, "text": text, "ts": ts}
        if subtype:
            msg["subtype"] = subtype
        with self._cond:
            self.messages.setdefault(channel, []).append(msg)

    def response_url(self, key: str = "r1") -> str:
        """A URL whose POSTs are recorded as method ``"response_url"``."""
        return f"{self.base}/response/{key}"

    def reset(self) -> None:
        """Forget recorded calls, pending failures and response overrides; release held requests."""
        self.release()
        with self._cond:
            self.calls.clear()
            self._failures.clear()
            self.messages.clear()
            self._sent_at.clear()
            self._drops.clear()
            self.rate_limited = 0
            self._overrides.clear()
            self.locales.clear()

    # ----- request handling ------------------------------------------------
    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        split = urlsplit(h.path)
        body = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        headers = {k.lower(): v for k, v in h.headers.items()}
        params: dict[str, Any] = _parse_qs(split.query)
        ctype = headers.get("content-type", "")
        if split.path.startswith("/api/"):
            method = split.path[len("/api/") :]
            if "json" in ctype:
                params.update(_json_obj(body))
            elif "x-www-form-urlencoded" in ctype:
                params.update(_parse_qs(body.decode("utf-8")))
        elif split.path.startswith("/response/"):
            method = "response_url"
            params.update(_json_obj(body))
        elif split.path.startswith("/upload/"):
            method = "upload"
        else:
            return self._send(h, 404, b"not found", "text/plain")
        call = Call(method, params, headers, split.path, body)
        with self._cond:
            pending = self._failures.get(method)
            failure = pending.pop(0) if pending else None
            call.failed_status = failure[0] if failure else None
            override = self._overrides.get(method)
            n = next(self._counter)
            self.calls.append(call)
            self._cond.notify_all()
            gate = self._holds.get(method) or self._holds.get(split.path)
            if failure is None and self._over_limit(method, params):
                failure = (429, self._retry_after(params))
                call.failed_status = 429
                self.rate_limited += 1
            drop = self._drops.get(method, 0) > 0 and failure is None
            if drop:
                self._drops[method] -= 1
        if gate is not None:
            gate.wait(60)  # released by the test (or stop()); never hangs a run for good
        if failure:
            status, retry_after = failure
            if status == 429:
                payload = json.dumps({"ok": False, "error": "ratelimited"}).encode()
                return self._send(h, 429, payload, "application/json", Retry_After=str(retry_after))
            return self._send(h, status, b"internal error", "text/plain")
        if method == "response_url":
            return self._send(h, 200, b"ok", "text/plain")
        if method == "upload":
            return self._send(h, 200, f"OK - {len(body)}".encode(), "text/plain")
        answer = override if override is not None else self._default(method, params, n)
        if answer.get("ok") and method in _MESSAGE_METHODS:
            answer = self._messages_api(method, params, answer)
        if drop:  # recorded and done, but the caller never hears back
            h.close_connection = True
            with contextlib.suppress(OSError):
                h.connection.shutdown(2)
            return None
        self._send(h, 200, json.dumps(answer).encode(), "application/json")

    # ----- posted messages, history and the per-channel rate limit ------------
    def _over_limit(self, method: str, p: dict[str, Any]) -> bool:
        """Under the lock: True when this post/update to its channel exceeds the rate limit."""
        if self._limit is None or method not in ("chat.postMessage", "chat.update"):
            return False
        most, window = self._limit
        now = time.monotonic()
        seen = self._sent_at.setdefault(str(p.get("channel")), deque())
        while seen and seen[0] <= now - window:
            seen.popleft()
        if len(seen) >= most:
            return True
        seen.append(now)
        return False

    def _retry_after(self, p: dict[str, Any]) -> int:
        assert self._limit is not None
        seen = self._sent_at.get(str(p.get("channel"))) or deque([time.monotonic()])
        return max(1, int(seen[0] + self._limit[1] - time.monotonic() + 0.999))

    def _messages_api(self, method: str, p: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
        """Keep posted messages so conversations.history and conversations.replies return them, as Slack
        does: history holds the channel's messages newest first but no thread replies (unless posted
        with ``reply_broadcast``), and a parent carries ``thread_ts``, ``reply_count`` and
        ``latest_reply``; replies gives a thread oldest first, its parent always first on the first
        page; ``metadata`` only with include_all_metadata. A post to a user id lands in the DM ``D<user>``."""
        chan = str(p.get("channel") or "")
        chan = f"D{chan}" if chan[:1] in ("U", "W") else chan
        with self._cond:
            if method == "chat.postMessage":
                ts = answer["ts"]
                if self.real_ts:
                    self._last_ts = max(time.time(), self._last_ts + 0.000001)
                    ts = f"{self._last_ts:.6f}"
                msg = {"type": "message", "user": "UBOT", "bot_id": "BBOT", "text": p.get("text"), "ts": ts}
                msg.update({k: p[k] for k in ("blocks", "metadata", "thread_ts") if p.get(k) is not None})
                parent = self._find(chan, str(msg.get("thread_ts") or ""))
                if parent is not None:  # a reply to a reply joins its thread
                    msg["thread_ts"] = parent.get("thread_ts") or parent["ts"]
                    if str(p.get("reply_broadcast", "")).lower() in ("true", "1"):
                        msg["subtype"] = "thread_broadcast"
                self.messages.setdefault(chan, []).append(msg)
                return {**answer, "channel": chan, "ts": ts, "message": dict(msg)}
            if method == "chat.update":
                for msg in self.messages.get(chan, []):
                    if msg["ts"] == p.get("ts"):
                        msg.update({k: p[k] for k in ("text", "blocks", "metadata") if k in p})
                        return {**answer, "channel": chan}
                if self.real_ts:  # only then are the stored messages all the bot posted
                    return {"ok": False, "error": "message_not_found"}
                return answer
            oldest, latest = float(p.get("oldest") or 0), float(p.get("latest") or "inf")
            with_meta = str(p.get("include_all_metadata", "")).lower() in ("true", "1")
            start, limit = int(p.get("cursor") or 0), int(p.get("limit") or 100)
            if method == "conversations.replies":
                found = self._find(chan, str(p.get("ts") or ""))
                if found is None:
                    return {"ok": False, "error": "thread_not_found"}
                root = self._find(chan, found.get("thread_ts") or found["ts"]) or found
                thread = sorted(self._replies(chan, root["ts"]), key=lambda m: float(m["ts"]))
                msgs = [root] + [m for m in thread if oldest < float(m["ts"]) <= latest]  # the parent whatever oldest
            else:
                msgs = [m for m in self.messages.get(chan, []) if "thread_ts" not in m or m.get("subtype")]
                msgs = sorted(msgs, key=lambda m: float(m["ts"]), reverse=True)
                msgs = [m for m in msgs if oldest < float(m["ts"]) <= latest]
            page, more = msgs[start : start + limit], start + limit < len(msgs)
            nxt = str(start + limit) if more else ""
            page = [self._as_read(chan, m, with_meta) for m in page]
            return {"ok": True, "messages": page, "has_more": more, "response_metadata": {"next_cursor": nxt}}

    def _replies(self, chan: str, ts: str) -> list[dict[str, Any]]:
        """Under the lock: the replies in the thread of ``ts`` (as posted)."""
        return [m for m in self.messages.get(chan, []) if m.get("thread_ts") == ts]

    def _as_read(self, chan: str, msg: dict[str, Any], with_meta: bool) -> dict[str, Any]:
        """Under the lock: ``msg`` as history/replies show it: a parent with its thread's fields."""
        out = {k: v for k, v in msg.items() if with_meta or k != "metadata"}
        if "thread_ts" not in msg and (replies := self._replies(chan, msg["ts"])):
            out.update(thread_ts=msg["ts"], reply_count=len(replies), latest_reply=replies[-1]["ts"])
        return out

    def _find(self, chan: str, ts: str) -> dict[str, Any] | None:
        """Under the lock: the message of ``chan`` with this ``ts``."""
        return next((m for m in self.messages.get(chan, []) if m["ts"] == ts), None) if ts else None

    def _default(self, method: str, p: dict[str, Any], n: int) -> dict[str, Any]:
        """The canned ``{"ok": true, ...}`` answer for ``method``."""
        ts, uid, chan = f"1700000000.{n * 100:06d}", str(p.get("user", "")), p.get("channel")
        text, view, files = p.get("text"), p.get("view"), p.get("files")
        files = files if isinstance(files, list) else []
        msg = dict(text=text, blocks=p.get("blocks"), ts=ts)
        user = dict(id=uid, name=uid.lower(), real_name=f"User {uid}", tz="UTC")
        upload_url = f"{self.base}/upload/F{n}"
        answers: dict[str, dict[str, Any]] = {
            "auth.test": _AUTH,
            "chat.postMessage": dict(channel=chan, ts=ts, message=msg),
            "chat.update": dict(channel=chan, ts=p.get("ts"), text=text),
            "chat.postEphemeral": dict(message_ts=ts),
            "conversations.open": dict(channel=dict(id=f"D{p.get('users', '')}")),
            "users.info": dict(
                user={
                    **user,
                    "profile": {
                        "email": f"{uid.lower()}@example.com",
                        "real_name": user["real_name"],
                        "display_name": user["name"],
                    },
                    # as Slack: the locale only when asked for
                    **({"locale": self.locales.get(uid, "en-US")} if _asked(p.get("include_locale")) else {}),
                }
            ),
            "files.getUploadURLExternal": dict(upload_url=upload_url, file_id=f"F{n}"),
            "files.completeUploadExternal": dict(files=[_pick(f, "id", "title") for f in files]),
            # the assistant pane: Slack answers these with a bare ok
            "assistant.threads.setStatus": {},
            "assistant.threads.setSuggestedPrompts": {},
            "assistant.threads.setTitle": {},
        }
        if method in _VIEW_METHODS:
            view = view if isinstance(view, dict) else {}
            answers[method] = dict(view={**view, "id": f"V{n}", "hash": f"h{n}"})
        return {"ok": True, **answers.get(method, {})}

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, data: bytes, ctype: str, **hdrs: str) -> None:
        """Write a full response; ``hdrs`` keys use ``_`` for ``-`` (``Retry_After``)."""
        h.send_response(status)
        h.send_header("Content-Type", f"{ctype}; charset=utf-8")
        h.send_header("Content-Length", str(len(data)))
        for k, v in hdrs.items():
            h.send_header(k.replace("_", "-"), v)
        h.end_headers()
        h.wfile.write(data)
