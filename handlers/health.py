"""The `/health` family: the command (`<customer>`, `me`, `top [N] [tier]`, `help`) and its buttons."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from urllib.error import URLError

from slack_bolt import Ack, App, Respond
from slack_sdk.errors import SlackApiError, SlackRequestError

from bot.health import service
from bot.health.chart import render_chart
from bot.health.command import Help, help_text, parse
from bot.health.ids import HealthIds
from bot.health.lookup import AccountNames
from bot.health.values import AccountRef, ListPage
from bot.slack.blocks import Message
from bot.slack.requests import Click, Deps, on_click
from prompts import say
from storage.db import unit_of_work

ANSWER_IN_ACK_SECONDS = 2.0  # past this, ack with a holding note and send the answer to response_url


def register(app: App, deps: Deps) -> None:
    names = AccountNames()
    workers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="health-answer")
    scorecard, today = deps.scorecard, deps.today

    def answer(command: dict) -> Message:
        parsed = parse(command.get("text") or "", scorecard.tiers)
        if isinstance(parsed, Help):
            return Message(help_text(scorecard.tiers))
        with unit_of_work(deps.sessions) as session:
            return service.answer(session, parsed, command["user_id"], scorecard, today(), names)

    @app.command("/health")
    def health(ack: Ack, command: dict, respond: Respond) -> None:
        """Answer in the ack itself: a few indexed queries (bench/bench_lookup.py), far inside Slack's 3 s.
        Should the database be slow, the ack goes out in time anyway and the answer follows it."""
        pending = workers.submit(answer, command)
        try:
            message = pending.result(timeout=ANSWER_IN_ACK_SECONDS)
        except TimeoutError:  # concurrent.futures raises the built-in one since Python 3.11
            ack(response_type="ephemeral", text=say("health.still_working"))
            message = pending.result()
            respond(response_type="ephemeral", text=message.text, blocks=message.blocks)
            return
        ack(response_type="ephemeral", text=message.text, blocks=message.blocks)

    def show_card(replace: bool) -> Callable[[Click[AccountRef]], None]:
        def work(click: Click[AccountRef]) -> None:
            message = service.card(click.session, click.value.account_id, scorecard, today())
            click.respond(response_type="ephemeral", replace_original=replace, text=message.text, blocks=message.blocks)

        return work

    on_click(app, HealthIds.PICK_ACCOUNT, AccountRef, deps, show_card(replace=True))  # the card replaces the list
    on_click(app, HealthIds.OPEN_CARD, AccountRef, deps, show_card(replace=False))  # the list stays; card below

    def share(click: Click[AccountRef]) -> None:
        """Post the card visibly in the conversation, then remove the private copy."""
        message = service.card(click.session, click.value.account_id, scorecard, today(), shared_by=click.user_id)
        click.respond(response_type="in_channel", replace_original=False, text=message.text, blocks=message.blocks)
        click.respond(delete_original=True)

    on_click(app, HealthIds.SHARE, AccountRef, deps, share)

    def chart(click: Click[AccountRef]) -> None:
        """Render after the ack, then upload into the clicker's DM with the app: like every answer, the chart is
        private until shared (Slack's own "Share" on the file). The conversation gets a private note pointing there;
        if the DM cannot be opened or the upload fails, the note says why."""
        data = service.chart(click.session, click.value.account_id, scorecard)
        if data is None:
            click.respond(response_type="ephemeral", replace_original=False, text=say("health.chart.no_data"))
            return
        try:
            dm = click.client.conversations_open(users=click.user_id)["channel"]["id"]
            click.client.files_upload_v2(
                channel=dm, file=render_chart(data, scorecard.tiers), filename=data.filename, title=data.title
            )
        except (SlackApiError, SlackRequestError, URLError) as exc:
            reason = exc.response.get("error", "") if isinstance(exc, SlackApiError) else str(exc)
            click.logger.warning("chart upload for account %s failed: %s", click.value.account_id, reason)
            key = "health.chart.failed_scope" if reason == "missing_scope" else "health.chart.failed"
            click.respond(
                response_type="ephemeral", replace_original=False, text=say(key, name=data.name, reason=reason)
            )
            return
        click.respond(response_type="ephemeral", replace_original=False, text=say("health.chart.in_dm", name=data.name))

    on_click(app, HealthIds.CHART, AccountRef, deps, chart)

    def turn_page(click: Click[ListPage]) -> None:
        message = service.account_list(click.session, click.value, click.user_id, scorecard, today())
        click.respond(response_type="ephemeral", replace_original=True, text=message.text, blocks=message.blocks)

    on_click(app, HealthIds.LIST_PREV, ListPage, deps, turn_page)
    on_click(app, HealthIds.LIST_NEXT, ListPage, deps, turn_page)
