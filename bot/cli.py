"""`healthbot` command line: demo, import, score, run, db."""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import date, datetime
from pathlib import Path

from tqdm import tqdm

from bot.scoring.scorecard import ScorecardError
from bot.settings import Settings, SettingsError, load_settings


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{value}' is not a date (use YYYY-MM-DD)") from None


def _positive(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"'{value}' is not a positive number of days")
    return int(value)


UNSCORED_SHOWN = 10  # names listed when accounts get no score


def _strength(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not number > 0 or number == float("inf"):
        raise argparse.ArgumentTypeError(f"'{value}' is not a number above 0")
    return number


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

    bt = sub.add_parser("backtest", help="does the score predict churn? score a past day, compare with who churned")
    bt.add_argument("--as-of", required=True, type=_date, help="score with data up to this day only")
    bt.add_argument("--horizon", required=True, type=_positive, help="days after --as-of to look for churn")
    bt.add_argument("--json", action="store_true", help="print one JSON object")

    tune = sub.add_parser("tune", help="fit measure weights to past churn and write a proposed scorecard")
    tune.add_argument("--as-of", required=True, type=_date)
    tune.add_argument("--horizon", required=True, type=_positive)
    tune.add_argument("--out", type=Path, default=Path("scorecard.proposed.toml"), help="where to write it")
    tune.add_argument("--l2", type=_strength, default=1.0, help="regularisation strength > 0 (default 1.0)")
    tune.add_argument("--samples", type=_positive, default=3, help="snapshots a month apart to learn from (default 3)")

    card = sub.add_parser("scorecard", help="check a scorecard file, or print the default one to start from")
    card.add_argument("action", choices=["check", "show-default"])
    card.add_argument("file", nargs="?", type=Path, help="the file to check (default: SCORECARD_PATH or the default)")

    ov = sub.add_parser("override", help="set or clear a CSM's override of an account's health")
    ov.add_argument("account", help="external id, domain or exact name")
    ov.add_argument("--tier", help="the tier the CSM judges the account to be in")
    ov.add_argument("--score", type=float, help="optional score 0-100")
    ov.add_argument("--reason", help="why (shown next to the computed score)")
    ov.add_argument("--until", type=_date, help="last day the override holds (YYYY-MM-DD)")
    ov.add_argument("--by", default=None, help="who sets it (default: $USER)")
    ov.add_argument("--clear", action="store_true", help="clear the account's override")

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
    logging.getLogger("alembic").setLevel(logging.WARNING)
    handler = {
        "demo": cmd_demo, "import": cmd_import, "score": cmd_score, "run": cmd_run, "db": cmd_db,
        "backtest": cmd_backtest, "tune": cmd_tune, "scorecard": cmd_scorecard, "override": cmd_override,
    }  # fmt: skip
    try:
        return handler[args.command](settings, args)
    except (SettingsError, ScorecardError) as exc:
        print(f"healthbot: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _engine(settings: Settings, url: str | None = None):  # type: ignore[no-untyped-def]
    from storage.db import upgrade

    engine = _open(url or settings.database_url)
    upgrade(engine)
    return engine


def _open(url: str):  # type: ignore[no-untyped-def]
    """An engine on a database that answers; else one line saying which and why."""
    from sqlalchemy.exc import DBAPIError

    from storage.db import make_engine

    engine = make_engine(url)
    try:
        with engine.connect():
            pass
    except DBAPIError as exc:
        reason = str(exc.orig or exc).strip().splitlines()[0]
        where = engine.url.render_as_string(hide_password=True)
        raise SettingsError(
            f"DATABASE_URL: cannot open the database {where} ({reason}); check the URL and that the database is up"
        ) from None
    return engine


def cmd_db(settings: Settings, args: argparse.Namespace) -> int:
    from storage.db import current_revision, upgrade

    engine = _open(settings.database_url)
    if args.action == "upgrade":
        upgrade(engine)
    print(f"database at revision {current_revision(engine) or '(empty)'}")
    return 0


def cmd_import(settings: Settings, args: argparse.Namespace) -> int:
    from bot.scoring.importer import ImportFailed, import_accounts, import_metrics

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
    """With no dates this is the daily job: catch up every unscored day up to the latest metrics."""
    from bot.scoring.run import score_range
    from bot.scoring.scorecard import load_scorecard
    from jobs.score import days_to_score
    from storage import queries

    scorecard = load_scorecard(settings.scorecard_path)
    engine = _engine(settings)
    if args.date and (args.start or args.end):
        print("healthbot: use either --date or --from/--to", file=sys.stderr)
        return 2
    if args.start or args.end:
        if not (args.start and args.end):
            print("healthbot: --from and --to go together", file=sys.stderr)
            return 2
        start, end = args.start, args.end
    elif args.date:
        start = end = args.date
    else:
        with engine.connect() as conn:
            span = days_to_score(queries.latest_metric_day(conn), queries.latest_score_day(conn))
        if span is None:
            print("healthbot: no metrics yet; import some with `healthbot import metrics FILE.csv`", file=sys.stderr)
            return 1
        start, end = span
    if end < start:
        print(f"healthbot: --to {end} is before --from {start}", file=sys.stderr)
        return 2
    total = (end - start).days + 1
    with tqdm(total=total, desc="scoring", unit="day", disable=total < 3) as bar:
        summary = score_range(engine, scorecard, start, end, progress=bar.update)
    if summary.beyond_data:
        first, last = summary.beyond_data[0], summary.beyond_data[-1]
        skipped = f"{first}" if first == last else f"{first} to {last}"
        latest = summary.latest_metrics
        why = f"the latest metrics are for {latest}" if latest else "there are no metrics yet"
        print(
            f"healthbot: not scored {skipped}: {why}; "
            "import the metrics of those days first (missing days would read as no activity)",
            file=sys.stderr,
        )
        if not summary.days:
            return 1
    if summary.unreported_metrics:
        names = ", ".join(summary.unreported_metrics)
        print(f"note: the scorecard reads metrics no account has reported: {names}; their measures were left out")
    start, end = summary.days[0], summary.days[-1]
    tiers = ", ".join(f"{scorecard.tiers.label(t)} {summary.tiers.get(t, 0)}" for t in scorecard.tiers.order)
    span = f"{start}" if start == end else f"{start} to {end}"
    print(f"scored {summary.scored:,} account-days for {span}; {summary.skipped:,} without enough data")
    if summary.unscored:
        data = scorecard.data
        more = ", ..." if len(summary.unscored) > UNSCORED_SHOWN else ""
        shown = ", ".join(summary.unscored[:UNSCORED_SHOWN]) + more
        print(
            f"no score on {end} for {len(summary.unscored):,} active accounts: {shown} (a score needs "
            f"{data.min_days_of_data} days of metrics in the last {data.lookback_days}, covering "
            f"{data.min_weight_covered:.0%} of the scorecard's weight)"
        )
    print(f"tiers on {end}: {tiers}")
    return 0


def cmd_backtest(settings: Settings, args: argparse.Namespace) -> int:
    import json

    from bot.scoring.backtest import backtest, format_result
    from bot.scoring.scorecard import load_scorecard

    result = backtest(_engine(settings), load_scorecard(settings.scorecard_path), args.as_of, args.horizon)
    print(json.dumps(result.to_dict()) if args.json else format_result(result))
    return 0 if result.accounts else 1  # nothing scored: nothing was tested


def cmd_tune(settings: Settings, args: argparse.Namespace) -> int:
    from bot.scoring.backtest import format_result
    from bot.scoring.scorecard import load_scorecard
    from bot.scoring.tune import to_toml, tune

    result = tune(
        _engine(settings),
        load_scorecard(settings.scorecard_path),
        args.as_of,
        args.horizon,
        l2=args.l2,
        samples=args.samples,
    )
    for card, why in result.skipped_cards.items():
        print(f"card {card}: kept its weights ({why})")
    if not result.fitted_cards:
        print("healthbot: too little data or churn up to --as-of to fit weights; nothing written", file=sys.stderr)
        return 1
    args.out.write_text(to_toml(result.proposed), encoding="utf-8")
    print("Both scorecards backtested on the half of the accounts the fit did not see:")
    print(format_result(result.current_test, "Current scorecard"))
    print(format_result(result.proposed_test, "Proposed scorecard"))
    print(f"wrote {args.out}: fitted cards {', '.join(result.fitted_cards)}; review it, then set SCORECARD_PATH")
    return 0


def cmd_scorecard(settings: Settings, args: argparse.Namespace) -> int:
    from bot.scoring.scorecard import DEFAULT_PATH, load_scorecard

    if args.action == "show-default":
        print(DEFAULT_PATH.read_text(encoding="utf-8"), end="")
        return 0
    path = args.file or settings.scorecard_path or DEFAULT_PATH
    card = load_scorecard(path)
    cards = ", ".join(f"{name} ({len(c.measures())} measures)" for name, c in card.cards.items())
    print(f"{path}: valid; cards {cards}; tiers {', '.join(card.tiers.order)}")
    return 0


def cmd_override(settings: Settings, args: argparse.Namespace) -> int:
    import getpass

    from bot.health.lookup import AccountNames, find_customer
    from bot.scoring.scorecard import load_scorecard
    from storage import queries
    from storage.db import session_factory, unit_of_work

    scorecard = load_scorecard(settings.scorecard_path)
    engine = _engine(settings)
    with unit_of_work(session_factory(engine)) as session:
        lookup = find_customer(session, args.account, AccountNames())
        account = lookup.found
        if account is None or account.id is None:
            names = ", ".join(a.name for a in lookup.matches or lookup.closest)
            hint = f" (did you mean: {names})" if names else ""
            print(f"healthbot: '{args.account}' matches no single customer{hint}", file=sys.stderr)
            return 1
        if args.clear:
            n = queries.clear_override(session, account.id)
            print(f"{account.name}: {'override cleared' if n else 'had no override'}")
            return 0
        problems = []
        spelled = {k.casefold(): t for t in scorecard.tiers.order for k in (t, scorecard.tiers.label(t))}
        args.tier = spelled.get((args.tier or "").strip().casefold(), args.tier)  # "Low risk" is low_risk
        if args.tier not in scorecard.tiers.order:
            problems.append(f"--tier must be one of {', '.join(scorecard.tiers.order)}")
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
        queries.set_override(
            session, account.id, tier=args.tier, score=args.score, reason=args.reason.strip(),
            set_by=args.by or getpass.getuser(), expires_on=args.until,
        )  # fmt: skip
        print(f"{account.name}: overridden to {scorecard.tiers.label(args.tier)} until {args.until}")
    return 0


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import serve

    settings.require_slack()
    engine = _engine(settings)
    serve(settings, engine)
    return 0


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from bot.demo.run import run_demo

    return run_demo(args.database_url, args.accounts, args.days, args.messages)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
