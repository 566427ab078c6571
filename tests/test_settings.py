"""Settings: defaults, URL rewriting, one-line errors that name the setting, `.env` files."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot import cli
from bot.calendar import BusinessCalendar
from bot.settings import DEFAULT_ALERT_RULES_PATH, Settings, SettingsError, load_settings

SETTING_NAMES = (
    "DATABASE_URL", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "SLACK_API_URL", "HOST",
    "PORT", "TIMEZONE", "SCORE_TIME", "ALERT_CHANNEL", "SCORECARD_PATH", "LISTENER_THREADS", "LOG_LEVEL",
    "ALERT_RULES_PATH", "CS_LEAD", "CS_HEAD", "WORK_DAYS", "WORK_HOURS", "HOLIDAYS",
)  # fmt: skip


@pytest.fixture
def clean_environ(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No setting in os.environ, and whatever a test (or a `.env` load) adds is removed afterwards."""
    for name in SETTING_NAMES:
        monkeypatch.setenv(name, "unset")  # recorded as absent-before, so teardown deletes it again
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def settings_error(environ: dict[str, str]) -> str:
    with pytest.raises(SettingsError) as info:
        load_settings(env_file=None, environ=environ)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_defaults() -> None:
    settings = load_settings(env_file=None, environ={})

    assert settings == Settings()
    assert (settings.database_url, settings.slack_api_url) == ("sqlite:///healthbot.db", "https://slack.com/api/")
    assert (settings.host, settings.port, settings.listener_threads) == ("0.0.0.0", 3000, 10)
    assert (settings.timezone, settings.score_time, settings.log_level) == ("UTC", time(6, 0), "INFO")
    assert settings.slack_bot_token is None and settings.alert_channel is None and settings.scorecard_path is None
    assert not settings.socket_mode


def test_values_are_parsed() -> None:
    settings = load_settings(
        env_file=None,
        environ={
            "PORT": " 8080 ",
            "TIMEZONE": "Europe/Berlin",
            "SCORE_TIME": "7:30",
            "SLACK_API_URL": "http://127.0.0.1:9999/api",
            "ALERT_CHANNEL": "C0123456789",
            "LOG_LEVEL": "debug",
            "SLACK_BOT_TOKEN": "xoxb-1-2-abc",
            "SLACK_APP_TOKEN": "xapp-1-abc",
            "LISTENER_THREADS": "4",
        },
    )

    assert (settings.port, settings.timezone, settings.score_time) == (8080, "Europe/Berlin", time(7, 30))
    assert settings.slack_api_url == "http://127.0.0.1:9999/api/"
    assert (settings.alert_channel, settings.log_level, settings.listener_threads) == ("C0123456789", "DEBUG", 4)
    assert settings.socket_mode


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgres://u:p@db:5432/hb", "postgresql+psycopg://u:p@db:5432/hb"),
        ("postgresql://u:p@db:5432/hb", "postgresql+psycopg://u:p@db:5432/hb"),
        ("postgresql+psycopg://u@db/hb", "postgresql+psycopg://u@db/hb"),
        ("sqlite:////var/lib/healthbot.db", "sqlite:////var/lib/healthbot.db"),
    ],
)
def test_database_url_is_rewritten_for_psycopg(url: str, expected: str) -> None:
    assert load_settings(env_file=None, environ={"DATABASE_URL": url}).database_url == expected


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "abc"),
        ("PORT", "70000"),
        ("PORT", "0"),
        ("LISTENER_THREADS", "many"),
        ("TIMEZONE", "Mars/Base"),
        ("SCORE_TIME", "25:00"),
        ("SCORE_TIME", "6am"),
        ("SLACK_API_URL", "not-a-url"),
        ("ALERT_CHANNEL", "#general"),
        ("LOG_LEVEL", "LOUD"),
        ("DATABASE_URL", "mysql://root@localhost/healthbot"),
        ("SLACK_BOT_TOKEN", "xoxb-your-token"),
        ("SLACK_BOT_TOKEN", "xoxp-1234-5678-abcdef"),
        ("SLACK_SIGNING_SECRET", "change-me"),
        ("SLACK_APP_TOKEN", "xoxb-1234-5678"),
        ("SCORECARD_PATH", "/nonexistent/scorecard.toml"),
        ("ALERT_RULES_PATH", "/nonexistent/rules.toml"),
        ("CS_LEAD", "@maria"),
        ("CS_LEAD", "C0123456789"),
        ("CS_HEAD", "maria"),
        ("WORK_DAYS", "Mon-Funday"),
        ("WORK_HOURS", "9-5"),
        ("WORK_HOURS", "22:00-06:00"),
        ("HOLIDAYS", "2026-12-25,Christmas"),
        ("HOLIDAYS", "/nonexistent/holidays.ics"),
    ],
)
def test_malformed_setting_names_itself_in_one_line(name: str, value: str) -> None:
    message = settings_error({name: value})

    assert message.startswith(name)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite://", "DATABASE_URL='sqlite://' names no database file"),
        ("sqlite:///", "DATABASE_URL='sqlite:///' names no database file"),
        ("sqlite:///:memory:", "DATABASE_URL='sqlite:///:memory:' names no database file"),
        (
            "sqlite:////no/such/folder/hb.db",
            "DATABASE_URL='sqlite:////no/such/folder/hb.db': the folder /no/such/folder",
        ),
        (
            "postgresql://hb:s3cret@db:abc/hb",
            "DATABASE_URL='postgresql://hb:***@db:abc/hb' is not a valid database URL",
        ),
        ("mysql://root:s3cret@db/hb", "DATABASE_URL='mysql://root:***@db/hb' is not supported"),
    ],
    ids=["in-memory", "no-path", "memory", "missing-folder", "bad-port", "unsupported"],
)
def test_database_url_that_cannot_work_is_refused_without_showing_the_password(url: str, expected: str) -> None:
    message = settings_error({"DATABASE_URL": url})

    assert message.startswith(expected)
    assert "s3cret" not in message


def test_slack_api_url_with_a_space_is_refused() -> None:
    assert settings_error({"SLACK_API_URL": "http://fake slack/api/"}).startswith("SLACK_API_URL=")


def test_placeholder_and_prefix_messages_say_what_to_do() -> None:
    assert "placeholder 'xoxb-your-token'" in settings_error({"SLACK_BOT_TOKEN": "xoxb-your-token"})
    assert "must start with 'xoxb-'" in settings_error({"SLACK_BOT_TOKEN": "xoxp-1234-5678-abcdef"})
    assert "out of range: use a number from 1 to 65535" in settings_error({"PORT": "70000"})


@pytest.mark.parametrize("token", ["xoxb-1234-5678-abcXXXdefGhiJKLmnoPQRs", "xoxb-1234-5678-a1b2ReplaCe9z0y8x7w6v5u4t"])
def test_real_token_containing_a_placeholder_word_is_accepted(token: str) -> None:
    assert load_settings(env_file=None, environ={"SLACK_BOT_TOKEN": token}).slack_bot_token == token


def test_scorecard_path_must_exist(tmp_path: Path) -> None:
    card = tmp_path / "card.toml"
    assert settings_error({"SCORECARD_PATH": str(card)}).startswith(f"SCORECARD_PATH='{card}' does not exist")

    card.write_text("# empty\n", encoding="utf-8")
    assert load_settings(env_file=None, environ={"SCORECARD_PATH": str(card)}).scorecard_path == str(card)


def test_require_slack() -> None:
    with pytest.raises(SettingsError, match="^SLACK_BOT_TOKEN is not set"):
        load_settings(env_file=None, environ={}).require_slack()
    with pytest.raises(SettingsError, match="^SLACK_SIGNING_SECRET is not set"):
        load_settings(env_file=None, environ={"SLACK_BOT_TOKEN": "xoxb-1-2-abc"}).require_slack()

    http = load_settings(env_file=None, environ={"SLACK_BOT_TOKEN": "xoxb-1-2-abc", "SLACK_SIGNING_SECRET": "s3cr3t"})
    socket = load_settings(env_file=None, environ={"SLACK_BOT_TOKEN": "xoxb-1-2-abc", "SLACK_APP_TOKEN": "xapp-1-a"})
    http.require_slack()
    socket.require_slack()  # Socket Mode needs no signing secret


def test_env_file_is_loaded_and_real_environment_wins(clean_environ: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env_file = tmp_path / "custom.env"
    env_file.write_text(
        "# healthbot\nPORT=4000\nTIMEZONE=America/New_York\nSLACK_BOT_TOKEN=xoxb-from-file\nLOG_LEVEL=warning\n",
        encoding="utf-8",
    )
    clean_environ.setenv("PORT", "5000")

    settings = load_settings(env_file=env_file)

    assert (settings.port, settings.timezone, settings.log_level) == (5000, "America/New_York", "WARNING")
    assert settings.slack_bot_token == "xoxb-from-file"


def test_bad_value_in_env_file_is_reported(clean_environ: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("SCORE_TIME=24:00\n", encoding="utf-8")

    with pytest.raises(SettingsError, match="^SCORE_TIME='24:00' is not a time of day"):
        load_settings()  # the default `.env` in the working directory


def test_missing_env_file_is_fine(clean_environ: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert load_settings(env_file=tmp_path / "absent.env").port == 3000


def test_cli_reports_bad_setting_in_one_line(
    clean_environ: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clean_environ.setenv("PORT", "abc")

    assert cli.main(["db", "current"]) == 2

    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == ["healthbot: PORT='abc' is not a whole number: set e.g. PORT=3000"]


def test_alert_settings_defaults() -> None:
    settings = load_settings(env_file=None, environ={})

    assert settings.alert_rules_path == DEFAULT_ALERT_RULES_PATH and Path(DEFAULT_ALERT_RULES_PATH).is_file()
    assert settings.cs_lead is None and settings.cs_head is None
    assert settings.calendar == BusinessCalendar()  # Mon-Fri 09:00-17:00 UTC, no holidays
    assert settings.calendar.is_open(datetime(2026, 11, 30, 9, 0, tzinfo=UTC))  # a Monday
    assert not settings.calendar.is_open(datetime(2026, 11, 29, 3, 0, tzinfo=UTC))  # 3 a.m. on a Sunday


def test_alert_settings_are_parsed(tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text("# rules\n", encoding="utf-8")
    settings = load_settings(
        env_file=None,
        environ={
            "ALERT_RULES_PATH": str(rules),
            "CS_LEAD": " S0LEADS01 ",
            "CS_HEAD": "U0HEAD001",
            "TIMEZONE": "Europe/Berlin",
            "WORK_DAYS": "Sun-Thu",
            "WORK_HOURS": "08:00-16:00",
            "HOLIDAYS": "2026-12-24, 2026-12-25",
        },
    )

    assert (settings.alert_rules_path, settings.cs_lead, settings.cs_head) == (str(rules), "S0LEADS01", "U0HEAD001")
    calendar = settings.calendar
    assert calendar.tz == ZoneInfo("Europe/Berlin") and calendar.work_days == frozenset({6, 0, 1, 2, 3})
    assert (calendar.start, calendar.end) == (time(8, 0), time(16, 0))
    assert not calendar.is_business_day(date(2026, 12, 24)) and calendar.is_business_day(date(2026, 12, 23))
    assert calendar.is_open(datetime(2026, 11, 29, 7, 30, tzinfo=UTC))  # Sunday 08:30 in Berlin


def test_cs_head_defaults_to_cs_lead() -> None:
    settings = load_settings(env_file=None, environ={"CS_LEAD": "W0ENTERPRISE1"})

    assert (settings.cs_lead, settings.cs_head) == ("W0ENTERPRISE1", "W0ENTERPRISE1")


def test_holidays_from_an_ics_file_in_env_file(clean_environ: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "holidays.ics").write_text(
        "BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART;VALUE=DATE:20261225\nSUMMARY:Christmas\nEND:VEVENT\nEND:VCALENDAR\n",
        encoding="utf-8",
    )
    (tmp_path / ".env").write_text("HOLIDAYS=holidays.ics\nCS_LEAD=U0LEAD001\n", encoding="utf-8")

    settings = load_settings()

    assert not settings.calendar.is_business_day(date(2026, 12, 25))
    assert settings.cs_head == "U0LEAD001"


def test_alert_setting_errors_say_what_to_do() -> None:
    assert "not a Slack user or user group ID" in settings_error({"CS_LEAD": "#cs-leads"})
    assert settings_error({"WORK_HOURS": "22:00-06:00"}).startswith("WORK_HOURS='22:00-06:00' runs past midnight")
    assert settings_error({"ALERT_RULES_PATH": "nope.toml"}).startswith("ALERT_RULES_PATH='nope.toml' does not exist")
