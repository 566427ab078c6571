"""Expected MRR loss on a real database (SQLite and PostgreSQL), summed by hand: the sums `bot.slack.expected_loss`
reads, the weekly digest (a channel's and a CSM's DM), the churn review over signed HTTP (`/health churn`, one
segment) and the quarterly job; no fit yet and too little history say so instead of a number. Payloads validated
with slack_sdk.models; hostile segment names arrive escaped."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from slack_sdk.models.blocks import Block
from sqlalchemy import Engine
from sqlmodel import Session

from bot.cli import main
from bot.digest import messages as digest_messages
from bot.digest import service as digest_service
from bot.scoring import chance_fit
from bot.scoring.chance import Band, ChanceFit, ChanceMap, scorecard_key
from bot.scoring.loss import LossRow
from bot.scoring.scorecard import load_scorecard
from bot.settings import Settings
from bot.slack import expected_loss
from jobs import churn_review as churn_job
from storage import outbox
from storage.db import session_factory, unit_of_work
from storage.models import Account, HealthScore
from tests.conftest import BotServer
from tests.fake_slack import FakeSlack

SCORECARD = load_scorecard()
KEY = scorecard_key(SCORECARD)  # the fits below are for the card in use
TIERS = SCORECARD.tiers
DAY = date(2026, 7, 1)  # the only (so the latest) score day
TODAY = date(2026, 10, 15)  # the churn review of 2026-Q3
NOW = datetime(2026, 7, 6, 9, 0, tzinfo=UTC)  # the digest of the week 2026-06-29 to 2026-07-05
U1, U2 = "U01CSM0001", "U01CSM0002"
HOSTILE = "<!here> & co"
# the hand fit: scores 0-39 churned 40 of 100, 40-69 10 of 100, 70-100 2 of 200
FIT = ChanceFit(
    as_of=date(2026, 6, 30),
    horizon=90,
    scorecard_key=KEY,
    snapshots=[date(2026, 1, 1), date(2026, 3, 31)],
    cases=400,
    churned_cases=52,
    accounts=200,
    churned_accounts=30,
    pooled=ChanceMap((Band(0, 39, 100, 40), Band(40, 69, 100, 10), Band(70, 100, 200, 2))),
)
# name, segment, owner, MRR, score, tier, churned on -> chance x MRR
ACCOUNTS = [
    ("a1", "Enterprise", U1, 5000.0, 35.0, "high_risk", None),  # 0.40 x 5000 = 2000
    ("a2", "Enterprise", U2, 2000.0, 55.0, "medium_risk", None),  # 0.10 x 2000 = 200
    ("a3", "SMB", U1, 1000.0, 80.0, "healthy", None),  # 0.01 x 1000 = 10
    ("a4", None, None, 500.0, 20.0, "high_risk", None),  # 0.40 x 500 = 200
    ("a5", HOSTILE, U2, 300.0, 45.0, "low_risk", None),  # 0.10 x 300 = 30
    ("a6", "SMB", U2, None, 30.0, "high_risk", None),  # 0.40 x no MRR = 0 (an expected account all the same)
    ("a7", "SMB", U1, 1000.0, 10.0, "high_risk", date(2026, 8, 1)),  # churned: no customer, not in the sums
]
TOTAL, MRR, EXPECTED_ACCOUNTS = 2440.0, 8800.0, 1.41


@pytest.fixture
def book(engine: Engine) -> Engine:
    with unit_of_work(session_factory(engine)) as session:
        rows = [
            Account(
                external_id=name, name=name, name_lower=name, segment=segment, owner_slack_id=owner, mrr=mrr,
                contract_start=date(2025, 1, 1), status="churned" if gone else "active", churned_on=gone,
            )
            for name, segment, owner, mrr, _, _, gone in ACCOUNTS
        ]  # fmt: skip
        session.add_all(rows)
        session.flush()
        for row, (*_, score, tier, _) in zip(rows, ACCOUNTS, strict=True):
            session.add(HealthScore(account_id=row.id, day=DAY, score=score, tier=tier, scorecard="default"))
    return engine


def _fit(engine: Engine, fit: ChanceFit = FIT) -> None:
    chance_fit.save(engine, ChanceFit(**{**fit.__dict__, "id": None, "fitted_at": None}))


def _same(row: LossRow, key: str | None, accounts: int, mrr: float, expected: float, loss: float) -> None:
    assert (row.key, row.accounts, row.without_chance) == (key, accounts, 0)
    assert row.mrr == pytest.approx(mrr)
    assert row.expected_accounts == pytest.approx(expected)
    assert row.expected_loss == pytest.approx(loss)


def _valid(blocks: list[dict[str, Any]]) -> str:
    for block in blocks:
        Block.parse(block).validate_json()  # type: ignore[union-attr]
    return json.dumps(blocks, ensure_ascii=False)


def test_the_sums_read_from_the_database(book: Engine) -> None:
    _fit(book)
    with Session(book) as session:
        read = expected_loss.read(session, SCORECARD)
    assert read.day == DAY and read.fit is not None and read.fit.enough
    s = read.expected(TIERS).summary
    assert s is not None
    _same(s.portfolio, None, 6, MRR, EXPECTED_ACCOUNTS, TOTAL)
    assert [r.key for r in s.segments] == ["Enterprise", None, HOSTILE, "SMB"]
    _same(s.segments[0], "Enterprise", 2, 7000, 0.5, 2200)
    _same(s.segments[1], None, 1, 500, 0.4, 200)
    _same(s.segments[2], HOSTILE, 1, 300, 0.1, 30)
    _same(s.segments[3], "SMB", 2, 1000, 0.41, 10)
    assert [r.key for r in s.csms] == [U1, U2, None]
    _same(s.csms[0], U1, 2, 6000, 0.41, 2010)
    _same(s.csms[1], U2, 3, 2300, 0.6, 230)
    _same(s.csms[2], None, 1, 500, 0.4, 200)
    assert [r.key for r in s.tiers] == TIERS.order
    _same(s.tiers[3], "high_risk", 3, 5500, 1.2, 2200)
    # one segment, matched as the churn review matches it (case and spaces aside)
    one = read.expected(TIERS, " enterprise ").summary
    assert one is not None
    _same(one.portfolio, None, 2, 7000, 0.5, 2200)


def test_the_digest_says_the_expected_loss_per_audience(book: Engine) -> None:
    _fit(book)
    with Session(book) as session:
        week = digest_service.gather(session, SCORECARD, NOW, ZoneInfo("UTC"))
    everything = digest_service.stats(week, TIERS)
    assert everything.expected is not None and everything.expected.summary is not None
    assert everything.expected.summary.portfolio.expected_loss == pytest.approx(TOTAL)
    text = _valid(digest_messages.digest_message(everything, TIERS).blocks or [])
    assert "*Expected MRR loss in the next 90 days*: *$2,440* of $8,800 MRR (27.7 %)" in text
    assert "about 1.4 of 6 accounts expected to churn" in text
    assert "By segment: Enterprise $2,200 · no segment $200 · &lt;!here&gt; &amp; co $30 · SMB $10" in text
    assert f"By CSM: <@{U1}> $2,010 · <@{U2}> $230 · no owner $200" in text
    assert "Medium risk $200 · :red_circle: High risk $2,200" in text
    assert "customers scored on 2026-07-01" in text and "<!here>" not in text

    audience = digest_service.Audience("k", U2, user=U2)
    theirs = digest_service.stats(week, TIERS, audience)
    assert theirs.expected is not None and theirs.expected.summary is not None
    assert theirs.expected.summary.portfolio.expected_loss == pytest.approx(230)  # a2 200 + a5 30 + a6 0
    dm = _valid(digest_messages.digest_message(theirs, TIERS, dm=True).blocks or [])
    assert "*$230* of $2,300 MRR" in dm and "By CSM" not in dm


def test_no_fit_yet_and_too_little_history_say_so(book: Engine) -> None:
    def digest_text() -> str:
        with Session(book) as session:
            stats = digest_service.collect(session, SCORECARD, NOW, ZoneInfo("UTC"))
        return _valid(digest_messages.digest_message(stats, TIERS).blocks or [])

    assert "*Expected MRR loss in the next 90 days*: appears after the first daily score run" in digest_text()
    little = ChanceFit(as_of=date(2026, 6, 30), horizon=90, scorecard_key=KEY, snapshots=[date(2026, 3, 31)],
                       cases=50, churned_cases=3, accounts=40, churned_accounts=3)  # fmt: skip
    _fit(book, little)
    text = digest_text()
    assert "not shown, no chance to churn yet: 3 churned accounts in 50 past cases" in text
    assert "$2,440" not in text and "By segment" not in text


@pytest.fixture
def server(settings: Settings, book: Engine, fake_slack: FakeSlack) -> Iterator[BotServer]:
    _fit(book)
    bot = BotServer(settings, book, fake_slack, today=TODAY).start()
    yield bot
    bot.stop()


def test_health_churn_shows_the_expected_loss_beside_what_was_lost(server: BotServer) -> None:
    server.command("churn 2026-Q3")
    posted = server.fake.wait_for("chat.postMessage", timeout=30)[0].params
    text = _valid(posted["blocks"])
    assert text.index("*MRR churn") < text.index("*Expected MRR loss in the next 90 days*: *$2,440*")
    assert "By segment: Enterprise $2,200" in text and "&lt;!here&gt; &amp; co $30" in text
    server.fake.wait_for("files.completeUploadExternal", timeout=30)


def test_health_churn_of_one_segment_sums_that_segment(server: BotServer) -> None:
    server.command("churn 2026-Q3 enterprise")
    posted = server.fake.wait_for("chat.postMessage", timeout=30)[0].params
    text = _valid(posted["blocks"])
    assert "*$2,200* of $7,000 MRR" in text and "By segment" not in text
    assert f"By CSM: <@{U1}> $2,000 · <@{U2}> $200" in text
    server.fake.wait_for("files.completeUploadExternal", timeout=30)


def test_the_quarterly_review_carries_it(book: Engine) -> None:
    _fit(book)
    posted = churn_job.run(book, channel="C0CHURN001", today=TODAY, tiers=TIERS)
    assert posted is not None
    with unit_of_work(session_factory(book)) as session:
        row = outbox.get(session, posted.key)
        assert row is not None
        text = _valid(row.payload["blocks"])
    assert "*Expected MRR loss in the next 90 days*: *$2,440* of $8,800 MRR" in text


def test_a_new_install_says_the_figure_comes_after_the_first_score_run(engine: Engine) -> None:
    with Session(engine) as session:
        stats = digest_service.collect(session, SCORECARD, NOW, ZoneInfo("UTC"))
        assert expected_loss.read(session, SCORECARD).day is None
    text = _valid(digest_messages.digest_message(stats, TIERS).blocks or [])
    assert "*Expected MRR loss in the next 90 days*: appears after the first daily score run" in text


def test_healthbot_report_writes_the_expected_loss_in_markdown_and_csv(
    book: Engine, cli_env: None, tmp_path: Path
) -> None:
    _fit(book)
    out = tmp_path / "out"
    assert main(["report", "--period", "2026-Q3", "--format", "md", "--out", str(out)]) == 0
    text = (out / "churn-2026-Q3.md").read_text(encoding="utf-8")
    section = text[text.index("## Expected MRR loss in the next 90 days") :]
    assert "| Portfolio |  | 6 | 8,800 | 1.4 | 2,440 | 27.7 % |" in section
    assert "| Segment | Enterprise | 2 | 7,000 | 0.5 | 2,200 | 31.4 % |" in section
    assert "| Segment | no segment | 1 | 500 | 0.4 | 200 | 40.0 % |" in section
    assert f"| CSM | {U1} | 2 | 6,000 | 0.4 | 2,010 | 33.5 % |" in section
    assert "| Tier | High risk | 3 | 5,500 | 1.2 | 2,200 | 40.0 % |" in section
    assert "customers scored on 2026-07-01" in section

    assert main(["report", "--period", "2026-Q3", "--format", "csv", "--out", str(out)]) == 0
    with (out / "churn-2026-Q3-expected-loss.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    by = {(r["group"], r["name"]): r for r in rows}
    assert [r["group"] for r in rows] == ["portfolio"] + ["segment"] * 4 + ["csm"] * 3 + ["tier"] * 4
    assert by[("portfolio", "")]["expected_loss"] == "2440.00" and by[("portfolio", "")]["mrr"] == "8800.00"
    assert by[("segment", HOSTILE)]["expected_loss"] == "30.00"  # data, as typed
    assert by[("csm", U2)]["expected_accounts"] == "0.6000" and by[("tier", "High risk")]["loss_share"] == "0.4000"
    assert {r["horizon_days"] for r in rows} == {"90"} and {r["score_day"] for r in rows} == {"2026-07-01"}


def test_healthbot_report_without_a_figure_says_why(book: Engine, cli_env: None, tmp_path: Path) -> None:
    _fit(book, replace(FIT, scorecard_key="an edited card"))
    out = tmp_path / "out"
    assert main(["report", "--period", "2026-Q3", "--format", "md", "--out", str(out)]) == 0
    text = (out / "churn-2026-Q3.md").read_text(encoding="utf-8")
    assert "Not shown: no chance to churn until the next daily score run: the scorecard changed" in text
    assert "2,440" not in text
    assert main(["report", "--period", "2026-Q3", "--format", "csv", "--out", str(out)]) == 0
    with (out / "churn-2026-Q3-expected-loss.csv").open(encoding="utf-8", newline="") as f:
        [row] = list(csv.DictReader(f))
    assert row["expected_loss"] == "" and row["note"].startswith("no chance to churn until the next daily score run")
