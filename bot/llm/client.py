"""An OpenAI-compatible chat-completions endpoint (LLM_BASE_URL, LLM_MODEL, LLM_API_KEY); None when AI is off.

Skeleton: helper F1 (issue 22) fills this in (and bot/llm/grounding.py: the figure check). The interface:

    Model.from_settings(settings) -> Model | None        # None: AI off (the default)
    model.chat(messages, *, json_mode=False, timeout=20.0) -> str   # raises ModelError (timeout, 4xx, 5xx, bad body)
"""

from __future__ import annotations


class ModelError(RuntimeError):
    """The model gave no usable reply: the caller falls back to the deterministic answer and says why."""


class Model:
    @classmethod
    def from_settings(cls, settings: object) -> Model | None:
        return None

    def chat(self, messages: list[dict[str, str]], *, json_mode: bool = False, timeout: float = 20.0) -> str:
        raise ModelError("no model")
