"""A recording fake of the Slack Web API served over real HTTP on loopback.

Point ``slack_sdk.WebClient(base_url=fake.url)`` at it; every request is kept
as a :class:`Call` so tests can assert on what the bot sent.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
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
        self._counter = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self.base = ""
        self.url = ""

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

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.url = self.base + "/api/"
        serve = self._server.serve_forever
        threading.Thread(target=serve, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        """Shut the server down and release the port."""
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
        """All recorded calls to ``method``, in arrival order (failed ones included)."""
        with self._cond:
            return [c for c in self.calls if c.method == method]

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

    def response_url(self, key: str = "r1") -> str:
        """A URL whose POSTs are recorded as method ``"response_url"``."""
        return f"{self.base}/response/{key}"

    def reset(self) -> None:
        """Forget recorded calls, pending failures and response overrides."""
        with self._cond:
            self.calls.clear()
            self._failures.clear()
            self._overrides.clear()

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
        self._send(h, 200, json.dumps(answer).encode(), "application/json")

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
            "users.info": dict(user={**user, "profile": {"email": f"{uid.lower()}@example.com"}}),
            "files.getUploadURLExternal": dict(upload_url=upload_url, file_id=f"F{n}"),
            "files.completeUploadExternal": dict(files=[_pick(f, "id", "title") for f in files]),
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
