"""Exit interviews: `/health exit <customer>`, the card's "Exit interview" button, the global shortcut (customer
picked in the form, searched as you type), the message shortcut (that message as the note), the Edit button of a
stored interview, and the modal's submission (checked, stored, the account churned and its alert resolved, all
before the ack; the summary to the churn channel after it).

Exit interviews hold customers' words: only EXIT_INTERVIEW_READERS (user ids and/or user-group ids; none set: the
whole workspace) may open, read or save them. Everyone else hears "restricted", never the answers."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial
from typing import Any

from pydantic import ValidationError
from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.exits import messages, service
from bot.exits.ids import ExitIds
from bot.exits.messages import TEXT_LIMIT
from bot.exits.values import CodingRef, ExitRef
from bot.health import service as health
from bot.health.command import Exit, Find, clean, parse
from bot.health.lookup import AccountNames
from bot.health.values import AccountRef
from bot.llm.client import Model
from bot.slack.blocks import Message, esc
from bot.slack.outbox import drain
from bot.slack.requests import AfterCommit, Click, Deps, after_ack, after_model, commit_by, on_click, tell
from bot.slack.values import decode, encode
from prompts import say
from storage.db import unit_of_work


def _reply(opened: Message | dict[str, Any] | str, body: dict, client: WebClient, respond: Respond | None) -> None:
    """A stored interview where the user is (or the app's DM), the form in a modal, or a line of text."""
    user_id = (body.get("user") or {}).get("id") or body.get("user_id") or ""
    if isinstance(opened, str):
        tell(body, client, respond, opened)
    elif isinstance(opened, Message):
        if respond is not None and body.get("response_url"):
            respond(response_type="ephemeral", replace_original=False, text=opened.text, blocks=opened.blocks)
        else:
            client.chat_postMessage(channel=user_id, text=opened.text, blocks=opened.blocks)
    else:
        client.views_open(trigger_id=body["trigger_id"], view=opened)


def _show_or_open(
    deps: Deps,
    readers: Sequence[str],
    account_id: int,
    body: dict,
    client: WebClient,
    respond: Respond | None,
    logger: logging.Logger,
) -> None:
    """A reader gets the stored interview (with Edit), or the form when there is none yet."""
    user_id = (body.get("user") or {}).get("id") or body.get("user_id") or ""
    if not service.is_reader(client, readers, user_id, logger):
        tell(body, client, respond, say("exit.restricted"))
        return
    with unit_of_work(deps.sessions) as session:
        opened = service.opening(session, account_id, user_id, deps.today(), open_to_all=not readers)
    _reply(opened, body, client, respond)


def _open_picker(
    deps: Deps, readers: Sequence[str], body: dict, client: WebClient, logger: logging.Logger, note: str | None
) -> None:
    """The shortcuts' form, the customer picked in it (and `note` from the message a shortcut was started on)."""
    user_id = body["user"]["id"]
    if not service.is_reader(client, readers, user_id, logger):
        client.views_open(trigger_id=body["trigger_id"], view=messages.restricted_view())
        return
    view = messages.exit_modal(None, None, user_id, deps.today(), note, open_to_all=not readers)
    client.views_open(trigger_id=body["trigger_id"], view=view)


def _deliver(deps: Deps, client: WebClient, logger: logging.Logger) -> None:
    """The summary for the churn channel (and the alert's redraw) now; the deliver job would later."""
    try:
        drain(deps.sessions, client, max_wait=0.0)
    except Exception:
        logger.warning("could not deliver the exit interview's messages now; the deliver job will", exc_info=True)


def _ask_model(
    deps: Deps, model: Model, interview_id: int, view_id: str, client: WebClient, logger: logging.Logger
) -> None:
    """The model's suggested coding in place of the keywords' in the saver's modal (gone if they closed it)."""
    with unit_of_work(deps.sessions) as session:
        found = service.to_code(session, interview_id)
    if found is None:
        return
    view = service.suggestion(model, *found)  # outside the transaction: a model may take its time
    try:
        client.views_update(view_id=view_id, view=view)
    except SlackApiError as exc:
        logger.info("exit coding suggestion not shown (%s): the modal was closed", exc.response.get("error", ""))


def _replace(click: Click[CodingRef], text: str) -> None:
    """The suggestion's modal now says `text` (or a notice on top, when it changed meanwhile)."""
    view = click.body.get("view") or {}
    try:
        click.client.views_update(view_id=view.get("id"), hash=view.get("hash"), view=messages.notice(text))
    except SlackApiError:
        tell(click.body, click.client, click.respond, text)


def register(
    app: App,
    deps: Deps,
    names: AccountNames,
    churn_channel: str | None = None,
    readers: Sequence[str] = (),
    model: Model | None = None,
) -> None:
    tiers = deps.scorecard.tiers
    save = partial(service.save, tiers=tiers, tz=deps.tz, churn_channel=churn_channel, cs_lead=deps.cs_lead)

    def is_exit(command: dict) -> bool:
        return isinstance(parse(command.get("text") or "", tiers), Exit)

    @app.command("/health", matchers=[is_exit])
    def exit_command(
        ack: Ack, body: dict, command: dict, respond: Respond, client: WebClient, logger: logging.Logger
    ) -> None:
        """`/health exit <customer>`: acked at once; the lookup, the readers check and views.open follow."""
        ack()
        parsed = parse(command.get("text") or "", tiers)
        query = parsed.query if isinstance(parsed, Find) else ""

        def work() -> None:
            with unit_of_work(deps.sessions) as session:
                meant = health.exit_target(
                    session, query, command["user_id"], deps.scorecard, deps.today(), names, deps.tz
                )
            if isinstance(meant, Message):
                respond(response_type="ephemeral", text=meant.text, blocks=meant.blocks)
            else:
                _show_or_open(deps, readers, meant, body, client, respond, logger)

        after_ack(deps, body, client, respond, logger, work)

    def from_card(click: Click[AccountRef]) -> None:
        _show_or_open(deps, readers, click.value.account_id, click.body, click.client, click.respond, click.logger)

    on_click(app, ExitIds.OPEN, AccountRef, deps, from_card)

    def edit(click: Click[ExitRef]) -> None:
        if not service.is_reader(click.client, readers, click.user_id, click.logger):
            tell(click.body, click.client, click.respond, say("exit.restricted"))
            return
        form = service.edit_form(click.session, click.value, click.user_id, deps.today(), open_to_all=not readers)
        _reply(form, click.body, click.client, click.respond)

    on_click(app, ExitIds.EDIT, ExitRef, deps, edit)

    def refused(click: Click[CodingRef]) -> str | None:
        """Why a suggestion's button does nothing: a non-reader, or a value not the one its modal was given."""
        if not service.is_reader(click.client, readers, click.user_id, click.logger):
            return say("exit.restricted")
        if ((click.body.get("view") or {}).get("private_metadata") or "") != encode(click.value):
            return say("health.button_out_of_date")
        return None

    def use_suggestion(click: Click[CodingRef]) -> AfterCommit | None:
        """Stored only on this click, by the saver of the version coded (a reader); the modal says what was set."""
        why = refused(click)
        if why is not None:
            _replace(click, why)
            return None
        text = service.use_suggestion(click.session, click.value, click.user_id, churn_channel)

        def then() -> None:
            _replace(click, text)
            _deliver(deps, click.client, click.logger)

        return then

    on_click(app, ExitIds.CODING_USE, CodingRef, deps, use_suggestion, container="view")

    def keep(click: Click[CodingRef]) -> None:
        _replace(click, refused(click) or service.keep_chosen(click.session, click.value))

    on_click(app, ExitIds.CODING_KEEP, CodingRef, deps, keep, container="view")

    @app.shortcut(str(ExitIds.SHORTCUT))
    def global_shortcut(ack: Ack, body: dict, client: WebClient, logger: logging.Logger) -> None:
        ack()
        after_ack(deps, body, client, None, logger, lambda: _open_picker(deps, readers, body, client, logger, None))

    @app.shortcut(str(ExitIds.MESSAGE_SHORTCUT))
    def message_shortcut(ack: Ack, body: dict, client: WebClient, logger: logging.Logger) -> None:
        """On any message: the form, with the message's text as the note."""
        ack()
        text = str((body.get("message") or {}).get("text") or "")[:TEXT_LIMIT]
        after_ack(
            deps, body, client, None, logger, lambda: _open_picker(deps, readers, body, client, logger, text or None)
        )

    @app.options(str(ExitIds.ACCOUNT))
    def account_options(ack: Ack, payload: dict) -> None:
        """Search as you type: one indexed query per keystroke (name, domain or id)."""
        query = clean(str(payload.get("value") or ""))
        with unit_of_work(deps.sessions) as session:
            options = service.account_options(session, query)
        ack(options=options)

    @app.view(str(ExitIds.MODAL))
    def submitted(
        ack: Ack, body: dict, view: dict, client: WebClient, context: BoltContext, logger: logging.Logger
    ) -> None:
        """Check and store before the ack: errors show inline and nothing is written; a form someone else saved
        over meanwhile is reported, never overwritten."""
        user_id = body["user"]["id"]
        try:
            ref = decode(ExitRef, view.get("private_metadata") or "")
        except ValidationError:
            ack(response_action="errors", errors={ExitIds.STATUS: say("health.button_out_of_date")})
            return
        if not service.is_reader(client, readers, user_id, logger):
            ack(response_action="update", view=messages.restricted_view())
            return
        values: dict[str, Any] = (view.get("state") or {}).get("values") or {}
        entry = service.check(values, ref.account_id, deps.today())
        if isinstance(entry, dict):
            ack(response_action="errors", errors=entry)
            return
        shown: dict[str, Any] | None = None
        with unit_of_work(deps.sessions, commit_by=commit_by(context)) as session:
            saved = save(
                session, entry, ref.interview_id, ref.version, user_id, deps.today(), picked=ref.account_id is None
            )
            found = service.to_code(session, saved.interview_id) if isinstance(saved, service.Saved) else None
            if found is not None:  # the keywords' suggestion at once; a model's, if any, after the ack
                shown = service.suggestion(None, *found, asking=model is not None)
        ack(**service.submission_ack(saved, shown))
        if isinstance(saved, service.Stale):
            logger.info(
                "exit interview of account %s changed before %s's save: nothing overwritten", entry.account_id, user_id
            )
        if not isinstance(saved, service.Saved):
            return
        logger.info(
            "exit interview %s v%s of %s saved by %s", saved.interview_id, saved.version, esc(saved.name), user_id
        )
        interview_id = saved.interview_id

        def follow() -> None:
            _deliver(deps, client, logger)
            if model is not None and shown is not None:
                view_id = str(view.get("id") or "")
                ask = partial(_ask_model, deps, model, interview_id, view_id, client, logger)
                after_model(deps, body, client, None, logger, ask)  # the modal is updated when the model answers

        after_ack(deps, body, client, None, logger, follow)
