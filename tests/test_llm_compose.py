"""A model's wording of an answer (issue 22), against the local fake OpenAI-compatible server: used when it is
grounded, and otherwise the bot's own answer with a note and a log line saying why, for every way a model fails.
Also the LLM_* settings: AI off unless both LLM_BASE_URL and LLM_MODEL are set, and one clear line when wrong."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import replace

import pytest

from bot.assistant.answer import Answer, Figure
from bot.assistant.compose import LIMIT, reword
from bot.llm.client import Model
from bot.settings import SettingsError, load_settings
from prompts import raw, say
from tests.fake_openai import FakeOpenAI, Reply

FACTS = {
    "account": {"name": "Acme", "contact_name": "Ann Lee", "contact_email": "ann@acme.test"},
    "score": {"now": 41, "was": 63, "since": "2026-11-07"},
    "exit_words": "too expensive for us",
}
ANSWER = Answer(
    text="*Acme*: 41, was 63 on 2026-11-07.",
    figures=(Figure("Health score", "41"),),
    commands=("/health acme",),
    facts=FACTS,
)
QUESTION = "how is acme?"


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def model(fake: FakeOpenAI) -> Iterator[Model]:
    m = Model(fake.url, "test-model", "sk-test-key-0123456789")
    yield m
    m.close()


def test_with_ai_off_the_answer_is_the_bot_s_own() -> None:
    assert reword(None, ANSWER, QUESTION) is ANSWER
    assert Model.from_settings(load_settings(env_file=None, environ={})) is None


def test_a_grounded_reply_is_used_marked_generated_and_escaped(fake: FakeOpenAI, model: Model) -> None:
    fake.default = Reply("Acme <is> at 41 & falling: it was 63 on 2026-11-07.")
    said = reword(model, ANSWER, QUESTION, timeout=5)
    assert said.generated and said.note is None
    assert said.text == "Acme &lt;is&gt; at 41 &amp; falling: it was 63 on 2026-11-07."
    assert (said.figures, said.commands, said.facts) == (ANSWER.figures, ANSWER.commands, ANSWER.facts)


def test_the_model_gets_the_versioned_prompt_and_only_the_allowed_fields(fake: FakeOpenAI, model: Model) -> None:
    reword(model, ANSWER, QUESTION, timeout=5)
    system, user = fake.requests[0].body["messages"]
    assert system == {"role": "system", "content": say("llm.reword.system", kind="answer", limit=LIMIT)}
    assert raw("llm.reword.version") == 1
    assert user["content"].startswith(f"Question: {QUESTION}")
    sent = json.loads(user["content"].split("Facts (JSON):\n", 1)[1])
    assert sent == {"account": {"name": "Acme"}, "score": FACTS["score"]}  # no contact, no exit words
    body = json.dumps(fake.requests[0].body)
    assert "Ann Lee" not in body and "ann@acme.test" not in body and "expensive" not in body


def test_exit_words_are_sent_only_when_named_and_to_a_reader(fake: FakeOpenAI, model: Model) -> None:
    reword(model, ANSWER, QUESTION, ["*", "exit_words"], timeout=5)
    reword(model, ANSWER, QUESTION, ["*", "exit_words"], timeout=5, reader=True)
    assert "expensive" not in json.dumps(fake.requests[0].body)
    assert "expensive" in json.dumps(fake.requests[1].body)


@pytest.mark.parametrize(
    "reply, note",
    [
        (Reply("Acme is at 41, down 22 points since 2026-11-07."), say("llm.note.unsupported", n=1)),
        (Reply("Ann Lee at Acme says Globex is cheaper."), say("llm.note.unsupported", n=2)),  # a name withheld
        (Reply("   "), say("llm.note.empty")),
        (Reply("Acme. " * (LIMIT // 6 + 1)), say("llm.note.too_long")),
        (Reply(content=None), say("llm.note.invalid")),
        (Reply(headers={"Content-Encoding": "gzip"}), say("llm.note.invalid")),  # says gzip, is not
        (Reply("Acme & " * (LIMIT // 7)), say("llm.note.too_long")),  # within LIMIT until & is escaped
        (Reply(raw="{not json"), say("llm.note.invalid")),
        (Reply(status=500, retry_after="0"), say("llm.note.http")),
        (Reply(status=401), say("llm.note.http")),
    ],
)
def test_a_reply_that_fails_is_not_used_and_the_note_and_the_log_say_why(
    fake: FakeOpenAI, model: Model, caplog: pytest.LogCaptureFixture, reply: Reply, note: str
) -> None:
    fake.default = reply
    caplog.set_level(logging.INFO, logger="healthbot")
    said = reword(model, ANSWER, QUESTION, timeout=5)
    assert said == ANSWER.noted(note)
    assert not said.generated and said.text == ANSWER.text
    assert any("the bot's own answer is used" in r.getMessage() for r in caplog.records)


def test_a_made_up_figure_is_named_in_the_log(fake: FakeOpenAI, model: Model, caplog: pytest.LogCaptureFixture) -> None:
    fake.default = Reply("Acme is at 41, down 22 points.")
    caplog.set_level(logging.INFO, logger="healthbot")
    reword(model, ANSWER, QUESTION, timeout=5)
    assert "(unsupported): not in the facts: ['22']" in caplog.text


def test_429_then_ok_is_used(fake: FakeOpenAI, model: Model) -> None:
    fake.then(Reply(status=429, retry_after="0"), Reply("Acme is at 41."))
    assert reword(model, ANSWER, QUESTION, timeout=5).generated
    assert len(fake.requests) == 2


def test_a_model_that_never_answers_gives_the_bot_s_answer_at_the_deadline(fake: FakeOpenAI, model: Model) -> None:
    fake.default = Reply(hold=True)
    said = reword(model, ANSWER, QUESTION, timeout=0.5)
    assert said == ANSWER.noted(say("llm.note.timeout", seconds=0.5))
    assert len(fake.requests) == 1 and fake.wait_for(lambda f: f.aborted == 1)


def test_an_answer_without_facts_is_not_sent(fake: FakeOpenAI, model: Model) -> None:
    plain = Answer("I can answer: how is <account>?", kind="unknown")
    assert reword(model, plain, "what's up?", timeout=5) is plain
    assert fake.requests == []


# --- settings ---

ON = {"LLM_BASE_URL": "http://localhost:11434/v1/", "LLM_MODEL": "llama3.1"}


def test_ai_is_on_with_both_url_and_model_and_the_defaults_hold() -> None:
    settings = load_settings(env_file=None, environ={**ON, "LLM_API_KEY": "sk-secret-0123456789"})
    assert settings.llm_base_url == "http://localhost:11434/v1"
    assert (settings.llm_timeout, settings.llm_concurrency, settings.llm_fields) == (20.0, 2, ("*",))
    assert "sk-secret" not in repr(settings)
    model = Model.from_settings(settings)
    assert model is not None and model.url == "http://localhost:11434/v1/chat/completions"
    assert "sk-secret" not in repr(model)
    custom = load_settings(
        env_file=None,
        environ={**ON, "LLM_TIMEOUT": "7.5", "LLM_CONCURRENCY": "4", "LLM_FIELDS": "score, account,score"},
    )
    assert (custom.llm_timeout, custom.llm_concurrency, custom.llm_fields) == (7.5, 4, ("score", "account"))


@pytest.mark.parametrize(
    "env, message",
    [
        ({"LLM_BASE_URL": "http://localhost:11434/v1"}, "LLM_MODEL is not set"),
        ({"LLM_MODEL": "gpt-4o-mini"}, "LLM_BASE_URL is not set"),
        ({**ON, "LLM_BASE_URL": "localhost:11434"}, "is not an http(s) URL"),
        ({**ON, "LLM_BASE_URL": "https://me:hunter2@x.test/v1/chat/completions"}, "'https://***@x.test/v1/chat"),
        ({**ON, "LLM_BASE_URL": "https://api.openai.com/v1/chat/completions"}, "up to and including /v1"),
        ({"LLM_API_KEY": "sk-abc0123456789"}, "LLM_API_KEY is set but LLM_BASE_URL and LLM_MODEL are not"),
        (
            {**ON, "LLM_BASE_URL": "https://me:hunter2@x.test/v1", "LLM_API_KEY": "sk-abc0123456789"},
            "'https://***@x.test/v1' holds a user:password and LLM_API_KEY is set",
        ),
        ({**ON, "LLM_API_KEY": "sk-your-key-here"}, "LLM_API_KEY still holds the placeholder"),
        ({**ON, "LLM_TIMEOUT": "soon"}, "LLM_TIMEOUT='soon' is not a number of seconds"),
        ({**ON, "LLM_TIMEOUT": "60"}, "LLM_TIMEOUT=60 is out of range: use 1 to 25 seconds"),
        ({**ON, "LLM_CONCURRENCY": "0"}, "LLM_CONCURRENCY=0 is out of range"),
        ({**ON, "LLM_FIELDS": "score,Contact Name"}, "LLM_FIELDS: 'Contact Name' is not a field name"),
    ],
)
def test_a_wrong_llm_setting_stops_with_one_line_saying_what_to_do(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as error:
        load_settings(env_file=None, environ=env)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_facts_that_are_not_json_fail_loudly_and_nothing_is_sent(fake: FakeOpenAI, model: Model) -> None:
    odd = Answer("*Acme*: 41", facts={"score": 41, "figure": Figure("Health score", "41")})
    with pytest.raises(TypeError, match="is a Figure"):
        reword(model, odd, QUESTION, timeout=5)
    assert fake.requests == []


def test_a_figure_the_bot_s_own_answer_shows_is_grounded_though_not_in_the_facts(
    fake: FakeOpenAI, model: Model
) -> None:
    """The deterministic answer's text is the bot's data too: "in the next 90 days" is said there, not in facts."""
    shown = Answer("Chance to churn in the next 90 days: *5 %*.", facts={"chance_to_churn": "5 %"})
    fake.default = Reply("Globex has a 5 % chance to churn in the next 90 days.")
    assert reword(model, shown, "how is globex freight?", timeout=5).generated
    fake.default = Reply("Globex has a 5 % chance to churn in the next 60 days.")
    assert reword(model, shown, "how is globex freight?", timeout=5).note == say("llm.note.unsupported", n=1)


# --- start-up ---


def test_the_start_up_log_says_whether_ai_is_on_and_which_model_where_never_the_key() -> None:
    from bot.app import start_up_lines

    def lines(environ: dict[str, str]) -> list[str]:
        return start_up_lines(load_settings(env_file=None, environ={"DATABASE_URL": "sqlite:///run.db", **environ}))

    assert say("run.ai_off") in lines({})
    hosted = {**ON, "LLM_BASE_URL": "https://me:hunter2@llm.example.test/v1", "LLM_MODEL": "gpt-4o-mini"}
    on = "\n".join(lines(hosted))
    assert say("run.ai", model="gpt-4o-mini", host="llm.example.test") in on
    assert "hunter2" not in on and "me@" not in on
    keyed = "\n".join(lines({**ON, "LLM_API_KEY": "sk-secret-0123456789"}))
    assert say("run.ai", model="llama3.1", host="localhost:11434") in keyed and "sk-secret" not in keyed


def test_a_timeout_after_waiting_for_a_slot_says_the_whole_wait(
    fake: FakeOpenAI, model: Model, caplog: pytest.LogCaptureFixture
) -> None:
    """25 s queued behind other questions, then 0.5 s left: not "did not answer within 0.5 s" alone."""
    fake.default = Reply(hold=True)
    caplog.set_level(logging.INFO, logger="healthbot")
    said = reword(model, ANSWER, QUESTION, timeout=0.5, waited=25.2)
    assert said == ANSWER.noted(say("llm.note.timeout_busy", waited="25", seconds=0.5))
    assert "no answer within 0.5 s, after 25 s waiting for a free slot" in caplog.text


# --- a brief and a draft keep the bot's structure: the model rewords only the marked part ---

CALL = "• Understand how they are doing and agree the next step.\n• Ask about: logins -50 %"
BRIEF = Answer(
    text=f":memo: *Brief: Acme*\n*What changed*\n• Health score 41\n*What to say on the call*\n{CALL}",
    facts={"account": "Acme", "intent": "Understand how they are doing", "ask_about": ["logins -50 %"]},
    kind="brief",
    prose=CALL,
)
PARAGRAPH = "What I would like to look at with you:\n• how your team uses the product day to day"
DRAFT = Answer(
    text=f"*Outreach draft* for *Acme*\n*Subject:* Checking in\n```Hi,\n\n{PARAGRAPH}\n\nBest,```\nWhy now: logins",
    facts={"account": "Acme", "topics": ["how your team uses the product day to day"], "subject": "Checking in"},
    kind="draft",
    prose=PARAGRAPH,
)


def test_a_brief_keeps_its_headings_and_the_model_words_only_what_to_say_on_the_call(
    fake: FakeOpenAI, model: Model
) -> None:
    fake.default = Reply("• Ask how Acme is doing & agree the next step.\n• Ask about logins (-50 %).")
    said = reword(model, BRIEF, "Brief me", timeout=5)
    head = BRIEF.text.removesuffix(CALL)
    assert said.generated and said.text == head + "• Ask how Acme is doing &amp; agree the next step.\n" + (
        "• Ask about logins (-50 %)."
    )
    system, user = fake.requests[0].body["messages"]
    assert system["content"] == say(
        "llm.reword_part.system", part=say("llm.reword_part.brief"), limit=2 * len(CALL) + 200
    )
    assert CALL not in user["content"]  # the part's own text is not sent, only the facts


def test_a_draft_keeps_its_subject_copy_block_and_why_now_and_the_model_words_only_its_paragraph(
    fake: FakeOpenAI, model: Model
) -> None:
    fake.default = Reply("Could we look at how your team uses the product day to day? ```x```")
    said = reword(model, DRAFT, "Regenerate", timeout=5)
    assert said.generated
    shown = "Could we look at how your team uses the product day to day? '''x'''"  # a ``` would end the copy block
    assert said.text == DRAFT.text.replace(PARAGRAPH, shown)


@pytest.mark.parametrize(
    "paragraph",
    [
        "Hi team,\nCould we look at how your team uses the product day to day?",  # a greeting of its own
        "Could we look at how your team uses the product day to day?\n\nBest,\nYour customer success team",
        "Could we look at how your team uses the product day to day?\nBest regards,",
        "Acme 团队，您好：\n我们能否一起看看贵团队的日常使用情况？",  # the Chinese template's greeting
        "我们能否一起看看贵团队的日常使用情况？\n祝好，\n您的客户成功团队",
    ],
)
def test_a_draft_paragraph_bringing_its_own_greeting_or_sign_off_is_refused(
    paragraph: str, fake: FakeOpenAI, model: Model
) -> None:
    """The outside tester's case: the template already greets and signs off, so the email had both twice."""
    fake.default = Reply(paragraph)
    assert reword(model, DRAFT, "Regenerate", timeout=5) == DRAFT.noted(say("llm.note.letter"))


def test_a_draft_paragraph_naming_the_team_or_best_practices_is_kept(fake: FakeOpenAI, model: Model) -> None:
    fake.default = Reply("What would help your team:\n• best practices for how your team uses the product day to day")
    assert reword(model, DRAFT, "Regenerate", timeout=5).generated


def test_an_email_for_a_brief_s_call_points_is_refused_and_the_brief_shown_whole(
    fake: FakeOpenAI, model: Model
) -> None:
    """The outside tester's case: Brief me answered with an outreach email."""
    email = "Subject: Checking in\n\nHi Acme team,\n\n" + "Understand how they are doing. " * 12 + "\n\nBest,"
    fake.default = Reply(email)
    said = reword(model, BRIEF, "Brief me", timeout=5)
    assert said == BRIEF.noted(say("llm.note.too_long"))


def test_a_brief_or_draft_with_no_part_marked_is_not_sent() -> None:
    with FakeOpenAI() as fake:
        m = Model(fake.url, "test-model")
        for plain in (replace(BRIEF, prose=""), replace(DRAFT, prose="not in the text")):
            assert reword(m, plain, "Brief me", timeout=5) is plain
        m.close()
        assert fake.requests == []
