"""The weekly risk digest as Block Kit (pure): to a channel, or as a DM to a CSM (what goes in it:
`bot.digest.service`; texts in prompts/digest.toml)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot.alerts.reasons import firing_text
from bot.digest.service import LIST_SHOWN, MOVES_SHOWN, WeekStats
from bot.health.messages import at_risk_figure
from bot.retention.plays import plays_blocks
from bot.scoring.explain import score_text, tier_text
from bot.scoring.scorecard import Tiers
from bot.slack import expected_loss
from bot.slack.blocks import (
    MESSAGE_BLOCK_LIMIT,
    Blocks,
    Message,
    context,
    esc,
    header,
    mention,
    message_text,
    money,
    section,
    sections,
    signed,
    tier_emoji,
    validate_blocks,
)
from prompts import raw, say


def _change(now: int | float, before: int | float | None, money_: bool = False) -> str:
    if before is None:
        return ""
    delta = now - before
    if money_:
        return ("+" if delta > 0 else "−" if delta < 0 else "±") + money(abs(delta))
    return signed(delta).replace("-", "−") if delta else "±0"


def _more(lines: list[str], total: int, key: str = "digest.more") -> list[str]:
    return lines + ([say(key, more=total - len(lines))] if total > len(lines) else [])


def _account_blocks(stats: WeekStats, tiers: Tiers) -> Blocks:
    """MRR at risk, the tier movements, the new at-risk accounts."""
    mrr = at_risk_figure(stats.mrr_at_risk, stats.at_risk, tiers)
    if stats.mrr_at_risk_before is not None:
        change = _change(stats.mrr_at_risk, stats.mrr_at_risk_before, money_=True)
        mrr = say("digest.mrr_at_risk", at_risk=mrr, change=change)
    counts = [
        say("digest.tier_count", emoji=tier_emoji(t), tier=esc(tiers.label(t)), count=n, change=_change(n, b))
        if b is not None
        else say("digest.tier_count_new", emoji=tier_emoji(t), tier=esc(tiers.label(t)), count=n)
        for t, n, b in stats.tier_counts
        if n or b  # a tier with no account now nor a week before is left out
    ]
    blocks = [section(mrr), section(say("digest.tiers", counts=raw("digest.tier_count_joiner").join(counts)))]
    if stats.new_at_risk:
        lines = [
            say(
                "digest.at_risk_line",
                name=esc(r.name),
                tier=esc(tiers.label(r.tier)),
                mrr=money(r.mrr),
                why=say(f"digest.why_{r.why}") if r.why else "",
            )
            for r in stats.new_at_risk[:LIST_SHOWN]
        ]
        blocks += sections(
            [say("digest.new_at_risk", count=len(stats.new_at_risk)), *_more(lines, len(stats.new_at_risk))]
        )
    else:
        blocks.append(section(say("digest.new_at_risk_none")))
    return blocks


def _loss_blocks(stats: WeekStats, tiers: Tiers) -> Blocks:
    """Expected MRR loss in the next 90 days: the total, the largest segments and CSMs, each tier."""
    lines = expected_loss.lines(stats.expected, tiers.label, by_csm=stats.loss_by_csm)
    source = expected_loss.source(stats.expected)
    return [*sections(lines), *([context(source)] if source else [])]


def _when(at: datetime | None, tz: ZoneInfo) -> str:
    """A time in the team's zone, with the zone ("2026-03-10 09:00 CET")."""
    return "–" if at is None else at.astimezone(tz).strftime(raw("digest.time_format"))


def _alert_blocks(stats: WeekStats) -> Blocks:
    since, until = _when(stats.alerts_since, stats.tz), _when(stats.alerts_until, stats.tz)
    if stats.opened:
        blocks = [
            section(
                say(
                    "digest.alerts",
                    opened=stats.opened,
                    claimed_in_sla=stats.claimed_in_sla,
                    unclaimed=stats.unclaimed,
                    escalated=stats.escalated,
                    since=since,
                    until=until,
                )
            )
        ]
    else:
        blocks = [section(say("digest.alerts_none", since=since, until=until))]
    if stats.joined:
        blocks.append(section(say("digest.joined_once" if stats.joined == 1 else "digest.joined", count=stats.joined)))
    if stats.listed:
        blocks.append(section(say("digest.listed", count=stats.listed)))
    if stats.resolved:
        words = raw("digest.outcomes")
        parts = [say("digest.outcome", outcome=words.get(o, o), count=n) for o, n in stats.resolved.items()]
        blocks.append(section(say("digest.resolved", outcomes=raw("digest.outcome_joiner").join(parts))))
    else:
        blocks.append(section(say("digest.resolved_none")))
    if stats.saves:
        lines = [
            say("digest.save_line", name=esc(name), by=say("digest.save_by", user=mention(by)) if by else "")
            for name, by in stats.saves[:LIST_SHOWN]
        ]
        blocks += sections([say("digest.saves", count=len(stats.saves)), *_more(lines, len(stats.saves))])
    else:
        blocks.append(section(say("digest.saves_none")))
    return blocks


def _task_blocks(stats: WeekStats, dm: bool) -> Blocks:
    if not stats.tasks_open:
        return [section(say("digest.tasks_none"))]
    shown = stats.tasks if dm else [t for t in stats.tasks if t.overdue]  # a channel: only the overdue ones
    lines = [
        say(
            "digest.task_line",
            flag=raw("digest.task_overdue") if t.overdue else "",
            title=esc(t.title),
            name=esc(t.name),
            who="" if dm or not t.assignee else say("digest.task_who", user=mention(t.assignee)),
            due=_when(t.due_at, stats.tz),
        )
        for t in shown[:LIST_SHOWN]
    ]
    if len(shown) > LIST_SHOWN:
        lines.append(say("digest.tasks_more", more=len(shown) - LIST_SHOWN))
    return sections([say("digest.tasks", open=stats.tasks_open, overdue=stats.tasks_overdue), *lines])


def _noise_blocks(stats: WeekStats, tiers: Tiers) -> Blocks:
    """Snoozed accounts and the digest-only tiers' accounts: shown only when there are some."""
    blocks: Blocks = []
    if stats.snoozed:
        lines = [
            say(
                "digest.snoozed_line",
                name=esc(s.name),
                until=say("digest.snoozed_until", until=_when(s.until, stats.tz))
                if s.until is not None
                else say("digest.snoozed_tier", tier=esc(tiers.label(s.tier or ""))),
            )
            for s in stats.snoozed[:LIST_SHOWN]
        ]
        blocks += sections([say("digest.snoozed", count=len(stats.snoozed)), *_more(lines, len(stats.snoozed))])
    if stats.digest_only:
        lines = [
            say("digest.digest_only_line", name=esc(name), words=esc(firing_text("", fired, tiers)))
            for name, fired in stats.digest_only[:LIST_SHOWN]  # worded in the reader's language
        ]
        blocks += sections(
            [say("digest.digest_only", count=len(stats.digest_only)), *_more(lines, len(stats.digest_only))]
        )
    return blocks


def _move_blocks(stats: WeekStats, tiers: Tiers) -> Blocks:
    if not stats.scored:
        return [section(say("digest.no_scores"))]
    if not stats.moves:
        return [section(say("digest.moves_none"))]
    lines = [say("digest.moves", count=len(stats.moves))]
    lines += [
        say(
            "digest.move",
            name=esc(name),
            from_tier=esc(tiers.label(m.from_tier)),
            to_tier=esc(tier_text(m.score, m.to_tier, tiers)),
            score=score_text(m.score),
            why=_move_why(stats.move_why.get(m.account_id), stats, tiers),
        )
        for name, m in stats.moves[:MOVES_SHOWN]
    ]
    if len(stats.moves) > MOVES_SHOWN:
        lines.append(say("digest.moves_more", more=len(stats.moves) - MOVES_SHOWN))
    return sections(lines)


def _move_why(why: str | None, stats: WeekStats, tiers: Tiers) -> str:
    return say(f"digest.why_move_{why}") if why else ""


def digest_message(stats: WeekStats, tiers: Tiers, dm: bool = False) -> Message:
    """The digest as Block Kit (pure): to a channel, or (`dm`) to a CSM about their accounts and tasks."""
    start, end = stats.start.isoformat(), stats.end.isoformat()
    blocks = [header(say("digest.dm_header" if dm else "digest.header", start=start, end=end))]
    if dm:
        blocks.append(context(say("digest.dm_intro")))
    blocks += _account_blocks(stats, tiers) if stats.scored else []
    blocks += _loss_blocks(stats, tiers)
    blocks += _alert_blocks(stats)
    blocks += _task_blocks(stats, dm)
    blocks += _noise_blocks(stats, tiers)
    blocks += _move_blocks(stats, tiers)
    if stats.plays is not None and stats.plays_start is not None:
        blocks += plays_blocks(stats.plays, tiers, stats.plays_start, stats.end)
    if len(blocks) > MESSAGE_BLOCK_LIMIT:  # (the lists are capped: a safety net, never hit on real data)
        blocks = [
            *blocks[: MESSAGE_BLOCK_LIMIT - 1],
            context(say("digest.more", more=len(blocks) + 1 - MESSAGE_BLOCK_LIMIT)),
        ]
    if dm:
        text = say(
            "digest.dm_text",
            start=start,
            end=end,
            at_risk=stats.at_risk,
            mrr=money(stats.mrr_at_risk),
            tiers=raw("health.at_risk.tier_joiner").join(esc(tiers.label(t)) for t in stats.at_risk_tiers),
            overdue=stats.tasks_overdue,
        )
    else:
        text = say("digest.text", start=start, end=end, opened=stats.opened, moves=len(stats.moves))
    return Message(message_text(text), validate_blocks(blocks))
