"""Every human-worded text the bot says lives in the TOML files beside this module.

`say("health.not_found", query="acmee")` loads `health.toml`, takes key `not_found` and
fills it with `str.format`. Files are read once.

A count takes its noun from the format spec, its forms split by `/` in the order of the language's plural
categories (CLDR: zero, one, two, few, many, other, those the language has): English `{count:account/accounts}`
gives "1 account", "3 accounts" (`plural` below). A language with one form (Chinese) names one noun, used for
every count: `{count:个账户}` gives "3 个账户". So a spec is a count's nouns when it holds a `/` or a letter
outside ASCII; any other spec (`{auc:.2f}`) is str.format's own.

Languages: English lives in `prompts/*.toml`; another language in `prompts/<code>/*.toml` (`prompts/zh-CN/`) with
the same keys. A folder whose name is a language code and holds TOML files is a language (`languages()`): adding
one needs no code. `say` speaks the current language (`current()`): the one `speaking("zh-CN")` set for this
context (a request's user, a channel, the CLI), else the workspace default (`set_default`, from `LANGUAGE`). A
key the language lacks falls back to English, logged once; tests/test_language.py fails CI on it.

A string field with a width (`{label:<14}`, `{mrr:>10}`) is padded to that many terminal columns, a Chinese
character counting two (`width`, `pad`), so the CLI's tables line up in every language.

A field the template wraps in mrkdwn bold, italics or strike (`*{name}*`, `_{words}_`, `~{title}~`) loses the
wrapper when its value would break it: empty (no `__`), starting or ending with a space, holding the wrapper's
own mark (a task "call the *sponsor*" would close the bold early), or a `*`, `_` or `~` at a word's edge (it
would open a span inside). mrkdwn has no escape for these marks (see bot/slack/blocks.py `esc`), so such a
value is shown as it is, unstyled, rather than with markup that ends in the wrong place.
"""

from __future__ import annotations

import logging
import re
import string
import tomllib
import unicodedata
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from functools import cache
from pathlib import Path
from typing import Any

from babel import Locale, UnknownLocaleError

HERE = Path(__file__).parent
ENGLISH = "en"
_CODE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*")  # a folder named like a language tag: zh-CN, pt-BR, de
_speaking: ContextVar[str | None] = ContextVar("speaking", default=None)
_default = [ENGLISH]
_missing_logged: set[tuple[str, str]] = set()
log = logging.getLogger("healthbot.prompts")


def _babel_knows(code: str) -> bool:
    try:
        Locale.parse(code.replace("-", "_"))
    except (ValueError, UnknownLocaleError):
        log.warning("prompts/%s/ is not a language Babel knows (its plurals, numbers, dates): left out", code)
        return False
    return True


@cache
def languages() -> tuple[str, ...]:
    """English, then every folder of prompts/ named like a language code (one Babel knows) holding a TOML file."""
    found = (d.name for d in HERE.iterdir() if d.is_dir() and _CODE.fullmatch(d.name) and any(d.glob("*.toml")))
    return (ENGLISH, *sorted(code for code in found if _babel_knows(code)))


def language_of(locale: str | None) -> str | None:
    """The language we have for a locale ("zh-CN", "en-US", "zh_CN.UTF-8"): the same code, else its base
    language when we have that alone ("en-US" -> "en"); None when we have neither."""
    if not locale:
        return None
    tag = locale.split(".")[0].replace("_", "-").lower()
    by_lower = {code.lower(): code for code in languages()}
    return by_lower.get(tag) or by_lower.get(tag.split("-")[0])


def set_default(language: str) -> None:
    """The workspace's language (`LANGUAGE`), spoken wherever no `speaking` says otherwise."""
    if language not in languages():
        raise ValueError(f"no prompts for language {language!r}: have {', '.join(languages())}")
    _default[0] = language


def default() -> str:
    return _default[0]


def current() -> str:
    """The language `say` speaks here: this context's `speaking`, else the default."""
    return _speaking.get() or _default[0]


def speak(language: str | None) -> str:
    """`say` speaks `language` from here to the end of this context (a request's thread: Bolt's middleware does
    not wrap its listener, so a `with` block would end before it runs); the one spoken."""
    _speaking.set(language if language in languages() else None)
    return current()


@contextmanager
def speaking(language: str | None) -> Iterator[str]:
    """`say` speaks `language` inside the block (None or one we lack: the default); yields the one spoken."""
    token = _speaking.set(language if language in languages() else None)
    try:
        yield current()
    finally:
        _speaking.reset(token)


_channels: dict[str, str] = {}  # channel id -> language: the alert rules' `[routing] languages`


def set_channel_languages(by_channel: dict[str, str]) -> None:
    """The languages channels speak (one rules file per process: the last loaded); a channel not named speaks the
    default."""
    global _channels
    _channels = dict(by_channel)


def speaking_in(channel: str | None) -> AbstractContextManager[str]:
    """`speaking` the language of `channel`'s messages (a reply in a thread is the channel's, whoever clicked)."""
    return speaking(_channels.get(channel or ""))


@cache
def load(name: str, language: str = ENGLISH) -> dict[str, Any]:
    """The whole prompt file `name`.toml of `language` as a dict ({} when the language has no such file)."""
    path = HERE / f"{name}.toml" if language == ENGLISH else HERE / language / f"{name}.toml"
    if language != ENGLISH and not path.is_file():
        return {}
    return tomllib.loads(path.read_text(encoding="utf-8"))


_ABSENT = object()


def _walk(node: Any, parts: list[str]) -> Any:
    for part in parts:
        if not isinstance(node, dict) or part not in node:
            return _ABSENT
        node = node[part]
    return node


def _merged(english: Any, other: Any) -> Any:
    """A table of the language over English's, so a key it lacks still reads (in English)."""
    if isinstance(english, dict) and isinstance(other, dict):
        return {k: _merged(v, other.get(k, _ABSENT)) for k, v in english.items()} | {
            k: v for k, v in other.items() if k not in english
        }
    return english if other is _ABSENT else other


def raw(key: str, language: str | None = None) -> Any:
    """The unformatted value at `file.key[.subkey...]` in `language` (default: the current one); English's
    where the language lacks it (logged once)."""
    file, _, rest = key.partition(".")
    parts = rest.split(".") if rest else []
    english = _walk(load(file), parts)
    if english is _ABSENT:
        raise KeyError(key)
    language = language or current()
    if language == ENGLISH:
        return english
    table = load(file, language)
    found = _walk(table, parts)
    missing = (language, key if table else file)  # a file not translated yet: logged once, not once a key
    if found is _ABSENT and missing not in _missing_logged:
        _missing_logged.add(missing)
        what = f"prompt {key} has" if table else f"prompts/{language}/{file}.toml: no such file, prompt {key} has"
        log.warning("%s no %s text: English shown", what, language)
    return _merged(english, found)


def plural(count: int, nouns: str, language: str | None = None) -> str:
    """`count` with its noun: `plural(1, "account/accounts")` is "1 account", `plural(0, ...)` "0 accounts"; forms
    in the order of the language's plural categories, the last for any category beyond them (module docstring)."""
    forms = nouns.split("/")
    locale = Locale.parse((language or current()).replace("-", "_"))
    has = {*locale.plural_form.tags, "other"}
    order: list[str] = [c for c in ("zero", "one", "two", "few", "many", "other") if c in has]
    whole = str(count)  # a count as written: "1" is one, "1.0" (a measure, not a count) is not
    category = locale.plural_form(int(whole)) if re.fullmatch(r"-?[0-9]+", whole) else "other"
    noun = forms[min(order.index(category), len(forms) - 1)]
    return f"{count} {noun}"


def _is_nouns(spec: str) -> bool:
    return "/" in spec or any(not ch.isascii() and ch.isalpha() for ch in spec)


def width(text: str) -> int:
    """The columns `text` takes in a terminal: a wide or fullwidth character (Chinese) takes two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def pad(text: str, size: int, align: str = "<") -> str:
    """`text` padded with spaces to `size` columns (`width`): what `format(text, "<10")` does for characters one
    column wide, so a CLI table lines up in Chinese too ("<" left, ">" right, "^" centred)."""
    gap = max(size - width(text), 0)
    left = {"<": 0, ">": gap, "^": gap // 2}[align]
    return " " * left + text + " " * (gap - left)


_ALIGN = re.compile(r"([<>^]?)([0-9]+)")


class _Formatter(string.Formatter):
    def format_field(self, value: Any, format_spec: str) -> Any:
        return _OPEN + self._field(value, format_spec) + _CLOSE  # where a field starts and ends (`_spaced`)

    def _field(self, value: Any, format_spec: str) -> str:
        if _is_nouns(format_spec):
            return plural(value, format_spec)
        aligned = _ALIGN.fullmatch(format_spec)
        if aligned and isinstance(value, str):  # `{label:<14}`: padded by columns, not characters
            return pad(value, int(aligned[2]), aligned[1] or "<")
        return str(super().format_field(value, format_spec))


_FORMATTER = _Formatter()
_OPEN, _CLOSE = "\x00", "\x01"  # around each field's value while a template is filled
HAN = "\u3400-\u4dbf\u4e00-\u9fff"  # Chinese characters (not punctuation), as a regex class's ranges
# a field's Latin edge against a Chinese character, in the template or in the field beside it ("{metric}{word}")
_LATIN_EDGE = re.compile(rf"(?<=[{HAN}])(\x01?\x00)(?=[A-Za-z])|(?<=[A-Za-z])(\x01\x00?)(?=[{HAN}])")


def _spaced(text: str) -> str:
    """A template glues a name to Chinese ("{metric}较前 4 周": "登录较前 4 周"); a Latin name (a metric ID, an
    acronym: "CSAT") is set apart from Chinese characters by a space, as Chinese text writes a Latin word."""
    return _LATIN_EDGE.sub(" ", text).replace(_OPEN, "").replace(_CLOSE, "")


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

    return _spaced(_FORMATTER.format(_WRAPPED.sub(unwrap, template), **values))


def say(key: str, /, **values: Any) -> str:
    """The text at `key`, filled with `values`."""
    template = raw(key)
    return fill(template, **values) if values else template


def sentences(first: str, *then: str) -> str:
    """Sentences of one message (an error, then its usage line) joined as the current language joins them: a space
    in English, nothing after a Chinese full stop (`commands.sentences`)."""
    for part in then:
        first = fill(raw("commands.sentences"), first=first, then=part)
    return first


def in_every_language(key: str) -> set[str]:
    """The words at `key` (a space between two) in every language, lower case: what a command understands whatever
    its reader's language (`commands.words`, `commands.periods`)."""
    return {word.lower() for language in languages() for word in str(raw(key, language)).split()}
