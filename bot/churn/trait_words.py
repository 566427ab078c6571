"""The churn review's traits and reasons in words (issue 23). A trait's key (`acquisition_channel`) and the values
the review computes itself (tenure and usage bands, "unknown") as the language says them (prompts/churn_review.toml
[trait], [trait_value]); a CSM by `person` (a Slack mention in a message, a name in a file); the accounts' own values
(an industry, a region) as they are. An exit reason's key as the exit interview's form says it."""

from __future__ import annotations

from collections.abc import Callable

from bot.churn.analysis import TraitRow
from bot.exits.messages import reason_label
from prompts import ENGLISH, raw

CSM = "csm"


def trait_name(trait: str) -> str:
    """`industry` -> "industry" / "行业"; a key the prompts do not name reads with spaces for its underscores."""
    words = raw("churn_review.trait")
    return str(words.get(trait, trait.replace("_", " ")))


def trait_value(trait: str, value: str, person: Callable[[str], str], data: Callable[[str], str] = str) -> str:
    """A value of `trait` as shown: a band the review computed, in words; else the CSM as `person(id)` gives them;
    else the account's own value through `data` (`esc` in a Slack message)."""
    english = raw("churn_review.trait_value", ENGLISH)
    key = next((k for k, v in english.items() if v == value), None)
    if key is not None:
        return str(raw(f"churn_review.trait_value.{key}"))
    return person(value) if trait == CSM else data(value)


Names = Callable[[str], str | None]  # a Slack user id -> their name, None when unknown (bot.slack.client.UserNames)


def trait_cells(row: TraitRow, names: Names | None = None) -> tuple[str, str]:
    """A trait row's trait and value as a file shows them: the CSM by `names`, else by their Slack id."""
    return trait_name(row.trait), trait_value(row.trait, row.value, person=lambda user: (names and names(user)) or user)


def reason_word(reason: str) -> str:
    """An exit reason's key (`competitor`) as the exit interview's form words it ("Competitor", "竞争对手")."""
    return reason_label(reason)
