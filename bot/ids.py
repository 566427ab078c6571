"""Every action_id, block_id and callback_id the bot uses, one StrEnum per flow."""

from enum import StrEnum


class HealthIds(StrEnum):
    """The /health command family and the account card."""

    PICK_ACCOUNT = "health.pick"  # a button per match when a lookup is ambiguous
    SHARE = "health.share"
    CHART = "health.chart"
