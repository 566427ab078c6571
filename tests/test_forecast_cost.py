"""What the forecast's checks and the backtest read: `forecast check` reads the body (every account's chance, MRR
and segment) of the forecasts whose period is over only, the churn review the latest of them only, and
`healthbot backtest` with its calibration scores the as-of day once (SQLite, and PostgreSQL with
TEST_DATABASE_URL)."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, event

from bot.demo.run import write_demo_csvs
from bot.forecast import service
from bot.forecast.service import Book
from bot.forecast.window import Window
from bot.scoring import backtest as backtest_module
from bot.scoring.chance import Band, ChanceFit, ChanceMap
from bot.scoring.importer import import_accounts, import_metrics
from bot.scoring.scorecard import load_scorecard
from storage.db import session_factory, unit_of_work
from storage.models import Account

TODAY = date(2026, 12, 7)


def _forecasts(engine: Engine) -> list[int]:
    """Four stored forecasts of two accounts: two over by TODAY (periods ending 2026-11-06 and 2026-12-07), two
    running."""
    with unit_of_work(session_factory(engine)) as session:
        accounts = [Account(external_id=f"c{i}", name=f"C {i}", name_lower=f"c {i}", mrr=100.0) for i in (1, 2)]
        session.add_all(accounts)
        session.flush()
        ids = np.array([a.id for a in accounts], dtype=np.int64)
    band = Band(0, 100, 100, 10)
    fit = ChanceFit(TODAY, 60, "k", [TODAY], cases=100, churned_accounts=10, accounts=100, pooled=ChanceMap((band,)))
    book = Book(TODAY, ids, np.array(["smb", None], dtype=object), np.array([100.0, 200.0]), np.array(["d", "d"]),
                np.array([50.0, 50.0]))  # fmt: skip
    made = []
    for as_of in (date(2026, 9, 7), TODAY - timedelta(days=60), TODAY - timedelta(days=30), TODAY):
        made.append(service.store(engine, Window(as_of, 60), fit, book).id)
    return [int(i) for i in made if i is not None]


def _bodies_read(engine: Engine) -> list[set[int]]:
    """Per statement whose result holds whole forecast bodies, the ids it was asked for (filled as they run)."""
    seen: list[set[int]] = []

    def after(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        names = [d[0] for d in cursor.description or []]
        if "churn_forecast" in statement and "body" in names:
            values = params.values() if isinstance(params, dict) else params
            seen.append({v for v in values if isinstance(v, int)})

    event.listen(engine, "after_cursor_execute", after)
    return seen


def test_check_reads_the_bodies_of_the_forecasts_that_are_over_only(engine: Engine) -> None:
    first, second, third, fourth = _forecasts(engine)
    seen = _bodies_read(engine)
    with unit_of_work(session_factory(engine)) as session:
        checks, running = service.check(session, TODAY)
    assert [c.id for c in checks] == [first, second] and [r.id for r in running] == [third, fourth]
    assert [c.label for c in checks] == [None, None] and running[0].end == TODAY + timedelta(days=30)
    assert seen == [{first, second}]
    seen.clear()
    with unit_of_work(session_factory(engine)) as session:
        latest = service.latest_check(session, TODAY)
    assert latest is not None and latest.id == second and latest.total.outlook.accounts == 2
    assert seen == [{second}]


def test_a_running_forecast_keeps_its_label_without_its_body_read(engine: Engine) -> None:
    _forecasts(engine)
    book = Book(TODAY, np.array([1], dtype=np.int64), np.array([None], dtype=object), np.array([5.0]),
                np.array(["d"]), np.array([50.0]))  # fmt: skip
    band = Band(0, 100, 100, 10)
    fit = ChanceFit(TODAY, 31, "k", [TODAY], cases=100, churned_accounts=10, accounts=100, pooled=ChanceMap((band,)))
    made = service.store(engine, Window(TODAY, 31, "2027-01"), fit, book)
    with unit_of_work(session_factory(engine)) as session:
        _, running = service.check(session, TODAY)
    assert (running[-1].id, running[-1].label) == (made.id, "2027-01")


def test_backtest_with_its_calibration_scores_the_as_of_day_once(
    engine: Engine, tmp_path: Path, monkeypatch: Any
) -> None:
    end = date(2026, 6, 30)
    accounts_csv, metrics_csv, _ = write_demo_csvs(tmp_path / "data", 300, 180, end)
    import_accounts(engine, accounts_csv, quiet=True)
    import_metrics(engine, metrics_csv, quiet=True)
    scored: Counter[date] = Counter()
    real = backtest_module.score_day

    def counting(*args: Any, **kwargs: Any) -> Any:  # the real scoring, counted per day
        scored[args[3]] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(backtest_module, "score_day", counting)
    as_of = end - timedelta(days=60)
    result = backtest_module.backtest(engine, load_scorecard(), as_of, 60, with_calibration=True)
    assert result.calibration is not None and result.calibration.accounts == result.accounts > 250
    assert result.calibration.churned == result.churned
    assert scored[as_of] == 1 and len(scored) >= 4  # the as-of day once, and the training snapshots
