"""The churn forecast in words: what `healthbot forecast` and `forecast check` print, and the churn review's
forecast-vs-actual section (Slack mrkdwn). Pure functions over bot.forecast.service's results; the words are in
prompts/forecast.toml."""

from __future__ import annotations

from datetime import date, timedelta

from bot.forecast.service import Check, Forecast, Held, Outlook, Running
from bot.scoring import chance_words
from bot.slack.blocks import esc, money
from prompts import pad, raw, say, width


def level_text(level: float) -> str:
    """The level as the interval is named: "80 %"."""
    return str(raw("formats.percent")).format(number=f"{level * 100:.0f}")  # "80 %"; "80%" in Chinese


def accounts_text(x: float) -> str:
    """An expected number of accounts, to one decimal ("12.3")."""
    return f"{x:,.1f}"


def segment_name(segment: str | None) -> str:
    return say("forecast.no_segment") if segment is None else segment


def _table(rows: list[list[str]], indent: str = "") -> list[str]:
    """Columns padded to their widest cell (in terminal columns: a Chinese character takes two); the first column
    left-aligned, the others right-aligned."""
    widths = [max(width(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for r in rows:
        cells = [pad(r[0], widths[0])] + [pad(c, w, ">") for c, w in zip(r[1:], widths[1:], strict=True)]
        lines.append((indent + "  ".join(cells)).rstrip())
    return lines


def _label(label: str | None) -> str:
    return say("forecast.text.label", label=label) if label and ".." not in label else ""


def forecast_text(result: Forecast) -> str:
    """The forecast as `healthbot forecast` prints it."""
    w, t, lv = result.window, result.total, level_text(result.level)
    basis = "forecast.text.basis" if result.scores_day == w.as_of else "forecast.text.basis_stale"
    lines = [
        say("forecast.text.title", start=w.start, end=w.end, days=w.horizon, label=_label(w.label), as_of=w.as_of),
        say(
            basis,
            accounts=f"{t.accounts:,}",
            day=result.scores_day,
            mrr=money(t.mrr),
            fit=chance_words.fit_text(result.fit),
        ),
        "",
        say(
            "forecast.text.accounts",
            expected=accounts_text(t.expected_accounts),
            level=lv,
            low=t.accounts_low,
            high=t.accounts_high,
            total=f"{t.accounts:,}",
        ),
        say(
            "forecast.text.mrr",
            expected=money(t.expected_mrr),
            level=lv,
            low=money(t.mrr_low),
            high=money(t.mrr_high),
            total=money(t.mrr),
        ),
    ]
    if result.segments:
        head = [h.format(level=lv) for h in raw("forecast.text.segments_head")]
        rows = [head] + [_segment_row(s) for s in result.segments]
        lines += ["", *_table(rows)]
    lines += ["", say("forecast.text.how", level=lv, draws=f"{result.draws:,}", seed=result.seed)]
    if result.mrr_half_accounts:
        lines.append(say("forecast.text.mrr_narrow", level=lv, n=result.mrr_half_accounts, total=t.accounts))
    if result.id is not None:
        lines.append(say("forecast.text.stored", id=result.id, end=w.end))
    return "\n".join(lines)


def _segment_row(s: Outlook) -> list[str]:
    return [
        segment_name(s.segment),
        f"{s.accounts:,}",
        money(s.mrr),
        accounts_text(s.expected_accounts),
        say("forecast.text.range", low=s.accounts_low, high=s.accounts_high),
        money(s.expected_mrr),
        say("forecast.text.range", low=money(s.mrr_low), high=money(s.mrr_high)),
    ]


def _verdict(actual: float, low: float, high: float, kind: str) -> str:
    if actual < low:
        return say(f"forecast.{kind}.below")
    if actual > high:
        return say(f"forecast.{kind}.above")
    return say(f"forecast.{kind}.inside")


def _accounts_verdict(h: Held, kind: str) -> str:
    return _verdict(h.churned, h.outlook.accounts_low, h.outlook.accounts_high, kind)


def _mrr_verdict(h: Held, kind: str) -> str:
    if h.mrr_inside:  # to the cent: MRR sums in floating point
        return say(f"forecast.{kind}.inside")
    return _verdict(h.mrr_lost, h.outlook.mrr_low, h.outlook.mrr_high, kind)


def one_check_lines(c: Check) -> list[str]:
    t, lv = c.total, level_text(c.level)
    lines = [
        say(
            "forecast.check.title",
            id=c.id,
            start=c.start,
            end=c.end,
            days=(c.end - c.start).days + 1,
            label=_label(c.label),
            made=c.made_at.date(),
            as_of=c.as_of,
            accounts=f"{t.outlook.accounts:,}",
            mrr=money(t.outlook.mrr),
        ),
        say(
            "forecast.check.accounts",
            actual=t.churned,
            expected=accounts_text(t.outlook.expected_accounts),
            level=lv,
            low=t.outlook.accounts_low,
            high=t.outlook.accounts_high,
            verdict=_accounts_verdict(t, "check"),
        ),
        say(
            "forecast.check.mrr",
            actual=money(t.mrr_lost),
            expected=money(t.outlook.expected_mrr),
            level=lv,
            low=money(t.outlook.mrr_low),
            high=money(t.outlook.mrr_high),
            verdict=_mrr_verdict(t, "check"),
        ),
    ]
    if c.segments:
        head = [h.format(level=lv) for h in raw("forecast.check.segments_head")]
        rows = [head] + [
            [
                "  " + segment_name(s.outlook.segment),
                str(s.churned),
                accounts_text(s.outlook.expected_accounts),
                say("forecast.text.range", low=s.outlook.accounts_low, high=s.outlook.accounts_high),
                _accounts_verdict(s, "check"),
                money(s.mrr_lost),
                money(s.outlook.expected_mrr),
                say("forecast.text.range", low=money(s.outlook.mrr_low), high=money(s.outlook.mrr_high)),
                _mrr_verdict(s, "check"),
            ]
            for s in c.segments
        ]
        lines += _table(rows)
    return lines


def check_text(checks: list[Check], running: list[Running], today: date) -> str:
    """What `healthbot forecast check` prints: each forecast whose period is over against what happened, a summary,
    and the forecasts still running."""
    if not checks and not running:
        return say("forecast.check.none", example=today - timedelta(days=60))
    lines: list[str] = []
    for c in checks:
        lines += [*one_check_lines(c), ""]
    if checks:
        if len(checks) == 1:
            c = checks[0]
            word = {True: say("forecast.check.inside_word"), False: say("forecast.check.outside_word")}
            lines.append(
                say(
                    "forecast.check.summary_one",
                    accounts=word[c.total.accounts_inside],
                    mrr=word[c.total.mrr_inside],
                    level=level_text(c.level),
                )
            )
        else:
            lines.append(
                say(
                    "forecast.check.summary",
                    checked=len(checks),
                    accounts_in=sum(c.total.accounts_inside for c in checks),
                    mrr_in=sum(c.total.mrr_inside for c in checks),
                )
            )
        lines.append(say("forecast.check.how"))
    else:
        lines.append(say("forecast.check.none_over"))
    if running:
        shown = ", ".join(say("forecast.check.running_one", id=r.id, start=r.start, end=r.end) for r in running)
        lines.append(say("forecast.check.running", forecasts=shown))
    return "\n".join(lines)


def review_section(c: Check) -> str:
    """The churn review's section: the latest checked forecast against what happened (mrkdwn)."""
    t, lv = c.total, level_text(c.level)
    return "\n".join(
        [
            say("forecast.review.title", id=c.id, start=c.start, end=c.end, as_of=c.as_of),
            say(
                "forecast.review.accounts",
                actual=t.churned,
                expected=accounts_text(t.outlook.expected_accounts),
                level=lv,
                low=t.outlook.accounts_low,
                high=t.outlook.accounts_high,
                verdict=_accounts_verdict(t, "review"),
            ),
            say(
                "forecast.review.mrr",
                actual=esc(money(t.mrr_lost)),
                expected=esc(money(t.outlook.expected_mrr)),
                level=lv,
                low=esc(money(t.outlook.mrr_low)),
                high=esc(money(t.outlook.mrr_high)),
                verdict=_mrr_verdict(t, "review"),
            ),
        ]
    )
