"""A task's "Mark done" button and its modal: Slack in, one call of `bot.retention.actions`, Slack out.

The button opens the modal at once (views.open with the click's trigger_id), carrying the task and the
version it shows. The submission is validated (errors inline, `response_action: errors`), then the task closed
and the thread's task list redrawn in one transaction committed before the ack; a task changed or closed
meanwhile is reported in the modal (`response_action: update`), never overwritten. After the ack: one drain
of the outbox, so the list's redraw goes out at once, and the Home of the task's assignee (and of whoever
closed it) republished.
"""

from __future__ import annotations

import logging

from pydantic import ValidationError
from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot.home import service as home
from bot.home.values import HomePages
from bot.retention import actions, modal
from bot.retention.ids import RetentionIds
from bot.retention.values import TaskRef
from bot.slack.requests import AfterCommit, Click, Deps, after_ack, commit_by, on_click, send_now
from bot.slack.values import decode
from prompts import say
from storage.db import unit_of_work


def publish_home(deps: Deps, client: WebClient, user_id: str, logger: logging.Logger) -> None:
    """Republish a Home whose task list changed; a failure waits for the Home's next opening."""
    try:
        with unit_of_work(deps.sessions) as session:
            view = home.home(session, user_id, HomePages(), deps.scorecard, deps.today(), deps.tz)
        client.views_publish(user_id=user_id, view=view)
    except Exception:  # the Home is redrawn next time it is opened
        logger.warning("could not republish the Home of %s after a task closed", user_id, exc_info=True)


def register(app: App, deps: Deps) -> None:
    def mark_done(click: Click[TaskRef]) -> AfterCommit:  # a trigger_id lives 3 s: one indexed read, then views.open
        view = actions.done_modal(click.session, click.value.task_id, deps.tz)

        def then() -> None:
            click.client.views_open(trigger_id=click.body["trigger_id"], view=view)

        return then

    on_click(app, RetentionIds.MARK_DONE, TaskRef, deps, mark_done)

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
            closed = actions.close(session, ref, result, user_id, deps.scorecard.tiers, deps.tz, deps.cs_lead)
        if closed.stale is not None:
            logger.info(
                "task %s changed before %s's submission (version %s): nothing overwritten",
                ref.task_id,
                user_id,
                ref.version,
            )
            ack(response_action="update", view=modal.stale_view(closed.stale))
            return
        ack()

        def after() -> None:
            send_now(deps, client, logger)
            for user in closed.homes:
                publish_home(deps, client, user, logger)

        after_ack(deps, body, client, None, logger, after)
