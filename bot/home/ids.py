"""The App Home tab's action_ids (values namespaced `home.*`)."""

from enum import StrEnum


class HomeIds(StrEnum):
    """The App Home tab."""

    PAGE_PREV = "home.page.prev"
    PAGE_NEXT = "home.page.next"
