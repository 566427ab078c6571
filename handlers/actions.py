"""Button clicks on the messages `/health` answers with: cards, pick lists, ranked lists."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date
from urllib.error import URLError

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from sqlmodel import Session

from bot import portfolio
from bot.chart import render_chart
from bot.ids import HealthIds
from bot.scorecard import Scorecard
from bot.values import AccountRef, ListPage, decode
from prompts import say


def register(app: App, sessions: Callable[[], Session], scorecard: Scorecard, today: Callable[[], date]) -> None:
    def show_card(replace: bool) -> Callable[..., None]:
        def listener(ack: Ack, action: dict, respond: Respond) -> None:
            ack()
            ref = decode(AccountRef, action["value"])
            with sessions() as session:
                message = portfolio.card(session, ref.account_id, scorecard, today())
            respond(response_type="ephemeral", replace_original=replace, text=message.text, blocks=message.blocks)

        return listener

    app.action(HealthIds.PICK_ACCOUNT.value)(show_card(replace=True))  # the card takes the pick list's place
    app.action(HealthIds.OPEN_CARD.value)(show_card(replace=False))  # the list stays; the card comes below

    @app.action(HealthIds.SHARE.value)
    def share(ack: Ack, action: dict, body: dict, respond: Respond) -> None:
        """Post the card visibly in the conversation, then remove the private copy."""
        ack()
        ref = decode(AccountRef, action["value"])
        with sessions() as session:
            message = portfolio.card(session, ref.account_id, scorecard, today(), shared_by=body["user"]["id"])
        respond(response_type="in_channel", replace_original=False, text=message.text, blocks=message.blocks)
        respond(delete_original=True)

    @app.action(HealthIds.CHART.value)
    def chart(ack: Ack, action: dict, body: dict, client: WebClient, respond: Respond, logger: logging.Logger) -> None:
        """Render after the ack, then upload into the conversation; tell the user if the upload fails."""
        ack()
        ref = decode(AccountRef, action["value"])
        with sessions() as session:
            data = portfolio.chart(session, ref.account_id, scorecard)
        if data is None:
            respond(response_type="ephemeral", replace_original=False, text=say("health.chart.no_data"))
            return
        try:
            client.files_upload_v2(
                channel=body["channel"]["id"], file=render_chart(data, scorecard.tiers), filename=data.filename,
                title=data.title,
            )  # fmt: skip
        except (SlackApiError, SlackRequestError, URLError) as exc:
            reason = exc.response.get("error", "") if isinstance(exc, SlackApiError) else str(exc)
            logger.warning("chart upload for account %s failed: %s", ref.account_id, reason)
            respond(response_type="ephemeral", replace_original=False,
                    text=say("health.chart.failed", name=data.name, reason=reason))  # fmt: skip

    def turn_page(ack: Ack, action: dict, body: dict, respond: Respond) -> None:
        ack()
        value = decode(ListPage, action["value"])
        with sessions() as session:
            message = portfolio.account_list(session, value, body["user"]["id"], scorecard, today())
        respond(response_type="ephemeral", replace_original=True, text=message.text, blocks=message.blocks)

    app.action(HealthIds.LIST_PREV.value)(turn_page)
    app.action(HealthIds.LIST_NEXT.value)(turn_page)
