"""The backtest in words: the table, caps, chance held out and tier stability that `healthbot backtest` prints
(and the backtests of `tune` and `scorecard suggest`); the words are in prompts/backtest.toml."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.scoring import formats
from bot.scoring.backtest import WEEKDAYS, BacktestResult, CapRow, Stability, WeekdayStability
from prompts import raw, say
from prompts.formats import day_name

if TYPE_CHECKING:
    from bot.scoring.calibration import Calibration, ReliabilityRow


def format_stability(s: Stability) -> list[str]:
    """The tier-stability lines under the backtest table, and the warning when the card flips."""
    if not s.accounts:
        return [say("backtest.stability_none", days=s.days, last=s.last_day)]
    lines = [say("backtest.stability_title", days=s.days, last=s.last_day, share=formats.percent(s.share))]
    for w in s.weekdays:
        share = formats.percent(w.share)
        lines.append(
            say(
                "backtest.stability_row",
                weekday=_weekday(w),
                share=share,
                changes=f"{w.changes:,}",
                accounts=f"{w.accounts:,}",
                days=w.days,
            )
        )
    return lines + ([say("backtest.warning", warning=s.warning)] if s.warning else [])


def _weekday(w: WeekdayStability) -> str:
    return day_name(WEEKDAYS.index(w.weekday))


def format_result(result: BacktestResult, title: str | None = None) -> str:
    """The human-readable table the CLI prints."""
    rate = formats.percent(result.base_rate, 1, tight=True)
    base = say("backtest.base_rate", rate=rate) if result.base_rate is not None else ""
    counts = {"accounts": f"{result.accounts:,}", "unscored": f"{result.unscored:,}", "churned": f"{result.churned:,}"}
    lines = [
        say(
            "backtest.title",
            title=title or say("backtest.title_default"),
            as_of=result.as_of,
            horizon=result.horizon_days,
        ),
        say("backtest.scored", base=base, **counts),
        say("backtest.auc", auc=formats.auc(result.auc, missing=say("backtest.auc_missing"))),
        say("backtest.table_row", **raw("backtest.table_head")),
    ]
    for t in result.tiers:
        rate = formats.percent(t.churn_rate, 1, tight=True)
        lift = "–" if t.lift is None else say("backtest.lift", lift=f"{t.lift:.1f}")
        lines.append(
            say(
                "backtest.table_row",
                tier=t.label,
                accounts=f"{t.accounts:,}",
                churned=f"{t.churned:,}",
                rate=rate,
                lift=lift,
            )
        )
    lines += [f"  {line}" for line in format_caps(result.caps)] if result.accounts else []
    if result.calibration is not None and result.accounts:
        lines += [f"  {line}" for line in format_calibration(result.calibration)]
    lines += [say("backtest.note", note=note) for note in result.notes]
    if result.stability is not None:
        lines += format_stability(result.stability)
    return "\n".join(lines)


def format_caps(caps: list[CapRow]) -> list[str]:
    """One line per cap: "cap login_recency >= 14 (at most 5): held 12 accounts, 9 churned (75 %)"."""
    caps = [c for c in caps if c.card_accounts]  # a card nobody was scored with held nobody: nothing to say
    several_cards = len({c.card for c in caps}) > 1
    lines = []
    for c in caps:
        if c.accounts:
            accounts = say("backtest.account") if c.accounts == 1 else say("backtest.accounts", n=f"{c.accounts:,}")
            rate = formats.percent(c.churn_rate or 0)
            held = say("backtest.cap_held", accounts=accounts, churned=f"{c.churned:,}", rate=rate)
        else:
            held = say("backtest.cap_held_none")
        card = say("backtest.cap_card", card=c.card) if several_cards else ""
        lines.append(say("backtest.cap", when=c.when, at_most=f"{c.at_most:g}", card=card, held=held))
    return lines


def format_calibration(cal: Calibration) -> list[str]:
    """The chance to churn held out: where its bands come from, Brier score against the base rate's, the expected
    calibration error, and the reliability table (predicted vs observed churn per band of predicted chance); or,
    without figures, why."""
    if not cal.accounts:
        return [say("backtest.calibration_none", why=cal.note or "")]
    first, last = (min(cal.snapshots), max(cal.snapshots)) if cal.snapshots else ("", "")
    brier, base = cal.brier or 0.0, cal.base_brier or 0.0
    lines = [
        say(
            "backtest.calibration_title",
            snapshots=len(cal.snapshots),
            first=first,
            last=last,
            cases=f"{cal.training_cases:,}",
            churned=f"{cal.training_churned_accounts:,}",
        ),
        say(
            "backtest.calibration_brier_below" if brier < base else "backtest.calibration_brier_not_below",
            brier=f"{brier:.4f}",
            base=f"{base:.4f}",
            base_rate=formats.percent(cal.base_rate, 1),
        ),
        say("backtest.calibration_ece", ece=f"{100 * (cal.ece or 0.0):.1f}"),
        say("backtest.calibration_header"),
    ]
    lines += [say("backtest.calibration_row", **_reliability_cells(r)) for r in cal.rows]
    if cal.note:
        lines.append(say("backtest.calibration_partly", why=cal.note))
    return lines


def _reliability_cells(row: ReliabilityRow) -> dict[str, str]:
    """A reliability row's cells: its band of predicted chance ("2-5 %"), counts, mean prediction and churn share."""
    return dict(
        band=str(raw("formats.percent")).format(number=f"{100 * row.lo:g}-{100 * row.hi:g}"),
        accounts=f"{row.accounts:,}",
        churned=f"{row.churned:,}",
        predicted=formats.percent(row.predicted, 1),
        observed=formats.percent(row.observed, 1),
    )
