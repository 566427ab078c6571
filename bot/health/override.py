"""The card's Override modal: its view, and the checks of a submission, with the rules of `healthbot override`:
a tier by any spelling (`resolve_tier`), a reason, a last day from today on, an optional score from 0 to 100,
and never on a churned account. Pure: `bot.health.service.set_override` stores what `check` accepts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from slack_sdk.models.views import View

from bot.dates import parse_day
from bot.health.command import UsageError, resolve_tier
from bot.health.ids import HealthIds
from bot.health.messages import override_text
from bot.health.values import OverrideRef
from bot.scoring.scorecard import Tiers
from bot.slack.blocks import VIEW_BLOCK_LIMIT, Blocks, esc, plain, section, tier_emoji, validate_blocks
from bot.slack.values import encode
from prompts import say
from prompts.formats import listing
from storage.models import Account, HealthOverride
from storage.types import AccountStatus

REASON_LIMIT = 2000  # HealthOverride.reason
DEFAULT_DAYS = 30  # the modal's initial "until": a month from today


@dataclass(frozen=True)
class OverrideInput:
    """What the modal's inputs held when submitted, as typed (nothing checked yet)."""

    tier: str | None
    reason: str | None
    until: str | None
    score: str | None


@dataclass(frozen=True)
class Valid:
    tier: str
    reason: str
    until: date
    score: float | None


def _t(key: str, **values: Any) -> str:
    return say(f"override.{key}", **values)


def refusal(account: Account | None) -> str | None:
    """Why this account takes no override (gone, churned), as plain text; None if it does."""
    if account is None:
        return _t("gone")
    if account.status == AccountStatus.CHURNED or account.churned_on is not None:
        day = account.churned_on.isoformat() if account.churned_on else "–"
        return _t("churned", name=account.name, day=day)
    return None


def _option(tier: str, tiers: Tiers) -> dict[str, Any]:
    text = f"{tier_emoji(tier)} {tiers.label(tier)}"
    return {"text": {"type": "plain_text", "text": plain(text, 75), "emoji": True}, "value": tier}


def _input(
    block_id: str, label: str, element: dict[str, Any], hint: str | None = None, optional: bool = False
) -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "input",
        "block_id": str(block_id),
        "label": {"type": "plain_text", "text": plain(label, 2000), "emoji": True},
        "element": {**element, "action_id": str(block_id)},
    }
    if hint:
        block["hint"] = {"type": "plain_text", "text": plain(hint, 2000), "emoji": True}
    if optional:
        block["optional"] = True
    return block


def override_modal(
    account: Account, current: HealthOverride | None, tiers: Tiers, today: date, response_url: str | None
) -> dict[str, Any]:
    """The modal the card's Override button opens; filled from the current override, if there is one."""
    intro = _t("modal.intro", name=esc(account.name))
    if current is not None:
        intro += "\n" + _t("modal.current", line=override_text(current, tiers))
    tier_select: dict[str, Any] = {
        "type": "static_select",
        "placeholder": {"type": "plain_text", "text": _t("modal.tier_placeholder"), "emoji": True},
        "options": [_option(t, tiers) for t in reversed(tiers.order)],
    }
    if current is not None and current.tier in tiers.order:
        tier_select["initial_option"] = _option(current.tier, tiers)
    reason: dict[str, Any] = {"type": "plain_text_input", "multiline": True, "max_length": REASON_LIMIT}
    if current is not None:
        reason["initial_value"] = current.reason[:REASON_LIMIT]
    until = current.expires_on if current is not None and current.expires_on >= today else today
    if current is None:
        until = today + timedelta(days=DEFAULT_DAYS)
    score: dict[str, Any] = {"type": "number_input", "is_decimal_allowed": True, "min_value": "0", "max_value": "100"}
    if current is not None and current.score is not None:
        score["initial_value"] = f"{current.score:g}"
    blocks: Blocks = [
        section(intro),
        _input(HealthIds.OVERRIDE_TIER, _t("modal.tier"), tier_select),
        _input(HealthIds.OVERRIDE_REASON, _t("modal.reason"), reason, _t("modal.reason_hint")),
        _input(
            HealthIds.OVERRIDE_UNTIL,
            _t("modal.until"),
            {"type": "datepicker", "initial_date": until.isoformat()},
            _t("modal.until_hint"),
        ),
        _input(HealthIds.OVERRIDE_SCORE, _t("modal.score"), score, _t("modal.score_hint"), optional=True),
    ]
    view: dict[str, Any] = {
        "type": "modal",
        "callback_id": str(HealthIds.OVERRIDE_MODAL),
        "private_metadata": encode(OverrideRef(account_id=account.id or 0, response_url=response_url)),
        "title": {"type": "plain_text", "text": plain(_t("modal.title"), 24)},
        "submit": {"type": "plain_text", "text": plain(_t("modal.submit"), 24)},
        "close": {"type": "plain_text", "text": plain(_t("modal.close"), 24)},
        "blocks": validate_blocks(blocks, VIEW_BLOCK_LIMIT),
    }
    View(**view).validate_json()
    return view


def read_input(values: dict[str, Any]) -> OverrideInput:
    """The submitted state (`view.state.values`) of the modal's inputs; anything missing is None."""

    def element(block_id: str) -> dict[str, Any]:
        found = (values.get(block_id) or {}).get(block_id)
        return found if isinstance(found, dict) else {}

    picked = element(HealthIds.OVERRIDE_TIER).get("selected_option") or {}

    def typed(value: Any) -> str | None:
        return value if isinstance(value, str) else None

    return OverrideInput(
        tier=typed(picked.get("value")) if isinstance(picked, dict) else None,
        reason=typed(element(HealthIds.OVERRIDE_REASON).get("value")),
        until=typed(element(HealthIds.OVERRIDE_UNTIL).get("selected_date")),
        score=typed(element(HealthIds.OVERRIDE_SCORE).get("value")),
    )


def check(entry: OverrideInput, account: Account | None, tiers: Tiers, today: date) -> Valid | dict[str, str]:
    """The submission, checked: the values to store, or an error per input (Slack shows each under its input)."""
    refused = refusal(account)
    if refused:
        return {HealthIds.OVERRIDE_TIER: refused}
    errors: dict[str, str] = {}
    tier = None
    if not entry.tier or not entry.tier.strip():
        errors[HealthIds.OVERRIDE_TIER] = _t("errors.tier_missing")
    else:
        try:
            tier = resolve_tier(entry.tier, tiers)
        except UsageError:
            choices = listing(tiers.label(t) for t in reversed(tiers.order))
            errors[HealthIds.OVERRIDE_TIER] = _t("errors.tier", tier=plain(entry.tier, 100), tiers=choices)
    reason = (entry.reason or "").strip()
    if not reason:
        errors[HealthIds.OVERRIDE_REASON] = _t("errors.reason")
    elif len(reason) > REASON_LIMIT:
        errors[HealthIds.OVERRIDE_REASON] = _t("errors.reason_long", limit=REASON_LIMIT, length=len(reason))
    until = None
    if not entry.until:
        errors[HealthIds.OVERRIDE_UNTIL] = _t("errors.until_missing")
    else:
        try:
            until = parse_day(entry.until)
        except ValueError:
            errors[HealthIds.OVERRIDE_UNTIL] = _t("errors.until_bad", until=plain(entry.until, 100))
        else:
            if until < today:
                errors[HealthIds.OVERRIDE_UNTIL] = _t("errors.until_past", today=today.isoformat())
    score = None
    if entry.score is not None and entry.score.strip():
        try:
            score = float(entry.score)
        except ValueError:
            score = -1.0
        if not 0 <= score <= 100:  # NaN fails this too
            errors[HealthIds.OVERRIDE_SCORE] = _t("errors.score")
    if errors or tier is None or until is None:
        return errors
    return Valid(tier, reason, until, score)
