"""The churn review's quotes from exit interviews grouped into themes with counts (issue 22), for exit interview
readers only, like the quotes themselves.

AI off: each quote goes to the reason category whose words (prompts/coding.toml, as bot/exits/coding.py codes an
interview) it holds most, "Other" when none. With a model: prompts/llm_exit_coding.toml [themes] names the themes
and assigns each quote; used only when every quote is assigned exactly once (the counts are ours, from those
assignments, and any count the model gives must agree), else the keyword themes with `note` saying why."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.churn.analysis import Quote
from bot.exits.coding import grounded, reason_of, reply_json
from bot.exits.messages import reason_label
from bot.llm.client import Model
from prompts import raw, say
from storage.types import EXIT_REASONS, ExitReason

log = logging.getLogger(__name__)

MOST_THEMES = 8
NAME_CHARS = 60


@dataclass(frozen=True)
class Theme:
    name: str
    quotes: tuple[int, ...]  # indices into the review's quotes
    accounts: int  # how many customers said them

    @property
    def count(self) -> int:
        return len(self.quotes)


@dataclass(frozen=True)
class Themes:
    themes: tuple[Theme, ...] = ()
    generated: bool = False
    note: str | None = None  # why a model's themes were not used


def _theme(name: str, picked: Sequence[int], quotes: Sequence[Quote]) -> Theme:
    return Theme(name, tuple(sorted(picked)), len({quotes[i].account for i in picked}))


def _ordered(themes: list[Theme]) -> tuple[Theme, ...]:
    return tuple(sorted(themes, key=lambda t: (-t.count, -t.accounts)))  # stable: ties keep their order


def by_keywords(quotes: Sequence[Quote], note: str | None = None) -> Themes:
    """Each quote under the category its words point to (the form's order among equals), "Other" for the rest."""
    groups: dict[str, list[int]] = {r: [] for r in EXIT_REASONS}
    for i, quote in enumerate(quotes):
        groups[reason_of(quote.text) or ExitReason.OTHER.value].append(i)
    found = [_theme(reason_label(r), picked, quotes) for r, picked in groups.items() if picked]
    return Themes(_ordered(found), note=note)


def _checked(parsed: dict[str, Any], quotes: Sequence[Quote]) -> Themes:
    """The model's themes when they name 1..MOST_THEMES themes, each named only with what the quotes (or our
    category labels) say, and assign every quote exactly once."""
    given = "\n".join([*(q.text for q in quotes), *(reason_label(r) for r in EXIT_REASONS)])
    listed = parsed.get("themes")
    if not isinstance(listed, list) or not 0 < len(listed) <= MOST_THEMES:
        raise ValueError(say("coding.why.fields", field="themes"))
    found: list[Theme] = []
    seen: list[int] = []
    for item in listed:
        name = item.get("name") if isinstance(item, dict) else None
        numbers = item.get("quotes") if isinstance(item, dict) else None
        if not isinstance(name, str) or not name.strip() or len(name) > NAME_CHARS or not isinstance(numbers, list):
            raise ValueError(say("coding.why.fields", field="themes"))
        grounded(name, given)
        if not numbers or not all(type(n) is int and 1 <= n <= len(quotes) for n in numbers):
            raise ValueError(say("coding.why.themes"))
        count = item.get("count", len(numbers))
        if type(count) is not int or count != len(numbers):
            raise ValueError(say("coding.why.themes"))
        seen += numbers
        found.append(_theme(" ".join(name.split()), [n - 1 for n in numbers], quotes))
    if sorted(seen) != list(range(1, len(quotes) + 1)):
        raise ValueError(say("coding.why.themes"))
    return Themes(_ordered(found), generated=True)


def themes(quotes: Sequence[Quote], model: Model | None = None, timeout: float | None = None) -> Themes:
    """The quotes' themes: the model's when one is given and its reply passes the checks, else by keywords. Pass a
    model only when exit-interview words may be sent to it, and show the result only to exit interview readers."""
    if not quotes:
        return Themes()
    if model is None:
        return by_keywords(quotes)
    numbered = "\n".join(f"{i}. {' '.join(q.text.split())}" for i, q in enumerate(quotes, 1))
    version = raw("llm_exit_coding.themes.version")
    try:
        parsed = reply_json(model, "themes", timeout, quotes=numbered, count=len(quotes), most=MOST_THEMES)
        found = _checked(parsed, quotes)
    except ValueError as exc:
        log.warning("churn review themes (prompt v%s): the model's reply was not used: %s", version, exc)
        return by_keywords(quotes, note=str(exc))
    log.info("churn review themes (prompt v%s): the model's themes used", version)
    return found
