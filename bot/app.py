"""The composition root: builds the Bolt app, the web server around it and the scheduler.

The only module that imports `handlers/` and `jobs/`; nothing connects at import time.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from slack_bolt import App, BoltContext, BoltResponse
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from slack_bolt.context.respond import Respond
from slack_bolt.context.respond.internals import _build_message
from slack_sdk import WebClient
from slack_sdk.webhook import WebhookClient, WebhookResponse
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.scorecard import Scorecard, load_scorecard
from bot.settings import Settings
from bot.slack_client import make_client, retry_handlers
from handlers import actions, commands, home
from jobs import score as score_job
from prompts import say
from storage.db import ping, session_factory

log = logging.getLogger("healthbot")


class ResponseUrlError(RuntimeError):
    """Slack did not take a message posted to a response_url, retries included."""


class RetryingRespond(Respond):
    """Bolt's `respond`, but a 429 or 5xx from the response_url is retried, and a post that still fails raises.

    Bolt's own returns the failed response unread: the card or list the user asked for would vanish silently.
    """

    def __call__(self, text: str | dict = "", blocks: Any = None, **fields: Any) -> WebhookResponse:  # type: ignore[override]
        if self.response_url is None:
            raise ValueError("respond is unsupported here as there is no response_url")
        message = (
            _build_message(**text) if isinstance(text, dict) else _build_message(text=text, blocks=blocks, **fields)
        )
        client = WebhookClient(url=self.response_url, proxy=self.proxy, ssl=self.ssl, retry_handlers=retry_handlers())
        response = client.send_dict(message)
        if response.status_code != 200:
            raise ResponseUrlError(f"response_url answered {response.status_code}: {response.body[:200]}")
        return response


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

    commands.register(app, sessions, scorecard, today)
    actions.register(app, sessions, scorecard, today)
    home.register(app, sessions, scorecard, today)

    @app.error
    def on_error(error: Exception, body: dict, respond, logger: logging.Logger) -> BoltResponse | None:  # type: ignore[no-untyped-def]
        """Log unexpected errors with an id the user can quote, and tell the user where they are."""
        error_id = uuid.uuid4().hex[:8]
        logger.exception(
            "error %s while handling %s", error_id, body.get("type") or body.get("command"), exc_info=error
        )
        text = say("health.error", error_id=error_id)
        if body.get("response_url"):
            try:
                respond(text=text, response_type="ephemeral")
            except Exception:  # the user cannot be told; the log line above has it
                logger.warning("could not report error %s to the user", error_id)
        return None

    return app


def create_web(bolt_app: App | None, engine: Engine) -> Starlette:
    """The ASGI app: Slack at POST /slack/events, liveness at GET /healthz."""

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
        ok = await run_in_threadpool(ping, engine)
        return JSONResponse({"ok": ok, "database": "up" if ok else "down"}, status_code=200 if ok else 503)

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
