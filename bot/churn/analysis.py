"""The churn review for a period and segment (issue 13), computed with pandas over storage/churn.py reads.

- Customer churn rate = accounts churned in the period / accounts at the period's start (active on its first day:
  started on or before it, not churned before it). MRR churn = MRR those churned accounts took / MRR at the start.
  An account's churn date is `account.churned_on`, else a churned exit interview's `churn_date`; the MRR it took is
  the interview's `mrr_lost`, else its `mrr`.
- Reasons come from the exit interviews of the accounts churned in the period (categories, avoidable share,
  competitors, quotes in the customer's words).
- Traits compare churned with retained accounts of the starting set: per value, the churn rate, the lower end of
  its 95 % Wilson interval and the lift over the base rate, always with the counts. `ranked_traits` ranks the values
  that over-index by that lower end, so a small group with one churner does not outrank a well-supported one; groups
  of fewer than MIN_SUPPORT accounts are listed apart, unranked.
- The review covers only days the database has data for: from the first metric, score or churn date to the last
  one, or the day accounts were last written, whichever is later (never after today). A period outside that span is
  a `NoDataError`; a period partly outside it is reviewed over the part it covers (`ChurnReview.covered`); a trend
  quarter without data has no rate. An unknown segment is a `SegmentError` naming the known ones.
- Foresight: each churned account's tier 30, 60 and 90 days before it left (the latest score at most
  `SCORE_STALE_DAYS` older than that day).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, timedelta

import pandas as pd
from sqlalchemy import Connection
from sqlmodel import Session

from bot.churn.periods import DataSpan, Period, covered_part, quarter_of
from bot.retention.plays import PlayRate, save_rates
from bot.scoring import calibration, chance
from bot.scoring.scorecard import Scorecard, Tiers, load_scorecard
from prompts import say
from prompts.formats import listing
from storage import churn as store

HORIZONS = (30, 60, 90)
SCORE_STALE_DAYS = 7
TREND_QUARTERS = 4
USAGE_METRIC = "logins"
USAGE_DAYS = 30
USAGE_DROP = 0.3  # usage that fell by this share or more in the month before leaving counts as "falling"
SIZE_BANDS = ((1, 49, "1-49"), (50, 249, "50-249"), (250, 999, "250-999"), (1000, None, "1000+"))
TENURE_BANDS = ((0, 180, "under 6 months"), (180, 365, "6-12 months"), (365, 730, "1-2 years"), (730, None, "2+ years"))
TRAITS = ("industry", "size", "region", "tenure", "acquisition_channel", "csm", "usage")
UNKNOWN = "unknown"
MIN_SUPPORT = 10  # groups of fewer accounts are listed apart from the ranked traits
Z_95 = 1.959964  # the normal quantile of a two-sided 95 % interval


class SegmentError(ValueError):
    """A segment no account has; the message lists the known ones."""


class NoDataError(ValueError):
    """A period the database has no data for; the message says which days it has."""


@dataclass(frozen=True)
class ChurnRate:
    """The formula's inputs; the rates are derived so a reader can check them."""

    accounts_at_start: int
    churned: int
    mrr_at_start: float
    mrr_lost: float

    @property
    def rate(self) -> float | None:
        return self.churned / self.accounts_at_start if self.accounts_at_start else None

    @property
    def mrr_rate(self) -> float | None:
        return self.mrr_lost / self.mrr_at_start if self.mrr_at_start else None


@dataclass(frozen=True)
class ReasonRow:
    reason: str
    count: int
    avoidable: int
    share: float  # of the interviews counted


@dataclass(frozen=True)
class Competitor:
    name: str
    count: int


@dataclass(frozen=True)
class Quote:
    account: str
    reason: str
    question: str
    text: str


@dataclass(frozen=True)
class TraitRow:
    trait: str  # one of TRAITS
    value: str
    accounts: int  # at the period's start with this value
    churned: int
    rate: float
    lift: float | None  # rate / base rate; None when nobody churned
    low: float = 0.0  # the lower end of the rate's 95 % Wilson interval


@dataclass(frozen=True)
class TrendPoint:
    label: str
    start: date
    end: date
    rate: ChurnRate | None  # None: no data in this quarter
    covered: Period | None = None  # the part of the quarter with data


@dataclass(frozen=True)
class Foresight:
    """One churned account: its tier N days before it left (None: no score then)."""

    account_id: int
    account: str
    churned_on: date
    tiers: dict[int, str | None]


@dataclass(frozen=True)
class Horizon:
    days: int
    scored: int  # churned accounts with a score then
    flagged: int  # of those, in a tier other than the healthiest

    @property
    def share(self) -> float | None:
        return self.flagged / self.scored if self.scored else None


@dataclass(frozen=True)
class ChurnReview:
    period: Period
    segment: str | None
    today: date
    headline: ChurnRate
    churned_accounts: list[str] = field(default_factory=list)
    interviewed: int = 0  # churned accounts with an exit interview
    avoidable: int = 0
    reasons: list[ReasonRow] = field(default_factory=list)
    competitors: list[Competitor] = field(default_factory=list)
    quotes: list[Quote] = field(default_factory=list)
    traits: list[TraitRow] = field(default_factory=list)
    plays: list[PlayRate] = field(default_factory=list)
    trend: list[TrendPoint] = field(default_factory=list)
    foresight: list[Foresight] = field(default_factory=list)
    horizons: list[Horizon] = field(default_factory=list)
    tier_labels: dict[str, str] = field(default_factory=dict)
    people: dict[str, str] = field(default_factory=dict)  # Slack id -> name, for a file (`healthbot report`)
    span: DataSpan | None = None  # the days the database has data for
    covered: Period | None = None  # the part of `period` reviewed: within `span`
    calibration: calibration.Calibration | None = (
        None  # the chance to churn checked (`calibration_check`), for the chart
    )

    @property
    def partial(self) -> bool:
        """Only part of the period has data (it runs past the data, or starts before it)."""
        part, whole = self.covered, self.period
        return part is not None and (part.start, part.end) != (whole.start, whole.end)

    @property
    def avoidable_share(self) -> float | None:
        return self.avoidable / self.interviewed if self.interviewed else None


def _connection(conn_or_session: Connection | Session) -> Connection:
    return conn_or_session.connection() if isinstance(conn_or_session, Session) else conn_or_session


def _frame(conn: Connection, segment: str | None) -> pd.DataFrame:
    """Accounts with their effective churn date and the MRR they had (or took)."""
    accounts = store.accounts(conn, segment)
    interviews = store.interviews(conn)
    frame = accounts.merge(interviews, how="left", left_on="id", right_on="account_id")
    said = frame["churned"].eq(True)
    frame["churn_day"] = frame["churned_on"].where(frame["churned_on"].notna(), frame["churn_date"].where(said))
    frame["start_mrr"] = frame["mrr_lost"].where(frame["mrr_lost"].notna() & said, frame["mrr"]).fillna(0.0)
    frame["interviewed"] = frame["account_id"].notna() & said
    return frame


def _starting(frame: pd.DataFrame, start: date) -> pd.Series:
    begun = frame["contract_start"].isna() | (frame["contract_start"] <= start)
    left_before = frame["churn_day"].notna() & (frame["churn_day"] < start)
    return begun & ~left_before


def _churned_in(frame: pd.DataFrame, start: date, end: date) -> pd.Series:
    day = frame["churn_day"]
    return day.notna() & (day >= start) & (day <= end)


def _rate(frame: pd.DataFrame, start: date, end: date) -> ChurnRate:
    at_start = _starting(frame, start)
    lost = at_start & _churned_in(frame, start, end)
    return ChurnRate(
        accounts_at_start=int(at_start.sum()),
        churned=int(lost.sum()),
        mrr_at_start=float(frame.loc[at_start, "start_mrr"].sum()),
        mrr_lost=float(frame.loc[lost, "start_mrr"].sum()),
    )


def _bands(values: pd.Series, bands: tuple[tuple[int, int | None, str], ...], right_open: bool) -> pd.Series:
    out = pd.Series(UNKNOWN, index=values.index, dtype=object)
    for low, high, label in bands:
        inside = values >= low
        if high is not None:
            inside &= (values < high) if right_open else (values <= high)
        out = out.mask(values.notna() & inside, label)
    return out


def _usage(conn: Connection, population: pd.DataFrame, end: date) -> pd.Series:
    """Per account: "falling" when its logins in the USAGE_DAYS before it left (or the period's end) fell by
    USAGE_DROP or more against the USAGE_DAYS before those, "none" with no logins in either, else "steady"."""
    ids = [int(i) for i in population["id"]]
    if not ids:
        return pd.Series(dtype=object)
    until = population["churn_day"].where(population["is_churned"], end)
    until = pd.to_datetime(until)
    obs = store.metric_between(conn, USAGE_METRIC, ids, until.min().date() - timedelta(days=2 * USAGE_DAYS), end)
    edge = pd.DataFrame({"id": population["id"].to_numpy(), "until": until.to_numpy()})
    obs = obs.merge(edge, left_on="account_id", right_on="id")
    age = (obs["until"] - obs["day"]).dt.days
    obs["recent"] = obs["value"].where((age >= 0) & (age < USAGE_DAYS), 0.0)
    obs["before"] = obs["value"].where((age >= USAGE_DAYS) & (age < 2 * USAGE_DAYS), 0.0)
    sums = obs.groupby("account_id")[["recent", "before"]].sum()
    sums = sums.reindex(population["id"]).fillna(0.0)
    band = pd.Series("steady", index=sums.index, dtype=object)
    band = band.mask(sums["recent"] <= sums["before"] * (1 - USAGE_DROP), "falling")
    band = band.mask((sums["recent"] == 0) & (sums["before"] == 0), "none")
    return pd.Series(band.to_numpy(), index=population.index)


def _traits(conn: Connection, population: pd.DataFrame, period: Period) -> list[TraitRow]:
    if population.empty:
        return []
    base = population["is_churned"].mean()
    until = pd.to_datetime(population["churn_day"].where(population["is_churned"], period.end))
    tenure = (until - pd.to_datetime(population["contract_start"])).dt.days
    values = pd.DataFrame(
        {
            "industry": population["industry"],
            "size": _bands(population["employees"], SIZE_BANDS, right_open=False),
            "region": population["region"],
            "tenure": _bands(tenure, TENURE_BANDS, right_open=True),
            "acquisition_channel": population["acquisition_channel"],
            "csm": population["owner_slack_id"],
            "usage": _usage(conn, population, period.end),
        }
    ).fillna(UNKNOWN)
    values = values.replace("", UNKNOWN)
    values["is_churned"] = population["is_churned"].astype(int)
    long = values.melt(id_vars="is_churned", var_name="trait", value_name="value")
    grouped = long.groupby(["trait", "value"])["is_churned"].agg(accounts="count", churned="sum").reset_index()
    grouped["rate"] = grouped["churned"] / grouped["accounts"]
    grouped["low"] = [wilson_low(int(k), int(n)) for k, n in zip(grouped["churned"], grouped["accounts"], strict=True)]
    grouped["order"] = grouped["trait"].map({t: i for i, t in enumerate(TRAITS)})
    grouped = grouped.sort_values(["order", "rate", "accounts", "value"], ascending=[True, False, False, True])
    return [
        TraitRow(
            r.trait,
            str(r.value),
            int(r.accounts),
            int(r.churned),
            float(r.rate),
            float(r.rate / base) if base else None,
            float(r.low),
        )
        for r in grouped.itertuples()
    ]


def wilson_low(churned: int, accounts: int, z: float = Z_95) -> float:
    """The lower end of the Wilson score interval of `churned` / `accounts`: high only when the rate is high and
    rests on enough accounts (1 of 4 gives 0.046, 14 of 40 gives 0.221)."""
    if accounts <= 0:
        return 0.0
    p, n = churned / accounts, accounts
    centre = p + z * z / (2 * n)
    margin = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, (centre - margin) / (1 + z * z / n))


def ranked_traits(traits: list[TraitRow]) -> tuple[list[TraitRow], list[TraitRow]]:
    """The values churned accounts over-index on (lift above 1): those of at least MIN_SUPPORT accounts ranked by
    the lower end of their rate's 95 % Wilson interval, and apart, unranked (most churners first), the smaller
    groups."""
    over = [t for t in traits if t.lift is not None and t.lift > 1]
    ranked = [t for t in over if t.accounts >= MIN_SUPPORT]
    small = [t for t in over if t.accounts < MIN_SUPPORT]
    ranked.sort(key=lambda t: (-t.low, -t.accounts, t.trait, t.value))
    small.sort(key=lambda t: (-t.churned, -t.rate, t.trait, t.value))
    return ranked, small


def _reasons(lost: pd.DataFrame) -> tuple[list[ReasonRow], list[Competitor], list[Quote], int, int]:
    said = lost[lost["interviewed"]]
    if said.empty:
        return [], [], [], 0, 0
    avoidable = said["avoidable"].eq(True)
    grouped = (
        said.assign(avoidable_n=avoidable.astype(int))
        .groupby("reason")
        .agg(count=("id", "count"), avoidable=("avoidable_n", "sum"))
        .reset_index()
        .sort_values(["count", "reason"], ascending=[False, True])
    )
    reasons = [
        ReasonRow(str(r.reason), int(r.count), int(r.avoidable), int(r.count) / len(said)) for r in grouped.itertuples()
    ]
    named = said["competitor"].dropna().astype(str).str.strip()
    named = named[named != ""]
    keys = named.str.lower()
    competitors = [
        Competitor(named[keys == key].iloc[0], int(n))
        for key, n in keys.value_counts().sort_index().sort_values(ascending=False, kind="stable").items()
    ]
    quotes = [
        Quote(str(r.name), str(r.reason), str(q), str(text).strip())
        for r in said.sort_values("churn_day").itertuples()
        for q, text in sorted((r.answers or {}).items())
        if str(text or "").strip()
    ]
    return reasons, competitors, quotes, len(said), int(avoidable.sum())


def _foresight(conn: Connection, lost: pd.DataFrame, tiers: Tiers) -> tuple[list[Foresight], list[Horizon]]:
    if lost.empty:
        return [], [Horizon(h, 0, 0) for h in HORIZONS]
    ids = [int(i) for i in lost["id"]]
    scores = store.scores_until(conn, ids, max(lost["churn_day"])).sort_values("day")
    # typed even when empty: merge_asof refuses an object-typed key beside an int64 one
    scores = scores.astype({"account_id": "int64", "day": "datetime64[ns]", "tier": "object"})
    asks = pd.DataFrame(
        [(int(r.id), h, pd.Timestamp(r.churn_day - timedelta(days=h))) for r in lost.itertuples() for h in HORIZONS],
        columns=["account_id", "horizon", "day"],
    ).sort_values("day")
    asks = asks.astype({"account_id": "int64", "day": "datetime64[ns]"})  # both sides' keys of one type
    found = pd.merge_asof(
        asks,
        scores[["account_id", "day", "tier"]],
        on="day",
        by="account_id",
        direction="backward",
        tolerance=pd.Timedelta(days=SCORE_STALE_DAYS),
    )
    tier_of = {
        (int(r.account_id), int(r.horizon)): (None if pd.isna(r.tier) else str(r.tier)) for r in found.itertuples()
    }
    rows = [
        Foresight(int(r.id), str(r.name), r.churn_day, {h: tier_of.get((int(r.id), h)) for h in HORIZONS})
        for r in lost.sort_values(["churn_day", "name"]).itertuples()
    ]
    healthiest = tiers.order[0]
    found["flagged"] = found["tier"].notna() & (found["tier"] != healthiest)
    per = found.groupby("horizon").agg(scored=("tier", "count"), flagged=("flagged", "sum"))
    horizons = [
        Horizon(
            h, int(per.loc[h, "scored"]) if h in per.index else 0, int(per.loc[h, "flagged"]) if h in per.index else 0
        )
        for h in HORIZONS
    ]
    return rows, horizons


def _trend(frame: pd.DataFrame, period: Period, span: DataSpan) -> list[TrendPoint]:
    """The last TREND_QUARTERS quarters up to the period's; each over the part of it with data, none without."""
    quarters = [quarter_of(period.end)]
    while len(quarters) < TREND_QUARTERS:
        quarters.insert(0, quarter_of(quarters[0].start - timedelta(days=1)))
    points = []
    for q in quarters:
        part = covered_part(q, span)
        rate = _rate(frame, part.start, part.end) if part else None
        points.append(TrendPoint(q.label, q.start, q.end, rate, part))
    return points


def data_span(conn_or_session: Connection | Session, today: date) -> DataSpan | None:
    """The days the database has data for, never after `today`; None without any (storage/churn.py data_days)."""
    first, last = store.data_days(_connection(conn_or_session))
    if first is None or last is None:
        return None
    last = min(last, today)
    return DataSpan(first, last) if first <= last else None


def check_segment(conn_or_session: Connection | Session, segment: str | None) -> None:
    """SegmentError unless `segment` is None or a segment some account has (in any case)."""
    if segment is None:
        return
    known = store.segments(_connection(conn_or_session))
    if segment.strip().lower() in {k.lower() for k in known}:
        return
    if not known:
        raise SegmentError(say("churn_review.no_segments", segment=segment))
    raise SegmentError(say("churn_review.unknown_segment", segment=segment, known=listing(known)))


def review(
    conn_or_session: Connection | Session,
    period: Period,
    segment: str | None = None,
    today: date | None = None,
    tiers: Tiers | None = None,
    scorecard: Scorecard | None = None,
) -> ChurnReview:
    """The churn review of `period` (and `segment`, matched case-insensitively) over the part of it the database
    has data for: see the module's docstring. SegmentError for a segment no account has, NoDataError for a period
    without data. With the `scorecard` in use, the chance to churn checked too (`calibration_check`, the chart's
    reliability panel)."""
    conn = _connection(conn_or_session)
    today = today or date.today()
    tiers = tiers or (scorecard.tiers if scorecard is not None else load_scorecard().tiers)
    check_segment(conn, segment)
    span = data_span(conn, today)
    if span is None:
        raise NoDataError(say("churn_review.no_data_at_all", label=period.label))
    covered = covered_part(period, span)
    if covered is None:
        raise NoDataError(say("churn_review.no_data", label=period.label, first=span.first, last=span.last))
    segment = segment.strip() if segment is not None else None
    frame = _frame(conn, segment)
    population = frame[_starting(frame, covered.start)].copy()
    population["is_churned"] = _churned_in(population, covered.start, covered.end)
    lost = population[population["is_churned"]]
    reasons, competitors, quotes, interviewed, avoidable = _reasons(lost)
    foresight, horizons = _foresight(conn, lost, tiers)
    return ChurnReview(
        period=period,
        segment=segment,
        today=today,
        headline=_rate(frame, covered.start, covered.end),
        churned_accounts=sorted(str(n) for n in lost["name"]),
        interviewed=interviewed,
        avoidable=avoidable,
        reasons=reasons,
        competitors=competitors,
        quotes=quotes,
        traits=_traits(conn, population, covered),
        plays=save_rates(conn, covered.start, covered.end, tiers),
        trend=_trend(frame, period, span),
        foresight=foresight,
        horizons=horizons,
        tier_labels={t: tiers.label(t) for t in tiers.order},
        span=span,
        covered=covered,
        calibration=None if scorecard is None else calibration_check(conn, scorecard, covered.start, today),
    )


def calibration_check(conn: Connection, scorecard: Scorecard, start: date, today: date) -> calibration.Calibration:
    """The chance to churn within `chance.HORIZON` days of every account active on `start` (the period's first
    day; the latest day whose horizon is over when that one's is not), held out (`calibration.check`: bands
    fitted on earlier snapshots, the account's fold left out), against whether it churned."""
    as_of = min(start, today - timedelta(days=chance.HORIZON))
    return calibration.check(conn.engine, scorecard, as_of, chance.HORIZON)
