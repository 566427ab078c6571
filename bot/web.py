"""The web layer: POST /slack/events checked on its raw bytes before Bolt, GET /healthz, POST /ingest/metrics."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Callable
from datetime import UTC, tzinfo
from typing import Any
from urllib.parse import parse_qsl

from slack_bolt import App, BoltRequest
from slack_bolt.adapter.starlette.handler import to_starlette_response
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from storage.db import ping

log = logging.getLogger("healthbot")


MAX_BODY_BYTES = 1 << 20
"""The largest body POST /slack/events reads (413 past it): Slack's largest posts, view submissions of big
modals, are a fraction of it; what goes past it is not from Slack and is never read into memory whole."""
SIGNATURE_MAX_AGE = 300  # seconds either side of now, as Slack recommends: older signed requests may be replays
TIMESTAMP = re.compile("[0-9]{1,12}")  # ASCII digits only: str.isdigit() accepts '²', which int() refuses


class Refused(Exception):
    """A request POST /slack/events answers itself, with `status` and a short plain `message`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def check_signature_headers(request: Request) -> tuple[bytes, bytes]:
    """The timestamp and signature headers as sent, if present, well formed and fresh; Refused (401) if not."""
    timestamp = request.headers.get("x-slack-request-timestamp", "")
    signature = request.headers.get("x-slack-signature", "")
    if not (TIMESTAMP.fullmatch(timestamp) and signature):
        raise Refused(401, "missing or malformed request signature")
    if abs(time.time() - int(timestamp)) > SIGNATURE_MAX_AGE:
        raise Refused(401, "stale request timestamp")
    # Starlette decodes header bytes as latin-1: encoding back gives the bytes the client sent
    return timestamp.encode("ascii"), signature.encode("latin-1")


async def read_capped(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The body, chunk by chunk, refusing (413) as soon as it is known to be over `limit` bytes."""
    length = request.headers.get("content-length", "")
    if length.isascii() and length.isdigit() and int(length) > limit:
        raise Refused(413, "request body too large")
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise Refused(413, "request body too large")
    except ClientDisconnect:
        raise Refused(400, "client disconnected") from None
    return bytes(body)


def signed(secret: str, timestamp: bytes, signature: bytes, body: bytes) -> bool:
    """Slack's v0 signature, computed on the raw bytes (slack_sdk's SignatureVerifier decodes the body as UTF-8
    first and raises on other bytes) and compared in constant time."""
    digest = hmac.new(secret.encode(), b"v0:" + timestamp + b":" + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(b"v0=" + digest.encode(), signature)


def parse_slack_body(body: bytes, content_type: str | None) -> dict[str, Any]:
    """A signed body as Bolt reads it (JSON when the type says so or it starts with '{', else a form whose
    `payload` field is JSON), refusing (400) what Bolt would raise on or Slack never sends."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(400, "request body is not UTF-8") from None
    if not text:
        raise Refused(400, "empty request body")
    if content_type == "application/json" or text.startswith("{"):
        return _json_object(text, "request body")
    form = dict(parse_qsl(text, keep_blank_values=True))
    if "payload" in form:
        return _json_object(form["payload"], "payload field")
    if "command" not in form:
        raise Refused(400, "form has neither a payload nor a command")
    return form


# Who sent a request: a member id (U..., W...) that fits the 32 characters every user-id column holds. Looser
# than `blocks.is_user` (a mention target): any requester Slack names passes, a forged 41-character id does not.
REQUESTER = re.compile(r"[UW][A-Z0-9]{0,31}")
OBJECTS = ("user", "team", "view", "container", "channel", "message", "enterprise")  # objects when present
EVENT_TYPE = re.compile(r"[a-z][a-z_]{0,63}")  # app_home_opened, message, tokens_revoked, ...
INTERACTIVE = ("block_actions", "block_suggestion", "view_submission", "view_closed", "shortcut", "message_action")


def check_shape(body: dict[str, Any]) -> None:
    """Refuse (400) a signed body whose fields our listeners or Bolt's middleware read are missing or of the wrong
    type: Slack never sends one, and past here a listener would fail on it with a traceback and an error id."""
    if "command" in body:  # a slash command's form: every field a string
        if not all(body.get(f) for f in ("command", "user_id", "channel_id", "response_url")):
            raise Refused(400, "command form without command, user_id, channel_id or response_url")
        _requester(body["user_id"])
        return
    kind = body.get("type")
    if not isinstance(kind, str):
        raise Refused(400, "body without a type")
    if kind == "url_verification":
        if not isinstance(body.get("challenge"), str):
            raise Refused(400, "url_verification without a challenge")
        return
    if kind == "event_callback":
        event = body.get("event")
        if not (isinstance(event, dict) and isinstance(event.get("type"), str) and EVENT_TYPE.fullmatch(event["type"])):
            raise Refused(400, "event_callback without an event object with a type")
        if not isinstance(body.get("event_id", ""), str):
            raise Refused(400, "event_id is not a string")
        if event["type"] == "app_home_opened":
            _requester(event.get("user"))
            if not isinstance(event.get("tab", ""), str):
                raise Refused(400, "app_home_opened tab is not a string")
        return
    if kind == "app_rate_limited":
        return
    if kind not in INTERACTIVE:
        raise Refused(400, "not a type of request Slack sends")
    for key in OBJECTS:
        if body.get(key) is not None and not isinstance(body[key], dict):
            raise Refused(400, f"{key} is not an object")
    _requester((body.get("user") or {}).get("id"))
    for key in ("callback_id", "trigger_id", "response_url", "action_id", "block_id", "value"):
        if body.get(key) is not None and not isinstance(body[key], str):
            raise Refused(400, f"{key} is not a string")
    if kind == "block_actions":
        actions = body.get("actions")
        if not (isinstance(actions, list) and actions and all(_action(a) for a in actions)):
            raise Refused(400, "actions is not a list of actions")
    if "view" in body or kind in ("view_submission", "view_closed"):
        _view(body.get("view"))


def _requester(user_id: Any) -> None:
    if not (isinstance(user_id, str) and REQUESTER.fullmatch(user_id)):
        raise Refused(400, "no user id, or not one Slack sends")


def _action(action: Any) -> bool:
    """One element of `actions`: an object with a string action_id; its value, block_id and picks typed."""
    if not (isinstance(action, dict) and isinstance(action.get("action_id"), str)):
        return False
    strings = ("value", "block_id", "selected_user", "selected_date", "type")
    return all(action.get(k) is None or isinstance(action[k], str) for k in strings) and (
        action.get("selected_option") is None or isinstance(action["selected_option"], dict)
    )


def _view(view: Any) -> None:
    """A view: an object; its callback_id and private_metadata strings; its state {block: {action: element}}."""
    if not isinstance(view, dict):
        raise Refused(400, "view is not an object")
    for key in ("callback_id", "private_metadata", "type", "id", "hash"):
        if view.get(key) is not None and not isinstance(view[key], str):
            raise Refused(400, f"view {key} is not a string")
    state = view.get("state", {})
    values = state.get("values", {}) if isinstance(state, dict) else None
    if not (
        isinstance(values, dict)
        and all(
            isinstance(block, dict) and all(isinstance(element, dict) for element in block.values())
            for block in values.values()
        )
    ):
        raise Refused(400, "view state is not {block_id: {action_id: element}}")


def _json_object(text: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise Refused(400, f"{what} is not valid JSON") from None
    if not isinstance(value, dict):
        raise Refused(400, f"{what} is not a JSON object")
    return value


def create_web(
    bolt_app: App | None,
    engine: Engine,
    *,
    signing_secret: str = "",
    slack_connected: Callable[[], bool] | None = None,
    ingest_token: str | None = None,
    tz: tzinfo = UTC,
) -> Starlette:
    """The ASGI app: Slack at POST /slack/events, liveness at GET /healthz, pushed metrics at POST /ingest/metrics
    (off without `ingest_token`; `tz`, the team's time zone, says which day is today for pushed dates).

    In HTTP mode every request is verified with `signing_secret` before Bolt sees it. In Socket Mode
    (`bolt_app` None) Slack reaches the bot over the WebSocket alone: `slack_connected` says
    whether it is open, and /healthz is 503 while it is not (the bot is up but deaf to Slack).
    """

    if bolt_app is not None and not signing_secret:
        raise ValueError("HTTP mode needs the signing secret: every request is verified before Bolt parses it")

    async def slack_events(request: Request) -> Response:
        if bolt_app is None:
            return Response("Socket Mode: Slack does not post here", status_code=404)
        # Refused before anything is parsed: headers, then size, then the signature on the raw bytes; only
        # then is the body read as Slack's, so nothing unsigned reaches Bolt (nor its log of unsigned bodies).
        arrived = time.monotonic()  # a submission's 3 s count from here, waiting for a worker thread included
        try:
            timestamp, signature = check_signature_headers(request)
            body = await read_capped(request)
            if not signed(signing_secret, timestamp, signature, body):
                raise Refused(401, "invalid request signature")
            content_type = (request.headers.get("content-type") or "").split(";")[0] or None
            parsed = parse_slack_body(body, content_type)
            check_shape(parsed)
        except Refused as refused:
            if refused.status == 400:  # signed, so from someone holding the secret: worth one line
                log.warning("refused a signed request to /slack/events: %s", refused.message)
            return Response(refused.message, status_code=refused.status, media_type="text/plain")
        # Bolt is handed the body as read and verified here, as JSON: its own reading takes any form with the
        # letters "payload" in it (a command's text, a channel name) for an interactivity post and loses the
        # command. Its signature check is off (`create_app`): the one above, on the raw bytes, stands in front.
        headers = {key: value for key, value in request.headers.items() if key != "content-length"}
        bolt_request = BoltRequest(
            body=json.dumps(parsed),
            query=request.url.query,
            headers={**headers, "content-type": "application/json"},
            context={"received_at": arrived},
        )
        # Bolt is synchronous: dispatch on a worker thread so one request never blocks the loop.
        bolt_response = await run_in_threadpool(bolt_app.dispatch, bolt_request)
        return to_starlette_response(bolt_response)

    async def healthz(_: Request) -> Response:
        database = await run_in_threadpool(ping, engine)
        body: dict[str, bool | str] = {"ok": database, "database": "up" if database else "down"}
        if slack_connected is not None:
            connected = slack_connected()
            body.update(ok=database and connected, slack="connected" if connected else "disconnected")
        return JSONResponse(body, status_code=200 if body["ok"] else 503)

    async def ingest_metrics(request: Request) -> Response:
        return await _ingest_metrics(request, engine, ingest_token, tz)

    return Starlette(
        routes=[
            Route("/slack/events", slack_events, methods=["POST"]),
            Route("/healthz", healthz),
            Route("/ingest/metrics", ingest_metrics, methods=["POST"]),
        ]
    )


MAX_INGEST_BYTES = 64 << 20
"""The largest body POST /ingest/metrics reads (413 past it): about 800,000 records of JSON."""


async def _ingest_metrics(request: Request, engine: Engine, token: str | None, tz: tzinfo) -> Response:
    """POST /ingest/metrics: off (404) without INGEST_TOKEN; the bearer token compared in constant time;
    the body checked whole (422 naming the bad records, nothing written), then written in one transaction."""
    from bot.connectors.ingest import IngestRejected, ingest

    if not token:
        return Response("not found", status_code=404, media_type="text/plain")
    given = request.headers.get("authorization", "")
    scheme, _, credential = given.partition(" ")
    if not (scheme.lower() == "bearer" and hmac.compare_digest(credential.strip().encode(), token.encode())):
        return Response(
            "invalid or missing bearer token",
            status_code=401,
            media_type="text/plain",
            headers={"WWW-Authenticate": "Bearer"},
        )
    try:
        body = await read_capped(request, MAX_INGEST_BYTES)
    except Refused as refused:
        return Response(refused.message, status_code=refused.status, media_type="text/plain")
    try:
        written = await run_in_threadpool(ingest, engine, body, tz)
    except IngestRejected as rejected:
        return JSONResponse(rejected.body(), status_code=422)
    return JSONResponse({"ok": True, "written": written})
