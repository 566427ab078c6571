"""The one Slack Web API client: base URL from settings, retries for 429, 5xx and dropped connections."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.http_retry import RetryHandler
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot.settings import Settings
from bot.slack.blocks import is_user


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


log = logging.getLogger("healthbot.slack")


def quick_client(client: WebClient, timeout: int) -> WebClient:
    """`client`'s token, address and transport with a short timeout and no retries: for a lookup a request or a
    job's transaction waits on, which falls back rather than sleep through a 429."""
    quick = WebClient(
        token=client.token,
        base_url=client.base_url,
        timeout=timeout,
        ssl=client.ssl,
        proxy=client.proxy,
        headers=dict(client.headers),
        logger=client.logger,
    )
    quick.retry_handlers = []
    return quick


class UserNames:
    """People's names as their Slack profile gives them (users.info: `profile.real_name`, else
    `profile.display_name`), for text that leaves Slack, such as the outreach draft's signature.

    Each user is asked once and the answer kept for `ttl` seconds; a lookup that fails (no token, a Slack
    error, a timeout, a profile without a name) gives None, remembered for `retry_after` seconds so a job with
    many alerts for one owner asks once. The lookups run inside a job's transaction: they use a short timeout
    and no retries (the caller falls back to a generic sign-off), never the client's 429 sleeps.
    """

    def __init__(
        self,
        client: WebClient,
        *,
        ttl: float = 24 * 3600,
        retry_after: float = 600,
        clock: Callable[[], float] = time.monotonic,
        timeout: int = 5,
    ) -> None:
        self._client = quick_client(client, timeout)
        self._ttl, self._retry_after, self._clock = ttl, retry_after, clock
        self._known: dict[str, tuple[float, str | None]] = {}  # user id -> (until, name)
        self._lock = threading.Lock()

    def __call__(self, user_id: str | None) -> str | None:
        if not user_id or not is_user(user_id) or not self._client.token:
            return None
        now = self._clock()
        with self._lock:
            known = self._known.get(user_id)
        if known is not None and known[0] > now:
            return known[1]
        name = self._look_up(user_id)
        with self._lock:
            self._known[user_id] = (now + (self._ttl if name else self._retry_after), name)
        return name

    def _look_up(self, user_id: str) -> str | None:
        try:
            user = self._client.users_info(user=user_id).get("user") or {}
        except Exception as exc:  # any failure: the caller signs without the name
            log.warning("users.info for %s failed (%s): text that needs their name uses a generic one", user_id, exc)
            return None
        profile = user.get("profile") or {}
        for name in (profile.get("real_name"), profile.get("display_name"), user.get("real_name")):
            if isinstance(name, str) and name.strip():
                return " ".join(name.split())
        return None
