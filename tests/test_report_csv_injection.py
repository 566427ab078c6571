"""`healthbot report --format csv` on a portfolio whose names hold spreadsheet formulas: every text cell that came
from data and starts with =, +, -, @, a tab, a carriage return or a line feed is written with a leading `'` (OWASP's
CSV injection advice: spreadsheets then show it as text), while the numbers the report computes stay numbers, a
negative one included."""

from __future__ import annotations

import csv
import re
from datetime import date
from pathlib import Path

from sqlalchemy import Engine

from bot.cli import main
from storage.db import session_factory, unit_of_work
from storage.models import Account, ExitInterview

SEGMENT = '=HYPERLINK("http://evil.test","x")'
REASON = "@risk"
NAME = "-2+3+cmd|' /C calc'!A0"
INDUSTRY = "+SUM(1,2)"
REGION = "\t=1+1"
PLAN_B = "\r=1+1"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")
NUMBER = re.compile(r"-?\d+(\.\d+)?")


def add_hostile_portfolio(engine: Engine) -> None:
    """Four accounts of the hostile segment on 2026-07-01; one of them (named like a DDE call, with a credit note
    for MRR, so the MRR lost is negative) churned in 2026-Q3 and was interviewed with a hostile reason."""
    with unit_of_work(session_factory(engine)) as session:
        for i in range(1, 5):
            churned = date(2026, 8, 3) if i == 1 else None
            account = Account(
                external_id=f"h{i}", name=NAME if i == 1 else f"Account {i}", name_lower=f"account {i}",
                mrr=-350.0 if i == 1 else 100.0, segment=SEGMENT, industry=INDUSTRY, region=REGION if i % 2 else PLAN_B,
                contract_start=date(2025, 1, 1), status="churned" if churned else "active", churned_on=churned,
            )  # fmt: skip
            session.add(account)
            session.flush()
            if churned:
                session.add(ExitInterview(account_id=account.id or 0, reason=REASON, avoidable=False,
                                          interviewer="U0CSM0001", recorded_by="U0CSM0001"))  # fmt: skip


def test_the_csv_report_neutralises_formula_cells_and_keeps_numbers(
    engine: Engine, cli_env: None, tmp_path: Path
) -> None:
    add_hostile_portfolio(engine)
    out = tmp_path / "out"
    assert main(["report", "--period", "2026-Q3", "--format", "csv", "--out", str(out), "--segment", SEGMENT]) == 0
    tables = {p.name.split("-")[-1]: list(csv.reader(p.open(encoding="utf-8", newline=""))) for p in out.iterdir()}
    cells = [cell for rows in tables.values() for row in rows for cell in row]
    formulas = [c for c in cells if c.startswith(FORMULA_START) and not NUMBER.fullmatch(c)]
    assert formulas == []
    headline = dict(zip(*tables["headline.csv"], strict=True))
    assert headline["segment"] == "'" + SEGMENT  # shown as typed, as text
    assert headline["mrr_lost"] == "-350.00" and headline["mrr_at_start"] == "-50.00"  # our numbers stay numbers
    assert tables["reasons.csv"][1][0] == "'" + REASON
    assert tables["foresight.csv"][1][0] == "'" + NAME
    values = {(row[0], row[1]) for row in tables["traits.csv"][1:]}
    assert {("industry", "'" + INDUSTRY), ("region", "'" + REGION), ("region", "'" + PLAN_B)} <= values
