"""`healthbot override` through the real CLI on a real database: an exact account (id, domain or name) or none,
a churned account refused, the tiers spelled as Slack takes them, a bad tier listing the choices."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from bot.cli import main


def _write(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


# --- overrides ----------------------------------------------------------------------------

ACCOUNTS = (
    "external_id,name,domain,status,churned_on\n"
    "A1,Acme,acme.example,active,\n"
    "W1,Wayne Enterprises,wayne.example,active,\n"
    "G1,Gone Inc,gone.example,churned,2026-01-31\n"
)


@pytest.fixture
def accounts(engine: Engine, cli_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Engine:
    assert main(["import", "accounts", str(_write(tmp_path, "accounts.csv", ACCOUNTS))]) == 0
    capsys.readouterr()
    return engine


def _override(account: str, *more: str) -> int:
    until = (date.today() + timedelta(days=30)).isoformat()
    return main(["override", account, "--tier", "high_risk", "--reason", "CFO is leaving", "--until", until, *more])


def _overrides(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT a.external_id, o.tier FROM health_override o JOIN account a ON a.id = o.account_id")
        ).all()
    return {e: t for e, t in rows}


@pytest.mark.parametrize(("query", "suggested"), [("Acmee", "Acme"), ("Acm", "Acme"), ("Wayn", "Wayne Enterprises")])
def test_override_needs_an_exact_account(
    accounts: Engine, capsys: pytest.CaptureFixture[str], query: str, suggested: str
) -> None:
    assert _override(query) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "did you mean: " in err[0] and suggested in err[0]
    assert _overrides(accounts) == {}

    assert _override(suggested) == 0  # the exact name is taken
    capsys.readouterr()
    assert main(["override", query, "--clear"]) == 1
    assert "did you mean: " in capsys.readouterr().err
    assert len(_overrides(accounts)) == 1  # not cleared


@pytest.mark.parametrize("query", ["A1", "acme.example", "ACME", "acme"])
def test_override_takes_exact_id_domain_or_name(accounts: Engine, query: str) -> None:
    assert _override(query) == 0
    assert _overrides(accounts) == {"A1": "high_risk"}


def test_override_on_a_churned_account_is_refused(accounts: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    assert _override("G1") == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "healthbot: Gone Inc churned on 2026-01-31: it is no longer scored, so there is nothing to override; "
        "nothing written"
    ]
    assert _overrides(accounts) == {}


@pytest.mark.parametrize(
    ("spelled", "tier"), [("high", "high_risk"), ("High risk", "high_risk"), ("red", "high_risk"), ("low", "low_risk")]
)
def test_override_takes_the_tiers_slack_takes(accounts: Engine, spelled: str, tier: str) -> None:
    until = (date.today() + timedelta(days=30)).isoformat()
    assert main(["override", "A1", "--tier", spelled, "--reason", "r", "--until", until]) == 0
    assert _overrides(accounts) == {"A1": tier}


def test_override_bad_tier_lists_the_choices(accounts: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    until = (date.today() + timedelta(days=30)).isoformat()
    assert main(["override", "A1", "--tier", "h", "--reason", "r", "--until", until]) == 2
    err = capsys.readouterr().err
    assert "--tier must be one of healthy, low_risk, medium_risk, high_risk" in err
    assert _overrides(accounts) == {}
