"""Playbook tasks: created when an alert opens, assigned, drawn in the alert's thread, DMed to their assignees.

Assignment, in this order: the account's owner (when it is a Slack user id); else whoever claims the alert
(`claimed`: claiming gives the claimer the alert's unassigned tasks); else, once the alert is past its response
time and still unclaimed, round-robin over the TEAM setting (`round_robin`, run by jobs/task_escalations.py).
Due dates count from the alert's opening on the business calendar (each step's "N business hours/days").

Every message is an outbox row written in the caller's unit of work (keys: see /tmp contract and below), so a
replayed job or a second click enqueues nothing new:
- `alert:N:tasks`: the task list, a reply in the alert's thread; `alert:N:tasks:v{sum of versions}`: its redraws;
- `alert:N:draft`: the outreach draft, a reply in the thread;
- `task:T:dm:{user}`: one DM to an assignee for the tasks just given to them (T: the first of them); the tasks an
  alert's opening gives its owner travel in the alert's DM instead (`bot.alerts.threads`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session

from bot.calendar import BusinessCalendar
from bot.retention import messages
from bot.retention.messages import Draft, Highlight, TaskList
from bot.retention.playbooks import Playbook, load_playbooks
from bot.scoring.explain import driver_reason, metric_label
from bot.scoring.scorecard import Tiers
from bot.slack.alert_thread import root_key
from bot.slack.blocks import is_user
from bot.slack.language import speaking_to
from prompts import raw, speaking_in
from storage import alerts, outbox, scores
from storage import tasks as store
from storage.models import Account, Alert, HealthScore, Task
from storage.types import AlertStatus, TaskStatus


def tasks_key(alert_id: int) -> str:
    return f"alert:{alert_id}:tasks"


def tasks_redraw_key(alert_id: int, tasks: Sequence[Task]) -> str:
    return f"alert:{alert_id}:tasks:v{sum(t.version for t in tasks)}"


def draft_key(alert_id: int) -> str:
    return f"alert:{alert_id}:draft"


def dm_key(task_id: int, assignee: str) -> str:
    return f"task:{task_id}:dm:{assignee}"


def overdue_key(task_id: int, level: int) -> str:
    return f"task:{task_id}:overdue:{level}"


# --------------------------------------------------------------------------- the thread's task list


def redraw_tasks(session: Session, alert_id: int, tiers: Tiers, tz: ZoneInfo, cs_lead: str | None = None) -> None:
    """Enqueue the thread's task list in the tasks' current state: posted the first time (`alert:N:tasks`), then
    one redraw per change (`alert:N:tasks:v{sum of the tasks' versions}`, a chat.update of it). Nothing when
    the alert has no tasks. Call it after any change to an alert's tasks, in the same unit of work."""
    alert = alerts.get(session, alert_id)
    tasks = store.of_alert(session, alert_id)
    if alert is None or not tasks:
        return
    for task in tasks:
        session.refresh(task)  # a conditional UPDATE in this session may have changed it
    account = session.get(Account, alert.account_id)
    view = TaskList(account.name if account else str(alert.account_id), tasks[0].playbook, tasks)
    with speaking_in(alert.channel):  # the thread's language, whoever's click redraws it
        message = messages.task_list(view, tiers, tz, cs_lead)
    if outbox.get(session, tasks_key(alert_id)) is None:
        outbox.post(
            session, tasks_key(alert_id), alert.channel, message.text, message.blocks, thread_key=root_key(alert_id)
        )
        return
    if all(t.version == 1 for t in tasks):  # unchanged since created: the list as posted is current
        return
    outbox.update(session, tasks_redraw_key(alert_id, tasks), tasks_key(alert_id), message.text, message.blocks)


def dm_assignee(
    session: Session, assignee: str, tasks: Sequence[Task], alert: Alert, name: str, tiers: Tiers, tz: ZoneInfo
) -> None:
    """One DM to `assignee` about `tasks` (just given to them), if the assignee is a Slack user."""
    if not tasks or not is_user(assignee):
        return
    first = min(t.id or 0 for t in tasks)
    with speaking_to(assignee):
        message = messages.task_dm(name, alert.severity, alert.channel, tasks, tiers, tz)
    outbox.post(session, dm_key(first, assignee), assignee, message.text, message.blocks)


def _dm_each(session: Session, tasks: Sequence[Task], alert: Alert, name: str, tiers: Tiers, tz: ZoneInfo) -> None:
    by: dict[str, list[Task]] = {}
    for task in tasks:
        if task.assignee:
            by.setdefault(task.assignee, []).append(task)
    for assignee, theirs in sorted(by.items()):
        dm_assignee(session, assignee, theirs, alert, name, tiers, tz)


# --------------------------------------------------------------------------- the outreach draft


def highlights(session: Session, account_id: int, until: date | None = None) -> list[Highlight]:
    """Recent usage of the account (prompts/outreach.toml [highlights]): each metric over the last `days` days
    up to its latest observation (or `until`), against the `days` before."""
    conf = raw("outreach.highlights")
    days, how = int(conf["days"]), dict(conf["metrics"])
    if until is None:
        latest = scores.latest_score(session, account_id)
        until = latest.day if latest is not None else date.today()
    since = until - timedelta(days=2 * days - 1)
    series = scores.metric_series(session, account_id, list(how), since)
    out: list[Highlight] = []
    for metric, points in series.items():
        recent = [v for d, v in points if until - timedelta(days=days) < d <= until]
        before = [v for d, v in points if d <= until - timedelta(days=days)]
        if not recent:
            continue

        def figure(values: list[float], metric: str = metric) -> float:
            return sum(values) / len(values) if how[metric] == "mean" else sum(values)

        now_value = figure(recent)
        base = figure(before) if before else None
        change = (now_value - base) / base if base else None
        out.append(Highlight(metric_label(metric), how[metric], now_value, change, days))
    return out


def post_draft(
    session: Session,
    alert: Alert,
    account: Account,
    score: HealthScore | None,
    book: Playbook,
    names: Callable[[str], str | None] | None = None,
) -> None:
    """Enqueue the outreach draft of the alert's playbook in its thread (once), if the playbook names one.

    It is signed with the owner's name, looked up now with `names` (bot.slack.client.UserNames: users.info,
    cached), when the alert job writes it: the outbox row holds the finished text, so delivery (and any retry of
    it) sends exactly what was decided, once. No owner, no `names` or no answer: the team's sign-off."""
    if book.template is None:
        return
    owner = account.owner_slack_id if is_user(account.owner_slack_id) else None
    signature = names(owner) if names is not None and owner else None
    alert_id = alert.id or 0
    with speaking_in(alert.channel):  # its reasons and metric names too: the thread's language
        drivers = [driver_reason(d) for d in score.parts.drivers] if score is not None else []
        found = highlights(session, account.id or 0, score.day if score else None)
        draft = Draft(book.template, account.name, owner, drivers, found, signature)
        message = messages.outreach(draft, alert_id)
    outbox.post(
        session, draft_key(alert_id), alert.channel, message.text, message.blocks, thread_key=root_key(alert_id)
    )


# --------------------------------------------------------------------------- the lifecycle


def create_tasks(
    session: Session,
    alert: Alert,
    account: Account,
    score: HealthScore | None,
    *,
    calendar: BusinessCalendar,
    now: datetime,
    tiers: Tiers,
    tz: ZoneInfo,
    playbooks: dict[str, Playbook] | None = None,
    names: Callable[[str], str | None] | None = None,
    dm: bool = True,
) -> list[Task]:
    """On an alert's opening: its tier's playbook becomes tasks (the owner's, or unassigned until a claim), the
    task list and the outreach draft go to the thread, each assignee gets a DM (`dm=False`: the caller puts the
    tasks in the DM it sends about the alert, so the owner gets one DM, not two). A replay creates nothing."""
    book = (playbooks if playbooks is not None else load_playbooks()).get(alert.severity)
    if book is None or not book.steps or alert.id is None:
        return []
    owner = account.owner_slack_id if is_user(account.owner_slack_id) else None
    opened = alert.opened_at or now
    wanted = [
        Task(
            alert_id=alert.id,
            account_id=account.id or 0,
            playbook=book.tier,
            step=s.number,
            title=s.title,
            owner_role=s.owner,
            assignee=owner,
            due_at=s.due(calendar, opened).astimezone(UTC),
        )
        for s in book.steps
    ]
    created = store.create(session, wanted)
    if not created:
        return []
    redraw_tasks(session, alert.id, tiers, tz)
    post_draft(session, alert, account, score, book, names)
    if dm:
        _dm_each(session, created, alert, account.name, tiers, tz)
    return created


def claimed(
    session: Session, alert_id: int, claimer: str, tiers: Tiers, tz: ZoneInfo, cs_lead: str | None = None
) -> int:
    """After a claim: the claimer gets the alert's unassigned tasks (DMed), and the task list is redrawn."""
    won = store.assign_unassigned(session, alert_id, claimer)
    if not won:
        return 0
    alert = alerts.get(session, alert_id)
    if alert is not None:
        account = session.get(Account, alert.account_id)
        mine = [t for t in (store.get(session, i) for i in won) if t is not None]
        dm_assignee(session, claimer, mine, alert, account.name if account else "", tiers, tz)
    redraw_tasks(session, alert_id, tiers, tz, cs_lead)
    return len(won)


def round_robin(
    session: Session, team: Sequence[str], now: datetime, tiers: Tiers, tz: ZoneInfo, cs_lead: str | None = None
) -> dict[int, str]:
    """Unassigned open tasks of alerts past their response time and still unclaimed go to the next TEAM member,
    one member per alert, in turn (the turn survives restarts: it is read from the history). alert id -> member."""
    if not team:
        return {}
    rows = store.alerts_with_unassigned_open_tasks_past_due(session, now)
    given: dict[int, str] = {}
    last = store.last_round_robin_assignee(session)
    turn = (team.index(last) + 1) % len(team) if last in team else 0
    for alert_id in sorted(rows):
        member = team[turn]
        # lock the alert (PostgreSQL): a Claim committing meanwhile waits, or has won and keeps its tasks
        locked = alerts.lock(session, alert_id)
        if locked is None or locked.claimed_by is not None or locked.status != AlertStatus.OPEN:
            continue
        fresh = [store.get(session, t.id) for t in store.of_alert(session, alert_id) if t.id]
        free = [t.id for t in fresh if t and t.status == TaskStatus.OPEN and t.assignee is None and t.id]
        won = [task_id for task_id in free if store.assign(session, task_id, member, None)]
        if not won:
            continue
        given[alert_id] = member
        turn = (turn + 1) % len(team)
        alert = alerts.get(session, alert_id)
        if alert is not None:
            account = session.get(Account, alert.account_id)
            mine = [t for t in (store.get(session, i) for i in won) if t is not None]
            dm_assignee(session, member, mine, alert, account.name if account else "", tiers, tz)
        redraw_tasks(session, alert_id, tiers, tz, cs_lead)
    return given
