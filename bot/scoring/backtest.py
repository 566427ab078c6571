"""Backtest: does the score predict churn? Score as of a past day with only the data known
then, and compare with who churned within the horizon after it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from bot.scoring.engine import DayScores, Panel, day_number, score_day
from bot.scoring.run import active_on
from bot.scoring.scorecard import Scorecard
from storage import queries

FEW = 5  # fewer churned (or retained) accounts than this make the AUC a rough sign


@dataclass
class TierRow:
    tier: str
    label: str
    accounts: int
    churned: int
    churn_rate: float | None
    lift: float | None  # churn rate over the base rate


@dataclass
class BacktestResult:
    as_of: str
    horizon_days: int
    accounts: int  # scored accounts active on as_of
    unscored: int  # active but too little data to score
    churned: int  # scored accounts that churned within the horizon
    base_rate: float | None
    auc: float | None  # ROC AUC of (100 - score) for churn; 0.5 = no better than chance
    riskiest_tier_lift: float | None
    tiers: list[TierRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what limits these numbers, in words

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Snapshot:
    """Scores as of a day, with the churn label for the horizon after it."""

    scores: DayScores
    churned: np.ndarray  # bool per scored account
    unscored: int
    latest_metrics: date | None = None  # the latest day with any metric in the database


def snapshot(engine: Engine, scorecard: Scorecard, as_of: date, horizon: int) -> Snapshot:
    """Score every account active on `as_of` from data up to `as_of` only.

    After the latest day with metrics nobody is scored: the missing days would read as no activity.
    """
    start = as_of - timedelta(days=scorecard.data.lookback_days - 1)
    with engine.connect() as conn:
        accounts = queries.accounts_frame(conn)
        latest = queries.latest_metric_day(conn)
        beyond_data = latest is None or as_of > latest  # read nothing: no account gets scored
        obs = queries.observations(conn, start, start - timedelta(days=1) if beyond_data else as_of, scorecard.metrics)
    accounts = accounts[active_on(accounts, as_of)].reset_index(drop=True)
    panel = Panel.from_long(accounts["id"].to_numpy(), obs, day_number(start), day_number(as_of), scorecard.metrics)
    scores = score_day(scorecard, accounts, panel, as_of)
    churned_on = pd.to_datetime(accounts.set_index("id")["churned_on"], errors="coerce")
    end = pd.Timestamp(as_of + timedelta(days=horizon))
    label = (churned_on > pd.Timestamp(as_of)) & (churned_on <= end)
    churned = label.reindex(scores.frame["account_id"]).fillna(False).to_numpy(dtype=bool)
    return Snapshot(scores, churned, unscored=len(accounts) - len(scores.frame), latest_metrics=latest)


def roc_auc(risk: np.ndarray, positive: np.ndarray) -> float | None:
    """Probability that a random churner has a higher risk than a random retained account (ties count half)."""
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = pd.Series(risk).rank(method="average").to_numpy()
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def evaluate(scorecard: Scorecard, snap: Snapshot, as_of: date, horizon: int) -> BacktestResult:
    frame = snap.scores.frame
    churned = snap.churned
    n = len(frame)
    base = churned.mean() if n else None
    tiers = []
    for tier in scorecard.tiers.order:
        in_tier = (frame["raw_tier"] == tier).to_numpy()
        count, hits = int(in_tier.sum()), int(churned[in_tier].sum())
        rate = hits / count if count else None
        lift = rate / base if rate is not None and base else None
        tiers.append(TierRow(tier, scorecard.tiers.label(tier), count, hits, _r(rate), _r(lift)))
    riskiest = next((t for t in reversed(tiers) if t.accounts), None)
    return BacktestResult(
        as_of=as_of.isoformat(),
        horizon_days=horizon,
        accounts=n,
        unscored=snap.unscored,
        churned=int(churned.sum()),
        base_rate=_r(base),
        auc=_r(roc_auc(100 - frame["score"].to_numpy(), churned)),
        riskiest_tier_lift=riskiest.lift if riskiest else None,
        tiers=tiers,
        notes=_notes(snap, n, int(churned.sum()), as_of, horizon),
    )


def _notes(snap: Snapshot, scored: int, churned: int, as_of: date, horizon: int) -> list[str]:
    """Why a figure is missing or may mislead, so nobody reads more into it than it holds."""
    latest = snap.latest_metrics
    notes = []
    if latest is None:
        notes.append("there are no metrics yet: import some with `healthbot import metrics FILE.csv`")
    elif as_of > latest:
        notes.append(f"the latest metrics are for {latest}: backtest as of that day or earlier")
    elif scored == 0:
        notes.append(f"no account had enough data up to {as_of} to be scored: pick a later --as-of")
    if scored and churned == 0:
        notes.append("AUC undefined: no scored account churned within the horizon")
    elif scored and churned == scored:
        notes.append("AUC undefined: every scored account churned within the horizon")
    elif scored and min(churned, scored - churned) < FEW:
        notes.append(
            f"only {churned} churned and {scored - churned} stayed: with so few, the AUC and lifts are a rough sign"
        )
    end = as_of + timedelta(days=horizon)
    if latest is not None and latest < end and as_of <= latest:
        notes.append(
            f"the horizon runs to {end}, past the latest metrics ({latest}): "
            "churn after that may not be recorded yet, so churn counts may be low"
        )
    return notes


def backtest(engine: Engine, scorecard: Scorecard, as_of: date, horizon: int) -> BacktestResult:
    return evaluate(scorecard, snapshot(engine, scorecard, as_of, horizon), as_of, horizon)


def _r(x: float | None) -> float | None:
    return None if x is None or np.isnan(x) else round(float(x), 4)


def format_result(result: BacktestResult, title: str = "Backtest") -> str:
    """The human-readable table the CLI prints."""
    auc = "n/a (see below)" if result.auc is None else f"{result.auc:.3f}"
    lines = [
        f"{title}: as of {result.as_of}, churn within {result.horizon_days} days",
        f"  accounts scored {result.accounts:,} (not scored, too little data: {result.unscored:,}); "
        f"churned {result.churned:,}"
        + (f" = base rate {result.base_rate:.1%}" if result.base_rate is not None else ""),
        f"  ROC AUC of (100 - score) for churn: {auc}",
        f"  {'tier':<14}{'accounts':>9}{'churned':>9}{'rate':>8}{'lift':>7}",
    ]
    for t in result.tiers:
        rate = "–" if t.churn_rate is None else f"{t.churn_rate:.1%}"
        lift = "–" if t.lift is None else f"{t.lift:.1f}x"
        lines.append(f"  {t.label:<14}{t.accounts:>9,}{t.churned:>9,}{rate:>8}{lift:>7}")
    lines += [f"  note: {note}" for note in result.notes]
    return "\n".join(lines)
