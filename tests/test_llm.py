"""The optional model's client (issue 22) against a local fake OpenAI-compatible server: replies, JSON mode,
backoff on 429/5xx within the deadline, the concurrency cap, a server that never answers, and the key kept out of
every log line, error and repr."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.llm.client import Model, ModelError
from tests.fake_openai import FakeOpenAI, Reply

KEY = "sk-test-0123456789abcdef"
HELLO = [{"role": "user", "content": "hello"}]


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def model(fake: FakeOpenAI) -> Iterator[Model]:
    m = Model(fake.url, "test-model", KEY, concurrency=2)
    yield m
    m.close()


def test_a_reply_is_the_first_choice_s_content_and_the_request_is_a_chat_completion(
    fake: FakeOpenAI, model: Model
) -> None:
    fake.default = Reply("Acme is healthy.")
    assert model.chat(HELLO, timeout=5) == "Acme is healthy."
    (seen,) = fake.requests
    assert seen.path == "/v1/chat/completions"
    assert seen.headers["Authorization"] == f"Bearer {KEY}"
    assert seen.body == {"model": "test-model", "messages": HELLO, "stream": False}


def test_json_mode_asks_for_a_json_object_and_checks_the_reply_parses(fake: FakeOpenAI, model: Model) -> None:
    fake.then(Reply('{"category": "price"}'), Reply('```json\n{"a": 1}\n```'), Reply("not json {"), Reply("[1]"))
    assert json.loads(model.chat(HELLO, json_mode=True, timeout=5)) == {"category": "price"}
    assert fake.requests[0].body["response_format"] == {"type": "json_object"}
    assert json.loads(model.chat(HELLO, json_mode=True, timeout=5)) == {"a": 1}  # a fenced reply is unwrapped
    for _ in range(2):
        with pytest.raises(ModelError) as error:
            model.chat(HELLO, json_mode=True, timeout=5)
        assert error.value.kind == "invalid"


def test_json_mode_asks_again_without_response_format_where_the_server_has_none(fake: FakeOpenAI, model: Model) -> None:
    refused = json.dumps({"error": {"message": "'response_format.type' must be 'json_schema'"}})
    fake.then(Reply(status=400, raw=refused), Reply('{"category": "price"}'))
    assert json.loads(model.chat(HELLO, json_mode=True, timeout=5)) == {"category": "price"}
    assert "response_format" in fake.requests[0].body and "response_format" not in fake.requests[1].body


def test_a_body_without_content_is_invalid(fake: FakeOpenAI, model: Model) -> None:
    fake.then(Reply(content=None))
    with pytest.raises(ModelError, match="no choices") as error:
        model.chat(HELLO, timeout=5)
    assert error.value.kind == "invalid"


def test_a_body_that_is_not_json_says_so_with_its_content_type(
    fake: FakeOpenAI, model: Model, caplog: pytest.LogCaptureFixture
) -> None:
    fake.then(Reply(raw="<html>oops not json", headers={"Content-Type": "text/html"}), Reply(raw="{not json"))
    caplog.set_level(logging.INFO, logger="healthbot")
    for said in ("the reply is not JSON (text/html)", "the reply is not JSON (application/json)"):
        with pytest.raises(ModelError) as error:
            model.chat(HELLO, timeout=5)
        assert error.value.kind == "invalid" and str(error.value) == said
        assert said in caplog.text


def test_a_body_that_cannot_be_decoded_or_nests_too_deep_is_invalid(fake: FakeOpenAI, model: Model) -> None:
    nested = "[" * 100_000  # json's own recursion limit, not a ValueError
    fake.then(
        Reply(headers={"Content-Encoding": "gzip"}),  # says gzip, is not
        Reply(raw=nested),
        Reply(raw=json.dumps({"choices": [{"message": {"content": nested}}]})),
        Reply(status=500, raw=json.dumps({"error": {"message": 1}}) + nested),
    )
    for json_mode in (False, False, True):
        with pytest.raises(ModelError) as error:
            model.chat(HELLO, json_mode=json_mode, timeout=5)
        assert error.value.kind == "invalid"
    fake.default = Reply(status=400, raw=nested)
    with pytest.raises(ModelError, match="HTTP 400"):
        model.chat(HELLO, timeout=5)


def test_429_then_ok_is_retried_after_its_retry_after(fake: FakeOpenAI, model: Model) -> None:
    fake.then(Reply(status=429, retry_after="0"), Reply(status=503, retry_after="0"), Reply("fine"))
    assert model.chat(HELLO, timeout=10) == "fine"
    assert len(fake.requests) == 3


def test_500_every_time_gives_up_after_three_attempts(fake: FakeOpenAI, model: Model) -> None:
    fake.default = Reply(status=500, retry_after="0")
    with pytest.raises(ModelError, match="HTTP 500.*3 attempts") as error:
        model.chat(HELLO, timeout=10)
    assert error.value.kind == "http" and len(fake.requests) == 3


def test_a_retry_after_past_the_deadline_fails_at_once_instead_of_answering_late(
    fake: FakeOpenAI, model: Model
) -> None:
    fake.then(Reply(status=429, retry_after="120"))
    with pytest.raises(ModelError, match="would pass the 5 s deadline"):
        model.chat(HELLO, timeout=5)
    assert len(fake.requests) == 1  # no second attempt, no 120 s sleep


def test_other_4xx_are_not_retried_and_say_what_to_check(fake: FakeOpenAI, model: Model) -> None:
    fake.then(Reply(status=401), Reply(status=400))
    with pytest.raises(ModelError, match="HTTP 401.*check LLM_API_KEY"):
        model.chat(HELLO, timeout=5)
    with pytest.raises(ModelError, match="HTTP 400 from .*: fake error 400"):
        model.chat(HELLO, timeout=5)
    assert len(fake.requests) == 2


def test_a_wrong_base_url_says_so() -> None:
    with FakeOpenAI() as server:
        model = Model(server.url.removesuffix("/v1"), "m")
        with pytest.raises(ModelError, match="HTTP 404.*LLM_BASE_URL"):
            model.chat(HELLO, timeout=5)


def test_nothing_listening_is_an_http_error_not_a_crash() -> None:
    with FakeOpenAI() as server:
        url = server.url
    with pytest.raises(ModelError) as error:
        Model(url, "m").chat(HELLO, timeout=2)
    assert error.value.kind in ("http", "timeout")


def test_a_server_that_never_answers_is_given_up_at_the_deadline_and_the_request_aborted(
    fake: FakeOpenAI, model: Model
) -> None:
    fake.default = Reply(hold=True)
    with pytest.raises(ModelError, match="no answer within 0.5 s") as error:
        model.chat(HELLO, timeout=0.5)
    assert error.value.kind == "timeout"
    assert len(fake.requests) == 1
    assert fake.wait_for(lambda f: f.aborted == 1)  # the client hung up: the server saw the abort


def test_a_body_that_trickles_in_is_dropped_at_the_deadline(fake: FakeOpenAI, model: Model) -> None:
    fake.default = Reply("x" * 10_000, trickle=0.01)  # headers at once, then 100 s of body
    with pytest.raises(ModelError, match="no answer within 0.5 s"):
        model.chat(HELLO, timeout=0.5)
    assert len(fake.requests) == 1


def test_a_server_trickling_header_lines_is_given_up_at_the_deadline_and_the_request_aborted(
    fake: FakeOpenAI, model: Model
) -> None:
    # each header line comes well within any read timeout: only a deadline for the whole call can end it
    fake.then(Reply("late", header_trickle=0.1, header_lines=100), Reply("next"))
    with pytest.raises(ModelError, match="no answer within 0.5 s") as error:
        model.chat(HELLO, timeout=0.5)
    assert error.value.kind == "timeout" and len(fake.requests) == 1
    assert fake.wait_for(lambda f: f.aborted == 1)  # the client hung up rather than read on
    assert model.chat(HELLO, timeout=5) == "next"  # the slot came back


def test_without_a_timeout_a_call_takes_llm_timeout(fake: FakeOpenAI) -> None:
    fake.default = Reply(hold=True)
    with pytest.raises(ModelError, match="no answer within 0.4 s"):
        Model(fake.url, "m", timeout=0.4).chat(HELLO)


def test_at_most_llm_concurrency_calls_reach_the_server_at_once(fake: FakeOpenAI, model: Model) -> None:
    fake.default = Reply(hold=True)
    results: list[str] = []
    held = [threading.Thread(target=lambda: results.append(model.chat(HELLO, timeout=30))) for _ in range(2)]
    for thread in held:
        thread.start()
    assert fake.wait_for(lambda f: f.in_flight == 2)
    with pytest.raises(ModelError) as error:  # a third caller finds both slots taken until its deadline
        model.chat(HELLO, timeout=0.3)
    assert error.value.kind == "busy"
    assert len(fake.requests) == 2  # the third never reached the server
    fake.default = Reply("free")
    fake.release()
    for thread in held:
        thread.join()
    assert model.chat(HELLO, timeout=5) == "free"  # the slots came back


def test_the_key_is_never_in_a_log_line_an_error_or_a_repr(
    fake: FakeOpenAI, model: Model, caplog: pytest.LogCaptureFixture
) -> None:
    echo = json.dumps({"error": {"message": f"Incorrect API key provided: {KEY}"}})
    fake.then(Reply(status=401, raw=echo))
    fake.default = Reply(status=500, raw=echo, retry_after="0")
    caplog.set_level(logging.DEBUG)
    errors = []
    for _ in range(2):  # the 401, then the 500 three times (retries logged)
        with pytest.raises(ModelError) as error:
            model.chat(HELLO, timeout=10)
        errors.append(str(error.value))
    assert "Incorrect API key provided: ***" in errors[0]
    assert len(fake.requests) == 4 and "retrying" in caplog.text
    assert caplog.records and any("model call failed" in r.getMessage() for r in caplog.records)
    assert KEY not in caplog.text and all(KEY not in e for e in errors)
    assert KEY not in repr(model)


def test_a_password_in_the_base_url_is_never_shown(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # httpx's own lines too ("HTTP Request: POST http://...")
    caplog.set_level(logging.DEBUG, logger="httpx")  # even after a test ran the bot's logging setup (httpx: WARNING)
    with FakeOpenAI(Reply(status=500, retry_after="0")) as server:
        server.then(Reply("fine"))
        model = Model(server.url.replace("http://", "http://me:hunter2@"), "m")
        assert model.chat(HELLO, timeout=5) == "fine"
        with pytest.raises(ModelError) as error:
            model.chat(HELLO, timeout=5)
    assert "hunter2" not in str(error.value) and "hunter2" not in caplog.text and "hunter2" not in repr(model)
    assert "HTTP 500" in str(error.value) and "HTTP Request" in caplog.text
    assert server.requests[0].headers["Authorization"] == "Basic bWU6aHVudGVyMg=="  # me:hunter2, as a header


def test_the_bot_s_logging_leaves_out_httpx_s_line_per_request(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot import cli

    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'none.db'}")
    loggers = [logging.getLogger(name) for name in ("httpx", "httpcore")]
    before = [logger.level for logger in loggers]
    try:
        cli.main(["db", "current"])
        assert [logger.level for logger in loggers] == [logging.WARNING] * 2
    finally:
        for logger, level in zip(loggers, before, strict=True):
            logger.setLevel(level)


def test_the_same_settings_give_the_one_model_so_the_cap_holds_for_the_process() -> None:
    from bot.settings import load_settings

    env = {"LLM_BASE_URL": "http://localhost:11434/v1", "LLM_MODEL": "llama3.1"}
    first, again = (Model.from_settings(load_settings(env_file=None, environ=env)) for _ in range(2))
    assert first is not None and first is again
