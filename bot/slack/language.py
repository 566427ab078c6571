"""The language a person reads: their Slack locale (`users.info` with `include_locale`) mapped to a language of
prompts/, cached; and the executor that carries the language into the work a request hands to another thread."""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from functools import cache
from typing import Any

from slack_sdk import WebClient

from bot.slack.blocks import is_user
from bot.slack.client import quick_client
from prompts import ENGLISH, current, language_of, speaking

log = logging.getLogger("healthbot.slack")

# Fonts with Chinese (Japanese, Korean) glyphs, the first installed one drawing a chart in such a language
# (the image installs fonts-noto-cjk; see `chart_language`): matplotlib's own DejaVu Sans has none, and draws boxes.
CJK_FONTS = (
    "Noto Sans CJK SC",
    "Noto Sans CJK JP",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Source Han Sans",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
)
CJK_LANGUAGES = ("zh", "ja", "ko")


class UserLanguages:
    """`languages(user_id)`: the language of prompts/ for the user's Slack locale ("zh-CN" -> zh-CN, "en-US" -> en),
    None when their locale is one we have no prompts for, or the lookup fails (the caller uses the default).

    Asked before the ack, so the lookup is short (`timeout`, no retries); each answer is kept `ttl` seconds, a
    failure `retry_after`, for at most `size` users (the oldest forgotten first)."""

    def __init__(
        self,
        client: WebClient,
        *,
        ttl: float = 3600,
        retry_after: float = 300,
        size: int = 5000,
        timeout: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = quick_client(client, timeout)
        self.token, self.base_url = client.token, client.base_url
        self._ttl, self._retry_after, self._size, self._clock = ttl, retry_after, size, clock
        self._known: OrderedDict[str, tuple[float, str | None]] = OrderedDict()  # user -> (until, language)
        self._lock = threading.Lock()

    def __call__(self, user_id: str | None) -> str | None:
        if not user_id or not is_user(user_id) or not self._client.token:
            return None
        now = self._clock()
        with self._lock:
            known = self._known.get(user_id)
        if known is not None and known[0] > now:
            return known[1]
        found, language = self._look_up(user_id)
        with self._lock:
            self._known[user_id] = (now + (self._ttl if found else self._retry_after), language)
            self._known.move_to_end(user_id)
            while len(self._known) > self._size:
                self._known.popitem(last=False)
        return language

    def _look_up(self, user_id: str) -> tuple[bool, str | None]:
        try:
            user = self._client.users_info(user=user_id, include_locale=True).get("user") or {}
        except Exception as exc:  # any failure: the default language
            log.warning("users.info for %s failed (%s): the default language is used", user_id, exc)
            return False, None
        locale = user.get("locale")
        return True, language_of(locale) if isinstance(locale, str) else None


_for_jobs: list[UserLanguages] = []  # the process's lookup for what jobs send a person (`speaking_to`)


def use_for_jobs(client: WebClient) -> UserLanguages:
    """The users.info lookup the messages jobs send a person use: one per process and token, kept (with its cache)."""
    if not _for_jobs or _for_jobs[0].token != client.token or _for_jobs[0].base_url != client.base_url:
        _for_jobs[:] = [UserLanguages(client)]
    return _for_jobs[0]


def speaking_to(user: str | None) -> AbstractContextManager[str]:
    """`speaking` the language of `user`'s Slack locale (cached), else the default: a DM a job sends them (an owner
    on an alert, an assignee's tasks, a CSM's digest) is in their language, not LANGUAGE."""
    return speaking(_for_jobs[0](user) if _for_jobs else None)


class CarryContext(ThreadPoolExecutor):
    """A thread pool whose tasks run in a copy of the submitter's context: the language a request speaks
    (`prompts.speaking`) goes with its listener and the work after its ack."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        return super().submit(contextvars.copy_context().run, fn, *args, **kwargs)


@cache
def _installed(candidates: tuple[str, ...]) -> str | None:
    from matplotlib import font_manager

    have = {f.name for f in font_manager.fontManager.ttflist}
    found = next((name for name in candidates if name in have), None)
    if found is None:
        log.warning("no CJK font installed (%s): charts draw their labels in English", ", ".join(candidates[:3]))
    return found


@contextmanager
def chart_language() -> Iterator[str]:
    """Draw a chart's words in the current language with a font that has its glyphs: for Chinese (Japanese,
    Korean) the first installed of `CJK_FONTS`; none installed, the labels in English rather than boxes (logged
    once). Covers drawing and saving: matplotlib picks a glyph's font when it draws. Yields the language drawn."""
    from matplotlib import rc_context, rcParams

    language = current()
    if language.split("-")[0] not in CJK_LANGUAGES:
        yield language
        return
    font = _installed(CJK_FONTS)
    if font is None:
        with speaking(ENGLISH):
            yield ENGLISH
        return
    with rc_context({"font.family": "sans-serif", "font.sans-serif": [font, *rcParams["font.sans-serif"]]}):
        yield language
