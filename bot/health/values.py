"""What the /health feature's buttons carry."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from bot.slack.values import MAX_PAGE, Id, Value


class AccountRef(Value):
    """The account a card button (pick, open, share, chart) is about."""

    account_id: Id


class ListPage(Value):
    """One page of `/health me` or `/health top [N] [tier]`."""

    kind: Literal["me", "top"]
    page: int = Field(default=0, ge=0, le=MAX_PAGE)
    limit: int | None = Field(default=None, ge=1, le=100)  # top N
    tier: str | None = None
    by_mrr: bool = False  # `/health top by-mrr`: ranked by expected MRR loss


class OverrideRef(Value):
    """The Override modal's `private_metadata`: its account, and the response_url of the card it was opened from
    (the card is redrawn there once the override is stored)."""

    account_id: Id
    response_url: str | None = Field(default=None, max_length=2000)
