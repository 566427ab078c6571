"""Benchmark: `healthbot import accounts` + `healthbot import metrics` on a 1,000,000-row file.

    python bench/bench_import.py [--database-url URL] [--quick] [--accounts N] [--days D]

Writes an accounts CSV and a metrics CSV (N accounts x D days x 8 metrics; default
5,000 x 25 x 8 = 1,000,000 rows) with numpy into a temp dir, then imports them through
`bot.scoring.importer.import_accounts` / `import_metrics` (the real path: parse + validate +
write) in a fresh subprocess per database, so its peak RSS is clean. Reports rows, wall
seconds, rows/s, the split read CSV / validate / write, peak RSS, and the re-import time
(the same file again: every row an upsert of an existing one, its value the same) and the
re-import of a file whose every value changed (every row updated).

Baselines, measured in the same run on a sample and extrapolated to the whole file, with
the ratio: naive row-by-row loops (csv module, validate each row in Python) writing one
INSERT ... ON CONFLICT per row (20,000 rows) or one ORM `session.merge()` per row (5,000
rows), each into an empty table in one transaction.

SQLite always (a temp file); PostgreSQL too when --database-url points at it (its tables
are truncated before and after).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import re
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import _common as C  # first: puts the code under test on sys.path
import numpy as np
import pandas as pd
from sqlalchemy import text

# --- child: the real import path ----------------------------------------------------------

CHANGED = "re-import, values changed"
STEPS = ("accounts", "metrics", "metrics re-import", CHANGED)


def run_import(url: str, accounts_csv: str, metrics_csv: str, changed_csv: str) -> dict[str, Any]:
    try:
        import bot.scoring.importer as importer
    except ImportError:  # a checkout from before the move (--compare-root)
        import bot.importer as importer  # type: ignore[no-redef]

    from storage.db import make_engine

    rss_start = C.rss_mb()
    timer = C.Timer()
    read_csv, parse_accounts, parse_metrics = importer.read_csv, importer.parse_accounts, importer.parse_metrics

    def timed(name: str, fn: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with timer(name):
                return fn(*args, **kwargs)

        return wrapper

    importer.read_csv = timed("read csv", read_csv)
    importer.parse_accounts = timed("parse", parse_accounts)
    importer.parse_metrics = timed("parse", parse_metrics)
    engine = make_engine(url)
    with engine.connect():
        pass
    out: dict[str, Any] = {"rss_start_mb": rss_start}
    for name, fn, path in (
        ("accounts", importer.import_accounts, accounts_csv),
        ("metrics", importer.import_metrics, metrics_csv),
        ("metrics re-import", importer.import_metrics, metrics_csv),
        (CHANGED, importer.import_metrics, changed_csv),
    ):
        timer.splits.clear()
        cpu0, t0 = time.process_time(), time.perf_counter()
        rows = fn(engine, path, quiet=True)
        wall = time.perf_counter() - t0
        parse = timer.splits.get("parse", 0.0)
        read = timer.splits.get("read csv", 0.0)
        out[name] = {"rows": rows, "wall": wall, "cpu": time.process_time() - cpu0, "read": read,
                     "validate": parse - read, "write": wall - parse, "peak_rss_mb": C.peak_rss_mb()}  # fmt: skip
    engine.dispose()
    return out


# --- child: the naive baseline ------------------------------------------------------------

_METRIC = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def run_baseline(url: str, metrics_csv: str, sample: int, orm: bool) -> dict[str, Any]:
    """Row by row: parse and check each line in Python, then one INSERT ... ON CONFLICT per row
    (or, with `orm`, one `session.merge(MetricObservation(...))` per row)."""
    from storage.db import make_engine

    engine = make_engine(url)
    if orm:
        return _orm_baseline(engine, metrics_csv, sample)
    sql = text(
        "INSERT INTO metric_observation (account_id, day, metric, value) VALUES (:a, :d, :m, :v) "
        "ON CONFLICT (account_id, day, metric) DO UPDATE SET value = excluded.value"
    )
    lookup = text("SELECT id FROM account WHERE external_id = :e")
    t0 = time.perf_counter()
    done = 0
    ids: dict[str, int] = {}
    with engine.begin() as conn, open(metrics_csv, encoding="utf-8-sig", newline="") as fh:
        for line, rec in enumerate(csv.DictReader(fh), start=2):
            if done >= sample:
                break
            ext, day_s, metric, value_s = (rec[k].strip() for k in ("external_id", "date", "metric", "value"))
            if ext not in ids:  # one lookup per new account
                found = conn.execute(lookup, {"e": ext}).scalar()
                if found is None:
                    raise ValueError(f"line {line}: unknown account {ext}")
                ids[ext] = found
            day = date.fromisoformat(day_s)
            value = float(value_s)
            if not _METRIC.match(metric) or not math.isfinite(value):
                raise ValueError(f"line {line}: bad row")
            conn.execute(sql, {"a": ids[ext], "d": day, "m": metric, "v": value})
            done += 1
    wall = time.perf_counter() - t0
    engine.dispose()
    return {"rows": done, "wall": wall, "peak_rss_mb": C.peak_rss_mb()}


def _orm_baseline(engine: Any, metrics_csv: str, sample: int) -> dict[str, Any]:
    from sqlmodel import Session, select

    from storage.models import Account, MetricObservation

    t0 = time.perf_counter()
    done = 0
    ids: dict[str, int] = {}
    with Session(engine) as session, open(metrics_csv, encoding="utf-8-sig", newline="") as fh:
        for line, rec in enumerate(csv.DictReader(fh), start=2):
            if done >= sample:
                break
            ext, day_s, metric, value_s = (rec[k].strip() for k in ("external_id", "date", "metric", "value"))
            if ext not in ids:
                found = session.exec(select(Account.id).where(Account.external_id == ext)).first()
                if found is None:
                    raise ValueError(f"line {line}: unknown account {ext}")
                ids[ext] = found
            value = float(value_s)
            if not _METRIC.match(metric) or not math.isfinite(value):
                raise ValueError(f"line {line}: bad row")
            session.merge(MetricObservation(account_id=ids[ext], day=date.fromisoformat(day_s), metric=metric,
                                            value=value))  # fmt: skip
            done += 1
        session.commit()
    wall = time.perf_counter() - t0
    engine.dispose()
    return {"rows": done, "wall": wall, "peak_rss_mb": C.peak_rss_mb()}


# --- parent -------------------------------------------------------------------------------


def _child(kind: str, env_root: str | None = None, **spec: Any) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps({"kind": kind, **spec})]
    env = {**os.environ, **({"HEALTHBOT_CODE_ROOT": env_root} if env_root else {})}
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"{kind} child failed ({proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _head(root: str) -> str:
    """The newest migration of the checkout at `root`."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory(str(Path(root) / "storage" / "migrations")).get_current_head()
    assert head is not None
    return head


def _migrate(url: str, revision: str) -> None:
    """Move the database to `revision`, down or up (a before/after pair imports into each one's own schema)."""
    from alembic import command

    from storage.db import alembic_config, current_revision

    engine = C.make_engine(url)
    try:
        if current_revision(engine) != revision:
            cfg = alembic_config(engine)
            with engine.begin() as conn:
                cfg.attributes["connection"] = conn
                if int(revision) < int(current_revision(engine) or 0):
                    command.downgrade(cfg, revision)
                else:
                    command.upgrade(cfg, revision)
    finally:
        engine.dispose()


def write_files(folder: Path, n_accounts: int, days: int) -> tuple[Path, Path, int, float]:
    t0 = time.perf_counter()
    accounts = C.gen_accounts(n_accounts)
    accounts_csv = folder / "accounts.csv"
    accounts.to_csv(accounts_csv, index=False)
    metrics_csv = folder / "metrics.csv"
    rows = C.write_metrics_csv(metrics_csv, accounts["external_id"].tolist(), days)
    return accounts_csv, metrics_csv, rows, time.perf_counter() - t0


def changed_csv(metrics_csv: Path) -> Path:
    """The metrics file with every value changed (within its metric's range): a re-import that updates every row."""
    path = metrics_csv.with_name("metrics_changed.csv")
    if not path.exists():
        frame = pd.read_csv(metrics_csv)
        value, metric = frame["value"], frame["metric"]
        frame["value"] = np.select(
            [metric == "ticket_csat", metric == "champion_left"], [value % 5 + 1, 1 - value], value + 1
        )
        frame.to_csv(path, index=False, float_format="%g")
    return path


def bench_backend(label: str, url: str, files: tuple[Path, Path, int], args: argparse.Namespace) -> dict[str, Any]:
    accounts_csv, metrics_csv, rows = files
    print(f"[{label}] importing ...", flush=True)

    def best(root: str | None) -> dict[str, Any]:
        """The fastest of --repeat imports into empty tables, step by step."""
        runs = []
        for _ in range(max(args.repeat, 1)):
            engine = C.make_engine(url)
            C.truncate(engine)
            engine.dispose()
            runs.append(_child("import", root, url=url, accounts=str(accounts_csv), metrics=str(metrics_csv),
                               changed=str(changed_csv(metrics_csv))))  # fmt: skip
        return {step: min((r[step] for r in runs), key=lambda s: s["wall"]) if step != "rss_start_mb" else
                runs[0][step] for step in runs[0]}  # fmt: skip

    before = None
    if args.compare_root:  # the same import with another checkout's code, on its schema (e.g. without triggers)
        print(f"[{label}] importing with the code in {args.compare_root} ...", flush=True)
        _migrate(url, _head(args.compare_root))
        before = best(args.compare_root)
        _migrate(url, _head(args.code_root or str(C.ROOT)))
    run = best(args.code_root)
    print(f"[{label}] import {run['metrics']['wall']:.1f} s; baseline row-by-row loop ...", flush=True)
    base = {}
    for kind, sample in (("INSERT per row", args.baseline_rows), ("ORM merge per row", args.orm_rows)):
        engine = C.make_engine(url)
        with engine.begin() as conn:  # each baseline starts from an empty table too
            conn.execute(text("DELETE FROM metric_observation"))
        engine.dispose()
        base[kind] = _child("baseline", args.code_root, url=url, metrics=str(metrics_csv), sample=min(sample, rows),
                            orm=kind.startswith("ORM"))  # fmt: skip
    return {"label": label, "run": run, "base": base, "rows": rows, "before": before}


def report(results: list[dict[str, Any]], file_info: str) -> None:
    print()
    print(file_info)
    header = ["backend", "step", "rows", "wall s", "rows/s", "read csv s", "validate s", "write s", "peak RSS MB"]
    rows: list[list[object]] = []
    for r in results:
        versions = [("before", r["before"]), ("", r["run"])] if r["before"] else [("", r["run"])]
        for version, run in versions:
            for step in STEPS:
                s = run[step]
                rows.append([f"{r['label']} {version}".strip(), step, s["rows"], s["wall"], s["rows"] / s["wall"],
                             s["read"], s["validate"], s["write"], s["peak_rss_mb"]])  # fmt: skip
    print(C.table(rows, header))
    for r in results:
        if r["before"]:
            b, a = r["before"]["metrics"]["wall"], r["run"]["metrics"]["wall"]
            print(f"{r['label']}: 'before' = the same import with the code in the --compare-root checkout; "
                  f"metrics import {b:.2f} s -> {a:.2f} s ({b / a:.1f}x)")  # fmt: skip
    print()
    header = ["backend", "baseline", "sample rows", "sample s", "rows/s", "est. s for all rows", "import s",
              "speed-up x"]  # fmt: skip
    rows = []
    for r in results:
        s = r["run"]["metrics"]
        for kind, b in r["base"].items():
            rate = b["rows"] / b["wall"]
            est = r["rows"] / rate
            rows.append([r["label"], kind, b["rows"], b["wall"], rate, est, s["wall"], est / s["wall"]])
    print(f"Baselines (row by row, measured on a sample, extrapolated to all {results[0]['rows']:,} rows)")
    print(C.table(rows, header))
    print()
    for r in results:
        print(f"{r['label']}: importing process RSS at start {r['run']['rss_start_mb']:.0f} MB; peak RSS is the "
              "process high-water mark after each step")  # fmt: skip
    print(f"load average now: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (other work on this machine "
          "slows wall figures; ratios are measured in the same run)")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="PostgreSQL URL to benchmark as well (its tables are truncated)")
    parser.add_argument("--quick", action="store_true", help="CI size: 200,000 rows, 5,000-row baseline (< 60 s)")
    parser.add_argument("--accounts", type=int, help="accounts (default 5,000)")
    parser.add_argument("--days", type=int, help="days per account (default 25; 8 metrics a day)")
    parser.add_argument("--baseline-rows", type=int, help="rows for the INSERT-per-row baseline (default 20,000)")
    parser.add_argument("--orm-rows", type=int, help="rows for the ORM-merge-per-row baseline (default 5,000)")
    parser.add_argument("--repeat", type=int, default=1, help="import N times, report the fastest (default 1)")
    parser.add_argument("--no-sqlite", action="store_true", help="only PostgreSQL")
    parser.add_argument("--code-root", help="import with the code of this checkout instead of this one")
    parser.add_argument("--compare-root", help="also import with the code of this checkout (before/after figures)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        spec = json.loads(args.child)
        if spec["kind"] == "import":
            out = run_import(spec["url"], spec["accounts"], spec["metrics"], spec["changed"])
        else:
            out = run_baseline(spec["url"], spec["metrics"], spec["sample"], spec["orm"])
        print(json.dumps(out))
        return 0
    args.accounts = args.accounts or (1_000 if args.quick else 5_000)
    args.days = args.days or 25
    args.baseline_rows = args.baseline_rows or (5_000 if args.quick else 20_000)
    args.orm_rows = args.orm_rows or (1_000 if args.quick else 5_000)
    print(f"bench_import: load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    results = []
    with C.temp_dir("healthbot-bench-") as tmp:
        folder = Path(tmp)
        accounts_csv, metrics_csv, rows, gen_s = write_files(folder, args.accounts, args.days)
        size = metrics_csv.stat().st_size / 2**20
        file_info = (f"metrics.csv: {rows:,} rows ({args.accounts:,} accounts x {args.days} days x "
                     f"{len(C.METRICS)} metrics, {size:.0f} MiB), written with numpy in {gen_s:.1f} s")  # fmt: skip
        print(file_info, flush=True)
        files = (accounts_csv, metrics_csv, rows)
        if not args.no_sqlite:
            with C.sqlite_engine(folder) as engine:
                results.append(bench_backend("sqlite", str(engine.url), files, args))
        if C.is_postgres(args.database_url):
            url = C.normalise_url(args.database_url)
            with C.postgres_engine(url):
                results.append(bench_backend("postgresql", url, files, args))
        elif args.database_url:
            print(f"--database-url {args.database_url}: not PostgreSQL, skipped", file=sys.stderr)
    report(results, file_info)
    return 0


if __name__ == "__main__":
    sys.exit(main())
