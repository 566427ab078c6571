"""One typed settings object, read from the environment and an optional `.env` file.

A missing or malformed setting raises `SettingsError` with one line that names the
setting and how to fix it; the CLI prints that line and exits.

Not pydantic-settings (weighed in issue 20): every setting would still need its validator for its own message, and
its ValidationError (all errors, several lines) turned back into that one line; `Settings()` would read the
environment instead of being the defaults; `load_settings(environ=...)` would need a custom source to read a given
mapping (and to see which names are asked); and the tests derive settings with `dataclasses.replace`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import TypedDict
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import load_dotenv
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.calendar import BusinessCalendar, QuietHours
from prompts import ENGLISH, language_of, languages, say, speaking

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
# A placeholder word or run of x's as a whole dash/underscore-separated part ("xoxb-your-token",
# "change-me", "xoxb-xxxx"), never inside a real token's random tail ("...aXxXb..." is fine).
PLACEHOLDER = re.compile(r"(^|[^a-z0-9])(your|change|replace|placeholder|x{3,}\b)|\.\.\.|<", re.IGNORECASE)
# The packaged alert rules, used when ALERT_RULES_PATH is unset (`healthbot rules check` explains them).
DEFAULT_ALERT_RULES_PATH = str(Path(__file__).resolve().parent / "alerts" / "default_rules.toml")
# Who an escalation mentions: a user id (U..., W... on Enterprise Grid) or a user group id (S...).
SLACK_PERSON_OR_GROUP = re.compile(r"[UWS][A-Z0-9]{6,}")
# DIGEST_DAY: the weekday of the weekly digest, as APScheduler's cron names it (full names are accepted too).
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HH_MM = r"([01]?\d|2[0-3]):([0-5]\d)"


class SettingsError(ValueError):
    """A setting is missing or malformed; the message is one line a user can act on."""


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///healthbot.db"
    slack_bot_token: str | None = None
    slack_signing_secret: str | None = None
    slack_app_token: str | None = None
    slack_api_url: str = DEFAULT_SLACK_API_URL
    host: str = "0.0.0.0"
    port: int = 3000
    timezone: str = "UTC"
    score_time: time = field(default_factory=lambda: time(6, 0))
    alert_channel: str | None = None
    scorecard_path: str | None = None
    listener_threads: int = 10
    web_workers: int = 1  # WEB_WORKERS: processes serving Slack's HTTP requests (bot/workers.py)
    cache_dir: str | None = None  # CACHE_DIR: the derived metrics folder (storage.metric_cache reads it; "off": none)
    log_level: str = "INFO"
    alert_rules_path: str = DEFAULT_ALERT_RULES_PATH
    sources_path: str | None = None  # SOURCES_PATH: the HTTP sources `healthbot sync` pulls (TOML)
    ingest_token: str | None = None  # INGEST_TOKEN: POST /ingest/metrics is off without it
    cs_lead: str | None = None  # level 1 of an escalation
    cs_head: str | None = None  # level 2 (CS_HEAD, else CS_LEAD)
    team: tuple[str, ...] = ()  # TEAM: user ids an unclaimed alert's tasks go to, round-robin
    churn_channel: str | None = None  # CHURN_CHANNEL: exit interview summaries (default: ALERT_CHANNEL)
    exit_interview_readers: tuple[str, ...] = ()  # EXIT_INTERVIEW_READERS: user/group ids; empty: everyone
    calendar: BusinessCalendar = field(default_factory=BusinessCalendar)  # TIMEZONE, WORK_DAYS, WORK_HOURS, HOLIDAYS
    digest_day: str = "mon"  # DIGEST_DAY, one of WEEKDAYS
    digest_time: time = field(default_factory=lambda: time(9, 0))  # DIGEST_TIME, in TIMEZONE
    quiet_hours: QuietHours | None = None  # QUIET_HOURS, in TIMEZONE
    # the optional model (issue 22): off unless LLM_BASE_URL and LLM_MODEL are both set
    llm_base_url: str | None = None  # LLM_BASE_URL, up to and including /v1, no trailing slash
    llm_model: str | None = None  # LLM_MODEL
    llm_api_key: str | None = field(default=None, repr=False)  # LLM_API_KEY: a secret, never shown
    llm_timeout: float = 20.0  # LLM_TIMEOUT, seconds a model call may take in all
    llm_concurrency: int = 2  # LLM_CONCURRENCY, calls to the model at once
    llm_fields: tuple[str, ...] = ("*",)  # LLM_FIELDS: the facts' fields a model may be sent (bot/llm/fields.py)
    language: str | None = None  # LANGUAGE: the workspace's language (prompts/<code>/); None: unset (English)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def socket_mode(self) -> bool:
        return bool(self.slack_app_token)

    def require_slack(self) -> None:
        """Serving Slack needs a bot token, and a signing secret unless in Socket Mode."""
        if not self.slack_bot_token:
            raise SettingsError(say("settings.no_bot_token"))
        if not self.socket_mode and not self.slack_signing_secret:
            raise SettingsError(say("settings.no_signing_secret"))


def _secret(env: dict[str, str], name: str, prefix: str | None, where: str) -> str | None:
    value = env.get(name, "").strip()
    if not value:
        return None
    if PLACEHOLDER.search(value):
        raise SettingsError(say("settings.placeholder", name=name, value=value, where=say(f"settings.where.{where}")))
    if prefix and not value.startswith(prefix):
        where_ = say(f"settings.where.{where}")
        raise SettingsError(say("settings.prefix", name=name, prefix=prefix, start=value[:6], where=where_))
    return value


def _int(env: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(say("settings.not_whole", name=name, raw=raw, default=default)) from None
    if not low <= value <= high:
        raise SettingsError(say("settings.out_of_range", name=name, value=value, low=low, high=high))
    return value


def _database_url(raw: str) -> str:
    """The URL SQLAlchemy needs (psycopg 3 for PostgreSQL), refusing what cannot work."""
    shown = re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", raw)  # never print a password
    how = say("settings.database_how")
    url = raw
    if url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgres://")
    elif url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if not url.startswith(("sqlite://", "postgresql+psycopg://")):
        raise SettingsError(say("settings.database_unsupported", shown=shown, how=how))
    try:
        parsed = make_url(url)
        parsed.port  # noqa: B018 - parsing the port is what fails on "host:abc"
    except (ArgumentError, ValueError):
        raise SettingsError(say("settings.database_invalid", shown=shown, how=how)) from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise SettingsError(say("settings.database_no_file", shown=shown, how=how))
        folder = Path(parsed.database).parent
        if not folder.is_dir():
            raise SettingsError(say("settings.database_no_folder", shown=shown, folder=folder))
    return url


def _person_or_group(env: dict[str, str], name: str) -> str | None:
    value = env.get(name, "").strip() or None
    if value and not SLACK_PERSON_OR_GROUP.fullmatch(value):
        raise SettingsError(say("settings.person_or_group", name=name, value=value))
    return value


def _digest_day(env: dict[str, str]) -> str:
    raw = env.get("DIGEST_DAY", "").strip() or "mon"
    day = raw.lower()[:3]
    full = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    if day not in WEEKDAYS or raw.lower() not in (day, full[WEEKDAYS.index(day)]):
        raise SettingsError(say("settings.digest_day", raw=raw, days=", ".join(WEEKDAYS)))
    return day


def _time_of_day(env: dict[str, str], name: str, default: str) -> time:
    raw = env.get(name, "").strip() or default
    match = re.fullmatch(HH_MM, raw)
    if not match:
        raise SettingsError(say("settings.time_of_day", name=name, raw=raw, default=default))
    return time(int(match.group(1)), int(match.group(2)))


def _quiet_hours(env: dict[str, str], tz: ZoneInfo) -> QuietHours | None:
    raw = env.get("QUIET_HOURS", "").strip()
    if not raw:
        return None
    match = re.fullmatch(rf"{HH_MM}\s*-\s*{HH_MM}", raw)
    if not match:
        raise SettingsError(say("settings.quiet_hours", raw=raw))
    start, end = time(int(match.group(1)), int(match.group(2))), time(int(match.group(3)), int(match.group(4)))
    if start == end:
        raise SettingsError(say("settings.quiet_hours_empty", raw=raw))
    return QuietHours(start, end, tz)


def _readers(env: dict[str, str]) -> tuple[str, ...]:
    """EXIT_INTERVIEW_READERS: comma-separated member ids (U..., W...) and/or user-group ids (S...)."""
    raw = env.get("EXIT_INTERVIEW_READERS", "").strip()
    readers = [part.strip() for part in raw.split(",") if part.strip()]
    for reader in readers:
        if not SLACK_PERSON_OR_GROUP.fullmatch(reader):
            raise SettingsError(say("settings.readers", reader=reader))
    return tuple(dict.fromkeys(readers))


def _team(env: dict[str, str]) -> tuple[str, ...]:
    """TEAM: comma-separated member ids (U..., W...), in the order the round-robin takes them."""
    raw = env.get("TEAM", "").strip()
    members = [part.strip() for part in raw.split(",") if part.strip()]
    for member in members:
        if not re.fullmatch(r"[UW][A-Z0-9]{6,}", member):
            raise SettingsError(say("settings.team", member=member))
    return tuple(dict.fromkeys(members))


def _language(env: dict[str, str]) -> str | None:
    """LANGUAGE: one of the languages in prompts/ (`en`, `zh-CN`, or a folder a team added). gettext's own form of
    the variable, a preference list like `de_DE:de` a desktop may set, picks the first we have and is otherwise
    ignored; a single tag we have no prompts for is a mistake worth stopping on."""
    raw = env.get("LANGUAGE", "").strip()
    if not raw:
        return None
    wanted = [part for part in raw.split(":") if part]
    found = next((lang for lang in map(language_of, wanted) if lang), None)
    if found is None and ":" not in raw and "_" not in raw:
        raise SettingsError(say("settings.language", raw=raw, languages=", ".join(languages())))
    return found


def cli_language(env: dict[str, str]) -> str:
    """The command line's language: LANGUAGE when we have it (a malformed one is said by `load_settings`), else the
    system locale's."""
    try:
        return _language(env) or system_language(env)
    except SettingsError:
        return system_language(env)


def system_language(env: dict[str, str]) -> str:
    """The command line's language when LANGUAGE is unset: the system locale's (LC_ALL, LC_MESSAGES, LANG) when
    we have it, else English."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        if env.get(name, "").strip():
            return language_of(env[name].strip()) or ENGLISH
    return ENGLISH


class _LLMSettings(TypedDict):
    llm_base_url: str | None
    llm_model: str | None
    llm_api_key: str | None
    llm_timeout: float
    llm_concurrency: int
    llm_fields: tuple[str, ...]


def _llm(env: dict[str, str]) -> _LLMSettings:
    """LLM_*: all or nothing (a URL without a model, or a key without both, is a mistake worth stopping on)."""
    url = env.get("LLM_BASE_URL", "").strip().rstrip("/") or None
    model = env.get("LLM_MODEL", "").strip() or None
    example = say("settings.llm.example")
    shown = re.sub(r"//[^/@]*@", "//***@", url or "")  # never print a password in user:password@
    if url and not re.fullmatch(r"https?://[^/\s]+(/\S*)?", url):
        raise SettingsError(say("settings.llm.not_http", shown=shown, example=example))
    if url and url.endswith("/chat/completions"):
        raise SettingsError(say("settings.llm.endpoint", shown=shown, base=shown.removesuffix("/chat/completions")))
    if bool(url) != bool(model):
        missing = "LLM_MODEL" if url else "LLM_BASE_URL"
        raise SettingsError(say("settings.llm.half", missing=missing, example=example))
    key = _secret(env, "LLM_API_KEY", None, "llm_api_key")
    if key and not url:
        raise SettingsError(say("settings.llm.key_alone"))
    if key and url and shown != url:
        raise SettingsError(say("settings.llm.two_keys", shown=shown))
    raw = env.get("LLM_TIMEOUT", "").strip() or "20"
    try:
        timeout = float(raw)
    except ValueError:
        raise SettingsError(say("settings.llm.timeout", raw=raw)) from None
    if not 1 <= timeout <= 25:
        raise SettingsError(say("settings.llm.timeout_range", raw=raw))
    fields = tuple(dict.fromkeys(part.strip() for part in env.get("LLM_FIELDS", "*").split(",") if part.strip()))
    for name in fields:
        if not re.fullmatch(r"\*|[a-z][a-z0-9_]*", name):
            raise SettingsError(say("settings.llm.fields", name=name))
    return {
        "llm_base_url": url,
        "llm_model": model,
        "llm_api_key": key,
        "llm_timeout": timeout,
        "llm_concurrency": _int(env, "LLM_CONCURRENCY", 2, 1, 16),
        "llm_fields": fields or ("*",),
    }


def load_settings(env_file: str | Path | None = ".env", environ: dict[str, str] | None = None) -> Settings:
    """Build settings from `environ` (default: os.environ after loading `env_file`)."""
    if environ is None:
        if env_file and Path(env_file).is_file():
            load_dotenv(env_file, override=False)
        environ = dict(os.environ)
    env = environ
    language = _language(env)  # first: what goes wrong below is said in it
    with speaking(language):
        return _settings(env, language)


def _settings(env: dict[str, str], language: str | None) -> Settings:
    database_url = _database_url(env.get("DATABASE_URL", "").strip() or "sqlite:///healthbot.db")

    api_url = env.get("SLACK_API_URL", "").strip() or DEFAULT_SLACK_API_URL
    if not re.fullmatch(r"https?://[^/\s]+(/\S*)?", api_url):
        raise SettingsError(say("settings.api_url", url=api_url))
    if not api_url.endswith("/"):
        api_url += "/"

    timezone = env.get("TIMEZONE", "").strip() or "UTC"
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(say("settings.timezone", timezone=timezone)) from None

    raw_time = env.get("SCORE_TIME", "").strip() or "06:00"
    match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", raw_time)
    if not match:
        raise SettingsError(say("settings.time_of_day", name="SCORE_TIME", raw=raw_time, default="06:00"))

    scorecard = env.get("SCORECARD_PATH", "").strip() or None
    if scorecard and not Path(scorecard).is_file():
        raise SettingsError(say("settings.scorecard_path", path=scorecard))

    log_level = (env.get("LOG_LEVEL", "").strip() or "INFO").upper()
    if log_level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise SettingsError(say("settings.log_level", level=log_level))

    channel = env.get("ALERT_CHANNEL", "").strip() or None
    if channel and not re.fullmatch(r"[CG][A-Z0-9]{6,}", channel):
        raise SettingsError(say("settings.alert_channel", channel=channel))

    rules = env.get("ALERT_RULES_PATH", "").strip() or DEFAULT_ALERT_RULES_PATH
    if not Path(rules).is_file():
        raise SettingsError(say("settings.rules_path", path=rules))

    churn_channel = env.get("CHURN_CHANNEL", "").strip() or None
    if churn_channel and not re.fullmatch(r"[CG][A-Z0-9]{6,}", churn_channel):
        raise SettingsError(say("settings.churn_channel", channel=churn_channel))
    cs_lead = _person_or_group(env, "CS_LEAD")
    cs_head = _person_or_group(env, "CS_HEAD") or cs_lead
    team = _team(env)

    try:
        calendar = BusinessCalendar.from_env(env)
    except ValueError as error:  # already one line naming WORK_DAYS, WORK_HOURS or HOLIDAYS
        raise SettingsError(str(error)) from None

    sources = env.get("SOURCES_PATH", "").strip() or None
    if sources and not Path(sources).is_file():
        raise SettingsError(say("settings.sources_path", path=sources))
    ingest_token = _secret(env, "INGEST_TOKEN", None, "ingest_token")
    if ingest_token and len(ingest_token) < 16:
        raise SettingsError(say("settings.ingest_token_short"))

    return Settings(
        database_url=database_url,
        slack_bot_token=_secret(env, "SLACK_BOT_TOKEN", "xoxb-", "bot_token"),
        slack_signing_secret=_secret(env, "SLACK_SIGNING_SECRET", None, "signing_secret"),
        slack_app_token=_secret(env, "SLACK_APP_TOKEN", "xapp-", "app_token"),
        slack_api_url=api_url,
        host=env.get("HOST", "").strip() or "0.0.0.0",
        port=_int(env, "PORT", 3000, 1, 65535),
        timezone=timezone,
        score_time=time(int(match.group(1)), int(match.group(2))),
        alert_channel=channel,
        scorecard_path=scorecard,
        listener_threads=_int(env, "LISTENER_THREADS", 10, 1, 64),
        web_workers=_int(env, "WEB_WORKERS", 1, 1, 32),
        cache_dir=env.get("CACHE_DIR", "").strip() or None,
        log_level=log_level,
        alert_rules_path=rules,
        sources_path=sources,
        ingest_token=ingest_token,
        cs_lead=cs_lead,
        cs_head=cs_head,
        team=team,
        churn_channel=churn_channel or channel,
        exit_interview_readers=_readers(env),
        calendar=calendar,
        digest_day=_digest_day(env),
        digest_time=_time_of_day(env, "DIGEST_TIME", "09:00"),
        quiet_hours=_quiet_hours(env, ZoneInfo(timezone)),
        language=language,
        **_llm(env),
    )
