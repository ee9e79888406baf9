"""Deploys the real AAVE v3.0.2 market (npm `@aave/core-v3` 1.19.3 artifacts) on a local chain.

Why the real contracts: the on-chain venue must agree with AAVE to the wei (scaled balances,
index rounding, health factor, liquidation), and only the protocol's own bytecode proves that.
AAVE code is BUSL-1.1: the artifacts are read from contracts/node_modules at run time and never
copied into the repository.

Rates: every reserve gets a `MockReserveInterestRateStrategy` (from AAVE's own test mocks), whose
rates are set directly in ray, so a replay can put the recorded hourly rates of real data on
chain. AAVE stores a reserve's rates only when the reserve is updated (any supply, withdraw,
borrow, repay, liquidation or flash loan on it): interest up to that moment accrues at the old
rates, from then on at the new ones. `AaveMarket.touch` forces that update without moving funds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from tests.chain.anvil import NODE_MODULES
from web3 import Web3
from web3.contract import Contract

ARTIFACTS = NODE_MODULES / "@aave" / "core-v3" / "artifacts"
RAY = 10**27
HALF_RAY = RAY // 2
SECONDS_PER_YEAR = 365 * 24 * 3600
PERCENTAGE_FACTOR = 10_000
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
PRICE_UNIT_USD = 10**8  # the AaveOracle's base currency unit: USD with 8 decimals
GAS_BUFFER = 100_000  # what web3 adds to an estimate
MAX_FEE_WEI = 100 * 10**9  # a cap far above anvil's base fee (1 gwei at start, then falling)
MARKET_ID = "basis-strategy local test market"


# --- v3.0.2 fixed-point math, in Python ints, rounding exactly as the Solidity does ---------


def ray_mul(a: int, b: int) -> int:
    """WadRayMath.rayMul of v3.0.2: half up (v3.6 rounds down; parity needs the right one)."""
    return (a * b + HALF_RAY) // RAY


def ray_div(a: int, b: int) -> int:
    """WadRayMath.rayDiv of v3.0.2: half up."""
    return (a * RAY + b // 2) // b


def percent_mul(value: int, bps: int) -> int:
    """PercentageMath.percentMul (half up), bps = 1/10 000."""
    return (value * bps + PERCENTAGE_FACTOR // 2) // PERCENTAGE_FACTOR


def linear_interest(rate_ray: int, seconds: int) -> int:
    """MathUtils.calculateLinearInterest: the supply side's growth factor over `seconds`."""
    return RAY + rate_ray * seconds // SECONDS_PER_YEAR


def compounded_interest(rate_ray: int, seconds: int) -> int:
    """MathUtils.calculateCompoundedInterest of v3.0.2: the 3-term binomial approximation."""
    if seconds == 0:
        return RAY
    exp_minus_one = seconds - 1
    exp_minus_two = seconds - 2 if seconds > 2 else 0
    base_power_two = ray_mul(rate_ray, rate_ray) // (SECONDS_PER_YEAR * SECONDS_PER_YEAR)
    base_power_three = ray_mul(base_power_two, rate_ray) // SECONDS_PER_YEAR
    second_term = seconds * exp_minus_one * base_power_two // 2
    third_term = seconds * exp_minus_one * exp_minus_two * base_power_three // 6
    return RAY + rate_ray * seconds // SECONDS_PER_YEAR + second_term + third_term


# --- artifacts, linking, transactions ------------------------------------------------------


@cache
def _artifact_paths() -> dict[str, list[Path]]:
    if not ARTIFACTS.is_dir():
        raise RuntimeError(f"AAVE artifacts missing at {ARTIFACTS}: run `cd contracts && npm ci`")
    paths: dict[str, list[Path]] = {}
    for path in ARTIFACTS.rglob("*.json"):
        if not path.name.endswith(".dbg.json"):
            paths.setdefault(path.stem, []).append(path)
    return paths


@cache
def artifact(name: str) -> dict[str, Any]:
    """The hardhat artifact (abi, bytecode, linkReferences) of contract `name`."""
    found = _artifact_paths().get(name, [])
    if len(found) != 1:
        raise RuntimeError(f"{len(found)} AAVE artifacts named {name!r} (expected exactly one)")
    loaded: dict[str, Any] = json.loads(found[0].read_text())
    return loaded


def link(name: str, libraries: dict[str, str]) -> str:
    """`name`'s creation bytecode with each `__$…$__` placeholder replaced by its library."""
    art = artifact(name)
    code: str = art["bytecode"].removeprefix("0x")
    for source_libraries in art["linkReferences"].values():
        for library, references in source_libraries.items():
            if library not in libraries:
                raise RuntimeError(f"{name} needs library {library}, which is not deployed")
            address = libraries[library].removeprefix("0x").lower()
            for ref in references:
                start, length = 2 * ref["start"], 2 * ref["length"]
                code = code[:start] + address + code[start + length :]
    return "0x" + code


def send(w3: Web3, call: Any, sender: str) -> Any:
    """Send one contract call from an unlocked account; raise unless it succeeded.

    A call that would revert fails at gas estimation with web3's ContractLogicError (v3.0.2
    reasons are numeric strings such as "36"). Gas and fees are given explicitly (web3's
    defaults read the latest block twice per transaction): the estimate plus web3's own
    100 000 buffer, and no priority fee, so a transaction costs exactly gasUsed × base fee.
    """
    gas = call.estimate_gas({"from": sender}) + GAS_BUFFER
    tx_hash = call.transact(
        {"from": sender, "gas": gas, "maxFeePerGas": MAX_FEE_WEI, "maxPriorityFeePerGas": 0}
    )
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10)
    if receipt["status"] != 1:
        raise RuntimeError(f"transaction {tx_hash.hex()} failed: {call.fn_name}")
    return receipt


def deploy(
    w3: Web3,
    deployer_address: str,
    name: str,
    *args: Any,
    libraries: dict[str, str] | None = None,
) -> Contract:
    """Deploy AAVE artifact `name` with constructor `args`, its libraries linked in."""
    factory = w3.eth.contract(abi=artifact(name)["abi"], bytecode=link(name, libraries or {}))
    receipt = send(w3, factory.constructor(*args), deployer_address)
    address = receipt["contractAddress"]
    if not address:
        raise RuntimeError(f"deploying {name} created no contract")
    return at(w3, name, address)


def at(w3: Web3, name: str, address: str) -> Contract:
    """Contract `address` bound with the ABI of AAVE artifact `name`."""
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=artifact(name)["abi"])


# --- the market ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReserveSpec:
    """One reserve to list; `token` is an ERC-20 already deployed by the caller."""

    symbol: str
    token: str
    decimals: int
    price_usd: int  # 8 decimals (the oracle's unit 1e8): 3000 USD = 300_000_000_000
    ltv_bps: int
    liquidation_threshold_bps: int
    liquidation_bonus_bps: int  # 10500 = the liquidator gets 5 % more collateral than debt
    reserve_factor_bps: int
    borrowable: bool
    emode_category: int = 0
    supply_cap: int = 0  # whole tokens, 0 = none
    borrow_cap: int = 0


@dataclass
class AaveMarket:
    """Handles on a deployed market; every dict is keyed by the reserve's symbol.

    Holds only what `evm_revert` cannot undo: addresses fixed at deployment (`aggregators` are
    the deploy-time price sources; `set_price` replaces a source on chain only). Views are
    called at the latest mined block, so they use its timestamp (anvil's "pending" would not).
    `flash_receiver` is AAVE's MockFlashLoanSimpleReceiver, used by `touch`.
    """

    w3: Web3
    admin: str
    pool: Contract
    configurator: Contract
    oracle: Contract
    data_provider: Contract
    addresses_provider: Contract
    acl_manager: Contract
    flash_receiver: Contract
    tokens: dict[str, Contract] = field(default_factory=dict)
    a_tokens: dict[str, Contract] = field(default_factory=dict)
    variable_debt_tokens: dict[str, Contract] = field(default_factory=dict)
    rate_strategies: dict[str, Contract] = field(default_factory=dict)
    aggregators: dict[str, Contract] = field(default_factory=dict)

    def asset(self, symbol: str) -> str:
        """The underlying token's address."""
        address: str = self.tokens[symbol].address
        return address

    def set_price(self, symbol: str, price_usd_8: int) -> Contract:
        """Point the oracle at a new MockAggregator answering `price_usd_8` (USD, 1e8).

        `aggregators` keeps the deploy-time sources: this object outlives `evm_revert`, so it
        must hold nothing a revert would undo; read the current price with `price`.
        """
        aggregator = deploy(self.w3, self.admin, "MockAggregator", price_usd_8)
        call = self.oracle.functions.setAssetSources([self.asset(symbol)], [aggregator.address])
        send(self.w3, call, self.admin)
        return aggregator

    def price(self, symbol: str) -> int:
        """The oracle's current price of the asset, USD with 8 decimals."""
        price: int = self.oracle.functions.getAssetPrice(self.asset(symbol)).call()
        return price

    def set_rates(
        self, symbol: str, variable_borrow_rate_ray: int, liquidity_rate_ray: int
    ) -> None:
        """Set the reserve's next rates (ray, per year) on its mock strategy.

        They take effect at the reserve's next update (see the module docstring): call `touch`
        to apply them now, or let the next supply/borrow/... on this reserve apply them.
        """
        strategy = self.rate_strategies[symbol].functions
        send(self.w3, strategy.setVariableBorrowRate(variable_borrow_rate_ray), self.admin)
        send(self.w3, strategy.setLiquidityRate(liquidity_rate_ray), self.admin)

    def touch(self, symbol: str) -> None:
        """Update the reserve now: accrue its indexes, then store the strategy's current rates.

        A flash loan of 1 wei through AAVE's MockFlashLoanSimpleReceiver, repaid in the same
        transaction: it moves no funds and, with the flash premium at 0, leaves the liquidity
        index exactly as accrual alone would (a premium would be added to it). Needs a reserve
        holding at least 1 wei and a token with `mint(address,uint256)` (the receiver mints the
        premium, 0 here).
        """
        a_token = self.a_tokens[symbol].address
        if self.tokens[symbol].functions.balanceOf(a_token).call() < 1:
            raise RuntimeError(
                f"touch({symbol}): the reserve holds nothing to flash-borrow "
                "(no supply, so no interest to accrue; the first supply applies the rates)"
            )
        call = self.pool.functions.flashLoanSimple(
            self.flash_receiver.address, self.asset(symbol), 1, b"", 0
        )
        send(self.w3, call, self.admin)

    def reserve_data(self, symbol: str) -> dict[str, Any]:
        """Pool.getReserveData as a dict (liquidityIndex, currentLiquidityRate, ...)."""
        abi = next(o for o in artifact("Pool")["abi"] if o.get("name") == "getReserveData")
        fields = [c["name"] for c in abi["outputs"][0]["components"]]
        values = self.pool.functions.getReserveData(self.asset(symbol)).call()
        return dict(zip(fields, values, strict=True))

    def normalized_income(self, symbol: str) -> int:
        """Pool.getReserveNormalizedIncome (ray): aToken balance = scaled balance × this."""
        income: int = self.pool.functions.getReserveNormalizedIncome(self.asset(symbol)).call()
        return income

    def normalized_debt(self, symbol: str) -> int:
        """Pool.getReserveNormalizedVariableDebt (ray): variable debt = scaled debt × this."""
        debt: int = self.pool.functions.getReserveNormalizedVariableDebt(self.asset(symbol)).call()
        return debt

    def account(self, user: str) -> dict[str, int]:
        """Pool.getUserAccountData: totals in USD 1e8, ltv and threshold in bps, HF in wad."""
        values = self.pool.functions.getUserAccountData(user).call()
        names = (
            "totalCollateralBase",
            "totalDebtBase",
            "availableBorrowsBase",
            "currentLiquidationThreshold",
            "ltv",
            "healthFactor",
        )
        return dict(zip(names, values, strict=True))


# --- deployment ------------------------------------------------------------------------------

# Libraries in dependency order (FlashLoanLogic links BorrowLogic).
POOL_LIBRARIES = (
    "BorrowLogic",
    "BridgeLogic",
    "EModeLogic",
    "FlashLoanLogic",
    "LiquidationLogic",
    "PoolLogic",
    "SupplyLogic",
    "ConfiguratorLogic",
)
# The mock strategy's slopes are never used in its rates (set directly); they only fill the
# constructor and the interface getters: AAVE's mainnet-like 90 % kink, 0/4/60 % slopes.
_STRATEGY_SHAPE = (9 * RAY // 10, 0, 4 * RAY // 100, 60 * RAY // 100, 0, 0)


def deploy_tokens(w3: Web3, admin: str) -> dict[str, Contract]:
    """The underlying tokens of the test market: WETH (WETH9Mocked), USDT (6 d.), an LST."""
    return {
        "WETH": deploy(w3, admin, "WETH9Mocked"),
        "USDT": deploy(w3, admin, "MintableERC20", "Tether USD", "USDT", 6),
        "weETH": deploy(w3, admin, "MintableERC20", "Wrapped eETH", "weETH", 18),
    }


def _deploy_core(w3: Web3, admin: str) -> dict[str, Contract]:
    """Addresses provider, ACL (admin = pool, emergency and risk admin), data provider, Pool
    and PoolConfigurator behind their proxies."""
    libraries: dict[str, str] = {}
    for name in POOL_LIBRARIES:
        libraries[name] = deploy(w3, admin, name, libraries=libraries).address
    provider = deploy(w3, admin, "PoolAddressesProvider", MARKET_ID, admin)
    send(w3, provider.functions.setACLAdmin(admin), admin)
    acl = deploy(w3, admin, "ACLManager", provider.address)
    send(w3, provider.functions.setACLManager(acl.address), admin)
    for grant in (
        acl.functions.addPoolAdmin,
        acl.functions.addEmergencyAdmin,
        acl.functions.addRiskAdmin,
    ):
        send(w3, grant(admin), admin)
    data_provider = deploy(w3, admin, "AaveProtocolDataProvider", provider.address)
    send(w3, provider.functions.setPoolDataProvider(data_provider.address), admin)
    pool_impl = deploy(w3, admin, "Pool", provider.address, libraries=libraries)
    send(w3, pool_impl.functions.initialize(provider.address), admin)  # locks the implementation
    send(w3, provider.functions.setPoolImpl(pool_impl.address), admin)  # proxy + initialize
    configurator_impl = deploy(w3, admin, "PoolConfigurator", libraries=libraries)
    send(w3, configurator_impl.functions.initialize(provider.address), admin)
    send(w3, provider.functions.setPoolConfiguratorImpl(configurator_impl.address), admin)
    return {
        "provider": provider,
        "acl": acl,
        "data_provider": data_provider,
        "pool": at(w3, "Pool", provider.functions.getPool().call()),
        "configurator": at(w3, "PoolConfigurator", provider.functions.getPoolConfigurator().call()),
    }


def _init_reserve(
    w3: Web3, admin: str, core: dict[str, Contract], spec: ReserveSpec, impls: Mapping[str, str]
) -> Contract:
    """List one reserve (one transaction each: several at once exceed some nodes' gas cap)."""
    strategy = deploy(
        w3, admin, "MockReserveInterestRateStrategy", core["provider"].address, *_STRATEGY_SHAPE
    )
    reserve_input = (
        impls["AToken"],
        impls["StableDebtToken"],
        impls["VariableDebtToken"],
        spec.decimals,
        strategy.address,
        Web3.to_checksum_address(spec.token),
        admin,  # treasury
        ZERO_ADDRESS,  # no incentives controller
        f"Aave test {spec.symbol}",
        f"aTest{spec.symbol}",
        f"Aave test variable debt {spec.symbol}",
        f"variableDebtTest{spec.symbol}",
        f"Aave test stable debt {spec.symbol}",
        f"stableDebtTest{spec.symbol}",
        b"",
    )
    send(w3, core["configurator"].functions.initReserves([reserve_input]), admin)
    return strategy


def _configure_reserve(w3: Web3, admin: str, configurator: Contract, spec: ReserveSpec) -> None:
    """Risk parameters of one listed reserve."""
    asset = Web3.to_checksum_address(spec.token)
    calls = [
        configurator.functions.configureReserveAsCollateral(
            asset, spec.ltv_bps, spec.liquidation_threshold_bps, spec.liquidation_bonus_bps
        ),
        configurator.functions.setReserveFactor(asset, spec.reserve_factor_bps),
        configurator.functions.setReserveFlashLoaning(asset, True),
    ]
    if spec.borrowable:
        calls.append(configurator.functions.setReserveBorrowing(asset, True))
    if spec.supply_cap:
        calls.append(configurator.functions.setSupplyCap(asset, spec.supply_cap))
    if spec.borrow_cap:
        calls.append(configurator.functions.setBorrowCap(asset, spec.borrow_cap))
    for call in calls:
        send(w3, call, admin)


def deploy_market(
    w3: Web3,
    admin: str,
    reserves: list[ReserveSpec],
    emode: tuple[int, int, int, int, str] = (1, 9300, 9500, 10100, "ETH correlated"),
    flash_premium_total_bps: int = 0,
) -> AaveMarket:
    """Deploy and configure a v3.0.2 market listing `reserves`, administered by `admin`.

    `emode` is (category id, ltv bps, liquidation threshold bps, bonus bps, label); reserves
    whose `emode_category` equals the id join it. Stable-rate borrowing stays disabled.
    """
    core = _deploy_core(w3, admin)
    aggregators = {s.symbol: deploy(w3, admin, "MockAggregator", s.price_usd) for s in reserves}
    oracle = deploy(
        w3,
        admin,
        "AaveOracle",
        core["provider"].address,
        [Web3.to_checksum_address(s.token) for s in reserves],
        [aggregators[s.symbol].address for s in reserves],
        ZERO_ADDRESS,  # no fallback oracle
        ZERO_ADDRESS,  # base currency: USD
        PRICE_UNIT_USD,
    )
    send(w3, core["provider"].functions.setPriceOracle(oracle.address), admin)
    pool_address = core["pool"].address
    impls = {
        name: deploy(w3, admin, name, pool_address).address
        for name in ("AToken", "StableDebtToken", "VariableDebtToken")
    }
    strategies = {s.symbol: _init_reserve(w3, admin, core, s, impls) for s in reserves}
    configurator = core["configurator"]
    for spec in reserves:
        _configure_reserve(w3, admin, configurator, spec)
    send(w3, configurator.functions.updateFlashloanPremiumTotal(flash_premium_total_bps), admin)
    send(w3, configurator.functions.updateFlashloanPremiumToProtocol(0), admin)
    category, ltv, threshold, bonus, label = emode
    call = configurator.functions.setEModeCategory(
        category, ltv, threshold, bonus, ZERO_ADDRESS, label
    )
    send(w3, call, admin)
    for spec in reserves:
        if spec.emode_category == category:
            asset = Web3.to_checksum_address(spec.token)
            send(w3, configurator.functions.setAssetEModeCategory(asset, category), admin)
    market = AaveMarket(
        w3=w3,
        admin=admin,
        pool=core["pool"],
        configurator=configurator,
        oracle=oracle,
        data_provider=core["data_provider"],
        addresses_provider=core["provider"],
        acl_manager=core["acl"],
        flash_receiver=deploy(w3, admin, "MockFlashLoanSimpleReceiver", core["provider"].address),
        rate_strategies=strategies,
        aggregators=aggregators,
    )
    for spec in reserves:
        market.tokens[spec.symbol] = at(w3, "MintableERC20", spec.token)
        data = market.reserve_data(spec.symbol)
        market.a_tokens[spec.symbol] = at(w3, "AToken", data["aTokenAddress"])
        debt_token = at(w3, "VariableDebtToken", data["variableDebtTokenAddress"])
        market.variable_debt_tokens[spec.symbol] = debt_token
    return market
