"""Expected MRR loss in `healthbot report`, as the digest shows it: the portfolio, each segment, each CSM and each
tier (`bot.scoring.loss`), a Markdown section (`section`) and a CSV table (`csv_text`). Read by the command
(`expected_loss.read`, the fit checked against the card in use); pure here. Without a figure (no fit yet, too little
churn history, a fit for another card, nobody scored) both say why in words, never a number."""

from __future__ import annotations

from bot.churn import report
from bot.scoring import chance_words
from bot.scoring.loss import Kind, LossRow, name
from bot.slack.chance import Chances
from bot.slack.expected_loss import Expected, source
from prompts import ENGLISH, raw, say, speaking

CSV_HEADER = [
    "group",
    "name",
    "accounts",
    "mrr",
    "expected_accounts",
    "expected_loss",
    "loss_share",
    "horizon_days",
    "score_day",
    "fit_of",
    "note",
]


def why_none(expected: Expected) -> str | None:
    """Why there is no figure, in words; None when there is one."""
    fit, summary = expected.fit, expected.summary
    if fit is None:
        return say("churn_review.loss_no_fit")
    if expected.stale:
        return Chances.refitting(fit)
    if not fit.enough:
        return chance_words.too_little_text(fit)
    if summary is None or summary.empty:
        return say("churn_review.loss_no_accounts")
    return None


def _rows(expected: Expected, tier_labels: dict[str, str]) -> list[tuple[Kind, str, LossRow]]:
    """(group, name, row): the portfolio, then segments and CSMs (largest expected loss first), then the tiers."""
    s = expected.summary
    assert s is not None
    out: list[tuple[Kind, str, LossRow]] = [("portfolio", "", s.portfolio)]
    out += [("segment", name("segment", r), r) for r in s.segments]
    out += [("csm", name("csm", r), r) for r in s.csms]
    out += [("tier", tier_labels.get(r.key, r.key) if r.key else name("tier", r), r) for r in s.tiers]
    return out


def _horizon(expected: Expected) -> int:
    return expected.fit.horizon if expected.fit is not None else 90


def section(expected: Expected, tier_labels: dict[str, str]) -> list[str]:
    """The Markdown section: a table of the sums, where they come from; or why there is none."""
    out = ["", "## " + say("churn_review.loss_title", horizon=_horizon(expected)), ""]
    why = why_none(expected)
    if why is not None:
        return [*out, say("churn_review.loss_none", why=why)]
    groups = raw("churn_review.loss_groups")
    rows = [
        [
            groups[kind],
            label,
            str(r.accounts),
            report.money(r.mrr),
            f"{r.expected_accounts:.1f}",
            report.money(r.expected_loss),
            report.pct(r.share),
        ]
        for kind, label, r in _rows(expected, tier_labels)
    ]
    out += report.table(raw("churn_review.loss_header"), rows)
    if expected.summary is not None and expected.summary.without_chance:
        out += ["", say("loss.without_chance", count=expected.summary.without_chance)]
    return [*out, "", source(expected) or ""]


def csv_text(expected: Expected, tier_labels: dict[str, str]) -> str:
    """One row per group (figures as numbers); without a figure one portfolio row whose `note` says why."""
    horizon = _horizon(expected)
    day = expected.day or ""
    fit_of = expected.fit.as_of if expected.fit is not None else ""
    why = why_none(expected)
    if why is not None:
        return report.csv_table(CSV_HEADER, [["portfolio", "", "", "", "", "", "", horizon, day, fit_of, why]])
    with speaking(ENGLISH):  # the values are the same in every language ("no segment", as the other CSVs' ids)
        named = _rows(expected, tier_labels)
    rows: list[list[object]] = [
        [
            kind,
            label,
            r.accounts,
            report.money_cell(r.mrr),
            report.num_cell(r.expected_accounts),
            report.money_cell(r.expected_loss),
            report.num_cell(r.share),
            horizon,
            day,
            fit_of,
            "",
        ]
        for kind, label, r in named
    ]
    return report.csv_table(CSV_HEADER, rows)
