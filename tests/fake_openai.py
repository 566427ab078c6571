"""A recording fake of an OpenAI-compatible chat-completions server, over real HTTP on loopback.

`FakeOpenAI().url` is the base URL up to and including /v1 (what LLM_BASE_URL holds). Each request to
/v1/chat/completions takes the next scripted `Reply` (then `default`) and is kept in `requests`. A reply can
answer (`Reply("text")`), answer an error status (`Reply(status=429, retry_after="0")`), answer after a delay
(`delay=...`), send its body a byte at a time (`trickle=...`), send its header lines one at a time
(`header_trickle=...`: each line after that many seconds, `header_lines` of them before the real answer), add
headers (`headers={...}`) or never answer (`hold=True`: held until the client hangs up, which is counted in
`aborted`, or until `release()`).
"""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    content: str | None = "OK"  # choices[0].message.content; None: a body without it
    status: int = 200
    retry_after: str | None = None
    delay: float = 0.0
    hold: bool = False
    trickle: float = 0.0  # seconds between the body's bytes: headers at once, then the body byte by byte
    raw: str | None = None  # the body as it is (invalid JSON, an error object)
    headers: dict[str, str] = field(default_factory=dict)  # extra headers ("Content-Encoding": "gzip"), a Content-Type
    header_trickle: float = 0.0  # seconds between header lines: a server that never quite stops answering
    header_lines: int = 50  # padding lines sent so, before the answer's own headers and body


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: dict[str, Any] = field(default_factory=dict)


class FakeOpenAI:
    def __init__(self, default: Reply | None = None) -> None:
        self.default = default or Reply()
        self.script: deque[Reply] = deque()
        self.requests: list[Seen] = []
        self.aborted = 0
        self.in_flight = 0
        self._cond = threading.Condition()
        self._release = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAI:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()

    def then(self, *replies: Reply) -> FakeOpenAI:
        self.script.extend(replies)
        return self

    def release(self) -> None:
        """Held requests answer now (with an empty 200 body the client no longer reads)."""
        self._release.set()

    def wait_for(self, predicate: Any, timeout: float = 10.0) -> bool:
        """Wait until `predicate(self)` holds (a request seen, held, aborted); False after `timeout`."""
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self), timeout)

    def _next(self) -> Reply:
        with self._cond:
            return self.script.popleft() if self.script else self.default

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                size = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(size)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {}
                reply = fake._next()
                with fake._cond:
                    fake.requests.append(Seen(self.path, dict(self.headers.items()), body))
                    fake.in_flight += 1
                    fake._cond.notify_all()
                try:
                    if reply.hold and not self._held():
                        return
                    if reply.delay:
                        time.sleep(reply.delay)
                    self._answer(reply)
                except OSError:  # the client hung up
                    if reply.header_trickle:
                        with fake._cond:
                            fake.aborted += 1
                            fake._cond.notify_all()
                finally:
                    with fake._cond:
                        fake.in_flight -= 1
                        fake._cond.notify_all()

            def _held(self) -> bool:
                """Hold until released (True) or until the client closes the connection (False, counted)."""
                while not fake._release.wait(0.02):
                    readable, _, _ = select.select([self.connection], [], [], 0)
                    if readable and not self.connection.recv(1, socket.MSG_PEEK):  # b"" once the peer closed
                        with fake._cond:
                            fake.aborted += 1
                            fake._cond.notify_all()
                        return False
                return True

            def _answer(self, reply: Reply) -> None:
                if self.path != "/v1/chat/completions":
                    reply = Reply(status=404, raw=json.dumps({"error": {"message": f"no route {self.path}"}}))
                if reply.raw is not None:
                    text = reply.raw
                elif reply.status >= 400:
                    text = json.dumps({"error": {"message": f"fake error {reply.status}", "type": "server_error"}})
                else:
                    message: dict[str, Any] = {"role": "assistant"}
                    if reply.content is not None:
                        message["content"] = reply.content
                    text = json.dumps({"id": "x", "object": "chat.completion", "choices": [{"message": message}]})
                data = text.encode()
                self.send_response(reply.status)
                for _ in range(reply.header_lines if reply.header_trickle else 0):
                    self.flush_headers()
                    if fake._release.wait(reply.header_trickle):
                        break
                    self.send_header("X-Pad", "a")
                if "Content-Type" not in reply.headers:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if reply.retry_after is not None:
                    self.send_header("Retry-After", reply.retry_after)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                if not reply.trickle:
                    self.wfile.write(data)
                for byte in data if reply.trickle else b"":
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    if fake._release.wait(reply.trickle):
                        break

        return Handler
