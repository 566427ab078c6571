"""Score accounts for a day or a range of days and store the results.

One load of the metric window, one vectorised pass per day, one bulk write. No day after today is
scored, and no metric dated after the day being scored is read: a row dated in the future (stored before
import, ingest and sync refused them, or written directly) is counted for the run's note, never scored.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from bot.scoring import derived
from bot.scoring.engine import ReasonCache, apply_hysteresis, parts_json, score_day
from bot.scoring.importer import CLOCK_SLACK
from bot.scoring.panel import day_number, days_between
from bot.scoring.scorecard import Scorecard
from prompts import say
from storage import accounts as account_store
from storage import scores
from storage.types import AccountStatus, utcnow


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
    today: date | None = None  # the team's today: no day after it is scored
    after_today: list[date] = field(default_factory=list)  # asked-for days after today: not scored
    future_rows: int = 0  # stored metric rows dated after today (plus the day of slack): not read
    future_accounts: list[tuple[str, date, date, int]] = field(default_factory=list)  # the most: (ext, first, last, n)
    future_scores: int = 0  # stored scores dated after today, removed


def score_range(
    engine: Engine,
    scorecard: Scorecard,
    start: date,
    end: date,
    progress: Callable[[int], None] = lambda _: None,
    *,
    today: date | None = None,
    use_cache: bool = True,
) -> RunSummary:
    """Score every account active on each day from `start` to `end` and store it.

    Each day only sees metrics up to and including that day; tiers carry hysteresis
    from the day before, and deltas compare with 7 and 30 days earlier. Days after the
    latest day with any metric are not scored: their data has not arrived, and reading
    it as "no logins" would invent a decline. Days after `today` (default `team_today()`)
    are not scored either; metric rows dated after it are counted in the summary, and
    scores dated after it (stored before this rule) are removed. `use_cache=False`: every day of the metric
    window is read from the database, none from the derived copy (`bot.scoring.derived`).
    """
    if end < start:
        raise ValueError(f"--to {end} is before --from {start}")
    today = today if today is not None else team_today()
    asked = [d for d in days_between(start, end) if d <= today]
    with engine.begin() as conn:
        future_rows, future_accounts = scores.observations_after(conn, today + CLOCK_SLACK)
        future_scores = scores.delete_scores_after(conn, today)
    base = RunSummary(
        today=today,
        after_today=[d for d in days_between(start, end) if d > today],
        future_rows=future_rows,
        future_accounts=future_accounts,
        future_scores=future_scores,
    )
    with engine.connect() as conn:
        latest = scores.latest_metric_day(conn, until=today)
        base.latest_metrics = latest
        if not asked or latest is None or start > latest:
            base.beyond_data = asked
            return base
        end = min(end, latest)
        days = days_between(start, end)
        load_start = start - timedelta(days=scorecard.data.lookback_days - 1)
        everyone = account_store.accounts_frame(conn)
        # stored days before `start` the run reads: yesterday's tier for hysteresis, 7/30-day deltas
        history = scores.scores_on(conn, _history_days(start, len(days)))
    # the metric window: from the derived copy where its days are unchanged, the rest from the database
    panel, reported = derived.load_panel(
        engine, everyone["id"].to_numpy(), load_start, end, scorecard.metrics, use_cache=use_cache
    )
    score_by_day: dict[int, pd.Series] = {}
    tier_by_day: dict[int, pd.Series] = {}
    for dn, frame in history.groupby("day_num"):
        score_by_day[int(dn)] = frame.set_index("account_id")["score"]
        tier_by_day[int(dn)] = frame.set_index("account_id")["tier"]

    summary = base
    summary.days, summary.beyond_data = days, asked[len(days) :]
    summary.unreported_metrics = [m for m in scorecard.metrics if m not in reported]
    reasons = ReasonCache()  # reasons worded once for the whole range
    for day in days:
        dn = day_number(day)
        active = active_on(everyone, day)
        result = score_day(scorecard, everyone, panel, day, reasons)
        result_rows = np.isin(result.frame["account_id"].to_numpy(), everyone.loc[active, "id"].to_numpy())
        frame = result.frame[result_rows].reset_index(drop=True)
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
        stored = parts_json(result.parts, np.flatnonzero(result_rows).tolist(), frame["coverage"].tolist())
        rows = list(
            zip(
                frame["account_id"].tolist(),
                [day.isoformat()] * n,
                frame["score"].astype(float).tolist(),
                frame["tier"].tolist(),
                frame["card"].tolist(),
                frame["partial"].astype(bool).tolist(),
                _nullable(frame["delta_7"]),
                _nullable(frame["delta_30"]),
                stored,
                [now] * n,
                strict=True,
            )
        )
        with engine.begin() as conn:
            scores.replace_scores(conn, day, rows)
        summary.scored += len(frame)
        summary.skipped += int(active.sum()) - len(frame)
        summary.tiers = frame["tier"].value_counts().to_dict()
        left_out = active & ~np.isin(everyone["id"].to_numpy(), ids.to_numpy())
        summary.unscored = sorted(everyone.loc[left_out, "name"].astype(str))
        progress(1)
    return summary


def team_today(now: datetime | None = None) -> date:
    """Today in the team's time zone (TIMEZONE, validated by bot.settings when the command started): no day after
    it is scored, and backtest and suggest read no metric dated later (stored before the rule that refuses it, or
    a clock-skew tomorrow)."""
    tz = ZoneInfo(os.environ.get("TIMEZONE") or "UTC")
    return (now or datetime.now(tz)).astimezone(tz).date()


def active_on(accounts: pd.DataFrame, day: date) -> np.ndarray:
    start = pd.to_datetime(accounts["contract_start"], errors="coerce")
    churned = pd.to_datetime(accounts["churned_on"], errors="coerce")
    ts = pd.Timestamp(day)
    started = start.isna() | (start <= ts)
    not_churned = churned.isna() | (churned > ts)
    counted = (accounts["status"] == AccountStatus.ACTIVE) | churned.notna()
    return (started & not_churned & counted).to_numpy()


def _history_days(start: date, n_days: int) -> list[date]:
    """The stored days before `start` a run of `n_days` days reads: the day before (tiers) and,
    for the first 7 / 30 days of the run, the days 7 / 30 days earlier (deltas)."""
    back = {1} | {k - i for k in (7, 30) for i in range(min(n_days, k))}
    return sorted(start - timedelta(days=b) for b in back)


def _nullable(values: pd.Series) -> list[float | None]:
    """Floats with NaN as None."""
    return [None if x != x else x for x in values.astype(float).tolist()]


def future_note(summary: RunSummary) -> str | None:
    """The one line a run says about what is dated after today: the stored metric rows it did not read (how
    many, whose, how to remove them) and the future scores it removed; None when there are neither."""
    if summary.today is None or not (summary.future_rows or summary.future_scores):
        return None
    if not summary.future_rows:
        return say("metrics.future.scores_only", n=summary.future_scores, today=summary.today)
    n = summary.future_rows
    rows = say("metrics.future.row_one") if n == 1 else say("metrics.future.row_many", n=n)
    where = ", ".join(
        say("metrics.future.account_one", account=ext, day=first)
        if count == 1
        else say("metrics.future.account_many", account=ext, first=first, last=last, n=count)
        for ext, first, last, count in summary.future_accounts
    )
    shown = sum(count for *_, count in summary.future_accounts)
    if n > shown:
        where += say("metrics.future.more", n=n - shown)
    removed = say("metrics.future.scores_removed", n=summary.future_scores) if summary.future_scores else ""
    return say(
        "metrics.future.stored",
        rows=rows,
        today=summary.today,
        where=where,
        last=summary.today + CLOCK_SLACK,
        removed=removed,
    )
