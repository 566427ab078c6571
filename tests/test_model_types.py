"""The models' typed columns: every stored time comes back aware UTC on both databases, whatever zone it was
written in; statuses compare equal to the strings stored; firings read back typed and write back the same JSON."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

from sqlalchemy import Engine
from sqlmodel import Session, select

from storage.models import Account, Alert, SlackEvent, firings_of
from storage.types import AlertStatus, FiringEntry, firings_json

PARIS_SUMMER = timezone(timedelta(hours=2))


def test_a_stored_time_reads_back_aware_utc(engine: Engine) -> None:
    written = datetime(2026, 7, 1, 11, 30, tzinfo=PARIS_SUMMER)
    with Session(engine) as session:
        session.add(SlackEvent(event_id="ev-utc", received_at=written))
        session.commit()
    with Session(engine) as session:
        got = session.exec(select(SlackEvent).where(SlackEvent.event_id == "ev-utc")).one()
    assert got.received_at == written and got.received_at.tzinfo == UTC
    assert got.received_at == datetime(2026, 7, 1, 9, 30, tzinfo=UTC)


def test_a_naive_time_is_taken_as_utc(engine: Engine) -> None:
    with Session(engine) as session:
        session.add(SlackEvent(event_id="ev-naive", received_at=datetime(2026, 7, 1, 9, 30)))
        session.commit()
    with Session(engine) as session:
        got = session.exec(select(SlackEvent).where(SlackEvent.event_id == "ev-naive")).one()
    assert got.received_at == datetime(2026, 7, 1, 9, 30, tzinfo=UTC)


def test_statuses_and_firings_keep_their_stored_form(engine: Engine) -> None:
    stored = {"dropped": {"words": "tier dropped", "since": "2026-06-30"}}
    with Session(engine) as session:
        account = Account(external_id="acme", name="Acme", name_lower="acme")
        session.add(account)
        session.flush()
        session.add(
            Alert(
                account_id=account.id or 0,
                severity="high_risk",
                opened_on=date(2026, 6, 30),
                last_fired_on=date(2026, 6, 30),
                due_at=datetime(2026, 7, 1, tzinfo=UTC),
                channel="C1",
                firings=stored,
            )
        )
        session.commit()
    with Session(engine) as session:
        alert = session.exec(select(Alert).where(Alert.status == AlertStatus.OPEN)).one()
    assert alert.status == "open" and type(alert.status) is str
    assert firings_of(alert) == {"dropped": FiringEntry(words="tier dropped", since="2026-06-30")}
    assert firings_json(firings_of(alert)) == stored
