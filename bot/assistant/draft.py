"""An alert's outreach draft: the playbook's template plus the account's drivers and the play's intent.

Skeleton: helper E (issue 22) fills this in. `template=True` is "Use template": the plain filled template.
"""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from sqlmodel import Session

from bot.assistant.answer import Answer
from bot.scoring.scorecard import Scorecard


def draft(
    session: Session, alert_id: int, scorecard: Scorecard, today: date, tz: ZoneInfo, template: bool = False
) -> Answer | None:
    """None when the alert or its account is gone. `facts` holds what a model may reword it from."""
    return None
