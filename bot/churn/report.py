"""The churn review as files: Markdown (`render_md`), CSV tables (`render_csv`) and a PNG chart (`render_png`).

Pure functions of a `ChurnReview`; `write(review, out_dir, fmt, expected)` saves them for `healthbot report`, with the
expected MRR loss (`report_loss`) in the Markdown and as one more CSV table.
"""

from __future__ import annotations

import csv
import io
import textwrap
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from bot.churn.analysis import MIN_SUPPORT, ChurnReview, TraitRow, TrendPoint, ranked_traits
from bot.churn.periods import Period
from bot.churn.themes import Themes, by_keywords
from bot.churn.trait_words import Names
from bot.churn.trait_words import reason_word as why
from bot.churn.trait_words import trait_cells as cells
from prompts import raw, say
from prompts.formats import day, listing, number, percent

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from bot.scoring.calibration import Calibration
    from bot.slack.expected_loss import Expected

TOP_TRAITS = 8
SMALL_SHOWN = 8


def pct(value: float | None) -> str:
    return "–" if value is None else percent(value, 1)


def money(value: float) -> str:
    return number(value)


def lift(value: float | None) -> str:
    return "–" if value is None else number(value, 2) + "×"


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + md("full_stop")


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    clean = [[c.replace("|", "\\|").replace("\n", " ") for c in row] for row in rows]
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in clean]


def trend_label(point: TrendPoint) -> str:
    """ "2026-Q2", or "2026-Q2 (from 2026-05-04)" / "2026-Q4 (to 2026-10-15)" when data covers part of it."""
    part = point.covered
    if part is None or (part.start, part.end) == (point.start, point.end):
        return point.label
    if part.start != point.start:
        return say("churn_review.trend_partial", label=point.label, start=part.start.isoformat())
    return say("churn_review.trend_partial_to", label=point.label, end=part.end.isoformat())


def period_label(review: ChurnReview) -> str:
    """The period's label, with the part it covers when data covers only part of it: "2026-Q4 (to 2026-10-15)"."""
    return trend_label(TrendPoint(review.period.label, review.period.start, review.period.end, None, review.covered))


def coverage(review: ChurnReview) -> str | None:
    """What part of the period the review covers, when it is not all of it."""
    if not review.partial or review.covered is None or review.span is None:
        return None
    return say(
        "churn_review.covers",
        start=review.covered.start,
        end=review.covered.end,
        first=review.span.first,
        last=review.span.last,
    )


def no_reasons(review: ChurnReview) -> str:
    """Why there are no reasons: nobody churned, or nobody who churned was interviewed."""
    if not review.headline.churned:
        return say("churn_review.no_churn")
    return say("churn_review.no_interviews", interviewed=review.interviewed, churned=review.headline.churned)


def render_md(review: ChurnReview, found: Themes | None = None) -> str:
    """The review as Markdown in the current language (prompts/churn_review.toml [markdown]); CSMs by `people`."""
    names = review.people.get
    h = review.headline
    period = review.period
    if review.segment:
        out = [md("title_segment", label=period.label, segment=review.segment), ""]
    else:
        out = [md("title", label=period.label), ""]
    out.append(md("dates", start=day(period.start), end=day(period.end), today=day(review.today)))
    if covers := coverage(review):
        out += ["", md("covers", covers=covers)]
    out += ["", md("headline"), ""]
    out.append(md("customer_churn", rate=pct(h.rate), churned=h.churned, accounts=h.accounts_at_start))
    lost, mrr = money(h.mrr_lost), money(h.mrr_at_start)
    out.append(md("mrr_churn", rate=pct(h.mrr_rate), lost=lost, mrr=mrr))
    share, avoidable = pct(review.avoidable_share), review.avoidable
    out.append(md("interviews", interviewed=review.interviewed, churned=h.churned, share=share, avoidable=avoidable))
    out += ["", md("reasons"), ""]
    if review.reasons:
        out += table(
            md_raw("reasons_header"),
            [[why(r.reason), str(r.count), pct(r.share), str(r.avoidable)] for r in review.reasons],
        )
    else:
        out.append(_sentence(no_reasons(review)))
    if review.competitors:
        rivals = listing(say("churn_review.competitor", name=c.name, count=c.count) for c in review.competitors)
        out += ["", md("competitors", names=rivals)]
    if quotes := review.quotes:
        found = found if found is not None else by_keywords(review.quotes)
        lines = [say("coding.themes.line_md", name=t.name, count=t.count, accounts=t.accounts) for t in found.themes]
        mark = say("coding.themes.generated_md" if found.generated else "coding.themes.from_words_md")
        out += ["", say("coding.themes.title_md"), "", *lines, "", mark]
        out += ["", md("quotes"), ""]
        # all of them: a file written by whoever may run the CLI on the database
        out += [md("quote", text=" ".join(q.text.split()), account=q.account, reason=why(q.reason)) for q in quotes]
    out += ["", md("traits"), ""]
    traits, small = ranked_traits(review.traits)  # the values churned accounts over-index on, best supported first
    traits = traits[:TOP_TRAITS]
    if traits or small:
        out += [_sentence(say("churn_review.ranking", min=MIN_SUPPORT, base=pct(review.headline.rate))), ""]
    if traits:
        rows = [[*cells(t, names), md("fraction", **_counts(t)), pct(t.rate), pct(t.low), lift(t.lift)] for t in traits]
        out += table(md_raw("traits_header"), rows)
    else:
        out.append(md("traits_none"))
    if small:
        groups = [md("small_group", **_counts(t, names)) for t in small[:SMALL_SHOWN]]
        if len(small) > SMALL_SHOWN:
            groups.append(md("small_more", more=len(small) - SMALL_SHOWN))
        out += ["", say("churn_review.small_groups", min=MIN_SUPPORT, groups=listing(groups, long=True))]
    out += ["", md("plays"), ""]
    if review.plays:
        out += table(
            md_raw("plays_header"),
            [
                [
                    review.tier_labels.get(p.tier, p.tier),
                    str(p.alerts),
                    str(p.saved),
                    str(p.churned),
                    md("few", rate=pct(p.save_rate)) if p.few else pct(p.save_rate),
                ]
                for p in review.plays
            ],
        )
    else:
        out.append(md("plays_none"))
    out += ["", md("trend"), ""]
    none = say("churn_review.trend_no_data")
    out += table(
        md_raw("trend_header"),
        [
            [trend_label(t), str(t.rate.accounts_at_start), str(t.rate.churned), pct(t.rate.rate), pct(t.rate.mrr_rate)]
            if t.rate
            else [t.label, none, "–", "–", "–"]
            for t in review.trend
        ],
    )
    out += ["", md("foresight"), ""]
    seen = [md("horizon", days=z.days, flagged=z.flagged, scored=z.scored, share=pct(z.share)) for z in review.horizons]
    out.append(listing(seen) or "–")
    if review.foresight:
        out.append("")
        days = [md("days_before", days=d) for d in sorted(review.foresight[0].tiers)]
        out += table(
            [*md_raw("foresight_header"), *days],
            [
                [f.account, day(f.churned_on)]
                + [review.tier_labels.get(t, t) if t else "–" for _, t in sorted(f.tiers.items())]
                for f in review.foresight
            ],
        )
    return "\n".join(out) + "\n"


def md(key: str, /, **values: object) -> str:
    return say(f"churn_review.markdown.{key}", **values)


def md_raw(key: str) -> list[str]:
    return list(raw(f"churn_review.markdown.{key}"))


def _counts(t: TraitRow, names: Names | None = None) -> dict[str, object]:
    trait, value = cells(t, names)
    return {"churned": t.churned, "accounts": t.accounts, "rate": pct(t.rate), "trait": trait, "value": value}


# A text cell starting with one of these is read as a formula by Excel, LibreOffice and Google Sheets (OWASP, CSV
# injection; ASVS 1.2.10 adds NUL); a leading `'` makes them show it as text.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\0")


def cell(value: object) -> object:
    """A CSV cell: text (all of it from data or from us) with a formula start behind a `'`; the numbers we compute
    are `int` or `Decimal` (`_num`, `_money`), never text, and are written as they are, a negative one included."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def csv_table(header: list[str], rows: list[list[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")  # RFC 4180: a CR or LF inside a cell is then quoted too
    writer.writerow(header)
    writer.writerows([cell(c) for c in row] for row in rows)
    return buffer.getvalue()


def num_cell(value: float | None) -> Decimal | str:
    return "" if value is None else Decimal(f"{value:.4f}")


def money_cell(value: float) -> Decimal:
    return Decimal(f"{value:.2f}")


def _span(part: Period | None) -> list[object]:
    """The covered part's first and last day; empty without data."""
    return ["", ""] if part is None else [part.start, part.end]


def render_csv(review: ChurnReview) -> dict[str, str]:
    """File name -> CSV text, one table each."""
    h = review.headline
    label = review.period.label.replace("..", "_")
    return {
        f"churn-{label}-headline.csv": csv_table(
            [
                "period",
                "start",
                "end",
                "segment",
                "accounts_at_start",
                "churned",
                "churn_rate",
                "mrr_at_start",
                "mrr_lost",
                "mrr_churn_rate",
                "interviewed",
                "avoidable",
                "covered_start",
                "covered_end",
            ],
            [
                [
                    review.period.label,
                    review.period.start,
                    review.period.end,
                    review.segment or "",
                    h.accounts_at_start,
                    h.churned,
                    num_cell(h.rate),
                    money_cell(h.mrr_at_start),
                    money_cell(h.mrr_lost),
                    num_cell(h.mrr_rate),
                    review.interviewed,
                    review.avoidable,
                    *_span(review.covered),
                ]
            ],
        ),
        f"churn-{label}-reasons.csv": csv_table(
            ["reason", "count", "share", "avoidable"],
            [[r.reason, r.count, num_cell(r.share), r.avoidable] for r in review.reasons],
        ),
        f"churn-{label}-traits.csv": csv_table(
            ["trait", "value", "accounts", "churned", "rate", "rate_low_95", "lift"],
            [
                [t.trait, t.value, t.accounts, t.churned, num_cell(t.rate), num_cell(t.low), num_cell(t.lift)]
                for t in review.traits
            ],
        ),
        f"churn-{label}-trend.csv": csv_table(
            [
                "quarter",
                "start",
                "end",
                "accounts_at_start",
                "churned",
                "churn_rate",
                "mrr_at_start",
                "mrr_lost",
                "mrr_churn_rate",
                "covered_start",
                "covered_end",
            ],
            [
                [
                    t.label,
                    t.start,
                    t.end,
                    t.rate.accounts_at_start,
                    t.rate.churned,
                    num_cell(t.rate.rate),
                    money_cell(t.rate.mrr_at_start),
                    money_cell(t.rate.mrr_lost),
                    num_cell(t.rate.mrr_rate),
                    *_span(t.covered),
                ]
                if t.rate
                else [t.label, t.start, t.end, "", "", "", "", "", "", "", ""]
                for t in review.trend
            ],
        ),
        f"churn-{label}-foresight.csv": csv_table(
            ["account", "churned_on"] + [f"tier_{d}d_before" for d in (30, 60, 90)],
            [[f.account, f.churned_on] + [f.tiers.get(d) or "" for d in (30, 60, 90)] for f in review.foresight],
        ),
        f"churn-{label}-plays.csv": csv_table(
            ["tier", "alerts", "saved", "churned", "save_rate"],
            [[p.tier, p.alerts, p.saved, p.churned, num_cell(p.save_rate)] for p in review.plays],
        ),
    }


def chart(review: ChurnReview) -> Figure:
    """Two panels: churn and MRR churn per quarter (the trend; "no data" over a quarter without any), and the churn
    reasons (or, in the panel, why there are none); a third when the review checked the chance to churn
    (`review.calibration`): its reliability, predicted vs observed churn per band of predicted chance."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    checked = review.calibration is not None
    fig = Figure(figsize=(13.5 if checked else 9, 3.8 if checked else 3.6), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    panels = fig.subplots(1, 3, width_ratios=[1.15, 1, 0.95]) if checked else fig.subplots(1, 2)
    trend, reasons = panels[0], panels[1]
    labels = [trend_label(t).replace(" (", "\n(") for t in review.trend]
    x = list(range(len(labels)))
    trend.bar(
        [i - 0.2 for i in x],
        [100 * ((t.rate and t.rate.rate) or 0) for t in review.trend],
        width=0.4,
        label="customers",
        color="#1f3b5a",
    )
    trend.bar(
        [i + 0.2 for i in x],
        [100 * ((t.rate and t.rate.mrr_rate) or 0) for t in review.trend],
        width=0.4,
        label="MRR",
        color="#c0504d",
    )
    trend.set_xticks(x, labels, fontsize=8)
    trend.set_ylabel("churn %")
    trend.set_ylim(bottom=0)
    for i, point in enumerate(review.trend):
        quiet = point.rate is not None and not point.rate.rate and not point.rate.mrr_rate
        if point.rate is None or quiet:  # no bar at all: say whether there was no data or no churn
            words = say("churn_review.trend_no_data" if point.rate is None else "churn_review.trend_no_churn")
            trend.text(
                i,
                0.02,
                words,
                transform=trend.get_xaxis_transform(),
                ha="center",
                va="bottom",
                fontsize=8,
                color="#777777",
            )
    trend.set_title(say("churn_review.chart_trend_title"), loc="left", fontsize=10)
    trend.legend(fontsize=8, frameon=False)
    title = say("churn_review.chart_reasons_title", label=period_label(review))
    reasons.set_title(title.replace("$", r"\$"), loc="left", fontsize=10)
    if review.reasons:
        names = [why(r.reason) for r in review.reasons][::-1]
        reasons.barh(names, [r.count for r in review.reasons][::-1], color="#5a7d9a")
        avoidable = say("churn_review.chart_avoidable")
        reasons.barh(names, [r.avoidable for r in review.reasons][::-1], color="#e6a23c", label=avoidable)
        reasons.legend(fontsize=8, frameon=False)
    else:
        reasons.text(
            0.5,
            0.5,
            no_reasons(review).replace("$", r"\$"),
            transform=reasons.transAxes,
            ha="center",
            va="center",
            fontsize=9,
            color="#555555",
            wrap=True,
        )
        reasons.set_xticks([])
        reasons.set_yticks([])
        reasons.spines[["left", "bottom"]].set_visible(False)
    for ax in (trend, reasons):
        ax.spines[["top", "right"]].set_visible(False)
        ax.tick_params(labelsize=8)
    if review.calibration is not None:
        reliability_panel(panels[2], review.calibration, review.segment is not None)
    return fig


def reliability_panel(ax: Axes, cal: Calibration, segment: bool = False) -> None:
    """Predicted vs observed churn per band of predicted chance (a point per band with accounts, its size and label
    the accounts in it), the diagonal a calibrated chance keeps to, Brier and calibration error in the title; or,
    without figures, why."""
    title = say("churn_review.chart_reliability_title", horizon=cal.horizon_days, as_of=cal.as_of)
    if segment:
        title += say("churn_review.chart_reliability_all")
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(labelsize=8)
    if not cal.accounts:  # why, worded again in the chart's language (`cal.note` is in the reader's)
        from bot.scoring.calibration import calibration_note

        why = calibration_note(cal, cal.horizon_days or 0) or ""
        ax.set_title(title, loc="left", fontsize=9)
        ax.text(
            0.5,
            0.5,
            textwrap.fill(say("churn_review.chart_reliability_none", why=why), 46).replace("$", r"\$"),
            transform=ax.transAxes,
            ha="center",
            va="center",
            fontsize=9,
            color="#555555",
        )
        ax.set_xticks([])
        ax.set_yticks([])
        ax.spines[["left", "bottom"]].set_visible(False)
        return
    figures = say(
        "churn_review.chart_reliability_figures",
        brier=f"{cal.brier or 0:.3f}",
        base=f"{cal.base_brier or 0:.3f}",
        ece=f"{100 * (cal.ece or 0):.1f}",
    )
    ax.set_title(f"{title}\n{figures}", loc="left", fontsize=9)
    rows = [r for r in cal.rows if r.accounts and r.predicted is not None and r.observed is not None]
    x = [100 * (r.predicted or 0) for r in rows]
    y = [100 * (r.observed or 0) for r in rows]
    top = max([5.0, *x, *y]) * 1.15
    ax.plot([0, top], [0, top], linestyle="--", color="#999999", linewidth=1, label=say("churn_review.chart_diagonal"))
    most = max(r.accounts for r in rows)
    ax.scatter(x, y, s=[20 + 160 * (r.accounts / most) ** 0.5 for r in rows], color="#1f3b5a", alpha=0.8, zorder=3)
    for k, (xi, yi, r) in enumerate(zip(x, y, rows, strict=True)):
        words = say("churn_review.chart_reliability_point", accounts=r.accounts, churned=r.churned)
        lift = (8, 5) if k % 2 == 0 else (8, -11)  # neighbouring bands' labels above and below: low chances crowd
        ax.annotate(words, (xi, yi), xytext=lift, textcoords="offset points", fontsize=7, color="#333333")
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel(say("churn_review.chart_predicted"), fontsize=8)
    ax.set_ylabel(say("churn_review.chart_observed"), fontsize=8)
    ax.legend(fontsize=8, frameon=False, loc="upper left")


def render_png(review: ChurnReview) -> bytes:
    """The chart (`chart`) as PNG bytes, in a font for its language (`chart_language`)."""
    from bot.slack.language import chart_language

    buffer = io.BytesIO()
    with chart_language():
        chart(review).savefig(buffer, format="png")
    return buffer.getvalue()


def write(review: ChurnReview, out_dir: str | Path, fmt: str, expected: Expected | None = None) -> list[Path]:
    """Save the review as `md`, `csv` (one file per table) or `png` into `out_dir`, with `expected` (the expected MRR
    loss of the review's customers, `report_loss`) in the first two; the paths written."""
    from bot.churn import report_loss  # (it draws with this module's tables)

    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    label = review.period.label.replace("..", "_")
    files: dict[str, str | bytes]
    if fmt == "md":
        loss = "\n".join(report_loss.section(expected, review.tier_labels)) + "\n" if expected is not None else ""
        files = {f"churn-{label}.md": render_md(review) + loss}
    elif fmt == "csv":
        files = dict(render_csv(review))
        if expected is not None:
            files[f"churn-{label}-expected-loss.csv"] = report_loss.csv_text(expected, review.tier_labels)
    elif fmt == "png":
        files = {f"churn-{label}.png": render_png(review)}
    else:
        raise ValueError(f"unknown format {fmt!r}: md, csv or png")
    paths = []
    for name, body in files.items():
        path = folder / name
        if isinstance(body, bytes):
            path.write_bytes(body)
        else:
            path.write_text(body, encoding="utf-8", newline="")  # as rendered: CSV rows end in CRLF everywhere
        paths.append(path)
    return paths
