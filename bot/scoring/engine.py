"""The scoring engine: measure inputs in, explainable 0-100 scores, caps and tiers out.

Pure functions over numpy/pandas. Observations are laid out as one dense
(accounts x days) array per metric, so scoring a day is a handful of array slices per
measure for every account at once, and a backfill reuses the same arrays day after day
(each day only ever reads columns up to itself: no look-ahead).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, NotRequired, SupportsIndex, TypedDict, cast, overload

import numpy as np
import pandas as pd

from bot.scoring.explain import Code, cap_code, reason_code, worded, wording_key
from bot.scoring.measures import DayInputs, applies, measure_input
from bot.scoring.panel import Panel, window
from bot.scoring.parts_json import SEPARATORS, encode, jfloat, json_members, jstr, trend_fragments
from bot.scoring.scorecard import Cap, Card, Scorecard
from storage.types import ScoreParts


def _interp(x: np.ndarray, bands: list[tuple[float, float]]) -> np.ndarray:
    xs = np.array([b[0] for b in bands])
    ys = np.array([b[1] for b in bands])
    out = np.interp(np.nan_to_num(x, nan=0.0), xs, ys)
    return np.where(np.isnan(x), np.nan, out)


class DriverRow(TypedDict):
    """A driver as the engine writes it (read back as `storage.types.Driver`)."""

    measure: str
    group: str
    points: float
    reason: str
    words: dict[str, Any]


class PartsRow(TypedDict):
    """A score's parts as the engine writes them: plain dicts, cheap for millions of rows. Stored,
    they read back as `storage.types.ScoreParts`; `coverage` is added by the scoring run."""

    groups: dict[str, float | None]
    measures: dict[str, float | None]
    drivers: list[DriverRow]
    coverage: NotRequired[float]


class PartsColumn(Sequence[PartsRow]):
    """A day's parts as the JSON text they are stored as (what `json.dumps(part, separators=(",", ":"))` writes,
    encoded once by the engine), read back as plain dicts on demand."""

    __slots__ = ("texts",)

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts

    def __len__(self) -> int:
        return len(self.texts)

    @overload
    def __getitem__(self, index: SupportsIndex) -> PartsRow: ...
    @overload
    def __getitem__(self, index: slice) -> PartsColumn: ...
    def __getitem__(self, index: SupportsIndex | slice) -> PartsRow | PartsColumn:
        if isinstance(index, slice):
            return PartsColumn(self.texts[index])
        return cast(PartsRow, json.loads(self.texts[index]))

    def __eq__(self, other: object) -> bool:
        """Equal to the same parts as dicts (as the plain list of them a day's scores used to hold)."""
        if not isinstance(other, Sequence) or isinstance(other, str):
            return NotImplemented
        return len(self) == len(other) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]


def parts_json(parts: Sequence[PartsRow], rows: Sequence[int], coverage: Sequence[float]) -> list[str]:
    """The stored JSON of `parts[rows]`, each with its coverage added: `{**part, "coverage": c}` as json.dumps
    writes it."""
    if isinstance(parts, PartsColumn):
        texts = parts.texts
        return [f'{texts[r][:-1]},"coverage":{jfloat(c)}}}' for r, c in zip(rows, coverage, strict=True)]
    return [json.dumps({**parts[r], "coverage": c}, separators=SEPARATORS) for r, c in zip(rows, coverage, strict=True)]


@dataclass
class DayScores:
    """Scores for one day: one row per account that could be scored."""

    frame: pd.DataFrame  # account_id, score, raw_tier, card, partial, coverage, cap (see `score_day`)
    parts: PartsColumn | list[PartsRow]  # aligned with frame rows (a `PartsColumn` from `score_day`)
    days_with_data: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # per panel account

    def score_parts(self, row: int) -> ScoreParts:
        """Row `row`'s parts as the typed model every reader uses (as a stored score gives them)."""
        return ScoreParts.model_validate({**self.parts[row], "coverage": float(self.frame["coverage"].iat[row])})


def card_for_accounts(scorecard: Scorecard, accounts: pd.DataFrame) -> np.ndarray:
    """Name of the card that scores each account: first card whose `match` fits, else fallback.

    Values match regardless of case and surrounding spaces ("Enterprise " is `enterprise`).
    """
    chosen = np.full(len(accounts), "", dtype=object)
    fallback = next(name for name, c in scorecard.cards.items() if not c.match)
    for name, card in scorecard.cards.items():
        if not card.match:
            continue
        fits = np.ones(len(accounts), dtype=bool)
        for key, allowed in card.match.items():
            wanted = [str(v).strip().casefold() for v in allowed]
            fits &= accounts[key].astype("string").str.strip().str.casefold().isin(wanted).fillna(False).to_numpy(bool)
        chosen = np.where((chosen == "") & fits, name, chosen)
    return np.where(chosen == "", fallback, chosen)


@dataclass
class ReasonCache:
    """Reasons worded and encoded once per distinct wording and figures, kept across the days of one run (in one
    language: the one spoken while it scores)."""

    wordings: dict[tuple[Any, ...], str] = field(default_factory=dict)  # wording_key -> the text as JSON
    reasons: dict[tuple[Any, ...], tuple[Code, str]] = field(default_factory=dict)  # (measure, figures) -> code, JSON


def score_day(
    scorecard: Scorecard, accounts: pd.DataFrame, panel: Panel, day: date, cache: ReasonCache | None = None
) -> DayScores:
    """Score every account in `accounts` (rows aligned with panel.account_ids) on `day`; `cache` carries the
    reasons already worded from one day to the next (a backfill)."""
    cache = cache if cache is not None else ReasonCache()
    inputs = DayInputs.on(scorecard, accounts, panel, day)
    col, lookback = inputs.col, inputs.lookback
    n = len(panel.account_ids)

    any_obs = np.zeros((n, min(col + 1, lookback)), dtype=bool)
    for arr in panel.values.values():
        any_obs |= ~np.isnan(window(arr, col, lookback))
    days_with_data = any_obs.sum(axis=1)

    cards = card_for_accounts(scorecard, accounts)
    score = np.full(n, np.nan)
    coverage = np.zeros(n)
    cap_of = np.full(n, -1)
    parts: list[str | None] = [None] * n
    for card_name, card in scorecard.cards.items():
        rows = np.flatnonzero(cards == card_name)
        if len(rows):
            _score_card(card, inputs, rows, score, coverage, cap_of, parts, cache)

    enough = (days_with_data >= scorecard.data.min_days_of_data) & (coverage >= scorecard.data.min_weight_covered)
    enough &= ~np.isnan(score)
    keep = np.flatnonzero(enough)
    frame = pd.DataFrame(
        {
            "account_id": panel.account_ids[keep],
            "score": np.round(score[keep], 1),
            "card": cards[keep],
            "partial": coverage[keep] < 0.999,
            "coverage": np.round(coverage[keep], 3),
            "cap": cap_of[keep],  # which of its card's caps holds the account (the lowest at_most; -1: none)
        }
    )
    frame["raw_tier"] = tier_of(scorecard, frame["score"].to_numpy())
    # every kept row has a score, so its card wrote its parts
    return DayScores(
        frame.reset_index(drop=True), PartsColumn(cast(list[str], [parts[i] for i in keep])), days_with_data
    )


def _score_card(
    card: Card,
    inputs: DayInputs,
    rows: np.ndarray,
    score: np.ndarray,
    coverage: np.ndarray,
    cap_of: np.ndarray,
    parts: list[str | None],
    cache: ReasonCache,
) -> None:
    days_to_renewal = inputs.days_to_renewal
    total_group_weight = sum(g.weight for g in card.groups.values())
    measure_scores: dict[str, np.ndarray] = {}
    measure_figures: dict[str, dict[str, np.ndarray]] = {}
    measure_inputs: dict[str, np.ndarray] = {}
    eff_weight: dict[str, np.ndarray] = {}
    group_scores: dict[str, np.ndarray] = {}
    avail_group_weight = np.zeros(len(rows))
    covered = np.zeros(len(rows))
    applicable = np.zeros(len(rows))  # a measure that does not apply (renewal far off) is not missing data
    for g_name, group in card.groups.items():
        num = np.zeros(len(rows))
        den = np.zeros(len(rows))
        for m in group.measures:
            if not inputs.tracked(m):  # nobody has it: no data, and a cap naming it never holds
                measure_inputs[m.name] = np.full(len(rows), np.nan)
                measure_figures[m.name] = {"category": np.full(len(rows), "", dtype=object)}
                continue
            x, figures = measure_input(m, inputs)
            x = x[rows]
            measure_inputs[m.name] = x
            measure_figures[m.name] = {k: v[rows] for k, v in figures.items()}
            s = x if m.is_category else _interp(x, m.bands)
            measure_scores[m.name] = s
            has = ~np.isnan(s)
            num += np.where(has, s * m.weight, 0.0)
            den += np.where(has, m.weight, 0.0)
            nominal = group.weight / total_group_weight * m.weight / sum(x.weight for x in group.measures)
            covered += np.where(has, nominal, 0.0)
            applicable += np.where(applies(m, days_to_renewal[rows]), nominal, 0.0)
        with np.errstate(all="ignore"):
            group_scores[g_name] = np.where(den > 0, num / den, np.nan)
        avail_group_weight += np.where(den > 0, group.weight, 0.0)
        for m in group.measures:
            if m.name not in measure_scores:
                continue
            has = ~np.isnan(measure_scores[m.name])
            with np.errstate(all="ignore"):
                eff_weight[m.name] = np.where(has & (den > 0), m.weight / den, 0.0) * group.weight
    with np.errstate(all="ignore"):
        total = sum(
            np.nan_to_num(group_scores[g]) * np.where(np.isnan(group_scores[g]), 0.0, card.groups[g].weight)
            for g in card.groups
        )
        card_score = np.where(avail_group_weight > 0, total / avail_group_weight, np.nan)
        for name in eff_weight:
            eff_weight[name] = np.where(avail_group_weight > 0, eff_weight[name] / avail_group_weight, 0.0)
    cap_at, cap_index = _caps(card, measure_inputs, measure_figures)
    score[rows], held = capped_scores(card_score, cap_at)
    cap_of[rows] = cap_index
    coverage[rows] = np.where(applicable > 0, covered / np.where(applicable > 0, applicable, 1.0), 0.0)

    measure_group = {m.name: (g, m) for g, m in card.measures()}
    lost = {
        name: eff_weight[name] * (100.0 - np.nan_to_num(measure_scores[name], nan=100.0)) for name in measure_scores
    }
    names = list(lost)
    lost_matrix = np.column_stack([lost[nm] for nm in names]) if names else np.zeros((len(rows), 0))
    order = np.argsort(-lost_matrix, axis=1)[:, :3]
    # The parts are written straight as their stored JSON text (`PartsColumn`): groups and measures a column at
    # a time; per account only its drivers, from fragments encoded once per distinct reason.
    head = json_members(
        len(rows),
        [(g, _rounded(v)) for g, v in group_scores.items()],
        [(nm, _rounded(measure_scores[nm])) for nm in names],
    )
    score_missing = np.isnan(card_score).tolist()
    lost_rows = lost_matrix.tolist()
    # drivers are only measures losing at least 0.5 points: ask Python about those alone
    candidate = np.where(np.take_along_axis(lost_matrix, order, axis=1) < 0.5, -1, order)
    candidates = candidate.tolist()
    measure_meta = [measure_group[nm] for nm in names]
    driver_head = [f'{{"measure":{jstr(nm)},"group":{jstr(measure_meta[j][0])},"points":' for j, nm in enumerate(names)]
    figure_lists: list[list[tuple[str, list[Any]]]] = [
        [(k, np.asarray(v).tolist()) for k, v in measure_figures[nm].items()] for nm in names
    ]
    wordings, reasons = cache.wordings, cache.reasons
    if len(reasons) > _REASONS_KEPT:
        reasons.clear()
    measure_ids = [id(meta[1]) for meta in measure_meta]

    def fragment(code: Code) -> str:
        """',"reason":...,"words":...}': the end of a driver's JSON."""
        key = wording_key(code)
        text = wordings.get(key)
        if text is None:
            text = wordings[key] = jstr(worded(code))
        return f',"reason":{text},"words":{encode(code)}}}'

    def reason_for(j: int, i: int) -> tuple[Code, str]:
        quoted = {k: v[i] for k, v in figure_lists[j]}
        key = (measure_ids[j], *quoted.values())
        reason = reasons.get(key)
        if reason is None:
            code = reason_code(measure_meta[j][1], quoted)
            reason = (code, fragment(code))
            if 0.0 not in key[1:]:  # 0.0 == -0.0 as keys, but they may read differently
                reasons[key] = reason
        return reason

    # a trend's reason differs from account to account only by its change: its JSON from a template checked
    # against `reason_code` itself, its words once per whole percent
    trends: list[list[str | None] | None] = [None] * len(names)
    for j, (_, m) in enumerate(measure_meta):
        if m.transform == "trend":
            trends[j] = trend_fragments(m, figure_lists[j], np.flatnonzero((candidate == j).any(axis=1)), fragment)

    def driver_end(j: int, i: int) -> str:
        known = trends[j]
        end = known[i] if known is not None else None
        return end if end is not None else reason_for(j, i)[1]

    position = {nm: j for j, nm in enumerate(names)}  # a cap holds only on measures with data: all are here
    held_rows, cap_rows = held.tolist(), cap_index.tolist()
    cap_points = np.nan_to_num(card_score - score[rows]).tolist()
    for i, r in enumerate(rows.tolist()):
        if score_missing[i]:
            continue
        drivers: list[tuple[float, str]] = []
        lost_i = lost_rows[i]
        named: set[int] = set()  # measures a holding cap names: their points join the cap's, said once
        if held_rows[i]:
            cap = card.caps[cap_rows[i]]
            measures = [c.measure for c in cap.conditions]
            named = {position[nm] for nm in measures}
            code = cap_code([reason_for(position[nm], i)[0] for nm in measures], cap.at_most)
            points = round(-(cap_points[i] + sum(lost_i[j] for j in named)), 1)
            drivers.append((points, f'{{"measure":{jstr("cap:" + measures[0])},"group":"","points":'
                            f"{jfloat(points)}{fragment(code)}"))  # fmt: skip
        for j in candidates[i]:
            if j < 0:
                break
            if j in named:
                continue
            points = round(-lost_i[j], 1)
            drivers.append((points, driver_head[j] + jfloat(points) + driver_end(j, i)))
        if len(drivers) > 1:
            drivers = sorted(drivers, key=_first)[:3]
        parts[r] = f'{head[i]},"drivers":[{",".join(d for _, d in drivers)}]}}'


_REASONS_KEPT = 200_000  # distinct figures remembered by a run's `ReasonCache` before it starts afresh


def _first(pair: tuple[float, str]) -> float:
    return pair[0]


def capped_scores(score: np.ndarray, cap_at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scores with caps applied, and where a cap lowered them. A cap scales the score into 0..at_most (`cap_at`,
    NaN: no cap), so capped accounts keep their order among themselves."""
    with np.errstate(invalid="ignore"):
        capped = np.where(np.isnan(cap_at), score, cap_at * score / 100.0)
        held = score - capped >= 0.05  # NaN (no cap, or no score) compares False
    return np.where(held, capped, score), held


def _caps(
    card: Card, inputs: dict[str, np.ndarray], figures: dict[str, dict[str, np.ndarray]]
) -> tuple[np.ndarray, np.ndarray]:
    """Per account: the lowest `at_most` of the caps that hold (NaN: none holds) and which cap it is (-1: none)."""
    n = len(next(iter(inputs.values()))) if inputs else 0
    cap_at, index = np.full(n, np.nan), np.full(n, -1)
    for k, cap in enumerate(card.caps):
        holds = _cap_holds(cap, inputs, figures)
        tighter = holds & ~(cap_at <= cap.at_most)
        cap_at[tighter], index[tighter] = cap.at_most, k
    return cap_at, index


def _cap_holds(cap: Cap, inputs: dict[str, np.ndarray], figures: dict[str, dict[str, np.ndarray]]) -> np.ndarray:
    """Per account: whether every condition of `cap` holds on its measures' inputs (no data never holds)."""
    holds = np.ones(len(inputs[cap.conditions[0].measure]), dtype=bool)
    for c in cap.conditions:
        if isinstance(c.value, str):
            value = np.array([str(v).casefold() for v in figures[c.measure]["category"]], dtype=object)
            holds &= (value == c.value) if c.op == "==" else (value != c.value) & (value != "")
        else:
            with np.errstate(invalid="ignore"):
                holds &= _COMPARE[c.op](inputs[c.measure], c.value)  # NaN (no data) never holds
    return holds


_COMPARE: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    ">=": np.greater_equal,
    "<=": np.less_equal,
    ">": np.greater,
    "<": np.less,
    "==": np.equal,
    "!=": np.not_equal,
}


def _rounded(values: np.ndarray) -> list[float | None]:
    """Python's round(x, 1) per element (None for NaN), as a part stores it.

    Vectorised: rint(10x)/10 is the same float as round(x, 1) unless 10x is within float
    error of a half (where round() looks at the exact decimal value); those few, and
    NaN/inf/huge values, go through round() itself.
    """
    x = np.asarray(values, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        tenth = x * 10.0
        out = (np.rint(tenth) / 10.0).tolist()
        exact = np.abs(tenth - np.floor(tenth) - 0.5) > 1e-6
        exact &= np.abs(x) < 1e6  # keeps the float error of 10x far below the margin; False for NaN, inf
    for i in np.flatnonzero(~exact).tolist():
        v = float(x[i])
        out[i] = None if v != v else round(v, 1)
    return out


def tier_of(scorecard: Scorecard, scores: np.ndarray) -> np.ndarray:
    """Tier name per score by the cutoffs (best tier first)."""
    tiers = scorecard.tiers
    out = np.full(len(scores), tiers.order[-1], dtype=object)
    for tier in reversed(tiers.order):
        out = np.where(scores >= tiers.cutoffs[tier], tier, out)
    return out


def apply_hysteresis(scorecard: Scorecard, scores: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """Tiers that only change once the score is `hysteresis` points past the cutoff.

    `previous` holds yesterday's tier per account (None when unknown).
    """
    tiers = scorecard.tiers
    raw = tier_of(scorecard, scores)
    margin = tiers.hysteresis
    if margin == 0:
        return raw
    scores = np.asarray(scores, dtype=np.float64)
    raw_rank = _tier_rank(scorecard, scores)
    up = _tier_rank(scorecard, scores - margin)  # a better tier must be earned by `margin` points
    down = _tier_rank(scorecard, scores + margin)  # a worse tier needs `margin` points below the cutoff
    # yesterday's tier as its position (-1: none, or a tier this scorecard does not have), hashed in C
    prev = pd.Categorical(previous, categories=tiers.order).codes.astype(np.int64)
    moved = (prev >= 0) & (prev != raw_rank)
    improving = moved & (raw_rank < prev)
    worsening = moved & (raw_rank > prev)
    out_rank = raw_rank.copy()
    out_rank[improving] = np.where(up < prev, up, prev)[improving]
    out_rank[worsening] = np.where(down > prev, down, prev)[worsening]
    out = raw.copy()
    changed = np.flatnonzero(moved)
    out[changed] = np.array(tiers.order, dtype=object)[out_rank[changed]]
    return out


def _tier_rank(scorecard: Scorecard, scores: np.ndarray) -> np.ndarray:
    """`tier_of` as positions in `tiers.order` (0 = best)."""
    tiers = scorecard.tiers
    out = np.full(len(scores), len(tiers.order) - 1, dtype=np.int64)
    for i in range(len(tiers.order) - 1, -1, -1):
        out = np.where(scores >= tiers.cutoffs[tiers.order[i]], i, out)
    return out
