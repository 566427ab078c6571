"""Slack requests under a held write lock, measured from outside: does what the user is told match what is stored?

    python bench/bench_locked.py [--database-url URL] [--hold S] [--rounds N]

The bot is served over real HTTP (uvicorn, the fake Slack of tests/). For each of the Mark done, exit-interview
and Override submissions and the Claim and Share clicks, `--rounds` times: another connection takes the write
lock (SQLite: `BEGIN IMMEDIATE`; PostgreSQL: `LOCK TABLE ... IN ACCESS EXCLUSIVE MODE` on the table the request
writes) and holds it `--hold` seconds; the request is sent; the time to the HTTP answer (submissions) or to the
clicker's first feedback (a private note, or the alert's redraw) is taken; after the lock goes, whether the
change was stored. A round FAILS when the answer is not a 200 within Slack's 3 s, or when what the user was told
does not match what is stored (told "not saved" and stored anyway, or told nothing and stored later).

HEALTHBOT_CODE_ROOT=<another checkout> measures that code (before/after figures). Use a scratch PostgreSQL
database: its tables are emptied between rounds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import httpx  # noqa: E402
from _common import is_postgres, normalise_url, sqlite_engine, table, temp_dir  # noqa: E402
from sqlalchemy import Engine, text  # noqa: E402

from bot.alerts.ids import AlertIds  # noqa: E402
from bot.health.ids import HealthIds  # noqa: E402
from bot.health.values import AccountRef  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from bot.slack.values import encode  # noqa: E402
from prompts import say  # noqa: E402
from storage.db import delete_all, make_engine, session_factory, unit_of_work, upgrade  # noqa: E402
from tests import test_alert_thread as alert_t  # noqa: E402
from tests import test_exit_interview as exit_t  # noqa: E402
from tests import test_override_slack as override_t  # noqa: E402
from tests import test_task_done as done_t  # noqa: E402
from tests.conftest import BOT_TOKEN, SIGNING_SECRET, TABLES, BotServer  # noqa: E402
from tests.fake_slack import FakeSlack  # noqa: E402

ACK_BUDGET = 3.0  # Slack's, for a submission's answer
FEW_SECONDS = 5.0  # a clicker hears back within this


def prompt(key: str) -> str | None:
    try:
        return say(key)
    except KeyError:  # code from before these texts
        return None


@dataclass
class Round:
    answered_s: float  # to the HTTP answer, or to the clicker's first feedback
    limit_s: float  # by when the user must have heard
    status: int  # HTTP status of the request
    told: str  # "not saved", "saved", "try again", "applied", "error", "nothing"
    stored: bool
    before_release: bool

    @property
    def failed(self) -> bool:
        """Not answered in time, or told something other than what is stored."""
        late = self.status != 200 or self.answered_s > self.limit_s
        return late or self.stored != (self.told in ("saved", "applied"))


@contextmanager
def held(engine: Engine, table_name: str, seconds: float) -> Iterator[threading.Event]:
    """A write lock taken now and held `seconds` on another thread; the event is set when it goes."""
    released, taken = threading.Event(), threading.Event()

    def hold() -> None:
        if engine.dialect.name == "sqlite":
            import sqlite3

            raw = sqlite3.connect(engine.url.database or "", isolation_level=None)
            raw.execute("BEGIN IMMEDIATE")
            taken.set()
            time.sleep(seconds)
            raw.execute("ROLLBACK")
            raw.close()
        else:
            with engine.connect() as conn:
                conn.execute(text(f"LOCK TABLE {table_name} IN ACCESS EXCLUSIVE MODE"))
                taken.set()
                time.sleep(seconds)
                conn.rollback()
        released.set()

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    taken.wait()
    try:
        yield released
    finally:
        holder.join()


def reset(engine: Engine, fake: FakeSlack) -> None:
    with unit_of_work(session_factory(engine)) as session:
        delete_all(session, TABLES)
    fake.reset()


def submission(engine: Engine, table_name: str, hold: float, send: Callable[[], httpx.Response],
               stored: Callable[[], bool]) -> Round:  # fmt: skip
    with held(engine, table_name, hold) as released:
        start = time.monotonic()
        answer = send()
        took = time.monotonic() - start
        before = not released.is_set()
    released.wait()
    time.sleep(1.0)  # a write the lock held back lands now
    status, shown = answer.status_code, answer.text
    busy = prompt("health.busy_not_saved")
    if status == 200 and busy and busy in shown:
        told = "not saved"
    elif status == 200 and shown in ("", "{}"):
        told = "saved"
    else:
        told = "error"
    return Round(took, ACK_BUDGET, status, told, stored(), before)


def click(engine: Engine, server: BotServer, table_name: str, hold: float, send: Callable[[], httpx.Response],
          stored: Callable[[], bool], applied: str) -> Round:  # fmt: skip
    """`applied`: the fake Slack call that shows the click applied (the redraw, or the shared card)."""
    fake = server.fake
    with held(engine, table_name, hold) as released:
        start = time.monotonic()
        status = send().status_code
        took, told = hold + 10.0, "nothing"
        while time.monotonic() - start < hold + 10.0:
            notes = [c.params.get("text", "") for c in fake.calls_to("response_url")]
            if prompt("health.busy_not_applied") in notes:
                took, told = time.monotonic() - start, "try again"
                break
            if [c for c in fake.calls_to(applied) if c.params.get("response_type", "in_channel") == "in_channel"]:
                took, told = time.monotonic() - start, "applied"
                break
            time.sleep(0.01)
        before = not released.is_set()
    released.wait()
    time.sleep(1.0)
    return Round(took, FEW_SECONDS, status, told, stored(), before)


def one_round(engine: Engine, server: BotServer, hold: float) -> dict[str, Round]:
    fake, got = server.fake, {}
    reset(engine, fake)
    alert_id = done_t.make_alert(engine)
    task = done_t.make_task(engine, alert_id, 1, timedelta(hours=4))
    got["Mark done (submission)"] = submission(
        engine, "task", hold, lambda: done_t.submit(server, done_t.ref_of(task)),
        lambda: done_t.stored(engine, task.id or 0).status == "done")  # fmt: skip

    reset(engine, fake)
    account_id = exit_t.add_account(engine, alert=True)
    view = exit_t.open_by_command(server)
    got["Exit interview (submission)"] = submission(
        engine, "exit_interview", hold, lambda: exit_t.submit(server, view, exit_t.form()),
        lambda: exit_t.stored(engine, account_id)[0] is not None)  # fmt: skip

    reset(engine, fake)
    account_id = override_t.add_account(engine)
    over = override_t.open_modal(server, account_id)
    got["Override (submission)"] = submission(
        engine, "health_override", hold,
        lambda: override_t.submit(server, over, tier="healthy", reason="Back", until="2026-07-31"),
        lambda: bool(override_t.overrides(engine, account_id)))  # fmt: skip

    reset(engine, fake)
    alert_id = alert_t.make_alert(engine)
    got["Claim (click)"] = click(
        engine, server, "alert", hold, lambda: alert_t.click(server, alert_t.CLAIMER, AlertIds.CLAIM, alert_id),
        lambda: alert_t.stored(engine, alert_id).claimed_by is not None, "chat.update")  # fmt: skip

    reset(engine, fake)
    shared = override_t.add_account(engine)
    got["Share (click)"] = click(
        engine, server, "slack_event", hold,
        lambda: server.action(HealthIds.SHARE, encode(AccountRef(account_id=shared))),
        lambda: any(c.params.get("response_type") == "in_channel" for c in fake.calls_to("response_url")),
        "response_url")  # fmt: skip
    return got


def run(engine: Engine, hold: float, rounds: int) -> list[list[object]]:
    fake = FakeSlack().start()
    settings = load_settings(env_file=None, environ={
        "DATABASE_URL": engine.url.render_as_string(hide_password=False), "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": fake.url})  # fmt: skip
    server = BotServer(settings, engine, fake, today=exit_t.DAY).start()
    results: dict[str, list[Round]] = {}
    try:
        for _ in range(rounds):
            for name, one in one_round(engine, server, hold).items():
                results.setdefault(name, []).append(one)
    finally:
        server.stop()
        fake.stop()
    rows: list[list[object]] = []
    for name, got in results.items():
        told = ", ".join(f"{k} {sum(r.told == k for r in got)}" for k in dict.fromkeys(r.told for r in got))
        rows.append([
            name, len(got), sum(r.failed for r in got), f"{statistics.median(r.answered_s for r in got):.2f}",
            ", ".join(str(s) for s in sorted({r.status for r in got})), told,
            sum(r.before_release for r in got), sum(r.stored for r in got),
        ])  # fmt: skip
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--database-url", help="a scratch PostgreSQL database (default: a temp SQLite file)")
    ap.add_argument("--hold", type=float, default=10.0, help="seconds the lock is held (default 10)")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    header = ["request", "tried", "failed", "answer s (median)", "HTTP", "told", "before the lock went",
              "stored after"]  # fmt: skip
    if is_postgres(args.database_url):
        engine = make_engine(normalise_url(args.database_url))
        upgrade(engine)
        try:
            rows = run(engine, args.hold, args.rounds)
        finally:
            engine.dispose()
        name = "PostgreSQL"
    else:
        with temp_dir("bench-locked-") as folder, sqlite_engine(Path(folder)) as engine:
            rows = run(engine, args.hold, args.rounds)
        name = "SQLite"
    print(f"{name}, lock held {args.hold:g} s, {args.rounds} round(s) each")
    print(table(rows, header))
    sys.exit(1 if any(r[2] for r in rows) else 0)


if __name__ == "__main__":
    main()
