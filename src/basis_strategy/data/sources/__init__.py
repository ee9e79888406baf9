"""Readers for the historical data files, one module per file family.

Each reader takes a path inside the data folder (see its README), validates the file and returns
pandas objects indexed by UTC time, sorted and unique. Every problem raises
:class:`~basis_strategy.core.errors.DataFileError` naming the file, the line, the column and the
bad value.
"""

from basis_strategy.data.sources._common import locate, parse_utc, read_table, to_float
from basis_strategy.data.sources.aave import (
    read_aave_daily,
    read_aave_daily_price,
    read_aave_emode,
    read_aave_reserve_params,
)
from basis_strategy.data.sources.funding import read_funding, read_okx_daily_funding
from basis_strategy.data.sources.gas import read_gas_price, read_gas_units
from basis_strategy.data.sources.ohlcv import read_ohlcv_open
from basis_strategy.data.sources.oracle import read_oracle
from basis_strategy.data.sources.peg import read_peg_market_rate
from basis_strategy.data.sources.rewards import (
    read_eeth_reward_apy,
    read_eigen_distributions,
    read_ethfi_topups,
    read_seasonal_drops,
)

__all__ = [
    "locate",
    "parse_utc",
    "read_aave_daily",
    "read_aave_daily_price",
    "read_aave_emode",
    "read_aave_reserve_params",
    "read_eeth_reward_apy",
    "read_eigen_distributions",
    "read_ethfi_topups",
    "read_funding",
    "read_gas_price",
    "read_gas_units",
    "read_ohlcv_open",
    "read_okx_daily_funding",
    "read_oracle",
    "read_peg_market_rate",
    "read_seasonal_drops",
    "read_table",
    "to_float",
]
