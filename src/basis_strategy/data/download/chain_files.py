"""What the chain download writes, in the seed's layout and columns (data README), and how one
row of each file is read at a block: AAVE v3 daily reserve snapshots, the hourly LST/ETH
oracle rate, hourly gas from `eth_feeHistory`, and the hour -> block cache.

Units as in the seed: indices and rates are rays / 1e27 (indices as ~1.0x multipliers, rates
as APR fractions), totals in token units, prices in USD (AaveOracle, 8 decimals) and gas in
gwei. Integers from the chain are divided exactly once (correctly rounded to float64).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
from eth_typing import BlockNumber
from web3 import Web3
from web3.exceptions import BadFunctionCallOutput, ContractLogicError

from basis_strategy.data.download.chain_blocks import Block
from basis_strategy.data.download.chain_rpc import ChainRpc
from basis_strategy.data.download.files import TIME, CsvLayout
from basis_strategy.data.sources.oracle import OBSERVED_HOURLY_SOURCE

DAY = pd.Timedelta(days=1)
RAY = 10**27
ORACLE_UNIT = 10**8  # AaveOracle prices: USD with 8 decimals
GWEI = 10**9
POOL = "0x87870Bca3F3fD6335C3F4ce8392D69350B4fA4E2"  # AAVE v3 Ethereum Pool (proxy)
AAVE_ORACLE = "0x54586bE62E3c3580375aE3723C145253060Ca0C2"
ZERO_ADDRESS = "0x" + "0" * 40
FEE_PERCENTILES = (25, 50, 75)


@dataclass(frozen=True)
class Reserve:
    symbol: str
    address: str  # the underlying token (checksummed, as in the seed's `reserve` column)
    decimals: int


RESERVES = {
    r.symbol: r
    for r in (
        Reserve("USDT", "0xdAC17F958D2ee523a2206206994597C13D831ec7", 6),
        Reserve("WETH", "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2", 18),
        Reserve("weETH", "0xCd5fE23C85820F7B72D0926FC9b05b43E359b7ee", 18),
        Reserve("wstETH", "0x7f39C581F595B53c5cb19bD0b3f8dA6c935E2Ca0", 18),
    )
}


def _function(name: str, inputs: list[str], outputs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": "function",
        "name": name,
        "stateMutability": "view",
        "inputs": [{"name": f"a{i}", "type": t} for i, t in enumerate(inputs)],
        "outputs": outputs,
    }


def _out(*types: str) -> list[dict[str, Any]]:
    return [{"name": "", "type": t} for t in types]


# ReserveData (v3.0-v3.1; `ReserveDataLegacy` since v3.2, same layout)
RESERVE_DATA_FIELDS = (
    ("configuration", "uint256"),
    ("liquidityIndex", "uint128"),
    ("currentLiquidityRate", "uint128"),
    ("variableBorrowIndex", "uint128"),
    ("currentVariableBorrowRate", "uint128"),
    ("currentStableBorrowRate", "uint128"),
    ("lastUpdateTimestamp", "uint40"),
    ("id", "uint16"),
    ("aTokenAddress", "address"),
    ("stableDebtTokenAddress", "address"),
    ("variableDebtTokenAddress", "address"),
    ("interestRateStrategyAddress", "address"),
    ("accruedToTreasury", "uint128"),
    ("unbacked", "uint128"),
    ("isolationModeTotalDebt", "uint128"),
)
RESERVE_DATA = {
    "name": "",
    "type": "tuple",
    "components": [
        {"name": name, "type": "tuple", "components": [{"name": "data", "type": kind}]}
        if name == "configuration"
        else {"name": name, "type": kind}
        for name, kind in RESERVE_DATA_FIELDS
    ],
}
POOL_ABI = [
    _function("getReserveData", ["address"], [RESERVE_DATA]),
    _function("getReserveNormalizedIncome", ["address"], _out("uint256")),
    _function("getReserveNormalizedVariableDebt", ["address"], _out("uint256")),
]
ORACLE_ABI = [_function("getAssetPrice", ["address"], _out("uint256"))]
ERC20_ABI = [_function("totalSupply", [], _out("uint256"))]


def plus_offset(times: pd.Series) -> pd.Series:
    """`2024-05-12 01:00:00+00:00`, the format of the seed's oracle files."""
    return times.dt.strftime("%Y-%m-%d %H:%M:%S+00:00")


@dataclass(frozen=True)
class DatedLayout(CsvLayout):
    """A layout whose glob requires the two dates (so `…_hourly.csv` files do not match), as
    the data provider's own pattern for the daily AAVE files does."""

    @property
    def pattern(self) -> str:
        return f"{self.folder}/{self.stem}_????-??-??_????-??-??{self.suffix}.csv"


AAVE_COLUMNS = [
    "targetDate",
    "timestamp",
    "blockNumber",
    "reserve",
    "symbol",
    "liquidityIndex",
    "currentLiquidityRate",
    "variableBorrowIndex",
    "currentVariableBorrowRate",
    "currentStableBorrowRate",
    "totalAToken",
    "totalStableDebt",
    "totalVariableDebt",
    "price",
    "date",
]
ORACLE_COLUMNS = ("timestamp", "oracle_price_eth", "asset", "source", "quote_currency")
GAS_COLUMNS = [
    "timestamp",
    "chain",
    "block_number",
    "block_timestamp",
    "gas_price_gwei",
    "gas_price_avg_gwei",
    "gas_price_median_gwei",
    "base_fee_gwei",
    "priority_fee_p25_gwei",
    "priority_fee_p50_gwei",
    "priority_fee_p75_gwei",
    "source",
    "note",
]
BLOCK_COLUMNS = ("timestamp", "block_number", "block_timestamp")
GAS_NOTE = "eth_feeHistory of the last block at or before the hour (base fee + p50 tip)"


def aave_layout(symbol: str) -> CsvLayout:
    stem = f"aave_v3_aave-v3-ethereum_{symbol}_rates"
    return DatedLayout("protocol_data/aave/rates", stem, "targetDate", tuple(AAVE_COLUMNS), DAY)


def oracle_layout(lst: str) -> CsvLayout:
    folder, stem = "protocol_data/aave/oracle", f"{lst}_ETH_oracle"
    return CsvLayout(folder, stem, "timestamp", ORACLE_COLUMNS, format_time=plus_offset)


GAS_LAYOUT = CsvLayout(
    "blockchain_data/gas_prices", "ethereum_gas_prices", "timestamp", tuple(GAS_COLUMNS)
)
BLOCKS_LAYOUT = CsvLayout(
    "blockchain_data/blocks", "ethereum_hourly_blocks", "timestamp", BLOCK_COLUMNS
)


def block_row(hour: pd.Timestamp, block: Block) -> dict[str, object]:
    return {TIME: hour, "block_number": block.number, "block_timestamp": block.timestamp}


def gas_row(rpc: ChainRpc, hour: pd.Timestamp, block: Block) -> dict[str, object]:
    """Base fee and priority-fee percentiles (gwei) of the hour's block."""
    history: Any = rpc.call(
        f"eth_feeHistory at block {block.number}",
        lambda: rpc.w3.eth.fee_history(1, BlockNumber(block.number), list(FEE_PERCENTILES)),
        block=block.number,
    )
    base_wei = int(history["baseFeePerGas"][0])
    p25, p50, p75 = (int(x) for x in history["reward"][0])
    price_gwei = (base_wei + p50) / GWEI
    return {
        TIME: hour,
        "chain": "ethereum",
        "block_number": block.number,
        "block_timestamp": block.timestamp,
        "gas_price_gwei": price_gwei,
        "gas_price_avg_gwei": price_gwei,
        "gas_price_median_gwei": price_gwei,
        "base_fee_gwei": base_wei / GWEI,
        "priority_fee_p25_gwei": p25 / GWEI,
        "priority_fee_p50_gwei": p50 / GWEI,
        "priority_fee_p75_gwei": p75 / GWEI,
        "source": "eth_feeHistory",
        "note": GAS_NOTE,
    }


class AaveReads:
    """AAVE v3 Pool and AaveOracle reads at a block. Oracle prices are kept for the current
    block (WETH's price serves every LST rate and the daily `price` columns)."""

    def __init__(self, rpc: ChainRpc) -> None:
        self.rpc = rpc
        eth = rpc.w3.eth
        self.pool = eth.contract(address=Web3.to_checksum_address(POOL), abi=POOL_ABI)
        self.oracle = eth.contract(address=Web3.to_checksum_address(AAVE_ORACLE), abi=ORACLE_ABI)
        self._prices_at = -1
        self._prices: dict[str, int | None] = {}

    def _read(self, what: str, function: Any, block: int) -> Any:
        return self.rpc.call(
            f"{what} at block {block}", lambda: function.call(block_identifier=block), block=block
        )

    def price(self, reserve: Reserve, block: int) -> int | None:
        """AaveOracle price (USD, 8 decimals); None when the oracle has no source for the asset
        at that block (it reverts, has no code yet, or answers 0)."""
        if block != self._prices_at:
            self._prices_at, self._prices = block, {}
        if reserve.symbol not in self._prices:
            function = self.oracle.functions.getAssetPrice(reserve.address)
            try:
                value = int(self._read(f"getAssetPrice({reserve.symbol})", function, block))
            except (ContractLogicError, BadFunctionCallOutput):
                value = 0
            self._prices[reserve.symbol] = value or None
        return self._prices[reserve.symbol]

    def oracle_row(self, lst: str, hour: pd.Timestamp, block: Block) -> dict[str, object] | None:
        """ETH per LST: AaveOracle(LST) / AaveOracle(WETH); None before the LST is priced."""
        lst_usd = self.price(RESERVES[lst], block.number)
        weth_usd = self.price(RESERVES["WETH"], block.number)
        if lst_usd is None or weth_usd is None:
            return None
        return {
            TIME: hour,
            "oracle_price_eth": lst_usd / weth_usd,
            "asset": lst,
            "source": OBSERVED_HOURLY_SOURCE,  # the engine then takes every hour's read
            "quote_currency": "ETH",
        }

    def _total_supply(self, token: str, block: int, decimals: int) -> float:
        if int(token, 16) == 0:  # no such token (stable debt, removed in AAVE v3.2+)
            return 0.0
        contract = self.rpc.w3.eth.contract(address=Web3.to_checksum_address(token), abi=ERC20_ABI)
        return int(self._read(f"totalSupply({token})", contract.functions.totalSupply(), block)) / (
            10**decimals
        )

    def reserve_row(
        self, symbol: str, hour: pd.Timestamp, block: Block
    ) -> dict[str, object] | None:
        """The reserve's snapshot at the block; None while the asset is not listed (the Pool
        answers a zeroed ReserveData) or not priced. The indices are the normalized income and
        variable debt at the block (the stored index accrued to the block's time)."""
        reserve, n = RESERVES[symbol], block.number
        functions = self.pool.functions
        data = self._read(f"getReserveData({symbol})", functions.getReserveData(reserve.address), n)
        fields = dict(zip((name for name, _ in RESERVE_DATA_FIELDS), data, strict=True))
        if int(fields["aTokenAddress"], 16) == 0:
            return None
        price = self.price(reserve, n)
        if price is None:
            return None
        income = self._read(
            f"getReserveNormalizedIncome({symbol})",
            functions.getReserveNormalizedIncome(reserve.address),
            n,
        )
        debt = self._read(
            f"getReserveNormalizedVariableDebt({symbol})",
            functions.getReserveNormalizedVariableDebt(reserve.address),
            n,
        )
        supply = {
            column: self._total_supply(fields[field], n, reserve.decimals)
            for column, field in (
                ("totalAToken", "aTokenAddress"),
                ("totalStableDebt", "stableDebtTokenAddress"),
                ("totalVariableDebt", "variableDebtTokenAddress"),
            )
        }
        return {
            TIME: hour,
            "timestamp": int(hour.timestamp()),
            "blockNumber": n,
            "reserve": reserve.address,
            "symbol": symbol,
            "liquidityIndex": int(income) / RAY,
            "currentLiquidityRate": int(fields["currentLiquidityRate"]) / RAY,
            "variableBorrowIndex": int(debt) / RAY,
            "currentVariableBorrowRate": int(fields["currentVariableBorrowRate"]) / RAY,
            "currentStableBorrowRate": int(fields["currentStableBorrowRate"]) / RAY,
            **supply,
            "price": price / ORACLE_UNIT,
            "date": f"{hour:%Y-%m-%d}",
        }
