"""The churn review out of the bot: `/health churn [period] [segment]` over signed HTTP (acked at once, then posted
into the channel with its chart uploaded in the thread), `healthbot report` writing md/csv/png files,
`healthbot jobs run churn-review` and the quarterly job; bad periods answered with the usage."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bot.cli import main
from bot.health.command import Churn, Find, parse
from bot.scoring.scorecard import load_scorecard
from bot.settings import Settings
from jobs import churn_review as churn_job
from storage import outbox
from storage.db import session_factory, unit_of_work
from storage.models import Account, HealthScore
from tests.conftest import BotServer
from tests.fake_slack import FakeSlack

TODAY = date(2026, 10, 15)
TIERS = load_scorecard().tiers
CHANNEL = "C0TEST0001"  # where the slash command is typed (tests/conftest.py slash_command_form)


@pytest.fixture
def portfolio(engine: Engine) -> Engine:
    """Ten accounts at 2026-07-01, 1,000 MRR each; two churned in 2026-Q3 (one Enterprise), one in Q2."""
    with unit_of_work(session_factory(engine)) as session:
        added = []
        for i in range(1, 12):
            churned_on = date(2026, 8, i) if i <= 2 else (date(2026, 5, 1) if i == 11 else None)
            added.append(Account(
                external_id=f"a{i}", name=f"Account {i}", name_lower=f"account {i}", mrr=1000.0,
                segment="Enterprise" if i % 2 else "SMB", industry="Retail" if i <= 3 else "Software",
                contract_start=date(2025, 1, 1), status="churned" if churned_on else "active", churned_on=churned_on,
            ))  # fmt: skip
        session.add_all(added)
        session.flush()
        for i, account in enumerate(added, start=1):  # a score on 2026-07-01: did the score see churn coming?
            tier = TIERS.order[0] if i <= 2 else TIERS.order[-1]
            session.add(HealthScore(account_id=account.id, day=date(2026, 7, 1), score=50.0, tier=tier,
                                    scorecard="default"))  # fmt: skip
    return engine


@pytest.fixture
def server(settings: Settings, portfolio: Engine, fake_slack: FakeSlack) -> Iterator[BotServer]:
    bot = BotServer(settings, portfolio, fake_slack, today=TODAY).start()
    yield bot
    bot.stop()


def test_health_churn_acks_at_once_then_posts_the_review_and_uploads_the_chart(server: BotServer) -> None:
    response = server.command("churn 2026-Q3")
    assert response.status_code == 200
    ack = response.json()
    assert ack["response_type"] == "ephemeral" and "churn review" in ack["text"]
    posted = server.fake.wait_for("chat.postMessage", timeout=30)[0].params
    assert posted["channel"] == CHANNEL
    assert posted["text"].startswith("Churn review 2026-Q3: customer churn 20.0% (2 of 10), MRR churn 20.0%")
    blocks = posted["blocks"]
    assert blocks[0]["text"]["text"] == "Churn review 2026-Q3"
    assert "2026-07-01 to 2026-09-30" in blocks[1]["elements"][0]["text"]
    assert "*Customer churn 20.0%* (2 of 10 accounts at the start)" in blocks[2]["text"]["text"]
    body = "\n".join(b["text"]["text"] for b in blocks if b["type"] == "section")
    assert "*Who churned*" in body and "Retail" in body  # 2 of 3 retail accounts churned: lift over 20 %
    done = server.fake.wait_for("files.completeUploadExternal", timeout=30)[0].params
    assert done["channel_id"] == CHANNEL
    assert done["files"][0]["title"] == "Churn review 2026-Q3: churn rate by quarter"
    assert done["thread_ts"]  # in the review's thread
    uploaded = server.fake.calls_to("upload")[0].body
    assert uploaded.startswith(b"\x89PNG")


def test_health_churn_for_a_segment(server: BotServer) -> None:
    server.command("churn 2026-Q3 enterprise")
    posted = server.fake.wait_for("chat.postMessage", timeout=30)[0].params
    assert posted["blocks"][0]["text"]["text"] == "Churn review 2026-Q3 · enterprise"
    assert "(1 of 5)" in posted["text"]
    server.fake.wait_for("files.completeUploadExternal", timeout=30)


def test_health_churn_defaults_to_the_last_quarter(server: BotServer) -> None:
    server.command("churn")
    posted = server.fake.wait_for("chat.postMessage", timeout=30)[0].params
    assert posted["text"].startswith("Churn review 2026-Q3:")
    server.fake.wait_for("files.completeUploadExternal", timeout=30)


@pytest.mark.parametrize("period", ["2026-13", "2026-Q7", "2026-09-30..2026-07-01", "last-year"])
def test_health_churn_with_a_bad_period_answers_with_the_usage(server: BotServer, period: str) -> None:
    assert isinstance(parse(f"churn {period}", TIERS), Find)
    response = server.command(f"churn {period}")
    body = response.json()
    assert body["response_type"] == "ephemeral"
    assert "Usage: `/health churn [period] [segment]`" in body["text"]
    assert "2026-Q3" in body["text"]
    assert server.fake.calls_to("chat.postMessage") == []


def test_the_parser_reads_period_and_segment() -> None:
    assert parse("churn", TIERS) == Churn("")
    assert parse("churn 2026-Q3", TIERS) == Churn("2026-Q3")
    assert parse("churn last-quarter Enterprise accounts", TIERS) == Churn("last-quarter", "Enterprise accounts")
    assert parse("churn Enterprise", TIERS) == Churn("", "Enterprise")


def test_a_channel_the_bot_is_not_in_is_answered_privately(server: BotServer) -> None:
    server.fake.set_response("chat.postMessage", {"ok": False, "error": "not_in_channel"})
    server.command("churn 2026-Q3")
    said = server.fake.wait_for("response_url", timeout=30)
    assert any("not_in_channel" in (c.params.get("text") or "") for c in said)
    assert server.fake.calls_to("files.completeUploadExternal") == []


@pytest.mark.parametrize("fmt", ["md", "csv", "png"])
def test_the_cli_writes_the_report(portfolio: Engine, cli_env: None, tmp_path: Path, fmt: str,
                                   capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    out = tmp_path / "out"
    assert main(["report", "--period", "2026-Q3", "--format", fmt, "--out", str(out)]) == 0
    files = sorted(out.iterdir())
    assert files and all(p.suffix == f".{fmt}" for p in files)
    printed = capsys.readouterr().out
    assert all(f"report: wrote {p}" in printed for p in files)
    if fmt == "png":
        assert files[0].read_bytes().startswith(b"\x89PNG")
    if fmt == "md":
        assert "2026-Q3" in files[0].read_text(encoding="utf-8")


@pytest.mark.parametrize("period", ["2026-13", "yesterday"])
def test_the_cli_answers_a_bad_period_with_the_usage(portfolio: Engine, cli_env: None, tmp_path: Path, period: str,
                                                     capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    assert main(["report", "--period", period, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "usage: healthbot report --period PERIOD" in err
    assert not (tmp_path / "out").exists()


def test_the_quarterly_job_posts_once_and_uploads_the_chart(portfolio: Engine, fake_slack: FakeSlack,
                                                            settings: Settings) -> None:  # fmt: skip
    from bot.slack.client import make_client
    from jobs import deliver as deliver_job

    posted = churn_job.run(portfolio, channel="C0CHURN001", today=TODAY, tiers=TIERS)
    assert posted is not None and posted.new and posted.key == "churn-review:2026-Q3"
    client = make_client(settings)
    deliver_job.run(portfolio, client)
    assert churn_job.upload_chart(portfolio, client, posted)
    assert fake_slack.posted("C0CHURN001")[0]["text"].startswith("Churn review 2026-Q3:")
    done = fake_slack.calls_to("files.completeUploadExternal")[0].params
    assert done["channel_id"] == "C0CHURN001" and done["thread_ts"]
    again = churn_job.run(portfolio, channel="C0CHURN001", today=date(2026, 11, 1), tiers=TIERS)
    assert again is not None and not again.new
    with unit_of_work(session_factory(portfolio)) as session:
        assert outbox.get(session, "churn-review:2026-Q3") is not None
    assert churn_job.run(portfolio, channel=None, today=TODAY) is None


def test_jobs_run_churn_review(
    portfolio: Engine, cli_env: None, fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    monkeypatch.setenv("SLACK_API_URL", fake_slack.url)
    monkeypatch.setenv("ALERT_CHANNEL", "C0ALERTS01")
    monkeypatch.delenv("CHURN_CHANNEL", raising=False)
    assert main(["jobs", "run", "churn-review", "--wait", "10"]) == 0
    printed = capsys.readouterr().out
    assert "churn-review: churn-review:" in printed and "enqueued" in printed
    assert fake_slack.posted("C0ALERTS01")[0]["text"].startswith("Churn review ")
    fake_slack.wait_for("files.completeUploadExternal", timeout=30)


def test_the_scheduler_has_the_quarterly_review(settings: Settings, portfolio: Engine) -> None:
    from apscheduler.triggers.cron import CronTrigger

    from bot.app import create_scheduler
    from bot.slack.client import make_client

    scheduler = create_scheduler(settings, portfolio, make_client(settings))
    job = scheduler.get_job("churn.review")
    assert job is not None and isinstance(job.trigger, CronTrigger)
    assert str(job.trigger.fields[1]) == "1,4,7,10" and str(job.trigger.fields[2]) == "1"


def test_the_cli_writes_the_report_in_chinese(portfolio: Engine, cli_env: None, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    """`LANGUAGE=zh-CN healthbot report` (issue 23): the Markdown's headings, lines and table headers and what the
    command prints are Chinese, no English heading left; the CSV headers stay English (tools read them)."""
    import prompts

    monkeypatch.setenv("LANGUAGE", "zh-CN")
    monkeypatch.setattr(prompts, "_default", list(prompts._default))  # main() sets the default language
    out = tmp_path / "out"
    assert main(["report", "--period", "2026-Q3", "--segment", "Enterprise", "--out", str(out)]) == 0
    assert main(["report", "--period", "2026-Q3", "--format", "csv", "--out", str(out)]) == 0
    assert main(["report", "--period", "yesterday", "--out", str(out)]) == 2
    printed = capsys.readouterr()
    text = (out / "churn-2026-Q3.md").read_text(encoding="utf-8")
    lines = text.splitlines()
    headings = [line for line in lines if line.startswith("#")]
    headers = [lines[i - 1] for i, line in enumerate(lines) if line.startswith("|---")]
    assert "# 流失复盘 2026-Q3 — 细分 Enterprise" in headings and "## 概览" in headings and len(headers) >= 2
    kept = {"MRR", "Enterprise", "Q3"}  # an acronym and data
    for line in [*headings, *headers]:
        assert not set(re.findall(r"[A-Za-z]{2,}", line)) - kept, line
    assert "2026年7月1日 至 2026年9月30日" in text and "- 客户流失率：**" in text
    assert "已写入" in printed.out and "report: wrote" not in printed.out
    assert "用法：healthbot report" in printed.err and "usage:" not in printed.err
    assert (out / "churn-2026-Q3-headline.csv").read_text(encoding="utf-8").startswith("period,")
