"""/health end to end: signed requests to the real HTTP endpoint, answers checked as Slack sees them."""

from __future__ import annotations

import json
import time
from datetime import date, timedelta

from slack_sdk.models.blocks import Block
from sqlmodel import Session, select

from bot.health.command import SUBCOMMANDS, usage
from bot.slack.blocks import tier_emoji
from storage import scores as score_store
from storage.models import Account, HealthScore
from tests.conftest import BotServer, sign


def _validate(blocks: list[dict]) -> None:
    assert len(blocks) <= 50
    for b in blocks:
        Block.parse(b).validate_json()


def test_health_lookup_answers_card_in_ack(seeded, bot_server: BotServer) -> None:
    with Session(seeded) as s:
        account = s.exec(select(Account).where(Account.status == "active").order_by(Account.id)).first()
    resp = bot_server.command(account.name)
    assert resp.status_code == 200
    body = resp.json()
    assert body["response_type"] == "ephemeral"
    _validate(body["blocks"])
    assert account.name in body["blocks"][0]["text"]["text"]
    assert "/ 100" in body["blocks"][0]["text"]["text"]


def test_unknown_customer_gets_helpful_ephemeral(seeded, bot_server: BotServer) -> None:
    resp = bot_server.command("zzqqxx-no-such")
    assert resp.status_code == 200
    body = resp.json()
    assert body["response_type"] == "ephemeral"
    assert "zzqqxx-no-such" in body["text"]


def test_bad_signature_and_stale_timestamp_get_401(engine, bot_server: BotServer) -> None:
    body = b"command=%2Fhealth&text=acme"
    headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body, secret="wrong")}
    assert bot_server.http.post("/slack/events", content=body, headers=headers).status_code == 401
    stale = {"Content-Type": "application/x-www-form-urlencoded", **sign(body, timestamp=int(time.time()) - 301)}
    assert bot_server.http.post("/slack/events", content=body, headers=stale).status_code == 401
    garbled = {**headers, **sign(body), "X-Slack-Request-Timestamp": "yesterday"}
    assert bot_server.http.post("/slack/events", content=body, headers=garbled).status_code == 401


def test_healthz(engine, bot_server: BotServer) -> None:
    resp = bot_server.http.get("/healthz")
    assert resp.status_code == 200 and resp.json()["database"] == "up"


# --- the /health family end to end ------------------------------------------------------------------------

ME = "U01CSM0001"


def _ack(bot_server: BotServer, text: str, user_id: str = ME) -> dict:
    resp = bot_server.command(text, user_id=user_id)
    assert resp.status_code == 200
    body = resp.json()
    assert body["response_type"] == "ephemeral"
    _validate(body.get("blocks") or [])
    return body


def _buttons(blocks: list[dict], action_id: str) -> list[dict]:
    """Every button with `action_id`, as accessory or in an actions block."""
    elements = [b["accessory"] for b in blocks if "accessory" in b]
    elements += [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
    return [e for e in elements if e.get("action_id") == action_id]


def _ids(blocks: list[dict], action_id: str) -> list[int]:
    return [json.loads(b["value"])["account_id"] for b in _buttons(blocks, action_id)]


def _add_account(engine, name: str, **fields) -> Account:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        account = Account(external_id=f"X-{name}", name=name, name_lower=name.lower(), **fields)
        s.add(account)
        s.commit()
        s.refresh(account)
        return account


def test_card_has_sparkline_share_and_chart(seeded, bot_server: BotServer) -> None:
    with Session(seeded) as s:
        account = s.exec(select(Account).where(Account.status == "active").order_by(Account.id)).first()
    blocks = _ack(bot_server, account.external_id)["blocks"]
    text = "\n".join(b["text"]["text"] for b in blocks if "text" in b)
    assert "*Trend*" in text and any(ch in text for ch in "▁▂▃▄▅▆▇█") and "_35 days:" in text
    assert "*Score by group*" in text and "*What pulls the score down*" in text
    assert _ids(blocks, "health.share") == _ids(blocks, "health.chart") == [account.id]
    asked = [c.method for c in bot_server.fake.calls if c.method not in ("auth.test", "users.info")]  # users.info:
    assert asked == []  # all of it came in the ack (the user's language was asked before it)


def test_prefix_gives_a_pick_list_and_a_pick_replaces_it_with_the_card(seeded, bot_server: BotServer) -> None:
    with Session(seeded) as s:
        names = [a.name for a in s.exec(select(Account)).all()]
    prefix = next(w for w in (n.split()[0] for n in names) if sum(n.startswith(w + " ") for n in names) > 1)
    body = _ack(bot_server, prefix.lower())
    assert body["text"].endswith(f"match *{prefix.lower()}*: pick one.")
    picks = _buttons(body["blocks"], "health.pick")
    assert len(picks) > 1 and all(p["text"]["text"].startswith(prefix) for p in picks)

    bot_server.action("health.pick", picks[1]["value"])
    reply = bot_server.fake.wait_for("response_url")[0].params
    assert reply["replace_original"] is True and reply["response_type"] == "ephemeral"
    _validate(reply["blocks"])
    assert f"*{picks[1]['text']['text']}*" in reply["blocks"][0]["text"]["text"]


def test_typo_finds_the_one_close_account(seeded, bot_server: BotServer) -> None:
    account = _add_account(seeded, "Zyxwave Holdings", owner_slack_id=ME)
    body = _ack(bot_server, "zyxwaev holdngs")
    assert body["blocks"][0]["text"]["text"] == ":white_circle: *Zyxwave Holdings*  ·  no score yet"
    assert _ids(body["blocks"], "health.share") == [account.id] and _buttons(body["blocks"], "health.chart") == []


def test_no_match_names_the_closest_with_buttons(seeded, bot_server: BotServer) -> None:
    body = _ack(bot_server, "qqqq zzzz")
    assert body["text"] == "No customer matches *qqqq zzzz*."
    assert body["blocks"][0]["text"]["text"] == "No customer matches *qqqq zzzz*. Closest names:"
    assert len(_buttons(body["blocks"], "health.pick")) == 3


def test_unknown_sub_command_and_bad_arguments_get_help(seeded, bot_server: BotServer) -> None:
    assert "Did you mean `/health help`?" in _ack(bot_server, "hepl")["text"]
    assert _ack(bot_server, "top 500")["text"].startswith("N must be a whole number from 1 to 100.")
    assert "is not a tier" in _ack(bot_server, "top 5 purple")["text"]
    assert "takes no arguments" in _ack(bot_server, "me twice")["text"]


def test_help_is_every_row_of_the_parsers_table(engine, bot_server: BotServer) -> None:
    text = _ack(bot_server, "help")["text"]
    for sub in SUBCOMMANDS:
        assert usage(sub) in text


def test_me_and_bare_health_list_my_accounts_riskiest_first(seeded, bot_server: BotServer) -> None:
    bare, me = _ack(bot_server, ""), _ack(bot_server, "me")
    assert bare["blocks"] == me["blocks"] and me["text"].startswith("*Your portfolio*:")
    ids = _ids(me["blocks"], "health.open")
    with Session(seeded) as s:
        day = s.exec(select(HealthScore.day).order_by(HealthScore.day.desc())).first()  # type: ignore[union-attr]
        mine = s.exec(
            select(Account.id, HealthScore.score)
            .join(HealthScore, (HealthScore.account_id == Account.id) & (HealthScore.day == day))
            .where(Account.owner_slack_id == ME, Account.status != "churned")
        ).all()
    scores = dict(mine)
    assert ids and set(ids) <= set(scores)
    assert [scores[i] for i in ids] == sorted(scores[i] for i in ids)
    assert _ack(bot_server, "me", user_id="U0NOBODY")["text"].startswith("You own no customers")


def test_top_pages_with_more_and_previous(seeded, bot_server: BotServer) -> None:
    body = _ack(bot_server, "top 25")
    assert body["text"].startswith("*The team's 25 riskiest accounts*  ·  these 25: *$")
    assert "\n*MRR at risk* (Medium risk or High risk): $" in body["text"]
    first = _ids(body["blocks"], "health.open")
    assert len(first) == 10 and body["blocks"][-2]["elements"][0]["text"] == "1–10 of 25"

    bot_server.action("health.list.next", _buttons(body["blocks"], "health.list.next")[0]["value"])
    second = bot_server.fake.wait_for("response_url")[0].params
    assert second["replace_original"] is True
    _validate(second["blocks"])
    assert second["blocks"][-2]["elements"][0]["text"] == "11–20 of 25"
    assert not set(_ids(second["blocks"], "health.open")) & set(first)

    bot_server.action("health.list.next", _buttons(second["blocks"], "health.list.next")[0]["value"])
    third = bot_server.fake.wait_for("response_url", 2)[1].params
    assert len(_ids(third["blocks"], "health.open")) == 5 and _buttons(third["blocks"], "health.list.next") == []

    bot_server.action("health.list.prev", _buttons(third["blocks"], "health.list.prev")[0]["value"])
    back = bot_server.fake.wait_for("response_url", 3)[2].params
    assert back["blocks"] == second["blocks"]


def test_top_by_tier_lists_only_that_tier(seeded, bot_server: BotServer) -> None:
    with Session(seeded) as s:
        worst = s.exec(
            select(HealthScore)
            .join(Account, Account.id == HealthScore.account_id)  # type: ignore[arg-type]
            .order_by(HealthScore.day.desc(), HealthScore.score, Account.name, Account.id)  # type: ignore[union-attr, arg-type]
        ).first()  # ties (e.g. two capped scores) listed by name, as the list does
    label = worst.tier.replace("_", " ")
    body = _ack(bot_server, f"top 3 {label}")
    assert f"riskiest accounts in {label.capitalize()}*" in body["text"]
    rows = [b["text"]["text"] for b in body["blocks"] if b.get("accessory", {}).get("action_id") == "health.open"]
    assert 1 <= len(rows) <= 3 and all(r.startswith(tier_emoji(worst.tier)) for r in rows)
    assert _ids(body["blocks"], "health.open")[0] == worst.account_id


def test_open_from_a_list_adds_the_card_below(seeded, bot_server: BotServer) -> None:
    body = _ack(bot_server, "top 3")
    bot_server.action("health.open", _buttons(body["blocks"], "health.open")[0]["value"])
    reply = bot_server.fake.wait_for("response_url")[0].params
    assert reply["replace_original"] is False and "/ 100" in reply["blocks"][0]["text"]["text"]


def test_share_posts_the_card_visibly_then_removes_the_private_copy(seeded, bot_server: BotServer) -> None:
    with Session(seeded) as s:
        account = s.exec(select(Account).where(Account.status == "active").order_by(Account.id)).first()
    bot_server.action("health.share", json.dumps({"account_id": account.id}), user_id="U01CSM0002")
    shared, deleted = (c.params for c in bot_server.fake.wait_for("response_url", 2))
    assert shared["response_type"] == "in_channel" and shared["replace_original"] is False
    _validate(shared["blocks"])
    assert f"*{account.name}*" in shared["blocks"][0]["text"]["text"]
    assert "Shared by <@U01CSM0002>" in shared["blocks"][-2]["elements"][0]["text"]
    assert _buttons(shared["blocks"], "health.share") == [] and _ids(shared["blocks"], "health.chart") == [account.id]
    assert deleted["delete_original"] is True


def _first_scored(engine) -> Account:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        return s.exec(select(Account).join(HealthScore).order_by(Account.id)).first()


def test_chart_is_rendered_after_the_ack_and_uploaded_into_the_clickers_dm(seeded, bot_server: BotServer) -> None:
    account = _first_scored(seeded)
    resp = bot_server.action("health.chart", json.dumps({"account_id": account.id}))
    assert resp.status_code == 200 and resp.content == b""  # acked before any rendering
    done = bot_server.fake.wait_for("files.completeUploadExternal", timeout=30)[0]
    bot_server.fake.wait_for("response_url", timeout=30)  # the private note pointing to the DM
    methods = [c.method for c in bot_server.fake.calls if c.method not in ("auth.test", "users.info")]
    assert methods == [
        "conversations.open", "files.getUploadURLExternal", "upload", "files.completeUploadExternal", "response_url"
    ]  # fmt: skip
    assert bot_server.fake.calls_to("upload")[0].body[:8] == b"\x89PNG\r\n\x1a\n"
    assert done.params["channel_id"] == f"D{ME}"  # the clicker's DM with the app, private like every answer
    assert done.params["files"][0]["title"] == f"{account.name}: health over the last 90 days"
    get_url = bot_server.fake.calls_to("files.getUploadURLExternal")[0].params
    assert get_url["filename"].endswith("-health.png")


def test_chart_rate_limited_step_is_retried(seeded, bot_server: BotServer) -> None:
    bot_server.fake.fail_next("files.getUploadURLExternal", status=429, retry_after=0)
    bot_server.action("health.chart", json.dumps({"account_id": _first_scored(seeded).id}))
    bot_server.fake.wait_for("files.completeUploadExternal", timeout=30)
    assert [c.failed_status for c in bot_server.fake.calls_to("files.getUploadURLExternal")] == [429, None]
    (note,) = bot_server.fake.wait_for("response_url", timeout=30)  # no failure note: only the one pointing to the DM
    assert note.params["text"].endswith("is in your DM with healthbot.")


def test_chart_upload_failure_is_told_to_the_user(seeded, bot_server: BotServer) -> None:
    account = _first_scored(seeded)
    bot_server.fake.fail_next("upload", status=500)
    bot_server.action("health.chart", json.dumps({"account_id": account.id}))
    told = bot_server.fake.wait_for("response_url", timeout=30)[0].params
    assert told["response_type"] == "ephemeral" and told["replace_original"] is False
    assert told["text"].startswith(f":warning: I could not upload the chart of *{account.name}*")
    assert bot_server.fake.calls_to("files.completeUploadExternal") == []


def test_override_is_shown_next_to_the_computed_score(seeded, bot_server: BotServer) -> None:
    account = _first_scored(seeded)
    with Session(seeded) as s:
        score_store.set_override(s, account.id, tier="low_risk", reason="Exec sponsor re-engaged", set_by="U0LEAD",
                             expires_on=date.today() + timedelta(days=30))  # fmt: skip
        s.commit()
    title = _ack(bot_server, account.external_id)["blocks"][0]["text"]["text"]
    score_line, chance_line, tier_line, override_line = title.split("\n")
    assert "/ 100" in score_line
    assert chance_line.endswith("appears after the first daily score run (`healthbot score`).")  # no fit stored
    assert tier_line.startswith("Tier: :large_yellow_circle: *Low risk* (set by <@U0LEAD>)  ·  scored ")
    assert override_line.startswith(":pushpin: Override by <@U0LEAD>: :large_yellow_circle: *Low risk* until ")
    assert override_line.endswith("_Exec sponsor re-engaged_")


def test_churned_account_shows_its_churn_date(seeded, bot_server: BotServer) -> None:
    with Session(seeded) as s:
        churned = s.exec(select(Account).where(Account.churned_on.is_not(None))).first()  # type: ignore[union-attr]
    blocks = _ack(bot_server, churned.external_id)["blocks"]
    day = churned.churned_on.isoformat()
    assert f":black_circle: Churned on {day}" in blocks[0]["text"]["text"]
    facts = next(b["fields"] for b in blocks if "fields" in b)
    assert {"type": "mrkdwn", "text": f"*Churned on*\n{day}"} in facts


def test_ping_reads_the_database(tmp_path) -> None:
    """/healthz is only "up" for a database that holds healthbot's schema, not any file SQLite can create."""
    from storage.db import make_engine, ping, upgrade

    engine = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    assert not ping(engine)
    upgrade(engine)
    assert ping(engine)
    engine.dispose()


def test_a_slow_answer_is_acked_in_time_and_follows_on_the_response_url(
    seeded, bot_server: BotServer, monkeypatch
) -> None:
    """When the database is slow the ack does not wait for it: Slack's 3 s hold whatever the answer takes."""
    from bot.health import service as portfolio
    from handlers import health as commands

    real_answer = portfolio.answer

    def slow_answer(*args, **kwargs):  # type: ignore[no-untyped-def]
        time.sleep(0.5)
        return real_answer(*args, **kwargs)

    monkeypatch.setattr(commands, "ANSWER_IN_ACK_SECONDS", 0.05)
    monkeypatch.setattr(portfolio, "answer", slow_answer)
    name = _first_scored(seeded).name
    resp = bot_server.command(name)
    assert resp.status_code == 200 and "Looking that up" in resp.json()["text"]
    follow = bot_server.fake.wait_for("response_url", timeout=30)[0].params
    assert follow["response_type"] == "ephemeral" and name in follow["blocks"][0]["text"]["text"]
    _validate(follow["blocks"])
