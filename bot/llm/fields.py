"""What may leave the building: the facts a model is sent, cut to LLM_FIELDS.

LLM_FIELDS lists the facts' top-level field names a model may get; `*` is every field but the private ones.
The private fields (contact names, contact emails, the customer's own words in an exit interview) are removed at
any depth unless named, and `exit_words` even when named only reaches the model for an exit-interview reader
(EXIT_INTERVIEW_READERS). An email address in any text is withheld unless `contact_email` is named: a note or a
task title can hold one whatever its field is called.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

PRIVATE = ("contact_name", "contact_email", "exit_words")
EVERY = "*"
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
WITHHELD = "[email withheld]"


def sendable(
    facts: Mapping[str, Any], fields: Collection[str] | None = None, *, reader: bool = False
) -> dict[str, Any]:
    """`facts` as a model may see them under `fields` (None: LLM_FIELDS' default, `*`)."""
    named = set(fields if fields is not None else (EVERY,))
    private = set(PRIVATE) - named
    if not reader:
        private.add("exit_words")

    def clean(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: clean(v) for k, v in value.items() if k not in private}
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        if isinstance(value, str) and "contact_email" in private:
            return EMAIL.sub(WITHHELD, value)
        return value

    kept = {k: v for k, v in facts.items() if k in named or (EVERY in named and k not in PRIVATE)}
    return clean(kept)
