"""Hostile input, end to end: signed fuzzed requests to the real bot web server, counting what went wrong.

    python bench/bench_fuzz.py [--requests N] [--seed S] [--database-url URL]

Serves the bot (`create_app` + `create_web`, with POST /ingest/metrics on) with uvicorn on loopback against
a database holding a small demo portfolio (60 accounts, scored), the Web API being the recording fake Slack,
and sends N signed requests drawn from a seeded generator: `/health` commands with hostile text and forms
missing fields, block_actions with forged values (ids past the database's integers, 41-character user ids,
wrong types) and shapes (`actions` a string, `user` not an object, a card button from a view container),
view submissions with wrong-typed state, events with wrong shapes, and ingest bodies with hostile dates and
numbers. Then it waits for the work after the acks and prints:

- tried: requests sent; 5xx: answers with a server error;
- tracebacks: log records carrying an exception (an error id shown to a user, a crash in Bolt or uvicorn);
- raw values: log records holding a forged value as sent (each forged string carries a marker);
- hostile stored: ingest bodies with a hostile record answered 200 (it must be 422, nothing stored).

A run with the same seed sends the same requests. PostgreSQL: use a scratch database (its tables are emptied).
Not part of the product; it stops by itself.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import re
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import uvicorn
from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # `python bench/bench_fuzz.py` from anywhere

from bot.alerts.ids import AlertIds, ListingIds  # noqa: E402
from bot.app import create_app  # noqa: E402
from bot.exits.ids import ExitIds  # noqa: E402
from bot.health.ids import HealthIds  # noqa: E402
from bot.home.ids import HomeIds  # noqa: E402
from bot.retention.ids import RetentionIds  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from bot.web import create_web  # noqa: E402
from storage.db import delete_all, make_engine, session_factory, unit_of_work, upgrade  # noqa: E402
from tests.conftest import TABLES, free_port, sign  # noqa: E402
from tests.fake_slack import FakeSlack  # noqa: E402

SECRET = "fuzz-signing-secret"
INGEST_TOKEN = "fuzz-ingest-token-0123456789"
DAY = date(2026, 6, 30)
MARK = "FZQ"  # every forged string carries MARK + a number: a log line holding one holds a raw value
BIG = (2**31, 2**63, 10**30, -(2**63) - 1)  # past PostgreSQL's integer, bigint, anything; below bigint
BIG_TEXT = tuple(str(n) for n in BIG if abs(n) > 2**40)


class Fuzz:
    """A seeded generator of hostile requests."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.n = 0

    def mark(self) -> str:
        self.n += 1
        return f"{MARK}{self.n}"

    def pick(self, options: list[Any] | tuple[Any, ...]) -> Any:
        return options[self.rng.randrange(len(options))]

    def forged(self) -> Any:
        """A value where a small one of some type is expected."""
        return self.pick([
            *BIG, -1, 0, 1, 2, 7, 1.5, float("1e308"), True, None, [], [1], {}, {"a": 1}, "", self.mark(),
            "U" + "A" * 40, "U01CSM0001", f"<!channel> {self.mark()}", "2026-W48-6", "20261201", "9999-12-31",
            "0001-01-01", self.mark() * 50,
        ])  # fmt: skip

    # --- /health commands ---------------------------------------------------------------------------------

    def command_text(self) -> str:
        return self.pick([
            "plays 9999-Q4", "plays 0000-Q1", "plays 2026-q9", "plays 9999-12", "plays 99999d", "plays 2026-W48",
            "churn 0001-01-01..9999-12-31", "churn 9999-Q4", "churn 9999-12", "churn 2026-W48-6..2026-12-01",
            "churn 20260101..20261231", "churn 2026-12-01..2026-01-01", "churn 1900-01-01..1900-12-31",
            "top 99999999999999999999999", "top -0", "top 0", "me", "tasks", "help", "exit " + self.mark(),
            "exit 99999999999999999999", "9223372036854775808", "Acme\x00" + self.mark(), "<!channel>",
            "x" * self.rng.randrange(0, 3000), "".join(chr(self.rng.randrange(1, 0x2FFF)) for _ in range(40)),
        ])  # fmt: skip

    def command(self, response_url: str) -> dict[str, Any]:
        form: dict[str, Any] = {
            "token": "legacy", "team_id": "T1", "team_domain": "test", "channel_id": "C0TEST0001",
            "channel_name": "customer-health", "user_id": "U01CSM0001", "user_name": "csm", "command": "/health",
            "text": self.command_text(), "api_app_id": "A1", "response_url": response_url, "trigger_id": "1.2.3",
        }  # fmt: skip
        roll = self.rng.random()
        if roll < 0.15:
            del form[self.pick(["user_id", "channel_id", "text", "response_url", "trigger_id", "team_id"])]
        elif roll < 0.25:
            form["user_id"] = self.pick(["U" + "A" * 40, "", self.mark(), "W1"])
        return form

    # --- interactivity ------------------------------------------------------------------------------------

    ACTIONS = (
        *(str(i) for i in (HealthIds.PICK_ACCOUNT, HealthIds.OPEN_CARD, HealthIds.SHARE, HealthIds.CHART,
                           HealthIds.LIST_PREV, HealthIds.LIST_NEXT, HealthIds.OVERRIDE)),
        str(HomeIds.PAGE_PREV), str(HomeIds.PAGE_NEXT), str(RetentionIds.MARK_DONE), str(ExitIds.OPEN),
        str(ExitIds.EDIT), str(AlertIds.CLAIM), str(AlertIds.RELEASE), str(AlertIds.RESOLVE), str(AlertIds.OPEN_CARD),
        str(AlertIds.SNOOZE), str(AlertIds.REASSIGN), str(ListingIds.OPEN),
    )  # fmt: skip
    KEYS = ("account_id", "alert_id", "task_id", "version", "listing_id", "interview_id", "page", "kind", "limit",
            "tier", "pages", "until", "to", "response_url")  # fmt: skip

    def value(self) -> str:
        roll = self.rng.random()
        if roll < 0.1:
            return self.mark()  # not JSON
        if roll < 0.2:
            return json.dumps(self.forged())
        fields = {self.pick(self.KEYS): self.forged() for _ in range(self.rng.randrange(1, 4))}
        if "kind" in fields and self.rng.random() < 0.7:
            fields["kind"] = self.pick(["me", "top"])
        if "pages" in fields and self.rng.random() < 0.5:
            fields["pages"] = {self.mark(): self.forged()}
        return json.dumps(fields)

    def container(self) -> dict[str, Any]:
        return self.pick([
            {"type": "message", "message_ts": "1700000000.000100", "channel_id": "C0TEST0001", "is_ephemeral": True},
            {"type": "view", "view_id": "V1"},
            {"type": "message", "message_ts": "1700000000.000100", "channel_id": "C0TEST0001",
             "thread_ts": "1700000000.000001"},
        ])  # fmt: skip

    def block_actions(self, response_url: str) -> dict[str, Any]:
        action_id = self.pick(self.ACTIONS)
        action: dict[str, Any] = {"type": "button", "action_id": action_id, "block_id": "b1", "value": self.value(),
                                  "action_ts": "1.2"}  # fmt: skip
        if action_id == AlertIds.SNOOZE:
            action = {"type": "static_select", "action_id": action_id, "block_id": "b1", "action_ts": "1.2",
                      "selected_option": self.pick([{"value": self.value()}, self.mark(), None, {}])}  # fmt: skip
        elif action_id == AlertIds.REASSIGN:
            action = {"type": "users_select", "action_id": action_id, "action_ts": "1.2",
                      "block_id": self.pick([f"{AlertIds.ACTIONS}|{self.value()}", self.mark(), 7]),
                      "selected_user": self.forged()}  # fmt: skip
        payload: dict[str, Any] = {
            "type": "block_actions", "team": {"id": "T1", "domain": "test"},
            "user": {"id": "U01CSM0001", "username": "csm", "team_id": "T1"}, "api_app_id": "A1", "token": "legacy",
            "container": self.container(), "trigger_id": "1.2.3", "channel": {"id": "C0TEST0001", "name": "h"},
            "response_url": response_url, "actions": [action],
        }  # fmt: skip
        if payload["container"]["type"] == "view":
            del payload["response_url"], payload["channel"]
            payload["view"] = {"type": self.pick(["home", "modal"]), "id": "V1", "callback_id": "", "hash": "1.a",
                               "private_metadata": "", "state": {"values": {}}}  # fmt: skip
        self.shape(payload)
        return payload

    def shape(self, payload: dict[str, Any]) -> None:
        """Sometimes break the payload's shape: a field missing, a string or list where an object belongs."""
        roll = self.rng.random()
        if roll < 0.25:
            key = self.pick(["user", "actions", "view", "container", "channel", "team", "type"])
            payload[key] = self.pick([self.mark(), [self.mark()], 7, None, {}, [{}]])
        elif roll < 0.3:
            payload["user"] = {"id": self.forged()}

    def state(self) -> dict[str, Any]:
        blocks = {
            str(HealthIds.OVERRIDE_TIER): {str(HealthIds.OVERRIDE_TIER): {"type": "static_select",
                                                                         "selected_option": {"value": "red"}}},
            str(HealthIds.OVERRIDE_REASON): {str(HealthIds.OVERRIDE_REASON): {"type": "plain_text_input",
                                                                             "value": "because"}},
            str(HealthIds.OVERRIDE_UNTIL): {str(HealthIds.OVERRIDE_UNTIL): {"type": "datepicker",
                                                                           "selected_date": "2026-07-30"}},
            str(RetentionIds.OUTCOME_BLOCK): {str(RetentionIds.OUTCOME): {"type": "radio_buttons",
                                                                          "selected_option": {"value": "done"}}},
            str(RetentionIds.NOTES_BLOCK): {str(RetentionIds.NOTES): {"type": "plain_text_input", "value": "ok"}},
            str(RetentionIds.NEXT_STEP_ON_BLOCK): {str(RetentionIds.NEXT_STEP_ON): {"type": "datepicker",
                                                                                  "selected_date": "2026-07-10"}},
            str(ExitIds.ACCOUNT): {str(ExitIds.ACCOUNT): {"type": "external_select",
                                                          "selected_option": {"value": '{"account_id":1}'}}},
            str(ExitIds.REASON): {str(ExitIds.REASON): {"type": "static_select",
                                                        "selected_option": {"value": "price"}}},
            str(ExitIds.CHURN_DATE): {str(ExitIds.CHURN_DATE): {"type": "datepicker", "selected_date": "2026-06-01"}},
            str(ExitIds.MRR_LOST): {str(ExitIds.MRR_LOST): {"type": "number_input", "value": "100"}},
            str(AlertIds.OUTCOME_BLOCK): {str(AlertIds.OUTCOME): {"type": "radio_buttons",
                                                                  "selected_option": {"value": "saved"}}},
        }  # fmt: skip
        for _ in range(self.rng.randrange(1, 4)):  # forge a few leaves (or whole elements)
            block = blocks[self.pick(list(blocks))]
            element = next(iter(block.values()))
            if not isinstance(element, dict) or self.rng.random() < 0.2:
                block[next(iter(block))] = self.forged()
            else:
                key = self.pick([k for k in element if k != "type"])
                element[key] = self.forged() if self.rng.random() < 0.7 else {"value": self.forged()}
        return blocks

    def view_submission(self) -> dict[str, Any]:
        callback = self.pick([str(HealthIds.OVERRIDE_MODAL), str(RetentionIds.DONE_MODAL), str(ExitIds.MODAL),
                              str(AlertIds.RESOLVE_MODAL)])  # fmt: skip
        metadata = self.value() if self.rng.random() < 0.8 else self.forged()
        view = {"id": "V1", "type": "modal", "callback_id": callback, "private_metadata": metadata, "hash": "1.a",
                "state": {"values": self.state()}}  # fmt: skip
        payload: dict[str, Any] = {
            "type": "view_submission", "team": {"id": "T1", "domain": "test"},
            "user": {"id": "U01CSM0001", "username": "csm", "team_id": "T1"},
            "api_app_id": "A1", "token": "legacy", "trigger_id": "1.2.3", "view": view,
        }  # fmt: skip
        if self.rng.random() < 0.2:
            view["state"] = self.pick([{"values": self.mark()}, {"values": [1]}, self.mark(), None])
        self.shape(payload)
        return payload

    def other_interactive(self) -> dict[str, Any]:
        """A shortcut or an options load (the exit interview's customer search)."""
        kind = self.pick(["shortcut", "message_action", "block_suggestion"])
        payload: dict[str, Any] = {"type": kind, "team": {"id": "T1", "domain": "test"}, "token": "legacy",
                                   "user": {"id": "U01CSM0001", "username": "csm", "team_id": "T1"},
                                   "api_app_id": "A1", "trigger_id": "1.2.3"}  # fmt: skip
        if kind == "shortcut":
            payload["callback_id"] = str(ExitIds.SHORTCUT)
        elif kind == "message_action":
            payload.update(callback_id=str(ExitIds.MESSAGE_SHORTCUT), channel={"id": "C0TEST0001"},
                           message={"ts": "1.2", "text": self.pick([self.mark(), 7, None])},
                           response_url="http://127.0.0.1:9/nowhere")  # fmt: skip
        else:
            payload.update(action_id=str(ExitIds.ACCOUNT), block_id=str(ExitIds.ACCOUNT),
                           value=self.pick([self.mark(), 7, None, "x" * 5000]),
                           view={"id": "V1", "type": "modal", "callback_id": str(ExitIds.MODAL)})  # fmt: skip
        self.shape(payload)
        return payload

    def event(self) -> dict[str, Any]:
        event: Any = {"type": "app_home_opened", "user": "U01CSM0001", "channel": "D1", "tab": "home",
                      "event_ts": "1.2"}  # fmt: skip
        roll = self.rng.random()
        if roll < 0.3:
            event = self.pick([self.mark(), [event], 7, None])
        elif roll < 0.6:
            event[self.pick(["user", "tab", "type"])] = self.forged()
        body = {"token": "legacy", "team_id": "T1", "api_app_id": "A1", "type": "event_callback", "event": event,
                "event_id": self.pick([f"Ev{self.rng.randrange(10**9)}", self.forged()]), "event_time": 1}  # fmt: skip
        if self.rng.random() < 0.1:
            body = {"type": "url_verification", "challenge": self.forged(), "token": "legacy"}
        return body

    # --- POST /ingest/metrics -----------------------------------------------------------------------------

    HOSTILE_DATES = ("2026-W48-6", "20261201", "2026-06-1", "0001-01-01", "9999-12-31", "2026-06-31", "２０２６-06-01",
                     "2026-06-01T00:00:00", "2026-06-01 ", "")  # fmt: skip

    def ingest(self) -> tuple[bytes, bool]:
        """A body and whether it holds a hostile record (it must then be refused whole)."""
        day = f"2026-06-{self.rng.randrange(1, 31):02d}"  # a day of its own: a later body does not replace it
        record: dict[str, Any] = {"external_id": "ACC-0001", "date": day, "metric": "logins", "value": 3}
        hostile = self.rng.random() < 0.8
        if hostile:
            roll = self.rng.random()
            if roll < 0.4:
                record["date"] = self.pick(self.HOSTILE_DATES)
            elif roll < 0.8:
                record["value"] = self.pick([10**400, -(10**400), 10**30, 1e300, -1e300, 1e16])
            else:
                record[self.pick(["value", "date", "metric", "external_id"])] = self.forged()
                hostile = not fine(record)
        text = json.dumps([record]).replace("Infinity", "1e999")
        if self.rng.random() < 0.1:
            text = self.pick(
                [
                    '[{"external_id":"ACC-0001","date":"2026-06-01","metric":"logins","value":NaN}]',
                    '[{"external_id":"ACC-0001","date":"2026-06-01","metric":"logins","value":1e999}]',
                ]
            )
            hostile = True
        return text.encode(), hostile


def fine(record: dict[str, Any]) -> bool:
    """Whether a record of `Fuzz.ingest` may be stored: a YYYY-MM-DD day not after tomorrow, a finite number
    within +-1e15 (JSON's booleans are no numbers), a metric name, the demo's account."""
    day, value = record["date"], record["value"]
    try:
        ok_day = isinstance(day, str) and bool(re.fullmatch("[0-9]{4}-[0-9]{2}-[0-9]{2}", day))
        ok_day = ok_day and date.fromisoformat(day) <= date.today() + timedelta(days=1)
    except ValueError:
        ok_day = False
    number = isinstance(value, int | float) and not isinstance(value, bool) and abs(value) <= 1e15
    name = isinstance(record["metric"], str) and bool(re.fullmatch("[a-z][a-z0-9_]{0,63}", record["metric"]))
    return ok_day and number and name and record["external_id"] == "ACC-0001"


class Counting(logging.Handler):
    """Every log record of the run, kept to count tracebacks and raw values."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []
        self.lock_ = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self.lock_:
            self.records.append(record)


def seed_portfolio(url: str, folder: Path) -> Any:
    """A migrated database holding the demo portfolio (60 accounts, 120 days), scored for its last 35 days."""
    from bot.demo.run import write_demo_csvs
    from bot.scoring.importer import import_accounts, import_metrics
    from bot.scoring.run import score_range
    from bot.scoring.scorecard import load_scorecard

    engine = make_engine(url)
    upgrade(engine)
    with unit_of_work(session_factory(engine)) as session:
        delete_all(session, TABLES)
    accounts_csv, metrics_csv, _ = write_demo_csvs(folder, 60, 120, DAY)
    import_accounts(engine, accounts_csv, quiet=True)
    import_metrics(engine, metrics_csv, quiet=True)
    score_range(engine, load_scorecard(), DAY - timedelta(days=34), DAY)
    return engine


def stored_hostile(engine: Any) -> int:
    """Observations stored with a day no real date string sorts like (as text on SQLite) or a huge value."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT day, value FROM metric_observation WHERE value > 1e15 OR value < -1e15 "
                                 "OR CAST(day AS VARCHAR(40)) NOT LIKE '____-__-__%'")).all()  # fmt: skip
    return len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        url = args.database_url or f"sqlite:///{tmp}/fuzz.db"
        url = load_settings(env_file=None, environ={"DATABASE_URL": url}).database_url
        engine = seed_portfolio(url, Path(tmp))
        counting = Counting()
        logging.getLogger().setLevel(logging.INFO)
        with FakeSlack() as fake:
            settings = load_settings(env_file=None, environ={
                "DATABASE_URL": url, "SLACK_BOT_TOKEN": "xoxb-fuzz", "SLACK_SIGNING_SECRET": SECRET,
                "SLACK_API_URL": fake.url,
            })  # fmt: skip
            bolt = create_app(settings, engine, today=lambda: DAY)
            web = create_web(bolt, engine, signing_secret=SECRET, ingest_token=INGEST_TOKEN)
            port = free_port()
            server = uvicorn.Server(uvicorn.Config(web, host="127.0.0.1", port=port, log_level="warning"))
            for name in ("", "uvicorn.error"):  # uvicorn's own logger does not propagate
                logging.getLogger(name).addHandler(counting)
            thread = threading.Thread(target=server.run, daemon=True)
            thread.start()
            while not server.started:
                time.sleep(0.02)
            statuses, by_kind, hostile_ok = run(args, port, fake)
            settle(counting)  # the work after the acks
            server.should_exit = True
            thread.join(10)
        for name in ("", "uvicorn.error"):
            logging.getLogger(name).removeHandler(counting)
        report(args, url, statuses, by_kind, hostile_ok, counting.records, stored_hostile(engine))
        engine.dispose()


def settle(counting: Counting, quiet: float = 2.0, limit: float = 60.0) -> None:
    """Wait until the log has been quiet for `quiet` seconds (the follow-up pools are done), `limit` at most."""
    deadline = time.monotonic() + limit
    seen, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        if len(counting.records) != seen:
            seen, since = len(counting.records), time.monotonic()
        elif time.monotonic() - since > quiet:
            return
        time.sleep(0.2)


def run(args: argparse.Namespace, port: int, fake: FakeSlack) -> tuple[Counter[str], Counter[str], int]:
    fuzz = Fuzz(args.seed)
    statuses: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    hostile_ok = 0
    kinds: list[tuple[str, Callable[[], tuple[str, bytes, dict[str, str], bool]]]] = []

    def slack(body: bytes, content_type: str) -> tuple[str, bytes, dict[str, str], bool]:
        return "/slack/events", body, {"Content-Type": content_type, **sign(body, secret=SECRET)}, False

    def form(payload: dict[str, Any]) -> bytes:
        return urlencode({"payload": json.dumps(payload)}).encode()

    kinds = [
        ("command", lambda: slack(urlencode(fuzz.command(fake.response_url("cmd"))).encode(),
                                  "application/x-www-form-urlencoded")),
        ("block_actions", lambda: slack(form(fuzz.block_actions(fake.response_url("act"))),
                                        "application/x-www-form-urlencoded")),
        ("view_submission", lambda: slack(form(fuzz.view_submission()), "application/x-www-form-urlencoded")),
        ("shortcut/options", lambda: slack(form(fuzz.other_interactive()), "application/x-www-form-urlencoded")),
        ("event", lambda: slack(json.dumps(fuzz.event()).encode(), "application/json")),
    ]  # fmt: skip

    def ingest() -> tuple[str, bytes, dict[str, str], bool]:
        body, hostile = fuzz.ingest()
        return "/ingest/metrics", body, {"Content-Type": "application/json",
                                         "Authorization": f"Bearer {INGEST_TOKEN}"}, hostile  # fmt: skip

    weights = [("command", 0.2), ("block_actions", 0.3), ("view_submission", 0.15), ("shortcut/options", 0.05),
               ("event", 0.1), ("ingest", 0.2)]  # fmt: skip
    makers = dict(kinds) | {"ingest": ingest}
    names, w = zip(*weights, strict=True)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
        for _ in range(args.requests):
            kind = fuzz.rng.choices(names, w)[0]
            path, body, headers, hostile = makers[kind]()
            try:
                status = http.post(path, content=body, headers=headers).status_code
            except httpx.HTTPError as exc:
                status = 599
                print(f"{kind}: {exc.__class__.__name__}", file=sys.stderr)
            statuses[f"{status // 100}xx"] += 1
            if status >= 500:
                failed[kind] += 1
            if hostile and status == 200:
                hostile_ok += 1
    return statuses, failed, hostile_ok


def report(args: argparse.Namespace, url: str, statuses: Counter[str], failed: Counter[str], hostile_ok: int,
           records: list[logging.LogRecord], stored: int) -> None:  # fmt: skip
    tracebacks = [r for r in records if r.exc_info or r.levelno >= logging.ERROR]
    raw = [r for r in records if MARK in _text(r) or any(n in _text(r) for n in BIG_TEXT)]
    print(f"database: {url.split('://')[0]}  seed: {args.seed}")
    print(f"tried: {args.requests}  answers: {dict(sorted(statuses.items()))}")
    print(f"5xx: {sum(failed.values())} {dict(failed)}")
    print(f"tracebacks in the log: {len(tracebacks)}")
    for message, count in Counter(_first_line(r) for r in tracebacks).most_common(12):
        print(f"  {count:5d}  {message}")
    print(f"log lines holding raw values: {len(raw)}")
    for message, count in Counter(str(r.msg)[:90] for r in raw).most_common(6):
        print(f"  {count:5d}  {message}")
    print(f"hostile ingest bodies answered 200: {hostile_ok}; hostile observations stored: {stored}")


def _text(record: logging.LogRecord) -> str:
    try:
        return record.getMessage() + (logging.Formatter().formatException(record.exc_info) if record.exc_info else "")
    except Exception:
        return str(record.msg)


def _first_line(record: logging.LogRecord) -> str:
    error = record.exc_info[1] if record.exc_info else None
    where = f" [{error.__class__.__name__}: {str(error)[:80]}]" if error else ""
    return f"{record.name}: {str(record.msg)[:60]}{where}"


if __name__ == "__main__":
    main()
