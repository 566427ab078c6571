"""Ask healthbot's feedback: a 👍/👎 on an answer. Never commits: the click's unit of work does."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlmodel import Session, col

from storage.models import AssistantFeedback


def record_feedback(
    session: Session, user_id: str, channel_id: str, message_ts: str, kind: str, generated: bool, helped: bool
) -> None:
    """One row per click (the history kept): a user changing their mind clicks again, and the latest row is
    their say (`feedback_counts` counts only it)."""
    session.add(
        AssistantFeedback(
            user_id=user_id[:32],
            channel_id=channel_id[:32],
            message_ts=message_ts[:32],
            kind=kind[:16],
            generated=generated,
            helped=helped,
        )
    )
    session.flush()


def feedback_counts(session: Session) -> dict[tuple[str, bool, bool], int]:
    """Answers per (kind, generated, helped), each user's latest click on an answer counted once: clicking
    twice, or changing one's mind, is one say."""
    latest = select(func.max(col(AssistantFeedback.id))).group_by(
        col(AssistantFeedback.user_id), col(AssistantFeedback.channel_id), col(AssistantFeedback.message_ts)
    )
    rows = session.execute(
        select(
            col(AssistantFeedback.kind),
            col(AssistantFeedback.generated),
            col(AssistantFeedback.helped),
            func.count(),
        )
        .where(col(AssistantFeedback.id).in_(latest))
        .group_by(col(AssistantFeedback.kind), col(AssistantFeedback.generated), col(AssistantFeedback.helped))
    )
    return {(kind, generated, helped): n for kind, generated, helped, n in rows}
