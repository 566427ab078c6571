"""The daily sync: pull every source of SOURCES_PATH, just before the daily scoring reads the metrics."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import tzinfo
from typing import Any

from sqlalchemy import Engine

from bot.connectors.sources import SourcesError, load_sources
from bot.connectors.sync import SyncSummary, describe, sync_sources
from storage.db import job_lock

JOB_ID = "sync.daily"
log = logging.getLogger("healthbot.jobs.sync")


def run(engine: Engine, sources_path: str, tz: tzinfo) -> list[SyncSummary] | None:
    """Every source, once; None when another replica is syncing or the sources file is invalid (logged)."""
    with job_lock(engine, JOB_ID) as leader:
        if not leader:
            log.info("another replica is syncing; skipped")
            return None
        try:
            sources = load_sources(sources_path)
        except SourcesError as exc:
            log.error("%s", exc)
            return None
        summaries = sync_sources(engine, sources, tz=tz)
    for summary in summaries:
        for line in describe(summary):
            (log.warning if summary.failed else log.info)("%s", line)
    return summaries


def before(job: Callable[..., Any], engine: Engine, sources_path: str, tz: tzinfo) -> Callable[..., None]:
    """`job` preceded by the syncs; a sync that fails is logged and the job runs on what is there."""

    def sync_then(*args: Any, **kwargs: Any) -> None:
        try:
            run(engine, sources_path, tz)
        except Exception:
            log.exception("the sync before the daily scoring failed; scoring what is there")
        job(*args, **kwargs)

    return sync_then
