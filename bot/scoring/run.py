"""Score accounts for a day or a range of days and store the results.

One load of the metric window, one vectorised pass per day, one bulk write.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from bot.scoring.engine import Panel, PartsRow, apply_hysteresis, day_number, days_between, score_day
from bot.scoring.scorecard import Scorecard
from storage import queries
from storage.models import utcnow


@dataclass
class RunSummary:
    days: list[date] = field(default_factory=list)
    scored: int = 0  # account-days scored
    skipped: int = 0  # account-days without enough data
    tiers: dict[str, int] = field(default_factory=dict)  # on the last day
    latest_metrics: date | None = None  # the latest day any metric was imported for
    beyond_data: list[date] = field(default_factory=list)  # asked-for days after it: not scored
    unreported_metrics: list[str] = field(default_factory=list)  # read by the scorecard, reported by nobody
    unscored: list[str] = field(default_factory=list)  # names of active accounts with too little data, last day


def score_range(
    engine: Engine,
    scorecard: Scorecard,
    start: date,
    end: date,
    progress: Callable[[int], None] = lambda _: None,
) -> RunSummary:
    """Score every account active on each day from `start` to `end` and store it.

    Each day only sees metrics up to and including that day; tiers carry hysteresis
    from the day before, and deltas compare with 7 and 30 days earlier. Days after the
    latest day with any metric are not scored: their data has not arrived, and reading
    it as "no logins" would invent a decline.
    """
    if end < start:
        raise ValueError(f"--to {end} is before --from {start}")
    asked = days_between(start, end)
    with engine.connect() as conn:
        latest = queries.latest_metric_day(conn)
        if latest is None or start > latest:
            return RunSummary(latest_metrics=latest, beyond_data=asked)
        end = min(end, latest)
        days = days_between(start, end)
        load_start = start - timedelta(days=scorecard.data.lookback_days - 1)
        everyone = queries.accounts_frame(conn)
        obs = queries.observations(conn, load_start, end, scorecard.metrics)
        # stored days before `start` the run reads: yesterday's tier for hysteresis, 7/30-day deltas
        history = queries.scores_on(conn, _history_days(start, len(days)))
    panel = Panel.from_long(everyone["id"].to_numpy(), obs, day_number(load_start), day_number(end), scorecard.metrics)
    reported = set(obs["metric"].unique().tolist())
    del obs
    score_by_day: dict[int, pd.Series] = {}
    tier_by_day: dict[int, pd.Series] = {}
    for dn, frame in history.groupby("day_num"):
        score_by_day[int(dn)] = frame.set_index("account_id")["score"]
        tier_by_day[int(dn)] = frame.set_index("account_id")["tier"]

    summary = RunSummary(
        days=days, latest_metrics=latest, beyond_data=asked[len(days) :],
        unreported_metrics=[m for m in scorecard.metrics if m not in reported],
    )  # fmt: skip
    for day in days:
        dn = day_number(day)
        active = active_on(everyone, day)
        result = score_day(scorecard, everyone, panel, day)
        result_rows = np.isin(result.frame["account_id"].to_numpy(), everyone.loc[active, "id"].to_numpy())
        frame = result.frame[result_rows].reset_index(drop=True)
        parts = [p for p, keep in zip(result.parts, result_rows, strict=True) if keep]
        ids = frame["account_id"]
        known = tier_by_day.get(dn - 1, pd.Series(dtype=object)).reindex(ids).to_numpy(dtype=object)
        previous = known.copy()
        previous[np.asarray(pd.isna(known), dtype=bool)] = None  # no tier yesterday
        frame["tier"] = apply_hysteresis(scorecard, frame["score"].to_numpy(), previous)
        for k in (7, 30):
            before = score_by_day.get(dn - k, pd.Series(dtype=float)).reindex(ids).to_numpy(dtype=float)
            frame[f"delta_{k}"] = np.round(frame["score"].to_numpy() - before, 1)
        score_by_day[dn] = frame.set_index("account_id")["score"]
        tier_by_day[dn] = frame.set_index("account_id")["tier"]
        score_by_day.pop(dn - 31, None)
        tier_by_day.pop(dn - 31, None)

        now = utcnow()
        n = len(frame)
        coverage = frame["coverage"].tolist()
        stored: list[PartsRow] = [{**part, "coverage": c} for part, c in zip(parts, coverage, strict=True)]
        rows = list(zip(
            frame["account_id"].tolist(), [day.isoformat()] * n, frame["score"].astype(float).tolist(),
            frame["tier"].tolist(), frame["card"].tolist(), frame["partial"].astype(bool).tolist(),
            _nullable(frame["delta_7"]), _nullable(frame["delta_30"]),
            stored, [now] * n, strict=True,
        ))  # fmt: skip
        with engine.begin() as conn:
            queries.save_scores(conn, rows)
            queries.delete_scores(conn, day, frame["account_id"].tolist())
        summary.scored += len(frame)
        summary.skipped += int(active.sum()) - len(frame)
        summary.tiers = frame["tier"].value_counts().to_dict()
        left_out = active & ~np.isin(everyone["id"].to_numpy(), ids.to_numpy())
        summary.unscored = sorted(everyone.loc[left_out, "name"].astype(str))
        progress(1)
    return summary


def active_on(accounts: pd.DataFrame, day: date) -> np.ndarray:
    start = pd.to_datetime(accounts["contract_start"], errors="coerce")
    churned = pd.to_datetime(accounts["churned_on"], errors="coerce")
    ts = pd.Timestamp(day)
    started = start.isna() | (start <= ts)
    not_churned = churned.isna() | (churned > ts)
    counted = (accounts["status"] == "active") | churned.notna()
    return (started & not_churned & counted).to_numpy()


def _history_days(start: date, n_days: int) -> list[date]:
    """The stored days before `start` a run of `n_days` days reads: the day before (tiers) and,
    for the first 7 / 30 days of the run, the days 7 / 30 days earlier (deltas)."""
    back = {1} | {k - i for k in (7, 30) for i in range(min(n_days, k))}
    return sorted(start - timedelta(days=b) for b in back)


def _nullable(values: pd.Series) -> list[float | None]:
    """Floats with NaN as None."""
    return [None if x != x else x for x in values.astype(float).tolist()]
