"""`healthbot scorecard suggest`: a scorecard from the portfolio's own metrics, fields and churn.

Portfolios come from tests/synthetic.py, whose truth is known (a dominating metric, a plan and tenure effect),
imported and suggested through the real CLI; noise metrics nobody churns by are added to see them left out.
"""

from __future__ import annotations

import os
import re
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine

from bot.cli import main
from bot.scoring import fitting
from bot.scoring.scorecard import load_scorecard
from bot.scoring.suggest import MIN_BIN_ACCOUNTS, MIN_BIN_CHURNERS, MIN_CHURNERS, _segments, suggest
from tests.synthetic import Portfolio, make_portfolio

END = date(2026, 6, 30)
AS_OF = END - timedelta(days=60)
HORIZON = 45


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def healthbot(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code, out, err = run(capsys, *argv)
    assert code == 0, f"healthbot {' '.join(argv)} exited {code}:\n{err}{out}"
    return out


def with_noise(p: Portfolio, seed: int = 5) -> Portfolio:
    """The portfolio plus `coffee_breaks`, a count drawn the same way for everyone: it predicts nothing."""
    rng = np.random.default_rng(seed)
    days = p.metrics[p.metrics["metric"] == p.metrics["metric"].iloc[0]]
    noise = days.assign(metric="coffee_breaks", value=rng.poisson(3.0, len(days)).astype(float))
    return Portfolio(p.kind, p.accounts, pd.concat([p.metrics, noise], ignore_index=True))


def load(capsys: pytest.CaptureFixture[str], p: Portfolio, folder: Path) -> None:
    accounts, metrics = p.write(folder)
    healthbot(capsys, "import", "accounts", str(accounts))
    healthbot(capsys, "import", "metrics", str(metrics))


def suggest_cli(capsys: pytest.CaptureFixture[str], out: Path, as_of: date = AS_OF, horizon: int = HORIZON) -> str:
    return healthbot(
        capsys, "scorecard", "suggest", "--as-of", as_of.isoformat(), "--horizon", str(horizon), "--out", str(out)
    )


def measure_lines(printed: str, description: str) -> list[str]:
    return [line for line in printed.splitlines() if line.startswith(f"  {description}:")]


def held_out_auc(printed: str) -> float:
    block = printed[printed.index("Backtest of the suggestion") :]
    return float(re.search(r"ROC AUC of \(100 - score\) for churn: ([0-9.]+)", block).group(1))  # type: ignore[union-attr]


def test_dominating_metric_becomes_a_measure_and_a_cap_noise_is_left_out(
    engine: Engine, cli_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    load(capsys, with_noise(make_portfolio("dominant", 800, 31, END)), tmp_path / "data")
    out = tmp_path / "card.toml"
    printed = suggest_cli(capsys, out)

    calls = measure_lines(printed, "service calls, total over the last 30 days")
    assert len(calls) == 1 and "-> in, AUC" in calls[0], printed
    assert re.search(r"\d[\d,]* accounts, \d+ % churned \|", calls[0])  # the counts behind it
    card = load_scorecard(out)
    default = card.cards["default"]
    measures = {m.name: m for _, m in default.measures()}
    calls_measure = measures["service_calls_sum_30d"]
    assert calls_measure.label == "service calls" and calls_measure.aggregate == "sum"
    scores = [s for _, s in calls_measure.bands]
    assert (
        scores == sorted(scores, reverse=True) and scores[0] == 100 and scores[-1] == 0
    )  # monotone: more calls, worse

    caps = [c for c in default.caps if any(cond.measure == "service_calls_sum_30d" for cond in c.conditions)]
    assert caps, f"no cap on service calls:\n{printed}"
    single = next(c for c in caps if len(c.conditions) == 1)
    threshold = single.conditions[0]
    assert threshold.op == ">=" and 3 <= float(threshold.value) <= 6  # the truth: 4 or more calls in 30 days
    assert single.at_most < card.tiers.cutoffs[card.tiers.order[1]]  # held out of the two best tiers
    cap_line = next(line for line in printed.splitlines() if "service calls, total over the last 30 days" in line
                    and "score at most" in line)  # fmt: skip
    assert re.search(r"accounts, \d+ % churned \(base rate \d+ %\)", cap_line)

    noise = measure_lines(printed, "coffee breaks, total over the last 30 days")
    noise += measure_lines(printed, "coffee breaks, average over the last 7 days")
    assert noise and all("-> out" in line and "churned" in line for line in noise), noise
    assert "coffee_breaks" not in card.metrics

    assert held_out_auc(printed) >= 0.65
    assert healthbot(capsys, "scorecard", "check", str(out)).startswith(f"{out}: valid")
    header = out.read_text(encoding="utf-8").splitlines()[:4]
    assert all(line.startswith("#") for line in header) and "SCORECARD_PATH" in " ".join(header)


PLANS = np.array(["month_to_month", "annual", "two_year"])


def contract_portfolio(n: int, seed: int, days: int = 120) -> Portfolio:
    """Churn driven by the plan (month to month ~6x annual) and tenure (the first 180 days 3x later on; a third of
    the accounts are that young on AS_OF); logins are the same for everyone and stop when an account churns."""
    rng = np.random.default_rng(seed)
    first = END - timedelta(days=days - 1)
    plan = rng.choice(3, n, p=[0.35, 0.45, 0.2])
    young = rng.random(n) < 0.35
    tenure_on_as_of = np.where(young, rng.integers(20, 180, n), rng.integers(180, 1500, n))
    start = (days - 60) - tenure_on_as_of  # in day columns (0 = the first day of metrics)
    cols = np.arange(days)[None, :]
    tenure = cols - start[:, None]
    daily = np.array([0.008, 0.0015, 0.001])[plan][:, None] * np.where(tenure < 180, 3.0, 1.0)
    hit = (rng.random((n, days)) < daily) & (tenure > 14) & (cols >= 20)
    churn = np.where(hit.any(axis=1), hit.argmax(axis=1), days)
    ids = [f"C{seed}-{i:05d}" for i in range(n)]
    when = [first + timedelta(days=int(c)) for c in range(days)]
    accounts = pd.DataFrame({
        "external_id": ids, "name": [f"Contract {i}" for i in ids], "plan": PLANS[plan],
        "contract_start": [(first + timedelta(days=int(c))).isoformat() for c in start],
        "status": np.where(churn < days, "churned", "active"),
        "churned_on": [when[c].isoformat() if c < days else None for c in churn],
    })  # fmt: skip
    rows, cols_live = np.nonzero((cols >= np.maximum(start, 0)[:, None]) & (cols < churn[:, None]))
    metrics = pd.DataFrame({
        "external_id": np.array(ids)[rows], "date": [when[c].isoformat() for c in cols_live], "metric": "logins",
        "value": rng.poisson(5.0, len(rows)).astype(float),
    })  # fmt: skip
    return Portfolio("contract", accounts, metrics)


def test_plan_and_tenure_are_used_when_they_drive_churn(
    engine: Engine, cli_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    load(capsys, contract_portfolio(1200, 32), tmp_path / "data")
    out = tmp_path / "card.toml"
    printed = suggest_cli(capsys, out)
    card = load_scorecard(out)
    measures = {m.name: m for _, m in card.cards["default"].measures()}

    plan = measures.get("plan")
    assert plan is not None and plan.transform == "field", printed
    assert plan.categories["month_to_month"] < min(plan.categories["annual"], plan.categories["two_year"])
    line = measure_lines(printed, "plan")[0]
    assert "-> in" in line and re.search(r"month_to_month: [\d,]+, \d+ %", line)
    tenure = measures.get("tenure_days")
    assert tenure is not None, printed
    assert tenure.bands[0][1] < tenure.bands[-1][1]  # young accounts score lower
    assert tenure.bands[0][0] < 180 < tenure.bands[-1][0]
    logins = measure_lines(printed, "logins, average over the last 7 days")
    assert logins and "-> out" in logins[0]  # the same for everyone: no reason to read them


def test_python_api_fits_and_tests_on_different_accounts(engine: Engine, cli_env: None, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    load(capsys, make_portfolio("silent", 700, 33, END), tmp_path / "data")
    result = suggest(engine, AS_OF, HORIZON, progress=False)

    assert result.test.auc is not None and result.test.auc >= 0.65
    assert result.test.accounts == result.test_accounts - result.test.unscored and result.test.churned >= 10
    assert result.days[0] == AS_OF and len(result.days) >= 2
    fit_share = result.fit_accounts / (result.fit_accounts + result.test_accounts)
    assert 0.5 <= fit_share <= 0.7  # folds 0-2 fit, 3-4 test
    kept = [c for c in result.candidates if c.kept]
    assert kept and all(c.weight and c.why.startswith("in") for c in kept)
    assert all(c.why.startswith("out") for c in result.candidates if not c.kept)
    assert {c.transform for c in result.candidates} >= {"level", "trend", "recency", "field"}
    assert all(sum(b.accounts for b in c.bins) > 0 for c in kept)
    assert sum(s.churned for s in result.test_shares) == result.test.churned
    assert "Backtest of the suggestion" in result.report()
    names = {m.name for _, m in result.scorecard.cards["default"].measures()}
    assert names == {c.name for c in kept}


def test_bins_are_big_enough_and_their_churn_rates_monotone() -> None:
    rng = np.random.default_rng(3)
    x = rng.exponential(5.0, 3000)
    churn = rng.random(3000) < np.clip(0.05 + 0.03 * x, 0, 0.9)  # churn rises with x
    x[:40] = 200.0  # a handful of extreme values: merged, not a bin of their own
    segments = _segments(x, churn, direction=1)
    rates = [c / n for _, _, n, c, _ in segments]
    assert 3 <= len(segments) <= 6
    assert rates == sorted(rates)
    assert all(n >= MIN_BIN_ACCOUNTS and c >= MIN_BIN_CHURNERS for _, _, n, c, _ in segments)
    assert sum(n for _, _, n, _, _ in segments) == len(x)
    assert [lo for lo, *_ in segments] == sorted(lo for lo, *_ in segments)


def test_folds_keep_an_account_on_one_side() -> None:
    ids = np.arange(1, 5001)
    fold = fitting.folds(np.concatenate([ids, ids]))  # two snapshots of every account
    assert (fold[:5000] == fold[5000:]).all()
    assert 0.55 <= np.isin(fold[:5000], (0, 1, 2)).mean() <= 0.65


# --- bad input: a clear error, nothing written ---------------------------------------------------------------------


def test_no_metrics_yet(engine: Engine, cli_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "card.toml"
    code, _, err = run(capsys, "scorecard", "suggest", "--as-of", "2026-05-01", "--horizon", "45", "--out", str(out))
    assert code == 1 and "no metrics yet" in err and "nothing written" in err and not out.exists()


def test_refuses_an_as_of_after_the_latest_metrics_and_too_little_churn(
    engine: Engine, cli_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    p = make_portfolio("contract", 300, 34, END)
    churners = p.accounts["churned_on"].notna()
    keep = churners & (p.accounts.index.isin(p.accounts.index[churners][:6]))  # six churners in all
    accounts = p.accounts.assign(
        churned_on=p.accounts["churned_on"].where(keep, None), status=np.where(keep, "churned", "active")
    )
    load(capsys, Portfolio(p.kind, accounts, p.metrics), tmp_path / "data")
    out = tmp_path / "card.toml"

    code, _, err = run(capsys, "scorecard", "suggest", "--as-of", "2026-07-15", "--horizon", "45", "--out", str(out))
    assert code == 1 and "after the latest metrics (2026-06-30)" in err and not out.exists()

    code, _, err = run(
        capsys, "scorecard", "suggest", "--as-of", AS_OF.isoformat(), "--horizon", "45", "--out", str(out)
    )
    assert code == 1 and not out.exists()
    found = re.search(r"only (\d+) of the ([\d,]+) fitting examples", err)
    assert found and int(found.group(1)) < MIN_CHURNERS, err
    assert f"at least {MIN_CHURNERS}" in err and "longer --horizon" in err and "earlier --as-of" in err


def test_a_bad_out_or_missing_options_are_refused_before_any_work(
    engine: Engine, cli_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ("scorecard", "suggest", "--as-of", "2026-05-01", "--horizon", "45")
    code, _, err = run(capsys, *args, "--out", str(tmp_path / "missing" / "card.toml"))
    assert code == 2 and "does not exist" in err and "nothing written" in err
    code, _, err = run(capsys, *args, "--out", str(tmp_path))
    assert code == 2 and "is a folder" in err
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        try:
            code, _, err = run(capsys, *args, "--out", str(locked / "card.toml"))
            assert code == 2 and "cannot write there" in err and not (locked / "card.toml").exists()
        finally:
            locked.chmod(0o700)
    code, _, err = run(capsys, "scorecard", "suggest", "--as-of", "2026-05-01")
    assert code == 2 and "needs --as-of DATE and --horizon DAYS" in err
    with pytest.raises(SystemExit):
        main(["scorecard", "suggest", "--as-of", "2026-05-01", "--horizon", "0"])
