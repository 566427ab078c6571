"""What the App Home tab's buttons carry."""

from __future__ import annotations

from pydantic import Field, NonNegativeInt

from bot.slack.values import Value


class HomePages(Value):
    """Which page each of the Home tab's lists shows (list key -> page)."""

    pages: dict[str, NonNegativeInt] = Field(default_factory=dict)

    def turned(self, key: str, step: int) -> HomePages:
        return HomePages(pages={**self.pages, key: max(0, self.pages.get(key, 0) + step)})
