"""`healthbot scorecard suggest`: the whole suggestion, what it prints and the file it writes.

A complete scorecard from a portfolio's own metrics, fields and past churn.

Examples are the accounts active on the as-of day and on days a month apart before it (their fields as known that
day, metrics up to it), labelled with churn within the horizon. Accounts are split by `fitting.folds`: folds 0-2 fit
everything (~60 %), folds 3-4 are only backtested, so no account is on both sides.

Per candidate measure (`candidates`: a few transforms of each metric, and the account fields) the fitting examples
are cut into quantile bins (`binning`), small bins merged into their neighbours, churn rates made monotone
(pool-adjacent-violators) and turned into bands: 100 at the lowest churn rate seen, 0 at the highest. A candidate is
judged by its AUC with bins fitted on the other folds (so noise does not grade itself), the best of near-duplicates
is kept, and the weights (`weighing`) come from a cross-validated logistic regression on those held-out risks (1 -
score / 100); a measure that then predicts the wrong way, or moves the score by almost nothing, is dropped and the
rest refitted.

Caps (`caps`): a tail of a measure's bins (from the first bin that churns far above the base rate) or a category
value, and pairs of the best measures whose joint cell churns far above either alone, hold the score just below the
cutoff of the tier whose churn rate theirs is closest to. Tier cutoffs come from the as-of day's fitting examples
(they look most like the portfolio today), proposed again once the caps are in. Every in and out has a reason with
the counts behind it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine

from bot.progress import Bar
from bot.scoring import fitting, formats, shapes
from bot.scoring.backtest import BacktestResult, PastDay, Snapshot, evaluate, load_past_day
from bot.scoring.backtest_words import format_result
from bot.scoring.binning import MIN_BIN_ACCOUNTS
from bot.scoring.candidates import MIN_AUC, Candidate, all_candidates
from bot.scoring.caps import (
    CAP_CHURNERS,
    CAP_LIFT,
    CAP_POINTS,
    MIN_TIER_POINTS,
    cap_line,
    caps_at,
    choose_caps,
    cutoff_rows,
    fitted_scores,
    score_snapshots,
    with_cutoffs,
)
from bot.scoring.engine import DayScores, tier_of
from bot.scoring.examples import FIT_FOLDS, LOOKBACK, MIN_CHURNERS, Examples, row_ids, row_keys
from bot.scoring.run import team_today
from bot.scoring.scorecard import Cap, DataRules, Scorecard, load_scorecard, to_toml
from bot.scoring.weighing import build_card, choose, drop_unused, keep_a_metric, rare_signals, weigh
from prompts import say
from prompts.formats import listing
from storage import accounts as account_store
from storage import scores as score_store

SNAPSHOT_GAP = 30  # days between snapshots
MIN_DAYS_OF_DATA = 14  # days with any metric an account needs to be scored (less when the data has less)
MIN_WEIGHT_COVERED = 0.5
FEW_TEST_CHURNERS = 10  # fewer churners among the test accounts make the backtest of the suggestion worth little
PROGRESS_ACCOUNTS = 5000  # a progress bar from this many accounts


class SuggestError(ValueError):
    """Input a suggestion cannot be made from: nothing was written."""


class FewChurners(SuggestError):
    """Too few churners to fit: what a card from the shapes of the metrics is built from instead."""

    def __init__(self, message: str, churners: int, inputs: Any, min_days: int):
        super().__init__(message)
        self.churners, self.inputs, self.min_days = churners, inputs, min_days


@dataclass
class CapChoice:
    cap: Cap
    tier: str  # the tier its churn rate deserves: the cap holds the score in it or worse
    line: str  # the reason, with the counts behind it
    gain: str  # the fitting AUC before and after


@dataclass
class Suggestion:
    scorecard: Scorecard
    test: BacktestResult  # the suggestion on accounts it did not fit on, as of the as-of day
    candidates: list[Candidate]
    caps: list[CapChoice]
    test_shares: list[fitting.TierShare]
    fit_shares: list[fitting.TierShare]
    cv: fitting.CrossValidated
    as_of: date
    horizon: int
    days: list[date]  # the snapshots
    fit_rows: int
    fit_accounts: int
    fit_churned: int
    test_accounts: int
    warnings: list[str] = field(default_factory=list)  # printed last, each on a "warning:" line
    cycles: dict[str, str] = field(default_factory=dict)  # metric -> its weekly cycle in words

    def report(self) -> str:
        """What the command prints: measures in and out with their counts, caps, weights, tiers and the backtest."""
        tiers = self.scorecard.tiers
        lines = [
            say("suggest.report.title", as_of=self.as_of, horizon=self.horizon),
            say(
                "suggest.report.examples",
                rows=f"{self.fit_rows:,}",
                accounts=f"{self.fit_accounts:,}",
                churned=f"{self.fit_churned:,}",
                days=formats.dates(self.days),
                test=f"{self.test_accounts:,}",
                as_of=self.as_of,
            ),
            say("suggest.report.measures"),
            *(c.line() for c in self.candidates),
            *(
                say("suggest.report.cycle", label=formats.capitalised(formats.label(m)), cycle=c)
                for m, c in self.cycles.items()
            ),
            say("suggest.report.caps"),
        ]
        for choice in self.caps:
            lines += ["  " + choice.line, choice.gain]
        if not self.caps:
            lines.append(
                say(
                    "suggest.cap.none",
                    lift=formats.number(CAP_LIFT),
                    points=round(CAP_POINTS * 100),
                    accounts=MIN_BIN_ACCOUNTS,
                    churners=CAP_CHURNERS,
                )
            )
        lines.append(say("suggest.report.weights", auc=formats.auc(self.cv.auc), l2=formats.number(self.cv.l2)))
        shares = listing(formats.percent(v) for v in _cumulative(self.fit_shares))
        cutoffs = listing(
            say("suggest.report.cutoff", label=tiers.label(t), at=formats.number(tiers.cutoffs[t])) for t in tiers.order
        )
        counts = listing(str(i + 1) for i in range(len(tiers.order) - 1))
        lines.append(say("suggest.report.tiers", shares=shares, cutoffs=cutoffs, counts=counts))
        lines.append(format_result(self.test, say("suggest.report.backtest_title")))
        caught = listing(
            say("suggest.report.share", label=s.label, share=formats.percent(s.share_of_churners, missing="-"))
            for s in self.test_shares
        )
        lines.append(say("suggest.report.shares", shares=caught))
        lines += [say("suggest.warning.line", warning=w) for w in self.warnings]
        return "\n".join(lines)

    def header(self) -> str:
        """The written file's header: how it was made, and what to do with it."""
        text = say(
            "suggest.report.header",
            as_of=self.as_of,
            horizon=self.horizon,
            accounts=f"{self.fit_accounts:,}",
            rows=f"{self.fit_rows:,}",
            days=formats.dates(self.days),
            test=f"{self.test_accounts:,}",
            auc=formats.auc(self.test.auc),
        )
        cycles = [
            say("suggest.report.cycle", label=formats.capitalised(formats.label(m)), cycle=c)
            for m, c in self.cycles.items()
        ]
        return "\n".join([text, *cycles])

    def toml(self) -> str:
        notes = {c.cap.when: " ".join(c.line.split()) for c in self.caps}  # the cap in words, with its counts
        return to_toml(self.scorecard, self.header(), notes)


def _days_with_data(past: PastDay) -> np.ndarray:
    inputs = past.inputs
    lookback = min(inputs.col + 1, inputs.lookback)
    seen = np.zeros((len(inputs.accounts), max(lookback, 0)), dtype=bool)
    for arr in inputs.panel.values.values():
        seen |= ~np.isnan(arr[:, inputs.col - lookback + 1 : inputs.col + 1])
    return seen.sum(axis=1)


def _examples(engine: Engine, as_of: date, horizon: int, samples: int, bar: Callable[[int], object]) -> Examples:
    with engine.connect() as conn:
        latest = score_store.latest_metric_day(conn, until=team_today())
        metrics = score_store.reported_metrics(conn)
    if latest is None:
        raise SuggestError(say("suggest.error.no_metrics"))
    if as_of > latest:
        raise SuggestError(say("suggest.error.after_latest", as_of=as_of, latest=latest))
    pasts: list[tuple[PastDay, np.ndarray]] = []  # with each account's days of data
    for k in range(samples):
        past = load_past_day(engine, metrics, as_of - timedelta(days=SNAPSHOT_GAP * k), horizon, LOOKBACK)
        bar(1)
        days = _days_with_data(past)
        if days.any():  # a day before the data starts teaches nothing
            pasts.append((past, days))
    if not pasts or pasts[0][0].inputs.day != as_of:
        raise SuggestError(say("suggest.error.no_accounts", as_of=as_of, lookback=LOOKBACK))
    min_days = int(min(MIN_DAYS_OF_DATA, max(d.max() for _, d in pasts)))
    fit, test = [], np.zeros(0, dtype=np.int64)
    for i, (past, days) in enumerate(pasts):
        fold = fitting.folds(row_keys(past))
        fits = np.isin(fold, FIT_FOLDS)
        fit.append(np.flatnonzero(fits & (days >= min_days)))
        if i == 0:
            test = np.flatnonzero(~fits)
    return Examples([p for p, _ in pasts], fit, test, min_days)


def _warnings(card: Scorecard, shares: list[fitting.TierShare], test: BacktestResult) -> list[str]:
    """What the reader should look at before using the card (it is written all the same): a tier narrower than
    MIN_TIER_POINTS or that no fitting account falls in, and a backtest with too few churners to mean much."""
    tiers, out = card.tiers, []
    for j, tier in enumerate(tiers.order):
        width = (100.0 if j == 0 else tiers.cutoffs[tiers.order[j - 1]]) - tiers.cutoffs[tier]
        if width < MIN_TIER_POINTS:
            out.append(
                say(
                    "suggest.warning.narrow_tier",
                    label=tiers.label(tier),
                    width=formats.number(width),
                    points=MIN_TIER_POINTS,
                )
            )
        elif not next((s.accounts for s in shares if s.tier == tier), 0):
            out.append(say("suggest.warning.empty_tier", label=tiers.label(tier)))
    if test.churned < FEW_TEST_CHURNERS:
        out.append(
            say(
                "suggest.warning.few_test_churners",
                churned=test.churned,
                accounts=f"{test.accounts:,}",
                few=FEW_TEST_CHURNERS,
            )
        )
    return out


def suggest(engine: Engine, as_of: date, horizon: int, samples: int = 3, progress: bool = True) -> Suggestion:
    """A scorecard fitted to the portfolio's churn up to `as_of`, with the reasons for each choice and its backtest
    on the accounts it did not fit on. Raises `SuggestError` when the data cannot support one."""
    with _bar(engine, samples, progress) as bar:
        ex = _examples(engine, as_of, horizon, samples, bar.update)
        y = ex.y.astype(bool)
        rows, churned = len(y), int(y.sum())
        accounts = len(np.unique(ex.ids))
        if churned < MIN_CHURNERS:
            churners = {str(i) for p in ex.pasts for i in p.inputs.accounts["external_id"][p.churned]}
            raise FewChurners(
                _few_churners(engine, ex, horizon, accounts), len(churners), ex.pasts[0].inputs, ex.min_days
            )
        if rows - churned < MIN_CHURNERS:
            raise SuggestError(
                say("suggest.error.few_retained", retained=rows - churned, rows=f"{rows:,}", horizon=horizon)
            )
        cands = all_candidates(ex)
        bar.update(1)
        kept = choose(cands, ex)
        if not kept:
            best = max((c.auc for c in cands if c.auc is not None), default=None)
            raise SuggestError(
                say("suggest.error.nothing_kept", auc=formats.auc(best), min_auc=formats.number(MIN_AUC))
            )
        kept, cv = weigh(kept, ex)
        keep_a_metric(kept, cands)
        rare = rare_signals(cands, kept, ex)
        bar.update(1)

        default = load_scorecard()
        data = DataRules(lookback_days=LOOKBACK, min_days_of_data=ex.min_days, min_weight_covered=MIN_WEIGHT_COVERED)
        card = Scorecard(tiers=default.tiers, data=data, cards={"default": build_card(kept, [])})
        fitted = fitted_scores(score_snapshots(card, ex), ex, kept)
        card = with_cutoffs(card, fitted)
        chosen = choose_caps(card, kept, fitted)
        unused = drop_unused(rare, chosen, kept)
        if unused and not chosen:  # the card again without the measures that were only there for a cap
            card = card.model_copy(update={"cards": {"default": build_card(kept, [])}})
            card = with_cutoffs(card, fitted_scores(score_snapshots(card, ex), ex, kept))
        bar.update(1)
        base = float(fitted.y.mean()) if len(fitted.y) else 0.0
        caps: list[CapChoice] = []
        cutoff_snapshots = 1 if int(fitted.y[fitted.latest].sum()) >= MIN_CHURNERS else None  # see cutoff_rows
        if chosen:  # cutoffs again on the capped scores, each cap's ceiling kept below the tier above its own
            final = caps_at(card, chosen)
            capped = card.model_copy(update={"cards": {"default": build_card(kept, final)}})
            ceilings = [(tier, cap.at_most) for (_, tier, *_), cap in zip(chosen, final, strict=True)]
            card = with_cutoffs(
                capped, fitted_scores(score_snapshots(capped, ex, cutoff_snapshots), ex, kept), ceilings
            )
            card = Scorecard.model_validate(card.model_dump())
            for (option, tier, before, after), cap in zip(chosen, final, strict=True):
                line = cap_line(option, base, cap.at_most, card.tiers.label(tier))
                caps.append(
                    CapChoice(
                        cap, tier, line, say("suggest.cap.gain", before=formats.auc(before), after=formats.auc(after))
                    )
                )
        bar.update(1)
        snaps = score_snapshots(card, ex, cutoff_snapshots)  # the as-of day's scores test the card on held-out accounts
        fitted = fitted_scores(snaps, ex, kept)
        test, test_shares = _backtest(card, snaps[0], ex, as_of, horizon)
        bar.update(1)
    on = cutoff_rows(fitted)
    fit_shares = fitting.tier_shares(card.tiers, tier_of(card, fitted.score[on]), fitted.y[on])
    warnings = _warnings(card, fit_shares, test)
    order = {id(c): i for i, c in enumerate(sorted(cands, key=lambda c: (not c.kept, -(c.weight or 0))))}
    return Suggestion(
        scorecard=card,
        test=test,
        candidates=sorted(cands, key=lambda c: order[id(c)]),
        caps=caps,
        test_shares=test_shares,
        fit_shares=fit_shares,
        cv=cv,
        as_of=as_of,
        horizon=horizon,
        days=[p.inputs.day for p in ex.pasts],
        fit_rows=rows,
        fit_accounts=accounts,
        fit_churned=churned,
        test_accounts=len(ex.test),
        warnings=warnings,
        cycles=ex.cycles,
    )


def propose(engine: Engine, as_of: date, horizon: int, progress: bool = True) -> Suggestion | shapes.ShapeSuggestion:
    """`suggest`, or with too few churners to fit, a card from the shapes of the metrics (`shapes`), marked not
    fitted. Raises `SuggestError` when the data supports neither."""
    try:
        return suggest(engine, as_of, horizon, progress=progress)
    except FewChurners as few:
        found = shapes.shapes(few.inputs, few.min_days, formats.label)
        if not any(s.measures for s in found):
            metrics = listing(s.metric for s in found)
            raise SuggestError(say("suggest.error.no_shapes", problem=few, metrics=metrics)) from None
        card = shapes.card(found, few.min_days)
        return shapes.ShapeSuggestion(card, found, as_of, horizon, few.churners, str(few))


def _few_churners(engine: Engine, ex: Examples, horizon: int, accounts: int) -> str:
    """Too few churners to learn from: how many there are, how many the test accounts hold back, and whether
    other options would find more (only when churn is recorded outside the windows already counted)."""
    days = [p.inputs.day for p in ex.pasts]
    first, last = min(days), max(days) + timedelta(days=horizon)
    with engine.connect() as conn:
        later, earlier = account_store.churned_outside(conn, first, last)
    advice = [say("suggest.error.more_later", count=later, day=last)] if later else []
    advice += [say("suggest.error.more_earlier", count=earlier, day=first)] if earlier else []
    test_churned = int(ex.pasts[0].churned[ex.test].sum())
    return say(
        "suggest.error.few_churners",
        churned=int(ex.y.sum()),
        rows=f"{len(ex.y):,}",
        accounts=f"{accounts:,}",
        days=formats.dates(days),
        horizon=horizon,
        test_churned=test_churned,
        test=f"{len(ex.test):,}",
        share=formats.percent(1 - len(FIT_FOLDS) / 5),
        minimum=MIN_CHURNERS,
        advice="; ".join(advice) or say("suggest.error.no_more_churn", day=last),
    )


def _backtest(
    card: Scorecard, snap: Snapshot, ex: Examples, as_of: date, horizon: int
) -> tuple[BacktestResult, list[fitting.TierShare]]:
    """The card on the test accounts (folds 3-4) as of `as_of` (`snap`: the as-of day scored with it)."""
    past = ex.pasts[0]
    frame = snap.scores.frame
    test_ids = row_ids(past)[ex.test]
    keep = np.flatnonzero(np.isin(frame["account_id"].to_numpy(), test_ids))
    scores = DayScores(frame.iloc[keep].reset_index(drop=True), [snap.scores.parts[i] for i in keep])
    subset = Snapshot(
        scores, snap.churned[keep], unscored=len(test_ids) - len(keep), latest_metrics=snap.latest_metrics
    )
    result = evaluate(card, subset, as_of, horizon)
    shares = fitting.tier_shares(card.tiers, scores.frame["raw_tier"].to_numpy(), subset.churned)
    return result, shares


@contextlib.contextmanager
def _bar(engine: Engine, samples: int, progress: bool) -> Iterator[Any]:
    """A progress bar over the steps (each snapshot loaded, then five), shown from PROGRESS_ACCOUNTS accounts."""
    with engine.connect() as conn:
        many = account_store.account_count(conn) >= PROGRESS_ACCOUNTS
    desc, unit = say("cli.progress.suggesting"), say("cli.progress.step")
    with Bar(total=samples + 5, desc=desc, unit=unit, disable=not (progress and many), leave=False) as bar:
        yield bar


def out_problem(path: Path) -> str | None:
    """Why `path` cannot be written (checked before the work, so a bad --out costs nothing), else None."""
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        return say("suggest.error.out_folder", path=path)
    if not folder.is_dir():
        return say("suggest.error.out_missing", path=path, folder=folder)
    if path.exists() and not os.access(path, os.W_OK):
        return say("suggest.error.out_readonly", path=path, reason=say("suggest.error.file_readonly"))
    if not path.exists() and not os.access(folder, os.W_OK):
        return say("suggest.error.out_readonly", path=path, reason=say("suggest.error.folder_readonly", folder=folder))
    return None


def write(suggestion: Suggestion | shapes.ShapeSuggestion, path: Path) -> None:
    """Write the suggestion whole or not at all (a temporary file renamed over `path`)."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(suggestion.toml(), encoding="utf-8")
        load_scorecard(tmp)  # what was written reads back (else a ScorecardError, and nothing is left behind)
        tmp.replace(path)
    except OSError as exc:
        raise SuggestError(say("suggest.error.out_readonly", path=path, reason=exc.strerror or str(exc))) from None
    finally:
        tmp.unlink(missing_ok=True)


def _cumulative(shares: list[fitting.TierShare]) -> list[float]:
    """Share of churners in the riskiest tier, the two riskiest, ... (all but the best tier)."""
    out, total = [], 0.0
    for s in reversed(shares[1:]):
        total += s.share_of_churners or 0.0
        out.append(total)
    return out
