"""Score quality on portfolios whose churn truth is known (tests/synthetic.py).

For each kind of truth a scorecard is suggested from one portfolio (FIT) and backtested on an independent one
(TEST, other accounts), both through the CLI, and compared with a logistic regression fitted on FIT's
per-account inputs as of the same day: a suggested scorecard must rank TEST accounts about as well.
The generator's own checks (fast, no database) come first; tests marked `slow` import whole portfolios.
"""

from __future__ import annotations

import functools
import json
import re
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sqlalchemy import Engine, text

from bot.cli import main
from bot.scoring.backtest import BacktestResult, Snapshot, evaluate, snapshot
from bot.scoring.scorecard import DEFAULT_PATH, Scorecard, load_scorecard
from tests.conftest import TABLES
from tests.synthetic import ACCOUNT_COLUMNS, KINDS, METRIC_COLUMNS, Portfolio, inputs_as_of, make_portfolio

END = date(2026, 6, 30)
AS_OF = END - timedelta(days=60)
HORIZON = 45
N = 1000  # accounts per portfolio: ~830 active on AS_OF, 130-250 of them churn within the horizon
FIT_SEED, TEST_SEED = 11, 12
# A scorecard is a constrained, readable model: monotone piecewise-linear bands, rounded weights and cut points,
# scores rounded to 0.1. It may give up a little ranking power to an unconstrained regression on the same
# inputs, and the two are compared on one TEST portfolio (130-250 churners). 0.02 allows that; leaving out a
# kind's driver costs the regression 0.19-0.27 AUC on these portfolios, so a card that misses it still fails.
AUC_TOLERANCE = 0.02


@functools.cache  # the frames are only read: the learnability and the scorecard tests share them
def portfolios(kind: str) -> tuple[Portfolio, Portfolio]:
    return make_portfolio(kind, N, FIT_SEED, END), make_portfolio(kind, N, TEST_SEED, END)


# --- the CLI contract, in one place -------------------------------------------------------------------------


def healthbot(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run `healthbot ARGV` in-process; what it printed. Fails the test, with its errors, unless it exits 0."""
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 0, f"healthbot {' '.join(argv)} exited {code}:\n{err}{out}"
    return out


def import_portfolio(capsys: pytest.CaptureFixture[str], portfolio: Portfolio, folder: Path) -> None:
    accounts_csv, metrics_csv = portfolio.write(folder)
    healthbot(capsys, "import", "accounts", str(accounts_csv))
    healthbot(capsys, "import", "metrics", str(metrics_csv))


def suggest_card(capsys: pytest.CaptureFixture[str], out: Path) -> Scorecard:
    """`healthbot scorecard suggest` on the database's portfolio; the card it wrote."""
    healthbot(
        capsys, "scorecard", "suggest", "--as-of", AS_OF.isoformat(), "--horizon", str(HORIZON), "--out", str(out)
    )
    return load_scorecard(out)


def tune_card(capsys: pytest.CaptureFixture[str], out: Path) -> str:
    """`healthbot tune` of the current scorecard (SCORECARD_PATH, else the default); what it printed."""
    return healthbot(capsys, "tune", "--as-of", AS_OF.isoformat(), "--horizon", str(HORIZON), "--out", str(out))


def score_day(capsys: pytest.CaptureFixture[str], card: Path, day: date, monkeypatch: pytest.MonkeyPatch) -> None:
    """`healthbot score --date DAY` with SCORECARD_PATH=card: stores the day's scores and their reasons."""
    monkeypatch.setenv("SCORECARD_PATH", str(card))
    healthbot(capsys, "score", "--date", day.isoformat())


def empty_database(engine: Engine) -> None:
    """What the `engine` fixture does before each test: the next portfolio starts from nothing."""
    with engine.begin() as conn:
        for table in TABLES:
            conn.execute(text(f"DELETE FROM {table}"))


def external_ids(engine: Engine, account_ids: pd.Series) -> np.ndarray:
    with engine.connect() as conn:
        by_id = dict(conn.execute(text("SELECT id, external_id FROM account")).all())
    return account_ids.map(by_id).to_numpy()


# --- the baseline ----------------------------------------------------------------------------------------------

SPREAD = re.compile(r"_mean_(7|30)$|^mrr$|^employees$")  # counts and sizes spanning orders of magnitude


def baseline_model() -> Pipeline:
    """Standardised logistic regression; means and sizes enter as log(1 + x)."""

    def logs(x: pd.DataFrame) -> pd.DataFrame:
        spread = [c for c in x.columns if SPREAD.search(c)]
        return x.assign(**{c: np.log1p(x[c].clip(lower=0)) for c in spread})

    return make_pipeline(FunctionTransformer(logs), StandardScaler(), LogisticRegression(max_iter=5000))


def lr_auc(fit: Portfolio, test: Portfolio, only: np.ndarray | None = None) -> float:
    """ROC AUC on TEST (its accounts in `only`, if given) of a regression fitted on FIT, both as of AS_OF."""
    x_fit, y_fit = inputs_as_of(fit, AS_OF, HORIZON)
    x_test, y_test = inputs_as_of(test, AS_OF, HORIZON)
    model = baseline_model().fit(x_fit, y_fit)
    risk = model.predict_proba(x_test[x_fit.columns])[:, 1]
    keep = np.ones(len(x_test), dtype=bool) if only is None else x_test.index.isin(only)
    return float(roc_auc_score(y_test[keep], risk[keep]))


# --- the generator --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_portfolio_is_deterministic_and_in_the_import_format(kind: str) -> None:
    p = make_portfolio(kind, 300, 5, END)
    again = make_portfolio(kind, 300, 5, END)
    pd.testing.assert_frame_equal(p.accounts, again.accounts)
    pd.testing.assert_frame_equal(p.metrics, again.metrics)
    other = make_portfolio(kind, 300, 6, END)
    assert not set(p.accounts["external_id"]) & set(other.accounts["external_id"])
    assert not p.metrics["value"].equals(other.metrics["value"])

    acc, m = p.accounts, p.metrics
    assert tuple(acc.columns) == ACCOUNT_COLUMNS and tuple(m.columns) == METRIC_COLUMNS
    assert acc["external_id"].is_unique and acc["plan"].isin(["month_to_month", "annual", "two_year"]).all()
    assert m["metric"].str.fullmatch(r"[a-z][a-z0-9_]*").all()
    assert not m.duplicated(["external_id", "date", "metric"]).any()
    assert m["date"].min() >= (END - timedelta(days=119)).isoformat() and m["date"].max() == END.isoformat()
    assert (m["value"] >= 0).all() and np.isfinite(m["value"]).all()
    assert (acc["status"] == "churned").eq(acc["churned_on"].notna()).all()
    assert (acc["renewal_date"] > acc["contract_start"]).all()

    span = m.groupby("external_id")["date"].agg(["min", "max"])
    joined = acc.set_index("external_id").join(span)
    assert (joined["min"] >= joined["contract_start"]).all()
    churned = joined[joined["churned_on"].notna()]
    assert (churned["max"] < churned["churned_on"]).all()  # metrics stop when an account churns
    assert (churned["churned_on"] > churned["contract_start"]).all()
    # every metric every day while an account is live: a quiet day is a 0, not a missing row
    live_days = (pd.to_datetime(joined["max"]) - pd.to_datetime(joined["min"])).dt.days + 1
    assert (m.groupby("external_id").size() == live_days * m["metric"].nunique()).all()


def test_make_portfolio_refuses_an_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown kind 'telco'"):
        make_portfolio("telco", 10, 1, END)


@pytest.mark.parametrize("kind", KINDS)
def test_churn_spreads_over_the_period(kind: str) -> None:
    for portfolio in portfolios(kind):
        acc = portfolio.accounts
        churned_on = pd.to_datetime(acc["churned_on"]).dropna()
        day = pd.Timestamp(AS_OF)
        before = (churned_on <= day).sum()
        within = ((churned_on > day) & (churned_on <= day + pd.Timedelta(days=HORIZON))).sum()
        after = (churned_on > day + pd.Timedelta(days=HORIZON)).sum()
        assert before >= 50 and within >= 100 and after >= 15, (before, within, after)  # after: 15 days left
        assert churned_on.dt.isocalendar().week.nunique() >= 12
        _, label = inputs_as_of(portfolio, AS_OF, HORIZON)
        assert 0.15 <= label.mean() <= 0.35, f"{kind}: base rate {label.mean():.1%}"


@pytest.mark.parametrize("kind", KINDS)
def test_each_truth_is_learnable_but_not_trivial(kind: str) -> None:
    auc = lr_auc(*portfolios(kind))
    print(f"{kind}: logistic regression AUC on TEST {auc:.3f}")
    assert 0.7 <= auc <= 0.9


def rate(label: np.ndarray, mask: np.ndarray | pd.Series) -> float:
    mask = np.asarray(mask, dtype=bool)
    return float(label[mask].mean())


def test_silent_truth() -> None:
    p = make_portfolio("silent", 1500, 3, END)
    acc, m = p.accounts, p.metrics
    logins = m[m["metric"] == "logins"]
    churned = acc[acc["churned_on"].notna()].set_index("external_id")["churned_on"]
    last_login = logins[logins["value"] > 0].groupby("external_id")["date"].max()
    quiet = (pd.to_datetime(churned) - pd.to_datetime(last_login.reindex(churned.index))).dt.days
    silent_share = (quiet >= 15).mean()  # went silent (about 25 days before) rather than declining
    assert 0.22 <= silent_share <= 0.45, silent_share

    x, label = inputs_as_of(p, AS_OF, HORIZON)
    silent = x["logins_days_since"] >= 14
    assert silent.sum() >= 15 and rate(label, silent) > 0.7
    declined = x["logins_mean_7"] < 0.5 * x["logins_mean_30"]
    assert 0.25 < rate(label, declined & ~silent) < 0.9  # declining accounts churn more, but not all of them


def test_dominant_truth() -> None:
    x, label = inputs_as_of(make_portfolio("dominant", 1500, 3, END), AS_OF, HORIZON)
    calls = np.round(x["service_calls_mean_30"] * 30)
    assert 0.1 <= (calls >= 4).mean() <= 0.35
    assert 0.35 <= rate(label, calls >= 4) <= 0.6 and 0.05 <= rate(label, calls < 4) <= 0.15
    intl = x["intl_plan_mean_30"] > 0
    assert 1.2 < rate(label, intl) / rate(label, ~intl) < 2.5  # raises churn, moderately


def test_interaction_truth() -> None:
    x, label = inputs_as_of(make_portfolio("interaction", 1500, 3, END), AS_OF, HORIZON)
    # the 30-day means run ~10 % off the accounts' usual levels: weekends use fewer seats and wait longer
    low_seats = x["seats_used_pct_mean_30"] < 60 * 0.89
    slow_support = x["support_wait_hours_mean_30"] > 14 * 1.09
    both, neither = low_seats & slow_support, ~low_seats & ~slow_support
    assert rate(label, both) > 0.5
    for alone in (low_seats & ~slow_support, ~low_seats & slow_support):
        assert abs(rate(label, alone) - rate(label, neither)) < 0.06  # either alone barely matters


def test_contract_truth() -> None:
    x, label = inputs_as_of(make_portfolio("contract", 1500, 3, END), AS_OF, HORIZON)
    monthly, annual = x["plan=month_to_month"] == 1, x["plan=annual"] == 1
    assert 2.5 <= rate(label, monthly) / rate(label, annual) <= 5
    young = x["tenure_days"] < 182
    assert rate(label, young) > 1.4 * rate(label, ~young)


# --- scorecards ---------------------------------------------------------------------------------------------------


def measures_of(card: Scorecard) -> list:
    return [m for c in card.cards.values() for _, m in c.measures()]


def cap_sources(card: Scorecard) -> set[str]:
    """The metrics and account fields the card's caps read."""
    out = set()
    for c in card.cards.values():
        by_name = {m.name: m for _, m in c.measures()}
        for cap in c.caps:
            out |= {by_name[cond.measure].metric or by_name[cond.measure].field for cond in cap.conditions}
    return out


def riskiest_two(card: Scorecard) -> list[str]:
    return card.tiers.order[-2:]


def check_dominant(card: Scorecard, snap: Snapshot, ids: np.ndarray, test: Portfolio) -> None:
    assert "service_calls" in cap_sources(card), "no cap reads service_calls"
    # The truth counts calls over 30 days; service calls follow the week (quiet weekends), so the card reads them
    # over whole weeks (28 days): the accounts it must hold are those with 4 or more calls in the window it reads.
    days = max((m.days for m in measures_of(card) if m.metric == "service_calls" and m.aggregate == "sum"), default=30)
    m = test.metrics
    window = m[(m["metric"] == "service_calls") & (m["date"] > (AS_OF - timedelta(days=days)).isoformat())]
    calls = window[window["date"] <= AS_OF.isoformat()].groupby("external_id")["value"].sum()
    many = calls.reindex(ids).fillna(0).to_numpy() >= 4
    tiers = snap.scores.frame["raw_tier"].to_numpy()
    outside = int((many & ~np.isin(tiers, riskiest_two(card))).sum())
    assert many.sum() >= 20 and outside == 0, (
        f"{outside} of {many.sum()} accounts with >= 4 calls not in the 2 riskiest"
    )


def check_contract(card: Scorecard, snap: Snapshot, ids: np.ndarray, test: Portfolio) -> None:
    fields = {m.field for m in measures_of(card)}
    assert "plan" in fields, "the card does not use plan"
    assert "tenure_days" in fields, "the card does not use tenure (contract_start)"


CHECKS = {"dominant": check_dominant, "contract": check_contract}


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_suggested_scorecard_ranks_new_accounts_as_well_as_a_regression(
    kind: str,
    engine: Engine,
    cli_env: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fit, test = portfolios(kind)
    import_portfolio(capsys, fit, tmp_path / "fit")
    card_path = tmp_path / "card.toml"
    card = suggest_card(capsys, card_path)

    empty_database(engine)
    import_portfolio(capsys, test, tmp_path / "test")
    snap = snapshot(engine, card, AS_OF, HORIZON)
    result: BacktestResult = evaluate(card, snap, AS_OF, HORIZON)
    assert result.unscored <= 0.05 * (result.accounts + result.unscored) and result.churned >= 100, result
    ids = external_ids(engine, snap.scores.frame["account_id"])
    baseline = lr_auc(fit, test, only=ids)
    with capsys.disabled():
        print(f"\n{kind}: suggested scorecard AUC {result.auc}, logistic regression {baseline:.3f} on TEST")
    assert result.auc is not None and result.auc >= baseline - AUC_TOLERANCE
    if kind == "interaction":  # the truth is a pair of conditions a card can state and a linear model cannot
        assert result.auc >= baseline
    riskiest = sum(t.churned for t in result.tiers if t.tier in riskiest_two(card))
    assert riskiest > 0.5 * result.churned, f"the two riskiest tiers hold {riskiest} of {result.churned} churners"
    if kind in CHECKS:
        CHECKS[kind](card, snap, ids, test)

    score_day(capsys, card_path, AS_OF, monkeypatch)
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT parts FROM health_score")).scalars().all()
    reasons = [
        d["reason"] for parts in stored for d in (parts if isinstance(parts, dict) else json.loads(parts))["drivers"]
    ]
    assert len(stored) == result.accounts and reasons
    assert not [r for r in reasons if "_" in r], "reasons must be words, not measure or metric names"


@pytest.mark.slow
def test_default_scorecard_ranks_every_silent_account_below_every_active_one(
    engine: Engine, cli_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A property of the default card. Before its silence cap, 10 accounts with a login this week scored at or
    below the best silent account here."""
    test = portfolios("silent")[1]
    import_portfolio(capsys, test, tmp_path / "test")
    snap = snapshot(engine, load_scorecard(), AS_OF, HORIZON)
    scores = pd.Series(
        snap.scores.frame["score"].to_numpy(), index=external_ids(engine, snap.scores.frame["account_id"])
    )
    x, _ = inputs_as_of(test, AS_OF, HORIZON)
    since = x["logins_days_since"].reindex(scores.index)
    silent, active = scores[since >= 14], scores[since <= 6]  # no login for two weeks / a login this week
    assert len(silent) >= 10 and len(active) >= 500
    below = int((active <= silent.max()).sum())
    assert below == 0, (
        f"{below} accounts with a login in the last 7 days score at or below the best silent account "
        f"({silent.max()}); silent accounts score {silent.min()}-{silent.max()}"
    )


def churner_share_columns(printed: str, labels: list[str]) -> list[list[float]]:
    """Per table of tier rows (one line per tier label, best first), the column of percentages that sums to
    100 %: the share of the churners each tier holds."""
    lines = [line.strip() for line in printed.splitlines()]
    found = []
    for i in range(len(lines) - len(labels) + 1):
        rows = lines[i : i + len(labels)]
        if not all(row.startswith(label) for row, label in zip(rows, labels, strict=True)):
            continue
        cells = [[float(v) for v in re.findall(r"(\d+(?:\.\d+)?)\s*%", row)] for row in rows]
        for col in range(min(len(c) for c in cells)):
            column = [c[col] for c in cells]
            if abs(sum(column) - 100) <= 1.5:
                found.append(column)
    return found


def comment_lines(toml_text: str) -> list[str]:
    return [line[line.index("#") :].strip() for line in toml_text.splitlines() if "#" in line]


@pytest.mark.slow
def test_tune_of_the_default_scorecard_shows_tier_shares_and_keeps_its_comments(
    engine: Engine, cli_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import_portfolio(capsys, portfolios("silent")[0], tmp_path / "fit")
    out = tmp_path / "proposed.toml"
    printed = tune_card(capsys, out)
    default = load_scorecard()
    labels = [default.tiers.label(t) for t in default.tiers.order]
    shares = churner_share_columns(printed, labels)
    assert shares and "churners" in printed, f"no per-tier share of churners (summing to 100 %):\n{printed}"

    load_scorecard(out)  # valid
    proposed = iter(comment_lines(out.read_text(encoding="utf-8")))
    lost = [c for c in comment_lines(DEFAULT_PATH.read_text(encoding="utf-8")) if c not in proposed]
    assert not lost, f"the proposed file dropped {len(lost)} of the default file's comments, first: {lost[0]!r}"
