"""HTTP for `healthbot sync`: one httpx client per source, retries, and the pages of a paginated endpoint.

Retries: 5xx answers and connection errors (refused, reset, dropped mid-body, timeouts) are retried with
exponential backoff; a 429 waits its Retry-After (seconds or an HTTP date). Other 4xx answers stop the
source at once. Secrets go into headers only and never into a log line or an error message.

The retry loop is written out (`Fetcher.get`), not tenacity's (weighed in issue 20): the same behaviour through
`tenacity.Retrying` needs a result predicate, a wait that reads Retry-After, a before-sleep hook for the count and
the log line and an error callback for the two final messages, 13 lines more spread over five functions; stamina
retries on exceptions only (a 429 or 5xx answer would first be raised) and is quieted for tests globally.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from bot.connectors.sources import Source

log = logging.getLogger("healthbot.connectors")
MAX_BACKOFF = 60.0  # seconds between two attempts at most
MAX_RETRY_AFTER = 600.0  # a Retry-After longer than this is cut to it


class FetchFailed(Exception):
    """The source cannot be read now; the message names the source and the reason, never a secret."""


def path_get(data: Any, path: str) -> Any:
    """The value at a dotted path ('paging.next.after'); None where the path does not exist."""
    if not path:
        return data
    for part in path.split("."):
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return None
    return data


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), cut to MAX_RETRY_AFTER."""
    if not value:
        return None
    value = value.strip()
    if value.replace(".", "", 1).isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max((when - (now or datetime.now(UTC))).total_seconds(), 0.0), MAX_RETRY_AFTER)


def make_client(source: Source) -> httpx.Client:
    headers = {"Accept": "application/json", "User-Agent": "healthbot-sync"}
    auth: httpx.Auth | None = None
    secrets = source.auth.secrets(source.name)
    if source.auth.type == "bearer":
        headers["Authorization"] = f"Bearer {secrets[0]}"
    elif source.auth.type == "basic":
        auth = httpx.BasicAuth(secrets[0], secrets[1])
    return httpx.Client(headers=headers, auth=auth, timeout=httpx.Timeout(source.timeout), follow_redirects=True)


@dataclass
class Fetcher:
    source: Source
    client: httpx.Client
    sleep: Callable[[float], None] = time.sleep
    retried: dict[str, int] = field(default_factory=dict)  # why -> how many times, for the summary

    def get(self, url: str, params: dict[str, Any] | None) -> httpx.Response:
        name = self.source.name
        for attempt in range(self.source.retries + 1):
            last = attempt == self.source.retries
            try:
                response = self.client.get(url, params=params)
            except httpx.TransportError as exc:  # refused, reset, dropped mid-body, timed out
                why = type(exc).__name__
                if last:
                    raise FetchFailed(
                        f"source {name}: {_shown(url)} failed after {attempt + 1} attempts ({why})"
                    ) from None
                self._wait(attempt, None, why)
                continue
            if response.status_code == 429 or response.status_code >= 500:
                why = f"HTTP {response.status_code}"
                if last:
                    raise FetchFailed(f"source {name}: {_shown(url)} answered {why} {attempt + 1} times; try later")
                wait = retry_after(response.headers.get("retry-after")) if response.status_code == 429 else None
                self._wait(attempt, wait, why)
                continue
            if response.status_code >= 400:
                hint = (
                    " (check the credentials in the auth environment variables)"
                    if response.status_code in (401, 403)
                    else ""
                )
                raise FetchFailed(f"source {name}: {_shown(url)} answered HTTP {response.status_code}{hint}")
            return response
        raise AssertionError("unreachable")

    def _wait(self, attempt: int, retry_after_s: float | None, why: str) -> None:
        self.retried[why] = self.retried.get(why, 0) + 1
        if retry_after_s is None:
            base = min(self.source.backoff * 2**attempt, MAX_BACKOFF)
            retry_after_s = base * (1 + random.random() / 4)  # jitter: replicas do not retry in step
        log.info("source %s: %s; retrying in %.1f s", self.source.name, why, retry_after_s)
        self.sleep(retry_after_s)

    def json(self, url: str, params: dict[str, Any] | None) -> tuple[Any, httpx.Response]:
        response = self.get(url, params)
        try:
            return response.json(), response
        except ValueError:
            raise FetchFailed(f"source {self.source.name}: {_shown(url)} did not answer JSON") from None


def _shown(url: str) -> str:
    """The URL without its query (a cursor can be long; a misconfigured key could sit there)."""
    return str(httpx.URL(url).copy_with(query=None))


@dataclass
class Page:
    number: int  # 1 for the first page this run fetched
    records: list[Any]
    next: str | None  # where the page after this one starts (a cursor, a page number, a URL); None on the last
    cursor: str | None  # cursor style: the last cursor seen, kept for the next sync when `keep`


def pages(fetcher: Fetcher, position: str | None, since: str | None) -> Iterator[Page]:
    """The pages from `position` (None: the first page, asked with `since` when the source is incremental)."""
    source, pag = fetcher.source, fetcher.source.pagination
    number = 0
    while True:
        params: dict[str, Any] = dict(source.params)
        url = source.url
        if position is None and since is not None and source.incremental is not None:
            params[source.incremental.param] = since
        if pag.style == "cursor" and position is not None:
            params[pag.param or ""] = position
        elif pag.style == "page":
            params[pag.param or ""] = int(position) if position is not None else pag.start
            if pag.size_param:
                params[pag.size_param] = pag.size
        elif pag.style == "link" and position is not None:
            url = position
        # a next link carries its own query: params, even empty, would replace it
        body, response = fetcher.json(url, params if url == source.url else None)
        records = path_get(body, source.records)
        if not isinstance(records, list):
            where = f"at {source.records!r}" if source.records else "(the body)"
            raise FetchFailed(f"source {source.name}: the response has no list of records {where}")
        number += 1
        nxt: str | None = None
        cursor: str | None = None
        if pag.style == "cursor":
            value = path_get(body, pag.next or "")
            cursor = str(value) if value not in (None, "") else None
            finished = bool(path_get(body, pag.done)) if pag.done else False
            nxt = None if finished or not records else cursor
        elif pag.style == "page":
            current = int(position) if position is not None else pag.start
            full = len(records) >= (pag.size if pag.size_param else 1)
            nxt = str(current + 1) if records and full else None
        elif pag.style == "link":
            link = response.links.get("next", {}).get("url")
            nxt = str(response.url.join(link)) if link else None
        if nxt is not None and nxt == position:
            nxt = None  # an API that hands back the same position would loop forever
        yield Page(number, records, nxt, cursor)
        if nxt is None:
            return
        position = nxt
