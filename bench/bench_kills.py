"""Crash recovery of delivery: kill `healthbot jobs run alerts` mid-delivery, again and again, and count what
Slack got (each outbox message must be posted exactly once).

    python bench/bench_kills.py [--database-url URL] [--kills 20] [--seed 1] [--accounts 300] [--days 10]

Seeds the demo portfolio (`healthbot demo --force`: the database is replaced, use a scratch one), lets the
alert job decide `--days` days before today in this process (their roots, thread replies, updates and DMs
wait in the outbox), then starts the real delivery, `healthbot jobs run alerts` (today's alerts, then
everything due) as a process of its own against a fake Slack served by this process (tests/fake_slack.py:
history without thread replies, threads through conversations.replies, as Slack). Once that process has
made its first chat.* request it is killed with SIGKILL after a random delay (0 to `--max-delay` s, drawn
from `--seed`), and started again, `--kills` times; then it runs to the end. Between two runs the killed
sender's leases are made to run out (they would after a minute): the next run takes its rows as in doubt.

Prints one summary line: kills, messages (chat.postMessage rows of the outbox), duplicates (posts beyond
the first of a key), missing (rows never posted or not marked sent), and the duplicates by kind.
`--code-root PATH` runs the delivery with another checkout's code (e.g. the commit before a fix) against
the same fake Slack.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, text  # noqa: E402

from bot.alerts.job import run_alerts  # noqa: E402
from bot.alerts.rules import load_rules  # noqa: E402
from bot.calendar import BusinessCalendar  # noqa: E402
from bot.scoring.scorecard import load_scorecard  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from storage import outbox  # noqa: E402
from storage.db import make_engine, session_factory, unit_of_work  # noqa: E402
from tests.fake_slack import FakeSlack  # noqa: E402

CHANNEL = "C0KILLBENCH"
CHAT = ("chat.postMessage", "chat.update")


def seed(url: str, accounts: int, days: int, workdir: Path) -> Engine:
    """The demo portfolio, then `days` days of alert decisions before today (what waits for delivery)."""
    cmd = [sys.executable, "-m", "bot.cli", "demo", "--database-url", url, "--force", "--messages", "0"]
    done = subprocess.run([*cmd, "--accounts", str(accounts)], cwd=workdir, env=_env(url, None, str(ROOT)),
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    if done.returncode:
        sys.exit(f"healthbot demo failed:\n{done.stdout}\n{done.stderr}")
    engine = make_engine(url)
    scorecard = load_scorecard()
    rules = load_rules(None, scorecard)
    today = datetime.now(UTC).date()
    for k in range(days, 0, -1):
        day = today - timedelta(days=k)
        with unit_of_work(session_factory(engine)) as session:
            run_alerts(
                session, rules=rules, scorecard=scorecard, calendar=BusinessCalendar(), alert_channel=CHANNEL,
                day=day, now=datetime.combine(day + timedelta(days=1), clock_time(7), tzinfo=UTC),
            )  # fmt: skip
    return engine


def _env(url: str, api: str | None, code_root: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")}
    env = {**keep, "PYTHONPATH": code_root, "DATABASE_URL": url, "TIMEZONE": "UTC", "LOG_LEVEL": "WARNING"}
    if api:
        env.update(SLACK_API_URL=api, SLACK_BOT_TOKEN="xoxb-bench", ALERT_CHANNEL=CHANNEL)
    return env


def expire_leases(engine: Engine) -> None:
    """What a minute's wait would do: the killed sender's claims run out, its rows are due (in doubt)."""
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE outbox_message SET claimed_until = :past WHERE claimed_until IS NOT NULL"),
            {"past": datetime.now(UTC) - timedelta(seconds=1)},
        )


def chat_calls(fake: FakeSlack) -> int:
    return sum(len(fake.calls_to(m)) for m in CHAT)


def deliver(fake: FakeSlack, cmd: list[str], env: dict[str, str], workdir: Path, kill_after: float | None) -> bool:
    """One run of the delivery; killed `kill_after` seconds after its first chat.* request (None: runs to
    its end). True when it was killed."""
    before = chat_calls(fake)
    proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        if kill_after is None:
            out, _ = proc.communicate(timeout=900)
            if proc.returncode not in (0, 1):
                print(out, file=sys.stderr)
            return False
        deadline = time.monotonic() + 120
        while chat_calls(fake) == before and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        if proc.poll() is None:
            time.sleep(kill_after)
        if proc.poll() is not None:
            return False  # it finished first
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        return True
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)


def run(url: str, kills: int, seed_: int, accounts: int, days: int, max_delay: float, code_root: str) -> None:
    rng = random.Random(seed_)
    with tempfile.TemporaryDirectory(prefix="bench_kills") as tmp, FakeSlack() as fake:
        fake.real_ts = True
        workdir = Path(tmp)
        t0 = time.perf_counter()
        engine = seed(url, accounts, days, workdir)
        seeded = time.perf_counter() - t0
        cmd = [sys.executable, "-m", "bot.cli", "jobs", "run", "alerts", "--wait", "600"]
        env = _env(url, fake.url, code_root)
        done, runs = 0, 0
        t0 = time.perf_counter()
        while done < kills:
            runs += 1
            killed = deliver(fake, cmd, env, workdir, rng.uniform(0, max_delay))
            if not killed:
                break  # delivered everything before the kill
            done += 1
            time.sleep(0.2)  # a request written just before the kill is still being answered
            expire_leases(engine)
        if done == kills:
            runs += 1
            deliver(fake, cmd, env, workdir, None)
        took = time.perf_counter() - t0
        with unit_of_work(session_factory(engine)) as s:
            rows = [r for r in outbox.all_messages(s) if r.method == outbox.POST]
        posts = Counter(m["metadata"]["event_payload"]["key"] for m in fake.posted() if m.get("metadata"))
        reads = {m: len(fake.calls_to(m)) for m in ("conversations.history", "conversations.replies")}
        engine.dispose()
    duplicates = {r.key: posts[r.key] - 1 for r in rows if posts[r.key] > 1}
    missing = [r.key for r in rows if not posts[r.key] or r.status != "sent"]
    by_kind: Counter[str] = Counter()
    for r in rows:
        if r.key in duplicates:
            kind = "reply" if r.thread_key else ("dm" if r.channel[:1] in ("U", "W") else "root")
            by_kind[kind] += duplicates[r.key]
    kinds = Counter("reply" if r.thread_key else ("dm" if r.channel[:1] in ("U", "W") else "root") for r in rows)
    print(f"database {engine.dialect.name}; seeded in {seeded:.0f} s; {runs} runs in {took:.0f} s; seed {seed_}")
    print(f"messages by kind: {dict(kinds)}; duplicates by kind: {dict(by_kind)}; reads for rows in doubt: {reads}")
    if duplicates or missing:
        print(f"duplicated: {sorted(duplicates)[:10]}  missing: {missing[:10]}")
    print(f"kills={done} messages={len(rows)} duplicates={sum(duplicates.values())} missing={len(missing)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--database-url", help="a scratch database, replaced (default: a SQLite file in a temp dir)")
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--accounts", type=int, default=300, help="demo accounts (default 300)")
    ap.add_argument("--days", type=int, default=10, help="days of alerts waiting for delivery (default 10)")
    ap.add_argument("--max-delay", type=float, default=3.0, help="longest wait from the first request to the kill")
    ap.add_argument("--code-root", default=str(ROOT), help="deliver with the code of this checkout")
    args = ap.parse_args()
    if args.database_url:
        url = load_settings(env_file=None, environ={"DATABASE_URL": args.database_url}).database_url
        run(url, args.kills, args.seed, args.accounts, args.days, args.max_delay, args.code_root)
        return
    with tempfile.TemporaryDirectory(prefix="bench_kills_db") as tmp:
        run(f"sqlite:///{tmp}/kills.db", args.kills, args.seed, args.accounts, args.days, args.max_delay,
            args.code_root)  # fmt: skip


if __name__ == "__main__":
    main()
