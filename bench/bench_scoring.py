"""Benchmark: the daily scoring run (`bot.scoring.run.score_range` for one day).

    python bench/bench_scoring.py [--database-url URL] [--quick] [--accounts N]

Loads N accounts x 90 days x 8 daily metrics (plus 30 days of stored scores, as earlier
daily runs leave them) straight into the database (storage.bulk / binary COPY, not the
CSV path), then scores the last day in a fresh subprocess so its peak RSS is clean, timing
each phase: accounts, observations read, history read, Panel build, score_day,
hysteresis, the rest (deltas, rows for storage) and store.

Baseline, measured in the same run: a straightforward per-account loop (query the
account's rows, pivot them into a small frame, compute the same measures with plain
pandas/Python, then its previous tier and scores, one upsert per account) on a sample of
accounts, extrapolated to N, with the ratio. The baseline's scores are checked against the
engine's so both do the same work.

SQLite always (a temp file); PostgreSQL too when --database-url points at it (its tables
are truncated before and after). Default 5,000 accounts; the issue's scale is
--accounts 50000 (36 M observations).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import _common as C  # first: puts the code under test on sys.path
import numpy as np
import pandas as pd
from sqlalchemy import text

DAYS = 90
HISTORY_DAYS = 30


# --- the measured run (child process) -----------------------------------------------------


def run_engine(url: str, day: date, cold: bool = False, start: date | None = None) -> dict[str, Any]:
    """score_range(engine, load_scorecard(), start or day, day) with per-phase timers (summed over the days);
    `cold`: derived data removed first."""
    import bot.scoring.run as health
    from bot.scoring.scorecard import load_scorecard
    from storage import accounts, scores
    from storage.db import make_engine

    rss_start = C.rss_mb()
    timer = C.Timer()

    rss_after: dict[str, float] = {}

    def timed(name: str, fn: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                with timer(name):
                    return fn(*args, **kwargs)
            finally:
                rss_after[name] = max(rss_after.get(name, 0.0), C.peak_rss_mb())

        return wrapper

    accounts.accounts_frame = timed("accounts", accounts.accounts_frame)
    scores.observations = timed("read observations", scores.observations)
    scores.scores_on = timed("read history", scores.scores_on)
    scores.save_scores = timed("store", scores.save_scores)
    scores.delete_scores = timed("store", scores.delete_scores)
    if hasattr(scores, "replace_scores"):  # since issue 24: the day's scores replaced in one call
        scores.replace_scores = timed("store", scores.replace_scores)
    try:  # the derived metric window (issue 24); absent in older checkouts
        from bot.scoring import derived, panel
        from storage import metric_cache, metric_days
    except ImportError:
        panel_cls = health.Panel
        health.Panel = type("TimedPanel", (), {"from_long": staticmethod(timed("build panel", panel_cls.from_long))})
    else:
        panel.scatter = timed("build panel", panel.scatter)
        metric_days.day_tokens = timed("read tokens", metric_days.day_tokens)
        metric_days.compact_day_changes = timed("read tokens", metric_days.compact_day_changes)
        derived.copy_cached = timed("copy cached days", derived.copy_cached)
        metric_cache.NewGeneration.commit = timed("save derived", metric_cache.NewGeneration.commit)  # type: ignore[method-assign]
    health.score_day = timed("score_day", health.score_day)
    health.apply_hysteresis = timed("hysteresis", health.apply_hysteresis)

    engine = make_engine(url)
    scorecard = load_scorecard()
    with engine.connect():
        pass  # connect outside the timed part
    if cold:
        with contextlib.suppress(ImportError):
            from storage.metric_cache import folder_for

            folder = folder_for(engine.url.set(password=None).render_as_string(hide_password=False))
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
    cpu0, t0 = time.process_time(), time.perf_counter()
    summary = health.score_range(engine, scorecard, start or day, day)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    engine.dispose()
    splits = dict(timer.splits)
    splits["deltas, rows, other"] = wall - sum(splits.values())
    return {
        "wall": wall, "cpu": cpu, "splits": splits, "scored": summary.scored, "skipped": summary.skipped,
        "tiers": summary.tiers, "peak_rss_mb": C.peak_rss_mb(), "rss_start_mb": rss_start, "peak_after": rss_after,
        "helper_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }  # fmt: skip


# --- the baseline: a straightforward per-account loop (child process) ---------------------


def run_baseline(url: str, day: date, account_ids: list[int], budget_s: float) -> dict[str, Any]:
    """Score accounts one by one the plain way, until `account_ids` or `budget_s` run out."""
    from bot.scoring.explain import cap_code, reason_code, worded
    from bot.scoring.scorecard import load_scorecard
    from storage.db import make_engine

    sc = load_scorecard()
    engine = make_engine(url)
    lookback = sc.data.lookback_days
    window = [day - timedelta(days=lookback - 1 - i) for i in range(lookback)]
    metrics = sc.metrics
    done: list[int] = []
    t0 = time.perf_counter()
    with engine.connect() as conn:  # metrics some account reports in the window: the others leave the card
        reported = set(conn.execute(
            text("SELECT DISTINCT metric FROM metric_observation WHERE day >= :s AND day <= :e"),
            {"s": window[0], "e": window[-1]},
        ).scalars())  # fmt: skip
    with engine.begin() as conn:
        for account_id in account_ids:
            if time.perf_counter() - t0 > budget_s and done:
                break
            acc = conn.execute(text("SELECT * FROM account WHERE id = :a"), {"a": account_id}).mappings().one()
            _naive_score_one(conn, sc, (reason_code, cap_code, worded), dict(acc), day, window, metrics, reported)
            done.append(account_id)
    wall = time.perf_counter() - t0
    engine.dispose()
    return {"wall": wall, "accounts": len(done), "ids": done, "peak_rss_mb": C.peak_rss_mb()}


def _as_date(v: Any) -> date | None:
    if v is None or v == "":
        return None
    return v if isinstance(v, date) else date.fromisoformat(str(v)[:10])


def _naive_score_one(
    conn: Any, sc: Any, texts: Any, acc: dict, day: date, window: list, metrics: list, reported: set
) -> None:  # fmt: skip
    reason_code, cap_code, worded = texts  # a driver keeps its reason's code and its words, as the engine stores them
    lookback = len(window)
    # active on `day`?
    start, churned = _as_date(acc["contract_start"]), _as_date(acc["churned_on"])
    if not ((start is None or start <= day) and (churned is None or churned > day)
            and (acc["status"] == "active" or churned is not None)):  # fmt: skip
        return
    rows = conn.execute(
        text("SELECT day, metric, value FROM metric_observation WHERE account_id = :a AND day >= :s AND day <= :e"),
        {"a": acc["id"], "s": window[0], "e": window[-1]},
    ).fetchall()
    frame = pd.DataFrame([tuple(r) for r in rows], columns=["day", "metric", "value"])
    frame["day"] = pd.to_datetime(frame["day"])
    frame = frame[frame["metric"].isin(metrics)]
    wide = frame.pivot(index="day", columns="metric", values="value").reindex(
        index=pd.to_datetime(window), columns=metrics
    )
    has_data = wide.notna().any(axis=1).to_numpy()
    days_with_data = int(has_data.sum())
    first = int(np.argmax(has_data)) if has_data.any() else len(window)  # the account's first day of data
    renewal = _as_date(acc["renewal_date"])
    days_to_renewal = float((renewal - day).days) if renewal else math.nan

    card_name = next((n for n, c in sc.cards.items() if c.match and all(acc.get(k) in v for k, v in c.match.items())),
                     next(n for n, c in sc.cards.items() if not c.match))  # fmt: skip
    card = sc.cards[card_name]
    total_gw = sum(g.weight for g in card.groups.values())
    m_score: dict[str, float] = {}
    m_fig: dict[str, dict[str, float]] = {}
    m_x: dict[str, float] = {}
    g_score: dict[str, float] = {}
    g_den: dict[str, float] = {}
    covered = applicable = 0.0
    for g_name, group in card.groups.items():
        num = den = 0.0
        for m in group.measures:
            if m.metric not in reported:
                continue
            series = wide[m.metric]
            x, fig = _naive_measure(m, series, lookback, days_to_renewal, first)
            s = math.nan if math.isnan(x) else float(np.interp(x, [b[0] for b in m.bands], [b[1] for b in m.bands]))
            m_score[m.name], m_fig[m.name], m_x[m.name] = s, fig, x
            nominal = group.weight / total_gw * m.weight / sum(y.weight for y in group.measures)
            near = 0 <= days_to_renewal <= m.within_days if m.transform == "renewal" else True
            applicable += nominal if near else 0.0
            if not math.isnan(s):
                num += s * m.weight
                den += m.weight
                covered += nominal
        g_score[g_name] = num / den if den > 0 else math.nan
        g_den[g_name] = den
    avail = sum(card.groups[g].weight for g in card.groups if g_den[g] > 0)
    if avail <= 0:
        return
    score = sum(g_score[g] * card.groups[g].weight for g in card.groups if g_den[g] > 0) / avail
    coverage = covered / applicable if applicable > 0 else 0.0
    if days_with_data < sc.data.min_days_of_data or coverage < sc.data.min_weight_covered:
        return
    cap_at, cap = math.inf, None  # the tightest cap whose conditions all hold
    for c in card.caps:
        holds = all(
            c_.measure in m_x and not math.isnan(m_x[c_.measure])
            and {">=": m_x[c_.measure] >= c_.value, "<=": m_x[c_.measure] <= c_.value, ">": m_x[c_.measure] > c_.value,
                 "<": m_x[c_.measure] < c_.value, "==": m_x[c_.measure] == c_.value,
                 "!=": m_x[c_.measure] != c_.value}[c_.op]
            for c_ in c.conditions
        )  # fmt: skip
        if holds and c.at_most < cap_at:
            cap_at, cap = c.at_most, c
    capped = cap_at * score / 100 if cap is not None else score
    held = score - capped >= 0.05
    lost = {}
    for g_name, group in card.groups.items():
        for m in group.measures:
            if m.name not in m_score:
                continue
            s = m_score[m.name]
            eff = (m.weight / g_den[g_name] * group.weight / avail) if not math.isnan(s) and g_den[g_name] > 0 else 0.0
            lost[m.name] = eff * (100.0 - (100.0 if math.isnan(s) else s))
    names = list(lost)
    order = np.argsort(-np.array([lost[n] for n in names]))[:3]
    where = {m.name: (g, m) for g, m in card.measures()}
    drivers = []
    named: list[str] = []
    if held and cap is not None:  # the cap's driver says its measures once, with their points
        named = [c_.measure for c_ in cap.conditions]
        code = cap_code([reason_code(where[nm][1], m_fig[nm]) for nm in named], cap.at_most)
        points = (score - capped) + sum(lost[nm] for nm in named)
        drivers.append({"measure": f"cap:{named[0]}", "group": "", "points": round(-points, 1),
                        "reason": worded(code), "words": code})  # fmt: skip
    for j in order:
        if lost[names[j]] < 0.5:
            break
        if names[j] in named:
            continue
        g, m = where[names[j]]
        code = reason_code(m, m_fig[names[j]])
        drivers.append({"measure": names[j], "group": g, "points": round(-lost[names[j]], 1),
                        "reason": worded(code), "words": code})  # fmt: skip
    drivers = sorted(drivers, key=lambda d: d["points"])[:3]
    score = capped if held else score
    rounded = float(np.round(score, 1))
    parts = {
        "groups": {g: None if math.isnan(v) else round(v, 1) for g, v in g_score.items()},
        "measures": {n: None if math.isnan(m_score[n]) else round(m_score[n], 1) for n in names},
        "drivers": drivers, "coverage": float(np.round(coverage, 3)),
    }  # fmt: skip
    # tier with hysteresis against yesterday's stored tier; deltas against 7 / 30 days ago
    prev = conn.execute(
        text("SELECT tier FROM health_score WHERE account_id = :a AND day = :d"),
        {"a": acc["id"], "d": day - timedelta(days=1)},
    ).scalar()
    tier = _naive_tier(sc, rounded, prev)
    deltas = []
    for k in (7, 30):
        before = conn.execute(
            text("SELECT score FROM health_score WHERE account_id = :a AND day = :d"),
            {"a": acc["id"], "d": day - timedelta(days=k)},
        ).scalar()
        deltas.append(None if before is None else float(np.round(rounded - before, 1)))
    conn.execute(
        text(
            "INSERT INTO health_score (account_id, day, score, tier, scorecard, partial, delta_7, delta_30, parts,"
            " computed_at) VALUES (:a, :d, :s, :t, :c, :p, :d7, :d30, :parts, :now) ON CONFLICT (account_id, day)"
            " DO UPDATE SET score = excluded.score, tier = excluded.tier, scorecard = excluded.scorecard,"
            " partial = excluded.partial, delta_7 = excluded.delta_7, delta_30 = excluded.delta_30,"
            " parts = excluded.parts, computed_at = excluded.computed_at"
        ),
        {
            "a": acc["id"],
            "d": day,
            "s": rounded,
            "t": tier,
            "c": card_name,
            "p": coverage < 0.999,
            "d7": deltas[0],
            "d30": deltas[1],
            "parts": json.dumps(parts, separators=(",", ":")),
            "now": pd.Timestamp.now(tz="UTC").to_pydatetime(),
        },  # fmt: skip
    )


def _naive_measure(
    m: Any, series: pd.Series, lookback: int, days_to_renewal: float, first: int
) -> tuple[float, dict]:  # fmt: skip
    """One measure for one account, the plain pandas way (same definitions as the scorecard). `first`: the
    position of the account's first day of data in the window (days before it are not zeros, just unknown)."""
    values = series.iloc[-lookback:]
    seen = not values.isna().all()
    filled = values.fillna(0.0) if m.fill == "zero" else values
    nan = math.nan
    if m.transform == "level":
        w = filled.iloc[-m.days :]
        if m.aggregate == "last":
            valid = w.dropna()
            x = float(valid.iloc[-1]) if len(valid) else nan
        elif w.isna().all():
            x = nan
        else:
            x = float({"mean": w.mean, "sum": w.sum, "max": w.max, "min": w.min}[m.aggregate]())
        x = x if seen else nan
        return x, {"value": x}
    if m.transform in ("trend", "renewal", "ratio"):
        n = len(filled)
        recent_sum = float(filled.iloc[-m.days :].sum())
        base_lo, base_hi = max(n - m.days - m.baseline_days, 0), n - m.days
        base_part = filled.iloc[base_lo:base_hi]
        base_sum = float(base_part.sum()) if n > m.days else 0.0
        recent_days = sum(1 for i in range(max(n - m.days, 0), n) if i >= first)
        base_days = sum(1 for i in range(base_lo, max(base_hi, base_lo)) if i >= first)
        if m.transform == "ratio":
            usual = base_sum / base_days * m.days if base_days else nan
            quiet_usual = usual < m.min_baseline and recent_sum <= usual
            ratio = 1.0 if quiet_usual else recent_sum / max(usual, m.baseline_floor) if base_days else nan
            return (ratio if seen else nan), {"recent": recent_sum, "usual": usual}
        recent = recent_sum / max(recent_days, 1)
        base = base_sum / base_days if base_days else nan
        change = nan if math.isnan(base) else recent / base - 1.0 if base > 0 else (1.0 if recent > 0 else 0.0)
        change = min(change, 1.0) if seen and not math.isnan(change) else nan
        figures = {"change": change, "recent": recent, "base": base}
        if m.transform == "renewal":
            if not (0 <= days_to_renewal <= m.within_days):
                change = nan
            figures = {**figures, "change": change, "days_to_renewal": days_to_renewal}
        return change, figures
    if m.transform == "recency":
        w = filled.iloc[-m.lookback_days :].fillna(0.0).to_numpy()
        active = np.flatnonzero(w > 0)
        since = float(len(w) - 1 - active[-1]) if len(active) else float(m.lookback_days)
        since = since if seen else nan
        return since, {"days_since": since}
    if m.transform == "flag":
        w = values.iloc[-m.days :]
        x = nan if w.isna().all() else float(w.max() >= m.threshold)
        return x, {"flag": x}
    raise ValueError(m.transform)


def _naive_tier(sc: Any, score: float, previous: str | None) -> str:
    t = sc.tiers

    def tier(s: float) -> str:
        return next((name for name in t.order if s >= t.cutoffs[name]), t.order[-1])

    raw = tier(score)
    rank = {name: i for i, name in enumerate(t.order)}
    if t.hysteresis == 0 or previous is None or previous not in rank or previous == raw:
        return raw
    if rank[raw] < rank[previous]:
        up = tier(score - t.hysteresis)
        return up if rank[up] < rank[previous] else previous
    down = tier(score + t.hysteresis)
    return down if rank[down] > rank[previous] else previous


# --- orchestration (parent process) -------------------------------------------------------


def _child(kind: str, code_root: str | None = None, tolerant: bool = False, **spec: Any) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps({"kind": kind, **spec}, default=str)]
    env = {**os.environ, **({"HEALTHBOT_CODE_ROOT": code_root} if code_root else {})}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        if tolerant:
            return {"failed": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"}
        raise SystemExit(f"{kind} child failed ({proc.returncode})")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["process_s"] = time.perf_counter() - t0
    out["child_maxrss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return out


def _best(repeat: int, fn: Any) -> dict[str, Any]:
    """The fastest of `repeat` runs (other work on the machine only ever adds time)."""
    runs = [fn() for _ in range(max(repeat, 1))]
    best = min(runs, key=lambda r: r["wall"])
    best["runs"] = [r["wall"] for r in runs]
    return best


def _stored(engine: Any, day: date, ids: list[int]) -> dict[int, tuple]:
    from sqlalchemy import bindparam

    if not ids:
        return {}
    stmt = text(
        "SELECT account_id, score, tier, partial, delta_7, delta_30, parts FROM health_score "
        "WHERE day = :d AND account_id IN :ids"
    ).bindparams(bindparam("ids", expanding=True))
    out = {}
    with engine.connect() as conn:
        for r in conn.execute(stmt, {"d": day, "ids": ids}):
            parts = r[6] if isinstance(r[6], dict) else json.loads(r[6])
            out[int(r[0])] = (float(r[1]), r[2], bool(r[3]), r[4], r[5], json.dumps(parts, sort_keys=True))
    return out


def bench_backend(label: str, engine: Any, url: str, args: argparse.Namespace) -> dict[str, Any]:
    n = args.accounts
    day = C.END
    print(f"[{label}] loading {n:,} accounts x {DAYS} days x {len(C.METRICS)} metrics ...", flush=True)
    t0 = time.perf_counter()
    ids = C.load_accounts(engine, C.gen_accounts(n))
    n_obs = C.load_metrics(engine, ids, DAYS)
    load_s = time.perf_counter() - t0
    C.load_history(engine, ids, [day - timedelta(days=k) for k in range(1, HISTORY_DAYS + 1)])
    print(f"[{label}] loaded {n_obs:,} observations in {load_s:.1f} s ({n_obs / load_s:,.0f} rows/s); scoring ...",
          flush=True)  # fmt: skip
    before = None
    if args.compare_root:  # the same run with another checkout's code, on the same data
        print(f"[{label}] scoring with the code in {args.compare_root} ...", flush=True)
        before = _best(args.repeat, lambda: _child("engine", args.compare_root, url=url, day=day.isoformat()))
    sample = [int(i) for i in ids[np.linspace(0, len(ids) - 1, min(args.baseline_accounts, len(ids))).astype(int)]]
    before_rows = _stored(engine, day, sample) if args.compare_root else {}
    # the cold run: no derived data yet (a full read, then the cache is written); --repeat starts cold each time
    run = _best(args.repeat, lambda: _child("engine", args.code_root, url=url, day=day.isoformat(), cold=True))
    # a sample spread over all accounts for the baseline
    engine_rows = _stored(engine, day, sample)
    cold_agree = (sum(1 for i in sample if i in engine_rows and before_rows.get(i) == engine_rows[i]),
                  len(before_rows)) if args.compare_root else None  # fmt: skip
    print(f"[{label}] engine {run['wall']:.1f} s; baseline per-account loop ...", flush=True)
    base = _child("baseline", tolerant=True, url=url, day=day.isoformat(), ids=sample, budget=args.baseline_seconds)
    if "failed" in base:  # the per-account loop no longer runs with this code: no baseline figures
        print(f"[{label}] baseline failed: {base['failed']}", flush=True)
        base = {"wall": math.nan, "accounts": 0, "ids": [], "peak_rss_mb": math.nan, "failed": base["failed"]}
    base_rows = _stored(engine, day, base["ids"])
    same = sum(1 for i in base["ids"] if i in engine_rows and base_rows.get(i) == engine_rows[i])
    scored_in_sample = sum(1 for i in base["ids"] if i in engine_rows)
    # the day after: one new day imported, then the daily run (with the derived data the cold run left)
    nxt = day + timedelta(days=1)
    print(f"[{label}] the day after: importing {nxt} and scoring it ...", flush=True)
    t0 = time.perf_counter()
    C.load_metrics(engine, ids, 1, end=nxt)
    new_day_s = time.perf_counter() - t0
    after_before = None
    if args.compare_root:
        after_before = _child("engine", args.compare_root, url=url, day=nxt.isoformat())
        full_rows = _stored(engine, nxt, sample)
    after = _child("engine", args.code_root, url=url, day=nxt.isoformat())
    derived_rows = _stored(engine, nxt, sample)
    after_same = (sum(1 for i in sample if i in derived_rows and full_rows.get(i) == derived_rows[i]), len(full_rows)) \
        if args.compare_root else None  # fmt: skip
    return {"label": label, "accounts": n, "observations": n_obs, "load_s": load_s, "run": run, "base": base,
            "agree": same, "agree_of": scored_in_sample, "sample": len(base["ids"]), "before": before,
            "next": after, "next_before": after_before, "next_agree": after_same, "new_day_s": new_day_s,
            "cold_agree": cold_agree}  # fmt: skip


# --- the backfill: score_range over many days (`healthbot score --from --to`) --------------------------


def _drop_scores(engine: Any, start: date) -> None:
    """Each backfill starts from the same table: no scores from `start` on (every run inserts, none updates)."""
    from storage import scores

    with engine.begin() as conn:
        scores.delete_scores_after(conn, start - timedelta(days=1))


def bench_backfill(label: str, engine: Any, url: str, args: argparse.Namespace) -> dict[str, Any] | None:
    """The same data scored over `--backfill` days, this code (and the --compare-root code), each from a table
    without those days; then one day alone the same way, so "N days / 1 day" compares like with like."""
    if not args.backfill:
        return None
    day = C.END
    start = day - timedelta(days=args.backfill - 1)
    roots = [("after", args.code_root)] + ([("before", args.compare_root)] if args.compare_root else [])
    out: dict[str, Any] = {"days": args.backfill}
    for name, root in roots:
        print(f"[{label}] backfill of {args.backfill} days, {name} ...", flush=True)
        _drop_scores(engine, start)
        many = _child("engine", root, url=url, day=day.isoformat(), start=start.isoformat())
        _drop_scores(engine, day)
        one = _child("engine", root, url=url, day=day.isoformat())
        out[name] = {"range": many, "day": one}
    return out


def report_backfill(results: list[dict[str, Any]]) -> None:
    done = [r for r in results if r.get("backfill")]
    if not done:
        return
    phases = ["accounts", "read observations", "read history", "build panel", "score_day", "hysteresis",
              "deltas, rows, other", "store"]  # fmt: skip
    days = done[0]["backfill"]["days"]
    print()
    print(
        f"Backfill: score_range over {days} days (healthbot score --from --to), seconds per phase summed over the days"
    )
    columns = [(f"{r['label']} {name}", r["backfill"][name]) for r in done for name in ("before", "after")
               if name in r["backfill"]]  # fmt: skip
    rows: list[list[object]] = [[p, *[c["range"]["splits"].get(p, 0.0) for _, c in columns]] for p in phases]
    rows.append([f"total, {days} days (wall)", *[c["range"]["wall"] for _, c in columns]])
    rows.append(["one day alone (wall)", *[c["day"]["wall"] for _, c in columns]])
    rows.append([f"{days} days / 1 day", *[c["range"]["wall"] / c["day"]["wall"] for _, c in columns]])
    rows.append(["account-days scored", *[c["range"]["scored"] for _, c in columns]])
    rows.append(["account-days/s", *[c["range"]["scored"] / c["range"]["wall"] for _, c in columns]])
    rows.append(
        ["peak RSS MB", *[c["range"]["peak_rss_mb"] + c["range"].get("helper_rss_mb", 0.0) for _, c in columns]]
    )
    print(C.table(rows, ["phase", *[name for name, _ in columns]]))
    for r in done:
        b = r["backfill"]
        if "before" in b:
            print(f"{r['label']}: backfill {b['before']['range']['wall'] / b['after']['range']['wall']:.1f}x faster "
                  "than the --compare-root code")  # fmt: skip


def report(results: list[dict[str, Any]], compare_root: str | None) -> None:
    phases = ["accounts", "read tokens", "read observations", "copy cached days", "read history", "build panel",
              "save derived", "score_day", "hysteresis", "deltas, rows, other", "store"]  # fmt: skip
    print()
    print("Daily scoring run: score_range(engine, load_scorecard(), day, day), seconds per phase")
    runs = [x for r in results for x in ((f"{r['label']} cold", r["run"]), (f"{r['label']} next day", r["next"]))]
    if compare_root:
        runs = [x for r in results for x in ((f"{r['label']} before", r["before"]), (f"{r['label']} cold", r["run"]),
                                             (f"{r['label']} next before", r["next_before"]),
                                             (f"{r['label']} next day", r["next"]))]  # fmt: skip
    header = ["phase", *[label for label, _ in runs]]
    rows: list[list[object]] = [[p, *[run["splits"].get(p, 0.0) for _, run in runs]] for p in phases]
    rows.append(["total (wall)", *[run["wall"] for _, run in runs]])
    if any(len(run.get("runs", [])) > 1 for _, run in runs):
        rows.append(["  (all runs)", *[" / ".join(f"{w:.1f}" for w in run["runs"]) for _, run in runs]])
    rows.append(["process CPU s (client side)", *[run["cpu"] for _, run in runs]])
    rows.append(["peak RSS MB after reading", *[run["peak_after"].get("read observations", 0.0) for _, run in runs]])
    rows.append(["peak RSS MB (whole run)", *[run["peak_rss_mb"] for _, run in runs]])
    rows.append(["peak RSS MB, read helper process", *[run.get("helper_rss_mb", 0.0) for _, run in runs]])
    print(C.table(rows, header))
    print("'cold': no derived data yet (every day read, the derived data written); 'next day': one new day imported,"
          " then the daily run for it (the cached days reused, the new one read)")  # fmt: skip
    if compare_root:
        print(f"'before' columns: the same run with the code in {compare_root}; speed-up cold "
              + ", ".join(f"{r['label']} {r['before']['wall'] / r['run']['wall']:.1f}x" for r in results)
              + "; next day " + ", ".join(f"{r['label']} {r['next_before']['wall'] / r['next']['wall']:.1f}x"
                                          for r in results))  # fmt: skip
        for r in results:
            for what, key in (("cold", "cold_agree"), ("next day", "next_agree")):
                same, of = r[key]
                print(f"{r['label']} {what}: stored rows equal to the before code's (a full read) on {same}/{of}"
                      " sampled accounts (every column but computed_at)")  # fmt: skip
    print()
    print("Summary")
    header = ["backend", "accounts", "observations", "scored", "wall s", "accounts/s", "peak RSS MB*",
              "baseline acc/s", "baseline est. s", "speed-up x", "baseline agrees", "next day s",
              "next day RSS MB*"]  # fmt: skip
    rows = []
    for r in results:
        run, base = r["run"], r["base"]
        base_rate = base["accounts"] / base["wall"] if base["accounts"] and base["wall"] else math.nan
        est = r["accounts"] / base_rate if base_rate == base_rate else math.nan
        rows.append([
            r["label"], r["accounts"], r["observations"], run["scored"], run["wall"], r["accounts"] / run["wall"],
            run["peak_rss_mb"] + run.get("helper_rss_mb", 0.0), base_rate, est, est / run["wall"],
            f"{r['agree']}/{r['agree_of']}", r["next"]["wall"],
            r["next"]["peak_rss_mb"] + r["next"].get("helper_rss_mb", 0.0),
        ])  # fmt: skip
    print(C.table(rows, header))
    print("* scoring process + the SQLite read helper process (if one ran), as if both peaked at once")
    print()
    for r in results:
        print(f"{r['label']}: bulk load {r['observations']:,} rows in {r['load_s']:.1f} s "
              f"({r['observations'] / r['load_s']:,.0f} rows/s, bench setup); scoring child RSS at start "
              f"{r['run']['rss_start_mb']:.0f} MB; baseline measured on {r['base']['accounts']} accounts "
              f"in {r['base']['wall']:.1f} s.")  # fmt: skip
    print(f"load average now: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (other work on this machine "
          "slows wall figures; ratios are measured in the same run)")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="PostgreSQL URL to benchmark as well (its tables are truncated)")
    parser.add_argument("--quick", action="store_true", help="CI size: 1,500 accounts, small baseline (< 60 s)")
    parser.add_argument("--accounts", type=int, help="accounts to score (default 5,000; the issue's scale: 50,000)")
    parser.add_argument("--baseline-accounts", type=int, help="per-account loop sample (default 200)")
    parser.add_argument("--baseline-seconds", type=float, help="stop the per-account loop after this long")
    parser.add_argument("--repeat", type=int, default=1, help="score N times, report the fastest (default 1)")
    parser.add_argument("--no-sqlite", action="store_true", help="only PostgreSQL")
    parser.add_argument("--code-root", help="score with the code of this checkout instead of this one")
    parser.add_argument("--compare-root", help="also score with the code of this checkout (before/after figures)")
    parser.add_argument("--backfill", type=int, default=0, help="also time a backfill of N days (score --from --to)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        spec = json.loads(args.child)
        day = date.fromisoformat(spec["day"])
        if spec["kind"] == "engine":
            start = date.fromisoformat(spec["start"]) if spec.get("start") else None
            out = run_engine(spec["url"], day, bool(spec.get("cold")), start)
        else:
            out = run_baseline(spec["url"], day, spec["ids"], spec["budget"])
        print(json.dumps(out, default=str))
        return 0
    args.accounts = args.accounts or (1_500 if args.quick else 5_000)
    args.baseline_accounts = args.baseline_accounts or (60 if args.quick else 200)
    args.baseline_seconds = args.baseline_seconds or (8.0 if args.quick else 30.0)
    print(f"bench_scoring: {args.accounts:,} accounts x {DAYS} days x {len(C.METRICS)} metrics; "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)  # fmt: skip
    # the derived data (CACHE_DIR) of the scoring children: in a temp folder, removed at the end
    cache = C.temp_dir("healthbot-bench-cache-")
    os.environ["CACHE_DIR"] = cache.name
    results = []
    if not args.no_sqlite:
        with C.temp_dir("healthbot-bench-") as tmp, C.sqlite_engine(Path(tmp)) as engine:
            results.append(bench_backend("sqlite", engine, str(engine.url), args))
            results[-1]["backfill"] = bench_backfill("sqlite", engine, str(engine.url), args)
    if C.is_postgres(args.database_url):
        url = C.normalise_url(args.database_url)
        with C.postgres_engine(url) as engine:
            results.append(bench_backend("postgresql", engine, url, args))
            results[-1]["backfill"] = bench_backfill("postgresql", engine, url, args)
    elif args.database_url:
        print(f"--database-url {args.database_url}: not PostgreSQL, skipped", file=sys.stderr)
    cache.cleanup()
    report(results, args.compare_root)
    report_backfill(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
