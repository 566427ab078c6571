"""The chance to churn in words: a percent that never claims certainty, where an account's chance comes from (its
band, or the two bands it lies between, its segment's factor and the level's), what a fit was made from, or why
there is none."""

from __future__ import annotations

import numpy as np

from bot.scoring import chance
from bot.scoring.chance import ChanceFit, segment_keys
from prompts import formats, say


def chance_percent(value: float) -> str:
    """A chance as a whole percent; one that rounds to none reads "under 1 %", one that rounds to all "over 99 %" (no
    past case is a promise either way)."""
    whole = f"{value:.0%}"  # "0%" up to 0.5 % (0.005 itself rounds half to even)
    if whole == "0%":
        return say("chance.under_one")
    return say("chance.over_99") if whole == "100%" else formats.percent(value)


def too_little_text(existing: ChanceFit) -> str:
    """Why there is no chance to show (the fit has too little churn history, or no past day to learn from)."""
    if not existing.snapshots:
        return say("chance.no_history", horizon=existing.horizon)
    return say(
        "chance.too_little",
        churned=existing.churned_accounts,
        cases=existing.cases,
        needed=chance.MIN_CHURNED,  # read when called: tests set them
        needed_cases=chance.MIN_CASES,
    )


def source_text(existing: ChanceFit, card: str | None, score: float, segment: str | None = None) -> str:
    """Where an account's chance comes from, in words: its band (of its card's or everyone's bands), how the past
    cases in it fared, and its segment's factor and the level's (churn of late) when they moved it."""
    bands = existing.map_for(card)
    assert bands is not None, "source_text needs a fit with enough history"
    if not existing.separates:  # one band of all the cases: the base rate, and why
        flat = {"cases": bands.cases, "churned": bands.churned, "checked": chance.CHECK_SNAPSHOTS}
        return say("chance.source_flat", horizon=existing.horizon, **flat)
    lowers, uppers, weights = bands.between(np.array([score]))
    lower, upper, weight = int(lowers[0]), int(uppers[0]), float(weights[0])
    band = bands.bands[lower if weight < 0.5 else upper]
    values = dict(cases=band.cases, lo=band.lo, hi=band.hi, churned=band.churned, horizon=existing.horizon)
    own = (card or "") in existing.cards
    if lower != upper and 0 < weight < 1:  # between two bands' centres: both, and the chance lies between theirs
        first, second = bands.bands[lower], bands.bands[upper]
        text = say(
            "chance.source_between",
            card=say("chance.card_named", card=card) if own else "",
            lo1=first.lo,
            hi1=first.hi,
            churned1=first.churned,
            cases1=first.cases,
            lo2=second.lo,
            hi2=second.hi,
            churned2=second.churned,
            cases2=second.cases,
            horizon=existing.horizon,
        )
    else:
        text = say("chance.source_card", card=card, **values) if own else say("chance.source", **values)
    ratio = existing.ratios.get(segment_keys([segment])[0])
    if ratio is not None and abs(ratio.factor - 1) >= 0.05:
        text += say(
            "chance.segment_ratio",
            segment=(segment or "").strip(),
            factor=f"{ratio.factor:.2g}",
            churned=ratio.churned,
            expected=f"{ratio.expected:.1f}",
        )
    level = existing.level
    if level is not None and abs(level.factor - 1) >= 0.05:
        text += say(
            "chance.level_ratio",
            checked=chance.CHECK_SNAPSHOTS,
            factor=f"{level.factor:.2g}",
            churned=level.churned,
            expected=f"{level.expected:.1f}",
        )
    return text


def fit_text(existing: ChanceFit) -> str:
    """What a fit was made from, or why it gives no chance: one line for the score run and the card's footer."""
    if not existing.enough:
        return too_little_text(existing)
    text = say(
        "chance.fitted",
        snapshots=len(existing.snapshots),
        first=min(existing.snapshots),
        last=max(existing.snapshots),
        cases=existing.cases,
        churned=existing.churned_accounts,
    )
    return text if existing.separates else text + say("chance.no_separation", checked=chance.CHECK_SNAPSHOTS)
