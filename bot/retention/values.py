"""What the retention buttons and the Mark done modal carry."""

from __future__ import annotations

from bot.slack.values import Id, Value, Version


class TaskRef(Value):
    """The task a "Mark done" button (value) or the Mark done modal (private_metadata) is about, at the version shown:
    a task changed or closed since then is reported, not overwritten."""

    task_id: Id
    version: Version


class DraftRef(Value):
    """The alert whose outreach draft a Regenerate / Use template button redraws."""

    alert_id: Id
