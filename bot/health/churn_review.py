"""`/health churn [period] [segment]` after its ack: the review posted into the conversation for everyone
(chat.postMessage: counts and categories, never a customer's words; beside what was lost, the expected MRR loss of
the next 90 days), the quotes privately to the typer if they may read exit interviews (else who may), then its
chart uploaded in the review's thread. With a model for the quotes' themes, the quotes are sent from the model's
own pool when it answers (or gives up), the chart not waiting for them. A bad period, an unknown segment, a period
without data, or a conversation the bot cannot post in, is answered privately."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any
from urllib.error import URLError

from slack_bolt import Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError

from bot.churn import messages, report
from bot.churn.analysis import NoDataError, SegmentError, review
from bot.churn.periods import PeriodError, parse_period
from bot.churn.themes import themes
from bot.exits.service import is_reader
from bot.health.command import SUBCOMMANDS, Churn, usage
from bot.slack import expected_loss
from bot.slack.blocks import esc
from bot.slack.requests import Deps, after_model
from prompts import say, sentences, speaking_in
from storage.db import unit_of_work


def _exit_model(deps: Deps) -> Any:
    """The model, when LLM_FIELDS lets exit-interview words go to it (the quotes' themes, for a reader only)."""
    return deps.model if "exit_words" in (deps.llm_fields or ()) else None


def post_review(
    deps: Deps,
    command: Churn,
    channel: str,
    user_id: str,
    readers: Sequence[str],
    respond: Respond,
    client: WebClient,
    logger: logging.Logger,
) -> None:
    """`readers`: EXIT_INTERVIEW_READERS, who may read the quotes (none: everyone, privately)."""
    today = deps.today()
    try:
        period = parse_period(command.period, today)
        with unit_of_work(deps.sessions) as session:
            # no scorecard: the chart's held-out check refits bands, which no Slack request does (the quarterly
            # job and `healthbot report --format png` draw it)
            result = review(session, period, segment=command.segment, today=today, tiers=deps.scorecard.tiers)
            expected = expected_loss.read(session, deps.scorecard).expected(deps.scorecard.tiers, result.segment)
    except PeriodError as exc:
        sub = next(s for s in SUBCOMMANDS if s.name == "churn")
        respond(response_type="ephemeral", text=sentences(esc(str(exc)), say("health.usage_is", usage=usage(sub))))
        return
    except (SegmentError, NoDataError) as exc:  # nothing posted in the channel
        respond(response_type="ephemeral", text=esc(str(exc)))
        return
    with speaking_in(channel):  # the review is the channel's: its language, not the typer's
        message = messages.review_message(result, open_to_all=not readers, expected=expected)
    try:
        posted = client.chat_postMessage(channel=channel, text=message.text, blocks=message.blocks)
    except SlackApiError as exc:
        logger.warning("churn review not posted in %s: %s", channel, exc.response.get("error", ""))
        respond(response_type="ephemeral", text=say("churn_review.not_posted", reason=exc.response.get("error")))
        return
    if result.quotes:  # readers unset: everyone may read exit interviews (as `/health exit`), privately
        if is_reader(client, readers, user_id, logger):
            model = _exit_model(deps)

            def send_quotes() -> None:
                quotes = messages.quotes_message(result, themes(result.quotes, model, deps.llm_timeout))
                respond(response_type="ephemeral", text=quotes.text, blocks=quotes.blocks)

            if model is None:
                send_quotes()
            else:  # the chart need not wait for the model: the quotes follow when it answers
                after_model(deps, {}, client, respond, logger, send_quotes)
        else:
            respond(response_type="ephemeral", text=messages.restricted_text(result, readers))
    try:
        with speaking_in(channel):
            png, name, title = report.render_png(result), messages.chart_filename(result), messages.chart_title(result)
        client.files_upload_v2(channel=channel, file=png, filename=name, title=title, thread_ts=posted["ts"])
    except (SlackApiError, SlackRequestError, URLError) as exc:
        reason = exc.response.get("error", "") if isinstance(exc, SlackApiError) else str(exc)
        logger.warning("churn review chart upload in %s failed: %s", channel, reason)
        respond(response_type="ephemeral", text=say("churn_review.chart_failed", reason=esc(reason)))
