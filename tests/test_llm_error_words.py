"""Why the model's reply was not used, as a user reads it under the bot's own suggestion (issue 23): an exit
interview's suggested coding and the churn review's themes say the model call's failure (bot/llm/client.py) in the
reader's language; English reads as before."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.churn.analysis import Quote
from bot.churn.themes import themes
from bot.exits.coding import suggest
from bot.llm.client import Model
from bot.settings import load_settings
from prompts import speaking
from tests.fake_openai import FakeOpenAI, Reply

ANSWERS = [("Why did you leave?", "We were acquired and the new owner uses another tool.")]
QUOTES = [
    Quote("Acme", "price", "why_leave", "Far too expensive after the renewal."),
    Quote("Initech", "business_change", "why_leave", "We were acquired."),
]


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


def model_of(fake: FakeOpenAI, timeout: str = "10") -> Model:
    environ = {"LLM_BASE_URL": fake.url, "LLM_MODEL": "test-model", "LLM_TIMEOUT": timeout}
    model = Model.from_settings(load_settings(env_file=None, environ=environ))
    assert model is not None
    return model


CASES = [
    (
        Reply(status=404),
        "no usable reply: HTTP 404 from {url}{said} (check LLM_BASE_URL, up to and including /v1, and LLM_MODEL)",
        "没有可用的回复：{url} 返回 HTTP 404{said_zh}（请检查 LLM_BASE_URL 是否写到 /v1 为止，以及 LLM_MODEL）",
    ),
    (
        Reply(status=500, retry_after="0"),
        "no usable reply: HTTP 500 from {url}{said}, 3 attempts",
        "没有可用的回复：{url} 返回 HTTP 500{said_zh}，共尝试 3 次",
    ),
    (
        Reply(content=None),
        "no usable reply: the reply has no choices[0].message.content",
        "没有可用的回复：回复中没有 choices[0].message.content",
    ),
    (
        Reply("[1, 2]"),
        "no usable reply: the reply is JSON but not an object",
        "没有可用的回复：回复是 JSON，但不是对象",
    ),
]


@pytest.mark.parametrize(("reply", "english", "chinese"), CASES)
def test_an_exit_codings_fallback_says_why_in_the_readers_language(
    fake: FakeOpenAI, reply: Reply, english: str, chinese: str
) -> None:
    fake.default = reply
    url = f"{fake.url}/chat/completions"
    said = f": fake error {reply.status}" if reply.status >= 400 else ""
    said_zh = f"：fake error {reply.status}" if reply.status >= 400 else ""
    assert suggest(model_of(fake), ANSWERS).note == english.format(url=url, said=said)
    with speaking("zh-CN"):
        assert suggest(model_of(fake), ANSWERS).note == chinese.format(url=url, said_zh=said_zh)


def test_the_themes_fallback_says_a_timeout_in_the_readers_language(fake: FakeOpenAI) -> None:
    fake.default = Reply(hold=True)
    assert themes(QUOTES, model_of(fake, "1")).note == "no usable reply: no answer within 1 s"
    with speaking("zh-CN"):
        assert themes(QUOTES, model_of(fake, "1")).note == "没有可用的回复：1 秒内没有回答"
