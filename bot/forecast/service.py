"""The churn forecast (`healthbot forecast`): how many accounts and how much MRR the team can expect to lose in a
period, with an interval, per segment; stored, and held against what happened once the period is over
(`healthbot forecast check`, the quarterly churn review).

- The window: made as of a day (`as_of`, default today in TIMEZONE) for the `horizon` days after it (default
  `chance.HORIZON`); a named period (`2027-Q1`, `2027-01`, `2026-12-08..2027-03-07`) is forecast as of the day
  before it starts, over its length. Nothing is forecast from a day after today.
- The chances: as of today, the chance-to-churn fit in use (`chance_fit.current`, refitted when stale) for the default
  horizon, a fit made on demand (`chance.fit`) for another, and the accounts scored on the latest scored day. As of
  a past day (a backtest of a period), a fit on the outcomes known by that day only and the accounts scored from
  the data known then (`backtest.load_past_day` with no horizon: the period's outcomes are never read).
- Expected churned accounts = the sum of the chances; expected MRR churn = the sum of chance x MRR.
- The interval: `DRAWS` simulated periods with a fixed seed (`interval.simulate`). In each, every score band's churn
  rate, every segment's factor and the level's (churn of late, `ChanceFit.level`) is drawn from how sure its past
  cases make it, then each account churns with its band's rate moved by its factors; the interval is the middle
  `level` of the simulated counts and MRR (80 % by default: from the 10th to the 90th percentile).
- Checked: the forecast's own accounts (stored in its body with chance, MRR and segment) against their
  `churned_on` within the period; the MRR lost is the MRR each had when the forecast was made. A period is over
  on its last day, as the chance's own fit counts an outcome known (`chance.snapshot_days`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine
from sqlmodel import Session

from bot.forecast.interval import DRAWS, SEED, Bands, bands_of, interval, simulate
from bot.forecast.window import Window
from bot.scoring import chance, chance_fit, chance_words
from bot.scoring.backtest import load_past_day, score_past_day
from bot.scoring.scorecard import Scorecard
from prompts import say
from storage import chances as forecast_store
from storage import scores as score_store
from storage.db import session_factory, unit_of_work
from storage.models import ChurnForecast

LEVEL = 0.8  # the interval's default level
PROGRESS_CELLS = 40_000_000  # a simulation this large (10,000 accounts and more) shows a progress bar


class NoForecast(Exception):  # noqa: N818 - a reason, not a failure of the code
    """No forecast can be made (too little churn history, nobody scored); the message says why."""


# -- the forecast ----------------------------------------------------------------------------------------------------


@dataclass
class Outlook:
    """Expected churned accounts and MRR churn of a group of accounts, with the interval."""

    segment: str | None  # None: the whole portfolio, or the accounts with no segment (in `segments`)
    accounts: int
    mrr: float
    expected_accounts: float
    accounts_low: int
    accounts_high: int
    expected_mrr: float
    mrr_low: float
    mrr_high: float


@dataclass
class Forecast:
    window: Window
    level: float
    scores_day: date  # the day the accounts were scored (the as-of day, or the latest scored day before it)
    total: Outlook
    segments: list[Outlook]
    fit: chance.ChanceFit
    mrr_half_accounts: int = 0  # the fewest accounts holding half of the MRR (`half_of_mrr`)
    draws: int = DRAWS
    seed: int = SEED
    id: int | None = None
    made_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        fit = self.fit
        return {
            "id": self.id,
            "as_of": self.window.as_of.isoformat(),
            "period": {
                "start": self.window.start.isoformat(),
                "end": self.window.end.isoformat(),
                "days": self.window.horizon,
                "label": self.window.label,
            },
            "level": self.level,
            "scores_day": self.scores_day.isoformat(),
            **{k: v for k, v in asdict(self.total).items() if k != "segment"},
            "segments": [asdict(s) for s in self.segments],
            "fit": {
                "id": fit.id,
                "as_of": fit.as_of.isoformat(),
                "horizon": fit.horizon,
                "snapshots": [d.isoformat() for d in fit.snapshots],
                "cases": fit.cases,
                "churned_accounts": fit.churned_accounts,
            },
            "mrr_half_accounts": self.mrr_half_accounts,
            "draws": self.draws,
            "seed": self.seed,
        }


@dataclass
class Book:
    """The accounts a forecast is made for, as known on `day`."""

    day: date
    ids: np.ndarray
    segment: np.ndarray  # str, or None for no segment
    mrr: np.ndarray  # float, NaN when unknown
    card: np.ndarray
    score: np.ndarray


def _segments(values: pd.Series) -> np.ndarray:
    return chance.segment_names(values)


def _book_today(engine: Engine, fit: chance.ChanceFit, today: date) -> Book:
    with unit_of_work(session_factory(engine)) as session:
        latest = score_store.latest_score_day(session.connection())
        if latest is None:
            raise NoForecast(say("forecast.no_scores"))
        day = min(latest, today)
        frame = chance_fit.portfolio(session, fit, day)
    return Book(
        day,
        frame["account_id"].to_numpy(dtype=np.int64),
        _segments(frame["segment"]),
        pd.to_numeric(frame["mrr"], errors="coerce").to_numpy(dtype=float),
        frame["card"].to_numpy(dtype=object),
        frame["score"].to_numpy(dtype=float),
    )


def _book_past(engine: Engine, scorecard: Scorecard, as_of: date) -> Book:
    """The accounts active on `as_of`, scored from the data known then; horizon 0: no outcome after it is read."""
    past = load_past_day(engine, scorecard.metrics, as_of, 0, scorecard.data.lookback_days)
    scores = score_past_day(scorecard, past).scores.frame
    accounts = past.inputs.accounts.set_index("id").reindex(scores["account_id"])
    return Book(
        as_of,
        scores["account_id"].to_numpy(dtype=np.int64),
        _segments(accounts["segment"]),
        pd.to_numeric(accounts["mrr"], errors="coerce").to_numpy(dtype=float),
        scores["card"].to_numpy(dtype=object),
        scores["score"].to_numpy(dtype=float),
    )


def chances_for(engine: Engine, scorecard: Scorecard, win: Window, today: date) -> tuple[chance.ChanceFit, Book]:
    """The fit and the accounts a forecast is made from; NoForecast when there is too little churn history or
    nobody was scored."""
    if win.as_of == today:
        if win.horizon == chance.HORIZON:
            fit, _ = chance_fit.current(engine, scorecard, today)
        else:
            fit = chance.fit(engine, scorecard, today, win.horizon)
    else:
        fit = chance.fit(engine, scorecard, win.as_of, win.horizon)
    if not fit.enough:
        raise NoForecast(chance_words.too_little_text(fit))
    book = _book_today(engine, fit, today) if win.as_of == today else _book_past(engine, scorecard, win.as_of)
    if not len(book.ids):
        raise NoForecast(say("forecast.nobody_scored", day=book.day))
    return fit, book


def outlooks(
    book: Book,
    bands: Bands,
    level: float,
    *,
    draws: int = DRAWS,
    seed: int = SEED,
    progress: Callable[[int], None] | None = None,
) -> tuple[Outlook, list[Outlook]]:
    """The portfolio's outlook and each segment's (named ones sorted, then no segment), from one simulation."""
    p = bands.chances
    mrr = np.nan_to_num(book.mrr)
    names = sorted({s for s in book.segment if s is not None})
    groups = [book.segment == name for name in names]
    if any(s is None for s in book.segment):
        groups.append(np.array([s is None for s in book.segment]))
    labels: list[str | None] = [*names, None][: len(groups)]
    member = np.column_stack([np.ones(len(p)), *groups]).astype(float) if groups else np.ones((len(p), 1))
    weights = np.hstack([member, member * mrr[:, None]])
    totals = simulate(bands, weights, draws=draws, seed=seed, progress=progress)
    low, high = interval(totals, level)
    k = member.shape[1]

    def outlook(j: int, segment: str | None) -> Outlook:
        rows = member[:, j] > 0
        return Outlook(
            segment=segment,
            accounts=int(rows.sum()),
            mrr=float(mrr[rows].sum()),
            expected_accounts=float(p[rows].sum()),
            accounts_low=int(low[j]),
            accounts_high=int(high[j]),
            expected_mrr=chance.expected_loss(p[rows], book.mrr[rows]),
            mrr_low=float(low[k + j]),
            mrr_high=float(high[k + j]),
        )

    return outlook(0, None), [outlook(j + 1, s) for j, s in enumerate(labels)]


def make(
    engine: Engine,
    scorecard: Scorecard,
    win: Window,
    today: date,
    *,
    level: float = LEVEL,
    made_by: str = "healthbot",
) -> Forecast:
    """Make the forecast and store it (NoForecast, storing nothing, when it cannot be made)."""
    fit, book = chances_for(engine, scorecard, win, today)
    return store(engine, win, fit, book, level, made_by=made_by)


def store(
    engine: Engine,
    win: Window,
    fit: chance.ChanceFit,
    book: Book,
    level: float = LEVEL,
    *,
    made_by: str = "healthbot",
    progress: Callable[[int], None] | None = None,
) -> Forecast:
    """Simulate the forecast of `book`'s accounts with `fit`'s bands and store it; `progress` gets draws done."""
    bands = bands_of(fit, book.card, book.score, book.segment)
    total, segments = outlooks(book, bands, level, progress=progress)
    result = Forecast(win, level, book.day, total, segments, fit, half_of_mrr(book.mrr))
    with unit_of_work(session_factory(engine)) as session:
        row = forecast_store.add_forecast(session, _row(result, book, bands, made_by))
        result.id, result.made_at = row.id, row.made_at
    return result


def half_of_mrr(mrr: np.ndarray) -> int:
    """The fewest accounts holding half of the MRR (0 with none known). The MRR interval takes each account's chance
    as right: the fewer accounts hold the MRR, the more one of them the score misjudges moves the MRR churn past it
    (backtests: bench/README.md, bench_forecast.py)."""
    known = np.sort(np.nan_to_num(np.asarray(mrr, dtype=float)))[::-1]
    if known.sum() <= 0:
        return 0
    return int(np.searchsorted(np.cumsum(known), known.sum() / 2) + 1)


def simulated_cells(accounts: int, draws: int = DRAWS) -> int:
    return accounts * draws


def _number(x: float) -> float | None:
    return None if np.isnan(x) else float(x)


def _row(result: Forecast, book: Book, bands: Bands, made_by: str) -> ChurnForecast:
    chances = bands.chances
    body = {
        "label": result.window.label,
        "scores_day": book.day.isoformat(),
        "draws": result.draws,
        "seed": result.seed,
        "fit": result.to_dict()["fit"],
        "segments": [asdict(s) for s in result.segments],
        "bands": [{"cases": int(c), "churned": int(k)} for c, k in zip(bands.cases, bands.churned, strict=True)],
        "accounts": [
            {"id": int(i), "chance": round(float(c), 6), "mrr": _number(m), "segment": s, "band": int(b)}
            for i, c, m, s, b in zip(book.ids, chances, book.mrr, book.segment, bands.of_account, strict=True)
        ],
    }
    t = result.total
    return ChurnForecast(
        as_of=result.window.as_of,
        period_start=result.window.start,
        period_end=result.window.end,
        horizon_days=result.window.horizon,
        level=result.level,
        fit_id=result.fit.id,
        expected_accounts=t.expected_accounts,
        accounts_low=t.accounts_low,
        accounts_high=t.accounts_high,
        expected_mrr=t.expected_mrr,
        mrr_low=t.mrr_low,
        mrr_high=t.mrr_high,
        body=body,
        made_by=made_by[:64],
    )


# -- the check -------------------------------------------------------------------------------------------------------


@dataclass
class Held:
    """A forecast's outlook for a group next to what happened to the group's accounts in the period."""

    outlook: Outlook
    churned: int
    mrr_lost: float

    @property
    def accounts_inside(self) -> bool:
        return self.outlook.accounts_low <= self.churned <= self.outlook.accounts_high

    @property
    def mrr_inside(self) -> bool:
        return self.outlook.mrr_low - 0.005 <= self.mrr_lost <= self.outlook.mrr_high + 0.005

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self.outlook),
            "churned": self.churned,
            "mrr_lost": self.mrr_lost,
            "accounts_inside": self.accounts_inside,
            "mrr_inside": self.mrr_inside,
        }


@dataclass
class Check:
    id: int
    made_at: datetime
    as_of: date
    start: date
    end: date
    level: float
    label: str | None
    total: Held
    segments: list[Held] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "made_at": self.made_at.isoformat(),
            "as_of": self.as_of.isoformat(),
            "period": {
                "start": self.start.isoformat(),
                "end": self.end.isoformat(),
                "days": (self.end - self.start).days + 1,
                "label": self.label,
            },
            "level": self.level,
            **self.total.to_dict(),
            "segments": [s.to_dict() for s in self.segments],
        }


@dataclass
class Running:
    """A stored forecast whose period is not over yet."""

    id: int
    as_of: date
    start: date
    end: date
    label: str | None


def _outlook(raw: dict[str, Any]) -> Outlook:
    return Outlook(**{k: raw[k] for k in Outlook.__dataclass_fields__})


def held(row: ChurnForecast, churned_on: dict[int, date]) -> Check:
    """The stored forecast `row` against the accounts of its body that churned within its period."""
    accounts = row.body.get("accounts", [])
    lost = [a for a in accounts if (d := churned_on.get(int(a["id"]))) and row.period_start <= d <= row.period_end]

    def against(outlook: Outlook, rows: list[dict[str, Any]]) -> Held:
        return Held(outlook, len(rows), float(sum(a["mrr"] or 0.0 for a in rows)))

    total = Outlook(
        None,
        len(accounts),
        float(sum(a["mrr"] or 0.0 for a in accounts)),
        row.expected_accounts,
        row.accounts_low,
        row.accounts_high,
        row.expected_mrr,
        row.mrr_low,
        row.mrr_high,
    )
    segments = [_outlook(s) for s in row.body.get("segments", [])]
    assert row.id is not None
    return Check(
        id=row.id,
        made_at=row.made_at,
        as_of=row.as_of,
        start=row.period_start,
        end=row.period_end,
        level=row.level,
        label=row.body.get("label"),
        total=against(total, lost),
        segments=[against(s, [a for a in lost if a["segment"] == s.segment]) for s in segments],
    )


def _held(session: Session, rows: list[ChurnForecast]) -> list[Check]:
    if not rows:
        return []
    start, end = min(r.period_start for r in rows), max(r.period_end for r in rows)
    churned_on = forecast_store.churned_between(session, start, end)
    return [held(r, churned_on) for r in rows]


def check(session: Session, today: date) -> tuple[list[Check], list[Running]]:
    """Every stored forecast whose period is over by `today`, held against what happened (oldest first), and the
    ones still running (whose bodies are not read)."""
    heads = forecast_store.forecast_heads(session)
    running = [Running(h.id, h.as_of, h.period_start, h.period_end, h.label) for h in heads if h.period_end > today]
    over = forecast_store.forecasts(session, [h.id for h in heads if h.period_end <= today])
    return _held(session, over), running


def latest_check(session: Session, today: date) -> Check | None:
    """The forecast whose period ended last (the latest made among those) against what happened; None before any
    forecast's period is over. What the quarterly churn review shows; only that forecast's body is read."""
    over = [h for h in forecast_store.forecast_heads(session) if h.period_end <= today]
    if not over:
        return None
    latest = max(over, key=lambda h: (h.period_end, h.id))
    return _held(session, forecast_store.forecasts(session, [latest.id]))[0]
