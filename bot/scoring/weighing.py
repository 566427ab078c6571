"""Which candidate measures a suggested card keeps, and their weights from a cross-validated logistic fit."""

from __future__ import annotations

import numpy as np

from bot.scoring import fitting, formats
from bot.scoring.binning import MIN_BIN_ACCOUNTS
from bot.scoring.candidates import Candidate, risk_of
from bot.scoring.caps import CAP_CHURNERS, CAP_LIFT, CAP_POINTS, CapCandidate
from bot.scoring.examples import Examples
from bot.scoring.scorecard import Cap, Card, Group
from prompts import say

MAX_CORRELATION = 0.9  # a measure this correlated with a better one says the same thing
MIN_WEIGHT_SHARE = 0.03  # a kept measure moving the score less than this share adds nothing a reader would notice


def choose(cands: list[Candidate], ex: Examples) -> list[Candidate]:
    """The kept candidates, best AUC first, without near-duplicates of a better one."""
    ranked = sorted((c for c in cands if c.kept), key=lambda c: -round(c.auc or 0, 3))  # stable: ties keep order
    kept: list[tuple[Candidate, np.ndarray]] = []
    for cand in ranked:
        risk = risk_of(cand, ex)
        twin = next(
            ((other, r) for other, r in ((o, _corr(risk, rk)) for o, rk in kept) if abs(r) >= MAX_CORRELATION), None
        )
        if twin is not None:
            cand.kept = False
            cand.why = say(
                "suggest.why.duplicate", auc=formats.auc(cand.auc), other=twin[0].description, corr=f"{twin[1]:.2f}"
            )
            continue
        kept.append((cand, risk))
    return [c for c, _ in kept]


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    both = ~np.isnan(a) & ~np.isnan(b)
    if both.sum() < 3 or a[both].std() == 0 or b[both].std() == 0:
        return 0.0
    return float(np.corrcoef(a[both], b[both])[0, 1])


def _features(kept: list[Candidate]) -> np.ndarray:
    """Risk per measure (1 - score / 100, from bins fitted on the other folds); a measure without data gets its
    column mean."""
    x = np.column_stack([1.0 - c.held_out / 100.0 for c in kept])
    seen = ~np.isnan(x)
    means = np.where(seen.any(axis=0), np.nansum(x, axis=0) / np.maximum(seen.sum(axis=0), 1), 0.0)
    return np.where(seen, x, means)


def weigh(kept: list[Candidate], ex: Examples) -> tuple[list[Candidate], fitting.CrossValidated]:
    """Cross-validated logistic weights; a measure with a negative (or negligible) coefficient is dropped, with its
    reason, and the rest refitted."""
    y, ids = ex.y.astype(float), ex.keys
    while True:
        cv = fitting.cross_validate(_features(kept), y, ids)
        coef = cv.coef[1:]
        worst = int(np.argmin(coef))
        if coef[worst] <= 0 and len(kept) > 1:
            dropped = kept.pop(worst)
            dropped.kept = False
            dropped.why = say("suggest.why.negative", auc=formats.auc(dropped.auc), coef=f"{coef[worst]:.2f}")
            continue
        x = _features(kept)
        share = coef * x.std(axis=0) / max(float((coef * x.std(axis=0)).sum()), 1e-12)  # of the score's spread
        smallest = int(np.argmin(share))
        if share[smallest] < MIN_WEIGHT_SHARE and len(kept) > 1:
            dropped = kept.pop(smallest)
            dropped.kept = False
            dropped.why = say("suggest.why.small", auc=formats.auc(dropped.auc), share=formats.percent(share[smallest]))
            continue
        for cand, w in zip(kept, coef / coef.sum(), strict=True):
            cand.weight = round(float(w), 3)
            cand.why = say("suggest.why.kept", auc=formats.auc(cand.auc), weight=formats.number(cand.weight))
        return kept, cv


def keep_a_metric(kept: list[Candidate], cands: list[Candidate]) -> None:
    """A card of account fields alone scores nobody (an account's days of data are days of the card's metrics):
    then the metric measure that ranks churners best joins, at the smallest weight, with that reason."""
    if any(c.spec.get("metric") for c in kept):
        return
    metrics = [c for c in cands if c.spec.get("metric") and c.measure is not None and c.auc is not None]
    if not metrics:
        return
    best = max(metrics, key=lambda c: c.auc or 0.0)
    best.kept = True
    best.weight = max(round(MIN_WEIGHT_SHARE * sum(c.weight or 0.0 for c in kept), 3), 0.001)
    best.why = say("suggest.why.anchor", auc=formats.auc(best.auc), weight=formats.number(best.weight))
    kept.append(best)


def rare_signals(cands: list[Candidate], kept: list[Candidate], ex: Examples) -> list[Candidate]:
    """Measures out only because their AUC alone is weak, though one of their bins (a tail or a value) has enough
    accounts and churners and churns far above the base rate: too rare to rank the rest, strong enough to set the
    tier of those few. They join at the smallest weight, so a cap can name them (`drop_unused` takes them out
    again when none does)."""
    y = ex.y
    base = float(y.mean()) if len(y) else 0.0
    weight = max(round(MIN_WEIGHT_SHARE * sum(c.weight or 0.0 for c in kept), 3), 0.001)
    out = []
    for cand in cands:
        if not cand.weak or cand.kept or cand.measure is None:
            continue
        strong = [
            b
            for b in cand.bins
            if b.accounts >= MIN_BIN_ACCOUNTS
            and b.churned >= CAP_CHURNERS
            and b.rate >= max(CAP_LIFT * base, base + CAP_POINTS)
        ]
        if not strong:
            continue
        top = max(strong, key=lambda b: b.rate)
        cand.kept, cand.rare, cand.weight, cand.weak_why = True, True, weight, cand.why
        cand.why = say(
            "suggest.why.rare",
            auc=formats.auc(cand.auc),
            bin=top.label,
            accounts=f"{top.accounts:,}",
            rate=formats.percent(top.rate),
            base=formats.percent(base),
            weight=formats.number(weight),
        )
        out.append(cand)
        kept.append(cand)
    return out


def drop_unused(
    rare: list[Candidate], chosen: list[tuple[CapCandidate, str, float, float]], kept: list[Candidate]
) -> list[Candidate]:
    """The rare signals no chosen cap names leave the card again, with their first reason and why."""
    named = {id(c) for option, *_ in chosen for c, *_ in option.conditions}
    unused = [c for c in rare if id(c) not in named]
    for cand in unused:
        kept.remove(cand)
        cand.kept, cand.rare, cand.weight = False, False, None
        cand.why = say("suggest.why.rare_unused", was=cand.weak_why)
    return unused


def build_card(kept: list[Candidate], caps: list[Cap]) -> Card:
    """One group per metric or field, weighted by the sum of its measures' weights."""
    by_source: dict[str, list[Candidate]] = {}
    for cand in sorted(kept, key=lambda c: -(c.weight or 0)):
        by_source.setdefault(cand.source, []).append(cand)
    groups = {}
    for source, cands in by_source.items():
        measures = [c.kept_measure.model_copy(update={"weight": c.weight}) for c in cands]
        label = formats.label(source)
        groups[source] = Group(
            label=formats.capitalised(label), weight=round(sum(m.weight for m in measures), 3), measures=measures
        )
    return Card(groups=groups, caps=caps)
