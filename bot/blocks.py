"""Block Kit builders: pure functions from domain objects to payload dicts.

Every payload passes `validate_blocks`, which parses it with `slack_sdk.models` and
enforces Slack's size limits, so an oversized or malformed message fails here, in
tests, rather than at Slack.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from slack_sdk.models.blocks import Block

from bot.ids import HealthIds
from bot.scorecard import Tiers
from prompts import raw, say
from storage.models import Account, HealthScore

MESSAGE_BLOCK_LIMIT = 50
VIEW_BLOCK_LIMIT = 100
SECTION_TEXT_LIMIT = 3000

Blocks = list[dict[str, Any]]


def validate_blocks(blocks: Blocks, limit: int = MESSAGE_BLOCK_LIMIT) -> Blocks:
    """Parse every block with slack_sdk.models (raises on a broken payload) and check the count."""
    if len(blocks) > limit:
        raise ValueError(f"{len(blocks)} blocks exceed Slack's limit of {limit}")
    for block in blocks:
        parsed = Block.parse(block)
        if parsed is None:
            raise ValueError(f"not a Block Kit block: {block!r}")
        parsed.validate_json()
    return blocks


def _clip(text: str, limit: int = SECTION_TEXT_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def section(text: str, **extra: Any) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _clip(text)}, **extra}


def context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _clip(text)}]}


def button(text: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    b: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": text[:75], "emoji": True},
        "action_id": action_id,
        "value": value[:2000],
    }
    if style:
        b["style"] = style
    return b


def tier_emoji(tier: str | None) -> str:
    emojis = raw("health.tier_emoji")
    return emojis.get(tier or "unknown", emojis["unknown"])


def signed(x: float | None, unit: str = "") -> str:
    return "–" if x is None else f"{x:+.0f}{unit}"


def money(x: float | None) -> str:
    return "–" if x is None else f"${x:,.0f}"


def renewal_text(renewal: date | None, today: date) -> str:
    if renewal is None:
        return "–"
    left = (renewal - today).days
    return f"{renewal.isoformat()} ({left} days)" if left >= 0 else f"{renewal.isoformat()} (passed)"


def account_card(account: Account, score: HealthScore | None, tiers: Tiers, today: date) -> Blocks:
    """The account card a `/health` lookup answers with."""
    if score is None:
        return validate_blocks([section(say("health.no_score", name=account.name, min_days=14))])
    owner = f"<@{account.owner_slack_id}>" if account.owner_slack_id else say("health.owner_none")
    title = f"{tier_emoji(score.tier)} *{account.name}*  ·  *{score.score:.0f}* / 100  ·  {tiers.label(score.tier)}"
    fields = [
        say("health.fields.trend", delta_7=signed(score.delta_7), delta_30=signed(score.delta_30)),
        say("health.fields.owner", owner=owner),
        say("health.fields.segment", segment=account.segment or "–"),
        say("health.fields.mrr", mrr=money(account.mrr)),
        say("health.fields.renewal", renewal=renewal_text(account.renewal_date, today)),
        say("health.fields.stage", stage=account.lifecycle_stage or "–"),
    ]
    drivers = score.parts.get("drivers", [])
    driver_lines = [f"• {d['reason']}  _({d['points']:+.0f} pts)_" for d in drivers]
    blocks: Blocks = [
        section(title),
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
        section(say("health.drivers_title") + "\n" + ("\n".join(driver_lines) or say("health.no_drivers"))),
    ]
    notes = [say("health.scored_on", day=score.day.isoformat(), card=score.scorecard)]
    if score.partial:
        coverage = score.parts.get("coverage", 0)
        notes.insert(0, say("health.partial", coverage=f"{coverage:.0%}"))
    blocks.append(context("   ".join(notes)))
    return validate_blocks(blocks)


def card_fallback_text(account: Account, score: HealthScore | None, tiers: Tiers) -> str:
    """The plain text notifications and screen readers show for a card."""
    if score is None:
        return account.name
    return say(
        "health.card_fallback", name=account.name, score=f"{score.score:.0f}", tier=tiers.label(score.tier),
        delta_7=signed(score.delta_7),
    )  # fmt: skip


def pick_list(query: str, accounts: list[Account]) -> Blocks:
    """Several matches: a button per account."""
    blocks: Blocks = [section(say("health.several", count=len(accounts), query=query))]
    for a in accounts[:10]:
        blocks.append(
            section(
                f"*{a.name}*  ·  {a.domain or a.external_id}",
                accessory=button(a.name, HealthIds.PICK_ACCOUNT, str(a.id)),
            )  # fmt: skip
        )
    return validate_blocks(blocks)


def tier_alert(account: Account, score: HealthScore, previous_tier: str, tiers: Tiers) -> Blocks:
    """The message posted when an account drops into a worse tier."""
    playbook = raw("playbooks").get(score.tier, {})
    owner = f"<@{account.owner_slack_id}>" if account.owner_slack_id else say("health.owner_none")
    title = say(
        "health.alert.title", emoji=tier_emoji(score.tier), name=account.name, old_tier=tiers.label(previous_tier),
        new_tier=tiers.label(score.tier), score=score.score, delta_7=signed(score.delta_7),
    )  # fmt: skip
    drivers = "\n".join(f"• {d['reason']}  _({d['points']:+.0f} pts)_" for d in score.parts.get("drivers", []))
    out: Blocks = [section(title)]
    if drivers:
        out.append(section(say("health.drivers_title") + "\n" + drivers))
    if playbook:
        sla = say(
            "health.alert.respond_within", tier=tiers.label(score.tier), sla=playbook["respond_within"], owner=owner
        )
        out.append(section(sla + "\n" + "\n".join(f"• {a}" for a in playbook["actions"])))
    return validate_blocks(out)


def tier_alert_text(account: Account, score: HealthScore, previous_tier: str, tiers: Tiers) -> str:
    return say(
        "health.alert.text", emoji=tier_emoji(score.tier), name=account.name, old_tier=tiers.label(previous_tier),
        new_tier=tiers.label(score.tier), score=score.score,
    )  # fmt: skip
