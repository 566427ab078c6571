"""The only place that turns an alert's state into outbox rows: its thread's root, redraws, replies, the owner's DM.

Keys (one row per message, so a replay enqueues nothing new):
- `alert:N:root`: the root, posted to the alert's channel;
- `alert:N:v{version}`: a redraw of the root (chat.update of `alert:N:root`), once per state change;
- `alert:N:reply:{what}`: a reply in the thread (`joined:2026-11-29`, `escalated:1`, `resolved`);
- `alert:N:dm`: the DM to the account's owner (with the tasks the alert gave them);
- `alerts:dm:{user}:a{N}` (or `:l{L}`): a run's one DM to a person, gathering their new alerts (N: the first),
  their tasks and their listed accounts (L: the first listing, when no alert);
- `alerts:list:{channel}:{L}:p{k}`: page k of a listing message (L: its first listing), `...:p{k}:v{n}` its
  redraws (n: rows no longer listed).
Nothing here commits: the caller's unit of work does, with the change that decided the message.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session

from bot.alerts import messages
from bot.alerts.messages import AlertView
from bot.scoring import chance_fit
from bot.scoring.scorecard import Tiers
from bot.slack.alert_thread import root_key as root_key  # the thread's address (re-exported)
from bot.slack.blocks import Message, is_user
from bot.slack.chance import Chances
from bot.slack.language import speaking_to
from prompts import speaking_in
from storage import alerts, outbox, scores
from storage.models import Account, Alert, AlertListing, HealthScore, Task
from storage.types import ListingStatus, utcnow


def redraw_key(alert_id: int, version: int) -> str:
    return f"alert:{alert_id}:v{version}"


def reply_key(alert_id: int, what: str) -> str:
    return f"alert:{alert_id}:reply:{what}"


def dm_key(alert_id: int) -> str:
    return f"alert:{alert_id}:dm"


def alerts_dm_key(user: str, first_alert_id: int) -> str:
    """A run's one DM to `user` when it opened alerts for them (else `listed_dm_key`)."""
    return f"alerts:dm:{user}:a{first_alert_id}"


def listed_dm_key(user: str, first_listing_id: int) -> str:
    """A run's one DM to `user` when it only listed accounts of theirs."""
    return f"alerts:dm:{user}:l{first_listing_id}"


LISTING_PREFIX = "alerts:list:"


def listing_key(channel: str, first_listing_id: int, page: int) -> str:
    return f"{LISTING_PREFIX}{channel}:{first_listing_id}:p{page}"


def listing_redraw_key(key: str, done: int) -> str:
    """The redraw of listing page `key` once `done` of its rows left the list."""
    return f"{key}:v{done}"


def chances_of(session: Session, chances: Chances | None) -> Chances:
    """The fit a drawing uses: the caller's (read once per run or click with `Chances.read`, checked against the card
    in use), else the stored one as it is (a caller without the scorecard)."""
    return chances if chances is not None else Chances(chance_fit.stored_in(session))


def load_view(
    session: Session, alert_id: int, today: date | None = None, chances: Chances | None = None
) -> AlertView | None:
    """The alert as stored now (refreshed: a conditional UPDATE in this session may have changed it), its
    account, the account's latest score and its active override on `today` (default: today in UTC), with
    `chances` (`chances_of`); None when the alert or its account is gone."""
    alert = alerts.get(session, alert_id)
    if alert is None:
        return None
    account = session.get(Account, alert.account_id)
    if account is None:
        return None
    override = scores.active_override(session, alert.account_id, today or utcnow().date())
    score = scores.latest_score(session, alert.account_id)
    return AlertView(alert, account, score, override, chances_of(session, chances))


def post_root(session: Session, view: AlertView, tiers: Tiers, tz: ZoneInfo, cs_lead: str | None = None) -> None:
    """Enqueue the thread's root message (once: a second call changes nothing), in its channel's language."""
    with speaking_in(view.alert.channel):
        message = messages.root(view, tiers, tz, cs_lead)
    outbox.post(session, root_key(view.alert.id or 0), view.alert.channel, message.text, message.blocks)


def redraw(
    session: Session,
    alert_id: int,
    tiers: Tiers,
    tz: ZoneInfo,
    cs_lead: str | None = None,
    today: date | None = None,
    chances: Chances | None = None,
) -> None:
    """Enqueue a redraw of the root in the alert's current state, keyed by its version: one per change.

    If the root was never enqueued (it should have been), it is posted now, already in the current state.
    `today` decides which override is active (default: today in `tz`)."""
    view = load_view(session, alert_id, today or datetime.now(tz).date(), chances)
    if view is None:
        return
    if outbox.get(session, root_key(alert_id)) is None:
        post_root(session, view, tiers, tz, cs_lead)
        return
    with speaking_in(view.alert.channel):
        message = messages.root(view, tiers, tz, cs_lead)
    outbox.update(session, redraw_key(alert_id, view.alert.version), root_key(alert_id), message.text, message.blocks)


def reply(session: Session, alert: Alert, what: str, message: Callable[[], Message]) -> None:
    """Enqueue a reply in the alert's thread, posted once the root has its ts (`what` names it: once per what).
    `message` is drawn here, in the channel's language (not the language of whoever clicked)."""
    alert_id = alert.id or 0
    with speaking_in(alert.channel):
        drawn = message()
    outbox.post(
        session, reply_key(alert_id, what), alert.channel, drawn.text, drawn.blocks, thread_key=root_key(alert_id)
    )


def dm_owner(
    session: Session, view: AlertView, tiers: Tiers, tz: ZoneInfo, tasks: list[Task] | None = None
) -> str | None:
    """Enqueue the DM to the account's owner (with `tasks`, those the alert gave them), if the owner is a Slack
    user id; its key."""
    owner = view.account.owner_slack_id
    if not is_user(owner):
        return None
    theirs = [t for t in tasks or [] if t.assignee == owner]
    with speaking_to(owner):
        if theirs:
            message = messages.person_dm([messages.NewAlert(view, theirs)], [], tiers, tz)
        else:
            message = messages.owner_dm(view, tiers, tz)
    outbox.post(session, dm_key(view.alert.id or 0), owner or "", message.text, message.blocks)
    return dm_key(view.alert.id or 0)


def dm_person(
    session: Session,
    user: str,
    new: list[messages.NewAlert],
    listed: list[tuple[AlertListing, str]],
    tiers: Tiers,
    tz: ZoneInfo,
    chances: Chances | None = None,
) -> str | None:
    """Enqueue a run's one DM to `user`: their new alerts with their tasks, their accounts listed (listing, account
    name) in a channel, each with its chance to churn (`chances_of`); its key (None: nothing for them, or not a
    Slack user)."""
    if not is_user(user) or not (new or listed):
        return None
    if new:
        key = alerts_dm_key(user, min(n.view.alert.id or 0 for n in new))
    else:
        key = listed_dm_key(user, min(item.id or 0 for item, _ in listed))
    rows = []
    fit = chances_of(session, chances) if listed else None
    for item, name in listed:  # the account's tier, as the channel's list shows it (the severity may be a worse tier)
        score = scores.latest_score(session, item.account_id)
        account = session.get(Account, item.account_id)
        chance = ""  # (a listed account has not churned)
        if fit is not None and score is not None and account is not None:
            chance = fit.row(score.scorecard, score.score, account.segment)
        rows.append(messages.Listed(name, score.tier if score is not None else item.severity, item.channel, chance))
    with speaking_to(user):
        message = messages.person_dm(new, rows, tiers, tz)
    outbox.post(session, key, user, message.text, message.blocks)
    return key


def _listing_rows(session: Session, items: list[AlertListing]) -> list[messages.ListingRow]:
    rows = []
    for item in items:
        account = session.get(Account, item.account_id)
        if account is None:  # pragma: no cover - the account row cascades its listings away
            continue
        score = scores.latest_score(session, item.account_id)
        alert = alerts.get(session, item.alert_id) if item.alert_id else None
        rows.append(messages.ListingRow(item, account, score, alert))
    return rows


def _page_of(key: str) -> tuple[str, int]:
    prefix, _, page = key.rpartition(":p")
    return prefix, int(page)


def _draw_listing(
    session: Session, key: str, tiers: Tiers, budget: int, chances: Chances | None = None
) -> messages.Message | None:
    items = alerts.on_message(session, key)
    if not items:
        return None
    prefix, page = _page_of(key)
    batch = alerts.on_batch(session, prefix + ":p")
    pages = len({i.message_key for i in batch})
    with speaking_in(items[0].channel):
        rows = _listing_rows(session, items)
        fit = chances_of(session, chances)
        return messages.listing_message(rows, items[0].reason, page, pages, len(batch), tiers, budget, fit)


def post_listing(
    session: Session, items: list[AlertListing], tiers: Tiers, budget: int, chances: Chances | None = None
) -> list[str]:
    """Enqueue the listing message of `items` (new listings of one channel, in the order shown), in pages of
    `messages.LISTING_PAGE`; each listing gets its page's key. The keys."""
    if not items:
        return []
    first = min(i.id or 0 for i in items)
    keys = []
    for k in range(0, len(items), messages.LISTING_PAGE):
        key = listing_key(items[0].channel, first, k // messages.LISTING_PAGE + 1)
        alerts.put_on_message(session, items[k : k + messages.LISTING_PAGE], key)
        keys.append(key)
    chances = chances_of(session, chances)  # once for every page
    for key in keys:
        message = _draw_listing(session, key, tiers, budget, chances)
        if message is not None:
            outbox.post(session, key, items[0].channel, message.text, message.blocks)
    return keys


def redraw_listing(session: Session, key: str, tiers: Tiers, budget: int, chances: Chances | None = None) -> None:
    """Enqueue a redraw of a listing page in its rows' current state (one per row that left the list)."""
    items = alerts.on_message(session, key)
    if not items or outbox.get(session, key) is None:
        return
    done = sum(1 for i in items if i.status != ListingStatus.LISTED)
    message = _draw_listing(session, key, tiers, budget, chances)
    if message is not None and done:
        outbox.update(session, listing_redraw_key(key, done), key, message.text, message.blocks)


def latest(session: Session, account_id: int, day: date) -> HealthScore | None:
    """The account's score on `day` (the run's), else its latest."""
    return scores.score_on(session, account_id, day) or scores.latest_score(session, account_id)
