"""A score's parts as the JSON text they are stored as, written without building a dict per account: what
`json.dumps(parts, separators=(",", ":"))` writes, byte for byte (issue 24). Used by `engine._score_card`."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np

from bot.scoring.explain import Code, reason_code
from bot.scoring.scorecard import Measure


def trend_fragments(
    m: Measure, figures: list[tuple[str, list[Any]]], rows: np.ndarray, fragment: Callable[[Code], str]
) -> list[str | None] | None:
    """Per account (None: not in `rows`, or a change that is not finite) the end of a trend driver's JSON, as
    `fragment(reason_code(m, figures))` gives it; None when the template does not hold for this measure."""
    columns = dict(figures)
    change = np.asarray(columns.get("change", []), dtype=float)
    rows = rows[np.isfinite(change[rows])] if len(rows) else rows
    if not len(rows):
        return None

    def generic(i: int) -> str:
        return fragment(reason_code(m, {k: v[i] for k, v in figures}))

    r0 = int(rows[0])
    sample = generic(r0)
    slot = f'["pct",{float.__repr__(change[r0])}]'
    if sample.count(slot) != 1:
        return None
    before, after = sample.split(slot)
    reason_at, words_at = before.find(',"words":'), before.rfind(',"words":')
    if not before.startswith(',"reason":') or reason_at != words_at:
        return None
    words_head, words_tail = before[words_at:], after
    whole = np.rint(change * 100.0)  # `_pct` reads round(change * 100): the same float, half to even
    texts: dict[float, str] = {}
    out: list[str | None] = [None] * len(change)
    values, wholes = change.tolist(), whole.tolist()
    for i in rows.tolist():
        text = texts.get(wholes[i])
        if text is None:
            text = texts[wholes[i]] = generic(i)[: -len(after)].split(',"words":')[0]
        out[i] = f'{text}{words_head}["pct",{float.__repr__(values[i])}]{words_tail}'
    checks = {int(rows[-1]), int(rows[len(rows) // 2])}
    if any(out[i] != generic(i) for i in checks):
        return None
    return out


SEPARATORS = (",", ":")
jstr = json.dumps  # a string as json.dumps writes it inside a part (ASCII, escaped)


def _encoder() -> Callable[[Any], str]:
    """`json.dumps(value, separators=(",", ":"))` without building an encoder per call: the C encoder made once
    (no circular-reference check: a reason code is a small tree)."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - CPython always has it
        return lambda value: json.dumps(value, separators=SEPARATORS)
    base = json.JSONEncoder(separators=SEPARATORS)
    chunks = make(None, base.default, json.encoder.encode_basestring_ascii, None, ":", ",", False, False, True)
    return lambda value: "".join(chunks(value, 0))


encode = _encoder()


def jfloat(x: float) -> str:
    """A float as json.dumps writes it."""
    if x - x == 0:
        return float.__repr__(x)
    return "NaN" if x != x else "Infinity" if x > 0 else "-Infinity"


def json_members(
    n: int, groups: list[tuple[str, list[float | None]]], measures: list[tuple[str, list[float | None]]]
) -> list[str]:
    """Per account '{"groups":{...},"measures":{...}': the start of its parts' JSON, values encoded a column at a
    time and laid into one format string."""

    def members(columns: list[tuple[str, list[float | None]]]) -> str:
        return ",".join(jstr(name).replace("%", "%%") + ":%s" for name, _ in columns)

    layout = '{"groups":{' + members(groups) + '},"measures":{' + members(measures) + "}"
    if not groups and not measures:
        return [layout] * n
    r, table = float.__repr__, _TENTHS
    encoded = [
        ["null" if v is None else table.get(v) or (r(v) if v - v == 0 else jfloat(v)) for v in values]
        for _, values in (*groups, *measures)
    ]
    return [layout % row for row in zip(*encoded, strict=True)]


_TENTHS = {k / 10: float.__repr__(k / 10) for k in range(1, 10_001)}  # 0.1 ... 1000.0 (never 0.0: -0.0 reads apart)
