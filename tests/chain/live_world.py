"""A live run's world on the test chain: the fund's account as the engine's on-chain venues, and
replayed history driving the chain hour by hour.

At each replayed hour t the chain is set to the history of t: its clock (blocks stamped just
before t), AAVE's WETH and weETH rates (the mock rate strategies, applied by a 1-wei supply
that updates each reserve), the oracle prices of WETH and weETH (ETH's price; weETH at ρ × ETH),
the LST's rate ρ and the DEX's mid price ρ_mkt (5 bps fee). The engine's market is the hour's
history with every on-chain series replaced by what the chain says (`ChainReader`), so the
book values the account exactly as the chain does, and interest accrues on chain between
hours at the rates set the hour before (as AAVE does).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from tests.chain.aave_market import RAY, deploy, send
from tests.chain.fund import ETH, OPERATOR_KEY, FundChain, pay

from basis_strategy.config.loader import RunConfig
from basis_strategy.data.live_chain import ChainReader, on_chain
from basis_strategy.data.market import MarketState
from basis_strategy.data.provider import HistoricalDataProvider
from basis_strategy.live.replay import ReplaySource
from basis_strategy.venues.live.chain import (
    ChainAccount,
    LiveChainVenue,
)
from basis_strategy.venues.live.chain_build import build_live_chain
from basis_strategy.venues.live.chain_calls import ETH as NATIVE_ETH

DEX_FEE_BPS = 5  # the uniswap venue's swap_fee
USDT_UNIT = 10**6
SET_BEFORE_S = 120  # the world of hour t is set in blocks stamped from t − 120 s


def fund_env(
    fund: FundChain, max_fee_gwei: float = 100.0, priority_fee_gwei: float = 0.01
) -> dict[str, str]:
    """The environment a live run on the fund's chain reads (`chain_build` module doc)."""
    tokens = {"WETH": fund.weth.address, "weETH": fund.lst.address}
    if fund.usdt is not None:
        tokens["USDT"] = fund.usdt.address
    return {
        "BASIS_ALCHEMY_RPC_URL": fund.anvil.url,
        "BASIS_WALLET_PRIVATE_KEY": OPERATOR_KEY,
        "BASIS_CHAIN_ID": str(fund.w3.eth.chain_id),
        "BASIS_CHAIN_ACCOUNT": fund.account.address,
        "BASIS_CHAIN_AAVE_POOL": fund.market.pool.address,
        "BASIS_CHAIN_DEX": fund.dex.address,
        "BASIS_CHAIN_TOKENS": ",".join(f"{s}={a}" for s, a in tokens.items()),
        "BASIS_CHAIN_MAX_FEE_GWEI": repr(max_fee_gwei),
        "BASIS_CHAIN_PRIORITY_FEE_GWEI": repr(priority_fee_gwei),
    }


def chain_account(
    fund: FundChain, config: RunConfig, max_fee_gwei: float = 100.0, priority_fee_gwei: float = 0.01
) -> ChainAccount:
    """The fund's account as a live run builds it from its environment (`build_live_chain`:
    pre-flight, the simulated chain venues of `config` computing its plans, the chain's risk
    parameters and HF floor)."""
    return build_live_chain(config, fund_env(fund, max_fee_gwei, priority_fee_gwei)).account


def chain_venues(account: ChainAccount) -> dict[str, LiveChainVenue]:
    return {name: LiveChainVenue(name, account) for name in account.simulated}


class ChainReplay(ReplaySource):
    """Replayed history for the engine, with the chain driven to each hour (module doc)."""

    def __init__(
        self,
        fund: FundChain,
        history: HistoricalDataProvider,
        account: ChainAccount,
        clock: Callable[[], datetime],
    ) -> None:
        super().__init__(history, clock)
        self.fund, self.account = fund, account
        series = [*account.market_values(), "price:ETH"]
        self.reader = ChainReader(fund.w3, account.market_values, series)
        w3, whale = fund.w3, fund.anvil.accounts[1]
        pay(w3, fund.weth.functions.deposit(), whale, ETH)
        for token in (fund.weth, fund.lst):  # the whale's 1-wei supplies update the reserves
            send(w3, token.functions.approve(fund.market.pool.address, 2**255), whale)
        send(w3, fund.dex.functions.setFee(DEX_FEE_BPS), fund.admin)
        # what else happens on chain at an hour, after the world is set (a price shock, a
        # liquidator): hour -> action
        self.events: dict[datetime, Callable[[], None]] = {}
        # what happens after the market was read, before the engine acts (the market is then
        # behind the chain): hour -> action
        self.after_read: dict[datetime, Callable[[], None]] = {}

    def get_data(self, t: datetime) -> MarketState:
        history: MarketState = super().get_data(t)
        self.drive(t, history)
        if t in self.events:
            self.events[t]()
        chain = {name: seen.value for name, seen in self.reader.read().values.items()}
        if t in self.after_read:
            self.after_read[t]()
        accrued = {k: v for k, v in history.accrued.items() if not on_chain(k)}
        return MarketState(t, history.index, {**history.values, **chain}, history.funding,
                           history.rewards, accrued, history.mark_sources)  # fmt: skip

    def drive(self, t: datetime, history: MarketState) -> None:
        """Set the chain to the history of hour `t` (module doc)."""
        fund, market, admin = self.fund, self.fund.market, self.fund.admin
        w3, whale = fund.w3, fund.anvil.accounts[1]
        fund.anvil.rpc("evm_setNextBlockTimestamp", [int(t.timestamp()) - SET_BEFORE_S])
        for symbol, token in (("WETH", fund.weth), ("weETH", fund.lst)):
            borrow = history.values.get("aave_br:" + symbol, 0.0)
            supply = history.values.get("aave_lr:" + symbol, 0.0)
            market.set_rates(symbol, int(borrow * RAY), int(supply * RAY))
            send(w3, market.pool.functions.supply(token.address, 1, whale, 0), whale)
        rho, eth_usd = history["lst_rate:weETH"], history["price:ETH"]
        send(w3, fund.lst.functions.setRate(int(rho * ETH)), admin)
        market.set_price("WETH", int(eth_usd * 1e8))
        market.set_price("weETH", int(rho * eth_usd * 1e8))
        mid = history["lst_market:weETH"]
        prices = [
            (fund.lst.address, fund.weth.address, mid),
            (fund.weth.address, fund.lst.address, 1.0 / mid),
            (fund.lst.address, NATIVE_ETH, mid),
            (NATIVE_ETH, fund.lst.address, 1.0 / mid),
        ]
        if fund.usdt is not None:  # raw units: USDT has 6 decimals, ETH 18
            prices += [(fund.usdt.address, NATIVE_ETH, 1e12 / eth_usd),
                       (NATIVE_ETH, fund.usdt.address, eth_usd / 1e12)]  # fmt: skip
        for sell, buy, price in prices:
            send(w3, fund.dex.functions.setPrice(sell, buy, int(price * ETH)), admin)


def add_usdt(fund: FundChain, account_usdt: float, pool_usdt: float = 10_000_000.0) -> None:
    """USDT on the chain (6 decimals): `account_usdt` in the fund's account, `pool_usdt` in the
    DEX, which then quotes USDT <-> ETH at each hour's ETH price."""
    w3, admin = fund.w3, fund.admin
    usdt = fund.usdt or deploy(w3, admin, "MintableERC20", "Tether USD", "USDT", 6)
    send(w3, usdt.functions.mint(fund.account.address, int(account_usdt * USDT_UNIT)), admin)
    send(w3, usdt.functions.mint(fund.dex.address, int(pool_usdt * USDT_UNIT)), admin)
    fund.usdt = usdt
