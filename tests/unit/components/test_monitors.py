"""Position, exposure and risk monitors (domain 3, 4.3, 5, 7) on hand-built books."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from basis_strategy.components.monitors import (
    AaveBands,
    ExposureMonitor,
    PositionMonitor,
    RiskMonitor,
    unit_value,
)
from basis_strategy.data.market import MarketState

T0 = datetime(2024, 6, 1, tzinfo=UTC)
VALUES = {
    "price:ETH": 3000.0,
    "price:BTC": 60000.0,
    "perp:binance:BTCUSDT": 59990.0,
    "perp:bybit:BTCUSDT": 60020.0,
    "perp:okx:ETHUSDT": 3003.0,
    "gas_gwei": 10.0,
    "aave_li:USDT": 1.1,
    "aave_bi:USDT": 1.2,
    "aave_lr:USDT": 0.05,
    "aave_li:weETH": 1.01,
    "lst_rate:weETH": 1.05,
}
BANDS = (0.2, 0.3, 1.0)


def market(index: int = 0, **changes: float) -> MarketState:
    return MarketState(T0, index, {**VALUES, **changes}, ())


def book(holdings: dict[str, float], entries: dict[str, float] | None = None) -> PositionMonitor:
    positions = PositionMonitor()
    for key, qty in holdings.items():
        positions.apply(key, qty, (entries or {}).get(key))
    return positions


BOOK = {
    "wallet:BaseToken:USDT": 1_000.0,
    "wallet:BaseToken:ETH": -0.02,  # gas debt
    "aave_v3:aToken:aUSDT": 50_000.0,  # scaled
    "aave_v3:debtToken:debtUSDT": 5_000.0,  # scaled
    "binance:BaseToken:USDT": 20_000.0,
    "binance:BaseToken:BTC": 1.5,
    "binance:Perp:BTCUSDT": -0.9,
    "bybit:BaseToken:USDT": 10_000.0,
    "bybit:Perp:BTCUSDT": -0.6,
    "okx:BaseToken:USDT": 3_000.0,
    "okx:Perp:ETHUSDT": -2.0,
}
ENTRIES = {
    "binance:Perp:BTCUSDT": 59_000.0,
    "bybit:Perp:BTCUSDT": 61_000.0,
    "okx:Perp:ETHUSDT": 2_900.0,
}


def test_position_monitor_apply_returns_after_state_and_bumps_version() -> None:
    positions = PositionMonitor()
    assert positions.apply("binance:Perp:BTCUSDT", -1.0, 60_000.0) == (-1.0, 60_000.0)
    qty, entry = positions.apply("binance:BaseToken:USDT", 5.0, None)
    assert (qty, entry != entry) == (5.0, True)  # no entry: NaN
    assert positions.apply("binance:BaseToken:USDT", -5.0, None)[0] == 0.0
    assert positions.version == 3
    assert positions.qty("binance:BaseToken:USDT") == 0.0


def test_unit_value_of_each_kind_usdt_class() -> None:
    at = market()
    assert unit_value("aave_v3:aToken:aUSDT", at, "USDT") == pytest.approx(1.1)
    assert unit_value("aave_v3:debtToken:debtUSDT", at, "USDT") == pytest.approx(-1.2)
    assert unit_value("binance:BaseToken:BTC", at, "USDT") == 60_000.0
    assert unit_value("wallet:BaseToken:ETH", at, "USDT") == 3_000.0
    assert unit_value("aave_v3:aToken:aweETH", at, "USDT") == pytest.approx(1.01 * 1.05 * 3000)
    assert unit_value("wallet:LST:weETH", at, "ETH") == pytest.approx(1.05)
    assert unit_value("wallet:BaseToken:USDT", at, "ETH") == pytest.approx(1 / 3000)


def test_exposure_values_equity_delta_and_venue_margin() -> None:
    exposure = ExposureMonitor(book(BOOK, ENTRIES), "USDT").compute(market())
    v = exposure.values
    assert v["wallet:BaseToken:USDT"] == 1_000.0
    assert v["wallet:BaseToken:ETH"] == pytest.approx(-0.02 * 3000)
    assert v["aave_v3:aToken:aUSDT"] == pytest.approx(50_000 * 1.1)  # scaled × LI
    assert v["aave_v3:debtToken:debtUSDT"] == pytest.approx(-5_000 * 1.2)  # −scaled × BI
    assert v["binance:BaseToken:BTC"] == pytest.approx(1.5 * 60_000)
    assert v["binance:Perp:BTCUSDT"] == pytest.approx(-0.9 * (59_990 - 59_000))  # q (mark − e)
    assert v["bybit:Perp:BTCUSDT"] == pytest.approx(-0.6 * (60_020 - 61_000))
    assert v["okx:Perp:ETHUSDT"] == pytest.approx(-2.0 * (3_003 - 2_900))
    hand = 1_000 - 60 + 55_000 - 6_000 + 20_000 + 90_000 - 891 + 10_000 + 588 + 3_000 - 206
    assert exposure.equity == pytest.approx(hand, rel=1e-12)
    assert exposure.equity == pytest.approx(sum(v.values()), rel=1e-15)
    # Delta per underlying in asset units: spot + perps; gas debt counts in ETH.
    assert exposure.delta_units["BTC"] == pytest.approx(1.5 - 0.9 - 0.6, abs=1e-12)
    assert exposure.delta_units["ETH"] == pytest.approx(-0.02 - 2.0)
    assert "USDT" not in exposure.delta_units
    # Venue equity = USDT + Σ uPnL (spot is not margin); notional = Σ |q| × mark.
    assert exposure.venue_equity_usdt == pytest.approx(
        {"binance": 20_000 - 891, "bybit": 10_000 + 588, "okx": 3_000 - 206}
    )
    assert exposure.venue_notional_usdt == pytest.approx(
        {"binance": 0.9 * 59_990, "bybit": 0.6 * 60_020, "okx": 2.0 * 3_003}
    )
    assert exposure.t_index == 0


def test_exposure_lst_delta_uses_index_and_rate() -> None:
    exposure = ExposureMonitor(book({"aave_v3:aToken:aweETH": 10.0}), "USDT").compute(market())
    assert exposure.delta_units == {"ETH": pytest.approx(10 * 1.01 * 1.05)}
    assert exposure.equity == pytest.approx(10 * 1.01 * 1.05 * 3000)


def test_exposure_in_eth_share_class() -> None:
    holdings = {
        "wallet:BaseToken:ETH": 2.0,
        "bybit:BaseToken:USDT": 3_000.0,
        "okx:Perp:ETHUSDT": -1.0,
    }
    exposure = ExposureMonitor(book(holdings, {"okx:Perp:ETHUSDT": 2_900.0}), "ETH").compute(
        market()
    )
    assert exposure.values["wallet:BaseToken:ETH"] == 2.0
    assert exposure.values["bybit:BaseToken:USDT"] == pytest.approx(1.0)
    assert exposure.values["okx:Perp:ETHUSDT"] == pytest.approx(-103 / 3000)
    assert exposure.venue_equity_usdt == pytest.approx({"bybit": 3_000.0, "okx": -103.0})
    assert exposure.equity == pytest.approx(3.0 - 103 / 3000)


def test_zero_quantities_are_skipped() -> None:
    positions = book({"binance:BaseToken:BTC": 1.0, "binance:Perp:BTCUSDT": -1.0}, ENTRIES)
    positions.apply("binance:Perp:BTCUSDT", 1.0, 0.0)
    exposure = ExposureMonitor(positions, "USDT").compute(market())
    assert set(exposure.values) == {"binance:BaseToken:BTC"}
    assert exposure.venue_notional_usdt == {}


def test_exposure_is_cached_until_the_book_or_hour_changes() -> None:
    positions = book(BOOK, ENTRIES)
    monitor = ExposureMonitor(positions, "USDT")
    first = monitor.compute(market(0))
    assert monitor.compute(market(0)) is first  # same book version, same hour
    positions.apply("binance:BaseToken:BTC", 0.5, None)
    second = monitor.compute(market(0))
    assert second is not first
    assert second.equity == pytest.approx(first.equity + 0.5 * 60_000)
    assert second.delta_units["BTC"] == pytest.approx(first.delta_units["BTC"] + 0.5)
    assert monitor.compute(market(0)) is second
    third = monitor.compute(market(1, **{"price:BTC": 61_000.0}))
    assert third is not second and third.t_index == 1
    assert third.equity == pytest.approx(second.equity + 2.0 * 1_000)


# --- risk ------------------------------------------------------------------------------------


def one_venue_risk(usdt: float, size: float = -1.0, entry: float = 60_000.0) -> RiskMonitor:
    positions = book(
        {"binance:BaseToken:USDT": usdt, "binance:Perp:BTCUSDT": size},
        {"binance:Perp:BTCUSDT": entry},
    )
    return RiskMonitor(ExposureMonitor(positions, "USDT"), ("binance", "bybit"), BANDS)


@pytest.mark.parametrize(
    ("usdt", "level"),
    [
        (6_000.0, "critical"),  # 0.10
        (12_000.0, "critical"),  # 0.20: at the critical band
        (12_060.0, "warning"),  # 0.201
        (18_000.0, "warning"),  # 0.30: at the warning band
        (18_060.0, "ok"),  # 0.301
        (30_000.0, "ok"),  # 0.50
        (60_000.0, "ok"),  # 1.00: at the excess band is not above it
        (60_060.0, "excess"),  # 1.001
    ],
)
def test_margin_levels_at_the_bands(usdt: float, level: str) -> None:
    at = market(**{"perp:binance:BTCUSDT": 60_000.0})
    risk = one_venue_risk(usdt).assess(at)
    assert risk.margin_ratio == {"binance": pytest.approx(usdt / 60_000.0, rel=1e-15)}
    assert risk.margin_level == {"binance": level}


def test_margin_ratio_includes_unrealised_pnl() -> None:
    # Short 2 BTC from 55,000; mark 59,990: uPnL = −2 × 4,990 = −9,980; equity 30,000 − 9,980.
    at = market()
    risk = one_venue_risk(30_000.0, size=-2.0, entry=55_000.0).assess(at)
    assert risk.margin_ratio["binance"] == pytest.approx((30_000 - 9_980) / (2 * 59_990), rel=1e-12)
    assert "bybit" not in risk.margin_ratio  # no notional: no ratio


def test_delta_drift_is_abs_net_delta_value_over_equity() -> None:
    monitor = RiskMonitor(
        ExposureMonitor(book(BOOK, ENTRIES), "USDT"), ("binance", "bybit", "okx"), BANDS
    )
    at = market()
    risk = monitor.assess(at)
    equity = monitor.exposure.compute(at).equity
    assert risk.delta_drift["ETH"] == pytest.approx(abs(-2.02 * 3000) / equity, rel=1e-12)
    assert risk.delta_drift["BTC"] == pytest.approx(0.0, abs=1e-15)
    assert set(risk.margin_level) == {"binance", "bybit", "okx"}
    assert risk.margin_ratio["okx"] == pytest.approx((3_000 - 206) / (2 * 3_003), rel=1e-12)


def test_risk_is_cached_until_the_book_changes() -> None:
    positions = book(
        {"binance:BaseToken:USDT": 30_000.0, "binance:Perp:BTCUSDT": -1.0},
        {"binance:Perp:BTCUSDT": 59_990.0},
    )
    monitor = RiskMonitor(ExposureMonitor(positions, "USDT"), ("binance",), BANDS)
    first = monitor.assess(market())
    assert monitor.assess(market()) is first
    assert first.margin_level["binance"] == "ok"
    positions.apply("binance:BaseToken:USDT", -20_000.0, None)
    second = monitor.assess(market())
    assert second is not first
    assert second.margin_ratio["binance"] == pytest.approx(10_000 / 59_990)
    assert second.margin_level["binance"] == "critical"


# --- AAVE and the LST (domain 7) ---------------------------------------------------------------

LEVERED = {"aave_v3:aToken:aweETH": 100.0, "aave_v3:debtToken:debtWETH": 95.0}  # scaled
LEVERED_MARKET = {"aave_li:weETH": 1.01, "aave_bi:WETH": 1.02, "lst_rate:weETH": 1.05}
AAVE = AaveBands("aave_v3:aToken:aweETH", "aave_v3:debtToken:debtWETH", 0.95, 0.92, 0.93)


def aave_monitor(holdings: dict[str, float], currency: str = "ETH") -> RiskMonitor:
    exposure = ExposureMonitor(book(holdings), currency)
    return RiskMonitor(exposure, (), None, AAVE, "weETH")


@pytest.mark.parametrize("currency", ["ETH", "USDT"])
def test_aave_ltv_and_hf_use_the_oracle_rate_and_not_eth_usd(currency: str) -> None:
    at = market(**LEVERED_MARKET, **{"lst_market:weETH": 1.047})
    risk = aave_monitor(LEVERED, currency).assess(at)
    ltv = 95.0 * 1.02 / (100.0 * 1.01 * 1.05)
    assert risk.aave_ltv == pytest.approx(ltv, rel=1e-12)
    assert risk.aave_hf == pytest.approx(0.95 / ltv, rel=1e-12)
    assert risk.aave_liquidation_distance == pytest.approx(1 - ltv / 0.95, rel=1e-12)
    assert risk.peg_spread == pytest.approx(1.047 / 1.05 - 1, rel=1e-12)
    moved = aave_monitor(LEVERED, currency).assess(
        market(**LEVERED_MARKET, **{"lst_market:weETH": 1.047, "price:ETH": 1500.0})
    )
    assert moved.aave_hf == pytest.approx(risk.aave_hf, rel=1e-12)


@pytest.mark.parametrize(
    ("ltv", "level"),
    [
        (0.91, "ok"),
        (0.92, "warning"),
        (0.929, "warning"),
        (0.93, "critical"),
        (0.951, "liquidatable"),
    ],
)
def test_aave_levels_are_ltv_bands_and_hf_below_one(ltv: float, level: str) -> None:
    assert AAVE.level(ltv, 0.95 / ltv) == level


def test_no_debt_means_no_aave_risk() -> None:
    risk = aave_monitor({"aave_v3:aToken:aweETH": 100.0}).assess(
        market(**LEVERED_MARKET, **{"lst_market:weETH": 1.05})
    )
    assert (risk.aave_ltv, risk.aave_hf, risk.aave_level) == (0.0, math.inf, "ok")


def test_cex_liquidation_distance_is_the_rise_to_maintenance() -> None:
    holdings = {"okx:BaseToken:USDT": 3003.0, "okx:Perp:ETHUSDT": -1.0}
    exposure = ExposureMonitor(book(holdings, {"okx:Perp:ETHUSDT": 3003.0}), "USDT")
    monitor = RiskMonitor(exposure, ("okx",), BANDS, maintenance_margin={"okx": 0.01})
    risk = monitor.assess(market())
    assert risk.margin_ratio["okx"] == pytest.approx(1.0)
    assert risk.cex_liquidation_distance["okx"] == pytest.approx(0.99 / 1.01, rel=1e-12)
