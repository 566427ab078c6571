"""Retention actions: playbook tasks per alert, their Mark done modal, escalation of overdue tasks."""
