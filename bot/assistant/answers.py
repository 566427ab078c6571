"""A question in words -> an answer from the bot's own data (AI off: this is the whole assistant).

Skeleton: helper E (issue 22) fills this in; the signature is what handlers/assistant.py calls.
"""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from sqlmodel import Session

from bot.assistant.answer import Answer
from bot.health.lookup import AccountNames
from bot.scoring.scorecard import Scorecard


def answer_text(
    session: Session,
    text: str,
    user_id: str,
    scorecard: Scorecard,
    today: date,
    names: AccountNames,
    tz: ZoneInfo,
    channel_id: str | None = None,
) -> Answer:
    """The answer to `text` asked by `user_id` (viewing `channel_id`, when Slack says so)."""
    return Answer(text="", kind="unknown")


def suggested_prompts(
    session: Session, user_id: str, channel_id: str | None, scorecard: Scorecard, today: date
) -> list[tuple[str, str]]:
    """Up to 4 (title, message) prompts for a new assistant thread, sensitive to the channel being viewed."""
    return []
