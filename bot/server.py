"""`healthbot run`: serve Slack over HTTP (uvicorn) or Socket Mode, plus /healthz."""

from __future__ import annotations

import errno
import logging
import signal
import socket
import sys

import uvicorn
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import Engine

from bot.app import create_app, create_scheduler, create_web
from bot.settings import Settings, SettingsError

log = logging.getLogger("healthbot")
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
        web = create_web(None, engine)
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
