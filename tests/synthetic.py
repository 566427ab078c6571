"""Synthetic portfolios whose churn truth is known, for score-quality tests.

`make_portfolio(kind, n, seed, end)` draws `n` accounts and `days` days of metrics ending on `end`, in the
import format (`healthbot import accounts` / `import metrics`). Each kind has a different ground truth:

- silent: logins, core_feature_events, tickets_opened. A third of churners go silent about 25 days before
  they leave; the rest decline gradually (often opening more tickets); some retained accounts decline or go
  quiet for a while too.
- dominant: telco-like. Whoever had >= 4 `service_calls` in the 30 days before a day churns far more in the
  weeks after it (~45 % vs ~10 % within 45 days); `intl_plan` (0/1, constant per account) raises churn
  moderately and `day_minutes` weakly.
- interaction: churn is high only while `seats_used_pct` is low AND `support_wait_hours` is high; either
  alone barely matters. `logins` is weakly informative.
- contract: the `plan` field (month_to_month churns 3-4x more than annual) and tenure (accounts younger than
  about six months churn more) drive churn; usage is weakly informative.

Churn days spread from the second month to the end, so a backtest as of `end - 60` with a 45-day horizon
finds a base rate of 15-35 %, and accounts that churned before the as-of day drop out of it naturally.
Metrics stop the day an account churns. Account fields that change over time (renewal date, lifecycle stage)
are as they stood on `end - 60` for churned and retained accounts alike, so they do not give churn away.
Everything is drawn as (accounts x days) numpy arrays from the seed alone.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

KINDS = ("silent", "dominant", "interaction", "contract")
ACCOUNT_COLUMNS = (
    "external_id", "name", "domain", "owner_slack_id", "segment", "plan", "industry", "employees", "region",
    "lifecycle_stage", "acquisition_channel", "mrr", "contract_start", "renewal_date", "status", "churned_on",
)  # fmt: skip
METRIC_COLUMNS = ("external_id", "date", "metric", "value")
PLANS = ("month_to_month", "annual", "two_year")
SEGMENTS = ("enterprise", "mid-market", "smb")
REGIONS = ("NA", "EMEA", "APAC", "LATAM")
INDUSTRIES = ("software", "retail", "healthcare", "financial services", "manufacturing", "media")
CHANNELS = ("inbound", "outbound", "partner", "self-serve")
CSM_IDS = tuple(f"U0SYNCSM{i:02d}" for i in range(1, 7))
AS_OF_BACK = 60  # the usual backtest day is `end - 60`: account fields are as they stood on it
BURN_IN = 30  # days simulated before the first exported day, so 30-day windows are full from day one
# No churn in the first month: every churner has a history. The month of churn before end - 60 (120 days)
# drops some, but not most, of the riskiest accounts before a backtest as of that day sees them.
FIRST_CHURN_DAY = 30
WEEKDAY_ACTIVITY = np.array([1.0, 1.05, 1.05, 1.0, 0.9, 0.3, 0.2])  # Monday first: quiet weekends


def horizon_rate(p: float, days: int = 45) -> float:
    """The daily hazard that churns a share `p` of accounts within `days`."""
    return 1.0 - (1.0 - p) ** (1.0 / days)


@dataclass
class Portfolio:
    kind: str
    accounts: pd.DataFrame  # ACCOUNT_COLUMNS; dates as YYYY-MM-DD strings, churned_on None while active
    metrics: pd.DataFrame  # METRIC_COLUMNS, one row per account, day and metric

    def write(self, folder: Path) -> tuple[Path, Path]:
        """The two CSV files `healthbot import accounts` and `healthbot import metrics` read."""
        folder.mkdir(parents=True, exist_ok=True)
        accounts_csv, metrics_csv = folder / "accounts.csv", folder / "metrics.csv"
        self.accounts.to_csv(accounts_csv, index=False)
        # joined by hand (no value needs quoting): twice as fast as to_csv for a few hundred thousand rows
        m = self.metrics
        values = [f"{v:g}" for v in m["value"].tolist()]
        rows = zip(m["external_id"].tolist(), m["date"].tolist(), m["metric"].tolist(), values, strict=True)
        body = "".join(f"{a},{d},{k},{v}\n" for a, d, k, v in rows)
        metrics_csv.write_text(",".join(METRIC_COLUMNS) + "\n" + body, encoding="utf-8")
        return accounts_csv, metrics_csv


@dataclass
class _Sim:
    """What every kind shares: accounts, the calendar and the arrays metrics are drawn on.

    Columns run from BURN_IN days before the first exported day to `end`; `start_col` and `churn_col`
    are in exported-day columns (0 = first exported day; `churn_col == days` means no churn by `end`).
    """

    rng: np.random.Generator
    n: int
    days: int
    end: date
    users: np.ndarray  # licensed users: the size every count scales with
    employees: np.ndarray
    segment: np.ndarray
    plan: np.ndarray  # index into PLANS
    start_col: np.ndarray  # contract start; negative = before the exported period
    weekday: np.ndarray  # activity factor per simulated column

    @property
    def total(self) -> int:
        return BURN_IN + self.days

    def noise(self, shape: float = 4.0) -> np.ndarray:
        """Day-to-day overdispersion (mean 1): Poisson counts vary more than Poisson alone."""
        return self.rng.gamma(shape, 1.0 / shape, (self.n, self.total))

    def started(self) -> np.ndarray:
        """(accounts x columns): the contract had started."""
        cols = np.arange(self.total) - BURN_IN
        return cols[None, :] >= self.start_col[:, None]


def _sim(rng: np.random.Generator, n: int, days: int, end: date, young_share: float) -> _Sim:
    users = np.maximum(1.0, np.round(rng.lognormal(np.log(18), 0.9, n)))
    employees = np.maximum(users, users * rng.lognormal(np.log(5), 0.7, n)).astype(int)
    segment = np.where(employees >= 1000, 0, np.where(employees >= 150, 1, 2))
    plan = rng.choice(3, n, p=[0.35, 0.45, 0.20])
    # tenure on the usual as-of day: a share under six months
    as_of_col = days - 1 - AS_OF_BACK
    young = rng.random(n) < young_share
    tenure = np.where(young, rng.integers(20, 182, n), rng.integers(182, 2200, n))
    start_col = as_of_col - tenure
    first = end - timedelta(days=days - 1 + BURN_IN)
    weekday = WEEKDAY_ACTIVITY[[(first + timedelta(days=i)).weekday() for i in range(BURN_IN + days)]]
    return _Sim(rng, n, days, end, users, employees, segment, plan, start_col, weekday)


def _churn_from_hazard(sim: _Sim, hazard: np.ndarray) -> np.ndarray:
    """The first exported column on which each account churns under a daily `hazard` (accounts x all
    columns), or `days` when it stays to the end."""
    h = hazard[:, BURN_IN:]
    cols = np.arange(sim.days)
    allowed = (cols[None, :] >= FIRST_CHURN_DAY) & (cols[None, :] > sim.start_col[:, None] + 14)  # 2 weeks in
    hit = (sim.rng.random(h.shape) < h) & allowed
    return np.where(hit.any(axis=1), hit.argmax(axis=1), sim.days)


def _usage(sim: _Sim, engagement: np.ndarray, multiplier: np.ndarray, tickets: np.ndarray) -> dict[str, np.ndarray]:
    """logins, core_feature_events and tickets_opened as Poisson counts (accounts x all columns).

    `engagement` is per account, `multiplier` per account and day (0 = silent), `tickets` the ticket
    rate multiplier per account and day.
    """
    rng = sim.rng
    rate = (sim.users * 0.45 * engagement)[:, None] * sim.weekday[None, :] * multiplier * sim.noise()
    core_affinity = rng.beta(4, 3, sim.n)
    ticket_rate = (0.025 * np.sqrt(sim.users))[:, None] * np.minimum(sim.weekday, 1.0)[None, :] * tickets
    return {
        "logins": rng.poisson(rate).astype(float),
        "core_feature_events": rng.poisson(rate * core_affinity[:, None] * 0.7).astype(float),
        "tickets_opened": rng.poisson(ticket_rate * (multiplier > 0)).astype(float),
    }


def _silent(sim: _Sim) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Churn is decided first; behaviour in the weeks before it gives it away (the precursor kind)."""
    rng, n, days = sim.rng, sim.n, sim.days
    churner = rng.random(n) < 0.47
    churn_col = np.where(churner, rng.integers(FIRST_CHURN_DAY, days, n), days)
    churn_col = np.where(churn_col <= sim.start_col + 14, days, churn_col)  # no churn in the first two weeks
    churner = churn_col < days
    col = (np.arange(sim.total) - BURN_IN)[None, :]
    to_churn = churn_col[:, None] - col  # days until churn (<= 0 after it)
    multiplier = np.ones((n, sim.total))
    tickets = np.ones((n, sim.total))

    style = rng.random(n)
    silent = churner & (style < 1 / 3)
    silence = rng.integers(20, 31, n)  # days before churn the account goes quiet
    multiplier[silent[:, None] & (to_churn <= silence[:, None])] = 0.0

    declining = churner & ~silent
    lead = rng.integers(30, 76, n)  # the decline starts this many days before churn
    floor = rng.uniform(0.1, 0.5, n)  # activity left on the churn day
    progress = np.clip(1 - to_churn / lead[:, None], 0, 1)  # 0 before the decline, 1 on the churn day
    decline = 1 - progress * (1 - floor[:, None])
    multiplier = np.where(declining[:, None], decline, multiplier)
    frustrated = declining & (rng.random(n) < 0.5)
    tickets = np.where(frustrated[:, None], 1 + progress * rng.uniform(1.5, 4.0, n)[:, None], tickets)

    # noise: some retained accounts decline for good, some go quiet for a couple of weeks and come back
    retained = ~churner
    drop_start = rng.integers(0, days, n)
    drops = retained & (rng.random(n) < 0.2)
    ramp = np.clip((col - drop_start[:, None]) / 30, 0, 1)
    multiplier = np.where(drops[:, None], 1 - ramp * rng.uniform(0.3, 0.7, n)[:, None], multiplier)
    quiet = retained & (rng.random(n) < 0.04)
    gap = (col >= drop_start[:, None]) & (col < drop_start[:, None] + rng.integers(10, 22, n)[:, None])
    multiplier[quiet[:, None] & gap] = 0.0

    engagement = rng.lognormal(0, 0.35, n)
    return _usage(sim, engagement, multiplier, tickets), churn_col


def _dominant(sim: _Sim) -> tuple[dict[str, np.ndarray], np.ndarray]:
    rng, n = sim.rng, sim.n
    troubled = rng.random(n) < 0.3
    weekly = np.where(troubled, rng.gamma(8, 2.2 / 8, n), rng.gamma(2, 0.3 / 2, n))
    per_day = weekly / WEEKDAY_ACTIVITY.sum()
    calls = rng.poisson(per_day[:, None] * sim.weekday[None, :] * sim.noise()).astype(float)
    usual_minutes = np.clip(rng.normal(180, 45, n), 20, None)
    minutes = np.clip(rng.normal(usual_minutes[:, None] * sim.weekday[None, :], 30), 0, None).round(1)
    intl = (rng.random(n) < 0.15).astype(float)
    intl_plan = np.repeat(intl[:, None], sim.total, axis=1)

    # calls in the 30 days before each day (the day itself not counted)
    cum = np.concatenate([np.zeros((n, 1)), np.cumsum(calls, axis=1)], axis=1)
    lagged = cum[:, :-1] - cum[:, np.maximum(np.arange(sim.total) - 30, 0)]
    many = lagged >= 4
    hazard = np.where(many, horizon_rate(0.55), horizon_rate(0.07))
    hazard = hazard * np.where(intl, 2.2, 1.0)[:, None] * np.exp(0.35 * (usual_minutes - 180) / 45)[:, None]
    hazard = hazard * sim.started()
    metrics = {"service_calls": calls, "day_minutes": minutes, "intl_plan": intl_plan}
    return metrics, _churn_from_hazard(sim, hazard)


def _interaction(sim: _Sim) -> tuple[dict[str, np.ndarray], np.ndarray]:
    rng, n = sim.rng, sim.n
    seats = rng.uniform(5, 95, n)  # share of paid seats in use
    wait = rng.lognormal(np.log(16), 0.6, n)  # hours a ticket waits for a first answer
    both_bad = (seats < 60) & (wait > 14)
    weekend = sim.weekday < 0.5
    seats_daily = np.clip(rng.normal(seats[:, None] * np.where(weekend, 0.6, 1.0), 6), 0, 100).round(1)
    wait_daily = (wait[:, None] * np.where(weekend, 1.3, 1.0) * sim.noise(3.0)).round(1)
    engagement = rng.lognormal(0, 0.4, n)
    rate = (sim.users * 0.45 * engagement)[:, None] * sim.weekday[None, :] * sim.noise()
    logins = rng.poisson(rate).astype(float)

    hazard = np.where(both_bad, horizon_rate(0.75), horizon_rate(0.08)) * engagement**-0.3
    hazard = hazard[:, None] * sim.started()
    metrics = {"seats_used_pct": seats_daily, "support_wait_hours": wait_daily, "logins": logins}
    return metrics, _churn_from_hazard(sim, hazard)


def _contract(sim: _Sim) -> tuple[dict[str, np.ndarray], np.ndarray]:
    rng, n = sim.rng, sim.n
    engagement = rng.lognormal(0, 0.4, n)
    usage = _usage(sim, engagement, np.ones((n, sim.total)), np.ones((n, sim.total)))
    per_plan = np.array([horizon_rate(0.33), horizon_rate(0.09), horizon_rate(0.06)])
    tenure = (np.arange(sim.total) - BURN_IN)[None, :] - sim.start_col[:, None]
    young = (tenure >= 0) & (tenure < 182)
    hazard = per_plan[sim.plan][:, None] * np.where(young, 2.6, 1.0) * (engagement**-0.4)[:, None]
    hazard = hazard * sim.started()
    return usage, _churn_from_hazard(sim, hazard)


# kind -> (how it draws metrics and churn, share of accounts under six months old on the usual as-of day)
_KIND = {
    "silent": (_silent, 0.08),
    "dominant": (_dominant, 0.1),
    "interaction": (_interaction, 0.1),
    "contract": (_contract, 0.3),
}


def make_portfolio(kind: str, n: int, seed: int, end: date, days: int = 120) -> Portfolio:
    """`n` accounts of the given kind with `days` days of metrics up to `end`; the same seed gives the
    same portfolio, and external ids carry the seed, so two seeds never share an account."""
    if kind not in _KIND:
        raise ValueError(f"unknown kind {kind!r}; use one of {', '.join(KINDS)}")
    if days < 61:
        raise ValueError(f"days must be more than {AS_OF_BACK}: fields are set as of end - {AS_OF_BACK}")
    draw, young_share = _KIND[kind]
    rng = np.random.default_rng([seed, zlib.crc32(kind.encode())])
    sim = _sim(rng, n, days, end, young_share)
    metrics, churn_col = draw(sim)
    return Portfolio(kind, _accounts(sim, seed, churn_col), _long(sim, seed, metrics, churn_col))


def _ids(seed: int, n: int) -> np.ndarray:
    return np.array([f"S{seed}-{i + 1:05d}" for i in range(n)], dtype=object)


def _accounts(sim: _Sim, seed: int, churn_col: np.ndarray) -> pd.DataFrame:
    rng, n, days = sim.rng, sim.n, sim.days
    first = sim.end - timedelta(days=days - 1)
    ids = _ids(seed, n)
    churned = churn_col < days
    price = np.array([95.0, 70.0, 45.0])[sim.segment] * np.array([1.15, 1.0, 0.9])[sim.plan]
    mrr = np.round(sim.users * price * rng.lognormal(0, 0.2, n), 2)
    start_day = [first + timedelta(days=int(c)) for c in sim.start_col]
    churn_day = [first + timedelta(days=int(c)) if c < days else None for c in churn_col]
    # Renewal date and lifecycle stage as they stood on the usual as-of day, for churned and retained accounts
    # alike: set from the churn day or the export day they would give churn away to a backtest (a retained
    # account's next renewal is after the export, > 60 days out). Renewals are yearly from the start (a
    # month-to-month account's yearly review: days to renewal do not give the plan away), two-yearly on two_year.
    period = np.array([365, 365, 730])[sim.plan]
    as_of_col = days - 1 - AS_OF_BACK
    renew_col = sim.start_col + period * ((as_of_col - sim.start_col) // period + 1)
    # the stage a CSM keeps by hand: by tenure, but four in ten lag behind by up to eight months
    age = as_of_col - sim.start_col - np.where(rng.random(n) < 0.4, rng.integers(0, 240, n), 0)
    stage = np.where(age < 90, "onboarding", np.where(age < 365, "adoption", "mature"))
    return pd.DataFrame({
        "external_id": ids,
        "name": [f"Synthetic {kind_id}" for kind_id in ids],
        "domain": [f"{i.lower()}.example.com" for i in ids],
        "owner_slack_id": np.array(CSM_IDS)[rng.integers(0, len(CSM_IDS), n)],
        "segment": np.array(SEGMENTS)[sim.segment],
        "plan": np.array(PLANS)[sim.plan],
        "industry": np.array(INDUSTRIES)[rng.integers(0, len(INDUSTRIES), n)],
        "employees": sim.employees,
        "region": np.array(REGIONS)[rng.choice(4, n, p=[0.4, 0.35, 0.15, 0.1])],
        "lifecycle_stage": stage,
        "acquisition_channel": np.array(CHANNELS)[rng.integers(0, len(CHANNELS), n)],
        "mrr": mrr,
        "contract_start": [d.isoformat() for d in start_day],
        "renewal_date": [(first + timedelta(days=int(c))).isoformat() for c in renew_col],
        "status": np.where(churned, "churned", "active"),
        "churned_on": [d.isoformat() if d else None for d in churn_day],
    })  # fmt: skip


def _long(sim: _Sim, seed: int, metrics: dict[str, np.ndarray], churn_col: np.ndarray) -> pd.DataFrame:
    """Exported days only, from the contract start up to the day before churn."""
    first = sim.end - timedelta(days=sim.days - 1)
    dates = np.array([(first + timedelta(days=i)).isoformat() for i in range(sim.days)], dtype=object)
    ids = _ids(seed, sim.n)
    cols = np.arange(sim.days)[None, :]
    live = (cols >= sim.start_col[:, None]) & (cols < churn_col[:, None])
    rows, days = np.nonzero(live)
    frames = [
        pd.DataFrame(
            {"external_id": ids[rows], "date": dates[days], "metric": name, "value": values[:, BURN_IN:][rows, days]}
        )  # fmt: skip
        for name, values in metrics.items()
    ]
    return pd.concat(frames, ignore_index=True)


def inputs_as_of(portfolio: Portfolio, as_of: date, horizon: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Per account active on `as_of`: the inputs a scorecard may use, from data up to `as_of` only, and
    whether it churned within `horizon` days after it.

    Per metric the mean over the last 7 and 30 days (a missing day counts as 0) and the days since it was
    last above 0 (90 when not in the last 90 days); mrr, employees, tenure and days to renewal; segment,
    plan and region one-hot.
    """
    acc = portfolio.accounts
    start = pd.to_datetime(acc["contract_start"])
    churned_on = pd.to_datetime(acc["churned_on"])
    day = pd.Timestamp(as_of)
    active = (start <= day) & (churned_on.isna() | (churned_on > day))
    acc = acc[active.to_numpy()].reset_index(drop=True)
    churned_on = churned_on[active.to_numpy()].reset_index(drop=True)
    label = ((churned_on > day) & (churned_on <= day + pd.Timedelta(days=horizon))).to_numpy()

    m = portfolio.metrics
    dates = pd.Index([(as_of - timedelta(days=k)).isoformat() for k in range(89, -1, -1)])
    row, col = pd.Index(acc["external_id"]).get_indexer(m["external_id"]), dates.get_indexer(m["date"])
    seen = (row >= 0) & (col >= 0)  # active accounts, the 90 days up to as_of
    features: dict[str, np.ndarray] = {}
    for metric in sorted(m["metric"].unique()):
        this = seen & (m["metric"] == metric).to_numpy()
        filled = np.zeros((len(acc), len(dates)))  # a missing day counts as 0
        filled[row[this], col[this]] = m["value"].to_numpy()[this]
        features[f"{metric}_mean_7"] = filled[:, -7:].mean(axis=1)
        features[f"{metric}_mean_30"] = filled[:, -30:].mean(axis=1)
        above = filled[:, ::-1] > 0
        features[f"{metric}_days_since"] = np.where(above.any(axis=1), above.argmax(axis=1), len(dates))
    features["mrr"] = acc["mrr"].to_numpy(dtype=float)
    features["employees"] = acc["employees"].to_numpy(dtype=float)
    features["tenure_days"] = (day - pd.to_datetime(acc["contract_start"])).dt.days.to_numpy(dtype=float)
    features["days_to_renewal"] = (pd.to_datetime(acc["renewal_date"]) - day).dt.days.to_numpy(dtype=float)
    for column, values in (("segment", SEGMENTS), ("plan", PLANS), ("region", REGIONS)):
        for value in values:
            features[f"{column}={value}"] = (acc[column] == value).to_numpy(dtype=float)
    return pd.DataFrame(features, index=acc["external_id"]), label


# --- a small team with its own metric names ---------------------------------------------------------------------

SMALL_TEAM_METRICS = ("api_calls", "seats_used", "support_tickets")
WEEKEND_DIP = np.array([1.0, 1.05, 1.05, 1.0, 0.95, 0.12, 0.08])  # Monday first: the product rests at weekends


def make_small_team(n: int = 40, seed: int = 1, end: date = date(2026, 6, 30), days: int = 150,
                    churners: int = 2) -> Portfolio:  # fmt: skip
    """A small team's portfolio with its own metric names, far too little churn to fit a scorecard on.

    - `api_calls`: a daily count with a strong weekly cycle (weekends at about a tenth of a weekday); a
      churner's calls fade over the six weeks before it leaves.
    - `seats_used`: a level that moves by a seat now and then (reported every day); a churner sheds seats.
    - `support_tickets`: mostly zero, now and then a burst of several in a few days; churners burst more.
    `churners` accounts churn within the last 45 days; everyone else stays. Every account starts a year or more
    before the first exported day.
    """
    rng = np.random.default_rng([seed, zlib.crc32(b"small_team")])
    first = end - timedelta(days=days - 1)
    weekday = WEEKEND_DIP[[(first + timedelta(days=i)).weekday() for i in range(days)]]
    churn_col = np.full(n, days)
    who = rng.choice(n, churners, replace=False) if churners else np.zeros(0, dtype=int)
    churn_col[who] = rng.integers(days - 45, days - 5, len(who))
    cols = np.arange(days)[None, :]
    fading = np.clip((churn_col[:, None] - cols) / 42, 0.05, 1.0)  # 1 until six weeks before churn
    fading[churn_col >= days] = 1.0
    level = rng.lognormal(np.log(300), 0.9, n)
    calls = rng.poisson(level[:, None] * weekday[None, :] * fading * rng.gamma(6, 1 / 6, (n, days))).astype(float)
    seats0 = np.maximum(2, np.round(rng.lognormal(np.log(25), 0.7, n)))
    steps = rng.choice([-1.0, 0.0, 1.0], (n, days), p=[0.02, 0.96, 0.02])
    seats = np.maximum(1, seats0[:, None] + np.cumsum(steps, axis=1) - np.round((1 - fading) * seats0[:, None] / 2))
    burst_days = rng.random((n, days)) < np.where(fading < 1, 0.06, 0.012)
    bursts = np.zeros((n, days))
    for a, d in zip(*np.nonzero(burst_days), strict=True):
        bursts[a, d : d + 4] += rng.poisson(1.5, min(4, days - d))
    tickets = bursts + rng.poisson(0.03, (n, days))
    sim = _Sim(rng, n, days, end, seats0, (seats0 * 6).astype(int), rng.integers(0, 3, n), rng.integers(0, 3, n),
               -rng.integers(365, 1500, n), weekday)  # fmt: skip
    metrics = {"api_calls": calls, "seats_used": seats, "support_tickets": tickets}
    padded = {k: np.concatenate([np.zeros((n, BURN_IN)), v], axis=1) for k, v in metrics.items()}  # `_long` skips it
    return Portfolio("small_team", _accounts(sim, seed, churn_col), _long(sim, seed, padded, churn_col))
