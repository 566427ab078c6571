"""Benchmark: how often the churn forecast's interval holds what happened, and what `forecast` and `forecast check`
cost at scale.

    python bench/bench_forecast.py [--sources demo,silent,...] [--seeds 1] [--accounts 50000] [--skip-windows]
                                   [--skip-scale] [--checks 6]

Windows: the demo (300 accounts, 180 days to 2026-12-07) and tests/synthetic.py's kinds (800 accounts, 300 days to
2026-12-06; scored with the card `healthbot scorecard suggest` makes as of the first window's day, since each kind has
metrics of its own), each in a temporary SQLite file. Per source, seven overlapping backtested windows (as of end - 105,
- 90, - 75, - 60 for 60 days; end - 75, - 60, - 45 for 30 days), made as `healthbot forecast --as-of D --horizon H`
makes them (`service.chances_for`, `interval.bands_of`, `service.outlooks`), against the accounts' `churned_on`.

Scale: `--accounts` accounts (bench/_common.gen_accounts) with one day of stored scores (load_history) and the
demo's chance fit stored as today's (no refit: the fit's cost is the daily run's, not the forecast's); then
`healthbot forecast` and `healthbot forecast check` run as commands (a process each, as a user runs them) after
`--checks` forecasts of the whole book are stored (half over, half running), and `service.check` in process.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import _common
import numpy as np
from sqlalchemy import Engine

from bot.demo.run import write_demo_csvs
from bot.forecast import service
from bot.forecast.interval import bands_of
from bot.forecast.window import Window, window
from bot.scoring import chance, chance_fit
from bot.scoring.backtest import backtest
from bot.scoring.importer import import_accounts, import_metrics
from bot.scoring.run import team_today
from bot.scoring.scorecard import Scorecard, load_scorecard
from bot.scoring.suggest import propose
from storage.db import session_factory, unit_of_work
from tests.synthetic import KINDS, make_portfolio

DEMO_END = date(2026, 12, 7)
SYNTHETIC_END = date(2026, 12, 6)
WINDOWS = ((105, 60), (90, 60), (75, 60), (60, 60), (75, 30), (60, 30), (45, 30))  # (days before the end, horizon)
CARD = load_scorecard()


@dataclasses.dataclass
class Row:
    source: str
    as_of: date
    days: int
    outlook: service.Outlook
    churned: int
    mrr_lost: float
    half: int  # the fewest accounts holding half of the book's MRR (service.half_of_mrr)

    def where(self, value: float, low: float, high: float) -> str:
        return "inside" if low - 0.005 <= value <= high + 0.005 else ("ABOVE" if value > high else "below")


def load_source(engine: Engine, source: str, seed: int, folder: Path) -> date:
    """Import the source's accounts and metrics; returns its last day."""
    if source == "demo":
        accounts_csv, metrics_csv, _ = write_demo_csvs(folder, 300, 180, DEMO_END)
        end = DEMO_END
    else:
        accounts_csv, metrics_csv = make_portfolio(source, 800, seed, end=SYNTHETIC_END, days=300).write(folder)
        end = SYNTHETIC_END
    import_accounts(engine, accounts_csv, quiet=True)
    import_metrics(engine, metrics_csv, quiet=True)
    return end


def churned_on(engine: Engine) -> dict[int, date]:
    with unit_of_work(session_factory(engine)) as session:
        from storage import chances as forecast_store

        return forecast_store.churned_between(session, date(1900, 1, 1), date(2999, 1, 1))


def suggested(engine: Engine, as_of: date) -> Scorecard:
    """The card `healthbot scorecard suggest --as-of D --horizon 60` writes: the kinds have their own metrics."""
    return propose(engine, as_of, 60, progress=False).scorecard


def windows(source: str, seed: int) -> list[Row]:
    rows = []
    with _common.temp_dir("bench_forecast_") as tmp, _common.sqlite_engine(Path(tmp)) as engine:
        end = load_source(engine, source, seed, Path(tmp) / "data")
        gone = churned_on(engine)
        card = CARD if source == "demo" else suggested(engine, end - timedelta(days=max(b for b, _ in WINDOWS)))
        for back, days in WINDOWS:
            as_of = end - timedelta(days=back)
            fit, book = service.chances_for(engine, card, Window(as_of, days), end)
            bands = bands_of(fit, book.card, book.score, book.segment)
            total, _ = service.outlooks(book, bands, service.LEVEL)
            lost = np.array([as_of < gone.get(int(i), date.min) <= as_of + timedelta(days=days) for i in book.ids])
            mrr = np.nan_to_num(book.mrr)
            name = source if source == "demo" else f"{source}/{seed}"
            rows.append(
                Row(name, as_of, days, total, int(lost.sum()), float(mrr[lost].sum()), service.half_of_mrr(mrr))
            )
            print(f"  {name} as of {as_of} ({days} d) done", file=sys.stderr, flush=True)
        if source == "demo":
            took = []
            for _ in range(3):  # fastest of 3
                t0 = time.perf_counter()
                backtest(engine, card, end - timedelta(days=60), 60, with_calibration=True)
                took.append(time.perf_counter() - t0)
            print(f"healthbot backtest --as-of {end - timedelta(days=60)} --horizon 60 (with its calibration), "
                  f"in process on the demo: {min(took):.2f} s (fastest of 3)\n")  # fmt: skip
    return rows


def print_windows(rows: list[Row]) -> None:
    table = []
    for r in rows:
        o = r.outlook
        table.append([
            r.source, str(r.as_of), r.days, o.accounts,
            f"{o.expected_accounts:.1f}", f"{o.accounts_low}-{o.accounts_high}", r.churned,
            r.where(r.churned, o.accounts_low, o.accounts_high),
            f"{o.expected_mrr:,.0f}", f"{o.mrr_low:,.0f}-{o.mrr_high:,.0f}", f"{r.mrr_lost:,.0f}",
            r.where(r.mrr_lost, o.mrr_low, o.mrr_high), r.half,
        ])  # fmt: skip
    header = ["window", "as of", "days", "accts", "exp", "80 % interval", "churned", "accounts",
              "exp MRR", "80 % interval (MRR)", "MRR lost", "MRR", "half MRR in"]  # fmt: skip
    print(_common.table(table, header))
    print()
    summary = []
    for source in dict.fromkeys(r.source.split("/")[0] for r in rows):
        mine = [r for r in rows if r.source.split("/")[0] == source]
        acc = [r.where(r.churned, r.outlook.accounts_low, r.outlook.accounts_high) for r in mine]
        mrr = [r.where(r.mrr_lost, r.outlook.mrr_low, r.outlook.mrr_high) for r in mine]
        summary.append([source, len(mine), _tally(acc), _tally(mrr)])
    acc = [r.where(r.churned, r.outlook.accounts_low, r.outlook.accounts_high) for r in rows]
    mrr = [r.where(r.mrr_lost, r.outlook.mrr_low, r.outlook.mrr_high) for r in rows]
    summary.append(["all", len(rows), _tally(acc), _tally(mrr)])
    print(_common.table(summary, ["source", "windows", "accounts inside (above, below)", "MRR inside (above, below)"]))


def _tally(where: list[str]) -> str:
    return f"{where.count('inside')}/{len(where)} ({where.count('ABOVE')}, {where.count('below')})"


# -- scale ------------------------------------------------------------------------------------------------------------


def demo_fit(folder: Path) -> chance.ChanceFit:
    with _common.sqlite_engine(folder, "demo.db") as engine:
        load_source(engine, "demo", 0, folder / "data")
        return chance.fit(engine, CARD, DEMO_END)


def run_cli(args: list[str], url: str) -> tuple[float, str]:
    env = {**os.environ, "DATABASE_URL": url}
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", *args], env=env, cwd=_common.ROOT, capture_output=True, text=True
    )
    took = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {done.stderr[-2000:]}")
    return took, done.stdout


def scale(n: int, checks: int, url: str | None) -> None:
    today = team_today()
    with _common.temp_dir("bench_forecast_") as tmp:
        fit = demo_fit(Path(tmp))
        engines = _common.postgres_engine(url) if url else _common.sqlite_engine(Path(tmp))
        with engines as engine:
            t0 = time.perf_counter()
            ids = _common.load_accounts(engine, _common.gen_accounts(n, end=today))
            _common.load_history(engine, ids, [today])
            chance_fit.save(engine, dataclasses.replace(fit, as_of=today, id=None, fitted_at=None))
            setup = time.perf_counter() - t0
            t0 = time.perf_counter()
            _, book = service.chances_for(engine, CARD, window(today), today)
            t_chances = time.perf_counter() - t0
            t0 = time.perf_counter()
            service.outlooks(book, bands_of(fit, book.card, book.score, book.segment), service.LEVEL)
            t_simulate = time.perf_counter() - t0
            t_store = []
            for k in range(checks):  # stored forecasts of the whole book: half over, half still running
                back = 200 + 10 * k if k < checks // 2 else 10 * k
                t0 = time.perf_counter()
                service.store(engine, Window(today - timedelta(days=back), 90), fit, book)
                t_store.append(time.perf_counter() - t0)
            db_url = url or engine.url.render_as_string(hide_password=False)
            t_fc, _ = run_cli(["forecast"], db_url)
            t_check, out = run_cli(["forecast", "check"], db_url)
            t_service, t_latest = [], []
            for _ in range(3):  # fastest of 3: on a shared machine other work only ever adds time
                with unit_of_work(session_factory(engine)) as session:
                    t0 = time.perf_counter()
                    over, running = service.check(session, today)
                    t_service.append(time.perf_counter() - t0)
                with unit_of_work(session_factory(engine)) as session:
                    t0 = time.perf_counter()
                    service.latest_check(session, today)
                    t_latest.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", "import bot.cli"], cwd=_common.ROOT, check=True)
            t_import = time.perf_counter() - t0
    print(f"{n:,} accounts, {len(book.ids):,} scored; setup {setup:.1f} s (not measured); load average "
          f"{os.getloadavg()[0]:.1f}")  # fmt: skip
    rows = [
        ["service.chances_for (stored fit, scores read)", t_chances],
        ["service.outlooks (the simulation: 4,000 draws)", t_simulate],
        [f"service.store (simulate, write; fastest of {len(t_store)})", min(t_store)],
        ["healthbot forecast (process)", t_fc],
        ["healthbot forecast check (process)", t_check],
        [f"service.check ({len(over)} over, {len(running)} running; fastest of 3)", min(t_service)],
        ["service.latest_check (the churn review; fastest of 3)", min(t_latest)],
        ["python -c 'import bot.cli' (in both processes)", t_import],
    ]
    print(_common.table([[name, f"{s:.2f}"] for name, s in rows], ["wall time", "s"]))
    print(next((line for line in out.splitlines() if "checked" in line), "-"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sources", default=",".join(("demo", *KINDS)))
    ap.add_argument("--seeds", default="1", help="synthetic seeds, comma-separated")
    ap.add_argument("--accounts", type=int, default=50_000)
    ap.add_argument("--checks", type=int, default=6, help="stored forecasts of the whole book for the check")
    ap.add_argument("--database-url", help="PostgreSQL scratch database for the scale part (default SQLite)")
    ap.add_argument("--skip-windows", action="store_true")
    ap.add_argument("--skip-scale", action="store_true")
    args = ap.parse_args()
    if not args.skip_windows:
        rows = []
        for source in args.sources.split(","):
            seeds = [0] if source == "demo" else [int(s) for s in args.seeds.split(",")]
            for seed in seeds:
                rows += windows(source, seed)
        print_windows(rows)
        print()
    if not args.skip_scale:
        scale(args.accounts, args.checks, args.database_url)


if __name__ == "__main__":
    main()
