"""The alert thread's action_ids, block_ids and callback_ids (values namespaced `alert.*`)."""

from enum import StrEnum


class AlertIds(StrEnum):
    """The root message's buttons and the Resolve modal."""

    CLAIM = "alert.claim"
    SNOOZE = "alert.snooze"  # a static_select: 1 day, 7 days, until the tier changes
    OPEN_CARD = "alert.open"  # the account's card, privately
    BRIEF = "alert.brief"  # Brief me: the account's brief in the thread (handlers/assistant.py)
    RELEASE = "alert.release"
    REASSIGN = "alert.reassign"  # a users_select; the alert travels in the actions block's block_id
    RESOLVE = "alert.resolve"  # opens the Resolve modal
    ACTIONS = "alert.actions"  # block_id prefix of the root's buttons (`alert.actions|{"alert_id":N}`)
    RESOLVE_MODAL = "alert.resolve.modal"  # callback_id
    OUTCOME_BLOCK = "alert.resolve.outcome"
    OUTCOME = "alert.resolve.outcome.pick"
    NOTE_BLOCK = "alert.resolve.note"
    NOTE = "alert.resolve.note.text"


class ListingIds(StrEnum):
    """The listing message (first run's "where we start", or accounts held back by the budget)."""

    OPEN = "alert.listing.open"  # a listed account's button: opens its alert
