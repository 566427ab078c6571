"""Fit measure weights to past churn and propose a scorecard.

Each scored account on the as-of day (and on days a month apart before it) is one
example: its measure scores are the features, "churned within the horizon" the label. An L2-regularised logistic
regression (Newton's method in numpy) finds how much each measure's risk predicts
churn; positive coefficients become the proposed weights. Accounts are split in two by
id: weights are fitted on one half and both scorecards are backtested on the other, so
the comparison is out of sample.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
from sqlalchemy import Engine

from bot.scoring.backtest import BacktestResult, Snapshot, evaluate, snapshot
from bot.scoring.scorecard import Card, Group, Scorecard

MIN_CHURNERS = 5
MIN_EXAMPLES = 30


@dataclass
class TuneResult:
    proposed: Scorecard
    current_test: BacktestResult
    proposed_test: BacktestResult
    fitted_cards: list[str]
    skipped_cards: dict[str, str]  # card -> why it kept its weights


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0, iterations: int = 50) -> np.ndarray:
    """Coefficients (intercept first) of an L2-regularised logistic regression, by Newton's method."""
    design = np.column_stack([np.ones(len(x)), x])
    beta = np.zeros(design.shape[1])
    penalty = np.full(design.shape[1], l2)
    penalty[0] = 0.0  # the intercept is not shrunk
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(design @ beta, -30, 30)))
        gradient = design.T @ (p - y) + penalty * beta
        hessian = (design * (p * (1 - p))[:, None]).T @ design + np.diag(penalty)
        step = np.linalg.lstsq(hessian, gradient, rcond=None)[0]  # a constant feature makes it singular
        beta -= step
        if np.abs(step).max() < 1e-8:
            break
    return beta


def _features(snap: Snapshot, names: list[str], rows: np.ndarray) -> np.ndarray:
    """Measure risk (1 - score/100) per account; a measure without data gets its column mean."""
    measures = [snap.scores.score_parts(i).measures for i in rows]
    risk = [[np.nan if (v := m.get(n)) is None else 1 - v / 100 for n in names] for m in measures]
    x = np.array(risk, dtype=np.float64).reshape(len(rows), len(names))
    seen = ~np.isnan(x)
    means = np.where(seen.any(axis=0), np.nansum(x, axis=0) / np.maximum(seen.sum(axis=0), 1), 0.0)
    return np.where(seen, x, means)


def propose_card(card: Card, names: list[str], coef: np.ndarray) -> Card:
    """Measure weights from positive coefficients (a small floor keeps every measure visible)."""
    positive = np.maximum(coef, 0.0)
    floor = max(positive.max() * 0.05, 1e-3)
    weight = dict(zip(names, np.maximum(positive, floor), strict=True))
    groups = {}
    for g_name, group in card.groups.items():
        measures = [m.model_copy(update={"weight": round(float(weight[m.name]), 3)}) for m in group.measures]
        total = sum(m.weight for m in measures)
        groups[g_name] = Group(label=group.label, weight=round(total, 3), measures=measures)
    return Card(match=card.match, groups=groups)


def tune(
    engine: Engine, scorecard: Scorecard, as_of: date, horizon: int, l2: float = 1.0, samples: int = 3
) -> TuneResult:
    """Fit on even account ids over `samples` snapshots a month apart; test on odd ids at `as_of`."""
    snaps = [snapshot(engine, scorecard, as_of - timedelta(days=30 * k), horizon) for k in range(samples)]
    snap = snaps[0]
    frame = snap.scores.frame
    train = (frame["account_id"].to_numpy() % 2) == 0
    cards: dict[str, Card] = {}
    fitted, skipped = [], {}
    for name, card in scorecard.cards.items():
        names = [m.name for _, m in card.measures()]
        xs, ys = [], []
        for s in snaps:
            f = s.scores.frame
            rows = np.flatnonzero(((f["account_id"].to_numpy() % 2) == 0) & (f["card"] == name).to_numpy())
            xs.append(_features(s, names, rows))
            ys.append(s.churned[rows].astype(float))
        x, y = np.vstack(xs), np.concatenate(ys)
        if len(y) < MIN_EXAMPLES or y.sum() < MIN_CHURNERS:
            skipped[name] = (
                f"too little data to fit: {len(y)} training example(s), {int(y.sum())} churned; "
                f"needs at least {MIN_EXAMPLES} and {MIN_CHURNERS} churned"
            )
            cards[name] = card
            continue
        cards[name] = propose_card(card, names, fit_logistic(x, y, l2=l2)[1:])
        fitted.append(name)
    proposed = scorecard.model_copy(update={"cards": cards})
    proposed = Scorecard.model_validate(proposed.model_dump())  # re-run every check on the new weights

    test_accounts = frame["account_id"].to_numpy()[~train]
    current_test = evaluate(scorecard, _subset(snap, ~train), as_of, horizon)
    proposed_snap = snapshot(engine, proposed, as_of, horizon)
    keep = np.isin(proposed_snap.scores.frame["account_id"].to_numpy(), test_accounts)
    proposed_test = evaluate(proposed, _subset(proposed_snap, keep), as_of, horizon)
    return TuneResult(proposed, current_test, proposed_test, fitted, skipped)


def _subset(snap: Snapshot, keep: np.ndarray) -> Snapshot:
    from bot.scoring.engine import DayScores

    idx = np.flatnonzero(keep)
    scores = DayScores(snap.scores.frame.iloc[idx].reset_index(drop=True), [snap.scores.parts[i] for i in idx])
    return Snapshot(scores, snap.churned[idx], unscored=0, latest_metrics=snap.latest_metrics)


def to_toml(scorecard: Scorecard) -> str:
    """The scorecard as TOML in the same layout as the default file."""

    def value(v: object) -> str:
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + " }"
        if isinstance(v, list | tuple):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return json.dumps(v)
        return repr(v)

    data = scorecard.model_dump()
    out = ["# Proposed by `healthbot tune`: review, then point SCORECARD_PATH at this file.", "", "[tiers]"]
    out += [f"{k} = {value(v)}" for k, v in data["tiers"].items()]
    out += ["", "[data]"] + [f"{k} = {value(v)}" for k, v in data["data"].items()]
    for card_name, card in data["cards"].items():
        out += ["", f"[cards.{card_name}]"]
        if card["match"]:
            out.append(f"match = {value(card['match'])}")
        for g_name, group in card["groups"].items():
            out += ["", f"[cards.{card_name}.groups.{g_name}]", f"label = {value(group['label'])}"]
            out.append(f"weight = {value(group['weight'])}")
            out.append("measures = [")
            out += [f"  {value(m)}," for m in group["measures"]]
            out.append("]")
    return "\n".join(out) + "\n"
