"""Many accounts in words: who is at risk, the renewals coming up, my accounts, my tasks.

The rows are `/health top` / `/health me`'s (storage.scores.account_rows); a segment is matched against the
segments accounts carry (case and typos forgiven).
"""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import ZoneInfo

from rapidfuzz import fuzz, process
from sqlmodel import Session

from bot.assistant.account import due_utc
from bot.assistant.answer import Answer, Figure
from bot.assistant.reading import Question
from bot.health.command import TOP_MAX
from bot.health.service import my_task_rows
from bot.scoring import chance_fit
from bot.scoring.explain import at_risk_tiers, score_text
from bot.scoring.scorecard import Scorecard, Tiers
from bot.slack.blocks import esc, money, when
from bot.slack.chance import Chances
from prompts import say
from prompts.formats import listing
from storage import churn as churn_store
from storage import scores
from storage.scores import AccountRow
from storage.types import utcnow

TOP_DEFAULT = 10
ROWS_MAX = 5000  # rows read to filter by segment or renewal date
MINE_SHOWN = 5
RENEWALS_SHOWN = 30
SEGMENT_CUTOFF = 80


def _a(key: str, **values: Any) -> str:
    return say(f"assistant.{key}", **values)


def no_scores() -> Answer:
    return Answer(_a("no_scores.text"), facts={"kind": "no_scores"})


def segment_of(session: Session, words: str, said: str = "") -> str | None:
    """The segment `words` names ("enterprise", "Enterprize"), as accounts spell it, else one named anywhere in
    `said` as a whole word ("enterprise accounts at risk"); None: none named or known."""
    known = churn_store.segments(session.connection())
    if not words:
        return next((s for s in known if re.search(rf"\b{re.escape(s.lower())}\b", said)), None)
    best = process.extractOne(words.lower(), {s: s.lower() for s in known}, scorer=fuzz.WRatio)
    return best[2] if best and best[1] >= SEGMENT_CUTOFF else None


def _row_fact(row: AccountRow, tier: str, chance: str | None) -> dict[str, Any]:
    out = {"name": row.name, "score": score_text(row.score) if row.score is not None else None, "tier": tier}
    out |= {"mrr": money(row.mrr), "renewal": row.renewal_date.isoformat() if row.renewal_date else None}
    return out | ({"chance_to_churn": chance} if chance else {})


def unknown_segment(session: Session, words: str) -> Answer:
    """ "in strategic" naming no segment: say so, and the segments there are (rather than answer for everyone)."""
    known = churn_store.segments(session.connection())
    text = _a("at_risk.no_segment", segment=esc(words), segments=listing(f"*{esc(s)}*" for s in known) or "–")
    return Answer(text, (), ("/health help",), {"kind": "no_segment", "segment": words, "segments": known})


def at_risk(session: Session, q: Question, user_id: str, scorecard: Scorecard) -> Answer:
    """The at-risk accounts (the two riskiest tiers, or the tier named), riskiest first, in a segment if named;
    "by mrr": every scored account (of the tier named) by expected MRR loss, as `/health top by-mrr`."""
    day = scores.latest_score_day(session.connection())
    if day is None:
        return no_scores()
    tiers = scorecard.tiers
    segment = segment_of(session, q.segment_words, q.said)
    if q.segment_words and segment is None:
        return unknown_segment(session, q.segment_words)
    chances = Chances.read(session, scorecard)
    if q.by_mrr and not chances.enough:
        return Answer(say("health.list.loss_none", why=chances.missing()), (), ("/health top",), {"kind": "at_risk"})
    wanted = [q.tier] if q.tier else ([None] if q.by_mrr else at_risk_tiers(tiers))
    owner = user_id if q.mine else None
    rows = [r for t in wanted for r in scores.account_rows(session, day, tier=t, owner=owner, limit=ROWS_MAX)]
    if segment is not None:
        rows = [r for r in rows if (r.segment or "").lower() == segment.lower()]
    loss: dict[int, float] = {}
    if q.by_mrr:
        ranked = chance_fit.book(session, chances.fit, day).ranked(q.tier)
        loss = dict(zip(ranked["account_id"].astype(int), ranked["expected_loss"].astype(float), strict=True))
        order = {int(a): i for i, a in enumerate(ranked["account_id"])}
        rows = sorted((r for r in rows if r.id in order), key=lambda r: order[r.id])
    else:
        rows.sort(key=lambda r: (r.score if r.score is not None else 0.0, r.name.lower(), r.id))
    limit = q.limit or TOP_DEFAULT
    shown = rows[:limit]
    where = (_a("at_risk.where_mine") if q.mine else "") + (
        _a("at_risk.where_segment", segment=esc(segment)) if segment else ""
    )
    if q.tier:
        where += _a("at_risk.where_tier", tier=esc(tiers.label(q.tier)))
    facts: dict[str, Any] = {"kind": "at_risk", "day": day.isoformat(), "segment": segment, "accounts": len(rows)}
    commands = (_top_command(q, limit), "/health top by-mrr") if not q.by_mrr else (_top_command(q, limit),)
    if not rows:
        return Answer(_a("at_risk.none", where=where, day=day.isoformat()), (), commands, facts)
    if q.by_mrr:
        lines = [_a("at_risk.by_mrr_title", n=len(shown), where=where, day=day.isoformat())]
    else:
        lines = [_a("at_risk.title", n=len(rows), where=where, day=day.isoformat())]
    listed = []
    for i, r in enumerate(shown, 1):
        value = chances.short(r.card, r.score, r.segment)
        chance = None if value == "–" else value
        label = tiers.label(r.tier) if r.tier else "–"
        values = {"i": i, "name": esc(r.name), "score": score_text(r.score or 0.0), "tier": esc(label)}
        values |= {"mrr": money(r.mrr), "chance": _a("at_risk.chance", chance=chance) if chance else ""}
        if q.by_mrr:
            lines.append(_a("at_risk.by_mrr_row", loss=money(loss.get(r.id, 0.0)), **values))
        else:
            renewal = r.renewal_date.isoformat() if r.renewal_date else "–"
            lines.append(_a("at_risk.row", renewal=renewal, **values))
        listed.append(_row_fact(r, label, chance) | ({"expected_loss": money(loss[r.id])} if q.by_mrr else {}))
    if len(rows) > len(shown):
        lines.append(_more(q, len(rows) - len(shown), len(rows), segment, tiers))
    mrr = money(sum(r.mrr or 0.0 for r in shown))  # the figures are of the accounts shown
    figures = [Figure(_a("figure.at_risk"), str(len(shown))), Figure(_a("figure.at_risk_mrr"), mrr)]
    if q.by_mrr:
        figures.append(Figure(_a("figure.expected_loss"), money(sum(loss.get(r.id, 0.0) for r in shown))))
    figures.append(Figure(_a("figure.scored_on"), day.isoformat()))
    facts |= {"mrr": mrr, "listed": listed}
    return Answer("\n".join(lines), tuple(figures), commands, facts)


def _top_command(q: Question, limit: int) -> str:
    """The `/health top` that lists these accounts (it filters by tier, not by segment or owner)."""
    return " ".join(["/health top", *(["by-mrr"] if q.by_mrr else []), str(limit), *([q.tier] if q.tier else [])])


def _more(q: Question, n: int, total: int, segment: str | None, tiers: Tiers) -> str:
    """ "…and N more", pointing to what lists them: `/health top N [tier]` (it shows at most TOP_MAX: then it says
    the first TOP_MAX of them), or for a segment or "mine" (which it cannot filter by) the question asked again
    with a bigger number."""
    limit = min(total, TOP_MAX)
    if not segment and not q.mine:
        key = "at_risk.more" if limit == total else "at_risk.more_first"
        return _a(key, n=n, command=_top_command(q, limit), limit=limit, total=total)
    what = tiers.label(q.tier).lower() if q.tier else _a("at_risk.ask_at_risk")
    question = _a(
        "at_risk.ask",
        mine=_a("at_risk.ask_mine") if q.mine else "",
        limit=limit,
        what=what,
        segment=_a("at_risk.ask_segment", segment=esc(segment)) if segment else "",
        by=_a("at_risk.ask_by_mrr") if q.by_mrr else "",
    )
    return _a("at_risk.more_ask", n=n, question=question)


def renewals(session: Session, q: Question, user_id: str, scorecard: Scorecard) -> Answer:
    """Accounts (the asker's, when "my") renewing in the period; "not healthy": not in the healthiest tier."""
    assert q.span is not None
    day = scores.latest_score_day(session.connection())
    tiers = scorecard.tiers
    healthy = tiers.order[0]
    owner = user_id if q.mine else None
    rows = scores.account_rows(session, day, owner=owner, with_unscored=True, limit=ROWS_MAX) if day is not None else []
    start, end = q.span.start, q.span.end
    rows = [r for r in rows if r.renewal_date is not None and start <= r.renewal_date <= end]
    if q.not_healthy:
        rows = [r for r in rows if r.tier != healthy]
    rows.sort(key=lambda r: (r.renewal_date or end, r.name.lower(), r.id))
    whose = _a("renewals.whose_mine" if q.mine else "renewals.whose_all")
    filtered = _a("renewals.not_healthy", healthy=esc(tiers.label(healthy))) if q.not_healthy else ""
    period = {"start": start.isoformat(), "end": end.isoformat(), "whose": whose, "filter": filtered}
    facts: dict[str, Any] = {"kind": "renewals", "start": start.isoformat(), "end": end.isoformat()}
    facts |= {"period": q.span.label, "mine": q.mine, "not_healthy": q.not_healthy}
    commands = ("/health me",) if q.mine else ("/health top",)
    if not rows:
        return Answer(_a("renewals.none", **period), (), commands, facts | {"accounts": 0})
    lines = [_a("renewals.title", n=len(rows), **period)]
    listed = []
    for r in rows[:RENEWALS_SHOWN]:
        label = tiers.label(r.tier) if r.tier else _a("renewals.unscored")
        shown = f"{score_text(r.score)} {label}" if r.score is not None else label
        renewal = r.renewal_date.isoformat() if r.renewal_date else "–"
        lines.append(_a("renewals.row", name=esc(r.name), renewal=renewal, score=esc(shown), mrr=money(r.mrr)))
        listed.append(_row_fact(r, label, None))
    rest = rows[RENEWALS_SHOWN:]
    if rest:  # no command lists renewals by date: a shorter period does
        first, last = (r.renewal_date.isoformat() if r.renewal_date else "–" for r in (rest[0], rest[-1]))
        lines.append(_a("renewals.more", n=len(rest), first=first, last=last))
    mrr = money(sum(r.mrr or 0.0 for r in rows))
    figures = (Figure(_a("figure.renewing"), str(len(rows))), Figure(_a("figure.renewing_mrr"), mrr))
    facts |= {"accounts": len(rows), "mrr": mrr, "listed": listed}
    return Answer("\n".join(lines), figures, commands, facts)


def mine(session: Session, user_id: str, scorecard: Scorecard) -> Answer:
    """`/health me` in words: my accounts per tier and the riskiest few."""
    day = scores.latest_score_day(session.connection())
    if day is None:
        return no_scores()
    tiers = scorecard.tiers
    totals = scores.tier_summary(session, day, owner=user_id, with_unscored=True)
    if not totals:
        return Answer(_a("mine.none"), (), ("/health me",), {"kind": "mine", "accounts": 0})
    counts = [_a("mine.count", n=totals[t].accounts, tier=esc(tiers.label(t))) for t in tiers.order if t in totals]
    if None in totals:
        counts.append(_a("mine.unscored", n=totals[None].accounts))
    n = sum(t.accounts for t in totals.values())
    rows = scores.account_rows(session, day, owner=user_id, limit=MINE_SHOWN)
    lines = [_a("mine.title", n=n, day=day.isoformat(), counts=listing(counts))]
    if rows:
        lines.append(_a("mine.riskiest"))
        lines += [
            _a("mine.row", name=esc(r.name), score=score_text(r.score or 0.0), tier=esc(tiers.label(r.tier or "")))
            for r in rows
        ]
    per_tier = {tiers.label(t) if t else "no score": v.accounts for t, v in totals.items()}
    facts = {"kind": "mine", "day": day.isoformat(), "accounts": n, "per_tier": per_tier}
    facts["riskiest"] = [_row_fact(r, tiers.label(r.tier or ""), None) for r in rows]
    return Answer("\n".join(lines), (Figure(_a("figure.my_accounts"), str(n)),), ("/health me",), facts)


def my_tasks(session: Session, user_id: str, tz: ZoneInfo) -> Answer:
    """`/health tasks` in words: my open tasks, the earliest due first."""
    rows = my_task_rows(session, user_id)
    if not rows:
        return Answer(_a("tasks.none"), (Figure(_a("figure.my_tasks"), "0"),), ("/health tasks",), {"kind": "tasks"})
    now = utcnow()
    late = [r for r in rows if due_utc(r.task.due_at) < now]
    lines = [_a("tasks.title", n=len(rows), overdue=_a("tasks.overdue", n=len(late)) if late else "")]
    listed = []
    for r in rows:
        name = esc(r.account) if r.account else _a("tasks.no_account")
        overdue = due_utc(r.task.due_at) < now
        due = when(r.task.due_at, tz)
        lines.append(
            _a("tasks.row", title=esc(r.task.title), name=name, due=due, late=_a("tasks.late") if overdue else "")
        )
        listed.append({"title": r.task.title, "account": r.account, "due": due, "overdue": overdue})
    figures = (Figure(_a("figure.my_tasks"), str(len(rows))), Figure(_a("figure.overdue"), str(len(late))))
    return Answer("\n".join(lines), figures, ("/health tasks",), {"kind": "tasks", "tasks": listed})
