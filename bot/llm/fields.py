"""What may leave the building: the facts a model is sent, cut to LLM_FIELDS.

LLM_FIELDS lists the facts' top-level field names a model may get; `*` is every field but the private ones.
The private fields (contact names, contact emails, the customer's own words in an exit interview) are removed at
any depth unless named, and `exit_words` even when named only reaches the model for an exit-interview reader
(EXIT_INTERVIEW_READERS). Under a key naming contacts ("contacts", "contact"), `name` and `email` are a contact's
name and email. A value removed so is also scrubbed from every other text and key ("Call Ann Lee re renewal"),
and an email address in any text or key is withheld unless `contact_email` is named: a note or a task title can
hold one whatever its field is called.

Facts must be JSON (dicts, lists, text, numbers, booleans, None): anything else is refused with a TypeError, never
turned into text that could carry a private field past these checks.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping
from typing import Any

PRIVATE = ("contact_name", "contact_email", "exit_words")
CONTACT_KEYS = {"name": "contact_name", "email": "contact_email"}  # under a "contacts" key
EVERY = "*"
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
WITHHELD = "[email withheld]"
WITHHELD_VALUE = "[withheld]"
SHORTEST = 3  # characters a withheld value needs to be scrubbed from other text ("Al" would hit "Also")


def sendable(
    facts: Mapping[str, Any], fields: Collection[str] | None = None, *, reader: bool = False
) -> dict[str, Any]:
    """`facts` as a model may see them under `fields` (None: LLM_FIELDS' default, `*`)."""
    _check_json(facts, "facts")
    named = set(fields if fields is not None else (EVERY,))
    private = set(PRIVATE) - named
    if not reader:
        private.add("exit_words")
    kept = {k: v for k, v in facts.items() if k in named or (EVERY in named and k not in PRIVATE)}
    withheld = sorted({v for v in _private_texts(facts, private, "") if len(v) >= SHORTEST}, key=len, reverse=True)
    values = re.compile(rf"(?<!\w)(?:{'|'.join(map(re.escape, withheld))})(?!\w)", re.I) if withheld else None

    def scrubbed(value: str) -> str:
        if "contact_email" in private:
            value = EMAIL.sub(WITHHELD, value)
        return values.sub(WITHHELD_VALUE, value) if values is not None else value

    def clean(value: Any, parent: str) -> Any:
        if isinstance(value, Mapping):
            return {scrubbed(k): clean(v, k) for k, v in value.items() if _field(k, parent) not in private}
        if isinstance(value, list | tuple):
            return [clean(v, parent) for v in value]
        return scrubbed(value) if isinstance(value, str) else value

    return clean(kept, "")


def _field(key: str, parent: str) -> str:
    """The field a key holds: a contact's `name` is contact_name."""
    return CONTACT_KEYS.get(key, key) if "contact" in parent.lower() else key


def _private_texts(value: Any, private: set[str], parent: str) -> Iterator[str]:
    """Every text held under a private field, at any depth."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if _field(key, parent) in private:
                yield from _all_texts(item)
            else:
                yield from _private_texts(item, private, key)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _private_texts(item, private, parent)


def _all_texts(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value.strip()
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _all_texts(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _all_texts(item)


def _check_json(value: Any, path: str) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"facts must be JSON: a key in {path} is a {type(key).__name__}")
            _check_json(item, f"{path}[{key!r}]")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check_json(item, f"{path}[{i}]")
    elif value is not None and not isinstance(value, str | int | float):  # bool is an int
        raise TypeError(f"facts must be JSON: {path} is a {type(value).__name__}")
