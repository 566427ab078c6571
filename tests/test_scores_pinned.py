"""Scores pinned to the bytes: a generated portfolio scored over 90 days (a backfill, then the daily run) stores
exactly what the code at 3e67d25 (before issue 24's faster scoring and storing) stored: every score, tier,
card, partial flag, delta and the parts JSON byte for byte, day by day, on both databases.

The portfolio comes from integer hashing (no random generator whose stream a numpy release may change); the
scorecard is the default one plus a card of account fields (categories with a long non-ASCII value, tenure,
renewal, a category cap), so every transform, cap and reason kind is written. `tests/snapshots/scores_pinned.json`
holds a digest per day; rewrite it only with the code the scores must stay equal to:

    HEALTHBOT_CODE_ROOT=/path/to/that/checkout python tests/test_scores_pinned.py --write
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # --write: the code to pin comes from HEALTHBOT_CODE_ROOT
    sys.path.insert(0, os.environ.get("HEALTHBOT_CODE_ROOT") or str(Path(__file__).resolve().parent.parent))

import numpy as np
import pandas as pd
from sqlalchemy import Engine, text

from bot.scoring.run import score_range
from bot.scoring.scorecard import load_scorecard
from storage import bulk

FIXTURE = Path(__file__).parent / "snapshots" / "scores_pinned.json"
END = date(2026, 6, 30)
N_ACCOUNTS = 160
METRIC_DAYS = 150  # 60 days before the first scored day: full windows, and accounts whose data starts later
SCORED_DAYS = 90
METRICS = ("logins", "active_users", "core_feature_events", "tickets_opened", "ticket_csat",
           "payment_days_overdue", "email_opens", "champion_left", "nps")  # fmt: skip
LONG_PLAN = "Entreprise à très long terme — contrat pluriannuel reconductible"  # 64 characters: clipped at 60

FIELDS_CARD = """
[cards.smb]
match = { segment = ["smb"] }
caps = [
  { when = "login_recency >= 10 and plan == monthly", at_most = 20 },
  { when = "tenure < 60", at_most = 70 },
]

[cards.smb.groups.usage]
label = "Usage"
weight = 0.5
measures = [
  { name = "login_recency", metric = "logins", transform = "recency", lookback_days = 45, fill = "zero", bands = [[1, 100], [7, 50], [21, 0]], weight = 2 },
  { name = "logins_total", metric = "logins", transform = "level", aggregate = "sum", days = 14, fill = "zero", bands = [[0, 0], [40, 100]], weight = 1 },
  { name = "users_max", metric = "active_users", transform = "level", aggregate = "max", days = 7, fill = "none", bands = [[0, 0], [10, 100]], weight = 1 },
  { name = "users_min", metric = "active_users", transform = "level", aggregate = "min", days = 7, fill = "zero", bands = [[0, 0], [5, 100]], weight = 1 },
  { name = "champion_state", metric = "champion_left", transform = "level", aggregate = "last", days = 30, fill = "none", bands = [[0, 100], [1, 0]], weight = 1 },
]

[cards.smb.groups.account]
label = "Account"
weight = 0.5
measures = [
  { name = "plan", field = "plan", transform = "field", categories = { annual = 100, monthly = 30 }, other = 60, weight = 2 },
  { name = "tenure", field = "tenure_days", transform = "field", bands = [[0, 0], [365, 100]], weight = 1 },
  { name = "renewal_near", field = "days_to_renewal", transform = "field", bands = [[0, 0], [120, 100]], weight = 1 },
  { name = "mrr", field = "mrr", transform = "field", bands = [[0, 0], [5000, 100]], weight = 1 },
  { name = "region", field = "region", transform = "field", label = "the region", categories = { emea = 80, na = 100 }, weight = 1 },
]
"""  # noqa: E501


def _unit(*keys: Any) -> np.ndarray:
    """Numbers in [0, 1) from hashing integer keys (splitmix64): the same on every machine and numpy version."""
    x = np.zeros(np.broadcast_shapes(*(np.shape(k) for k in keys)), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in keys:
            x = (x ^ np.asarray(k, dtype=np.uint64)) + np.uint64(0x9E3779B97F4A7C15)
            x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            x = x ^ (x >> np.uint64(31))
    return (x >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def _iso(days_from_end: np.ndarray) -> list[str | None]:
    return [None if d is None else (END + timedelta(days=int(d))).isoformat() for d in days_from_end]


def accounts() -> pd.DataFrame:
    n = N_ACCOUNTS
    i = np.arange(n)
    u = [_unit(i, k) for k in range(10)]
    pick = lambda values, x: [values[int(v * len(values))] for v in x]  # noqa: E731
    churned = u[0] < 0.06
    start_ago = np.where(u[1] < 0.15, (u[2] * 100).astype(int) + 5, (u[2] * 1400).astype(int) + 120)
    renew_in = (u[3] * 400).astype(int) - 40  # some renewals already past
    return pd.DataFrame({
        "external_id": [f"PIN-{k:04d}" for k in i],
        "name": [f"Pinned Customer {k:04d}" for k in i],
        "domain": [f"pinned-{k:04d}.example.com" for k in i],
        "owner_slack_id": [f"U0PIN{k % 5:04d}" for k in i],
        "segment": pick(["enterprise", "mid-market", "smb", "smb"], u[4]),
        "plan": pick(["annual", "monthly", "Monthly ", "two_year", LONG_PLAN, None], u[5]),
        "region": pick(["NA", "EMEA", "APAC", None], u[6]),
        "lifecycle_stage": pick(["onboarding", "adoption", "mature", "mature"], u[7]),
        "employees": (u[8] * 5000).astype(int) + 3,
        "mrr": np.round(u[9] * 9000 + 50, 2),
        "contract_start": _iso(-start_ago),
        "renewal_date": [None if k % 11 == 0 else v for k, v in zip(i, _iso(renew_in), strict=True)],
        "status": np.where(churned, "churned", "active"),
        "churned_on": [v if c else None for c, v in zip(churned, _iso(-((u[8] * 80).astype(int) + 1)), strict=True)],
    })  # fmt: skip


def metric_rows(ids: np.ndarray) -> list[tuple[int, str, str, float]]:
    """Daily metrics with gaps, late starters, silences, declines, spikes, overdue invoices and sparse surveys."""
    n, d = len(ids), METRIC_DAYS
    a = np.arange(n)[:, None]
    t = np.arange(d)[None, :]
    size = 1 + (_unit(a, 100) * 40).astype(int)
    starts = np.where(_unit(a, 101) < 0.2, (_unit(a, 102) * 140).astype(int), 0)  # some start late
    silent_from = np.where(_unit(a, 103) < 0.12, d - 3 - (_unit(a, 104) * 25).astype(int), d + 1)
    decline = np.where(_unit(a, 105) < 0.25, _unit(a, 106) * 0.9, 0.0) * np.clip((t - d + 50) / 50, 0, 1)
    weekend = np.where(t % 7 >= 5, 0.3, 1.0)
    level = size * (1 - decline) * weekend * (t < silent_from)

    def count(k: int, scale: float) -> np.ndarray:
        return np.floor(level * scale * (0.5 + _unit(a, t, k)))

    values = {
        "logins": count(1, 1.5),
        "active_users": np.minimum(count(2, 1.0), size),
        "core_feature_events": count(3, 3.0),
        "tickets_opened": np.floor(_unit(a, t, 4) * np.where(_unit(a, 107) < 0.1, 5.0, 1.2) * (t > d - 12) + 0.3),
        "ticket_csat": np.where(_unit(a, t, 5) < 0.3, np.round(1 + 4 * _unit(a, t, 6), 1), np.nan),
        "payment_days_overdue": np.where(_unit(a, 108) < 0.1, np.maximum(t - (d - 35), 0), 0.0),
        "email_opens": count(7, 0.2),
        "champion_left": ((_unit(a, 109) < 0.05) & (t > d - 20)).astype(float),
        "nps": np.where((_unit(a, 110) < 0.3) & (t % 30 == 7), np.floor(_unit(a, t, 8) * 11), np.nan),
    }
    days = [(END - timedelta(days=d - 1 - k)).isoformat() for k in range(d)]
    rows = []
    for metric, arr in values.items():
        keep = ~np.isnan(arr) & (t >= starts)
        for r, c in zip(*np.nonzero(keep), strict=True):
            rows.append((int(ids[r]), days[c], metric, float(arr[r, c])))
    return rows


def scorecard_file(folder: Path) -> Path:
    default = (Path(load_scorecard().file or "")).read_text(encoding="utf-8")
    path = folder / "pinned.toml"
    path.write_text(default + FIELDS_CARD, encoding="utf-8")
    return path


def load_portfolio(engine: Engine) -> None:
    frame = accounts()
    frame["name_lower"] = frame["name"].str.lower()
    frame["created_at"] = frame["updated_at"] = "2026-01-01T00:00:00+00:00"
    records = [
        tuple(None if v is None or (isinstance(v, float) and v != v) else v for v in row)
        for row in frame.astype(object).itertuples(index=False, name=None)
    ]
    records = [tuple(v.item() if isinstance(v, np.generic) else v for v in r) for r in records]
    with engine.begin() as conn:
        bulk.upsert_rows(conn, "account", list(frame.columns), ["external_id"], records)
        ids = bulk.account_ids(conn)
        rows = metric_rows(np.array([ids[e] for e in frame["external_id"]], dtype=np.int64))
        if engine.dialect.name == "postgresql":
            rows = [(a, date.fromisoformat(d), m, v) for a, d, m, v in rows]
        bulk.upsert_rows(conn, "metric_observation", ["account_id", "day", "metric", "value"],
                         ["account_id", "day", "metric"], rows)  # fmt: skip


def stored_digests(engine: Engine) -> dict[str, list[Any]]:
    """Per scored day: [rows, sha256 of every stored field but computed_at, parts as stored text]."""
    sql = text(
        "SELECT a.external_id, s.day, s.score, s.tier, s.scorecard, s.partial, s.delta_7, s.delta_30, "
        "CAST(s.parts AS TEXT) FROM health_score s JOIN account a ON a.id = s.account_id "
        "ORDER BY s.day, a.external_id"
    )
    by_day: dict[str, hashlib._Hash] = {}
    count: dict[str, int] = {}
    with engine.connect() as conn:
        for ext, day, score, tier, card, partial, d7, d30, parts in conn.execute(sql):
            key = str(day)[:10]
            line = f"{ext}|{score!r}|{tier}|{card}|{bool(partial)}|{d7!r}|{d30!r}|{parts}\n"
            by_day.setdefault(key, hashlib.sha256()).update(line.encode())
            count[key] = count.get(key, 0) + 1
    return {day: [count[day], h.hexdigest()] for day, h in by_day.items()}


def score_pinned(engine: Engine, folder: Path) -> dict[str, list[Any]]:
    """The backfill of the 89 days before END, then the daily run of END (history read back from storage)."""
    load_portfolio(engine)
    scorecard = load_scorecard(scorecard_file(folder))
    score_range(engine, scorecard, END - timedelta(days=SCORED_DAYS - 1), END - timedelta(days=1), today=END)
    score_range(engine, scorecard, END, END, today=END)
    return stored_digests(engine)


def test_stored_scores_equal_the_pinned_ones(engine: Engine, tmp_path: Path) -> None:
    pinned = json.loads(FIXTURE.read_text(encoding="utf-8"))
    got = score_pinned(engine, tmp_path)

    assert sorted(got) == sorted(pinned)
    assert len(got) == SCORED_DAYS
    differ = [day for day in sorted(pinned) if got[day] != pinned[day]]
    assert differ == [], f"stored scores differ from the pinned ones on {len(differ)} days, first {differ[:3]}"


def test_a_changed_parts_field_changes_the_digest(engine: Engine, tmp_path: Path) -> None:
    """The digest reads the parts as stored: the same parts written with one more byte are caught."""
    pinned = json.loads(FIXTURE.read_text(encoding="utf-8"))
    score_pinned(engine, tmp_path)
    with engine.begin() as conn:
        account_id, parts = conn.execute(
            text("SELECT account_id, CAST(parts AS TEXT) FROM health_score WHERE day = :d ORDER BY account_id"),
            {"d": END},
        ).first()  # type: ignore[misc]
        changed = parts.replace(',"coverage":', ', "coverage":', 1)  # the same parts, one more space
        assert changed != parts and json.loads(changed) == json.loads(parts)
        conn.execute(
            text("UPDATE health_score SET parts = :p WHERE account_id = :a AND day = :d"),
            {"p": changed, "a": account_id, "d": END},
        )
    got = stored_digests(engine)
    assert got[END.isoformat()] != pinned[END.isoformat()]
    assert all(got[day] == pinned[day] for day in pinned if day != END.isoformat())


if __name__ == "__main__" and "--write" in sys.argv:
    import tempfile

    from storage.db import make_engine, upgrade

    digests: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        url = os.environ.get("PIN_DATABASE_URL") or f"sqlite:///{tmp}/pin.db"
        eng = make_engine(url)
        upgrade(eng)
        digests = score_pinned(eng, Path(tmp))
        eng.dispose()
    FIXTURE.write_text(json.dumps(digests, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"{FIXTURE}: {len(digests)} days, {sum(v[0] for v in digests.values())} scores")
