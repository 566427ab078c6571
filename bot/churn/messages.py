"""The churn review as a Slack message: pure Block Kit builders over `bot.churn.analysis.ChurnReview`, used by
`/health churn [period] [segment]` and the quarterly job (jobs/churn_review.py). Every name, reason, competitor and
quote is data and shown as text (`esc`).

The review posted in a channel carries counts and categories, never a customer's words: the quotes from exit
interviews go only to an exit interview reader who asks (`quotes_message`, an ephemeral reply); anyone else is told
who may read them (`restricted_text`). EXIT_INTERVIEW_READERS unset means everyone may read exit interviews (as for
`/health exit`): then whoever types `/health churn` gets the quotes privately, and the channel still never does."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot.churn.analysis import MIN_SUPPORT, ChurnReview, ranked_traits
from bot.churn.report import coverage, period_label, trend_label
from bot.churn.themes import Themes, by_keywords
from bot.churn.trait_words import reason_word, trait_name, trait_value
from bot.forecast.messages import review_section
from bot.slack import expected_loss
from bot.slack.blocks import (
    Blocks,
    Message,
    context,
    esc,
    header,
    mention,
    message_text,
    money,
    no_bidi,
    plain,
    section,
    sections,
    validate_blocks,
)
from prompts import formats, say

if TYPE_CHECKING:
    from bot.forecast.service import Check

REASONS_SHOWN = 3
TRAITS_SHOWN = 5
SMALL_SHOWN = 3
QUOTES_SHOWN = 20  # in a reader's private reply
QUOTE_CHARS = 500  # a quote longer than this is cut: the whole answer is in `/health exit <customer>`


def _pct(value: float | None) -> str:
    return say("churn_review.none") if value is None else formats.percent(value, 1, tight=True)


def title(review: ChurnReview) -> str:
    """ "Churn review 2026-Q3", with the segment when the review is of one; plain text (a header), shown as typed
    but for bidi controls, which would turn the line round."""
    if review.segment:
        text = say("churn_review.title_segment", label=review.period.label, segment=review.segment)
    else:
        text = say("churn_review.title", label=review.period.label)
    return no_bidi(text)


def chart_title(review: ChurnReview) -> str:
    """The uploaded chart's title (plain text: Slack shows a file title as typed)."""
    return no_bidi(say("churn_review.chart_title", label=review.period.label))


def chart_filename(review: ChurnReview) -> str:
    return f"churn-{review.period.label.replace('..', '_')}.png"


def _figures(review: ChurnReview) -> dict[str, str | int]:
    """The headline's numbers as the text and the headline block both say them."""
    h = review.headline
    return dict(
        rate=_pct(h.rate),
        churned=h.churned,
        accounts=h.accounts_at_start,
        mrr_rate=_pct(h.mrr_rate),
        lost=money(h.mrr_lost),
        mrr=money(h.mrr_at_start),
    )


def review_text(review: ChurnReview) -> str:
    """The message's plain text: the headline numbers with their inputs."""
    return message_text(
        say(
            "churn_review.text",
            label=esc(period_label(review)),
            **_figures(review),
        )
    )


def _command(review: ChurnReview) -> str:
    """The command that shows this review again (and a reader its quotes): `/health churn 2026-Q3 enterprise`."""
    return " ".join(["/health churn", review.period.label, *([review.segment] if review.segment else [])])


def _reasons(review: ChurnReview, open_to_all: bool) -> list[str]:
    if not review.reasons:
        if review.headline.churned:
            return [say("churn_review.reasons_none", churned=review.headline.churned)]
        return [say("churn_review.reasons_no_churn")]
    share = review.avoidable_share
    lines = [
        say(
            "churn_review.reasons_title",
            interviewed=review.interviewed,
            avoidable=review.avoidable,
            avoidable_pct=""
            if share is None
            else say("churn_review.avoidable_pct", share=formats.percent(share, tight=True)),
        )
    ]
    lines += [
        say(
            "churn_review.reason_row",
            reason=esc(reason_word(r.reason)),
            count=r.count,
            share=_pct(r.share),
            avoidable=r.avoidable,
        )
        for r in review.reasons[:REASONS_SHOWN]
    ]
    if review.competitors:
        names = formats.listing(
            say("churn_review.competitor", name=esc(c.name), count=c.count) for c in review.competitors
        )
        lines.append(say("churn_review.competitors", names=names))
    if review.quotes:  # how many, and who may read them: never the words themselves
        key = "churn_review.quotes_open" if open_to_all else "churn_review.quotes_restricted"
        lines.append(say(key, count=len(review.quotes), command=esc(_command(review))))
    return lines


def _traits(review: ChurnReview) -> list[str]:
    telling, small = ranked_traits(review.traits)
    if not telling and not small:
        return [say("churn_review.traits_none")]
    lines = [say("churn_review.traits_title", base=_pct(review.headline.rate), min=MIN_SUPPORT)]
    lines += [
        say(
            "churn_review.trait_row",
            trait=esc(trait_name(t.trait)),
            value=trait_value(t.trait, t.value, person=mention, data=esc),
            rate=_pct(t.rate),
            churned=t.churned,
            accounts=t.accounts,
            lift=f"{t.lift:.1f}×",
        )
        for t in telling[:TRAITS_SHOWN]
    ]
    if small:
        groups = formats.listing(
            say(
                "churn_review.small_group",
                trait=esc(trait_name(t.trait)),
                value=trait_value(t.trait, t.value, person=mention, data=esc),
                churned=t.churned,
                accounts=t.accounts,
            )
            for t in small[:SMALL_SHOWN]
        )
        lines.append(say("churn_review.small_groups", min=MIN_SUPPORT, groups=groups))
    return lines


def _plays(review: ChurnReview) -> list[str]:
    if not review.plays:
        return [say("churn_review.plays_none")]
    lines = [say("churn_review.plays_title")]
    lines += [
        say(
            "churn_review.play_row",
            tier=esc(review.tier_labels.get(p.tier, p.tier)),
            saved=p.saved,
            decided=p.decided,
            rate=_pct(p.save_rate),
        )
        for p in review.plays
    ]
    return lines


def _footer(review: ChurnReview) -> list[str]:
    lines = []
    if review.trend:
        points = " → ".join(
            say("churn_review.trend_point", label=esc(trend_label(t)), rate=_pct(t.rate.rate))
            if t.rate
            else say("churn_review.trend_point", label=esc(t.label), rate=say("churn_review.trend_no_data"))
            for t in review.trend
        )
        lines.append(say("churn_review.trend", points=points))
    scored = [h for h in review.horizons if h.scored]
    if scored:
        points = formats.listing(
            say("churn_review.foresight_point", days=h.days, flagged=h.flagged, scored=h.scored) for h in scored
        )
        lines.append(say("churn_review.foresight", points=points))
    elif review.headline.churned:
        lines.append(say("churn_review.foresight_none"))
    return lines


def _expected_loss(review: ChurnReview, expected: expected_loss.Expected) -> Blocks:
    """Beside what was lost: the MRR the customers scored now are expected to lose in the next 90 days (the next
    quarter), in all and by segment (not in a one-segment review), CSM and tier; or why there is no figure yet."""

    def label(tier: str) -> str:
        return review.tier_labels.get(tier, tier)

    lines = expected_loss.lines(expected, label, by_segment=review.segment is None)
    source = expected_loss.source(expected)
    return [*sections(lines), *([context(source)] if source else [])]


def review_blocks(
    review: ChurnReview,
    open_to_all: bool = False,
    expected: expected_loss.Expected | None = None,
    forecast: Check | None = None,
) -> Blocks:
    """Headline numbers with their inputs (and beside them, given `expected`, the expected MRR loss of the next 90
    days), top reasons (avoidable share, competitors, how many quotes and who may read them), the traits with the
    highest lift, the save rate per play, the latest checked churn forecast against what happened (`forecast`, the
    quarterly job's), then the trend and whether the score saw it coming. `open_to_all`: EXIT_INTERVIEW_READERS is
    unset, so anyone may ask for the quotes."""
    dates = say("churn_review.dates", start=review.period.start.isoformat(), end=review.period.end.isoformat())
    if covers := coverage(review):
        dates += f"; {esc(covers)}"
    blocks: Blocks = [header(title(review)), context(dates)]
    blocks.append(
        section(
            say(
                "churn_review.headline",
                **_figures(review),
            )
        )
    )
    if expected is not None:
        blocks += _expected_loss(review, expected)
    parts = (_reasons(review, open_to_all), _traits(review), _plays(review))
    blocks += [section("\n".join(part)) for part in parts]
    if forecast is not None:
        blocks.append(section(review_section(forecast)))
    footer = _footer(review)
    if footer:
        blocks.append(context("\n".join(footer)))
    return validate_blocks(blocks)


def review_message(
    review: ChurnReview,
    open_to_all: bool = False,
    expected: expected_loss.Expected | None = None,
    forecast: Check | None = None,
) -> Message:
    """The review for a channel: no quote in it, whoever reads the channel."""
    return Message(review_text(review), review_blocks(review, open_to_all, expected, forecast))


def themes_blocks(found: Themes, quotes: int) -> Blocks:
    """The quotes' themes with their counts, marked generated or from keywords (and why a model's were not used)."""
    if not found.themes:
        return []
    lines = [say("coding.themes.line", name=esc(t.name), count=t.count, accounts=t.accounts) for t in found.themes]
    marks = [say("coding.themes.generated" if found.generated else "coding.themes.from_words")]
    if found.note:
        marks.append(say("coding.themes.fallback", why=esc(found.note)))
    return [section("\n".join([say("coding.themes.title", count=quotes), *lines])), context("  ".join(marks))]


def quotes_message(review: ChurnReview, found: Themes | None = None) -> Message:
    """The quotes in the customers' words, for one exit interview reader (an ephemeral reply): their themes (`found`,
    else by keywords), the first QUOTES_SHOWN of them, each cut at QUOTE_CHARS, then how many more and where."""
    found = found if found is not None else by_keywords(review.quotes)
    label = esc(period_label(review))
    shown = review.quotes[:QUOTES_SHOWN]
    lines = [
        say(
            "churn_review.quote",
            text=esc(plain(" ".join(q.text.split()), QUOTE_CHARS)),
            account=esc(q.account),
            reason=esc(reason_word(q.reason)),
        )
        for q in shown
    ]
    blocks: Blocks = [
        header(no_bidi(say("churn_review.quotes_title", label=review.period.label))),
        context(say("churn_review.quotes_private")),
        *themes_blocks(found, len(review.quotes)),
        *sections(lines),
    ]
    if len(review.quotes) > len(shown):
        more = len(review.quotes) - len(shown)
        blocks.append(context(say("churn_review.quotes_more", more=more, period=esc(review.period.label))))
    text = message_text(say("churn_review.quotes_text", label=label, count=len(review.quotes)))
    return Message(text, validate_blocks(blocks))


def _who(reader: str) -> str:
    """A reader as Slack shows it: a user group (S...) or a user. Only in a private reply: it notifies nobody."""
    return f"<!subteam^{reader}>" if reader.startswith("S") else f"<@{reader}>"


def restricted_text(review: ChurnReview, readers: Sequence[str]) -> str:
    """For someone who is not an exit interview reader: the quotes exist, are restricted, and who may read them."""
    who = formats.listing(_who(esc(r)) for r in readers)
    return message_text(say("churn_review.quotes_denied", count=len(review.quotes), who=who))
