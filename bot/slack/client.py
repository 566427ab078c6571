"""The one Slack Web API client: base URL from settings, retries for 429, 5xx and dropped connections."""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.http_retry import RetryHandler
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot.settings import Settings


def retry_handlers() -> list[RetryHandler]:
    """What every call to Slack retries: dropped connections, 429s (after Retry-After) and 5xx."""
    return [
        ConnectionErrorRetryHandler(max_retry_count=3),
        RateLimitErrorRetryHandler(max_retry_count=4),
        ServerErrorRetryHandler(max_retry_count=2),
    ]


def make_client(settings: Settings, token: str | None = None) -> WebClient:
    """A WebClient pointed at SLACK_API_URL that retries what is worth retrying.

    slack_sdk retries connection errors once and never 429s by default; a 429 sleeps
    for its Retry-After (plus jitter) before the retry, so call it after `ack()`.
    """
    client = WebClient(
        token=token or settings.slack_bot_token,
        base_url=settings.slack_api_url,
        timeout=15,
        logger=logging.getLogger("healthbot.slack"),
    )
    client.retry_handlers = retry_handlers()
    return client
