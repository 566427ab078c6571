"""The risk-tier alert messages (the alerts feature builds its thread on these)."""

from __future__ import annotations

from bot.scoring.scorecard import Tiers
from bot.slack.blocks import (
    Blocks,
    drivers_text,
    esc,
    mention,
    message_text,
    score_text,
    section,
    signed,
    tier_emoji,
    validate_blocks,
)
from prompts import raw, say
from storage.models import Account, HealthScore


def tier_alert(account: Account, score: HealthScore, previous_tier: str, tiers: Tiers) -> Blocks:
    """The message posted when an account drops into a worse tier."""
    playbook = raw("playbooks").get(score.tier, {})
    title = say(
        "health.alert.title", emoji=tier_emoji(score.tier), name=esc(account.name), old_tier=tiers.label(previous_tier),
        new_tier=tiers.label(score.tier), score=score_text(score.score), delta_7=signed(score.delta_7),
    )  # fmt: skip
    out: Blocks = [section(title)]
    if score.parts.drivers:
        out.append(section(drivers_text(score)))
    if playbook:
        sla = say(
            "health.alert.respond_within", tier=tiers.label(score.tier), sla=playbook["respond_within"],
            owner=mention(account.owner_slack_id),
        )  # fmt: skip
        out.append(section(sla + "\n" + "\n".join(f"• {a}" for a in playbook["actions"])))
    return validate_blocks(out)


def tier_alert_text(account: Account, score: HealthScore, previous_tier: str, tiers: Tiers) -> str:
    return message_text(say(
        "health.alert.text", emoji=tier_emoji(score.tier), name=esc(account.name), old_tier=tiers.label(previous_tier),
        new_tier=tiers.label(score.tier), score=score_text(score.score),
    ))  # fmt: skip
