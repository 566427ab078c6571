"""The churn review says what it does not know. An unknown segment is an error listing the known ones; a period
without data says so instead of 0.0 %; a period partly without data says the part it covers; quarters before any
data show "no data"; the reasons panel says there were no interviews; small groups are not ranked above
well-supported ones. Through the CLI (`healthbot report`) and `/health churn`, as tests/test_churn_review.py does."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bot.churn.analysis import review
from bot.churn.periods import Period
from bot.cli import main
from bot.settings import Settings
from storage.db import session_factory, unit_of_work
from storage.models import Account, HealthScore
from tests.conftest import BotServer
from tests.fake_slack import FakeSlack

TODAY = date(2026, 10, 15)
WRITTEN = datetime(2026, 10, 15, 9, tzinfo=UTC)  # the accounts were last written then: the data runs to 2026-10-15
# industry: (accounts, churned in 2026-Q3); 100 accounts, 20 churned, a base rate of 20 %
INDUSTRIES = {"construction": (4, 1), "energy": (10, 4), "retail": (40, 14), "software": (46, 1)}


@pytest.fixture
def portfolio(engine: Engine) -> Engine:
    """100 accounts since 2025, Enterprise and SMB; the data (scores) starts on 2026-05-04; 20 churned in 2026-Q3,
    none of them interviewed."""
    with unit_of_work(session_factory(engine)) as session:
        n = 0
        for industry, (accounts, churned) in INDUSTRIES.items():
            for i in range(accounts):
                n += 1
                gone = date(2026, 8, 1 + i) if i < churned else None
                account = Account(
                    external_id=f"{industry}-{i}", name=f"{industry} {i}", name_lower=f"{industry} {i}", mrr=100.0,
                    segment="Enterprise" if n % 2 else "SMB", industry=industry, contract_start=date(2025, 1, 1),
                    status="churned" if gone else "active", churned_on=gone, updated_at=WRITTEN,
                )  # fmt: skip
                session.add(account)
                session.flush()
                session.add(HealthScore(account_id=account.id, day=date(2026, 5, 4), score=50.0, tier="healthy",
                                        scorecard="default"))  # fmt: skip
    return engine


def _report(tmp_path: Path, *args: str) -> tuple[int, Path]:
    out = tmp_path / "out"
    return main(["report", *args, "--out", str(out)]), out


# ---------------------------------------------------------------- unknown segments


def test_an_unknown_segment_is_an_error_listing_the_known_ones(
    portfolio: Engine, cli_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _report(tmp_path, "--period", "2026-Q3", "--segment", "enterprize")
    err = capsys.readouterr().err
    assert code == 2
    assert "unknown segment 'enterprize'" in err and "Enterprise, SMB" in err
    assert not out.exists()


def test_a_known_segment_in_other_case_is_reported(portfolio: Engine, cli_env: None, tmp_path: Path) -> None:
    code, out = _report(tmp_path, "--period", "2026-Q3", "--segment", "smb")
    assert code == 0
    assert "segment smb" in (out / "churn-2026-Q3.md").read_text(encoding="utf-8")


# ---------------------------------------------------------------- periods without data


@pytest.mark.parametrize("period", ["2027-Q3", "2024-Q1"])
def test_a_period_without_data_says_so_and_writes_nothing(
    portfolio: Engine, cli_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str], period: str
) -> None:
    code, out = _report(tmp_path, "--period", period)
    err = capsys.readouterr().err
    assert code == 1
    assert f"no data for {period}: the portfolio's data runs from 2026-05-04 to 2026-10-15" in err
    assert "0.0" not in err
    assert not out.exists()


def test_a_period_partly_without_data_says_the_part_it_covers(portfolio: Engine, cli_env: None, tmp_path: Path) -> None:
    code, out = _report(tmp_path, "--period", "2026-Q4", "--format", "md")
    assert code == 0
    md = (out / "churn-2026-Q4.md").read_text(encoding="utf-8")
    assert "2026-10-01 to 2026-12-31" in md
    assert "covers 2026-10-01 to 2026-10-15 only: the portfolio's data runs from 2026-05-04 to 2026-10-15" in md
    code, out = _report(tmp_path, "--period", "2026-Q4", "--format", "csv")
    headline = next(csv.DictReader(io.StringIO((out / "churn-2026-Q4-headline.csv").read_text(encoding="utf-8"))))
    assert (headline["covered_start"], headline["covered_end"]) == ("2026-10-01", "2026-10-15")


def test_quarters_before_any_data_show_no_data_in_the_trend(portfolio: Engine, cli_env: None, tmp_path: Path) -> None:
    code, out = _report(tmp_path, "--period", "2026-Q3", "--format", "md")
    assert code == 0
    md = (out / "churn-2026-Q3.md").read_text(encoding="utf-8")
    trend = md.split("## Trend")[1].split("##")[0]
    assert "| 2025-Q4 | no data |" in trend and "| 2026-Q1 | no data |" in trend
    assert "| 2026-Q2 (from 2026-05-04) | 100 | 0 | 0.0 % | 0.0 % |" in trend
    assert "| 2026-Q3 | 100 | 20 | 20.0 % | 20.0 % |" in trend
    code, out = _report(tmp_path, "--period", "2026-Q3", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO((out / "churn-2026-Q3-trend.csv").read_text(encoding="utf-8"))))
    assert [(r["quarter"], r["churn_rate"], r["covered_start"]) for r in rows] == [
        ("2025-Q4", "", ""), ("2026-Q1", "", ""), ("2026-Q2", "0.0000", "2026-05-04"),
        ("2026-Q3", "0.2000", "2026-07-01"),
    ]  # fmt: skip


# ---------------------------------------------------------------- no exit interviews


def test_no_exit_interviews_is_said_in_the_chart_and_the_markdown(
    portfolio: Engine, cli_env: None, tmp_path: Path
) -> None:
    code, out = _report(tmp_path, "--period", "2026-Q3", "--format", "png")
    assert code == 0 and (out / "churn-2026-Q3.png").read_bytes().startswith(b"\x89PNG")
    from bot.churn.report import chart

    with portfolio.connect() as conn:
        got = review(conn, Period(date(2026, 7, 1), date(2026, 9, 30), "2026-Q3"), today=TODAY)
    trend_panel, reasons_panel = chart(got).axes
    assert [t.get_text() for t in reasons_panel.texts] == ["no exit interviews in this period (0 of 20 churned)"]
    # 2025-Q4 and 2026-Q1 before any data; 2026-Q2 had data and nobody churned (no bar either: say which)
    assert [t.get_text() for t in trend_panel.texts] == ["no data", "no data", "0 %: no churn"]
    code, out = _report(tmp_path, "--period", "2026-Q3", "--format", "md")
    md = (out / "churn-2026-Q3.md").read_text(encoding="utf-8")
    assert "No exit interviews in this period (0 of 20 churned)." in md


# ---------------------------------------------------------------- small groups


def test_small_groups_are_listed_apart_and_the_ranking_is_stated(
    portfolio: Engine, cli_env: None, tmp_path: Path
) -> None:
    code, out = _report(tmp_path, "--period", "2026-Q3", "--format", "md")
    md = (out / "churn-2026-Q3.md").read_text(encoding="utf-8")
    part = md.split("## What churned accounts had in common")[1].split("\n## ")[0]
    assert "Ranked by the lower end of the 95 % Wilson interval" in part
    assert "groups of fewer than 10 accounts are listed apart" in part
    rows = [line.split(" | ")[1] for line in part.splitlines() if line.startswith("| industry")]
    # energy has the higher rate (4 of 10) but retail the better-supported one (14 of 40): retail first;
    # construction (1 of 4) is not ranked at all
    assert rows == ["retail", "energy"]
    apart = part.split("Fewer than 10 accounts")[1]
    assert "industry construction: 1 / 4 (25.0 %)" in apart
    code, out = _report(tmp_path, "--period", "2026-Q3", "--format", "csv")
    rows = {(r["trait"], r["value"]): r for r in
            csv.DictReader(io.StringIO((out / "churn-2026-Q3-traits.csv").read_text(encoding="utf-8")))}  # fmt: skip
    assert rows[("industry", "construction")]["accounts"] == "4"  # the CSV keeps every group, with its bound
    assert float(rows[("industry", "retail")]["rate_low_95"]) > float(rows[("industry", "energy")]["rate_low_95"])


# ---------------------------------------------------------------- /health churn


@pytest.fixture
def server(settings: Settings, portfolio: Engine, fake_slack: FakeSlack) -> Iterator[BotServer]:
    bot = BotServer(settings, portfolio, fake_slack, today=TODAY).start()
    yield bot
    bot.stop()


def _private_answer(server: BotServer) -> str:
    said = server.fake.wait_for("response_url", timeout=30)
    return "\n".join(c.params.get("text") or "" for c in said)


def test_health_churn_with_an_unknown_segment_answers_privately(server: BotServer) -> None:
    server.command("churn 2026-Q3 enterprize")
    text = _private_answer(server)
    assert "unknown segment 'enterprize'" in text and "Enterprise, SMB" in text
    assert server.fake.calls_to("chat.postMessage") == []


def test_health_churn_for_a_future_period_says_there_is_no_data(server: BotServer) -> None:
    server.command("churn 2027-Q3")
    text = _private_answer(server)
    assert "no data for 2027-Q3: the portfolio's data runs from 2026-05-04 to 2026-10-15" in text
    assert server.fake.calls_to("chat.postMessage") == []


def test_health_churn_this_quarter_says_the_part_it_covers_and_the_trend_says_no_data(server: BotServer) -> None:
    server.command("churn this-quarter")
    posted = server.fake.wait_for("chat.postMessage", timeout=30)[0].params
    context = posted["blocks"][1]["elements"][0]["text"]
    assert "covers 2026-10-01 to 2026-10-15 only" in context
    footer = posted["blocks"][-1]["elements"][0]["text"]
    assert "2026-Q1 no data" in footer and "2026-Q2 (from 2026-05-04) 0.0%" in footer
    server.fake.wait_for("files.completeUploadExternal", timeout=30)


def test_health_churn_ranks_well_supported_traits_and_lists_small_groups_apart(server: BotServer) -> None:
    server.command("churn 2026-Q3")
    posted = server.fake.wait_for("chat.postMessage", timeout=30)[0].params
    body = "\n".join(b["text"]["text"] for b in posted["blocks"] if b["type"] == "section")
    who = body.split("*Who churned*")[1]
    assert who.index("*retail*") < who.index("*energy*")
    assert "ranked by the lower end of the 95 % interval" in who
    assert "fewer than 10 accounts" in who and "construction 1 of 4" in who
    assert "*construction*" not in who
    server.fake.wait_for("files.completeUploadExternal", timeout=30)


def test_the_quarterly_job_posts_nothing_for_a_quarter_without_data(engine: Engine) -> None:
    """A new install whose data starts after the quarter the job would review: a log line, no 0.0 % review."""
    from jobs import churn_review as churn_job
    from storage import outbox

    with unit_of_work(session_factory(engine)) as session:
        session.add(Account(external_id="new", name="New", name_lower="new", mrr=100.0, updated_at=WRITTEN))
    assert churn_job.run(engine, channel="C0CHURN001", today=TODAY) is None  # 2026-Q3 ended before 2026-10-15
    with unit_of_work(session_factory(engine)) as session:
        assert outbox.get(session, "churn-review:2026-Q3") is None


def test_accounts_without_dates_are_reviewed(engine: Engine, cli_env: None, tmp_path: Path) -> None:
    """Accounts imported with neither a contract start nor a churn date (both optional), with scores: a review."""
    with unit_of_work(session_factory(engine)) as session:
        for i in range(3):
            account = Account(external_id=f"p{i}", name=f"P{i}", name_lower=f"p{i}", mrr=100.0, updated_at=WRITTEN)
            session.add(account)
            session.flush()
            session.add(HealthScore(account_id=account.id, day=date(2026, 6, 1), score=50.0, tier="healthy",
                                    scorecard="default"))  # fmt: skip
    code, out = _report(tmp_path, "--period", "2026-Q3")
    assert code == 0
    assert "**0.0 %** (0 churned / 3 accounts at the start)" in (out / "churn-2026-Q3.md").read_text(encoding="utf-8")
