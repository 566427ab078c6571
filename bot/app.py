"""The running bot, composed: the Bolt app, the web server around it, the scheduler, and `serve()`
(what `healthbot run` runs: HTTP or Socket Mode, /healthz, a clean exit on SIGTERM).

With `bot/cli.py`, the only module that imports `handlers/` and `jobs/`; nothing connects at import time.
"""

from __future__ import annotations

import errno
import logging
import signal
import socket
import sys
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime

import uvicorn
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from slack_bolt import App, BoltContext, BoltResponse, Respond
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.scoring.scorecard import Scorecard, load_scorecard
from bot.settings import Settings, SettingsError
from bot.slack.client import make_client
from bot.slack.requests import Deps, notice_view, tell, where
from bot.slack.respond import RetryingRespond
from handlers import health, home
from jobs import score as score_job
from prompts import say
from storage.db import ping, session_factory

log = logging.getLogger("healthbot")


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
    app = App(
        client=client,
        signing_secret=settings.slack_signing_secret or "socket-mode",
        token_verification_enabled=False,
        listener_executor=ThreadPoolExecutor(max_workers=settings.listener_threads, thread_name_prefix="listener"),
        logger=logging.getLogger("healthbot.bolt"),
    )
    sessions = session_factory(engine)
    scorecard = scorecard or load_scorecard(settings.scorecard_path)
    today = today or (lambda: datetime.now(settings.tz).date())

    @app.middleware
    def retrying_respond(context: BoltContext, next: Callable[[], BoltResponse]) -> BoltResponse:  # noqa: A002
        if context.response_url:
            context["respond"] = RetryingRespond(
                response_url=context.response_url, proxy=context.client.proxy, ssl=context.client.ssl
            )
        return next()

    deps = Deps(sessions, scorecard, today)
    health.register(app, deps)
    home.register(app, deps)

    @app.error
    def on_error(
        error: Exception, body: dict, client: WebClient, respond: Respond | None, logger: logging.Logger
    ) -> BoltResponse | None:
        """Log an unexpected error with an id the user can quote, and tell the user where they are:
        inline in a modal they submitted, a modal on top of one they clicked in, in a thread, an
        ephemeral reply, or the app's DM for App Home."""
        error_id = uuid.uuid4().hex[:8]
        logger.exception(
            "error %s while handling %s", error_id, body.get("type") or body.get("command"), exc_info=error
        )
        text = say("health.error", error_id=error_id)
        if body.get("type") == "view_submission":  # answered in the ack: the modal shows the error
            return BoltResponse(status=200, body={"response_action": "push", "view": notice_view(text)})
        try:
            tell(body, client, respond, text)
        except Exception:  # the user cannot be told; the log line above has it
            logger.warning("could not report error %s to the user (%s)", error_id, where(body))
        return None

    return app


def create_web(bolt_app: App | None, engine: Engine, slack_connected: Callable[[], bool] | None = None) -> Starlette:
    """The ASGI app: Slack at POST /slack/events, liveness at GET /healthz.

    In Socket Mode (`bolt_app` None) Slack reaches the bot over the WebSocket alone: `slack_connected` says
    whether it is open, and /healthz is 503 while it is not (the bot is up but deaf to Slack).
    """

    async def slack_events(request: Request) -> Response:
        if bolt_app is None:
            return Response("Socket Mode: Slack does not post here", status_code=404)
        if not request.headers.get("x-slack-request-timestamp", "0").isdigit():
            return Response("invalid request timestamp", status_code=401)  # Bolt's verifier would raise on it
        body = await request.body()
        # Bolt is synchronous: dispatch on a worker thread so one request never blocks the loop.
        bolt_response = await run_in_threadpool(bolt_app.dispatch, to_bolt_request(request, body))
        return to_starlette_response(bolt_response)

    async def healthz(_: Request) -> Response:
        database = await run_in_threadpool(ping, engine)
        body: dict[str, bool | str] = {"ok": database, "database": "up" if database else "down"}
        if slack_connected is not None:
            connected = slack_connected()
            body.update(ok=database and connected, slack="connected" if connected else "disconnected")
        return JSONResponse(body, status_code=200 if body["ok"] else 503)

    return Starlette(routes=[Route("/slack/events", slack_events, methods=["POST"]), Route("/healthz", healthz)])


def create_scheduler(
    settings: Settings, engine: Engine, client: WebClient, scorecard: Scorecard | None = None
) -> BackgroundScheduler:
    """Every scheduled job with a stable id, an explicit time zone and a misfire grace."""
    scorecard = scorecard or load_scorecard(settings.scorecard_path)
    scheduler = BackgroundScheduler(timezone=settings.tz)
    scheduler.add_job(
        score_job.run_daily,
        CronTrigger(hour=settings.score_time.hour, minute=settings.score_time.minute, timezone=settings.tz),
        args=[engine, scorecard, client, lambda: datetime.now(settings.tz).date()],
        id=score_job.JOB_ID,
        replace_existing=True,
        misfire_grace_time=3600,
        coalesce=True,
        max_instances=1,
    )
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
        return socket.create_server((settings.host, settings.port), family=family)
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


def serve(settings: Settings, engine: Engine) -> None:
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
        web = create_web(None, engine, handler.client.is_connected)
    else:
        web = create_web(bolt_app, engine)
        log.info("serving Slack at http://%s:%d/slack/events", settings.host, settings.port)
    scheduler = create_scheduler(settings, engine, bolt_app.client)
    scheduler.start()
    log.info("daily scoring at %s %s", settings.score_time.strftime("%H:%M"), settings.timezone)
    # uvicorn restores this handler after its graceful shutdown and re-raises SIGTERM to it:
    # a plain exit then runs the `finally` below instead of the default handler killing the process
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        config = uvicorn.Config(
            web, host=settings.host, port=settings.port, log_level=settings.log_level.lower(), access_log=False
        )
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        scheduler.shutdown(wait=False)
        if handler is not None:
            handler.close()  # a clean goodbye on the WebSocket, not a dropped connection
        sock.close()
