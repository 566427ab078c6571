"""PostgreSQL's fast path for a day's scores: COPY text laid out in Python, straight into health_score (the
caller deletes the day first, in the same transaction). Used by `storage.scores.replace_scores`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from storage import bulk


def copy_scores(conn: Connection, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
    """COPY `rows` (columns as `storage.scores.SCORE_COLUMNS`; `parts` a dict or its JSON text) into health_score."""
    raw = conn.connection.driver_connection
    stamps: dict[Any, str] = {}  # one run writes one computed_at: formatted once
    with raw.cursor() as cur, cur.copy(f"COPY health_score ({', '.join(columns)}) FROM STDIN") as copy:  # type: ignore[union-attr]
        for start in range(0, len(rows), bulk.CHUNK):
            lines = []
            for account_id, on, score, tier, card, partial, delta_7, delta_30, parts, at in rows[
                start : start + bulk.CHUNK
            ]:
                stamp = stamps.get(at)
                if stamp is None:
                    stamp = stamps[at] = _copy_text(at.isoformat() if isinstance(at, datetime) else at)
                body = parts if isinstance(parts, str) else json.dumps(parts, separators=(",", ":"))
                lines.append(
                    f"{int(account_id)}\t{on}\t{_copy_float(score)}\t{_copy_text(tier)}\t{_copy_text(card)}\t"
                    f"{'t' if partial else 'f'}\t{_copy_float(delta_7)}\t{_copy_float(delta_30)}\t"
                    f"{_copy_text(body)}\t{stamp}\n"
                )
            copy.write("".join(lines))


def _copy_text(value: Any) -> str:
    """A value in COPY's text format: backslash, tab, newline and carriage return escaped; None is NULL."""
    if value is None:
        return "\\N"
    out = str(value)
    if "\\" in out:
        out = out.replace("\\", "\\\\")
    if "\t" in out or "\n" in out or "\r" in out:
        out = out.replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return out


def _copy_float(value: float | None) -> str:
    """A float in COPY's text format, the same double back (repr is the shortest text that round-trips)."""
    return "\\N" if value is None else float.__repr__(float(value))
