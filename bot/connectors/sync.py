"""`healthbot sync`: pull each source page by page, map its records, write them in batches.

Each batch is one transaction that writes the records and moves the source's watermark (`sync_state`):
the position of the next page and the highest change time seen. A sync killed half-way resumes at the
first page not committed, so nothing is skipped, and writes are upserts (aggregated metrics keep one
part per record), so a page read twice never counts twice. A record that does not fit the mapping is
skipped and reported with its source and position; the valid ones are written. A metric dated after today
(in the team's time zone; tomorrow is let through for clock skew) is such a record.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from typing import Any

import httpx
from sqlalchemy import Engine

from bot.connectors.http import Fetcher, FetchFailed, make_client, pages
from bot.connectors.mapping import RecordError, account_row, changed_at, observations
from bot.connectors.sources import Source, SourcesError
from bot.progress import Bar
from bot.scoring.importer import CLOCK_SLACK, last_metric_day
from prompts import formats, say
from storage import sync as store

log = logging.getLogger("healthbot.connectors")
ERRORS_KEPT = 20  # record errors kept for the report; the rest are counted


@dataclass
class SyncSummary:
    source: str
    kind: str
    records: int = 0  # records read
    written: int = 0  # accounts or observations written
    pages: int = 0
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> records
    errors: list[str] = field(default_factory=list)  # the first ERRORS_KEPT, with source and position
    retried: dict[str, int] = field(default_factory=dict)
    resumed: bool = False  # continued a sync stopped half-way
    failed: str | None = None  # why the source stopped (after the batches already committed)
    since: datetime | None = None  # the watermark after this sync

    def skip(self, error: RecordError, where: str) -> None:
        self.skipped[error.reason] += 1
        if len(self.errors) < ERRORS_KEPT:
            self.errors.append(say("sync.record.line", where=where, detail=error.detail))


@dataclass
class _Batch:
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    direct: dict[tuple[int, date, str], float] = field(default_factory=dict)
    items: dict[tuple[str, str], tuple[int, date, float]] = field(default_factory=dict)
    records: int = 0


def sync_source(
    engine: Engine,
    source: Source,
    *,
    tz: tzinfo = UTC,
    full: bool = False,
    quiet: bool = True,
    client: httpx.Client | None = None,
) -> SyncSummary:
    """Pull one source; a failure stops it (batches committed so far stay, the next sync resumes)."""
    summary = SyncSummary(source.name, source.kind)
    try:
        with client or make_client(source) as http:
            _run(engine, source, Fetcher(source, http), summary, tz=tz, full=full, quiet=quiet)
    except (FetchFailed, SourcesError) as exc:
        summary.failed = "; ".join(exc.problems) if isinstance(exc, SourcesError) and exc.problems else str(exc)
        log.warning("%s", summary.failed)
    return summary


def _run(
    engine: Engine, source: Source, fetcher: Fetcher, summary: SyncSummary, *, tz: tzinfo, full: bool, quiet: bool
) -> None:
    with engine.begin() as conn:
        state = store.get_state(conn, source.name)
        keys: dict[str, int] = {}
        if source.kind == "metrics":
            keys = store.account_keys(conn, source.fields["account"].match)
    incremental = source.incremental
    if full:
        state = store.State(source.name)
    position: str | None
    if state.running and state.position is not None:
        position, since, summary.resumed = state.position, state.run_since, True
    else:
        state.run_max, state.records = None, 0
        keep = source.pagination.keep and state.position is not None
        position = state.position if keep else None
        since = state.since or (incremental.first() if incremental else None)
    state.run_since = since
    aggregates: dict[str, str] = {m: s.aggregate for m, s in source.metrics.items() if s.aggregate != "none"}
    batch = _Batch()
    last = last_metric_day(tz)
    match = source.fields["account"].match if source.kind == "metrics" else "external_id"
    shown = incremental.render(since) if incremental and since else None
    desc, unit = say("cli.progress.syncing", source=source.name), say("cli.progress.records")
    with Bar(desc=desc, unit=unit, disable=quiet, leave=False) as bar:
        try:
            for page in pages(fetcher, position, shown):
                summary.pages += 1
                for i, record in enumerate(page.records, 1):
                    where = say("sync.where", source=source.name, page=page.number, record=i)
                    try:
                        _add(source, record, batch, keys, match, aggregates, tz, last)
                    except RecordError as error:
                        rid = record.get("id") if isinstance(record, dict) else None
                        summary.skip(
                            error, where + (say("sync.where_id", id=rid) if isinstance(rid, str | int) else "")
                        )
                    moved = changed_at(source, record)
                    if moved is not None and (state.run_max is None or moved > state.run_max):
                        state.run_max = moved
                batch.records += len(page.records)
                summary.records += len(page.records)
                bar.update(len(page.records))
                if page.next is None:
                    state.running = False
                    state.since = (
                        max(d for d in (state.since, state.run_max) if d) if state.run_max or state.since else None
                    )
                    state.position = (page.cursor or position) if source.pagination.keep else None
                    _flush(engine, source, batch, state, summary, aggregates)
                elif batch.records >= source.batch:
                    state.running, state.position = True, page.next
                    _flush(engine, source, batch, state, summary, aggregates)
                    batch = _Batch()
                position = page.next
        finally:
            summary.retried = dict(fetcher.retried)
    summary.since = state.since


def _add(
    source: Source,
    record: Any,
    batch: _Batch,
    keys: dict[str, int],
    match: str,
    aggregates: dict[str, str],
    tz: tzinfo,
    last: date,
) -> None:
    if source.kind == "accounts":
        row = account_row(source, record, tz)
        batch.accounts[row["external_id"]] = row  # the later of two records of one account wins
        return
    found = observations(source, record, tz)
    future = next((obs.day for obs in found if obs.day > last), None)
    if future is not None:
        raise RecordError(
            say("metrics.future.sync_reason"), say("metrics.future.sync", day=future, today=last - CLOCK_SLACK, tz=tz)
        )
    for obs in found:
        key = obs.account.lower() if match != "external_id" else obs.account
        account_id = keys.get(key)
        if account_id is None:
            raise RecordError(
                say("sync.no_account"), say("sync.no_account_detail", account=repr(obs.account), match=match)
            )
        if obs.metric in aggregates:
            batch.items[(obs.record_id or "", obs.metric)] = (account_id, obs.day, obs.value)
        else:
            batch.direct[(account_id, obs.day, obs.metric)] = obs.value


def _flush(
    engine: Engine, source: Source, batch: _Batch, state: store.State, summary: SyncSummary, aggregates: dict[str, str]
) -> None:
    """One transaction: the batch's rows and the watermark, together."""
    with engine.begin() as conn:
        if batch.accounts:
            created, updated = store.upsert_accounts(conn, list(batch.accounts.values()))
            summary.written += created + updated
        if batch.direct:
            rows = [(a, d.isoformat(), m, v) for (a, d, m), v in sorted(batch.direct.items())]
            summary.written += store.upsert_observations(conn, rows)
        if batch.items:
            summary.written += store.put_items(conn, source.name, batch.items, aggregates)
        state.records += batch.records
        store.save_state(conn, state)


def sync_sources(
    engine: Engine,
    sources: list[Source],
    names: list[str] | None = None,
    *,
    tz: tzinfo = UTC,
    full: bool = False,
    quiet: bool = True,
) -> list[SyncSummary]:
    """The named sources (default all), accounts sources first: metrics name accounts they may create."""
    chosen = [s for s in sources if not names or s.name in names]
    chosen.sort(key=lambda s: s.kind != "accounts")
    return [sync_source(engine, s, tz=tz, full=full, quiet=quiet) for s in chosen]


def describe(summary: SyncSummary) -> list[str]:
    """The summary in lines for the CLI and the log, in the current language (prompts/sync.toml)."""
    n = formats.number
    head = say(
        f"sync.head_{summary.kind if summary.kind == 'accounts' else 'observations'}",
        source=summary.source,
        records=n(summary.records),
        pages=n(summary.pages),
        written=n(summary.written),
    )
    lines = [head + (say("sync.resumed") if summary.resumed else "")]
    if summary.skipped:
        why = say("sync.skipped_joiner").join(
            say("sync.skipped_reason", n=n(count), reason=reason) for reason, count in summary.skipped.most_common()
        )
        lines.append(say("sync.skipped", count=n(sum(summary.skipped.values())), why=why))
        lines += [say("sync.error", error=e) for e in summary.errors]
        more = sum(summary.skipped.values()) - len(summary.errors)
        if more > 0:
            lines.append(say("sync.more", more=n(more)))
    if summary.retried:
        why = say("sync.retried_joiner").join(
            say("sync.retried_reason", why=why, n=count) for why, count in summary.retried.items()
        )
        lines.append(say("sync.retried", why=why))
    if summary.failed:
        lines.append(say("sync.stopped", why=summary.failed))
    elif summary.since:
        lines.append(say("sync.next", since=summary.since.isoformat()))
    return lines
