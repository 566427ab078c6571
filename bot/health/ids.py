"""The /health feature's action_ids and block_ids (values namespaced `health.*`)."""

from enum import StrEnum


class HealthIds(StrEnum):
    """The /health command family and the account card."""

    PICK_ACCOUNT = "health.pick"  # a button per match when a lookup is ambiguous: the card replaces the list
    OPEN_CARD = "health.open"  # a button per row of a list: the card comes as a new message
    SHARE = "health.share"
    CHART = "health.chart"
    CARD_ACTIONS = "health.card.actions"  # block_id of the card's buttons
    LIST_PREV = "health.list.prev"
    LIST_NEXT = "health.list.next"
    LIST_ACTIONS = "health.list.actions"  # block_id of a list's paging buttons
    OVERRIDE = "health.override"  # the card's Override button: opens the modal
    BRIEF = "health.brief"  # the card's Brief me: the account's brief, privately (handlers/assistant.py)
    OVERRIDE_MODAL = "health.override.modal"  # the modal's callback_id
    OVERRIDE_TIER = "health.override.tier"  # block_id and action_id of each of the modal's inputs
    OVERRIDE_REASON = "health.override.reason"
    OVERRIDE_UNTIL = "health.override.until"
    OVERRIDE_SCORE = "health.override.score"
