"""Exit interviews' action ids, block ids, callback ids and shortcut callback ids (values namespaced `exit.*`)."""

from enum import StrEnum


class ExitIds(StrEnum):
    OPEN = "exit.open"  # the card's "Exit interview" button: opens the modal (or the stored interview)
    EDIT = "exit.edit"  # the Edit button on a stored interview
    MODAL = "exit.modal"  # the modal's callback_id
    SHORTCUT = "exit_interview"  # the global shortcut (manifest.yml)
    MESSAGE_SHORTCUT = "exit_interview_message"  # the message shortcut (manifest.yml)
    SHOWN_ACTIONS = "exit.shown.actions"  # block_id of the stored interview's buttons
    CODING_USE = "exit.coding.use"  # the suggested coding's "Use suggestion" button
    CODING_KEEP = "exit.coding.keep"  # its "Keep <the reason chosen>" button
    CODING_ACTIONS = "exit.coding.actions"  # block_id of those two
    CODING_VIEW = "exit.coding"  # callback_id of the form's next state, the suggestion
    # block_id and action_id of each input
    ACCOUNT = "exit.account"  # the external_select (search as you type): its options load here too
    STATUS = "exit.status"
    REASON = "exit.reason"
    AVOIDABLE = "exit.avoidable"
    COMPETITOR = "exit.competitor"
    CHURN_DATE = "exit.churn_date"
    MRR_LOST = "exit.mrr_lost"
    INTERVIEWER = "exit.interviewer"
    NOTE = "exit.note"


QUESTION_PREFIX = "exit.q."  # + the question's key: block_id and action_id of each answer
