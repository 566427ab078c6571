"""Alert rules: a TOML file that says which signals raise an alert, how severe it is and for whom.

`load_rules(path)` validates the whole file and raises `RulesError` whose lines name the
key and the problem (`rules[2].metric: unknown metric 'logins_trnd': did you mean 'logins'?`).
Tier names (a rule's severity, `min_tier`, `into`) are checked against the scorecard's tiers.
The documented default lives beside this module in `default_rules.toml`; `signals.evaluate`
turns the rules into the day's firings.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from bot.scoring.explain import at_risk_tiers
from bot.scoring.scorecard import Scorecard, Tiers, load_scorecard
from prompts import ENGLISH, current, languages, raw, say, set_channel_languages

DEFAULT_PATH = Path(__file__).with_name("default_rules.toml")
KINDS = ("tier_dropped", "score_below", "metric_trend", "silence", "renewal_near", "flag", "metric_above")


class RulesError(ValueError):
    def __init__(self, path: str | Path, problems: list[str]):
        self.problems = problems
        super().__init__(say("settings.rules.invalid", path=path) + "".join(f"\n  {p}" for p in problems))


def _known_metric(metric: str, info: ValidationInfo) -> str:
    """A metric the bot documents or the scorecard reads, or a name far from any of them (a team's own
    metric); a near miss is a typo. Stricter than the scorecard's check: a rule on a misspelt metric
    would never fire, and nobody would notice."""
    scorecard: Scorecard | None = (info.context or {}).get("scorecard")
    known = list(dict.fromkeys([*raw("metrics.labels"), *(scorecard.metrics if scorecard else [])]))
    near = difflib.get_close_matches(metric, known, n=1, cutoff=0.7)
    if metric not in known and near:
        raise ValueError(say("settings.rules.unknown_metric", metric=repr(metric), near=repr(near[0])))
    return metric


def _known_tier(tier: str, info: ValidationInfo) -> str:
    scorecard: Scorecard | None = (info.context or {}).get("scorecard")
    tiers = scorecard.tiers if scorecard else None
    if tiers is None or tier in tiers.order:
        return tier
    near = difflib.get_close_matches(tier, tiers.order, n=1, cutoff=0.6)
    order = ", ".join(tiers.order)
    hint = say("settings.rules.tier_near", near=repr(near[0])) if near else say("settings.rules.tier_use", tiers=order)
    raise ValueError(say("settings.rules.unknown_tier", tier=repr(tier), tiers=order, hint=hint))


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)
    severity: str
    segments: list[str] | None = None  # None: every segment; values match regardless of case and spaces
    cooldown_days: int | None = Field(default=None, ge=0, le=365)  # None: `cooldown_days` at the top level
    enabled: bool = True

    @field_validator("severity")
    @classmethod
    def _severity_is_a_tier(cls, tier: str, info: ValidationInfo) -> str:
        return _known_tier(tier, info)

    @field_validator("segments")
    @classmethod
    def _segments_named(cls, segments: list[str] | None) -> list[str] | None:
        if segments is not None and not [s for s in segments if s.strip()]:
            raise ValueError(say("settings.rules.no_segments"))
        return segments


class TierDropped(_Rule):
    """The tier worsened since the day before, into one of `into` (default: the two riskiest tiers)."""

    kind: Literal["tier_dropped"]
    into: list[Annotated[str, AfterValidator(_known_tier)]] | None = None

    @field_validator("into")
    @classmethod
    def _into_tiers(cls, into: list[str] | None) -> list[str] | None:
        if into is not None and not into:
            raise ValueError(say("settings.rules.no_into"))
        return into


class ScoreBelow(_Rule):
    """The score was below `below` on each of the last `days` days."""

    kind: Literal["score_below"]
    below: float = Field(gt=0, le=100)
    days: int = Field(ge=1, le=90)


class MetricTrend(_Rule):
    """The metric's daily mean over the last `days` vs. the `baseline_days` before fell by `at_most` or more."""

    kind: Literal["metric_trend"]
    metric: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    days: int = Field(default=7, ge=1, le=90)
    baseline_days: int = Field(default=28, ge=1, le=180)
    at_most: float = Field(ge=-1, lt=0)  # -0.5 = down 50 % or more
    min_baseline: float = Field(default=0.0, ge=0)  # daily mean the baseline needs (ignores near-silent accounts)

    check_metric = field_validator("metric")(_known_metric)


class Silence(_Rule):
    """None of `metrics` above zero for the last `days` days, after some activity in the `lookback_days` before."""

    kind: Literal["silence"]
    metrics: list[Annotated[str, AfterValidator(_known_metric)]] = Field(min_length=1)
    days: int = Field(ge=1, le=180)
    lookback_days: int = Field(default=42, ge=2, le=365)

    @model_validator(mode="after")
    def _room_to_have_been_active(self) -> Silence:
        if self.lookback_days <= self.days:
            raise ValueError(say("settings.rules.lookback", lookback_days=self.lookback_days, days=self.days))
        return self


class RenewalNear(_Rule):
    """The renewal date is within `within_days` while the tier is `min_tier` or worse."""

    kind: Literal["renewal_near"]
    within_days: int = Field(ge=1, le=730)
    min_tier: str

    @field_validator("min_tier")
    @classmethod
    def _min_tier_is_a_tier(cls, tier: str, info: ValidationInfo) -> str:
        return _known_tier(tier, info)


class Flag(_Rule):
    """The metric was >= `threshold` (a 0/1 flag: 1) on any of the last `within_days` days."""

    kind: Literal["flag"]
    metric: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    within_days: int = Field(default=7, ge=1, le=365)
    threshold: float = 1.0

    check_metric = field_validator("metric")(_known_metric)


class MetricAbove(_Rule):
    """The metric's latest value in the last `days` days is above `above`."""

    kind: Literal["metric_above"]
    metric: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    above: float
    days: int = Field(default=7, ge=1, le=90)

    check_metric = field_validator("metric")(_known_metric)


Rule = Annotated[
    TierDropped | ScoreBelow | MetricTrend | Silence | RenewalNear | Flag | MetricAbove, Field(discriminator="kind")
]


CHANNEL_ID = r"^[CG][A-Z0-9]{6,}$"  # as ALERT_CHANNEL: an id, not a #name (names change, ids do not)


def _channel_id(channel: str) -> str:
    if not re.fullmatch(CHANNEL_ID, channel):
        raise ValueError(say("settings.rules.channel_id", channel=repr(channel)))
    return channel


def _language(language: str) -> str:
    if language not in languages():
        raise ValueError(say("settings.rules.language", language=repr(language), languages=", ".join(languages())))
    return language


class Routing(BaseModel):
    """Where an alert's thread goes: the account's segment's channel, else its severity's channel, else
    ALERT_CHANNEL; plus a DM to the account owner (`dm_owner`). Firings of a `digest_only` tier open no
    thread: their accounts are listed in the weekly digest instead."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tiers: dict[Annotated[str, AfterValidator(_known_tier)], Annotated[str, AfterValidator(_channel_id)]] = Field(
        default_factory=dict
    )
    segments: dict[str, Annotated[str, AfterValidator(_channel_id)]] = Field(default_factory=dict)
    dm_owner: bool = True
    digest_only: list[Annotated[str, AfterValidator(_known_tier)]] = Field(default_factory=list)
    # the language of a channel's messages (`{ C0123456789 = "zh-CN" }`); a channel not named: LANGUAGE
    languages: dict[Annotated[str, AfterValidator(_channel_id)], Annotated[str, AfterValidator(_language)]] = Field(
        default_factory=dict
    )

    @field_validator("segments")
    @classmethod
    def _segments_named(cls, segments: dict[str, str]) -> dict[str, str]:
        keys = [s.strip().casefold() for s in segments]
        if "" in keys:
            raise ValueError(say("settings.rules.empty_segment"))
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            raise ValueError(say("settings.rules.segments_twice", names=", ".join(dupes)))
        return segments

    def channel(self, severity: str, segment: str | None, default: str | None) -> str | None:
        """The channel of an alert of `severity` on an account of `segment` (None: nowhere to post)."""
        if segment is not None:
            wanted = segment.strip().casefold()
            for name, channel in self.segments.items():
                if name.strip().casefold() == wanted:
                    return channel
        return self.tiers.get(severity) or default


class AlertSettings(BaseModel):
    """How the alert job treats an open alert."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # an open alert resolves as recovered after this many days in a row without any of its rules firing
    recover_days: int = Field(default=7, ge=1, le=90)


class Budget(BaseModel):
    """How many messages the alert job may send: new threads per channel per day, DMs per person per run, and
    what a first run does. What the budget holds back is listed in the channel with a button to open it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # new alert threads the job opens per channel per (team's) day; past it, the riskiest open first and the
    # rest are listed in one message with a button per account (0: every new alert is listed)
    threads_per_channel_per_day: int = Field(default=10, ge=0, le=1000)
    # "list": the first run opens no thread, it lists the accounts already at risk (one message per channel);
    # "open": the first run opens threads like any other run (within the budget)
    first_run: Literal["list", "open"] = "list"
    # on a first run, a rule watching a day-to-day change (tier_dropped) looks back this many days, so a drop
    # the day before the first run is not missed
    first_run_days: int = Field(default=7, ge=1, le=90)
    # true: one DM per person per run with all of their new alerts, tasks and listed accounts;
    # false: one DM per new alert (its tasks in it)
    one_dm_per_run: bool = True


class Rules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    cooldown_days: int = Field(default=14, ge=0, le=365)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    budget: Budget = Field(default_factory=Budget)
    routing: Routing = Field(default_factory=Routing)
    rules: list[Rule] = Field(default_factory=list)

    @field_validator("rules")
    @classmethod
    def _unique_names(cls, rules: list[Rule]) -> list[Rule]:
        names = [r.name for r in rules]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(say("settings.rules.names_unique", names=", ".join(dupes)))
        return rules

    @property
    def enabled(self) -> list[Rule]:
        return [r for r in self.rules if r.enabled]

    def cooldown(self, rule: Rule) -> int:
        """Days after an alert of `rule` on an account before the same rule may alert on it again."""
        return self.cooldown_days if rule.cooldown_days is None else rule.cooldown_days

    def rule(self, name: str) -> Rule:
        return next(r for r in self.rules if r.name == name)


def riskiest(rule: TierDropped, tiers: Tiers) -> list[str]:
    """The tiers a move into alerts for `rule`: its `into`, else the tiers of "MRR at risk" (the scorecard's two
    riskiest, never its healthiest)."""
    return list(rule.into) if rule.into else at_risk_tiers(tiers)


def _location(loc: tuple[int | str, ...]) -> str:
    out = ""
    for i, part in enumerate(loc):
        if isinstance(part, str) and part in KINDS and i > 0 and isinstance(loc[i - 1], int):
            continue  # the union's tag pydantic puts in the path: `rules.2.score_below.days`
        if part == "[key]":
            continue  # a bad dict key (`routing.tiers.hihg_risk.[key]`): the key names it already
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _problem(error: Any) -> str:
    """`key: what is wrong`, in words a rules author reads (the bad value quoted where it helps)."""
    msg = str(error["msg"]).removeprefix("Value error, ")
    checks = raw("settings.rules.checks")
    if current() != ENGLISH and error["type"] in checks:  # pydantic words its own checks in English only
        msg = str(checks[error["type"]]).format(**(error.get("ctx") or {}))
    loc, kinds = tuple(error["loc"]), ", ".join(KINDS)
    if error["type"] == "union_tag_invalid":
        return f"{_location(loc)}.kind: " + say("settings.rules.bad_kind", tag=repr(error["ctx"]["tag"]), kinds=kinds)
    if error["type"] == "union_tag_not_found":
        return f"{_location(loc)}.kind: " + say("settings.rules.no_kind", kinds=kinds)
    if error["type"] == "extra_forbidden" and len(loc) >= 3 and loc[-2] in KINDS:
        return f"{_location(loc)}: " + say("settings.rules.not_of_kind", kind=repr(loc[-2]))
    if error["type"] in ("literal_error", "string_pattern_mismatch", "enum") and isinstance(error.get("input"), str):
        msg = say("settings.rules.not_allowed", value=repr(error["input"]), why=msg[0].lower() + msg[1:])
    return f"{_location(loc)}: {msg}"


def load_rules(path: str | Path | None = None, scorecard: Scorecard | None = None) -> Rules:
    """The rules in `path` (default: the documented default), tier names checked against `scorecard`'s
    tiers (default: the default scorecard)."""
    path = Path(path) if path else DEFAULT_PATH
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RulesError(path, [say("settings.rules.not_found")]) from None
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(path, [say("settings.rules.not_toml", error=exc)]) from None
    try:
        rules = Rules.model_validate(data, context={"scorecard": scorecard or load_scorecard()})
    except ValidationError as exc:
        raise RulesError(path, [_problem(e) for e in exc.errors()]) from None
    set_channel_languages(rules.routing.languages)  # what every channel message is said in (prompts.speaking_in)
    return rules
