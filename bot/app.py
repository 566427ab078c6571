"""The running bot, composed: the Bolt app, the scheduler, `serve()` (`healthbot run`); nothing connects at import."""

from __future__ import annotations

import errno
import gc
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime
from typing import Any

import httpx
import uvicorn
from apscheduler.schedulers.background import BackgroundScheduler
from slack_bolt import App, BoltContext, BoltResponse, Respond
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from bot.alerts.rules import load_rules
from bot.assistant.slack import ModelCalls
from bot.health.lookup import AccountNames
from bot.llm.client import Model
from bot.scoring.scorecard import Scorecard, load_scorecard
from bot.settings import DEFAULT_ALERT_RULES_PATH, Settings, SettingsError, cli_language
from bot.slack.client import make_client
from bot.slack.language import CarryContext, use_for_jobs
from bot.slack.requests import Deps, report_error
from bot.slack.respond import RetryingRespond
from bot.web import create_web
from bot.workers import fork_workers, stop_workers
from handlers import alerts, assistant, exits, health, home, retention
from prompts import ENGLISH, say, set_default, speak, speaking
from storage.db import REQUEST_LOCK_WAIT, session_factory

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
    warm_names: bool = False,
) -> App:
    """The Bolt app with every listener registered. `warm_names`: a serving process keeps the lookup's account
    names current in the background (`AccountNames.keep_warm`)."""
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
        # CarryContext: a listener speaks the language the middleware below chose for the request
        listener_executor=CarryContext(max_workers=settings.listener_threads, thread_name_prefix="listener"),
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

    user_languages = use_for_jobs(client)  # one cache for requests and the jobs of this process
    workspace_language = settings.language or ENGLISH
    set_default(workspace_language)  # a channel's messages, unless the alert rules name its own (`[routing] languages`)

    @app.middleware
    def speak_their_language(
        context: BoltContext,
        body: dict[str, Any],
        next: Callable[[], BoltResponse],  # noqa: A002
    ) -> BoltResponse:
        """What a request answers (privately: ephemeral, DM, modal, App Home, the assistant) is in the user's Slack
        locale when we have it, else LANGUAGE; the listener and the work after its ack carry it (CarryContext).
        Set for the rest of the request's context: Bolt runs the listener after its middleware has returned.
        Bolt finds no user in assistant_thread_started: its user is the thread's (event.assistant_thread.user_id)."""
        thread = (body.get("event") or {}).get("assistant_thread") or {}
        speak(user_languages(context.user_id or thread.get("user_id")) or workspace_language)
        return next()

    # the work after an ack (response_url posts, Web API calls, a held answer): never on Bolt's listener pool,
    # whose threads must stay free to ack
    follow_up = CarryContext(max_workers=settings.listener_threads, thread_name_prefix="follow-up")
    model = Model.from_settings(settings)  # None: AI off (the default)
    deps = Deps(
        sessions,
        scorecard,
        today,
        follow_up,
        cs_lead=getattr(settings, "cs_lead", None),
        tz=settings.tz,
        model=model,
        model_name=settings.llm_model,
        llm_fields=settings.llm_fields,
        llm_timeout=settings.llm_timeout,
        # a model's calls wait on a pool of their own (at most LLM_CONCURRENCY at once, each bounded by its timeout)
        model_calls=ModelCalls(settings.llm_concurrency) if model is not None else None,
    )
    # registered before health (its `exit`); exit words reach a model only when LLM_FIELDS names them
    exit_model = model if "exit_words" in settings.llm_fields else None
    names = AccountNames()  # one copy of every account's name per process, for every handler that looks one up
    if warm_names:
        names.keep_warm(sessions)
    exits.register(app, deps, names, settings.churn_channel, settings.exit_interview_readers, model=exit_model)
    health.register(app, deps, names, getattr(settings, "exit_interview_readers", ()))  # who reads churn quotes
    alert_rules = load_rules(getattr(settings, "alert_rules_path", None), scorecard)  # opening a listed alert
    alerts.register(app, deps, alert_rules, getattr(settings, "calendar", None))
    home.register(app, deps)
    retention.register(app, deps)
    # questions on a pool of their own: one waiting on the model (up to 30 s) never holds follow_up, whose clicks
    # must open modals within 3 s; sized for every model call running or waiting, plus the listeners' questions
    answers = settings.listener_threads + (2 * settings.llm_concurrency if model is not None else 0)
    assistant.register(app, replace(deps, follow_up=CarryContext(answers, thread_name_prefix="assistant")), names)

    @app.error
    def on_error(
        error: Exception, body: dict, client: WebClient, respond: Respond | None, logger: logging.Logger
    ) -> BoltResponse | None:
        """An error in a listener; one in the work after the ack is reported the same way by `after_ack`."""
        return report_error(error, body, client, respond, logger)

    return app


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


def stopped_at_start(key: str, **values: Any) -> SettingsError:
    """Why `healthbot run` stops at start (prompts/run.toml `errors`), in the command line's language as every
    other command speaks (LANGUAGE, else the system locale), not the workspace default `create_app` sets for Slack."""
    with speaking(cli_language(dict(os.environ))):
        return SettingsError(say(f"run.errors.{key}", **values))


def listen(settings: Settings) -> socket.socket:
    """The listening socket on HOST:PORT, bound before anything starts; one clear line if it cannot be."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    try:
        sock = socket.create_server((settings.host, settings.port), family=family)
    except OSError as exc:
        where, why = f"{settings.host}:{settings.port}", (exc.strerror or str(exc)).split(" (while")[0]
        if exc.errno in (errno.EADDRINUSE, errno.EACCES):
            raise stopped_at_start("port", port=settings.port, where=where, why=why) from None
        raise stopped_at_start("host", host=settings.host, where=where, why=why) from None
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
            raise stopped_at_start("bot_token", error=error) from None
        log.warning("could not check SLACK_BOT_TOKEN with Slack: %s", error)
    except OSError as exc:
        log.warning("could not reach Slack at %s to check SLACK_BOT_TOKEN: %s", client.base_url, exc)


def start_up_lines(settings: Settings) -> list[str]:
    """What a person starting the bot needs to know besides where it listens: the database, the jobs, the AI."""
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
    ai = say("run.ai_off")
    if settings.llm_base_url and settings.llm_model:
        url = httpx.URL(settings.llm_base_url)  # its host only: never the user:password a proxy may take
        ai = say("run.ai", model=settings.llm_model, host=url.host + (f":{url.port}" if url.port else ""))
    return [say("run.database", database=database), say("run.files", scorecard=scorecard, rules=rules), jobs, ai]


def unset_settings(settings: Settings) -> list[tuple[str, str]]:
    """The optional settings left unset that change what the bot does, each with what it means."""
    unset = {
        "ALERT_CHANNEL": not settings.alert_channel,
        "CS_LEAD": not settings.cs_lead,
        "TEAM": not settings.team,
        "EXIT_INTERVIEW_READERS": not settings.exit_interview_readers,
    }
    return [(name, say(f"run.unset.{name}")) for name, missing in unset.items() if missing]


# uvicorn's HTTP parser and event loop in C (httptools, uvloop) rather than pure Python (h11, asyncio): at 50
# concurrent /health clients h11 alone took a quarter of the server's CPU (bench/README.md, "Lookups at 50 clients")
WEB_SERVER: dict[str, Any] = {"http": "httptools", "loop": "auto"}  # auto: uvloop where installed (not on Windows)


def settle() -> None:
    """What start built (modules, the app, its settings) set aside from the garbage collector: a full collection then
    walks what requests made since, not the whole program (measured 250-390 ms with the GIL held, every request
    waiting, on PostgreSQL at 50,000 accounts: bench/README.md)."""
    gc.collect()
    gc.freeze()


def serve(settings: Settings, engine: Engine) -> None:
    # what APScheduler and uvicorn say at INFO (each job added, each run, "Application startup complete") is
    # about themselves; their warnings and errors still show, and LOG_LEVEL=DEBUG shows everything
    level = logging.getLevelName(settings.log_level)
    libraries = level if level == logging.DEBUG else max(level, logging.WARNING)
    logging.getLogger("apscheduler").setLevel(libraries)
    quiet = logging.getLevelName(libraries).lower()
    sock = listen(settings)
    workers: list[int] = []
    if settings.web_workers > 1 and not settings.socket_mode:  # before any thread or connection: bot/workers.py
        workers = fork_workers(settings.web_workers - 1, engine, lambda: serve_web(settings, engine, sock, quiet))
    try:
        _serve(settings, engine, sock, quiet)
    finally:
        stop_workers(workers)


def serve_web(settings: Settings, engine: Engine, sock: socket.socket, quiet: str) -> None:
    """A web-only worker (WEB_WORKERS): Slack's HTTP requests and /healthz on the shared socket; no scheduler."""
    web = create_web(
        create_app(settings, engine, warm_names=True),
        engine,
        signing_secret=settings.slack_signing_secret or "",
        ingest_token=settings.ingest_token,
        tz=settings.tz,
    )
    settle()
    config = uvicorn.Config(
        web, host=settings.host, port=settings.port, log_level=quiet, access_log=False, **WEB_SERVER
    )
    uvicorn.Server(config).run(sockets=[sock])


def _serve(settings: Settings, engine: Engine, sock: socket.socket, quiet: str) -> None:
    bolt_app = create_app(settings, engine, warm_names=True)  # sets LANGUAGE as the default, the jobs' too
    check_bot_token(bolt_app.client)
    handler = None
    if settings.socket_mode:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        handler = SocketModeHandler(bolt_app, settings.slack_app_token)
        try:
            handler.connect()  # non-blocking: the web server below keeps /healthz up
        except SlackApiError as exc:
            raise stopped_at_start("app_token", error=exc.response.get("error")) from None
        except OSError as exc:  # URLError included: there is nothing to serve without the connection
            raise stopped_at_start("socket_unreachable", url=bolt_app.client.base_url, error=exc) from None
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
        settle()
        config = uvicorn.Config(
            web, host=settings.host, port=settings.port, log_level=quiet, access_log=False, **WEB_SERVER
        )
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        scheduler.shutdown(wait=False)
        if handler is not None:
            handler.close()  # a clean goodbye on the WebSocket, not a dropped connection
        sock.close()
