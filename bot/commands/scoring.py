"""The scoring commands: `healthbot score`, `backtest`, `tune` and `scorecard`."""

from __future__ import annotations

import argparse
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from bot.commands.database import writable_engine
from bot.progress import Bar
from bot.scoring.scorecard import Scorecard
from bot.settings import Settings
from prompts import say
from prompts.formats import listing, number

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from bot.scoring.run import RunSummary

UNSCORED_SHOWN = 10  # names listed when accounts get no score


def cmd_score(settings: Settings, args: argparse.Namespace) -> int:
    """With no dates this is the daily job: catch up every unscored day up to the latest metrics."""
    from bot.scoring.scorecard import load_scorecard
    from jobs.score import JOB_ID
    from storage.db import job_lock

    if args.date and (args.start or args.end):  # options that do not fit: said before a database is opened
        print(say("cli.say.score.date_or_range"), file=sys.stderr)
        return 2
    if (args.start or args.end) and not (args.start and args.end):
        print(say("cli.say.score.range_together"), file=sys.stderr)
        return 2
    scorecard = load_scorecard(settings.scorecard_path)
    engine = writable_engine(settings)
    # one scoring run at a time: a backfill beside another replica's daily run would interleave their writes
    with job_lock(engine, JOB_ID) as alone:
        if not alone:
            print(say("cli.say.score.busy"), file=sys.stderr)
            return 1
        return _score(engine, scorecard, args, datetime.now(settings.tz).date(), settings)


def _score(engine: Engine, scorecard: Scorecard, args: argparse.Namespace, today: date, settings: Settings) -> int:
    """Score the asked days (default: the daily run's), never one after `today` (the team's, in TIMEZONE).

    Exit 1 when no day was scored, or when nobody was because the scorecard reads none of the metrics
    the team reports: a run that stores no score must not look like a good one to cron or CI."""
    from bot.scoring.run import future_note, score_range
    from jobs.score import span_to_score

    if args.start and args.end:
        start, end = args.start, args.end
    elif args.date:
        start = end = args.date
    else:
        with engine.connect() as conn:
            span = span_to_score(conn, scorecard, today)
        if span is None:  # none up to today; rows dated later are named (the run stores nothing)
            note = future_note(score_range(engine, scorecard, today, today, today=today))
            if note:
                print(note)
            print(say("cli.say.score.no_metrics"), file=sys.stderr)
            return 1
        start, end = span
    if end < start:
        print(say("cli.say.score.backwards", end=end, start=start), file=sys.stderr)
        return 2
    total = (end - start).days + 1
    with Bar(total=total, desc=say("cli.progress.scoring"), unit=say("cli.progress.day"), disable=total < 3) as bar:
        summary = score_range(engine, scorecard, start, end, progress=bar.update, today=today)
    note = future_note(summary)
    if note:
        print(note)
    if summary.after_today:
        days = _days(summary.after_today[0], summary.after_today[-1])
        refused = say("metrics.future.score_refused", days=days, today=today, tz=settings.timezone)
        print(say("cli.say.error", error=refused), file=sys.stderr)
    if not (args.start or args.date) and summary.days:  # the daily run keeps the chance to churn fitted
        from bot.scoring import chance_fit, chance_words

        fitted, refitted = chance_fit.current(engine, scorecard, today)
        if refitted:
            print(say("chance.refitted", horizon=fitted.horizon, what=chance_words.fit_text(fitted)))
        else:
            age = (today - fitted.as_of).days
            print(say("chance.kept", as_of=fitted.as_of, age=age, every=chance_fit.REFIT_AFTER))
    if summary.beyond_data:
        latest = summary.latest_metrics
        why = say("cli.say.score.latest", latest=latest) if latest else say("cli.say.score.none")
        days = _days(summary.beyond_data[0], summary.beyond_data[-1])
        print(say("cli.say.score.beyond_data", days=days, why=why), file=sys.stderr)
    if not summary.days:
        return 1
    unread = _unread_metrics(engine, scorecard, summary, settings.scorecard_path)
    if unread:
        print(unread)
    elif summary.unreported_metrics:
        print(say("cli.say.score.unreported", names=listing(summary.unreported_metrics)))
    end = summary.days[-1]
    tiers = listing(
        say("cli.say.score.tier", label=scorecard.tiers.label(t), count=number(summary.tiers.get(t, 0)))
        for t in scorecard.tiers.order
    )
    days = _days(summary.days[0], end)
    print(say("cli.say.score.scored", scored=number(summary.scored), days=days, skipped=number(summary.skipped)))
    if summary.unscored and not (unread and not summary.scored):  # that line says why nobody was scored
        data = scorecard.data
        more = say("cli.say.score.more") if len(summary.unscored) > UNSCORED_SHOWN else ""
        print(
            say(
                "cli.say.score.unscored",
                day=end,
                count=number(len(summary.unscored)),
                shown=listing(summary.unscored[:UNSCORED_SHOWN]) + more,
                min_days=data.min_days_of_data,
                lookback=data.lookback_days,
                covered=data.min_weight_covered,
            )
        )
    print(say("cli.say.score.tiers", day=end, tiers=tiers))
    return 1 if unread and not summary.scored else 0


SUGGEST_HORIZON = 60  # days: the horizon the command `score` prints for `scorecard suggest` asks about


def _unread_metrics(engine: Engine, scorecard: Scorecard, summary: RunSummary, card_path: str | None) -> str | None:
    """One line when the team reports metrics the scorecard does not read while it reads some nobody reports:
    both named, and the `scorecard suggest` command line (a day far enough back that churn after it is seen,
    when the data reaches that far) that proposes a card from the team's own metrics. None otherwise."""
    from storage import scores

    if not summary.unreported_metrics:  # the card's metrics are all reported: extra ones are the team's choice
        return None
    with engine.connect() as conn:
        reported = scores.reported_metrics(conn)
        first = scores.first_metric_day(conn)
    unread = [m for m in reported if m not in scorecard.metrics]
    latest = summary.latest_metrics
    if not unread or latest is None:
        return None
    back = latest - timedelta(days=SUGGEST_HORIZON)
    as_of = back if first is not None and first <= back - timedelta(days=scorecard.data.lookback_days) else latest
    card = say("metrics.unread.your_card", path=card_path) if card_path else say("metrics.unread.default_card")
    none_read = not set(scorecard.metrics) - set(summary.unreported_metrics)
    return say(
        "metrics.unread.line",
        card=card,
        unread=", ".join(unread),
        expected=", ".join(scorecard.metrics),
        none=say("metrics.unread.none") if none_read else "",
        command=say("metrics.unread.command", as_of=as_of, horizon=SUGGEST_HORIZON),
    )


def cmd_backtest(settings: Settings, args: argparse.Namespace) -> int:
    import json

    from bot.scoring.backtest import backtest
    from bot.scoring.backtest_words import format_result
    from bot.scoring.scorecard import load_scorecard

    card = load_scorecard(settings.scorecard_path)
    engine = writable_engine(settings)
    result = backtest(engine, card, args.as_of, args.horizon, with_stability=True, with_calibration=True)
    print(json.dumps(result.to_dict()) if args.json else format_result(result))
    return 0 if result.accounts else 1  # nothing scored: nothing was tested


def cmd_tune(settings: Settings, args: argparse.Namespace) -> int:
    from bot.scoring import formats
    from bot.scoring.scorecard import DEFAULT_PATH, load_scorecard
    from bot.scoring.suggest import out_problem
    from bot.scoring.tune import tune, worse
    from bot.scoring.tune_report import lost_comments, proposal_text, report

    path = settings.scorecard_path or DEFAULT_PATH
    problem = out_problem(args.out)  # before the fit, so a bad --out costs nothing
    if problem:
        print(say("cli.say.error", error=say("suggest.error.nothing_written", problem=problem)), file=sys.stderr)
        return 2
    engine = writable_engine(settings)
    result = tune(engine, load_scorecard(path), args.as_of, args.horizon, l2=args.l2, samples=args.samples)
    print("\n".join(report(result, str(path))))
    if result.proposed is None:
        why = "tune.nothing_scored" if result.why_none is not None else "tune.nothing_fitted"
        print(say("cli.say.error", error=say(why)), file=sys.stderr)
        return 1
    if worse(result) and not args.force:  # a proposal it rates worse itself is not written unless asked
        before, after = formats.auc(result.before.auc), formats.auc(result.after.auc)
        print(
            say("cli.say.error", error=say("tune.not_written_worse", before=before, after=after, out=args.out)),
            file=sys.stderr,
        )
        return 1
    original = Path(path).read_text(encoding="utf-8")
    text = proposal_text(original, result)
    args.out.write_text(text, encoding="utf-8")
    lost = lost_comments(original, text)
    if lost:
        print(say("tune.comments_lost", count=len(lost), path=path, first=lost[0]))
    fitted = [name for name, fit in result.fits.items() if not isinstance(fit, str)]
    print(say("tune.wrote", out=args.out, cards=listing(fitted)))
    if worse(result):
        print(say("tune.wrote_forced"))
    _refit_chance(engine, args.out, settings)
    return 0


def _refit_chance(engine: Engine, card_path: Path, settings: Settings) -> None:
    """After `tune` or `scorecard suggest` wrote a card: fit the chance to churn for it and say in one line what it
    was fitted on (or why it gives no chance). Stored only when the card written is the one in use (SCORECARD_PATH):
    the stored fit is what the card, Home and digest read beside the scores of the card in use; a proposal's fit is
    made again by the first daily score run after the team adopts it."""
    from bot.scoring import chance, chance_fit, chance_words
    from bot.scoring.scorecard import load_scorecard

    today = datetime.now(settings.tz).date()
    card = load_scorecard(card_path)
    fitted = chance.fit(engine, card, today, chance.HORIZON)
    if chance.scorecard_key(card) == chance.scorecard_key(load_scorecard(settings.scorecard_path)):
        chance_fit.save(engine, fitted)
        print(say("chance.refitted", horizon=fitted.horizon, what=chance_words.fit_text(fitted)))
    else:
        print(say("chance.proposed", horizon=fitted.horizon, what=chance_words.fit_text(fitted)))


def cmd_scorecard(settings: Settings, args: argparse.Namespace) -> int:
    from bot.scoring.scorecard import DEFAULT_PATH, load_scorecard

    if args.action == "suggest":
        return _suggest(settings, args)
    if args.action == "show-default":
        print(DEFAULT_PATH.read_text(encoding="utf-8"), end="")
        return 0
    path = args.file or settings.scorecard_path or DEFAULT_PATH
    card = load_scorecard(path)
    cards = listing(
        say(
            "cli.say.scorecard.card_caps" if c.caps else "cli.say.scorecard.card",
            name=name,
            measures=len(c.measures()),
            caps=len(c.caps),
        )
        for name, c in card.cards.items()
    )
    print(say("cli.say.scorecard.valid", path=path, cards=cards, tiers=listing(card.tiers.order)))
    return 0


def _suggest(settings: Settings, args: argparse.Namespace) -> int:
    """`scorecard suggest`: checks --out before the work, writes it only when a suggestion was made."""
    from bot.scoring.suggest import SuggestError, out_problem, propose, write

    if args.as_of is None or args.horizon is None or args.file is not None:
        print(say("cli.say.error", error=say("suggest.error.usage")), file=sys.stderr)
        return 2
    problem = out_problem(args.out)
    if problem:
        print(say("cli.say.error", error=say("suggest.error.nothing_written", problem=problem)), file=sys.stderr)
        return 2
    engine = writable_engine(settings)
    try:
        result = propose(engine, args.as_of, args.horizon)
        print(result.report())
        write(result, args.out)
    except SuggestError as exc:
        print(say("cli.say.error", error=say("suggest.error.nothing_written", problem=exc)), file=sys.stderr)
        return 1
    print(say("suggest.report.wrote", path=args.out))
    _refit_chance(engine, args.out, settings)
    return 0


def _days(first: date, last: date) -> str:
    """One day ("2026-10-01"), or a span ("2026-10-01 to 2026-10-05")."""
    return say("cli.say.days.one", first=first) if first == last else say("cli.say.days.span", first=first, last=last)
