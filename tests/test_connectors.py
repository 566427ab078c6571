"""`healthbot sync`: real httpx clients against local HTTP servers that paginate, rate-limit, fail mid-way
and recover; the shipped HubSpot and Zendesk mappings against fakes of their documented responses; a sync
SIGKILLed half-way resumes without gaps or duplicates."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import Engine, text

from bot.cli import main
from bot.connectors.sources import SourcesError, load_sources
from bot.connectors.sync import sync_sources
from storage import sync as store

ROOT = Path(__file__).parent.parent
TOKEN = "hs-secret-token-5f2b9c"  # must never show in output or logs
DROP = "drop"  # a handler answer: close the connection without a response


class Req:
    def __init__(self, path: str, query: dict[str, str], headers: dict[str, str]):
        self.path, self.query, self.headers, self.at = path, query, headers, time.monotonic()


Answer = tuple[int, dict[str, str], Any] | str


class FakeAPI:
    """A local HTTP API: `answer(req)` gives (status, headers, JSON body) or DROP; every request is recorded."""

    def __init__(self, answer: Callable[[Req], Answer]):
        self.answer = answer
        self.requests: list[Req] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                parsed = urlparse(self.path)
                req = Req(parsed.path, {k: v[-1] for k, v in parse_qs(parsed.query).items()}, dict(self.headers))
                api.requests.append(req)
                out = api.answer(req)
                if isinstance(out, str):  # DROP
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                status, headers, body = out
                data = json.dumps(body).encode()
                self.send_response(status)
                for k, v in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def api() -> Iterator[Callable[[Callable[[Req], Answer]], FakeAPI]]:
    made: list[FakeAPI] = []

    def make(answer: Callable[[Req], Answer]) -> FakeAPI:
        made.append(FakeAPI(answer))
        return made[-1]

    yield make
    for fake in made:
        fake.close()


def write(path: Path, body: str) -> Path:
    path.write_text(body, encoding="utf-8")
    return path


def add_accounts(engine: Engine, ids: list[str]) -> None:
    now = datetime.now(UTC).isoformat()
    with engine.begin() as conn:
        for ext in ids:
            conn.execute(
                text(
                    "INSERT INTO account (external_id, name, name_lower, status, created_at, updated_at) "
                    "VALUES (:e, :n, :l, 'active', :t, :t)"
                ),
                {"e": ext, "n": f"Org {ext}", "l": f"org {ext}", "t": now},
            )


def observations(engine: Engine, metric: str) -> dict[tuple[str, str], float]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT a.external_id, o.day, o.value FROM metric_observation o JOIN account a ON a.id = o.account_id "
                "WHERE o.metric = :m"
            ),
            {"m": metric},
        ).all()
    return {(ext, str(day)[:10]): value for ext, day, value in rows}


# --- HubSpot CRM companies (accounts, `after` cursor) -------------------------------------------------------

COMPANIES: list[dict[str, Any]] = [
    {
        "id": str(1000 + i),
        "properties": {
            "name": f"Company {i}",
            "domain": f"company{i}.example",
            "hubspot_owner_id": "31265431" if i % 2 else "99",
            "mrr": str(100 + i),
            "renewal_date": "2027-03-31T00:00:00Z" if i % 3 else None,
            "numberofemployees": "42",
            "industry": "COMPUTER_SOFTWARE",
            "hs_object_id": str(1000 + i),
        },
        "createdAt": "2024-01-02T10:00:00.000Z",
        "updatedAt": "2026-11-01T10:00:00.000Z",
        "archived": False,
    }
    for i in range(250)
]
COMPANIES[7]["properties"]["name"] = None  # no name: skipped, reported
COMPANIES[8]["properties"]["mrr"] = "lots"  # not a number: skipped, reported


def hubspot_answer(flaky: dict[str, int]) -> Callable[[Req], Answer]:
    """GET /crm/v3/objects/companies as documented: `results`, `paging.next.after` (absent on the last page).
    Flaky: the second page is rate-limited once (Retry-After: 1), the third answers 503 once, then drops once."""

    def answer(req: Req) -> Answer:
        if req.headers.get("Authorization") != f"Bearer {TOKEN}":
            return 401, {}, {"status": "error", "message": "Authentication credentials not found."}
        start = int(req.query.get("after", "0"))
        if start == 100 and flaky.get("429", 0) < 1:
            flaky["429"] = 1
            return 429, {"Retry-After": "1"}, {"status": "error", "category": "RATE_LIMITS"}
        if start == 200 and flaky.get("503", 0) < 1:
            flaky["503"] = 1
            return 503, {}, {"status": "error"}
        if start == 200 and flaky.get("drop", 0) < 1:
            flaky["drop"] = 1
            return DROP
        limit = int(req.query["limit"])
        page = COMPANIES[start : start + limit]
        body: dict[str, Any] = {"results": page}
        if start + limit < len(COMPANIES):
            body["paging"] = {"next": {"after": str(start + limit), "link": f"?after={start + limit}"}}
        return 200, {}, body

    return answer


HUBSPOT_SOURCES = """
[[source]]
preset = "hubspot_companies"
base_url = "{url}"
backoff = 0.05

[source.fields]
owner_slack_id = {{ path = "properties.hubspot_owner_id", map = {{ "31265431" = "U0123ABCD" }}, ignore = ["99"] }}
"""


def test_hubspot_companies_sync_through_rate_limit_5xx_and_a_dropped_connection(
    engine: Engine, cli_env: None, tmp_path: Path, api: Any, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    fake = api(hubspot_answer({}))
    monkeypatch.setenv("HUBSPOT_TOKEN", TOKEN)
    monkeypatch.setenv("SOURCES_PATH", str(write(tmp_path / "sources.toml", HUBSPOT_SOURCES.format(url=fake.url))))
    caplog.set_level(logging.DEBUG)

    assert main(["sync", "--quiet"]) == 0

    out = capsys.readouterr()
    assert "hubspot: 250 records in 3 pages, 248 accounts written" in out.out
    assert "skipped 2 records" in out.out
    assert "source hubspot, page 1, record 8 (id 1007): name: no value at 'properties.name'" in out.out
    assert "source hubspot, page 1, record 9 (id 1008): mrr: 'lots' is not a number" in out.out
    assert "HTTP 429 x1" in out.out and "HTTP 503 x1" in out.out and "RemoteProtocolError x1" in out.out
    # the secret went in the header and nowhere else
    assert TOKEN not in out.out + out.err + caplog.text
    assert all(r.headers["Authorization"] == f"Bearer {TOKEN}" for r in fake.requests)
    # Retry-After honoured: the retry of the rate-limited page came a second later
    second = [r for r in fake.requests if r.query.get("after") == "100"]
    assert len(second) == 2 and second[1].at - second[0].at >= 1.0
    assert fake.requests[0].query["properties"].startswith("name,domain")
    with engine.connect() as conn:
        rows = {
            r[0]: r[1:]
            for r in conn.execute(
                text(
                    "SELECT external_id, name, domain, owner_slack_id, mrr, renewal_date, employees, status "
                    "FROM account"
                )
            )
        }
    assert len(rows) == 248 and "1007" not in rows and "1008" not in rows
    assert rows["1001"][:5] == ("Company 1", "company1.example", "U0123ABCD", 101.0, rows["1001"][4])
    assert str(rows["1001"][4])[:10] == "2027-03-31" and rows["1003"][4] is None
    assert rows["1002"][2] is None and rows["1001"][5:] == (42, "active")

    # a second sync (full, the list has no incremental) updates, never duplicates
    COMPANIES[1]["properties"]["mrr"] = "999"
    try:
        assert main(["sync", "hubspot", "--quiet"]) == 0
    finally:
        COMPANIES[1]["properties"]["mrr"] = "101"
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM account")).scalar() == 248
        assert conn.execute(text("SELECT mrr FROM account WHERE external_id = '1001'")).scalar() == 999.0


def test_a_source_that_keeps_failing_stops_with_what_was_written_kept(
    engine: Engine, cli_env: None, tmp_path: Path, api: Any, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    def answer(req: Req) -> Answer:
        if req.query.get("after") == "100":
            return 500, {}, {"status": "error"}
        return hubspot_answer({"429": 1, "503": 1, "drop": 1})(req)

    fake = api(answer)
    monkeypatch.setenv("HUBSPOT_TOKEN", TOKEN)
    text_ = HUBSPOT_SOURCES.format(url=fake.url).replace("backoff = 0.05", "backoff = 0.05\nretries = 2\nbatch = 100")
    sources = write(tmp_path / "s.toml", text_)
    assert main(["sync", "--sources", str(sources), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "answered HTTP 500 3 times" in err and "the next sync resumes from there" in err
    assert len([r for r in fake.requests if r.query.get("after") == "100"]) == 3
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM account")).scalar() == 98  # page 1, committed
        state = store.get_state(conn, "hubspot")
    assert state.running and state.position == "100"


def test_unauthorized_stops_at_once_naming_the_source_not_the_secret(
    engine: Engine, cli_env: None, tmp_path: Path, api: Any, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    fake = api(hubspot_answer({}))
    monkeypatch.setenv("HUBSPOT_TOKEN", "wrong-token-abc")
    sources = write(tmp_path / "s.toml", HUBSPOT_SOURCES.format(url=fake.url))
    assert main(["sync", "--sources", str(sources), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "source hubspot:" in err and "answered HTTP 401 (check the credentials" in err
    assert "wrong-token-abc" not in err and len(fake.requests) == 1
    monkeypatch.delenv("HUBSPOT_TOKEN")
    assert main(["sync", "--sources", str(sources), "--quiet"]) == 1
    assert "the environment variable HUBSPOT_TOKEN (auth) is not set" in capsys.readouterr().err


# --- Zendesk incremental ticket export (metrics, cursor kept across syncs) ---------------------------------

T0 = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())


def ticket(i: int, org: int | None, created_day: int, rating: str | None = None, updated: int = 0) -> dict[str, Any]:
    created = datetime(2026, 11, created_day, 9, tzinfo=UTC)
    return {
        "url": f"https://example.zendesk.com/api/v2/tickets/{i}.json",
        "id": i,
        "created_at": created.isoformat().replace("+00:00", "Z"),
        "updated_at": (created + timedelta(hours=1 + updated)).isoformat().replace("+00:00", "Z"),
        "type": "question",
        "subject": f"Ticket {i}",
        "status": "open",
        "organization_id": org,
        "satisfaction_rating": {"score": rating or "unoffered"},
        "generated_timestamp": T0,
    }


class ZendeskExport:
    """The cursor-based incremental ticket export as documented: `tickets`, `after_cursor`, `after_url`,
    `before_cursor`, `end_of_stream`; a first request with start_time, then cursor=<after_cursor>."""

    def __init__(self, tickets: list[dict[str, Any]], per_page: int = 3):
        self.stream = list(tickets)
        self.per_page = per_page

    def answer(self, req: Req) -> Answer:
        if req.headers.get("Authorization", "").split(" ")[0] != "Basic":
            return 401, {}, {"error": "Couldn't authenticate you"}
        if "cursor" in req.query:
            start = int(req.query["cursor"].removeprefix("c"))
        elif "start_time" in req.query:
            start = 0
        else:
            return 400, {}, {"error": "InvalidPaginationParameter"}
        page = self.stream[start : start + self.per_page]
        after = start + len(page)
        return (
            200,
            {},
            {
                "tickets": page,
                "after_url": f"https://example.zendesk.com/api/v2/incremental/tickets/cursor.json?cursor=c{after}",
                "after_cursor": f"c{after}",
                "before_url": None,
                "before_cursor": None,
                "end_of_stream": after >= len(self.stream),
            },
        )


ZENDESK_SOURCES = """
[[source]]
preset = "zendesk_tickets"
base_url = "{url}"
backoff = 0.05
"""


def test_zendesk_ticket_export_counts_tickets_and_averages_ratings_and_continues_its_cursor(
    engine: Engine, cli_env: None, tmp_path: Path, api: Any, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    add_accounts(engine, ["501", "502"])
    export = ZendeskExport([
        ticket(1, 501, 2, "good"), ticket(2, 501, 2, "bad"), ticket(3, 501, 2), ticket(4, 502, 3, "good"),
        ticket(5, 777, 3, "good"),  # an organization that is no account: skipped, reported
        ticket(6, 502, 3, "meh"),  # a rating the mapping does not know: skipped, reported
        ticket(7, None, 4),  # no organization
    ])  # fmt: skip
    fake = api(export.answer)
    monkeypatch.setenv("ZENDESK_USER", "agent@example.com/token")
    monkeypatch.setenv("ZENDESK_API_TOKEN", TOKEN)
    monkeypatch.setenv("SOURCES_PATH", str(write(tmp_path / "s.toml", ZENDESK_SOURCES.format(url=fake.url))))

    assert main(["sync", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "zendesk: 7 records in 3 pages" in out
    assert "skipped 3 records" in out
    assert "source zendesk, page 2, record 2 (id 5): account '777' is no known account (external_id)" in out
    assert "source zendesk, page 2, record 3 (id 6): ticket_csat: 'meh' is not one of good, bad" in out
    assert "source zendesk, page 3, record 1 (id 7): account: no value at 'organization_id'" in out
    assert observations(engine, "tickets_opened") == {("501", "2026-11-02"): 3.0, ("502", "2026-11-03"): 1.0}
    assert observations(engine, "ticket_csat") == {("501", "2026-11-02"): 3.0, ("502", "2026-11-03"): 5.0}
    assert fake.requests[0].query["start_time"].isdigit() and "cursor" not in fake.requests[0].query
    assert [r.query.get("cursor") for r in fake.requests[1:]] == ["c3", "c6"]

    # later: ticket 2 is re-rated (changed, so exported again) and a new ticket arrives
    fake.requests.clear()
    export.stream += [ticket(2, 501, 2, "good", updated=5), ticket(8, 501, 2)]
    assert main(["sync", "zendesk", "--quiet"]) == 0
    assert [r.query.get("cursor") for r in fake.requests] == ["c7"]  # the kept cursor, no start_time
    assert observations(engine, "tickets_opened") == {("501", "2026-11-02"): 4.0, ("502", "2026-11-03"): 1.0}
    assert observations(engine, "ticket_csat")[("501", "2026-11-02")] == 5.0


# --- page numbers, Link headers, incremental "since" -----------------------------------------------------

USAGE: list[dict[str, Any]] = [
    {"account": f"A{i % 3}", "day": f"2026-11-{1 + i // 3:02d}", "logins": i, "nps": 7,
     "seen": f"2026-11-{1 + i // 3:02d}T12:00:00Z"}
    for i in range(25)
]  # fmt: skip


def test_page_number_and_link_header_pagination_with_an_incremental_since(engine: Engine, api: Any,
                                                                           tmp_path: Path) -> None:  # fmt: skip
    add_accounts(engine, ["A0", "A1", "A2"])

    def paged(req: Req) -> Answer:
        since = req.query.get("updated_since", "")
        rows = [u for u in USAGE if u["seen"] > since]
        page, size = int(req.query["page"]), int(req.query["per_page"])
        return 200, {}, {"data": rows[(page - 1) * size : page * size]}

    def linked(req: Req) -> Answer:
        offset = int(req.query.get("offset", "0"))
        headers = {"Link": f'<{req.path}?offset={offset + 10}>; rel="next"'} if offset + 10 < len(USAGE) else {}
        return 200, headers, USAGE[offset : offset + 10]

    by_page, by_link = api(paged), api(linked)
    sources = write(
        tmp_path / "s.toml",
        f"""
[[source]]
name = "usage"
kind = "metrics"
base_url = "{by_page.url}"
endpoint = "/v1/usage"
records = "data"
pagination = {{ style = "page", param = "page", size_param = "per_page", size = 10 }}
incremental = {{ param = "updated_since", field = "seen", format = "iso" }}
fields = {{ account = "account", date = "day" }}
metrics = {{ logins = "logins", nps = "nps" }}

[[source]]
name = "usage-linked"
kind = "metrics"
base_url = "{by_link.url}"
endpoint = "/usage"
pagination = {{ style = "link" }}
fields = {{ account = "account", date = "day" }}
metrics = {{ core_feature_events = "logins" }}
""",
    )
    summaries = sync_sources(engine, load_sources(sources))
    assert [(s.records, s.pages, s.written, s.failed) for s in summaries] == [(25, 3, 50, None), (25, 3, 25, None)]
    assert [r.query["page"] for r in by_page.requests] == ["1", "2", "3"]
    assert "updated_since" not in by_page.requests[0].query
    assert [r.query.get("offset") for r in by_link.requests] == [None, "10", "20"]
    logins = observations(engine, "logins")
    assert (
        len(logins) == 25
        and logins[("A1", "2026-11-01")] == 1.0
        and logins == {k: v for k, v in observations(engine, "core_feature_events").items()}
    )
    # the next sync asks only for what changed since the latest record seen
    by_page.requests.clear()
    (second,) = sync_sources(engine, load_sources(sources), ["usage"])
    assert by_page.requests[0].query["updated_since"] == "2026-11-09T12:00:00Z"
    assert second.records == 0 and second.pages == 1


def test_timeouts_are_retried(engine: Engine, api: Any, tmp_path: Path) -> None:
    add_accounts(engine, ["A0", "A1", "A2"])
    slow = {"n": 0}

    def answer(req: Req) -> Answer:
        slow["n"] += 1
        if slow["n"] == 1:
            time.sleep(1.5)
        return 200, {}, USAGE[:3]

    fake = api(answer)
    sources = write(
        tmp_path / "s.toml",
        f"""
[[source]]
name = "usage"
kind = "metrics"
base_url = "{fake.url}"
timeout = 0.5
backoff = 0.05
fields = {{ account = "account", date = "day" }}
metrics = {{ logins = "logins" }}
""",
    )
    (summary,) = sync_sources(engine, load_sources(sources))
    assert summary.failed is None and summary.written == 3 and summary.retried == {"ReadTimeout": 1}


def test_the_sources_file_is_checked_whole_naming_each_bad_key(
    tmp_path: Path, cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path / "s.toml",
        """
[[source]]
name = "crm"
kind = "accounts"
base_url = "https://crm.example"
auth = { type = "bearer" }
pagination = { style = "cursor", param = "after" }
fields = { external_id = "id", name = "name" }

[[source]]
name = "desk"
kind = "metrics"
base_url = "https://desk.example"
fields = { account = "org", date = "created_at" }
metrics = { tickets_opened = { aggregate = "count" }, "Bad Name" = "x" }
timeout = -1

[[source]]
preset = "salesforce"

[[source]]
name = "crm2"
kind = "accounts"
base_url = "https://crm.example"
fields = { external_id = "id", name = "name", revenue = "x" }
""",
    )
    with pytest.raises(SourcesError) as caught:
        load_sources(path)
    assert caught.value.problems == [
        "source[0] (crm).auth: auth type 'bearer' needs token_env (the name of an environment variable)",
        "source[0] (crm).pagination: style 'cursor' needs next (where the cursor is in the response) and param",
        "source[1] (desk).timeout: Input should be greater than 0",
        "source[2].preset: unknown preset 'salesforce'; shipped: hubspot_companies, zendesk_tickets",
        "source[3] (crm2): fields: unknown account field(s) revenue; known: external_id, name, domain, "
        "owner_slack_id, segment, plan, industry, employees, region, lifecycle_stage, acquisition_channel, mrr, "
        "contract_start, renewal_date, status, churned_on",
    ]
    assert main(["sync", "--sources", str(path)]) == 2
    assert "source[0] (crm).auth: auth type 'bearer' needs token_env" in capsys.readouterr().err


# --- a sync SIGKILLed half-way -------------------------------------------------------------------------------

TICKETS = [ticket(i, 600 + i % 4, 1 + i % 20) for i in range(1, 81)]  # 80 tickets, 8 pages of 10


def test_a_sync_killed_half_way_resumes_without_gaps_or_duplicates(
    engine: Engine, database_url: str, tmp_path: Path, api: Any,
) -> None:  # fmt: skip
    add_accounts(engine, [str(600 + k) for k in range(4)])
    reached = threading.Event()

    def answer(req: Req) -> Answer:
        page = int(req.query["page"])
        if page == 5 and not reached.is_set():
            reached.set()
            time.sleep(30)  # hangs here until the process that asked is killed
            return DROP
        return 200, {}, {"tickets": TICKETS[(page - 1) * 10 : page * 10]}

    fake = api(answer)
    sources = write(
        tmp_path / "s.toml",
        f"""
[[source]]
name = "desk"
kind = "metrics"
base_url = "{fake.url}"
endpoint = "/tickets"
records = "tickets"
batch = 10
pagination = {{ style = "page", param = "page", size_param = "per_page", size = 10 }}
fields = {{ id = "id", account = "organization_id", date = "created_at" }}
metrics = {{ tickets_opened = {{ aggregate = "count" }} }}
""",
    )
    env = {**os.environ, "DATABASE_URL": database_url, "SOURCES_PATH": str(sources), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "sync", "--quiet"], cwd=tmp_path, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        assert reached.wait(60), proc.communicate(timeout=5)[0]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    with engine.connect() as conn:
        state = store.get_state(conn, "desk")
    assert state.running and state.position == "5" and state.records == 40  # pages 1-4 committed
    assert sum(observations(engine, "tickets_opened").values()) == 40

    fake.requests.clear()
    (summary,) = sync_sources(engine, load_sources(sources))
    assert summary.resumed and summary.failed is None
    assert [r.query["page"] for r in fake.requests] == ["5", "6", "7", "8", "9"]  # on from page 5, no page twice
    expected: dict[tuple[str, str], float] = {}
    for t in TICKETS:
        key = (str(t["organization_id"]), t["created_at"][:10])
        expected[key] = expected.get(key, 0) + 1
    assert observations(engine, "tickets_opened") == expected  # every ticket once: no gap, no double
    with engine.connect() as conn:
        done = store.get_state(conn, "desk")
    assert not done.running and done.position is None and done.records == 80


def test_the_readme_example_sources_file_loads(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Pull and push metrics") : readme.index("## Connect a Slack workspace")]
    example = section.split("```toml\n")[1].split("```")[0]
    sources = load_sources(write(tmp_path / "s.toml", example))
    assert [(s.name, s.kind, s.pagination.style) for s in sources] == [
        ("hubspot", "accounts", "cursor"), ("zendesk", "metrics", "cursor"), ("usage", "metrics", "page"),
    ]  # fmt: skip
    assert sources[0].fields["owner_slack_id"].map == {"31265431": "U0123ABCD"}
    assert sources[1].base_url == "https://acme.zendesk.com" and sources[1].pagination.keep


def test_retry_after_reads_seconds_and_http_dates() -> None:
    from bot.connectors.http import MAX_RETRY_AFTER, retry_after

    now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    assert retry_after("3", now) == 3.0
    assert retry_after("Sun, 29 Nov 2026 12:00:30 GMT", now) == 30.0
    assert retry_after("Sun, 29 Nov 2026 11:00:00 GMT", now) == 0.0
    assert retry_after("99999", now) == MAX_RETRY_AFTER
    assert retry_after("soon", now) is None and retry_after(None, now) is None


def test_the_daily_job_syncs_before_it_scores(
    engine: Engine, settings: Any, api: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import dataclasses

    from bot.app import create_scheduler
    from bot.slack.client import make_client

    add_accounts(engine, ["A0", "A1", "A2"])
    fake = api(lambda req: (200, {}, USAGE))
    sources = write(
        tmp_path / "s.toml",
        f"""
[[source]]
name = "usage"
kind = "metrics"
base_url = "{fake.url}"
fields = {{ account = "account", date = "day" }}
metrics = {{ logins = "logins" }}
""",
    )
    settings = dataclasses.replace(settings, sources_path=str(sources))
    scheduler = create_scheduler(settings, engine, make_client(settings))
    job = scheduler.get_job("score.daily")
    assert job.func.__name__ == "sync_then"
    caplog.set_level(logging.INFO)
    job.func(*job.args)
    assert len(fake.requests) == 1 and len(observations(engine, "logins")) == 25
    # the scoring ran after the sync, on the synced metrics
    order = [r.name for r in caplog.records if r.name in ("healthbot.jobs.sync", "healthbot.jobs.score")]
    assert order and order[0] == "healthbot.jobs.sync" and order[-1] == "healthbot.jobs.score", order
