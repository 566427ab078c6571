"""`/health <name>` end to end: signed HTTP requests to the real server against 50,000 accounts.

    python bench/bench_lookup.py [--database-url URL] [--accounts N] [--days D] [--quick] [--compare-root DIR]

Seeds N accounts and a year of daily scores with storage.bulk.upsert_rows (once: a later run
of the same size reuses them), serves the bot with uvicorn on loopback in a process of its own
(the Web API is the recording fake Slack, in this process), then sends signed `/health <query>`
requests: exact names, domains, external ids, starts of names (a pick list, then a click on a
pick) and typos. It prints p50/p99 time to the ack and to the final answer (the card: in the
ack for a clear match, the pick click's response_url post for a pick list) and requests per
second with 1, 4 and 50 clients (counting acks over Slack's 3 s and lost ones), and each ack's time inside the
server (from the web app's first look at the request to its answer, sent back in a `Server-Timing` header that
the bench wraps around the app). `--compare-root DIR` serves the same requests, phase by phase, from a second
server running DIR's code (a checkout of the code before a change) on the same data, and prints before/after.
The baseline, measured in the same run against another server process, swaps in the naive lookup: load every
account, scan it in Python.
Not part of the product; it stops by itself.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import urlencode

import httpx
import numpy as np
import uvicorn
from rapidfuzz import fuzz, process, utils
from sqlalchemy import Engine, bindparam, text
from sqlmodel import Session, select

# The code under test: this checkout, or HEALTHBOT_CODE_ROOT (another checkout, for --compare-root's server)
ROOT = Path(os.environ.get("HEALTHBOT_CODE_ROOT") or Path(__file__).resolve().parent.parent)
sys.path.insert(0, str(ROOT))  # `python bench/bench_lookup.py` from anywhere

from bot import app as bot_app  # noqa: E402
from bot.app import create_app  # noqa: E402
from bot.health import service as portfolio  # noqa: E402
from bot.health.lookup import PICK_LIMIT, AccountNames, Lookup  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from bot.web import create_web  # noqa: E402
from storage import bulk  # noqa: E402
from storage.db import make_engine, upgrade  # noqa: E402
from storage.models import Account  # noqa: E402
from tests.fake_slack import FakeSlack  # noqa: E402

SECRET = "bench-signing-secret"
END = date(2026, 6, 30)
BRANDS = (
    "Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Soylent", "Cyberdyne", "Tyrell", "Wonka", "Stark",
    "Wayne", "Oscorp", "Dunder", "Monarch", "Piedmont", "Aperture", "Massive", "Virtucon", "Gekko", "Nakatomi",
    "Prestige", "Sterling", "Wernham", "Bluth", "Duff", "Zorg", "Tessier", "Nexus", "Apex", "Vertex", "Summit",
    "Harbor", "Beacon", "Cobalt", "Crescent", "Evergreen", "Falcon", "Granite", "Horizon", "Ironwood", "Juniper",
    "Keystone", "Lumen", "Meridian", "Northwind", "Orion", "Pinnacle", "Quantum", "Redwood", "Silverline",
)  # fmt: skip
WORDS = (
    "Global", "Digital", "United", "Advanced", "Northern", "Pacific", "Atlantic", "Smart", "Green", "First", "Prime",
    "Next", "Open", "Blue", "Metro", "National", "Bright", "Clear", "Swift", "True", "Bold", "Core", "Peak", "Nova",
)  # fmt: skip
SECTORS = (
    "Software", "Analytics", "Cloud", "Systems", "Labs", "Networks", "Logistics", "Health", "Medical", "Capital",
    "Payments", "Insurance", "Retail", "Foods", "Robotics", "Energy", "Media", "Learning", "Consulting", "Realty",
)  # fmt: skip
SUFFIXES = ("Inc", "LLC", "Ltd", "GmbH", "BV", "SAS", "AB", "KK", "Corp", "")
TIERS = ((80, "healthy"), (60, "low_risk"), (40, "medium_risk"), (0, "high_risk"))
GROUPS = ("product_usage", "support", "commercial", "engagement")
REASONS = ("logins -41 % vs prior 4 weeks", "CSAT averaged 3.2 over the last 30 days", "no logins for 9 days")


# --- data --------------------------------------------------------------------------------------------------


def account_rows(n: int, rng: np.random.Generator) -> list[tuple[Any, ...]]:
    """n distinct company names that share brands (so prefixes are ambiguous), with domains and owners."""
    rows: list[tuple[Any, ...]] = []
    seen: set[str] = set()
    while len(rows) < n:
        name = f"{rng.choice(BRANDS)} {rng.choice(WORDS)} {rng.choice(SECTORS)} {rng.choice(SUFFIXES)}".strip()
        if name in seen:
            continue
        seen.add(name)
        i = len(rows) + 1
        domain = name.lower().replace(" ", "-") + ".com"
        renewal = END + timedelta(days=int(rng.integers(1, 365)))
        rows.append((
            f"ACC-{i:06d}", name, name.lower(), domain, f"U0CSM{int(rng.integers(1, 41)):04d}",
            str(rng.choice(["enterprise", "mid-market", "smb"])), "mature", float(rng.integers(100, 50_000)),
            renewal.isoformat(), "active", datetime.now(UTC).isoformat(),
        ))  # fmt: skip
    return rows


ACCOUNT_COLUMNS = (
    "external_id", "name", "name_lower", "domain", "owner_slack_id", "segment", "lifecycle_stage", "mrr",
    "renewal_date", "status", "created_at",
)  # fmt: skip
SCORE_COLUMNS = ("account_id", "day", "score", "tier", "scorecard", "partial", "delta_7", "delta_30", "parts")


def _tier(score: float) -> str:
    return next(t for cutoff, t in TIERS if score >= cutoff)


def score_batches(ids: np.ndarray, days: int, rng: np.random.Generator, per_batch: int = 30) -> Iterator[list[tuple]]:
    """A year of daily scores as a random walk per account, `per_batch` days per list of rows.

    History rows carry empty parts; the latest day carries groups and drivers like the real engine's.
    """
    level = rng.uniform(20, 95, len(ids))
    history: list[np.ndarray] = []
    first = END - timedelta(days=days - 1)
    batch: list[tuple] = []
    for d in range(days):
        level = np.clip(level + rng.normal(0, 1.5, len(ids)), 0, 100).round(1)
        history.append(level)
        day = first + timedelta(days=d)
        d7 = (level - history[-8]).round(1) if d >= 7 else [None] * len(ids)
        d30 = (level - history[-31]).round(1) if d >= 30 else [None] * len(ids)
        last = d == days - 1
        for i, aid in enumerate(ids):
            s = float(level[i])
            parts: dict[str, Any] = {}
            if last:
                parts = {
                    "groups": {g: round(min(100.0, s + 10 * k - 10), 1) for k, g in enumerate(GROUPS)},
                    "drivers": [{"measure": "logins_trend", "group": "product_usage", "points": -8.0 - k,
                                 "reason": r} for k, r in enumerate(REASONS)],
                    "coverage": 1.0,
                }  # fmt: skip
            batch.append((int(aid), day.isoformat(), s, _tier(s), "default", False, _num(d7[i]), _num(d30[i]), parts))
        if len(history) > 31:
            history.pop(0)
        if (d + 1) % per_batch == 0 or last:
            yield batch
            batch = []


def _num(x: Any) -> float | None:
    return None if x is None else float(x)


def seed(engine: Engine, n: int, days: int) -> None:
    """Fill an empty schema; reuse data of the same size from an earlier run."""
    with engine.connect() as conn:
        have = conn.execute(text("SELECT COUNT(*) FROM account")).scalar()
        span = conn.execute(text("SELECT MIN(day), MAX(day), COUNT(*) FROM health_score")).one()
    if have == n and span[2] == n * days:
        print(f"reusing {n:,} accounts and {span[2]:,} scores ({span[0]} to {span[1]})")
        return
    started = time.perf_counter()
    with engine.begin() as conn:
        for table in ("health_override", "health_score", "metric_observation", "account"):
            conn.execute(text(f"DELETE FROM {table}"))
    rng = np.random.default_rng(4)
    with engine.begin() as conn:
        bulk.upsert_rows(conn, "account", ACCOUNT_COLUMNS, ["external_id"], account_rows(n, rng))
        ids = np.array(sorted(bulk.account_ids(conn).values()))
    total = 0
    for rows in score_batches(ids, days, rng):
        with engine.begin() as conn:
            total += bulk.upsert_rows(conn, "health_score", SCORE_COLUMNS, ["account_id", "day"], rows,
                                      json_columns=["parts"])  # fmt: skip
        print(f"\r  scores: {total:,} rows", end="", flush=True)
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
        else:
            conn.execute(text("ANALYZE"))
    print(f"\rseeded {n:,} accounts and {total:,} daily scores in {time.perf_counter() - started:.0f} s")


# --- the naive baseline ------------------------------------------------------------------------------------


def naive_find_customer(session: Session, query: str, names: AccountNames, fuzzy_cutoff: float = 80) -> Lookup:
    """Load every account and scan it in Python: the lookup a first version would write (no name cache)."""
    q = query.strip().lower()
    everyone = session.exec(select(Account)).all()
    for test in (
        lambda a: a.external_id == query.strip() or (a.domain or "").lower() == q or a.name.lower() == q,
        lambda a: a.name.lower().startswith(q),
        lambda a: q in a.name.lower() or q in (a.domain or "").lower(),
    ):
        found = sorted((a for a in everyone if test(a)), key=lambda a: a.name)
        if found:
            return Lookup(query, found[:PICK_LIMIT], more=len(found) > PICK_LIMIT)
    by_id = {a.id: a for a in everyone}
    ranked = process.extract(
        query, {a.id: a.name for a in everyone}, scorer=fuzz.WRatio, processor=utils.default_process, limit=PICK_LIMIT
    )
    strong = [aid for _, score, aid in ranked if score >= fuzzy_cutoff]
    if len(strong) == 1 or (len(strong) > 1 and ranked[0][1] - ranked[1][1] >= 8):
        return Lookup(query, [by_id[strong[0]]])
    if strong:
        return Lookup(query, [by_id[a] for a in strong])
    return Lookup(query, closest=[by_id[a] for _, _, a in ranked[:3]])


# --- the server and its clients ----------------------------------------------------------------------------


class TimedSlack(FakeSlack):
    """The fake Slack, noting when each response_url post arrives."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived: dict[str, float] = {}

    def _handle(self, h: Any) -> None:
        now = time.perf_counter()
        super()._handle(h)
        with self._cond:
            self.arrived[h.path] = now
            self._cond.notify_all()

    def wait_path(self, path: str, timeout: float = 30) -> float:
        with self._cond:
            if not self._cond.wait_for(lambda: path in self.arrived, timeout):
                raise TimeoutError(f"no post to {path} within {timeout} s")
            return self.arrived[path]

    def posted(self, path: str) -> dict[str, Any]:
        """The JSON posted to `path` (a response_url), once it arrived."""
        self.wait_path(path)
        with self._cond:
            return next(c.params for c in reversed(self.calls) if c.path == path)


def _signed(body: bytes) -> dict[str, str]:
    ts = str(int(time.time()))
    digest = hmac.new(SECRET.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


@dataclass
class Sample:
    kind: str
    ack: float  # seconds to the slash command's HTTP answer
    final: float  # seconds until the card was there (the ack, the pick click's or the held answer's response_url post)
    held: bool = False  # the ack was the holding note (answer not ready in 2 s): the answer came by response_url
    lost: bool = False  # no ack (Bolt's 404 "didn't call ack()"): Slack shows the user an error
    server: float | None = None  # seconds the ack took inside the server (its Server-Timing header)


@dataclass
class Run:
    samples: list[Sample] = field(default_factory=list)
    seconds: float = 0.0
    cpu: float | None = None  # CPU seconds the server process used meanwhile (all its threads): load-proof cost


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process and its live child processes (WEB_WORKERS) so far (Linux's /proc), None
    elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return None
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(cpu_seconds(int(child)) or 0.0 for child in children)


def timed(app: Any) -> Any:
    """The ASGI app, each answer carrying `Server-Timing: app;dur=<ms>`: from the app's first look at the request
    (uvicorn has parsed its head) to the start of the answer; the same wrapper around every version of the code."""

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await app(scope, receive, send)
        start = time.perf_counter()

        async def send_timed(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                took = f"app;dur={(time.perf_counter() - start) * 1000:.2f}".encode()
                message = {**message, "headers": [*message.get("headers", []), (b"server-timing", took)]}
            await send(message)

        await app(scope, receive, send_timed)

    return wrapped


def _server_seconds(resp: httpx.Response) -> float | None:
    timing = resp.headers.get("server-timing", "")
    return float(timing.split("dur=")[1]) / 1000 if "dur=" in timing else None


def serve(url: str, port: int, slack_url: str, naive: bool, web_workers: int = 1) -> None:
    """The bot's web app under uvicorn, in its own process as in production; `naive` swaps in the baseline."""
    settings = load_settings(
        env_file=None,
        environ={"DATABASE_URL": url, "SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_SIGNING_SECRET": SECRET,
                 "SLACK_API_URL": slack_url},
    )  # fmt: skip
    engine = make_engine(url)
    workers = getattr(bot_app, "fork_workers", None)  # WEB_WORKERS, if this code has it
    sock = socket.create_server(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as bot.app.listen
    options = getattr(bot_app, "WEB_SERVER", {"http": "h11", "loop": "asyncio"})  # before it said: uvicorn's defaults

    def serve_web() -> None:  # a worker: the app, as the first process builds it, on the shared socket
        web = timed(create_web(create_app(settings, engine), engine, signing_secret=SECRET))
        bot_app.settle()
        uvicorn.Server(uvicorn.Config(web, log_level="error", **options)).run(sockets=[sock])

    pids = workers(web_workers - 1, engine, serve_web) if workers and web_workers > 1 else []
    with contextlib.ExitStack() as stack:
        stack.callback(lambda: bot_app.stop_workers(pids) if pids else None)
        if naive:
            stack.enter_context(mock.patch.object(portfolio, "find_customer", naive_find_customer))
        web = timed(create_web(create_app(settings, engine), engine, signing_secret=SECRET))
        getattr(bot_app, "settle", lambda: None)()  # as `healthbot run` does once the app is built (if this code does)
        pauses = collections_timed()  # from here: what serving costs, not the imports
        # uvicorn re-raises SIGTERM after its graceful shutdown: exit through this handler to print the pauses below
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        with contextlib.suppress(SystemExit):
            uvicorn.Server(uvicorn.Config(web, log_level="error", **options)).run(sockets=[sock])
    code, full, young = os.environ.get("HEALTHBOT_CODE_ROOT", "this checkout"), pauses[2], pauses[0] + pauses[1]
    print(f"  [server, {code}: {len(full)} full garbage collections, longest {max(full, default=0) * 1000:.0f} ms, "
          f"{sum(full) * 1000:.0f} ms in all; younger ones {sum(young) * 1000:.0f} ms]", flush=True)  # fmt: skip


def collections_timed() -> dict[int, list[float]]:
    """Seconds each garbage collection of this process takes, per generation (2: full), from now on."""
    pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
    started: list[float] = []

    def note(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[:] = [time.perf_counter()]
        elif started:
            pauses[info["generation"]].append(time.perf_counter() - started[0])

    gc.callbacks.append(note)
    return pauses


class Bench:
    """A server process on a free loopback port, and the fake Slack it calls, in this process."""

    def __init__(
        self, url: str, slack: TimedSlack, naive: bool = False, code_root: str | None = None, web_workers: int = 1
    ):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.slack = slack
        command = [sys.executable, __file__, "--serve", str(port), "--database-url", url, "--slack-url", slack.url]
        env = {**os.environ, **({"HEALTHBOT_CODE_ROOT": code_root} if code_root else {})}
        command += ["--web-workers", str(web_workers)] + (["--naive"] if naive else [])
        self.process = subprocess.Popen(command, env=env)
        deadline = time.time() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.time() > deadline:
                raise RuntimeError("the bench server did not start")
            time.sleep(0.1)
        self.base = f"http://127.0.0.1:{port}/slack/events"
        self._port, self._n = port, 0
        self._lock = threading.Lock()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)

    def _key(self) -> str:
        with self._lock:
            self._n += 1
            return f"p{self._port}-r{self._n}"  # unique across servers: the fake Slack keeps every arrival

    def lookup(self, http: httpx.Client, kind: str, query: str) -> Sample:
        command_key = self._key()
        form = {
            "command": "/health", "text": query, "user_id": "U0CSM0001", "channel_id": "C0BENCH", "team_id": "T1",
            "response_url": self.slack.response_url(command_key), "trigger_id": "t",
        }  # fmt: skip
        body = urlencode(form).encode()
        start = time.perf_counter()
        resp = http.post(self.base, content=body, headers={"Content-Type": "application/x-www-form-urlencoded",
                                                            **_signed(body)})  # fmt: skip
        ack = time.perf_counter() - start
        server = _server_seconds(resp)
        if resp.status_code == 404:  # Bolt gave up waiting for the listener's ack (3 s)
            return Sample(kind, ack, ack, lost=True, server=server)
        resp.raise_for_status()
        blocks = resp.json().get("blocks") or []
        answered, held = ack, False
        if not blocks:  # the holding note: the answer was not ready in 2 s and follows on the response_url
            blocks = self.slack.posted(f"/response/{command_key}").get("blocks") or []
            answered, held = self.slack.arrived[f"/response/{command_key}"] - start, True
        picks = [b["accessory"]["value"] for b in blocks if b.get("accessory", {}).get("action_id") == "health.pick"]
        if not picks or "Closest names" in blocks[0]["text"]["text"]:
            return Sample(kind, ack, answered, held, server=server)
        key = self._key()
        payload = {
            "type": "block_actions", "user": {"id": "U0CSM0001"}, "team": {"id": "T1"}, "api_app_id": "A1",
            "container": {"type": "message", "is_ephemeral": True}, "channel": {"id": "C0BENCH"},
            "response_url": self.slack.response_url(key), "trigger_id": "t",
            "actions": [{"type": "button", "action_id": "health.pick", "value": picks[0], "block_id": "b"}],
        }  # fmt: skip
        body = urlencode({"payload": json.dumps(payload)}).encode()
        clicked = http.post(self.base, content=body, headers={"Content-Type": "application/x-www-form-urlencoded",
                                                               **_signed(body)})  # fmt: skip
        if clicked.status_code == 404:
            return Sample(kind + " + pick", ack, time.perf_counter() - start, held, lost=True, server=server)
        clicked.raise_for_status()
        return Sample(kind + " + pick", ack, self.slack.wait_path(f"/response/{key}") - start, held, server=server)

    def run(self, queries: list[tuple[str, str]], clients: int) -> Run:
        def worker(chunk: list[tuple[str, str]]) -> list[Sample]:
            with httpx.Client(timeout=30) as http:
                return [self.lookup(http, kind, q) for kind, q in chunk]

        chunks = [queries[i::clients] for i in range(clients)]
        start, cpu = time.perf_counter(), cpu_seconds(self.process.pid)
        with ThreadPoolExecutor(clients) as pool:
            samples = [s for part in pool.map(worker, chunks) for s in part]
        seconds, used = time.perf_counter() - start, cpu_seconds(self.process.pid)
        return Run(samples, seconds, None if cpu is None or used is None else used - cpu)


def make_queries(engine: Engine, count: int, rng: np.random.Generator) -> list[tuple[str, str]]:
    """A mix of what CSMs type: exact names (any case), domains, ids, starts of names, typos."""
    with engine.connect() as conn:
        every_id = [r[0] for r in conn.execute(text("SELECT id FROM account ORDER BY id"))]
        ids = [int(i) for i in rng.choice(every_id, size=count)]
        rows = {
            r[0]: r[1:]
            for r in conn.execute(
                text("SELECT id, name, domain, external_id FROM account WHERE id IN :ids").bindparams(
                    bindparam("ids", expanding=True)
                ),
                {"ids": ids},
            )
        }
    out = []
    kinds = rng.choice(["name", "domain", "external id", "prefix", "typo"], size=count, p=[0.4, 0.15, 0.15, 0.15, 0.15])
    for aid, kind in zip(ids, kinds, strict=True):
        name, domain, external_id = rows[aid]
        if kind == "name":
            query = name.lower() if rng.random() < 0.5 else name
        elif kind == "domain":
            query = domain
        elif kind == "external id":
            query = external_id
        elif kind == "prefix":
            query = " ".join(name.split()[:2])[: int(rng.integers(8, 14))].lower()
        else:
            i = int(rng.integers(1, len(name) - 2))
            query = name[:i] + name[i + 1] + name[i] + name[i + 2 :]
        out.append((str(kind), query))
    return out


# --- report ------------------------------------------------------------------------------------------------


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000


def server_times(samples: list[Sample]) -> list[float]:
    return [s.server for s in samples if s.server is not None]


def report(title: str, run: Run) -> None:
    cpu = "" if run.cpu is None else f"; server CPU {run.cpu * 1000 / len(run.samples):.1f} ms a request"
    rate = len(run.samples) / run.seconds
    print(f"\n{title}: {len(run.samples)} requests in {run.seconds:.1f} s = {rate:.1f} req/s{cpu}")
    print(f"  {'kind':<20}{'n':>6}{'ack p50':>10}{'ack p99':>10}{'final p50':>11}{'final p99':>11}"
          f"{'server p50':>12}{'server p99':>12}   (ms; server: the ack inside the server)")  # fmt: skip
    kinds = sorted({s.kind for s in run.samples})
    for kind in [*kinds, "all"]:
        chosen = [s for s in run.samples if kind in ("all", s.kind)]
        acks, finals, inside = [s.ack for s in chosen], [s.final for s in chosen], server_times(chosen)
        print(f"  {kind:<20}{len(chosen):>6}{pct(acks, 50):>10.0f}{pct(acks, 99):>10.0f}{pct(finals, 50):>11.0f}"
              f"{pct(finals, 99):>11.0f}{pct(inside, 50):>12.0f}{pct(inside, 99):>12.0f}")  # fmt: skip
    worst = max(s.final for s in run.samples)
    held = sum(s.held for s in run.samples)
    late = sum(s.ack > 3 for s in run.samples)
    lost = sum(s.lost for s in run.samples)
    print(f"  slowest final answer: {worst * 1000:.0f} ms (Slack's limit for the ack: 3,000 ms); "
          f"{held} acks were the holding note (answer not ready in 2 s, sent to the response_url); "
          f"{late} acks took over 3 s; {lost} commands got no ack at all")  # fmt: skip


def compared(summary: list[tuple[str, str, Run]], root: str) -> None:
    """Before/after per phase: every run of a server pooled."""
    print(f"\nbefore = the code in {root}, after = this checkout; same data, same requests (ms)")
    print(f"  {'phase':<42}{'':>8}{'req/s':>8}{'ack p50':>9}{'ack p99':>9}{'final p99':>10}{'server p99':>11}"
          f"{'CPU/req':>9}")  # fmt: skip
    for title in dict.fromkeys(t for t, _, _ in summary):
        p99, cpu = {}, {}
        for label in ("before", "after"):
            runs = [r for t, lab, r in summary if t == title and lab == label]
            samples = [s for r in runs for s in r.samples]
            rate = len(samples) / sum(r.seconds for r in runs)
            acks, inside = [s.ack for s in samples], server_times(samples)
            p99[label] = pct(acks, 99)
            cpu[label] = sum(r.cpu or 0.0 for r in runs) * 1000 / len(samples)
            finals = [s.final for s in samples]
            print(f"  {title:<42}{label:>8}{rate:>8.1f}{pct(acks, 50):>9.0f}{p99[label]:>9.0f}"
                  f"{pct(finals, 99):>10.0f}{pct(inside, 99):>11.0f}{cpu[label]:>9.1f}")  # fmt: skip
        print(f"  {'':<42}{'ratio':>8}{'':>8}{'':>9}{p99['before'] / p99['after']:>8.2f}x{'':>21}"
              f"{cpu['before'] / max(cpu['after'], 1e-9):>8.2f}x")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="sqlite:///bench_lookup.db")
    parser.add_argument("--accounts", type=int, default=50_000)
    parser.add_argument("--days", type=int, default=365, help="days of daily scores (default a year)")
    parser.add_argument("--requests", type=int, default=600, help="lookups per measured phase")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients for the throughput phase")
    parser.add_argument(
        "--crowd", type=int, default=50, help="concurrent clients for the crowd phase (default 50; 0: none)"
    )
    parser.add_argument("--quick", action="store_true", help="5,000 accounts, 90 days, 100 requests")
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)  # the server process
    parser.add_argument("--slack-url", help=argparse.SUPPRESS)
    parser.add_argument("--naive", dest="naive_server", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--compare-root", help="also serve every phase with this checkout's code (before/after)")
    parser.add_argument("--rounds", type=int, default=1, help="runs of each phase per server (alternating order)")
    parser.add_argument(
        "--web-workers", type=int, default=1, help="server processes (WEB_WORKERS), where the code has them"
    )
    parser.add_argument("--no-naive", dest="naive", action="store_false", help="skip the naive baseline")
    args = parser.parse_args(argv)
    url = load_settings(env_file=None, environ={"DATABASE_URL": args.database_url}).database_url
    if args.serve:
        serve(url, args.serve, args.slack_url, args.naive_server, args.web_workers)
        return 0
    if args.quick:
        args.accounts, args.days, args.requests = min(args.accounts, 5_000), min(args.days, 90), 100
    engine = make_engine(url)
    upgrade(engine)
    seed(engine, args.accounts, args.days)
    rng = np.random.default_rng(9)
    slack = TimedSlack()
    slack.start()
    print(
        f"\n{engine.dialect.name}, {args.accounts:,} accounts x {args.days} days of scores; server in its own process"
    )
    phases = [
        ("indexed lookup, 1 client", args.requests, 1),
        (f"indexed lookup, {args.clients} clients", args.requests, args.clients),
        (f"indexed lookup, {args.crowd} concurrent clients", max(args.requests, 10 * args.crowd), args.crowd),
    ]
    phases = [phase for phase in phases if phase[2] > 0]  # --clients 0 or --crowd 0: phase skipped
    try:
        servers = {"after": Bench(url, slack, web_workers=args.web_workers)}
        if args.compare_root:  # before/after on the same data and requests, phase by phase
            before = Bench(url, slack, code_root=args.compare_root, web_workers=args.web_workers)
            servers = {"before": before, **servers}
        summary: list[tuple[str, str, Run]] = []
        try:
            for server in servers.values():
                server.run(make_queries(engine, 20, rng), 1)  # warm up: imports, connections, the name cache
            for title, count, clients in phases:
                queries = make_queries(engine, count, rng)
                order = list(servers.items())
                for n in range(args.rounds):  # before, after, after, before, ...: drift in the box's load evens out
                    for label, server in order if n % 2 == 0 else order[::-1]:
                        run = server.run(queries, clients)
                        summary.append((title, label, run))
                        report(f"{title} [{label}]" if args.compare_root else title, run)
            others = [(q, q) for q in ("me", "top", "top 25 high risk")] * max(5, args.requests // 30)
            report("other commands, 1 client (a user owning 1/40 of the accounts)", servers["after"].run(others, 1))
        finally:
            for server in servers.values():
                server.stop()
        if args.compare_root:
            compared(summary, args.compare_root)
        if args.naive:
            baseline = Bench(url, slack, naive=True)
            try:
                baseline.run(make_queries(engine, 2, rng), 1)
                report("baseline (load every account, scan in Python), 1 client",
                       baseline.run(make_queries(engine, max(20, args.requests // 10), rng), 1))  # fmt: skip
            finally:
                baseline.stop()
    finally:
        slack.stop()
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
