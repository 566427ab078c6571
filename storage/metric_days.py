"""The tokens of metric days (table metric_day_change, renewed by triggers on every write to metric_observation,
migration 0014): what the daily run's cache of metrics (`storage.metric_cache`) checks before it trusts a day.

None of them commits: the caller's unit of work does.
"""

from __future__ import annotations

import hashlib
from datetime import date

from sqlalchemy import Connection, text

# migration 0014's random 63-bit token (PostgreSQL's random() is a double: two of them fill the bits)
_PG_TOKEN = "(floor(random() * 2147483648)::int8 * 4294967296 + floor(random() * 4294967296)::int8)"


def day_tokens(conn: Connection, start: date, end: date) -> dict[date, str]:
    """Per day in [start, end] with any token row, a digest of all of the day's tokens (PostgreSQL may hold
    several rows for a day until `compact_day_changes` folds them). A day without a row has no entry: never
    trusted from a cache."""
    rows = conn.execute(
        text("SELECT day, token FROM metric_day_change WHERE day >= :s AND day <= :e"), {"s": start, "e": end}
    ).all()
    by_day: dict[date, list[int]] = {}
    for day, token in rows:
        key = date.fromisoformat(day[:10]) if isinstance(day, str) else day
        by_day.setdefault(key, []).append(int(token))
    return {
        day: hashlib.blake2b(",".join(map(str, sorted(tokens))).encode(), digest_size=12).hexdigest()
        for day, tokens in by_day.items()
    }


def compact_day_changes(conn: Connection, start: date, end: date) -> int:
    """Fold each day in [start, end] holding several token rows into one fresh random token (PostgreSQL's
    statement triggers add a row per writing statement; SQLite's keep one a day). Rows a concurrent writer has
    not committed yet stay, so its day still changes. Returns the days folded."""
    if conn.dialect.name != "postgresql":
        return 0
    folded = conn.execute(
        text(
            "WITH many AS (SELECT day FROM metric_day_change WHERE day >= :s AND day <= :e"
            " GROUP BY day HAVING COUNT(*) > 1),"
            " gone AS (DELETE FROM metric_day_change c USING many WHERE c.day = many.day RETURNING c.day)"
            f" INSERT INTO metric_day_change (day, token) SELECT day, {_PG_TOKEN}"
            " FROM (SELECT DISTINCT day FROM gone) g"
            " ON CONFLICT DO NOTHING RETURNING day"
        ),
        {"s": start, "e": end},
    ).all()
    return len(folded)
