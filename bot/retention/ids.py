"""Retention actions' action_ids, block_ids and callback_ids (values namespaced `task.*`)."""

from enum import StrEnum


class RetentionIds(StrEnum):
    """A task's "Mark done" button and its modal."""

    MARK_DONE = "task.done"  # a button per open task; value = TaskRef json: opens the Mark done modal
    DONE_MODAL = "task.done.modal"  # callback_id; private_metadata = TaskRef json
    OUTCOME_BLOCK = "task.done.outcome"
    OUTCOME = "task.done.outcome.pick"  # radio buttons: done / not needed / escalate
    NOTES_BLOCK = "task.done.notes"
    NOTES = "task.done.notes.text"
    NEXT_STEP_BLOCK = "task.done.next"
    NEXT_STEP = "task.done.next.text"
    NEXT_STEP_ON_BLOCK = "task.done.next_on"
    NEXT_STEP_ON = "task.done.next_on.date"  # a datepicker
    STALE_MODAL = "task.done.stale"  # callback_id of the "changed meanwhile" view that replaces the modal


class DraftIds(StrEnum):
    """The outreach draft's buttons in the alert thread (handlers/assistant.py redraws the draft in place)."""

    AGAIN = "task.draft.again"  # Regenerate: the draft from the template, the drivers and the play's intent
    TEMPLATE = "task.draft.template"  # Use template: the plain filled template
    ACTIONS = "task.draft.actions"  # block_id of the two
