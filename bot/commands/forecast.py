"""`healthbot forecast` (make, print and store a churn forecast) and `healthbot forecast check` (the stored forecasts
whose period is over, against what happened)."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from datetime import date

from bot.commands.database import writable_engine
from bot.progress import Bar
from bot.settings import Settings


def cmd_forecast(settings: Settings, args: argparse.Namespace) -> int:
    """Exit 2 for options that do not fit (one line: what to type), 1 when no forecast can be made (too little
    churn history, nobody scored; nothing stored), else 0."""
    from bot.forecast import interval as forecast_interval
    from bot.forecast import service
    from bot.forecast import window as forecast_window
    from bot.scoring.run import team_today
    from prompts import say

    today = team_today()
    if args.action == "check":
        if any(v is not None for v in (args.as_of, args.horizon, args.period, args.level)):
            print(say("cli.say.error", error=say("forecast.refuse.check_options")), file=sys.stderr)
            return 2
        return _check(settings, args, today)
    level = service.LEVEL
    if args.level is not None:
        if not args.level.isdigit() or not 50 <= int(args.level) <= 99:
            print(say("cli.say.error", error=say("forecast.refuse.level", text=args.level)), file=sys.stderr)
            return 2
        level = int(args.level) / 100
    try:
        win = forecast_window.window(today, as_of=args.as_of, horizon=args.horizon, period=args.period)
    except forecast_window.WindowError as exc:
        print(say("cli.say.error", error=exc), file=sys.stderr)
        return 2
    from bot.forecast.messages import forecast_text
    from bot.scoring.scorecard import load_scorecard

    card = load_scorecard(settings.scorecard_path)
    engine = writable_engine(settings)
    try:
        fit, book = service.chances_for(engine, card, win, today)
    except service.NoForecast as exc:
        print(say("cli.say.error", error=exc), file=sys.stderr)
        return 1
    quiet = service.simulated_cells(len(book.ids)) < service.PROGRESS_CELLS  # a bar only for a long simulation
    with Bar(
        total=forecast_interval.DRAWS, desc=say("cli.progress.simulating"), unit=say("cli.progress.draw"), disable=quiet
    ) as bar:
        result = service.store(engine, win, fit, book, level, made_by=_who(), progress=bar.update)
    print(json.dumps(result.to_dict()) if args.json else forecast_text(result))
    return 0


def _check(settings: Settings, args: argparse.Namespace, today: date) -> int:
    from bot.forecast import service
    from bot.forecast.messages import check_text
    from storage.db import session_factory, unit_of_work

    with unit_of_work(session_factory(writable_engine(settings))) as session:
        checks, running = service.check(session, today)
    if args.json:
        print(
            json.dumps(
                {
                    "checked": [c.to_dict() for c in checks],
                    "running": [
                        {
                            "id": r.id,
                            "as_of": r.as_of.isoformat(),
                            "start": r.start.isoformat(),
                            "end": r.end.isoformat(),
                        }
                        for r in running
                    ],
                }
            )
        )
    else:
        print(check_text(checks, running, today))
    return 0


def _who() -> str:
    try:
        return f"healthbot forecast ({getpass.getuser()})"
    except (KeyError, OSError):
        return "healthbot forecast"
