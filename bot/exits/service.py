"""What saving an exit interview does, in the caller's unit of work (nothing commits here): check the form, store
the interview (or its edit, keeping the earlier version), mark the account churned when chosen, resolve its open
alert as churned (its tasks closed, the thread redrawn and told) and enqueue the summary for the churn channel."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from slack_sdk import WebClient
from sqlmodel import Session

from bot.alerts import messages as alert_messages
from bot.alerts import threads
from bot.dates import parse_day
from bot.exits import messages
from bot.exits.coding import suggest
from bot.exits.ids import QUESTION_PREFIX, ExitIds
from bot.exits.messages import COMPETITOR_LIMIT, TEXT_LIMIT
from bot.exits.questions import questions
from bot.exits.values import Avoidable, CodingRef, ExitRef, ExitStatus
from bot.llm.client import Model
from bot.retention.service import redraw_tasks
from bot.scoring.scorecard import Tiers
from bot.slack.blocks import Message, esc, is_user, mention, plain
from bot.slack.requests import is_member
from prompts import say, speaking_in
from storage import accounts, alerts, exits, outbox, tasks
from storage.models import Account, ExitInterview
from storage.types import EXIT_REASONS, AccountStatus, AlertOutcome, ExitReason

OPTIONS_LIMIT = 20


def is_reader(client: WebClient, readers: Sequence[str], user_id: str, logger: logging.Logger) -> bool:
    """Whether `user_id` may read exit interviews: no readers set, a named user, or a member of a named group."""
    return not readers or is_member(client, readers, user_id, logger, "EXIT_INTERVIEW_READERS")


def opening(
    session: Session, account_id: int, user_id: str, today: date, open_to_all: bool
) -> Message | dict[str, Any] | str:
    """What a reader gets for an account: its stored interview (with Edit), the form (a view) when there is none
    yet, or the words saying the account is gone."""
    account = session.get(Account, account_id)
    if account is None:
        return say("exit.gone")
    interview = exits.of_account(session, account_id)
    if interview is not None:
        return messages.shown(account, interview, exits.revisions(session, interview.id or 0))
    return messages.exit_modal(account, None, user_id, today, open_to_all=open_to_all)


def edit_form(session: Session, ref: ExitRef, user_id: str, today: date, open_to_all: bool) -> dict[str, Any] | str:
    """The Edit button: the form on the interview as it is now (someone may have changed it since shown), or the
    words saying the account or its interview is gone."""
    account = session.get(Account, ref.account_id or 0)
    interview = exits.of_account(session, account.id or 0) if account else None
    if account is None or interview is None:
        return say("exit.gone")
    return messages.exit_modal(account, interview, user_id, today, open_to_all=open_to_all)


def account_options(session: Session, query: str) -> list[dict[str, Any]]:
    """The form's customer picker, searched as you type: one indexed query (name, domain or id)."""
    if not query:
        return []
    found = accounts.find_accounts(session, query, limit=OPTIONS_LIMIT)
    return [{"text": {"type": "plain_text", "text": plain(a.name, 75)}, "value": str(a.id)} for a in found]


@dataclass(frozen=True)
class Entry:
    """A valid form: what is stored."""

    account_id: int
    churned: bool
    reason: str
    avoidable: bool
    competitor: str | None
    churn_date: date | None
    mrr_lost: float | None
    interviewer: str
    answers: dict[str, str]
    note: str | None

    def values(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in exits.EDITABLE}


@dataclass(frozen=True)
class Saved:
    interview_id: int
    version: int
    name: str


@dataclass(frozen=True)
class Stale:
    """Not saved: changed (or first saved) by someone else since the form was opened; `text` says so."""

    text: str


def _t(key: str, **values: Any) -> str:
    return say(f"exit.{key}", **values)


def _state(values: dict[str, Any], block: str) -> dict[str, Any]:
    return (values.get(block) or {}).get(block) or {}


def _picked(values: dict[str, Any], block: str) -> str | None:
    option = _state(values, block).get("selected_option")
    value = option.get("value") if isinstance(option, dict) else None
    return value if isinstance(value, str) else None


def _typed(values: dict[str, Any], block: str) -> str:
    value = _state(values, block).get("value")
    return value.strip() if isinstance(value, str) else ""


def check(values: dict[str, Any], account_id: int | None, today: date) -> Entry | dict[str, str]:
    """The submitted state read and checked: an `Entry`, or errors by block id (shown under their inputs)."""
    errors: dict[str, str] = {}
    if account_id is None:
        picked = _picked(values, ExitIds.ACCOUNT)
        account_id = int(picked) if picked and picked.isascii() and picked.isdigit() and len(picked) < 12 else None
        if account_id is None:
            errors[ExitIds.ACCOUNT] = _t("errors.account")
    status = _picked(values, ExitIds.STATUS)
    if status not in tuple(ExitStatus):
        errors[ExitIds.STATUS] = _t("errors.status")
    reason = _picked(values, ExitIds.REASON)
    if reason not in EXIT_REASONS:
        errors[ExitIds.REASON] = _t("errors.reason")
    avoidable = _picked(values, ExitIds.AVOIDABLE)
    if avoidable not in tuple(Avoidable):
        errors[ExitIds.AVOIDABLE] = _t("errors.avoidable")
    competitor = _typed(values, ExitIds.COMPETITOR)
    if len(competitor) > COMPETITOR_LIMIT:
        errors[ExitIds.COMPETITOR] = _t("errors.too_long", limit=COMPETITOR_LIMIT, length=len(competitor))
    elif reason == ExitReason.COMPETITOR and not competitor:
        errors[ExitIds.COMPETITOR] = _t("errors.competitor")
    raw_day = _state(values, ExitIds.CHURN_DATE).get("selected_date")
    churn_date: date | None = None
    if raw_day:
        try:
            churn_date = parse_day(str(raw_day))
        except ValueError:
            errors[ExitIds.CHURN_DATE] = _t("errors.date_bad", value=str(raw_day)[:40])
    if churn_date is not None and status == ExitStatus.CHURNED and churn_date > today:
        errors[ExitIds.CHURN_DATE] = _t("errors.date_future", today=today.isoformat())
    raw_mrr = _typed(values, ExitIds.MRR_LOST)
    mrr_lost: float | None = None
    if raw_mrr:
        try:
            mrr_lost = float(raw_mrr) if re.fullmatch(r"\d{1,12}(\.\d{1,2})?", raw_mrr) else math.nan
        except ValueError:
            mrr_lost = math.nan
        if math.isnan(mrr_lost):
            errors[ExitIds.MRR_LOST] = _t("errors.mrr_bad")
    interviewer = _state(values, ExitIds.INTERVIEWER).get("selected_user")
    if not isinstance(interviewer, str) or not is_user(interviewer):
        errors[ExitIds.INTERVIEWER] = _t("errors.interviewer")
    answers: dict[str, str] = {}
    for key, _question in questions():
        text = _typed(values, QUESTION_PREFIX + key)
        if len(text) > TEXT_LIMIT:
            errors[QUESTION_PREFIX + key] = _t("errors.too_long", limit=TEXT_LIMIT, length=len(text))
        elif text:
            answers[key] = text
    note = _typed(values, ExitIds.NOTE)
    if len(note) > TEXT_LIMIT:
        errors[ExitIds.NOTE] = _t("errors.too_long", limit=TEXT_LIMIT, length=len(note))
    if errors or account_id is None:
        return errors
    return Entry(
        account_id=account_id,
        churned=status == ExitStatus.CHURNED,
        reason=str(reason),
        avoidable=avoidable == Avoidable.YES,
        competitor=competitor or None,
        churn_date=churn_date,
        mrr_lost=mrr_lost,
        interviewer=str(interviewer),
        answers=answers,
        note=note or None,
    )


def save(
    session: Session,
    entry: Entry,
    ref_interview: int | None,
    ref_version: int | None,
    user_id: str,
    today: date,
    tiers: Tiers,
    tz: ZoneInfo,
    churn_channel: str | None,
    cs_lead: str | None = None,
    picked: bool = False,
) -> Saved | Stale | dict[str, str]:
    """Store `entry` (new, or an edit of the version the form showed) and what follows from it; errors by block id
    when the account is gone or (`picked` in the form) has one already, `Stale` when someone saved first.
    Nothing commits: the caller's unit of work does."""
    account = session.get(Account, entry.account_id)
    if account is None:
        return {ExitIds.ACCOUNT if ref_interview is None else ExitIds.STATUS: _t("errors.account_gone")}
    name = esc(account.name)
    churn_date = entry.churn_date or (today if entry.churned else None)
    mrr_lost = entry.mrr_lost if entry.mrr_lost is not None else (account.mrr if entry.churned else None)
    values = {**entry.values(), "churn_date": churn_date, "mrr_lost": mrr_lost}
    if ref_interview is None:
        created = exits.create(session, ExitInterview(account_id=account.id or 0, recorded_by=user_id, **values))
        if created is None:
            return {ExitIds.ACCOUNT: _t("exists", name=name)} if picked else Stale(_t("exists", name=name))
        interview = created
    else:
        current = exits.of_account(session, account.id or 0)
        if current is None or current.id != ref_interview:
            return Stale(_t("stale", version=current.version if current else 0, name=name))
        if not exits.edit(session, ref_interview, version=ref_version or 0, by=user_id, values=values):
            latest = exits.of_account(session, account.id or 0)
            return Stale(_t("stale", version=latest.version if latest else 0, name=name))
        interview = exits.of_account(session, account.id or 0) or current
    if entry.churned:
        _churn(session, account, churn_date or today, user_id, tiers, tz, cs_lead)
    _post_summary(session, account, interview, churn_channel)
    return Saved(interview.id or 0, interview.version, account.name)


def _post_summary(session: Session, account: Account, interview: ExitInterview, churn_channel: str | None) -> None:
    """The churn channel's summary of this version of the interview (once: keyed by interview and version)."""
    if churn_channel:
        with speaking_in(churn_channel):  # the channel's language, not the language of whoever saved it
            message = messages.summary(account, interview)
        key = outbox.exit_summary_key(interview.id or 0, interview.version)
        outbox.post(session, key, churn_channel, message.text, message.blocks)


def to_code(session: Session, interview_id: int) -> tuple[Account, ExitInterview] | None:
    """The interview just saved and its account, when it has words to code (answers or a note)."""
    interview = session.get(ExitInterview, interview_id)
    if interview is not None:
        session.refresh(interview)  # as saved just now, not as this session first read it
    account = session.get(Account, interview.account_id) if interview else None
    if interview is None or account is None or not (any((interview.answers or {}).values()) or interview.note):
        return None
    return account, interview


def _words(interview: ExitInterview) -> list[tuple[str, str]]:
    asked = dict(questions())
    return [(asked.get(k, k), str(v)) for k, v in (interview.answers or {}).items() if str(v or "").strip()]


def suggestion(model: Model | None, account: Account, interview: ExitInterview, asking: bool = False) -> dict[str, Any]:
    """The suggested coding of a saved interview (the form's next state) for its interviewer to use or not: the
    model's when one is given and its reply passes the checks (outside any transaction: a model may take its time),
    else the keywords'; `asking`: a model will be asked next (no buttons until it answers)."""
    return messages.suggestion(account, interview, suggest(model, _words(interview), interview.note), asking=asking)


def use_suggestion(session: Session, ref: CodingRef, user_id: str, churn_channel: str | None) -> str:
    """The "Use suggestion" click: the suggested reason (and avoidable call, unless unsure) stored as an edit of the
    version coded, its earlier version kept and the churn channel's summary posted; or the words saying why not
    (gone, changed since, a competitor reason without the competitor's name)."""
    interview = session.get(ExitInterview, ref.interview_id)
    account = session.get(Account, interview.account_id) if interview else None
    if interview is None or account is None:
        return say("exit.gone")
    if ref.reason not in EXIT_REASONS:
        return say("health.button_out_of_date")
    name = esc(account.name)
    saver = _saver(session, interview, ref.version)
    if ref.version == interview.version and saver != user_id:
        return say("coding.suggestion.not_saver", who=mention(saver), name=name)
    if ref.reason == ExitReason.COMPETITOR and not interview.competitor:
        return say("coding.suggestion.needs_competitor", name=name)
    values: dict[str, Any] = {"reason": ref.reason}
    if ref.avoidable != "unsure":
        values["avoidable"] = ref.avoidable == "yes"
    if not exits.edit(session, ref.interview_id, version=ref.version, by=user_id, values=values):
        latest = exits.of_account(session, account.id or 0)
        return say("coding.suggestion.stale", name=name, version=latest.version if latest else 0)
    changed = exits.of_account(session, account.id or 0) or interview
    _post_summary(session, account, changed, churn_channel)
    avoidable = _t("modal.avoidable_yes" if changed.avoidable else "modal.avoidable_no").lower()
    reason = esc(messages.reason_label(changed.reason))
    who, version = mention(user_id), changed.version
    return say("coding.suggestion.used", who=who, name=name, reason=reason, avoidable=avoidable, version=version)


def _saver(session: Session, interview: ExitInterview, version: int) -> str:
    """Who saved `version` of the interview (the one its suggestion was shown to): the recorder of the first, else
    whoever made the edit that led to it."""
    if version <= 1:
        return interview.recorded_by
    made = [r.edited_by for r in exits.revisions(session, interview.id or 0) if r.version == version - 1]
    return made[0] if made else ""


def keep_chosen(session: Session, ref: CodingRef) -> str:
    """The "Keep <reason>" click: nothing changes; the words saying so."""
    interview = session.get(ExitInterview, ref.interview_id)
    account = session.get(Account, interview.account_id) if interview else None
    if interview is None or account is None:
        return say("exit.gone")
    return say("coding.suggestion.kept", name=esc(account.name), reason=esc(messages.reason_label(interview.reason)))


def submission_ack(saved: Saved | Stale | dict[str, str], shown: dict[str, Any] | None = None) -> dict[str, Any]:
    """How a submission is acked: errors under their inputs, a notice in place of a form someone else saved over
    meanwhile, the suggested coding (`shown`) as the form's next state, or nothing (the modal closes)."""
    if isinstance(saved, dict):
        return {"response_action": "errors", "errors": saved}
    if isinstance(saved, Stale):
        return {"response_action": "update", "view": messages.notice(saved.text)}
    return {"response_action": "update", "view": shown} if shown else {}


def _churn(
    session: Session, account: Account, day: date, user_id: str, tiers: Tiers, tz: ZoneInfo, cs_lead: str | None
) -> None:
    """The account is churned from `day`; its open alert resolves as churned, its tasks close with it."""
    if account.status != AccountStatus.CHURNED or account.churned_on is None:
        accounts.mark_churned(session, account, day)
    alert = alerts.open_alert(session, account.id or 0)
    if alert is None or not alerts.resolve(session, alert.id or 0, AlertOutcome.CHURNED, user_id):
        return
    alert_id = alert.id or 0
    if tasks.close_with_alert(session, alert_id, AlertOutcome.CHURNED, user_id):
        redraw_tasks(session, alert_id, tiers, tz, cs_lead)
    threads.redraw(session, alert_id, tiers, tz, cs_lead)
    resolved = alerts.get(session, alert_id)
    if resolved is not None:
        churned = partial(alert_messages.resolved_reply, AlertOutcome.CHURNED, user_id)
        threads.reply(session, resolved, "resolved", churned)
