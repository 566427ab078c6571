"""What `healthbot tune` prints, and the scorecard file it writes with the proposal edited in."""

from __future__ import annotations

import textwrap
import tomllib
from typing import Any

import numpy as np
import tomlkit

from bot.scoring import formats
from bot.scoring.fitting import FOLDS
from bot.scoring.scorecard import Card, Measure, Scorecard
from bot.scoring.tune import CardFit, TuneResult, cap_moves
from prompts import raw, say
from prompts.formats import listing


def report(result: TuneResult, path: str) -> list[str]:
    """What `healthbot tune` prints, in order."""
    current = result.current
    days = formats.dates(result.days) or say("tune.no_days")
    lines = [
        say(
            "tune.examples",
            path=path,
            examples=result.examples,
            days=days,
            churned=result.churned,
            horizon=result.horizon,
        )
    ]
    if result.why_none is not None:
        lines.append(say("tune.none_scored", as_of=result.as_of.isoformat(), why=result.why_none))
    for name, fit in result.fits.items():
        if isinstance(fit, str):
            lines.append(say("tune.card_kept", card=name, why=fit))
        else:
            lines += _card_lines(name, current.cards[name], fit, result)
    proposed = result.proposed
    if proposed is None:
        return lines
    lines.append(say("tune.scored", before=result.examples, after=result.scored_after, active=result.active))
    both = sum(s.accounts for s in result.after.shares)
    lines.append(say("tune.oof_title", folds=FOLDS, both=both))
    lines.append(say("tune.oof_auc", before=formats.auc(result.before.auc), after=formats.auc(result.after.auc)))
    if result.unscored_after:
        lines.append(say("tune.oof_unscored", count=result.unscored_after))
    lines += [say("tune.tier_header"), say("tune.tier_subheader")]
    total = sum(s.accounts for s in result.after.shares) or 1
    for b, a in zip(result.before.shares, result.after.shares, strict=True):
        lines.append(
            say(
                "tune.tier_row",
                label=b.label,
                churners_before=formats.percent(b.share_of_churners, 1),
                churners_after=formats.percent(a.share_of_churners, 1),
                accounts_before=formats.percent(b.accounts / total, 1),
                accounts_after=formats.percent(a.accounts / total, 1),
            )
        )
    changes = listing(
        say(
            "tune.cutoff_change",
            label=current.tiers.label(t),
            before=current.tiers.cutoffs[t],
            after=proposed.tiers.cutoffs[t],
        )
        for t in current.tiers.order
    )
    lines.append(say("tune.cutoffs", changes=changes))
    for card, when, before, after in cap_moves(current, proposed):
        lines.append(say("tune.cap_moved", card=card, when=when, before=f"{before:g}", after=f"{after:g}"))
    return lines + result.warnings


def _card_lines(name: str, card: Card, fit: CardFit, result: TuneResult) -> list[str]:
    how = say("tune.l2_given") if result.l2_given else say("tune.l2_chosen", folds=FOLDS)
    lines = [say("tune.card_fitted", card=name, examples=fit.examples, churned=fit.churned, l2=fit.l2, how=how)]
    words = {m.name: formats.measure_words(m) for _, m in card.measures()}
    lines += [say("tune.dropped", measure=words[m], coef=c) for m, c in fit.dropped]
    dropped = {m for m, _ in fit.dropped}
    for cap in card.caps:
        named = [words[c.measure] for c in cap.conditions if c.measure in dropped]
        if named:
            lines.append(
                say("tune.cap_dropped", when=cap.when, at_most=cap.at_most, measures=listing(named, long=True))
            )
    largest = max(fit.weights.values())
    lines += [say("tune.negligible", measure=words[m], coef=c, largest=largest) for m, c in fit.negligible]
    if fit.unreported:
        lines.append(say("tune.unreported", measures=listing([words[m] for m in fit.unreported], long=True)))
    for b in fit.bounds:
        lines.append(
            say(
                "tune.bounded",
                measures=listing([words[m] for m in b.measures], long=True),
                fitted=formats.percent(b.fitted, 1),
                bounded=formats.percent(b.bounded, 1),
                examples=b.examples,
                them=say("tune.it") if len(b.measures) == 1 else say("tune.them"),
                share=formats.percent(result.current.data.min_weight_covered),
            )
        )
    assert result.proposed is not None
    new = result.proposed.cards[name]
    lines.append(say("tune.shares_title"))
    before = _shares(card, set(fit.weights) | dropped)
    after = _shares(new, set(fit.weights))
    for g_name, group in card.groups.items():
        fitted = [m.name for m in group.measures if m.name in before]
        if g_name not in new.groups:
            lines.append(
                say(
                    "tune.group_removed",
                    group=card.group_label(g_name),
                    before=formats.percent(sum(before[m] for m in fitted), 1),
                )
            )
            continue
        if not fitted:
            continue
        shares = {
            "group": card.group_label(g_name),
            "before": formats.percent(sum(before[m] for m in fitted), 1),
            "after": formats.percent(sum(after.get(m, 0.0) for m in fitted), 1),
        }
        if len(fitted) == 1:
            lines.append(say("tune.group_share_one", measure=words[fitted[0]], **shares))
            continue
        measures = listing(
            [
                say(
                    "tune.measure_share",
                    measure=words[m],
                    before=formats.percent(before[m], 1),
                    after=formats.percent(after[m], 1) if m in after else say("tune.share_dropped"),
                )
                for m in fitted
            ],
            long=True,
        )
        lines.append(say("tune.group_share", measures=measures, **shares))
    return lines


def _shares(card: Card, counted: set[str]) -> dict[str, float]:
    """Each counted measure's share of the whole score when every one has data (as the engine weighs them:
    the group's share of the card times the measure's share of its group)."""
    raw_share = {
        m.name: group.weight * m.weight / sum(x.weight for x in group.measures)
        for group in card.groups.values()
        for m in group.measures
        if m.name in counted
    }
    total = sum(raw_share.values()) or 1.0
    return {n: v / total for n, v in raw_share.items()}


def proposal_text(original: str, result: TuneResult) -> str:
    """`original` (the current scorecard file's text) with the proposal edited in: weights, group weights, tier
    cutoffs, dropped measures and the caps that named them. Everything else, comments and layout included, stays;
    a comment at the top says where the file came from (replacing one an earlier tune wrote)."""
    proposed = result.proposed
    assert proposed is not None
    doc = tomlkit.parse(_without_tune_header(original))
    cutoffs: Any = doc["tiers"]["cutoffs"]
    for tier, value in proposed.tiers.cutoffs.items():
        _set(cutoffs, tier, value)
    for name, fit in result.fits.items():
        if not isinstance(fit, str):
            _edit_card(doc["cards"][name], proposed.cards[name], fit)
    for name, *_ in cap_moves(result.current, proposed):  # ceilings that follow the new cutoffs
        at_most = {c.when: c.at_most for c in proposed.cards[name].caps}
        for item in doc["cards"][name]["caps"]:
            _set(item, "at_most", at_most[str(item["when"])])
    header = say(
        "tune.header",
        as_of=result.as_of.isoformat(),
        horizon=result.horizon,
        before=formats.auc(result.before.auc),
        after=formats.auc(result.after.auc),
    )
    for name, fit in result.fits.items():
        if not isinstance(fit, str) and fit.dropped:
            measures = listing(say("tune.header_dropped_measure", measure=m, coef=c) for m, c in fit.dropped)
            header += "\n" + "\n".join(textwrap.wrap(say("tune.header_dropped", card=name, measures=measures), 110))
    text = "".join(f"# {line}\n" for line in header.splitlines()) + "\n" + tomlkit.dumps(doc)
    if Scorecard.model_validate(tomllib.loads(text)) != proposed:  # a layout this editor does not know
        raise RuntimeError("the edited scorecard does not read back as the proposal")
    return text


def _edit_card(card_doc: Any, new: Card, fit: CardFit) -> None:
    groups_doc = card_doc["groups"]
    for g_name in list(groups_doc):
        if g_name not in new.groups:
            del groups_doc[g_name]
            continue
        group = new.groups[g_name]
        weights = {m.name: m.weight for m in group.measures}
        if any(n in fit.weights for n in weights):
            _set(groups_doc[g_name], "weight", group.weight)
        items = groups_doc[g_name]["measures"]
        for i in reversed(range(len(items))):
            measure = str(items[i]["name"])
            if measure not in weights:
                del items[i]
            elif measure in fit.weights:
                _set(items[i], "weight", weights[measure], default=Measure.model_fields["weight"].default)
    if "caps" in card_doc:
        kept = {c.when: c.at_most for c in new.caps}
        items = card_doc["caps"]
        for i in reversed(range(len(items))):
            if str(items[i]["when"]) not in kept:
                del items[i]


def _set(table: Any, key: str, value: float, default: float | None = None) -> None:
    """Set a number, written as a whole number when it is one; an equal value (or default) is left as written."""
    if float(table.get(key, default if default is not None else np.nan)) != value:
        table[key] = int(value) if float(value).is_integer() else value


def _without_tune_header(text: str) -> str:
    """The file without the comment an earlier `healthbot tune` put at its top (up to the first blank line)."""
    prefix = "# " + raw("tune.header").split("{")[0]  # "# Proposed by `healthbot tune` as of "
    if not text.startswith(prefix):
        return text
    head, _, rest = text.partition("\n\n")
    return rest if all(line.startswith("#") for line in head.splitlines()) else text


def lost_comments(original: str, written: str) -> list[str]:
    """Comments of `original` that `written` no longer has (in order): they went with removed parts."""
    kept = iter(_comments(written))
    return [c for c in _comments(_without_tune_header(original)) if c not in kept]


def _comments(text: str) -> list[str]:
    return [line[line.index("#") :].strip() for line in text.splitlines() if "#" in line]
