"""SQL of `healthbot sync` and the ingest endpoint: watermarks (`sync_state`), the per-record parts of
aggregated metrics (`sync_item`) and the observations recomputed from them. Runs in the caller's
connection/transaction; never commits."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, text

from storage import accounts as account_store
from storage import bulk
from storage.models import ACCOUNT_TRACKED_FIELDS
from storage.types import AccountStatus, utcnow

AGGREGATES = {"count": "SUM", "sum": "SUM", "mean": "AVG", "max": "MAX"}
_CHUNK = 500

Bucket = tuple[int, date, str]  # account_id, day, metric


@dataclass
class State:
    source: str
    since: datetime | None = None
    position: str | None = None
    running: bool = False
    run_since: datetime | None = None
    run_max: datetime | None = None
    records: int = 0


def _moment(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def get_state(conn: Connection, source: str) -> State:
    row = conn.execute(
        text("SELECT since, position, running, run_since, run_max, records FROM sync_state WHERE source = :s"),
        {"s": source},
    ).first()
    if row is None:
        return State(source)
    return State(source, _moment(row[0]), row[1], bool(row[2]), _moment(row[3]), _moment(row[4]), row[5] or 0)


def save_state(conn: Connection, state: State) -> None:
    values = {
        "source": state.source,
        "since": state.since,
        "position": state.position,
        "running": state.running,
        "run_since": state.run_since,
        "run_max": state.run_max,
        "records": state.records,
        "updated_at": utcnow(),
    }
    columns = list(values)
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c != "source")
    conn.execute(
        text(
            f"INSERT INTO sync_state ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)}) "
            f"ON CONFLICT (source) DO UPDATE SET {updates}"
        ),
        values,
    )


def all_states(conn: Connection) -> list[State]:
    names = conn.execute(text("SELECT source FROM sync_state ORDER BY source")).scalars().all()
    return [get_state(conn, n) for n in names]


def account_keys(conn: Connection, column: str) -> dict[str, int]:
    """external_id, domain or lower-cased name -> account id (a key several accounts share is left out)."""
    if column == "external_id":
        return bulk.account_ids(conn)
    expr = {"domain": "lower(domain)", "name": "name_lower"}[column]
    rows = conn.execute(text(f"SELECT {expr}, id FROM account WHERE {expr} IS NOT NULL")).all()
    seen: dict[str, int] = {}
    shared = set()
    for key, account_id in rows:
        if key in seen:
            shared.add(key)
        seen[key] = account_id
    return {k: v for k, v in seen.items() if k not in shared}


def upsert_observations(conn: Connection, rows: Iterable[Sequence[Any]]) -> int:
    """(account_id, day, metric, value) rows; an existing (account, day, metric) is replaced."""
    return bulk.upsert_rows(
        conn, "metric_observation", ["account_id", "day", "metric", "value"], ["account_id", "day", "metric"], rows
    )


def put_items(
    conn: Connection, source: str, items: dict[tuple[str, str], tuple[int, date, float]], aggregates: dict[str, str]
) -> int:
    """Store each record's part ((record_key, metric) -> (account_id, day, value)), replacing the part the
    record had before, and recompute the observations of every bucket (account, day, metric) touched,
    old and new: a record seen again never counts twice. Returns the observations written."""
    touched: set[Bucket] = set()
    keys = list({k for k, _ in items})
    for i in range(0, len(keys), _CHUNK):
        chunk = keys[i : i + _CHUNK]
        marks = ", ".join(f":k{j}" for j in range(len(chunk)))
        params: dict[str, Any] = {f"k{j}": k for j, k in enumerate(chunk)} | {"s": source}
        for key, metric, account_id, day in conn.execute(
            text(
                "SELECT record_key, metric, account_id, day FROM sync_item "
                f"WHERE source = :s AND record_key IN ({marks})"
            ),
            params,
        ):
            if (key, metric) in items:
                touched.add((account_id, _day(day), metric))
    rows = [(source, key, metric, acc, day.isoformat(), value) for (key, metric), (acc, day, value) in items.items()]
    bulk.upsert_rows(
        conn,
        "sync_item",
        ["source", "record_key", "metric", "account_id", "day", "value"],
        ["source", "record_key", "metric"],
        rows,
    )
    touched |= {(acc, day, metric) for (_, metric), (acc, day, _) in items.items()}
    return recompute(conn, source, touched, aggregates)


def recompute(conn: Connection, source: str, buckets: set[Bucket], aggregates: dict[str, str]) -> int:
    """The observation of each bucket from the source's parts; a bucket left with no part loses its row."""
    by_metric: dict[str, set[Bucket]] = defaultdict(set)
    for bucket in buckets:
        by_metric[bucket[2]].add(bucket)
    out: list[tuple[int, str, str, float]] = []
    empty: list[Bucket] = []
    for metric, group in by_metric.items():
        fn = AGGREGATES[aggregates[metric]]
        accounts = sorted({b[0] for b in group})
        days = sorted({b[1] for b in group})
        found: dict[tuple[int, date], float] = {}
        for i in range(0, len(accounts), _CHUNK):
            chunk = accounts[i : i + _CHUNK]
            params: dict[str, Any] = {f"a{j}": a for j, a in enumerate(chunk)} | {"s": source, "m": metric}
            params |= {"lo": days[0].isoformat(), "hi": days[-1].isoformat()}
            sql = (
                f"SELECT account_id, day, {fn}(value) FROM sync_item WHERE source = :s AND metric = :m "
                f"AND account_id IN ({', '.join(f':a{j}' for j in range(len(chunk)))}) "
                "AND day >= CAST(:lo AS DATE) AND day <= CAST(:hi AS DATE) GROUP BY account_id, day"
            )
            if conn.dialect.name == "sqlite":
                sql = sql.replace("CAST(:lo AS DATE)", ":lo").replace("CAST(:hi AS DATE)", ":hi")
            for account_id, day, value in conn.execute(text(sql), params):
                found[(account_id, _day(day))] = float(value)
        for account_id, day, _ in group:
            if (account_id, day) in found:
                out.append((account_id, day.isoformat(), metric, found[(account_id, day)]))
            else:
                empty.append((account_id, day, metric))
    if out:
        upsert_observations(conn, sorted(out))
    for account_id, day, metric in empty:
        conn.execute(
            text("DELETE FROM metric_observation WHERE account_id = :a AND day = :d AND metric = :m"),
            {"a": account_id, "d": day, "m": metric},
        )
    return len(out)


def upsert_accounts(conn: Connection, rows: list[dict[str, Any]]) -> tuple[int, int]:
    """Account rows by external_id (the columns the source maps): new accounts get status active; an
    update keeps the stored status where the row has none. Returns (created, updated)."""
    if not rows:
        return 0, 0
    now = utcnow().isoformat()
    existing = bulk.account_ids(conn)
    columns = list(dict.fromkeys(c for r in rows for c in r))
    new = [r for r in rows if r["external_id"] not in existing]
    old = [r for r in rows if r["external_id"] in existing]
    base = [*columns, "name_lower", "updated_at"]
    if new:
        cols = list(dict.fromkeys([*base, "status", "created_at"]))
        made = [{**r, "name_lower": r["name"].lower(), "updated_at": now, "created_at": now} for r in new]
        made = [{**r, "status": r.get("status") or AccountStatus.ACTIVE.value} for r in made]
        bulk.upsert_rows(conn, "account", cols, ["external_id"], [tuple(r.get(c) for c in cols) for r in made])
    if old:
        # the row as inserted must satisfy NOT NULL before ON CONFLICT applies: status comes along, stored if unmapped
        if any(r.get("status") is None for r in old):
            stored: dict[str, str] = {e: st for e, st in conn.execute(text("SELECT external_id, status FROM account"))}
            old = [{**r, "status": r.get("status") or stored[r["external_id"]]} for r in old]
        cols = list(dict.fromkeys([*base, "status"]))
        kept = [{**r, "name_lower": r["name"].lower(), "updated_at": now} for r in old]
        bulk.upsert_rows(conn, "account", cols, ["external_id"], [tuple(r.get(c) for c in cols) for r in kept])
    tracked = [c for c in columns if c in ACCOUNT_TRACKED_FIELDS]
    if tracked:  # backtests read fields as they were known on a day: a synced change is seen today
        ids = bulk.account_ids(conn)
        frame = pd.DataFrame([{c: r.get(c) for c in tracked} for r in rows])
        account_store.record_field_changes(conn, [ids[r["external_id"]] for r in rows], frame, date.today())
    return len(new), len(old)
