"""What each mode needs from the data folder (ADR-053, domain 15.2).

A mode's requirements are built from its validated config: the hedge venues decide which
perp and funding series are needed, `costs.gas` whether the gas series is, and so on.
Sources are listed primary first; later ones are documented fallbacks or configured proxies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from basis_strategy.config.loader import RunConfig
from basis_strategy.config.models import Staking
from basis_strategy.data.sources._common import bad_cell, read_time_series, unique_sorted
from basis_strategy.data.sources.aave import (
    read_aave_daily_price,
    read_aave_emode,
    read_aave_reserve_params,
)
from basis_strategy.data.sources.funding import read_funding, read_okx_daily_funding
from basis_strategy.data.sources.gas import read_gas_price
from basis_strategy.data.sources.ohlcv import read_ohlcv_open
from basis_strategy.data.sources.oracle import read_oracle_reads
from basis_strategy.data.sources.peg import read_peg_market_rate
from basis_strategy.data.sources.rewards import (
    read_eeth_reward_apy,
    read_eigen_distributions,
    read_ethfi_topups,
    read_seasonal_drops,
)
from basis_strategy.data.stored import FileRef

SPOT = "market_data/spot_prices"
PERPS = "market_data/derivatives/futures_ohlcv"
FUNDING = "market_data/derivatives/funding_rates"
OKX_DAILY = "market_data/okx/funding_rates/daily"
AAVE_RATES = "protocol_data/aave/rates"
GAS = "blockchain_data/gas_prices/ethereum_gas_prices_*.csv"
ORACLE = "protocol_data/aave/oracle"
PEG = "protocol_data/staking/peg_analysis"
TOKENS = "market_data/spot_prices/protocol_tokens"
ETHERFI = "manual_sources/etherfi_distributions"
BENCHMARKS = "protocol_data/staking/benchmark_yields"


@dataclass(frozen=True)
class Source:
    """One file (or folder) and how to read it (a time series, a table or a mapping).

    `pattern`: a glob relative to the data folder (`*`, `?`, `[...]` within one path segment).
    """

    label: str
    pattern: str
    read: Callable[[FileRef], Any]
    is_folder: bool = False


@dataclass(frozen=True)
class PriceSeries:
    """An hourly series: exact value, else forward fill (bounded), else the next source.

    `extend`: later sources may also cover hours outside the primary file's span (perp marks
    of a venue without a file of its own, domain 3); otherwise the run window must lie inside
    the primary file's span.
    """

    name: str
    sources: tuple[Source, ...]
    extend: bool = False
    own_file: bool = True  # False: even the first source is another venue's (a proxy)


@dataclass(frozen=True)
class FundingSeries:
    """Settlements of one venue's perp (00/08/16 UTC); a missing one may take a proxy venue's."""

    venue: str
    base: str
    source: Source
    proxy: FundingSeries | None = None


@dataclass(frozen=True)
class AaveSeries:
    """Daily AAVE reserve snapshots, projected causally to hours (domain 4.1 (a))."""

    asset: str
    pattern: str


@dataclass(frozen=True)
class LstSeries:
    """ρ and ρ_mkt of one LST (domain 3, 4.2).

    `oracle`: ETH per LST; only its 00:00 rows are observations (the other hours interpolate
    towards the next day's), unless every row was read on chain at its hour (a downloaded file:
    `OracleReads.observed_hourly`). `snapshots`: the daily AAVE `price` of the LST and
    of WETH, whose ratio is the same 00:00 oracle observation; it bridges the hours before the
    oracle file's first row. `peg`: the DEX market rate (trailing 24 h median).
    """

    lst: str
    oracle: Source
    snapshots: tuple[Source, Source]
    peg: Source


@dataclass(frozen=True)
class TokenPriceSeries:
    """A reward token's Uniswap v3 pool price in WETH per token (bar open)."""

    token: str
    pool: Source


@dataclass(frozen=True)
class RewardFiles:
    """The ether.fi reward files a `rewards_mode` needs (domain 4.4)."""

    rewards_mode: str
    eigen: Source
    topups: Source
    seasonal: Source | None = None
    reward_apy: Source | None = None


@dataclass(frozen=True)
class BenchmarkSeries:
    """What a run is compared with (issue 4); information only, never a run input.

    USDT class: `apy`, a daily APY file accrued into an index (the file may be absent).
    ETH class: `lst`, holding the mode's LST: its `lst_rate:{lst}` column.
    """

    name: str
    apy: Source | None = None
    lst: str | None = None


@dataclass(frozen=True)
class Requirements:
    prices: tuple[PriceSeries, ...]
    funding: tuple[FundingSeries, ...]
    aave: tuple[AaveSeries, ...]
    lst: LstSeries | None = None
    tokens: tuple[TokenPriceSeries, ...] = ()
    rewards: RewardFiles | None = None
    benchmark: BenchmarkSeries | None = None


def perp_source(venue: str, base: str) -> Source:
    pattern = f"{PERPS}/{venue}_{base}USDT_perp_1h_*.csv"
    return Source(f"{venue} {base}USDT perp", pattern, read_ohlcv_open)


def funding_source(venue: str, base: str) -> Source:
    if venue == "okx":
        instrument = f"{base}-USDT-SWAP"
        reader = partial(read_okx_daily_funding, instrument=instrument)
        return Source(f"okx {instrument} real_funding_rate", OKX_DAILY, reader, is_folder=True)
    pattern = f"{FUNDING}/{venue}_{base}USDT_funding_rates_*.csv"
    return Source(f"{venue} {base}USDT funding", pattern, read_funding)


ETH_USD = PriceSeries(
    "price:ETH",
    (
        Source("bybit ETH spot", f"{SPOT}/eth_usd/bybit_ETHUSDT_spot_1h_*.csv", read_ohlcv_open),
        Source(
            "uniswap v3 WETH/USDT", f"{SPOT}/eth_usd/uniswapv3_WETHUSDT_1h_*.csv", read_ohlcv_open
        ),
        perp_source("binance", "ETH"),
    ),
)
BTC_USD = PriceSeries(
    "price:BTC",
    (
        Source("binance BTC spot", f"{SPOT}/btc_usd/binance_BTCUSDT_1h_*.csv", read_ohlcv_open),
        Source("bybit BTC spot", f"{SPOT}/btc_usd/bybit_BTCUSDT_spot_1h_*.csv", read_ohlcv_open),
    ),
)
GAS_PRICE = PriceSeries("gas_gwei", (Source("ethereum gas price", GAS, read_gas_price),))
EMODE_PARAMS = Source(
    "aave v3 e-mode risk parameters",
    "protocol_data/aave/risk_params/aave_v3_risk_parameters.json",
    read_aave_emode,
)
RESERVE_PARAMS = Source(
    "aave v3 reserve parameters",
    "manual_sources/aave_params/aave_current_v3_prams_etherum_mainnet.csv",
    read_aave_reserve_params,
)
HAS_PERP_FILE = {
    ("binance", "BTC"),
    ("binance", "ETH"),
    ("bybit", "BTC"),
    ("bybit", "ETH"),
    ("okx", "ETH"),
}


def perp_mark_series(config: RunConfig, venue: str, base: str) -> PriceSeries:
    """A venue's mark: its own perp file where it has one, then the configured proxy venues."""
    proxies = {str(k): str(v) for k, v in config.mode.data.price_proxies.items()}
    chain = [venue]
    while chain[-1] in proxies and proxies[chain[-1]] not in chain:  # okx -> binance -> bybit
        chain.append(proxies[chain[-1]])
    sources = [perp_source(v, base) for v in chain if (v, base) in HAS_PERP_FILE]
    own = (venue, base) in HAS_PERP_FILE
    return PriceSeries(f"perp:{venue}:{base}USDT", tuple(sources), extend=True, own_file=own)


def funding_series(config: RunConfig, venue: str, base: str) -> FundingSeries:
    proxy_venue = {str(k): str(v) for k, v in config.mode.data.funding_proxies.items()}.get(venue)
    proxy = None
    if proxy_venue is not None:
        proxy = FundingSeries(proxy_venue, base, funding_source(proxy_venue, base))
    return FundingSeries(venue, base, funding_source(venue, base), proxy)


def aave_series(asset: str) -> AaveSeries:
    return AaveSeries(asset, aave_rates_pattern(asset))


def aave_rates_pattern(asset: str) -> str:
    """The DAILY rates file (the `*_hourly.csv` files are interpolated and not used)."""
    return f"{AAVE_RATES}/aave_v3_aave-v3-ethereum_{asset}_rates_????-??-??_????-??-??.csv"


def snapshot_price_source(asset: str) -> Source:
    label = f"aave v3 {asset} daily oracle price"
    return Source(label, aave_rates_pattern(asset), read_aave_daily_price)


def lst_series(lst: str) -> LstSeries:
    return LstSeries(
        lst,
        Source(f"{lst}/ETH oracle", f"{ORACLE}/{lst}_ETH_oracle_*.csv", read_oracle_reads),
        (snapshot_price_source(lst), snapshot_price_source("WETH")),
        Source(f"{lst} peg market_rate", f"{PEG}/{lst}_peg_analysis_*.csv", read_peg_market_rate),
    )


def token_price_series(token: str) -> TokenPriceSeries:
    pattern = f"{TOKENS}/uniswapv3_{token}WETH_1h_*.csv"
    return TokenPriceSeries(token, Source(f"uniswap v3 {token}/WETH", pattern, read_ohlcv_open))


EIGEN_DISTRIBUTIONS = Source(
    "ether.fi EIGEN distributions",
    f"{ETHERFI}/eigen_distributions_raw.csv",
    read_eigen_distributions,
)
ETHFI_TOPUPS = Source(
    "ether.fi ETHFI top-ups", f"{ETHERFI}/ethfi_topups_raw.csv", read_ethfi_topups
)
SEASONAL_DROPS = Source(
    "ether.fi seasonal drops", f"{ETHERFI}/seasonal_drops.csv", read_seasonal_drops
)
EETH_REWARD_APY = Source(
    "eETH reward APY", f"{ETHERFI}/bar-chart-supply-apy-*-eeth.csv", read_eeth_reward_apy
)


def reward_files(rewards_mode: str) -> RewardFiles:
    if rewards_mode == "base_eigen_seasonal":
        return RewardFiles(
            rewards_mode, EIGEN_DISTRIBUTIONS, ETHFI_TOPUPS, SEASONAL_DROPS, EETH_REWARD_APY
        )
    return RewardFiles(rewards_mode, EIGEN_DISTRIBUTIONS, ETHFI_TOPUPS)


def reward_needs(staking: Staking) -> tuple[tuple[TokenPriceSeries, ...], RewardFiles | None]:
    """Reward token prices and files: weETH with EIGEN/ETHFI rewards only (domain 4.4)."""
    if staking.lst_type != "weETH" or staking.rewards_mode == "base_only":
        return (), None
    tokens = (token_price_series("EIGEN"), token_price_series("ETHFI"))
    return tokens, reward_files(staking.rewards_mode)


def read_benchmark_apy(path: FileRef) -> pd.Series:
    """`apy_decimal` (a fraction per year) of the DAILY benchmark file, indexed by `date` read
    as 00:00 UTC, sorted and unique. The `_hourly` file interpolates linearly towards the next
    day's value (look-ahead) and is not used. An APY must be > −1."""
    series, first_line = read_time_series(path, "date", "apy_decimal")
    bad = np.flatnonzero(series.to_numpy() <= -1.0)
    if bad.size:
        at = int(bad[0])
        raise bad_cell(path, "apy_decimal", "not > -1", series.iloc[at], first_line + at)
    return unique_sorted(series, path, first_line)


SUSDE_APY = Source(
    "ethena sUSDe daily APY",
    f"{BENCHMARKS}/ethena_susde_apr_benchmark_????-??-??_????-??-??.csv",
    read_benchmark_apy,
)


def benchmark_for(config: RunConfig) -> BenchmarkSeries | None:
    """USDT class: Ethena sUSDe. ETH class: holding the mode's LST. None otherwise."""
    if config.share_class.currency == "USDT":
        return BenchmarkSeries("Ethena sUSDe", apy=SUSDE_APY)
    staking = config.mode.staking
    if staking is not None:
        return BenchmarkSeries(f"hold {staking.lst_type}", lst=staking.lst_type)
    return None


def requirements_for(config: RunConfig) -> Requirements:
    """The series a run needs, from its mode and settings (ADR-053)."""
    mode = config.mode
    benchmark = benchmark_for(config)
    prices: list[PriceSeries] = [ETH_USD]
    funding: list[FundingSeries] = []
    aave: list[AaveSeries] = []
    if mode.costs.gas:
        prices.append(GAS_PRICE)
    if mode.asset == "BTC":
        prices.append(BTC_USD)
    if mode.hedge is not None:
        for venue in mode.hedge.venues:
            prices.append(perp_mark_series(config, venue, mode.asset))
            funding.append(funding_series(config, venue, mode.asset))
    if mode.mode == "pure_lending":
        aave.append(aave_series("USDT"))
    if mode.staking is None:
        return Requirements(tuple(prices), tuple(funding), tuple(aave), benchmark=benchmark)
    lst = mode.staking.lst_type
    if mode.leverage is not None:  # LST collateral, WETH debt
        aave.extend((aave_series(lst), aave_series("WETH")))
    tokens, rewards = reward_needs(mode.staking)
    return Requirements(
        tuple(prices), tuple(funding), tuple(aave), lst_series(lst), tokens, rewards, benchmark
    )
