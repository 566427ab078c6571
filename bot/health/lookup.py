"""Find the customer a CSM means by `/health <name | domain | external id>`."""

from __future__ import annotations

import re
import threading
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field

from rapidfuzz import fuzz, process, utils
from sqlmodel import Session

from storage import accounts
from storage.models import Account

PICK_LIMIT = 10  # buttons in a pick list
CLOSEST = 3  # names suggested when nothing matched

_URL = re.compile(r"^(https?://(www\.)?|www\.)", re.IGNORECASE)  # "https://www.acme.com/x" -> "acme.com/x"


def _folded(text: str) -> str:
    """Lower case, punctuation to spaces, accents dropped: "Café Brûlé" and "cafe brule" compare equal."""
    return utils.default_process(
        "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))
    )


@dataclass
class Lookup:
    query: str
    matches: list[Account] = field(default_factory=list)
    more: bool = False  # more accounts match than `matches` holds
    closest: list[Account] = field(default_factory=list)  # suggestions when nothing matched

    @property
    def found(self) -> Account | None:
        return self.matches[0] if len(self.matches) == 1 else None


class AccountNames:
    """Every account's name, prepared for fuzzy matching and kept for `ttl` seconds.

    Only the typo step reads it: exact, prefix and substring matches always ask the database,
    so an account imported a moment ago is found by those at once, and by typos within `ttl`.
    """

    def __init__(self, ttl: float = 60, clock: Callable[[], float] = time.monotonic):
        self._ttl, self._clock = ttl, clock
        self._lock = threading.Lock()
        self._names: dict[int, str] = {}
        self._loaded: float | None = None

    def get(self, session: Session) -> dict[int, str]:
        with self._lock:
            # An empty list is not kept: the first import must not wait out the ttl to be found.
            if not self._names or self._loaded is None or self._clock() - self._loaded > self._ttl:
                self._names = {aid: _folded(name) for aid, name in accounts.all_account_names(session)}
                self._loaded = self._clock()
            return self._names


def find_customer(session: Session, query: str, names: AccountNames, fuzzy_cutoff: float = 80) -> Lookup:
    """Exact id/domain/name, then prefix or substring (in the database), then typo-tolerant fuzzy match."""
    matches = accounts.find_accounts(session, query, limit=PICK_LIMIT + 1)
    if not matches and _URL.match(query.strip()):  # a pasted address: look its host up as a domain
        matches = accounts.find_accounts(session, _URL.sub("", query.strip()).split("/")[0], limit=PICK_LIMIT + 1)
    if matches:
        return Lookup(query, matches[:PICK_LIMIT], more=len(matches) > PICK_LIMIT)
    ranked = process.extract(_folded(query), names.get(session), scorer=fuzz.WRatio, processor=None, limit=PICK_LIMIT)
    strong = [aid for _, score, aid in ranked if score >= fuzzy_cutoff]
    if len(strong) == 1 or (len(strong) > 1 and ranked[0][1] - ranked[1][1] >= 8):
        return Lookup(query, accounts.accounts_by_ids(session, strong[:1]))
    if strong:
        return Lookup(query, accounts.accounts_by_ids(session, strong))
    return Lookup(query, closest=accounts.accounts_by_ids(session, [aid for _, _, aid in ranked[:CLOSEST]]))
