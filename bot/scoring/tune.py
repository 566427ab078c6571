"""Honest tuning: refit the current scorecard's weights and tier cutoffs to past churn.

Examples are the accounts the current scorecard scores on `as_of` and on days a month apart before it; an
example's features are its measures' risks (1 - score/100), its label "churned within the horizon". Per card an
L2-regularised logistic regression on every account (`fitting.cross_validate`: folds by account pick the
regularisation) weighs the measures; a measure whose coefficient is negative predicts churn the wrong way and is
dropped, then the rest refitted. A measure only some accounts report may not take so much of the weight that the
others fall under data.min_weight_covered (`_bounded`): the proposal scores the accounts the current card scores,
and says so when it cannot. Tier cutoffs are chosen on the proposed scores so the riskiest tiers keep catching
churners. The before/after figures are out of fold, on the examples both cards score: for each fold of accounts
all of that runs on the other folds, and the fold's accounts are scored by the engine with what it proposed.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from bot.scoring import formats
from bot.scoring.backtest import PastDay, evaluate, load_past_day, roc_auc, score_past_day
from bot.scoring.engine import tier_of
from bot.scoring.fitting import (
    FOLDS,
    L2_CHOICES,
    TierShare,
    account_keys,
    cross_validate,
    folds,
    propose_cutoffs,
    riskiest_two_share,
    tier_shares,
)
from bot.scoring.scorecard import Card, Group, Measure, Scorecard
from prompts import say

MIN_CHURNERS = 5
MIN_EXAMPLES = 30
NEGLIGIBLE = 0.05  # a coefficient under this share of the card's largest has almost no effect
SAMPLE_GAP_DAYS = 30
RISKIEST_TOLERANCE = 0.03  # the two riskiest tiers may catch this share of churners less before it is a warning
AUC_TOLERANCE = 0.01  # an out-of-fold AUC this much lower is worse, not noise
COVERAGE_MARGIN = 0.005  # kept below the coverage bound: weights are rounded to three digits when written


@dataclass
class Examples:
    """One row per account the current scorecard scored on a sampled day."""

    day: np.ndarray  # index into the sampled days
    account_id: np.ndarray
    key: np.ndarray  # `fitting.account_keys`: what folds are drawn from
    card: np.ndarray
    churned: np.ndarray  # bool: churned within the horizon after that day
    score: np.ndarray  # the current scorecard's score
    tier: np.ndarray  # ... and tier
    measures: list[dict[str, float | None]]  # measure scores (None: no data)


@dataclass
class Bound:
    """Measures whose share of the score was held down so the examples lacking them all stay scored."""

    measures: list[str]
    fitted: float  # their share of the score as fitted
    bounded: float  # ... and as proposed
    examples: int  # examples lacking every one of them


@dataclass
class CardFit:
    weights: dict[str, float]  # measure -> positive coefficient (negligible ones raised to the floor, bounded)
    dropped: list[tuple[str, float]]  # measures dropped for a negative coefficient, in order, with it
    negligible: list[tuple[str, float]]  # measures kept at the floor, with their coefficient
    unreported: list[str]  # measures nobody has data for: not fitted, kept as they are
    l2: float
    examples: int
    churned: int
    bounds: list[Bound] = field(default_factory=list)


@dataclass
class Outcome:
    auc: float | None
    shares: list[TierShare]


@dataclass
class TuneResult:
    as_of: date
    horizon: int
    current: Scorecard
    proposed: Scorecard | None  # None: no card could be fitted
    fits: dict[str, CardFit | str]  # card -> its fit, or why it kept its weights
    days: list[date]  # sampled days that gave examples
    examples: int
    churned: int
    before: Outcome  # out of fold, on the examples both the current card and the proposal scored
    after: Outcome
    unscored_after: int  # examples the out-of-fold proposals left unscored
    warnings: list[str]
    l2_given: bool
    active: int = 0  # accounts active on the sampled days (summed over the days)
    scored_after: int = 0  # of those, how many the proposal scores (the current card: `examples`)
    why_none: str | None = None  # why the current card scored no account, when it scored none


def tune(
    engine: Engine, scorecard: Scorecard, as_of: date, horizon: int, l2: float | None = None, samples: int = 3
) -> TuneResult:
    """Refit `scorecard` on `samples` days a month apart up to `as_of`; `l2` fixes the regularisation."""
    sampled = [as_of - timedelta(days=SAMPLE_GAP_DAYS * k) for k in range(samples)]
    days = [load_past_day(engine, scorecard.metrics, d, horizon, scorecard.data.lookback_days) for d in sampled]
    ex = _examples(scorecard, days)
    active = sum(len(past.inputs.accounts) for past in days)
    if not len(ex.day):  # say why, as the backtest would of the as-of day
        notes = evaluate(scorecard, score_past_day(scorecard, days[0]), as_of, horizon).notes
        return TuneResult(
            as_of,
            horizon,
            scorecard,
            None,
            {},
            [],
            0,
            0,
            before=Outcome(None, []),
            after=Outcome(None, []),
            unscored_after=0,
            warnings=[],
            l2_given=l2 is not None,
            active=active,
            why_none=notes[0] if notes else None,
        )
    cards = _CardData.build(scorecard, ex)

    fits = _fit_cards(cards, ex, np.ones(len(ex.day), dtype=bool), l2)
    used = sorted({int(d) for d in ex.day})
    active = sum(len(days[k].inputs.accounts) for k in used)  # on the days named, not on a day before any data
    result = TuneResult(
        as_of,
        horizon,
        scorecard,
        None,
        fits,
        [sampled[k] for k in used],
        len(ex.day),
        int(ex.churned.sum()),
        before=Outcome(None, []),
        after=Outcome(None, []),
        unscored_after=0,
        warnings=[],
        l2_given=l2 is not None,
        active=active,
        scored_after=len(ex.day),
    )
    if all(isinstance(f, str) for f in fits.values()):
        return result

    proposed = _propose(scorecard, fits)
    scores, scored_after = _rescore(proposed, days, ex)
    fitted_on = ~np.isnan(scores)
    proposed = _with_cutoffs(
        proposed, propose_cutoffs(scorecard.tiers, scores[fitted_on], ex.churned[fitted_on]), scorecard
    )

    oof_score, oof_tier = _out_of_fold(scorecard, cards, days, ex, l2)
    seen = ~np.isnan(oof_score)
    churned = ex.churned[seen]
    before = Outcome(roc_auc(100 - ex.score[seen], churned), tier_shares(scorecard.tiers, ex.tier[seen], churned))
    after = Outcome(roc_auc(100 - oof_score[seen], churned), tier_shares(scorecard.tiers, oof_tier[seen], churned))
    in_sample = tier_shares(proposed.tiers, tier_of(proposed, scores[fitted_on]), ex.churned[fitted_on])
    warnings = _lost_warning(proposed, ex, ~fitted_on) + _warnings(before, after, in_sample)
    return replace(
        result,
        proposed=proposed,
        before=before,
        after=after,
        unscored_after=int((~seen).sum()),
        warnings=warnings,
        scored_after=scored_after,
    )


# --- examples and fits --------------------------------------------------------------------------------------


def _examples(scorecard: Scorecard, days: list[PastDay]) -> Examples:
    cols: dict[str, list[Any]] = {k: [] for k in ("day", "account_id", "key", "card", "churned", "score", "tier")}
    measures: list[dict[str, float | None]] = []
    for k, past in enumerate(days):
        snap = score_past_day(scorecard, past)
        frame = snap.scores.frame
        cols["day"].append(np.full(len(frame), k))
        cols["account_id"].append(frame["account_id"].to_numpy())
        external = past.inputs.accounts.set_index("id")["external_id"].reindex(frame["account_id"].to_numpy())
        cols["key"].append(account_keys(external.tolist()))
        cols["card"].append(frame["card"].to_numpy(dtype=object))
        cols["churned"].append(snap.churned)
        cols["score"].append(frame["score"].to_numpy(dtype=float))
        cols["tier"].append(frame["raw_tier"].to_numpy(dtype=object))
        measures += [p["measures"] for p in snap.scores.parts]
    arrays = {
        k: np.concatenate(v) if v else np.array([], dtype=object if k in ("card", "tier") else float)
        for k, v in cols.items()
    }
    arrays["churned"] = arrays["churned"].astype(bool)
    return Examples(measures=measures, **arrays)


@dataclass
class _CardData:
    """A card's examples: their rows in `Examples`, the reported measures and their risks."""

    card: Card
    rows: np.ndarray
    names: list[str]  # measures with data on some example
    unreported: list[str]
    x: np.ndarray  # risk per row and name; no data -> the column's mean
    lacking: np.ndarray  # per row and name: no data (a renewal measure: not due), so it does not cover the row
    min_covered: float  # data.min_weight_covered: the share of the weight a row's data must cover

    def card_measure(self, name: str) -> Measure:
        return next(m for _, m in self.card.measures() if m.name == name)

    @classmethod
    def build(cls, scorecard: Scorecard, ex: Examples) -> dict[str, _CardData]:
        out = {}
        for name, card in scorecard.cards.items():
            rows = np.flatnonzero(ex.card == name)
            every = [m.name for _, m in card.measures()]
            risk = np.array(
                [[np.nan if (v := ex.measures[i].get(n)) is None else 1 - v / 100 for n in every] for i in rows],
                dtype=np.float64,
            ).reshape(len(rows), len(every))
            seen = ~np.isnan(risk)
            has = np.asarray(seen.any(axis=0), dtype=bool)
            means = np.nansum(risk, axis=0) / np.maximum(seen.sum(axis=0), 1)
            x = np.where(seen, risk, means)[:, has]
            names = [n for j, n in enumerate(every) if has[j]]
            unreported = [n for n in every if n not in names]
            out[name] = cls(card, rows, names, unreported, x, ~seen[:, has], scorecard.data.min_weight_covered)
        return out


def _fit_cards(
    cards: dict[str, _CardData], ex: Examples, use: np.ndarray, l2: float | None
) -> dict[str, CardFit | str]:
    """Per card, its fit on the examples in `use`, or why it keeps its weights."""
    out: dict[str, CardFit | str] = {}
    for name, data in cards.items():
        pick = use[data.rows]
        x, y = data.x[pick], ex.churned[data.rows][pick].astype(float)
        n, hits = len(y), int(y.sum())
        if n == 0:
            out[name] = say("tune.no_examples")
        elif n < MIN_EXAMPLES or hits < MIN_CHURNERS:
            out[name] = say(
                "tune.too_little", examples=n, churned=hits, min_examples=MIN_EXAMPLES, min_churners=MIN_CHURNERS
            )
        elif n - hits < MIN_CHURNERS:
            out[name] = say("tune.too_few_stayed", stayed=n - hits, examples=n, min_churners=MIN_CHURNERS)
        else:
            fit = _fit_card(data, x, y, ex.key[data.rows][pick], l2)
            out[name] = fit if fit.weights else say("tune.all_wrong_way")
    return out


def _fit_card(data: _CardData, x: np.ndarray, y: np.ndarray, ids: np.ndarray, l2: float | None) -> CardFit:
    """Drop the measure with the most negative coefficient and refit, until none is negative."""
    keep = list(range(len(data.names)))
    dropped: list[tuple[str, float]] = []
    chosen, coef = l2 or L2_CHOICES[0], np.zeros(0)
    while keep:
        cv = cross_validate(x[:, keep], y, ids, L2_CHOICES if l2 is None else (l2,))
        chosen, coef = cv.l2, cv.coef[1:]
        worst = int(np.argmin(coef))
        if coef[worst] >= 0:
            break
        dropped.append((data.names[keep[worst]], float(coef[worst])))
        del keep[worst]
    largest = float(coef.max()) if keep else 0.0
    floor = NEGLIGIBLE * largest
    names = [data.names[j] for j in keep]
    negligible = [(n, float(c)) for n, c in zip(names, coef, strict=True) if c < floor]
    weights = {n: max(float(c), floor) for n, c in zip(names, coef, strict=True)} if largest > 1e-9 else {}
    weights, bounds = _bounded(weights, data)
    return CardFit(weights, dropped, negligible, data.unreported, chosen, len(y), int(y.sum()), bounds)


def _bounded(weights: dict[str, float], data: _CardData) -> tuple[dict[str, float], list[Bound]]:
    """The fitted weights, with the share of any measures a row lacks held so every row keeps
    `min_covered` of the weight covered: the proposal scores every account the current card scores.

    The fit does not see coverage: a measure only some accounts report can take most of the weight, and the
    rest would go unscored. The worst-covered rows' missing measures are scaled down to the bound, the
    others take up what they gave, until every row is covered (or no measure is left to take it up).
    """
    if not weights:
        return weights, []
    names = list(weights)
    w = np.array([weights[n] for n in names])
    total = w.sum()
    w = w / total
    fitted = w.copy()
    # a row's load: the share it lacks, where a measure that is not due (renewal) only shrinks what must be covered
    due = np.array([data.card_measure(n).transform != "renewal" for n in names])
    lacking = data.lacking[:, [data.names.index(n) for n in names]]
    load = lacking * np.where(due, 1.0, 1 - data.min_covered)
    patterns = np.unique(load, axis=0)
    limit = 1 - data.min_covered - COVERAGE_MARGIN
    fixed = np.zeros(len(names), dtype=bool)
    parts: list[np.ndarray] = []
    for _ in range(2 * len(names)):
        loads = patterns @ w
        worst = int(np.argmax(loads))
        if loads[worst] <= limit + 1e-12 or limit <= 0:
            break
        part = patterns[worst] > 0
        free = ~fixed & ~part
        if not free.any():
            break  # nothing left to take up the weight: `_lost_warning` says which rows go unscored
        w[part] *= limit / loads[worst]
        fixed |= part
        w[free] *= (1 - w[~free].sum()) / w[free].sum()
        parts.append(part)
    bounds = [
        Bound(
            [names[j] for j in np.flatnonzero(p)],
            float(fitted[p].sum()),
            float(w[p].sum()),
            int(lacking[:, p].all(axis=1).sum()),
        )
        for p in parts
    ]
    return {n: float(v * total) for n, v in zip(names, w, strict=True)}, bounds


# --- proposals and their scores -----------------------------------------------------------------------------


def _nice(weight: float) -> float:
    """Three significant digits, never 0 (a weight must be positive)."""
    return max(float(f"{weight:.3g}"), 0.001)


def _proposed_card(card: Card, fit: CardFit) -> Card:
    """Fitted weights: a group weighs its measures' share of the card's coefficients (group weights sum to 1);
    within a group the fitted measures keep their old total, so measures nobody reports stay comparable."""
    dropped = {m for m, _ in fit.dropped}
    total = sum(fit.weights.values())
    groups = {}
    for g_name, group in card.groups.items():
        kept = [m for m in group.measures if m.name not in dropped]
        fitted = [m for m in kept if m.name in fit.weights]
        if not fitted:
            if kept:
                groups[g_name] = group.model_copy(update={"measures": kept})
            continue
        coef = sum(fit.weights[m.name] for m in fitted)
        scale = sum(m.weight for m in fitted) / coef
        measures = [
            m.model_copy(update={"weight": _nice(fit.weights[m.name] * scale)}) if m.name in fit.weights else m
            for m in kept
        ]
        groups[g_name] = Group(label=group.label, weight=_nice(coef / total), measures=measures)
    caps = [c for c in card.caps if not any(cond.measure in dropped for cond in c.conditions)]
    return Card(match=card.match, groups=groups, caps=caps)


def _propose(scorecard: Scorecard, fits: dict[str, CardFit | str]) -> Scorecard:
    cards = {}
    for name, card in scorecard.cards.items():
        fit = fits[name]
        cards[name] = card if isinstance(fit, str) else _proposed_card(card, fit)
    return Scorecard.model_validate({**scorecard.model_dump(), "cards": {n: c.model_dump() for n, c in cards.items()}})


def _with_cutoffs(scorecard: Scorecard, cutoffs: dict[str, float], current: Scorecard) -> Scorecard:
    """`scorecard` with new tier cutoffs, and every cap still holding its accounts in the tier `current` put them
    in, or worse: a ceiling the new cutoffs would lift into a better tier comes down to just below that tier."""
    tiers = {**scorecard.tiers.model_dump(), "cutoffs": cutoffs}
    moved = Scorecard.model_validate({**scorecard.model_dump(), "tiers": tiers})
    order = moved.tiers.order
    cards = {}
    for name, card in moved.cards.items():
        caps = []
        for cap in card.caps:
            was = order.index(str(tier_of(current, np.array([cap.at_most]))[0]))
            now = order.index(str(tier_of(moved, np.array([cap.at_most]))[0]))
            if now < was:  # a better tier than before
                cap = cap.model_copy(update={"at_most": max(cutoffs[order[was - 1]] - 1, 0.0)})
            caps.append(cap)
        cards[name] = card.model_copy(update={"caps": caps})
    return moved.model_copy(update={"cards": cards})


def cap_moves(current: Scorecard, proposed: Scorecard) -> list[tuple[str, str, float, float]]:
    """(card, when, at_most before, after) of each cap whose ceiling came down with the new cutoffs."""
    out = []
    for name, card in proposed.cards.items():
        before = {c.when: c.at_most for c in current.cards[name].caps} if name in current.cards else {}
        out += [
            (name, c.when, before[c.when], c.at_most) for c in card.caps if before.get(c.when, c.at_most) != c.at_most
        ]
    return out


def _rescore(scorecard: Scorecard, days: list[PastDay], ex: Examples) -> tuple[np.ndarray, int]:
    """The engine's score of every example under `scorecard` (NaN: it could not score it), and how many
    accounts it scores on the sampled days (examples or not)."""
    out = np.full(len(ex.day), np.nan)
    scored = 0
    for k, past in enumerate(days):
        frame = score_past_day(scorecard, past).scores.frame
        scored += len(frame)
        rows = np.flatnonzero(ex.day == k)
        by_id = pd.Series(frame["score"].to_numpy(dtype=float), index=frame["account_id"].to_numpy())
        out[rows] = by_id.reindex(ex.account_id[rows]).to_numpy(dtype=float)
    return out, scored


def _out_of_fold(
    scorecard: Scorecard, cards: dict[str, _CardData], days: list[PastDay], ex: Examples, l2: float | None
) -> tuple[np.ndarray, np.ndarray]:
    """Each example's score and tier from weights and cutoffs fitted without its account."""
    fold = folds(ex.key)
    score = np.full(len(ex.day), np.nan)
    tier = np.full(len(ex.day), None, dtype=object)
    for f in range(FOLDS):
        test = fold == f
        if not test.any():
            continue
        proposal = _propose(scorecard, _fit_cards(cards, ex, ~test, l2))
        s, _ = _rescore(proposal, days, ex)
        train = ~test & ~np.isnan(s)
        proposal = _with_cutoffs(proposal, propose_cutoffs(scorecard.tiers, s[train], ex.churned[train]), scorecard)
        if cap_moves(scorecard, proposal):  # a ceiling came down: the fold's accounts score under the new one
            s, _ = _rescore(proposal, days, ex)
        scored = test & ~np.isnan(s)
        score[scored] = s[scored]
        tier[scored] = tier_of(proposal, s[scored])
    return score, tier


def worse(result: TuneResult) -> bool:
    """The proposal ranks churners worse out of fold than the current card, by more than AUC_TOLERANCE: `tune`
    does not write it unless forced."""
    before, after = result.before.auc, result.after.auc
    return before is not None and after is not None and after < before - AUC_TOLERANCE


def _lost_warning(proposed: Scorecard, ex: Examples, lost: np.ndarray) -> list[str]:
    """A warning when the proposal leaves examples unscored that the current card scores, and why: the
    measures those examples lack most often."""
    if not lost.any():
        return []
    lacking: dict[str, int] = {}
    for i in np.flatnonzero(lost):
        seen = ex.measures[i]
        for _, m in proposed.cards[str(ex.card[i])].measures():
            if m.name in seen and seen[m.name] is None:
                words = formats.measure_words(m)
                lacking[words] = lacking.get(words, 0) + 1
    common = sorted(lacking.items(), key=lambda kv: -kv[1])[:3]
    measures = ", ".join(say("tune.lacking", measure=w, count=f"{n:,}") for w, n in common) or say("tune.lacking_none")
    share = formats.percent(proposed.data.min_weight_covered)
    return [say("tune.warn_lost", count=int(lost.sum()), examples=len(lost), share=share, measures=measures)]


def _warnings(before: Outcome, after: Outcome, in_sample: list[TierShare]) -> list[str]:
    out: list[str] = []
    empty: set[str] = set()
    for where, shares in ((say("tune.warn_empty_oof"), after.shares), (say("tune.warn_empty_fit"), in_sample)):
        for s in shares:
            if s.accounts == 0 and s.tier not in empty:
                empty.add(s.tier)
                out.append(say("tune.warn_empty", label=s.label, where=where))
    if before.auc is not None and after.auc is not None and after.auc < before.auc - AUC_TOLERANCE:
        out.append(say("tune.warn_auc", before=formats.auc(before.auc), after=formats.auc(after.auc)))
    was, now = riskiest_two_share(before.shares), riskiest_two_share(after.shares)
    if was is not None and now is not None and now < was - RISKIEST_TOLERANCE:
        total = sum(s.accounts for s in after.shares) or 1
        out.append(
            say(
                "tune.warn_riskiest",
                labels=" and ".join(s.label for s in after.shares[-2:]),
                after=formats.percent(now, 1),
                before=formats.percent(was, 1),
                accounts_after=formats.percent(sum(s.accounts for s in after.shares[-2:]) / total, 1),
                accounts_before=formats.percent(sum(s.accounts for s in before.shares[-2:]) / total, 1),
            )
        )
    return out
