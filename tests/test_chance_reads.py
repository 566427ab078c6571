"""The chance reads App Home and `/health top by-mrr` keep per process (`chance_fit.book`) are never stale: after each
kind of write the next signed request shows it (an import changing MRR, a churn, a re-score of the day, a new fit),
and the figures are the ones computed from the rows by hand."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.scoring.chance import Band, ChanceMap
from bot.scoring.importer import import_accounts
from bot.slack.blocks import money
from storage import accounts as account_store
from storage import scores as score_store
from storage.db import session_factory, unit_of_work
from storage.models import Account, HealthScore
from storage.types import utcnow
from tests.conftest import DEMO_END, BotServer
from tests.test_chance_surfaces import FIT, ME, ack, hand_chance, open_ids, store
from tests.test_e2e_home import home_opened, published, texts


def customers(engine: Engine) -> list[tuple[Account, HealthScore]]:
    with Session(engine) as s:
        rows = s.exec(
            select(Account, HealthScore)
            .join(HealthScore, col(HealthScore.account_id) == Account.id)
            .where(HealthScore.day == DEMO_END, Account.status != "churned")
        ).all()
    return [(a, h) for a, h in rows]


def by_hand(engine: Engine, n: int) -> list[int]:
    """The ids `/health top by-mrr n` must list, ranked from the database's rows."""
    ranked = sorted(
        customers(engine),
        key=lambda r: (-hand_chance(r[1].score) * (r[0].mrr or 0.0), -hand_chance(r[1].score), r[0].name, r[0].id),
    )
    return [a.id or 0 for a, _ in ranked[:n]]


def team_loss(engine: Engine) -> str:
    return money(sum(hand_chance(h.score) * (a.mrr or 0.0) for a, h in customers(engine)))


def rescore(engine: Engine, account_id: int, score: float) -> None:
    """The day's score of one account written again as the score run writes it (`scores.save_scores`)."""
    with unit_of_work(session_factory(engine)) as s:
        row = s.exec(select(HealthScore).where(HealthScore.account_id == account_id, HealthScore.day == DEMO_END)).one()
        values = {**row.model_dump(), "score": score, "parts": row.parts.model_dump(), "computed_at": utcnow()}
        score_store.save_scores(s.connection(), [tuple(values[c] for c in score_store.SCORE_COLUMNS)])


def test_each_write_shows_in_the_next_read(seeded: Engine, bot_server: BotServer, tmp_path: Path) -> None:
    store(seeded, FIT)
    first = open_ids(ack(bot_server, "top by-mrr 5")["blocks"])
    assert first == by_hand(seeded, 5) == open_ids(ack(bot_server, "top by-mrr 5")["blocks"])  # read again: the same

    # an import: the smallest customer's MRR raised past everyone's
    small, _ = min(customers(seeded), key=lambda r: (r[0].mrr or 0.0, r[0].id))
    path = tmp_path / "raise.csv"
    path.write_text(f"external_id,name,mrr\n{small.external_id},{small.name},90000000\n", encoding="utf-8")
    import_accounts(seeded, path, quiet=True)
    assert open_ids(ack(bot_server, "top by-mrr 5")["blocks"]) == by_hand(seeded, 5)
    assert by_hand(seeded, 1) == [small.id]

    # a churn: off the list
    with unit_of_work(session_factory(seeded)) as s:
        account = s.get(Account, small.id)
        assert account is not None
        account_store.mark_churned(s, account, DEMO_END)
    assert open_ids(ack(bot_server, "top by-mrr 5")["blocks"]) == by_hand(seeded, 5) and small.id not in by_hand(
        seeded, 5
    )

    # a re-score of the day: an account of the fifth place's MRR or more drops into the 30 % band
    fifth = by_hand(seeded, 6)[5]
    rescore(seeded, fifth, 5.0)
    assert open_ids(ack(bot_server, "top by-mrr 5")["blocks"]) == by_hand(seeded, 5)

    # a new fit: its bands, at once
    store(seeded, replace(FIT, pooled=ChanceMap((Band(0, 59, 100, 50), Band(60, 100, 100, 1)))))
    body = ack(bot_server, "top by-mrr 5")
    assert "chance 50 %" in body["blocks"][1]["text"]["text"]


def test_home_sums_follow_an_import(seeded: Engine, bot_server: BotServer, tmp_path: Path) -> None:
    store(seeded, FIT)
    assert home_opened(bot_server, "EvRead1").status_code == 200
    assert f"*Expected MRR loss* in the next 90 days: {team_loss(seeded)} of " in texts(
        published(bot_server)[0]["view"]
    )
    mine = next(a for a, _ in customers(seeded) if a.owner_slack_id == ME)
    path = tmp_path / "raise.csv"
    path.write_text(f"external_id,name,mrr\n{mine.external_id},{mine.name},1234567\n", encoding="utf-8")
    import_accounts(seeded, path, quiet=True)
    assert home_opened(bot_server, "EvRead2").status_code == 200
    view = texts(published(bot_server, 2)[1]["view"])
    assert f"*Expected MRR loss* in the next 90 days: {team_loss(seeded)} of " in view
