"""Expected MRR loss added up: the portfolio, each segment, each CSM and each tier.

`loss_summary` reads the frame `chance_fit.portfolio(session, fit, day)` returns (one row per customer scored that day,
with `chance` and `expected_loss`) and sums it four ways. Every customer counts in `accounts` and `mrr`; only the
ones with a chance count in `expected_accounts` (the sum of their chances: how many of them are expected to churn
within the horizon) and `expected_loss` (the sum of chance x MRR). A customer without a chance (no fit with enough
history, or no score band for it) is counted in `without_chance`, so a surface can say the sums leave it out.

Accounts without a segment fall in one row whose key is `NO_SEGMENT`, accounts without an owner in one whose key is
`NO_OWNER` (both None: `name` words them); the tiers come in the scorecard's order, a tier the order does not name
(a score stored under an older card) after them. Segments and CSMs come largest expected loss first. Pure: no
database, no Slack.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from bot.scoring import chance
from prompts import say

NO_SEGMENT: None = None
NO_OWNER: None = None
Kind = Literal["portfolio", "segment", "csm", "tier"]


@dataclass(frozen=True)
class LossRow:
    """One group of customers: `key` is the segment, the owner's Slack id or the tier (None: the accounts with no
    segment / no owner; the portfolio row's key is None too)."""

    key: str | None
    accounts: int
    mrr: float  # their MRR (an account without one adds nothing)
    expected_accounts: float  # the sum of their chances
    expected_loss: float  # the sum of chance x MRR
    without_chance: int = 0  # accounts counted in `accounts` and `mrr` but not in the expected sums

    @property
    def share(self) -> float | None:
        """Expected loss as a share of the group's MRR (None without MRR)."""
        return self.expected_loss / self.mrr if self.mrr > 0 else None


@dataclass(frozen=True)
class LossSummary:
    portfolio: LossRow
    segments: list[LossRow] = field(default_factory=list)
    csms: list[LossRow] = field(default_factory=list)
    tiers: list[LossRow] = field(default_factory=list)

    @property
    def accounts(self) -> int:
        return self.portfolio.accounts

    @property
    def without_chance(self) -> int:
        """Accounts with no chance: in the accounts and MRR, not in the expected sums."""
        return self.portfolio.without_chance

    @property
    def with_chance(self) -> int:
        return self.portfolio.accounts - self.portfolio.without_chance

    @property
    def empty(self) -> bool:
        return self.portfolio.accounts == 0


@dataclass(frozen=True)
class _Sums:
    """The per-account values every row adds up."""

    mrr: np.ndarray  # 0 where there is none
    chance: np.ndarray  # 0 where there is none
    loss: np.ndarray  # chance x MRR, 0 without either
    without: np.ndarray  # 1 where there is no chance

    @classmethod
    def of(cls, frame: pd.DataFrame) -> _Sums:
        chances = frame["chance"].to_numpy(dtype=float)
        mrr = pd.to_numeric(frame["mrr"], errors="coerce").to_numpy(dtype=float)
        known = ~np.isnan(chances)
        loss = chance.loss_per_account(chances, mrr)
        return cls(np.nan_to_num(mrr), np.where(known, chances, 0.0), loss, (~known).astype(float))


def _key(value: object) -> str | None:
    """A segment / owner / tier as a key: a missing or blank one is None."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def _groups(frame: pd.DataFrame, column: str, sums: _Sums) -> list[LossRow]:
    codes_of: dict[str | None, int] = {}
    codes = np.array([codes_of.setdefault(_key(v), len(codes_of)) for v in frame[column].tolist()], dtype=np.int64)
    k = len(codes_of)
    n = np.bincount(codes, minlength=k)
    mrr, chance, loss, without = (
        np.bincount(codes, weights=w, minlength=k) for w in (sums.mrr, sums.chance, sums.loss, sums.without)
    )
    rows = [
        LossRow(key, int(n[c]), float(mrr[c]), float(chance[c]), float(loss[c]), int(round(without[c])))
        for key, c in codes_of.items()
    ]
    return sorted(rows, key=lambda r: (-r.expected_loss, -r.mrr, r.key is None, r.key or ""))


def loss_summary(frame: pd.DataFrame, tier_order: Sequence[str]) -> LossSummary:
    """The portfolio, segment, CSM and tier sums of a `chance_fit.portfolio` frame (columns used: chance, mrr, segment,
    owner_slack_id, tier). `tier_order` is the scorecard's (`scorecard.tiers.order`); only tiers with accounts get
    a row."""
    if frame.empty:
        return LossSummary(LossRow(None, 0, 0.0, 0.0, 0.0))
    sums = _Sums.of(frame)
    tiers = {r.key: r for r in _groups(frame, "tier", sums)}
    ordered = [tiers.pop(t) for t in tier_order if t in tiers]
    rest = sorted(tiers.values(), key=lambda r: (r.key is None, r.key or ""))
    (portfolio,) = _groups(frame.assign(_all=None), "_all", sums)  # one row, key None
    return LossSummary(
        portfolio=portfolio,
        segments=_groups(frame.assign(segment=chance.segment_names(frame["segment"])), "segment", sums),
        csms=_groups(frame, "owner_slack_id", sums),
        tiers=ordered + rest,
    )


def name(kind: Kind, row: LossRow) -> str:
    """A row's key in words for the buckets ("no segment", "no owner"); plain text otherwise (not escaped, not a
    mention: the surface does that)."""
    if row.key is not None:
        return row.key
    return say(f"loss.none_{kind}")


def top(rows: list[LossRow], n: int) -> tuple[list[LossRow], int]:
    """The first `n` rows (largest loss first for segments and CSMs) and how many more there are."""
    return rows[:n], max(0, len(rows) - n)
