"""The chart behind the card's "Show chart" button: score and key metrics over 90 days, as a PNG.

matplotlib is imported inside `render_chart` only, so the bot starts and answers lookups without it.
"""

from __future__ import annotations

import io
import re
import textwrap
from dataclasses import dataclass
from datetime import date

from bot.scoring.explain import metric_label
from bot.scoring.scorecard import Tiers
from bot.slack.language import chart_language
from prompts import say


@dataclass(frozen=True)
class ChartData:
    name: str
    days: int
    scores: list[tuple[date, float]]  # oldest first
    metrics: dict[str, list[tuple[date, float]]]  # metric -> daily values, oldest first (labelled when drawn)

    @property
    def title(self) -> str:
        return say("health.chart.title", name=self.name, days=self.days)

    @property
    def filename(self) -> str:
        return (re.sub(r"[^a-z0-9]+", "-", self.name.lower())[:80].strip("-") or "account") + "-health.png"


def render_chart(data: ChartData, tiers: Tiers) -> bytes:
    """Score over its tier bands (healthiest green, riskiest red); below, a panel per metric: daily and 7-day mean."""
    with chart_language():
        return _render(data, tiers)


def _render(data: ChartData, tiers: Tiers) -> bytes:
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    metrics = {metric_label(m): series for m, series in data.metrics.items() if series}
    fig = Figure(figsize=(8, 3.2 + 1.3 * len(metrics)), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1 + len(metrics), 1, sharex=True, squeeze=False, height_ratios=[2.5] + [1] * len(metrics))[:, 0]
    colours = colormaps["RdYlGn"]
    bounds = [100.0] + [tiers.cutoffs[t] for t in tiers.order]
    for i, tier in enumerate(tiers.order):
        shade = colours(1 - i / max(1, len(tiers.order) - 1))
        axes[0].axhspan(bounds[i + 1], bounds[i], color=shade, alpha=0.15, linewidth=0)
        axes[0].text(
            1.01,
            (bounds[i] + bounds[i + 1]) / 2,
            tiers.label(tier),
            transform=axes[0].get_yaxis_transform(),
            va="center",
            fontsize=8,
        )
    axes[0].plot([d for d, _ in data.scores], [v for _, v in data.scores], color="#1f3b5a", linewidth=2)
    axes[0].set_ylim(0, 100)
    axes[0].set_ylabel(say("health.chart.score"))
    axes[0].set_title(_literal(textwrap.fill(data.title, 90)), loc="left", fontsize=11)
    for ax, (label, series) in zip(axes[1:], metrics.items(), strict=True):
        days, values = [d for d, _ in series], [v for _, v in series]
        week = [sum(values[max(0, i - 6) : i + 1]) / len(values[max(0, i - 6) : i + 1]) for i in range(len(values))]
        ax.plot(days, values, color="#5a7d9a", linewidth=0.8, alpha=0.4)
        ax.plot(days, week, color="#1f3b5a", linewidth=1.6)
        ax.set_ylabel(_literal(label), fontsize=8)
        ax.tick_params(labelsize=8)
    for ax in axes:
        ax.grid(axis="y", alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
    fig.autofmt_xdate()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _literal(text: str) -> str:
    """Text matplotlib draws as written: a `$` pair would start mathtext ("Cash $\\frac{x}$ Co" fails to draw)."""
    return text.replace("$", r"\$")
