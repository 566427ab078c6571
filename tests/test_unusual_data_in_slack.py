"""/health and the Home tab with data the demo never has: mrkdwn characters, long names, many matches,
accents, pasted addresses, an empty database, and a response_url that answers 429 or 500."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View
from sqlalchemy import insert
from sqlmodel import Session, select

from bot.health.chart import ChartData, render_chart
from bot.scoring.scorecard import load_scorecard
from bot.slack import blocks as b
from storage import scores
from storage.models import Account, HealthScore
from storage.types import ScoreParts
from tests.conftest import BotServer
from tests.test_e2e_home import home_opened, published

ME = "U01CSM0001"
DAY = date(2026, 6, 30)
TIERS = ("healthy", "low_risk", "medium_risk", "high_risk")
EVIL = "<!channel> & <b>Bold</b> Co"
EVIL_SHOWN = "&lt;!channel&gt; &amp; &lt;b&gt;Bold&lt;/b&gt; Co"


def add_accounts(engine, names: list[str], owner: str | None = ME, scored: bool = True, **fields) -> list[int]:  # type: ignore[no-untyped-def]
    """Accounts named `names`, each scored on DAY (score and tier spread over the tiers) unless `scored` is off."""
    with Session(engine) as s:
        start = len(s.exec(select(Account.id)).all())
        rows = [
            dict(external_id=f"E-{start + i}", name=n, name_lower=n.lower(), owner_slack_id=owner, status="active",
                 mrr=1000.0, **fields)
            for i, n in enumerate(names)
        ]  # fmt: skip
        s.execute(insert(Account), rows)
        s.commit()
        ids = [s.exec(select(Account.id).where(Account.external_id == r["external_id"])).one() for r in rows]
        if scored:
            s.execute(insert(HealthScore), [
                dict(account_id=aid, day=DAY, score=float(10 + k % 80), tier=TIERS[3 - min(3, (10 + k % 80) // 25)],
                     scorecard="default", partial=False, delta_7=float(k % 7 - 3), parts=ScoreParts())
                for k, aid in enumerate(ids)
            ])  # fmt: skip
            s.commit()
        return ids


def ack(server: BotServer, text: str, user_id: str = ME) -> dict:
    resp = server.command(text, user_id=user_id)
    assert resp.status_code == 200
    body = resp.json()
    assert body["response_type"] == "ephemeral"
    blocks = body.get("blocks") or []
    assert len(blocks) <= b.MESSAGE_BLOCK_LIMIT
    for block in blocks:
        Block.parse(block).validate_json()
    return body


def buttons(blocks: list[dict], action_id: str) -> list[dict]:
    elements = [x["accessory"] for x in blocks if "accessory" in x]
    elements += [e for x in blocks if x["type"] == "actions" for e in x["elements"]]
    return [e for e in elements if e.get("action_id") == action_id]


def section_texts(blocks: list[dict]) -> list[str]:
    return [x["text"]["text"] for x in blocks if x["type"] == "section" and "text" in x]


@pytest.fixture
def server(engine, settings, fake_slack):  # type: ignore[no-untyped-def]
    """The bot over HTTP with `today` pinned to the scores' day."""
    bot = BotServer(settings, engine, fake_slack, today=DAY).start()
    yield bot
    bot.stop()


# --- mrkdwn: a customer's name is data, never markup ---------------------------------------------------------


def test_names_with_mrkdwn_characters_are_escaped_in_card_list_and_shared_copy(engine, server: BotServer) -> None:
    add_accounts(engine, [EVIL, "<!here> & Sons"])
    card = ack(server, "bold co")
    assert card["blocks"][0]["text"]["text"].startswith(f":red_circle: *{EVIL_SHOWN}*")
    assert "<!channel>" not in json.dumps(card)  # neither in the blocks nor in the notification text

    picks = ack(server, "<!")  # both names contain it: a pick list echoing the query
    assert "&lt;!" in picks["text"] and not any("<!" in t for t in section_texts(picks["blocks"]))
    assert {x["text"]["text"] for x in buttons(picks["blocks"], "health.pick")} == {EVIL, "<!here> & Sons"}  # plain
    assert f"*{EVIL_SHOWN}*  ·  " in "\n".join(section_texts(picks["blocks"]))
    for listing in (ack(server, "me"), ack(server, "top")):
        assert any(f"*{EVIL_SHOWN}*" in t for t in section_texts(listing["blocks"]))
        assert "<!channel>" not in json.dumps(listing) and "<!here>" not in json.dumps(listing)

    server.action("health.share", buttons(card["blocks"], "health.share")[0]["value"])
    shared = server.fake.wait_for("response_url")[0].params
    assert shared["response_type"] == "in_channel" and "<!channel>" not in json.dumps(shared)


def test_a_query_with_markup_is_echoed_as_text(engine, server: BotServer) -> None:
    add_accounts(engine, ["Plain Co"])
    body = ack(server, "&lt;!here&gt; zzqqxx")  # Slack sends a typed "<" as "&lt;" ("<!here>" is a typed @here)
    assert body["text"] == "No customer matches *&lt;!here&gt; zzqqxx*."
    assert "<!here>" not in json.dumps(body)
    assert "*&lt;b&gt;* is not a tier" in ack(server, "top 3 &lt;b&gt;")["text"]


def test_home_escapes_names(engine, server: BotServer) -> None:
    add_accounts(engine, [EVIL])
    home_opened(server, "EvEsc")
    view = published(server)[0]["view"]
    assert EVIL_SHOWN in json.dumps(view, ensure_ascii=False) and "<!channel>" not in json.dumps(view)


def test_home_of_600_long_escaped_names_splits_sections_and_cuts_no_row(engine, server: BotServer) -> None:
    names = [("&<>" * 90)[:250] + f"{i:03d}" for i in range(600)]
    add_accounts(engine, names)
    home_opened(server, "EvBig")
    view = published(server)[0]["view"]
    View(**view).validate_json()
    assert len(view["blocks"]) <= b.VIEW_BLOCK_LIMIT
    text = "\n".join(section_texts(view["blocks"]))
    assert all(len(t) <= b.SECTION_TEXT_LIMIT and not t.endswith("…") for t in section_texts(view["blocks"]))
    with Session(engine) as s:
        for tier in TIERS:
            shown = scores.account_rows(s, DAY, owner=ME, tier=tier, limit=8)
            assert shown and all(f"*{b.esc(r.name)}*" in text for r in shown)
    assert len([x for x in view["blocks"] if x["type"] == "actions"]) == 4  # a More button per tier


def test_a_query_matching_200_accounts_says_there_are_more(engine, server: BotServer) -> None:
    add_accounts(engine, [f"Globex Unit {i:03d}" for i in range(200)])
    body = ack(server, "globex")
    assert body["text"].startswith("More than 10 customers match *globex*")
    assert body["blocks"][0]["text"]["text"] == body["text"]
    assert len(buttons(body["blocks"], "health.pick")) == 10


def test_context_and_sections_respect_their_limits() -> None:
    assert len(b.context("x" * 2500)["elements"][0]["text"]) == b.CONTEXT_TEXT_LIMIT
    lines = [f"{i:04d} " + "y" * 995 for i in range(7)]  # 1,000 chars each: two to a section
    packed = b.sections(lines)
    assert [len(x["text"]["text"].split("\n")) for x in packed] == [2, 2, 2, 1]
    assert "\n".join(x["text"]["text"] for x in packed) == "\n".join(lines)


# --- finding the customer a CSM means -------------------------------------------------------------------------


def test_a_typo_right_after_the_first_import_is_found(engine, server: BotServer) -> None:
    assert ack(server, "initech")["text"] == "No customer matches *initech*."  # empty database
    add_accounts(engine, ["Initech Software"])
    title, chance_line = ack(server, "inittech softwre")["blocks"][0]["text"]["text"].split("\n")
    assert title.endswith("*Initech Software*  ·  *10* / 100  ·  High risk")
    assert chance_line.endswith("appears after the first daily score run (`healthbot score`).")  # none fitted yet


def test_accents_are_optional_in_a_lookup(engine, server: BotServer) -> None:
    add_accounts(engine, ["Café Brûlé Holdings", "Other Co"])
    assert "*Café Brûlé Holdings*" in ack(server, "cafe brule")["blocks"][0]["text"]["text"]


def test_a_pasted_address_finds_the_domain(engine, server: BotServer) -> None:
    add_accounts(engine, ["ACME Corp, Inc."], domain="acme.com")
    for text in ("https://www.acme.com/pricing", "http://acme.com", "www.acme.com"):
        assert "*ACME Corp, Inc.*" in ack(server, text)["blocks"][0]["text"]["text"], text


# --- response_url and the chart ------------------------------------------------------------------------------


def test_a_response_url_answering_429_then_500_still_gets_the_card(engine, server: BotServer) -> None:
    (aid,) = add_accounts(engine, ["Retry Co"])
    server.fake.fail_next("response_url", status=429, retry_after=0)
    server.fake.fail_next("response_url", status=500)
    server.action("health.pick", json.dumps({"account_id": aid}))
    calls = server.fake.wait_for("response_url", 3, timeout=15)
    assert [c.failed_status for c in calls] == [429, 500, None]
    assert "*Retry Co*" in calls[2].params["blocks"][0]["text"]["text"]


def test_a_share_that_slack_refuses_keeps_the_private_copy(engine, server: BotServer) -> None:
    (aid,) = add_accounts(engine, ["Keep Co"])
    server.fake.fail_next("response_url", status=500, times=20)  # Slack stays down: every retry fails
    server.action("health.share", json.dumps({"account_id": aid}))
    server.fake.wait_for("response_url", 6, timeout=30)  # the in-channel post (3 tries), then the error notice (3)
    assert not any(c.params.get("delete_original") for c in server.fake.calls_to("response_url"))


def test_chart_draws_names_with_dollar_signs_literally() -> None:
    start = DAY - timedelta(days=29)
    series = [(start + timedelta(days=i), 50.0 + i % 5) for i in range(30)]
    data = ChartData(r"Cash $\frac{x}$ Co " + "L" * 200, 90, series, {"Logins $ per $ seat": series})
    assert render_chart(data, load_scorecard().tiers)[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data.filename) <= 100 and data.filename.endswith("-health.png")


def test_home_refresh_goes_on_past_an_owner_slack_cannot_be_reached_for(engine, fake_slack) -> None:  # type: ignore[no-untyped-def]
    import socket

    from slack_sdk import WebClient

    from jobs import home as home_job

    add_accounts(engine, ["One Co"], owner="U0AAA")
    add_accounts(engine, ["Two Co"], owner="U0BBB")
    with socket.socket() as s:  # a port nobody listens on: the connection is refused
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/api/"
    down = WebClient(token="xoxb-test", base_url=dead)
    down.retry_handlers = []
    assert home_job.run(engine, down, load_scorecard(), DAY) == 0  # both tried, neither raised
    assert home_job.run(engine, WebClient(token="xoxb-test", base_url=fake_slack.url), load_scorecard(), DAY) == 2
