"""Every human-worded text the bot says lives in the TOML files beside this module.

`say("health.not_found", query="acmee")` loads `health.toml`, takes key `not_found` and
fills it with `str.format`. Files are read once.

A count takes its noun from the format spec, singular and plural split by `/`: `{count:account/accounts}`
gives "1 account", "3 accounts" (`plural` below); a spec with no `/` (`{auc:.2f}`) is str.format's own.

A field the template wraps in mrkdwn bold, italics or strike (`*{name}*`, `_{words}_`, `~{title}~`) loses the
wrapper when its value would break it: empty (no `__`), starting or ending with a space, holding the wrapper's
own mark (a task "call the *sponsor*" would close the bold early), or a `*`, `_` or `~` at a word's edge (it
would open a span inside). mrkdwn has no escape for these marks (see bot/slack/blocks.py `esc`), so such a
value is shown as it is, unstyled, rather than with markup that ends in the wrong place.
"""

from __future__ import annotations

import re
import string
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent


@cache
def load(name: str) -> dict[str, Any]:
    """The whole prompt file `name`.toml as a dict."""
    return tomllib.loads((HERE / f"{name}.toml").read_text(encoding="utf-8"))


def raw(key: str) -> Any:
    """The unformatted value at `file.key[.subkey...]`."""
    file, _, rest = key.partition(".")
    node: Any = load(file)
    for part in rest.split(".") if rest else ():
        node = node[part]
    return node


def plural(count: int, nouns: str) -> str:
    """`count` with its noun: `plural(1, "account/accounts")` is "1 account", `plural(0, ...)` "0 accounts"."""
    one, _, many = nouns.partition("/")
    return f"{count} {one if str(count) == '1' else many}"


class _Formatter(string.Formatter):
    def format_field(self, value: Any, format_spec: str) -> Any:
        if "/" in format_spec:
            return plural(value, format_spec)
        return super().format_field(value, format_spec)


_FORMATTER = _Formatter()
_WRAPPED = re.compile(r"(?<![\w*_~])([*_~])(\{(\w+)[^{}]*\})\1(?![\w*_~])")
_MARK_AT_AN_EDGE = re.compile(r"(?<!\w)[*_~]|[*_~](?!\w)")


def _breaks(mark: str, value: Any) -> bool:
    """Whether `value` between two `mark`s would not read as one styled span."""
    text = str(value)
    return not text.strip() or text != text.strip() or mark in text or bool(_MARK_AT_AN_EDGE.search(text))


def fill(template: str, /, **values: Any) -> str:
    """`template` filled with `values` as `str.format` does, with `{n:noun/nouns}` for a count and its noun; a
    wrapped field whose value would break its wrapper is unwrapped (module docstring)."""

    def unwrap(m: re.Match[str]) -> str:
        mark, field, name = m.groups()
        return field if name in values and _breaks(mark, values[name]) else m.group(0)

    return _FORMATTER.format(_WRAPPED.sub(unwrap, template), **values)


def say(key: str, /, **values: Any) -> str:
    """The text at `key`, filled with `values`."""
    template = raw(key)
    return fill(template, **values) if values else template
