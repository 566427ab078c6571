"""`/health` text -> a typed command, driven by one table that also writes `/health help`.

A sub-command's word is read from prompts/commands.toml in each language (`/health 风险` is `/health top`): the
words of every language are understood whatever the user's language, and help shows the user's own."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from rapidfuzz import fuzz

from bot.retention.plays import PeriodError, PeriodSpec, parse_period
from bot.scoring.scorecard import Tiers
from bot.slack.blocks import esc, message_text, tier_emoji
from prompts import in_every_language, raw, say, sentences
from prompts.formats import listing

TOP_DEFAULT = 10
TOP_MAX = 100
NAME_MAX = 255  # the longest name, domain or id a lookup can match (storage/models.py)


@dataclass(frozen=True)
class Find:
    """Look a customer up; `problem` is what to say instead of "not found" when the text looked like a sub-command."""

    query: str
    problem: str | None = None


@dataclass(frozen=True)
class Exit(Find):
    """`/health exit <customer>`: the customer's exit interview (handlers/exits.py). A `Find` underneath, so a
    listener that does not know it still shows the customer's card."""


@dataclass(frozen=True)
class Mine:
    pass


@dataclass(frozen=True)
class Top:
    limit: int
    tier: str | None
    by_mrr: bool = False  # `/health top by-mrr`: ranked by expected MRR loss (chance x MRR), not by score


@dataclass(frozen=True)
class Help:
    pass


@dataclass(frozen=True)
class Tasks:
    """My open retention tasks, overdue first."""


@dataclass(frozen=True)
class Plays:
    """`/health plays [period]`: the save rate per tier's playbook."""

    period: PeriodSpec


@dataclass(frozen=True)
class Churn:
    """`/health churn [period] [segment]`: the churn review, posted into the channel."""

    period: str  # as typed and checked by bot.churn.periods.parse_period; "" for the default (last quarter)
    segment: str | None = None


Command = Find | Mine | Top | Help | Tasks | Plays | Churn


class UsageError(ValueError):
    """Arguments a sub-command cannot take; the message says why."""


@dataclass(frozen=True)
class SubCommand:
    name: str  # the first word in English (prompts `commands.words`); "" for the customer lookup
    args_key: str  # prompts `commands.args` key of its arguments as help shows them; "" for none
    help_key: str  # prompts key of its one-line description
    parse: Callable[[list[str], Tiers], Command]

    @property
    def word(self) -> str:
        """The first word in the current language."""
        return raw(f"commands.words.{self.name}") if self.name else ""

    @property
    def args(self) -> str:
        return raw(f"commands.args.{self.args_key}") if self.args_key else ""


def _words(name: str) -> set[str]:
    """`name`'s word in every language, lower case."""
    return in_every_language(f"commands.words.{name}")


def _me(args: list[str], tiers: Tiers) -> Command:
    if args:
        raise UsageError(say("health.bad_args.no_args", name=raw("commands.words.me")))
    return Mine()


def _help(args: list[str], tiers: Tiers) -> Command:
    return Help()


def _tasks(args: list[str], tiers: Tiers) -> Command:
    if args:
        raise UsageError(say("task_done.no_args"))
    return Tasks()


_NUMBER = re.compile(r"-?[0-9]+")  # ASCII only: "²".isdigit() is True, and int("²") fails


def _top(args: list[str], tiers: Tiers) -> Command:
    by_mrr_words = _words("by_mrr")
    by_mrr = any(a.lower() in by_mrr_words for a in args)
    args = [a for a in args if a.lower() not in by_mrr_words]
    numbers = [a for a in args if _NUMBER.fullmatch(a)]
    if len(numbers) > 1 or (numbers and not 1 <= int(numbers[0]) <= TOP_MAX):
        raise UsageError(say("health.bad_args.top_n", max=TOP_MAX))
    words = " ".join(a for a in args if a not in numbers)
    return Top(int(numbers[0]) if numbers else TOP_DEFAULT, resolve_tier(words, tiers) if words else None, by_mrr)


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
    return listing(f"`{esc(tiers.label(t).lower())}`" for t in tiers.order)


def _plays(args: list[str], tiers: Tiers) -> Command:
    try:
        return Plays(parse_period("".join(args)))
    except PeriodError as exc:
        raise UsageError(str(exc)) from exc


_PERIOD_LIKE = re.compile(r"[0-9]|\.\.|^last-|季度|月$")  # a word meant as a period, not as a segment's name


def _churn(args: list[str], tiers: Tiers) -> Command:
    """The first word is the period when it reads as one (`2026-Q3`, `2026-10`, `last-quarter`, `A..B`); the rest,
    or everything when the first word looks like no period, the segment."""
    from bot.churn.periods import PeriodError, parse_period

    if not args:
        return Churn("")
    try:
        parse_period(args[0], date.today())  # only the form is checked here; the handler reads it with its today
    except PeriodError as exc:
        if _PERIOD_LIKE.search(args[0].lower()):
            raise UsageError(esc(str(exc))) from exc
        return Churn("", " ".join(args))
    return Churn(args[0], " ".join(args[1:]) or None)


def _exit(args: list[str], tiers: Tiers) -> Command:
    if not args:
        raise UsageError(say("exit.no_customer"))
    return Exit(" ".join(args))


def _find(args: list[str], tiers: Tiers) -> Command:
    return Find(" ".join(args))


SUBCOMMANDS: tuple[SubCommand, ...] = (
    SubCommand("", "find", "health.help.find", _find),
    SubCommand("me", "", "health.help.me", _me),
    SubCommand("top", "top", "health.help.top", _top),
    SubCommand("top", "top_by_mrr", "health.help.top_by_mrr", _top),
    SubCommand("plays", "plays", "plays.help", _plays),
    SubCommand("tasks", "", "task_done.help", _tasks),
    SubCommand("exit", "exit", "exit.help", _exit),
    SubCommand("churn", "churn", "churn_review.help", _churn),
    SubCommand("help", "", "health.help.help", _help),
)
# every language's word for each sub-command; a name listed twice (help lines): its first entry
_NAMED = {word: s for s in reversed(SUBCOMMANDS) if s.name for word in _words(s.name)}


# Slack's markup in command text: a link `<https://acme.com|acme.com>` or `<https://acme.com>`, a mention
# `<@U123|ann>`, a channel `<#C123|general>`, a special mention `<!here>` or `<!subteam^S123|@team>`.
_MARKUP = re.compile(r"<([^<>|]*)(?:\|([^<>]*))?>")
_ENTITIES = re.compile(r"&(amp|lt|gt);")
_UNESCAPED = {"amp": "&", "lt": "<", "gt": ">"}


def _as_typed(markup: re.Match[str]) -> str:
    """What the user saw when typing: a link's label (else its address), a mention as `@name`."""
    target, label = markup.group(1), markup.group(2)
    if target[:1] in ("@", "#"):
        return target[0] + (label.lstrip(target[0]) if label else target[1:])
    if target[:1] == "!":  # <!here>, <!subteam^S123|@cs-team>
        return label if label and label.startswith("@") else "@" + (label or target[1:])
    return label or target


def clean(text: str) -> str:
    """Command text as the user typed it, safe to search with: Slack's links and mentions resolved, its `&amp;`,
    `&lt;` and `&gt;` unescaped (once), control characters (NUL too) dropped, any run of whitespace one space,
    and at most `NAME_MAX` characters."""
    text = _ENTITIES.sub(lambda m: _UNESCAPED[m.group(1)], _MARKUP.sub(_as_typed, text))
    text = "".join(ch for ch in text if ch.isspace() or unicodedata.category(ch) != "Cc")
    return " ".join(text.split())[:NAME_MAX].rstrip()


def parse(text: str, tiers: Tiers) -> Command:
    """`/health` alone means `me`; a first word naming no sub-command starts a customer lookup."""
    words = clean(text).split()
    if not words:
        return Mine()
    sub = _NAMED.get(words[0].lower())
    if sub is None:
        near = [s for word, s in _NAMED.items() if fuzz.ratio(words[0].lower(), word) >= 75]
        problem = say("health.unknown_sub", word=esc(words[0]), usage=usage(near[0])) if near else None
        return Find(" ".join(words), problem)
    try:
        return sub.parse(words[1:], tiers)
    except UsageError as exc:  # a customer may still be called "Top Notch": the lookup gets a go first
        return Find(" ".join(words), sentences(str(exc), say("health.usage_is", usage=usage(sub))))


def usage(sub: SubCommand) -> str:
    """`/health top [N] [tier]` in the current language, escaped: Slack would read `<customer name | domain | id>`
    as a link."""
    return "`" + esc(" ".join(part for part in ("/health", sub.word, sub.args) if part)) + "`"


def help_text(tiers: Tiers) -> str:
    lines = [f"• {usage(s)}  {say(s.help_key, max=TOP_MAX, tiers=tier_choices(tiers))}" for s in SUBCOMMANDS]
    return message_text(say("health.help.title") + "\n" + "\n".join(lines))
