"""P&L calculator (domain 12): balance P&L, sequential attribution, residual ≈ 0.

A hand-built book is revalued between two synthetic hours; each component is recomputed
here from the domain 12.2 formulas. A Hypothesis property checks that the residual stays
at floating-point noise for random books, market moves and booked events.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from basis_strategy.components.execution import EventLogger
from basis_strategy.components.monitors import ExposureMonitor, PositionMonitor
from basis_strategy.components.pnl_calculator import HourPnL, PnLCalculator, marks_for
from basis_strategy.core.events import COMPONENTS
from basis_strategy.core.instructions import Leg
from basis_strategy.data.market import MarketState

T0 = datetime(2024, 6, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
SPY_HOURS = 8760

M0 = {
    "price:ETH": 3000.0,
    "price:BTC": 60000.0,
    "perp:binance:BTCUSDT": 59990.0,  # basis −10
    "perp:bybit:BTCUSDT": 60020.0,  # basis +20
    "perp:okx:ETHUSDT": 3001.0,
    "gas_gwei": 10.0,
    "aave_li:USDT": 1.1,
    "aave_bi:USDT": 1.2,
    "aave_lr:USDT": 0.05,
}
M1 = {
    **M0,
    "price:ETH": 3030.0,
    "price:BTC": 60600.0,
    "perp:binance:BTCUSDT": 60570.0,  # basis −30
    "perp:bybit:BTCUSDT": 60660.0,  # basis +60
    "perp:okx:ETHUSDT": 3034.0,
    "aave_li:USDT": 1.1 * (1 + 0.05 / SPY_HOURS),
    "aave_bi:USDT": 1.2 * (1 + 0.07 / SPY_HOURS),
}
HOLDINGS: dict[str, tuple[float, float | None]] = {
    "wallet:BaseToken:ETH": (0.05, None),
    "aave_v3:aToken:aUSDT": (50_000.0, None),
    "aave_v3:debtToken:debtUSDT": (5_000.0, None),
    "binance:BaseToken:BTC": (1.0, None),
    "binance:BaseToken:USDT": (20_000.0, None),
    "binance:Perp:BTCUSDT": (-0.6, 59_800.0),
    "bybit:BaseToken:USDT": (10_000.0, None),
    "bybit:Perp:BTCUSDT": (-0.4, 60_100.0),
}
WALLET_USDT = 1_000.0


def market(values: dict[str, float], index: int) -> MarketState:
    return MarketState(T0 + index * HOUR, index, dict(values), ())


class Calc:
    """The components the engine wires together around one PnLCalculator."""

    def __init__(self, currency: str = "USDT") -> None:
        self.positions = PositionMonitor()
        self.exposure = ExposureMonitor(self.positions, currency)
        self.logger = EventLogger(currency)
        self.pnl = PnLCalculator(self.positions, self.exposure, self.logger, currency)
        self.currency = currency

    def log(self, at: MarketState, *legs: Leg) -> None:
        bundle = self.logger.new_bundle()
        for leg in legs:
            after = self.positions.apply(leg.instrument, leg.amount, leg.entry_after)
            pnl = (
                leg.pnl_native * at.unit_price(leg.pnl_asset, self.currency)
                if leg.pnl_component
                else 0.0
            )
            self.logger.log(at.t, bundle, leg, pnl, after, "test")

    def hour(self, at: MarketState, *legs: Leg) -> HourPnL:
        self.logger.start_hour()
        self.pnl.open_hour(at)
        if legs:
            self.log(at, *legs)
        return self.pnl.close_hour(at)[0]


def funded_book(
    holdings: dict[str, tuple[float, float | None]], cash: float, equity: float
) -> tuple[Leg, ...]:
    """Legs that deposit `equity` (a flow) and turn it into `holdings` plus `cash` wallet USDT."""
    return (
        Leg("wallet:BaseToken:USDT", equity, "Deposited", 1.0, "flow", equity, "USDT"),
        Leg("wallet:BaseToken:USDT", cash - equity, "Converted"),
        *(Leg(key, qty, "Converted", entry_after=entry) for key, (qty, entry) in holdings.items()),
    )


# Hand-computed equity of HOLDINGS + 1,000 wallet USDT at M0:
# 1,000 + 0.05×3,000 + 50,000×1.1 − 5,000×1.2 + 60,000 + 20,000 − 0.6×(59,990 − 59,800)
# + 10,000 − 0.4×(60,020 − 60,100) = 1,000 + 150 + 55,000 − 6,000 + 60,000 + 20,000 − 114
# + 10,000 + 32 = 140,068
E0 = 140_068.0


def test_first_hour_deposit_is_a_flow_not_pnl() -> None:
    calc = Calc()
    hour = calc.hour(market(M0, 0), *funded_book(HOLDINGS, WALLET_USDT, E0))
    assert hour.equity == pytest.approx(E0, rel=1e-12)
    assert hour.net_flow == E0
    assert hour.pnl == pytest.approx(0.0, abs=1e-9)
    assert all(v == 0.0 for v in hour.components.values())
    assert list(hour.components) == list(COMPONENTS)
    assert hour.residual == pytest.approx(0.0, abs=1e-9)


def test_second_hour_attribution_by_component() -> None:
    calc = Calc()
    m0, m1 = market(M0, 0), market(M1, 1)
    calc.hour(m0, *funded_book(HOLDINGS, WALLET_USDT, E0))
    # Hour 1 books a funding settlement, a gas payment and a spot ETH buy with a fee.
    funding = Leg("bybit:BaseToken:USDT", 2.5, "FundingSettled", 60_660.0, "funding", 2.5, "USDT")
    gas = Leg("wallet:BaseToken:ETH", -0.001, "GasPaid", 10.0, "gas", -0.001, "ETH")
    buy_usdt = Leg(
        "binance:BaseToken:USDT", -3_030.0, "SpotBought", 3030.0, "execution_costs", -3.03, "USDT"
    )
    buy_eth = Leg("binance:BaseToken:ETH", (3_030.0 - 3.03) / 3030.0, "SpotBought", 3030.0)
    hour = calc.hour(m1, funding, gas, buy_usdt, buy_eth)

    li0, li1, bi0, bi1 = (
        M0["aave_li:USDT"],
        M1["aave_li:USDT"],
        M0["aave_bi:USDT"],
        M1["aave_bi:USDT"],
    )
    c = hour.components
    assert c["supply_yield"] == pytest.approx(50_000 * (li1 - li0), rel=1e-9)
    assert c["borrow_cost"] == pytest.approx(-5_000 * (bi1 - bi0), rel=1e-9)
    # delta: spot BTC 1 × 600 + wallet ETH 0.05 × 30 + perps (−0.6 − 0.4) × (S1 − S0) = 1.5
    assert c["delta"] == pytest.approx(1.0 * 600 + 0.05 * 30 - 0.6 * 600 - 0.4 * 600, rel=1e-9)
    # basis: −0.6 × ((−30) − (−10)) − 0.4 × (60 − 20) = 12 − 16 = −4
    assert c["basis"] == pytest.approx(-0.6 * (-30 - -10) - 0.4 * (60 - 20), rel=1e-9)
    assert c["funding"] == 2.5
    assert c["gas"] == pytest.approx(-0.001 * 3030, rel=1e-12)
    assert c["execution_costs"] == pytest.approx(-3.03, rel=1e-12)
    for name in ("staking_yield", "rewards", "dust_pnl", "liquidation_penalty"):
        assert c[name] == 0.0

    # Equity at M1 by hand from the final book.
    e1 = (
        WALLET_USDT
        + 0.049 * 3030
        + 50_000 * li1
        - 5_000 * bi1
        + 1.0 * 60_600
        + (3_030.0 - 3.03)
        + (20_000 - 3_030)
        - 0.6 * (60_570 - 59_800)
        + 10_002.5
        - 0.4 * (60_660 - 60_100)
    )
    assert hour.equity == pytest.approx(e1, rel=1e-12)
    assert hour.net_flow == 0.0
    assert hour.pnl == pytest.approx(e1 - E0, rel=1e-9)
    assert hour.residual == pytest.approx(hour.pnl - sum(c.values()), abs=1e-12)
    assert abs(hour.residual) <= 1e-9 * hour.equity


def test_close_hour_marks_every_holding() -> None:
    calc = Calc()
    calc.hour(market(M0, 0), *funded_book(HOLDINGS, WALLET_USDT, E0))
    m1 = market(M1, 1)
    calc.logger.start_hour()
    calc.pnl.open_hour(m1)
    _, marks = calc.pnl.close_hour(m1)
    assert set(marks) == {"wallet:BaseToken:USDT", *HOLDINGS}
    assert marks["wallet:BaseToken:USDT"] == (1.0, 1.0, 1.0)
    assert marks["binance:BaseToken:USDT"] == (1.0, 1.0, 1.0)
    assert marks["aave_v3:aToken:aUSDT"] == (M1["aave_li:USDT"], 1.0, 1.0)
    assert marks["aave_v3:debtToken:debtUSDT"] == (M1["aave_bi:USDT"], 1.0, 1.0)
    assert marks["binance:BaseToken:BTC"] == (1.0, 1.0, 60_600.0)
    assert marks["binance:Perp:BTCUSDT"] == (60_570.0, 60_600.0, 1.0)
    for key, mark in marks.items():
        if not key.endswith("BaseToken:USDT"):  # cash is (1, 1, 1) without a lookup
            assert marks_for(key, m1, "USDT") == mark


def test_unchanged_market_gives_zero_components() -> None:
    calc = Calc()
    calc.hour(market(M0, 0), *funded_book(HOLDINGS, WALLET_USDT, E0))
    hour = calc.hour(market(M0, 1))
    assert hour.pnl == pytest.approx(0.0, abs=1e-9)
    assert all(v == 0.0 for v in hour.components.values())


def test_eth_class_perp_quote_fx_goes_to_delta() -> None:
    """ETH class: a USDT-quoted perp's value also moves with 1/P (fx term, booked as delta)."""
    calc = Calc("ETH")
    m0, m1 = market(M0, 0), market(M1, 1)
    holdings: dict[str, tuple[float, float | None]] = {
        "okx:BaseToken:USDT": (3_000.0, None),
        "okx:Perp:ETHUSDT": (-1.0, 2_950.0),
    }
    e0 = 10.0 + 3_000 / 3_000 - (3_001 - 2_950) / 3_000
    legs = (
        Leg("wallet:BaseToken:ETH", e0, "Deposited", 1.0, "flow", e0, "ETH"),
        Leg("wallet:BaseToken:ETH", 10.0 - e0, "Converted"),
        *(Leg(key, qty, "Converted", entry_after=entry) for key, (qty, entry) in holdings.items()),
    )
    calc.hour(m0, *legs)
    hour = calc.hour(m1)
    qp0, qp1 = 1 / 3000, 1 / 3030
    perp_delta = -1.0 * (3030 - 3000) * qp0 + -1.0 * (3034 - 2950) * (qp1 - qp0)
    usdt_delta = 3_000 * (qp1 - qp0)
    assert hour.components["delta"] == pytest.approx(perp_delta + usdt_delta, rel=1e-9)
    assert hour.components["basis"] == pytest.approx(-1.0 * ((3034 - 3030) - (3001 - 3000)) * qp0)
    e1 = 10.0 + 3_000 * qp1 - (3_034 - 2_950) * qp1
    assert hour.equity == pytest.approx(e1, rel=1e-12)
    assert abs(hour.residual) <= 1e-12


def test_a_reanchoring_observation_is_booked_as_corrections() -> None:
    """An hour at which daily observations re-anchor the AAVE indices: the accrual (to the
    value accrual alone gives, `MarketState.accrued`) stays in supply yield / borrow cost,
    the rest is booked as supply / borrow correction; the residual stays noise."""
    calc = Calc()
    calc.hour(market(M0, 0), *funded_book(HOLDINGS, WALLET_USDT, E0))
    li0, bi0 = M0["aave_li:USDT"], M0["aave_bi:USDT"]
    li_accrued, bi_accrued = li0 * (1 + 0.04 / SPY_HOURS), bi0 * (1 + 0.09 / SPY_HOURS)
    observed = {**M0, "aave_li:USDT": li0 * 1.00002, "aave_bi:USDT": bi0 * 1.00001}
    accrued = {"aave_li:USDT": li_accrued, "aave_bi:USDT": bi_accrued}
    at = MarketState(T0 + HOUR, 1, observed, (), (), accrued)
    hour = calc.hour(at)
    c = hour.components
    assert c["supply_yield"] == pytest.approx(50_000 * (li_accrued - li0), rel=1e-9)
    assert c["supply_correction"] == pytest.approx(
        50_000 * (observed["aave_li:USDT"] - li_accrued), rel=1e-9
    )
    assert c["borrow_cost"] == pytest.approx(-5_000 * (bi_accrued - bi0), rel=1e-9)
    assert c["borrow_correction"] == pytest.approx(
        -5_000 * (observed["aave_bi:USDT"] - bi_accrued), rel=1e-9
    )
    assert c["borrow_correction"] > 0  # the projection ran ahead of the observed index
    assert c["staking_correction"] == 0.0
    assert abs(hour.residual) <= 1e-9 * hour.equity


def test_a_reanchored_lst_rate_is_a_staking_correction() -> None:
    """ETH class: 10 weETH in the wallet and 20 scaled aweETH; ρ re-anchored at this hour."""
    calc = Calc("ETH")
    values = {**M0, "lst_rate:weETH": 1.05, "aave_li:weETH": 1.0}
    legs = (
        Leg("wallet:BaseToken:ETH", 40.0, "Deposited", 1.0, "flow", 40.0, "ETH"),
        Leg("wallet:BaseToken:ETH", -31.5, "Converted"),
        Leg("wallet:LST:weETH", 10.0, "Converted"),
        Leg("aave_v3:aToken:aweETH", 20.0, "Converted"),
    )
    calc.hour(market(values, 0), *legs)
    moved = {**values, "lst_rate:weETH": 1.0502}
    at = MarketState(T0 + HOUR, 1, moved, (), (), {"lst_rate:weETH": 1.0501})
    hour = calc.hour(at)
    assert hour.components["staking_yield"] == pytest.approx(30 * 0.0001, rel=1e-9)
    assert hour.components["staking_correction"] == pytest.approx(30 * 0.0001, rel=1e-9)
    assert hour.components["supply_correction"] == 0.0
    assert hour.pnl == pytest.approx(30 * 0.0002, rel=1e-9)
    assert abs(hour.residual) <= 1e-12


def test_the_hours_mark_sources_are_passed_on() -> None:
    calc = Calc()
    sources = {"perp:binance:BTCUSDT": "bybit BTCUSDT perp (proxy)"}
    calc.hour(market(M0, 0), *funded_book(HOLDINGS, WALLET_USDT, E0))
    hour = calc.hour(MarketState(T0 + HOUR, 1, dict(M1), (), mark_sources=sources))
    assert hour.mark_sources == sources


# --- property: the residual is floating-point noise ----------------------------------------

moves = st.fixed_dictionaries(
    {
        "eth": st.floats(0.8, 1.25),
        "btc": st.floats(0.8, 1.25),
        "basis_binance": st.floats(-0.01, 0.01),
        "basis_bybit": st.floats(-0.01, 0.01),
        "basis_okx": st.floats(-0.01, 0.01),
        "li": st.floats(1.0, 1.001),
        "bi": st.floats(1.0, 1.001),
        "funding": st.floats(-50.0, 50.0),
        "gas_eth": st.floats(0.0, 0.01),
        "trade_usdt": st.floats(0.0, 10_000.0),
        "fee_rate": st.floats(0.0, 0.003),
    }
)
books = st.fixed_dictionaries(
    {
        "wallet:BaseToken:ETH": st.floats(-1.0, 20.0),
        "aave_v3:aToken:aUSDT": st.floats(0.0, 1e6),
        "aave_v3:debtToken:debtUSDT": st.floats(0.0, 2e5),
        "binance:BaseToken:BTC": st.floats(0.0, 5.0),
        "binance:BaseToken:USDT": st.floats(0.0, 1e5),
        "binance:Perp:BTCUSDT": st.floats(-5.0, 5.0),
        "bybit:Perp:BTCUSDT": st.floats(-5.0, 5.0),
        "okx:Perp:ETHUSDT": st.floats(-50.0, 50.0),
    }
)
entry_offsets = st.lists(st.floats(0.95, 1.05), min_size=3, max_size=3)


def moved(values: dict[str, float], move: dict[str, float]) -> dict[str, float]:
    eth, btc = values["price:ETH"] * move["eth"], values["price:BTC"] * move["btc"]
    return {
        **values,
        "price:ETH": eth,
        "price:BTC": btc,
        "perp:binance:BTCUSDT": btc * (1 + move["basis_binance"]),
        "perp:bybit:BTCUSDT": btc * (1 + move["basis_bybit"]),
        "perp:okx:ETHUSDT": eth * (1 + move["basis_okx"]),
        "aave_li:USDT": values["aave_li:USDT"] * move["li"],
        "aave_bi:USDT": values["aave_bi:USDT"] * move["bi"],
    }


@settings(max_examples=150, deadline=None)
@given(
    book=books,
    entries=entry_offsets,
    cash=st.floats(5e5, 2e6),
    path=st.lists(moves, min_size=1, max_size=4),
    currency=st.sampled_from(["USDT", "ETH"]),
)
def test_residual_is_noise_for_random_books_and_moves(
    book: dict[str, float],
    entries: list[float],
    cash: float,
    path: list[dict[str, float]],
    currency: str,
) -> None:
    calc = Calc(currency)
    values = dict(M0)
    perps = ("binance:Perp:BTCUSDT", "bybit:Perp:BTCUSDT", "okx:Perp:ETHUSDT")
    spot_of = {"binance:Perp:BTCUSDT": "price:BTC", "bybit:Perp:BTCUSDT": "price:BTC"}
    legs = [Leg("wallet:BaseToken:USDT", cash, "Seeded")]
    for key, qty in book.items():
        entry = None
        if key in perps:
            entry = values[spot_of.get(key, "price:ETH")] * entries[perps.index(key)]
        legs.append(Leg(key, qty, "Seeded", entry_after=entry))
    calc.hour(market(values, 0), *legs)
    for i, move in enumerate(path, start=1):
        values = moved(values, move)
        at = market(values, i)
        price = values["price:ETH"]
        fee = move["trade_usdt"] * move["fee_rate"]
        booked = (
            Leg(
                "bybit:BaseToken:USDT",
                move["funding"],
                "FundingSettled",
                1.0,
                "funding",
                move["funding"],
                "USDT",
            ),
            Leg(
                "wallet:BaseToken:ETH",
                -move["gas_eth"],
                "GasPaid",
                1.0,
                "gas",
                -move["gas_eth"],
                "ETH",
            ),
            Leg(
                "binance:BaseToken:USDT",
                -move["trade_usdt"],
                "SpotBought",
                price,
                "execution_costs",
                -fee,
                "USDT",
            ),
            Leg("binance:BaseToken:ETH", (move["trade_usdt"] - fee) / price, "SpotBought", price),
        )
        hour = calc.hour(at, *booked)
        assert hour.equity > 0
        assert abs(hour.residual) <= 1e-9 * hour.equity, (i, hour)
        assert hour.pnl == pytest.approx(sum(hour.components.values()) + hour.residual, abs=1e-9)
