"""Lists in each language's own pattern (Babel), readable where a Chinese joiner meets Latin letters or digits."""

from __future__ import annotations

import pytest

from prompts import speaking
from prompts.formats import listing


@pytest.mark.parametrize(
    ("items", "english", "chinese"),
    [
        (["中风险 32", "高风险 23"], "中风险 32, 高风险 23", "中风险 32 和高风险 23"),
        (["U01CSM0005 2.8", "U01CSM0006 1.8"], "U01CSM0005 2.8, U01CSM0006 1.8", "U01CSM0005 2.8 和 U01CSM0006 1.8"),
        (
            ["medium_risk", "high_risk", "healthy"],
            "medium_risk, high_risk, healthy",
            "medium_risk、high_risk 和 healthy",
        ),
        (["健康", "低风险"], "健康, 低风险", "健康和低风险"),  # Chinese beside Chinese: no space
        (["40 -> 75", "高风险 0 -> 0"], "40 -> 75, 高风险 0 -> 0", "40 -> 75 和高风险 0 -> 0"),
        (["*Acme*", "*Globex*", "*Initech*"], "*Acme*, *Globex*, *Initech*", "*Acme*、*Globex* 和 *Initech*"),
        (["`健康`", "`低风险`"], "`健康`, `低风险`", "`健康` 和 `低风险`"),  # a mark never touches a Chinese letter
        (["only"], "only", "only"),
        ([], "", ""),
    ],
)
def test_a_chinese_joiner_keeps_a_space_from_latin_letters_and_digits(
    items: list[str], english: str, chinese: str
) -> None:
    with speaking("en"):
        assert listing(items) == english
    with speaking("zh-CN"):
        assert listing(items) == chinese
