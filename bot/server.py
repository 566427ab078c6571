"""`healthbot run`: serve Slack over HTTP (uvicorn) or Socket Mode, plus /healthz."""

from __future__ import annotations

import logging

import uvicorn
from sqlalchemy import Engine

from bot.app import create_app, create_scheduler, create_web
from bot.settings import Settings

log = logging.getLogger("healthbot")


def serve(settings: Settings, engine: Engine) -> None:
    bolt_app = create_app(settings, engine)
    scheduler = create_scheduler(settings, engine, bolt_app.client)
    scheduler.start()
    log.info("daily scoring at %s %s", settings.score_time.strftime("%H:%M"), settings.timezone)
    if settings.socket_mode:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        handler = SocketModeHandler(bolt_app, settings.slack_app_token)
        handler.connect()  # non-blocking: the web server below keeps /healthz up
        log.info("connected to Slack in Socket Mode")
        web = create_web(None, engine)
    else:
        web = create_web(bolt_app, engine)
        log.info("serving Slack at http://%s:%d/slack/events", settings.host, settings.port)
    try:
        uvicorn.run(web, host=settings.host, port=settings.port, log_level=settings.log_level.lower(), access_log=False)
    finally:
        scheduler.shutdown(wait=False)
