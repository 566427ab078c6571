"""The chance to churn as every per-account surface draws it: the account card, the alert root, App Home and the
`/health` lists. A request reads the fit once (`chance_fit.stored_in`) and hands it here with each account's card and
score; nothing here fits, and `Chances.read` is the only read.

With too little churn history, before the first fit is stored, or when the stored fit belongs to another scorecard
(SCORECARD_PATH edited since: its bands read the old card's scores), the surfaces say so instead of a number."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlmodel import Session

from bot.scoring import chance, chance_fit, chance_words
from bot.scoring.chance import ChanceFit
from bot.scoring.scorecard import Scorecard, Tiers
from bot.slack.blocks import esc, mention, tier_emoji
from prompts import say
from storage.models import HealthOverride


@dataclass(frozen=True)
class Chances:
    """The fit in use for this request (None: none stored yet); `stale`: it was fitted for another scorecard than
    the one in use, so it shows no number until the next daily score run refits it."""

    fit: ChanceFit | None
    stale: bool = False

    @classmethod
    def read(cls, session: Session, scorecard: Scorecard, horizon: int = chance.HORIZON) -> Chances:
        """The stored fit for `horizon`, checked against the card in use (once per request or job run)."""
        fit = chance_fit.stored_in(session, horizon)
        return cls(fit, fit is not None and fit.scorecard_key != chance.scorecard_key(scorecard))

    @property
    def horizon(self) -> int:
        return self.fit.horizon if self.fit is not None else chance.HORIZON

    @property
    def enough(self) -> bool:
        return self.fit is not None and self.fit.enough and not self.stale

    def of(self, card: str | None, score: float | None, segment: str | None = None) -> float | None:
        """The account's chance (read with its card and segment), or None (no fit, too little history, no score)."""
        if self.fit is None or not self.enough or score is None:
            return None
        cards, segments = np.array([card or ""], dtype=object), np.array([segment], dtype=object)
        value = float(self.fit.chances(cards, np.array([score], dtype=float), segments)[0])
        return None if np.isnan(value) else value

    def missing(self) -> str | None:
        """Why no account has a number, in one sentence (None when they have)."""
        if self.fit is None:
            return say("health.chance.no_fit", horizon=self.horizon)
        if self.stale:
            return say("health.chance.too_little", horizon=self.horizon, why=self.refitting(self.fit))
        if not self.fit.enough:
            return say(
                "health.chance.too_little", horizon=self.horizon, why=esc(chance_words.too_little_text(self.fit))
            )
        return None

    @staticmethod
    def refitting(fit: ChanceFit) -> str:
        """Why a fit for another scorecard shows no number (`stale`)."""
        return say("chance.refitting", as_of=fit.as_of.isoformat())

    def short(self, card: str | None, score: float | None, segment: str | None = None) -> str:
        """`18 %`, or a dash without a number."""
        value = self.of(card, score, segment)
        return "–" if value is None else chance_words.chance_percent(value)

    def row(
        self, card: str | None, score: float | None, segment: str | None = None, key: str = "health.chance.row"
    ) -> str:
        """What a list row adds: "  ·  chance 18 %" (`key`: other words with {chance}); nothing without a number: the
        list says why once."""
        value = self.of(card, score, segment)
        return "" if value is None else say(key, chance=chance_words.chance_percent(value))

    def lines(self, card: str | None, score: float, segment: str | None = None) -> str:
        """The card's and the alert root's chance: the number with where it comes from, or why there is none."""
        value = self.of(card, score, segment)
        if value is None or self.fit is None:
            return self.missing() or ""
        return say(
            "health.chance.lines",
            line=say("chance.line", horizon=self.horizon, chance=chance_words.chance_percent(value)),
            source=esc(chance_words.source_text(self.fit, card, score, segment)),
        )

    def fit_note(self) -> str:
        """The card's footer: what the fit was made from, and its date."""
        if self.fit is None or not self.enough:
            return ""
        return say("health.chance.fit", fit=esc(chance_words.fit_text(self.fit)), day=self.fit.as_of.isoformat())

    def override_line(
        self,
        override: HealthOverride,
        scored_tier: str | None,
        card: str | None,
        score: float | None,
        tiers: Tiers,
        segment: str | None = None,
    ) -> str:
        """An override changes the tier shown, never the chance: both in one line."""
        return say(
            "health.chance.override",
            emoji=tier_emoji(override.tier),
            tier=esc(tiers.label(override.tier)),
            who=mention(override.set_by),
            scored=esc(tiers.label(scored_tier)) if scored_tier else say("health.chance.unscored"),
            chance=self.short(card, score, segment),
        )
