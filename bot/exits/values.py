"""What the exit interview's buttons and modal carry."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

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


AvoidableCall = Literal["yes", "no", "unsure"]
"""A suggested avoidable call (bot/exits/coding.py); the form itself has only yes and no."""


class ExitRef(Value):
    """The modal's `private_metadata` and the Edit button's value: the account (None: picked in the form), and for
    an edit the interview and the version the form showed (a save over a newer one is refused, not overwritten)."""

    account_id: Id | None = None
    interview_id: Id | None = None
    version: Annotated[int, Field(ge=1, le=MAX_ID)] | None = None


class CodingRef(Value):
    """The suggestion's buttons: the interview at the version coded, and the suggested reason and avoidable call
    (what "Use suggestion" stores; "unsure" leaves the stored avoidable as it is)."""

    interview_id: Id
    version: Annotated[int, Field(ge=1, le=MAX_ID)]
    reason: Annotated[str, Field(max_length=40)]
    avoidable: AvoidableCall
