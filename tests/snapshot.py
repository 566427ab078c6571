"""Whole-payload snapshots: a builder's output compared, all of it, with a JSON file under tests/snapshots/.

A payload that differs fails with both sides shown by pytest. When a change to a builder is meant, regenerate the
files and read the diff before committing it:

    UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/test_payloads.py

Without that flag a missing file fails too (a snapshot is written only on purpose)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.slack.blocks import Message
from prompts import ENGLISH, current

SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE = os.environ.get("UPDATE_SNAPSHOTS") == "1"


def matches(name: str, payload: Any) -> None:
    """Assert that `payload` (JSON types only) equals the stored snapshot `name`, or (UPDATE_SNAPSHOTS=1) store it."""
    path = SNAPSHOTS / f"{name}.json"
    if UPDATE:
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(json.dumps(payload, indent=2, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
        return
    assert path.exists(), f"no snapshot {path.name}: write it with UPDATE_SNAPSHOTS=1 (see tests/snapshot.py)"
    assert json.loads(path.read_text(encoding="utf-8")) == json.loads(json.dumps(payload))


def matches_spoken(name: str, payload: Any) -> None:
    """`matches`, the snapshot named for the language spoken (`name.zh-CN`; English's as before)."""
    matches(name if current() == ENGLISH else f"{name}.{current()}", payload)


def message(payload: Message) -> dict[str, Any]:
    """A message's text and blocks, each block validated by slack_sdk's models."""
    assert payload.blocks is not None
    for block in payload.blocks:
        Block.parse(block).validate_json()  # type: ignore[union-attr]
    return {"text": payload.text, "blocks": payload.blocks}


def view(payload: dict[str, Any]) -> dict[str, Any]:
    """A modal or Home view, validated by slack_sdk's models."""
    View(**payload).validate_json()
    return payload


both = pytest.mark.usefixtures("language")  # run in every language (conftest's `language`), a snapshot per language
