"""Exit interviews in Block Kit, pure builders: the modal in every state (new, picked in the form, edit, with the
neutral-interviewer warning), the restricted notice, the summary posted to the churn channel and a stored interview
shown with its history and an Edit button. Data is shown as text, never as markup (`esc`, plain_text)."""

from __future__ import annotations

from datetime import date
from typing import Any

from bot.exits.coding import Coding
from bot.exits.ids import QUESTION_PREFIX, ExitIds
from bot.exits.questions import questions
from bot.exits.values import Avoidable, CodingRef, ExitRef, ExitStatus
from bot.slack.blocks import (
    VIEW_BLOCK_LIMIT,
    Message,
    actions,
    button,
    context,
    esc,
    fields,
    mention,
    message_text,
    money,
    plain,
    section,
    sections,
    validate_blocks,
)
from bot.slack.requests import notice_view
from bot.slack.values import encode
from prompts import say
from storage.models import Account, ExitInterview, ExitInterviewRevision
from storage.types import EXIT_REASONS

TEXT_LIMIT = 3000  # an answer, the note: Slack's plain_text_input max_length
COMPETITOR_LIMIT = 255
LABEL_LIMIT = 2000


def _t(key: str, **values: Any) -> str:
    return say(f"exit.{key}", **values)


def reason_label(reason: str) -> str:
    """A reason's words ("Business change"); an unknown one (an older or forged value) as it is."""
    return _t(f"reasons.{reason}") if reason in EXIT_REASONS else reason


def _text(value: str) -> dict[str, str]:
    return {"type": "plain_text", "text": plain(value, 75)}


def _option(value: str, label: str) -> dict[str, Any]:
    return {"text": _text(label), "value": str(value)}


def _input(
    block_id: str, label: str, element: dict[str, Any], optional: bool = False, hint: str | None = None
) -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "input",
        "block_id": str(block_id),
        "label": {"type": "plain_text", "text": plain(label, LABEL_LIMIT)},
        "element": {**element, "action_id": str(block_id)},
        "optional": optional,
    }
    if hint:
        block["hint"] = {"type": "plain_text", "text": plain(hint, LABEL_LIMIT)}
    return block


def _choice(block_id: str, label: str, options: list[tuple[str, str]], current: str | None) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "radio_buttons", "options": [_option(v, t) for v, t in options]}
    if current is not None:
        element["initial_option"] = _option(current, dict(options)[current])
    return _input(block_id, label, element)


def _text_input(
    block_id: str,
    label: str,
    value: str | None,
    limit: int,
    multiline: bool = True,
    optional: bool = True,
    hint: str | None = None,
) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "plain_text_input", "multiline": multiline, "max_length": limit}
    if multiline:
        element["placeholder"] = _text(_t("modal.answer_placeholder"))
    if value:
        element["initial_value"] = value[:limit]
    return _input(block_id, label, element, optional=optional, hint=hint)


def exit_modal(
    account: Account | None,
    interview: ExitInterview | None,
    opener: str,
    today: date,
    note: str | None = None,
    open_to_all: bool = False,
) -> dict[str, Any]:
    """The form: for `account` (None: picked in the form with a search-as-you-type select), new or editing
    `interview` at its version. `opener` is the initial interviewer: the account's own CSM gets a warning.
    `open_to_all` (EXIT_INTERVIEW_READERS unset): the form says who will be able to read the answers."""
    ref = ExitRef(
        account_id=account.id if account else None,
        interview_id=interview.id if interview else None,
        version=interview.version if interview else None,
    )
    name = esc(account.name) if account else ""
    if account is None:
        blocks: list[dict[str, Any]] = [section(_t("modal.intro_pick"))]
        element = {
            "type": "external_select",
            "placeholder": _text(_t("modal.account_placeholder")),
            "min_query_length": 1,
        }
        blocks.append(_input(ExitIds.ACCOUNT, _t("modal.account"), element))
    elif interview is not None:
        blocks = [section(_t("modal.edit_intro", name=name, version=interview.version))]
    else:
        blocks = [section(_t("modal.intro", name=name))]
    if open_to_all:
        blocks.append(context(_t("modal.open_to_all")))
    interviewer = interview.interviewer if interview else opener
    if account is not None and account.owner_slack_id and interviewer == account.owner_slack_id:
        blocks.append(context(_t("neutral_warning", user=mention(interviewer), name=name)))
    status = None if interview is None else (ExitStatus.CHURNED if interview.churned else ExitStatus.AT_RISK)
    blocks.append(
        _choice(
            ExitIds.STATUS,
            _t("modal.status"),
            [(ExitStatus.CHURNED, _t("modal.status_churned")), (ExitStatus.AT_RISK, _t("modal.status_at_risk"))],
            status,
        )
    )
    reason: dict[str, Any] = {
        "type": "static_select",
        "placeholder": _text(_t("modal.reason_placeholder")),
        "options": [_option(r, reason_label(r)) for r in EXIT_REASONS],
    }
    if interview is not None and interview.reason in EXIT_REASONS:
        reason["initial_option"] = _option(interview.reason, reason_label(interview.reason))
    blocks.append(_input(ExitIds.REASON, _t("modal.reason"), reason))
    avoidable = None if interview is None else (Avoidable.YES if interview.avoidable else Avoidable.NO)
    blocks.append(
        _choice(
            ExitIds.AVOIDABLE,
            _t("modal.avoidable"),
            [(Avoidable.YES, _t("modal.avoidable_yes")), (Avoidable.NO, _t("modal.avoidable_no"))],
            avoidable,
        )
    )
    blocks.append(
        _text_input(
            ExitIds.COMPETITOR,
            _t("modal.competitor"),
            interview.competitor if interview else None,
            COMPETITOR_LIMIT,
            multiline=False,
        )
    )
    day: dict[str, Any] = {"type": "datepicker"}
    initial_day = interview.churn_date if interview and interview.churn_date else today
    day["initial_date"] = initial_day.isoformat()
    blocks.append(
        _input(ExitIds.CHURN_DATE, _t("modal.churn_date"), day, optional=True, hint=_t("modal.churn_date_hint"))
    )
    mrr: dict[str, Any] = {"type": "number_input", "is_decimal_allowed": True, "min_value": "0"}
    lost = interview.mrr_lost if interview and interview.mrr_lost is not None else (account.mrr if account else None)
    if lost is not None and lost >= 0:
        mrr["initial_value"] = f"{lost:.2f}".rstrip("0").rstrip(".")
    blocks.append(_input(ExitIds.MRR_LOST, _t("modal.mrr_lost"), mrr, optional=True, hint=_t("modal.mrr_lost_hint")))
    who: dict[str, Any] = {"type": "users_select"}
    if interviewer:
        who["initial_user"] = interviewer
    blocks.append(_input(ExitIds.INTERVIEWER, _t("modal.interviewer"), who))
    answers = (interview.answers if interview else None) or {}
    for key, question in questions():
        blocks.append(_text_input(QUESTION_PREFIX + key, question, str(answers.get(key) or ""), TEXT_LIMIT))
    blocks.append(_text_input(ExitIds.NOTE, _t("modal.note"), interview.note if interview else note, TEXT_LIMIT))
    return {
        "type": "modal",
        "callback_id": str(ExitIds.MODAL),
        "private_metadata": encode(ref),
        "title": {"type": "plain_text", "text": _t("modal.title_edit" if interview else "modal.title")},
        "submit": {"type": "plain_text", "text": _t("modal.submit")},
        "close": {"type": "plain_text", "text": _t("modal.close")},
        "blocks": validate_blocks(blocks, VIEW_BLOCK_LIMIT),
    }


def restricted_view() -> dict[str, Any]:
    """Said instead of the form or the answers to someone not among the readers."""
    return notice_view(_t("restricted"))


def notice(text: str) -> dict[str, Any]:
    """A modal that only says `text` (already mrkdwn-safe): replaces the form when it cannot be saved."""
    return notice_view(text)


def _facts(account: Account, interview: ExitInterview) -> dict[str, Any]:
    status = _t("modal.status_churned" if interview.churned else "modal.status_at_risk")
    avoidable = _t("modal.avoidable_yes" if interview.avoidable else "modal.avoidable_no")
    texts = [
        _t("summary.status", status=status),
        _t("summary.reason", reason=esc(reason_label(interview.reason)), avoidable=avoidable.lower()),
        _t("summary.competitor", competitor=esc(interview.competitor) or _t("summary.none")),
        _t("summary.churn_date", day=interview.churn_date.isoformat() if interview.churn_date else _t("summary.none")),
        _t("summary.mrr_lost", mrr=money(interview.mrr_lost) if interview.mrr_lost is not None else _t("summary.none")),
        _t("summary.interviewer", who=mention(interview.interviewer)),
    ]
    return fields(*texts)


def _csm_note(account: Account, interview: ExitInterview) -> list[dict[str, Any]]:
    if account.owner_slack_id and interview.interviewer == account.owner_slack_id:
        return [context(_t("csm_interviewed"))]
    return []


def summary(account: Account, interview: ExitInterview) -> Message:
    """Posted to the churn channel: the structured fields only; the customer's words stay behind the readers."""
    name = esc(account.name)
    status = _t("modal.status_churned" if interview.churned else "modal.status_at_risk").lower()
    text = message_text(_t("summary.text", name=name, status=status, reason=esc(reason_label(interview.reason))))
    blocks = [
        section(_t("summary.title", name=name)),
        _facts(account, interview),
        *_csm_note(account, interview),
        context(_t("summary.footer", who=mention(interview.recorded_by), name=name)),
    ]
    return Message(text, validate_blocks(blocks))


def shown(account: Account, interview: ExitInterview, history: list[ExitInterviewRevision]) -> Message:
    """A stored interview for a reader: its fields, the answers in the customer's words, its history, Edit."""
    name = esc(account.name)
    blocks: list[dict[str, Any]] = [section(_t("summary.title", name=name)), _facts(account, interview)]
    blocks += _csm_note(account, interview)
    answers = interview.answers or {}
    lines = [
        _t("shown.answer", question=esc(q), answer=esc(str(answers.get(k) or "")) or _t("shown.no_answer"))
        for k, q in questions()
    ]
    lines += [
        _t("shown.answer", question=esc(k), answer=esc(str(v)))
        for k, v in answers.items()
        if k not in dict(questions()) and v
    ]  # a question since removed from the prompts file
    if interview.note:
        lines.append(_t("shown.note", note=esc(interview.note)))
    blocks += sections(lines)  # a line too long for one section is clipped there, never inside an entity
    created = _t(
        "shown.created",
        who=mention(interview.recorded_by),
        day=interview.created_at.date().isoformat(),
        changed=interview.updated_at.date().isoformat(),
    )
    blocks.append(context(created))
    if history:
        rows = [
            _t("shown.history_line", version=r.version, who=mention(r.edited_by), day=r.at.date().isoformat())
            for r in history[-10:]
        ]
        blocks.append(section("\n".join([_t("shown.history_title"), *rows])))
    ref = ExitRef(account_id=account.id, interview_id=interview.id, version=interview.version)
    blocks.append(actions(button(_t("shown.edit_button"), ExitIds.EDIT, encode(ref)), block_id=ExitIds.SHOWN_ACTIONS))
    return Message(message_text(_t("shown.text", name=name, version=interview.version)), validate_blocks(blocks))


def _call(call: str) -> str:
    """An avoidable call in words: yes, no, not sure."""
    return say(f"coding.suggestion.calls.{call}")


def _chosen_matches(interview: ExitInterview, coding: Coding) -> bool:
    same_avoidable = coding.avoidable == "unsure" or (coding.avoidable == "yes") == interview.avoidable
    return coding.reason == interview.reason and same_avoidable


def suggestion(account: Account, interview: ExitInterview, coding: Coding, asking: bool = False) -> dict[str, Any]:
    """The form's next state once saved: the suggested coding beside what the interviewer chose (category, avoidable
    call, summary), marked generated or from keywords, with "Use suggestion" / "Keep <their reason>" when it differs.
    `asking`: a model is still being asked; no buttons until its answer (or the keyword fallback) replaces this.
    The summary is the customer's words (or a model's reading of them): shown only in the saver's own modal."""
    name = esc(account.name)
    reason, avoidable = esc(reason_label(coding.reason)), _call(coding.avoidable)
    chosen = _call("yes" if interview.avoidable else "no")
    lines = [
        say("coding.suggestion.line", reason=reason, avoidable=avoidable),
        say("coding.suggestion.chosen", reason=esc(reason_label(interview.reason)), avoidable=chosen),
    ]
    blocks: list[dict[str, Any]] = [section(say("coding.suggestion.title", name=name)), section("\n".join(lines))]
    if coding.summary:
        blocks.append(section(say("coding.suggestion.summary", summary=esc(coding.summary))))
    marks = [say("coding.suggestion.generated" if coding.generated else "coding.suggestion.from_words")]
    if coding.note:
        marks.append(say("coding.suggestion.fallback", why=esc(coding.note)))
    blocks.append(context("  ".join(marks)))
    ref: CodingRef | None = None
    if asking:
        blocks.append(context(say("coding.suggestion.asking")))
    elif _chosen_matches(interview, coding):
        blocks.append(context(say("coding.suggestion.same")))
    elif not coding.clear:
        blocks.append(context(say("coding.suggestion.unclear")))
    else:
        ref = CodingRef(
            interview_id=interview.id or 0,
            version=interview.version,
            reason=coding.reason,
            avoidable=coding.avoidable,
        )
        use = button(say("coding.suggestion.use_button"), ExitIds.CODING_USE, encode(ref), style="primary")
        keep_text = say("coding.suggestion.keep_button", reason=reason_label(interview.reason))
        keep = button(keep_text, ExitIds.CODING_KEEP, encode(ref))
        blocks.append(actions(use, keep, block_id=ExitIds.CODING_ACTIONS))
    return {
        "type": "modal",
        "callback_id": str(ExitIds.CODING_VIEW),
        "private_metadata": encode(ref) if ref else "",  # what its buttons may carry (handlers/exits.py checks)
        "title": {"type": "plain_text", "text": say("coding.suggestion.title_plain")},
        "close": {"type": "plain_text", "text": say("coding.suggestion.close")},
        "blocks": validate_blocks(blocks, VIEW_BLOCK_LIMIT),
    }
