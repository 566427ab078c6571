"""A question in words -> what it asks (`Question`), English first, typos forgiven.

The words that pick the kind of question are a short vocabulary; a word within a typo of one (one edit, two in a
long word) reads as it. What is left once the question's own words are stripped from both ends is the customer's
name, looked up as `/health <name>` does. Periods: "this week", "this month", "this quarter", "last quarter",
"since 2026-11-01", ...
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from rapidfuzz import process
from rapidfuzz.distance import OSA

from bot.churn.periods import quarter_of
from bot.health.command import clean
from bot.scoring.scorecard import Tiers
from prompts import ENGLISH, raw

LONG_WORD = 8  # a word this long may be two edits from the word meant, a shorter one edit ("rsik": "risk")
TOP_MAX = 100
CHANGED_DEFAULT_DAYS = 30

LOSE = {"lose", "lost", "losing", "churn", "churned", "churning", "left", "leave", "leaving", "cancelled"}
WHY = {"why", "reason", "reasons", "causes"}
RENEW = {"renew", "renews", "renewal", "renewals", "renewing"}
CHANGED = {"changed", "change", "changes", "happened", "moved", "different"}
RISK = {"risk", "risky", "riskiest", "worst", "top"}
MINE = {"accounts", "account", "customers", "portfolio", "book"}
TASKS = {"task", "tasks", "todo", "todos"}
TASK_WORDS = {"open", "overdue", "pending", "outstanding", "due"}  # "the open tasks on acme": not the name
NOT = {"not", "unhealthy", "isnt", "arent"}
ABOUT_ONE = {"how", "hows", "doing", "status", "brief"}  # "how is it doing?" names no account: the channel's
# Words that ask about a customer ("how is X?", "status of X"): a name they frame that matches no customer is a
# customer not found; framed by other words ("what's the weather") it is a question the bot cannot read.
ASKS_ABOUT = {"hows", "doing", "going", "status", "brief", "about", "health", "healthy", "score", "check", "lookup"}
GREETINGS = {"hi", "hello", "hey", "yo", "healthbot", "thanks", "thank", "you"}
WORDS = {"help", "healthy", "quarter", "month", "week"}
VOCABULARY = sorted(LOSE | WHY | RENEW | CHANGED | RISK | MINE | TASKS | WORDS)


class BadDate(ValueError):
    """A period's date that is no day ("since 2026-13-45"); the message is the date as typed."""


@dataclass(frozen=True)
class Span:
    start: date
    end: date
    label: str  # as asked: "this month", "since 2026-11-01", "2026-Q3"


@dataclass(frozen=True)
class Question:
    kind: str  # account, account_tasks, changed, at_risk, renewals, churn, mine, tasks, help, bad_date, unknown
    name: str = ""  # the customer as typed (account, changed; at_risk: "is acme at risk?", if it is one)
    mine: bool = False  # "my accounts ...": the asker's accounts only
    segment_words: str = ""  # "in enterprise": matched against the segments accounts carry
    tier: str | None = None
    limit: int | None = None
    span: Span | None = None
    period: str = ""  # the churn review's period as bot.churn.periods reads it ("last-quarter", "2026-Q3")
    not_healthy: bool = False
    bare: bool = False  # the whole question was read as a name ("acme"), no question words around it
    sentence: bool = False  # the name was read out of words that do not ask about a customer ("what's the weather")
    said: str = ""  # the question in lower case, words only: where a segment named without "in" is found
    by_mrr: bool = False  # "top 3 by mrr": ranked by expected MRR loss, as `/health top by-mrr`


def _norm(word: str) -> str:
    return re.sub(r"[^\w-]", "", word.lower().replace("'", ""))


def _corrected(word: str) -> str:
    """The vocabulary word `word` is a typo of, else `word`."""
    if len(word) < 4 or word in VOCABULARY or word.isdigit():
        return word
    edits = 2 if len(word) >= LONG_WORD else 1  # swapped letters count as one ("chnaged"); "channel" is no "change"
    best = process.extractOne(word, VOCABULARY, scorer=OSA.distance, score_cutoff=edits)
    return best[0] if best else word


MENTION = re.compile(r"<@[UW][A-Z0-9]+(?:\|[^<>]*)?>")  # "@healthbot how is acme?" in a channel: not a word of it
_DATE = r"([0-9]{4}-[0-9]{2}-[0-9]{2})"
_QUARTER = r"([0-9]{4})-?q([1-4])"


def _span(text: str, today: date) -> tuple[Span | None, str]:
    """The period a "what changed" / "renew" question names, and the question with it taken out."""
    month = today.replace(day=1)
    quarter = quarter_of(today)
    nxt = quarter_of(quarter.end + timedelta(days=1))
    next_month = (month + timedelta(days=32)).replace(day=1)
    after_next = (next_month + timedelta(days=32)).replace(day=1)
    last_month = (month - timedelta(days=1)).replace(day=1)
    patterns: list[tuple[str, Span]] = [
        (r"\bthis week\b", Span(today - timedelta(days=today.weekday()), today, "this week")),
        (r"\blast week\b", Span(today - timedelta(days=7), today, "the last 7 days")),
        (r"\bthis month\b", Span(month, today, "this month")),
        (r"\blast month\b", Span(last_month, today, "since the start of last month")),
        (r"\bthis quarter\b", Span(quarter.start, quarter.end, "this quarter")),
        (r"\bnext quarter\b", Span(nxt.start, nxt.end, "next quarter")),
        (r"\bnext month\b", Span(next_month, after_next - timedelta(days=1), "next month")),
    ]
    for pattern, span in patterns:
        if re.search(pattern, text):
            return span, re.sub(pattern, " ", text)
    if m := re.search(r"\b(?:last|past|next) ([0-9]{1,3}) days\b", text):
        n = int(m[1])
        ahead = m[0].startswith("next")
        found = Span(today, today + timedelta(days=n), m[0]) if ahead else Span(today - timedelta(days=n), today, m[0])
        return found, text.replace(m[0], " ")
    if m := re.search(r"\bsince " + _DATE, text):
        try:
            return Span(date.fromisoformat(m[1]), today, f"since {m[1]}"), text.replace(m[0], " ")
        except ValueError:
            raise BadDate(m[1]) from None
    return None, text


def _churn_period(text: str) -> str:
    """The churn review's period named in `text` ("" for the default, last quarter)."""
    for words, period in (
        ("last quarter", "last-quarter"),
        ("this quarter", "this-quarter"),
        ("last month", "last-month"),
        ("this month", "this-month"),
    ):
        if words in text:
            return period
    if m := re.search(r"\b" + _QUARTER + r"\b", text):
        return f"{m[1]}-q{m[2]}"
    if m := re.search(r"\b([0-9]{4}-[0-9]{2})\b", text):
        return m[1]
    return ""


def _tier(text: str, tiers: Tiers) -> str | None:
    """A tier named by its label ("high risk"), the riskiest named first."""
    for tier in reversed(tiers.order):
        if tiers.label(tier).lower() in text and tier != tiers.order[0]:
            return tier
    return None


def _segment_words(words: list[str]) -> str:
    """The words after "in" (or "for"): "at risk in enterprise" -> "enterprise" ("in my book": none)."""
    for i, w in enumerate(words):
        if w in ("in", "from", "among") and i + 1 < len(words):
            return " ".join(x for x in words[i + 1 :] if x not in {"segment", "the", "my", "mine", *MINE})
    return ""


def _translated(text: str) -> str:
    """`text` with the Chinese question words of prompts/assistant.toml's `chinese` table (longest first) put as
    the English words they mean, and full-width punctuation as ASCII: "谁有流失风险？" -> " who  at risk ?"."""
    for phrase, english in sorted(raw("assistant.chinese", ENGLISH), key=lambda p: -len(p[0])):
        text = text.replace(phrase, f" {english} ")
    return text.translate(str.maketrans("？！。，：；", "?!.,:;"))


def name_of(words: list[str]) -> str:
    """`words` (as typed) with the question's own words stripped from both ends: the customer meant."""
    stop = set(raw("assistant.stop_words", ENGLISH)) | {""}  # "": punctuation on its own ("acme hotels ?")
    kept = list(words)
    while kept and _corrected(_norm(kept[0])) in stop | CHANGED:
        kept.pop(0)
    while kept and _corrected(_norm(kept[-1])) in stop | CHANGED:
        kept.pop()
    return " ".join(kept).strip(" ?!.,;:")


def read(text: str, tiers: Tiers, today: date) -> Question:
    """What `text` asks (kind "unknown": nothing the bot can read)."""
    typed = clean(_translated(MENTION.sub(" ", text)))
    lower = " ".join(_norm(w) for w in typed.split())
    words = [_corrected(w) for w in lower.split() if w]
    said = set(words)
    if not words or said <= GREETINGS:
        return Question("help")
    if said <= {"help", "what", "can", "you", "do", "how", "does", "this", "work", "hi", "hello", "hey"} and (
        "help" in said or {"can", "you", "do"} <= said
    ):
        return Question("help")
    mine = "my" in said or "mine" in said
    if said & TASKS and not said & CHANGED:
        named = "" if mine else name_of([w for w in typed.split() if _corrected(_norm(w)) not in TASKS | TASK_WORDS])
        return Question("account_tasks", name=named) if named else Question("tasks")
    if said & LOSE and (said & WHY or said & {"customers", "accounts", "we"}):
        period = _churn_period(lower)
        rest = re.sub(r"\b(last|this) (quarter|month)\b|\b[0-9]{4}-(q[1-4]|[0-9]{2})\b", " ", lower)
        named = name_of([w for w in rest.split() if _corrected(w) not in LOSE | WHY | {"we", "customers", "accounts"}])
        segment = _segment_words(rest.split())
        # the name: "why did Acme leave?" (answered for that customer when it is one)
        return Question("churn", name=named, segment_words=segment, period=period, said=rest)
    try:
        span, rest = _span(lower, today)
    except BadDate as exc:
        return Question("bad_date", name=str(exc))
    if said & RENEW:
        quarter = quarter_of(today)
        span = span or Span(quarter.start, quarter.end, "this quarter")
        not_healthy = bool(said & NOT) or "at risk" in lower
        return Question("renewals", mine=mine, span=span, not_healthy=not_healthy)
    if said & CHANGED:
        name = name_of(_without_span(typed, lower, rest))
        since = span or Span(today - timedelta(days=CHANGED_DEFAULT_DAYS), today, "the last 30 days")
        return Question("changed", name=name, span=since)  # no name: the account of the channel being viewed
    if said & RISK:
        numbers = [int(w) for w in words if w.isdigit() and 1 <= int(w) <= TOP_MAX]
        tier_words = {w for t in tiers.order for w in tiers.label(t).lower().split()}
        asking = RISK | MINE | tier_words | {"who", "whos", "which", "list", "most", "my", "mine", "by", "mrr"}
        named = name_of([w for w in typed.split() if _corrected(_norm(w)) not in asking and not _norm(w).isdigit()])
        return Question(
            "at_risk",
            name=named,
            mine=mine,
            segment_words=_segment_words(rest.split()),
            tier=_tier(lower, tiers),
            limit=numbers[0] if numbers else None,
            said=rest,
            by_mrr="by" in said and bool(said & {"mrr", "revenue", "arr"}),
        )
    if mine and said & MINE:
        return Question("mine")
    name = name_of(typed.split())
    bare = name == typed.strip(" ?!.,;:")
    if name:
        asks = bool(said & ASKS_ABOUT) or re.search(r"\bhow (is|are|was|were)\b", lower) is not None
        return Question("account", name=name, bare=bare, sentence=not bare and not asks)
    about_one = said & ABOUT_ONE and not said & {"you", "u"}  # "how are you?" is no question about an account
    return Question("account") if about_one else Question("unknown")  # "how is it?": the channel's account


def _without_span(typed: str, lower: str, rest: str) -> list[str]:
    """The typed words (case kept) minus the period's words."""
    gone = set(lower.split()) - set(rest.split())
    return [w for w in typed.split() if _norm(w) not in gone]
