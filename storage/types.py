"""The values storage's tables hold, apart from the tables (storage/models.py): the aware-UTC time column
(`UtcDateTime`, `utcnow`, `as_utc`), the statuses and outcomes as StrEnums (stored as their plain values), a score's
parts (`ScoreParts`, stored as JSON) and an alert's firings (`FiringEntry`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic import Field as PydanticField
from sqlalchemy import JSON, DateTime, Dialect
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """A time as an aware UTC one (naive: taken as UTC): what `UtcDateTime` does to every time it binds and reads.
    Raw statements type their times with `UtcDateTime` too (storage/outbox.py), and frames parse theirs as UTC
    (storage/plays.py), so no caller needs this."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """`DateTime(timezone=True)` that stores UTC and always gives back an aware UTC time: SQLite hands such
    columns back naive (in UTC), PostgreSQL in the session's zone. The column in the database is unchanged."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


class AccountStatus(StrEnum):
    ACTIVE = "active"
    CHURNED = "churned"
    PAUSED = "paused"


ACCOUNT_STATUSES = tuple(s.value for s in AccountStatus)


class Driver(BaseModel):
    """One measure that pulls a score down: how many points it costs and why, in words."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    measure: str
    group: str = ""
    points: float  # negative: points lost
    reason: str  # in the language of the scoring run; shown when `words` is missing (a row stored before them)
    words: dict[str, Any] | None = None  # the reason as a code and its figures, worded when shown (explain.py)


class ScoreParts(BaseModel):
    """What a stored score is made of: group and measure scores (None = no data), the top drivers,
    and the share of the scorecard's weight the data covered."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    groups: dict[str, float | None] = PydanticField(default_factory=dict)
    measures: dict[str, float | None] = PydanticField(default_factory=dict)
    drivers: list[Driver] = PydanticField(default_factory=list)
    coverage: float = 0.0


class ScorePartsJSON(TypeDecorator[ScoreParts]):
    """`ScoreParts` stored as JSON: takes a `ScoreParts` or a plain dict, always gives back `ScoreParts`."""

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: ScoreParts | dict[str, Any] | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        parts = value if isinstance(value, ScoreParts) else ScoreParts.model_validate(value)
        return parts.model_dump(mode="json")

    def process_result_value(self, value: Any, dialect: Dialect) -> ScoreParts | None:
        return None if value is None else ScoreParts.model_validate(value)


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    UNKNOWN = "unknown"
    SENT = "sent"
    FAILED = "failed"


class AlertStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class AlertOutcome(StrEnum):
    SAVED = "saved"
    CHURNED = "churned"
    FALSE_ALARM = "false_alarm"
    RECOVERED = "recovered"  # the job's: none of its rules fired for `[alerts] recover_days`


ALERT_OUTCOMES = tuple(s.value for s in AlertOutcome)


@dataclass(frozen=True)
class FiringEntry:
    """One rule's entry in `Alert.firings` (and `AlertListing.firings`, JSON: rule name -> entry): the rule's
    words (in the language of the channel it fired into: shown when `reason` is missing, a row stored before it),
    the reason as a code and its figures (worded when shown, in the reader's language: bot/alerts/reasons.py), the
    severity it set, and the first and latest scoring days it fired (YYYY-MM-DD). A key the stored entry lacks is
    None, and stays absent when written back."""

    words: str | None = None
    severity: str | None = None
    since: str | None = None
    last: str | None = None
    reason: dict[str, Any] | None = field(default=None, hash=False)

    @classmethod
    def from_json(cls, entry: Mapping[str, Any]) -> FiringEntry:
        texts: dict[str, Any] = {f.name: None if entry.get(f.name) is None else str(entry[f.name]) for f in fields(cls)}
        reason = entry.get("reason")
        return cls(**(texts | {"reason": dict(reason) if isinstance(reason, Mapping) else None}))

    def to_json(self) -> dict[str, Any]:
        return {f.name: value for f in fields(self) if (value := getattr(self, f.name)) is not None}


def firings_json(entries: Mapping[str, FiringEntry]) -> dict[str, Any]:
    """Firings as `Alert.firings` stores them."""
    return {rule: entry.to_json() for rule, entry in entries.items()}


class ListingStatus(StrEnum):
    LISTED = "listed"
    OPENED = "opened"
    RECOVERED = "recovered"
    CHURNED = "churned"


class TaskStatus(StrEnum):
    OPEN = "open"
    DONE = "done"
    NOT_NEEDED = "not_needed"
    ESCALATED = "escalated"


class TaskOutcome(StrEnum):
    """How a task is closed (the Mark done modal's choices), stored as its `Task.status`."""

    DONE = TaskStatus.DONE.value
    NOT_NEEDED = TaskStatus.NOT_NEEDED.value
    ESCALATED = TaskStatus.ESCALATED.value


TASK_OUTCOMES = tuple(o.value for o in TaskOutcome)


class ExitReason(StrEnum):
    """Why a customer left, as `ExitInterview.reason` stores it (the form's choices, in this order)."""

    PRODUCT = "product"
    PRICE = "price"
    SERVICE = "service"
    COMPETITOR = "competitor"
    ONBOARDING = "onboarding"
    BUSINESS_CHANGE = "business_change"
    OTHER = "other"


EXIT_REASONS = tuple(r.value for r in ExitReason)
