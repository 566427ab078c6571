"""Exit interviews: one per account, edits keep the earlier versions. Nothing here commits."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import CursorResult, update
from sqlmodel import Session, col, select

from storage.models import ExitInterview, ExitInterviewRevision
from storage.types import utcnow

EDITABLE = (
    "churned",
    "reason",
    "avoidable",
    "competitor",
    "churn_date",
    "mrr_lost",
    "interviewer",
    "answers",
    "note",
)


def of_account(session: Session, account_id: int) -> ExitInterview | None:
    interview = session.exec(select(ExitInterview).where(ExitInterview.account_id == account_id)).first()
    if interview is not None:
        session.refresh(interview)
    return interview


def create(session: Session, interview: ExitInterview) -> ExitInterview | None:
    """Insert the account's first interview; None when one exists already (someone saved it meanwhile)."""
    if of_account(session, interview.account_id) is not None:
        return None
    session.add(interview)
    session.flush()
    return interview


def edit(session: Session, interview_id: int, *, version: int, by: str, values: dict[str, Any]) -> bool:
    """Change an interview seen at `version`, keeping what it was as a revision; False when it changed meanwhile."""
    current = session.get(ExitInterview, interview_id)
    if current is None:
        return False
    session.refresh(current)
    before = {k: _plain(getattr(current, k)) for k in EDITABLE}
    changes = {k: v for k, v in values.items() if k in EDITABLE}
    stmt = (
        update(ExitInterview)
        .where(col(ExitInterview.id) == interview_id, col(ExitInterview.version) == version)
        .values(**changes, version=version + 1, updated_at=utcnow())
    )
    result = session.execute(stmt)
    assert isinstance(result, CursorResult)
    if result.rowcount != 1:
        return False
    session.add(ExitInterviewRevision(interview_id=interview_id, version=version, edited_by=by, values=before))
    return True


def revisions(session: Session, interview_id: int) -> list[ExitInterviewRevision]:
    return list(
        session.exec(
            select(ExitInterviewRevision)
            .where(ExitInterviewRevision.interview_id == interview_id)
            .order_by(col(ExitInterviewRevision.id))
        ).all()
    )


def between(session: Session, start: date, end: date) -> list[ExitInterview]:
    """Interviews of customers who churned from `start` to `end` (by churn date, else by when recorded)."""
    rows = session.exec(select(ExitInterview)).all()
    out = []
    for row in rows:
        day = row.churn_date or row.created_at.date()
        if start <= day <= end:
            out.append(row)
    return out


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value
