"""Every human-worded text the bot says lives in the TOML files beside this module.

`say("health.not_found", query="acmee")` loads `health.toml`, takes key `not_found` and
fills it with `str.format`. Files are read once.
"""

from __future__ import annotations

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


def say(key: str, /, **values: Any) -> str:
    """The text at `key`, filled with `values`."""
    template = raw(key)
    return template.format(**values) if values else template
