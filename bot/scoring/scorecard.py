"""The scorecard: a TOML file that says how metrics become a 0-100 score and a tier.

`load_scorecard(path)` validates the whole file and raises `ScorecardError` whose lines
name the key and the problem (`cards.default.groups.support.measures[1].bands: ...`).
The documented default lives beside this module in `default_scorecard.toml`.
"""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from prompts import raw

DEFAULT_PATH = Path(__file__).with_name("default_scorecard.toml")
Transform = Literal["level", "trend", "recency", "ratio", "flag", "renewal"]
MATCHABLE = ("segment", "lifecycle_stage", "industry", "region")


class ScorecardError(ValueError):
    def __init__(self, path: str | Path, problems: list[str]):
        self.problems = problems
        super().__init__(f"{path}: invalid scorecard\n" + "\n".join(f"  {p}" for p in problems))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Measure(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    metric: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    transform: Transform
    bands: list[tuple[float, float]] = Field(min_length=2)
    weight: float = Field(default=1.0, gt=0)
    fill: Literal["zero", "none"] = "zero"
    days: int = Field(default=7, ge=1, le=365)
    baseline_days: int = Field(default=28, ge=1, le=365)
    lookback_days: int = Field(default=60, ge=1, le=365)
    aggregate: Literal["mean", "sum", "last", "max", "min"] = "mean"
    threshold: float = 1.0
    baseline_floor: float = Field(default=0.5, gt=0)
    min_baseline: float = Field(default=0.0, ge=0)
    within_days: int = Field(default=90, ge=1, le=730)

    @field_validator("metric")
    @classmethod
    def _not_a_typo(cls, metric: str) -> str:
        known = list(raw("metrics.labels"))
        near = difflib.get_close_matches(metric, known, n=1, cutoff=0.8)
        if metric not in known and near:
            raise ValueError(f"unknown metric {metric!r}: did you mean {near[0]!r}?")
        return metric

    @field_validator("bands")
    @classmethod
    def _bands_sorted(cls, bands: list[tuple[float, float]]) -> list[tuple[float, float]]:
        xs = [x for x, _ in bands]
        if xs != sorted(xs) or len(set(xs)) != len(xs):
            raise ValueError("band inputs must be strictly increasing, e.g. [[-0.5, 0], [0.0, 100]]")
        if any(not 0 <= y <= 100 for _, y in bands):
            raise ValueError("band scores must be between 0 and 100")
        return bands

    @property
    def span(self) -> int:
        """Days of history this measure reads, counting the scored day."""
        return {
            "level": self.days,
            "trend": self.days + self.baseline_days,
            "recency": self.lookback_days,
            "ratio": self.days + self.baseline_days,
            "flag": self.days,
            "renewal": self.days + self.baseline_days,
        }[self.transform]


class Group(_Strict):
    label: str
    weight: float = Field(gt=0)
    measures: list[Measure] = Field(min_length=1)


class Card(_Strict):
    match: dict[str, list[str]] = Field(default_factory=dict)
    groups: dict[str, Group] = Field(min_length=1)

    @field_validator("match")
    @classmethod
    def _match_keys(cls, match: dict[str, list[str]]) -> dict[str, list[str]]:
        unknown = [k for k in match if k not in MATCHABLE]
        if unknown:
            raise ValueError(f"cannot match on {', '.join(unknown)}; use {', '.join(MATCHABLE)}")
        return match

    @model_validator(mode="after")
    def _unique_measures(self) -> Card:
        names = [m.name for g in self.groups.values() for m in g.measures]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"measure names must be unique within a card: {', '.join(dupes)}")
        return self

    def measures(self) -> list[tuple[str, Measure]]:
        return [(g, m) for g, group in self.groups.items() for m in group.measures]


class Tiers(_Strict):
    order: list[str] = Field(min_length=2)
    labels: dict[str, str] = Field(default_factory=dict)
    cutoffs: dict[str, float]
    hysteresis: float = Field(default=3.0, ge=0, le=20)

    @model_validator(mode="after")
    def _consistent(self) -> Tiers:
        twice = sorted({t for t in self.order if self.order.count(t) > 1})
        if twice:
            raise ValueError(f"order lists {', '.join(twice)} more than once")
        unknown = sorted(set(self.labels) - set(self.order))
        if unknown:
            raise ValueError(f"labels name {', '.join(unknown)}, which is not a tier in order")
        if set(self.cutoffs) != set(self.order):
            raise ValueError("cutoffs must name exactly the tiers listed in order")
        values = [self.cutoffs[t] for t in self.order]
        if values != sorted(values, reverse=True) or len(set(values)) != len(values):
            given = ", ".join(f"{t} {self.cutoffs[t]:g}" for t in self.order)
            raise ValueError(f"cutoffs must fall strictly from the first tier in order to the last (got {given})")
        if values[-1] != 0:
            raise ValueError(f"the last tier ({self.order[-1]}) must start at 0 so every score has a tier")
        return self

    def label(self, tier: str) -> str:
        return self.labels.get(tier, tier.replace("_", " ").capitalize())


class DataRules(_Strict):
    lookback_days: int = Field(default=90, ge=7, le=730)
    min_days_of_data: int = Field(default=14, ge=1)
    min_weight_covered: float = Field(default=0.5, gt=0, le=1)

    @model_validator(mode="after")
    def _reachable(self) -> DataRules:
        if self.min_days_of_data > self.lookback_days:
            raise ValueError(
                f"min_days_of_data ({self.min_days_of_data}) is more than lookback_days ({self.lookback_days}): "
                "no account could ever be scored"
            )
        return self


class Scorecard(_Strict):
    tiers: Tiers
    data: DataRules = DataRules()
    cards: dict[str, Card] = Field(min_length=1)

    @field_validator("cards")
    @classmethod
    def _fallback(cls, cards: dict[str, Card]) -> dict[str, Card]:
        if not any(not c.match for c in cards.values()):
            raise ValueError("one card must have no `match`: it scores every account no other card matches")
        return cards

    @model_validator(mode="after")
    def _spans(self) -> Scorecard:
        for card_name, card in self.cards.items():
            for group, m in card.measures():
                if m.span > self.data.lookback_days:
                    raise ValueError(
                        f"cards.{card_name}.groups.{group} measure {m.name} reads {m.span} days, "
                        f"more than data.lookback_days ({self.data.lookback_days})"
                    )
        return self

    @property
    def metrics(self) -> list[str]:
        return sorted({m.metric for c in self.cards.values() for _, m in c.measures()})


def _location(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _problem(error: Any) -> str:
    """`key: what is wrong`, in words a scorecard author reads (the bad value quoted where it helps)."""
    msg = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] in ("literal_error", "string_pattern_mismatch", "enum") and isinstance(error.get("input"), str):
        msg = f"{error['input']!r} is not allowed: {msg[0].lower()}{msg[1:]}"
    return f"{_location(error['loc'])}: {msg}"


def load_scorecard(path: str | Path | None = None) -> Scorecard:
    path = Path(path) if path else DEFAULT_PATH
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ScorecardError(path, ["file not found"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ScorecardError(path, [f"not valid TOML: {exc}"]) from None
    try:
        return Scorecard.model_validate(raw)
    except ValidationError as exc:
        problems = [_problem(e) for e in exc.errors()]
        raise ScorecardError(path, problems) from None
