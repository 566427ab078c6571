"""`/health` text -> a typed command, driven by one table that also writes `/health help`."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from rapidfuzz import fuzz

from bot.scoring.scorecard import Tiers
from bot.slack.blocks import esc, tier_emoji
from prompts import say

TOP_DEFAULT = 10
TOP_MAX = 100


@dataclass(frozen=True)
class Find:
    """Look a customer up; `problem` is what to say instead of "not found" when the text looked like a sub-command."""

    query: str
    problem: str | None = None


@dataclass(frozen=True)
class Mine:
    pass


@dataclass(frozen=True)
class Top:
    limit: int
    tier: str | None


@dataclass(frozen=True)
class Help:
    pass


Command = Find | Mine | Top | Help


class UsageError(ValueError):
    """Arguments a sub-command cannot take; the message says why."""


@dataclass(frozen=True)
class SubCommand:
    name: str  # the first word; "" for the customer lookup, which takes everything else
    args: str  # as shown in help
    help_key: str  # prompts key of its one-line description
    parse: Callable[[list[str], Tiers], Command]


def _me(args: list[str], tiers: Tiers) -> Command:
    if args:
        raise UsageError(say("health.bad_args.no_args", name="me"))
    return Mine()


def _help(args: list[str], tiers: Tiers) -> Command:
    return Help()


def _top(args: list[str], tiers: Tiers) -> Command:
    numbers = [a for a in args if a.lstrip("-").isdigit()]
    if len(numbers) > 1 or (numbers and not 1 <= int(numbers[0]) <= TOP_MAX):
        raise UsageError(say("health.bad_args.top_n", max=TOP_MAX))
    words = " ".join(a for a in args if a not in numbers)
    return Top(int(numbers[0]) if numbers else TOP_DEFAULT, resolve_tier(words, tiers) if words else None)


def resolve_tier(text: str, tiers: Tiers) -> str:
    """A tier from its name, label, the colour of its emoji ("red") or a unique start of either ("high")."""
    key = text.strip().lower().replace("-", "_").replace(" ", "_")
    names = {t: {t, tiers.label(t).lower().replace(" ", "_"), *_colour(t)} for t in tiers.order}
    exact = [t for t, forms in names.items() if key in forms]
    starts = [t for t, forms in names.items() if any(f.startswith(key) for f in forms)]
    found = exact or starts
    if len(found) != 1:
        raise UsageError(say("health.bad_args.tier", tier=esc(text), tiers=tier_choices(tiers)))
    return found[0]


def _colour(tier: str) -> list[str]:
    """ "red" for :red_circle:, "green" for :large_green_circle:; nothing for emoji without a colour word."""
    return re.findall(r"(green|yellow|orange|red|blue|purple|brown|black|white)", tier_emoji(tier))[:1]


def tier_choices(tiers: Tiers) -> str:
    return ", ".join(f"`{tiers.label(t).lower()}`" for t in tiers.order)


def _find(args: list[str], tiers: Tiers) -> Command:
    return Find(" ".join(args))


SUBCOMMANDS: tuple[SubCommand, ...] = (
    SubCommand("", "<customer name | domain | id>", "health.help.find", _find),
    SubCommand("me", "", "health.help.me", _me),
    SubCommand("top", "[N] [tier]", "health.help.top", _top),
    SubCommand("help", "", "health.help.help", _help),
)
_NAMED = {s.name: s for s in SUBCOMMANDS if s.name}


def parse(text: str, tiers: Tiers) -> Command:
    """`/health` alone means `me`; a first word naming no sub-command starts a customer lookup."""
    words = text.split()
    if not words:
        return Mine()
    sub = _NAMED.get(words[0].lower())
    if sub is None:
        near = [s for s in _NAMED.values() if fuzz.ratio(words[0].lower(), s.name) >= 75]
        problem = say("health.unknown_sub", word=esc(words[0]), usage=usage(near[0])) if near else None
        return Find(" ".join(words), problem)
    try:
        return sub.parse(words[1:], tiers)
    except UsageError as exc:  # a customer may still be called "Top Notch": the lookup gets a go first
        return Find(" ".join(words), f"{exc} {say('health.usage_is', usage=usage(sub))}")


def usage(sub: SubCommand) -> str:
    return "`" + " ".join(part for part in ("/health", sub.name, sub.args) if part) + "`"


def help_text(tiers: Tiers) -> str:
    lines = [f"• {usage(s)}  {say(s.help_key, max=TOP_MAX, tiers=tier_choices(tiers))}" for s in SUBCOMMANDS]
    return say("health.help.title") + "\n" + "\n".join(lines)
