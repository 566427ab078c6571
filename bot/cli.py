"""The `healthbot` command line: its parser (every command's arguments and help) and `main()`."""

from __future__ import annotations

import argparse
import importlib.metadata
import logging
import os
import sys
from datetime import date
from pathlib import Path

from bot.alerts.rules import RulesError
from bot.commands.data import cmd_demo, cmd_import, cmd_sync
from bot.commands.database import cmd_db, database_problem
from bot.commands.forecast import cmd_forecast
from bot.commands.override import cmd_override
from bot.commands.report import cmd_report
from bot.commands.rules import cmd_rules
from bot.commands.run import cmd_jobs, cmd_run
from bot.commands.scoring import cmd_backtest, cmd_score, cmd_scorecard, cmd_tune
from bot.dates import parse_day
from bot.retention.playbooks import PlaybookError
from bot.scoring.scorecard import ScorecardError
from bot.settings import SettingsError, load_settings, system_language
from jobs.table import JOBS, jobs_help
from prompts import set_default


def _date(value: str) -> date:
    try:
        return parse_day(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{value}' is not a date (use YYYY-MM-DD)") from None


def _positive(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"'{value}' is not a positive number of days")
    return int(value)


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


FORECAST_HELP = """\
Expected churned accounts and MRR churn for a period, with an interval (80 % unless --level), for the
portfolio and per segment (the accounts' `segment`; "no segment" for those without). Every forecast is stored.

Made as of today (TIMEZONE) for the next 90 days unless told otherwise. --period 2027-Q1 (a quarter), 2027-01
(a month) or 2026-12-08..2027-03-07 is forecast as of the day before it starts, over its length: --as-of and
--horizon, if given, must agree with it. Nothing is forecast from a day after today. A past --as-of backtests a
period: the chances are fitted on the outcomes known by that day only, and the accounts scored from the data known
then; the period's own outcomes are never read.

Expected = the sum of the accounts' chances to churn (MRR: chance x MRR). The interval: 4,000 simulated periods
(fixed seed, so the same data gives the same interval); each draws every score band's churn rate from its past
cases (Beta, counted in accounts rather than snapshots), every segment's factor and the factor of late churn
(Gamma), then each account churns with its band's rate moved by its factors; the interval holds the middle 80 % of
them. With too little churn history (fewer than 10 churned accounts or 100 past cases) nothing is forecast: it says
so and exits 1.

check: every stored forecast whose period is over (on its last day), against what happened: how many of its
accounts churned (churned_on in the period) and the MRR they had when it was made, inside its interval or not.
Exit status 2 for options that do not fit together (one line says what to type), 1 when no forecast can be made."""


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
        "Reads the database; writes --out, and stores the chance to churn refitted for the card it wrote.",
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
        "Database: check and show-default use none; suggest reads DATABASE_URL, writes --out, and stores the\n"
        "chance to churn refitted for the card it wrote.",
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

    fc = _command(
        sub,
        "forecast",
        "expected churned accounts and MRR churn for a period, with an interval; `check` holds past ones to the facts",
        FORECAST_HELP,
    )
    fc.add_argument("action", nargs="?", choices=["check"], help="check: every stored forecast whose period is over")
    fc.add_argument("--as-of", type=_date, help="make it from what was known on this day (default: today)")
    fc.add_argument("--horizon", type=_positive, help="days after --as-of it covers (default 90)")
    fc.add_argument("--period", help="2027-Q1, 2027-01 or 2026-12-08..2027-03-07: forecast as of the day before it")
    fc.add_argument("--level", help="the interval's level in percent, 50 to 99 (default 80)")
    fc.add_argument("--json", action="store_true", help="print one JSON object")

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
    set_default(settings.language or system_language(dict(os.environ)))  # what the commands print
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    for library in ("httpx", "httpcore"):  # a line per request, naming its URL: the model's calls log their own
        logging.getLogger(library).setLevel(logging.WARNING)
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
        "forecast": cmd_forecast,
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
        problem = database_problem(exc, url)
        if problem is None:
            raise
        print(f"healthbot: {problem}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
