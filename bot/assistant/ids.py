"""Ask healthbot's action_ids and block_ids (values namespaced `assistant.*`).

Brief me and the draft buttons live on other features' messages, so their ids are theirs: `HealthIds.BRIEF`
(the card), `AlertIds.BRIEF` (the alert root), `DraftIds.AGAIN` / `DraftIds.TEMPLATE` (the outreach draft).
"""

from enum import StrEnum


class AssistantIds(StrEnum):
    HELPED = "assistant.helped"  # 👍 under an answer
    NOT_HELPED = "assistant.not_helped"  # 👎
    FEEDBACK = "assistant.feedback"  # block_id of the two buttons
