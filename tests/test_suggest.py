"""`healthbot scorecard suggest`: a scorecard from the portfolio's own metrics, fields and churn.

Portfolios come from tests/synthetic.py, whose truth is known (a dominating metric, a plan and tenure effect),
imported and suggested through the real CLI; noise metrics nobody churns by are added to see them left out.
"""

from __future__ import annotations

import json
import os
import re
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine

from bot.cli import main
from bot.scoring import binning, candidates, caps, fitting, formats, weighing
from bot.scoring import suggest as suggest_module
from bot.scoring.backtest import BacktestResult, roc_auc
from bot.scoring.binning import MIN_BIN_ACCOUNTS, MIN_BIN_CHURNERS, Bin, segments_of
from bot.scoring.candidates import Candidate
from bot.scoring.caps import MIN_TIER_POINTS
from bot.scoring.examples import MIN_CHURNERS
from bot.scoring.scorecard import Measure, load_scorecard
from bot.scoring.suggest import FEW_TEST_CHURNERS, suggest
from tests.synthetic import Portfolio, make_portfolio, make_small_team

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

    # service calls follow the week (quiet weekends): read over whole weeks, 28 days rather than 30
    assert "Service calls has a weekly cycle" in printed
    calls = measure_lines(printed, "service calls, total over the last 28 days")
    assert len(calls) == 1 and "-> in, AUC" in calls[0], printed
    assert re.search(r"\d[\d,]* accounts, \d+ % churned \|", calls[0])  # the counts behind it
    card = load_scorecard(out)
    default = card.cards["default"]
    measures = {m.name: m for _, m in default.measures()}
    calls_measure = measures["service_calls_sum_28d"]
    assert calls_measure.label == "service calls" and calls_measure.aggregate == "sum"
    scores = [s for _, s in calls_measure.bands]
    assert (
        scores == sorted(scores, reverse=True) and scores[0] == 100 and scores[-1] == 0
    )  # monotone: more calls, worse

    caps = [c for c in default.caps if any(cond.measure == "service_calls_sum_28d" for cond in c.conditions)]
    assert caps, f"no cap on service calls:\n{printed}"
    single = next(c for c in caps if len(c.conditions) == 1)
    threshold = single.conditions[0]
    assert threshold.op == ">=" and 3 <= float(threshold.value) <= 6  # the truth: 4 or more calls in 30 days
    assert single.at_most < card.tiers.cutoffs[card.tiers.order[1]]  # held out of the two best tiers
    cap_line = next(line for line in printed.splitlines() if "service calls, total over the last 28 days" in line
                    and "score at most" in line)  # fmt: skip
    assert re.search(r"accounts, \d+ % churned \(base rate \d+ %\)", cap_line)
    written = out.read_text().splitlines()  # the file says each cap in words above it, counts included
    at = next(i for i, line in enumerate(written) if f'when = "{single.when}"' in line)
    assert written[at - 1].strip() == "# " + " ".join(cap_line.split())

    noise = measure_lines(printed, "coffee breaks, total over the last 30 days")
    noise += measure_lines(printed, "coffee breaks, average over the last 7 days")  # no weekly cycle: 30 days
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
    segments = segments_of(x, churn, direction=1)
    rates = [c / n for _, _, n, c, _ in segments]
    assert 3 <= len(segments) <= 6
    assert rates == sorted(rates)
    base = churn.mean()  # a bin with few churners is kept only when the base rate would have put twice as many in it
    assert all(n >= MIN_BIN_ACCOUNTS and (c >= MIN_BIN_CHURNERS or n * base >= 2 * MIN_BIN_CHURNERS)
               for _, _, n, c, _ in segments)  # fmt: skip
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


def test_refuses_an_as_of_after_the_latest_metrics_and_marks_a_card_not_fitted_with_too_little_churn(
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

    # too little churn to fit: a card from the shapes of the metrics, marked not fitted, with why and what helps
    code, err, _ = run(
        capsys, "scorecard", "suggest", "--as-of", AS_OF.isoformat(), "--horizon", "45", "--out", str(out)
    )
    assert code == 0 and out.exists()
    assert re.search(r"not fitted: \d+ churners?; run suggest again once there are more", err), err
    found = re.search(r"only (\d+) of the ([\d,]+) fitting examples .* and (\d+) churners are among the ([\d,]+) "
                      r"accounts held back \(40 % of the accounts\)", err)  # fmt: skip
    assert found and int(found.group(1)) < MIN_CHURNERS, err
    assert f"at least {MIN_CHURNERS} churners among the fitting examples" in err
    later = int((pd.to_datetime(accounts["churned_on"]).dt.date > AS_OF + timedelta(days=45)).sum())
    if later:  # advice only where churn is recorded outside the windows already counted
        assert f"{later} account(s) churned after {AS_OF + timedelta(days=45)}: a longer --horizon counts them" in err
    else:
        assert "would not find more" in err


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


# --- the stranger trial's findings: how metrics are reported, noise, wording, warnings ----------------------------


def reporting_portfolio(n: int = 400, seed: int = 41, days: int = 120) -> Portfolio:
    """Churn set by `calls`, a fixed figure per account reported daily; `seats` reported on Mondays only;
    `logins` rows only on days with logins; everyone has the same contract_start (tenure tells only the day)."""
    rng = np.random.default_rng(seed)
    first = END - timedelta(days=days - 1)
    calls = rng.poisson(1.5, n)
    daily = 0.002 * np.exp(0.6 * calls)
    hit = rng.random((n, days)) < daily[:, None]
    hit[:, :20] = False
    churn = np.where(hit.any(axis=1), hit.argmax(axis=1), days)
    ids = [f"R{seed}-{i:04d}" for i in range(n)]
    when = [first + timedelta(days=d) for d in range(days)]
    accounts = pd.DataFrame({
        "external_id": ids, "name": ids, "contract_start": "2025-01-01",
        "status": np.where(churn < days, "churned", "active"),
        "churned_on": [when[c].isoformat() if c < days else None for c in churn],
    })  # fmt: skip
    rows = []
    seats = rng.integers(2, 40, n)
    for i in range(n):
        for d in range(churn[i]):
            day = when[d].isoformat()
            rows.append((ids[i], day, "calls", float(calls[i])))
            logins = rng.poisson(1.0)
            if logins:
                rows.append((ids[i], day, "logins", float(logins)))
            if when[d].weekday() == 0:
                rows.append((ids[i], day, "seats", float(seats[i])))
    metrics = pd.DataFrame(rows, columns=["external_id", "date", "metric", "value"])
    return Portfolio("reporting", accounts, metrics)


def test_how_a_metric_is_reported_decides_its_candidates(
    engine: Engine, cli_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    load(capsys, reporting_portfolio(), tmp_path / "data")
    result = suggest(engine, AS_OF, HORIZON, progress=False)
    cands = {c.name: c for c in result.candidates}
    # weekly seats: its latest value and 30-day mean, never recency or a 7-day mean (they only tell the weekday)
    assert "seats_last" in cands and "seats_mean_30d" in cands
    assert not {"seats_recency", "seats_mean_7d", "seats_sum_30d"} & cands.keys()
    assert cands["seats_last"].kept_measure.days >= 14
    # logins only on days with logins: no "latest value" (the last non-zero one), sums and means read zero days
    assert "logins_last" not in cands and cands["logins_sum_30d"].kept_measure.fill == "zero"
    # one contract_start for all: tenure differs only between the sample days
    assert "every account has the same value" in cands["tenure_days"].why and "days apart" in cands["tenure_days"].why
    # calls are a fixed figure per account: its latest value wins the tie with its means and sums
    assert cands["calls_last"].kept and cands["calls_last"].why.startswith("in"), result.report()
    assert "says what calls, latest value says" in cands["calls_mean_7d"].why


def test_judged_within_each_snapshot_an_input_that_only_tells_days_apart_ranks_nothing() -> None:
    snap = np.repeat([0, 1, 2], 100)
    y = np.zeros(300, dtype=bool)
    y[:40] = True  # churn happened only after the first sample day
    day_only = snap.astype(float)  # e.g. days since a weekly report: the same for everyone on a given day
    assert roc_auc(-day_only, y) > 0.8  # pooled, it looks predictive
    assert candidates.within_snapshots_auc(-day_only, y, snap) == 0.5
    real = np.where(y, 1.0, 0.0) + np.random.default_rng(1).random(300)
    assert candidates.within_snapshots_auc(real, y, snap) > 0.9


def test_rounding_noise_is_no_change_and_one_value_is_named_as_such() -> None:
    trend = np.array([-4.441e-16, -2.22e-16, 0.0, 4.441e-16, np.nan])
    assert np.array_equal(candidates.without_float_noise(trend)[:4], np.zeros(4))
    assert np.isnan(candidates.without_float_noise(trend)[4])
    assert candidates.without_float_noise(np.array([1e-3, 3e15]))[0] == 1e-3  # only noise around zero
    mostly = np.r_[np.zeros(1500), np.linspace(-0.4, 0.1, 70)]
    why = candidates.one_bin_reason(mostly, "trend")
    assert "96 % of the examples have the same value (±0 %)" in why


def test_a_perfectly_separating_number_keeps_its_bins_and_a_real_held_out_auc() -> None:
    rng = np.random.default_rng(4)
    churn = np.r_[np.ones(30, bool), np.zeros(120, bool)]
    x = np.where(churn, rng.poisson(2, 150), rng.poisson(6, 150) + 4).astype(float)  # nobody above 3 churns
    segments = segments_of(x, churn, direction=-1)
    assert len(segments) >= 2 and segments[-1][3] == 0  # a big bin where nobody churns is a bin, not noise


def test_capping_unscored_rows_warns_nothing() -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = caps.capped(np.array([80.0, np.nan, 40.0]), [(np.array([True, True, False]), 30.0)])
    assert out[0] == 24.0 and np.isnan(out[1]) and out[2] == 40.0


def test_acronyms_and_large_numbers_read_as_words() -> None:
    assert formats.label("api_calls") == "API calls"
    assert formats.capitalised(formats.label("api_calls")) == "API calls"
    assert formats.label("nps_score") == "NPS score"
    assert formats.number(2_386_558_297_526_155.0) == "2,387 trillion"
    assert formats.number(9e12) == "9 trillion" and formats.number(1_234_567) == "1.23 million"
    assert binning.bands_of([1.2345678e15, 3.3e15], np.array([100.0, 0.0]))[0][0] == 1.23e15


def _result(churned: int) -> BacktestResult:
    return BacktestResult("2026-05-01", 45, 300, 0, churned, churned / 300, None, None)


def test_warnings_for_a_thin_backtest_and_narrow_or_empty_tiers() -> None:
    card = load_scorecard()
    order = card.tiers.order
    narrow = card.tiers.model_copy(update={"cutoffs": {order[0]: 44.0, order[1]: 43.0, order[2]: 30.0, order[3]: 0.0}})
    card = card.model_copy(update={"tiers": narrow})
    shares = [fitting.TierShare(t, card.tiers.label(t), 0 if t == order[2] else 50, 5, 0.25) for t in order]
    warnings = suggest_module._warnings(card, shares, _result(FEW_TEST_CHURNERS - 1))
    assert any(f"{card.tiers.label(order[1])} tier is only 1 points wide" in w for w in warnings), warnings
    assert any(f"no fitting account falls in the {card.tiers.label(order[2])} tier" in w for w in warnings)
    assert any(f"only {FEW_TEST_CHURNERS - 1} of the 300 test accounts churned" in w for w in warnings)
    assert suggest_module._warnings(load_scorecard(), [fitting.TierShare(t, t, 50, 5, 0.25) for t in order],
                                    _result(40)) == []  # fmt: skip


def test_cutoffs_keep_tiers_apart() -> None:
    card = load_scorecard()
    rng = np.random.default_rng(2)
    scores = np.r_[np.full(500, 44.0), rng.uniform(0, 43, 200)]  # most accounts share one score
    churned = np.r_[np.zeros(500, bool), rng.random(200) < 0.4]
    snap = caps.Fitted(scores, churned, {}, {}, np.ones(700, bool))
    cutoffs = caps.with_cutoffs(card, snap).tiers.cutoffs
    values = [cutoffs[t] for t in card.tiers.order]
    assert all(a - b >= MIN_TIER_POINTS for a, b in zip(values, values[1:], strict=False)), values


def test_a_rare_strong_signal_joins_to_carry_a_cap() -> None:
    y = np.r_[np.ones(100, bool), np.zeros(900, bool)]
    ex = type("Ex", (), {"y": y})()
    measure = Measure.model_validate({"name": "champion_left", "metric": "champion_left", "transform": "level",
                                      "aggregate": "last", "days": 7, "fill": "none",
                                      "bands": [(0.0, 100.0), (1.0, 0.0)]})  # fmt: skip
    rare = Candidate({"name": "champion_left"}, "state", measure=measure, bins=[Bin("no", 962, 64), Bin("yes", 38, 36)],
                     auc=0.51, weak=True, why="out, AUC 0.510: does not separate churners")  # fmt: skip
    plain = Candidate({"name": "coffee"}, "mean_7d", measure=measure, bins=[Bin("0 to 1", 500, 50), Bin("2+", 500, 50)],
                      auc=0.5, weak=True, why="out")  # fmt: skip
    kept = [Candidate({"name": "logins"}, "mean_7d", measure=measure, auc=0.7, kept=True, weight=1.0)]
    added = weighing.rare_signals([rare, plain], kept, ex)  # type: ignore[arg-type]
    assert added == [rare] and rare in kept and rare.kept and 0 < (rare.weight or 0) <= 0.05
    assert "in for a cap" in rare.why and "yes churns 95 % (38 accounts; base rate 10 %)" in rare.why
    unused = weighing.drop_unused(added, [], kept)  # no cap named it: it leaves again, saying why
    assert unused == [rare] and rare not in kept and not rare.kept and rare.why.startswith("out, AUC 0.510")


# --- a small team: too little churn to fit, its own metric names, a weekly cycle ------------------------------------


@pytest.mark.parametrize("churners", [0, 2])
def test_too_little_churn_still_gives_a_card_from_the_shapes_of_the_metrics(
    churners: int, engine: Engine, cli_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """40 accounts with `api_calls` (weekly cycle), `seats_used` and `support_tickets`, two churners: suggest
    refused ("needs at least 30 churners") and the default card scored nobody. Now it writes a card from the
    shapes of the metrics, each choice and direction in words, marked not fitted; check and score accept it."""
    load(capsys, make_small_team(40, seed=3, churners=churners), tmp_path / "data")
    out = tmp_path / "card.toml"
    printed = suggest_cli(capsys, out, as_of=END, horizon=30)
    marked = re.search(r"not fitted: (\d+) churners?; run suggest again once there are more", printed)
    assert marked and int(marked.group(1)) < MIN_CHURNERS, printed
    text = out.read_text(encoding="utf-8")
    assert marked.group(0) in text.split("[tiers]")[0]  # in the file's header too
    card = load_scorecard(out)
    measures = {m.name: m for _, m in card.cards["default"].measures()}
    by_metric: dict[str, list[Measure]] = {}
    for m in measures.values():
        by_metric.setdefault(str(m.metric), []).append(m)
    assert set(by_metric) == {"api_calls", "seats_used", "support_tickets"}
    # activity: trend against its own baseline and days since last use; tickets: spikes; seats: its level
    assert {m.transform for m in by_metric["api_calls"]} == {"trend", "recency"}
    assert [m.transform for m in by_metric["support_tickets"]] == ["ratio"]
    assert [m.transform for m in by_metric["seats_used"]] == ["trend"]
    # weekday-blind windows: whole weeks, never the latest value of a metric with a weekly cycle
    for m in measures.values():
        assert m.aggregate != "last" or m.transform != "level"
        if m.transform in ("trend", "ratio"):
            assert m.days % 7 == 0 and m.baseline_days % 7 == 0, m
    # every choice and its direction in words, above the measure it explains
    lines = text.splitlines()
    for name, words in (("api_calls_trend", "weekly cycle"), ("api_calls_recency", "days since"),
                        ("support_tickets_spike", "ticket-like"), ("seats_used_change", "seats")):  # fmt: skip
        at = next(i for i, line in enumerate(lines) if f'name = "{name}"' in line)
        comment = " ".join(line.strip() for line in lines[at - 3 : at] if line.strip().startswith("#"))
        assert words in comment and ("worse" in comment or "better" in comment), (name, comment)
    assert healthbot(capsys, "scorecard", "check", str(out)).startswith(f"{out}: valid")

    os.environ["SCORECARD_PATH"] = str(out)
    try:
        scored = healthbot(capsys, "score", "--date", END.isoformat())
        stability = json.loads(healthbot(capsys, "backtest", "--as-of", END.isoformat(), "--horizon", "30", "--json"))
    finally:
        del os.environ["SCORECARD_PATH"]
    assert f"scored {40 - churners} account-days" in scored and "no score" not in scored, scored  # every active one
    # a card blind to the weekday keeps tiers steady through the weekends
    assert all(day["share"] < 0.1 for day in stability["stability"]["weekdays"]), stability["stability"]
    assert stability["stability"]["warning"] is None


def test_a_weekly_cycle_gets_weekday_blind_candidates_in_the_fitted_path(
    engine: Engine, cli_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Logins and core-feature use dip at weekends: no "latest value" (it tells Saturday from Friday) and sums and
    means over whole weeks (28 days, not 30)."""
    load(capsys, make_portfolio("silent", 400, 12, END), tmp_path / "data")
    result = suggest(engine, AS_OF, HORIZON, progress=False)
    cands = {c.name: c for c in result.candidates if c.spec.get("metric") in ("logins", "core_feature_events")}
    assert cands, result.report()
    for name, cand in cands.items():
        spec = cand.spec
        assert spec.get("aggregate") != "last", name
        if spec["transform"] in ("level", "trend"):
            assert spec["days"] % 7 == 0 and spec.get("baseline_days", 28) % 7 == 0, (name, spec)
    assert "logins_sum_28d" in cands and "weekly cycle" in result.report()


def test_metric_shapes_are_told_apart_by_their_values_and_names() -> None:
    """How the not-fitted card recognises a metric: values first, the name where they leave it open."""
    from bot.scoring.measures import DayInputs
    from bot.scoring.panel import Panel, day_number
    from bot.scoring.shapes import shapes

    rng = np.random.default_rng(8)
    n, days = 60, 90
    first = END - timedelta(days=days - 1)
    weekday = np.array([(first + timedelta(days=d)).weekday() for d in range(days)])
    dip = np.where(weekday >= 5, 0.1, 1.0)
    seats = np.full((n, days), np.nan)
    seats[:, weekday == 0] = rng.integers(3, 50, n)[:, None]  # reported on Mondays only, steady
    values = {
        "logins": rng.poisson(rng.uniform(5, 50, n)[:, None] * dip[None, :]).astype(float),
        "seats": seats,
        "wait_hours": rng.gamma(4, 3, (n, days)).round(1),
        "is_vip": np.repeat((rng.random(n) < 0.2).astype(float)[:, None], days, axis=1),
        "escalations": (rng.random((n, days)) < 0.03) * rng.poisson(3, (n, days)).astype(float),
        "open_tickets": rng.poisson(0.3, (n, days)).astype(float),  # many zeros, no bursts: the name decides
        "api_calls": rng.poisson(rng.uniform(50, 400, n)[:, None] * dip[None, :]).astype(float),
    }
    values["api_calls"][0, -5:] = -2  # a stray correction row in an export: still a count
    panel = Panel(np.arange(n, dtype=np.int64), day_number(first), values)
    accounts = pd.DataFrame({"id": np.arange(n), "renewal_date": None})
    inputs = DayInputs(panel, days - 1, 90, accounts, END, np.full(n, np.nan))
    found = {s.metric: s for s in shapes(inputs, 14, str)}
    kinds = {m: s.kind for m, s in found.items()}
    assert kinds == {"logins": "activity", "seats": "level", "wait_hours": "other", "is_vip": "state",
                     "escalations": "ticket", "open_tickets": "ticket", "api_calls": "activity"}, kinds  # fmt: skip
    assert found["logins"].cycle.startswith("a weekly cycle: lowest on S") and not found["seats"].cycle
    assert "left out" in found["wait_hours"].why and "left out" in found["is_vip"].why


def test_the_shapes_cards_bands_widen_to_what_most_accounts_read() -> None:
    """A not-fitted card reads an account as usual while it does what most of the portfolio does: on a noisy
    portfolio the 100-point of each band lets CALIBRATION[0] (80 %) of the account-days through, the 0-point 99 %.
    (The quantiles were taken from the wrong end: the fixed points never moved and noise flooded the risk tiers.)"""
    from dataclasses import replace as with_day

    from bot.scoring.measures import DayInputs, measure_input
    from bot.scoring.panel import Panel, day_number
    from bot.scoring.shapes import CALIBRATION, CALIBRATION_DAYS, shapes

    rng = np.random.default_rng(3)
    n, days = 80, 120
    first = END - timedelta(days=days - 1)
    values = {
        "logins": rng.poisson(rng.uniform(1, 6, n)[:, None] * rng.gamma(2, 0.5, (n, days))).astype(float),
        "tickets_opened": (rng.random((n, days)) < 0.2) * rng.poisson(2, (n, days)).astype(float),
    }
    panel = Panel(np.arange(n, dtype=np.int64), day_number(first), values)
    accounts = pd.DataFrame({"id": np.arange(n), "renewal_date": None})
    inputs = DayInputs(panel, days - 1, 90, accounts, END, np.full(n, np.nan))
    measures = {m.name: m for s in shapes(inputs, 14, str) for m, _ in s.measures}

    for name in ("logins_trend", "tickets_opened_spike"):
        m = measures[name]
        x = np.concatenate([
            measure_input(m, with_day(inputs, col=inputs.col - k, day=inputs.day - timedelta(days=k)))[0]
            for k in range(CALIBRATION_DAYS)
        ])  # fmt: skip
        x = x[np.isfinite(x)]
        full = next(point for point, score in m.bands if score == 100.0)
        worse_high = m.bands[0][1] > m.bands[-1][1]
        usual = np.mean(x <= full) if worse_high else np.mean(x >= full)
        assert usual >= CALIBRATION[0] - 0.02, (name, m.bands, usual)


# --- the shapes card in Chinese: a percent as the language writes it, no space between Chinese words -------------

SPACED_CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef] +[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")


def test_the_shapes_cards_band_points_write_a_percent_as_the_language_does() -> None:
    """The trend's band points read "+0 %" for no change in English; Chinese writes the sign against the number,
    "+0%" (it printed "+0 %", English's spacing, in a Chinese card)."""
    from bot.scoring.shapes import _input_words
    from prompts import speaking

    m = Measure(
        name="seats_change", metric="seats", transform="trend", days=7, baseline_days=28,
        bands=[(-0.3, 0.0), (-0.1, 50.0), (0.0, 100.0)],
    )  # fmt: skip
    assert [_input_words(m, x) for x in (0.0, -0.3, 0.001)] == ["+0 %", "-30 %", "+0 %"]
    with speaking("zh-CN"):
        assert [_input_words(m, x) for x in (0.0, -0.3, 0.001)] == ["+0%", "-30%", "+0%"]


def test_the_shapes_card_in_chinese_puts_no_space_between_chinese_words() -> None:
    """Seen: "周循环（星期六 最低，为 星期三 水平的 9%）", "不超过 28 天 得 100 分": a weekday or
    a count of days set in a Chinese sentence with English's spaces; a space between a number and Chinese is kept."""
    from bot.scoring.measures import DayInputs
    from bot.scoring.panel import Panel, day_number
    from bot.scoring.shapes import ShapeSuggestion, card, shapes
    from prompts import speaking

    rng = np.random.default_rng(8)
    n, days = 60, 90
    first = END - timedelta(days=days - 1)
    weekday = np.array([(first + timedelta(days=d)).weekday() for d in range(days)])
    dip = np.where(weekday >= 5, 0.1, 1.0)
    values = {
        "logins": rng.poisson(rng.uniform(5, 50, n)[:, None] * dip[None, :]).astype(float),
        "seats": np.repeat(rng.integers(3, 50, n).astype(float)[:, None], days, axis=1),
        "escalations": (rng.random((n, days)) < 0.03) * rng.poisson(3, (n, days)).astype(float),
        "wait_hours": rng.gamma(4, 3, (n, days)).round(1),
    }
    panel = Panel(np.arange(n, dtype=np.int64), day_number(first), values)
    accounts = pd.DataFrame({"id": np.arange(n), "renewal_date": None})
    inputs = DayInputs(panel, days - 1, 90, accounts, END, np.full(n, np.nan))
    with speaking("zh-CN"):
        found = {s.metric: s for s in shapes(inputs, 14, lambda metric: metric)}
        written = ShapeSuggestion(card(list(found.values()), 14), list(found.values()), END, 30, 2, "").toml()
    assert "  # logins：识别为" in written and "#   wait_hours：" in written and "logins: " not in written, written
    lines = [s.why for s in found.values()] + [how for s in found.values() for _, how in s.measures]
    assert found["logins"].cycle.startswith("周循环（星期"), found["logins"].cycle
    spaced = [line for line in [found["logins"].cycle, *lines] if SPACED_CJK.search(line)]
    assert not spaced, spaced
    assert any("天得 100 分" in how for how in lines) and any("+0%" in how for how in lines), lines
    assert any("距上次 logins 的天数" in how for how in lines), lines  # a Latin name set apart by a space
