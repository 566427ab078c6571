"""What the exit interview's buttons and modal carry."""

from __future__ import annotations

from pydantic import Field

from bot.slack.values import Value


class ExitRef(Value):
    """The modal's `private_metadata` and the Edit button's value: the account (None: picked in the form), and for
    an edit the interview and the version the form showed (a save over a newer one is refused, not overwritten)."""

    account_id: int | None = Field(default=None, ge=1)
    interview_id: int | None = Field(default=None, ge=1)
    version: int | None = Field(default=None, ge=1)
