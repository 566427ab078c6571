"""The sources file (SOURCES_PATH, TOML): which HTTP APIs `healthbot sync` pulls, and how their JSON maps
to accounts or metric observations.

`load_sources(path)` validates the whole file and raises `SourcesError` whose lines name the bad key
(`source[1] (zendesk).pagination.style: Input should be 'cursor', 'page', 'link' or 'none'`).
A source may start from a shipped mapping (`preset = "hubspot_companies"`): the preset's keys, then yours.
"""

from __future__ import annotations

import os
import re
import tomllib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.scoring.importer import ACCOUNT_OPTIONAL, METRIC_NAME
from prompts import ENGLISH, current, say
from prompts import raw as raw_prompt

PRESETS = {p.stem: p for p in Path(__file__).parent.glob("*.toml")}
SOURCE_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
ACCOUNT_FIELDS = ("external_id", "name", *ACCOUNT_OPTIONAL)


class SourcesError(ValueError):
    def __init__(self, path: str | Path, problems: list[str]):
        self.problems = problems
        super().__init__(say("sync.sources.invalid", path=path) + "".join(f"\n  {p}" for p in problems))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Auth(_Strict):
    """Secrets are never in the file: only the names of the environment variables holding them."""

    type: Literal["bearer", "basic", "none"] = "none"
    token_env: str | None = None  # bearer
    username_env: str | None = None  # basic
    password_env: str | None = None  # basic

    @model_validator(mode="after")
    def _needs(self) -> Auth:
        wanted = {"bearer": ["token_env"], "basic": ["username_env", "password_env"], "none": []}[self.type]
        for key in wanted:
            value = getattr(self, key)
            if not value:
                raise ValueError(say("sync.sources.auth_needs", type=repr(self.type), key=key))
            if not ENV_NAME.fullmatch(value):
                raise ValueError(say("sync.sources.env_name", key=key, value=repr(value)))
        return self

    def secrets(self, source: str) -> tuple[str, ...]:
        """The secret values from the environment; a missing one raises naming the variable, never a value."""
        names = {"bearer": [self.token_env], "basic": [self.username_env, self.password_env], "none": []}[self.type]
        values = []
        for name in names:
            value = os.environ.get(name or "", "")
            if not value:
                raise SourcesError("sources", [say("sync.sources.no_secret", source=source, name=name)])
            values.append(value)
        return tuple(values)


class Pagination(_Strict):
    style: Literal["cursor", "page", "link", "none"] = "none"
    next: str | None = None  # cursor: path of the next cursor in the response body
    param: str | None = None  # cursor / page: the query parameter that takes it
    done: str | None = None  # cursor: path of a flag that is true on the last page (e.g. end_of_stream)
    keep: bool = False  # cursor: the last cursor continues the stream on the next sync (an export cursor)
    size_param: str | None = None  # page: the page size parameter
    size: int = Field(default=100, ge=1, le=10_000)
    start: int = Field(default=1, ge=0)  # page: the first page's number

    @model_validator(mode="after")
    def _needs(self) -> Pagination:
        if self.style == "cursor" and not (self.next and self.param):
            raise ValueError(say("sync.sources.cursor_needs"))
        if self.style == "page" and not self.param:
            raise ValueError(say("sync.sources.page_needs"))
        return self


class Incremental(_Strict):
    """Ask only for what changed since the last sync: `param` takes the highest `field` value already synced."""

    param: str
    field: str  # the record's change time, e.g. updated_at
    format: Literal["unix", "iso", "date"] = "iso"
    start: date | None = None  # what the first sync asks from
    start_days_ago: int | None = Field(default=None, ge=0)

    def first(self, today: date | None = None) -> datetime | None:
        if self.start is not None:
            return datetime(self.start.year, self.start.month, self.start.day, tzinfo=UTC)
        if self.start_days_ago is not None:
            day = (today or datetime.now(UTC).date()) - timedelta(days=self.start_days_ago)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        return None

    def render(self, since: datetime) -> str:
        if self.format == "unix":
            return str(int(since.timestamp()))
        if self.format == "date":
            return since.date().isoformat()
        return since.astimezone(UTC).isoformat().replace("+00:00", "Z")


class FieldSpec(_Strict):
    """Where a value is in a record (a dotted path) and how to read it."""

    path: str = ""
    map: dict[str, str | float | int | bool] | None = None  # translate values (owner ids to Slack ids, 'good' to 5)
    ignore: list[str] = Field(default_factory=list)  # values that mean "nothing here" (no error, no value)
    scale: float | None = None  # multiply a number (annual to monthly: 0.0833333)
    match: Literal["external_id", "domain", "name"] = "external_id"  # the account field: which column it names


class MetricSpec(FieldSpec):
    aggregate: Literal["none", "count", "sum", "mean", "max"] = "none"

    @model_validator(mode="after")
    def _path(self) -> MetricSpec:
        if self.aggregate != "count" and not self.path:
            raise ValueError(say("sync.sources.metric_path"))
        return self


def _both(names: list[str]) -> str:
    """Two names as "a and b" in the current language (one: itself)."""
    return str(say("sync.sources.both", first=names[0], second=names[1])) if len(names) == 2 else names[0]


def _spec(value: Any) -> Any:
    return {"path": value} if isinstance(value, str) else value


class Source(_Strict):
    name: str
    kind: Literal["accounts", "metrics"]
    base_url: str
    endpoint: str = ""
    params: dict[str, str | int | float | bool] = Field(default_factory=dict)
    records: str = ""  # path of the record list in the response body; "" = the body is the list
    auth: Auth = Field(default_factory=Auth)
    pagination: Pagination = Field(default_factory=Pagination)
    incremental: Incremental | None = None
    fields: dict[str, FieldSpec] = Field(default_factory=dict)
    metrics: dict[str, MetricSpec] = Field(default_factory=dict)
    timeout: float = Field(default=30.0, gt=0, le=600)
    retries: int = Field(default=5, ge=0, le=20)
    backoff: float = Field(default=1.0, ge=0, le=60)  # seconds before the first retry, doubled each time
    batch: int = Field(default=5000, ge=1, le=1_000_000)  # records written (and the watermark moved) per transaction
    preset: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not SOURCE_NAME.fullmatch(value):
            raise ValueError(say("sync.sources.name", value=repr(value)))
        return value

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.fullmatch(r"https?://[^/\s]+(/\S*)?", value):
            raise ValueError(say("sync.sources.url", value=repr(value)))
        return value.rstrip("/")

    @field_validator("fields", mode="before")
    @classmethod
    def _fields(cls, value: Any) -> Any:
        return {k: _spec(v) for k, v in value.items()} if isinstance(value, dict) else value

    @field_validator("metrics", mode="before")
    @classmethod
    def _metrics(cls, value: Any) -> Any:
        return {k: _spec(v) for k, v in value.items()} if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _mapping(self) -> Source:
        if self.kind == "accounts":
            unknown = [f for f in self.fields if f not in ACCOUNT_FIELDS]
            if unknown:
                known = ", ".join(ACCOUNT_FIELDS)
                raise ValueError(say("sync.sources.account_fields", fields=", ".join(unknown), known=known))
            missing = [f for f in ("external_id", "name") if f not in self.fields]
            if missing:
                raise ValueError(say("sync.sources.accounts_need", missing=_both(missing)))
            if self.metrics:
                raise ValueError(say("sync.sources.accounts_no_metrics"))
        else:
            unknown = [f for f in self.fields if f not in ("account", "date", "id")]
            if unknown:
                raise ValueError(say("sync.sources.metrics_fields", fields=", ".join(unknown)))
            missing = [f for f in ("account", "date") if f not in self.fields]
            if missing:
                raise ValueError(say("sync.sources.metrics_need", missing=_both(missing)))
            if not self.metrics:
                raise ValueError(say("sync.sources.no_metrics"))
            bad = [m for m in self.metrics if not METRIC_NAME.fullmatch(m)]
            if bad:
                raise ValueError(say("sync.sources.metric_name", names=", ".join(bad)))
            if "id" not in self.fields and any(m.aggregate != "none" for m in self.metrics.values()):
                raise ValueError(say("sync.sources.aggregate_id"))
        return self

    @property
    def url(self) -> str:
        return self.base_url + ("/" + self.endpoint.lstrip("/") if self.endpoint else "")


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _where(index: int, raw: Any, loc: tuple[Any, ...]) -> str:
    name = raw.get("name") if isinstance(raw, dict) else None
    head = f"source[{index}]" + (f" ({name})" if isinstance(name, str) else "")
    return ".".join([head, *(str(p) for p in loc)])


def load_sources(path: str | Path) -> list[Source]:
    """Every source in the file, validated whole; SourcesError names each bad key."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SourcesError(path, [say("sync.sources.not_found")]) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SourcesError(path, [say("sync.sources.not_toml", error=exc)]) from None
    extra = [k for k in data if k != "source"]
    problems = [say("sync.sources.unknown_key", key=k) for k in extra]
    raws = data.get("source", [])
    if not isinstance(raws, list) or not raws:
        problems.append(say("sync.sources.no_source"))
        raise SourcesError(path, problems)
    sources: list[Source] = []
    for i, raw in enumerate(raws):
        if not isinstance(raw, dict):
            problems.append(say("sync.sources.not_a_table", index=i))
            continue
        merged = raw
        preset = raw.get("preset")
        if preset is not None:
            if preset not in PRESETS:
                unknown = say("sync.sources.preset", preset=repr(preset), shipped=", ".join(sorted(PRESETS)))
                problems.append(f"{_where(i, raw, ('preset',))}: {unknown}")
                continue
            base = tomllib.loads(PRESETS[preset].read_text(encoding="utf-8"))["source"][0]
            merged = _merge(base, raw)
        try:
            sources.append(Source.model_validate(merged))
        except ValidationError as exc:
            for error in exc.errors():
                loc = tuple(p for p in error["loc"] if not str(p).startswith("function-"))
                message = error["msg"].removeprefix("Value error, ")
                checks = raw_prompt("settings.rules.checks")
                if current() != ENGLISH and error["type"] in checks:  # pydantic words its own checks in English only
                    message = str(checks[error["type"]]).format(**(error.get("ctx") or {}))
                problems.append(f"{_where(i, raw, loc)}: {message}")
    names = [s.name for s in sources]
    problems += [say("sync.sources.twice", name=n) for n in sorted({n for n in names if names.count(n) > 1})]
    if problems:
        raise SourcesError(path, problems)
    return sources
