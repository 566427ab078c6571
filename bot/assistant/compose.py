"""A model's wording of a deterministic answer, kept only when every figure in it is in the answer's facts.

Skeleton: helper F1 (issue 22) fills this in. The interface:

    reword(model, answer, question, fields, timeout) -> Answer
        model None: the answer unchanged. Otherwise the model gets the question and `answer.facts` filtered to
        `fields` (LLM_FIELDS); its reply replaces the text (`answer.reworded`) only if it passes the checks,
        else the deterministic answer comes back with `note` saying why (and the log says so too).
"""

from __future__ import annotations

from collections.abc import Collection

from bot.assistant.answer import Answer
from bot.llm.client import Model


def reword(
    model: Model | None, answer: Answer, question: str, fields: Collection[str] | None = None, timeout: float = 20.0
) -> Answer:
    return answer
