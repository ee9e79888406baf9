"""Helpers of the AAVE parity test (`test_aave_parity.py`): the chain's clock, the hour's real
market put on chain, the two books' figures, and the strategy-shaped bundles.

The figures are what the backtest and the contracts must agree on, in the same units on both
sides: scaled balances, collateral (weETH, ETH at the oracle ρ, USD at the oracle), debt (WETH,
USD), health factor and equity (ETH: collateral − debt + the account's wallet, its LST at ρ).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypedDict

from tests.chain.aave_market import MAX_FEE_WEI, deploy, send
from tests.chain.anvil import Anvil
from tests.chain.fund import ETH, USD_8, FundChain, supply_lst
from web3 import Web3
from web3.contract import Contract

from basis_strategy.config.venues import DexVenue
from basis_strategy.core.instructions import (
    Action,
    Borrow,
    FlashBundle,
    Instruction,
    Repay,
    Stake,
    SupplyToAave,
    SwapOnDex,
    WithdrawFromAave,
    Wrap,
)
from basis_strategy.core.instruments import WALLET_ETH
from basis_strategy.data.market import MarketState
from basis_strategy.math import aave as aave_math
from basis_strategy.math.costs import slippage_bps
from basis_strategy.math.leverage import deleverage_sale, flash_entry, partial_exit
from basis_strategy.venues.interface import Ledger
from basis_strategy.venues.simulated.chain import WALLET_WETH, SimulatedAave

RAY = 10**27
UINT256_MAX = 2**256 - 1
DUST = 1e-12  # two figures both below this (in ETH, weETH or USD) count as equal


class Common(TypedDict):
    action: Action
    trigger: str


COMMON: Common = {"action": "entry_full", "trigger": "parity"}
COLLATERAL = "aave_v3:aToken:aweETH"
DEBT = "aave_v3:debtToken:debtWETH"
WALLET_LST = "etherfi:LST:weETH"


# --- the clock -------------------------------------------------------------------------------


@contextmanager
def frozen_clock(anvil: Anvil) -> Iterator[None]:
    """Every block mined at the previous block's timestamp until `advance` moves it: a step's
    transactions then run at exactly the time of the state the simulated book was fed.
    (anvil keeps this setting across evm_revert: always restored here.)"""
    anvil.rpc("anvil_setBlockTimestampInterval", [0])
    try:
        yield
    finally:
        anvil.rpc("anvil_removeBlockTimestampInterval")


def advance(anvil: Anvil, seconds: int) -> int:
    """Mine one empty block `seconds` after the latest; returns its timestamp."""
    now = int(anvil.w3.eth.get_block("latest")["timestamp"])
    anvil.rpc("evm_setNextBlockTimestamp", [now + seconds])
    return anvil.mine()


# --- the hour's real market on chain ---------------------------------------------------------


def ray(apr: float) -> int:
    """An APR fraction as AAVE's ray per year (the float's exact decimal, truncated)."""
    return int(Decimal(repr(apr)) * RAY)


def wad(value: float) -> int:
    return int(Decimal(repr(value)) * ETH)


def quick_send(w3: Web3, call: Any, sender: str) -> None:
    """A test-side transaction without the gas estimate `aave_market.send` makes first (the
    hourly loop sends hundreds): fixed gas, mined at once by anvil; raise unless it succeeded."""
    tx_hash = call.transact(
        {"from": sender, "gas": 500_000, "maxFeePerGas": MAX_FEE_WEI, "maxPriorityFeePerGas": 0}
    )
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10, poll_latency=0.002)
    if receipt["status"] != 1:
        raise RuntimeError(f"{call.fn_name} failed")


@dataclass
class Oracle:
    """AAVE's own settable mock `PriceOracle` as the market's price oracle (the addresses
    provider's), so an hourly price is one transaction; `AaveMarket.set_price` deploys a new
    aggregator per price behind the AaveOracle. The Pool reads prices the same way
    (`getAssetPrice`, USD with 8 decimals)."""

    fund: FundChain
    contract: Contract

    def set(self, symbol: str, price_usd_8: int) -> None:
        call = self.contract.functions.setAssetPrice(self.fund.market.asset(symbol), price_usd_8)
        quick_send(self.fund.w3, call, self.fund.admin)

    def price(self, symbol: str) -> int:
        price: int = self.contract.functions.getAssetPrice(self.fund.market.asset(symbol)).call()
        return price


def install_oracle(fund: FundChain) -> Oracle:
    """Deploy the mock oracle at the current prices and make it the market's."""
    oracle = Oracle(fund, deploy(fund.w3, fund.admin, "PriceOracle"))
    for symbol in ("WETH", "weETH"):
        oracle.set(symbol, fund.market.price(symbol))
    provider = fund.market.addresses_provider.functions
    send(fund.w3, provider.setPriceOracle(oracle.contract.address), fund.admin)
    return oracle


@dataclass
class HourSetter:
    """Puts one hour of the data on chain: ETH's and weETH's oracle prices (ρ × ETH, as AAVE's
    rate oracle prices it), weETH's rate (MockLST, the oracle's ρ), the DEX's weETH price
    (ρ_mkt), and the reserves' rates when they changed (set on the mock rate strategies and
    applied by updating the reserve at once: from this block on, interest accrues at them)."""

    fund: FundChain
    oracle: Oracle
    supplier: str  # holds weETH: its 1-wei supplies update the weETH reserve
    rates: dict[str, tuple[int, int]] = field(default_factory=dict)

    def __call__(self, values: dict[str, float]) -> None:
        fund, w3, admin = self.fund, self.fund.w3, self.fund.admin
        eth_usd_8 = round(values["price:ETH"] * USD_8)
        lst_usd_8 = round(values["price:ETH"] * values["lst_rate:weETH"] * USD_8)
        self.oracle.set("WETH", eth_usd_8)
        self.oracle.set("weETH", lst_usd_8)
        # MockLST mints at the rate the oracle states (its price in 1e-8 USD cannot state the
        # data's ρ closer than ~5e-12): the book's supply of stake / ρ_oracle is what it minted
        quick_send(w3, fund.lst.functions.setRate(lst_usd_8 * ETH // eth_usd_8), admin)
        dex_price = wad(values["lst_market:weETH"])
        quick_send(
            w3, fund.dex.functions.setPrice(fund.lst.address, fund.weth.address, dex_price), admin
        )
        for symbol in ("WETH", "weETH"):
            new = (ray(values[f"aave_br:{symbol}"]), ray(values[f"aave_lr:{symbol}"]))
            if self.rates.get(symbol) == new:
                continue
            fund.market.set_rates(symbol, *new)
            if symbol == "WETH":
                fund.market.touch("WETH")
            else:
                supply_lst(fund, self.supplier, 1)
            self.rates[symbol] = new


def accrual_gaps(fund: FundChain) -> dict[str, float]:
    """The backtest's accrual formulas (`math.aave.project_*`: simple interest for the
    liquidity index, per-second compounding for the borrow index) against the chain's
    normalised indices, from each reserve's stored index and rates over the seconds since
    its last update: relative gaps."""
    now = int(fund.w3.eth.get_block("latest")["timestamp"])
    gaps = {}
    for symbol in ("WETH", "weETH"):
        stored = fund.market.reserve_data(symbol)
        dt = now - int(stored["lastUpdateTimestamp"])
        li = aave_math.project_liquidity_index(
            stored["liquidityIndex"] / RAY, stored["currentLiquidityRate"] / RAY, dt
        )
        bi = aave_math.project_borrow_index(
            stored["variableBorrowIndex"] / RAY, stored["currentVariableBorrowRate"] / RAY, dt
        )
        gaps[f"accrual_li:{symbol}"] = rel_diff(li, fund.market.normalized_income(symbol) / RAY)
        gaps[f"accrual_bi:{symbol}"] = rel_diff(bi, fund.market.normalized_debt(symbol) / RAY)
    return gaps


# --- the figures -----------------------------------------------------------------------------


def rel_diff(a: float, b: float, floor: float = 0.0) -> float:
    """|a − b| relative to the larger (or to `floor` if larger still); 0 for equal figures
    (both `inf`, or both dust)."""
    if a == b:
        return 0.0
    if math.isinf(a) or math.isinf(b):
        return math.inf
    scale = max(abs(a), abs(b), floor)
    return abs(a - b) / scale if scale > DUST else 0.0


def chain_figures(fund: FundChain, market: MarketState) -> dict[str, float]:
    """The account as the contracts hold it (balances, `getUserAccountData`), valued at the
    chain's oracle ρ (`market` was read from the same block)."""
    me, rho = fund.account.address, market["lst_rate:weETH"]
    a_token = fund.market.a_tokens["weETH"].functions
    d_token = fund.market.variable_debt_tokens["WETH"].functions
    collateral = a_token.balanceOf(me).call() / ETH  # scaled.rayMul(normalised income)
    debt = d_token.balanceOf(me).call() / ETH
    data = fund.market.account(me)
    wallet = (
        fund.w3.eth.get_balance(me) / ETH
        + fund.weth.functions.balanceOf(me).call() / ETH
        + fund.lst.functions.balanceOf(me).call() / ETH * rho
    )
    hf_wad = data["healthFactor"]
    return {
        "collateral_scaled": a_token.scaledBalanceOf(me).call() / ETH,
        "debt_scaled": d_token.scaledBalanceOf(me).call() / ETH,
        "collateral_weETH": collateral,
        "collateral_eth": collateral * rho,
        "collateral_usd": data["totalCollateralBase"] / USD_8,
        "debt_weth": debt,
        "debt_usd": data["totalDebtBase"] / USD_8,
        "health_factor": math.inf if hf_wad == UINT256_MAX else hf_wad / ETH,
        "equity_eth": collateral * rho - debt + wallet,
    }


def sim_figures(aave: SimulatedAave, ledger: Ledger, market: MarketState) -> dict[str, float]:
    """The same figures from the simulated book at the same market."""
    rho = market["lst_rate:weETH"]
    account = aave.account(ledger, market)
    collateral = ledger.qty(COLLATERAL) * market["aave_li:weETH"]
    debt = ledger.qty(DEBT) * market["aave_bi:WETH"]
    wallet = ledger.qty(WALLET_ETH) + ledger.qty(WALLET_WETH) + ledger.qty(WALLET_LST) * rho
    return {
        "collateral_scaled": ledger.qty(COLLATERAL),
        "debt_scaled": ledger.qty(DEBT),
        "collateral_weETH": collateral,
        "collateral_eth": collateral * rho,
        "collateral_usd": account.collateral_usd,
        "debt_weth": debt,
        "debt_usd": account.debt_usd,
        "health_factor": account.health_factor,
        "equity_eth": collateral * rho - debt + wallet,
    }


@dataclass
class Parity:
    """The largest relative difference seen per figure, and where."""

    worst: dict[str, tuple[float, str]] = field(default_factory=dict)
    steps: int = 0

    def record(self, step: str, gaps: dict[str, float]) -> dict[str, float]:
        """Record `gaps` (relative differences by figure) of `step`; returns them."""
        self.steps += 1
        for name, gap in gaps.items():
            if gap >= self.worst.get(name, (-1.0, ""))[0]:
                self.worst[name] = (gap, step)
        return gaps

    def compare(
        self,
        step: str,
        chain: dict[str, float],
        sim: dict[str, float],
        floors: dict[str, float] | None = None,
    ) -> dict[str, float]:
        """Record the figures' relative differences; `floors`: a figure's scale when it is
        the small difference of larger amounts (debt left after a liquidation)."""
        floors = floors or {}
        gaps = {name: rel_diff(chain[name], sim[name], floors.get(name, 0.0)) for name in chain}
        return self.record(step, gaps)

    def table(self) -> str:
        rows = [f"{n:<22} {g:9.2e}  ({s})" for n, (g, s) in sorted(self.worst.items())]
        return f"max relative difference over {self.steps} comparisons:\n" + "\n".join(rows)


# --- the strategy's bundles (strategies/lst.py, domain 10) -----------------------------------


def entry_bundle(equity_eth: float, ltv: float, market: MarketState) -> FlashBundle:
    """lst.py `enter` / `lever_steps` (no gas, no flash fee): unwrap the flash WETH, stake it
    with the equity, supply the LST, borrow the flash back."""
    rate = market["lst_rate:weETH"]
    sized = flash_entry(equity_eth, ltv, rate, 1.0)
    stake = equity_eth + sized.flash_weth
    steps: tuple[Instruction, ...] = (
        Wrap(venue="wallet", amount=-sized.flash_weth, **COMMON),
        Stake(venue="etherfi", amount=stake, **COMMON),
        SupplyToAave(venue="aave_v3", asset="weETH", amount=stake / rate, **COMMON),
        Borrow(venue="aave_v3", asset="WETH", amount=sized.flash_weth, **COMMON),
    )
    return FlashBundle(
        venue="morpho",
        kind="entry",
        asset="WETH",
        amount=sized.flash_weth,
        steps=steps,
        gas_op="atomic_entry",
        **COMMON,
    )


def sale_price(units: float, market: MarketState, dex: DexVenue) -> float:
    """lst.py `sale_price`: ρ_mkt less the configured pool fee and slippage of that size."""
    notional_usd = units * market["lst_rate:weETH"] * market.usd("ETH")
    low, high = dex.slippage_bps["ETH/weETH"]
    cost = dex.swap_fee + slippage_bps(notional_usd, low, high) * 1e-4
    return market["lst_market:weETH"] * (1.0 - cost)


def _unlever(kind: str, repay: float, units: float) -> FlashBundle:
    """lst.py `_unlever_steps` in one flash bundle: repay, withdraw, sell the LST."""
    common: Common = {"action": "exit_partial", "trigger": "parity"}
    steps: tuple[Instruction, ...] = (
        Repay(venue="aave_v3", asset="WETH", amount=repay, **common),
        WithdrawFromAave(venue="aave_v3", asset="weETH", amount=units, **common),
        SwapOnDex(venue="uniswap", sell="weETH", buy="WETH", sell_amount=units, **common),
    )
    return FlashBundle(
        venue="morpho",
        kind=kind,
        asset="WETH",
        amount=repay,
        steps=steps,
        gas_op="atomic_deleverage_one_swap",
        **common,
    )


def deleverage_bundle(
    ledger: Ledger, target_ltv: float, market: MarketState, dex: DexVenue
) -> FlashBundle:
    """lst.py `deleverage` (domain 10.3), sized from the simulated book."""
    rate = market["lst_rate:weETH"]
    collateral = ledger.qty(COLLATERAL) * market["aave_li:weETH"] * rate
    debt = ledger.qty(DEBT) * market["aave_bi:WETH"]
    units = deleverage_sale(collateral, debt, target_ltv, rate, rate)
    for _ in range(2):  # the sale price depends on the size sold
        units = deleverage_sale(collateral, debt, target_ltv, rate, sale_price(units, market, dex))
    return _unlever("deleverage", units * sale_price(units, market, dex), units)


def release_bundle(
    ledger: Ledger, equity_eth: float, market: MarketState, dex: DexVenue
) -> FlashBundle:
    """lst.py `release` (domain 10.5): `equity_eth` out at constant LTV."""
    rate = market["lst_rate:weETH"]
    collateral = ledger.qty(COLLATERAL) * market["aave_li:weETH"] * rate
    ltv = ledger.qty(DEBT) * market["aave_bi:WETH"] / collateral
    units, repay = partial_exit(equity_eth, ltv, rate, rate)
    for _ in range(2):
        units, repay = partial_exit(equity_eth, ltv, rate, sale_price(units, market, dex))
    return _unlever("partial_exit", repay, units)
