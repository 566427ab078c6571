"""Deterministic synthetic customer portfolio for demos and tests.

`generate_portfolio` returns an `accounts` frame (the importer's account columns plus the
ground-truth `archetype`) and a long `metrics` frame (external_id, day, metric, value).
Every account-day is simulated at once as (accounts x days) numpy arrays.

What is drawn depends on the account count, the days and the seed only: `end` only dates it.
So the demo shows the same portfolio, tiers and backtest whatever day it runs.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

ARCHETYPES: tuple[str, ...] = (
    "healthy",
    "declining",
    "ticket_spike",
    "silent",
    "renewing",
    "churned",
    "onboarding",
    "recovering",
)
ARCHETYPE_SHARES: dict[str, float] = dict(
    zip(ARCHETYPES, (0.45, 0.12, 0.08, 0.06, 0.10, 0.10, 0.06, 0.03), strict=True)
)
# Taken out of "healthy" and labelled "declining": the decline began only in the last 10 days.
LATE_DECLINE_SHARE = 0.03
METRICS: tuple[str, ...] = (
    "logins",
    "active_users",
    "core_feature_events",
    "tickets_opened",
    "ticket_csat",
    "nps",
    "payment_days_overdue",
    "email_opens",
    "champion_left",
)
CSM_IDS: tuple[str, ...] = tuple(f"U01CSM{i:04d}" for i in range(1, 7))
# The weekly rhythm (quiet weekends) is laid out as if `end` were this weekday (Tuesday), whatever
# day it is: tied to the calendar, the data and every figure from it would change with the weekday.
END_WEEKDAY = 1
SEGMENTS = ("enterprise", "mid-market", "smb")
REGIONS = ("NA", "EMEA", "APAC", "LATAM")
CHANNELS = ("inbound", "outbound", "partner", "self-serve")

_BRANDS = (
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Vandelay",
    "Soylent",
    "Cyberdyne",
    "Tyrell",
    "Wonka",
    "Stark",
    "Wayne",
    "Oscorp",
    "Dunder",
    "Monarch",
    "Piedmont",
    "Aperture",
    "Massive",
    "Virtucon",
    "Gekko",
    "Nakatomi",
    "Prestige",
    "Sterling",
    "Wernham",
    "Bluth",
    "Duff",
    "Zorg",
    "Tessier",
    "Nexus",
    "Apex",
    "Vertex",
    "Summit",
    "Harbor",
    "Beacon",
    "Cobalt",
    "Crescent",
    "Evergreen",
    "Falcon",
    "Granite",
    "Horizon",
    "Ironwood",
    "Juniper",
    "Keystone",
    "Lumen",
    "Meridian",
    "Northwind",
    "Orion",
    "Pinnacle",
    "Quantum",
    "Redwood",
    "Silverline",
    "Tidewater",
    "Unity",
    "Vanguard",
    "Willow",
    "Zenith",
    "Atlas",
    "Borealis",
    "Cascade",
    "Delta",
    "Ember",
    "Fjord",
    "Glacier",
    "Helix",
    "Indigo",
    "Jade",
    "Kestrel",
    "Lighthouse",
    "Mosaic",
    "Nimbus",
    "Onyx",
    "Polaris",
    "Quarry",
    "Riverstone",
    "Sequoia",
    "Trident",
    "Umber",
    "Velvet",
)
_QUALIFIERS = (
    "Global",
    "Digital",
    "United",
    "Advanced",
    "Northern",
    "Pacific",
    "Atlantic",
    "Smart",
    "Green",
    "First",
    "Prime",
    "Next",
    "Open",
    "Blue",
    "Metro",
    "National",
)
_SECTORS = {  # sector word -> industry
    "Software": "software",
    "Analytics": "software",
    "Cloud": "software",
    "Systems": "software",
    "Labs": "software",
    "Networks": "telecom",
    "Telecom": "telecom",
    "Logistics": "logistics",
    "Freight": "logistics",
    "Shipping": "logistics",
    "Health": "healthcare",
    "Medical": "healthcare",
    "Pharma": "healthcare",
    "Biotech": "healthcare",
    "Capital": "financial services",
    "Finance": "financial services",
    "Payments": "fintech",
    "Insurance": "insurance",
    "Retail": "retail",
    "Apparel": "retail",
    "Foods": "food & beverage",
    "Brewing": "food & beverage",
    "Manufacturing": "manufacturing",
    "Industries": "manufacturing",
    "Robotics": "manufacturing",
    "Motors": "automotive",
    "Energy": "energy",
    "Solar": "energy",
    "Media": "media",
    "Studios": "media",
    "Publishing": "media",
    "Learning": "education",
    "Academy": "education",
    "Consulting": "professional services",
    "Partners": "professional services",
    "Realty": "real estate",
    "Properties": "real estate",
    "Travel": "travel & hospitality",
    "Hotels": "travel & hospitality",
    "Construction": "construction",
}
_LEGAL = {  # region -> (legal suffix, top-level domain)
    "NA": (("", ".com"), ("Inc", ".com"), ("LLC", ".com"), ("Corp", ".com")),
    "EMEA": (("Ltd", ".co.uk"), ("GmbH", ".de"), ("BV", ".nl"), ("SAS", ".fr"), ("AB", ".se"), ("", ".com")),
    "APAC": (("Pty Ltd", ".com.au"), ("Pte Ltd", ".sg"), ("KK", ".jp"), ("", ".com")),
    "LATAM": (("Ltda", ".com.br"), ("SA de CV", ".com.mx"), ("SA", ".com.ar"), ("", ".com")),
}


def _largest_remainder(n: int, shares: list[float]) -> np.ndarray:
    """Integer counts summing to n, as close as possible to n * shares."""
    raw = np.asarray(shares) * n / sum(shares)
    counts = np.floor(raw).astype(int)
    counts[np.argsort(-(raw - counts), kind="stable")[: n - counts.sum()]] += 1
    return counts


def _company_bases(rng: np.random.Generator, n: int) -> list[tuple[str, str]]:
    """n distinct (base name, sector) pairs; two-word names first, then three-word ones."""
    sectors = list(_SECTORS)
    two = [(f"{b} {s}", s) for b in _BRANDS for s in sectors]
    three = [(f"{b} {q} {s}", s) for b in _BRANDS for q in _QUALIFIERS for s in sectors]
    if n > len(two) + len(three):
        raise ValueError(f"at most {len(two) + len(three)} accounts supported")
    picked = [two[i] for i in rng.permutation(len(two))[:n]]
    if n > len(two):
        picked += [three[i] for i in rng.permutation(len(three))[: n - len(two)]]
    return [picked[i] for i in rng.permutation(n)]


def _accounts(rng: np.random.Generator, kind: np.ndarray, end: date) -> tuple[dict, dict]:
    """Static account attributes plus timing parameters (in days before `end`)."""
    n = len(kind)
    region = rng.choice(4, n, p=[0.40, 0.35, 0.15, 0.10])
    seg = rng.choice(3, n, p=[0.15, 0.35, 0.50])
    bases = _company_bases(rng, n)
    names, domains = [], []
    for (base, _), r in zip(bases, region, strict=True):
        forms = _LEGAL[REGIONS[r]]
        suffix, tld = forms[rng.integers(len(forms))]
        names.append(f"{base} {suffix}".strip())
        domains.append(base.lower().replace(" ", "-") + tld)
    lo_emp, hi_emp = np.array([1000, 200, 5])[seg], np.array([50000, 1000, 200])[seg]
    employees = np.exp(rng.uniform(np.log(lo_emp), np.log(hi_emp))).astype(int)
    lo_mrr, hi_mrr = np.array([8000, 1500, 150])[seg], np.array([60000, 8000, 1500])[seg]
    mrr = np.round(np.exp(rng.uniform(np.log(lo_mrr), np.log(hi_mrr))), 2)
    cum = np.cumsum([[0.25, 0.45, 0.25, 0.05], [0.35, 0.30, 0.20, 0.15], [0.30, 0.05, 0.10, 0.55]], axis=1)
    channel = (rng.random(n)[:, None] > cum[seg]).sum(axis=1).clip(0, 3)

    # contract_start / renewal / churn, as "days before end" (negative = future)
    years = rng.choice(5, n, p=[0.2, 0.3, 0.2, 0.15, 0.15])
    years[kind == 7] = np.maximum(years[kind == 7], 1)  # recovering: baseline before the dip
    ahead = 61 + np.floor(rng.random(n) * np.where(years == 0, 215, 304)).astype(int)
    ren = kind == 4
    ahead[ren] = rng.integers(10, 61, ren.sum())
    start_ago = 365 * (years + 1) - ahead
    churn_ago = np.zeros(n, int)
    chu = kind == 5
    churn_ago[chu] = rng.integers(20, 151, chu.sum())
    renew_ago = churn_ago - rng.integers(0, 31, n)
    start_ago[chu] = renew_ago[chu] + 365 * (years[chu] % 4 + 1)
    early = chu & (rng.random(n) < 0.15)  # churned within the first three months
    start_ago[early] = churn_ago[early] + rng.integers(45, 90, early.sum())
    onb = kind == 6
    start_ago[onb] = rng.integers(30, 81, onb.sum())
    renew_ago = np.where(chu & ~early, renew_ago, start_ago - 365 * (years + 1))
    renew_ago[early | onb] = start_ago[early | onb] - 365
    age = start_ago - churn_ago
    stage = np.where(age < 90, "onboarding", np.where(age < 365, "adoption", "mature"))

    def dates(ago: np.ndarray) -> list[date]:
        return [end - timedelta(days=int(a)) for a in ago]

    accounts = {
        "external_id": [f"ACC-{i + 1:04d}" for i in range(n)],
        "name": names,
        "domain": domains,
        "owner_slack_id": [CSM_IDS[i] for i in rng.integers(0, len(CSM_IDS), n)],
        "segment": [SEGMENTS[s] for s in seg],
        "industry": [_SECTORS[s] for _, s in bases],
        "employees": employees,
        "region": [REGIONS[r] for r in region],
        "lifecycle_stage": stage.tolist(),
        "acquisition_channel": [CHANNELS[c] for c in channel],
        "mrr": mrr,
        "contract_start": dates(start_ago),
        "renewal_date": dates(renew_ago),
        "status": np.where(chu, "churned", "active").tolist(),
        "churned_on": [d if c else None for d, c in zip(dates(churn_ago), chu, strict=True)],
        "archetype": [ARCHETYPES[1 if k == 8 else k] for k in kind],
    }
    users = mrr / np.array([80.0, 60.0, 40.0])[seg] * rng.uniform(0.5, 0.9, n)
    return accounts, {"start_ago": start_ago, "churn_ago": churn_ago, "users": users}


def generate_portfolio(
    n_accounts: int = 300, days: int = 180, end: date | None = None, seed: int = 7
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Deterministic demo portfolio: (accounts, metrics)."""
    end = end or date.today()
    rng = np.random.default_rng(seed)
    n, d = n_accounts, days
    shares = [*ARCHETYPE_SHARES.values(), LATE_DECLINE_SHARE]
    shares[0] -= LATE_DECLINE_SHARE
    kind = rng.permutation(np.repeat(np.arange(9), _largest_remainder(n, shares)))
    acc, tp = _accounts(rng, kind, end)
    dec, spk, sil, ren, chu, onb, rec, late = (kind == k for k in range(1, 9))
    cool = np.zeros(n, bool)
    cool[np.flatnonzero(ren)[::2]] = True  # half of the renewing accounts are cooling off

    def u(lo: float, hi: float) -> np.ndarray:
        return rng.uniform(lo, hi, n)

    # Risk progress p in [0, 1]: ramps up from `on` to `full` days ago, back down from
    # `back_on` to `back` days ago (recovering only).
    on, full = np.full(n, -1e6), np.full(n, -2e6)
    back_on, back = np.full(n, -1e6), np.full(n, -2e6)
    drop = np.zeros(n)
    for mask, on_lo, on_hi, d_lo, d_hi in (
        (dec, 30, 61, 0.4, 0.8),
        (cool, 25, 50, 0.3, 0.6),
        (late, 3, 11, 0.5, 0.8),
        (chu, 30, 61, 0.6, 0.9),
    ):
        on[mask], full[mask] = rng.integers(on_lo, on_hi, n)[mask], 0
        drop[mask] = u(d_lo, d_hi)[mask]
    on[chu] += tp["churn_ago"][chu]
    full[chu] = tp["churn_ago"][chu]
    centre = u(60, 100)
    on[rec], full[rec] = (centre + u(15, 25))[rec], centre[rec]
    back_on[rec] = (centre - u(0, 5))[rec]
    back[rec], drop[rec] = (back_on - u(20, 30))[rec], u(0.6, 0.8)[rec]

    ago = (d - 1 - np.arange(d))[None, :].astype(float)  # days before end, per column
    rise = (on[:, None] - ago) / (on - full)[:, None]
    fall = (ago - back[:, None]) / (back_on - back)[:, None]
    p = np.clip(np.minimum(rise, fall), 0, 1)
    age = tp["start_ago"][:, None] - ago  # days since contract start
    valid = (age >= 0) & (ago >= tp["churn_ago"][:, None])
    ramp_len = np.where(onb, u(30, 60), u(15, 30))[:, None]
    quiet = sil[:, None] & (ago < rng.integers(20, 41, n)[:, None])  # silent period
    # A third of the churners stop using the product 20-30 days before they leave (their own draws, so the
    # rest of the portfolio stays as it was).
    extra = np.random.default_rng(seed + 1)
    fade = chu & (extra.random(n) < 1 / 3)
    quiet |= fade[:, None] & (ago < (tp["churn_ago"] + extra.integers(20, 31, n))[:, None])
    dow = (END_WEEKDAY - ago[0].astype(int)) % 7
    weekly = np.select([dow == 5, dow == 6], [0.35, 0.25], 1.0)[None, :]
    trend = 1 + u(-0.1, 0.1)[:, None] * (0.5 - ago / d)
    m = (1 - drop[:, None] * p) * np.clip(0.15 + 0.85 * age / ramp_len, 0, 1) * trend * ~quiet
    lam = m * weekly * np.exp(rng.normal(0, 0.15, (n, d)))

    users = tp["users"][:, None]
    logins = rng.poisson(lam * users * u(1.1, 1.6)[:, None])
    active = np.minimum(rng.poisson(lam * users), logins)
    core = rng.poisson(lam * m**0.4 * users * u(3, 10)[:, None])
    spike = spk[:, None] & (ago < rng.integers(7, 15, n)[:, None])
    t_rate = (0.02 + 0.002 * users) * (1 + 2 * p) * np.where(onb, 1.5, 1.0)[:, None]
    t_rate = np.where(spike, u(3, 8)[:, None], t_rate) * ~quiet
    tickets = rng.poisson(t_rate)
    closed = np.zeros_like(tickets)
    lag = rng.integers(1, 4, n)
    for k in (1, 2, 3):
        closed[lag == k, k:] = tickets[lag == k, :-k]
    low_csat = spk[:, None] & (ago < 18)
    csat_mu = np.where(low_csat, u(1.5, 2.5)[:, None], u(4.0, 4.8)[:, None] - 2.2 * p)
    csat = np.clip(np.round(rng.normal(csat_mu, 0.6)), 1, 5)
    nps_day = (np.arange(d)[None, :] + rng.integers(0, 30, n)[:, None]) % 30 == 0
    nps_day &= (rng.random((n, d)) < 0.8) & ~quiet
    nps = np.clip(np.round(rng.normal(u(7.0, 9.5)[:, None] - 5 * p, 1.0)), 0, 10)

    # Overdue invoices: unpaid from `due` days ago until `paid` days ago (-1: still unpaid).
    due, paid = np.full(n, -1), np.full(n, -1)
    owes = cool | (chu & (rng.random(n) < 0.4)) | (dec & (rng.random(n) < 0.25))
    due[owes] = rng.integers(10, 46, n)[owes] + np.where(chu, tp["churn_ago"], 0)[owes]
    blip = (kind == 0) & (rng.random(n) < 0.08)  # healthy accounts that paid a bit late
    due[blip] = rng.integers(20, 170, n)[blip]
    paid[blip] = due[blip] - rng.integers(3, 13, n)[blip]
    overdue = np.where(ago > paid[:, None], np.maximum(due[:, None] - ago, 0), 0)

    left = np.full(n, -1)
    for mask, share, lo, hi in (
        (dec, 0.35, 1, 31),
        (cool, 0.25, 10, 61),
        (sil, 0.3, 20, 50),
        (late, 0.4, 3, 12),
        (chu, 0.4, 10, 61),
    ):
        pick = mask & (rng.random(n) < share)
        left[pick] = rng.integers(lo, hi, n)[pick]
    left[chu] += np.where(left[chu] >= 0, tp["churn_ago"][chu], 0)
    emails = rng.poisson(u(0.3, 3.0)[:, None] * (0.3 + 0.7 * m) * weekly * ~quiet)

    cube = np.stack([logins, active, core, tickets, csat, nps, overdue, emails, ago <= left[:, None]], axis=-1).astype(
        float
    )
    present = np.repeat(valid[:, :, None], len(METRICS), axis=2)
    present[:, :, 4] &= closed > 0
    present[:, :, 5] &= nps_day
    idx = np.flatnonzero(present)  # C order: sorted by account, day, metric
    acc_i, rest = np.divmod(idx, d * len(METRICS))
    day_i, met_i = np.divmod(rest, len(METRICS))
    day_objs = np.array([end - timedelta(days=d - 1 - i) for i in range(d)], object)
    metrics = pd.DataFrame(
        {
            "external_id": np.array(acc["external_id"], dtype=object)[acc_i],
            "day": day_objs[day_i],
            "metric": np.array(METRICS, dtype=object)[met_i],
            "value": cube.reshape(-1)[idx],
        }
    )
    return pd.DataFrame(acc), metrics
