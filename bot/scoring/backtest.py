"""Backtest: does the score predict churn? Score as of a past day with only the data known
then, and compare with who churned within the horizon after it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from bot.scoring import formats
from bot.scoring.engine import DayScores, apply_hysteresis, score_day
from bot.scoring.measures import DayInputs
from bot.scoring.panel import Panel, day_number, days_between
from bot.scoring.run import active_on, team_today
from bot.scoring.scorecard import Scorecard
from prompts import say
from prompts.formats import day_name, listing
from storage import accounts as account_store
from storage import scores as score_store

if TYPE_CHECKING:
    from bot.scoring.calibration import Calibration

FEW = 5  # fewer churned (or retained) accounts than this make the AUC a rough sign
NAMES_SHOWN = 8  # metric names listed in a note before "and N more"
STABILITY_DAYS = 28  # days (four of each weekday) whose tier changes from the day before the backtest counts
FLIPPING = 0.10  # a weekday on which this share of accounts changes tier from the day before: the card flips
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")  # keys: shown by day_name


@dataclass
class TierRow:
    tier: str
    label: str
    accounts: int
    churned: int
    churn_rate: float | None
    lift: float | None  # churn rate over the base rate


@dataclass
class CapRow:
    """A cap of the scorecard and the scored accounts it held (its conditions held) as of the day."""

    card: str
    when: str
    at_most: float
    accounts: int
    churned: int
    churn_rate: float | None
    card_accounts: int = 0  # scored accounts of its card: a card that scored nobody gets no line


@dataclass
class WeekdayStability:
    weekday: str
    days: int  # days of this weekday compared with the day before
    accounts: int  # account-days scored on such a day and the day before it
    changes: int  # of those, how many changed tier
    share: float | None  # changes / accounts


@dataclass
class Stability:
    """How often accounts change tier from one day to the next over the days up to the as-of day, by weekday: tiers
    as the daily run keeps them (with hysteresis), accounts active that day with their fields as of the as-of day."""

    first_day: str  # the first day compared with the day before it
    last_day: str
    days: int
    accounts: int
    changes: int
    share: float | None
    weekdays: list[WeekdayStability] = field(default_factory=list)  # Monday first
    warning: str | None = None  # when a weekday's share reaches FLIPPING: the card flips


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
    caps: list[CapRow] = field(default_factory=list)
    stability: Stability | None = None  # `healthbot backtest` only (not the backtests inside suggest and tune)
    calibration: Calibration | None = None  # the chance to churn held out (`healthbot backtest` only)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Snapshot:
    """Scores as of a day, with the churn label for the horizon after it."""

    scores: DayScores
    churned: np.ndarray  # bool per scored account
    unscored: int
    latest_metrics: date | None = None  # the latest day with any metric in the database
    # what the notes need to say why nothing (or little) could be scored; see PastDay
    first_metrics: date | None = None
    latest_churn: date | None = None
    reported_metrics: list[str] | None = None
    most_days: int = 0  # days with metrics of the best-covered active account, in the lookback up to the day
    enough_days: int = 0  # active accounts with at least data.min_days_of_data such days

    def subset(self, keep: np.ndarray, unscored: int = 0) -> Snapshot:
        """The same snapshot for the scored accounts where `keep` (bool per scored account) holds, e.g. the
        accounts a fit did not see; what the notes read about the day's data stays that of the whole day."""
        idx = np.flatnonzero(keep)
        scores = DayScores(self.scores.frame.iloc[idx].reset_index(drop=True), [self.scores.parts[i] for i in idx])
        return replace(self, scores=scores, churned=self.churned[idx], unscored=unscored)


@dataclass
class PastDay:
    """What a past day's scoring may read (accounts active that day, their fields as known then, metrics up to
    that day), and who churned within the horizon after it (per row of `inputs.accounts`)."""

    inputs: DayInputs
    churned: np.ndarray
    latest_metrics: date | None  # the latest day with any metric in the database
    first_metrics: date | None = None  # the first day with any metric in the database
    latest_churn: date | None = None  # the latest churned_on recorded for any account
    reported_metrics: list[str] | None = None  # every metric in the data; looked up only when none was loaded


def load_past_day(engine: Engine, metrics: list[str], as_of: date, horizon: int, lookback: int) -> PastDay:
    """Load `lookback` days of `metrics` up to `as_of` for every account active on `as_of`: nothing later.

    After the latest day with metrics nothing is read: the missing days would read as no activity.
    """
    start = as_of - timedelta(days=lookback - 1)
    with engine.connect() as conn:
        accounts = account_store.accounts_as_of(conn, as_of)
        latest = score_store.latest_metric_day(conn, until=team_today())
        beyond_data = latest is None or as_of > latest
        obs = score_store.observations(conn, start, start - timedelta(days=1) if beyond_data else as_of, metrics)
        first = score_store.first_metric_day(conn)
        reported = score_store.reported_metrics(conn) if obs.empty else None
    latest_churn = pd.to_datetime(accounts["churned_on"], errors="coerce").max()
    accounts = accounts[active_on(accounts, as_of)].reset_index(drop=True)
    panel = Panel.from_long(accounts["id"].to_numpy(), obs, day_number(start), day_number(as_of), metrics)
    churned_on = pd.to_datetime(accounts["churned_on"], errors="coerce")
    label = (churned_on > pd.Timestamp(as_of)) & (churned_on <= pd.Timestamp(as_of + timedelta(days=horizon)))
    col = day_number(as_of) - panel.first_day
    inputs = DayInputs(panel, col, lookback, accounts, as_of, DayInputs.days_to_renewal_of(accounts, as_of))
    return PastDay(
        inputs,
        label.to_numpy(dtype=bool),
        latest,
        first_metrics=first,
        reported_metrics=reported,
        latest_churn=None if pd.isna(latest_churn) else latest_churn.date(),
    )


def score_past_day(scorecard: Scorecard, past: PastDay) -> Snapshot:
    """Score a loaded past day with `scorecard` (its metrics must have been loaded)."""
    inputs = past.inputs
    scores = score_day(scorecard, inputs.accounts, inputs.panel, inputs.day)
    label = pd.Series(past.churned, index=inputs.accounts["id"].to_numpy())
    churned = label.reindex(scores.frame["account_id"]).fillna(False).to_numpy(dtype=bool)
    days = scores.days_with_data
    return Snapshot(
        scores,
        churned,
        unscored=len(inputs.accounts) - len(scores.frame),
        latest_metrics=past.latest_metrics,
        first_metrics=past.first_metrics,
        latest_churn=past.latest_churn,
        reported_metrics=past.reported_metrics,
        most_days=int(days.max(initial=0)),
        enough_days=int((days >= scorecard.data.min_days_of_data).sum()),
    )


def snapshot(engine: Engine, scorecard: Scorecard, as_of: date, horizon: int) -> Snapshot:
    """Score every account active on `as_of` from data up to `as_of` only."""
    past = load_past_day(engine, scorecard.metrics, as_of, horizon, scorecard.data.lookback_days)
    return score_past_day(scorecard, past)


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
        notes=_notes(scorecard, snap, n, int(churned.sum()), as_of, horizon),
        caps=_cap_rows(scorecard, snap),
    )


def _cap_rows(scorecard: Scorecard, snap: Snapshot) -> list[CapRow]:
    """Per cap, the scored accounts it held (the engine's `cap` column: the cap holding each account)."""
    frame = snap.scores.frame
    rows = []
    for card_name, card in scorecard.cards.items():
        on_card = (frame["card"] == card_name).to_numpy(dtype=bool)
        for k, cap in enumerate(card.caps):
            held = on_card & (frame["cap"] == k).to_numpy(dtype=bool)
            count, hits = int(held.sum()), int(snap.churned[held].sum())
            rate = _r(hits / count) if count else None
            rows.append(CapRow(card_name, cap.when, cap.at_most, count, hits, rate, int(on_card.sum())))
    return rows


def _days(n: int) -> str:
    return say("backtest.days", n=n)


def _names(names: list[str]) -> str:
    shown = listing(names[:NAMES_SHOWN])
    more = len(names) - NAMES_SHOWN
    return say("backtest.more_names", names=shown, more=more) if more > 0 else shown


def _why_nothing_scored(scorecard: Scorecard, snap: Snapshot, as_of: date, horizon: int) -> str:
    """The first condition that left every account unscored: no metrics at all, none the scorecard reads,
    a day after the data, nobody active, too few days of data, too little of the weight covered."""
    latest, data = snap.latest_metrics, scorecard.data
    if latest is None:
        return say("backtest.no_metrics")
    if snap.reported_metrics is not None and not set(scorecard.metrics) & set(snap.reported_metrics):
        return say(
            "backtest.metrics_not_in_data",
            as_of=as_of,
            horizon=horizon,
            card_metrics=_names(scorecard.metrics) if scorecard.metrics else say("backtest.no_metric_read"),
            data_metrics=_names(snap.reported_metrics),
        )
    if as_of > latest:
        return say("backtest.after_data", latest=latest)
    if snap.unscored == 0:
        return say("backtest.no_accounts", as_of=as_of)
    needed = data.min_days_of_data
    if snap.most_days >= needed:
        enough = say("backtest.account") if snap.enough_days == 1 else say("backtest.accounts", n=snap.enough_days)
        return say(
            "backtest.too_little_covered",
            as_of=as_of,
            enough=enough,
            needed=_days(needed),
            share=formats.percent(data.min_weight_covered),
        )
    text = say(
        "backtest.too_few_days", as_of=as_of, most=_days(snap.most_days), lookback=data.lookback_days, needed=needed
    )
    # Each later day adds at most one day of data to an account: the best-covered account needs
    # `needed - most_days` more, and no account can have `needed` before `needed` days after the first metrics.
    first = snap.first_metrics or as_of
    earliest = max(as_of + timedelta(days=needed - snap.most_days), first + timedelta(days=needed - 1))
    if earliest <= latest:
        return text + say("backtest.later_helps", first=first, latest=latest, earliest=earliest)
    reach = min(snap.most_days + (latest - as_of).days, (latest - first).days + 1, data.lookback_days)
    return text + say("backtest.later_does_not_help", first=first, latest=latest, reach=_days(reach))


def _notes(scorecard: Scorecard, snap: Snapshot, scored: int, churned: int, as_of: date, horizon: int) -> list[str]:
    """Why a figure is missing or may mislead, so nobody reads more into it than it holds."""
    if scored == 0:
        return [_why_nothing_scored(scorecard, snap, as_of, horizon)]
    notes = []
    if churned == 0:
        notes.append(say("backtest.no_churn"))
    elif churned == scored:
        notes.append(say("backtest.all_churned"))
    elif min(churned, scored - churned) < FEW:
        notes.append(say("backtest.few", churned=churned, stayed=scored - churned))
    # Churn is read from accounts.churned_on. The accounts were exported no earlier than the latest metric
    # day, nor than the latest churn they record: churn up to the later of the two is in the data. Only a
    # horizon ending after both may be missing churn that happened but was not exported yet.
    latest, latest_churn = snap.latest_metrics, snap.latest_churn
    end = as_of + timedelta(days=horizon)
    if latest is not None and end > max(latest, latest_churn or latest):
        past = say("backtest.past_metrics", latest=latest)
        if latest_churn is not None:
            past += say("backtest.past_churn", latest_churn=latest_churn)
        notes.append(say("backtest.horizon_past_data", end=end, past=past))
    return notes


def backtest(
    engine: Engine,
    scorecard: Scorecard,
    as_of: date,
    horizon: int,
    with_stability: bool = False,
    with_calibration: bool = False,
) -> BacktestResult:
    """`with_calibration`: the chance to churn checked on the same accounts, scored once (`calibration.check`: bands
    fitted on the snapshots whose outcome was known by `as_of`, each account's fold left out)."""
    past = load_past_day(engine, scorecard.metrics, as_of, horizon, scorecard.data.lookback_days)
    result = evaluate(scorecard, snap := score_past_day(scorecard, past), as_of, horizon)
    if with_stability:
        result.stability = stability(engine, scorecard, as_of)
    if with_calibration:
        from bot.scoring import calibration  # it reads its past days through this module

        result.calibration = calibration.check(engine, scorecard, as_of, horizon, scored=(past, snap))
    return result


def stability(engine: Engine, scorecard: Scorecard, as_of: date, days: int = STABILITY_DAYS) -> Stability:
    """Score each of the `days` days up to `as_of` and the day before them, as the daily run would (each day from
    its own data, yesterday's tier carried by the hysteresis), and count the accounts whose tier changed from the
    day before, per weekday. Days after the latest metrics are not scored (as in the daily run)."""
    first = as_of - timedelta(days=days)  # the day before the first compared day
    load_start = first - timedelta(days=scorecard.data.lookback_days - 1)
    with engine.connect() as conn:
        accounts = account_store.accounts_as_of(conn, as_of).sort_values("id").reset_index(drop=True)
        latest = score_store.latest_metric_day(conn, until=team_today())
        obs = score_store.observations(conn, load_start, as_of, scorecard.metrics)
    panel = Panel.from_long(
        accounts["id"].to_numpy(), obs, day_number(load_start), day_number(as_of), scorecard.metrics
    )
    counts = {w: [0, 0, 0] for w in WEEKDAYS}  # days, account-days, changes
    yesterday = pd.Series(dtype=object)
    for day in days_between(first, as_of):
        if latest is None or day > latest:
            break
        frame = score_day(scorecard, accounts, panel, day).frame
        frame = frame[np.isin(frame["account_id"], accounts.loc[active_on(accounts, day), "id"])]
        ids = frame["account_id"].to_numpy()
        previous = yesterday.reindex(ids).to_numpy(dtype=object, copy=True)
        previous[np.asarray(pd.isna(previous), dtype=bool)] = None
        tiers = apply_hysteresis(scorecard, frame["score"].to_numpy(), previous)
        if day > first:
            both = previous != None  # noqa: E711 - elementwise over an object array
            row = counts[WEEKDAYS[day.weekday()]]
            row[0] += 1
            row[1] += int(both.sum())
            row[2] += int((both & (tiers != previous)).sum())
        yesterday = pd.Series(tiers, index=ids, dtype=object)
    weekdays = [WeekdayStability(w, d, n, c, _r(c / n) if n else None) for w, (d, n, c) in counts.items()]
    accounts_total, changes = sum(w.accounts for w in weekdays), sum(w.changes for w in weekdays)
    flipping = sorted(
        (w for w in weekdays if w.share is not None and w.share >= FLIPPING), key=lambda w: -(w.share or 0)
    )
    warning = None
    if flipping:
        worst = listing(
            say("backtest.stability_day", weekday=day_name(WEEKDAYS.index(w.weekday)), share=formats.percent(w.share))
            for w in flipping
        )
        warning = say("backtest.stability_warning", days=worst, share=formats.percent(FLIPPING))
    return Stability(
        first_day=(first + timedelta(days=1)).isoformat(),
        last_day=as_of.isoformat(),
        days=days,
        accounts=accounts_total,
        changes=changes,
        share=_r(changes / accounts_total) if accounts_total else None,
        weekdays=weekdays,
        warning=warning,
    )


def _r(x: float | None) -> float | None:
    return None if x is None or np.isnan(x) else round(float(x), 4)
