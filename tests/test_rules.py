"""Alert rules: the TOML file loads or says which key is wrong; each kind fires on crafted data in a
real database (imported through the CSV path, scored by the scoring run) and stays quiet when it should;
the default rules keep the demo portfolio to a handful of alerts per CSM a week."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Engine

from bot.alerts.rules import DEFAULT_PATH, KINDS, Rules, RulesError, load_rules
from bot.alerts.signals import Firing, digest_moves, due, evaluate
from bot.cli import main
from bot.demo.data import CSM_IDS
from bot.demo.run import write_demo_csvs
from bot.scoring.importer import import_accounts, import_metrics
from bot.scoring.run import score_range
from bot.scoring.scorecard import Scorecard, load_scorecard

DAY = date(2026, 6, 30)
HISTORY = 60  # days of crafted metrics, ending on DAY
DEFAULT_TEXT = DEFAULT_PATH.read_text(encoding="utf-8")

# Score = the account's `score_input` that day: score-based rules get exactly the scores a test wants.
CARD = Scorecard.model_validate({
    "tiers": load_scorecard().tiers.model_dump(),
    "data": {"lookback_days": 90, "min_days_of_data": 1, "min_weight_covered": 0.5},
    "cards": {"all": {"groups": {"g": {"label": "G", "weight": 1, "measures": [
        {"name": "input", "metric": "score_input", "transform": "level", "aggregate": "last", "days": 1,
         "fill": "none", "bands": [[0, 0], [100, 100]]},
    ]}}}},
})  # fmt: skip

RULES_TOML = """
cooldown_days = 14

[[rules]]
name = "dropped"
kind = "tier_dropped"
severity = "medium_risk"

[[rules]]
name = "below_60"
kind = "score_below"
severity = "medium_risk"
below = 60
days = 7

[[rules]]
name = "logins_down"
kind = "metric_trend"
severity = "medium_risk"
metric = "logins"
days = 7
baseline_days = 28
at_most = -0.5
min_baseline = 1.0

[[rules]]
name = "silent"
kind = "silence"
severity = "high_risk"
metrics = ["logins", "active_users"]
days = 14

[[rules]]
name = "renewal"
kind = "renewal_near"
severity = "high_risk"
within_days = 60
min_tier = "medium_risk"

[[rules]]
name = "champion"
kind = "flag"
severity = "high_risk"
metric = "champion_left"
within_days = 7

[[rules]]
name = "overdue"
kind = "metric_above"
severity = "medium_risk"
metric = "payment_days_overdue"
above = 30
"""


def series(*parts: tuple[float | None, int]) -> list[float | None]:
    """A metric's last HISTORY days, oldest first, from (value, days) runs; padded at the start with None."""
    values: list[float | None] = [v for v, n in parts for _ in range(n)]
    return [None] * (HISTORY - len(values)) + values


def seed(engine: Engine, tmp_path: Path, accounts: dict[str, dict[str, Any]]) -> dict[str, int]:
    """Import accounts ({external id: {"metrics": {metric: series}, other account columns}}) through
    the CSV importer, score the last 10 days with CARD; return external id -> account id."""
    rows, metric_rows = [], []
    for ext, spec in accounts.items():
        columns = {k: v for k, v in spec.items() if k != "metrics"}
        rows.append({"external_id": ext, "name": f"Account {ext}", "owner_slack_id": "U01CSM0001", **columns})
        for metric, values in spec.get("metrics", {}).items():
            for k, v in enumerate(values):
                if v is not None:
                    day = DAY - timedelta(days=len(values) - 1 - k)
                    metric_rows.append({"external_id": ext, "date": day.isoformat(), "metric": metric, "value": v})
    pd.DataFrame(rows).to_csv(tmp_path / "accounts.csv", index=False)
    pd.DataFrame(metric_rows).to_csv(tmp_path / "metrics.csv", index=False)
    import_accounts(engine, tmp_path / "accounts.csv", quiet=True)
    import_metrics(engine, tmp_path / "metrics.csv", quiet=True)
    score_range(engine, CARD, DAY - timedelta(days=9), DAY)
    with engine.connect() as conn:
        frame = pd.read_sql("SELECT id, external_id FROM account", conn)
    return dict(zip(frame["external_id"], frame["id"].astype(int), strict=True))


def rules_from(tmp_path: Path, text: str, scorecard: Scorecard = CARD) -> Rules:
    path = tmp_path / "rules.toml"
    path.write_text(text, encoding="utf-8")
    return load_rules(path, scorecard)


def fired(engine: Engine, rules: Rules, day: date = DAY) -> dict[str, list[Firing]]:
    """rule name -> its firings on `day`."""
    with engine.connect() as conn:
        out: dict[str, list[Firing]] = {}
        for f in evaluate(conn, rules, CARD, day):
            out.setdefault(f.rule, []).append(f)
    return out


def by_account(firings: list[Firing], ids: dict[str, int]) -> dict[str, Firing]:
    name = {v: k for k, v in ids.items()}
    return {name[f.account_id]: f for f in firings}


# --- loading -------------------------------------------------------------------------------


def test_default_rules_load_with_every_kind() -> None:
    rules = load_rules()

    assert rules == load_rules(DEFAULT_PATH, load_scorecard())
    assert sorted({r.kind for r in rules.rules}) == sorted(KINDS)
    assert all(r.enabled for r in rules.rules)
    assert rules.rule("tier_dropped").kind == "tier_dropped"
    assert rules.cooldown(rules.rule("score_below_60")) == 14
    assert rules.cooldown(rules.rule("champion_left")) == 60


def problems_of(tmp_path: Path, *edits: tuple[str, str], scorecard: Scorecard | None = None) -> list[str]:
    """Load a copy of the default rules with each (old, new) text edit applied; return its problems."""
    text = DEFAULT_TEXT
    for old, new in edits:
        assert text.count(old) == 1, f"edit target not unique in the default rules: {old!r}"
        text = text.replace(old, new)
    path = tmp_path / "rules.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RulesError) as info:
        load_rules(path, scorecard)
    assert str(info.value).startswith(f"{path}: invalid alert rules\n")
    return info.value.problems


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('metric = "logins"', 'metric = "logins_trnd"',
         "rules[2].metric: unknown metric 'logins_trnd': did you mean 'logins'?"),
        ('metrics = ["logins", "active_users"]', 'metrics = ["logins", "active_user"]',
         "rules[3].metrics[1]: unknown metric 'active_user': did you mean 'active_users'?"),
        ('severity = "high_risk"\nmetrics', 'severity = "high_rsk"\nmetrics',
         "rules[3].severity: unknown tier 'high_rsk' (the scorecard's tiers are healthy, low_risk, medium_risk, "
         "high_risk): did you mean 'high_risk'?"),
        ('min_tier = "medium_risk"', 'min_tier = "orange"',
         "rules[4].min_tier: unknown tier 'orange' (the scorecard's tiers are healthy, low_risk, medium_risk, "
         "high_risk): use one of healthy, low_risk, medium_risk, high_risk"),
        ('into = ["medium_risk", "high_risk"]', 'into = ["medium_risk", "hihg_risk"]',
         "rules[0].into[1]: unknown tier 'hihg_risk' (the scorecard's tiers are healthy, low_risk, medium_risk, "
         "high_risk): did you mean 'high_risk'?"),
        ('kind = "score_below"', 'kind = "score_under"',
         "rules[1].kind: 'score_under' is not allowed: use one of " + ", ".join(KINDS)),
        ('kind = "score_below"\n', "",
         "rules[1].kind: missing: every rule needs a kind (" + ", ".join(KINDS) + ")"),
        ("below = 60\n", "", "rules[1].below: Field required"),
        ("below = 60\n", 'below = 60\nmetric = "nps"\n', "rules[1].metric: not a setting of kind 'score_below'"),
        ("below = 60\ndays = 7\n", "below = 60\ndays = 0\n",
         "rules[1].days: Input should be greater than or equal to 1"),
        ("at_most = -0.5", "at_most = 0.5", "rules[2].at_most: Input should be less than 0"),
        ('name = "gone_silent"', 'name = "Gone silent"', "rules[3].name: 'Gone silent' is not allowed:"),
        ('name = "gone_silent"', 'name = "champion_left"', "rules: rule names must be unique: champion_left"),
        ("cooldown_days = 14", "cooldown_days = -1", "cooldown_days: Input should be greater than or equal to 0"),
        ("cooldown_days = 30", "cooldown_dayz = 30", "rules[4].cooldown_dayz: not a setting of kind 'renewal_near'"),
    ],
)  # fmt: skip
def test_bad_rules_name_the_key(tmp_path: Path, old: str, new: str, expected: str) -> None:
    problems = problems_of(tmp_path, (old, new))

    assert len(problems) == 1, problems
    assert problems[0].startswith(expected), problems


def test_several_problems_are_all_reported(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, ('metric = "logins"', 'metric = "logins_trnd"'), ("above = 30", "above = 'x'"))

    assert [p.split(":")[0] for p in problems] == ["rules[2].metric", "rules[6].above"]


def test_tiers_are_checked_against_the_scorecard(tmp_path: Path) -> None:
    tiers = {"order": ["green", "amber", "red"], "cutoffs": {"green": 70, "amber": 40, "red": 0}}
    traffic = CARD.model_copy(update={"tiers": CARD.tiers.model_validate(tiers)})

    problems = problems_of(tmp_path, ("cooldown_days = 14", "cooldown_days = 15"), scorecard=traffic)

    assert problems[0] == (
        "rules[0].severity: unknown tier 'medium_risk' (the scorecard's tiers are green, amber, red): "
        "use one of green, amber, red"
    )
    assert any(p.startswith("rules[0].into[1]: unknown tier 'high_risk'") for p in problems)
    assert any(p.startswith("rules[4].min_tier: unknown tier 'medium_risk'") for p in problems)


def test_missing_file_and_broken_toml(tmp_path: Path) -> None:
    with pytest.raises(RulesError) as info:
        load_rules(tmp_path / "nope.toml")
    assert info.value.problems == ["file not found"]
    (tmp_path / "bad.toml").write_text("[[rules]\nname = 1", encoding="utf-8")
    with pytest.raises(RulesError) as info:
        load_rules(tmp_path / "bad.toml")
    assert info.value.problems[0].startswith("not valid TOML: ")


# --- each kind fires, and does not, on crafted data ---------------------------------------------


@pytest.fixture
def crafted(engine: Engine, tmp_path: Path) -> tuple[Engine, dict[str, int], Rules]:
    renew_soon, renew_late = (DAY + timedelta(days=30)).isoformat(), (DAY + timedelta(days=90)).isoformat()
    accounts: dict[str, dict[str, Any]] = {
        # tier_dropped: low -> medium today fires; healthy -> low does not (digest); high all along does not
        "A1": {"metrics": {"score_input": series((70, 59), (50, 1))}},
        "A2": {"metrics": {"score_input": series((90, 59), (70, 1))}},
        "A3": {"metrics": {"score_input": series((30, 60))}},
        # score_below: 7 days below 60 fires, 6 does not
        "B1": {"metrics": {"score_input": series((70, 53), (50, 7))}},
        "B2": {"metrics": {"score_input": series((70, 54), (50, 6))}},
        # renewal_near: in 30 days while medium fires; while low, or in 90 days, does not
        "C1": {"renewal_date": renew_soon, "metrics": {"score_input": series((50, 60))}},
        "C2": {"renewal_date": renew_soon, "metrics": {"score_input": series((70, 60))}},
        "C3": {"renewal_date": renew_late, "metrics": {"score_input": series((30, 60))}},
        # metric_trend: 10 -> 3 logins a day fires; 10 -> 8 does not; 0.5 -> 0 is below min_baseline
        "D1": {"metrics": {"logins": series((10, 53), (3, 7))}},
        "D2": {"metrics": {"logins": series((10, 53), (8, 7))}},
        "D3": {"metrics": {"logins": series((0.5, 53), (0, 7))}},
        # silence: 14 days of nothing after logins fires; 13 does not; never active does not
        "E1": {"metrics": {"logins": series((5, 46), (0, 14)), "active_users": series((2, 46), (0, 14))}},
        "E2": {"metrics": {"logins": series((5, 47), (0, 13)), "active_users": series((0, 60))}},
        "E3": {"metrics": {"logins": series((0, 60))}},
        # flag: champion left 3 days ago fires, 10 days ago does not (within 7 days)
        "F1": {"metrics": {"champion_left": series((0, 56), (1, 1), (0, 3))}},
        "F2": {"metrics": {"champion_left": series((0, 49), (1, 1), (0, 10))}},
        # metric_above: latest 34 days overdue fires; 40 earlier but 10 now does not
        "G1": {"metrics": {"payment_days_overdue": series((20, 55), (34, 5))}},
        "G2": {"metrics": {"payment_days_overdue": series((40, 55), (10, 5))}},
        # churned last week: fires nothing, although its champion left too
        "H1": {"status": "churned", "churned_on": (DAY - timedelta(days=5)).isoformat(),
               "metrics": {"champion_left": series((0, 56), (1, 1), (0, 3))}},
    }  # fmt: skip
    ids = seed(engine, tmp_path, accounts)
    return engine, ids, rules_from(tmp_path, RULES_TOML)


def test_each_kind_fires_only_where_its_condition_holds(crafted: tuple[Engine, dict[str, int], Rules]) -> None:
    engine, ids, rules = crafted

    result = {rule: sorted(by_account(fs, ids)) for rule, fs in fired(engine, rules).items()}

    assert result == {
        "dropped": ["A1"],
        "below_60": ["A3", "B1", "C1", "C3"],  # A3, C1 and C3 have been below 60 all along
        "renewal": ["C1"],
        "logins_down": ["D1", "E1", "E2"],  # E1 and E2 went from 5 logins a day to none
        "silent": ["E1"],
        "champion": ["F1"],
        "overdue": ["G1"],
    }


def test_firings_carry_severity_detail_and_whole_words(crafted: tuple[Engine, dict[str, int], Rules]) -> None:
    engine, ids, rules = crafted

    got = {rule: by_account(fs, ids) for rule, fs in fired(engine, rules).items()}

    a1 = got["dropped"]["A1"]
    assert (a1.account_id, a1.kind, a1.severity) == (ids["A1"], "tier_dropped", "medium_risk")
    assert a1.detail == {"old_tier": "low_risk", "new_tier": "medium_risk", "score": 50.0}
    assert a1.words == "tier dropped from Low risk to Medium risk (score 50 that day)"
    assert got["below_60"]["B1"].words == "score below 60 for 7 days (score 50 that day)"
    assert got["below_60"]["B1"].detail == {"below": 60.0, "days": 7.0, "score": 50.0}
    assert got["renewal"]["C1"].words == "renewal in 30 days while medium risk"
    assert got["renewal"]["C1"].severity == "high_risk"
    assert got["logins_down"]["D1"].words == "logins -70 % vs prior 4 weeks"
    assert got["logins_down"]["D1"].detail == {"change": -0.7, "recent": 3.0, "base": 10.0}
    assert got["silent"]["E1"].words == "no logins or active users for 14 days"
    assert got["champion"]["F1"].words == "champion left 3 days ago"
    assert got["champion"]["F1"].detail == {"days_ago": 3.0}
    assert got["overdue"]["G1"].words == "payment 34 days overdue"


def test_a_drop_into_high_risk_takes_high_risk_severity(engine: Engine, tmp_path: Path) -> None:
    ids = seed(engine, tmp_path, {"X": {"metrics": {"score_input": series((70, 59), (20, 1))}}})
    rules = rules_from(tmp_path, RULES_TOML)

    (firing,) = fired(engine, rules)["dropped"]

    assert (firing.account_id, firing.severity) == (ids["X"], "high_risk")
    assert firing.words == "tier dropped from Low risk to High risk (score 20 that day)"


def test_segment_filter_ignores_case_and_spaces(engine: Engine, tmp_path: Path) -> None:
    flag = {"champion_left": series((0, 58), (1, 1), (0, 1))}
    ids = seed(engine, tmp_path, {
        "ENT": {"segment": "ENTERPRISE", "metrics": flag}, "MID": {"segment": "Mid-Market ", "metrics": flag},
        "SMB": {"segment": "smb", "metrics": flag}, "NONE": {"metrics": flag},
    })  # fmt: skip
    text = RULES_TOML.replace("within_days = 7\n", 'within_days = 7\nsegments = [" Enterprise", "mid-market"]\n')
    rules = rules_from(tmp_path, text)

    assert sorted(by_account(fired(engine, rules)["champion"], ids)) == ["ENT", "MID"]


def test_disabled_rules_and_days_without_data_do_not_fire(crafted: tuple[Engine, dict[str, int], Rules]) -> None:
    engine, ids, rules = crafted
    off = rules.model_copy(update={"rules": [r.model_copy(update={"enabled": r.name != "champion"})
                                            for r in rules.rules]})  # fmt: skip

    assert "champion" not in fired(engine, off)
    # the day after the data ends: metric rules wait for the data instead of reading it as silence
    later = fired(engine, rules, DAY + timedelta(days=1))
    assert not {"logins_down", "silent", "champion", "overdue"} & set(later)


def test_cooldown_and_digest(crafted: tuple[Engine, dict[str, int], Rules]) -> None:
    engine, ids, rules = crafted
    firings = [f for fs in fired(engine, rules).values() for f in fs]
    f1 = (ids["F1"], "champion")

    still_cooling = due(firings, rules, {f1: DAY - timedelta(days=13)}, DAY)
    cooled = due(firings, rules, {f1: DAY - timedelta(days=14)}, DAY)

    assert len(still_cooling) == len(firings) - 1 and f1 not in {(f.account_id, f.rule) for f in still_cooling}
    assert len(cooled) == len(firings)
    with engine.connect() as conn:
        moves = digest_moves(conn, CARD, DAY, DAY - timedelta(days=1), alerted={f.account_id for f in firings})
    assert [(m.account_id, m.from_tier, m.to_tier, m.score) for m in moves] == [
        (ids["A2"], "healthy", "low_risk", 70.0)
    ]


# --- the demo portfolio: the noise budget -----------------------------------------------------


def test_default_rules_raise_a_handful_of_alerts_per_csm_a_week(engine: Engine, tmp_path: Path) -> None:
    accounts_csv, metrics_csv, _ = write_demo_csvs(tmp_path, 300, 180, DAY)
    import_accounts(engine, accounts_csv, quiet=True)
    import_metrics(engine, metrics_csv, quiet=True)
    scorecard = load_scorecard()
    score_range(engine, scorecard, DAY - timedelta(days=59), DAY)
    rules = load_rules()
    days = [DAY - timedelta(days=k) for k in range(42, -1, -1)]

    firing: dict[date, set[tuple[int, str]]] = {}
    with engine.connect() as conn:
        for day in days:
            firing[day] = {(f.account_id, f.rule) for f in evaluate(conn, rules, scorecard, day)}
    last_alert: dict[tuple[int, str], date] = {}
    new: dict[date, set[tuple[int, str]]] = {}
    alerts: dict[date, set[tuple[int, str]]] = {}
    for day in days[1:]:
        new[day] = firing[day] - firing[day - timedelta(days=1)]
        alerts[day] = {k for k in new[day] if k not in last_alert or
                       (day - last_alert[k]).days >= rules.cooldown(rules.rule(k[1]))}  # fmt: skip
        last_alert.update(dict.fromkeys(alerts[day], day))
    with engine.connect() as conn:
        moves = {w: len(digest_moves(conn, scorecard, DAY - timedelta(days=7 * w), DAY - timedelta(days=7 * w + 7), ()))
                 for w in range(4)}  # fmt: skip

    print("\nDefault alert rules on the demo portfolio (300 accounts, 6 CSMs):")
    per_week = []
    for w in range(3, -1, -1):
        week = [DAY - timedelta(days=7 * w + k) for k in range(6, -1, -1)]
        fresh = set().union(*(new[d] for d in week))
        raised = set().union(*(alerts[d] for d in week))
        n_accounts = len({a for a, _ in fresh})
        per_week.append(n_accounts)
        by_rule = dict(Counter(r for _, r in sorted(fresh)).most_common())
        print(f"  week to {week[-1]}: {n_accounts} accounts with a new firing "
              f"({n_accounts / len(CSM_IDS):.1f} per CSM), {len(fresh)} new firings, {len(raised)} after cooldowns; "
              f"worse tier moves {moves[w]}; {by_rule}")  # fmt: skip

    # a handful per CSM, not 45 moves (at most 7: since a third of the demo's churners fall silent before they
    # leave, their tier drops add a few a week, 6.3 per CSM in the busiest week)
    assert all(0 < n <= 7 * len(CSM_IDS) for n in per_week), per_week
    assert max(moves.values()) > max(per_week) / 2  # the demo does move many accounts


def test_rules_cli_show_default_check_and_errors(
    cli_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["rules", "show-default"]) == 0
    assert capsys.readouterr().out == DEFAULT_PATH.read_text(encoding="utf-8")

    assert main(["rules", "check"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{DEFAULT_PATH}: valid; 7 of 7 rules enabled: tier_dropped (tier_dropped, medium_risk), ")

    bad = tmp_path / "rules.toml"
    bad.write_text(DEFAULT_PATH.read_text(encoding="utf-8").replace('metric = "logins"', 'metric = "logins_trnd"'))
    assert main(["rules", "check", str(bad)]) == 2
    assert capsys.readouterr().err == (
        f"healthbot: {bad}: invalid alert rules\n"
        "  rules[2].metric: unknown metric 'logins_trnd': did you mean 'logins'?\n"
    )
