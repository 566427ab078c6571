"""The churn review as a Slack message: pure Block Kit builders over `bot.churn.analysis.ChurnReview`, used by
`/health churn [period] [segment]` and the quarterly job (jobs/churn_review.py). Every name, reason, competitor and
quote is data and shown as text (`esc`)."""

from __future__ import annotations

from bot.churn.analysis import MIN_SUPPORT, ChurnReview, ranked_traits
from bot.churn.report import coverage, period_label, trend_label
from bot.slack.blocks import Blocks, Message, context, esc, header, message_text, money, section, validate_blocks
from prompts import say

REASONS_SHOWN = 3
TRAITS_SHOWN = 5
SMALL_SHOWN = 3
QUOTES_SHOWN = 2


def _pct(value: float | None) -> str:
    return say("churn_review.none") if value is None else f"{value:.1%}"


_BIDI = dict.fromkeys([*range(0x202A, 0x202F), *range(0x2066, 0x206A)])


def title(review: ChurnReview) -> str:
    """ "Churn review 2026-Q3", with the segment when the review is of one; plain text (a header), shown as typed
    but for bidi controls, which would turn the line round."""
    if review.segment:
        text = say("churn_review.title_segment", label=review.period.label, segment=review.segment)
    else:
        text = say("churn_review.title", label=review.period.label)
    return text.translate(_BIDI)


def chart_title(review: ChurnReview) -> str:
    """The uploaded chart's title (plain text: Slack shows a file title as typed)."""
    return say("churn_review.chart_title", label=review.period.label).translate(_BIDI)


def chart_filename(review: ChurnReview) -> str:
    return f"churn-{review.period.label.replace('..', '_')}.png"


def review_text(review: ChurnReview) -> str:
    """The message's plain text: the headline numbers with their inputs."""
    h = review.headline
    return message_text(say(
        "churn_review.text", label=esc(period_label(review)), rate=_pct(h.rate), churned=h.churned,
        accounts=h.accounts_at_start, mrr_rate=_pct(h.mrr_rate), lost=money(h.mrr_lost), mrr=money(h.mrr_at_start),
    ))  # fmt: skip


def _reasons(review: ChurnReview) -> list[str]:
    if not review.reasons:
        if review.headline.churned:
            return [say("churn_review.reasons_none", churned=review.headline.churned)]
        return [say("churn_review.reasons_no_churn")]
    share = review.avoidable_share
    lines = [say("churn_review.reasons_title", interviewed=review.interviewed, avoidable=review.avoidable,
                 avoidable_pct=f", {share:.0%}" if share is not None else "")]  # fmt: skip
    lines += [
        say("churn_review.reason_row", reason=esc(r.reason), count=r.count, share=_pct(r.share), avoidable=r.avoidable)
        for r in review.reasons[:REASONS_SHOWN]
    ]
    if review.competitors:
        names = ", ".join(say("churn_review.competitor", name=esc(c.name), count=c.count) for c in review.competitors)
        lines.append(say("churn_review.competitors", names=names))
    lines += [
        say("churn_review.quote", text=esc(" ".join(q.text.split())), account=esc(q.account))
        for q in review.quotes[:QUOTES_SHOWN]
    ]
    return lines


def _traits(review: ChurnReview) -> list[str]:
    telling, small = ranked_traits(review.traits)
    if not telling and not small:
        return [say("churn_review.traits_none")]
    lines = [say("churn_review.traits_title", base=_pct(review.headline.rate), min=MIN_SUPPORT)]
    lines += [
        say(
            "churn_review.trait_row",
            trait=esc(t.trait.replace("_", " ")),
            value=esc(t.value),
            rate=_pct(t.rate),
            churned=t.churned,
            accounts=t.accounts,
            lift=f"{t.lift:.1f}×",
        )  # fmt: skip
        for t in telling[:TRAITS_SHOWN]
    ]
    if small:
        groups = ", ".join(say("churn_review.small_group", trait=esc(t.trait.replace("_", " ")), value=esc(t.value),
                               churned=t.churned, accounts=t.accounts) for t in small[:SMALL_SHOWN])  # fmt: skip
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
        )  # fmt: skip
        for p in review.plays
    ]
    return lines


def _footer(review: ChurnReview) -> list[str]:
    lines = []
    if review.trend:
        points = " → ".join(
            say("churn_review.trend_point", label=esc(trend_label(t)), rate=_pct(t.rate.rate)) if t.rate
            else say("churn_review.trend_point", label=esc(t.label), rate=say("churn_review.trend_no_data"))
            for t in review.trend
        )  # fmt: skip
        lines.append(say("churn_review.trend", points=points))
    scored = [h for h in review.horizons if h.scored]
    if scored:
        points = ", ".join(say("churn_review.foresight_point", days=h.days, flagged=h.flagged, scored=h.scored)
                           for h in scored)  # fmt: skip
        lines.append(say("churn_review.foresight", points=points))
    elif review.headline.churned:
        lines.append(say("churn_review.foresight_none"))
    return lines


def review_blocks(review: ChurnReview) -> Blocks:
    """Headline numbers with their inputs, top reasons (avoidable share, competitors, quotes), the traits with the
    highest lift, the save rate per play, then the trend and whether the score saw it coming."""
    h = review.headline
    dates = say("churn_review.dates", start=review.period.start.isoformat(), end=review.period.end.isoformat())
    if covers := coverage(review):
        dates += f"; {esc(covers)}"
    blocks: Blocks = [header(title(review)), context(dates)]
    blocks.append(section(say(
        "churn_review.headline", rate=_pct(h.rate), churned=h.churned, accounts=h.accounts_at_start,
        mrr_rate=_pct(h.mrr_rate), lost=money(h.mrr_lost), mrr=money(h.mrr_at_start),
    )))  # fmt: skip
    blocks += [section("\n".join(part)) for part in (_reasons(review), _traits(review), _plays(review))]
    footer = _footer(review)
    if footer:
        blocks.append(context("\n".join(footer)))
    return validate_blocks(blocks)


def review_message(review: ChurnReview) -> Message:
    return Message(review_text(review), review_blocks(review))
