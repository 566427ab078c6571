"""WEB_WORKERS: `healthbot run` serving Slack's HTTP requests from more than one process.

The listening socket is bound once (`bot.app.listen`); before anything else opens a connection or starts a thread,
the process forks WEB_WORKERS - 1 web-only workers that accept on the same socket, each with its own app, engine
pool and caches (every cache of the program is keyed by what the database holds: the names, the chance fits, the
user names and languages). The scheduler, the outbox delivery and Socket Mode stay in the first process: exactly one
process runs the jobs on either database. Forked processes are Linux and macOS only; one Python process serves
on one core at a time (the GIL), so on a box of N cores N workers answer up to N times the requests a second
(bench/README.md).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import sys
import time
from collections.abc import Callable

from sqlalchemy import Engine

from bot.settings import SettingsError

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process receives when its parent ends


def fork_workers(count: int, engine: Engine, serve: Callable[[], None]) -> list[int]:
    """`count` worker processes running `serve()` (the web app on the inherited socket), then exiting; the pids.

    Call it before the process starts a thread: a fork copies only the calling thread."""
    if count > 0 and not hasattr(os, "fork"):
        raise SettingsError(f"WEB_WORKERS={count + 1}: this system cannot fork processes (Windows); set WEB_WORKERS=1")
    pids: list[int] = []
    for _ in range(count):
        pid = os.fork()
        if pid == 0:  # the worker: never returns into the caller's code
            code = 0
            try:
                _die_with_parent()
                engine.dispose(close=False)  # the parent's pooled connections stay the parent's
                serve()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 0
            except BaseException:  # noqa: BLE001 - a worker reports and ends; the parent serves on
                log.exception("web worker %d stopped", os.getpid())
                code = 1
            finally:
                logging.shutdown()
                os._exit(code)
        pids.append(pid)
    if pids:
        log.info("serving HTTP from %d processes (WEB_WORKERS); the scheduler runs in this one", len(pids) + 1)
    return pids


def stop_workers(pids: list[int], timeout: float = 10.0) -> None:
    """SIGTERM to every worker (uvicorn's graceful shutdown), then wait for each; SIGKILL past `timeout`."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    for pid in pids:
        if not _waited(pid, timeout):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def _waited(pid: int, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return True
        if done:
            return True
        time.sleep(0.05)
    return False


def _die_with_parent() -> None:
    """Linux: the kernel sends SIGTERM to this worker when the parent ends, even by SIGKILL."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
