"""A task's "Mark done" button and its modal.

The button opens the modal at once (views.open with the click's trigger_id), carrying the task and the
version it shows. The submission is validated (errors inline, `response_action: errors`), then closed with
one conditional UPDATE (`storage.tasks.close`) and the thread's task list redrawn through the outbox, in one
transaction committed before the ack. A task changed or closed meanwhile is reported in the modal
(`response_action: update`), never overwritten. After the ack: one drain of the outbox, so the list's
redraw goes out at once, and the Home of the task's assignee (and of whoever closed it) republished.
"""

from __future__ import annotations

import logging

from pydantic import ValidationError
from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient
from sqlmodel import Session

from bot.home import service as home
from bot.home.values import HomePages
from bot.retention import modal
from bot.retention.ids import RetentionIds
from bot.retention.service import redraw_tasks
from bot.retention.values import TaskRef
from bot.slack.outbox import drain
from bot.slack.requests import Deps, after_ack, commit_by, log_out_of_date, tell
from bot.slack.values import decode
from prompts import say
from storage import tasks
from storage.db import unit_of_work
from storage.models import Account


def register(app: App, deps: Deps) -> None:
    def deliver(client: WebClient, logger: logging.Logger) -> None:
        """Send what the submission enqueued now; whatever is left the deliver job sends later."""
        try:
            drain(deps.sessions, client, max_wait=0.0)
        except Exception:
            logger.warning("could not deliver a task list's redraw now; the deliver job will", exc_info=True)

    def publish_home(client: WebClient, user_id: str, logger: logging.Logger) -> None:
        try:
            with unit_of_work(deps.sessions) as session:
                view = home.home(session, user_id, HomePages(), deps.scorecard, deps.today(), deps.tz)
            client.views_publish(user_id=user_id, view=view)
        except Exception:  # the Home is redrawn next time it is opened
            logger.warning("could not republish the Home of %s after a task closed", user_id, exc_info=True)

    def modal_for(session: Session, ref: TaskRef) -> dict:
        """The Mark done modal at the task's current version; a closed or gone task is said so instead."""
        task = tasks.get(session, ref.task_id)
        if task is None or task.status != "open":
            return modal.stale_view(modal.stale_text(task, deps.tz))
        account = session.get(Account, task.account_id)
        return modal.done_modal(task, account.name if account else None, deps.tz)

    @app.action(str(RetentionIds.MARK_DONE))
    def mark_done(
        ack: Ack, body: dict, action: dict, respond: Respond, client: WebClient, logger: logging.Logger
    ) -> None:
        try:
            ref = decode(TaskRef, action.get("value") or "")
        except ValidationError:
            ack()
            log_out_of_date(logger, RetentionIds.MARK_DONE, action.get("value"))
            text = say("health.button_out_of_date")
            after_ack(deps, body, client, respond, logger, lambda: tell(body, client, respond, text))
            return
        ack()

        def open_modal() -> None:  # a trigger_id lives 3 s: one indexed read, then views.open
            with unit_of_work(deps.sessions) as session:
                view = modal_for(session, ref)
            client.views_open(trigger_id=body["trigger_id"], view=view)

        after_ack(deps, body, client, respond, logger, open_modal)

    @app.view(str(RetentionIds.DONE_MODAL))
    def submitted(
        ack: Ack, body: dict, view: dict, client: WebClient, context: BoltContext, logger: logging.Logger
    ) -> None:
        """Validate, close and redraw in one transaction, then ack; errors and a stale task show in the modal."""
        user_id = body["user"]["id"]
        try:
            ref = decode(TaskRef, view.get("private_metadata") or "")
        except ValidationError:
            ack(response_action="update", view=modal.stale_view(say("health.button_out_of_date")))
            return
        result = modal.read_submission(view, deps.today())
        if isinstance(result, dict):
            ack(response_action="errors", errors=result)
            return
        with unit_of_work(deps.sessions, commit_by=commit_by(context)) as session:
            closed = tasks.close(
                session, ref.task_id, version=ref.version, outcome=result.outcome, by=user_id, notes=result.notes,
                next_step=result.next_step, next_step_on=result.next_step_on,
            )  # fmt: skip
            task = tasks.get(session, ref.task_id)
            if closed and task is not None:
                redraw_tasks(session, task.alert_id, deps.scorecard.tiers, deps.tz, deps.cs_lead)
            stale = None if closed else modal.stale_text(task, deps.tz)
            homes = list(dict.fromkeys(u for u in (task.assignee if task else None, user_id) if u))
        if stale is not None:
            logger.info("task %s changed before %s's submission (version %s): nothing overwritten", ref.task_id,
                        user_id, ref.version)  # fmt: skip
            ack(response_action="update", view=modal.stale_view(stale))
            return
        ack()

        def after() -> None:
            deliver(client, logger)
            for user in homes:
                publish_home(client, user, logger)

        after_ack(deps, body, client, None, logger, after)
