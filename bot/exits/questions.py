"""The five core questions of an exit interview, read from `prompts/exit.toml` so a team can edit them."""

from __future__ import annotations

from prompts import raw


def questions() -> list[tuple[str, str]]:
    """(key, question) in the order of the prompts file; the key is what the answers are stored under."""
    table = raw("exit.questions")
    return [(str(key), str(text)) for key, text in table.items()]
