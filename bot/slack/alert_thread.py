"""An alert thread's address, shared by every feature that replies in it.

An alert's root message is the outbox row `alert:N:root` (posted by `bot.alerts.threads`); a reply in its thread
(the alert's own, the task list and outreach draft of `bot.retention`, an exit interview's summary, a task's
overdue note) is an outbox row with that key as its `thread_key`, sent once the root has its ts. It lives here,
below the features, so that those replying in the thread need not import the alerts package.
"""

from __future__ import annotations


def root_key(alert_id: int) -> str:
    """The outbox key of alert `alert_id`'s root message: the `thread_key` of every reply in its thread."""
    return f"alert:{alert_id}:root"
