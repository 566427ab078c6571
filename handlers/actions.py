"""Button clicks on messages the bot posted."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from slack_bolt import Ack, App, Respond
from sqlmodel import Session

from bot import blocks
from bot.ids import HealthIds
from bot.scorecard import Scorecard
from prompts import say
from storage import queries
from storage.models import Account


def register(app: App, sessions: Callable[[], Session], scorecard: Scorecard, today: Callable[[], date]) -> None:
    @app.action(HealthIds.PICK_ACCOUNT.value)
    def pick_account(ack: Ack, action: dict, respond: Respond) -> None:
        ack()
        with sessions() as session:
            account = session.get(Account, int(action["value"]))
            if account is None:
                respond(response_type="ephemeral", replace_original=True, text=say("health.gone"))
                return
            score = queries.latest_score(session, account.id)  # type: ignore[arg-type]
            respond(
                response_type="ephemeral",
                replace_original=True,
                text=blocks.card_fallback_text(account, score, scorecard.tiers),
                blocks=blocks.account_card(account, score, scorecard.tiers, today()),
            )
