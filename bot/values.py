"""What travels in a button `value`: small typed models, JSON both ways, parsed here only."""

from __future__ import annotations

from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt


class _Value(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AccountRef(_Value):
    """The account a card button (pick, open, share, chart) is about."""

    account_id: int


class ListPage(_Value):
    """One page of `/health me` or `/health top [N] [tier]`."""

    kind: Literal["me", "top"]
    page: int = Field(default=0, ge=0)
    limit: int | None = None  # top N
    tier: str | None = None


class HomePages(_Value):
    """Which page each of the Home tab's lists shows (list key -> page)."""

    pages: dict[str, NonNegativeInt] = Field(default_factory=dict)

    def turned(self, key: str, step: int) -> HomePages:
        return HomePages(pages={**self.pages, key: max(0, self.pages.get(key, 0) + step)})


V = TypeVar("V", bound=_Value)


def encode(value: _Value) -> str:
    return value.model_dump_json(exclude_defaults=True)


def decode(kind: type[V], raw: str) -> V:
    """Parse a button value back (raises pydantic.ValidationError on a forged or stale one)."""
    return kind.model_validate_json(raw)
