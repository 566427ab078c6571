"""One unit of work per Slack request, and telling a user something wherever they are.

Bolt middleware cannot wrap a listener that runs after the ack on another thread (its
`next()` returns at the ack), so the unit of work wraps the listener instead:
`on_click(app, action_id, Model, deps, work)` registers a listener that parses the
button value into `Model`, acks, and hands the rest to the follow-up pool: one database
session, `work` with a typed `Click`, one commit at the end, then what `work` left for
after it (tell the clicker, send what it enqueued: `send_now`). Storage functions never
commit: a click's writes succeed or fail together. It is the one click listener: every
handler registers its buttons through it.

Listeners only ack: Bolt runs them on its listener pool and answers Slack when they call
`ack()`, so a listener busy with slow work (a response_url sleeping out Retry-After, a
stuck database, the Web API) keeps the next command from being acked within Slack's 3 s.
What follows the ack runs on `Deps.follow_up`, a pool of its own, through `after_ack`.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import date
from typing import Any, Generic
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from slack_bolt import Ack, App, BoltContext, BoltResponse, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlmodel import Session

from bot.scoring.scorecard import Scorecard
from bot.slack.outbox import drain
from bot.slack.values import V, decode
from prompts import say
from storage.db import SessionFactory, is_busy, unit_of_work

log = logging.getLogger("healthbot.slack")


@dataclass(frozen=True)
class Deps:
    """What every listener needs, built once by the composition root (`bot/app.py`)."""

    sessions: SessionFactory
    scorecard: Scorecard
    today: Callable[[], date]
    follow_up: Executor  # the work after an ack: bounded, and never the pool that produces acks
    cs_lead: str | None = None  # CS_LEAD: a user id (U...) or a user-group id (S...); may release/reassign alerts
    tz: ZoneInfo = ZoneInfo("UTC")  # TIMEZONE: times in messages (an alert's due time)


@dataclass(frozen=True)
class Click(Generic[V]):
    """A button click, parsed: who clicked, the typed value, the open session, and ways to answer."""

    session: Session
    value: V
    user_id: str
    body: dict[str, Any]
    respond: Respond
    client: WebClient
    logger: logging.Logger


AfterCommit = Callable[[], None]
"""What a click's work leaves for once its writes are committed: tell the clicker, open a modal, send now."""


def on_click(
    app: App,
    action_id: str,
    value: type[V] | Callable[[dict[str, Any]], V],
    deps: Deps,
    work: Callable[[Click[V]], AfterCommit | None],
    container: str | None = None,
) -> None:
    """Register `work` for clicks on `action_id`: value parsed, acked at once, one transaction around `work`, then
    what `work` returned (if anything) once it is committed.

    `value` is what the click carries: a `Value` model read from the button's value, or a function reading it
    from the action (a select's option, a block_id). A value that does not parse (a forged or out-of-date
    button), or a click from another `container` than the button lives in ("message": it answers through the
    response_url; "view": the Home tab), is answered where the user is, and nothing runs.
    """

    def listener(
        ack: Ack, body: dict, action: dict, respond: Respond, client: WebClient, logger: logging.Logger
    ) -> None:
        try:
            parsed = decode(value, action.get("value") or "") if isinstance(value, type) else value(action)
            if container and not _in(body, container):
                raise ValueError(f"a {action_id} click from outside a {container}")
        except (ValidationError, ValueError, KeyError, TypeError):
            ack()
            log_out_of_date(logger, action_id, action.get("value"))
            after_ack(
                deps,
                body,
                client,
                respond,
                logger,
                lambda: tell(body, client, respond, say("health.button_out_of_date")),
            )
            return
        ack()

        def run() -> None:
            with unit_of_work(deps.sessions) as session:
                then = work(Click(session, parsed, body["user"]["id"], body, respond, client, logger))
            if then is not None:
                then()

        after_ack(deps, body, client, respond, logger, run)

    listener.__name__ = f"on_{action_id.replace('.', '_')}"
    app.action(action_id)(listener)


def send_now(deps: Deps, client: WebClient, logger: logging.Logger) -> None:
    """Send what a committed request enqueued (a redraw, a reply) now; whatever is left (a 429, Slack down) the
    deliver job sends within a minute."""
    try:
        drain(deps.sessions, client, max_wait=0.0)
    except Exception:
        logger.warning("could not deliver a request's messages now; the deliver job will", exc_info=True)


def _in(body: dict[str, Any], container: str) -> bool:
    """Whether a click comes from `container`; a message button also needs the response_url it answers through."""
    kind = (body.get("container") or {}).get("type")
    return kind == container and (container != "message" or bool(body.get("response_url")))


def log_out_of_date(logger: logging.Logger, action_id: str, value: Any) -> None:
    """One line for a click whose value does not parse: its kind and length, never the value (forged text, or a
    real button's ids, stays out of the log)."""
    size = f", {len(value)} characters" if isinstance(value, str | list | dict) else ""
    logger.info("out-of-date value on %s (%s%s)", action_id, type(value).__name__, size)


def after_ack(
    deps: Deps,
    body: dict[str, Any],
    client: WebClient,
    respond: Respond | None,
    logger: logging.Logger,
    job: Callable[[], None],
) -> None:
    """Run `job` on the follow-up pool; an error in it is reported like one in a listener (`report_error`)."""

    def run() -> None:
        try:
            job()
        except Exception as error:
            report_error(error, body, client, respond, logger, acked=True)

    deps.follow_up.submit(run)


SUBMISSION_SECONDS = 2.5
"""A view submission is stored before its ack; Slack waits 3 s for the ack. Counted from the request's arrival,
a submission that gets to its commit later than this rolls back (`commit_by`) rather than be stored while
Slack shows the user an error."""


def commit_by(context: BoltContext) -> float:
    """The `unit_of_work(..., commit_by=)` of a view submission: its arrival plus SUBMISSION_SECONDS."""
    return float(context.get("received_at") or time.monotonic()) + SUBMISSION_SECONDS


def report_error(
    error: Exception,
    body: dict[str, Any],
    client: WebClient,
    respond: Respond | None,
    logger: logging.Logger,
    acked: bool = False,
) -> BoltResponse | None:
    """Log an unexpected error with an id the user can quote, and tell the user where they are:
    inline in a modal they submitted, a modal on top of one they clicked in, in a thread, an
    ephemeral reply, or the app's DM for App Home.

    A database too busy to take the write in time (`is_busy`: its transaction rolled back) is no bug: the
    user hears that nothing was saved or applied, and to try again. After a submission's ack (`acked`: the
    follow-up that redraws what it changed) the submission is stored: the user hears that in the app's DM."""
    submission = body.get("type") == "view_submission"
    saved = submission and acked
    handling = body.get("type") or body.get("command")
    error_id = uuid.uuid4().hex[:8]
    if is_busy(error):
        cause = type(getattr(error, "orig", error)).__name__  # not the error's text: it quotes the SQL's values
        logger.warning("database busy while handling %s (%s): nothing written; told to try again", handling, cause)
        text = say("health.busy_not_saved" if submission else "health.busy_not_applied")
    else:
        logger.error("error %s while handling %s", error_id, handling, exc_info=error)
        text = say("health.error", error_id=error_id)
    if saved:
        text = say("health.saved_not_redrawn", error_id=error_id)
    elif submission:  # answered in the ack: the modal shows the error
        return BoltResponse(status=200, body={"response_action": "push", "view": notice_view(text)})
    try:
        if saved:  # the modal is gone and its trigger_id spent: the app's DM
            client.chat_postMessage(channel=(body.get("user") or {}).get("id") or "", text=text)
        else:
            tell(body, client, respond, text)
    except Exception:  # the user cannot be told; the log line above has it
        logger.warning("could not report error %s to the user (%s)", error_id, where(body))
    return None


def where(body: dict[str, Any]) -> str:
    """Where the user is when a request comes in: modal, home, thread, message, or command."""
    view = body.get("view") or {}
    container = body.get("container") or {}
    if body.get("type") == "view_submission" or view.get("type") == "modal":
        return "modal"
    if view.get("type") == "home" or container.get("type") == "view":
        return "home"
    if container.get("thread_ts") or (body.get("message") or {}).get("thread_ts"):
        return "thread"
    if body.get("response_url"):
        return "message" if body.get("type") == "block_actions" else "command"
    return "dm"


def tell(body: dict[str, Any], client: WebClient, respond: Respond | None, text: str) -> None:
    """Say `text` to the user privately, where they are (a view submission is answered in its ack instead).

    A modal gets a small modal pushed on top; a thread an ephemeral reply in the thread; a
    message or command an ephemeral reply; App Home (no response_url) a line in the app's DM.
    """
    user: str = (body.get("user") or {}).get("id") or body.get("user_id") or ""
    place = where(body)
    if place == "modal" and body.get("trigger_id"):
        client.views_push(trigger_id=body["trigger_id"], view=notice_view(text))
    elif place == "thread":
        channel: str = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id") or ""
        thread = (body.get("container") or {}).get("thread_ts") or (body.get("message") or {}).get("thread_ts")
        client.chat_postEphemeral(channel=channel, user=user, thread_ts=thread, text=text)
    elif respond is not None and body.get("response_url"):
        respond(response_type="ephemeral", replace_original=False, text=text)
    elif user:
        client.chat_postMessage(channel=user, text=text)


def notice_view(text: str) -> dict[str, Any]:
    """A one-section modal that says `text` (its title fits Slack's 24 characters)."""
    from bot.slack.blocks import section

    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": say("health.notice_title")},
        "close": {"type": "plain_text", "text": say("health.notice_close")},
        "blocks": [section(text)],
    }


def is_member(client: WebClient, people: Sequence[str], user_id: str, logger: logging.Logger, setting: str) -> bool:
    """Whether `user_id` is one of `people`: a named user (U…/W…) or a member of a named user group (S…,
    read with usergroups.users.list). A group Slack will not list is logged, once per check, and not matched."""
    if user_id in people:
        return True
    for group in (p for p in people if p.startswith("S")):
        try:
            if user_id in (client.usergroups_users_list(usergroup=group).get("users") or []):
                return True
        except SlackApiError as exc:
            logger.warning("could not read the members of %s %s: %s", setting, group, exc.response.get("error"))
    return False
