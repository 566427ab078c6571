"""`healthbot override`: set or clear a CSM's override of an account's health, on the account named exactly."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from typing import TYPE_CHECKING

from bot.commands.database import writable_engine
from bot.settings import Settings
from prompts import say
from prompts.formats import listing

if TYPE_CHECKING:
    from sqlmodel import Session

    from storage.models import Account


def cmd_override(settings: Settings, args: argparse.Namespace) -> int:
    import getpass

    from bot.health.command import UsageError, resolve_tier
    from bot.scoring.scorecard import load_scorecard
    from storage import scores
    from storage.db import session_factory, unit_of_work
    from storage.types import AccountStatus

    scorecard = load_scorecard(settings.scorecard_path)
    engine = writable_engine(settings)
    with unit_of_work(session_factory(engine)) as session:
        account, problem = _exact_account(session, args.account)
        if account is None or account.id is None:
            print(say("cli.say.error", error=problem), file=sys.stderr)
            return 1
        if args.clear:
            n = scores.clear_override(session, account.id)
            print(say("cli.say.override.cleared" if n else "cli.say.override.none", name=account.name))
            return 0
        if account.status == AccountStatus.CHURNED or account.churned_on is not None:
            key = "cli.say.override.churned_on" if account.churned_on else "cli.say.override.churned"
            print(say(key, name=account.name, day=account.churned_on), file=sys.stderr)
            return 1
        problems = []
        try:  # the spellings /health top takes: "high_risk", "High risk", "high", "red"
            args.tier = resolve_tier(args.tier or "", scorecard.tiers)
        except UsageError:
            choices = say("cli.say.override.choices").join
            labels = choices(f"'{scorecard.tiers.label(t)}'" for t in scorecard.tiers.order)
            given = say("cli.say.override.not_one", tier=args.tier) if args.tier else ""
            problems.append(
                say("cli.say.override.tier", tiers=choices(scorecard.tiers.order), given=given, labels=labels)
            )
        if not args.reason or not args.reason.strip():
            problems.append(say("cli.say.override.reason"))
        today = datetime.now(settings.tz).date()
        if args.until is None or args.until < today:
            problems.append(say("cli.say.override.until", today=today))
        if args.score is not None and not 0 <= args.score <= 100:
            problems.append(say("cli.say.override.score"))
        if problems:
            print("\n".join(say("cli.say.error", error=p) for p in problems), file=sys.stderr)
            return 2
        scores.set_override(
            session,
            account.id,
            tier=args.tier,
            score=args.score,
            reason=args.reason.strip(),
            set_by=args.by or getpass.getuser(),
            expires_on=args.until,
        )
        print(say("cli.say.override.done", name=account.name, label=scorecard.tiers.label(args.tier), until=args.until))
    return 0


def _exact_account(session: Session, query: str) -> tuple[Account | None, str]:
    """The one account `query` names exactly: its external id, domain or name in any case.

    A write must not land on a guess: a prefix or a typo (the /health lookup's fuzzy match) only
    yields the candidates to name, and so does a name several accounts share.
    """
    from bot.health.lookup import AccountNames, find_customer

    lookup = find_customer(session, query, AccountNames())
    raw, folded = query.strip(), query.strip().casefold()
    candidates = lookup.matches or lookup.closest
    by_id = [a for a in candidates if a.external_id == raw]
    exact = by_id or [a for a in candidates if folded in ((a.domain or "").casefold(), a.name.casefold())]
    if len(exact) == 1:
        return exact[0], ""
    names = listing(
        say("cli.say.override.candidate", name=a.name, external_id=a.external_id) for a in exact or candidates
    )
    if len(exact) > 1:
        return None, say("cli.say.override.several", query=query, count=len(exact), names=names)
    if names:
        return None, say("cli.say.override.near", query=query, names=names)
    return None, say("cli.say.override.nobody", query=query)
