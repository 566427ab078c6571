"""Numbers as /health shows them: list titles count one in the singular ("top 1"), a change that rounds to nothing
reads "±0", never "-0" or "+0", on the card and in lists, and a card viewed the day after scoring counts the renewal
once. End to end where Slack is involved: signed requests to the real HTTP endpoint, answers read off the fake Slack."""

from __future__ import annotations

import math
import re
from datetime import date, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.health import messages
from bot.scoring.explain import reason_text
from bot.scoring.run import score_range
from bot.scoring.scorecard import load_scorecard
from bot.settings import Settings
from bot.slack.blocks import money, signed
from storage.models import Account, HealthScore
from storage.scores import TierTotal
from tests.conftest import DEMO_END, BotServer
from tests.fake_slack import FakeSlack

TIERS = load_scorecard().tiers


def _texts(blocks: list[dict]) -> str:
    out = []
    for b in blocks:
        if "text" in b:
            out.append(b["text"]["text"])
        out += [f["text"] for f in b.get("fields", [])] + [e.get("text", "") for e in b.get("elements", [])]
    return "\n".join(t for t in out if isinstance(t, str))


# --- singular and plural in list titles -----------------------------------------------------------------------


def test_top_1_names_the_riskiest_account_in_the_singular(seeded: Engine, bot_server: BotServer) -> None:
    one = bot_server.command("top 1").json()
    assert one["text"].startswith("*The team's riskiest account*  ·  *$"), one["text"]
    two = bot_server.command("top 2").json()
    assert two["text"].startswith("*The team's 2 riskiest accounts*  ·  these 2: *$")


def test_list_titles_count_one_in_the_singular() -> None:
    day = date(2026, 6, 30)
    page = messages.Page([], number=0, size=10, has_more=False)
    mine = messages.portfolio_list(day, {"healthy": TierTotal(1, 500.0)}, page, TIERS)
    assert mine[0]["text"]["text"].startswith("*Your portfolio*: 1 customer  ·  $500 MRR")
    totals = {"high_risk": TierTotal(1, 900.0)}
    one = messages.ListPage(kind="top", limit=5, tier="high_risk")
    top = messages.riskiest_list(day, totals, page, one, TIERS, 900.0)
    assert top[0]["text"]["text"].startswith("*The team's riskiest account in High risk*  ·  *$900* MRR")
    assert top[0]["text"]["text"].endswith("*MRR at risk* (Medium risk or High risk): $900 in 1 account")


# --- a change that rounds to nothing is "±0", never "-0" or "+0" ----------------------------------------------


def test_signed_numbers_never_read_minus_or_plus_zero() -> None:
    assert [signed(x) for x in (-0.4, -0.5, 0.0, -0.0, 0.3, 0.5)] == ["±0"] * 6
    assert [signed(x) for x in (-0.6, 0.6, -12.5, 7.0, None)] == ["-1", "+1", "-12", "+7", "–"]
    assert signed(-0.2, " pts") == "±0 pts"
    assert [money(x) for x in (-0.3, 0.4, 1234.5, -1234.0, None)] == ["$0", "$0", "$1,234", "-$1,234", "–"]
    renewal = next(m for _, m in load_scorecard().cards["default"].measures() if m.transform == "renewal")
    assert reason_text(renewal, {"change": -0.004, "days_to_renewal": 5.0}) == "renewal in 5 days with logins ±0 %"


def test_card_and_list_show_a_change_that_rounds_to_zero_as_plus_minus_zero(
    seeded: Engine, bot_server: BotServer
) -> None:
    with Session(seeded) as s:  # the riskiest account of the last day: first in `/health top`
        score = s.exec(select(HealthScore).where(HealthScore.day == DEMO_END).order_by(col(HealthScore.score))).first()
        assert score is not None
        account = s.get(Account, score.account_id)
        assert account is not None
        name, external_id = account.name, account.external_id
        # a change reads as the difference of the scores as they read: x.5 after x.2 and before x.9 is ±0
        whole = math.floor(score.score)
        score.score = whole + 0.5 if score.score - whole >= 0.5 or whole == 0 else whole - 0.5
        score.delta_7, score.delta_30 = 0.3, -0.4
        s.add(score)
        s.commit()
    card = bot_server.command(external_id).json()
    assert "*Trend*  7 days *±0*  ·  30 days *±0*" in card["blocks"][1]["text"]["text"]
    assert card["text"].endswith("7-day change ±0")
    listed = bot_server.command("top 1").json()
    row = listed["blocks"][1]["text"]["text"]
    assert f"*{name}*" in row
    assert "(±0 in 7 days)" in row
    assert not re.findall(r"(?<!\d)[+-]0(?!\d)", _texts(card["blocks"]) + _texts(listed["blocks"]))


# --- the renewal counted one way on a card ---------------------------------------------------------------------


def test_a_card_viewed_the_day_after_scoring_counts_the_renewal_once(
    seeded: Engine, settings: Settings, fake_slack: FakeSlack
) -> None:
    with Session(seeded) as s:  # every renewal 22 days after the last score day, so the renewal measure counts
        for account in s.exec(select(Account)).all():
            account.renewal_date = DEMO_END + timedelta(days=22)
            s.add(account)
        s.commit()
    score_range(seeded, load_scorecard(), DEMO_END, DEMO_END)
    with Session(seeded) as s:
        scores = s.exec(select(HealthScore).where(HealthScore.day == DEMO_END).order_by(col(HealthScore.account_id)))
        renewing = next(sc for sc in scores if any(d.measure == "renewal_engagement" for d in sc.parts.drivers))
        account = s.get(Account, renewing.account_id)
    assert account is not None
    server = BotServer(settings, seeded, fake_slack, today=DEMO_END + timedelta(days=1)).start()
    try:
        text = _texts(server.command(account.external_id).json()["blocks"])
    finally:
        server.stop()
    in_driver = re.findall(r"renewal in (\d+) days?", text)
    in_header = re.findall(r"\((\d+) days? left\)", text)
    assert in_driver and in_header and set(in_driver) == set(in_header), text
