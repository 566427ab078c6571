"""`healthbot` command line: demo, import, score, run, db."""

from __future__ import annotations

import argparse
import importlib.metadata
import logging
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from bot.alerts.rules import RulesError
from bot.dates import parse_day
from bot.retention.playbooks import PlaybookError
from bot.scoring.scorecard import Scorecard, ScorecardError
from bot.settings import Settings, SettingsError, load_settings
from jobs.table import JOBS, jobs_help

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlmodel import Session

    from bot.scoring.run import RunSummary
    from storage.models import Account


def _date(value: str) -> date:
    try:
        return parse_day(value)
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


DATABASE = """\
Database: DATABASE_URL, from the environment or .env in the current folder; default sqlite:///healthbot.db."""

IMPORT_HELP = """\
Import accounts or daily metrics from a CSV file: UTF-8, comma-separated, the header on line 1.

The file is checked whole before anything is written: a file with any bad row imports nothing,
and the errors say which lines are wrong and why. Importing again updates what is there:
accounts by external_id, metrics by external_id, date and metric."""

IMPORT_COLUMNS = """\
accounts file:
  required  external_id, name
  optional  domain, owner_slack_id, segment, plan, industry, employees, region, lifecycle_stage,
            acquisition_channel, mrr, contract_start, renewal_date, status, churned_on, as_of
            (dates YYYY-MM-DD; status active, churned or paused, churned when churned_on is set;
            employees a whole number, mrr a number with a dot for decimals; as_of the day the
            row's values were true, today when absent: older rows add history, not newer values)

metrics file, one row per account, day and metric:
  required  external_id, date, metric, value
  optional  none
            (external_id of an imported account; date YYYY-MM-DD, not after today in TIMEZONE (tomorrow
            is let through for clock skew); metric a name such as logins;
            value a number: champion_left 0 or 1, nps 0-10, ticket_csat 1-5, counts 0 or more)

"""


def _command(
    sub: argparse._SubParsersAction, name: str, short: str, description: str, epilog: str = DATABASE
) -> argparse.ArgumentParser:
    """A subcommand whose --help says what it does (`description`) and, in `epilog`, which database it uses."""
    return sub.add_parser(
        name, help=short, description=description, epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter
    )


def _version() -> str:
    try:
        return importlib.metadata.version("healthbot")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "(not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="healthbot",
        description="Customer health in Slack, ahead of churn.",
        epilog=f"`healthbot COMMAND --help` says what a command does.\n{DATABASE}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"healthbot {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = _command(
        sub,
        "demo",
        "seed a demo portfolio into a local SQLite file, score it, show the result",
        "Generate a demo portfolio (accounts and daily metrics), import it, score it and print the tiers\n"
        "and a few example Slack messages. The CSV files are kept in ./demo-data to look at.",
        "Database: its own SQLite file (--database-url, default sqlite:///healthbot-demo.db), replaced on each\n"
        "run (one holding more than demo data only with --force); DATABASE_URL is not used.",
    )
    demo.add_argument("--database-url", default="sqlite:///healthbot-demo.db", help="where to put the demo data")
    demo.add_argument("--accounts", type=int, default=300, help="number of demo accounts (default 300)")
    demo.add_argument("--days", type=int, default=180, help="days of metric history (default 180)")
    demo.add_argument("--messages", type=int, default=5, help="how many example Slack messages to print")
    demo.add_argument("--force", action="store_true", help="replace a database that holds more than demo data")

    imp = _command(sub, "import", "import accounts or metrics from CSV", IMPORT_HELP, IMPORT_COLUMNS + DATABASE)
    imp.add_argument("kind", choices=["accounts", "metrics"], help="which file it is (the columns are below)")
    imp.add_argument("file", type=Path, help="the CSV file")

    score = _command(
        sub,
        "score",
        "compute and store health scores",
        "Compute and store health scores.\n\n"
        "Without dates: every day not scored yet, up to the latest day with metrics (at most 30 days back).\n"
        "The first run, on an empty score history, scores the last 90 days, so cards show trends at once.\n"
        "--date scores one day, --from/--to a range. No day after today (in TIMEZONE) is scored, and metric\n"
        "rows dated after it are not read: the run names them once, with how to delete them. One scoring\n"
        "run at a time: while the daily run of `healthbot run` (or another `healthbot score`) is scoring,\n"
        "this says so and stops.",
    )
    score.add_argument("--date", type=_date, help="the day to score (default: the latest day with metrics)")
    score.add_argument("--from", dest="start", type=_date, help="first day of a backfill")
    score.add_argument("--to", dest="end", type=_date, help="last day of a backfill")

    bt = _command(
        sub,
        "backtest",
        "does the score predict churn? score a past day, compare with who churned",
        "Does the score predict churn? Score every account as of a past day, with the data up to that day\n"
        "only, then compare the tiers with who churned within the horizon (ROC AUC, churn per tier), and report\n"
        "tier stability: the share of accounts changing tier day to day, by weekday, over the 28 days up to it.\n"
        "Reads the database; writes nothing.",
    )
    bt.add_argument("--as-of", required=True, type=_date, help="score with data up to this day only")
    bt.add_argument("--horizon", required=True, type=_positive, help="days after --as-of to look for churn")
    bt.add_argument("--json", action="store_true", help="print one JSON object")

    tune = _command(
        sub,
        "tune",
        "fit measure weights to past churn and write a proposed scorecard",
        "Refit the current scorecard (SCORECARD_PATH, else the default) to past churn: measure weights, tier\n"
        "cutoffs, and measures that predict churn the wrong way dropped (each with its reason). Prints, per tier,\n"
        "the share of churners and of accounts before and after, measured on accounts each fit did not see, and\n"
        "writes the proposal as an edit of the scorecard file (its comments kept) to review. A proposal that ranks\n"
        "churners worse out of fold than the current card is not written (exit 1) unless --force.\n"
        "Reads the database; writes only --out.",
    )
    tune.add_argument("--as-of", required=True, type=_date, help="the latest day to learn from (YYYY-MM-DD)")
    tune.add_argument(
        "--horizon", required=True, type=_positive, help="days after each sampled day in which churn counts"
    )
    tune.add_argument(
        "--out",
        type=Path,
        default=Path("scorecard.proposed.toml"),
        help="where to write it (default scorecard.proposed.toml)",
    )
    tune.add_argument(
        "--l2", type=_strength, help="fixed regularisation strength > 0 (default: chosen by cross-validation)"
    )
    tune.add_argument("--samples", type=_positive, default=3, help="snapshots a month apart to learn from (default 3)")
    tune.add_argument(
        "--force",
        action="store_true",
        help="write the proposal even when it ranks churners worse out of fold than the current card",
    )

    card = _command(
        sub,
        "scorecard",
        "check a scorecard file, print the default one, or suggest one from your data",
        "check: load a scorecard file and say whether it is valid. show-default: print the default\n"
        "scorecard, to copy and edit (then point SCORECARD_PATH at your copy).\n"
        "suggest --as-of D --horizon DAYS [--out FILE]: from your own metrics, account fields and past churn,\n"
        "propose a complete scorecard (measures, bands, weights, caps, tiers), print why each measure is in or\n"
        "out with the counts behind it and the backtest on accounts it did not fit on, and write it to --out.\n"
        "It learns from snapshots a month apart (the --as-of day and the two before it) on about 60 % of the\n"
        "accounts and tests on the other 40 % (split by external_id). With fewer than 30 churners it writes a card\n"
        "from the shapes of your metrics instead (activity trend and recency, ticket spikes, level changes), each\n"
        "choice in words in the file, marked not fitted.",
        "Database: check and show-default use none; suggest reads DATABASE_URL and writes only --out.",
    )
    card.add_argument("action", choices=["check", "show-default", "suggest"])
    card.add_argument("file", nargs="?", type=Path, help="the file to check (default: SCORECARD_PATH or the default)")
    card.add_argument("--as-of", type=_date, help="suggest: learn from data up to this day only")
    card.add_argument("--horizon", type=_positive, help="suggest: days after each snapshot in which churn counts")
    card.add_argument(
        "--out",
        type=Path,
        default=Path("scorecard.suggested.toml"),
        help="suggest: where to write it (default scorecard.suggested.toml)",
    )

    rules = _command(
        sub,
        "rules",
        "check an alert rules file, or print the default one to start from",
        "check: load an alert rules file and say whether it is valid; tier names are checked against the\n"
        "scorecard's tiers (SCORECARD_PATH or the default). show-default: print the default rules, with\n"
        "every kind and setting documented, to copy and edit.",
        "Database: none is used.",
    )
    rules.add_argument("action", choices=["check", "show-default"])
    rules.add_argument("file", nargs="?", type=Path, help="the file to check (default: the default rules)")

    ov = _command(
        sub,
        "override",
        "set or clear a CSM's override of an account's health",
        "Set or clear a CSM's override of an account's health: the tier the CSM judges it to be in,\n"
        "shown next to the computed score until --until. Name the account exactly: its external id,\n"
        "domain or name (any case); a near miss lists the candidates and writes nothing.",
    )
    ov.add_argument("account", help="external id, domain or exact name")
    ov.add_argument("--tier", help="the tier the CSM judges the account to be in (name, label, colour: high, red)")
    ov.add_argument("--score", type=float, help="optional score 0-100")
    ov.add_argument("--reason", help="why (shown next to the computed score)")
    ov.add_argument("--until", type=_date, help="last day the override holds (YYYY-MM-DD)")
    ov.add_argument("--by", default=None, help="who sets it (default: $USER)")
    ov.add_argument("--clear", action="store_true", help="clear the account's override")

    _command(
        sub,
        "run",
        "serve Slack (Socket Mode with SLACK_APP_TOKEN, else HTTP on PORT)",
        "Serve the Slack app: Socket Mode with SLACK_APP_TOKEN, else HTTP on PORT. Migrates the database\n"
        "first, then scores every day at SCORE_TIME and answers /health and the App Home.",
    )

    jobs = _command(
        sub,
        "jobs",
        "run one scheduled job once and deliver its messages (for cron)",
        "run JOB: run one of `healthbot run`'s scheduled jobs once, then send the messages it decided (and any\n"
        "others due) until all are delivered, and exit. For cron, or to see a job work.\n" + jobs_help() + "\n"
        "With several replicas on PostgreSQL a job another one is running now is skipped here.\n"
        "Needs SLACK_BOT_TOKEN. Exit status 1 when a message could not be delivered (the log says why).",
    )
    jobs.add_argument("action", choices=["run"])
    jobs.add_argument("job", choices=list(JOBS))
    jobs.add_argument(
        "--wait", type=_positive, default=300, help="seconds to keep delivering before giving up (default 300)"
    )

    report = _command(
        sub,
        "report",
        "write the churn review of a period (Markdown, CSV or a PNG chart)",
        "Write the churn review of a period: customer and MRR churn with the formula's inputs, the exit\n"
        "interviews' reasons, the traits of churned accounts against retained ones, the save rate per play,\n"
        "the trend over the last quarters and whether the score saw it coming. Reads the database (DATABASE_URL);\n"
        "writes only into --out. Periods: 2026-Q3, 2026-10, last-quarter, 2026-07-01..2026-09-30; a period the\n"
        "data does not reach exits 1 and says which days it has, one it reaches in part is reviewed over that part.\n"
        "Exit status 2 for a bad period or a segment no account has (the known ones are listed).",
    )
    report.add_argument("--period", required=True, help="2026-Q3, 2026-10, last-quarter or YYYY-MM-DD..YYYY-MM-DD")
    report.add_argument("--format", choices=["md", "csv", "png"], default="md", help="what to write (default md)")
    report.add_argument("--out", type=Path, default=Path("."), help="the folder to write into (default: here)")
    report.add_argument("--segment", help="only the accounts of this segment (any case; must be one accounts have)")

    sync = _command(
        sub,
        "sync",
        "pull accounts and metrics from the HTTP sources in SOURCES_PATH",
        "Pull accounts and metrics from the HTTP APIs declared in the sources file (SOURCES_PATH, TOML; the\n"
        "README's 'Pull and push metrics' documents it): every source, or only SOURCE. Pages are written in\n"
        "batches, each with the source's watermark: a sync stopped half-way resumes where it stopped, and\n"
        "the next one asks only for what changed since. Records that do not fit the mapping are skipped and\n"
        "reported with their source and position. Exit status 1 when a source failed.",
        DATABASE + "\nSources: SOURCES_PATH (--sources overrides it); secrets come from the environment variables\n"
        "the file names, never from the file.",
    )
    sync.add_argument("source", nargs="?", help="the source to pull (default: every source in the file)")
    sync.add_argument("--sources", type=Path, help="the sources file (default: SOURCES_PATH)")
    sync.add_argument("--full", action="store_true", help="ignore the watermark: pull everything again")
    sync.add_argument("--quiet", action="store_true", help="no progress bar")

    db = _command(
        sub,
        "db",
        "database schema",
        "The database schema. upgrade: create the tables, or migrate them to this version.\n"
        "current: show the schema revision, changing nothing (a missing SQLite file is not created).",
    )
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
        "demo": cmd_demo,
        "import": cmd_import,
        "score": cmd_score,
        "run": cmd_run,
        "db": cmd_db,
        "backtest": cmd_backtest,
        "tune": cmd_tune,
        "scorecard": cmd_scorecard,
        "rules": cmd_rules,
        "override": cmd_override,
        "jobs": cmd_jobs,
        "sync": cmd_sync,
        "report": cmd_report,
    }
    try:
        return handler[args.command](settings, args)
    except (SettingsError, ScorecardError, RulesError, PlaybookError) as exc:
        print(f"healthbot: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a database that fails mid-command: one line, not a traceback
        url = args.database_url if args.command == "demo" else settings.database_url
        problem = _database_problem(exc, url)
        if problem is None:
            raise
        print(f"healthbot: {problem}", file=sys.stderr)
        return 1


def _database_problem(exc: BaseException, url: str) -> str | None:
    """One line naming the database and what is wrong with it; None for an error that is not the database's.

    Read-only and corrupt SQLite files, a server gone or out of room; not our own mistakes
    (integrity or SQL errors), whose traceback is what a bug report needs.
    """
    import sqlite3

    import psycopg
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import DBAPIError

    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    reason = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if not isinstance(orig, sqlite3.DatabaseError):
            return None
        file_problem = _sqlite_file_problem(orig, parsed.database or "")
        if file_problem is None and "database is locked" in reason:
            return (
                f"DATABASE_URL: the database file {parsed.database} stayed locked by another process for 30 s "
                "(another healthbot command or job, or a tool holding a write transaction); nothing was changed: "
                "run it again once that one has finished"
            )
        if file_problem is None and isinstance(orig, sqlite3.OperationalError):
            return f"DATABASE_URL: the database file {parsed.database} failed ({reason}); check the disk and the file"
        return file_problem
    where = f"the database {parsed.render_as_string(hide_password=True)}"
    if isinstance(orig, psycopg.errors.ReadOnlySqlTransaction):
        return f"DATABASE_URL: {where} is read-only ({reason}): point DATABASE_URL at the primary server"
    if isinstance(orig, psycopg.OperationalError):
        return f"DATABASE_URL: {where} failed ({reason}); check that the database is up and has room"
    return None


def _sqlite_file_problem(orig: BaseException, path: str) -> str | None:
    """The SQLite file is read-only, or no database, or damaged: one line; else None."""
    import sqlite3

    reason = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
    where = f"DATABASE_URL: the database file {path}"
    if "readonly" in reason or "read-only" in reason:
        return f"{where} is read-only ({reason}): make the file and its folder writable by the user running healthbot"
    if type(orig) is sqlite3.DatabaseError or "malformed" in reason or "not a database" in reason:
        return f"{where} is not a database or is corrupt ({reason}): restore it from a backup"
    return None


def _engine(settings: Settings, url: str | None = None) -> Engine:
    """An engine on a migrated database this command may write to (a read-only SQLite file is refused here)."""
    from storage.db import upgrade

    engine = _open(url or settings.database_url)
    _check_writable(engine)
    upgrade(engine)
    return engine


def _open(url: str) -> Engine:
    """An engine on a database that answers; else one line saying which and why.

    A SQLite file is also read a little: its schema and the first and last rows of each table,
    which finds a file that is no database or whose pages are damaged there, in milliseconds
    at any size (PRAGMA quick_check reads every page: 25 s for 1 GB from disk).
    """
    from sqlalchemy.exc import DBAPIError

    from storage.db import make_engine, read_sqlite_ends

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                read_sqlite_ends(conn)
    except DBAPIError as exc:
        reason = str(exc.orig or exc).strip().splitlines()[0]
        # "file is not a database" is as often a URL naming the wrong file: the line below says check the URL
        if engine.dialect.name == "sqlite" and "not a database" not in reason:
            problem = _sqlite_file_problem(exc.orig or exc, engine.url.database or "")
            if problem is not None:
                raise SettingsError(problem) from None
        where = engine.url.render_as_string(hide_password=True)
        raise SettingsError(
            f"DATABASE_URL: cannot open the database {where} ({reason}); check the URL and that the database is up"
        ) from None
    return engine


def _check_writable(engine: Engine) -> None:
    """Refuse a SQLite file (or its folder, where SQLite keeps the -wal and -shm files) this user cannot write."""
    import os

    if engine.dialect.name != "sqlite" or not engine.url.database:
        return
    path = Path(engine.url.database).resolve()
    reason = None
    if path.exists() and not os.access(path, os.W_OK):
        reason = "the file is not writable by this user"
    elif not os.access(path.parent, os.W_OK):
        reason = f"its folder {path.parent} is not writable by this user: SQLite keeps its -wal and -shm files there"
    if reason:
        raise SettingsError(
            f"DATABASE_URL: the database file {engine.url.database} is read-only ({reason}): make the file and "
            "its folder writable by the user running healthbot"
        )


def cmd_db(settings: Settings, args: argparse.Namespace) -> int:
    from sqlalchemy.engine import make_url

    from storage.db import current_revision, upgrade

    url = make_url(settings.database_url)
    if args.action == "current" and url.get_backend_name() == "sqlite" and not Path(url.database or "").exists():
        print(f"healthbot: no database at {url.database} yet (run healthbot db upgrade)", file=sys.stderr)
        return 1  # opening it would create an empty file
    engine = _open(settings.database_url)
    if args.action == "upgrade":
        upgrade(engine)
    print(f"database at revision {current_revision(engine) or '(empty)'}")
    return 0


IMPORTED = {"accounts": ("account", "accounts"), "metrics": ("metric row", "metric rows")}


def cmd_import(settings: Settings, args: argparse.Namespace) -> int:
    from bot.scoring.importer import ImportFailed, import_accounts, import_metrics, printable

    engine = _engine(settings)
    started = datetime.now()
    path = printable(str(args.file))
    try:
        if args.kind == "accounts":
            count = import_accounts(engine, args.file)
        else:
            count = import_metrics(engine, args.file, tz=settings.tz)
    except ImportFailed as exc:
        print(f"{path}: not imported\n{exc.report()}", file=sys.stderr)
        return 1
    seconds = (datetime.now() - started).total_seconds()
    print(f"imported {count:,} {IMPORTED[args.kind][count != 1]} from {path} in {seconds:.1f} s")
    return 0


def cmd_score(settings: Settings, args: argparse.Namespace) -> int:
    """With no dates this is the daily job: catch up every unscored day up to the latest metrics."""
    from bot.scoring.scorecard import load_scorecard
    from jobs.score import JOB_ID
    from storage.db import job_lock

    scorecard = load_scorecard(settings.scorecard_path)
    engine = _engine(settings)
    if args.date and (args.start or args.end):
        print("healthbot: use either --date or --from/--to", file=sys.stderr)
        return 2
    if (args.start or args.end) and not (args.start and args.end):
        print("healthbot: --from and --to go together", file=sys.stderr)
        return 2
    # one scoring run at a time: a backfill beside another replica's daily run would interleave their writes
    with job_lock(engine, JOB_ID) as alone:
        if not alone:
            print(
                "healthbot: another healthbot is scoring now (the daily run or another `healthbot score`); "
                "nothing scored, try again when it has finished",
                file=sys.stderr,
            )
            return 1
        return _score(engine, scorecard, args, datetime.now(settings.tz).date(), settings)


def _score(engine: Engine, scorecard: Scorecard, args: argparse.Namespace, today: date, settings: Settings) -> int:
    """Score the asked days (default: the daily run's), never one after `today` (the team's, in TIMEZONE).

    Exit 1 when no day was scored, or when nobody was because the scorecard reads none of the metrics
    the team reports: a run that stores no score must not look like a good one to cron or CI."""
    from bot.scoring.run import future_note, score_range
    from jobs.score import span_to_score
    from prompts import say

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
            print("healthbot: no metrics yet; import some with `healthbot import metrics FILE.csv`", file=sys.stderr)
            return 1
        start, end = span
    if end < start:
        print(f"healthbot: --to {end} is before --from {start}", file=sys.stderr)
        return 2
    total = (end - start).days + 1
    with tqdm(total=total, desc="scoring", unit="day", disable=total < 3) as bar:
        summary = score_range(engine, scorecard, start, end, progress=bar.update, today=today)
    note = future_note(summary)
    if note:
        print(note)
    if summary.after_today:
        first, last = summary.after_today[0], summary.after_today[-1]
        days = f"{first}" if first == last else f"{first} to {last}"
        print(
            f"healthbot: {say('metrics.future.score_refused', days=days, today=today, tz=settings.timezone)}",
            file=sys.stderr,
        )
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
    unread = _unread_metrics(engine, scorecard, summary, settings.scorecard_path)
    if unread:
        print(unread)
    elif summary.unreported_metrics:
        names = ", ".join(summary.unreported_metrics)
        print(
            f"note: the scorecard reads metrics no account has reported: {names}; their measures were left out "
            "(they do not count against any account's coverage)"
        )
    start, end = summary.days[0], summary.days[-1]
    tiers = ", ".join(f"{scorecard.tiers.label(t)} {summary.tiers.get(t, 0)}" for t in scorecard.tiers.order)
    days = f"{start}" if start == end else f"{start} to {end}"
    print(f"scored {summary.scored:,} account-days for {days}; {summary.skipped:,} without enough data")
    if summary.unscored and not (unread and not summary.scored):  # that line says why nobody was scored
        data = scorecard.data
        more = ", ..." if len(summary.unscored) > UNSCORED_SHOWN else ""
        shown = ", ".join(summary.unscored[:UNSCORED_SHOWN]) + more
        print(
            f"no score on {end} for {_count(len(summary.unscored), 'active account')}: {shown} (a score needs "
            f"{data.min_days_of_data} days of metrics in the last {data.lookback_days}, covering "
            f"{data.min_weight_covered:.0%} of the weight of the measures whose metrics are reported)"
        )
    print(f"tiers on {end}: {tiers}")
    return 1 if unread and not summary.scored else 0


SUGGEST_HORIZON = 60  # days: the horizon the command `score` prints for `scorecard suggest` asks about


def _unread_metrics(engine: Engine, scorecard: Scorecard, summary: RunSummary, card_path: str | None) -> str | None:
    """One line when the team reports metrics the scorecard does not read while it reads some nobody reports:
    both named, and the `scorecard suggest` command line (a day far enough back that churn after it is seen,
    when the data reaches that far) that proposes a card from the team's own metrics. None otherwise."""
    from prompts import say
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

    from bot.scoring.backtest import backtest, format_result
    from bot.scoring.scorecard import load_scorecard

    card = load_scorecard(settings.scorecard_path)
    result = backtest(_engine(settings), card, args.as_of, args.horizon, with_stability=True)
    print(json.dumps(result.to_dict()) if args.json else format_result(result))
    return 0 if result.accounts else 1  # nothing scored: nothing was tested


def cmd_tune(settings: Settings, args: argparse.Namespace) -> int:
    from bot.scoring import formats
    from bot.scoring.scorecard import DEFAULT_PATH, load_scorecard
    from bot.scoring.suggest import out_problem
    from bot.scoring.tune import tune, worse
    from bot.scoring.tune_report import lost_comments, proposal_text, report
    from prompts import say

    path = settings.scorecard_path or DEFAULT_PATH
    problem = out_problem(args.out)  # before the fit, so a bad --out costs nothing
    if problem:
        print(f"healthbot: {say('suggest.error.nothing_written', problem=problem)}", file=sys.stderr)
        return 2
    result = tune(_engine(settings), load_scorecard(path), args.as_of, args.horizon, l2=args.l2, samples=args.samples)
    print("\n".join(report(result, str(path))))
    if result.proposed is None:
        why = "tune.nothing_scored" if result.why_none is not None else "tune.nothing_fitted"
        print(f"healthbot: {say(why)}", file=sys.stderr)
        return 1
    if worse(result) and not args.force:  # a proposal it rates worse itself is not written unless asked
        before, after = formats.auc(result.before.auc), formats.auc(result.after.auc)
        print(f"healthbot: {say('tune.not_written_worse', before=before, after=after, out=args.out)}", file=sys.stderr)
        return 1
    original = Path(path).read_text(encoding="utf-8")
    text = proposal_text(original, result)
    args.out.write_text(text, encoding="utf-8")
    lost = lost_comments(original, text)
    if lost:
        print(say("tune.comments_lost", count=len(lost), path=path, first=lost[0]))
    fitted = [name for name, fit in result.fits.items() if not isinstance(fit, str)]
    print(say("tune.wrote", out=args.out, cards=", ".join(fitted)))
    if worse(result):
        print(say("tune.wrote_forced"))
    return 0


def cmd_scorecard(settings: Settings, args: argparse.Namespace) -> int:
    from bot.scoring.scorecard import DEFAULT_PATH, load_scorecard

    if args.action == "suggest":
        return _suggest(settings, args)
    if args.action == "show-default":
        print(DEFAULT_PATH.read_text(encoding="utf-8"), end="")
        return 0
    path = args.file or settings.scorecard_path or DEFAULT_PATH
    card = load_scorecard(path)
    cards = ", ".join(
        f"{name} ({len(c.measures())} measures" + (f", {_count(len(c.caps), 'cap')})" if c.caps else ")")
        for name, c in card.cards.items()
    )
    print(f"{path}: valid; cards {cards}; tiers {', '.join(card.tiers.order)}")
    return 0


def _suggest(settings: Settings, args: argparse.Namespace) -> int:
    """`scorecard suggest`: checks --out before the work, writes it only when a suggestion was made."""
    from bot.scoring.suggest import SuggestError, out_problem, propose, write
    from prompts import say

    if args.as_of is None or args.horizon is None or args.file is not None:
        print(f"healthbot: {say('suggest.error.usage')}", file=sys.stderr)
        return 2
    problem = out_problem(args.out)
    if problem:
        print(f"healthbot: {say('suggest.error.nothing_written', problem=problem)}", file=sys.stderr)
        return 2
    try:
        result = propose(_engine(settings), args.as_of, args.horizon)
        print(result.report())
        write(result, args.out)
    except SuggestError as exc:
        print(f"healthbot: {say('suggest.error.nothing_written', problem=exc)}", file=sys.stderr)
        return 1
    print(say("suggest.report.wrote", path=args.out))
    return 0


def cmd_rules(settings: Settings, args: argparse.Namespace) -> int:
    from bot.alerts.rules import DEFAULT_PATH, load_rules
    from bot.scoring.scorecard import load_scorecard

    if args.action == "show-default":
        print(DEFAULT_PATH.read_text(encoding="utf-8"), end="")
        return 0
    path = args.file or DEFAULT_PATH
    rules = load_rules(path, load_scorecard(settings.scorecard_path))
    listed = ", ".join(f"{r.name} ({r.kind}, {r.severity}{'' if r.enabled else ', disabled'})" for r in rules.rules)
    print(f"{path}: valid; {len(rules.enabled)} of {len(rules.rules)} rules enabled: {listed}")
    return 0


def cmd_override(settings: Settings, args: argparse.Namespace) -> int:
    import getpass

    from bot.health.command import UsageError, resolve_tier
    from bot.scoring.scorecard import load_scorecard
    from storage import scores
    from storage.db import session_factory, unit_of_work

    scorecard = load_scorecard(settings.scorecard_path)
    engine = _engine(settings)
    with unit_of_work(session_factory(engine)) as session:
        account, problem = _exact_account(session, args.account)
        if account is None or account.id is None:
            print(f"healthbot: {problem}", file=sys.stderr)
            return 1
        if args.clear:
            n = scores.clear_override(session, account.id)
            print(f"{account.name}: {'override cleared' if n else 'had no override'}")
            return 0
        if account.status == "churned" or account.churned_on is not None:
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


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import serve

    settings.require_slack()
    engine = _engine(settings)
    serve(settings, engine)
    return 0


def cmd_jobs(settings: Settings, args: argparse.Namespace) -> int:
    """`healthbot jobs run JOB`: the job once, then its messages delivered."""
    from bot.scoring.scorecard import load_scorecard
    from bot.slack.client import make_client
    from jobs import deliver as deliver_job
    from jobs.table import Context

    if not settings.slack_bot_token:
        raise SettingsError(
            "SLACK_BOT_TOKEN is not set: jobs deliver their messages to Slack; copy the Bot User OAuth Token "
            "(xoxb-...) from your Slack app's 'OAuth & Permissions' page into .env"
        )
    scorecard = load_scorecard(settings.scorecard_path)
    engine = _engine(settings)
    client = make_client(settings)
    ran = JOBS[args.job].run(Context(settings, engine, client, scorecard))
    if ran.line is not None:
        print(ran.line)
    result = deliver_job.until_delivered(engine, client, timeout=args.wait)
    if ran.after is not None and not result.failed and not result.remaining:
        ran.after()
    print(f"delivered {result.sent} message{'s' if result.sent != 1 else ''}", end="")
    if result.failed or result.remaining:
        print(
            f"; {result.failed} failed, {result.remaining} still waiting (kept in the outbox and retried by "
            "`healthbot run` or the next `healthbot jobs run`)"
        )
        return 1
    print()
    return 0


def cmd_report(settings: Settings, args: argparse.Namespace) -> int:
    """`healthbot report --period P --format F --out DIR`: the churn review written to a file. An unknown segment
    exits 2 and a period without data 1, each with what the database has, and write nothing."""
    from bot.churn import report
    from bot.churn.analysis import NoDataError, PeriodError, SegmentError, parse_period, review
    from bot.scoring.scorecard import load_scorecard
    from storage.db import session_factory, unit_of_work

    today = datetime.now(settings.tz).date()
    try:
        period = parse_period(args.period, today)
    except PeriodError as exc:
        print(f"healthbot: {exc}", file=sys.stderr)
        print(REPORT_USAGE, file=sys.stderr)
        return 2
    tiers = load_scorecard(settings.scorecard_path).tiers
    engine = _engine(settings)
    try:
        with unit_of_work(session_factory(engine)) as session:
            result = review(session, period, segment=args.segment, today=today, tiers=tiers)
    except SegmentError as exc:
        print(f"healthbot: {exc}", file=sys.stderr)
        return 2
    except NoDataError as exc:
        print(f"healthbot: {exc}; nothing written", file=sys.stderr)
        return 1
    try:
        written = report.write(result, args.out, args.format)
    except OSError as exc:
        print(f"healthbot: cannot write into {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    for path in written:
        print(f"report: wrote {path}")
    return 0


REPORT_USAGE = (
    "usage: healthbot report --period PERIOD [--format md|csv|png] [--out DIR] [--segment SEGMENT]\n"
    "  PERIOD: 2026-Q3 (a quarter), 2026-10 (a month), last-quarter, or 2026-07-01..2026-09-30"
)


def cmd_sync(settings: Settings, args: argparse.Namespace) -> int:
    """`healthbot sync [SOURCE]`: pull the sources, print a summary per source."""
    from bot.connectors.sources import SourcesError, load_sources
    from bot.connectors.sync import describe, sync_sources

    path = args.sources or settings.sources_path
    if not path:
        print(
            "healthbot: SOURCES_PATH is not set: write a sources file (README, 'Pull and push metrics') and set "
            "SOURCES_PATH to it, or pass --sources FILE",
            file=sys.stderr,
        )
        return 2
    try:
        sources = load_sources(path)
    except SourcesError as exc:
        print(f"healthbot: {exc}", file=sys.stderr)
        return 2
    names = [s.name for s in sources]
    if args.source and args.source not in names:
        print(f"healthbot: no source {args.source!r} in {path}; the sources are {', '.join(names)}", file=sys.stderr)
        return 2
    engine = _engine(settings)
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


def _count(n: int, noun: str) -> str:
    """'1 active account', '2 active accounts'."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"
