"""Shared helpers for the benchmarks: databases, synthetic data, timers, RSS, tables.

Not part of the product. Everything here is deterministic (seeded numpy) so two runs
score the same portfolio.
"""

from __future__ import annotations

import contextlib
import os
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Engine, text

# The code under test: this checkout, or HEALTHBOT_CODE_ROOT (another checkout, e.g. a git
# worktree of the code before a change, for before/after figures).
ROOT = Path(os.environ.get("HEALTHBOT_CODE_ROOT") or Path(__file__).resolve().parent.parent)
sys.path.insert(0, str(ROOT))  # `python bench/NAME.py` from anywhere

from bot.settings import load_settings  # noqa: E402
from storage.db import make_engine, upgrade  # noqa: E402

TABLES = ("health_score", "metric_observation", "account")  # children first
END = date(2026, 6, 30)
# The eight daily metrics of the benchmark portfolio (the default scorecard also reads
# `nps`; with no NPS rows that measure is left out and weights renormalise, as for a
# team that does not survey).
METRICS = (
    "logins", "active_users", "core_feature_events", "tickets_opened", "ticket_csat",
    "payment_days_overdue", "email_opens", "champion_left",
)  # fmt: skip
EPOCH = date(1970, 1, 1)


# --- processes and memory -----------------------------------------------------------------


def peak_rss_mb() -> float:
    """This process's RSS high-water mark (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@dataclass
class Timer:
    """Named wall-clock splits."""

    splits: dict[str, float] = field(default_factory=dict)

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.splits[name] = self.splits.get(name, 0.0) + time.perf_counter() - t0


def table(rows: list[list[object]], header: list[str]) -> str:
    """A plain-text table, numbers right-aligned."""

    def fmt(v: object) -> str:
        if isinstance(v, float):
            if v != v:  # NaN
                return "-"
            return f"{v:,.0f}" if abs(v) >= 1000 else (f"{v:.2f}" if abs(v) < 100 else f"{v:.1f}")
        if isinstance(v, int):
            return f"{v:,}"
        return "" if v is None else str(v)

    cells = [[fmt(v) for v in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(header)]
    numeric = [i > 0 for i in range(len(header))]  # the first column labels rows

    def line(vals: list[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(vals, widths, numeric, strict=True))

    out = [line(header), line(["-" * w for w in widths])]
    out += [line(r) for r in cells]
    return "\n".join(out)


# --- databases ----------------------------------------------------------------------------


def normalise_url(url: str) -> str:
    return load_settings(env_file=None, environ={"DATABASE_URL": url}).database_url


@contextlib.contextmanager
def sqlite_engine(folder: Path, name: str = "bench.db") -> Iterator[Engine]:
    """A fresh migrated SQLite file in `folder`; disposed (files removed) afterwards."""
    path = folder / name
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    try:
        yield engine
    finally:
        engine.dispose()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


@contextlib.contextmanager
def postgres_engine(url: str) -> Iterator[Engine]:
    """The migrated PostgreSQL database at `url`, emptied before and after."""
    engine = make_engine(normalise_url(url))
    upgrade(engine)
    truncate(engine)
    try:
        yield engine
    finally:
        truncate(engine)
        engine.dispose()


def truncate(engine: Engine) -> None:
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
        else:
            for t in TABLES:
                conn.execute(text(f"DELETE FROM {t}"))


def is_postgres(url: str | None) -> bool:
    return bool(url) and url.split(":", 1)[0].startswith("postgres")


def temp_dir(prefix: str) -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix=prefix)


# --- synthetic portfolio ------------------------------------------------------------------


def gen_accounts(n: int, end: date = END, seed: int = 11) -> pd.DataFrame:
    """Account rows with the importer's columns: ~10 % onboarding, ~25 % renewing within
    90 days, ~2 % churned before `end`."""
    rng = np.random.default_rng(seed)
    ids = np.arange(1, n + 1)
    stage = rng.choice(np.array(["onboarding", "adoption", "mature"], dtype=object), n, p=[0.1, 0.3, 0.6])
    start_ago = np.where(stage == "onboarding", rng.integers(20, 90, n), rng.integers(120, 1500, n))
    renew_in = rng.integers(1, 366, n)
    churned = rng.random(n) < 0.02
    # never before contract_start (the importer refuses that); same draws, so the same portfolio otherwise
    churn_ago = np.minimum(rng.integers(1, 60, n), start_ago)
    seg = rng.choice(np.array(["enterprise", "mid-market", "smb"], dtype=object), n, p=[0.15, 0.35, 0.5])
    region = rng.choice(np.array(["NA", "EMEA", "APAC", "LATAM"], dtype=object), n)

    def iso(days_from_end: np.ndarray) -> np.ndarray:
        base = np.datetime64(end.isoformat())
        return np.datetime_as_string(base + days_from_end.astype("timedelta64[D]"), unit="D").astype(object)

    return pd.DataFrame({
        "external_id": [f"ACC-{i:06d}" for i in ids],
        "name": [f"Bench Customer {i:06d} Ltd" for i in ids],
        "domain": [f"customer-{i:06d}.example.com" for i in ids],
        "owner_slack_id": [f"U01CSM{i % 40:04d}" for i in ids],
        "segment": seg,
        "industry": rng.choice(np.array(["software", "retail", "media", "logistics"], dtype=object), n),
        "employees": rng.integers(5, 20000, n),
        "region": region,
        "lifecycle_stage": stage,
        "acquisition_channel": rng.choice(np.array(["inbound", "outbound", "partner"], dtype=object), n),
        "mrr": np.round(rng.uniform(100, 50000, n), 2),
        "contract_start": iso(-start_ago),
        "renewal_date": iso(renew_in),
        "status": np.where(churned, "churned", "active").astype(object),
        "churned_on": np.where(churned, iso(-churn_ago), None),
    })  # fmt: skip


def gen_metric_block(n_accounts: int, days: int, acc_offset: int = 0, seed: int = 5) -> np.ndarray:
    """Metric values float[n_accounts, days, len(METRICS)] for accounts acc_offset.. (deterministic
    per account block so chunked generation gives the same numbers)."""
    rng = np.random.default_rng([seed, acc_offset])
    n, d = n_accounts, days
    users = rng.uniform(2, 60, n)[:, None]
    decline = np.where(rng.random(n) < 0.2, rng.uniform(0.2, 0.9, n), 0.0)[:, None]
    t = np.arange(d)[None, :] / max(d - 1, 1)
    lam = users * (1 - decline * np.clip(t * 2 - 1, 0, 1))
    dow = (np.arange(d) % 7)[None, :]
    lam = lam * np.where(dow >= 5, 0.3, 1.0)
    silent = rng.random(n) < 0.03
    lam[silent, -20:] = 0
    out = np.empty((n, d, len(METRICS)))
    out[:, :, 0] = rng.poisson(lam * 1.4)
    out[:, :, 1] = np.minimum(rng.poisson(lam), out[:, :, 0])
    out[:, :, 2] = rng.poisson(lam * 4)
    spike = (rng.random(n) < 0.08)[:, None] & (np.arange(d) >= d - 10)[None, :]
    out[:, :, 3] = rng.poisson(np.where(spike, 4.0, 0.05 + 0.01 * users))
    out[:, :, 4] = np.clip(np.round(rng.normal(4.3 - 2 * decline, 0.6, (n, d))), 1, 5)
    overdue = (rng.random(n) < 0.05)[:, None] & (np.arange(d) >= d - 30)[None, :]
    out[:, :, 5] = np.where(overdue, np.arange(d)[None, :] - (d - 30), 0)
    out[:, :, 6] = rng.poisson(np.maximum(1.5 - decline * np.clip(t * 2 - 1, 0, 1) * 1.5, 0.05) * np.ones((n, d)))
    left = (rng.random(n) < 0.02)[:, None] & (np.arange(d) >= d - 15)[None, :]
    out[:, :, 7] = left.astype(float)
    return out


def day_strings(days: int, end: date = END) -> list[str]:
    return [(end - timedelta(days=days - 1 - i)).isoformat() for i in range(days)]


def metric_rows(account_ids: np.ndarray, days: int, end: date = END, block: int = 2000) -> Iterator[tuple]:
    """(account_id, day, metric, value) tuples, account by account (what `bulk.upsert_rows` takes)."""
    day_s = np.array(day_strings(days, end), dtype=object)
    met = np.array(METRICS, dtype=object)
    for lo in range(0, len(account_ids), block):
        ids = account_ids[lo : lo + block]
        vals = gen_metric_block(len(ids), days, lo)
        n = len(ids)
        a = np.repeat(ids, days * len(METRICS)).tolist()
        d = np.tile(np.repeat(day_s, len(METRICS)), n).tolist()
        m = np.tile(met, n * days).tolist()
        yield from zip(a, d, m, vals.reshape(-1).tolist(), strict=True)


def write_metrics_csv(path: Path, external_ids: list[str], days: int, end: date = END, block: int = 2000) -> int:
    """The documented metrics CSV (external_id,date,metric,value), written with numpy in blocks."""
    day_s = np.array(day_strings(days, end), dtype=object)
    met = np.array(METRICS, dtype=object)
    total = 0
    ext = np.array(external_ids, dtype=object)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write("external_id,date,metric,value\n")
        for lo in range(0, len(ext), block):
            ids = ext[lo : lo + block]
            vals = gen_metric_block(len(ids), days, lo).reshape(-1)
            n = len(ids)
            frame = pd.DataFrame({
                "external_id": np.repeat(ids, days * len(METRICS)),
                "date": np.tile(np.repeat(day_s, len(METRICS)), n),
                "metric": np.tile(met, n * days),
                "value": vals,
            })  # fmt: skip
            frame.to_csv(fh, header=False, index=False, float_format="%g", lineterminator="\n")
            total += len(frame)
    return total


# --- fast loading (bench setup, not what is measured) -------------------------------------


def load_accounts(engine: Engine, accounts: pd.DataFrame) -> np.ndarray:
    """Insert the accounts with `storage.bulk`; returns their ids in row order."""
    from storage import bulk

    now = pd.Timestamp.now(tz="UTC").isoformat()
    frame = accounts.copy()
    frame["name_lower"] = frame["name"].str.lower()
    frame["created_at"] = now
    frame["updated_at"] = now
    cols = list(frame.columns)
    records = [tuple(None if (v is None or (isinstance(v, float) and v != v)) else v for v in r)
               for r in frame.astype(object).itertuples(index=False, name=None)]  # fmt: skip
    records = [tuple(int(v) if isinstance(v, np.integer) else (float(v) if isinstance(v, np.floating) else v)
                     for v in r) for r in records]  # fmt: skip
    with engine.begin() as conn:
        bulk.upsert_rows(conn, "account", cols, ["external_id"], records)
        ids = bulk.account_ids(conn)
    return np.array([ids[e] for e in accounts["external_id"]], dtype=np.int64)


_PG_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
_PG_EPOCH_SHIFT = (date(2000, 1, 1) - EPOCH).days


def _pg_metric_records(ids: np.ndarray, day_nums: np.ndarray, metric: str, values: np.ndarray) -> bytes:
    """Binary COPY rows (account_id int4, day date, metric text, value float8) for one metric."""
    name = metric.encode()
    dt = np.dtype([
        ("nf", ">i2"), ("l1", ">i4"), ("acc", ">i4"), ("l2", ">i4"), ("day", ">i4"),
        ("l3", ">i4"), ("met", f"S{len(name)}"), ("l4", ">i4"), ("val", ">f8"),
    ])  # fmt: skip
    n_acc, n_days = values.shape
    rec = np.empty(n_acc * n_days, dtype=dt)
    rec["nf"], rec["l1"], rec["l2"], rec["l3"], rec["l4"] = 4, 4, 4, len(name), 8
    rec["acc"] = np.repeat(ids, n_days)
    rec["day"] = np.tile(day_nums - _PG_EPOCH_SHIFT, n_acc)
    rec["met"] = name
    rec["val"] = values.reshape(-1)
    return rec.tobytes()


def load_metrics(engine: Engine, account_ids: np.ndarray, days: int, end: date = END, block: int = 2000) -> int:
    """Dense METRICS x days for every account: binary COPY on PostgreSQL, `bulk.upsert_rows`
    (executemany) on SQLite. Returns rows written."""
    from storage import bulk

    total = len(account_ids) * days * len(METRICS)
    if engine.dialect.name != "postgresql":
        with engine.begin() as conn:
            bulk.upsert_rows(conn, "metric_observation", ["account_id", "day", "metric", "value"],
                             ["account_id", "day", "metric"], metric_rows(account_ids, days, end, block))  # fmt: skip
        return total
    first = (end - EPOCH).days - days + 1
    day_nums = np.arange(first, first + days, dtype=np.int64)
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cur:
            # bench setup only: the rows are consistent by construction, so skip the per-row
            # foreign-key trigger (it triples the load time); needs a superuser, else ignored
            with contextlib.suppress(Exception):
                cur.execute("SET session_replication_role = replica")
            with cur.copy("COPY metric_observation (account_id, day, metric, value) FROM STDIN (FORMAT BINARY)") as cp:
                cp.write(_PG_COPY_HEADER)
                for lo in range(0, len(account_ids), block):
                    ids = account_ids[lo : lo + block]
                    vals = gen_metric_block(len(ids), days, lo)
                    for k, metric in enumerate(METRICS):
                        cp.write(_pg_metric_records(ids, day_nums, metric, vals[:, :, k]))
                cp.write(b"\xff\xff")
            cur.execute("SET session_replication_role = DEFAULT")
            cur.execute("ANALYZE metric_observation")
        raw.commit()
    finally:
        raw.close()
    return total


def load_history(engine: Engine, account_ids: np.ndarray, days: list[date], seed: int = 3) -> int:
    """Stored scores for `days` (what earlier daily runs left): hysteresis and deltas read them."""
    from bot.scoring.engine import tier_of
    from bot.scoring.scorecard import load_scorecard
    from storage import bulk

    sc = load_scorecard()
    rng = np.random.default_rng(seed)
    base = rng.uniform(20, 100, len(account_ids))
    now = pd.Timestamp.now(tz="UTC").isoformat()
    cols = ["account_id", "day", "score", "tier", "scorecard", "partial", "delta_7", "delta_30", "parts", "computed_at"]
    total = 0
    with engine.begin() as conn:
        for day in days:
            score = np.round(np.clip(base + rng.normal(0, 4, len(base)), 0, 100), 1)
            tiers = tier_of(sc, score)
            rows = zip(account_ids.tolist(), [day.isoformat()] * len(score), score.tolist(), tiers.tolist(),
                       ["default"] * len(score), [False] * len(score), [None] * len(score), [None] * len(score),
                       ["{}"] * len(score), [now] * len(score), strict=True)  # fmt: skip
            if engine.dialect.name == "postgresql":
                rows = ((a, date.fromisoformat(d), *rest) for a, d, *rest in rows)
            total += bulk.upsert_rows(conn, "health_score", cols, ["account_id", "day"], rows)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("ANALYZE health_score"))
    return total
