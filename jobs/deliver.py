"""Deliver the outbox: every message the bot decided to post, update or DM, sent exactly once.

The scheduler runs `run` every minute (retries, channels the bot was invited to since) and at the end of the
daily chain; `healthbot jobs run JOB` runs `until_delivered` after its job. No job lock: `drain` is safe in
several processes at once (claims skip rows another sender holds).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import fields
from typing import Any

from slack_sdk import WebClient
from sqlalchemy import Engine

from bot.slack.outbox import DrainResult, drain
from storage.db import session_factory

JOB_ID = "deliver"
log = logging.getLogger("healthbot.jobs.deliver")


def run(engine: Engine, client: WebClient, **drain_options: Any) -> DrainResult:
    """One drain: sends what is due now (waiting for retries due within its `max_wait`)."""
    result = drain(session_factory(engine), client, **drain_options)
    if result.sent or result.failed or result.remaining:
        log.info("outbox: %d sent, %d failed, %d still to deliver", result.sent, result.failed, result.remaining)
    return result


def until_delivered(
    engine: Engine,
    client: WebClient,
    *,
    timeout: float = 300.0,
    clock: Callable[[], float] = time.monotonic,
    **drain_options: Any,
) -> DrainResult:
    """Drain until nothing is left to deliver (failed rows, e.g. not_in_channel, are not waited for) or
    `timeout` seconds have passed; the counts of every drain, `remaining` from the last one."""
    total = DrainResult()
    deadline = clock() + timeout
    while True:
        result = drain(session_factory(engine), client, **drain_options)
        for f in fields(DrainResult):
            if f.name != "remaining":
                setattr(total, f.name, getattr(total, f.name) + getattr(result, f.name))
        total.remaining = result.remaining
        if not result.remaining or clock() >= deadline:
            return total
        if not result.sent and not result.retried and not result.rate_limited:
            time.sleep(1.0)  # rows leased by another sender (a replica): wait for it
