"""What the exit interview's buttons and modal carry."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field

from bot.slack.values import MAX_ID, Id, Value


class ExitStatus(StrEnum):
    """The form's Status choice, stored as `ExitInterview.churned` (at risk: False)."""

    CHURNED = "churned"
    AT_RISK = "at_risk"


class Avoidable(StrEnum):
    """The form's Avoidable choice, stored as `ExitInterview.avoidable`."""

    YES = "yes"
    NO = "no"


class ExitRef(Value):
    """The modal's `private_metadata` and the Edit button's value: the account (None: picked in the form), and for
    an edit the interview and the version the form showed (a save over a newer one is refused, not overwritten)."""

    account_id: Id | None = None
    interview_id: Id | None = None
    version: Annotated[int, Field(ge=1, le=MAX_ID)] | None = None
