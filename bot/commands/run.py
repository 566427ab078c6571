"""Running the bot: `healthbot run` (serve Slack) and `healthbot jobs run JOB` (one scheduled job, for cron)."""

from __future__ import annotations

import argparse

from bot.commands.database import writable_engine
from bot.settings import Settings, SettingsError
from jobs.table import JOBS
from prompts import say


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import serve

    settings.require_slack()
    engine = writable_engine(settings)
    serve(settings, engine)
    return 0


def cmd_jobs(settings: Settings, args: argparse.Namespace) -> int:
    """`healthbot jobs run JOB`: the job once, then its messages delivered."""
    from bot.scoring.scorecard import load_scorecard
    from bot.slack.client import make_client
    from jobs import deliver as deliver_job
    from jobs.table import Context

    if not settings.slack_bot_token:
        raise SettingsError(say("cli.say.jobs.no_token"))
    scorecard = load_scorecard(settings.scorecard_path)
    engine = writable_engine(settings)
    client = make_client(settings)
    ran = JOBS[args.job].run(Context(settings, engine, client, scorecard))
    if ran.line is not None:
        print(ran.line)
    result = deliver_job.until_delivered(engine, client, timeout=args.wait)
    if ran.after is not None and not result.failed and not result.remaining:
        ran.after()
    delivered = say("cli.say.jobs.delivered", sent=result.sent)
    if result.failed or result.remaining:
        print(delivered + say("cli.say.jobs.failed", failed=result.failed, remaining=result.remaining))
        return 1
    print(delivered)
    return 0
