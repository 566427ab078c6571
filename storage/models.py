"""SQLModel tables: accounts, their daily metric observations and daily health scores, Slack events, the outbox,
alerts, tasks, sync state and exit interviews. The values they hold (statuses, the aware-UTC time column, a score's
parts, an alert's firings) are in storage/types.py.

Schema changes go through Alembic (`storage/migrations`), never `create_all`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from storage.types import (
    AccountStatus,
    AlertStatus,
    FiringEntry,
    ListingStatus,
    OutboxStatus,
    ScoreParts,
    ScorePartsJSON,
    TaskStatus,
    UtcDateTime,
    utcnow,
)


class AccountBase(SQLModel):
    external_id: str = Field(max_length=128)
    name: str = Field(max_length=255)
    domain: str | None = Field(default=None, max_length=255)
    owner_slack_id: str | None = Field(default=None, max_length=32)
    segment: str | None = Field(default=None, max_length=64)
    plan: str | None = Field(default=None, max_length=64)
    industry: str | None = Field(default=None, max_length=128)
    employees: int | None = None
    region: str | None = Field(default=None, max_length=64)
    lifecycle_stage: str | None = Field(default=None, max_length=64)
    acquisition_channel: str | None = Field(default=None, max_length=64)
    mrr: float | None = None
    contract_start: date | None = None
    renewal_date: date | None = None
    status: str = Field(default=AccountStatus.ACTIVE.value, max_length=16)  # an AccountStatus
    churned_on: date | None = None


class Account(AccountBase, table=True):
    __tablename__ = "account"
    __table_args__ = (
        UniqueConstraint("external_id", name="uq_account_external_id"),
        # text_pattern_ops: PostgreSQL reads LIKE 'acme%' from it under any collation (and = as any index)
        Index("ix_account_name_lower", "name_lower", postgresql_ops={"name_lower": "text_pattern_ops"}),
        Index("ix_account_updated_at", "updated_at"),  # the accounts' last write: `accounts.names_marker`
        Index("ix_account_domain", "domain"),
        Index("ix_account_owner", "owner_slack_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # Lower-cased name kept beside the name so lookups use an index on both databases.
    name_lower: str = Field(default="", max_length=255)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UtcDateTime))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UtcDateTime))


# Account fields whose changes are kept (`AccountFieldChange`), so a backtest reads them as they were.
ACCOUNT_TRACKED_FIELDS = (
    "segment",
    "lifecycle_stage",
    "plan",
    "region",
    "industry",
    "employees",
    "mrr",
    "renewal_date",
    "owner_slack_id",
)


class AccountFieldChange(SQLModel, table=True):
    """A tracked account field's value as first seen on a day (as text; None: cleared). The value holds
    until the account's next change of that field; `accounts.accounts_as_of` reads them back."""

    __tablename__ = "account_field_change"

    account_id: int = Field(foreign_key="account.id", primary_key=True, ondelete="CASCADE")
    field: str = Field(primary_key=True, max_length=32)
    seen_on: date = Field(primary_key=True)
    value: str | None = Field(default=None, max_length=255)


class MetricObservation(SQLModel, table=True):
    """One daily value of one metric for one account (long format)."""

    __tablename__ = "metric_observation"
    __table_args__ = (Index("ix_metric_observation_day", "day"),)

    account_id: int = Field(foreign_key="account.id", primary_key=True, ondelete="CASCADE")
    day: date = Field(primary_key=True)
    metric: str = Field(primary_key=True, max_length=64)
    value: float


class MetricDayChange(SQLModel, table=True):
    """Random tokens of a day of metric_observation, added by triggers on every write to that day (migration 0014):
    the daily run's cache of metrics trusts a day only while its one clean token is the one it saw."""

    __tablename__ = "metric_day_change"

    day: date = Field(primary_key=True)
    token: int = Field(primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False})
    dirty: bool  # written since the daily run last folded the day: never trusted


class HealthScore(SQLModel, table=True):
    """An account's score on one day, with the parts that explain it."""

    __tablename__ = "health_score"
    __table_args__ = (
        Index("ix_health_score_day_tier", "day", "tier"),
        Index("ix_health_score_day_score", "day", "score"),  # riskiest-first lists and movers
        Index("ix_health_score_day_computed", "day", "computed_at"),  # a day's last write: `scores.day_marker`
    )

    account_id: int = Field(foreign_key="account.id", primary_key=True, ondelete="CASCADE")
    day: date = Field(primary_key=True)
    score: float
    tier: str = Field(max_length=32)
    scorecard: str = Field(default="default", max_length=64)
    partial: bool = False
    delta_7: float | None = None  # change in points against the score 7 days earlier
    delta_30: float | None = None
    parts: ScoreParts = Field(default_factory=ScoreParts, sa_column=Column(ScorePartsJSON, nullable=False))
    computed_at: datetime = Field(default_factory=utcnow, sa_column=Column(UtcDateTime))


class HealthOverride(SQLModel, table=True):
    """A CSM's judgement of an account's health, shown beside the computed score until it expires."""

    __tablename__ = "health_override"
    __table_args__ = (Index("ix_health_override_account", "account_id", "expires_on"),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", ondelete="CASCADE")
    tier: str = Field(max_length=32)
    score: float | None = None
    reason: str = Field(max_length=2000)
    set_by: str = Field(max_length=64)  # Slack user id or CLI user name
    expires_on: date
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UtcDateTime))
    cleared_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime))


class SlackEvent(SQLModel, table=True):
    """Events and other deliveries already handled: Slack retries deliveries and Bolt does not deduplicate.

    `events.claim_event` records a key; a caller either claims before handling (exactly one of
    several replicas handles it) or, where losing one is worse than doing it twice (the App Home),
    records it once handled. Keys longer than 64 characters are stored as a digest (`events.event_key`).
    """

    __tablename__ = "slack_event"

    event_id: str = Field(primary_key=True, max_length=64)
    received_at: datetime = Field(default_factory=utcnow, sa_column=Column(UtcDateTime, index=True))


class OutboxMessage(SQLModel, table=True):
    """One Slack message the bot will post or update, recorded in the transaction that decided it.

    `storage.outbox` writes it and `bot.slack.outbox.drain` sends it. `status`:
    pending (due at `next_attempt_at`), sending (claimed by a sender until `claimed_until`; if that
    passes, the sender died and the outcome is unknown), unknown (the request may have reached
    Slack: reconciled before any new attempt, a post from `conversations.history`, a reply from
    `conversations.replies` of its thread), sent (`ts` stored),
    failed (`error` stored; retried at `next_attempt_at` when set, e.g. not_in_channel, else final).
    """

    __tablename__ = "outbox_message"
    __table_args__ = (
        UniqueConstraint("key", name="uq_outbox_message_key"),
        Index("ix_outbox_message_due", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=191)  # the idempotency key, chosen by the caller
    method: str = Field(max_length=32)  # chat.postMessage | chat.update
    channel: str = Field(max_length=64)  # channel id, or a user id for a DM
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    target_key: str | None = Field(default=None, max_length=191)  # chat.update: the row whose message to edit
    thread_key: str | None = Field(default=None, max_length=191)  # a reply: the row of the thread's parent
    status: str = Field(default=OutboxStatus.PENDING.value, max_length=16)  # an OutboxStatus
    attempts: int = 0
    # when a sender may take it next; NULL on a final failure
    next_attempt_at: datetime | None = Field(default_factory=utcnow, sa_column=Column(UtcDateTime))
    claimed_until: datetime | None = Field(default=None, sa_column=Column(UtcDateTime))
    ts: str | None = Field(default=None, max_length=32)
    sent_channel: str | None = Field(default=None, max_length=64)  # the channel Slack answered (a DM's D… id)
    error: str | None = Field(default=None, max_length=255)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UtcDateTime, nullable=False))
    sent_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime))


def firings_of(row: Alert | AlertListing) -> dict[str, FiringEntry]:
    """An alert's (or a listing's) firings, typed: rule name -> its entry."""
    return {rule: FiringEntry.from_json(entry) for rule, entry in row.firings.items()}


class Alert(SQLModel, table=True):
    """An account's at-risk episode: one Slack thread, owned by whoever claims it.

    At most one open alert per account (a partial unique index): a further rule firing joins it.
    `version` counts redraws of the root message; each redraw is its own outbox row.
    """

    __tablename__ = "alert"
    __table_args__ = (
        Index(
            "uq_alert_open_account",
            "account_id",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
        Index("ix_alert_status_due", "status", "due_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", ondelete="CASCADE")
    status: str = Field(default=AlertStatus.OPEN.value, max_length=16)  # an AlertStatus
    severity: str = Field(max_length=32)  # the tier whose playbook and response SLA apply
    opened_on: date  # the scoring day that opened it
    last_fired_on: date  # the latest scoring day any of its rules fired
    opened_at: datetime = Field(default_factory=utcnow, sa_column=Column(UtcDateTime, nullable=False))
    due_at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False))  # response SLA, business time
    channel: str = Field(max_length=64)  # where the thread lives
    # rule name -> {"words": ..., "reason": {...}, "severity": ..., "since": "YYYY-MM-DD", "last": ...}: `firings_of`
    firings: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    version: int = 1
    claimed_by: str | None = Field(default=None, max_length=32)
    claimed_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime))
    snoozed_until: datetime | None = Field(default=None, sa_column=Column(UtcDateTime))
    snoozed_tier: str | None = Field(default=None, max_length=32)  # snoozed until the tier changes from this one
    escalation_level: int = 0  # 0 none, 1 CS lead told, 2 second level
    escalated_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime))
    resolved_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime))
    outcome: str | None = Field(default=None, max_length=16)  # one of ALERT_OUTCOMES once resolved
    resolved_by: str | None = Field(default=None, max_length=32)  # a user id, or "healthbot" for a recovery


class AlertEvent(SQLModel, table=True):
    """What happened to an alert, in order: opened, joined, claimed, released, reassigned, snoozed,
    escalated, resolved. The history the churn review and the thread read."""

    __tablename__ = "alert_event"
    __table_args__ = (Index("ix_alert_event_alert", "alert_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    alert_id: int = Field(foreign_key="alert.id", ondelete="CASCADE")
    kind: str = Field(max_length=16)
    actor: str | None = Field(default=None, max_length=32)  # a user id; None for the bot
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UtcDateTime, nullable=False))


class AlertListing(SQLModel, table=True):
    """An account at risk the alert job listed instead of opening a thread: on a first run (where we start) or
    past the rules' `[budget]` of new threads per channel and day. Its row in the listing message has a button
    that opens its alert (`status` listed -> opened, `alert_id` set); while listed, the job keeps its firings
    up to date and opens no second listing for it. At most one listed row per account."""

    __tablename__ = "alert_listing"
    __table_args__ = (
        Index(
            "uq_alert_listing_listed_account",
            "account_id",
            unique=True,
            sqlite_where=text("status = 'listed'"),
            postgresql_where=text("status = 'listed'"),
        ),
        Index("ix_alert_listing_message", "message_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", ondelete="CASCADE")
    channel: str = Field(max_length=64)
    severity: str = Field(max_length=32)
    reason: str = Field(max_length=16)  # "first_run" | "budget"
    listed_on: date  # the scoring day it was listed on
    last_fired_on: date
    listed_at: datetime = Field(default_factory=utcnow, sa_column=Column(UtcDateTime, nullable=False))
    firings: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))  # as Alert.firings
    message_key: str = Field(max_length=191)  # the outbox key of the listing message (page) it is on
    status: str = Field(default=ListingStatus.LISTED.value, max_length=16)  # a ListingStatus
    alert_id: int | None = Field(default=None, foreign_key="alert.id", ondelete="SET NULL")
    opened_by: str | None = Field(default=None, max_length=32)  # who opened it: a user id, or "healthbot"
    opened_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime))


class Task(SQLModel, table=True):
    """One step of a tier's playbook for one alert: who does what by when.

    `version` counts changes (assignment, close): the Done modal carries the version it was opened
    on, so a task changed or closed meanwhile is reported, not overwritten.
    """

    __tablename__ = "task"
    __table_args__ = (
        UniqueConstraint("alert_id", "step", name="uq_task_alert_step"),  # a playbook creates each step once
        Index("ix_task_assignee_status", "assignee", "status"),
        Index("ix_task_status_due", "status", "due_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    alert_id: int = Field(foreign_key="alert.id", ondelete="CASCADE")
    account_id: int = Field(foreign_key="account.id", ondelete="CASCADE")
    playbook: str = Field(max_length=32)  # the tier whose playbook it comes from
    step: int  # position in that playbook
    title: str = Field(max_length=255)
    owner_role: str = Field(max_length=64)  # "CSM", "CS lead", ... as the playbook says
    assignee: str | None = Field(default=None, max_length=32)  # Slack user id
    due_at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False))
    status: str = Field(default=TaskStatus.OPEN.value, max_length=16)  # a TaskStatus
    version: int = 1
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UtcDateTime, nullable=False))
    closed_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime))
    closed_by: str | None = Field(default=None, max_length=32)
    notes: str | None = Field(default=None, max_length=3000)
    next_step: str | None = Field(default=None, max_length=500)
    next_step_on: date | None = None
    escalation_level: int = 0
    escalated_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime))


class TaskEvent(SQLModel, table=True):
    """What happened to a task, in order: created, assigned, done, not_needed, escalate, overdue."""

    __tablename__ = "task_event"
    __table_args__ = (Index("ix_task_event_task", "task_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="task.id", ondelete="CASCADE")
    kind: str = Field(max_length=16)
    actor: str | None = Field(default=None, max_length=32)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UtcDateTime, nullable=False))


class SyncState(SQLModel, table=True):
    """Where `healthbot sync` is with one source: the watermark, moved in the transaction that writes a batch.

    `since`: the highest change time of the records of the last completed sync (the next one asks from it).
    `position`: where the next page starts (a cursor, page number or URL) while `running` (a sync stopped
    half-way resumes there, with `run_since`); after a sync, a stream cursor the next one continues from.
    """

    __tablename__ = "sync_state"

    source: str = Field(primary_key=True, max_length=64)
    since: datetime | None = Field(default=None, sa_column=Column(UtcDateTime))
    position: str | None = Field(default=None, max_length=4000)
    running: bool = False
    run_since: datetime | None = Field(default=None, sa_column=Column(UtcDateTime))
    run_max: datetime | None = Field(default=None, sa_column=Column(UtcDateTime))
    records: int = 0  # records written by the current or last sync
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UtcDateTime, nullable=False))


class SyncItem(SQLModel, table=True):
    """One record's part of an aggregated metric (a ticket counted on the day it was opened, its rating):
    kept per record so a record seen again replaces its part instead of counting twice."""

    __tablename__ = "sync_item"
    __table_args__ = (Index("ix_sync_item_bucket", "source", "metric", "account_id", "day"),)

    source: str = Field(primary_key=True, max_length=64)
    record_key: str = Field(primary_key=True, max_length=128)
    metric: str = Field(primary_key=True, max_length=64)
    account_id: int = Field(foreign_key="account.id", ondelete="CASCADE")
    day: date
    value: float


class ExitInterview(SQLModel, table=True):
    """Why a customer left (or is about to): the five answers in the customer's words and the structured
    fields the churn review counts. One per account; edits keep the earlier versions in `ExitInterviewRevision`."""

    __tablename__ = "exit_interview"
    __table_args__ = (UniqueConstraint("account_id", name="uq_exit_interview_account"),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", ondelete="CASCADE")
    churned: bool = True  # False: the account is only at risk (a save conversation, not a goodbye)
    reason: str = Field(max_length=32)  # an ExitReason
    avoidable: bool
    competitor: str | None = Field(default=None, max_length=255)
    churn_date: date | None = None
    mrr_lost: float | None = None
    interviewer: str = Field(max_length=32)  # Slack user id of who ran the interview
    recorded_by: str = Field(max_length=32)  # who submitted the form
    answers: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )  # question key -> text
    note: str | None = Field(default=None, max_length=3000)  # e.g. the message a shortcut was started from
    version: int = 1
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UtcDateTime, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UtcDateTime, nullable=False))


class ExitInterviewRevision(SQLModel, table=True):
    """An exit interview as it was before an edit: who changed it, when, and the values it had."""

    __tablename__ = "exit_interview_revision"
    __table_args__ = (Index("ix_exit_interview_revision_interview", "interview_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    interview_id: int = Field(foreign_key="exit_interview.id", ondelete="CASCADE")
    version: int  # the version these values had
    edited_by: str = Field(max_length=32)
    values: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UtcDateTime, nullable=False))


class ChurnChanceFit(SQLModel, table=True):
    """Score bands and how the past cases in each fared: what the chance to churn is read from
    (`bot.scoring.chance.ChanceFit`, whose `to_json` is `body`). The latest for a horizon is the one in use."""

    __tablename__ = "churn_chance_fit"
    __table_args__ = (Index("ix_churn_chance_fit_horizon", "horizon_days", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    as_of: date  # the fit saw outcomes known up to this day
    horizon_days: int
    scorecard_key: str = Field(max_length=64)  # the scorecard it was fitted for
    body: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    fitted_at: datetime = Field(default_factory=utcnow, sa_column=Column(UtcDateTime, nullable=False))


class ChurnForecast(SQLModel, table=True):
    """A forecast of churn for a period (`healthbot forecast`): totals with their interval, and per account the
    chance and MRR it was made from (`body`), so `forecast check` can hold it against what happened."""

    __tablename__ = "churn_forecast"
    __table_args__ = (Index("ix_churn_forecast_period_end", "period_end"),)

    id: int | None = Field(default=None, primary_key=True)
    as_of: date  # made from scores and accounts as of this day
    period_start: date
    period_end: date
    horizon_days: int
    level: float  # of the interval, e.g. 0.8
    fit_id: int | None = Field(default=None, foreign_key="churn_chance_fit.id", ondelete="SET NULL")
    expected_accounts: float
    accounts_low: int
    accounts_high: int
    expected_mrr: float
    mrr_low: float
    mrr_high: float
    body: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    made_by: str = Field(default="healthbot", max_length=64)
    made_at: datetime = Field(default_factory=utcnow, sa_column=Column(UtcDateTime, nullable=False))


class AssistantFeedback(SQLModel, table=True):
    """A 👍/👎 on one of the assistant's answers: whether it helped, what kind of answer it was and whether a
    model worded it (what tells a team if the answers, and the model, are worth keeping)."""

    __tablename__ = "assistant_feedback"
    __table_args__ = (Index("ix_assistant_feedback_at", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: str = Field(max_length=32)
    channel_id: str = Field(max_length=32)
    message_ts: str = Field(max_length=32)  # the answer the button was on
    kind: str = Field(max_length=16)  # Answer.kind: answer, brief, draft, unknown
    generated: bool  # a model's wording (checked) or the deterministic answer
    helped: bool
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UtcDateTime, nullable=False))
