"""Expected MRR loss as the digest and the churn review say it: the sums of `bot.scoring.loss` (the portfolio, the
largest segments, CSMs and every tier) over the customers scored on the latest score day, with the chance to churn
of the stored fit (`Chances.read`: nothing is refitted here; the daily score run does that).

No number without a fit that has enough churn history: before the first daily score run the lines say the figure
appears after it; with too little history they say why (`chance_words.too_little_text`); with a fit made for another
scorecard they say the next score run refits it (`Chances.refitting`). Segment names are data (`esc`),
CSMs are mentions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import pandas as pd
from sqlmodel import Session

from bot.scoring import chance, chance_fit, chance_words
from bot.scoring.loss import LossRow, LossSummary, loss_summary, name, top
from bot.scoring.scorecard import Scorecard, Tiers
from bot.slack.blocks import esc, mention, money, tier_emoji
from bot.slack.chance import Chances
from prompts import formats, raw, say
from storage import scores as score_store

SHOWN = 5  # segments and CSMs named, largest expected loss first; then "and N more"


@dataclass(frozen=True)
class Portfolio:
    """The fit in use and the customers of the latest score day with their chance (`chance_fit.portfolio`)."""

    fit: chance.ChanceFit | None
    day: date | None  # the latest score day; None before the first score run
    frame: pd.DataFrame
    stale: bool = False  # the fit is for another scorecard: no chance in `frame` (`Chances.stale`)

    def summary(self, tiers: Tiers, keep: pd.Series | None = None) -> LossSummary:
        """The sums over the customers `keep` selects (a boolean Series on `frame`; default all of them)."""
        frame = self.frame if keep is None else self.frame[keep.to_numpy(dtype=bool)]
        return loss_summary(frame, tiers.order)

    def expected(self, tiers: Tiers, segment: str | None = None) -> Expected:
        """What `lines` and `source` show: every customer, or one segment's (matched case-insensitively, as the
        churn review matches it)."""
        keep = None
        if segment is not None:
            keep = self.frame["segment"].fillna("").astype(str).str.strip().str.lower() == segment.strip().lower()
        return self.of(tiers, keep)

    def of(self, tiers: Tiers, keep: pd.Series | None = None) -> Expected:
        """What `lines` and `source` show for the customers `keep` selects (default all)."""
        return Expected(self.fit, self.summary(tiers, keep), self.day, self.stale)


@dataclass(frozen=True)
class Expected:
    """The expected loss of some customers: the fit it is read with, the sums, the score day."""

    fit: chance.ChanceFit | None
    summary: LossSummary | None
    day: date | None
    stale: bool = False  # the fit is for another scorecard than the one in use: no figure until the next score run


def read(session: Session, scorecard: Scorecard, horizon: int = chance.HORIZON) -> Portfolio:
    """The stored fit for `horizon` (checked against `scorecard`, the card in use) and the latest score day's
    customers, in the caller's unit of work."""
    chances = Chances.read(session, scorecard, horizon)
    fit, stale = chances.fit, chances.stale
    day = score_store.latest_score_day(session.connection())
    if day is None:
        empty = pd.DataFrame(columns=["account_id", "segment", "owner_slack_id", "mrr", "tier"])
        return Portfolio(fit, None, empty, stale)
    return Portfolio(fit, day, chance_fit.portfolio(session, None if stale else fit, day), stale)


def _amounts(rows: list[LossRow], name: Callable[[LossRow], str], shown: int) -> str:
    first, more = top(rows, shown)
    parts = [say("loss.amount", name=name(r), amount=money(r.expected_loss)) for r in first]
    if more:
        parts.append(say("loss.more", more=more))
    return raw("loss.joiner").join(parts)


def lines(
    expected: Expected | None,
    tier_label: Callable[[str], str],
    *,
    by_csm: bool = True,
    by_segment: bool = True,
    shown: int = SHOWN,
    horizon: int = chance.HORIZON,
) -> list[str]:
    """The expected-loss lines (mrkdwn; `tier_label`: `Tiers.label`): the total with the MRR and the accounts it
    is read from, then per segment, per CSM (`by_csm`; a CSM's own DM leaves it out) and per tier (`source` says
    where the chance comes from). Without a fit, or with too little history, or no scored customer, one line saying
    so."""
    fit, summary = (expected.fit, expected.summary) if expected is not None else (None, None)
    days = fit.horizon if fit is not None else horizon
    if fit is None:
        return [say("loss.no_fit", horizon=days)]
    if expected is not None and expected.stale:
        return [say("loss.too_little", horizon=days, why=Chances.refitting(fit))]
    if not fit.enough:
        return [say("loss.too_little", horizon=days, why=chance_words.too_little_text(fit))]
    if summary is None or summary.empty:
        return [say("loss.no_accounts", horizon=days)]
    p = summary.portfolio
    out = [
        say(
            "loss.total",
            horizon=days,
            amount=money(p.expected_loss),
            mrr=money(p.mrr),
            share=formats.percent(p.share, 1) if p.share is not None else raw("loss.no_share"),
            expected=f"{p.expected_accounts:.1f}",
            accounts=p.accounts,
        )
    ]
    if by_segment and summary.segments:
        segment = _amounts(summary.segments, lambda r: esc(r.key) if r.key is not None else name("segment", r), shown)
        out.append(say("loss.by_segment", rows=segment))
    if by_csm and summary.csms:
        out.append(say("loss.by_csm", rows=_amounts(summary.csms, lambda r: mention(r.key), shown)))
    if summary.tiers:

        def tier(r: LossRow) -> str:
            if r.key is None:
                return name("tier", r)
            return say("loss.tier", emoji=tier_emoji(r.key), tier=esc(tier_label(r.key)))

        out.append(say("loss.by_tier", rows=_amounts(summary.tiers, tier, len(summary.tiers))))
    if summary.without_chance:
        out.append(say("loss.without_chance", count=summary.without_chance))
    return out


def source(expected: Expected | None) -> str | None:
    """Where the figures come from (a context line under `lines`): the score day, the fit; None when `lines` shows
    no figure."""
    if expected is None:
        return None
    fit, summary, day = expected.fit, expected.summary, expected.day
    if fit is None or expected.stale or not fit.enough or summary is None or summary.empty or day is None:
        return None
    return say("loss.source", day=day.isoformat(), fitted=chance_words.fit_text(fit), as_of=fit.as_of.isoformat())
