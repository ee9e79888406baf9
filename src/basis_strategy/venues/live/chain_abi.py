"""The contract interfaces the on-chain venue calls (issue 14): the few functions and events of
ERC-20, WETH and AAVE v3.0 it uses, written out here (no AAVE code is shipped: it is
BUSL-1.1), and our own contracts' compiled ABI and bytecode (`contracts.json`, built from
`contracts/src` by `contracts/compile.mjs`; a test recompiles and compares).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

Abi = list[dict[str, Any]]
MAX_UINT256 = 2**256 - 1


def _params(spec: str) -> list[dict[str, Any]]:
    """`"address asset,uint256 amount"` -> ABI parameters (tuples are written out where used)."""
    if not spec:
        return []
    out = []
    for part in spec.split(","):
        kind, name = part.split()
        out.append({"type": kind, "name": name, "internalType": kind})
    return out


def function(name: str, inputs: str = "", outputs: str = "", view: bool = False) -> dict[str, Any]:
    return {
        "type": "function",
        "name": name,
        "inputs": _params(inputs),
        "outputs": _params(outputs),
        "stateMutability": "view" if view else "nonpayable",
    }


def event(name: str, indexed: str, data: str) -> dict[str, Any]:
    inputs = [dict(p, indexed=True) for p in _params(indexed)]
    inputs += [dict(p, indexed=False) for p in _params(data)]
    return {"type": "event", "name": name, "inputs": inputs, "anonymous": False}


ERC20: Abi = [
    function("balanceOf", "address account", "uint256 balance", view=True),
    function("decimals", "", "uint8 decimals", view=True),
    function("allowance", "address owner,address spender", "uint256 allowed", view=True),
    function("approve", "address spender,uint256 amount", "bool ok"),
    function("transfer", "address to,uint256 amount", "bool ok"),
    event("Transfer", "address from,address to", "uint256 value"),
]

WETH: Abi = [
    *ERC20,
    {**function("deposit"), "stateMutability": "payable"},
    function("withdraw", "uint256 amount"),
]

LST: Abi = [
    *ERC20,
    function("getRate", "", "uint256 rate", view=True),
    {**function("deposit", "", "uint256 minted"), "stateMutability": "payable"},
]

# Lido: stETH's `submit` stakes the ETH sent; wstETH wraps stETH at `stEthPerToken`
STETH: Abi = [
    *ERC20,
    {**function("submit", "address referral", "uint256 minted"), "stateMutability": "payable"},
]

WSTETH: Abi = [
    *ERC20,
    function("stEthPerToken", "", "uint256 rate", view=True),
    function("wrap", "uint256 stETHAmount", "uint256 minted"),
    function("unwrap", "uint256 wstETHAmount", "uint256 paid"),
]

# aTokens and variable debt tokens: balances are scaled by the reserve's index (domain 4.1)
SCALED_TOKEN: Abi = [
    *ERC20,
    function("scaledBalanceOf", "address user", "uint256 scaled", view=True),
    function("UNDERLYING_ASSET_ADDRESS", "", "address asset", view=True),
]

_RESERVE_DATA = (
    "uint256 configuration,uint128 liquidityIndex,uint128 currentLiquidityRate,"
    "uint128 variableBorrowIndex,uint128 currentVariableBorrowRate,"
    "uint128 currentStableBorrowRate,uint40 lastUpdateTimestamp,uint16 id,"
    "address aTokenAddress,address stableDebtTokenAddress,address variableDebtTokenAddress,"
    "address interestRateStrategyAddress,uint128 accruedToTreasury,uint128 unbacked,"
    "uint128 isolationModeTotalDebt"
)

AAVE_POOL: Abi = [
    function("supply", "address asset,uint256 amount,address onBehalfOf,uint16 referralCode"),
    function("withdraw", "address asset,uint256 amount,address to", "uint256 withdrawn"),
    function(
        "borrow",
        "address asset,uint256 amount,uint256 interestRateMode,uint16 referralCode,"
        "address onBehalfOf",
    ),
    function(
        "repay",
        "address asset,uint256 amount,uint256 interestRateMode,address onBehalfOf",
        "uint256 repaid",
    ),
    function("setUserEMode", "uint8 categoryId"),
    function("getUserEMode", "address user", "uint256 category", view=True),
    function(
        "getUserAccountData",
        "address user",
        "uint256 totalCollateralBase,uint256 totalDebtBase,uint256 availableBorrowsBase,"
        "uint256 currentLiquidationThreshold,uint256 ltv,uint256 healthFactor",
        view=True,
    ),
    function("getReserveNormalizedIncome", "address asset", "uint256 income", view=True),
    function("getReserveNormalizedVariableDebt", "address asset", "uint256 debt", view=True),
    {
        **function("getReserveData", "address asset", view=True),
        "outputs": [
            {"type": "tuple", "name": "data", "components": _params(_RESERVE_DATA)},
        ],
    },
    function("ADDRESSES_PROVIDER", "", "address provider", view=True),
    {
        **function("getEModeCategoryData", "uint8 id", view=True),
        "outputs": [
            {
                "type": "tuple",
                "name": "category",
                "components": _params(
                    "uint16 ltv,uint16 liquidationThreshold,uint16 liquidationBonus,"
                    "address priceSource,string label"
                ),
            }
        ],
    },
    event(
        "LiquidationCall",
        "address collateralAsset,address debtAsset,address user",
        "uint256 debtToCover,uint256 liquidatedCollateralAmount,address liquidator,"
        "bool receiveAToken",
    ),
]

AAVE_ORACLE: Abi = [function("getAssetPrice", "address asset", "uint256 price", view=True)]
ADDRESSES_PROVIDER: Abi = [function("getPriceOracle", "", "address oracle", view=True)]

# AAVE v3.0 reverts with a numeric string (Errors.sol); the ones a user's operation can meet
AAVE_V3_0_ERRORS = {
    "23": "CALLER_MUST_BE_POOL",
    "24": "INVALID_MINT_AMOUNT",
    "25": "INVALID_BURN_AMOUNT",
    "26": "INVALID_AMOUNT",
    "27": "RESERVE_INACTIVE",
    "28": "RESERVE_FROZEN",
    "29": "RESERVE_PAUSED",
    "30": "BORROWING_NOT_ENABLED",
    "32": "NOT_ENOUGH_AVAILABLE_USER_BALANCE",
    "33": "INVALID_INTEREST_RATE_MODE_SELECTED",
    "34": "COLLATERAL_BALANCE_IS_ZERO",
    "35": "HEALTH_FACTOR_LOWER_THAN_LIQUIDATION_THRESHOLD",
    "36": "COLLATERAL_CANNOT_COVER_NEW_BORROW",
    "37": "COLLATERAL_SAME_AS_BORROWING_CURRENCY",
    "39": "NO_DEBT_OF_SELECTED_TYPE",
    "42": "NO_OUTSTANDING_VARIABLE_DEBT",
    "43": "UNDERLYING_BALANCE_ZERO",
    "45": "HEALTH_FACTOR_NOT_BELOW_THRESHOLD",
    "46": "COLLATERAL_CANNOT_BE_LIQUIDATED",
    "47": "SPECIFIED_CURRENCY_NOT_BORROWED_BY_USER",
    "49": "INCONSISTENT_FLASHLOAN_PARAMS",
    "50": "BORROW_CAP_EXCEEDED",
    "51": "SUPPLY_CAP_EXCEEDED",
    "53": "DEBT_CEILING_EXCEEDED",
    "57": "LTV_VALIDATION_FAILED",
    "58": "INCONSISTENT_EMODE_CATEGORY",
    "59": "PRICE_ORACLE_SENTINEL_CHECK_FAILED",
    "60": "ASSET_NOT_BORROWABLE_IN_ISOLATION",
    "62": "USER_IN_ISOLATION_MODE_OR_LTV_ZERO",
    "82": "ASSET_NOT_LISTED",
    "89": "SILOED_BORROWING_VIOLATION",
    "91": "FLASHLOAN_DISABLED",
}


@cache
def compiled(name: str) -> dict[str, Any]:
    """ABI and bytecode of one of our contracts (`BasisAccount`, `MockLST`, `MockStETH`,
    `MockWstETH`, `SwapPool`)."""
    text = resources.files("basis_strategy.venues.live").joinpath("contracts.json").read_text()
    contracts: dict[str, dict[str, Any]] = json.loads(text)["contracts"]
    return contracts[name]
