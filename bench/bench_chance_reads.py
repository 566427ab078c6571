"""What one Slack request costs that reads the chance to churn, at 50,000 accounts: App Home, `/health top by-mrr`,
`/health top`, `/health me` and a card, timed in process on the real services (a signed HTTP request adds the same
few milliseconds to each; bench_lookup.py measures those).

    python bench/bench_chance_reads.py [--database-url URL] [--accounts N] [--days D] [--repeat K]

Seeds N accounts and D days of scores with bench_lookup's data (once: a later run of the same size reuses them),
stores a chance fit for the default card, then times each read K times (the first read of a score day is timed
apart: a cache is filled by it) and prints p50 / max in milliseconds. Not part of the product.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_lookup import END, seed  # noqa: E402
from sqlalchemy import Engine, text  # noqa: E402

from bot.health import service as health  # noqa: E402
from bot.health.command import Mine, Top  # noqa: E402
from bot.health.lookup import AccountNames  # noqa: E402
from bot.home.service import home  # noqa: E402
from bot.home.values import HomePages  # noqa: E402
from bot.scoring import chance_fit  # noqa: E402
from bot.scoring.chance import Band, ChanceFit, ChanceMap, scorecard_key  # noqa: E402
from bot.scoring.scorecard import Scorecard, load_scorecard  # noqa: E402
from storage.db import make_engine, session_factory, unit_of_work, upgrade  # noqa: E402

USER = "U0CSM0001"  # one of bench_lookup's 40 CSMs: about 1,250 accounts


def store_fit(engine: Engine, card: Scorecard) -> None:
    """A fit for the card in use, made by hand (fitting needs outcomes the seeded data has not): four bands."""
    bands = ChanceMap((Band(0, 39, 400, 120), Band(40, 59, 800, 80), Band(60, 79, 1600, 32), Band(80, 100, 3200, 16)))
    fit = ChanceFit(as_of=END, horizon=90, scorecard_key=scorecard_key(card), snapshots=[date(2026, 3, 31)],
                    cases=6000, churned_cases=248, accounts=6000, churned_accounts=248, pooled=bands)  # fmt: skip
    with engine.connect() as conn:
        conn.execute(text("DELETE FROM churn_chance_fit"))
        conn.commit()
    chance_fit.save(engine, fit)


def timed(engine: Engine, read: Callable[[Any], object], repeat: int) -> tuple[float, float, float]:
    """(first, p50, max) milliseconds of `read(session)`, each in its own unit of work as a request is."""
    times = []
    for _ in range(repeat + 1):
        started = time.perf_counter()
        with unit_of_work(session_factory(engine)) as session:
            read(session)
        times.append(1000 * (time.perf_counter() - started))
    return times[0], statistics.median(times[1:]), max(times[1:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="sqlite:///bench_chance.db")
    parser.add_argument("--accounts", type=int, default=50_000)
    parser.add_argument("--days", type=int, default=8, help="days of daily scores (default 8: a week and the day)")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    engine = make_engine(args.database_url)
    upgrade(engine)
    seed(engine, args.accounts, args.days)
    card = load_scorecard()
    store_fit(engine, card)
    names = AccountNames()
    today = END
    reads: dict[str, Callable[[Any], object]] = {
        "App Home": lambda s: home(s, USER, HomePages(), card, today),
        "/health top by-mrr": lambda s: health.answer(s, Top(10, None, True), USER, card, today, names),
        "/health top": lambda s: health.answer(s, Top(10, None), USER, card, today, names),
        "/health me": lambda s: health.answer(s, Mine(), USER, card, today, names),
        "card": lambda s: health.card(s, 1, card, today),
    }
    print(f"{args.accounts:,} accounts, {args.days} days of scores, {args.database_url.split(':')[0]}; ms per request")
    print(f"  {'request':<22}{'first':>9}{'p50':>9}{'max':>9}")
    for label, read in reads.items():
        first, p50, most = timed(engine, read, args.repeat)
        print(f"  {label:<22}{first:>9.1f}{p50:>9.1f}{most:>9.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
