"""Lido on the fund's test chain: our `MockWstETH` (which deploys its `MockStETH`), wstETH
listed on the fund's AAVE market in the ETH e-mode (as on mainnet: 93 % LTV, 95 % LT), priced
by the oracle at the protocol rate × ETH's price, and quoted by the DEX (WETH and ETH, both
ways, 20 bps under the rate), and the fund's account seen through the `eth_leveraged` mode
with `staking.lst_type=wstETH` (base rewards only: Lido pays no EIGEN/ETHFI).

Deploying adds a reserve to the session's fund market: take it inside a snapshot
(`test_lido_venue.py` does it once per module and reverts it after).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.chain.aave_market import (
    ReserveSpec,
    _configure_reserve,
    _init_reserve,
    deploy,
    send,
)
from tests.chain.fund import ETH, FundChain, deploy_ours, pay
from web3 import Web3

from basis_strategy.config.loader import RunConfig, load_run_config
from basis_strategy.venues.interface import Ledger
from basis_strategy.venues.live import chain_abi
from basis_strategy.venues.live.chain import ChainAccount, ChainAddresses
from basis_strategy.venues.live.chain_calls import ETH as NATIVE_ETH
from basis_strategy.venues.live.chain_revert import RevertDecoder
from basis_strategy.venues.live.chain_tx import GasPolicy, TxSender
from basis_strategy.venues.simulated.build import build_simulated_venues
from basis_strategy.venues.simulated.chain import ChainVenue, SimulatedAave

WSTETH_RATE_WAD = 1_187_345_678_912_345_679  # stETH per wstETH, odd digits: floors show
DEX_DISCOUNT = 998  # per mille of the rate the DEX pays (its price, before its fee)
WSTETH_RISK = {"ltv_bps": 7800, "liquidation_threshold_bps": 8100, "liquidation_bonus_bps": 10600}
CONTRACTS = ("BasisAccount", "MockLST", "MockStETH", "MockWstETH", "SwapPool")


@dataclass
class Lido:
    fund: FundChain
    wsteth: Any  # MockWstETH
    steth: Any  # MockStETH (owned by the wrapper)

    @property
    def w3(self) -> Web3:
        return self.fund.w3

    def rate_wad(self) -> int:
        return int(self.wsteth.functions.stEthPerToken().call())

    def set_rate(self, rate_wad: int) -> None:
        send(self.w3, self.wsteth.functions.setRate(rate_wad), self.fund.admin)

    def set_oracle_price(self, price_usd_8: int) -> None:
        """wstETH's price at AAVE's oracle (USD, 8 decimals): a new MockAggregator."""
        aggregator = deploy(self.w3, self.fund.admin, "MockAggregator", price_usd_8)
        oracle = self.fund.market.oracle.functions
        send(self.w3, oracle.setAssetSources([self.wsteth.address], [aggregator.address]),
             self.fund.admin)  # fmt: skip


def deploy_lido(fund: FundChain, rate_wad: int = WSTETH_RATE_WAD) -> Lido:
    """Deploy stETH/wstETH, list wstETH on the fund's market, seed and price the DEX."""
    w3, admin, whale = fund.w3, fund.admin, fund.anvil.accounts[1]
    market = fund.market
    wsteth = deploy_ours(w3, admin, "MockWstETH", rate_wad)
    steth = w3.eth.contract(
        address=wsteth.functions.stETH().call(), abi=chain_abi.compiled("MockStETH")["abi"]
    )
    lido = Lido(fund, wsteth, steth)
    eth_usd = market.price("WETH")
    spec = ReserveSpec("wstETH", wsteth.address, 18, eth_usd * rate_wad // ETH,
                       reserve_factor_bps=1500, borrowable=False, emode_category=1,
                       **WSTETH_RISK)  # fmt: skip
    pool = market.pool.address
    impls = {name: deploy(w3, admin, name, pool).address
             for name in ("AToken", "StableDebtToken", "VariableDebtToken")}  # fmt: skip
    core = {"provider": market.addresses_provider, "configurator": market.configurator}
    _init_reserve(w3, admin, core, spec, impls)
    _configure_reserve(w3, admin, market.configurator, spec)
    send(w3, market.configurator.functions.setAssetEModeCategory(wsteth.address, 1), admin)
    lido.set_oracle_price(spec.price_usd)
    # the DEX's wstETH: the whale stakes and wraps 500 ETH
    pay(w3, steth.functions.submit(NATIVE_ETH), whale, 500 * ETH)
    send(w3, steth.functions.approve(wsteth.address, 500 * ETH), whale)
    send(w3, wsteth.functions.wrap(500 * ETH), whale)
    held = int(wsteth.functions.balanceOf(whale).call())
    send(w3, wsteth.functions.transfer(fund.dex.address, held), whale)
    sell = rate_wad * DEX_DISCOUNT // 1000
    buy = ETH * ETH // rate_wad * DEX_DISCOUNT // 1000
    for other in (fund.weth.address, NATIVE_ETH):
        fund.set_dex_price(wsteth.address, other, sell)
        fund.set_dex_price(other, wsteth.address, buy)
    return lido


def wsteth_config() -> RunConfig:
    return load_run_config(
        "eth_leveraged",
        ["staking.lst_type=wstETH", "staking.rewards_mode=base_only"],
        env={},
    )


def lido_account(lido: Lido, config: RunConfig | None = None) -> ChainAccount:
    """The fund's account with wstETH (wrapping stETH) among its tokens, its plans made by the
    simulated venues of `config` (default: `wsteth_config()`)."""
    fund, w3 = lido.fund, lido.w3
    decoder = RevertDecoder(*(chain_abi.compiled(n)["abi"] for n in CONTRACTS))
    sender = TxSender(w3, fund.operator, GasPolicy(max_fee_gwei=100.0), decoder)
    simulated = build_simulated_venues(config or wsteth_config())
    chain_venues = {n: v for n, v in simulated.items() if isinstance(v, ChainVenue)}
    ledger: Ledger = chain_venues["wallet"].ledger
    addresses = ChainAddresses(
        account=fund.account.address,
        pool=fund.market.pool.address,
        dex=fund.dex.address,
        tokens={"WETH": fund.weth.address, "weETH": fund.lst.address,
                "wstETH": lido.wsteth.address, "stETH": lido.steth.address},
        underlying={"wstETH": "stETH"},
    )  # fmt: skip
    account = ChainAccount(w3, addresses, sender, chain_venues, ledger)
    aave = chain_venues["aave_v3"]
    assert isinstance(aave, SimulatedAave)
    aave.risk = account.risk
    return account
