"""The daily run's derived copy of recent metrics: files, no SQL (`bot.scoring.derived` decides what to trust).

One generation is a (metrics x accounts x days) float64 cube as .npy (read back with `np.load(mmap_mode="r")`),
its sorted account ids, which (metric, day) had any row, and a manifest naming them with the metrics, the first
day, each day's token (`storage.metric_days.day_tokens`) and the database it came from. A new generation is
written under new names, fsynced, and becomes current by an `os.replace` of the manifest, last: a crash leaves
the old generation or none, never a half-written one. Files no manifest names are removed by the next writer.

The folder: CACHE_DIR, else a folder per database (its URL without the password) under $XDG_CACHE_HOME/healthbot
or ~/.cache/healthbot. CACHE_DIR=off: no cache (every run reads all its days from the database).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
_VERSION = 1


def folder_for(database_url: str, environ: dict[str, str] | None = None) -> Path | None:
    """The cache folder of the database at `database_url` (a URL without its password); None when CACHE_DIR=off."""
    env = os.environ if environ is None else environ
    configured = (env.get("CACHE_DIR") or "").strip()
    if configured.lower() == "off":
        return None
    root = Path(configured) if configured else Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "healthbot"
    return root / hashlib.sha256(database_url.encode()).hexdigest()[:16]


@dataclass
class Generation:
    """A readable generation: the cube mapped read-only."""

    database: str
    metrics: list[str]
    first_day: int
    tokens: list[str | None]  # per day from first_day
    account_ids: np.ndarray
    cube: np.ndarray  # (metrics, accounts, days), read-only memory map
    seen: np.ndarray  # bool (metrics, days): any row of the metric that day


class NewGeneration:
    """A generation being written: fill all of `cube` (a writable map of its file, zeros at first) and `seen`,
    then `commit`."""

    def __init__(self, folder: Path, metrics: list[str], account_ids: np.ndarray, first_day: int, n_days: int):
        self.folder, self.metrics, self.first_day = folder, metrics, first_day
        self.name = secrets.token_hex(8)
        self.account_ids = account_ids
        shape = (len(metrics), len(account_ids), n_days)
        path = folder / f"cube-{self.name}.npy"
        self.cube = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=shape)
        # reserve the blocks now: a full disk is an OSError here, not a SIGBUS while filling the map
        with open(path, "r+b") as f:
            os.posix_fallocate(f.fileno(), 0, os.path.getsize(path))
        self.seen = np.zeros((len(metrics), n_days), dtype=bool)

    def commit(self, database: str, tokens: list[str | None]) -> np.ndarray:
        """Make this generation the current one; returns its cube mapped read-only."""
        self.cube.flush()
        cube_path = self.folder / f"cube-{self.name}.npy"
        del self.cube
        _fsync(cube_path)
        for kind, array in (("ids", self.account_ids), ("seen", self.seen)):
            path = self.folder / f"{kind}-{self.name}.npy"
            np.save(path, array)
            _fsync(path)
        manifest = {
            "version": _VERSION,
            "name": self.name,
            "database": database,
            "metrics": self.metrics,
            "first_day": self.first_day,
            "tokens": tokens,
        }
        temp = self.folder / f"manifest-{self.name}.tmp"
        temp.write_text(json.dumps(manifest))
        _fsync(temp)
        os.replace(temp, self.folder / MANIFEST)
        _fsync(self.folder)
        _clean(self.folder, keep=self.name)
        return np.load(cube_path, mmap_mode="r")

    def abandon(self) -> None:
        with contextlib.suppress(AttributeError):
            del self.cube
        for path in self.folder.glob(f"*-{self.name}.*"):
            path.unlink(missing_ok=True)


@contextlib.contextmanager
def locked(folder: Path) -> Iterator[bool]:
    """Yields True in the one process that may read and write `folder` now (False: another run holds it, or the
    folder cannot be made)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle = open(folder / "lock", "a+b")  # noqa: SIM115 - held for the with block
    except OSError as error:
        log.warning("metric cache %s not usable: %s", folder, error)
        yield False
        return
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        yield True
    finally:
        handle.close()


def read(folder: Path) -> Generation | None:
    """The current generation, or None when there is none or it is unreadable (a damaged file is ignored)."""
    try:
        manifest: dict[str, Any] = json.loads((folder / MANIFEST).read_text())
        if manifest.get("version") != _VERSION:
            return None
        name = str(manifest["name"])
        cube = np.load(folder / f"cube-{name}.npy", mmap_mode="r")
        ids = np.load(folder / f"ids-{name}.npy")
        seen = np.load(folder / f"seen-{name}.npy")
        metrics = [str(m) for m in manifest["metrics"]]
        tokens = [None if t is None else str(t) for t in manifest["tokens"]]
        shape = (len(metrics), len(ids), len(tokens))
        if cube.dtype != np.float64 or cube.shape != shape or seen.shape != (len(metrics), len(tokens)):
            return None
        return Generation(str(manifest["database"]), metrics, int(manifest["first_day"]), tokens, ids, cube, seen)
    except (OSError, ValueError, KeyError, TypeError) as error:
        if (folder / MANIFEST).exists():
            log.warning("metric cache %s unreadable, reading from the database: %s", folder, error)
        return None


def clean(folder: Path) -> None:
    """Remove the files of unfinished generations (a crash mid-write): everything the manifest does not name."""
    try:
        name = json.loads((folder / MANIFEST).read_text()).get("name")
    except (OSError, ValueError, AttributeError):
        name = None
    _clean(folder, keep=str(name) if name else None)


def _clean(folder: Path, keep: str | None) -> None:
    for path in folder.iterdir():
        if path.name in (MANIFEST, "lock") or (keep and path.name.split(".")[0].endswith(f"-{keep}")):
            continue
        with contextlib.suppress(OSError):
            path.unlink()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
