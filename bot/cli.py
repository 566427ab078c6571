"""`healthbot` command line: demo, import, score, run, db."""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import date, datetime
from pathlib import Path

from tqdm import tqdm

from bot.settings import Settings, SettingsError, load_settings


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{value}' is not a date (use YYYY-MM-DD)") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="healthbot", description="Customer health in Slack, ahead of churn.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="seed a demo portfolio into a local SQLite file, score it, show the result")
    demo.add_argument("--database-url", default="sqlite:///healthbot-demo.db", help="where to put the demo data")
    demo.add_argument("--accounts", type=int, default=300, help="number of demo accounts (default 300)")
    demo.add_argument("--days", type=int, default=180, help="days of metric history (default 180)")
    demo.add_argument("--messages", type=int, default=5, help="how many example Slack messages to print")

    imp = sub.add_parser("import", help="import accounts or metrics from CSV")
    imp.add_argument("kind", choices=["accounts", "metrics"])
    imp.add_argument("file", type=Path)

    score = sub.add_parser("score", help="compute and store health scores")
    score.add_argument("--date", type=_date, help="the day to score (default: the latest day with metrics)")
    score.add_argument("--from", dest="start", type=_date, help="first day of a backfill")
    score.add_argument("--to", dest="end", type=_date, help="last day of a backfill")

    sub.add_parser("run", help="serve Slack (Socket Mode with SLACK_APP_TOKEN, else HTTP on PORT)")

    db = sub.add_parser("db", help="database schema")
    db.add_argument("action", choices=["upgrade", "current"])
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"healthbot: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    handler = {"demo": cmd_demo, "import": cmd_import, "score": cmd_score, "run": cmd_run, "db": cmd_db}
    try:
        return handler[args.command](settings, args)
    except SettingsError as exc:
        print(f"healthbot: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _engine(settings: Settings, url: str | None = None):  # type: ignore[no-untyped-def]
    from storage.db import make_engine, upgrade

    engine = make_engine(url or settings.database_url)
    upgrade(engine)
    return engine


def cmd_db(settings: Settings, args: argparse.Namespace) -> int:
    from storage.db import current_revision, make_engine, upgrade

    engine = make_engine(settings.database_url)
    if args.action == "upgrade":
        upgrade(engine)
    print(f"database at revision {current_revision(engine) or '(empty)'}")
    return 0


def cmd_import(settings: Settings, args: argparse.Namespace) -> int:
    from bot.importer import ImportFailed, import_accounts, import_metrics

    engine = _engine(settings)
    started = datetime.now()
    try:
        fn = import_accounts if args.kind == "accounts" else import_metrics
        count = fn(engine, args.file)
    except ImportFailed as exc:
        print(f"{args.file}: not imported\n{exc.report()}", file=sys.stderr)
        return 1
    seconds = (datetime.now() - started).total_seconds()
    print(f"imported {count:,} {args.kind} rows from {args.file} in {seconds:.1f} s")
    return 0


def cmd_score(settings: Settings, args: argparse.Namespace) -> int:
    from bot.health import score_range
    from bot.scorecard import ScorecardError, load_scorecard
    from storage import queries

    try:
        scorecard = load_scorecard(settings.scorecard_path)
    except ScorecardError as exc:
        print(f"healthbot: {exc}", file=sys.stderr)
        return 2
    engine = _engine(settings)
    if args.date and (args.start or args.end):
        print("healthbot: use either --date or --from/--to", file=sys.stderr)
        return 2
    if args.start or args.end:
        if not (args.start and args.end):
            print("healthbot: --from and --to go together", file=sys.stderr)
            return 2
        start, end = args.start, args.end
    else:
        with engine.connect() as conn:
            day = args.date or queries.latest_metric_day(conn)
        if day is None:
            print("healthbot: no metrics yet; import some with `healthbot import metrics FILE.csv`", file=sys.stderr)
            return 1
        start = end = day
    if end < start:
        print(f"healthbot: --to {end} is before --from {start}", file=sys.stderr)
        return 2
    total = (end - start).days + 1
    with tqdm(total=total, desc="scoring", unit="day", disable=total < 3) as bar:
        summary = score_range(engine, scorecard, start, end, progress=bar.update)
    tiers = ", ".join(f"{scorecard.tiers.label(t)} {summary.tiers.get(t, 0)}" for t in scorecard.tiers.order)
    span = f"{start}" if start == end else f"{start} to {end}"
    print(f"scored {summary.scored:,} account-days for {span}; {summary.skipped:,} without enough data")
    print(f"tiers on {end}: {tiers}")
    return 0


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    from bot.server import serve

    settings.require_slack()
    engine = _engine(settings)
    serve(settings, engine)
    return 0


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from bot.demo import run_demo

    return run_demo(args.database_url, args.accounts, args.days, args.messages)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
