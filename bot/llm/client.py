"""An OpenAI-compatible chat-completions endpoint (LLM_BASE_URL, LLM_MODEL, LLM_API_KEY); None when AI is off.

    Model.from_settings(settings) -> Model | None        # None: AI off (the default)
    model.chat(messages, *, json_mode=False, timeout=None) -> str   # raises ModelError (timeout, 4xx, 5xx, bad body)

`timeout` is the caller's whole deadline: waiting for a free slot (LLM_CONCURRENCY calls at once), every attempt
(its headers and body, however slowly a server sends them: a watchdog shuts the socket at the deadline) and every
backoff fit in it. 429 and 5xx answers and refused connections are retried (Retry-After honoured) while
the deadline allows; a wait that would pass it fails at once rather than answer late. The key (or a user:password
in LLM_BASE_URL, sent as basic auth) goes into the Authorization header only: never into a URL httpx logs, a log
line, an error or a repr (a server's error text is scrubbed of it).
"""

from __future__ import annotations

import json
import logging
import random
import socket
import threading
import time
from email.utils import parsedate_to_datetime
from functools import cache
from typing import Any

import httpx

from prompts import say

log = logging.getLogger("healthbot.llm")
ATTEMPTS = 3
BACKOFF = 0.5  # seconds before the second attempt, doubled for each next one (with jitter)
MAX_BODY = 1_000_000  # bytes of a reply at most
MIN_ATTEMPT = 0.5  # seconds an attempt needs at least: a wait that leaves less than this fails now


class ModelError(RuntimeError):
    """The model gave no usable reply: the caller falls back to the deterministic answer and says why.

    `kind` is what the caller tells the user: "timeout" (no answer within the deadline), "busy" (no free slot in
    time), "http" (an error status or no connection), "invalid" (a body or JSON that cannot be used). Its text is
    prompts/llm.toml [error]'s, in the current language: it reaches a user under a fallback (an exit interview's
    suggested coding, the churn review's themes). `status`: the HTTP status of an "http" error that has one."""

    def __init__(self, kind: str, why: str, status: int | None = None) -> None:
        super().__init__(why)
        self.kind = kind
        self.status = status


def retry_after(value: str | None) -> float | None:
    """Seconds a Retry-After header asks for (delta-seconds or an HTTP date); None when absent or unreadable."""
    value = (value or "").strip()
    if value.replace(".", "", 1).isdigit():
        return float(value)
    try:
        return max(parsedate_to_datetime(value).timestamp() - time.time(), 0.0)
    except (TypeError, ValueError, IndexError):
        return None


class Model:
    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        *,
        concurrency: int = 2,
        timeout: float = 20.0,
    ) -> None:
        headers = {"Content-Type": "application/json", "User-Agent": "healthbot"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        # a user:password@ in the URL (a proxy's basic auth) goes into a header: httpx logs every URL it requests
        url = httpx.URL(base_url.rstrip("/") + "/chat/completions")
        auth = httpx.BasicAuth(url.username, url.password) if url.userinfo and not api_key else None
        self.url = str(url.copy_with(username=None, password=None))
        self.model = model
        self.timeout = timeout  # LLM_TIMEOUT: what callers pass as `timeout` unless they have less time left
        self._secrets = [secret for secret in (api_key, url.password if auth else None) if secret]
        self._slots = threading.BoundedSemaphore(concurrency)
        # no redirects: the key must not follow a 30x to another host; no kept-alive connections: each attempt
        # connects anew, so its watchdog knows the socket to shut (_Watchdog)
        self._http = httpx.Client(
            headers=headers, auth=auth, follow_redirects=False, limits=httpx.Limits(max_keepalive_connections=0)
        )

    def __repr__(self) -> str:
        return f"Model({self.url!r}, {self.model!r})"

    @classmethod
    def from_settings(cls, settings: Any) -> Model | None:
        """None unless LLM_BASE_URL and LLM_MODEL are both set (the settings check refuses one without the other).

        The same settings give the same Model, however often it is asked for: LLM_CONCURRENCY caps the process."""
        base_url, model = getattr(settings, "llm_base_url", None), getattr(settings, "llm_model", None)
        if not base_url or not model:
            return None
        return _shared(
            base_url,
            model,
            getattr(settings, "llm_api_key", None),
            getattr(settings, "llm_concurrency", 2),
            getattr(settings, "llm_timeout", 20.0),
        )

    def close(self) -> None:
        self._http.close()

    def chat(self, messages: list[dict[str, str]], *, json_mode: bool = False, timeout: float | None = None) -> str:
        """The reply's text (with `json_mode`, a JSON object's text, checked to parse), within `timeout` seconds
        (None: LLM_TIMEOUT)."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        if not self._slots.acquire(timeout=max(timeout, 0.0)):
            raise self._failed(ModelError("busy", say("llm.error.busy", seconds=f"{timeout:g}")))
        try:
            body: dict[str, Any] = {"model": self.model, "messages": messages, "stream": False}
            if json_mode:
                body["response_format"] = {"type": "json_object"}
            try:
                text = self._post(body, deadline, timeout)
            except ModelError as error:
                if not (json_mode and error.status == 400 and "response_format" in str(error)):
                    raise
                # a server without JSON mode (some local ones) refuses the field: the prompt asks for JSON anyway,
                # and the reply is checked to parse either way
                log.info("model call: the server has no JSON mode; asking without response_format")
                del body["response_format"]
                text = self._post(body, deadline, timeout)
        except ModelError as error:
            raise self._failed(error) from None
        finally:
            self._slots.release()
        return _json_text(text) if json_mode else text

    def _post(self, body: dict[str, Any], deadline: float, timeout: float) -> str:
        late = ModelError("timeout", say("llm.error.timeout", seconds=f"{timeout:g}"))
        for attempt in range(ATTEMPTS):
            wait: float | None = None
            try:
                status, headers, data = self._send(body, deadline, late)
            except httpx.TimeoutException:
                raise late from None
            except httpx.TransportError as exc:  # refused, reset, dropped mid-body
                why = say("llm.error.failed", error=type(exc).__name__, url=self.url)
            except httpx.HTTPError as exc:  # a body httpx cannot decode (says gzip, is not), and the like
                raise ModelError("invalid", say("llm.error.failed", error=type(exc).__name__, url=self.url)) from None
            else:
                if status == 429 or status >= 500:
                    why = say("llm.error.http", status=status, url=self.url, said=self._said(data), hint="")
                    wait = retry_after(headers.get("retry-after"))
                elif status >= 400:
                    hint = say("llm.error.check_key") if status in (401, 403) else ""
                    if status == 404:
                        hint = say("llm.error.check_url")
                    said = self._said(data)
                    why = say("llm.error.http", status=status, url=self.url, said=said, hint=hint)
                    raise ModelError("http", why, status)
                else:
                    return _content(data, headers.get("content-type"))
            if wait is None:
                wait = BACKOFF * 2**attempt * (1 + random.random() / 4)
            if attempt == ATTEMPTS - 1:
                raise ModelError("http", say("llm.error.attempts", why=why, attempts=ATTEMPTS))
            if deadline - time.monotonic() - wait < MIN_ATTEMPT:
                late_retry = say("llm.error.deadline", why=why, wait=f"{wait:.1f}", seconds=f"{timeout:g}")
                raise ModelError("http", late_retry)
            log.info("model call: %s; retrying in %.1f s", why, wait)
            time.sleep(wait)
        raise AssertionError("unreachable")

    def _send(self, body: dict[str, Any], deadline: float, late: ModelError) -> tuple[int, httpx.Headers, bytes]:
        """One attempt: status, headers and body, read by `deadline`. httpx bounds each read, not the call (header
        lines trickled one a second never end it), so a watchdog shuts the connection's socket at the deadline."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise late
        watchdog = _Watchdog(left)
        try:
            with self._http.stream(
                "POST", self.url, json=body, timeout=httpx.Timeout(left), extensions={"trace": watchdog.trace}
            ) as response:
                data = bytearray()
                for chunk in response.iter_bytes():
                    data += chunk
                    if time.monotonic() > deadline:
                        raise late
                    if len(data) > MAX_BODY:
                        raise ModelError("invalid", say("llm.error.too_big", mb=MAX_BODY // 1_000_000))
                return response.status_code, response.headers, bytes(data)
        except httpx.HTTPError:
            if watchdog.fired:
                raise late from None
            raise
        finally:
            watchdog.cancel()

    def _said(self, data: bytes) -> str:
        """The server's own error message, short and without the key (some servers echo part of it)."""
        try:
            error = json.loads(data).get("error")
            message = error.get("message") if isinstance(error, dict) else error
        except (ValueError, AttributeError, RecursionError):
            message = None
        if not isinstance(message, str) or not message.strip():
            return ""
        return say("llm.error.said", message=self._scrub(message.strip())[:200])

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _failed(self, error: ModelError) -> ModelError:
        error.args = (self._scrub(str(error)),)
        log.warning("model call failed (%s): %s", error.kind, error)
        return error


class _Watchdog:
    """Shuts an attempt's socket once its time is up: a blocked read then ends at once (with an error the attempt
    turns into a timeout). The socket is learnt from httpcore's trace as it connects (every call connects anew:
    no kept-alive connections), so one connected after the deadline is shut as soon as it is known."""

    def __init__(self, seconds: float) -> None:
        self.fired = False
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def trace(self, event: str, info: dict[str, Any]) -> None:
        if event in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            with self._lock:
                self._sock = info["return_value"].get_extra_info("socket")
                if self.fired:
                    self._shut()

    def cancel(self) -> None:
        self._timer.cancel()

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            self._shut()

    def _shut(self) -> None:
        try:
            if self._sock is not None:
                self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # closed already


@cache
def _shared(base_url: str, model: str, api_key: str | None, concurrency: int, timeout: float) -> Model:
    return Model(base_url, model, api_key, concurrency=concurrency, timeout=timeout)


def _content(data: bytes, content_type: str | None) -> str:
    """choices[0].message.content of a chat-completions body; an error names what the body was instead (a proxy's
    HTML page is "not JSON (text/html)")."""
    try:
        body = json.loads(data)
    except (ValueError, RecursionError):  # RecursionError: nested too deep
        kind = (content_type or say("llm.error.no_content_type")).split(";")[0].strip()[:60]
        raise ModelError("invalid", say("llm.error.not_json", kind=kind)) from None
    try:
        content = body["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise ModelError("invalid", say("llm.error.no_content")) from None
    if not isinstance(content, str):
        raise ModelError("invalid", say("llm.error.not_text"))
    return content


def _json_text(text: str) -> str:
    """The reply as a JSON object's text; a ```json fence some local models add is taken off."""
    stripped = text.strip()
    if stripped.startswith("```"):
        stripped = stripped.strip("`").removeprefix("json").strip()
    try:
        value = json.loads(stripped)
    except (ValueError, RecursionError):
        raise ModelError("invalid", say("llm.error.not_valid_json")) from None
    if not isinstance(value, dict):
        raise ModelError("invalid", say("llm.error.not_object"))
    return stripped
