"""`healthbot override`: set or clear a CSM's override of an account's health, on the account named exactly."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from typing import TYPE_CHECKING

from bot.commands.database import writable_engine
from bot.settings import Settings

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
            print(f"healthbot: {problem}", file=sys.stderr)
            return 1
        if args.clear:
            n = scores.clear_override(session, account.id)
            print(f"{account.name}: {'override cleared' if n else 'had no override'}")
            return 0
        if account.status == AccountStatus.CHURNED or account.churned_on is not None:
            when = f" on {account.churned_on}" if account.churned_on else ""
            print(
                f"healthbot: {account.name} churned{when}: it is no longer scored, so there is nothing to override; "
                "nothing written",
                file=sys.stderr,
            )
            return 1
        problems = []
        try:  # the spellings /health top takes: "high_risk", "High risk", "high", "red"
            args.tier = resolve_tier(args.tier or "", scorecard.tiers)
        except UsageError:
            labels = ", ".join(f"'{scorecard.tiers.label(t)}'" for t in scorecard.tiers.order)
            given = f"'{args.tier}' is not one; " if args.tier else ""
            problems.append(
                f"--tier must be one of {', '.join(scorecard.tiers.order)} ({given}a label such as {labels}, "
                "a colour or a unique start such as 'high' works too)"
            )
        if not args.reason or not args.reason.strip():
            problems.append("--reason is required: say why, it is shown next to the computed score")
        today = datetime.now(settings.tz).date()
        if args.until is None or args.until < today:
            problems.append(f"--until must be a date from today ({today}) on")
        if args.score is not None and not 0 <= args.score <= 100:
            problems.append("--score must be between 0 and 100")
        if problems:
            print("\n".join(f"healthbot: {p}" for p in problems), file=sys.stderr)
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
        print(f"{account.name}: overridden to {scorecard.tiers.label(args.tier)} until {args.until}")
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
    names = ", ".join(f"{a.name} ({a.external_id})" for a in exact or candidates)
    if len(exact) > 1:
        return None, f"'{query}' names {len(exact)} customers: {names}; give the external id; nothing written"
    if names:
        return None, f"no customer is exactly '{query}' (did you mean: {names}?); nothing written"
    return None, f"no customer is '{query}'; nothing written"
