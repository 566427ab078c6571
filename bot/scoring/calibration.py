"""The chance to churn held out: bands fitted on earlier snapshots, one fold of accounts left out, predicting
that fold (`fitting.folds`), fold by fold; scored by Brier score against the base rate's, a reliability table
and the expected calibration error. What `healthbot backtest` and the churn review's chart report."""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

import numpy as np
from sqlalchemy import Engine

from bot.scoring import chance, fitting
from bot.scoring.backtest import PastDay, Snapshot
from bot.scoring.chance import Cases, ChanceFit, _snapshot_days, day_cases, fit_cases, gather
from bot.scoring.chance_words import too_little_text
from bot.scoring.scorecard import Scorecard
from prompts import say

RELIABILITY_EDGES = (0.0, 0.02, 0.05, 0.10, 0.20, 0.40, 1.0)  # predicted-chance bands of the reliability table


@dataclass
class ReliabilityRow:
    """Test accounts whose predicted chance fell in [lo, hi): how many, the mean prediction, what happened."""

    lo: float
    hi: float
    accounts: int
    churned: int
    predicted: float | None  # mean predicted chance
    observed: float | None  # share that churned


@dataclass
class Calibration:
    accounts: int  # test accounts with a prediction
    churned: int
    without_chance: int  # test accounts a fold's fit could not predict (too little history without them)
    base_rate: float | None  # the training cases' churn rate: the prediction that knows nothing of the score
    brier: float | None
    base_brier: float | None  # Brier score of predicting the base rate for everyone: the one to beat
    ece: float | None  # expected calibration error: |predicted - observed| per reliability row, weighted by accounts
    rows: list[ReliabilityRow] = field(default_factory=list)
    training_cases: int = 0
    training_churned_accounts: int = 0
    snapshots: list[str] = field(default_factory=list)  # the training snapshot days
    as_of: str | None = None  # the day the test accounts were scored (`calibration`)
    horizon_days: int | None = None
    note: str | None = None  # why there are no figures, or fewer than the test accounts (`calibration_note`)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def reliability(p: np.ndarray, y: np.ndarray, edges: tuple[float, ...] = RELIABILITY_EDGES) -> list[ReliabilityRow]:
    rows = []
    for k, (lo, hi) in enumerate(itertools.pairwise(edges)):
        last = k == len(edges) - 2
        inside = (p >= lo) & ((p <= hi) if last else (p < hi))
        n = int(inside.sum())
        rows.append(
            ReliabilityRow(
                lo,
                hi,
                n,
                int(y[inside].sum()),
                float(p[inside].mean()) if n else None,
                float(y[inside].mean()) if n else None,
            )
        )
    return rows


def expected_calibration_error(rows: list[ReliabilityRow]) -> float | None:
    total = sum(r.accounts for r in rows)
    if not total:
        return None
    return sum(r.accounts * abs((r.predicted or 0) - (r.observed or 0)) for r in rows) / total


def held_out(train: Cases, test: Cases, snapshots: list[date] | None = None) -> Calibration:
    """Predict each test account from bands fitted without its fold of accounts, and score the predictions."""
    p = np.full(len(test), np.nan)
    base = np.full(len(test), np.nan)
    train_fold = fitting.folds(train.account_key) if len(train) else np.array([], dtype=np.int64)
    test_fold = fitting.folds(test.account_key) if len(test) else np.array([], dtype=np.int64)
    for f in range(fitting.FOLDS):
        rows = test_fold == f
        if not rows.any():
            continue
        seen = train.where(train_fold != f)
        fold_fit = fit_cases(seen, as_of=date.min, horizon=0, key="", snapshots=[])
        if fold_fit.enough:
            p[rows] = fold_fit.chances(test.card[rows], test.score[rows], test.segment[rows])
            base[rows] = seen.churned.mean()
    known = ~np.isnan(p)
    y = test.churned[known].astype(float)
    pk, bk = p[known], base[known]
    rows_ = reliability(pk, y) if known.any() else []
    return Calibration(
        accounts=int(known.sum()),
        churned=int(y.sum()),
        without_chance=int((~known).sum()),
        base_rate=float(train.churned.mean()) if len(train) else None,
        brier=float(np.mean((pk - y) ** 2)) if known.any() else None,
        base_brier=float(np.mean((bk - y) ** 2)) if known.any() else None,
        ece=expected_calibration_error(rows_),
        rows=rows_,
        training_cases=len(train),
        training_churned_accounts=train.churned_accounts(),
        snapshots=[d.isoformat() for d in (snapshots or [])],
    )


def check(
    engine: Engine, scorecard: Scorecard, as_of: date, horizon: int, scored: tuple[PastDay, Snapshot] | None = None
) -> Calibration:
    """The backtest's check: bands from the snapshots whose outcome was known by `as_of` (accounts of the fold left
    out), predicting the accounts scored as of `as_of`; `scored`: that day as the backtest already loaded and
    scored it (with the same horizon), so it is not scored twice."""
    days = _snapshot_days(engine, as_of, horizon)
    test = day_cases(as_of, *scored) if scored is not None else gather(engine, scorecard, [as_of], horizon)
    result = held_out(gather(engine, scorecard, days, horizon), test, days)
    result.as_of, result.horizon_days = as_of.isoformat(), horizon
    result.note = calibration_note(result, horizon)
    return result


def calibration_note(cal: Calibration, horizon: int) -> str | None:
    """Why a held-out check has no figures (nobody scored on its day; too little churn history before it, in the
    words of `too_little_text`), or has none for some accounts (a fold's fit without them had too little); None
    when every test account was predicted."""
    if cal.accounts and not cal.without_chance:
        return None
    if not cal.accounts and not cal.without_chance:
        return say("chance.check_nobody")
    training = ChanceFit(
        as_of=date.min,
        horizon=horizon,
        scorecard_key="",
        snapshots=[date.fromisoformat(d) for d in cal.snapshots],
        cases=cal.training_cases,
        churned_accounts=cal.training_churned_accounts,
    )
    if cal.training_cases < chance.MIN_CASES or cal.training_churned_accounts < chance.MIN_CHURNED:
        return too_little_text(training)
    return say(
        "chance.check_folds",
        without=cal.without_chance,
        accounts=cal.accounts + cal.without_chance,
        needed=chance.MIN_CHURNED,  # read when called: tests set them
        needed_cases=chance.MIN_CASES,
    )
