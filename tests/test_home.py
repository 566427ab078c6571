"""The App Home builder on small fixed inputs: whole-view snapshot, slack_sdk View validation, limits; event dedupe."""

from __future__ import annotations

from datetime import date

from slack_sdk.models.views import View
from sqlmodel import select

from bot.health.messages import Page
from bot.home.messages import HomeData, home_view
from bot.home.values import HomePages
from bot.scoring.scorecard import load_scorecard
from storage.db import session_factory, unit_of_work
from storage.scores import AccountRow, TierTotal

TIERS = load_scorecard().tiers
TODAY = date(2026, 6, 30)
DELTA = AccountRow(1, "Delta Pharma", "U01CSM0001", 49854.0, date(2026, 9, 1), 27.2, "high_risk", -2.0)
QUARRY = AccountRow(2, "Quarry Analytics", "U01CSM0003", 861.0, None, 48.0, "medium_risk", -31.0)
GLACIER = AccountRow(3, "Glacier Solar", "U01CSM0002", 2590.0, date(2027, 1, 1), 95.0, "healthy", 14.0)
TEAM = {
    "high_risk": TierTotal(3, 60000.0),
    "medium_risk": TierTotal(5, 9000.0),
    "healthy": TierTotal(20, 50000.0),
    None: TierTotal(1, 0.0),
}


def header(text: str) -> dict:
    return {"type": "header", "text": {"type": "plain_text", "text": text, "emoji": True}}


def mrkdwn(text: str) -> dict:
    return {"type": "mrkdwn", "text": text}


def button(text: str, action_id: str, value: str) -> dict:
    return {"type": "button", "text": {"type": "plain_text", "text": text, "emoji": True}, "action_id": action_id,
            "value": value}  # fmt: skip


def valid(view: dict) -> dict:
    parsed = View(**view)
    parsed.validate_json()
    assert parsed.type == "home" and len(view["blocks"]) <= 100
    return view


def test_home_snapshot_my_tiers_paged_team_totals_movement_and_movers() -> None:
    data = HomeData(
        "U01CSM0001", TODAY, HomePages(pages={"high_risk": 1}),
        mine={"high_risk": TierTotal(3, 60000.0), None: TierTotal(1, 0.0)},
        my_pages={"high_risk": Page([DELTA], number=1, size=1, has_more=True)},
        team=TEAM,
        moves=[("medium_risk", "high_risk", 2, 5000.0), ("healthy", "low_risk", 1, 100.0),
               ("medium_risk", "healthy", 1, 2590.0)],
        drops=[QUARRY], gains=[GLACIER],
    )  # fmt: skip
    assert valid(home_view(data, TIERS)) == {
        "type": "home",
        "blocks": [
            header("Customer health"),
            {"type": "context", "elements": [mrkdwn("Scores of 2026-06-30  ·  `/health help` lists the commands")]},
            header("My accounts"),
            {
                "type": "section",
                "text": mrkdwn("*MRR at risk* (Medium risk or High risk), yours: $60,000 in 3 accounts"),
            },
            {
                "type": "section",
                "text": mrkdwn(
                    ":red_circle: *High risk*  ·  3 accounts  ·  $60,000 MRR\n:red_circle: *Delta Pharma*  *27* "
                    "(-2 in 7 days)  ·  $49,854 MRR  ·  renewal 2026-09-01 (63 days left)"
                ),
            },
            {"type": "context", "elements": [mrkdwn("2–2 of 3")]},
            {
                "type": "actions",
                "elements": [
                    button("Previous", "home.page.prev", '{"pages":{"high_risk":0}}'),
                    button("More", "home.page.next", '{"pages":{"high_risk":2}}'),
                ],
            },
            {
                "type": "context",
                "elements": [
                    mrkdwn(":white_circle: 1 of your customers has no score yet: they need a few more days of metrics.")
                ],
            },
            {"type": "divider"},
            header("Team"),
            {
                "type": "section",
                "fields": [
                    mrkdwn(":red_circle: *High risk*\n3 accounts  ·  $60,000 MRR"),
                    mrkdwn(":large_orange_circle: *Medium risk*\n5 accounts  ·  $9,000 MRR"),
                    mrkdwn(":large_green_circle: *Healthy*\n20 accounts  ·  $50,000 MRR"),
                    mrkdwn(":white_circle: *No score yet*\n1 account  ·  $0 MRR"),
                ],
            },
            {"type": "section", "text": mrkdwn("*MRR at risk* (Medium risk or High risk): $69,000 in 8 accounts")},
            {
                "type": "section",
                "text": mrkdwn(
                    "*This week*: 3 accounts moved to a worse tier ($5,100 MRR), 1 to a better one ($2,590 MRR)."
                ),
            },
            {"type": "divider"},
            header("Moved most this week"),
            {
                "type": "section",
                "text": mrkdwn(
                    "*Biggest drops*\n:large_orange_circle: *Quarry Analytics*  *48* (-31 in 7 days)  ·  $861 MRR  ·  "
                    "renewal –  ·  <@U01CSM0003>"
                ),
            },
            {
                "type": "section",
                "text": mrkdwn(
                    "*Biggest gains*\n:large_green_circle: *Glacier Solar*  *95* (+14 in 7 days)  ·  $2,590 MRR  ·  "
                    "renewal 2027-01-01 (185 days left)  ·  <@U01CSM0002>"
                ),
            },
        ],
    }


def test_home_without_my_accounts_or_any_scores() -> None:
    lead = HomeData("U0LEAD", TODAY, HomePages(), {}, {}, TEAM, [], [], [])
    blocks = valid(home_view(lead, TIERS))["blocks"]
    assert blocks[3] == {"type": "section", "text": mrkdwn(
        "You own no customers (owners come from `owner_slack_id` in the accounts file).")}  # fmt: skip
    assert blocks[-2]["text"]["text"] == "*Biggest drops*\n_None._"
    empty = HomeData("U0LEAD", None, HomePages(), {}, {}, {}, [], [], [])
    assert valid(home_view(empty, TIERS))["blocks"][1]["text"]["text"].startswith("There are no health scores")


def test_a_full_page_of_every_tier_stays_inside_the_limits() -> None:
    """Long names and full pages in every tier: rows split over sections of at most 3,000 chars, under 100 blocks."""
    row = AccountRow(9, "N" * 255, "U01CSM0001", 1e9, TODAY, 10.0, "high_risk", -50.0)
    mine = {t: TierTotal(5000, 1e9) for t in TIERS.order}
    pages = {t: Page([row] * 20, number=3, size=20, has_more=True) for t in TIERS.order}
    data = HomeData("U1", TODAY, HomePages(), mine, pages, mine, [], [row] * 5, [row] * 5)
    view = valid(home_view(data, TIERS))
    assert all(len(b.get("text", {}).get("text", "")) <= 3000 for b in view["blocks"])
    assert sum(b["type"] == "actions" for b in view["blocks"]) == len(TIERS.order)


def test_event_claims_drop_retries_across_sessions_and_release_lets_one_through(engine) -> None:
    from datetime import timedelta

    from storage import events

    sessions = session_factory(engine)

    def once(fn, *args, **kwargs):  # each call its own unit of work, as each request is
        with unit_of_work(sessions) as session:
            return fn(session, *args, **kwargs)

    assert once(events.claim_event, "Ev1") is True
    assert once(events.claim_event, "Ev1") is False  # a retry, or another replica
    once(events.release_event, "Ev1")
    assert once(events.claim_event, "Ev1") is True
    assert once(events.prune_events, older_than=timedelta(0)) == 1
    assert once(events.claim_event, "Ev1") is True


def test_storage_functions_leave_the_commit_to_the_unit_of_work(engine) -> None:
    """A click's writes succeed or fail together: nothing a storage function wrote survives a failure after it."""
    from datetime import date

    from storage import events, scores
    from storage.models import Account

    sessions = session_factory(engine)
    with unit_of_work(sessions) as session:
        session.add(Account(external_id="A1", name="Acme", name_lower="acme"))
    with unit_of_work(sessions) as session:
        account_id = session.exec(select(Account)).one().id
    try:
        with unit_of_work(sessions) as session:
            events.claim_event(session, "Ev9")
            scores.set_override(session, account_id, tier="low_risk", reason="r", set_by="U1", expires_on=date.max)
            raise RuntimeError("the Slack call after the writes failed")
    except RuntimeError:
        pass
    with unit_of_work(sessions) as session:
        assert scores.active_override(session, account_id, date.today()) is None
        assert events.claim_event(session, "Ev9") is True  # the failed request's claim was rolled back too
