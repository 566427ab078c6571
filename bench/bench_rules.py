"""Benchmark: evaluating the alert rules for one day (`bot.alerts.signals.evaluate_frames`), in memory.

    python bench/bench_rules.py [--accounts N]

Synthetic frames (N accounts, 7 days of scores, 60 days of four metrics), the default rules; prints the
time the evaluation takes. The storage reads around it are measured by bench_scoring.py's read phases.
"""

from __future__ import annotations

import argparse
import time
from datetime import date, timedelta

import _common  # noqa: F401  (puts the code under test on sys.path)
import numpy as np
import pandas as pd

from bot.alerts.rules import load_rules
from bot.alerts.signals import evaluate_frames
from bot.scoring.panel import day_number
from bot.scoring.scorecard import load_scorecard

DAY = date(2026, 6, 30)
CARD = load_scorecard()


def run(n: int, span: int = 60) -> None:
    rng = np.random.default_rng(1)
    ids = np.arange(1, n + 1)
    accounts = pd.DataFrame({
        "id": ids, "segment": rng.choice(["enterprise", "smb"], n),
        "renewal_date": [DAY + timedelta(days=int(d)) for d in rng.integers(1, 400, n)],
    })  # fmt: skip
    rules = load_rules()
    score_days = 7
    tiers = np.array(CARD.tiers.order, dtype=object)
    scores = pd.DataFrame({
        "account_id": np.repeat(ids, score_days),
        "day_num": np.tile(day_number(DAY) - np.arange(score_days), n),
        "score": rng.uniform(0, 100, n * score_days),
        "tier": tiers[rng.integers(0, 4, n * score_days)],
    })  # fmt: skip
    metrics = ["logins", "active_users", "champion_left", "payment_days_overdue"]
    day_nums = day_number(DAY) - np.arange(span)
    obs = pd.DataFrame({
        "account_id": np.repeat(ids, span * len(metrics)),
        "day_num": np.tile(np.repeat(day_nums, len(metrics)), n),
        "metric": pd.Categorical.from_codes(np.tile(np.arange(len(metrics)), n * span), categories=metrics),
        "value": rng.poisson(3, n * span * len(metrics)).astype(float),
    })  # fmt: skip

    started = time.perf_counter()
    firings = evaluate_frames(accounts, scores, [obs], rules, load_scorecard(), DAY)
    took = time.perf_counter() - started

    print(f"evaluate_frames: {n:,} accounts, {len(obs):,} observation rows, {len(firings):,} firings in {took:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=50_000)
    run(parser.parse_args().accounts)


if __name__ == "__main__":
    main()
