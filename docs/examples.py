"""Regenerate the README's examples from the demo portfolio: `docs/card-example.json` (an
account card as Slack gets it, to paste into Block Kit Builder; `docs/card-example.zh-CN.json`
the same card for a Chinese reader), `docs/chart-example.png` (the card's "show chart" image)
and the text rendering of the card the README shows, in English ("In Slack") and then in
Chinese ("Languages").

    python docs/examples.py
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlmodel import Session  # noqa: E402

from bot.demo.run import render_blocks, run_demo  # noqa: E402
from bot.health import service as portfolio  # noqa: E402
from bot.health.chart import render_chart  # noqa: E402
from bot.scoring import chance_fit  # noqa: E402
from bot.scoring.scorecard import load_scorecard  # noqa: E402
from prompts import speaking  # noqa: E402
from storage import scores  # noqa: E402
from storage.db import make_engine  # noqa: E402
from storage.models import HealthOverride  # noqa: E402

END = date(2026, 11, 23)  # fixed, so the examples only change when the code does


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'demo.db'}"
        with contextlib.redirect_stdout(io.StringIO()), contextlib.chdir(folder):
            run_demo(url, 300, 180, 0, end=END)
        engine = make_engine(url)
        scorecard = load_scorecard()
        chance_fit.current(engine, scorecard, END)  # the chance to churn, fitted as the daily `healthbot score` does
        with Session(engine) as session:
            # the enterprise account whose score fell most in 30 days: its drivers, trend and chart all tell a story
            account = scores.steepest_fall(session, END, "enterprise", except_tier="healthy")
            assert account is not None, "the demo has an enterprise account at risk"
            session.add(
                HealthOverride(
                    account_id=account.id, tier="low_risk", set_by="U01CSM0002", expires_on=END + timedelta(days=21),
                    reason="New champion started this week; usage dip expected during handover",
                )
            )  # fmt: skip
            session.commit()
            message = portfolio.card(session, account.id or 0, scorecard, END)
            with speaking("zh-CN"):
                chinese = portfolio.card(session, account.id or 0, scorecard, END)
            chart = portfolio.chart(session, account.id or 0, scorecard)
        engine.dispose()
    docs = ROOT / "docs"
    for name, card in (("card-example.json", message), ("card-example.zh-CN.json", chinese)):
        (docs / name).write_text(json.dumps({"blocks": card.blocks}, indent=2, ensure_ascii=False) + "\n")
    if chart is not None:
        (docs / "chart-example.png").write_bytes(render_chart(chart, scorecard.tiers))
    print(render_blocks(message.blocks))  # the README's card ("In Slack"), then the same in Chinese ("Languages")
    print()
    with speaking("zh-CN"):
        print(render_blocks(chinese.blocks))


if __name__ == "__main__":
    main()
