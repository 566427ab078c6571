"""Getting data in: `healthbot import`, `healthbot sync` and `healthbot demo`."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime

from bot.commands.database import writable_engine
from bot.settings import Settings
from prompts import say
from prompts.formats import listing, number


def cmd_import(settings: Settings, args: argparse.Namespace) -> int:
    from bot.scoring.csvfile import ImportFailed, printable
    from bot.scoring.importer import import_accounts, import_metrics

    engine = writable_engine(settings)
    started = datetime.now()
    path = printable(str(args.file))
    try:
        if args.kind == "accounts":
            count = import_accounts(engine, args.file)
        else:
            count = import_metrics(engine, args.file, tz=settings.tz)
    except ImportFailed as exc:
        print(say("cli.say.import.not_imported", path=path) + "\n" + exc.report(), file=sys.stderr)
        return 1
    seconds = (datetime.now() - started).total_seconds()
    print(say(f"cli.say.import.{args.kind}", count=number(count), path=path, seconds=number(seconds, 1)))
    return 0


def cmd_sync(settings: Settings, args: argparse.Namespace) -> int:
    """`healthbot sync [SOURCE]`: pull the sources, print a summary per source."""
    from bot.connectors.sources import SourcesError, load_sources
    from bot.connectors.sync import describe, sync_sources

    path = args.sources or settings.sources_path
    if not path:
        print(say("cli.say.sync.no_sources"), file=sys.stderr)
        return 2
    try:
        sources = load_sources(path)
    except SourcesError as exc:
        print(say("cli.say.error", error=exc), file=sys.stderr)
        return 2
    names = [s.name for s in sources]
    if args.source and args.source not in names:
        print(say("cli.say.sync.no_source", source=repr(args.source), path=path, names=listing(names)), file=sys.stderr)
        return 2
    engine = writable_engine(settings)
    summaries = sync_sources(
        engine, sources, [args.source] if args.source else None, tz=settings.tz, full=args.full, quiet=args.quiet
    )
    for summary in summaries:
        print("\n".join(describe(summary)), file=sys.stderr if summary.failed else sys.stdout)
    return 1 if any(s.failed for s in summaries) else 0


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from bot.demo.run import run_demo

    end = datetime.now(settings.tz).date()  # the team's today: what `score` and the alert job call today
    return run_demo(
        args.database_url, args.accounts, args.days, args.messages, end=end, force=args.force, tz=settings.tz
    )
