"""Reading a CSV file to import: UTF-8 text checked whole (NUL bytes, encoding, header against the documented
columns) into a frame of strings indexed by each row's line in the file, and the line-numbered errors an import
reports (`ImportFailed`, control characters escaped)."""

from __future__ import annotations

import csv
import io
import re
import unicodedata
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from prompts import say

MAX_ERRORS_SHOWN = 20
# Every character `str.strip()` removes, as UTF-8, and a quote (inside which a line break is a value's): a file
# holding none of them has no value to strip, and the per-value strip of every column is skipped.
_SPACES = [chr(c).encode() for c in range(0x110000) if chr(c).isspace() and chr(c) not in "\r\n"]
_NARROW_SPACES = [b for b in _SPACES if len(b) == 1] + [b'"']
_WIDE_SPACE = re.compile(b"|".join(re.escape(b) for b in _SPACES if len(b) > 1))
_WIDE_LEADS = sorted({b[:1] for b in _SPACES if len(b) > 1})


_ESCAPES = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def printable(text: str) -> str:
    """`text` with control, format and line-separator characters escaped (NUL as \\x00, a tab as \\t):
    what a file holds must never drive the terminal that shows an error about it."""
    return "".join(_escape(ch) if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs") else ch for ch in text)


def _escape(ch: str) -> str:
    code = ord(ch)
    if ch in _ESCAPES:
        return _ESCAPES[ch]
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


class ImportFailed(Exception):
    """The file cannot be imported; `errors` are line-numbered, human-readable lines (control characters escaped)."""

    def __init__(self, errors: list[str], total: int | None = None):
        self.errors = [printable(e) for e in errors]
        self.total = total if total is not None else len(errors)
        super().__init__("\n".join(self.errors))

    def report(self) -> str:
        shown = self.errors[:MAX_ERRORS_SHOWN]
        more = self.total - len(shown)
        tail = [say("import_errors.more", more=more)] if more > 0 else []
        return "\n".join([*shown, *tail, say("import_errors.nothing")])


@dataclass
class Errors:
    """Collects (line, message) pairs; a frame's index is each row's line in the file."""

    items: list[tuple[int, str]] = field(default_factory=list)
    count: int = 0

    def add_mask(self, frame: pd.DataFrame, mask: pd.Series | np.ndarray, column: str, problem: str) -> None:
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        for idx in frame.index[mask][: MAX_ERRORS_SHOWN * 5]:
            raw = frame.at[idx, column]
            raw = raw if len(raw) <= 60 else raw[:57] + "..."
            self.items.append((int(idx), say("import_errors.value", column=column, value=raw, problem=problem)))
        self.count += int(mask.sum())

    def add(self, line: int, message: str) -> None:
        self.items.append((line, message))
        self.count += 1

    def raise_if_any(self) -> None:
        if self.items:
            self.items.sort()
            raise ImportFailed(
                [say("import_errors.line", line=line, message=msg) for line, msg in self.items], self.count
            )


def read_csv(path: str | Path, required: tuple[str, ...], optional: tuple[str, ...]) -> pd.DataFrame:
    """Read a UTF-8 CSV as strings, checking the header against the documented columns.

    The frame's index is the line of the file each row starts on (the header is line 1).
    """
    path = Path(path)
    if path.is_dir():
        raise ImportFailed([say("import_errors.file.folder", path=path)])
    if not path.is_file():
        raise ImportFailed([say("import_errors.file.missing", path=path)])
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImportFailed([say("import_errors.file.unreadable", path=path, why=exc.strerror)]) from None
    nul = data.find(b"\x00")
    if nul >= 0:  # UTF-16 text is mostly NULs, and a binary file has some: neither is a CSV we can read
        line = data.count(b"\n", 0, nul) + 1
        raise ImportFailed([say("import_errors.file.nul", path=path, line=line)])
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ImportFailed(
            [say("import_errors.file.not_utf8", path=path, line=line, byte=f"{data[exc.start]:02x}")]
        ) from None
    if not data.removeprefix(b"\xef\xbb\xbf").strip():
        raise ImportFailed([say("import_errors.file.empty", path=path)])
    start = io.StringIO(data[:65536].decode("utf-8-sig", errors="ignore"), newline="")
    header = next(csv.reader(start, skipinitialspace=True), [])
    if not "".join(header).strip():
        raise ImportFailed([say("import_errors.file.blank_header", path=path, columns=",".join(required))])
    try:
        # index_col=False: a first row wider than the header must not become the index;
        # pandas then warns and drops the extra fields, which we turn into an error.
        # skip_blank_lines=False keeps line numbers right; blank rows are dropped below.
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(
                io.BytesIO(data),
                dtype=str,
                keep_default_na=False,
                na_filter=False,
                encoding="utf-8-sig",
                skipinitialspace=True,
                engine="c",
                index_col=False,
                skip_blank_lines=False,
            )
    except pd.errors.ParserWarning:
        first_row = (_record_lines(data)[1:2] or [2])[0]
        raise ImportFailed([say("import_errors.file.wider_row", path=path, line=first_row)]) from None
    except pd.errors.EmptyDataError:
        raise ImportFailed([say("import_errors.file.empty", path=path)]) from None
    except pd.errors.ParserError as exc:
        raise ImportFailed([say("import_errors.file.parser", path=path, message=_parser_message(exc, data))]) from None
    # The header as written: pandas renames a repeated "name" to "name.1" and an empty one to "Unnamed: 2".
    columns = [c.strip() for c in (header if len(header) == len(frame.columns) else frame.columns)]
    frame.columns = pd.Index(columns)
    errors = []
    unnamed = [str(i + 1) for i, c in enumerate(columns) if not c]
    if unnamed:
        errors.append(say("import_errors.header.unnamed", columns=", ".join(unnamed)))
    extra = [c for c in columns if c and c not in required + optional]
    if extra:
        allowed = ", ".join(required + optional)
        separator = next(
            (
                say(f"import_errors.header.{name}")
                for sep, name in ((";", "semicolons"), ("\t", "tabs"))
                if len(columns) == 1 and sep in extra[0]
            ),
            None,
        )
        hint = say("import_errors.header.separated", separator=separator) if separator else ""
        errors.append(say("import_errors.header.unknown", columns=", ".join(extra), allowed=allowed, hint=hint))
    missing = [c for c in required if c not in columns]
    if missing:
        errors.append(say("import_errors.header.missing", columns=", ".join(missing)))
    dupes = sorted({c for c in columns if columns.count(c) > 1})
    if dupes:
        errors.append(say("import_errors.header.repeated", columns=", ".join(dupes)))
    if errors:
        raise ImportFailed(errors)
    frame.index = _row_lines(data, len(frame))
    if _may_need_strip(data):
        frame = frame.apply(lambda col: col.str.strip())
    return frame[(frame != "").any(axis=1)]  # drop blank rows, keeping each row's line number in the index


def _may_need_strip(data: bytes) -> bool:
    """Whether a value of the file may start or end with a space (`_SPACES`) or hold a quoted line break: memchr
    scans, and a regex only for a file holding the first byte of a wide space."""
    if any(b in data for b in _NARROW_SPACES):
        return True
    return not data.isascii() and any(b in data for b in _WIDE_LEADS) and _WIDE_SPACE.search(data) is not None


def _row_lines(data: bytes, rows: int) -> pd.Index:
    """The file line each of `rows` data rows starts on (blank lines count as rows)."""
    lines = data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n") + (not data.endswith((b"\n", b"\r")))
    if lines != rows + 1:  # a quoted value spans lines: find where each record starts
        starts = _record_lines(data)
        if len(starts) == rows + 1:
            return pd.Index(starts[1:])
    return pd.RangeIndex(2, rows + 2)


def _record_lines(data: bytes) -> list[int]:
    """The line each CSV record starts on, the header's first; a slow path, for quoted newlines."""
    reader = csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""), skipinitialspace=True)
    starts: list[int] = []
    while True:
        start = reader.line_num + 1
        try:
            next(reader)
        except StopIteration:
            return starts
        except csv.Error:  # e.g. a quote never closed: the bad record starts here
            return [*starts, start]
        starts.append(start)


def _parser_message(exc: Exception, data: bytes) -> str:
    message = str(exc)
    match = re.search(r"line (\d+), saw (\d+)", message)
    if match:
        record, fields = int(match.group(1)), match.group(2)
        starts = _record_lines(data)
        line = starts[record - 1] if record <= len(starts) else record
        return say("import_errors.file.more_fields", line=line, fields=fields)
    match = re.search(r"EOF inside string starting at row (\d+)", message)
    if match:
        record = int(match.group(1))
        starts = _record_lines(data)
        line = starts[record] if record < len(starts) else record + 1
        return say("import_errors.file.unclosed", line=line)
    return message
