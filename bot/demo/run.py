"""`healthbot demo`: a realistic portfolio in a local database, scored, shown in the terminal.

It goes through the same paths as a real team: CSV files -> `import` -> `score` -> the
block builders the bot posts with. No Slack account needed.
"""

from __future__ import annotations

import re
import shlex
import sqlite3
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlmodel import SQLModel

from bot.alerts import messages as alerts
from bot.alerts.job import run_alerts
from bot.alerts.rules import load_rules
from bot.alerts.threads import LISTING_PREFIX, load_view
from bot.calendar import BusinessCalendar
from bot.demo.data import CSM_IDS, generate_portfolio
from bot.progress import Bar
from bot.scoring import chance, chance_fit, chance_words
from bot.scoring.backtest import BacktestResult, backtest
from bot.scoring.importer import import_accounts, import_metrics
from bot.scoring.run import score_range
from bot.scoring.scorecard import Scorecard, load_scorecard
from bot.settings import load_settings
from bot.slack import blocks
from prompts import raw, say
from prompts.formats import listing
from storage import accounts as account_store
from storage import alerts as alert_store
from storage import outbox as outbox_store
from storage import scores
from storage.db import delete_all, make_engine, session_factory, truncate, unit_of_work, upgrade
from storage.models import Account, HealthScore

BACKFILL_DAYS = 90  # the card's sparkline and chart show 90 days
BAR_WIDTH = 40
BACKTEST_HORIZON = 60  # days: does the score on day D see the churn of the next two months coming?
ALERT_WEEKS = 4  # the alert job is run day by day over this many weeks up to the demo's last day
DEMO_ALERT_CHANNEL = "C0DEMOALERTS"  # where the demo's alerts would go (they are not kept)
DEMO_ID = re.compile(r"ACC-\d{4,}")  # the generator's external ids; its owners are CSM_IDS


def _sqlite_file(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def not_demo_data(url: str) -> str | None:
    """What in the database at `url` is not demo data (the demo would destroy it); None when it is
    missing, empty or holds only what an earlier demo put there. Reads only: changes nothing."""
    path = _sqlite_file(url)
    if path is not None:
        if not path.exists() or (path.is_file() and path.stat().st_size == 0):
            return None
        uri = path.resolve().as_uri() + "?mode=ro"
        engine = create_engine("sqlite://", creator=lambda: sqlite3.connect(uri, uri=True))
    else:
        engine = make_engine(url)
    try:
        with engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
            foreign = sorted(tables - set(SQLModel.metadata.tables) - {"alembic_version"})
            if foreign:
                return say("demo.not_demo_table", table=foreign[0])
            if "account" not in tables:
                return None
            for external_id, owner in account_store.account_owners_by_external_id(conn):
                if not DEMO_ID.fullmatch(external_id) or owner not in CSM_IDS:
                    return say("demo.not_demo_account", account=external_id)
    except DBAPIError:
        if path is None:
            raise  # a server that does not answer: upgrade() says so as for any command
        return say("demo.not_sqlite")
    finally:
        engine.dispose()
    return None


def write_demo_csvs(folder: Path, n_accounts: int, days: int, end: date) -> tuple[Path, Path, int]:
    accounts, metrics = generate_portfolio(n_accounts, days, end=end)
    folder.mkdir(parents=True, exist_ok=True)
    accounts_csv, metrics_csv = folder / "accounts.csv", folder / "metrics.csv"
    accounts.drop(columns=["archetype"]).to_csv(accounts_csv, index=False)
    metrics.rename(columns={"day": "date"}).to_csv(metrics_csv, index=False)
    return accounts_csv, metrics_csv, len(metrics)


def run_demo(
    database_url: str,
    n_accounts: int,
    days: int,
    messages: int,
    end: date | None = None,
    force: bool = False,
    tz: tzinfo = UTC,
) -> int:
    """Seed, score and print the demo, its data up to `end` (default: today in `tz`, the team's time zone).
    Refuses (exit 2, nothing changed) a database holding anything but earlier demo data, unless `force`."""
    end = end or datetime.now(tz).date()
    url = load_settings(env_file=None, environ={"DATABASE_URL": database_url}).database_url  # psycopg for postgresql://
    what = None if force else not_demo_data(url)
    if what is not None:
        where = make_url(database_url).render_as_string(hide_password=True)
        print(say("demo.refused", database=where, what=what), file=sys.stderr)
        return 2
    path = _sqlite_file(url)
    if path is not None:  # the demo starts from a new file each run
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    engine = make_engine(url)
    upgrade(engine)
    if path is None:  # or, on a server, from its healthbot tables emptied
        with engine.begin() as conn:
            ours = sorted(set(SQLModel.metadata.tables) & set(inspect(conn).get_table_names()))
            truncate(conn, ours)
    folder = Path("demo-data")
    print(say("demo.intro", accounts=n_accounts, days=days, database=database_url))
    accounts_csv, metrics_csv, _ = write_demo_csvs(folder, n_accounts, days, end)
    import_accounts(engine, accounts_csv, quiet=True)
    import_metrics(engine, metrics_csv, tz=tz)  # shows its own progress bar
    print(say("demo.csv_saved", folder=folder))

    scorecard = load_scorecard()
    start = end - timedelta(days=min(BACKFILL_DAYS, days) - 1)
    with Bar(
        total=(end - start).days + 1, desc=say("cli.progress.scoring"), unit=say("cli.progress.day"), leave=False
    ) as bar:
        score_range(engine, scorecard, start, end, progress=bar.update, today=end)
    fitted, _ = chance_fit.current(engine, scorecard, end)  # as the daily score run does: the card shows it at once

    with engine.connect() as conn:
        counts = scores.tier_counts(conn, end).set_index("tier")
    print()
    print(say("demo.tiers_title", day=end.isoformat()))
    total = int(counts["accounts"].sum()) or 1
    for tier in scorecard.tiers.order:
        n = int(counts["accounts"].get(tier, 0))
        mrr = float(counts["mrr"].get(tier, 0.0))
        bar_text = "█" * round(BAR_WIDTH * n / total)
        print(say("demo.tier_row", tier=scorecard.tiers.label(tier), n=n, mrr=blocks.money(mrr), bar=bar_text))

    drops = _tier_drops(engine, scorecard, end)
    print()
    print(say("demo.movement_title", worse=len(drops["worse"]), better=len(drops["better"])))
    as_of = end - timedelta(days=BACKTEST_HORIZON)
    result = backtest(engine, scorecard, as_of, BACKTEST_HORIZON, with_calibration=True)
    if result.auc is not None:
        print()
        print(
            say(
                "demo.backtest",
                as_of=as_of.isoformat(),
                horizon=BACKTEST_HORIZON,
                auc=result.auc,
                churned=result.churned,
                accounts=result.accounts,
                lift=result.riskiest_tier_lift or 0,
            )
        )
        for cap in result.caps:
            if cap.accounts:
                print(
                    say(
                        "demo.backtest_cap",
                        when=cap.when,
                        at_most=cap.at_most,
                        accounts=cap.accounts,
                        churned=cap.churned,
                        rate=cap.churn_rate or 0,
                        base=result.base_rate or 0,
                    )
                )
    _print_chance(engine, fitted, end, result)
    start_run = first_alert_run(engine, scorecard, end)
    print()
    print(
        say(
            "demo.first_run_title",
            day=end.isoformat(),
            listed=start_run.listed,
            channels=start_run.channels,
            pages=start_run.pages,
            dms=start_run.dms,
            per_page=alerts.LISTING_PAGE,
        )
    )
    for line in start_run.rendered.splitlines()[: 2 + 3 * messages]:  # its title, its intro, 3 lines an account
        print(f"  │ {line}")
    if start_run.listed > messages:
        print(say("demo.first_run_more", more=start_run.listed - messages))
    weeks = alerts_by_week(engine, scorecard, end)
    print()
    print(
        say(
            "demo.alerts_title",
            weeks=len(weeks.weeks),
            backlog=weeks.backlog,
            first=(end - timedelta(days=7 * len(weeks.weeks))).isoformat(),
        )
    )
    widths = raw("demo.alerts_week_widths")  # the weeks' columns line up in English, not inside a Chinese sentence
    for week_end, counts in weeks.weeks:
        padded = {name: f"{n:>{widths.get(name, 0) or ''}}" for name, n in counts.items()}
        print(say("demo.alerts_week", day=week_end.isoformat(), **padded))
    per_csm = listing(f"{csm} {n / len(weeks.weeks):.1f}" for csm, n in sorted(weeks.per_csm.items()))
    print(
        say(
            "demo.alerts_average",
            per_week=weeks.opened / len(weeks.weeks),
            accounts=n_accounts,
            per_csm=per_csm,
            open=weeks.still_open,
            day=end.isoformat(),
        )
    )
    shown = weeks.threads[:messages]
    print()
    day = (weeks.threads_day or end).isoformat()
    print(say("demo.messages_title", shown=len(shown), total=len(weeks.threads), day=day))
    for title, rendered in shown:
        print()
        print(f"  #customer-health ── {title}")
        for line in rendered.splitlines():
            print(f"  │ {line}")
    print()
    env = shlex.quote(f"DATABASE_URL={database_url}")  # the hints act on the demo's database, as printed
    print(say("demo.next_steps", day=end.isoformat(), env=env, as_of=as_of.isoformat(), horizon=BACKTEST_HORIZON))
    engine.dispose()
    return 0


@dataclass
class FirstRun:
    """What the first `healthbot jobs run alerts` on the demo's last day posts: accounts listed, the listing's
    channels and messages (pages), the DMs (one per CSM), the first page drawn for the terminal."""

    listed: int = 0
    channels: int = 0
    pages: int = 0
    dms: int = 0
    threads: int = 0  # alerts opened (none: a first run lists)
    rendered: str = ""


FORGET = ("task_event", "task", "alert_listing", "alert_event", "alert", "outbox_message")  # what the demo runs leave


def _print_chance(engine: Engine, fitted: chance.ChanceFit, day: date, result: BacktestResult) -> None:
    """The chance to churn the daily run fitted: what it expects of the portfolio, how it held out in the backtest."""
    print()
    if not fitted.enough:
        print(say("demo.chance_none", why=chance_words.too_little_text(fitted)))
        return
    with unit_of_work(session_factory(engine)) as session:
        book = chance_fit.portfolio(session, fitted, day)
    print(say("demo.chance", horizon=fitted.horizon, what=chance_words.fit_text(fitted)))
    print(
        say(
            "demo.chance_expected",
            expected=f"{book['chance'].sum():.1f}",
            accounts=len(book),
            loss=blocks.money(float(book["expected_loss"].sum())),
            mrr=blocks.money(float(book["mrr"].fillna(0).sum())),
        )
    )
    cal = result.calibration
    if cal is not None and cal.brier is not None and cal.base_brier is not None and cal.ece is not None:
        print(
            say(
                "demo.chance_held_out",
                as_of=result.as_of,
                horizon=result.horizon_days,
                brier=cal.brier,
                base=cal.base_brier,
                ece=cal.ece * 100,
            )
        )


def _forget(engine: Engine) -> None:
    """The alerts, listings and messages of a demo run: a demo database served later must not post them."""
    with unit_of_work(session_factory(engine)) as session:
        delete_all(session, FORGET)


def first_alert_run(engine: Engine, scorecard: Scorecard, day: date) -> FirstRun:
    """The alert job's first run on `day` with the default rules, as `healthbot jobs run alerts` would do it on
    the demo (the real `run_alerts`, its messages counted in the outbox), then forgotten."""
    rules = load_rules(None, scorecard)
    with unit_of_work(session_factory(engine)) as session:
        summary = run_alerts(
            session,
            rules=rules,
            scorecard=scorecard,
            calendar=BusinessCalendar(),
            alert_channel=DEMO_ALERT_CHANNEL,
            day=day,
            now=datetime.combine(day + timedelta(days=1), time(7), tzinfo=UTC),
        )
    out = FirstRun(listed=len(summary.listed), threads=len(summary.opened), dms=summary.dms)
    with session_factory(engine)() as session:
        rows = outbox_store.all_messages(session)
        pages = [r for r in rows if r.key.startswith(LISTING_PREFIX)]
        out.pages, out.channels = len(pages), len({r.channel for r in pages})
        if pages:
            out.rendered = render_blocks(pages[0].payload.get("blocks") or [])
    _forget(engine)
    return out


@dataclass
class AlertWeeks:
    """What the alert job raised on the demo: `backlog` on its first run (accounts already at risk: listed, no
    thread), then per week (its last day, counts of opened/joined/resolved/held back by the budget), opened per
    CSM, and open at the end."""

    backlog: int = 0
    weeks: list[tuple[date, dict[str, int]]] = field(default_factory=list)
    per_csm: Counter[str] = field(default_factory=Counter)
    opened: int = 0
    still_open: int = 0
    threads: list[tuple[str, str]] = field(default_factory=list)  # the latest new alerts: (text, rendered root)
    threads_day: date | None = None  # the day they were opened


def alerts_by_week(engine: Engine, scorecard: Scorecard, end: date, weeks: int = ALERT_WEEKS) -> AlertWeeks:
    """Run the alert job's decisions (default rules, `bot.alerts.job.run_alerts`) day by day over the last
    `weeks` weeks up to `end`, each day as of the next morning, after a first run the day before (which lists
    the backlog a first install finds, opening no thread); then forget the alerts and their messages: a demo
    database served later must not post a month of them."""
    rules, calendar = load_rules(None, scorecard), BusinessCalendar()
    first = end - timedelta(days=7 * weeks)
    out = AlertWeeks()
    opened: list[int] = []
    week: dict[str, int] = {}
    for k in range(7 * weeks + 1):
        day = first + timedelta(days=k)
        with unit_of_work(session_factory(engine)) as session:  # what jobs.alerts.run does, under its lock
            summary = run_alerts(
                session,
                rules=rules,
                scorecard=scorecard,
                calendar=calendar,
                alert_channel=DEMO_ALERT_CHANNEL,
                day=day,
                now=datetime.combine(day + timedelta(days=1), time(7), tzinfo=UTC),
            )
        if k == 0:
            out.backlog = len(summary.listed)
            continue
        opened += summary.opened
        resolved = summary.recovered + summary.churned
        for name, n in (
            ("opened", len(summary.opened)),
            ("joined", summary.joined),
            ("resolved", resolved),
            ("listed", len(summary.listed)),
        ):
            week[name] = week.get(name, 0) + n
        if k % 7 == 0:
            out.weeks.append((day, week))
            week = {}
        if summary.opened:  # what the alert channel got on the latest day with new alerts, drawn by the real builders
            with unit_of_work(session_factory(engine)) as session:
                views = [v for v in (load_view(session, a) for a in summary.opened) if v is not None]
            views.sort(key=lambda v: (-scorecard.tiers.order.index(v.alert.severity), -(v.account.mrr or 0)))
            out.threads_day = day
            out.threads = []
            for view in views:
                message = alerts.root(view, scorecard.tiers, ZoneInfo("UTC"))
                out.threads.append((_plain(message.text), render_blocks(message.blocks or [])))
    out.opened = len(opened)
    with unit_of_work(session_factory(engine)) as session:
        owners = alert_store.account_owners(session, opened)
        out.per_csm = Counter(str(o) for o in owners)
        out.still_open = len(alert_store.open_alerts(session))
    _forget(engine)
    return out


def _tier_drops(engine: Engine, scorecard: Scorecard, day: date) -> dict[str, list[tuple[Account, HealthScore, str]]]:
    """Accounts whose tier today differs from 7 days ago, worst first."""
    rank = {t: i for i, t in enumerate(scorecard.tiers.order)}
    week_ago = day - timedelta(days=7)
    out: dict[str, list[tuple[Account, HealthScore, str]]] = {"worse": [], "better": []}
    with session_factory(engine)() as session:
        before = {s.account_id: s.tier for s in scores.scores_of_day(session, week_ago)}
        rows = scores.accounts_scored_on(session, day)
        for account, score in rows:
            previous = before.get(account.id)  # type: ignore[arg-type]
            if previous is None or previous == score.tier:
                continue
            key = "worse" if rank[score.tier] > rank[previous] else "better"
            out[key].append((account, score, previous))
    out["worse"].sort(key=lambda r: (-rank[r[1].tier], -(r[0].mrr or 0)))
    return out


def render_blocks(payload: blocks.Blocks) -> str:
    """A terminal rendering of Block Kit: mrkdwn markers dropped, fields side by side."""
    lines: list[str] = []
    for block in payload:
        if block.get("text"):
            lines.extend(_plain(block["text"]["text"]).splitlines())
        if block.get("fields"):
            lines.append(
                "   ".join(
                    _plain(f["text"]).replace("\n", say("demo.field_colon"), 1).replace("\n", ", ")
                    for f in block["fields"]
                )
            )
        for element in block.get("elements", []):
            if "text" in element and isinstance(element["text"], str):
                lines.append(_plain(element["text"]))
            elif element.get("type") == "button":
                lines.append(f"[ {element['text']['text']} ]")
        if block.get("accessory", {}).get("type") == "button":
            lines.append(f"[ {block['accessory']['text']['text']} ]")
    return "\n".join(lines)


EMOJI = {
    ":large_green_circle:": "🟢",
    ":large_yellow_circle:": "🟡",
    ":large_orange_circle:": "🟠",
    ":red_circle:": "🔴",
    ":white_circle:": "⚪",
    ":warning:": "⚠",
}


def _plain(text: str) -> str:
    for code, char in EMOJI.items():
        text = text.replace(code, char)
    text = re.sub(r"<@([A-Z0-9]+)>", r"@\1", text)
    return re.sub(r"(?<![\w])[*_](\S[^*_]*?)[*_](?![\w])", r"\1", text)
