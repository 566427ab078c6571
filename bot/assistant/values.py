"""What the feedback buttons under an answer carry: what kind of answer it was and whether a model worded it."""

from __future__ import annotations

from pydantic import Field

from bot.slack.values import Value


class AnswerRef(Value):
    kind: str = Field(max_length=16)
    generated: bool = False
