"""Find the customer a CSM means by `/health <name | domain | external id>`."""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from rapidfuzz import fuzz, process, utils
from sqlmodel import Session

from bot.health.typos import Typos
from storage import accounts
from storage.db import SessionFactory, unit_of_work
from storage.models import Account

log = logging.getLogger("healthbot.lookup")

PICK_LIMIT = 10  # buttons in a pick list
CLOSEST = 3  # names suggested when nothing matched
FULL_PASS = 5_000  # names up to which every one is scored for a typo (past it, `Typos` leaves out what cannot rank)
WARM_EVERY = 20.0  # seconds between a serving process's checks that its names are current (`AccountNames.keep_warm`)

_URL = re.compile(r"^(https?://(www\.)?|www\.)", re.IGNORECASE)  # "https://www.acme.com/x" -> "acme.com/x"


def _folded(text: str) -> str:
    """Lower case, punctuation to spaces, accents dropped: "Café Brûlé" and "cafe brule" compare equal."""
    if text.isascii():  # NFKD leaves ASCII as it is
        return utils.default_process(text)
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


class Names:
    """Every account's name folded for typos (by id, as the database lists them) and its name and domain as the
    substring step compares them (`accounts.name_rows`), joined so that a search is one pass in C."""

    def __init__(self, rows: list[tuple[int, str, str, str, int]]) -> None:
        self.ids = np.array([r[0] for r in rows], dtype=np.int64)
        self.folded = [_folded(r[1]) for r in rows]
        by_name = sorted(range(len(rows)), key=lambda i: rows[i][4])  # the database's ORDER BY name
        self._by_name = np.array([rows[i][0] for i in by_name], dtype=np.int64)
        # NUL between texts: a query never holds one (`find_accounts` refuses it), so no match spans two
        columns = [[rows[i][2] for i in by_name], [rows[i][3] for i in by_name]]  # name, domain
        self._texts = ["\0".join(texts) + "\0" for texts in columns]
        self._starts = [_starts(texts) for texts in columns]
        self._typos: Typos | None = None
        self._lock = threading.Lock()

    def containing(self, q: str, limit: int) -> list[int]:
        """Ids of the first `limit` accounts, in name order, whose name or domain holds `q` (lower case, no NUL)."""
        places: set[int] = set()
        for joined, starts in zip(self._texts, self._starts, strict=True):
            found, at = 0, joined.find(q)
            while at >= 0 and found < limit:
                place = int(np.searchsorted(starts, at, side="right")) - 1
                places.add(place)
                found += 1
                at = joined.find(q, int(starts[place + 1]) if place + 1 < len(starts) else len(joined))
        return [int(self._by_name[i]) for i in sorted(places)[:limit]]

    def closest(self, query: str, limit: int) -> list[tuple[float, int]]:
        """(score, id) of the `limit` best fuzzy matches, best first; ties in the database's order (by id). The scores
        and order of rapidfuzz's `process.extract` with WRatio, computed without holding the GIL (other requests go
        on) and, past a few thousand names, without scoring the names that cannot rank (`typos.Typos`)."""
        folded = _folded(query)
        if len(self.folded) <= FULL_PASS:
            scores = process.cdist([folded], self.folded, scorer=fuzz.WRatio, processor=None, dtype=np.float64)[0]
            ranked = [(float(scores[i]), int(i)) for i in np.lexsort((np.arange(len(scores)), -scores))[:limit]]
        else:
            ranked = self.typos().closest(folded, limit)
        return [(score, int(self.ids[i])) for score, i in ranked]

    def typos(self) -> Typos:
        """The typo index, made at the first typo after a change (or by `keep_warm`), once."""
        with self._lock:
            if self._typos is None:
                self._typos = Typos(self.folded)
            return self._typos


def _starts(texts: list[str]) -> np.ndarray:
    """Where each text begins in their NUL-joined form."""
    lengths = np.fromiter((len(t) + 1 for t in texts), dtype=np.int64, count=len(texts))
    return np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64) if len(texts) else lengths


class AccountNames:
    """`Names`, read once per process and again only when the accounts changed (`accounts.names_marker`: their last
    id and last write, read from indexes before each use), so a new or renamed account is found at once.

    Exact and prefix matches ask the database on their indexes; the substring and typo steps, which would read every
    account, use these names."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[Any, ...] | None = None
        self._names: Names | None = None

    def get(self, session: Session) -> Names:
        key = accounts.names_marker(session)
        with self._lock:
            if self._names is None or key != self._key:
                self._names, self._key = Names(accounts.name_rows(session)), key
            return self._names

    def warm_key(self) -> tuple[Any, ...] | None:
        """The accounts' marker the names were last read at."""
        return self._key

    def keep_warm(self, sessions: SessionFactory, every: float = WARM_EVERY) -> threading.Event:
        """Check every `every` seconds, on a daemon thread, that the names are current, and read them again (typo
        index included) when an import or a sync changed the accounts: the first lookup after a change then finds
        them ready instead of waiting for the rebuild (~4 s at 50,000 accounts). Set the returned event to stop."""
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(every):
                try:
                    with unit_of_work(sessions) as session:
                        names = self.get(session)
                    if len(names.folded) > FULL_PASS:
                        names.typos()
                except Exception as exc:  # a locked or unreachable database: the next check, or a lookup, reads them
                    log.warning("reading the account names ahead of lookups failed (%s); trying again in %.0f s",
                                exc, every)  # fmt: skip

        threading.Thread(target=loop, name="names-warm", daemon=True).start()
        return stop


def _matches(session: Session, query: str, names: Callable[[], Names]) -> list[Account]:
    """`accounts.find_accounts`, its substring step from `names`."""
    found = accounts.find_accounts(session, query, limit=PICK_LIMIT + 1, contains=False)
    q = query.strip().lower()
    if found or not q or len(query.strip()) > 255 or "\x00" in q:  # what find_accounts refuses matches nothing
        return found
    return accounts.accounts_by_ids(session, names().containing(q, PICK_LIMIT + 1))


def find_customer(session: Session, query: str, names: AccountNames, fuzzy_cutoff: float = 80) -> Lookup:
    """Exact id/domain/name, then prefix or substring, then typo-tolerant fuzzy match."""
    kept: list[Names] = []

    def names_now() -> Names:  # the names' key read once per lookup, and only by the steps that need them
        if not kept:
            kept.append(names.get(session))
        return kept[0]

    matches = _matches(session, query, names_now)
    if not matches and _URL.match(query.strip()):  # a pasted address: look its host up as a domain
        matches = _matches(session, _URL.sub("", query.strip()).split("/")[0], names_now)
    if matches:
        return Lookup(query, matches[:PICK_LIMIT], more=len(matches) > PICK_LIMIT)
    ranked = names_now().closest(query, PICK_LIMIT)
    strong = [aid for score, aid in ranked if score >= fuzzy_cutoff]
    if len(strong) == 1 or (len(strong) > 1 and ranked[0][0] - ranked[1][0] >= 8):
        return Lookup(query, accounts.accounts_by_ids(session, strong[:1]))
    if strong:
        return Lookup(query, accounts.accounts_by_ids(session, strong))
    return Lookup(query, closest=accounts.accounts_by_ids(session, [aid for _, aid in ranked[:CLOSEST]]))
