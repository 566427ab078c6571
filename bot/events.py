"""Slack retries an event delivery it thinks failed (X-Slack-Retry-Num); Bolt does not deduplicate."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable


class RecentEvents:
    """Event ids handled in the last `ttl` seconds, so a retried delivery is handled once."""

    def __init__(self, ttl: float = 3600, limit: int = 10_000, clock: Callable[[], float] = time.monotonic):
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()
        self._ttl, self._limit, self._clock = ttl, limit, clock

    def first_time(self, event_id: str) -> bool:
        """True (and remembered) the first time `event_id` shows up; False for a retry of it."""
        now = self._clock()
        with self._lock:
            while self._seen and (len(self._seen) >= self._limit or next(iter(self._seen.values())) < now - self._ttl):
                self._seen.popitem(last=False)
            if event_id in self._seen:
                return False
            self._seen[event_id] = now
            return True

    def forget(self, event_id: str) -> None:
        """Handling failed: let Slack's next retry through."""
        with self._lock:
            self._seen.pop(event_id, None)
