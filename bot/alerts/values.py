"""What the alert thread's buttons, selects and the Resolve modal carry."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from bot.alerts.ids import AlertIds
from bot.slack.values import Id, Value, decode, encode
from storage.types import AlertOutcome

SnoozeFor = Literal["1d", "7d", "tier"]
# what a person can resolve with ("recovered" is the job's)
OUTCOMES = (AlertOutcome.SAVED, AlertOutcome.CHURNED, AlertOutcome.FALSE_ALARM)
BLOCK_SEPARATOR = "|"


class AlertRef(Value):
    """The alert a button (Claim, Release, Resolve, Open card) or the Resolve modal is about."""

    alert_id: Id


class ListingRef(Value):
    """The listed account an "Open alert" button of a listing message opens."""

    listing_id: Id


class SnoozeChoice(Value):
    """One option of the Snooze select."""

    alert_id: Id
    until: SnoozeFor


def actions_block_id(alert_id: int) -> str:
    """The block_id of the root's buttons: a users_select (Reassign) has no value, so the alert travels here."""
    return f"{AlertIds.ACTIONS}{BLOCK_SEPARATOR}{encode(AlertRef(alert_id=alert_id))}"


def alert_of_block(block_id: str) -> AlertRef:
    """The alert of an actions block_id (raises ValueError, or pydantic's ValidationError, on a forged one)."""
    prefix, sep, raw = block_id.partition(BLOCK_SEPARATOR)
    if prefix != AlertIds.ACTIONS or not sep:
        raise ValueError(f"not an alert actions block: {block_id[:80]!r}")
    return decode(AlertRef, raw)


class Reassign(Value):
    """A pick in the Reassign users_select: the alert (from the block_id) and the user picked."""

    alert_id: Id
    to: str = Field(pattern=r"^[UW][A-Z0-9]{2,31}$")
