"""One account in words: the card ("how is acme?"), what changed over a period, and the pieces Brief me reuses.

Everything is read through storage and the /health services; the words are prompts/assistant.toml's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from bot.assistant.answer import Answer, Figure
from bot.scoring.explain import driver_reason, score_change, score_text
from bot.scoring.scorecard import Scorecard, Tiers
from bot.slack.blocks import esc, mention, money, override_text, renewal_text, signed, when
from bot.slack.chance import Chances
from prompts import say
from prompts.formats import listing
from storage import alerts, scores, tasks
from storage.models import Account, HealthOverride, HealthScore, Task
from storage.types import AccountStatus, TaskStatus, utcnow

MOVES = 3  # driver changes named


def _a(key: str, **values: Any) -> str:
    return say(f"assistant.{key}", **values)


@dataclass(frozen=True)
class Moment:
    """An account read once: its latest score, chance to churn (as shown, "18 %") and open tasks."""

    account: Account
    score: HealthScore | None
    chance: str | None
    horizon: int
    tasks: list[Task]


def read(session: Session, account_id: int, scorecard: Scorecard | None = None) -> Moment | None:
    """The account as the assistant tells it; the chance only with the card in use (`Chances.read` checks the fit was
    made for it), none without."""
    account = session.get(Account, account_id)
    if account is None:
        return None
    score = scores.latest_score(session, account_id)
    chances = Chances.read(session, scorecard) if scorecard is not None else Chances(None)
    gone = account.churned_on is not None or account.status == AccountStatus.CHURNED
    value = None if score is None or gone else chances.short(score.scorecard, score.score, account.segment)
    alert = alerts.open_alert(session, account_id)
    open_tasks = [t for t in tasks.of_alert(session, alert.id or 0) if t.status == TaskStatus.OPEN] if alert else []
    open_tasks.sort(key=lambda t: (t.due_at, t.step))
    return Moment(account, score, None if value in (None, "–") else value, chances.horizon, open_tasks)


def drivers(score: HealthScore | None) -> list[dict[str, str]]:
    return [{"reason": driver_reason(d), "points": signed(d.points)} for d in score.parts.drivers] if score else []


def task_facts(open_tasks: list[Task], tz: ZoneInfo) -> list[dict[str, Any]]:
    now = utcnow()
    return [
        {"title": t.title, "role": t.owner_role, "assignee": t.assignee, "due": when(t.due_at, tz)}
        | {"overdue": _late(t, now)}
        for t in open_tasks
    ]


def due_utc(at: datetime) -> datetime:
    """A stored time as aware UTC (SQLite gives naive times back)."""
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _late(task: Task, now: datetime) -> bool:
    return due_utc(task.due_at) < now


def card(session: Session, account_id: int, scorecard: Scorecard, today: date, tz: ZoneInfo) -> Answer | None:
    """The card in words: score, tier, trend, top drivers, chance to churn, renewal, owner, open tasks."""
    seen = read(session, account_id, scorecard)
    if seen is None:
        return None
    account, score, tiers = seen.account, seen.score, scorecard.tiers
    name = esc(account.name)
    facts: dict[str, Any] = {"kind": "account", "account": account.name}
    figures: list[Figure] = []
    if score is None:
        lines = [_a("card.unscored", name=name)]
    else:
        tier = tiers.label(score.tier)
        change_7, change_30 = score_change(score.score, score.delta_7), score_change(score.score, score.delta_30)
        lines = [
            _a(
                "card.title",
                name=name,
                tier=esc(tier),
                score=score_text(score.score),
                change_7=change_7,
                change_30=change_30,
            )
        ]
        facts |= {"score": score_text(score.score), "tier": tier, "scored_on": score.day.isoformat()}
        facts |= {"change_7_days": change_7, "change_30_days": change_30, "drivers": drivers(score)}
        figures += [
            Figure(_a("figure.score"), f"{score_text(score.score)} ({tier}, {score.day.isoformat()})"),
            Figure(_a("figure.change_7"), change_7),
            Figure(_a("figure.change_30"), change_30),
        ]
    override = scores.active_override(session, account_id, today)
    if override is not None:  # a CSM's judgement, beside the computed score as on the card
        lines.append(override_text(override, tiers))
        facts["override"] = {"tier": tiers.label(override.tier), "until": override.expires_on.isoformat()}
        facts["override"] |= {"reason": override.reason, "set_by": override.set_by}
    if account.churned_on is not None:
        lines.append(_a("card.churned", name=name, day=account.churned_on.isoformat()))
        facts["churned_on"] = account.churned_on.isoformat()
    if seen.chance is not None:
        lines.append(_a("card.chance", horizon=seen.horizon, chance=seen.chance))
        facts["chance_to_churn"] = seen.chance
        figures.append(Figure(_a("figure.chance", horizon=seen.horizon), seen.chance))
    if score is not None:
        items = [_a("card.driver", reason=esc(driver_reason(d)), points=signed(d.points)) for d in score.parts.drivers]
        lines.append("\n".join([_a("card.drivers"), *items]) if items else _a("card.no_drivers"))
    renewal = renewal_text(account.renewal_date, today)
    lines.append(_a("card.facts", renewal=renewal, owner=mention(account.owner_slack_id), mrr=money(account.mrr)))
    facts |= {"renewal": renewal, "owner": account.owner_slack_id, "mrr": money(account.mrr)}
    facts["segment"] = account.segment
    figures += [Figure(_a("figure.renewal"), renewal), Figure(_a("figure.mrr"), money(account.mrr))]
    facts["open_tasks"] = task_facts(seen.tasks, tz)
    figures.append(Figure(_a("figure.open_tasks"), str(len(seen.tasks))))
    if seen.tasks:
        first = seen.tasks[0]
        lines.append(_a("card.tasks", n=len(seen.tasks), title=esc(first.title), due=when(first.due_at, tz)))
    else:
        lines.append(_a("card.no_tasks"))
    return Answer("\n".join(lines), tuple(figures), (f"/health {account.name}",), facts)


@dataclass(frozen=True)
class Change:
    """An account's score at the start of a period and now, and what moved it."""

    then: HealthScore | None
    now: HealthScore | None
    moves: list[tuple[str, float, float]]  # (reason, points then, points now), the biggest change first


def change(session: Session, account_id: int, since: date) -> Change:
    now = scores.latest_score(session, account_id)
    series = scores.score_series(session, account_id, since)
    then = scores.score_on(session, account_id, series[0][0]) if series else None
    return Change(then, now, driver_moves(then, now) if now is not None else [])


def driver_moves(then: HealthScore | None, now: HealthScore) -> list[tuple[str, float, float]]:
    """Drivers whose points changed by a point or more between two scores, the biggest change first."""
    before = {d.measure: d.points for d in then.parts.drivers} if then is not None else {}
    after = {d.measure: d.points for d in now.parts.drivers}
    reasons = {d.measure: driver_reason(d) for d in (then.parts.drivers if then is not None else [])}
    reasons |= {d.measure: driver_reason(d) for d in now.parts.drivers}
    moves = [(reasons[m], before.get(m, 0.0), after.get(m, 0.0)) for m in reasons]
    moves = [m for m in moves if round(m[2]) != round(m[1])]
    return sorted(moves, key=lambda m: (-abs(m[2] - m[1]), m[0]))[:MOVES]


def move_lines(moves: list[tuple[str, float, float]]) -> list[str]:
    if not moves:
        return [_a("changed.no_moves")]
    rows = [_a("changed.move", reason=esc(r), before=signed(b), after=signed(a)) for r, b, a in moves]
    return [_a("changed.moved"), *rows]


def change_lines(name: str, moved: Change, since: date, tiers: Tiers) -> tuple[list[str], list[Figure], dict[str, Any]]:
    """Score then vs now and the drivers that moved: the words, the figures and the facts."""
    then, now = moved.then, moved.now
    if then is None or now is None:
        return [_a("changed.no_scores", name=esc(name), since=since.isoformat())], [], {}
    line = _a(
        "changed.title",
        name=esc(name),
        since=since.isoformat(),
        then=score_text(then.score),
        then_day=then.day.isoformat(),
        now=score_text(now.score),
        now_day=now.day.isoformat(),
        change=score_change(now.score, now.score - then.score),
        tier=_a(
            "changed.tier_same" if then.tier == now.tier else "changed.tier_moved",
            tier_then=esc(tiers.label(then.tier)),
            tier_now=esc(tiers.label(now.tier)),
        ),
    )
    figures = [
        Figure(_a("figure.score_then", day=then.day.isoformat()), score_text(then.score)),
        Figure(_a("figure.score_now", day=now.day.isoformat()), score_text(now.score)),
    ]
    facts = {
        "score_then": {"day": then.day.isoformat(), "score": score_text(then.score), "tier": tiers.label(then.tier)},
        "score_now": {"day": now.day.isoformat(), "score": score_text(now.score), "tier": tiers.label(now.tier)},
        "drivers_moved": [{"reason": r, "points_then": signed(b), "points_now": signed(a)} for r, b, a in moved.moves],
    }
    return [line, *move_lines(moved.moves)], figures, facts


def changed(
    session: Session, account_id: int, since: date, label: str, scorecard: Scorecard, today: date, tz: ZoneInfo
) -> Answer | None:
    """What changed for an account since `since`: score then vs now, drivers that moved, alerts opened, tasks done."""
    account = session.get(Account, account_id)
    if account is None:
        return None
    tiers = scorecard.tiers
    lines, figures, facts = change_lines(account.name, change(session, account_id, since), since, tiers)
    start = datetime.combine(since, time(), tzinfo=tz)
    opened = [a for a in alerts.opened_between(session, start, utcnow()) if a.account_id == account_id]
    items = [_a("changed.alert_item", day=a.opened_on.isoformat(), tier=esc(tiers.label(a.severity))) for a in opened]
    lines.append(_a("changed.alerts", n=len(opened), list=_a("changed.listed", items=listing(items)) if items else ""))
    ids = {a.id or 0 for a in opened}
    current = alerts.open_alert(session, account_id)
    if current is not None:
        ids.add(current.id or 0)
    ids |= {a.id or 0 for a in alerts.resolved_since(session, [account_id], start)}
    done = [t for t in tasks.of_alerts(session, sorted(ids)) if t.status == TaskStatus.DONE and _closed_since(t, start)]
    titles = listing(esc(t.title) for t in done)
    lines.append(_a("changed.tasks_done", n=len(done), list=_a("changed.listed", items=titles) if done else ""))
    figures += [Figure(_a("figure.alerts_opened"), str(len(opened))), Figure(_a("figure.tasks_done"), str(len(done)))]
    facts = {"kind": "changed", "account": account.name, "since": since.isoformat(), "period": label, **facts}
    facts["alerts_opened"] = [{"day": a.opened_on.isoformat(), "tier": tiers.label(a.severity)} for a in opened]
    facts["tasks_done"] = [t.title for t in done]
    said, facts["overrides"] = override_changes(session, account_id, start, today, scorecard.tiers, tz)
    lines += said
    figures.append(Figure(_a("figure.overrides"), str(len(facts["overrides"]))))
    return Answer("\n".join(lines), tuple(figures), (f"/health {account.name}",), facts)


def override_changes(
    session: Session, account_id: int, start: datetime, today: date, tiers: Tiers, tz: ZoneInfo
) -> tuple[list[str], list[dict[str, Any]]]:
    """The overrides set, cleared or run out since `start` (a CSM's judgement changes the tier shown), oldest
    first: the lines and the facts."""
    events: list[tuple[datetime, str, HealthOverride]] = []
    for o in scores.overrides_touched(session, account_id, start, start.date()):
        if due_utc(o.created_at) >= start:
            events.append((due_utc(o.created_at), "set", o))
        if o.cleared_at is not None and due_utc(o.cleared_at) >= start:
            events.append((due_utc(o.cleared_at), "cleared", o))
        elif o.cleared_at is None and o.expires_on < today:  # its last day is past: the card no longer shows it
            events.append((datetime.combine(o.expires_on, time.max, tzinfo=tz), "ran_out", o))
    events.sort(key=lambda e: e[0])
    if not events:
        return [_a("changed.no_overrides")], []
    lines = [_a("changed.overrides", n=len(events))]
    facts = []
    for at, event, o in events:
        day = o.expires_on.isoformat() if event == "ran_out" else at.astimezone(tz).date().isoformat()
        if event == "set":
            lines.append(_a("changed.override_set", day=day, override=override_text(o, tiers)))
        else:
            tier, who = esc(tiers.label(o.tier)), mention(o.set_by)
            lines.append(_a(f"changed.override_{event}", day=day, tier=tier, who=who))
        facts.append({"event": event, "day": day, "tier": tiers.label(o.tier), "set_by": o.set_by})
        facts[-1] |= {"until": o.expires_on.isoformat(), "reason": o.reason}
    return lines, facts


def open_tasks(session: Session, account_id: int, tz: ZoneInfo) -> Answer | None:
    """An account's open tasks ("tasks for acme"): who has each, when it is due, which are overdue."""
    seen = read(session, account_id)
    if seen is None:
        return None
    name = esc(seen.account.name)
    listed = task_facts(seen.tasks, tz)
    late = sum(1 for t in listed if t["overdue"])
    commands = (f"/health {seen.account.name}", "/health tasks")
    figures = (Figure(_a("figure.open_tasks"), str(len(listed))), Figure(_a("figure.overdue"), str(late)))
    facts = {"kind": "account_tasks", "account": seen.account.name, "open_tasks": listed}
    if not listed:
        return Answer(_a("account_tasks.none", name=name), figures, commands, facts)
    overdue = _a("tasks.overdue", n=late) if late else ""
    lines = [_a("account_tasks.title", name=name, n=len(listed), overdue=overdue)]
    for t, seen_task in zip(listed, seen.tasks, strict=True):
        who = mention(seen_task.assignee) if seen_task.assignee else say("tasks.unassigned")
        lines.append(
            _a(
                "account_tasks.row",
                title=esc(t["title"]),
                role=esc(t["role"]),
                who=who,
                due=t["due"],
                late=_a("tasks.late") if t["overdue"] else "",
            )
        )
    lines.append(_a("account_tasks.hint"))
    return Answer("\n".join(lines), figures, commands, facts)


def _closed_since(task: Task, start: datetime) -> bool:
    if task.closed_at is None:
        return False
    return due_utc(task.closed_at) >= start
