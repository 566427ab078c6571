"""`healthbot rules`: check an alert rules file, or print the default one."""

from __future__ import annotations

import argparse

from bot.settings import Settings


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
