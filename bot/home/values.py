"""What the App Home tab's buttons carry."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from bot.slack.values import MAX_PAGE, Value

PageNumber = Annotated[int, Field(ge=0, le=MAX_PAGE)]


class HomePages(Value):
    """Which page each of the Home tab's lists shows (list key -> page)."""

    pages: dict[str, PageNumber] = Field(default_factory=dict)

    def turned(self, key: str, step: int) -> HomePages:
        return HomePages(pages={**self.pages, key: min(MAX_PAGE, max(0, self.pages.get(key, 0) + step))})
