"""Bolt's `respond`, but retried and loud: a post Slack did not take raises instead of vanishing."""

from __future__ import annotations

from typing import Any

from slack_bolt import Respond
from slack_sdk.webhook import WebhookClient, WebhookResponse

from bot.slack.client import retry_handlers


class ResponseUrlError(RuntimeError):
    """Slack did not take a message posted to a response_url, retries included."""


class RetryingRespond(Respond):
    """A 429 or 5xx from the response_url is retried, and a post that still fails raises.

    Bolt's own returns the failed response unread: the card or list the user asked for would vanish silently.
    """

    def __call__(self, text: str | dict = "", blocks: Any = None, **fields: Any) -> WebhookResponse:  # type: ignore[override]
        if self.response_url is None:
            raise ValueError("respond is unsupported here as there is no response_url")
        message = dict(text) if isinstance(text, dict) else {"text": text, "blocks": blocks, **fields}
        message = {key: value for key, value in message.items() if value is not None}
        client = WebhookClient(url=self.response_url, proxy=self.proxy, ssl=self.ssl, retry_handlers=retry_handlers())
        response = client.send_dict(message)
        if response.status_code != 200:
            raise ResponseUrlError(f"response_url answered {response.status_code}: {response.body[:200]}")
        return response
