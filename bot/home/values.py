"""What the App Home tab's buttons carry."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from bot.slack.values import MAX_PAGE, Value

PageNumber = Annotated[int, Field(ge=0, le=MAX_PAGE)]
ListKey = Annotated[str, Field(max_length=64)]  # a tier's key
MAX_LISTS = 20  # far past any scorecard's tiers; the pages, encoded, stay inside a button value (2,000 characters)


class HomePages(Value):
    """Which page each of the Home tab's lists shows (list key -> page)."""

    pages: dict[ListKey, PageNumber] = Field(default_factory=dict, max_length=MAX_LISTS)

    def turned(self, key: str, step: int) -> HomePages:
        pages = {**self.pages, key: min(MAX_PAGE, max(0, self.pages.get(key, 0) + step))}
        return HomePages(pages=dict(list(pages.items())[-MAX_LISTS:]))  # full: the oldest other list forgets
