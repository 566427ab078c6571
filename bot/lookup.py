"""Find the customer a CSM means by `/health <name | domain | external id>`."""

from __future__ import annotations

from dataclasses import dataclass, field

from rapidfuzz import fuzz, process, utils
from sqlmodel import Session

from storage import queries
from storage.models import Account


@dataclass
class Lookup:
    query: str
    matches: list[Account] = field(default_factory=list)
    closest: list[str] = field(default_factory=list)  # names to suggest when nothing matched

    @property
    def found(self) -> Account | None:
        return self.matches[0] if len(self.matches) == 1 else None


def find_customer(session: Session, query: str, fuzzy_cutoff: float = 80) -> Lookup:
    """Exact id/domain/name, then prefix or substring, then typo-tolerant fuzzy match."""
    matches = queries.find_accounts(session, query)
    if matches:
        return Lookup(query, matches)
    names = queries.all_account_names(session)
    ranked = process.extract(
        query, {aid: name for aid, name in names}, scorer=fuzz.WRatio, processor=utils.default_process, limit=5
    )
    strong = [aid for _, score, aid in ranked if score >= fuzzy_cutoff]
    if len(strong) == 1 or (strong and ranked[0][1] - ranked[1][1] >= 8):
        account = session.get(Account, strong[0])
        return Lookup(query, [account] if account else [])
    return Lookup(query, [], closest=[name for name, _, _ in ranked[:3]])
