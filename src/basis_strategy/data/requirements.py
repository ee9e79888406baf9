"""What each mode needs from the data folder (ADR-053, domain 15.2).

A mode's requirements are built from its validated config: the hedge venues decide which
perp and funding series are needed, `costs.gas` whether the gas series is, and so on.
Sources are listed primary first; later ones are documented fallbacks or configured proxies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pandas as pd

from basis_strategy.config.loader import RunConfig
from basis_strategy.data.sources.funding import read_funding, read_okx_daily_funding
from basis_strategy.data.sources.gas import read_gas_price
from basis_strategy.data.sources.ohlcv import read_ohlcv_open

SPOT = "market_data/spot_prices"
PERPS = "market_data/derivatives/futures_ohlcv"
FUNDING = "market_data/derivatives/funding_rates"
OKX_DAILY = "market_data/okx/funding_rates/daily"
AAVE_RATES = "protocol_data/aave/rates"
GAS = "blockchain_data/gas_prices/ethereum_gas_prices_*.csv"


@dataclass(frozen=True)
class Source:
    """One file (or folder) and how to read it into a time series."""

    label: str
    pattern: str
    read: Callable[[Path], pd.Series]
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
class Requirements:
    prices: tuple[PriceSeries, ...]
    funding: tuple[FundingSeries, ...]
    aave: tuple[AaveSeries, ...]


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
    pattern = f"{AAVE_RATES}/aave_v3_aave-v3-ethereum_{asset}_rates_????-??-??_????-??-??.csv"
    return AaveSeries(asset, pattern)


def requirements_for(config: RunConfig) -> Requirements:
    """The series a run needs, from its mode and settings (ADR-053)."""
    mode = config.mode
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
    return Requirements(tuple(prices), tuple(funding), tuple(aave))
