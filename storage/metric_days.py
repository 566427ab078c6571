"""The tokens of metric days (table metric_day_change, rows added by triggers on every write to metric_observation,
migration 0014): what the daily run's derived copy of its metrics (`storage.metric_cache`) checks before it trusts
a day.

None of them commits: the caller's unit of work does.
"""

from __future__ import annotations

import hashlib
from datetime import date

from sqlalchemy import Connection, bindparam, text

# migration 0014's random 63-bit token (PostgreSQL's random() is a double: two of them fill the bits)
_PG_TOKEN = "(floor(random() * 2147483648)::int8 * 4294967296 + floor(random() * 4294967296)::int8)"


def day_tokens(conn: Connection, start: date, end: date) -> dict[date, str | None]:
    """Per day in [start, end] with any token row: a digest of its tokens, or None when it has a dirty row (written
    since the last `compact_day_changes`: never trusted). A day without rows has no entry: never trusted either."""
    rows = conn.execute(
        text("SELECT day, token, dirty FROM metric_day_change WHERE day >= :s AND day <= :e"), {"s": start, "e": end}
    ).all()
    by_day: dict[date, list[int]] = {}
    dirty: set[date] = set()
    for day, token, is_dirty in rows:
        key = date.fromisoformat(day[:10]) if isinstance(day, str) else day
        by_day.setdefault(key, []).append(int(token))
        if is_dirty:
            dirty.add(key)
    return {
        day: None
        if day in dirty
        else hashlib.blake2b(",".join(map(str, sorted(tokens))).encode(), digest_size=12).hexdigest()
        for day, tokens in by_day.items()
    }


def compact_day_changes(conn: Connection, start: date, end: date) -> int:
    """Fold each day in [start, end] with a dirty row or several rows into one clean row with a fresh random token;
    returns the days folded. On PostgreSQL rows a concurrent writer has not committed yet are not seen, so they stay
    (dirty) and its day stays untrusted; on SQLite writers take turns, so none can be in between."""
    days = (
        conn.execute(
            text(
                "SELECT day FROM metric_day_change WHERE day >= :s AND day <= :e GROUP BY day"
                " HAVING COUNT(*) > 1 OR SUM(CASE WHEN dirty THEN 1 ELSE 0 END) > 0"
            ),
            {"s": start, "e": end},
        )
        .scalars()
        .all()
    )
    if not days:
        return 0
    token = _PG_TOKEN if conn.dialect.name == "postgresql" else "random()"
    conn.execute(text("DELETE FROM metric_day_change WHERE day IN :days").bindparams(bindparam("days", expanding=True)),
                 {"days": days})  # fmt: skip
    for day in days:
        conn.execute(
            text(f"INSERT INTO metric_day_change (day, token, dirty) VALUES (:d, {token}, :clean)"),
            {"d": day, "clean": False},
        )
    return len(days)
