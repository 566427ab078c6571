"""The scorecard: a TOML file that says how metrics become a 0-100 score and a tier.

`load_scorecard(path)` validates the whole file and raises `ScorecardError` whose lines
name the key and the problem (`cards.default.groups.support.measures[1].bands: ...`).
The documented default lives beside this module in `default_scorecard.toml`.
"""

from __future__ import annotations

import difflib
import json
import re
import tomllib
from pathlib import Path
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from prompts import ENGLISH, current, raw, say

DEFAULT_PATH = Path(__file__).with_name("default_scorecard.toml")
Transform = Literal["level", "trend", "recency", "ratio", "flag", "renewal", "field"]
MATCHABLE = ("segment", "plan", "lifecycle_stage", "industry", "region")
# Account fields a `field` measure reads: numbers (through `bands`) and categories (through `categories`).
NUMERIC_FIELDS = ("tenure_days", "mrr", "employees", "days_to_renewal")
CATEGORY_FIELDS = ("segment", "plan", "region", "industry", "lifecycle_stage", "acquisition_channel")
AccountField = Literal[
    "tenure_days",
    "mrr",
    "employees",
    "days_to_renewal",
    "segment",
    "plan",
    "region",
    "industry",
    "lifecycle_stage",
    "acquisition_channel",
]
NAME = r"^[a-z][a-z0-9_]*$"
_AND = re.compile(r"""\s+and\s+(?=(?:[^"']*["'][^"']*["'])*[^"']*$)""")  # `and` outside quoted values
_CONDITION = re.compile(r"""^\s*([a-z][a-z0-9_]*)\s*(>=|<=|==|!=|>|<)\s*("[^"]*"|'[^']*'|\S+)\s*$""")


class ScorecardError(ValueError):
    def __init__(self, path: str | Path, problems: list[str]):
        self.problems = problems
        super().__init__(say("scorecard_errors.invalid", path=path) + "".join(f"\n  {p}" for p in problems))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Measure(_Strict):
    name: str = Field(pattern=NAME)
    metric: str | None = Field(default=None, pattern=NAME)  # every transform but `field`
    field: AccountField | None = None  # `field` only: the account field it reads
    transform: Transform
    bands: list[tuple[float, float]] = Field(default_factory=list)  # numbers in, 0-100 out
    categories: dict[str, float] = Field(default_factory=dict)  # a category field's value -> 0-100
    other: float | None = Field(default=None, ge=0, le=100)  # categories not listed (None: left out)
    label: str | None = Field(default=None, min_length=1, max_length=80)  # how the metric reads in sentences
    labels_in: dict[str, str] = Field(default_factory=dict)  # language -> label: labels_in = { zh-CN = "国际套餐" }
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

    @model_validator(mode="after")
    def _not_a_typo(self) -> Measure:
        """A near-miss of a documented metric is a typo, unless the measure names its metric in words (`label`):
        then the data really calls it that (`scorecard suggest` always writes one)."""
        known = list(raw("metrics.labels"))
        metric = self.metric
        near = difflib.get_close_matches(metric, known, n=1, cutoff=0.8) if metric else []
        if metric not in known and near and self.label is None:
            raise ValueError(say("scorecard_errors.unknown_metric", metric=repr(metric), near=repr(near[0])))
        return self

    @model_validator(mode="after")
    def _labelled_in_english(self) -> Measure:
        if self.labels_in and self.label is None:
            raise ValueError(say("scorecard_errors.labels_in_alone"))
        if any(not 1 <= len(x) <= 80 for x in self.labels_in.values()):
            raise ValueError(say("scorecard_errors.label_length"))
        return self

    @field_validator("bands")
    @classmethod
    def _bands_sorted(cls, bands: list[tuple[float, float]]) -> list[tuple[float, float]]:
        xs = [x for x, _ in bands]
        if xs != sorted(xs) or len(set(xs)) != len(xs):
            raise ValueError(say("scorecard_errors.bands_order"))
        if any(not 0 <= y <= 100 for _, y in bands):
            raise ValueError(say("scorecard_errors.band_scores"))
        return bands

    @field_validator("categories")
    @classmethod
    def _category_scores(cls, categories: dict[str, float]) -> dict[str, float]:
        if any(not 0 <= y <= 100 for y in categories.values()):
            raise ValueError(say("scorecard_errors.category_scores"))
        return {k.strip().casefold(): v for k, v in categories.items()}

    @model_validator(mode="after")
    def _reads_one_thing(self) -> Measure:
        if self.transform == "field":
            if self.field is None or self.metric is not None:
                fields = ", ".join(NUMERIC_FIELDS + CATEGORY_FIELDS)
                raise ValueError(say("scorecard_errors.field_not_metric", fields=fields))
            if self.is_category and not self.categories:
                raise ValueError(say("scorecard_errors.category_needs_categories", field=self.field))
            if self.is_category and self.bands:
                raise ValueError(say("scorecard_errors.category_not_bands", field=self.field))
        elif self.metric is None or self.field is not None:
            raise ValueError(say("scorecard_errors.needs_metric", transform=self.transform))
        if not self.is_category and len(self.bands) < 2:
            raise ValueError(say("scorecard_errors.two_bands"))
        if not self.is_category and (self.categories or self.other is not None):
            raise ValueError(say("scorecard_errors.categories_only"))
        return self

    def label_here(self) -> str | None:
        """The measure's own label in the current language (`labels_in`), else as written; None: it has none."""
        return self.labels_in.get(current(), self.label) if self.label else None

    @property
    def is_category(self) -> bool:
        return self.field in CATEGORY_FIELDS

    @property
    def source(self) -> str:
        """The metric or account field the measure reads."""
        return self.metric or self.field or ""

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
            "field": 1,
        }[self.transform]


class Condition(_Strict):
    """One part of a cap's `when`: a measure's input compared with a number (or, for a category, a value)."""

    measure: str
    op: Literal[">=", "<=", "==", "!=", ">", "<"]
    value: float | str


class Cap(_Strict):
    """While every condition in `when` holds, the score is at most `at_most`: one strong signal sets the tier.

    `when` reads "login_recency >= 14" or "service_calls >= 4 and tenure <= 90": measure names of the card and
    their inputs in the measure's own units (days, a change, a count, 0/1 for flags, a category's value).
    """

    when: str = Field(min_length=3)
    at_most: float = Field(ge=0, le=100)

    @field_validator("when")
    @classmethod
    def _parses(cls, when: str) -> str:
        for part in _AND.split(when.strip()):
            if not _CONDITION.match(part):
                raise ValueError(say("scorecard_errors.cap_unreadable", part=repr(part.strip())))
        return when

    @property
    def conditions(self) -> list[Condition]:
        out = []
        for part in _AND.split(self.when.strip()):
            name, op, value = cast(re.Match[str], _CONDITION.match(part)).groups()
            try:
                number: float | str = float(value)
            except ValueError:
                number = value.strip("\"'").casefold()
            out.append(Condition(measure=name, op=op, value=number))
        return out


def in_language(english: str, own: dict[str, str], table: str, key: str) -> str:
    """A scorecard label in the current language: the scorecard's own (`labels_in`), else the default scorecard's
    wording in prompts/<language>/labels.toml when the label is the default's, else as the scorecard writes it."""
    language = current()
    if language == ENGLISH:
        return english
    if language in own:
        return own[language]
    if raw(f"labels.{table}", ENGLISH).get(key) == english:
        return str(raw(f"labels.{table}", language)[key])
    return english


class Group(_Strict):
    label: str
    labels_in: dict[str, str] = Field(default_factory=dict)  # language -> label: labels_in = { zh-CN = "产品使用" }
    weight: float = Field(gt=0)
    measures: list[Measure] = Field(min_length=1)


class Card(_Strict):
    match: dict[str, list[str]] = Field(default_factory=dict)
    groups: dict[str, Group] = Field(min_length=1)
    caps: list[Cap] = Field(default_factory=list)

    @field_validator("match")
    @classmethod
    def _match_keys(cls, match: dict[str, list[str]]) -> dict[str, list[str]]:
        unknown = [k for k in match if k not in MATCHABLE]
        if unknown:
            raise ValueError(
                say("scorecard_errors.match_keys", unknown=", ".join(unknown), matchable=", ".join(MATCHABLE))
            )
        return match

    @model_validator(mode="after")
    def _unique_measures(self) -> Card:
        names = [m.name for g in self.groups.values() for m in g.measures]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(say("scorecard_errors.unique_measures", dupes=", ".join(dupes)))
        by_name = {m.name: m for _, m in self.measures()}
        for i, cap in enumerate(self.caps):
            for c in cap.conditions:
                m = by_name.get(c.measure)
                if m is None:
                    near = difflib.get_close_matches(c.measure, list(by_name), n=1)
                    key, hint = ("cap_unknown_near", {"near": repr(near[0])}) if near else ("cap_unknown", {})
                    raise ValueError(say(f"scorecard_errors.{key}", i=i, measure=repr(c.measure), **hint))
                if m.is_category != isinstance(c.value, str):
                    want = "cap_category_value" if m.is_category else "cap_number"
                    raise ValueError(say(f"scorecard_errors.{want}", i=i, measure=c.measure))
                if m.is_category and c.op not in ("==", "!="):
                    raise ValueError(say("scorecard_errors.cap_category_op", i=i, measure=c.measure))
        return self

    def measures(self) -> list[tuple[str, Measure]]:
        return [(g, m) for g, group in self.groups.items() for m in group.measures]

    def group_label(self, name: str) -> str:
        """A group's label in the current language (`in_language`)."""
        group = self.groups[name]
        return in_language(group.label, group.labels_in, "groups", name)


class Tiers(_Strict):
    order: list[str] = Field(min_length=2)
    labels: dict[str, str] = Field(default_factory=dict)
    labels_in: dict[str, dict[str, str]] = Field(default_factory=dict)  # [tiers.labels_in.zh-CN] high_risk = "高风险"
    cutoffs: dict[str, float]
    hysteresis: float = Field(default=3.0, ge=0, le=20)

    @model_validator(mode="after")
    def _consistent(self) -> Tiers:
        twice = sorted({t for t in self.order if self.order.count(t) > 1})
        if twice:
            raise ValueError(say("scorecard_errors.order_twice", tiers=", ".join(twice)))
        unknown = sorted(set(self.labels).union(*self.labels_in.values()) - set(self.order))
        if unknown:
            raise ValueError(say("scorecard_errors.labels_unknown", tiers=", ".join(unknown)))
        if set(self.cutoffs) != set(self.order):
            raise ValueError(say("scorecard_errors.cutoffs_tiers"))
        values = [self.cutoffs[t] for t in self.order]
        if values != sorted(values, reverse=True) or len(set(values)) != len(values):
            given = ", ".join(f"{t} {self.cutoffs[t]:g}" for t in self.order)
            raise ValueError(say("scorecard_errors.cutoffs_fall", given=given))
        if values[-1] != 0:
            raise ValueError(say("scorecard_errors.last_tier_zero", tier=self.order[-1]))
        return self

    def label(self, tier: str) -> str:
        """A tier's label in the current language (`in_language`)."""
        english = self.labels.get(tier, tier.replace("_", " ").capitalize())
        own = {language: labels[tier] for language, labels in self.labels_in.items() if tier in labels}
        return in_language(english, own, "tiers", tier)


class DataRules(_Strict):
    lookback_days: int = Field(default=90, ge=7, le=730)
    min_days_of_data: int = Field(default=14, ge=1)
    min_weight_covered: float = Field(default=0.5, gt=0, le=1)

    @model_validator(mode="after")
    def _reachable(self) -> DataRules:
        if self.min_days_of_data > self.lookback_days:
            raise ValueError(
                say("scorecard_errors.unreachable", min_days=self.min_days_of_data, lookback=self.lookback_days)
            )
        return self


class Scorecard(_Strict):
    tiers: Tiers
    data: DataRules = DataRules()
    cards: dict[str, Card] = Field(min_length=1)
    _file: Path | None = PrivateAttr(default=None)  # set by load_scorecard

    @property
    def file(self) -> Path | None:
        """The file it was loaded from (DEFAULT_PATH: the built-in default); None when built in code."""
        return self._file

    @field_validator("cards")
    @classmethod
    def _fallback(cls, cards: dict[str, Card]) -> dict[str, Card]:
        if not any(not c.match for c in cards.values()):
            raise ValueError(say("scorecard_errors.fallback_card"))
        return cards

    @model_validator(mode="after")
    def _spans(self) -> Scorecard:
        for card_name, card in self.cards.items():
            for group, m in card.measures():
                if m.span > self.data.lookback_days:
                    lookback = self.data.lookback_days
                    words = {"card": card_name, "group": group, "measure": m.name, "span": m.span}
                    raise ValueError(say("scorecard_errors.span", **words, lookback=lookback))
        return self

    @property
    def metrics(self) -> list[str]:
        return sorted({m.metric for c in self.cards.values() for _, m in c.measures() if m.metric})


def _location(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or say("scorecard_errors.top_level")


def _problem(error: Any) -> str:
    """`key: what is wrong`, in words a scorecard author reads (the bad value quoted where it helps)."""
    msg = str(error["msg"]).removeprefix("Value error, ")
    checks = {**raw("settings.rules.checks"), **raw("scorecard_errors.checks")}
    if current() != ENGLISH and error["type"] in checks:  # pydantic words its own checks in English only
        bounds = {
            k: int(v) if isinstance(v, float) and v.is_integer() else v for k, v in (error.get("ctx") or {}).items()
        }
        msg = str(checks[error["type"]]).format(**bounds)  # a bound as pydantic writes it: 100, not 100.0
    if error["type"] in ("literal_error", "string_pattern_mismatch", "enum") and isinstance(error.get("input"), str):
        msg = say("scorecard_errors.not_allowed", value=repr(error["input"]), why=msg[0].lower() + msg[1:])
    return say("scorecard_errors.problem", where=_location(error["loc"]), problem=msg)


def load_scorecard(path: str | Path | None = None) -> Scorecard:
    path = Path(path) if path else DEFAULT_PATH
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ScorecardError(path, [say("scorecard_errors.not_found")]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ScorecardError(path, [say("scorecard_errors.not_toml", error=exc)]) from None
    try:
        scorecard = Scorecard.model_validate(raw)
    except ValidationError as exc:
        problems = [_problem(e) for e in exc.errors()]
        raise ScorecardError(path, problems) from None
    scorecard._file = path
    return scorecard


def to_toml(scorecard: Scorecard, header: str = "", cap_notes: dict[str, str] | None = None) -> str:
    """The scorecard as TOML in the same layout as the default file; `cap_notes` (a cap's `when` -> words) are
    written as a comment above each cap, so a reader sees what its measure names and numbers mean."""

    def key(k: str) -> str:
        """A bare key when TOML allows one, else quoted ("financial services" as a category value)."""
        return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k)

    def value(v: object) -> str:
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{key(k)} = {value(x)}" for k, x in v.items()) + " }"
        if isinstance(v, list | tuple):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        return repr(v)

    data = scorecard.model_dump(exclude_none=True)
    out = [*(f"# {line}" if line else "#" for line in header.splitlines()), "", "[tiers]"]
    out += [f"{k} = {value(v)}" for k, v in data["tiers"].items() if v or k != "labels_in"]
    out += ["", "[data]"] + [f"{k} = {value(v)}" for k, v in data["data"].items()]
    for card_name, card in data["cards"].items():
        out += ["", f"[cards.{card_name}]"]
        if card["match"]:
            out.append(f"match = {value(card['match'])}")
        if card["caps"]:
            notes = cap_notes or {}
            lines = [[f"  # {notes[c['when']]}"] if notes.get(c["when"]) else [] for c in card["caps"]]
            out += ["caps = ["] + [x for c, n in zip(card["caps"], lines, strict=True) for x in [*n, f"  {value(c)},"]]
            out += ["]"]
        for g_name, group in card["groups"].items():
            out += ["", f"[cards.{card_name}.groups.{g_name}]", f"label = {value(group['label'])}"]
            if group["labels_in"]:
                out.append(f"labels_in = {value(group['labels_in'])}")
            out.append(f"weight = {value(group['weight'])}")
            out.append("measures = [")
            out += [f"  {value(_written(m))}," for m in group["measures"]]
            out.append("]")
    return "\n".join(out) + "\n"


# The settings each transform reads: a written measure leaves out the ones it ignores.
_READS = {
    "level": ("days", "aggregate", "fill"),
    "trend": ("days", "baseline_days", "fill"),
    "renewal": ("within_days", "days", "baseline_days", "fill"),
    "recency": ("lookback_days", "fill"),
    "ratio": ("days", "baseline_days", "baseline_floor", "min_baseline", "fill"),
    "flag": ("days", "threshold", "fill"),
    "field": (),
}


def _written(m: dict[str, Any]) -> dict[str, Any]:
    """A measure's keys as a scorecard file gives them: what identifies it, what its transform reads, its scoring."""
    keys = (
        "name",
        "label",
        "labels_in",
        "metric",
        "field",
        "transform",
        *_READS[m["transform"]],
        "bands",
        "categories",
        "other",
    )
    return {k: m[k] for k in (*keys, "weight") if m.get(k) not in (None, [], {})}
