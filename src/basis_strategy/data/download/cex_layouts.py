"""The CEX series of the data folder: for each venue, asset and kind (spot 1h OHLCV, perp 1h
OHLCV, funding history), the file it is written to (the seed's folders, names and columns, which
the data provider reads), the ccxt market, the page size and how one page becomes rows.

Files (`{A}` = ETH or BTC, `{a}` = eth or btc; `*` = `{first}_{last}` dates):

- spot: `market_data/spot_prices/{a}_usd/` `binance_{A}USDT_1h_*.csv`,
  `bybit_{A}USDT_spot_1h_*.csv`, `okx_{A}USDT_spot_1h_*.csv` (the seed has no OKX spot file,
  nor a Binance ETH one: they follow the same schemes);
- perp: `market_data/derivatives/futures_ohlcv/{venue}_{A}USDT_perp_1h_*.csv`;
- funding: `market_data/derivatives/funding_rates/{binance,bybit}_{A}USDT_funding_rates_*.csv`;
  OKX: rows of `{A}-USDT-SWAP` in the daily archive `market_data/okx/funding_rates/daily/
  okx_funding_rates_YYYY-MM-DD.csv`, the only OKX funding the provider reads (its
  `real_funding_rate`), see `cex_okx`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from basis_strategy.core.errors import ConfigError, DataError
from basis_strategy.data.download.files import CsvLayout
from basis_strategy.data.requirements import FUNDING, OKX_DAILY, PERPS, SPOT

VENUES = ("binance", "bybit", "okx")
ASSETS = ("ETH", "BTC")
KINDS = ("spot", "perp", "funding")
HOUR = pd.Timedelta(hours=1)
SETTLEMENT = pd.Timedelta(hours=8)

OHLCV = ("timestamp", "open", "high", "low", "close", "volume")
FUNDING_COLUMNS = ("funding_timestamp", "funding_rate", "symbol", "source")

# Rows per request: each endpoint's documented maximum (Binance klines 1000 (ccxt's cap; fapi
# allows 1500) and fundingRate 1000; Bybit kline 1000 and funding/history 200; OKX
# history-candles 100 and funding-rate-history 100 (documented up to 400; 100 is safe: these
# two endpoints return the NEWEST rows of a window that holds more than the limit).
PAGE_LIMITS: dict[tuple[str, str], int] = {
    ("binance", "ohlcv"): 1000,
    ("binance", "funding"): 1000,
    ("bybit", "ohlcv"): 1000,
    ("bybit", "funding"): 200,
    ("okx", "ohlcv"): 100,
    ("okx", "funding"): 100,
}
# OKX: the history endpoint serves every bar; ccxt would pick the recent-only one by date.
_OKX_CANDLES = {"type": "HistoryCandles"}

Extras = Callable[[Any], dict[int, dict[str, Any]]]
BINANCE_EXTRAS = ("quote_volume", "trades_count")
BYBIT_EXTRAS = ("turnover",)


def _row_list(raw: Any, venue: str) -> list[Any]:
    rows = raw["result"]["list"] if venue == "bybit" and isinstance(raw, dict) else raw
    if not isinstance(rows, list):
        raise DataError(f"{venue}: unexpected kline response: {str(raw)[:200]}")
    return rows


def binance_extras(raw: Any) -> dict[int, dict[str, Any]]:
    """`quote_volume` and `trades_count` of a Binance klines response, by open time (ms)."""
    return {
        int(r[0]): {"quote_volume": r[7], "trades_count": r[8]} for r in _row_list(raw, "binance")
    }


def bybit_extras(raw: Any) -> dict[int, dict[str, Any]]:
    """`turnover` (quote volume) of a Bybit v5 kline response, by open time (ms)."""
    return {int(r[0]): {"turnover": r[6]} for r in _row_list(raw, "bybit")}


@dataclass(frozen=True)
class CexSeries:
    """One venue's spot, perp or funding series of one asset and where it is written."""

    venue: str
    asset: str
    kind: str  # "spot" | "perp" | "funding"
    layout: CsvLayout | None  # None: OKX funding, written into the daily archive folder
    constants: Mapping[str, str]  # columns holding one value in the whole file
    extras: Extras | None = None  # columns ccxt's unified candles drop, from the raw response
    extra_columns: tuple[str, ...] = ()  # the columns `extras` gives
    params: Mapping[str, Any] = field(default_factory=dict)  # extra request parameters

    @property
    def symbol(self) -> str:
        """The ccxt unified market: `ETH/USDT` spot, `ETH/USDT:USDT` USDT-margined perp."""
        return f"{self.asset}/USDT" if self.kind == "spot" else f"{self.asset}/USDT:USDT"

    @property
    def instrument(self) -> str:
        """OKX's perp instrument id, as in the daily funding archive."""
        return f"{self.asset}-USDT-SWAP"

    @property
    def key(self) -> str:
        """The manifest key: the provider's glob of the file (OKX funding: folder [instrument],
        as `basis data check` names it)."""
        if self.layout is None:
            return okx_daily_key(self.instrument)
        return self.layout.pattern

    @property
    def step(self) -> pd.Timedelta:
        """Spacing of the rows: one bar an hour, one settlement every 8 hours."""
        return SETTLEMENT if self.kind == "funding" else HOUR

    @property
    def limit(self) -> int:
        return PAGE_LIMITS[(self.venue, "funding" if self.kind == "funding" else "ohlcv")]

    @property
    def label(self) -> str:
        what = "funding" if self.kind == "funding" else "1h OHLCV"
        return f"{self.venue} {self.symbol} {what}"


def okx_daily_key(instrument: str) -> str:
    return f"{OKX_DAILY} [{instrument}]"


def _spot(venue: str, asset: str) -> CexSeries:
    folder, pair = f"{SPOT}/{asset.lower()}_usd", f"{asset}USDT"
    if venue == "binance":
        columns: tuple[str, ...] = (*OHLCV, "quote_volume", "trades_count", "source", "asset_pair")
        layout = CsvLayout(folder, f"binance_{pair}_1h", "timestamp", columns)
        constants = {"source": "binance_spot", "asset_pair": f"{asset}/USDT"}
        return CexSeries(venue, asset, "spot", layout, constants, binance_extras, BINANCE_EXTRAS)
    if venue == "bybit":
        columns = (*OHLCV, "source", "symbol", "data_type", "turnover")
        layout = CsvLayout(folder, f"bybit_{pair}_spot_1h", "timestamp", columns)
        constants = {"source": "bybit", "symbol": pair, "data_type": "spot"}
        return CexSeries(venue, asset, "spot", layout, constants, bybit_extras, BYBIT_EXTRAS)
    columns = (*OHLCV, "source", "symbol", "data_type")
    layout = CsvLayout(folder, f"okx_{pair}_spot_1h", "timestamp", columns)
    constants = {"source": "okx", "symbol": pair, "data_type": "spot"}
    return CexSeries(venue, asset, "spot", layout, constants, params=_OKX_CANDLES)


def _perp(venue: str, asset: str) -> CexSeries:
    pair = f"{asset}USDT"
    stem = f"{venue}_{pair}_perp_1h"
    if venue == "binance":
        columns: tuple[str, ...] = (
            *OHLCV,
            "quote_volume",
            "trades_count",
            "source",
            "symbol",
            "data_type",
        )
        constants = {"source": "binance_futures", "symbol": pair, "data_type": "futures"}
        layout = CsvLayout(PERPS, stem, "timestamp", columns)
        return CexSeries(venue, asset, "perp", layout, constants, binance_extras, BINANCE_EXTRAS)
    if venue == "bybit":
        columns = (*OHLCV, "source", "symbol", "data_type", "turnover")
        constants = {"source": "bybit", "symbol": pair, "data_type": "futures"}
        layout = CsvLayout(PERPS, stem, "timestamp", columns)
        return CexSeries(venue, asset, "perp", layout, constants, bybit_extras, BYBIT_EXTRAS)
    # `volume` in ETH/BTC (ccxt's unified volume: OKX's `volCcy`); the seed's OKX file holds
    # OKX's `vol`, in contracts of 0.1 ETH.
    columns = (*OHLCV, "source", "symbol", "data_type")
    constants = {"source": "okx", "symbol": pair, "data_type": "futures"}
    layout = CsvLayout(PERPS, stem, "timestamp", columns)
    return CexSeries(venue, asset, "perp", layout, constants, params=_OKX_CANDLES)


def _funding(venue: str, asset: str) -> CexSeries:
    if venue == "okx":
        constants = {"instrument": f"{asset}-USDT-SWAP", "contract_type": "SWAP"}
        return CexSeries(venue, asset, "funding", None, constants)
    stem = f"{venue}_{asset}USDT_funding_rates"
    layout = CsvLayout(FUNDING, stem, "funding_timestamp", FUNDING_COLUMNS, step=SETTLEMENT)
    source = "binance_futures" if venue == "binance" else venue
    return CexSeries(venue, asset, "funding", layout, {"symbol": f"{asset}USDT", "source": source})


_BUILDERS = {"spot": _spot, "perp": _perp, "funding": _funding}


def cex_series(venue: str, asset: str, kind: str) -> CexSeries:
    """The series `kind` ("spot", "perp" or "funding") of `asset` on `venue`."""
    if venue not in VENUES:
        raise ConfigError("venues", f"unknown venue {venue!r} (known: {', '.join(VENUES)})")
    if asset not in ASSETS:
        raise ConfigError("assets", f"unknown asset {asset!r} (known: {', '.join(ASSETS)})")
    if kind not in KINDS:
        raise ConfigError("kind", f"unknown series kind {kind!r} (known: {', '.join(KINDS)})")
    return _BUILDERS[kind](venue, asset)


def all_series(
    assets: list[str], venues: list[str], kinds: tuple[str, ...] = KINDS
) -> list[CexSeries]:
    """The `kinds` series of `assets` × `venues`, by asset, then venue, then kind (in KINDS'
    order: spot, perp, funding)."""
    return [cex_series(v, a, k) for a in assets for v in venues for k in KINDS if k in kinds]
