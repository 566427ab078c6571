"""Settings: defaults, URL rewriting, one-line errors that name the setting, `.env` files."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

from bot import cli
from bot.settings import Settings, SettingsError, load_settings

SETTING_NAMES = (
    "DATABASE_URL", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "SLACK_API_URL", "HOST",
    "PORT", "TIMEZONE", "SCORE_TIME", "ALERT_CHANNEL", "SCORECARD_PATH", "LISTENER_THREADS", "LOG_LEVEL",
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
