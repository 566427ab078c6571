"""`healthbot report`: the churn review of a period written to a file."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from bot.commands.database import writable_engine
from bot.settings import Settings
from prompts import ENGLISH, say, speaking

if TYPE_CHECKING:
    from bot.churn.analysis import ChurnReview


def cmd_report(settings: Settings, args: argparse.Namespace) -> int:
    """`healthbot report --period P --format F --out DIR`: the churn review written to a file, with the expected MRR
    loss of the latest score day's customers (of the segment, with `--segment`). An unknown segment
    exits 2 and a period without data 1, each with what the database has, and write nothing."""
    from bot.churn import report
    from bot.churn.analysis import NoDataError, SegmentError, review
    from bot.churn.periods import PeriodError, parse_period
    from bot.scoring.scorecard import load_scorecard
    from bot.slack import expected_loss
    from storage.db import session_factory, unit_of_work

    today = datetime.now(settings.tz).date()
    try:
        period = parse_period(args.period, today)
    except PeriodError as exc:
        print(say("cli.say.error", error=exc), file=sys.stderr)
        print(say("cli.say.report.usage"), file=sys.stderr)
        return 2
    card = load_scorecard(settings.scorecard_path)
    engine = writable_engine(settings)
    try:
        with unit_of_work(session_factory(engine)) as session:
            checked = card if args.format == "png" else None  # the chart's reliability panel checks the chance
            result = review(session, period, segment=args.segment, today=today, tiers=card.tiers, scorecard=checked)
            expected = expected_loss.read(session, card).expected(card.tiers, result.segment)
    except SegmentError as exc:
        print(say("cli.say.error", error=exc), file=sys.stderr)
        return 2
    except NoDataError as exc:
        print(say("cli.say.report.nothing_written", error=exc), file=sys.stderr)
        return 1
    if args.format == "csv":  # a CSV's values are the same in every language: the tiers' names in English
        with speaking(ENGLISH):
            result = replace(result, tier_labels={tier: card.tiers.label(tier) for tier in card.tiers.order})
    try:
        written = report.write(replace(result, people=_names(settings, result)), args.out, args.format, expected)
    except OSError as exc:
        print(say("cli.say.report.cannot_write", folder=args.out, why=exc.strerror or exc), file=sys.stderr)
        return 2
    for path in written:
        print(say("cli.say.report.wrote", path=path))
    return 0


def _names(settings: Settings, review: ChurnReview) -> dict[str, str]:
    """The names of the CSMs among the review's traits, from Slack (users.info) when a bot token is set: the Markdown
    names them (else shows their Slack ids)."""
    if not settings.slack_bot_token:
        return {}
    from bot.churn.trait_words import CSM
    from bot.slack.client import UserNames, make_client

    names = UserNames(make_client(settings))
    found = {t.value: names(t.value) for t in review.traits if t.trait == CSM}
    return {user: name for user, name in found.items() if name}
