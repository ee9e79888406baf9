"""Every execution cost says how it splits: fee + slippage + LST discount = the cost booked."""

from __future__ import annotations

import pytest
from tests.unit.venues.venue_book import COSTS_ON, cex_config, chain, market, order, seed

from basis_strategy.core.instructions import BuySpot, SellSpot, SwapOnDex, TradePerp
from basis_strategy.venues.simulated.cex import SimulatedCex

COST = "execution_costs"


def split(detail: str) -> dict[str, float]:
    return {k: float(v) for k, v in (part.split("=") for part in detail.split(";"))}


def assert_splits(legs) -> dict[str, float]:
    costs = [leg for leg in legs if leg.pnl_component == COST]
    assert len(costs) == 1
    parts = split(costs[0].detail)
    assert set(parts) == {"fee", "slippage", "discount"}
    assert sum(parts.values()) == pytest.approx(-costs[0].pnl_native, rel=1e-10, abs=1e-15)
    return parts


def test_lst_sale_splits_into_pool_fee_slippage_and_the_discount_to_the_oracle() -> None:
    system = chain(COSTS_ON, {"etherfi:LST:weETH": 100.0})
    m = market()  # ρ 1.05, ρ_mkt 1.046: selling at the market rate loses 0.4/1.05 of a unit
    legs = system.dex.execute(
        order(SwapOnDex, "uniswap", sell="weETH", buy="ETH", sell_amount=10.0), m
    ).legs
    parts = assert_splits(legs)
    assert parts["discount"] == pytest.approx(10.0 * (1 - 1.046 / 1.05), rel=1e-10)
    assert parts["fee"] == pytest.approx(10.0 * 1.046 / 1.05 * 0.0005, rel=1e-10)
    assert parts["slippage"] > 0


@pytest.mark.parametrize(
    ("instruction", "fee_rate"),
    [
        (order(BuySpot, "binance", base="ETH", quote_amount=30_000.0), 0.001),
        (order(SellSpot, "binance", base="ETH", base_amount=2.0), 0.001),
        (order(TradePerp, "binance", base="ETH", size_delta=-3.0), 0.0005),
    ],
)
def test_cex_trades_split_into_fee_and_slippage(instruction, fee_rate: float) -> None:
    venue = SimulatedCex(cex_config("binance"), COSTS_ON)
    seed(venue.ledger, {"binance:BaseToken:USDT": 100_000.0, "binance:BaseToken:ETH": 5.0})
    parts = assert_splits(venue.execute(instruction, market()).legs)
    assert parts["discount"] == 0.0 and parts["slippage"] > 0 and parts["fee"] > 0
    notional = {"BuySpot": 30_000.0, "SellSpot": 2 * 3000.0, "TradePerp": 3 * 3001.5}
    assert parts["fee"] == pytest.approx(notional[type(instruction).__name__] * fee_rate)
