"""`healthbot rules`: check an alert rules file, or print the default one."""

from __future__ import annotations

import argparse

from bot.settings import Settings
from prompts import say
from prompts.formats import listing


def cmd_rules(settings: Settings, args: argparse.Namespace) -> int:
    from bot.alerts.rules import DEFAULT_PATH, load_rules
    from bot.scoring.scorecard import load_scorecard

    if args.action == "show-default":
        print(DEFAULT_PATH.read_text(encoding="utf-8"), end="")
        return 0
    path = args.file or DEFAULT_PATH
    rules = load_rules(path, load_scorecard(settings.scorecard_path))
    listed = listing(
        say(
            "cli.say.rules.rule" if r.enabled else "cli.say.rules.rule_disabled",
            name=r.name,
            kind=r.kind,
            severity=r.severity,
        )
        for r in rules.rules
    )
    print(say("cli.say.rules.valid", path=path, enabled=len(rules.enabled), total=len(rules.rules), listed=listed))
    return 0
