"""Expected MRR loss added up (bot/scoring/loss.py), on a frame whose sums are worked out by hand."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from bot.scoring.loss import LossRow, loss_summary, name, top

ORDER = ["healthy", "watch", "at_risk"]

# account, segment, owner, mrr, tier, chance -> chance x MRR
#  1  smb   U1  1000  at_risk  0.20 -> 200
#  2  smb   U2   500  watch    0.10 ->  50
#  3  ent   U1  4000  healthy  0.02 ->  80
#  4  -     -    300  at_risk  0.50 -> 150
#  5  ent   U2  2000  healthy  -    ->   0 (no chance: counted in accounts and MRR only)
#  6  ""    U1     -  watch    0.30 ->   0 (no MRR: counted in the expected accounts, adds no loss)
#  7  smb   U2   100  legacy   0.10 ->  10 (a tier the card's order does not name)
FRAME = pd.DataFrame(
    {
        "account_id": [1, 2, 3, 4, 5, 6, 7],
        "segment": ["smb", "smb", "ent", None, "ent", "", "smb"],
        "owner_slack_id": ["U1", "U2", "U1", None, "U2", "U1", "U2"],
        "mrr": [1000.0, 500.0, 4000.0, 300.0, 2000.0, None, 100.0],
        "tier": ["at_risk", "watch", "healthy", "at_risk", "healthy", "watch", "legacy"],
        "chance": [0.2, 0.1, 0.02, 0.5, math.nan, 0.3, 0.1],
    }
)


def _same(got: LossRow, key: str | None, accounts: int, mrr: float, exp: float, loss: float, without: int) -> None:
    assert (got.key, got.accounts, got.without_chance) == (key, accounts, without)
    assert got.mrr == pytest.approx(mrr)
    assert got.expected_accounts == pytest.approx(exp)
    assert got.expected_loss == pytest.approx(loss)


def test_portfolio_sums_every_account_and_only_the_chances_it_has() -> None:
    s = loss_summary(FRAME, ORDER)
    # MRR 1000+500+4000+300+2000+100; chances 0.2+0.1+0.02+0.5+0.3+0.1; loss 200+50+80+150+10
    _same(s.portfolio, None, 7, 7900, 1.22, 490, 1)
    assert (s.accounts, s.without_chance, s.with_chance, s.empty) == (7, 1, 6, False)


def test_segments_largest_loss_first_with_one_no_segment_row() -> None:
    rows = loss_summary(FRAME, ORDER).segments
    assert [r.key for r in rows] == ["smb", None, "ent"]
    _same(rows[0], "smb", 3, 1600, 0.4, 260, 0)  # 1, 2, 7
    _same(rows[1], None, 2, 300, 0.8, 150, 0)  # 4 (no segment) and 6 (a blank one)
    _same(rows[2], "ent", 2, 6000, 0.02, 80, 1)  # 3, 5


def test_csms_largest_loss_first_with_one_no_owner_row() -> None:
    rows = loss_summary(FRAME, ORDER).csms
    assert [r.key for r in rows] == ["U1", None, "U2"]
    _same(rows[0], "U1", 3, 5000, 0.52, 280, 0)  # 1, 3, 6
    _same(rows[1], None, 1, 300, 0.5, 150, 0)  # 4
    _same(rows[2], "U2", 3, 2600, 0.2, 60, 1)  # 2, 5, 7


def test_tiers_in_the_cards_order_then_the_ones_it_does_not_name() -> None:
    rows = loss_summary(FRAME, ORDER).tiers
    assert [r.key for r in rows] == ["healthy", "watch", "at_risk", "legacy"]
    _same(rows[0], "healthy", 2, 6000, 0.02, 80, 1)
    _same(rows[1], "watch", 2, 500, 0.4, 50, 0)
    _same(rows[2], "at_risk", 2, 1300, 0.7, 350, 0)
    _same(rows[3], "legacy", 1, 100, 0.1, 10, 0)
    # each grouping adds up to the portfolio
    s = loss_summary(FRAME, ORDER)
    for group in (s.segments, s.csms, s.tiers):
        assert sum(r.expected_loss for r in group) == pytest.approx(s.portfolio.expected_loss)
        assert sum(r.accounts for r in group) == s.portfolio.accounts


def test_a_tier_without_accounts_gets_no_row() -> None:
    assert [r.key for r in loss_summary(FRAME, ["healthy", "gone", "watch", "at_risk"]).tiers][:3] == ORDER


def test_no_chance_at_all_sums_accounts_and_mrr_and_nothing_expected() -> None:
    s = loss_summary(FRAME.assign(chance=math.nan), ORDER)
    _same(s.portfolio, None, 7, 7900, 0, 0, 7)
    assert s.with_chance == 0


def test_no_accounts() -> None:
    s = loss_summary(FRAME.iloc[0:0], ORDER)
    assert s.empty and (s.segments, s.csms, s.tiers) == ([], [], [])
    _same(s.portfolio, None, 0, 0, 0, 0, 0)


def test_ties_keep_a_stable_order_and_the_bucket_last() -> None:
    frame = pd.DataFrame(
        {"segment": ["b", None, "a"], "owner_slack_id": ["U", "U", "U"], "mrr": [10.0] * 3, "tier": ["x"] * 3}
    ).assign(chance=0.5)
    assert [r.key for r in loss_summary(frame, ["x"]).segments] == ["a", "b", None]


def test_names_and_top() -> None:
    s = loss_summary(FRAME, ORDER)
    assert [name("segment", r) for r in s.segments] == ["smb", "no segment", "ent"]
    assert name("csm", s.csms[1]) == "no owner"
    shown, more = top(s.csms, 2)
    assert [r.key for r in shown] == ["U1", None] and more == 1
    assert top(s.csms, 5)[1] == 0
    assert s.portfolio.share == pytest.approx(490 / 7900)


def test_segments_spelled_two_ways_are_one_segment() -> None:
    """The fit keys segments trimmed and case-folded; the sums do too, under the first spelling met."""
    frame = pd.DataFrame(
        {
            "chance": [0.5, 0.1, 0.2],
            "mrr": [100.0, 1000.0, 10.0],
            "segment": ["Enterprise", "enterprise ", "smb"],
            "owner_slack_id": ["U1", "U1", "U2"],
            "tier": ["high_risk", "healthy", "healthy"],
        }
    )
    summary = loss_summary(frame, ["healthy", "high_risk"])
    assert [(r.key, r.accounts, r.expected_loss) for r in summary.segments] == [
        ("Enterprise", 2, pytest.approx(150.0)),
        ("smb", 1, pytest.approx(2.0)),
    ]
