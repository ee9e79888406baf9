"""SimulatedDex with LSTs (fill at ρ_mkt, valued at ρ), WETH and reward-token swaps; wallet
wrapping (domain 3, 4.2, 12.2)."""

from __future__ import annotations

import math

import pytest
from venue_book import COSTS_OFF, COSTS_ON, VALUES, chain, market, order

from basis_strategy.core.instructions import SwapOnDex, Wrap
from basis_strategy.math.costs import slippage_bps
from basis_strategy.venues.interface import ExecutionRejected

P, RHO, RHO_MKT = VALUES["price:ETH"], VALUES["lst_rate:weETH"], VALUES["lst_market:weETH"]
ETH, WETH, WEETH = "wallet:BaseToken:ETH", "wallet:BaseToken:WETH", "etherfi:LST:weETH"
FEE = 0.0005


def swap(sell: str, buy: str, amount: float) -> SwapOnDex:
    made = order(SwapOnDex, "uniswap", sell=sell, buy=buy, sell_amount=amount)
    assert isinstance(made, SwapOnDex)
    return made


def test_selling_an_lst_fills_at_the_market_rate_and_books_the_discount() -> None:
    system = chain(COSTS_ON, {WEETH: 20.0})
    sold, bought, gas = system.dex.execute(swap("weETH", "ETH", 20.0), market()).legs
    rate = FEE + slippage_bps(20.0 * RHO * P, 20, 35) * 1e-4
    received = 20.0 * RHO_MKT * (1 - rate)
    assert (bought.instrument, bought.amount) == (ETH, pytest.approx(received, rel=1e-14))
    assert (sold.instrument, sold.amount) == (WEETH, -20.0)
    # the reference value is 20 ρ ETH; everything short of it is execution cost (in weETH)
    assert sold.pnl_component == "execution_costs" and sold.pnl_asset == "weETH"
    assert sold.pnl_native * RHO == pytest.approx(received - 20.0 * RHO, rel=1e-12)
    assert gas.pnl_component == "gas"


def test_without_costs_only_the_sale_discount_remains() -> None:
    system = chain(COSTS_OFF, {WEETH: 10.0})
    sold, bought = system.dex.execute(swap("weETH", "WETH", 10.0), market()).legs
    assert (bought.instrument, bought.amount) == (WETH, pytest.approx(10.0 * RHO_MKT, rel=1e-14))
    assert sold.pnl_native * RHO == pytest.approx(-10.0 * (RHO - RHO_MKT), rel=1e-12)


def test_buying_below_the_oracle_is_a_gain() -> None:
    system = chain(COSTS_OFF, {WETH: 10.0})
    sold, bought = system.dex.execute(swap("WETH", "weETH", 10.0), market()).legs
    assert (bought.instrument, bought.amount) == (WEETH, pytest.approx(10.0 / RHO_MKT, rel=1e-14))
    assert sold.pnl_native == pytest.approx(10.0 / RHO_MKT * RHO - 10.0, rel=1e-12)
    assert sold.pnl_native > 0.0


def test_wsteth_trades_on_its_own_pool_and_rate() -> None:
    system = chain(COSTS_ON, {"lido:LST:wstETH": 5.0})
    _, bought, _ = system.dex.execute(swap("wstETH", "ETH", 5.0), market()).legs
    rate = FEE + slippage_bps(5.0 * 1.2 * P, 15, 27) * 1e-4
    assert bought.amount == pytest.approx(5.0 * VALUES["lst_market:wstETH"] * (1 - rate), rel=1e-14)


@pytest.mark.parametrize(("token", "bps"), [("EIGEN", (8, 28)), ("ETHFI", (12, 42))])
def test_reward_tokens_sell_for_eth(token: str, bps: tuple[float, float]) -> None:
    system = chain(COSTS_ON, {f"wallet:BaseToken:{token}": 1_000.0})
    sold, bought, _ = system.dex.execute(swap(token, "ETH", math.inf), market()).legs
    usd = VALUES[f"price:{token}"]
    rate = FEE + slippage_bps(1_000.0 * usd, *bps) * 1e-4
    assert sold.amount == -1_000.0  # inf: all of it
    assert bought.amount == pytest.approx(1_000.0 * usd * (1 - rate) / P, rel=1e-14)
    assert sold.pnl_native == pytest.approx(-1_000.0 * rate, rel=1e-9)


@pytest.mark.parametrize(("sell", "buy"), [("ETH", "WETH"), ("weETH", "wstETH"), ("EIGEN", "USDT")])
def test_pairs_without_a_pool_are_rejected(sell: str, buy: str) -> None:
    holdings = {ETH: 1.0, WEETH: 1.0, "wallet:BaseToken:EIGEN": 1.0}
    system = chain(COSTS_ON, holdings)
    with pytest.raises(ExecutionRejected, match="no pool"):
        system.dex.execute(swap(sell, buy, 0.5), market())
    assert system.ledger.quantities == holdings


def test_wrap_and_unwrap_are_one_to_one_and_gas_free() -> None:
    system = chain(COSTS_ON, {ETH: 3.0})
    wrapped = system.wallet.execute(order(Wrap, "wallet", amount=2.0), market()).legs
    assert [(leg.instrument, leg.amount, leg.event_type) for leg in wrapped] == [
        (ETH, -2.0, "Wrapped"),
        (WETH, 2.0, "Wrapped"),
    ]
    unwrapped = system.wallet.execute(order(Wrap, "wallet", amount=-0.5), market()).legs
    assert [(leg.instrument, leg.amount) for leg in unwrapped] == [(WETH, -0.5), (ETH, 0.5)]
    assert system.ledger.quantities == {ETH: 1.5, WETH: 1.5}
    with pytest.raises(ExecutionRejected):
        system.wallet.execute(order(Wrap, "wallet", amount=-2.0), market())
    with pytest.raises(ExecutionRejected):
        system.wallet.execute(order(Wrap, "wallet", amount=math.nan), market())
    assert system.ledger.quantities == {ETH: 1.5, WETH: 1.5}
