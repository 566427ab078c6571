"""The `/health` family: the command (`<customer>`, `me`, `top [N] [tier]`, `help`) and its buttons."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any
from urllib.error import URLError

from pydantic import ValidationError
from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError

from bot.exits import service as exit_service
from bot.health import messages, override, service
from bot.health.chart import render_chart
from bot.health.command import SUBCOMMANDS, Churn, Find, Help, Mine, Plays, Tasks, Top, help_text, parse, usage
from bot.health.ids import HealthIds
from bot.health.lookup import AccountNames
from bot.health.values import AccountRef, ListPage, OverrideRef
from bot.slack.blocks import Message, esc
from bot.slack.outbox import drain
from bot.slack.requests import Click, Deps, after_ack, commit_by, on_click, tell
from bot.slack.respond import ResponseUrlError, RetryingRespond
from bot.slack.values import decode
from prompts import say
from storage import queries
from storage.db import unit_of_work
from storage.models import Account

# Past this (counted from the request's arrival, not from when a listener thread took it up),
# ack with a holding note and send the answer to the response_url.
ANSWER_IN_ACK_SECONDS = 2.0


def share_key(body: dict[str, Any]) -> str:
    """The clicked message, as a key in the event dedupe table: a replayed Share click (v0 signatures
    carry no nonce) or a double click must not post the card twice."""
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
    ts = (body.get("container") or {}).get("message_ts")
    if channel and ts:
        return f"share:{channel}:{ts}"
    return "share:url:" + hashlib.sha1((body.get("response_url") or "").encode()).hexdigest()


def register(app: App, deps: Deps, readers: Sequence[str] = ()) -> None:
    """`readers`: EXIT_INTERVIEW_READERS, who may read the churn review's quotes (none: everyone, privately)."""
    names = AccountNames()
    workers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="health-answer")
    scorecard, today = deps.scorecard, deps.today

    def answer(parsed: Find | Mine | Top | Help | Tasks | Plays, user_id: str) -> Message:
        if isinstance(parsed, Help):
            return Message(help_text(scorecard.tiers))
        with unit_of_work(deps.sessions) as session:
            return service.answer(session, parsed, user_id, scorecard, today(), names, deps.tz)

    def churn_review(parsed: Churn, channel: str, user_id: str, respond: Respond, client: WebClient,
                     logger: Any) -> None:  # fmt: skip
        """After the ack: the review into the conversation for everyone (chat.postMessage: counts and categories,
        never a customer's words), the quotes privately to the typer if they may read exit interviews (else who
        may), then its chart uploaded in the review's thread. A bad period, an unknown segment, a period without
        data, or a conversation the bot cannot post in, is answered privately."""
        from bot.churn import messages as churn_messages
        from bot.churn import report
        from bot.churn.analysis import NoDataError, PeriodError, SegmentError, parse_period, review

        try:
            period = parse_period(parsed.period, today())
            with unit_of_work(deps.sessions) as session:
                result = review(session, period, segment=parsed.segment, today=today(), tiers=scorecard.tiers)
        except PeriodError as exc:
            sub = next(s for s in SUBCOMMANDS if s.name == "churn")
            respond(response_type="ephemeral", text=f"{esc(str(exc))} {say('health.usage_is', usage=usage(sub))}")
            return
        except (SegmentError, NoDataError) as exc:  # nothing posted in the channel
            respond(response_type="ephemeral", text=esc(str(exc)))
            return
        message = churn_messages.review_message(result, open_to_all=not readers)
        try:
            posted = client.chat_postMessage(channel=channel, text=message.text, blocks=message.blocks)
        except SlackApiError as exc:
            logger.warning("churn review not posted in %s: %s", channel, exc.response.get("error", ""))
            respond(response_type="ephemeral", text=say("churn_review.not_posted", reason=exc.response.get("error")))
            return
        if result.quotes:  # readers unset: everyone may read exit interviews (as `/health exit`), privately
            if exit_service.is_reader(client, readers, user_id, logger):
                quotes = churn_messages.quotes_message(result)
                respond(response_type="ephemeral", text=quotes.text, blocks=quotes.blocks)
            else:
                respond(response_type="ephemeral", text=churn_messages.restricted_text(result, readers))
        try:
            client.files_upload_v2(
                channel=channel, file=report.render_png(result), filename=churn_messages.chart_filename(result),
                title=churn_messages.chart_title(result), thread_ts=posted["ts"],
            )  # fmt: skip
        except (SlackApiError, SlackRequestError, URLError) as exc:
            reason = exc.response.get("error", "") if isinstance(exc, SlackApiError) else str(exc)
            logger.warning("churn review chart upload in %s failed: %s", channel, reason)
            respond(response_type="ephemeral", text=say("churn_review.chart_failed", reason=esc(reason)))

    @app.command("/health")
    def health(
        ack: Ack, body: dict, command: dict, respond: Respond, client: WebClient, context: BoltContext, logger: Any
    ) -> None:
        """Answer in the ack itself: a few indexed queries (bench/bench_lookup.py), far inside Slack's 3 s.
        Should the database be slow, the ack goes out in time anyway and the answer follows it from the
        follow-up pool: this listener never waits past the ack. The churn review acks at once and follows."""
        parsed = parse(command.get("text") or "", scorecard.tiers)
        if isinstance(parsed, Churn):
            ack(response_type="ephemeral", text=say("churn_review.working"))
            after_ack(deps, body, client, respond, logger,
                      lambda: churn_review(parsed, command["channel_id"], command["user_id"], respond, client,
                                           logger))  # fmt: skip
            return
        pending = workers.submit(answer, parsed, command["user_id"])
        waited = time.monotonic() - context.get("received_at", time.monotonic())
        try:
            message = pending.result(timeout=max(0.0, ANSWER_IN_ACK_SECONDS - waited))
        except TimeoutError:  # concurrent.futures raises the built-in one since Python 3.11
            ack(response_type="ephemeral", text=say("health.still_working"))

            def follow(done: Future[Message]) -> None:
                def send() -> None:
                    message = done.result()  # an error here is reported to the user by after_ack
                    respond(response_type="ephemeral", text=message.text, blocks=message.blocks)

                after_ack(deps, body, client, respond, logger, send)

            pending.add_done_callback(follow)
            return
        ack(response_type="ephemeral", text=message.text, blocks=message.blocks)

    def show_card(replace: bool) -> Callable[[Click[AccountRef]], None]:
        def work(click: Click[AccountRef]) -> None:
            message = service.card(click.session, click.value.account_id, scorecard, today())
            click.respond(response_type="ephemeral", replace_original=replace, text=message.text, blocks=message.blocks)

        return work

    # card and list buttons answer through the response_url of the message they are in
    on_click(app, HealthIds.PICK_ACCOUNT, AccountRef, deps, show_card(replace=True), "message")  # replaces the list
    on_click(app, HealthIds.OPEN_CARD, AccountRef, deps, show_card(replace=False), "message")  # card below the list

    def share(click: Click[AccountRef]) -> None:
        """Post the card visibly in the conversation, then remove the private copy; once per clicked message.

        The claim commits on its own before the post, so no database lock is held while Slack answers;
        a post Slack refuses releases it, so the user can try again."""
        message = service.card(click.session, click.value.account_id, scorecard, today(), shared_by=click.user_id)
        key = share_key(click.body)
        with unit_of_work(deps.sessions) as claim:
            first = queries.claim_event(claim, key)
        if not first:
            click.logger.info("share %s already posted: a replayed or repeated click, dropped", key)
            return
        try:
            click.respond(response_type="in_channel", replace_original=False, text=message.text, blocks=message.blocks)
        except Exception:
            with unit_of_work(deps.sessions) as release:
                queries.release_event(release, key)
            raise
        click.respond(delete_original=True)

    on_click(app, HealthIds.SHARE, AccountRef, deps, share, "message")

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
            text = messages.chart_failed_text(data.name, reason)
            click.respond(response_type="ephemeral", replace_original=False, text=text)
            return
        click.respond(response_type="ephemeral", replace_original=False, text=messages.chart_in_dm_text(data.name))

    on_click(app, HealthIds.CHART, AccountRef, deps, chart, "message")

    def turn_page(click: Click[ListPage]) -> None:
        message = service.account_list(click.session, click.value, click.user_id, scorecard, today())
        click.respond(response_type="ephemeral", replace_original=True, text=message.text, blocks=message.blocks)

    on_click(app, HealthIds.LIST_PREV, ListPage, deps, turn_page, "message")
    on_click(app, HealthIds.LIST_NEXT, ListPage, deps, turn_page, "message")

    def open_override(click: Click[AccountRef]) -> None:
        """The card's Override button: the modal at once, on the click's trigger_id; a churned account is refused
        privately. The modal keeps the card's response_url, so the card is redrawn once the override is stored."""
        account = click.session.get(Account, click.value.account_id)
        refused = override.refusal(account)
        if refused or account is None:
            tell(click.body, click.client, click.respond, esc(refused or ""))
            return
        current = queries.active_override(click.session, click.value.account_id, today())
        view = override.override_modal(account, current, scorecard.tiers, today(), click.body.get("response_url"))
        click.client.views_open(trigger_id=click.body["trigger_id"], view=view)

    on_click(app, HealthIds.OVERRIDE, AccountRef, deps, open_override, "message")

    @app.view(str(HealthIds.OVERRIDE_MODAL))
    def override_submitted(
        ack: Ack, body: dict, view: dict, client: WebClient, context: BoltContext, logger: Any
    ) -> None:
        """Check and store before the ack: errors show inline under their inputs and nothing is written. Then
        the card the modal was opened from is redrawn privately, and the alert's redraw (if any) delivered."""
        try:
            ref = decode(OverrideRef, view.get("private_metadata") or "")
        except ValidationError:
            ack(response_action="errors", errors={HealthIds.OVERRIDE_TIER: say("health.button_out_of_date")})
            return
        entry = override.read_input((view.get("state") or {}).get("values") or {})
        user_id = body["user"]["id"]
        with unit_of_work(deps.sessions, commit_by=commit_by(context)) as session:
            stored = service.set_override(session, ref.account_id, entry, user_id, scorecard.tiers, today(), deps.tz,
                                          deps.cs_lead)  # fmt: skip
        if isinstance(stored, dict):
            ack(response_action="errors", errors=stored)
            return
        ack()

        def redraw() -> None:
            with unit_of_work(deps.sessions) as session:
                message = service.card(session, ref.account_id, scorecard, today())
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
                drain(deps.sessions, client, max_wait=0.0)  # the alert root's redraw, if the account has one open
            except Exception:
                logger.warning("could not deliver the alert's redraw now; the deliver job will", exc_info=True)

        after_ack(deps, body, client, None, logger, redraw)
