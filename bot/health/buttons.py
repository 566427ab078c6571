"""What the card's and the lists' buttons do (show a card, turn a page, share, chart, Override), and the card's
redraw once an override is stored. Each takes the typed click `on_click` hands it, inside its unit of work."""

from __future__ import annotations

import hashlib
import logging
from typing import Any
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from sqlmodel import Session

from bot.health import messages, override, service
from bot.health.chart import render_chart
from bot.health.values import AccountRef, ListPage, OverrideRef
from bot.slack.blocks import esc
from bot.slack.outbox import drain
from bot.slack.requests import Click, Deps, tell
from bot.slack.respond import ResponseUrlError, RetryingRespond
from prompts import say, speaking_in
from storage import events, scores
from storage.db import unit_of_work
from storage.models import Account


def show_card(deps: Deps, click: Click[AccountRef], replace: bool) -> None:
    """A pick list's button replaces the list with the card (`replace`); a list row's puts the card below it."""
    message = service.card(click.session, click.value.account_id, deps.scorecard, deps.today())
    click.respond(response_type="ephemeral", replace_original=replace, text=message.text, blocks=message.blocks)


def turn_page(deps: Deps, click: Click[ListPage]) -> None:
    message = service.account_list(click.session, click.value, click.user_id, deps.scorecard, deps.today())
    click.respond(response_type="ephemeral", replace_original=True, text=message.text, blocks=message.blocks)


def share_key(body: dict[str, Any]) -> str:
    """The clicked message, as a key in the event dedupe table: a replayed Share click (v0 signatures
    carry no nonce) or a double click must not post the card twice."""
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
    ts = (body.get("container") or {}).get("message_ts")
    if channel and ts:
        return f"share:{channel}:{ts}"
    return "share:url:" + hashlib.sha1((body.get("response_url") or "").encode()).hexdigest()


def share(deps: Deps, click: Click[AccountRef]) -> None:
    """Post the card visibly in the conversation, then remove the private copy; once per clicked message.

    The claim commits on its own before the post, so no database lock is held while Slack answers;
    a post Slack refuses releases it, so the user can try again."""
    account_id = click.value.account_id
    body = click.body
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
    with speaking_in(channel):  # seen by the whole channel: its language, not the sharer's
        message = service.card(click.session, account_id, deps.scorecard, deps.today(), shared_by=click.user_id)
    key = share_key(body)
    with unit_of_work(deps.sessions) as claim:
        first = events.claim_event(claim, key)
    if not first:
        click.logger.info("share %s already posted: a replayed or repeated click, dropped", key)
        return
    try:
        click.respond(response_type="in_channel", replace_original=False, text=message.text, blocks=message.blocks)
    except Exception:
        with unit_of_work(deps.sessions) as release:
            events.release_event(release, key)
        raise
    click.respond(delete_original=True)


def chart(deps: Deps, click: Click[AccountRef]) -> None:
    """Render after the ack, then upload into the clicker's DM with the app: like every answer, the chart is
    private until shared (Slack's own "Share" on the file). The conversation gets a private note pointing there;
    if the DM cannot be opened or the upload fails, the note says why."""
    data = service.chart(click.session, click.value.account_id, deps.scorecard)
    if data is None:
        click.respond(response_type="ephemeral", replace_original=False, text=say("health.chart.no_data"))
        return
    try:
        dm = click.client.conversations_open(users=click.user_id)["channel"]["id"]
        click.client.files_upload_v2(
            channel=dm, file=render_chart(data, deps.scorecard.tiers), filename=data.filename, title=data.title
        )
    except (SlackApiError, SlackRequestError, URLError) as exc:
        reason = exc.response.get("error", "") if isinstance(exc, SlackApiError) else str(exc)
        click.logger.warning("chart upload for account %s failed: %s", click.value.account_id, reason)
        text = messages.chart_failed_text(data.name, reason)
        click.respond(response_type="ephemeral", replace_original=False, text=text)
        return
    click.respond(response_type="ephemeral", replace_original=False, text=messages.chart_in_dm_text(data.name))


def override_form(deps: Deps, session: Session, account_id: int, response_url: str | None) -> dict[str, Any] | str:
    """The Override modal for an account, or the words refusing it (a churned or vanished account). The modal
    keeps the card's response_url, so the card is redrawn once the override is stored."""
    account = session.get(Account, account_id)
    refused = override.refusal(account)
    if refused or account is None:
        return esc(refused or "")
    current = scores.active_override(session, account_id, deps.today())
    return override.override_modal(account, current, deps.scorecard.tiers, deps.today(), response_url)


def open_override(deps: Deps, click: Click[AccountRef]) -> None:
    """The card's Override button: the modal at once, on the click's trigger_id; a refusal privately."""
    form = override_form(deps, click.session, click.value.account_id, click.body.get("response_url"))
    if isinstance(form, str):
        tell(click.body, click.client, click.respond, form)
        return
    click.client.views_open(trigger_id=click.body["trigger_id"], view=form)


def redraw_overridden(deps: Deps, ref: OverrideRef, user_id: str, client: WebClient, logger: logging.Logger) -> None:
    """After an override is stored: the card it was set from redrawn privately (through the card's response_url, or
    the app's DM once that is gone), and the alert's redraw (if the account has one open) delivered now."""
    with unit_of_work(deps.sessions) as session:
        message = service.card(session, ref.account_id, deps.scorecard, deps.today())
    try:
        if not ref.response_url:
            raise ResponseUrlError("no response_url: opened where there is none")
        RetryingRespond(response_url=ref.response_url)(
            response_type="ephemeral", replace_original=True, text=message.text, blocks=message.blocks
        )
    except (ResponseUrlError, URLError, OSError) as exc:  # none, or expired (30 min): the app's DM has it
        logger.info("override card to the DM instead of the response_url: %s", exc)
        client.chat_postMessage(channel=user_id, text=message.text, blocks=message.blocks)
    try:
        drain(deps.sessions, client, max_wait=0.0)
    except Exception:
        logger.warning("could not deliver the alert's redraw now; the deliver job will", exc_info=True)
