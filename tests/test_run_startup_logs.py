"""What `healthbot run` logs at start: where it listens, which database, which jobs at what times in which
time zone, the optional settings left unset (once each) and nothing else (issue 18)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import BOT_TOKEN, SIGNING_SECRET, free_port, wait_for_healthz
from tests.fake_slack import FakeSlack

SETTINGS_READ = ("ALERT_CHANNEL", "CS_LEAD", "EXIT_INTERVIEW_READERS", "CHURN_CHANNEL", "TEAM", "TIMEZONE")


def start_up_logs(tmp_path: Path, fake_slack: FakeSlack, **settings: str) -> str:
    """`healthbot run` started as a user starts it, stopped as soon as it answers /healthz: its output."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_") and k not in SETTINGS_READ}
    env.update({
        "DATABASE_URL": f"sqlite:///{tmp_path / 'run.db'}",
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake_slack.url,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        **settings,
    })  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    wait_for_healthz(proc, f"http://127.0.0.1:{port}", lambda: proc.stdout.read() if proc.stdout else "")
    proc.terminate()
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    return out


def test_start_up_logs_say_what_a_person_needs_and_nothing_else(tmp_path: Path, fake_slack: FakeSlack) -> None:
    out = start_up_logs(tmp_path, fake_slack, TIMEZONE="Europe/Berlin", ALERT_CHANNEL="C0ALERTS01")
    messages = [re.sub(r"^\S+ \S+ \w+ [\w.]+: ", "", line) for line in out.splitlines()]

    # what Bolt and APScheduler say about themselves is not for the person starting the bot
    assert not any("token will be unused" in m for m in messages), out
    assert not any("Adding job tentatively" in m for m in messages), out
    assert not any(m.startswith(("Added job", "Scheduler started", "Scheduler has been shut down")) for m in messages)
    assert not any("application startup" in m.lower() or "Started server process" in m for m in messages), out

    # what a person needs: where it listens, the database, each job with its time and time zone
    port = re.search(r"127\.0\.0\.1:(\d+)", out)
    assert port and f"serving Slack at http://127.0.0.1:{port.group(1)}/slack/events" in messages, out
    assert f"database: sqlite:///{tmp_path / 'run.db'}" in messages, out
    files = "scorecard: the built-in default (SCORECARD_PATH not set); alert rules: the built-in defaults"
    assert any(m.startswith(files) for m in messages), out  # which card and rules a team's figures come from
    jobs = next((m for m in messages if m.startswith("jobs (Europe/Berlin):")), None)
    assert jobs, out
    for said in ("scoring daily at 06:00", "alerts", "digest Mon 09:00", "every 5 min", "every minute"):
        assert said in jobs, jobs
    # each optional setting left unset, once, with what it means
    unset = [m for m in messages if "EXIT_INTERVIEW_READERS" in m]
    assert len(unset) == 1, out
    assert "anyone in the workspace who can run /health can read exit interviews" in unset[0].lower(), unset
    assert sum("CS_LEAD" in m for m in messages) == 1, out
    assert not any("ALERT_CHANNEL" in m and "not set" in m for m in messages), out  # it is set


def test_a_restricted_exit_interview_readership_is_not_warned_about(tmp_path: Path, fake_slack: FakeSlack) -> None:
    out = start_up_logs(tmp_path, fake_slack, EXIT_INTERVIEW_READERS="S0CSLEADS1", CS_LEAD="S0CSLEADS1")
    assert "EXIT_INTERVIEW_READERS" not in out and "CS_LEAD" not in out, out
