"""Brief me: what changed for an account, why the score moved, open tasks, the renewal, what to say on the call.

Skeleton: helper E (issue 22) fills this in.
"""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from sqlmodel import Session

from bot.assistant.answer import Answer
from bot.scoring.scorecard import Scorecard


def brief(session: Session, account_id: int, scorecard: Scorecard, today: date, tz: ZoneInfo) -> Answer | None:
    """None when the account is gone."""
    return None
