"""Every driver reason a CSM reads is plain English: 0/1 states, counts, readings, account fields and caps,
scored by the engine from data imported as a user would."""

from __future__ import annotations

import json
import math
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, text

from bot.cli import main
from bot.scoring.backtest import snapshot
from bot.scoring.explain import metric_label, reason_text
from bot.scoring.importer import import_accounts, import_metrics
from bot.scoring.scorecard import Measure, Scorecard, to_toml
from storage.types import ScoreParts

DAY = date(2026, 3, 31)
DAYS = 40


def _d(offset: int) -> str:
    return str(DAY + timedelta(days=offset))


ACCOUNTS = [
    "external_id,name,segment,plan,employees,mrr,contract_start,renewal_date,lifecycle_stage",
    f"A1,Acme,SMB,month_to_month,12,120,{_d(-95)},{_d(20)},mature",
    f"A2,Beta,enterprise,Annual plan,1,12000,{_d(-1000)},{_d(-5)},onboarding",
]


def _metrics() -> list[str]:
    rows = ["external_id,date,metric,value"]
    for i in range(DAYS):
        day = _d(-i)
        rows += [f"A1,{day},logins,3.2", f"A2,{day},logins,10"]
        rows += [f"A1,{day},intl_plan,1", f"A2,{day},intl_plan,0"]
        rows += [f"A1,{day},is_active,1", f"A2,{day},is_active,0"]
        rows += [f"A1,{day},number_customer_service_calls,{1 if i in (0, 3, 9, 20) else 0}"]
        rows += [f"A2,{day},number_customer_service_calls,{1 if i == 5 else 0}"]
        rows += [f"A1,{day},ticket_csat,3.1"]
        rows += [f"A1,{day},champion_left,{1 if i == 10 else 0}", f"A2,{day},champion_left,0"]
    rows += [f"A1,{_d(0)},open_issues,4", f"A1,{_d(-20)},nps,5"]
    return rows


@pytest.fixture
def portfolio(engine: Engine, tmp_path: Path) -> dict[str, int]:
    """Two accounts with every kind of metric and field; external id -> account id."""
    (tmp_path / "accounts.csv").write_text("\n".join(ACCOUNTS) + "\n", encoding="utf-8")
    (tmp_path / "metrics.csv").write_text("\n".join(_metrics()) + "\n", encoding="utf-8")
    import_accounts(engine, tmp_path / "accounts.csv", quiet=True)
    import_metrics(engine, tmp_path / "metrics.csv", quiet=True)
    with engine.connect() as conn:
        return {ext: int(i) for ext, i in conn.execute(text("SELECT external_id, id FROM account"))}


def card_with(measures: list[dict[str, Any]], caps: list[dict[str, Any]] | None = None) -> Scorecard:
    """A card of `measures`, plus one on logins that never costs a point (a score needs days of metrics)."""
    seen = {"name": "seen", "metric": "logins", "transform": "level", "aggregate": "max", "days": 90,
            "bands": [[0, 100], [1, 100]], "weight": 0.01}  # fmt: skip
    return Scorecard.model_validate({
        "tiers": {"order": ["ok", "risk"], "cutoffs": {"ok": 50, "risk": 0}},
        "data": {"lookback_days": 90, "min_days_of_data": 14, "min_weight_covered": 0.5},
        "cards": {"all": {"caps": caps or [], "groups": {"g": {"label": "G", "weight": 1,
                                                              "measures": [*measures, seen]}}}},
    })  # fmt: skip


def reasons(engine: Engine, card: Scorecard, ids: dict[str, int], measure: str = "m") -> dict[str, str]:
    """External id -> the reason of `measure`'s driver, for every account it costs points."""
    snap = snapshot(engine, card, DAY, 30)
    by_id = {i: ext for ext, i in ids.items()}
    out = {}
    for row, account_id in enumerate(snap.scores.frame["account_id"].tolist()):
        for d in snap.scores.score_parts(row).drivers:
            if d.measure == measure:
                out[by_id[account_id]] = d.reason
    return out


STATE = [[0, 100], [1, 40]]  # having it costs points
KINDS: list[tuple[str, dict[str, Any], dict[str, str]]] = [
    ("state-labelled", {"metric": "intl_plan", "label": "the international plan", "transform": "level",
                        "aggregate": "last", "bands": STATE},
     {"A1": "has the international plan"}),
    ("state-mean", {"metric": "intl_plan", "transform": "level", "aggregate": "mean", "bands": STATE},
     {"A1": "has intl plan"}),
    ("state-off", {"metric": "intl_plan", "label": "the international plan", "transform": "level",
                   "aggregate": "last", "bands": [[0, 40], [1, 100]]},
     {"A2": "does not have the international plan"}),
    ("is-state", {"metric": "is_active", "transform": "level", "aggregate": "last", "bands": [[0, 0], [1, 100]]},
     {"A2": "is not active"}),
    ("sum", {"metric": "number_customer_service_calls", "transform": "level", "aggregate": "sum", "days": 30,
             "bands": [[0, 100], [4, 0]]},
     {"A1": "4 customer service calls in the last 30 days", "A2": "1 customer service call in the last 30 days"}),
    ("mean-count", {"metric": "logins", "transform": "level", "aggregate": "mean", "bands": [[0, 0], [10, 100]]},
     {"A1": "averaged 3.2 logins a day over the last 7 days"}),
    ("mean-reading", {"metric": "ticket_csat", "transform": "level", "aggregate": "mean", "days": 30,
                      "fill": "none", "bands": [[3, 0], [4.5, 100]]},
     {"A1": "CSAT averaged 3.1 over the last 30 days"}),
    ("last-count", {"metric": "open_issues", "transform": "level", "aggregate": "last", "bands": [[0, 100], [5, 0]]},
     {"A1": "4 open issues (latest)"}),
    ("last-reading", {"metric": "nps", "transform": "level", "aggregate": "last", "days": 90, "fill": "none",
                      "bands": [[0, 0], [9, 100]]},
     {"A1": "NPS 5 (latest in the last 90 days)"}),
    ("event-flag", {"metric": "champion_left", "transform": "flag", "days": 60, "bands": [[0, 100], [1, 0]]},
     {"A1": "champion left in the last 60 days"}),
    ("tenure", {"field": "tenure_days", "transform": "field", "bands": [[0, 0], [2000, 100]]},
     {"A1": "customer for 3 months", "A2": "customer for 2.7 years"}),
    ("mrr", {"field": "mrr", "transform": "field", "bands": [[0, 0], [100000, 100]]},
     {"A1": "MRR 120", "A2": "MRR 12,000"}),
    ("employees", {"field": "employees", "transform": "field", "bands": [[0, 0], [100, 100]]},
     {"A1": "12 employees", "A2": "1 employee"}),
    ("renewal", {"field": "days_to_renewal", "transform": "field", "bands": [[-30, 0], [365, 100]]},
     {"A1": "renews in 20 days", "A2": "renewal 5 days ago"}),
    ("plan", {"field": "plan", "transform": "field", "categories": {"month_to_month": 20, "two_year": 100},
              "other": 50},
     {"A1": "on the month to month plan", "A2": "on the Annual plan"}),
    ("segment", {"field": "segment", "transform": "field", "categories": {"smb": 30, "enterprise": 100}},
     {"A1": "segment: SMB"}),
    ("stage", {"field": "lifecycle_stage", "transform": "field", "categories": {"onboarding": 40, "mature": 100}},
     {"A2": "in the onboarding stage"}),
]  # fmt: skip


@pytest.mark.parametrize(("measure", "expected"), [k[1:] for k in KINDS], ids=[k[0] for k in KINDS])
def test_each_kind_of_measure_reads_naturally(
    engine: Engine, portfolio: dict[str, int], measure: dict[str, Any], expected: dict[str, str]
) -> None:
    assert reasons(engine, card_with([{"name": "m", **measure}]), portfolio) == expected


CALLS = {"name": "calls", "metric": "number_customer_service_calls", "transform": "level", "aggregate": "sum",
         "days": 30, "bands": [[0, 100], [8, 0]]}  # fmt: skip
PLAN = {"name": "plan", "field": "plan", "transform": "field", "categories": {"month_to_month": 60}, "other": 100}
TENURE = {"name": "tenure", "field": "tenure_days", "transform": "field", "bands": [[0, 50], [365, 100]]}


def test_a_cap_reads_its_conditions_joined(engine: Engine, portfolio: dict[str, int]) -> None:
    two = card_with([CALLS, PLAN], caps=[{"when": "calls >= 4 and plan == month_to_month", "at_most": 10}])
    three = card_with([CALLS, PLAN, TENURE], caps=[
        {"when": "calls >= 4 and plan == month_to_month and tenure < 120", "at_most": 10}])  # fmt: skip

    assert reasons(engine, two, portfolio, "cap:calls") == {
        "A1": "4 customer service calls in the last 30 days and on the month to month plan: score held at 10 or below"
    }
    assert reasons(engine, three, portfolio, "cap:calls") == {
        "A1": "4 customer service calls in the last 30 days, on the month to month plan and customer for 3 months: "
        "score held at 10 or below"
    }


def test_scored_reasons_are_stored_as_a_csm_reads_them(
    engine: Engine, portfolio: dict[str, int], tmp_path: Path, cli_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = {"name": "intl", "metric": "intl_plan", "label": "the international plan", "transform": "level",
             "aggregate": "last", "bands": STATE, "weight": 2}  # fmt: skip
    card = card_with([CALLS, PLAN, state], caps=[{"when": "calls >= 4 and plan == month_to_month", "at_most": 10}])
    (tmp_path / "card.toml").write_text(to_toml(card), encoding="utf-8")
    monkeypatch.setenv("SCORECARD_PATH", str(tmp_path / "card.toml"))

    assert main(["score", "--date", str(DAY)]) == 0

    with engine.connect() as conn:
        stored = conn.execute(text("SELECT score, parts FROM health_score WHERE account_id = :a AND day = :d"),
                              {"a": portfolio["A1"], "d": DAY}).one()  # fmt: skip
    parts = ScoreParts.model_validate(json.loads(stored.parts) if isinstance(stored.parts, str) else stored.parts)
    assert stored.score <= 10
    assert [d.reason for d in parts.drivers] == [
        "4 customer service calls in the last 30 days and on the month to month plan: score held at 10 or below",
        "has the international plan",
    ]  # the calls are said once, in the cap that names them (which carries their points too)


def test_metric_ids_read_as_words() -> None:
    assert metric_label("number_customer_service_calls") == "customer service calls"
    assert metric_label("total_day_minutes") == "total day minutes"
    assert metric_label("number_") == "number "  # nothing left to read without the prefix: kept
    assert metric_label("core_feature_events") == "core-feature use"  # prompts/metrics.toml


def field_measure(field: str, **extra: Any) -> Measure:
    spec: dict[str, Any] = {"categories": {"x": 10}} if field in ("plan", "segment") else {"bands": [[0, 0], [1, 1]]}
    return Measure.model_validate({"name": "m", "field": field, "transform": "field", **spec, **extra})


@pytest.mark.parametrize(
    ("measure", "figures", "expected"),
    [
        (field_measure("mrr"), {"value": math.nan}, "MRR ?"),
        (field_measure("mrr"), {"value": 1e300}, "MRR 1e+300"),
        (field_measure("tenure_days"), {"value": math.inf}, "customer for ?"),
        (field_measure("tenure_days"), {"value": 1e300}, "customer for 2.7e+297 years"),
        (field_measure("days_to_renewal"), {"value": 0.0}, "renews today"),
        (field_measure("days_to_renewal"), {"value": 400.0}, "renews in 13 months"),
        (field_measure("segment"), {"category": "<b>big</b>_deal " + "x" * 80},
         "segment: " + ("<b>big</b> deal " + "x" * 80)[:59] + "…"),
        (field_measure("segment"), {"category": ""}, "segment: not set"),
        (field_measure("plan", label="contract"), {"category": "two_year"}, "contract: two year"),
    ],
    ids=["nan", "huge", "inf-days", "huge-days", "today", "months", "markup-long", "unset", "labelled-category"],
)  # fmt: skip
def test_hostile_figures_read_safely(measure: Measure, figures: dict[str, Any], expected: str) -> None:
    """Markup is left for the renderer to escape; nothing crashes or runs to hundreds of characters."""
    assert reason_text(measure, figures) == expected


def test_a_category_reads_as_most_accounts_spell_it() -> None:
    """A stranger's stored reasons said "on the Monthly plan" for 101 accounts and "on the monthly plan" for 184:
    one category (matched regardless of case), so one spelling, the most common."""
    from bot.scoring.engine import score_day
    from bot.scoring.panel import Panel, day_number

    card = Scorecard.model_validate({
        "tiers": {"order": ["good", "bad"], "cutoffs": {"good": 50, "bad": 0}},
        "data": {"min_days_of_data": 1},
        "cards": {"all": {"groups": {"g": {"label": "G", "weight": 1, "measures": [
            {"name": "plan", "transform": "field", "field": "plan", "categories": {"monthly": 0, "annual": 100}},
        ]}}}},
    })  # fmt: skip
    ids = np.arange(1, 6)
    obs = pd.DataFrame({"account_id": ids, "day_num": day_number(DAY), "metric": "logins", "value": 1.0})
    panel = Panel.from_long(ids, obs, day_number(DAY), day_number(DAY), ["logins"])
    plans = ["Monthly", "monthly ", "monthly", "MONTHLY", "Annual"]
    accounts = pd.DataFrame({"id": ids, "plan": plans, "renewal_date": None})
    result = score_day(card, accounts, panel, DAY)
    reasons = {p["drivers"][0]["reason"] for p in result.parts if p["drivers"]}
    assert reasons == {"on the monthly plan"}
