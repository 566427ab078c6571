"""'Why did we lose customers last quarter?': the churn review (bot/churn/analysis.py) in words.

Counts, categories, the avoidable share and the traits churned accounts over-index on; never an exit interview's
verbatim words (those stay with `/health churn` for exit-interview readers).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlmodel import Session

from bot.assistant.answer import Answer, Figure
from bot.assistant.portfolio import segment_of
from bot.assistant.reading import Question
from bot.churn.analysis import NoDataError, SegmentError, ranked_traits, review
from bot.churn.periods import PeriodError, parse_period
from bot.scoring.scorecard import Scorecard
from bot.slack.blocks import esc, mention, money
from prompts import formats, say
from prompts.formats import listing
from storage import exits
from storage.models import Account

NAMES_SHOWN = 5
TRAITS_SHOWN = 3


def _a(key: str, **values: Any) -> str:
    return say(f"assistant.{key}", **values)


def _pct(x: float | None) -> str:
    """A share to one decimal, as the language writes a percent ("10.0 %"; "10.0%" in Chinese)."""
    return "–" if x is None else formats.percent(x, 1)


def why_lost(session: Session, q: Question, scorecard: Scorecard, today: date) -> Answer:
    period_text = q.period or "last-quarter"
    segment = segment_of(session, q.segment_words, q.said)
    command = f"/health churn {period_text}" + (f" {segment}" if segment else "")
    try:
        period = parse_period(period_text, today)
        result = review(session, period, segment=segment, today=today, tiers=scorecard.tiers)
    except (PeriodError, SegmentError, NoDataError) as exc:
        return Answer(esc(str(exc)), (), (command,), {"kind": "churn", "period": period_text})
    head = result.headline
    where = _a("churn.segment", segment=esc(segment)) if segment else ""
    label = esc(period.label)
    facts: dict[str, Any] = {"kind": "churn", "period": period.label, "segment": segment}
    facts |= {"customers_at_start": head.accounts_at_start, "churned": head.churned, "churn_rate": _pct(head.rate)}
    facts |= {"mrr_at_start": money(head.mrr_at_start), "mrr_lost": money(head.mrr_lost)}
    facts["mrr_churn_rate"] = _pct(head.mrr_rate)
    figures = [
        Figure(_a("figure.churned"), _a("figure.churned_of", churned=head.churned, start=head.accounts_at_start)),
        Figure(_a("figure.churn_rate"), _pct(head.rate)),
        Figure(_a("figure.mrr_lost"), money(head.mrr_lost)),
        Figure(_a("figure.mrr_churn"), _pct(head.mrr_rate)),
    ]
    if not head.churned:
        text = _a("churn.nobody", label=label, segment=where, start=head.accounts_at_start)
        return Answer(text, tuple(figures), (command,), facts)
    lines = [
        _a(
            "churn.title",
            label=label,
            segment=where,
            churned=head.churned,
            start=head.accounts_at_start,
            rate=_pct(head.rate),
            mrr_lost=money(head.mrr_lost),
            mrr_start=money(head.mrr_at_start),
            mrr_rate=_pct(head.mrr_rate),
        )
    ]
    names = result.churned_accounts
    more = _a("churn.more", n=len(names) - NAMES_SHOWN) if len(names) > NAMES_SHOWN else ""
    lines.append(_a("churn.accounts", names=listing(esc(n) for n in names[:NAMES_SHOWN]), more=more))
    facts["churned_accounts"] = names
    if result.interviewed:
        share = _pct(result.avoidable / result.interviewed)
        lines.append(
            _a("churn.interviews", n=result.interviewed, churned=head.churned, avoidable=result.avoidable, share=share)
        )
        lines.append(_a("churn.reasons"))
        for r in result.reasons:
            lines.append(
                _a("churn.reason", reason=esc(r.reason), count=r.count, share=_pct(r.share), avoidable=r.avoidable)
            )
        facts |= {"interviews": result.interviewed, "avoidable": result.avoidable, "avoidable_share": share}
        facts["reasons"] = [
            {"reason": r.reason, "count": r.count, "share": _pct(r.share), "avoidable": r.avoidable}
            for r in result.reasons
        ]
        figures += [
            Figure(_a("figure.interviews"), str(result.interviewed)),
            Figure(_a("figure.avoidable"), _a("figure.avoidable_share", n=result.avoidable, share=share)),
        ]
        if result.competitors:
            named = listing(_a("churn.competitor", name=esc(c.name), count=c.count) for c in result.competitors)
            lines.append(_a("churn.competitors", names=named))
            facts["competitors"] = [{"name": c.name, "count": c.count} for c in result.competitors]
    else:
        lines.append(_a("churn.no_interviews"))
    ranked, _ = ranked_traits(result.traits)
    if ranked:
        lines.append(_a("churn.traits"))
        shown = ranked[:TRAITS_SHOWN]
        for t in shown:
            lift = f"{t.lift:.1f}" if t.lift is not None else "–"
            lines.append(
                _a(
                    "churn.trait",
                    trait=esc(t.trait.replace("_", " ")),
                    value=mention(t.value) if t.trait == "csm" else esc(t.value),  # an owner: a mention
                    churned=t.churned,
                    accounts=t.accounts,
                    rate=_pct(t.rate),
                    lift=lift,
                )
            )
        facts["traits"] = [
            {"trait": t.trait, "value": t.value, "churned": t.churned, "accounts": t.accounts, "rate": _pct(t.rate)}
            for t in shown
        ]
    if result.quotes:
        lines.append(_a("churn.readers", period=esc(period_text)))
    return Answer("\n".join(lines), tuple(figures), (command,), facts)


def why_left(session: Session, account_id: int) -> Answer:
    """ "Why did Acme leave?": when it churned, its MRR, and its exit interview's reason category and avoidable
    call (never the interview's words), or that none is recorded."""
    account = session.get(Account, account_id)
    assert account is not None
    name = esc(account.name)
    facts: dict[str, Any] = {"kind": "churned_account", "account": account.name}
    command = (f"/health {account.name}",)
    if account.churned_on is None:
        return Answer(_a("churn.not_churned", name=name), (), command, facts | {"churned": False})
    lines = [_a("churn.account", name=name, day=account.churned_on.isoformat(), mrr=money(account.mrr))]
    facts |= {"churned_on": account.churned_on.isoformat(), "mrr": money(account.mrr)}
    interview = exits.of_account(session, account_id)
    if interview is None:
        lines.append(_a("churn.account_no_interview"))
    else:
        call = _a("churn.avoidable_yes" if interview.avoidable else "churn.avoidable_no")
        lines.append(_a("churn.account_reason", reason=esc(interview.reason), avoidable=call))
        facts |= {"reason": interview.reason, "avoidable": interview.avoidable}
    figures = (Figure(_a("figure.mrr"), money(account.mrr)),)
    return Answer("\n".join(lines), figures, command, facts)
