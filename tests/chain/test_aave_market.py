"""The real AAVE v3.0.2 market on anvil behaves as our Python predictions say, to the wei.

These are the facts the on-chain venue relies on: aToken and variable-debt balances are scaled
balances times the reserve's normalised income / debt, which grow by v3.0.2's linear and
compounded interest formulas (half-up ray rounding); rates set on the mock strategy apply from
the reserve's next update; e-mode's risk parameters; the close factor and bonus of liquidations.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.chain import anvil as anvil_module
from tests.chain.aave_market import (
    HALF_RAY,
    PERCENTAGE_FACTOR,
    RAY,
    AaveMarket,
    compounded_interest,
    linear_interest,
    percent_mul,
    ray_div,
    ray_mul,
    send,
)
from tests.chain.anvil import Anvil
from tests.chain.conftest import PRICES_USD_8, WEETH_RISK
from web3.logs import DISCARD

DAY_S = 24 * 3600
WAD = 10**18
USDT_UNIT = 10**6
MAX_UINT = 2**256 - 1
VARIABLE = 2  # AAVE's interest rate mode of variable debt
# Deliberately unround rates (ray, per year) so that any rounding slip shows up in the last wei.
LIQUIDITY_RATE = 51_234_567_890_123_456_789_012_345  # ~5.12 %
BORROW_RATE = 83_456_789_012_345_678_901_234_567  # ~8.35 %


def supply(market: AaveMarket, symbol: str, user: str, amount: int) -> None:
    """Mint `amount` of the underlying to `user`, who supplies it for himself."""
    token = market.tokens[symbol].functions
    send(market.w3, token.mint(user, amount), market.admin)
    send(market.w3, token.approve(market.pool.address, amount), user)
    call = market.pool.functions.supply(market.asset(symbol), amount, user, 0)
    send(market.w3, call, user)


def borrow(market: AaveMarket, symbol: str, user: str, amount: int) -> None:
    """`user` borrows `amount` at the variable rate."""
    call = market.pool.functions.borrow(market.asset(symbol), amount, VARIABLE, 0, user)
    send(market.w3, call, user)


def timestamp(anvil: Anvil) -> int:
    stamp: int = anvil.w3.eth.get_block("latest")["timestamp"]
    return stamp


def test_ray_math_rounds_half_up_like_v3_0_2() -> None:
    assert ray_mul(3, HALF_RAY) == 2  # 1.5 -> 2
    assert ray_mul(1, HALF_RAY - 1) == 0
    assert ray_div(3, 2 * RAY) == 2  # 1.5 -> 2
    assert percent_mul(3, 5000) == 2
    # the binomial approximation undershoots the exact compounding, as AAVE documents
    year = 365 * DAY_S
    assert RAY + BORROW_RATE < compounded_interest(BORROW_RATE, year) < 1_087_038 * RAY // 10**6
    assert linear_interest(BORROW_RATE, year) == RAY + BORROW_RATE


def test_atoken_balance_is_scaled_balance_times_linear_income(
    chain: Anvil, market: AaveMarket
) -> None:
    supplier = chain.accounts[1]
    supply(market, "USDT", supplier, 1_000_000 * USDT_UNIT)
    market.set_rates("USDT", BORROW_RATE, LIQUIDITY_RATE)
    market.touch("USDT")
    reserve = market.reserve_data("USDT")
    assert reserve["currentLiquidityRate"] == LIQUIDITY_RATE
    assert reserve["currentVariableBorrowRate"] == BORROW_RATE
    a_token = market.a_tokens["USDT"].functions
    scaled = a_token.scaledBalanceOf(supplier).call()

    now = chain.increase_time(30 * DAY_S)

    elapsed = now - reserve["lastUpdateTimestamp"]
    assert elapsed >= 30 * DAY_S
    income = ray_mul(linear_interest(LIQUIDITY_RATE, elapsed), reserve["liquidityIndex"])
    assert market.normalized_income("USDT") == income
    assert a_token.scaledBalanceOf(supplier).call() == scaled
    balance = a_token.balanceOf(supplier).call()
    assert balance == ray_mul(scaled, income)
    assert balance > 1_004_000 * USDT_UNIT  # ~5.12 % a year for 30 days: the rate applied


def test_new_rates_apply_from_the_reserves_next_update(chain: Anvil, market: AaveMarket) -> None:
    supply(market, "USDT", chain.accounts[1], 1_000_000 * USDT_UNIT)
    market.set_rates("USDT", BORROW_RATE, LIQUIDITY_RATE)
    market.touch("USDT")
    first = market.reserve_data("USDT")
    market.set_rates("USDT", BORROW_RATE, 2 * LIQUIDITY_RATE)  # not applied yet

    chain.increase_time(DAY_S)
    market.touch("USDT")  # accrues the day at the old rate, then stores the new one

    second = market.reserve_data("USDT")
    first_span = second["lastUpdateTimestamp"] - first["lastUpdateTimestamp"]
    index = ray_mul(linear_interest(LIQUIDITY_RATE, first_span), first["liquidityIndex"])
    assert second["liquidityIndex"] == index
    assert second["currentLiquidityRate"] == 2 * LIQUIDITY_RATE
    now = chain.increase_time(DAY_S)
    expected = ray_mul(
        linear_interest(2 * LIQUIDITY_RATE, now - second["lastUpdateTimestamp"]), index
    )
    assert market.normalized_income("USDT") == expected


def test_variable_debt_grows_by_v3_0_2_compounded_interest(
    chain: Anvil, market: AaveMarket
) -> None:
    supplier, borrower = chain.accounts[1:3]
    supply(market, "USDT", supplier, 1_000_000 * USDT_UNIT)
    supply(market, "WETH", borrower, 100 * WAD)
    borrow(market, "USDT", borrower, 150_000 * USDT_UNIT)
    market.set_rates("USDT", BORROW_RATE, LIQUIDITY_RATE)
    market.touch("USDT")
    reserve = market.reserve_data("USDT")
    debt_token = market.variable_debt_tokens["USDT"].functions
    scaled = debt_token.scaledBalanceOf(borrower).call()

    now = chain.increase_time(30 * DAY_S)

    growth = compounded_interest(BORROW_RATE, now - reserve["lastUpdateTimestamp"])
    index = ray_mul(growth, reserve["variableBorrowIndex"])
    assert market.normalized_debt("USDT") == index
    linear_index = ray_mul(
        linear_interest(BORROW_RATE, now - reserve["lastUpdateTimestamp"]),
        reserve["variableBorrowIndex"],
    )
    assert index > linear_index  # the test tells compounded from linear interest apart
    assert debt_token.scaledBalanceOf(borrower).call() == scaled
    assert debt_token.balanceOf(borrower).call() == ray_mul(scaled, index)


def test_emode_raises_ltv_and_liquidation_threshold(chain: Anvil, market: AaveMarket) -> None:
    user = chain.accounts[1]
    supply(market, "weETH", user, 10 * WAD)
    before = market.account(user)
    assert (before["ltv"], before["currentLiquidationThreshold"]) == (7250, 7500)
    assert before["totalCollateralBase"] == 10 * PRICES_USD_8["weETH"]

    send(market.w3, market.pool.functions.setUserEMode(1), user)

    after = market.account(user)
    assert (after["ltv"], after["currentLiquidationThreshold"]) == (9300, 9500)


def liquidation_event(market: AaveMarket, receipt: Any) -> Any:
    events = market.pool.events.LiquidationCall().process_receipt(receipt, errors=DISCARD)
    (event,) = [e for e in events if e["address"] == market.pool.address]
    return event["args"]


def open_weeth_loan(chain: Anvil, market: AaveMarket, weth_debt: int, emode: bool) -> str:
    """A user with 10 weETH collateral and `weth_debt` WETH of variable debt (rates stay 0)."""
    supplier, user = chain.accounts[1:3]
    supply(market, "WETH", supplier, 100 * WAD)
    supply(market, "weETH", user, 10 * WAD)
    if emode:
        send(market.w3, market.pool.functions.setUserEMode(1), user)
    borrow(market, "WETH", user, weth_debt)
    return user


def liquidate_all_you_can(market: AaveMarket, liquidator: str, user: str) -> Any:
    """The liquidator offers to repay all the debt; AAVE takes what its close factor allows."""
    weth = market.tokens["WETH"].functions
    send(market.w3, weth.mint(liquidator, 100 * WAD), market.admin)
    send(market.w3, weth.approve(market.pool.address, MAX_UINT), liquidator)
    call = market.pool.functions.liquidationCall(
        market.asset("weETH"), market.asset("WETH"), user, MAX_UINT, False
    )
    return liquidation_event(market, send(market.w3, call, liquidator))


def expected_collateral(debt_wei: int, weeth_price: int, bonus_bps: int) -> int:
    """LiquidationLogic: debt in collateral at the oracle prices (both 18 d.), plus the bonus."""
    base = PRICES_USD_8["WETH"] * debt_wei * WAD // (weeth_price * WAD)
    return percent_mul(base, bonus_bps)


def test_liquidation_above_095_closes_half_the_debt_with_the_emode_bonus(
    chain: Anvil, market: AaveMarket
) -> None:
    debt = 9_500 * WAD // 1000  # 9.5 WETH = 28 500 USD against 31 000 USD of weETH (HF 1.033)
    user = open_weeth_loan(chain, market, debt, emode=True)
    assert market.account(user)["healthFactor"] > WAD
    weeth_price = 2_940 * 10**8  # HF = 29 400 × 0.95 / 28 500 = 0.98

    market.set_price("weETH", weeth_price)

    health = market.account(user)["healthFactor"]
    collateral_base = 10 * weeth_price
    expected_health = (percent_mul(collateral_base, 9500) * WAD + 28_500 * 10**8 // 2) // (
        28_500 * 10**8
    )
    assert health == expected_health
    assert 95 * WAD // 100 < health < WAD
    event = liquidate_all_you_can(market, chain.accounts[3], user)
    assert event["debtToCover"] == percent_mul(debt, 5000)
    assert event["liquidatedCollateralAmount"] == expected_collateral(
        event["debtToCover"], weeth_price, 10100
    )
    debt_token = market.variable_debt_tokens["WETH"].functions
    assert debt_token.balanceOf(user).call() == debt - event["debtToCover"]


def test_liquidation_below_095_closes_all_the_debt_with_the_reserve_bonus(
    chain: Anvil, market: AaveMarket
) -> None:
    debt = 7 * WAD  # 21 000 USD against 31 000 USD of weETH, no e-mode (LT 75 %): HF 1.107
    user = open_weeth_loan(chain, market, debt, emode=False)
    weeth_price = 2_520 * 10**8  # HF = 25 200 × 0.75 / 21 000 = 0.90

    market.set_price("weETH", weeth_price)

    assert market.account(user)["healthFactor"] == 9 * WAD // 10
    event = liquidate_all_you_can(market, chain.accounts[3], user)
    assert event["debtToCover"] == debt
    bonus = WEETH_RISK["liquidation_bonus_bps"]
    assert event["liquidatedCollateralAmount"] == expected_collateral(debt, weeth_price, bonus)
    assert event["liquidatedCollateralAmount"] > debt * 3000 // 2520  # more than the debt's worth
    assert market.variable_debt_tokens["WETH"].functions.balanceOf(user).call() == 0
    assert bonus > PERCENTAGE_FACTOR


def test_snapshot_isolation_1_changes_the_market(chain: Anvil, market: AaveMarket) -> None:
    supply(market, "USDT", chain.accounts[1], 5 * USDT_UNIT)
    market.set_price("USDT", 2 * 10**8)
    chain.increase_time(365 * DAY_S)
    assert market.a_tokens["USDT"].functions.totalSupply().call() == 5 * USDT_UNIT


def test_snapshot_isolation_2_sees_the_clean_market(
    chain: Anvil, market: AaveMarket, deployed_block: int
) -> None:
    assert chain.w3.eth.block_number == deployed_block
    assert market.a_tokens["USDT"].functions.totalSupply().call() == 0
    oracle = market.oracle.functions
    assert oracle.getAssetPrice(market.asset("USDT")).call() == PRICES_USD_8["USDT"]
    assert market.tokens["USDT"].functions.balanceOf(chain.accounts[1]).call() == 0


def test_a_second_anvil_starts_and_stops_without_leaving_a_process() -> None:
    with Anvil() as node:
        assert node.w3.eth.chain_id == 31337
        pid = node.pid
    assert not Path(f"/proc/{pid}").exists()  # killed and reaped: not even a zombie


def test_a_missing_npm_install_names_the_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(anvil_module, "NODE_MODULES", Path("/nonexistent/node_modules"))
    with pytest.raises(RuntimeError, match=r"cd contracts && npm ci"):
        anvil_module.anvil_binary()
