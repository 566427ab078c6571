"""prompts.fill: a count with its noun (`{n:account/accounts}`) and a wrapped field (`*{name}*`, `_{words}_`,
`~{title}~`) unwrapped when its value would break the wrapper; everything else as `str.format` does it."""

from __future__ import annotations

import pytest

from prompts import fill, plural


@pytest.mark.parametrize("n, said", [(0, "0 accounts"), (1, "1 account"), (2, "2 accounts"), ("1", "1 account")])
def test_a_count_takes_its_noun(n: object, said: str) -> None:
    assert plural(n, "account/accounts") == said  # type: ignore[arg-type]
    assert fill("{n:account/accounts} at risk", n=n) == f"{said} at risk"


def test_other_format_specs_are_str_format_s_own() -> None:
    assert fill("{auc:.2f} {day:>4} {rate:.0%}", auc=0.5, day="x", rate=0.25) == "0.50    x 25%"


@pytest.mark.parametrize(
    "value, said",
    [
        ("Acme", "*Acme*  ·  _Acme_"),
        ("Acme_Corp", "*Acme_Corp*  ·  Acme_Corp"),  # an `_` inside a word styles nothing in bold
        ("call the *sponsor*", "call the *sponsor*  ·  call the *sponsor*"),
        ("Acme _new_", "Acme _new_  ·  Acme _new_"),
        ("~old~ Acme", "~old~ Acme  ·  ~old~ Acme"),
        ("", "  ·  "),  # no `**` or `__`
        (" Acme", " Acme  ·   Acme"),  # `* Acme*` would not be bold
    ],
)
def test_a_wrapped_value_that_would_break_its_wrapper_is_shown_unwrapped(value: str, said: str) -> None:
    assert fill("*{name}*  ·  _{name}_", name=value) == said


def test_only_a_field_wrapped_on_its_own_is_unwrapped() -> None:
    assert fill("*Risk alert: {name}*  ·  _({n} pts)_", name="A*B", n=3) == "*Risk alert: A*B*  ·  _(3 pts)_"
    assert fill("“_{text}_”", text="they *left*") == "“they *left*”"
