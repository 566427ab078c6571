"""Reads and writes of accounts: the account frame, each tracked field's history, lookups by name, owners.

None of them commits: the caller's unit of work (one per Slack request, job or command) does, once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import ColumnElement, Connection, Date, and_, bindparam, func, or_, text
from sqlmodel import Session, col, select

from storage import bulk
from storage.models import ACCOUNT_TRACKED_FIELDS, Account
from storage.types import AccountStatus

ACCOUNT_FRAME_COLUMNS = (
    "id",
    "external_id",
    "name",
    "owner_slack_id",
    "segment",
    "plan",
    "industry",
    "employees",
    "region",
    "lifecycle_stage",
    "acquisition_channel",
    "mrr",
    "contract_start",
    "renewal_date",
    "status",
    "churned_on",
)


def day_number_sql(conn: Connection, column: str) -> str:
    if conn.dialect.name == "postgresql":
        return f"({column} - DATE '1970-01-01')"
    return f"CAST(julianday({column}) - 2440587.5 AS INTEGER)"


def accounts_frame(conn: Connection, active_on: date | None = None) -> pd.DataFrame:
    """Accounts as a frame; with `active_on`, only those that were customers on that day."""
    sql = f"SELECT {', '.join(ACCOUNT_FRAME_COLUMNS)} FROM account"
    params: dict[str, Any] = {}
    if active_on is not None:
        sql += (
            " WHERE (contract_start IS NULL OR contract_start <= :d)"
            " AND (churned_on IS NULL OR churned_on > :d)"
            " AND (status = 'active' OR churned_on IS NOT NULL)"
        )
        params["d"] = active_on
    frame = pd.DataFrame(conn.execute(text(sql), params).fetchall(), columns=list(ACCOUNT_FRAME_COLUMNS))
    return frame.sort_values("id").reset_index(drop=True)


def accounts_as_of(conn: Connection, day: date) -> pd.DataFrame:
    """`accounts_frame` with each tracked field (`ACCOUNT_TRACKED_FIELDS`) as it was known on `day`:
    the latest recorded change seen on or before `day`. When a field's first recorded change is after
    `day`, that first value stands in: nothing older is known. A field with no recorded change keeps
    the account's stored value.

    `mrr` and `employees` come back as floats, `renewal_date` as `date` or None, on both databases."""
    frame = accounts_frame(conn)
    history = field_history(conn)
    if len(history):
        pairs = history[["account_id", "field"]].drop_duplicates().reset_index(drop=True)
        pairs["day"] = pd.Timestamp(day)
        pairs["value"] = field_values_on(history, pairs)["value"].to_numpy()
        for name, known in pairs.groupby("field", sort=False):
            has = frame["id"].isin(known["account_id"]).to_numpy()
            values = frame["id"].map(pd.Series(known["value"].to_numpy(), index=known["account_id"].to_numpy()))
            # rebuilt from a list: the dtype pandas infers for `accounts_frame`'s columns (str, or object)
            frame[name] = pd.Series(frame[name].astype(object).where(~has, values).tolist(), index=frame.index)
    frame["mrr"] = pd.to_numeric(frame["mrr"], errors="coerce").astype(float)
    frame["employees"] = pd.to_numeric(frame["employees"], errors="coerce").astype(float)
    renewal = pd.to_datetime(frame["renewal_date"].astype("string").str[:10], format="%Y-%m-%d", errors="coerce")
    frame["renewal_date"] = pd.Series(renewal.dt.date, index=frame.index, dtype=object).where(renewal.notna(), None)
    return frame


def field_history(conn: Connection, fields: Sequence[str] = ACCOUNT_TRACKED_FIELDS) -> pd.DataFrame:
    """Recorded changes of `fields` (tracked ones) as (account_id, field, seen_on datetime64, value text or None).

    Read through the driver's cursor with days as numbers: a portfolio holds millions of changes."""
    names = list(dict.fromkeys(fields))
    unknown = sorted(set(names) - set(ACCOUNT_TRACKED_FIELDS))
    if unknown:
        raise ValueError(f"not tracked: {', '.join(unknown)}")
    rows: list[tuple[Any, ...]] = []
    if names:  # the names are known identifiers: safe to spell out
        codes = " ".join(f"WHEN '{n}' THEN {i}" for i, n in enumerate(names))
        sql = (
            f"SELECT account_id, CASE field {codes} END, {day_number_sql(conn, 'seen_on')}, value "
            f"FROM account_field_change WHERE field IN ({', '.join(repr(n) for n in names)})"
        )
        cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cur.execute(sql)
            rows = cur.fetchall()
        finally:
            cur.close()
    table = np.array(rows, dtype=object).reshape(len(rows), 4)
    return pd.DataFrame(
        {
            "account_id": table[:, 0].astype(np.int64),
            "field": np.array(names, dtype=object)[table[:, 1].astype(np.int64)],
            "seen_on": table[:, 2].astype(np.int64).astype("datetime64[D]").astype("datetime64[ns]"),
            "value": table[:, 3],
        }
    )


def field_changes_after(conn: Connection, day: date) -> pd.DataFrame:
    """(field, account_id) -> the latest change seen after `day` (`seen_on`, a Timestamp): none at all when a
    file is newer than everything recorded, the usual case, so this reads next to nothing."""
    rows = conn.execute(
        text(
            "SELECT field, account_id, MAX(seen_on) FROM account_field_change WHERE seen_on > :day "
            "GROUP BY field, account_id"
        ).bindparams(bindparam("day", type_=Date())),
        {"day": day},
    ).all()
    frame = pd.DataFrame([tuple(r) for r in rows], columns=["field", "account_id", "seen_on"])
    return frame.assign(seen_on=pd.to_datetime(frame["seen_on"].astype(str).str[:10], format="%Y-%m-%d"))


def account_columns(conn: Connection, columns: Sequence[str]) -> pd.DataFrame:
    """external_id and these columns of every account, as stored (object dtype)."""
    sql = f"SELECT external_id, {', '.join(columns)} FROM account"
    return pd.DataFrame([tuple(r) for r in conn.execute(text(sql))], columns=["external_id", *columns], dtype=object)


def field_values_on(history: pd.DataFrame, asks: pd.DataFrame) -> pd.DataFrame:
    """For each row of `asks` (account_id, field, day as datetime64): the `value` known that day (the
    latest change on or before it, else the first one after it) and whether any change is `known`;
    rows in the order of `asks`. `history` as `field_history` gives it."""
    keys = {"account_id": "int64", "field": object}  # merge_asof wants the same dtypes on both sides
    left = asks[["account_id", "field", "day"]].reset_index(drop=True).astype({**keys, "day": "datetime64[ns]"})
    left = left.assign(row=np.arange(len(left))).sort_values("day", kind="stable")
    right = history[["account_id", "field", "seen_on", "value"]].astype({**keys, "seen_on": "datetime64[ns]"})
    right = right.sort_values("seen_on", kind="stable")
    value = np.full(len(left), None, dtype=object)
    known = np.zeros(len(left), dtype=bool)
    for direction in ("backward", "forward"):  # forward: only where nothing was seen on or before the day
        found = pd.merge_asof(
            left, right, left_on="day", right_on="seen_on", by=["account_id", "field"], direction=direction
        )  # keeps the rows of `left`, in order
        hit = found["seen_on"].notna().to_numpy()
        rows = found["row"].to_numpy()[hit]
        value[rows], known[rows] = found["value"].to_numpy(dtype=object)[hit], True
        left = left[~hit]
        if not len(left):
            break
    value[pd.isna(value)] = None
    return pd.DataFrame({"value": value, "known": known})


def record_field_changes(
    conn: Connection,
    account_id: Sequence[int],
    values: pd.DataFrame,
    seen_on: pd.Series | date,
    history: pd.DataFrame | None = None,
) -> int:
    """Record each value of `values` (tracked fields as columns, a row per account of `account_id`) that
    differs from what was known on its `seen_on` day (one for all, or datetime64 per row), as seen that
    day; returns how many. Nothing known reads as empty and numbers compare as numbers (1200 is 1200.0),
    so a value that changes no reading of `accounts_as_of` records nothing.
    `history`: `field_history` of these fields, when the caller has read it."""
    history = field_history(conn, list(values.columns)) if history is None else history
    ids = np.asarray(account_id, dtype=np.int64)
    if isinstance(seen_on, date):
        day = np.full(len(ids), pd.Timestamp(seen_on).to_datetime64(), dtype="datetime64[ns]")
    else:
        day = pd.Series(seen_on).to_numpy(dtype="datetime64[ns]")
    iso = pd.Series(day).dt.strftime("%Y-%m-%d").to_numpy(dtype=object)
    by_field = dict(tuple(history.groupby("field", sort=False)))
    out: list[tuple[Any, ...]] = []
    for name in values.columns:
        asks = pd.DataFrame({"account_id": ids, "field": name, "day": day})
        part = by_field.get(name)
        known = pd.Series(None, asks.index, object) if part is None else field_values_on(part, asks)["value"]
        new = _as_text(name, values[name])
        if name in _NUMBER_FIELDS:
            old_n, new_n = (pd.to_numeric(pd.Series(v), errors="coerce").to_numpy(dtype=float) for v in (known, new))
            differs = ~((old_n == new_n) | (np.isnan(old_n) & np.isnan(new_n)))
        else:
            old = known.to_numpy(dtype=object)
            old_empty, new_empty = pd.isna(old), pd.isna(new)
            differs = (old_empty != new_empty) | (~old_empty & ~new_empty & (old != new))
        at = np.flatnonzero(differs)
        out += zip(ids[at].tolist(), [name] * len(at), iso[at].tolist(), new[at].tolist(), strict=True)
    out.sort(key=lambda change: change[:3])  # in key order: SQLite appends to its index instead of scattering
    columns = ("account_id", "field", "seen_on", "value")
    return bulk.upsert_rows(conn, "account_field_change", columns, columns[:3], out) if out else 0


_NUMBER_FIELDS = ("mrr", "employees")


_SPELLING = {"mrr": lambda v: repr(float(v)), "employees": lambda v: str(int(v)), "renewal_date": lambda v: str(v)[:10]}


def _as_text(name: str, values: pd.Series) -> np.ndarray:
    """Tracked values as the history holds them: text, one spelling per value (None for empty)."""
    spell = _SPELLING.get(name, str)
    return np.array([None if pd.isna(v) else spell(v) for v in values.to_numpy(dtype=object)], dtype=object)


# --- lookups by session (the Slack side) -----------------------------------------------


def find_accounts(session: Session, query: str, limit: int = 10, *, contains: bool = True) -> list[Account]:
    """Exact external id, domain or name first; then names starting with or (`contains`) containing `query`.
    `contains=False` leaves the substring step, a read of every account, to the caller (`name_rows`).

    A query no name, domain or id can hold (longer than the longest, or with a NUL, which PostgreSQL refuses
    in text) matches nothing, and is not sent: SQLite calls a long LIKE pattern "too complex"."""
    raw = query.strip()
    q = raw.lower()
    if not q or len(raw) > 255 or "\x00" in raw:  # 255: Account.name's and Account.domain's length
        return []
    exact = session.exec(
        select(Account)
        .where(or_(col(Account.external_id) == raw, col(Account.domain).in_([raw, q]), col(Account.name_lower) == q))
        .order_by(col(Account.name))
        .limit(limit)
    ).all()
    if exact:
        return list(exact)
    pattern = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    starts: ColumnElement[bool] = col(Account.name_lower).like(f"{pattern}%", escape="\\")
    if session.get_bind().dialect.name == "sqlite":
        # SQLite's LIKE (ASCII case folded) never reads an index on a plain column: the range of names starting
        # with `q` does (in the byte order of the index), and LIKE still decides
        after = _after_prefix(q)
        starts = and_(starts, col(Account.name_lower) >= q, *([col(Account.name_lower) < after] if after else []))
    prefix = session.exec(select(Account).where(starts).order_by(col(Account.name)).limit(limit)).all()
    if prefix or not contains:
        return list(prefix)
    contains_ = session.exec(
        select(Account)
        .where(
            or_(
                col(Account.name_lower).like(f"%{pattern}%", escape="\\"),
                func.lower(col(Account.domain)).like(f"%{pattern}%", escape="\\"),
            )
        )
        .order_by(col(Account.name))
        .limit(limit)
    ).all()
    return list(contains_)


def _after_prefix(q: str) -> str | None:
    """The first text after every text that starts with `q` (not empty) in code point order, which is UTF-8's byte
    order and SQLite's BINARY collation; None when `q` ends in the last code point."""
    last = ord(q[-1]) + 1
    if 0xD800 <= last <= 0xDFFF:  # surrogates are no characters: UTF-8 goes on at U+E000
        last = 0xE000
    return q[:-1] + chr(last) if last <= 0x10FFFF else None


def account_count(conn: Connection) -> int:
    return int(conn.execute(text("SELECT COUNT(*) FROM account")).scalar() or 0)


def churned_outside(conn: Connection, first: date, last: date) -> tuple[int, int]:
    """Accounts that churned after `last`, and on or before `first`."""
    row = conn.execute(
        text(
            "SELECT SUM(CASE WHEN churned_on > :last THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN churned_on <= :first THEN 1 ELSE 0 END) FROM account WHERE churned_on IS NOT NULL"
        ),
        {"first": first, "last": last},
    ).one()
    return int(row[0] or 0), int(row[1] or 0)


def all_accounts(session: Session) -> list[Account]:
    return list(session.exec(select(Account)).all())


def account_owners_by_external_id(conn: Connection) -> Iterator[tuple[str, str | None]]:
    """(external_id, owner_slack_id) of every account, read as iterated."""
    rows = conn.execute(text("SELECT external_id, owner_slack_id FROM account"))
    return ((external_id, owner) for external_id, owner in rows)


def mark_churned(session: Session, account: Account, day: date) -> None:
    """The account churned (on `day`, unless a churn date is stored already); flushed."""
    account.status, account.churned_on = AccountStatus.CHURNED.value, account.churned_on or day
    session.add(account)
    session.flush()


def all_account_names(session: Session) -> list[tuple[int, str]]:
    return [(r[0], r[1]) for r in session.connection().execute(text("SELECT id, name FROM account"))]


def name_rows(session: Session) -> list[tuple[int, str, str, str, int]]:
    """(id, name, name as LIKE compares it, domain as `find_accounts` compares it or '', place in ORDER BY name) of
    every account, by id: what the lookup keeps per process for its substring and typo steps. SQLite's LIKE folds
    ASCII case, so the name comes through its lower() (ASCII only); PostgreSQL's LIKE compares as stored."""
    conn = session.connection()
    name = "lower(name_lower)" if conn.dialect.name == "sqlite" else "name_lower"
    rows = conn.execute(
        text(
            f"SELECT id, name, {name}, COALESCE(lower(domain), ''), ROW_NUMBER() OVER (ORDER BY name, id) "
            "FROM account ORDER BY id"
        )
    )
    return [(r[0], r[1], r[2], r[3], r[4]) for r in rows]


def names_marker(session: Session) -> tuple[Any, ...]:
    """What changes whenever `name_rows` may have: the last id and the last write (imports and syncs set `updated_at`
    on every row they write, a new row has it), each one read of an index. Accounts are never deleted one by one;
    emptied and filled again, their `updated_at` is newer."""
    return tuple(
        session.connection()
        .execute(text("SELECT (SELECT MAX(id) FROM account), (SELECT MAX(updated_at) FROM account)"))
        .one()
    )


def accounts_by_ids(session: Session, ids: Sequence[int]) -> list[Account]:
    """The accounts with these ids, in the order given (missing ones left out)."""
    found = {a.id: a for a in session.exec(select(Account).where(col(Account.id).in_(list(ids)))).all()} if ids else {}
    return [found[i] for i in ids if i in found]


def account_owners(session: Session) -> list[str]:
    """Slack ids of every CSM who owns an account."""
    rows = session.execute(
        text("SELECT DISTINCT owner_slack_id FROM account WHERE owner_slack_id IS NOT NULL ORDER BY owner_slack_id")
    )
    return [r[0] for r in rows]
