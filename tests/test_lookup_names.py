"""The lookup's names kept per process (issue 24): read once, read again as soon as the accounts change, and the
same answers as the database's substring search and rapidfuzz's `process.extract` they stand in for."""

from __future__ import annotations

import time
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from rapidfuzz import fuzz, process
from sqlalchemy import Engine

from bot.health.lookup import PICK_LIMIT, AccountNames, _folded, find_customer
from bot.health.typos import Typos
from bot.scoring.importer import import_accounts
from storage import accounts
from storage.accounts import _after_prefix
from storage.db import session_factory, unit_of_work

NAMES = [
    ("A1", "Acme Corp", "acme.com"),
    ("A2", "Acme Analytics", "acme-analytics.io"),
    ("A3", "Café Brûlé", "cafe.fr"),
    ("A4", "Northwind Traders", "northwind.com"),
    ("A5", "50% Off_Shop", "half.shop"),
    ("A6", "Globex Software Inc", "globex.com"),
    ("A7", "Initech Software Inc", "initech.com"),
    ("A8", "Hooli Software Inc", None),
    ("A9", "Müller GmbH", "mueller.de"),
    ("A10", "ZZ Top Software", "zz.io"),
] + [(f"S{i}", f"Software House {i:02d}", f"house{i}.com") for i in range(14)]


def write(tmp_path: Path, name: str, rows: list[tuple[str, str, str | None]]) -> Path:
    path = tmp_path / name
    path.write_text("external_id,name,domain\n" + "".join(f"{e},{n},{d or ''}\n" for e, n, d in rows))
    return path


@pytest.fixture
def portfolio(engine: Engine, tmp_path: Path) -> Engine:
    import_accounts(engine, write(tmp_path, "accounts.csv", NAMES), quiet=True)
    return engine


def lookup(engine: Engine, query: str, names: AccountNames) -> list[str]:
    with unit_of_work(session_factory(engine)) as s:
        found = find_customer(s, query, names)
        return [a.name for a in found.matches or found.closest]


def test_a_renamed_account_is_found_by_its_new_name_at_once(portfolio: Engine, tmp_path: Path) -> None:
    names = AccountNames()  # one per process, as the handlers keep it
    assert lookup(portfolio, "Nortwhind Traders", names) == ["Northwind Traders"]  # a typo: the kept names
    renamed = [(e, "Southwind Logistics" if e == "A4" else n, d) for e, n, d in NAMES]
    import_accounts(portfolio, write(tmp_path, "renamed.csv", renamed), quiet=True)
    assert lookup(portfolio, "Southwnid Logistics", names) == ["Southwind Logistics"]  # a typo of the new name
    assert lookup(portfolio, "wind logis", names) == ["Southwind Logistics"]  # a substring of it


def test_names_are_read_once_until_an_account_is_added(portfolio: Engine, tmp_path: Path) -> None:
    names = AccountNames()
    with mock.patch.object(accounts, "name_rows", wraps=accounts.name_rows) as read:
        assert lookup(portfolio, "Hoolli Software", names) == ["Hooli Software Inc"]
        assert lookup(portfolio, "analytic", names) == ["Acme Analytics"]
        assert read.call_count == 1
        import_accounts(portfolio, write(tmp_path, "new.csv", [("N1", "Nakatomi Trading", None)]), quiet=True)
        assert lookup(portfolio, "Nakatomi Tradnig", names) == ["Nakatomi Trading"]
        assert read.call_count == 2


@pytest.mark.parametrize(
    "query",
    ["software", "soft", "corp", ".com", "acme", "é", "brûl", "50%", "off_", "_", "%", "ware inc", "house1", "müller",
     "zz", "o", "qqqq", "mueller.d"],
)  # fmt: skip
def test_the_substring_step_matches_the_database(portfolio: Engine, query: str) -> None:
    names = AccountNames()
    with unit_of_work(session_factory(portfolio)) as s:
        by_database = accounts.find_accounts(s, query, limit=PICK_LIMIT + 1)
        found = find_customer(s, query, names)
        ours = found.matches + ([by_database[-1]] if found.more else [])
        if by_database or found.matches:
            assert [a.id for a in ours] == [a.id for a in by_database]


def test_the_typo_step_ranks_as_rapidfuzz_extract(portfolio: Engine) -> None:
    with unit_of_work(session_factory(portfolio)) as s:
        kept = AccountNames().get(s)
        every = {aid: _folded(name) for aid, name in sorted(accounts.all_account_names(s))}
    for query in ("Sofware Huose 0", "Acme Crop", "Inc", "zzzz qqqq", "Globex Sotfware", "Cafe Brule"):
        expected = process.extract(_folded(query), every, scorer=fuzz.WRatio, processor=None, limit=PICK_LIMIT)
        assert kept.closest(query, PICK_LIMIT) == [(score, aid) for _, score, aid in expected]


def test_a_prefix_range_holds_every_name_that_starts_with_it() -> None:
    assert _after_prefix("acme") == "acmf"
    assert _after_prefix("a\ud7ff") == "a\ue000"  # no surrogate: UTF-8 goes on at U+E000
    assert _after_prefix("a\U0010ffff") is None
    for name in ("acme", "acme corp", "acme\U0010ffff"):
        assert "acme" <= name < "acmf"
        assert name.encode() < b"acmf"  # SQLite compares the bytes


def test_typos_rank_as_a_full_pass_of_wratio_without_scoring_every_name() -> None:
    """Past FULL_PASS names, `Typos` scores only the names whose ceiling can reach the best ten: the same ten, in the
    same order, as `process.extract` over every name, for typos, starts, reversed words, noise and other scripts."""
    rng = np.random.default_rng(3)
    words = ["acme", "globex", "initech", "hooli", "software", "cloud", "labs", "inc", "gmbh", "müller", "阿里巴巴",
             "north", "wind", "nova", "x", "ab", "data", "systems", "health", "capital"]  # fmt: skip
    names = [" ".join(rng.choice(words, size=int(rng.integers(1, 6)))) for _ in range(6_000)] + ["", "inc", "a b"]
    folded = [_folded(n) for n in names]
    typos = Typos(folded)
    every = dict(enumerate(folded))
    scored = []
    with mock.patch.object(Typos, "_score", autospec=True, side_effect=Typos._score) as score:
        for k in range(60):
            name = folded[int(rng.integers(len(folded)))] or "acme"
            i = int(rng.integers(0, max(1, len(name) - 1)))
            query = [name[:i] + name[i + 1 : i + 2] + name[i : i + 1] + name[i + 2 :], name[: i + 1],
                     " ".join(name.split()[::-1]), "qqzx", "阿里", "inc inc", ""][k % 7]  # fmt: skip
            expected = process.extract(query, every, scorer=fuzz.WRatio, processor=None, limit=PICK_LIMIT)
            before = score.call_count
            assert typos.closest(query, PICK_LIMIT) == [(s, i) for _, s, i in expected], query
            scored.append(sum(len(c.args[2]) for c in score.call_args_list[before:]))
    assert np.median(scored) < len(folded) / 2  # most names were never scored


@pytest.mark.parametrize("query", ["acme", "Acme A", "soft", "software house 1", "müller", "caf", "50%", "z", "é"])
def test_the_prefix_step_finds_every_name_that_starts_with_the_query(portfolio: Engine, query: str) -> None:
    """On SQLite the prefix step reads a range of the name index beside its LIKE: the same names as LIKE alone."""
    q = query.lower()
    starting = sorted(n for _, n, _ in NAMES if n.lower().startswith(q) and n.lower() != q)
    with unit_of_work(session_factory(portfolio)) as s:
        exact = [a.name for a in accounts.find_accounts(s, query, contains=False) if a.name_lower == q]
        found = [a.name for a in accounts.find_accounts(s, query, limit=50, contains=False)]
    assert found == (exact or starting)


def test_kept_warm_names_are_read_again_after_a_change_before_any_lookup(portfolio: Engine, tmp_path: Path) -> None:
    """A serving process re-reads changed names in the background, so the first lookup after an import does not pay
    the rebuild (seconds at 50,000 accounts), and builds the typo index past `FULL_PASS` names as well."""
    names = AccountNames()
    stop = names.keep_warm(session_factory(portfolio), every=0.05)
    try:
        import_accounts(portfolio, write(tmp_path, "new.csv", [("N1", "Nakatomi Trading", None)]), quiet=True)
        with mock.patch.object(accounts, "name_rows", wraps=accounts.name_rows) as read:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and names.warm_key() != accounts_marker(portfolio):
                time.sleep(0.02)
            calls = read.call_count
            assert lookup(portfolio, "Nakatomi Tradnig", names) == ["Nakatomi Trading"]
            assert read.call_count == calls  # the lookup found them read already
    finally:
        stop.set()


def test_warming_survives_a_failing_read(portfolio: Engine, caplog: pytest.LogCaptureFixture) -> None:
    names = AccountNames()
    with mock.patch.object(accounts, "name_rows", side_effect=RuntimeError("database is locked")):
        stop = names.keep_warm(session_factory(portfolio), every=0.02)
        time.sleep(0.2)
    try:
        assert "names" in caplog.text  # said, once per failure, and the thread goes on
        assert lookup(portfolio, "Acme Corp", names) == ["Acme Corp"]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and names.warm_key() != accounts_marker(portfolio):
            time.sleep(0.02)
        assert names.warm_key() == accounts_marker(portfolio)
    finally:
        stop.set()


def accounts_marker(engine: Engine) -> object:
    with unit_of_work(session_factory(engine)) as s:
        return accounts.names_marker(s)
