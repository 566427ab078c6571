"""A suggested coding of an exit interview's words (issue 22): a reason category of the form, avoidable yes/no/unsure
and a two-line summary. Only ever a suggestion: the interviewer uses it or keeps what they chose (handlers/exits.py).

AI off (no model): keywords per category from prompts/coding.toml, the summary the first sentences of the answers.
With a model: prompts/llm_exit_coding.toml [coding]; its JSON reply is used only when every field is valid and its
summary states no figure, date or name the interview's words do not hold, else the keyword coding is returned with
`note` saying why (and the log says so too); any failure of the call falls back so, not only a ModelError."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, cast, get_args

from bot.exits.values import AvoidableCall
from bot.llm.client import Model, ModelError
from bot.llm.grounding import unsupported
from prompts import languages, raw, say
from storage.types import EXIT_REASONS, ExitReason

log = logging.getLogger(__name__)

AVOIDABLE: tuple[str, ...] = get_args(AvoidableCall)
SUMMARY_CHARS = 300
SUMMARY_LINES = 2
LINE_CHARS = (SUMMARY_CHARS - SUMMARY_LINES + 1) // SUMMARY_LINES  # the lines and the newlines between fit


@dataclass(frozen=True)
class Coding:
    """`reason` one of EXIT_REASONS, `avoidable` one of AVOIDABLE, `summary` at most 2 lines and 300 characters;
    `generated`: the model's words, checked; `note`: why a model's coding was not used; `clear`: False when the
    keywords matched none or tied (shown, never offered to replace what the interviewer chose)."""

    reason: str
    avoidable: AvoidableCall
    summary: str
    generated: bool = False
    note: str | None = None
    clear: bool = True


CJK = re.compile(r"[\u3000-\u9fff\uff00-\uffef]")  # Chinese (and full-width) text: no spaces between words


def _word(word: str) -> str:
    """A keyword as a pattern: at a word's start in spaced languages, anywhere in Chinese."""
    return re.escape(word.lower()) if CJK.search(word) else rf"\b{re.escape(word.lower())}"


def _every_language(key: str) -> Any:
    """A keyword list (or table of lists) from every language's prompts, joined: a customer answers in their own
    language whatever language the interviewer reads, so the coding never depends on who asks first."""
    found = [raw(key, language) for language in languages()]
    if isinstance(found[0], dict):
        return {k: list(dict.fromkeys(w for table in found for w in table.get(k, []))) for k in found[0]}
    return list(dict.fromkeys(w for words in found for w in words))


@cache
def _patterns() -> dict[str, re.Pattern[str]]:
    words: dict[str, list[str]] = _every_language("coding.words")
    return {
        reason: re.compile("|".join(_word(w) for w in words[reason])) for reason in EXIT_REASONS if words.get(reason)
    }


@cache
def _praise() -> re.Pattern[str]:
    """Words that make a clause praise, not a reason ("support was great", "服务很好"); not after a negation."""
    words: list[str] = _every_language("coding.praise.words")
    spaced = "|".join(re.escape(w.lower()) for w in words if not CJK.search(w))
    chinese = "|".join(re.escape(w) for w in words if CJK.search(w))
    parts = [rf"(?<!not )(?<!never )\b(?:{spaced})\b"] if spaced else []
    parts += [rf"(?<![不没])(?:{chinese})"] if chinese else []
    return re.compile("|".join(parts))


TURN = re.compile(r"\b(?:but|however)\b|但是|不过|可是|然而")  # what follows weighs more: "great product, but ..."


def _clauses(text: str) -> list[tuple[str, int]]:
    """(clause, weight): each sentence's clauses, those after its last "but" or "however" weighing 2; clauses of
    praise left out."""
    found: list[tuple[str, int]] = []
    for sentence in re.split(r"[.;!?\n。；！？]+", text.lower()):
        parts = TURN.split(sentence)
        for i, part in enumerate(parts):
            weight = 2 if len(parts) > 1 and i == len(parts) - 1 else 1
            found += [(clause, weight) for clause in re.split(r"[,，、]", part) if not _praise().search(clause)]
    return found


def matches(text: str) -> dict[str, int]:
    """Each category's weighted count of its words in `text` (categories with none left out)."""
    counts = {reason: 0 for reason in _patterns()}
    for clause, weight in _clauses(text):
        for reason, pattern in _patterns().items():
            counts[reason] += weight * len(pattern.findall(clause))
    return {reason: n for reason, n in counts.items() if n}


def reason_of(text: str) -> str | None:
    """The category whose words `text` holds most (a tie: the first in the form); None when it holds none."""
    counts = matches(text)
    return max(counts, key=lambda r: (counts[r], -EXIT_REASONS.index(r))) if counts else None


def _leads(text: str) -> bool:
    """Whether one category's words outweigh every other's (none matched, or a tie: a guess)."""
    counts = sorted(matches(text).values(), reverse=True)
    return bool(counts) and (len(counts) == 1 or counts[0] > counts[1])


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", " ".join(text.split())) if s]


def _trim(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0] if " " in text[: limit - 1] else text[: limit - 1]
    return cut.rstrip(",;: ") + "…"


def summary_of(texts: Sequence[str]) -> str:
    """The first two sentences of the words, one a line, each trimmed to fit 300 characters in all."""
    first = [s for text in texts for s in _sentences(text)][:SUMMARY_LINES]
    return "\n".join(_trim(s, LINE_CHARS) for s in first)


def by_keywords(texts: Sequence[str], note: str | None = None) -> Coding:
    """The coding with AI off: the best-matched category and its usual avoidable call, the first sentences."""
    words = "\n".join(texts)
    reason = reason_of(words) or ExitReason.OTHER.value
    avoidable = str(raw("coding.avoidable").get(reason, "unsure"))
    call = cast(AvoidableCall, avoidable if avoidable in AVOIDABLE else "unsure")
    return Coding(reason, call, summary_of(texts), note=note, clear=_leads(words))


def reply_json(model: Model, prompt: str, timeout: float | None, **values: Any) -> dict[str, Any]:
    """The model's JSON object for prompts/llm_exit_coding.toml's `prompt`, filled with `values`; ValueError (its
    text says why, from prompts/coding.toml [why]) when there is none. `timeout` None: LLM_TIMEOUT."""
    messages = [
        {"role": "system", "content": str(raw(f"llm_exit_coding.{prompt}.system"))},
        {"role": "user", "content": say(f"llm_exit_coding.{prompt}.user", **values)},
    ]
    try:
        reply = model.chat(messages, json_mode=True, timeout=timeout)
    except Exception as exc:  # a ModelError, or whatever else a transport raises: either way the keywords answer
        error = str(exc) if isinstance(exc, ModelError) else f"{type(exc).__name__}: {exc}"
        raise ValueError(say("coding.why.no_reply", error=error[:200])) from exc
    try:
        parsed = json.loads(reply)
    except (TypeError, ValueError) as exc:
        raise ValueError(say("coding.why.not_json")) from exc
    if not isinstance(parsed, dict):
        raise ValueError(say("coding.why.not_json"))
    return parsed


def grounded(text: str, given: str) -> None:
    """ValueError (listing them) when `text` states figures, dates or names that `given` does not hold."""
    wrong = unsupported(text, {}, given)
    if wrong:
        raise ValueError(say("coding.why.made_up", what=", ".join(dict.fromkeys(wrong))[:200]))


def _checked(parsed: dict[str, Any], words: str) -> Coding:
    """The model's coding when every field is valid and its summary holds nothing that `words` (the interview's)
    do not; ValueError naming the first problem."""
    for field, allowed in (("reason", EXIT_REASONS), ("avoidable", AVOIDABLE)):
        if parsed.get(field) not in allowed:
            raise ValueError(say("coding.why.fields", field=field))
    summary = parsed.get("summary")
    if not isinstance(summary, str) or not summary.strip():
        raise ValueError(say("coding.why.fields", field="summary"))
    summary = summary.strip()
    if len(summary) > SUMMARY_CHARS or len(summary.splitlines()) > SUMMARY_LINES:
        raise ValueError(say("coding.why.too_long", limit=SUMMARY_CHARS))
    grounded(summary, words)
    return Coding(str(parsed["reason"]), cast(AvoidableCall, parsed["avoidable"]), summary, generated=True)


def suggest(
    model: Model | None, answers: Sequence[tuple[str, str]], note: str | None = None, timeout: float | None = None
) -> Coding:
    """The suggested coding of an interview's (question, answer) pairs and note: the model's when there is one and
    its reply passes the checks, else the keyword coding (with `note` saying why the model's was not used)."""
    texts = [a for _, a in answers if a.strip()] + ([note] if note and note.strip() else [])
    if model is None:
        return by_keywords(texts)
    categories = "\n".join(f"{r}: {say(f'exit.reasons.{r}')}" for r in EXIT_REASONS)
    lines = [f"{q}: {' '.join(a.split())}" for q, a in answers if a.strip()]
    if note and note.strip():
        lines.append(say("llm_exit_coding.coding.note_line", note=" ".join(note.split())))
    version = raw("llm_exit_coding.coding.version")
    try:
        parsed = reply_json(model, "coding", timeout, categories=categories, answers="\n".join(lines))
        coding = _checked(parsed, "\n".join(lines))
    except ValueError as exc:
        log.warning("exit coding (prompt v%s): the model's reply was not used: %s", version, exc)
        return by_keywords(texts, note=str(exc))
    log.info("exit coding (prompt v%s): the model's coding used", version)
    return coding
