"""What travels in a button `value` or a view's `private_metadata`: small typed models, JSON both ways.

Each feature declares its models (`bot/<feature>/values.py`) on `Value`; they are parsed here only.
"""

from __future__ import annotations

from typing import Annotated, TypeVar

from pydantic import BaseModel, ConfigDict, Field

MAX_PAGE = 10_000  # far past any real list; a forged 10**18 must not reach an OFFSET
MAX_ID = 2**31 - 1  # an INTEGER column on PostgreSQL: a forged 2**63 must not reach a query
Id = Annotated[int, Field(ge=1, le=MAX_ID)]  # a row id (account, alert, task, interview, listing)
Version = Annotated[int, Field(ge=0, le=MAX_ID)]


class Value(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)  # "1" is not a page number


V = TypeVar("V", bound=Value)


def encode(value: Value) -> str:
    return value.model_dump_json(exclude_defaults=True)


def decode(kind: type[V], raw: str) -> V:
    """Parse a button value back (raises pydantic.ValidationError on a forged or stale one)."""
    return kind.model_validate_json(raw)
