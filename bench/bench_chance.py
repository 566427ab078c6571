"""Benchmark: how well the chance to churn holds out (`bot.scoring.calibration.check`), on the demo and on each
synthetic kind (tests/synthetic.py), at 60 and 90 days.

    python bench/bench_chance.py [--kinds demo,silent,...] [--accounts N] [--seed S]

Each portfolio is imported into a fresh SQLite file through the CSV importer; the demo is read with the built-in
default scorecard, a synthetic one with the card `scorecard suggest --as-of END-60 --horizon 60` proposes for it.
Each row checks the chance as of END - horizon (every test outcome known): bands fitted on the snapshots before it,
one fold of accounts left out, predicting that fold. Figures only: cases and churned are the test accounts; the
Brier score must beat the base rate's; ECE is in percentage points.
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import UTC, date, timedelta
from pathlib import Path

import _common  # noqa: F401  (puts the code under test on sys.path)
from sqlalchemy import Engine

from bot.demo.run import write_demo_csvs
from bot.scoring import calibration
from bot.scoring.importer import import_accounts, import_metrics
from bot.scoring.scorecard import Scorecard, load_scorecard
from bot.scoring.suggest import suggest
from storage.db import make_engine, upgrade
from tests.synthetic import KINDS, make_portfolio

DEMO_END = date(2026, 12, 7)  # the demo README's day: its backtest is as of 2026-10-08 at 60 days
SYNTHETIC_END = date(2026, 12, 6)
SYNTHETIC_DAYS = 300
HORIZONS = (60, 90)


def load(kind: str, accounts: int, seed: int, folder: Path) -> tuple[Engine, Scorecard, date]:
    """A migrated SQLite file holding the portfolio, the card to read it with, and its last day."""
    engine = make_engine(f"sqlite:///{folder / 'bench.db'}")
    upgrade(engine)
    if kind == "demo":
        accounts_csv, metrics_csv, _ = write_demo_csvs(folder, 300, 180, DEMO_END)
        end = DEMO_END
    else:
        accounts_csv, metrics_csv = make_portfolio(kind, accounts, seed, SYNTHETIC_END, SYNTHETIC_DAYS).write(folder)
        end = SYNTHETIC_END
    import_accounts(engine, accounts_csv, quiet=True)
    import_metrics(engine, metrics_csv, quiet=True, tz=UTC)
    card = (
        load_scorecard() if kind == "demo" else suggest(engine, end - timedelta(days=60), 60, progress=False).scorecard
    )
    return engine, card, end


def rows(kind: str, accounts: int, seed: int, notes: list[str]) -> list[list[object]]:
    out: list[list[object]] = []
    with tempfile.TemporaryDirectory(prefix="bench_chance_") as tmp:
        engine, card, end = load(kind, accounts, seed, Path(tmp))
        try:
            for horizon in HORIZONS:
                cal = calibration.check(engine, card, end - timedelta(days=horizon), horizon)
                if cal.brier is None or cal.base_brier is None:
                    out.append([kind, horizon, cal.accounts, cal.churned, None, None, None, "-"])
                    notes.append(f"{kind} at {horizon} days: {cal.note}")
                    continue
                beats = "yes" if cal.brier < cal.base_brier else ("same" if cal.brier == cal.base_brier else "NO")
                ece = None if cal.ece is None else round(100 * cal.ece, 1)
                out.append(
                    [kind, horizon, cal.accounts, cal.churned, f"{cal.brier:.3f}", f"{cal.base_brier:.3f}", ece, beats]
                )
        finally:
            engine.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--kinds", default=",".join(("demo", *KINDS)), help="comma-separated: demo and/or " + ", ".join(KINDS)
    )
    parser.add_argument("--accounts", type=int, default=800, help="accounts per synthetic portfolio (the demo has 300)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the synthetic portfolios")
    args = parser.parse_args()
    table: list[list[object]] = []
    notes: list[str] = []
    for kind in args.kinds.split(","):
        table += rows(kind.strip(), args.accounts, args.seed, notes)
    header = ["portfolio", "horizon", "cases", "churned", "Brier", "base Brier", "ECE pts", "beats base"]
    print(_common.table(table, header))
    for note in notes:
        print(note)


if __name__ == "__main__":
    main()
