"""Backtest, tune, overrides and the daily job, through the functions and the CLI."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session

from bot.cli import main
from bot.demo.run import write_demo_csvs
from bot.scoring.backtest import backtest, roc_auc
from bot.scoring.fitting import fit_logistic
from bot.scoring.importer import import_accounts, import_metrics
from bot.scoring.scorecard import DEFAULT_PATH, load_scorecard
from jobs import score as score_job
from storage import accounts as account_store
from storage import scores
from storage.db import job_lock, make_engine

END = date(2026, 6, 30)


@pytest.fixture
def portfolio(engine: Engine, tmp_path: Path) -> Engine:
    accounts_csv, metrics_csv, _ = write_demo_csvs(tmp_path / "data", 300, 180, END)
    return imported(engine, (accounts_csv, metrics_csv))


def imported(engine: Engine, files: tuple[Path, Path]) -> Engine:
    """`engine` with the accounts and metrics CSV files imported."""
    import_accounts(engine, files[0], quiet=True)
    import_metrics(engine, files[1], quiet=True)
    return engine


def test_roc_auc_known_values() -> None:
    churned = np.array([True, True, False, False])
    assert roc_auc(np.array([9.0, 8, 2, 1]), churned) == 1.0
    assert roc_auc(np.array([1.0, 2, 8, 9]), churned) == 0.0
    assert roc_auc(np.array([5.0, 5, 5, 5]), churned) == 0.5
    assert roc_auc(np.array([1.0, 2]), np.array([False, False])) is None


def test_fit_logistic_recovers_direction() -> None:
    rng = np.random.default_rng(1)
    x = rng.random((2000, 2))
    y = (rng.random(2000) < 1 / (1 + np.exp(-(4 * x[:, 0] - 2)))).astype(float)
    beta = fit_logistic(x, y, l2=0.1)
    assert beta[1] > 2.5 and abs(beta[2]) < 0.7


def test_backtest_sees_demo_churn_coming_without_look_ahead(portfolio: Engine) -> None:
    card = load_scorecard()
    as_of = END - timedelta(days=90)
    result = backtest(portfolio, card, as_of, 60)
    assert result.accounts > 200 and result.churned >= 5
    assert result.auc is not None and result.auc > 0.7  # the demo's churners decline before they leave
    assert sum(t.accounts for t in result.tiers) == result.accounts
    assert sum(t.churned for t in result.tiers) == result.churned
    riskiest = [t for t in result.tiers if t.accounts][-1]
    assert riskiest.lift is not None and riskiest.lift > 1

    # Metrics after the as-of day must not change any figure. Nor a note: the metrics now end before the
    # horizon does, but the accounts record churn after it, so no churn within the horizon is missing
    # (tests/test_backtest_messages.py has the case where it may be).
    assert result.notes == []
    with portfolio.begin() as conn:
        conn.execute(text("DELETE FROM metric_observation WHERE day > :d"), {"d": as_of})
    again = backtest(portfolio, card, as_of, 60)
    assert again == result


def test_backtest_cli_json(portfolio: Engine, cli_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    as_of = (END - timedelta(days=90)).isoformat()
    assert main(["backtest", "--as-of", as_of, "--horizon", "60", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"auc", "accounts", "churned", "tiers"} <= out.keys()
    assert [t["tier"] for t in out["tiers"]] == ["healthy", "low_risk", "medium_risk", "high_risk"]
    assert main(["backtest", "--as-of", as_of, "--horizon", "60"]) == 0
    assert "ROC AUC" in capsys.readouterr().out


def tier_table(printed: str, labels: list[str]) -> list[list[float]]:
    """The per-tier rows tune prints (best tier first): their percentages, as numbers."""
    lines = [line.strip() for line in printed.splitlines()]
    first = next(i for i, line in enumerate(lines) if line.startswith(labels[0]) and "%" in line)
    rows = lines[first : first + len(labels)]
    assert [r[: len(label)] for r, label in zip(rows, labels, strict=True)] == labels, printed
    return [[float(v) for v in re.findall(r"(\d+(?:\.\d+)?) %", row)] for row in rows]


def test_tune_of_the_default_file_keeps_its_comments_and_prints_shares_per_tier(
    portfolio: Engine, cli_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    as_of = (END - timedelta(days=90)).isoformat()
    out = Path("proposed.toml")
    code = main(["tune", "--as-of", as_of, "--horizon", "60", "--out", str(out)])
    printed, err = capsys.readouterr()
    assert code == 0, err
    assert f"Tuning {DEFAULT_PATH}:" in printed
    assert "card default: fitted on " in printed and "card onboarding: kept its weights (too little data" in printed

    default = load_scorecard()
    labels = [default.tiers.label(t) for t in default.tiers.order]
    table = tier_table(printed, labels)
    assert all(len(row) == 4 for row in table)  # churners before, after; accounts before, after
    for column in range(4):
        assert abs(sum(row[column] for row in table) - 100) <= 0.5, table
    assert re.search(r"ROC AUC of \(100 - score\) for churn: 0\.\d{3} before, 0\.\d{3} after", printed)

    written = out.read_text(encoding="utf-8")
    proposed = load_scorecard(out)
    assert written.startswith(f"# Proposed by `healthbot tune` as of {as_of}, churn within 60 days")
    original = DEFAULT_PATH.read_text(encoding="utf-8")
    for comment in (
        "# healthbot scorecard: how daily metrics become a 0-100 health score.",
        "# silence ranks worst: an account nobody logs into is held below every account still in use",
        "# points beyond a cutoff before the tier changes, so tiers do not flap",
        "#   level    aggregate (mean | sum | last | max | min) of the metric over the last `days`",
    ):
        assert comment in original and comment in written
    comments = iter(line.strip() for line in written.splitlines() if line.lstrip().startswith("#"))
    lost = [c for c in (ln.strip() for ln in original.splitlines() if ln.lstrip().startswith("#")) if c not in comments]
    assert lost == []  # every comment, in order
    # the onboarding card kept its weights, and its text is unchanged
    assert proposed.cards["onboarding"] == default.cards["onboarding"]
    onboarding = original[original.index("[cards.onboarding]") : original.index("[cards.default]")]
    assert onboarding in written
    weights = [m.weight for _, m in proposed.cards["default"].measures()]
    assert weights != [m.weight for _, m in default.cards["default"].measures()]
    assert [proposed.tiers.cutoffs[t] for t in proposed.tiers.order] == [
        float(v) for v in re.findall(r"-> (\d+)", printed.split("Proposed tier cutoffs")[1].splitlines()[0])
    ]
    assert main(["scorecard", "check", str(out)]) == 0

    # Tuning the proposal again (fixed regularisation) replaces the header instead of stacking a second one
    # (--force: that refit ranks churners a little worse out of fold, which alone would leave it unwritten).
    monkeypatch.setenv("SCORECARD_PATH", str(out))
    capsys.readouterr()
    assert main(["tune", "--as-of", as_of, "--horizon", "60", "--out", "again.toml", "--l2", "0.5", "--force"]) == 0
    printed = capsys.readouterr().out
    assert "regularisation 0.5 (--l2)" in printed
    again = Path("again.toml").read_text(encoding="utf-8")
    assert again.count("# Proposed by `healthbot tune`") == 1
    assert again.split("\n\n", 1)[1].startswith("# healthbot scorecard:")


# --- a portfolio whose truth is known ---------------------------------------------------------------------------

TRUTH_DAYS = 150
TRUTH_AS_OF = END - timedelta(days=50)


def write_truth(folder: Path, n: int = 300, seed: int = 5) -> tuple[Path, Path]:
    """`n` accounts over TRUTH_DAYS days up to END. 40 % churn, on a day spread over the last 110. Before
    churning, logins fall to ~15 % over 30 days and the account exports its data in the last 14 days (exports
    are rare otherwise); tickets are noise. Some retained accounts also lose 40 % of their logins for good."""
    rng = np.random.default_rng(seed)
    first = END - timedelta(days=TRUTH_DAYS - 1)
    churner = rng.random(n) < 0.4
    churn_col = np.where(churner, rng.integers(40, TRUTH_DAYS, n), TRUTH_DAYS)
    cols = np.arange(TRUTH_DAYS)[None, :]
    to_churn = churn_col[:, None] - cols
    decline = np.where(churner[:, None], np.clip(to_churn / 30, 0.15, 1.0), 1.0)
    drop_at = rng.integers(0, TRUTH_DAYS, n)
    fading = ~churner & (rng.random(n) < 0.15)
    decline = np.where(fading[:, None] & (cols >= drop_at[:, None]), 0.6, decline)
    logins = rng.poisson(rng.lognormal(np.log(12), 0.5, n)[:, None] * decline)
    exports = rng.poisson(np.where(churner[:, None] & (to_churn <= 14), 0.4, 0.03), (n, TRUTH_DAYS))
    tickets = rng.poisson(0.3, (n, TRUTH_DAYS))
    ids = [f"T-{i:04d}" for i in range(n)]
    accounts = pd.DataFrame({
        "external_id": ids,
        "name": [f"Truth {i}" for i in ids],
        "contract_start": (first - timedelta(days=200)).isoformat(),
        "status": np.where(churner, "churned", "active"),
        "churned_on": [(first + timedelta(days=int(c))).isoformat() if c < TRUTH_DAYS else "" for c in churn_col],
    })  # fmt: skip
    rows, days = np.nonzero(cols < churn_col[:, None])
    dates = np.array([(first + timedelta(days=d)).isoformat() for d in range(TRUTH_DAYS)])
    metrics = pd.concat(
        pd.DataFrame({"external_id": np.array(ids)[rows], "date": dates[days], "metric": name, "value": v[rows, days]})
        for name, v in (("logins", logins), ("exports", exports), ("tickets_opened", tickets))
    )
    folder.mkdir(parents=True, exist_ok=True)
    accounts.to_csv(folder / "accounts.csv", index=False)
    metrics.to_csv(folder / "metrics.csv", index=False)
    return folder / "accounts.csv", folder / "metrics.csv"


@pytest.fixture
def truth(engine: Engine, tmp_path: Path) -> Engine:
    return imported(engine, write_truth(tmp_path / "truth"))


TIERS = """\
[tiers]
order = ["healthy", "low_risk", "medium_risk", "high_risk"]
cutoffs = { healthy = 80, low_risk = 60, medium_risk = 40, high_risk = 0 }
"""

WRONG_CARD = (
    TIERS
    + """
# a hand-written card: its weights are wrong, and one measure reads its metric the wrong way round
[cards.all]
caps = [
  # many exports in a week: they are moving their data out (a cap on the measure that reads the wrong way)
  { when = "exports >= 20", at_most = 10 },
]

[cards.all.groups.usage]
label = "Usage"
weight = 1

# logins against the month before
[[cards.all.groups.usage.measures]]
name = "logins_trend"
metric = "logins"
transform = "trend"
days = 7
baseline_days = 28
bands = [[-0.6, 0], [0.0, 100]]
weight = 1

# exports read as engagement: more is healthier (in this data, churners export before they leave)
[[cards.all.groups.usage.measures]]
name = "exports"
metric = "exports"
transform = "level"
aggregate = "sum"
days = 14
bands = [[0, 0], [3, 100]]
weight = 10

[cards.all.groups.support]
label = "Support"
weight = 3
measures = [
  { name = "tickets", metric = "tickets_opened", transform = "level", days = 14, bands = [[0, 100], [0.6, 0]] },
]
"""
)


def run_tune(card_text: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> str:
    Path("card.toml").write_text(card_text, encoding="utf-8")
    monkeypatch.setenv("SCORECARD_PATH", "card.toml")
    capsys.readouterr()
    code = main(["tune", "--as-of", TRUTH_AS_OF.isoformat(), "--horizon", "45", "--out", "proposed.toml"])
    printed, err = capsys.readouterr()
    assert code == 0, err + printed
    return printed


def test_tune_drops_a_measure_that_reads_the_wrong_way_and_ranks_better_out_of_fold(
    truth: Engine, cli_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    printed = run_tune(WRONG_CARD, monkeypatch, capsys)

    # measures are named in words (the file's names stay in the file)
    dropped = re.search(
        r"dropped exports, total over the last 14 days: coefficient (-\d+\.\d+), it predicts churn the wrong way",
        printed,
    )
    assert dropped and float(dropped.group(1)) < 0, printed
    cap = 'dropped the cap "exports >= 20" (at most 10): it reads exports, total over the last 14 days, which was'
    assert cap in printed
    proposed = load_scorecard("proposed.toml")
    card = proposed.cards["all"]
    names = [m.name for _, m in card.measures()]
    assert "logins_trend" in names and "exports" not in names and card.caps == []
    written = Path("proposed.toml").read_text(encoding="utf-8")
    assert "# logins against the month before" in written and "# a hand-written card" in written
    assert "exports >= 20" not in written and 'metric = "exports"' not in written
    assert "dropped exports (coefficient -" in written.split("\n\n")[0]  # the header says what went
    # the noise measure that carried most of the weight is dropped with its reason, or carries little of it
    if "tickets" in names:
        assert card.groups["support"].weight < card.groups["usage"].weight / 3
    else:
        assert re.search(r"dropped tickets, average over the last 14 days: coefficient -\d+\.\d+, it predicts", printed)

    auc = re.search(r"ROC AUC of \(100 - score\) for churn: (0\.\d+) before, (0\.\d+) after", printed)
    assert auc, printed
    before, after = float(auc.group(1)), float(auc.group(2))
    assert after >= before + 0.1, printed
    header = written.splitlines()[0] + written.splitlines()[1]
    assert f"out-of-fold ROC AUC {before:.3f} with the" in header and f"{after:.3f} with these" in header


def test_tune_warns_when_a_tier_empties(
    truth: Engine, cli_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """One flag measure scores every account 0 or 100: whatever the cutoffs, two tiers between stay empty."""
    card = (
        TIERS
        + """
[cards.all.groups.usage]
label = "Usage"
weight = 1
measures = [
  { name = "exported", metric = "exports", transform = "flag", days = 14, threshold = 1, bands = [[0, 100], [1, 0]] },
]
"""
    )
    printed = run_tune(card, monkeypatch, capsys)
    warnings = [line for line in printed.splitlines() if line.startswith("warning:")]
    assert any("tier Low risk holds no account with the proposed cutoffs" in w for w in warnings), printed
    assert any("tier Medium risk holds no account" in w for w in warnings), printed
    table = tier_table(printed, ["Healthy", "Low risk", "Medium risk", "High risk"])
    assert table[1][1] == table[2][1] == table[1][3] == table[2][3] == 0.0  # after: no churner, no account


# --- coverage, --out, nothing scored, tolerance ------------------------------------------------------------------


def write_partial(folder: Path, n: int = 300, seed: int = 7) -> tuple[Path, Path]:
    """Like `write_truth`, but only 40 % of accounts report `api_calls`, and theirs is the strong signal: an API
    user's calls fall to ~5 % over the month before churning. Logins fall only to ~75 % (weak)."""
    rng = np.random.default_rng(seed)
    first = END - timedelta(days=TRUTH_DAYS - 1)
    churner = rng.random(n) < 0.4
    churn_col = np.where(churner, rng.integers(40, TRUTH_DAYS, n), TRUTH_DAYS)
    cols = np.arange(TRUTH_DAYS)[None, :]
    to_churn = churn_col[:, None] - cols
    logins = rng.poisson(rng.lognormal(np.log(12), 0.5, n)[:, None] * np.where(
        churner[:, None], np.clip(to_churn / 30, 0.75, 1.0), 1.0))  # fmt: skip
    calls = rng.poisson(50 * np.where(churner[:, None], np.clip(to_churn / 30, 0.05, 1.0), 1.0), (n, TRUTH_DAYS))
    api_user = rng.random(n) < 0.4
    ids = np.array([f"P-{i:04d}" for i in range(n)])
    accounts = pd.DataFrame({
        "external_id": ids,
        "name": [f"Partial {i}" for i in ids],
        "contract_start": (first - timedelta(days=200)).isoformat(),
        "status": np.where(churner, "churned", "active"),
        "churned_on": [(first + timedelta(days=int(c))).isoformat() if c < TRUTH_DAYS else "" for c in churn_col],
    })  # fmt: skip
    dates = np.array([(first + timedelta(days=d)).isoformat() for d in range(TRUTH_DAYS)])
    frames = []
    for name, values, who in (("logins", logins, np.ones(n, dtype=bool)), ("api_calls", calls, api_user)):
        rows, days = np.nonzero((cols < churn_col[:, None]) & who[:, None])
        frames.append(pd.DataFrame({"external_id": ids[rows], "date": dates[days], "metric": name,
                                    "value": values[rows, days]}))  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    accounts.to_csv(folder / "accounts.csv", index=False)
    pd.concat(frames).to_csv(folder / "metrics.csv", index=False)
    return folder / "accounts.csv", folder / "metrics.csv"


@pytest.fixture
def partial(engine: Engine, tmp_path: Path) -> Engine:
    return imported(engine, write_partial(tmp_path / "partial"))


def partial_card(logins_bands: str) -> str:
    """Logins and API calls, one group each, half the weight each: accounts without API calls are covered 50 %."""
    return (
        TIERS
        + f"""
[data]
min_weight_covered = 0.5

[cards.all.groups.usage]
label = "Usage"
weight = 1
measures = [
  {{ name = "logins_trend", metric = "logins", transform = "trend", bands = {logins_bands} }},
]

[cards.all.groups.api]
label = "API"
weight = 1

[[cards.all.groups.api.measures]]
name = "api_trend"
metric = "api_calls"
label = "API calls"
transform = "trend"
bands = [[-0.6, 0], [0, 100]]
"""
    )


def scored_counts(printed: str) -> tuple[int, int]:
    found = re.search(r"Accounts scored on the sampled days: ([\d,]+) by the current card, ([\d,]+) by the proposal",
                      printed)  # fmt: skip
    assert found, printed
    return int(found.group(1).replace(",", "")), int(found.group(2).replace(",", ""))


def test_tune_keeps_scoring_the_accounts_without_a_metric_only_some_report(
    partial: Engine, cli_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """API calls predict churn far better than logins, so the fit gives them most of the weight; 60 % of the
    accounts have none and would drop under data.min_weight_covered. Their share is held at the bound instead."""
    printed = run_tune(partial_card("[[-0.6, 0], [0, 100]]"), monkeypatch, capsys)

    held = re.search(r"held API calls, last 7 days vs the 28 before to ([\d.]+) % of the score \(fitted: ([\d.]+) %\): "
                     r"the ([\d,]+) examples without data for it keep 50 % of the weight covered", printed)  # fmt: skip
    assert held, printed
    assert float(held.group(2)) > 50 >= float(held.group(1)) >= 45  # the fit wanted more: the bound held it
    current, proposal = scored_counts(printed)
    assert proposal >= current > 0 and "warning: the proposal leaves" not in printed
    assert re.search(r"API 50\.0 % -> 4\d\.\d % \(API calls, last 7 days vs the 28 before\)", printed), printed
    assert f"on the {current:,} examples both the current card and these proposals score" in printed
    # the engine agrees: the proposal scores every account on the as-of day that the current card scores
    capsys.readouterr()
    for card in ("card.toml", "proposed.toml"):
        monkeypatch.setenv("SCORECARD_PATH", card)
        assert main(["backtest", "--as-of", TRUTH_AS_OF.isoformat(), "--horizon", "45", "--json"]) == 0
        result = json.loads(capsys.readouterr().out)
        assert result["unscored"] == 0 and result["accounts"] > 150, (card, result)


def test_tune_warns_when_the_proposal_leaves_accounts_unscored(
    partial: Engine, cli_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Logins read the wrong way round (a fall scores 100) and are dropped: API calls are all that is left, and
    the accounts without them cannot be scored. No weight can keep them: tune says so, with the count and why."""
    printed = run_tune(partial_card("[[-0.6, 100], [0, 0]]"), monkeypatch, capsys)
    assert "dropped logins, last 7 days vs the 28 before: coefficient -" in printed, printed
    current, proposal = scored_counts(printed)
    lost = [line for line in printed.splitlines() if line.startswith("warning: the proposal leaves")]
    assert len(lost) == 1, printed
    found = re.search(r"leaves ([\d,]+) of the ([\d,]+) examples the current card scores unscored: their data covers "
                      r"less than 50 % of its weight \(data.min_weight_covered\); they lack API calls, last 7 days vs "
                      r"the 28 before \(([\d,]+)\)", lost[0])  # fmt: skip
    assert found, lost[0]
    count = int(found.group(1).replace(",", ""))
    assert int(found.group(2).replace(",", "")) == current and current - proposal == count > current // 3
    assert int(found.group(3).replace(",", "")) == count


def test_tune_checks_out_before_fitting(
    truth: Engine, cli_env: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    for out, problem in (
        (tmp_path / "missing" / "t.toml", f"--out {tmp_path / 'missing' / 't.toml'}: the folder "
                                          f"{tmp_path / 'missing'} does not exist; nothing written"),
        (tmp_path, f"--out {tmp_path}: is a folder"),
    ):  # fmt: skip
        code = main(["tune", "--as-of", TRUTH_AS_OF.isoformat(), "--horizon", "45", "--out", str(out)])
        printed, err = capsys.readouterr()
        assert code == 2 and printed == "", printed  # nothing fitted, nothing printed but the error
        assert err.startswith(f"healthbot: {problem}") and "Traceback" not in err, err
    assert not (tmp_path / "missing").exists()


def test_tune_says_why_nothing_could_be_scored(
    engine: Engine, cli_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The default card reads `logins`; this data calls it `login`: tune names both and points at suggest."""
    accounts_csv, metrics_csv = write_truth(tmp_path / "truth", n=60)
    metrics = pd.read_csv(metrics_csv)
    metrics["metric"] = metrics["metric"].replace({"logins": "login", "tickets_opened": "tickets"})
    metrics.to_csv(metrics_csv, index=False)
    import_accounts(engine, accounts_csv, quiet=True)
    import_metrics(engine, metrics_csv, quiet=True)

    as_of = TRUTH_AS_OF.isoformat()
    assert main(["tune", "--as-of", as_of, "--horizon", "45", "--out", "proposed.toml"]) == 1
    printed, err = capsys.readouterr()
    why = next(line for line in printed.splitlines() if "nothing to fit" in line)
    assert f"nothing to fit: on {as_of}, nothing could be scored: the scorecard reads " in why, printed
    assert "logins" in why and "the data has exports, login, tickets:" in why
    assert f"`healthbot scorecard suggest --as-of {as_of} --horizon 45`" in why
    assert "too little data or churn" not in printed + err and "nothing written" in err
    assert not Path("proposed.toml").exists()


def test_tune_warns_about_the_riskiest_tiers_only_past_a_tolerance() -> None:
    from bot.scoring.fitting import TierShare
    from bot.scoring.tune import RISKIEST_TOLERANCE, Outcome, _warnings

    def outcome(riskiest_two: float) -> Outcome:
        rest = 1 - riskiest_two
        shares = [TierShare(t, t, 25, 0, rest / 2) for t in ("a", "b")]
        return Outcome(0.7, shares + [TierShare(t, t, 25, 0, riskiest_two / 2) for t in ("c", "d")])

    assert RISKIEST_TOLERANCE == 0.03
    assert _warnings(outcome(0.701), outcome(0.695), []) == []  # the stranger's 70.1 % -> 69.5 %: noise
    assert _warnings(outcome(0.70), outcome(0.675), []) == []
    (warning,) = _warnings(outcome(0.70), outcome(0.66), [])
    assert warning.startswith("warning: the two riskiest tiers (c and d) catch 66.0 % of the churners after tuning")


def test_tune_warns_when_the_proposal_ranks_churners_worse_out_of_fold() -> None:
    """On the 300-account demo the refit ranked churners worse out of fold (0.834 -> 0.783) and said nothing."""
    from bot.scoring.fitting import TierShare
    from bot.scoring.tune import Outcome, _warnings

    shares = [TierShare(t, t, 25, 1, 0.25) for t in ("a", "b", "c", "d")]
    assert _warnings(Outcome(0.834, shares), Outcome(0.830, shares), []) == []  # within noise
    (warning,) = _warnings(Outcome(0.834, shares), Outcome(0.783, shares), [])
    assert warning.startswith("warning: out of fold the proposal ranks churners worse than the current card")
    assert "0.834 before, 0.783 after" in warning


def test_override_cli(portfolio: Engine, cli_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    until = (date.today() + timedelta(days=30)).isoformat()
    assert (
        main(
            ["override", "ACC-0001", "--tier", "high_risk", "--reason", "CFO told us they are moving", "--until", until]
        )
        == 0
    )
    with Session(portfolio) as s:
        account = account_store.find_accounts(s, "ACC-0001")[0]
        override = scores.active_override(s, account.id, date.today())
        assert override is not None and override.tier == "high_risk" and override.reason.startswith("CFO")
    capsys.readouterr()
    assert main(["override", "ACC-0001", "--tier", "doomed", "--until", "2001-01-01"]) == 2
    err = capsys.readouterr().err
    assert "--tier must be one of" in err and "--reason is required" in err and "--until must be" in err
    assert main(["override", "ACC-0001", "--clear"]) == 0
    with Session(portfolio) as s:
        assert scores.active_override(s, account.id, date.today()) is None


def test_daily_job_catches_up_then_rescores_latest(portfolio: Engine) -> None:
    first_day = END - timedelta(days=179)
    assert score_job.days_to_score(None, None, None) is None
    assert score_job.days_to_score(END, None, first_day) == (END - timedelta(days=89), END)  # the first run
    assert score_job.days_to_score(END, END - timedelta(days=3), first_day) == (END - timedelta(days=2), END)
    assert score_job.days_to_score(END, END - timedelta(days=300), first_day) == (END - timedelta(days=29), END)
    card = load_scorecard()
    first = score_job.run(portfolio, card)
    assert first is not None and first.days[0] == END - timedelta(days=89) and first.days[-1] == END
    with portfolio.connect() as conn:
        assert scores.latest_score_day(conn) == END
        count = conn.execute(text("SELECT COUNT(*) FROM health_score")).scalar()
    score_job.run(portfolio, card)
    with portfolio.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM health_score")).scalar() == count


def test_job_lock_lets_one_replica_run(database_url: str) -> None:
    a, b = make_engine(database_url), make_engine(database_url)
    with job_lock(a, "score.daily") as first, job_lock(b, "score.daily") as second:
        assert first is True
        assert second is (a.dialect.name != "postgresql")  # SQLite is one process by definition
    with job_lock(b, "score.daily") as after:
        assert after is True


def test_daily_run_scores_then_refreshes_every_owners_home(portfolio: Engine, settings, fake_slack) -> None:
    from slack_sdk.models.views import View

    from bot.slack.client import make_client

    score_job.run_daily(portfolio, load_scorecard(), make_client(settings), lambda: END)
    with Session(portfolio) as s:
        owners = account_store.account_owners(s)
    calls = fake_slack.calls_to("views.publish")
    assert sorted(c.params["user_id"] for c in calls) == owners and len(owners) >= 3
    for call in calls:
        View(**call.params["view"]).validate_json()
    fake_slack.reset()
    fake_slack.fail_next("views.publish", status=429, retry_after=0)
    assert score_job.run_daily(portfolio, load_scorecard(), make_client(settings), lambda: END) is None
    assert len([c for c in fake_slack.calls_to("views.publish") if c.failed_status is None]) == len(owners)


def test_caps_keep_their_tier_when_tune_moves_the_cutoffs() -> None:
    """A stranger's tune lowered the Medium risk cutoff from 60 to 51, and a cap 'at most 56' that suggest had put
    in High risk silently let its accounts (51 % churn) into Medium risk. A cap's ceiling now follows the cutoffs,
    so its accounts stay in the tier they were in, or worse."""
    from bot.scoring.scorecard import Cap, load_scorecard
    from bot.scoring.tune import _with_cutoffs, cap_moves

    current = load_scorecard()
    default = current.cards["default"]
    default = default.model_copy(update={"caps": [*default.caps, Cap(when="csat <= 2", at_most=35)]})
    current = current.model_copy(update={"cards": {**current.cards, "default": default}})
    lower = {"healthy": 70.0, "low_risk": 50.0, "medium_risk": 30.0, "high_risk": 0.0}
    proposed = _with_cutoffs(current, lower, current)
    assert [c.at_most for c in proposed.cards["default"].caps] == [5, 49, 29]  # quiet week: Medium; csat: High
    assert cap_moves(current, proposed) == [
        ("onboarding", "login_recency >= 7", 55, 49), ("default", "login_recency >= 7", 55, 49),
        ("default", "csat <= 2", 35, 29),
    ]  # fmt: skip
    higher = {"healthy": 90.0, "low_risk": 70.0, "medium_risk": 50.0, "high_risk": 0.0}
    assert cap_moves(current, _with_cutoffs(current, higher, current)) == []  # a worse tier already: unchanged


def test_tune_counts_active_accounts_on_the_days_it_names(
    portfolio: Engine, cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """A stranger saw "the accounts it scored on 2026-10-29, 2026-09-29" and then "(of 225 active)": the 225 counted
    a third sampled day, before any data, that gave no example and was not named."""
    from bot.scoring.run import active_on
    from storage import accounts as account_store

    as_of = END - timedelta(days=90)
    assert main(["tune", "--as-of", as_of.isoformat(), "--horizon", "60", "--samples", "5", "--out", "p.toml"]) == 0
    printed = capsys.readouterr().out
    named = re.search(r"the accounts it scored on ([\d\-, ]+)\)", printed)
    assert named, printed
    days = [date.fromisoformat(d) for d in named.group(1).split(", ")]
    assert len(days) < 5  # the earliest sampled days fall before the demo's 180 days of data
    with portfolio.connect() as conn:
        accounts = account_store.accounts_frame(conn)
    active = sum(int(active_on(accounts, d).sum()) for d in days)
    assert f"(of {active:,} active)" in printed


def test_tune_writes_no_proposal_it_rates_worse_unless_forced(
    portfolio: Engine, cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """On the demo one sampled day gives a refit that ranks churners worse out of fold (0.843 -> 0.791): it was
    written all the same. Now nothing is written, the command says why (the figures) and how (--force), exit 1."""
    as_of = (END - timedelta(days=90)).isoformat()
    args = ["tune", "--as-of", as_of, "--horizon", "60", "--samples", "1", "--out", "proposed.toml"]
    assert main(args) == 1
    printed, err = capsys.readouterr()
    auc = re.search(r"ROC AUC of \(100 - score\) for churn: (0\.\d+) before, (0\.\d+) after", printed)
    assert auc and float(auc.group(2)) < float(auc.group(1)) - 0.01, printed
    assert not Path("proposed.toml").exists()
    assert f"not written: out of fold the proposal ranks churners worse (ROC AUC {auc.group(1)} with the" in err
    assert f"{auc.group(2)} with the proposal)" in err and "--force" in err

    assert main([*args, "--force"]) == 0
    printed, err = capsys.readouterr()
    assert "wrote proposed.toml" in printed and "written with --force" in printed
    assert load_scorecard("proposed.toml").tiers.order == load_scorecard().tiers.order


FLIPPING_CARD = """
[tiers]
order = ["healthy", "low_risk", "medium_risk", "high_risk"]
cutoffs = { healthy = 80, low_risk = 60, medium_risk = 40, high_risk = 0 }

[cards.all.groups.usage]
label = "Usage"
weight = 1
measures = [
  { name = "calls", label = "API calls", metric = "api_calls", transform = "level", aggregate = "last", bands = [
    [0, 0], [60, 100]] },
]
"""


def test_backtest_reports_tier_stability_by_weekday_and_warns_when_a_card_flips(
    engine: Engine, cli_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """The latest API calls of a product resting at weekends: Healthy on Friday, High risk on Saturday, Healthy
    again on Monday. The backtest shows it before anyone uses the card."""
    from tests.synthetic import make_small_team

    imported(engine, make_small_team(40, seed=3, churners=2).write(tmp_path / "data"))
    Path("card.toml").write_text(FLIPPING_CARD, encoding="utf-8")
    monkeypatch.setenv("SCORECARD_PATH", "card.toml")
    as_of = END.isoformat()
    assert main(["backtest", "--as-of", as_of, "--horizon", "30", "--json"]) == 0
    stability = json.loads(capsys.readouterr().out)["stability"]
    weekdays = {d["weekday"]: d for d in stability["weekdays"]}
    assert list(weekdays) == ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
    assert weekdays["Saturday"]["share"] > 0.3 and weekdays["Monday"]["share"] > 0.3, stability
    midweek = max(weekdays[d]["share"] for d in ("Tuesday", "Wednesday", "Thursday"))
    assert midweek < min(weekdays["Saturday"]["share"], weekdays["Monday"]["share"]) / 2, stability
    assert stability["days"] == 28 and stability["last_day"] == as_of
    assert sum(d["changes"] for d in stability["weekdays"]) == stability["changes"]
    worst = max(stability["weekdays"], key=lambda d: d["share"])["weekday"]
    assert worst in ("Saturday", "Monday") and stability["warning"].startswith(f"this card flips tiers: {worst}")

    assert main(["backtest", "--as-of", as_of, "--horizon", "30"]) == 0
    printed = capsys.readouterr().out
    assert "Tier stability" in printed and re.search(r"Saturday\s+\d+ %", printed)
    assert "warning: " in printed and "Saturday" in printed.split("warning: ")[1]


def test_tune_in_chinese_names_groups_and_percents_as_chinese_writes_them(
    portfolio: Engine, cli_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import prompts

    monkeypatch.setenv("LANGUAGE", "zh-CN")
    as_of = (END - timedelta(days=90)).isoformat()
    try:
        code = main(["tune", "--as-of", as_of, "--horizon", "60", "--out", "proposed.toml"])
    finally:
        prompts.set_default(prompts.ENGLISH)  # the command set the process's language
    printed, err = capsys.readouterr()
    assert code == 0, err
    assert "产品使用" in printed and "Product usage" not in printed  # the default card's group, as the card names it
    assert not re.search(r"\d %", printed), [ln for ln in printed.splitlines() if re.search(r"\d %", ln)]


def test_scoring_percents_follow_the_language() -> None:
    from bot.scoring import formats
    from prompts import speaking

    assert (formats.percent(0.4), formats.change(-0.34), formats.change(0.001)) == ("40 %", "-34 %", "±0 %")
    with speaking("zh-CN"):
        assert (formats.percent(0.4), formats.change(-0.34), formats.change(0.001)) == ("40%", "-34%", "±0%")
    assert formats.percent(0.125, 1, tight=True) == "12.5%"


def test_forecast_level_and_backtest_bands_follow_the_language() -> None:
    from bot.forecast.messages import level_text
    from bot.scoring.backtest_words import _reliability_cells
    from bot.scoring.calibration import ReliabilityRow
    from prompts import speaking

    row = ReliabilityRow(lo=0.02, hi=0.05, accounts=10, churned=1, predicted=0.03, observed=0.1)
    assert (level_text(0.8), _reliability_cells(row)["band"]) == ("80 %", "2-5 %")
    with speaking("zh-CN"):
        assert (level_text(0.8), _reliability_cells(row)["band"]) == ("80%", "2-5%")
