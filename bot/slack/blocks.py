"""Block Kit helpers: small pure builders every message is made of, and validation.

Every payload passes `validate_blocks`, which parses it with `slack_sdk.models` and
enforces Slack's size limits, so an oversized or malformed message fails here, in
tests, rather than at Slack. The messages themselves live in each feature's `messages.py`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import Block

from bot.scoring.explain import driver_reason
from bot.scoring.explain import score_text as score_text  # the one rule for a displayed score (re-exported)
from bot.scoring.scorecard import Tiers
from prompts import formats, raw, say
from storage.models import HealthOverride, HealthScore

SLACK_USER = re.compile(r"[UW][A-Z0-9]{2,31}")  # a member id (U..., W...); 32: owner_slack_id's length


def is_user(who: str | None) -> bool:
    """`who` is a Slack member id (a DM can go to it; a mention pings it), not a user group, a channel or a name."""
    return bool(who and SLACK_USER.fullmatch(who))


MESSAGE_BLOCK_LIMIT = 50
VIEW_BLOCK_LIMIT = 100
SECTION_TEXT_LIMIT = 3000
CONTEXT_TEXT_LIMIT = 2000
TEXT_LIMIT = 40_000  # a message's top-level `text`: Slack cuts it there

Blocks = list[dict[str, Any]]


@dataclass(frozen=True)
class Message:
    """A reply: the text notifications and screen readers show, and the blocks."""

    text: str
    blocks: Blocks | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", message_text(self.text))


def validate_blocks(blocks: Blocks, limit: int = MESSAGE_BLOCK_LIMIT) -> Blocks:
    """Parse every block with slack_sdk.models (raises on a broken payload) and check the count."""
    if len(blocks) > limit:
        raise ValueError(f"{len(blocks)} blocks exceed Slack's limit of {limit}")
    for block in blocks:
        parsed = Block.parse(block)
        if parsed is None:
            raise ValueError(f"not a Block Kit block: {block!r}")
        parsed.validate_json()
    return blocks


_REGIONAL = "".join(map(chr, range(0x1F1E6, 0x1F200)))


def _joins(before: str, after: str) -> bool:
    """Whether a cut between these two characters would split what a reader sees as one character: a combining
    mark, a variation selector or skin tone after, a zero-width joiner on either side (a flag: `cut`)."""
    return (
        unicodedata.category(after) in ("Mn", "Me", "Mc")
        or "\ufe00" <= after <= "\ufe0f"
        or "\U0001f3fb" <= after <= "\U0001f3ff"
        or "\u200d" in (before, after)
    )


def cut(text: str, limit: int) -> str:
    """`text`'s first characters up to `limit`, as Slack counts them (code points: a Chinese character or an emoji is
    one), never splitting what a reader sees as one character (an emoji sequence, an accent, a flag)."""
    if len(text) <= limit:
        return text
    end = limit
    while end > 0 and _joins(text[end - 1], text[end]):
        end -= 1
    head = text[:end]
    flags = len(head) - len(head.rstrip(_REGIONAL))  # a flag is a pair of regional letters: whole pairs only
    return head[: end - flags % 2]


def _clip(text: str, limit: int = SECTION_TEXT_LIMIT) -> str:
    """mrkdwn cut to `limit` characters with "…"; never inside an entity (`&amp;`) or a mention (`<@U123>`), nor
    inside a character (`cut`)."""
    if len(text) <= limit:
        return text
    head = cut(text, limit - 1)
    amp = head.rfind("&")
    if amp != -1 and ";" not in head[amp:] and len(head) - amp < len("&amp;"):
        head = head[:amp]
    open_ = head.rfind("<")  # esc leaves no "<" in data: only our own mentions and links open one
    if open_ != -1 and ">" not in head[open_:] and len(head) - open_ <= 64:
        head = head[:open_]
    return head + "…"


def plain(text: str, limit: int) -> str:
    """plain_text cut to `limit` characters: Slack shows it as it is, so it needs no escaping."""
    return text if len(text) <= limit else cut(text, limit - 1) + "…"


def message_text(text: str) -> str:
    """A message's top-level `text` (mrkdwn) within Slack's limit."""
    return _clip(text, TEXT_LIMIT)


# Bidi embeddings, overrides and isolates: in a name, U+202E would turn the rest of our line round.
_BIDI_CONTROLS = dict.fromkeys([*range(0x202A, 0x202F), *range(0x2066, 0x206A)])
_MRKDWN_ENTITIES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", **_BIDI_CONTROLS})


def no_bidi(text: str) -> str:
    """Plain text without bidi controls, which would turn the line round (a header, a file title)."""
    return text.translate(_BIDI_CONTROLS)


def esc(text: str | None) -> str:
    """Data (a customer's name, a query) made safe for mrkdwn: `<!channel>` must not ping, a `<url|label>` must
    not link, `A&B` must show, and a bidi override must not reorder the text around it.

    `*`, `_`, `~` and `` ` `` are left as they are: mrkdwn has no escape for them, and invisible characters
    put between them would be copied with the name. They can only style text, never link or ping; a template's
    own `*{name}*` around a value that holds them is dropped by `prompts.fill`, so they never end its bold early."""
    return (text or "").translate(_MRKDWN_ENTITIES)


def section(text: str, **extra: Any) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _clip(text)}, **extra}


def sections(lines: Sequence[str], **extra: Any) -> Blocks:
    """Lines as few sections as hold them whole: a long list is split between blocks, never cut."""
    out: list[list[str]] = []
    for line in lines:
        if out and len("\n".join([*out[-1], line])) <= SECTION_TEXT_LIMIT:
            out[-1].append(line)
        else:
            out.append([line])
    return [section("\n".join(chunk), **extra) for chunk in out]


def fields(*texts: str) -> dict[str, Any]:
    return {"type": "section", "fields": [{"type": "mrkdwn", "text": _clip(t, 2000)} for t in texts[:10]]}


def context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _clip(text, CONTEXT_TEXT_LIMIT)}]}


def header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": plain(text, 150), "emoji": True}}


def divider() -> dict[str, Any]:
    return {"type": "divider"}


def actions(*elements: dict[str, Any], block_id: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "actions", "elements": list(elements)}
    if block_id:
        block["block_id"] = str(block_id)
    return block


def button(text: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    b: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": plain(text, 75), "emoji": True},
        "action_id": str(action_id),
        "value": value[:2000],
    }
    if style:
        b["style"] = style
    return b


def tier_of(score: float, tiers: Tiers) -> str:
    """The tier a score falls in by the cutoffs alone (no hysteresis)."""
    return next((t for t in tiers.order if score >= tiers.cutoffs[t]), tiers.order[-1])


def tier_emoji(tier: str | None) -> str:
    emojis = raw("health.tier_emoji")
    return emojis.get(tier or "unknown", emojis["unknown"])


def signed(x: float | None, unit: str = "") -> str:
    """A change as a whole number with its sign ("+3", "-12"); one that rounds to nothing reads "±0",
    never "-0" or "+0"."""
    if x is None:
        return "–"
    whole = round(x)
    return f"±0{unit}" if whole == 0 else f"{whole:+d}{unit}"


def money(x: float | None) -> str:
    """Whole dollars with thousands separators; the minus before the sign ("-$1,234"), never "$-0"; in the current
    language (prompts/formats.py: "US$1,234" in Chinese)."""
    return "–" if x is None else formats.money(x)


def renewal_text(renewal: date | None, today: date) -> str:
    if renewal is None:
        return "–"
    left = (renewal - today).days
    key = "health.renewal_passed" if left < 0 else "health.renewal_today" if left == 0 else "health.renewal_left"
    return say(key + ("_one" if left == 1 else ""), day=formats.day(renewal), days=left)


def mention(user: str | None) -> str:
    """A Slack user id as a mention; anything else (a CLI user name) as text."""
    if not user:
        return say("health.owner_none")
    return f"<@{user}>" if is_user(user) else esc(user)


def who(target: str | None) -> str:
    """A user id as a mention, a user-group id (S...) as a group mention, anything else as text."""
    if target and re.fullmatch(r"S[A-Z0-9]{2,31}", target):
        return f"<!subteam^{target}>"
    return mention(target)


def when(at: datetime | None, tz: ZoneInfo) -> str:
    """A stored time in the team's time zone ("Tue 30 Jun 14:00 CEST"; "6月30日 周二 14:00 CEST"); naive times are UTC
    (SQLite). alerts.thread.time_format is strftime's, with `%a` the weekday in the current language (Babel) and
    `%-d`, `%-m` the day and month without a leading zero (on every platform)."""
    if at is None:
        return "–"
    local = (at.replace(tzinfo=UTC) if at.tzinfo is None else at).astimezone(tz)
    template = str(say("alerts.thread.time_format"))
    own = {"%-d": str(local.day), "%-m": str(local.month), "%a": formats.weekday(local.date())}
    return "".join(own.get(part) or local.strftime(part) for part in re.split(r"(%-d|%-m|%a)", template) if part)


def override_text(override: HealthOverride, tiers: Tiers) -> str:
    """A CSM's override in one line: who set it, the tier (and score), until when, why (the card, the alert)."""
    score = say("health.card.override_score", score=score_text(override.score)) if override.score is not None else ""
    return say(
        "health.card.override",
        who=mention(override.set_by),
        emoji=tier_emoji(override.tier),
        tier=esc(tiers.label(override.tier)),
        score=score,
        until=override.expires_on.isoformat(),
        reason=esc(override.reason),
    )


SPARK = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float], width: int = 30, min_span: float = 10.0) -> str:
    """Values as block characters, averaged into at most `width` buckets; a wobble under `min_span` stays small."""
    if not values:
        return ""
    n = min(width, len(values))
    means = [
        sum(bucket) / len(bucket)
        for bucket in (values[i * len(values) // n : (i + 1) * len(values) // n] for i in range(n))
    ]
    lo, hi = min(means), max(means)
    if hi - lo < min_span:
        lo, hi = (lo + hi - min_span) / 2, (lo + hi + min_span) / 2
    top = len(SPARK) - 1
    return "".join(SPARK[round((m - lo) / (hi - lo) * top)] for m in means)


def drivers_text(score: HealthScore) -> str:
    """The score's top drivers in plain words, with the points each costs."""
    lines = [say("health.driver", reason=esc(driver_reason(d)), points=signed(d.points)) for d in score.parts.drivers]
    return say("health.drivers_title") + "\n" + ("\n".join(lines) or say("health.no_drivers"))
