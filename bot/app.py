"""The running bot, composed: the Bolt app, the web server around it, the scheduler, and `serve()`
(what `healthbot run` runs: HTTP or Socket Mode, /healthz, a clean exit on SIGTERM).

With `bot/cli.py`, the only module that imports `handlers/` and `jobs/`; nothing connects at import time.
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import json
import logging
import re
import signal
import socket
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, tzinfo
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from apscheduler.schedulers.background import BackgroundScheduler
from slack_bolt import App, BoltContext, BoltRequest, BoltResponse, Respond
from slack_bolt.adapter.starlette.handler import to_starlette_response
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.alerts.rules import load_rules
from bot.scoring.scorecard import Scorecard, load_scorecard
from bot.settings import DEFAULT_ALERT_RULES_PATH, Settings, SettingsError
from bot.slack.client import make_client
from bot.slack.requests import Deps, report_error
from bot.slack.respond import RetryingRespond
from handlers import alerts, exits, health, home, retention
from prompts import say
from storage.db import REQUEST_LOCK_WAIT, ping, session_factory

log = logging.getLogger("healthbot")


class _ClientCarriesTheToken(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN from the environment itself, even when handed a client (which carries that
    token), and then warns that the token goes unused: true, and nothing for the person starting the bot."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != warning_client_prioritized_and_token_skipped()


def create_app(
    settings: Settings,
    engine: Engine,
    client: WebClient | None = None,
    scorecard: Scorecard | None = None,
    today: Callable[[], date] | None = None,
) -> App:
    """The Bolt app with every listener registered."""
    settings.require_slack()
    client = client or make_client(settings)
    bolt_log = logging.getLogger("healthbot.bolt")
    if not any(isinstance(f, _ClientCarriesTheToken) for f in bolt_log.filters):
        bolt_log.addFilter(_ClientCarriesTheToken())
    app = App(
        client=client,
        # Bolt's own signature check (RequestVerification) is off, as its docs allow behind a front that verifies:
        # `create_web` checks every HTTP request on its raw bytes before parsing it; Socket Mode needs none.
        signing_secret="",
        request_verification_enabled=False,
        token_verification_enabled=False,
        listener_executor=ThreadPoolExecutor(max_workers=settings.listener_threads, thread_name_prefix="listener"),
        logger=bolt_log,
    )
    sessions = session_factory(engine, lock_wait=REQUEST_LOCK_WAIT)  # a request never waits out Slack's 3 s
    scorecard = scorecard or load_scorecard(settings.scorecard_path)
    today = today or (lambda: datetime.now(settings.tz).date())

    @app.middleware
    def retrying_respond(context: BoltContext, next: Callable[[], BoltResponse]) -> BoltResponse:  # noqa: A002
        # when it arrived: set by the web layer before it waited for a worker thread, else (Socket Mode) here
        context.setdefault("received_at", time.monotonic())
        if context.response_url:
            context["respond"] = RetryingRespond(
                response_url=context.response_url, proxy=context.client.proxy, ssl=context.client.ssl
            )
        return next()

    # the work after an ack (response_url posts, Web API calls, a held answer): never on Bolt's listener pool,
    # whose threads must stay free to ack
    follow_up = ThreadPoolExecutor(max_workers=settings.listener_threads, thread_name_prefix="follow-up")
    deps = Deps(sessions, scorecard, today, follow_up, cs_lead=getattr(settings, "cs_lead", None), tz=settings.tz)
    exits.register(app, deps, settings.churn_channel, settings.exit_interview_readers)  # before health: its `exit`
    health.register(app, deps, getattr(settings, "exit_interview_readers", ()))  # who reads churn quotes
    alert_rules = load_rules(getattr(settings, "alert_rules_path", None), scorecard)  # opening a listed alert
    alerts.register(app, deps, alert_rules, getattr(settings, "calendar", None))
    home.register(app, deps)
    retention.register(app, deps)

    @app.error
    def on_error(
        error: Exception, body: dict, client: WebClient, respond: Respond | None, logger: logging.Logger
    ) -> BoltResponse | None:
        """An error in a listener; one in the work after the ack is reported the same way by `after_ack`."""
        return report_error(error, body, client, respond, logger)

    return app


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


def create_scheduler(
    settings: Settings, engine: Engine, client: WebClient, scorecard: Scorecard | None = None
) -> BackgroundScheduler:
    """Every scheduled job with a stable id, an explicit time zone and a misfire grace.

    Daily at SCORE_TIME: score (and refresh Home), then, chained on its completion, alerts, then deliver.
    Every 5 minutes: escalations, task escalations (then deliver what they decided); every minute: deliver
    (retries, a channel the bot was invited to since); DIGEST_DAY at DIGEST_TIME (default Mondays 09:00): the
    weekly digests. With several replicas on PostgreSQL each job runs in one of them (its `job_lock`); delivery
    is safe in all of them at once.
    """
    from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent

    from bot.retention.playbooks import load_playbooks
    from jobs.table import JOBS, Context, then_deliver

    ctx = Context(settings, engine, client, scorecard or load_scorecard(settings.scorecard_path))
    _ = ctx.rules  # read now: a bad rules file stops `healthbot run` at start
    load_playbooks(tiers=ctx.scorecard.tiers.order)  # and so does a bad prompts/playbooks.toml
    scheduler = BackgroundScheduler(timezone=settings.tz)
    every = {"replace_existing": True, "coalesce": True, "max_instances": 1}
    chained = {}
    for job in JOBS.values():
        func, args = job.scheduled(ctx) if job.scheduled is not None else (then_deliver(job.run, ctx), [])
        if job.trigger is not None:
            scheduler.add_job(
                func, job.trigger(settings), args=args, id=job.id, misfire_grace_time=job.misfire, **every
            )
        elif job.after is not None:
            chained[job.after] = (job, func, args)

    def after(event: JobExecutionEvent) -> None:
        if event.job_id in chained:  # a failed scoring run still alerts on the days it did score
            job, func, args = chained[event.job_id]
            scheduler.add_job(func, args=args, id=job.id, misfire_grace_time=job.misfire, **every)

    scheduler.add_listener(after, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    return scheduler


BAD_TOKEN = {
    "invalid_auth",
    "not_authed",
    "account_inactive",
    "token_revoked",
    "token_expired",
    "not_allowed_token_type",
}


def listen(settings: Settings) -> socket.socket:
    """The listening socket on HOST:PORT, bound before anything starts; one clear line if it cannot be."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    try:
        sock = socket.create_server((settings.host, settings.port), family=family)
    except OSError as exc:
        where, why = f"{settings.host}:{settings.port}", (exc.strerror or str(exc)).split(" (while")[0]
        if exc.errno in (errno.EADDRINUSE, errno.EACCES):
            raise SettingsError(
                f"PORT={settings.port}: cannot listen on {where} ({why}); stop the program using it or set another PORT"
            ) from None
        raise SettingsError(
            f"HOST={settings.host}: cannot listen on {where} ({why}); use 0.0.0.0 (every interface), "
            "127.0.0.1 or an address of this machine"
        ) from None
    # Nagle off, inherited by every accepted connection (Linux): asyncio sets it only on sockets it creates with
    # IPPROTO_TCP, and without it a keep-alive response waits on the client's delayed ACK (~40 ms a request)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def check_bot_token(client: WebClient) -> None:
    """Stop at start when Slack refuses the bot token; carry on (and say so) when Slack cannot be reached."""
    try:
        client.auth_test()
    except SlackApiError as exc:
        error = exc.response.get("error")
        if error in BAD_TOKEN:
            raise SettingsError(
                f"SLACK_BOT_TOKEN was refused by Slack ({error}): copy the current Bot User OAuth Token "
                "(xoxb-...) from your app's 'OAuth & Permissions' page"
            ) from None
        log.warning("could not check SLACK_BOT_TOKEN with Slack: %s", error)
    except OSError as exc:
        log.warning("could not reach Slack at %s to check SLACK_BOT_TOKEN: %s", client.base_url, exc)


def start_up_lines(settings: Settings) -> list[str]:
    """What a person starting the bot needs to know besides where it listens: the database and the jobs."""
    database = make_url(settings.database_url).render_as_string(hide_password=True).replace("+psycopg", "")
    jobs = say(
        "run.jobs",
        tz=settings.timezone,
        score=settings.score_time.strftime("%H:%M"),
        sync=say("run.sync") if settings.sources_path else "",
        digest_day=settings.digest_day.title(),
        digest_time=settings.digest_time.strftime("%H:%M"),
    )
    scorecard = settings.scorecard_path or say("run.builtin_scorecard")
    rules = settings.alert_rules_path
    if rules == DEFAULT_ALERT_RULES_PATH:
        rules = say("run.builtin_rules")
    return [say("run.database", database=database), say("run.files", scorecard=scorecard, rules=rules), jobs]


def unset_settings(settings: Settings) -> list[tuple[str, str]]:
    """The optional settings left unset that change what the bot does, each with what it means."""
    unset = {
        "ALERT_CHANNEL": not settings.alert_channel,
        "CS_LEAD": not settings.cs_lead,
        "TEAM": not settings.team,
        "EXIT_INTERVIEW_READERS": not settings.exit_interview_readers,
    }
    return [(name, say(f"run.unset.{name}")) for name, missing in unset.items() if missing]


def serve(settings: Settings, engine: Engine) -> None:
    # what APScheduler and uvicorn say at INFO (each job added, each run, "Application startup complete") is
    # about themselves; their warnings and errors still show, and LOG_LEVEL=DEBUG shows everything
    level = logging.getLevelName(settings.log_level)
    libraries = level if level == logging.DEBUG else max(level, logging.WARNING)
    logging.getLogger("apscheduler").setLevel(libraries)
    quiet = logging.getLevelName(libraries).lower()
    sock = listen(settings)
    bolt_app = create_app(settings, engine)
    check_bot_token(bolt_app.client)
    handler = None
    if settings.socket_mode:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        handler = SocketModeHandler(bolt_app, settings.slack_app_token)
        try:
            handler.connect()  # non-blocking: the web server below keeps /healthz up
        except SlackApiError as exc:
            raise SettingsError(
                f"SLACK_APP_TOKEN was refused by Slack ({exc.response.get('error')}): create an App-Level Token "
                "with the connections:write scope under your app's 'Basic Information' and set it"
            ) from None
        except OSError as exc:  # URLError included: there is nothing to serve without the connection
            raise SettingsError(
                f"SLACK_API_URL: cannot reach Slack at {bolt_app.client.base_url} to open the Socket Mode "
                f"connection ({exc}); check the network and the setting"
            ) from None
        if handler.client.is_connected():
            log.info("connected to Slack in Socket Mode")
        else:
            log.warning("Socket Mode connection not open yet; the client keeps retrying")
        web = create_web(
            None,
            engine,
            slack_connected=handler.client.is_connected,
            ingest_token=settings.ingest_token,
            tz=settings.tz,
        )
    else:
        web = create_web(
            bolt_app,
            engine,
            signing_secret=settings.slack_signing_secret or "",
            ingest_token=settings.ingest_token,
            tz=settings.tz,
        )
        log.info("serving Slack at http://%s:%d/slack/events", settings.host, settings.port)
    scheduler = create_scheduler(settings, engine, bolt_app.client)
    scheduler.start()
    for line in start_up_lines(settings):
        log.info(line)
    for setting, line in unset_settings(settings):
        (log.warning if setting == "EXIT_INTERVIEW_READERS" else log.info)(line)
    # uvicorn restores this handler after its graceful shutdown and re-raises SIGTERM to it:
    # a plain exit then runs the `finally` below instead of the default handler killing the process
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        config = uvicorn.Config(web, host=settings.host, port=settings.port, log_level=quiet, access_log=False)
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        scheduler.shutdown(wait=False)
        if handler is not None:
            handler.close()  # a clean goodbye on the WebSocket, not a dropped connection
        sock.close()
