"""The one Slack client: SLACK_API_URL, and retries for 429 (after Retry-After) and 5xx."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError

from bot.app import create_scheduler
from bot.settings import Settings
from bot.slack.client import make_client
from jobs import score as score_job
from tests.fake_slack import FakeSlack


def test_client_uses_slack_api_url_and_token(settings: Settings, fake_slack: FakeSlack) -> None:
    make_client(settings).chat_postMessage(channel="C0TEST0001", text="hi")
    call = fake_slack.wait_for("chat.postMessage")[0]
    assert call.params["channel"] == "C0TEST0001"
    assert call.headers["authorization"] == f"Bearer {settings.slack_bot_token}"


def test_client_retries_rate_limit_after_retry_after(settings: Settings, fake_slack: FakeSlack) -> None:
    fake_slack.fail_next("chat.postMessage", status=429, times=2, retry_after=0)
    assert make_client(settings).chat_postMessage(channel="C0TEST0001", text="hi")["ok"]
    calls = fake_slack.calls_to("chat.postMessage")
    assert [c.failed_status for c in calls] == [429, 429, None]


def test_client_retries_server_errors_then_gives_up(settings: Settings, fake_slack: FakeSlack) -> None:
    fake_slack.fail_next("chat.postMessage", status=500, times=1)
    assert make_client(settings).chat_postMessage(channel="C0TEST0001", text="hi")["ok"]
    fake_slack.reset()
    fake_slack.fail_next("chat.postMessage", status=500, times=10)
    with pytest.raises(SlackApiError):
        make_client(settings).chat_postMessage(channel="C0TEST0001", text="hi")
    assert len(fake_slack.calls_to("chat.postMessage")) == 3  # the call and two retries


def test_scheduler_registers_daily_score_job(settings: Settings, engine) -> None:
    scheduler = create_scheduler(settings, engine, make_client(settings))
    job = scheduler.get_job(score_job.JOB_ID)
    assert job is not None and job.func is score_job.run_daily
    fields = {f.name: str(f) for f in job.trigger.fields}
    assert fields["hour"] == "6" and fields["minute"] == "0"
    assert str(job.trigger.timezone) == "UTC"
    assert job.misfire_grace_time == 3600
