"""SimulatedCex venue liquidation at settle (domain 4.3): close every perp at mark, keep
max(0, Eq − fee × notional) in USDT, book the loss as liquidation_penalty."""

from __future__ import annotations

import pytest
from venue_book import COSTS_ON, cex_config, market, seed

from basis_strategy.data.market import FundingRate
from basis_strategy.venues.simulated.cex import SimulatedCex

USDT, PERP, SPOT = "binance:BaseToken:USDT", "binance:Perp:ETHUSDT", "binance:BaseToken:ETH"
MARK = 3001.5  # perp:binance:ETHUSDT in venue_book
MMR, FEE = 0.01, 0.005


def venue_with(usdt: float, size: float, entry: float, spot: float = 0.0) -> SimulatedCex:
    venue = SimulatedCex(cex_config("binance"), COSTS_ON)
    holdings = {USDT: usdt, PERP: size}
    if spot:
        holdings[SPOT] = spot
    seed(venue.ledger, holdings, {PERP: entry})
    return venue


@pytest.mark.parametrize("equity", [50.0, 20.0, 0.0, -40.0])
def test_liquidation_leaves_equity_less_fee_floored_at_zero(equity: float) -> None:
    # short 2 at 2700, mark 3001.5: uPnL −603; notional 6003, maintenance 60.03
    venue = venue_with(603.0 + equity, -2.0, 2700.0, spot=0.5)
    result = venue.settle(market())
    notional = 2.0 * MARK
    assert venue.positions()[PERP] == 0.0
    assert venue.ledger.entries[PERP] == 0.0
    assert venue.positions()[USDT] == pytest.approx(max(0.0, equity - FEE * notional), abs=1e-9)
    assert venue.positions()[SPOT] == 0.5  # spot is not touched
    *closing, penalty = result.legs
    assert [(leg.instrument, leg.event_type) for leg in closing] == [
        (PERP, "Liquidated"),
        (USDT, "Liquidated"),
    ]
    assert closing[1].amount == pytest.approx(-603.0)  # uPnL realised
    assert (penalty.pnl_component, penalty.pnl_asset) == ("liquidation_penalty", "USDT")
    loss = equity - max(0.0, equity - FEE * notional)
    assert penalty.pnl_native == pytest.approx(-loss, abs=1e-9)
    assert penalty.amount == penalty.pnl_native
    assert f"notional_usdt={notional:.10g}" in penalty.detail


def test_no_liquidation_above_maintenance_margin() -> None:
    venue = venue_with(603.0 + 61.0, -2.0, 2700.0)  # equity 61 > 60.03
    before = venue.positions()
    assert venue.settle(market()).legs == ()
    assert venue.positions() == before


def test_funding_settles_first_and_can_trigger_the_liquidation() -> None:
    # equity 61 > 60.03 before funding; paying 2 × 3001.5 × 2e-4 = 1.2006 leaves 59.80
    venue = venue_with(603.0 + 61.0, -2.0, 2700.0)
    result = venue.settle(market(funding=(FundingRate("binance", "ETH", -2e-4),)))
    assert result.legs[0].pnl_component == "funding"
    assert result.legs[0].amount == pytest.approx(-1.2006)
    assert venue.positions()[PERP] == 0.0
    equity = 61.0 - 1.2006
    assert venue.positions()[USDT] == pytest.approx(equity - FEE * 2 * MARK, rel=1e-12)


def test_every_perp_of_the_venue_closes_and_a_long_counts_too() -> None:
    venue = SimulatedCex(cex_config("binance"), COSTS_ON)
    seed(
        venue.ledger,
        {USDT: 100.0, PERP: -1.0, "binance:Perp:BTCUSDT": 0.1},
        {PERP: 2800.0, "binance:Perp:BTCUSDT": 61_000.0},
    )
    at = market(**{"perp:binance:BTCUSDT": 60_000.0})
    # equity = 100 − 201.5 − 100 = −201.5 <= mmr × (3001.5 + 6000)
    venue.settle(at)
    assert venue.positions()[PERP] == 0.0
    assert venue.positions()["binance:Perp:BTCUSDT"] == 0.0
    assert venue.positions()[USDT] == 0.0


def test_flat_venue_is_never_liquidated() -> None:
    venue = venue_with(0.0, 0.0, 0.0)
    assert venue.settle(market()).legs == ()
