"""A score's parts written straight as JSON text (issue 24) read exactly as json.dumps wrote them before: the
same bytes for awkward numbers and names, the same dicts back, and reasons worded once per wording."""

from __future__ import annotations

import json
import math
from datetime import date
from typing import Any

import numpy as np
from sqlalchemy import Engine, text

from bot.scoring.engine import PartsColumn, parts_json
from bot.scoring.explain import worded, wording_key
from bot.scoring.parts_json import json_members
from storage import scores
from storage.db import session_factory, unit_of_work
from storage.models import Account
from storage.types import utcnow

DUMPS = {"separators": (",", ":")}


def test_groups_and_measures_read_as_json_dumps_writes_them() -> None:
    groups = [("usage", [60.2, None, -0.0, 0.0, math.inf]), ("réseau %s", [100.0, 0.1, 1e-07, 12345678.9, 1000.0])]
    measures = [("logins", [0.30000000000000004, -12.5, None, 5.0, -math.inf])]

    heads = json_members(5, groups, measures)

    for i, head in enumerate(heads):
        want = {"groups": {g: v[i] for g, v in groups}, "measures": {m: v[i] for m, v in measures}}
        assert head + "}" == json.dumps(want, **DUMPS)


def test_a_part_without_groups_or_measures() -> None:
    assert json_members(2, [], []) == ['{"groups":{},"measures":{}'] * 2


def test_stored_parts_are_json_dumps_of_the_parts_with_coverage() -> None:
    parts = [
        {"groups": {"a": 1.0}, "measures": {"m": None}, "drivers": []},
        {"groups": {}, "measures": {}, "drivers": [{"measure": "m", "points": -2.5, "reason": "±0 % … ok"}]},
    ]
    texts = PartsColumn([json.dumps(p, **DUMPS) for p in parts])
    want = [json.dumps({**parts[r], "coverage": c}, **DUMPS) for r, c in ((1, 0.667), (0, 1.0))]

    assert parts_json(texts, [1, 0], [0.667, 1.0]) == want
    assert parts_json(parts, [1, 0], [0.667, 1.0]) == want  # plain dicts (a backtest's) the slow way
    assert texts == parts and list(texts[1:]) == parts[1:] and texts[0] == parts[0]
    assert texts != parts[:1]


def test_reasons_that_read_the_same_share_a_wording_key() -> None:
    def trend(change: float, span: object = 28) -> dict[str, object]:
        return {
            "t": "trend",
            "v": {"metric": ["metric", "logins"], "change": ["pct", change], "baseline": ["span", span]},
        }

    assert wording_key(trend(-0.3114)) == wording_key(trend(-0.3089))
    assert worded(trend(-0.3114)) == worded(trend(-0.3089)) == "logins -31 % vs prior 4 weeks"
    assert wording_key(trend(-0.3150)) != wording_key(trend(-0.3149))  # -32 %, -31 %
    assert wording_key(trend(0.004)) == wording_key(trend(-0.004))  # both ±0 %
    assert wording_key(trend(-0.31, 28)) != wording_key(trend(-0.31, 28.0))  # "4 weeks", "4.0 weeks"
    assert np.rint(-0.005 * 100) == round(-0.005 * 100)  # the engine's whole percent is `_pct`'s


def test_a_day_replaced_keeps_its_parts_to_the_byte_and_drops_who_is_no_longer_scored(engine: Engine) -> None:
    day = date(2026, 6, 30)
    with unit_of_work(session_factory(engine)) as s:
        accounts = [Account(external_id=f"R-{i}", name=f"Replaced {i}") for i in range(3)]
        s.add_all(accounts)
        s.flush()
        ids = [a.id or 0 for a in accounts]
    awkward = json.dumps({"drivers": [{"reason": 'tab\there, line\nthere, back\\slash "quoted" ±0 % …'}]}, **DUMPS)

    def row(account_id: int, score: float, parts: Any) -> tuple[Any, ...]:
        return (account_id, day, score, "healthy", "default", False, None, 1.5, parts, utcnow())

    with engine.begin() as conn:
        scores.replace_scores(conn, day, [row(ids[0], 50.0, {"a": 1.0}), row(ids[1], 60.0, {"b": None})])
    with engine.begin() as conn:  # the day again: the first account changed, the second not scored any more
        scores.replace_scores(conn, day, [row(ids[0], 0.1 + 0.2, awkward), row(ids[2], 70.0, {"c": [1, "x"]})])

    with engine.connect() as conn:
        stored = conn.execute(
            text(
                "SELECT account_id, score, delta_7, delta_30, CAST(parts AS TEXT) FROM health_score ORDER BY account_id"
            )
        ).all()
    assert [tuple(r) for r in stored] == [
        (ids[0], 0.1 + 0.2, None, 1.5, awkward),
        (ids[2], 70.0, None, 1.5, '{"c":[1,"x"]}'),
    ]
