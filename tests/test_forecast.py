"""The churn forecast: the interval's arithmetic on hand-computed fixtures, the window a command names and the
refusals, storing a forecast and checking it against what happened (SQLite, and PostgreSQL with
TEST_DATABASE_URL), the CLI, and the churn review's section."""

from __future__ import annotations

import json
import math
from datetime import date, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import Engine
from sqlmodel import select

from bot.churn import messages as churn_messages
from bot.churn.analysis import ChurnRate, ChurnReview
from bot.churn.periods import Period
from bot.cli import main
from bot.forecast import interval as forecast_interval
from bot.forecast import messages, service
from bot.forecast import window as forecast_window
from bot.forecast.interval import Bands
from bot.forecast.service import Book
from bot.forecast.window import Window, WindowError
from bot.scoring import chance
from bot.scoring.chance import Band, ChanceFit, ChanceMap, Ratio
from bot.slack.blocks import validate_blocks
from storage.db import session_factory, unit_of_work
from storage.models import Account, ChurnForecast

TODAY = date(2026, 12, 7)

# -- the interval's arithmetic ---------------------------------------------------------------------------------------


def _fit(*bands: Band, cards: dict[str, ChanceMap] | None = None) -> ChanceFit:
    return ChanceFit(
        as_of=TODAY,
        horizon=90,
        scorecard_key="k",
        snapshots=[TODAY - timedelta(days=90)],
        cases=sum(b.cases for b in bands),
        churned_accounts=sum(b.churned for b in bands),
        pooled=ChanceMap(tuple(bands)),
        cards=cards or {},
    )


def _book(score: list[float], mrr: list[float], segment: list[str | None], card: list[str] | None = None) -> Book:
    n = len(score)
    return Book(
        TODAY,
        np.arange(1, n + 1, dtype=np.int64),
        np.array(segment, dtype=object),
        np.array(mrr, dtype=float),
        np.array(card or ["default"] * n, dtype=object),
        np.array(score, dtype=float),
    )


def test_two_accounts_expect_the_sum_of_their_chances() -> None:
    # scores 0-49: 10 of 20 past cases churned (50 %); 50-100: 2 of 10 (20 %)
    fit = _fit(Band(0, 49, 20, 10), Band(50, 100, 10, 2))
    book = _book([30.0, 70.0], [100.0, 1000.0], ["smb", None])
    bands = forecast_interval.bands_of(fit, book.card, book.score, book.segment)
    assert bands.chances.tolist() == [0.5, 0.2]
    total, segments = service.outlooks(book, bands, 0.8)
    assert total.expected_accounts == pytest.approx(0.7)  # 0.5 + 0.2
    assert total.expected_mrr == pytest.approx(250.0)  # 0.5 x 100 + 0.2 x 1,000
    assert (total.accounts, total.mrr) == (2, 1100.0)
    assert [s.segment for s in segments] == ["smb", None]  # named segments, then "no segment"
    assert segments[0].expected_accounts == pytest.approx(0.5) and segments[1].expected_mrr == pytest.approx(200.0)
    assert 0 <= total.accounts_low <= total.accounts_high <= 2
    assert total.mrr_low in (0.0, 100.0, 1000.0, 1100.0) and total.mrr_high in (0.0, 100.0, 1000.0, 1100.0)


def test_the_printout_says_the_mrr_interval_is_narrower_than_reality_and_where_the_mrr_sits() -> None:
    assert service.half_of_mrr(np.array([100.0, 50.0, 30.0, 20.0])) == 1  # 100 of 200
    assert service.half_of_mrr(np.array([60.0, 50.0, np.nan, 40.0, 50.0])) == 2  # 60 + 50 >= half of 200
    assert service.half_of_mrr(np.array([np.nan, 0.0])) == 0  # no MRR known: nothing to say
    fit = _fit(Band(0, 100, 100, 10))
    book = _book([50.0] * 4, [100.0, 50.0, 30.0, 20.0], ["smb"] * 4)
    bands = forecast_interval.bands_of(fit, book.card, book.score, book.segment)
    total, segments = service.outlooks(book, bands, 0.8)
    made = service.Forecast(Window(TODAY, 90), 0.8, TODAY, total, segments, fit, service.half_of_mrr(book.mrr))
    printed = messages.forecast_text(made)
    assert "The MRR interval is narrower than reality" in printed
    assert "half of the MRR sits in 1 account (of 4)" in printed and "less often than 80 %" in printed
    assert made.to_dict()["mrr_half_accounts"] == 1
    unknown = service.Forecast(Window(TODAY, 90), 0.8, TODAY, total, segments, fit)
    assert "narrower" not in messages.forecast_text(unknown)


def test_a_cards_own_bands_are_used_for_its_accounts() -> None:
    own = ChanceMap((Band(0, 100, 100, 30),))
    fit = _fit(Band(0, 100, 100, 10), cards={"enterprise": own})
    no_segment = np.array([None, None], dtype=object)
    bands = forecast_interval.bands_of(
        fit, np.array(["enterprise", "default"], dtype=object), np.array([50.0, 50.0]), no_segment
    )
    assert bands.chances.tolist() == [0.3, 0.1]
    assert bands.chances.tolist() == fit.chances(np.array(["enterprise", "default"]), np.array([50.0, 50.0])).tolist()


def test_the_simulation_mean_is_the_analytic_mean_of_its_model() -> None:
    # Fixed band counts: each draw takes the band's rate from Beta(churned + PRIOR, cases - churned + PRIOR), whose
    # mean is (churned + PRIOR) / (cases + 2 PRIOR); the expected count is that times the accounts in the band.
    bands = Bands(np.array([98.0, 1000.0]), np.array([8.0, 200.0]), np.array([0] * 300 + [1] * 200))
    totals = forecast_interval.simulate(bands, np.ones((500, 1)), draws=4000, seed=5)
    prior = forecast_interval.PRIOR
    a0, b0, a1, b1 = 8 + prior, 90 + prior, 200 + prior, 800 + prior
    r0, r1 = a0 / (a0 + b0), a1 / (a1 + b1)  # 8.05 / 98.1, 200.05 / 1000.1
    assert totals[:, 0].mean() == pytest.approx(300 * r0 + 200 * r1, abs=0.5)

    # and its spread: Var = sum of Bernoulli variances + the band rates' own variance times accounts squared
    def beta_var(a: float, b: float) -> float:
        return a * b / ((a + b) ** 2 * (a + b + 1))

    v0, v1 = beta_var(a0, b0), beta_var(a1, b1)
    variance = 300 * (r0 - r0**2 - v0) + 300**2 * v0 + 200 * (r1 - r1**2 - v1) + 200**2 * v1
    assert totals[:, 0].std() == pytest.approx(math.sqrt(variance), rel=0.06)


def _binomial_quantile(n: int, p: float, q: float) -> int:
    cdf = 0.0
    for k in range(n + 1):
        cdf += math.comb(n, k) * p**k * (1 - p) ** (n - k)
        if cdf >= q:
            return k
    return n


def test_a_band_known_for_certain_gives_the_binomial_interval() -> None:
    # a billion past cases leave no doubt about the rate: 100 accounts at 10 % churn as Binomial(100, 0.1), whose
    # 10th and 90th percentiles are 6 and 14 (P(X <= 5) = 5.8 %, P(X <= 6) = 11.7 %; P(X <= 13) = 87.6 %, P(X <= 14)
    # = 92.7 %)
    assert (_binomial_quantile(100, 0.1, 0.1), _binomial_quantile(100, 0.1, 0.9)) == (6, 14)
    bands = Bands(np.array([1e9]), np.array([1e8]), np.zeros(100, dtype=np.int64))
    mrr = np.full(100, 50.0)
    totals = forecast_interval.simulate(bands, np.column_stack([np.ones(100), mrr]), draws=20000, seed=1)
    low, high = forecast_interval.interval(totals, 0.8)
    assert (low[0], high[0]) == (6, 14)
    assert (low[1], high[1]) == (300.0, 700.0)  # every account 50 MRR: the MRR interval is 50 x the count's
    low90, high90 = forecast_interval.interval(totals, 0.9)
    assert (low90[0], high90[0]) == (_binomial_quantile(100, 0.1, 0.05), _binomial_quantile(100, 0.1, 0.95))


def test_the_simulation_is_seeded_and_chunked(monkeypatch: pytest.MonkeyPatch) -> None:
    bands = Bands(np.array([50.0, 80.0]), np.array([5.0, 30.0]), np.arange(1000) % 2)
    one = forecast_interval.simulate(bands, np.ones((1000, 1)), draws=600, seed=3)
    assert np.array_equal(one, forecast_interval.simulate(bands, np.ones((1000, 1)), draws=600, seed=3))
    done: list[int] = []
    monkeypatch.setattr(forecast_interval, "CHUNK_CELLS", 50_000)  # 50 draws of 1,000 accounts at a time
    chunked = forecast_interval.simulate(bands, np.ones((1000, 1)), draws=600, seed=3, progress=done.append)
    assert done == [50] * 12
    assert chunked[:, 0].mean() == pytest.approx(one[:, 0].mean(), rel=0.05)


def test_fifty_thousand_accounts_simulate_in_seconds() -> None:
    import time

    rng = np.random.default_rng(0)
    bands = Bands(np.array([400.0, 900.0, 300.0]), np.array([100.0, 40.0, 3.0]), rng.integers(0, 3, 50_000))
    weights = np.column_stack([np.ones(50_000), rng.uniform(100, 5000, 50_000)])
    started = time.perf_counter()
    totals = forecast_interval.simulate(bands, weights)
    assert totals.shape == (forecast_interval.DRAWS, 2)
    assert time.perf_counter() - started < 30  # about 3 s on a quiet 2-core box
    assert service.simulated_cells(50_000) >= service.PROGRESS_CELLS  # such a run shows a progress bar


# -- the window ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "start", "end", "label"),
    [
        ("2027-Q1", date(2027, 1, 1), date(2027, 3, 31), "2027-Q1"),
        ("2026-q4", date(2026, 10, 1), date(2026, 12, 31), "2026-Q4"),
        ("2027-01", date(2027, 1, 1), date(2027, 1, 31), "2027-01"),
        ("2028-02", date(2028, 2, 1), date(2028, 2, 29), "2028-02"),
        ("2026-12-08..2027-03-07", date(2026, 12, 8), date(2027, 3, 7), "2026-12-08..2027-03-07"),
        (" 2026-12-08 .. 2026-12-08 ", date(2026, 12, 8), date(2026, 12, 8), "2026-12-08..2026-12-08"),
    ],
)
def test_periods(text: str, start: date, end: date, label: str) -> None:
    assert forecast_window.parse_period(text) == (start, end, label)


@pytest.mark.parametrize(
    "text", ["2027-Q5", "2027-13", "Q1-2027", "2027", "next-quarter", "2027-02-30..2027-03-01", "3000-Q1", ""]
)
def test_bad_periods_say_what_to_type(text: str) -> None:
    with pytest.raises(WindowError, match=r"is not a period: type a quarter \(2027-Q1\), a month \(2027-01\)"):
        forecast_window.parse_period(text)


def test_a_period_backwards_says_so() -> None:
    with pytest.raises(WindowError, match=r"ends \(2027-01-01\) before it starts \(2027-03-01\)"):
        forecast_window.parse_period("2027-03-01..2027-01-01")


def test_the_window_by_default_and_for_a_period() -> None:
    assert forecast_window.window(TODAY) == Window(TODAY, 90)
    assert (Window(TODAY, 90).start, Window(TODAY, 90).end) == (date(2026, 12, 8), date(2027, 3, 7))
    assert forecast_window.window(TODAY, horizon=30) == Window(TODAY, 30)
    assert forecast_window.window(TODAY, as_of=date(2026, 10, 8), horizon=60) == Window(date(2026, 10, 8), 60)
    q3 = forecast_window.window(TODAY, period="2026-Q3")  # a backtest of a quarter
    assert (q3.as_of, q3.horizon, q3.start, q3.end, q3.label) == (
        date(2026, 6, 30),
        92,
        date(2026, 7, 1),
        date(2026, 9, 30),
        "2026-Q3",
    )
    assert forecast_window.window(TODAY, period="2026-Q3", as_of=date(2026, 6, 30), horizon=92) == q3  # agreeing: fine
    from_tomorrow = forecast_window.window(TODAY, period="2026-12-08..2027-03-07")
    assert from_tomorrow == Window(TODAY, 90, "2026-12-08..2027-03-07")


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (
            {"period": "2026-Q3", "as_of": date(2026, 7, 1)},
            "--as-of 2026-07-01 is not the day before 2026-Q3 starts: a period is forecast as of the day before it "
            "(2026-06-30); type --period 2026-Q3 alone",
        ),
        (
            {"period": "2026-Q3", "horizon": 90},
            "--horizon 90 is not the length of 2026-Q3 (92 days): type --period 2026-Q3 alone, or --as-of D "
            "--horizon DAYS without --period",
        ),
        (
            {"as_of": date(2026, 12, 8)},
            "--as-of 2026-12-08 is after today (2026-12-07): a forecast is made from what is known; type --as-of "
            "2026-12-07 or an earlier day",
        ),
        (
            {"period": "2027-Q1"},
            "2027-Q1 is forecast as of the day before it starts (2026-12-31), which is after today (2026-12-07): run "
            "it on 2026-12-31, or forecast from tomorrow to its end now with --period 2026-12-08..2027-03-31",
        ),
    ],
)
def test_options_that_do_not_fit_are_refused_with_what_to_type(options: dict, says: str) -> None:
    with pytest.raises(WindowError) as refused:
        forecast_window.window(TODAY, **options)
    assert str(refused.value) == says


# -- stored, and checked against what happened -----------------------------------------------------------------------


def _accounts(engine: Engine, n: int) -> list[int]:
    with unit_of_work(session_factory(engine)) as session:
        rows = [
            Account(external_id=f"f{i}", name=f"F {i}", name_lower=f"f {i}", mrr=100.0 * i, status="active")
            for i in range(1, n + 1)
        ]
        session.add_all(rows)
        session.flush()
        return [int(a.id) for a in rows if a.id is not None]


def _churn(engine: Engine, days: dict[int, date]) -> None:
    with unit_of_work(session_factory(engine)) as session:
        for account_id, day in days.items():
            account = session.get(Account, account_id)
            assert account is not None
            account.churned_on, account.status = day, "churned"
            account.mrr = 99_999.0  # changed since: the check uses the MRR the forecast was made with


def test_a_forecast_is_stored_and_checked_once_its_period_is_over(engine: Engine) -> None:
    ids = _accounts(engine, 6)
    fit = _fit(Band(0, 49, 40, 20), Band(50, 100, 100, 5))
    book = Book(
        date(2026, 10, 8),
        np.array(ids, dtype=np.int64),
        np.array(["smb", "smb", "enterprise", None, "enterprise", "smb"], dtype=object),
        np.array([100.0, 200.0, 300.0, float("nan"), 500.0, 600.0]),
        np.array(["default"] * 6, dtype=object),
        np.array([10.0, 20.0, 30.0, 90.0, 90.0, 90.0]),
    )
    win = Window(date(2026, 10, 8), 60)  # 2026-10-09 to 2026-12-07
    made = service.store(engine, win, fit, book, made_by="test")
    assert made.id is not None
    assert made.total.expected_accounts == pytest.approx(3 * 0.5 + 3 * 0.05)
    assert made.total.expected_mrr == pytest.approx(0.5 * 600 + 0.05 * 1100)  # the unknown MRR adds nothing
    with unit_of_work(session_factory(engine)) as session:
        row = session.exec(select(ChurnForecast)).one()
        assert (row.period_start, row.period_end, row.horizon_days, row.level) == (
            date(2026, 10, 9),
            date(2026, 12, 7),
            60,
            0.8,
        )
        assert [a["chance"] for a in row.body["accounts"]] == [0.5, 0.5, 0.5, 0.05, 0.05, 0.05]
        assert row.body["accounts"][3] == {"id": ids[3], "chance": 0.05, "mrr": None, "segment": None, "band": 1}
        assert [s["segment"] for s in row.body["segments"]] == ["enterprise", "smb", None]

    # the first account left the day the period started, the third on its last day; the second the day before
    # it started (known by the as-of day: not the period's), the fifth the day after it ended
    _churn(
        engine,
        {
            ids[0]: date(2026, 10, 9),
            ids[2]: date(2026, 12, 7),
            ids[1]: date(2026, 10, 8),
            ids[4]: date(2026, 12, 8),
        },
    )
    with unit_of_work(session_factory(engine)) as session:
        early, running = service.check(session, date(2026, 12, 6))
        assert early == [] and [r.id for r in running] == [made.id]
        checks, running = service.check(session, date(2026, 12, 7))  # over on its last day
        assert running == []
        latest = service.latest_check(session, date(2026, 12, 7))
    (c,) = checks
    assert latest is not None and latest.id == c.id == made.id
    assert (c.total.churned, c.total.mrr_lost) == (2, 400.0)  # 100 + 300, as the forecast had them
    by_segment = {s.outlook.segment: (s.churned, s.mrr_lost) for s in c.segments}
    assert by_segment == {"enterprise": (1, 300.0), "smb": (1, 100.0), None: (0, 0.0)}
    assert c.total.accounts_inside == (c.total.outlook.accounts_low <= 2 <= c.total.outlook.accounts_high)
    as_json = json.loads(json.dumps(c.to_dict()))
    assert as_json["churned"] == 2 and as_json["period"] == {
        "start": "2026-10-09",
        "end": "2026-12-07",
        "days": 60,
        "label": None,
    }
    text = messages.check_text(checks, [], date(2026, 12, 7))
    assert "Forecast #" in text and "Churned accounts: 2 actual" in text and "$400 actual" in text
    assert "no segment" in text


def test_check_with_nothing_stored_says_how_to_make_one(engine: Engine) -> None:
    with unit_of_work(session_factory(engine)) as session:
        assert service.check(session, TODAY) == ([], [])
        assert service.latest_check(session, TODAY) is None
    assert "healthbot forecast --as-of 2026-10-08 --horizon 60" in messages.check_text([], [], TODAY)


def _check(churned: int, low: int, high: int) -> service.Check:
    outlook = service.Outlook(None, 100, 50_000.0, 5.2, low, high, 2_600.0, 1_000.0, 4_000.0)
    return service.Check(
        id=7,
        made_at=datetime(2026, 10, 1, 9),
        as_of=date(2026, 9, 30),
        start=date(2026, 10, 1),
        end=date(2026, 12, 31),
        level=0.8,
        label="2026-Q4",
        total=service.Held(outlook, churned, 3_000.0),
    )


def test_the_churn_review_shows_the_latest_checked_forecast() -> None:
    review = ChurnReview(
        period=Period(date(2026, 10, 1), date(2026, 12, 31), "2026-Q4"),
        segment=None,
        today=date(2027, 1, 1),
        headline=ChurnRate(100, 6, 50_000.0, 3_000.0),
    )
    without = churn_messages.review_blocks(review)
    with_it = churn_messages.review_blocks(review, forecast=_check(6, 2, 9))
    validate_blocks(with_it)
    assert len(with_it) == len(without) + 1
    added = json.dumps(with_it)
    assert "*Forecast vs actual*, forecast #7 for 2026-10-01 to 2026-12-31 (made as of 2026-09-30)" in added
    assert "churned accounts: *6* actual, forecast 5.2 (80 % interval 2-9): inside the interval" in added
    assert "MRR churn: *$3,000* actual, forecast $2,600 (80 % interval $1,000-$4,000): inside the interval" in added
    above = json.dumps(churn_messages.review_blocks(review, forecast=_check(12, 2, 9)))
    assert "(80 % interval 2-9): above the interval" in above


# -- the command line ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["forecast", "--period", "2027-Q5"], "--period '2027-Q5' is not a period: type a quarter"),
        (["forecast", "--period", "2026-Q3", "--horizon", "10"], "--horizon 10 is not the length of 2026-Q3"),
        (["forecast", "--as-of", "2999-01-01"], "--as-of 2999-01-01 is after today"),
        (["forecast", "check", "--period", "2026-Q3"], "`forecast check` takes no --as-of, --horizon, --period"),
        (["forecast", "--level", "120"], "--level 120 is not a percent from 50 to 99"),
    ],
)
def test_the_cli_refuses_in_one_line(
    engine: Engine, cli_env: None, capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"healthbot: {says}") and err.count("\n") == 1 and "type" in err


def test_too_little_history_says_so_and_stores_nothing(
    engine: Engine, cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    _accounts(engine, 3)
    assert main(["forecast", "--as-of", "2026-10-08", "--horizon", "60"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("healthbot: no chance to churn yet:")
    with unit_of_work(session_factory(engine)) as session:
        assert session.exec(select(ChurnForecast)).all() == []


def test_help_documents_the_forecast(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["forecast", "--help"])
    out = capsys.readouterr().out
    words_wanted = (
        "80 %",
        "2027-Q1",
        "the day before it starts",
        "(Beta, counted in accounts",
        "check:",
        "Exit status 2",
    )
    for words in words_wanted:
        assert words in out


def test_words_used_by_the_forecast_exist() -> None:
    assert messages.level_text(0.8) == "80 %" and messages.level_text(0.95) == "95 %"
    assert messages.segment_name(None) == "no segment"
    assert chance.HORIZON == 90  # the default horizon the help names


def test_the_quarterly_job_posts_the_latest_checked_forecast(engine: Engine) -> None:
    from jobs import churn_review as churn_job
    from storage import outbox

    ids = _accounts(engine, 4)
    fit = _fit(Band(0, 49, 40, 20), Band(50, 100, 100, 5))
    book = Book(
        date(2026, 10, 8),
        np.array(ids, dtype=np.int64),
        np.array(["smb"] * 4, dtype=object),
        np.array([100.0, 200.0, 300.0, 400.0]),
        np.array(["default"] * 4, dtype=object),
        np.array([10.0, 20.0, 90.0, 90.0]),
    )
    older = service.store(engine, Window(date(2026, 9, 8), 60), fit, book)
    latest = service.store(engine, Window(date(2026, 10, 8), 60), fit, book)
    service.store(engine, Window(date(2026, 12, 7), 90), fit, book)  # still running on 2027-01-01
    _churn(engine, {ids[0]: date(2026, 11, 2)})
    posted = churn_job.run(engine, channel="C0CHURN001", today=date(2027, 1, 1))
    assert posted is not None and posted.new
    with unit_of_work(session_factory(engine)) as session:
        row = outbox.get(session, posted.key)
        assert row is not None
        blocks = json.dumps(row.payload)
    assert f"forecast #{latest.id} for 2026-10-09 to 2026-12-07" in blocks and f"#{older.id} " not in blocks
    assert "churned accounts: *1* actual, forecast 1.1" in blocks


def test_a_segment_that_churned_more_than_its_scores_said_gets_its_factor() -> None:
    # everyone's band: 10 of 100 churned. Enterprise: 9 past cases churned where the band expected 3; shrunk by
    # SEGMENT_PRIOR (2) cases towards 1: (9 + 2) / (3 + 2) = 2.2, applied on the odds: 0.1 x 2.2 / (0.9 + 0.22).
    # SMB: 1 where 3 were expected: (1 + 2) / (3 + 2) = 0.6.
    fit = _fit(Band(0, 100, 100, 10))  # one case per account: the draws use the counts as they are
    fit.ratios = {"enterprise": Ratio(9, 3.0), "smb": Ratio(1, 3.0)}
    segments = np.array(["Enterprise", "smb", None], dtype=object)
    cards = np.array(["default"] * 3, dtype=object)
    chances = fit.chances(cards, np.full(3, 50.0), segments)
    assert chances.tolist() == pytest.approx([0.22 / 1.12, 0.06 / 0.96, 0.1])
    fit.accounts = fit.cases
    bands = forecast_interval.bands_of(fit, cards, np.full(3, 50.0), segments)
    assert bands.chances.tolist() == pytest.approx(chances.tolist())
    totals = forecast_interval.simulate(bands, np.ones((3, 1)), draws=40000, seed=3)
    assert totals.mean() == pytest.approx(sum(chances), abs=0.03)  # the draws' factors and rates average out
    back = ChanceFit.from_json(fit.to_json(), as_of=fit.as_of, horizon=90, scorecard_key="k")
    assert back.ratios == fit.ratios


def test_the_level_of_late_moves_every_account_and_is_drawn_like_a_segments_factor() -> None:
    # the band: 10 of 100; enterprise's factor 2.2 and smb's 0.6 (as above); of late 3 churned where 8 were expected:
    # (3 + 2) / (8 + 2) = 0.5 on every account, with its segment's: 1.1, 0.3 and 0.5 on the odds of 0.1
    fit = _fit(Band(0, 100, 100, 10))
    fit.ratios = {"enterprise": Ratio(9, 3.0), "smb": Ratio(1, 3.0)}
    fit.level = Ratio(3, 8.0)
    fit.accounts = fit.cases
    segments = np.array(["Enterprise", "smb", None], dtype=object)
    cards = np.array(["default"] * 3, dtype=object)
    chances = fit.chances(cards, np.full(3, 50.0), segments)
    assert chances.tolist() == pytest.approx([0.11 / 1.01, 0.03 / 0.93, 0.05 / 0.95])
    bands = forecast_interval.bands_of(fit, cards, np.full(3, 50.0), segments)
    assert bands.chances.tolist() == pytest.approx(chances.tolist())  # the card's chance is the forecast's
    totals = forecast_interval.simulate(bands, np.ones((3, 1)), draws=40000, seed=3)
    assert totals.mean() == pytest.approx(sum(chances), abs=0.03)
    without = _fit(Band(0, 100, 100, 10))
    without.level, without.accounts = Ratio(3, 8.0), 100
    alone = forecast_interval.bands_of(without, cards, np.full(3, 50.0), segments)  # a level without segments
    assert alone.chances.tolist() == pytest.approx([0.05 / 0.95] * 3)
    assert forecast_interval.simulate(alone, np.ones((3, 1)), draws=40000, seed=3).mean() == pytest.approx(
        3 * 0.05 / 0.95, abs=0.03
    )
