"""Each measure's raw input per account on a day (levels, trends, recency, ratios, flags, fields)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, cast

import numpy as np
import pandas as pd

from bot.scoring.panel import Panel, day_number, window
from bot.scoring.scorecard import Measure, Scorecard


def _safe_sum(w: np.ndarray) -> np.ndarray:
    return np.nansum(w, axis=1) if w.shape[1] else np.zeros(w.shape[0])


@dataclass
class DayInputs:
    """What a day's measures read: the metric panel up to column `col`, and the accounts (rows aligned with the
    panel's) with their fields as known that day."""

    panel: Panel
    col: int
    lookback: int
    accounts: pd.DataFrame
    day: date
    days_to_renewal: np.ndarray

    @classmethod
    def on(cls, scorecard: Scorecard, accounts: pd.DataFrame, panel: Panel, day: date) -> DayInputs:
        col = day_number(day) - panel.first_day
        return cls(panel, col, scorecard.data.lookback_days, accounts, day, cls.days_to_renewal_of(accounts, day))

    @staticmethod
    def days_to_renewal_of(accounts: pd.DataFrame, day: date) -> np.ndarray:
        """Days from `day` to each account's renewal date (NaN: none)."""
        renewal = pd.to_datetime(accounts["renewal_date"], errors="coerce")
        return ((renewal - pd.Timestamp(day)).dt.days).to_numpy(dtype=float, na_value=np.nan)

    def tracked(self, m: Measure) -> bool:
        """Whether any account reports what the measure reads (in the panel up to this day, or in its fields):
        a measure nobody can have leaves the card instead of counting against every account's coverage."""
        if m.metric is not None:
            return self.panel.reports(m.metric, self.col)
        column = _FIELD_COLUMN.get(str(m.field), str(m.field))
        return column in self.accounts and bool(self.accounts[column].notna().any())


_FIELD_COLUMN = {"tenure_days": "contract_start", "days_to_renewal": "renewal_date"}  # fields computed from a column


def measure_input(m: Measure, inputs: DayInputs) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The measure's raw input per account (NaN = no data) and the figures its reason quotes.

    A category field's input is already its 0-100 score (the `category` figure holds the value)."""
    if m.transform == "field":
        return _field_input(m, inputs)
    panel, col, lookback, days_to_renewal = inputs.panel, inputs.col, inputs.lookback, inputs.days_to_renewal
    arr = panel.values[cast(str, m.metric)]
    seen = ~np.isnan(window(arr, col, lookback)).all(axis=1)  # the account reports this metric
    zero = m.fill == "zero"

    def filled(end_col: int, days: int) -> np.ndarray:
        """The window of `arr`, NaN read as 0 for `fill = "zero"` (only the window is converted)."""
        w = window(arr, end_col, days)
        return np.nan_to_num(w, nan=0.0) if zero else w

    n = arr.shape[0]
    nan = np.full(n, np.nan)

    if m.transform == "level":
        w = filled(col, m.days)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows are "no data", not a problem
            if m.aggregate == "last":
                has = ~np.isnan(w)
                idx = np.where(has.any(axis=1), w.shape[1] - 1 - np.argmax(has[:, ::-1], axis=1), 0)
                x = np.where(has.any(axis=1), w[np.arange(n), idx], np.nan)
            else:
                aggregates: dict[str, Callable[..., Any]] = {
                    "mean": np.nanmean,
                    "sum": np.nansum,
                    "max": np.nanmax,
                    "min": np.nanmin,
                }
                agg = aggregates[m.aggregate]
                x = agg(w, axis=1) if w.shape[1] else nan
                if m.aggregate == "sum":
                    x = np.where(np.isnan(w).all(axis=1), np.nan, x)
        x = np.where(seen, x, np.nan)
        return x, {"value": x}

    def known_days(end_col: int, days: int) -> np.ndarray:
        """How many of the `days` columns up to `end_col` are on or after the account's first day of data."""
        return np.clip(end_col - np.maximum(end_col - days + 1, np.maximum(panel.first_seen, 0)) + 1, 0, days)

    if m.transform in ("trend", "renewal"):
        recent_days, base_days = known_days(col, m.days), known_days(col - m.days, m.baseline_days)
        with np.errstate(all="ignore"):
            recent = _safe_sum(filled(col, m.days)) / np.maximum(recent_days, 1)
            base_w = filled(col - m.days, m.baseline_days) if col - m.days >= 0 else arr[:, :0]
            base = np.where(base_days > 0, _safe_sum(base_w) / np.maximum(base_days, 1), np.nan)  # no baseline yet
            # nothing before and nothing since is no change (a silent account is not "missing data": its caps
            # and recency say it is silent); only a missing baseline leaves the trend unknown
            change = np.where(
                base > 0, recent / base - 1.0, np.where(base == 0, np.where(recent > 0, 1.0, 0.0), np.nan)
            )
        change = np.where(seen, np.minimum(change, 1.0), np.nan)
        figures = {"change": change, "recent": recent, "base": base}
        if m.transform == "renewal":
            change = np.where(applies(m, days_to_renewal), change, np.nan)
            figures = {**figures, "change": change, "days_to_renewal": days_to_renewal}
        return change, figures

    if m.transform == "recency":
        w = filled(col, m.lookback_days)
        active = np.nan_to_num(w, nan=0.0) > 0
        any_active = active.any(axis=1)
        since = np.where(any_active, np.argmax(active[:, ::-1], axis=1), m.lookback_days).astype(float)
        since = np.where(seen, since, np.nan)
        return since, {"days_since": since}

    if m.transform == "ratio":
        recent = _safe_sum(filled(col, m.days))
        base_w = filled(col - m.days, m.baseline_days) if col - m.days >= 0 else arr[:, :0]
        base_days = known_days(col - m.days, m.baseline_days)
        with np.errstate(all="ignore"):
            usual = np.where(base_days > 0, _safe_sum(base_w) / np.maximum(base_days, 1) * m.days, np.nan)
        quiet_usual = (usual < m.min_baseline) & (recent <= usual)
        ratio = np.where(quiet_usual, 1.0, recent / np.maximum(usual, m.baseline_floor))
        ratio = np.where(seen, ratio, np.nan)
        return ratio, {"recent": recent, "usual": usual}

    if m.transform == "flag":
        w = window(arr, col, m.days)
        has = ~np.isnan(w).all(axis=1)
        hit = np.nan_to_num(w, nan=-np.inf).max(axis=1, initial=-np.inf) >= m.threshold
        x = np.where(has, hit.astype(float), np.nan)
        return x, {"flag": x}

    raise ValueError(f"unknown transform {m.transform}")  # pragma: no cover - validated at load


def _field_input(m: Measure, inputs: DayInputs) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    accounts = inputs.accounts
    n = len(accounts)
    if m.field == "days_to_renewal":
        x = inputs.days_to_renewal
    elif m.field == "tenure_days":
        start = pd.to_datetime(accounts["contract_start"], errors="coerce")
        x = ((pd.Timestamp(inputs.day) - start).dt.days).to_numpy(dtype=float, na_value=np.nan)
        x = np.where(x >= 0, x, np.nan)  # not a customer yet: no tenure
    elif not m.is_category:
        column = accounts[m.field] if m.field in accounts else pd.Series([None] * n, dtype=object)
        x = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    else:
        column = accounts[m.field] if m.field in accounts else pd.Series([None] * n, dtype=object)
        text = column.astype("string").str.strip()
        known = text.str.casefold().map(m.categories).astype("Float64")
        if m.other is not None:
            known = known.where(known.notna() | text.isna() | (text == ""), m.other)
        x = known.to_numpy(dtype=float, na_value=np.nan)
        return x, {"category": _usual_spelling(text).fillna("").to_numpy(dtype=object)}
    return x, {"value": x}


def _usual_spelling(text: pd.Series) -> pd.Series:
    """Each value as most accounts spell it ("Monthly" and "monthly " are one category: reasons name it one way)."""
    counts = text.value_counts()
    usual = counts.groupby(counts.index.str.casefold()).idxmax()  # folded -> the most common spelling
    return text.str.casefold().map(usual)


def applies(m: Measure, days_to_renewal: np.ndarray) -> np.ndarray:
    """Where the measure is meant to count: a renewal measure only within `within_days` of the renewal."""
    if m.transform == "renewal":
        return (days_to_renewal >= 0) & (days_to_renewal <= m.within_days)
    return np.ones(len(days_to_renewal), dtype=bool)
