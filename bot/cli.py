"""The `healthbot` command line: its parser (every command's arguments and help) and `main()`."""

from __future__ import annotations

import argparse
import importlib.metadata
import logging
import os
import re
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

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
from bot.settings import Settings, SettingsError, cli_language, load_settings
from jobs.table import JOBS, jobs_help
from prompts import ENGLISH, current, fill, raw, say, set_default, speaking


def _date(value: str) -> date:
    try:
        return parse_day(value)
    except ValueError:
        raise argparse.ArgumentTypeError(say("cli.say.value.date", value=value)) from None


def _positive(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(say("cli.say.value.days", value=value))
    return int(value)


def _whole(value: str) -> int:
    if not value.isdigit():
        raise argparse.ArgumentTypeError(say("cli.say.value.whole", value=value))
    return int(value)


def _number(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(say("cli.say.value.number", value=value)) from None


def _strength(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not number > 0 or number == float("inf"):
        raise argparse.ArgumentTypeError(say("cli.say.value.above_zero", value=value))
    return number


def _h(key: str) -> str:
    """The help text `cli.help.KEY` (prompts/cli.toml) in the language of this run."""
    return str(raw(f"cli.help.{key}"))


def _argparse_words(message: str) -> str:
    """argparse's message `message` in the language of this run: prompts/cli.toml's [argparse] table maps each of
    argparse's English message ids to the language's text; one it does not name stays English."""
    if current() == ENGLISH:
        return message
    words = raw("cli.argparse")
    by_id = {english: words[key] for key, english in raw("cli.argparse", ENGLISH).items()}
    return str(by_id.get(message, message))


def _argparse_plural(singular: str, plural: str, n: int) -> str:
    return _argparse_words(singular if n == 1 else plural)


def speak_argparse() -> None:
    """argparse says its own words (errors, "usage:", the section titles, --help) in the language `say` speaks.

    argparse reads them through gettext (`_` and `ngettext`, bound in its module when it was imported), which finds
    only compiled catalogs on disk: its module's two names are pointed at prompts' table instead. Each looks the
    language up when argparse calls it, so English stays argparse's own text."""
    setattr(argparse, "_", _argparse_words)  # noqa: B010 - argparse's private name, unknown to the type stubs
    setattr(argparse, "ngettext", _argparse_plural)  # noqa: B010


class _Help(argparse.RawDescriptionHelpFormatter):
    """The help's line breaks kept, and each section's title ended as the language ends it ("options:", "选项："):
    argparse appends an ASCII ":" to the titles itself."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._titles: set[str] = set()

    def start_section(self, heading: str | None) -> None:
        if heading:
            self._titles.add(heading)
        super().start_section(heading)

    def format_help(self) -> str:
        text = super().format_help()
        for title in self._titles:
            ended = say("cli.help.section", heading=title).replace("\\", "\\\\")
            text = re.sub(rf"^( *){re.escape(title)}:$", rf"\g<1>{ended}", text, flags=re.MULTILINE)
        return text


def _parser(make: Callable[..., argparse.ArgumentParser], *args: Any, **kwargs: Any) -> argparse.ArgumentParser:
    """`make(...)` keeping the help's line breaks (argparse's own words are `speak_argparse`'s)."""
    return make(*args, formatter_class=_Help, **kwargs)


def _command(
    sub: argparse._SubParsersAction, name: str, epilog: str | None = None, **values: str
) -> argparse.ArgumentParser:
    """A subcommand whose --help says what it does (its `description`, filled with `values`) and, in `epilog`, which
    database it uses (its own `epilog`, else DATABASE_URL's)."""
    words = raw(f"cli.help.{name}")
    return _parser(
        sub.add_parser,
        name,
        help=words["short"],
        description=fill(words["description"], **values) if values else words["description"],
        epilog=epilog or words.get("epilog") or _h("database"),
    )


def _version() -> str:
    try:
        return importlib.metadata.version("healthbot")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "(not installed)"


def build_parser() -> argparse.ArgumentParser:
    speak_argparse()
    parser = _parser(
        argparse.ArgumentParser,
        prog="healthbot",
        description=_h("description"),
        epilog=f"{_h('epilog')}\n{_h('database')}",
    )
    parser.add_argument("--version", action="version", version=f"healthbot {_version()}", help=_h("version"))
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = _command(sub, "demo")
    demo.add_argument("--database-url", default="sqlite:///healthbot-demo.db", help=_h("demo.database_url"))
    demo.add_argument("--accounts", type=_whole, default=300, help=_h("demo.accounts"))
    demo.add_argument("--days", type=_whole, default=180, help=_h("demo.days"))
    demo.add_argument("--messages", type=_whole, default=5, help=_h("demo.messages"))
    demo.add_argument("--force", action="store_true", help=_h("demo.force"))

    imp = _command(sub, "import", _h("import.columns") + _h("database"))
    imp.add_argument("kind", choices=["accounts", "metrics"], help=_h("import.kind"))
    imp.add_argument("file", type=Path, help=_h("import.file"))

    score = _command(sub, "score")
    score.add_argument("--date", type=_date, help=_h("score.date"))
    score.add_argument("--from", dest="start", type=_date, help=_h("score.from"))
    score.add_argument("--to", dest="end", type=_date, help=_h("score.to"))

    bt = _command(sub, "backtest")
    bt.add_argument("--as-of", required=True, type=_date, help=_h("backtest.as_of"))
    bt.add_argument("--horizon", required=True, type=_positive, help=_h("backtest.horizon"))
    bt.add_argument("--json", action="store_true", help=_h("backtest.json"))

    tune = _command(sub, "tune")
    tune.add_argument("--as-of", required=True, type=_date, help=_h("tune.as_of"))
    tune.add_argument("--horizon", required=True, type=_positive, help=_h("tune.horizon"))
    tune.add_argument(
        "--out",
        type=Path,
        default=Path("scorecard.proposed.toml"),
        help=_h("tune.out"),
    )
    tune.add_argument("--l2", type=_strength, help=_h("tune.l2"))
    tune.add_argument("--samples", type=_positive, default=3, help=_h("tune.samples"))
    tune.add_argument(
        "--force",
        action="store_true",
        help=_h("tune.force"),
    )

    card = _command(sub, "scorecard")
    card.add_argument("action", choices=["check", "show-default", "suggest"], help=_h("scorecard.action"))
    card.add_argument("file", nargs="?", type=Path, help=_h("scorecard.file"))
    card.add_argument("--as-of", type=_date, help=_h("scorecard.as_of"))
    card.add_argument("--horizon", type=_positive, help=_h("scorecard.horizon"))
    card.add_argument(
        "--out",
        type=Path,
        default=Path("scorecard.suggested.toml"),
        help=_h("scorecard.out"),
    )

    rules = _command(sub, "rules")
    rules.add_argument("action", choices=["check", "show-default"], help=_h("rules.action"))
    rules.add_argument("file", nargs="?", type=Path, help=_h("rules.file"))

    ov = _command(sub, "override")
    ov.add_argument("account", help=_h("override.account"))
    ov.add_argument("--tier", help=_h("override.tier"))
    ov.add_argument("--score", type=_number, help=_h("override.score"))
    ov.add_argument("--reason", help=_h("override.reason"))
    ov.add_argument("--until", type=_date, help=_h("override.until"))
    ov.add_argument("--by", default=None, help=_h("override.by"))
    ov.add_argument("--clear", action="store_true", help=_h("override.clear"))

    _command(sub, "run")

    jobs = _command(sub, "jobs", jobs=jobs_help())
    jobs.add_argument("action", choices=["run"], help=_h("jobs.action"))
    jobs.add_argument("job", choices=list(JOBS), help=_h("jobs.which"))
    jobs.add_argument("--wait", type=_positive, default=300, help=_h("jobs.wait"))

    report = _command(sub, "report")
    report.add_argument("--period", required=True, help=_h("report.period"))
    report.add_argument("--format", choices=["md", "csv", "png"], default="md", help=_h("report.format"))
    report.add_argument("--out", type=Path, default=Path("."), help=_h("report.out"))
    report.add_argument("--segment", help=_h("report.segment"))

    fc = _command(sub, "forecast")
    fc.add_argument("action", nargs="?", choices=["check"], help=_h("forecast.action"))
    fc.add_argument("--as-of", type=_date, help=_h("forecast.as_of"))
    fc.add_argument("--horizon", type=_positive, help=_h("forecast.horizon"))
    fc.add_argument("--period", help=_h("forecast.period"))
    fc.add_argument("--level", help=_h("forecast.level"))
    fc.add_argument("--json", action="store_true", help=_h("forecast.json"))

    sync = _command(sub, "sync", _h("database") + "\n" + _h("sync.sources_epilog"))
    sync.add_argument("source", nargs="?", help=_h("sync.source"))
    sync.add_argument("--sources", type=Path, help=_h("sync.sources"))
    sync.add_argument("--full", action="store_true", help=_h("sync.full"))
    sync.add_argument("--quiet", action="store_true", help=_h("sync.quiet"))

    db = _command(sub, "db")
    db.add_argument("action", choices=["upgrade", "current"], help=_h("db.action"))
    return parser


def main(argv: list[str] | None = None) -> int:
    set_default(cli_language(dict(os.environ)))  # a setting that is wrong is said in it
    try:
        settings: Settings | None = load_settings()
    except SettingsError as exc:
        settings, unset = None, exc
    # what the commands print, their --help included (so decided before parsing; .env may have set LANGUAGE)
    set_default((settings and settings.language) or cli_language(dict(os.environ)))
    args = build_parser().parse_args(argv)
    spoken = current()  # the command line's; `run` sets the workspace's (LANGUAGE, else English) for Slack
    if settings is None:
        print(say("cli.say.error", error=unset), file=sys.stderr)
        return 2
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
        with speaking(spoken):
            print(say("cli.say.error", error=exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a database that fails mid-command: one line, not a traceback
        url = args.database_url if args.command == "demo" else settings.database_url
        problem = database_problem(exc, url)
        if problem is None:
            raise
        print(say("cli.say.error", error=problem), file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
