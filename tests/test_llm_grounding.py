"""No made-up figures (issue 22): every number, date, amount and name in a model's reply must be in the facts it
was given, whatever form it writes them in; and what may leave the building is LLM_FIELDS' to say."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from bot.llm.fields import WITHHELD, WITHHELD_VALUE, sendable
from bot.llm.grounding import unsupported

FACTS = {
    "account": {"name": "Acme Corp", "owner": "Jane Doe", "segment": "Enterprise", "mrr": 12345.5},
    "score": {"now": 41, "was": 63, "since": "2026-11-07", "tier": "High risk"},
    "chance": 0.523,
    "renewal": "2027-01-15",
    "tasks": [{"title": "Call the sponsor", "due": "2026-12-10"}, {"title": "Book a QBR", "due": "2026-12-14"}],
    "period": "2026-Q3",
    "drivers": ["Logins fell 38 %"],
}


@pytest.mark.parametrize(
    "reply",
    [
        "Acme Corp scores 41, down from 63 on 2026-11-07.",
        "Acme Corp's MRR is $12,346 (about $12.3k), 12345.5 exactly; 12,345.50 too.",
        "The chance to churn is 52 % (52.3%, 52 percent).",
        "Jane Doe owns it: 2 open tasks, the first due Dec 10 and the second on 14 December 2026.",
        "It renews on January 15, 2027 (2027-01-15), after 2026-Q3.",
        "*High risk*: logins fell 38 % since November 7.\n1. Call the sponsor\n2. Book a QBR with the CSM",
        "It is Enterprise, and the MRR is at risk. Logins fell.",
        "Two tasks are open; it renews in Q1 2027 (2027-Q1), reviewed in 2026-Q3.",
    ],
)
def test_a_reply_that_states_only_the_facts_in_any_form_is_grounded(reply: str) -> None:
    assert unsupported(reply, FACTS, "how is acme?") == []


@pytest.mark.parametrize(
    "reply, made_up",
    [
        ("Acme Corp scores 42.", ["42"]),  # not a rounding of any fact
        ("The MRR is $13,000.", ["$13,000"]),
        ("The chance is 60 %.", ["60 %"]),
        ("It fell 22 points.", ["22"]),  # 63 - 41, computed: not in the facts
        ("It renews on 2027-02-15.", ["2027-02-15"]),
        ("Call them on Dec 11.", ["Dec 11"]),
        ("They have 3 open tasks.", ["3"]),
        ("Ask Bob Smith about it.", ["Bob Smith"]),
        ("The owner is Jane Doe, not Jane Roe.", ["Jane Roe"]),
        ("Acme Corp is healthier than Globex.", ["Globex"]),
        ("Globex's renewal is close.", ["Globex's"]),  # possessive: a name even opening the sentence
        ("Acme Corp's chance is 0.83.", ["0.83"]),
        ("It renews in Q2 2027.", ["Q2 2027"]),
        ("It has three open tasks.", ["three"]),
    ],
)
def test_a_figure_date_or_name_the_facts_do_not_hold_is_reported(reply: str, made_up: list[str]) -> None:
    assert unsupported(reply, FACTS, "how is acme?") == made_up


@pytest.mark.parametrize(
    "reply, made_up",
    [
        # a date's parts are not figures (2026-11-07 gives neither 11 nor 2,026), and a slash date is a date
        ("It has 11 open tickets.", ["11"]),
        ("The MRR is $2,026.", ["$2,026"]),
        ("It renews on 07/11/2027.", ["07/11/2027"]),
        ("It renews on 15/01/2027 (01/15/2027), down since 11/07/2026 and 7/11/26.", []),
        ("It has been falling in 2026 and renews in 2027.", []),  # a given date's year, as a year
        ("This quarter it has been falling; last month too.", []),
        # a made-up name opening a sentence, a bullet or a bold mark
        ("Globex is at risk.", ["Globex"]),
        ("• Globex: 41", ["Globex"]),
        ("*Globex* is at 41.", ["Globex"]),
        ("_Globex_ is at 41.", ["Globex"]),
        ("Acme Corp. Globex is next.", ["Globex"]),
        ("Logins fell. Enterprise is the segment. Sponsor calls are due.", []),  # given or common words
        # a month of a year, number words past twelve, billions, a weekday next to a date
        ("It renews in March 2027.", ["March 2027"]),
        ("It renews in January 2027, down since November 2026.", []),
        ("It has sixty open tasks and forty-two tickets.", ["sixty", "forty-two"]),
        ("It scores forty-one, down from sixty-three.", []),
        ("The MRR is 41 billion, $41bn or $41B.", ["41 billion", "$41bn", "$41B"]),
        ("Call them on Tuesday, Dec 10.", ["Tuesday, Dec 10"]),
        ("Call them on Thursday, Dec 10 or on Monday 14 December 2026.", []),
        ("It renews on 2027-01-15 (Monday), the sponsor call is Dec 14 (Monday).", ["2027-01-15 (Monday)"]),
        # too strict before: contractions, a run across a full stop, Title Case labels
        ("It's at 41. Here's why: it was 63. I'd call Jane Doe. Health is Red.", []),
        ("Acme Corp. The score is 41.", []),
        ("*Health Score*: 41\n*At Risk*: yes\n*Next Steps*: call the sponsor\n*Renewal Date*: 2027-01-15", []),
    ],
)
def test_what_review_found_dates_names_and_number_forms(reply: str, made_up: list[str]) -> None:
    assert unsupported(reply, FACTS, "how is acme?") == made_up


def test_the_time_of_an_iso_date_in_the_facts_gives_no_figures() -> None:
    facts = {"last_login": "2026-11-07T10:30:00Z"}
    assert unsupported("The last login was on 2026-11-07, at 10:30.", facts) == ["10", "30"]
    assert unsupported("The last login was on November 7, 2026.", facts) == []


def test_a_fall_is_the_negative_figure_written_without_its_sign() -> None:
    assert unsupported("Logins fell 22 % (-22 %).", {"logins_change": -22}) == []
    assert unsupported("Logins fell 22 %.", {"drivers": ["Logins -22 %"]}) == []


def test_the_question_counts_as_given() -> None:
    assert unsupported("Accounts renewing in the next 30 days: none.", {"accounts": []}, "renewing in 30 days?") == []
    assert unsupported("Renewing in the next 30 days: none.", {"accounts": []}, "renewing soon?") == ["30"]


def test_a_rounding_must_stay_close_to_the_fact() -> None:
    assert unsupported("About 42.", {"x": 41.73}) == []
    assert unsupported("About 1.", {"x": 0.83}) == ["1"]  # 0.83 -> 1 would turn a chance into a certainty


def test_the_default_fields_leave_contact_names_emails_and_exit_words_at_home() -> None:
    facts = {
        "account": {"name": "Acme", "contact_name": "Ann Lee", "contact_email": "ann@acme.test"},
        "note": "wrote to ann@acme.test on Monday",
        "exit_words": "too expensive for us",
        "score": 41,
    }
    sent = sendable(facts, None)
    assert sent == {"account": {"name": "Acme"}, "note": f"wrote to {WITHHELD} on Monday", "score": 41}
    assert sendable(facts, ["*"]) == sent
    named = sendable(facts, ["*", "contact_name", "contact_email"])
    assert named["account"] == facts["account"] and named["note"] == facts["note"]


def test_exit_words_leave_only_when_named_and_only_for_a_reader() -> None:
    facts = {"reason": "price", "exit_words": "too expensive for us"}
    assert "exit_words" not in sendable(facts, ["*"], reader=True)  # not named
    assert "exit_words" not in sendable(facts, ["*", "exit_words"], reader=False)  # named, not a reader
    assert sendable(facts, ["*", "exit_words"], reader=True) == facts


def test_a_list_of_fields_sends_those_fields_only() -> None:
    assert sendable(FACTS, ["score", "chance"]) == {"score": FACTS["score"], "chance": 0.523}


def test_a_withheld_value_is_scrubbed_wherever_it_shows_and_contacts_are_contacts_by_any_key() -> None:
    facts = {
        "account": {"name": "Acme", "contact_name": "Ann Lee", "contact_email": "ann@acme.test"},
        "tasks": [{"title": "Call ann lee re renewal"}],
        "owners": {"bob@acme.test": 3},
        "contacts": [{"name": "Carl Diaz", "email": "carl at acme dot test", "role": "sponsor"}],
        "exit": {"exit_words": "too pricey", "reason": "Customer said: too pricey"},
        "note": "Carl Diaz asked for a call; Annual plan",
    }
    assert sendable(facts, ["*"]) == {
        "account": {"name": "Acme"},
        "tasks": [{"title": f"Call {WITHHELD_VALUE} re renewal"}],
        "owners": {WITHHELD: 3},
        "contacts": [{"role": "sponsor"}],
        "exit": {"reason": f"Customer said: {WITHHELD_VALUE}"},
        "note": f"{WITHHELD_VALUE} asked for a call; Annual plan",
    }
    assert sendable(facts, ["*", "contact_name", "contact_email", "exit_words"], reader=True) == facts


@dataclass
class Contact:
    contact_name: str


def test_facts_that_are_not_json_are_refused_not_turned_into_text() -> None:
    with pytest.raises(TypeError, match=r"facts\['champion'\] is a Contact"):
        sendable({"score": 41, "champion": Contact("Dana Fox")}, ["*"])


def test_a_count_spelled_out_in_what_was_given_may_be_said_either_way() -> None:
    given = "We had three tickets open and forty-two users."
    assert unsupported("They had three open tickets and 42 users.", {}, given) == []
    assert unsupported("They had 3 open tickets.", {}, given) == []
    assert unsupported("They had four open tickets.", {}, given) == ["four"]


@pytest.mark.parametrize(
    "reply, made_up",
    [
        ("续约日为 2027年1月15日（星期五）。", []),
        ("续约日为 2027年1月15日（星期一）。", ["2027年1月15日（星期一）"]),
        ("续约日为 2027-01-15 周一，请提前联系。", ["2027-01-15 周一"]),
        ("请在周四（12月10日）或星期一 2026年12月14日致电。", []),
        ("请在周二（12月10日）致电。", ["周二（12月10日"]),
        ("请在星期日 12月14日致电。", ["星期日 12月14日"]),
        ("请在12月14日礼拜天致电。", ["12月14日礼拜天"]),
        ("续约日 2027年1月15日周五，2027年1月15日周六。", ["2027年1月15日周六"]),
    ],
)
def test_a_chinese_weekday_next_to_a_date_must_be_that_dates(reply: str, made_up: list[str]) -> None:
    """星期一..星期日 / 周一..周日 (礼拜一..礼拜天) beside a date are checked as Monday..Sunday are (issue 23)."""
    assert unsupported(reply, FACTS, "acme 怎么样？") == made_up
