"""What the assistant says: a deterministic answer, the figures it used and the commands that show more."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class Figure:
    """One figure an answer used, as shown under it: "Health score" / "41 (63 on 2026-11-07)"."""

    label: str
    value: str


@dataclass(frozen=True)
class Answer:
    """An answer complete on its own with AI off.

    `facts` is the JSON-able data the bot fetched for it: all a model is ever given (after the field
    allow-list) and all a model's figures are checked against. `generated` is true only for a model's wording
    that passed the checks; `note` says why a model's wording was not used ("the model did not answer in 20 s").
    `prose` (a brief's call points, a draft's paragraph) is the one part of `text` a model may reword: the rest
    (headings, Subject, the copy block) is the bot's structure and stays as it is.
    """

    text: str  # mrkdwn
    figures: tuple[Figure, ...] = ()
    commands: tuple[str, ...] = ()  # "/health acme", "/health churn last-quarter"
    facts: Mapping[str, Any] = field(default_factory=dict)
    kind: str = "answer"  # "answer", "brief", "draft", "unknown" (a list of what it can answer)
    generated: bool = False
    note: str | None = None
    prose: str = ""  # a substring of `text` (its last occurrence): empty, the whole text is a model's to word

    def reworded(self, text: str) -> Answer:
        """The same answer in a model's words (figures, commands and facts unchanged); with `prose`, `text`
        replaces that part only."""
        if self.prose:
            head, _, tail = self.text.rpartition(self.prose)
            return replace(self, text=f"{head}{text}{tail}", prose=text, generated=True, note=None)
        return replace(self, text=text, generated=True, note=None)

    def noted(self, note: str) -> Answer:
        return replace(self, note=note)
