"""Market files: CEX spot/perp OHLCV, Uniswap candles, funding, gas (real folder layout)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from basis_strategy.data.sources.funding import OKX_DAILY_COLUMNS
from basis_strategy.data.synth.scenarios import Paths


def iso_z(times: pd.DatetimeIndex) -> list[str]:
    return list(times.strftime("%Y-%m-%dT%H:%M:%SZ"))


def unix(times: pd.DatetimeIndex) -> np.ndarray:
    epoch = pd.Timestamp(0, tz="UTC")
    return np.asarray((times - epoch) // pd.Timedelta(seconds=1), dtype=np.int64)


def write_csv(path: Path, frame: pd.DataFrame) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, lineterminator="\n")
    return path


def bars(opens: np.ndarray, seed_noise: np.ndarray) -> dict[str, np.ndarray]:
    """OHLC with bar-open labels: close = next open; high/low widen by |noise|."""
    close = np.append(opens[1:], opens[-1])
    wick = np.abs(seed_noise) * 0.002
    high = np.maximum(opens, close) * (1.0 + wick)
    low = np.minimum(opens, close) * (1.0 - wick)
    volume = 1000.0 * np.exp(seed_noise)
    return {"open": opens, "high": high, "low": low, "close": close, "volume": volume}


def cex_frame(
    times: pd.DatetimeIndex, ohlcv: dict[str, np.ndarray], style: str, symbol: str, data_type: str
) -> pd.DataFrame:
    frame = pd.DataFrame({"timestamp": iso_z(times), **ohlcv})
    if style == "binance":
        frame["quote_volume"] = ohlcv["volume"] * ohlcv["open"]
        frame["trades_count"] = (ohlcv["volume"] * 10).astype(np.int64)
        frame["source"] = f"binance_{'futures' if data_type == 'futures' else 'spot'}"
        if data_type == "futures":
            frame["symbol"], frame["data_type"] = symbol, data_type
        else:
            frame["asset_pair"] = symbol.replace("USDT", "/USDT")
        return frame
    frame["source"], frame["symbol"], frame["data_type"] = style, symbol, data_type
    if style == "bybit":
        frame["turnover"] = ohlcv["volume"] * ohlcv["open"]
    return frame


def uniswap_frame(
    times: pd.DatetimeIndex, ohlcv: dict[str, np.ndarray], base: str, quote: str
) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "timestamp": unix(times),
            "date_utc": list(times.strftime("%Y-%m-%dT%H:%M:%S+00:00Z")),
            **ohlcv,
        }
    )
    frame["pool_address"] = "0x" + "0" * 40
    frame["dex"], frame["fee_tier"] = "Uniswap v3", "0.3%"
    frame["base_token"], frame["quote_token"], frame["source"] = base, quote, "synthetic"
    return frame


def write_prices(out: Path, paths: Paths, span: str, rng: np.random.Generator) -> None:
    """Spot, perps and Uniswap pools; spot venues differ from the fair price by ~1 bp."""
    h = paths.hours
    spot = out / "market_data/spot_prices"
    perps = out / "market_data/derivatives/futures_ohlcv"

    def quoted(asset: str) -> np.ndarray:
        return paths.price[asset] * (1.0 + 1e-4 * rng.standard_normal(len(h)))

    def noise() -> np.ndarray:
        return rng.standard_normal(len(h))

    eth_spot = bars(quoted("ETH"), noise())
    write_csv(
        spot / f"eth_usd/bybit_ETHUSDT_spot_1h_{span}.csv",
        cex_frame(h, eth_spot, "bybit", "ETHUSDT", "spot"),
    )
    write_csv(
        spot / f"eth_usd/uniswapv3_WETHUSDT_1h_{span}.csv",
        uniswap_frame(h, bars(quoted("ETH"), noise()), "WETH", "USDT"),
    )
    write_csv(
        spot / f"btc_usd/binance_BTCUSDT_1h_{span}.csv",
        cex_frame(h, bars(quoted("BTC"), noise()), "binance", "BTCUSDT", "spot"),
    )
    write_csv(
        spot / f"btc_usd/bybit_BTCUSDT_spot_1h_{span}.csv",
        cex_frame(h, bars(quoted("BTC"), noise()), "bybit", "BTCUSDT", "spot"),
    )
    for venue, asset in (
        ("binance", "ETH"),
        ("binance", "BTC"),
        ("bybit", "ETH"),
        ("bybit", "BTC"),
        ("okx", "ETH"),
    ):
        mark = paths.price[asset] * (1.0 + paths.basis[venue])
        frame = cex_frame(h, bars(mark, noise()), venue, f"{asset}USDT", "futures")
        write_csv(perps / f"{venue}_{asset}USDT_perp_1h_{span}.csv", frame)
    for token, weth in paths.token_weth.items():
        frame = uniswap_frame(h, bars(weth, noise()), token, "WETH")
        write_csv(spot / f"protocol_tokens/uniswapv3_{token}WETH_1h_{span}.csv", frame)


def write_funding(out: Path, paths: Paths, span: str) -> None:
    """Binance/Bybit (and an aggregated OKX file, not read) plus OKX's daily archive."""
    folder = out / "market_data/derivatives/funding_rates"
    times = paths.settlements
    for (venue, asset), rates in paths.funding.items():
        frame = pd.DataFrame(
            {
                "funding_timestamp": iso_z(times),
                "funding_rate": rates,
                "symbol": f"{asset}USDT",
                "source": "binance_futures" if venue == "binance" else venue,
            }
        )
        write_csv(folder / f"{venue}_{asset}USDT_funding_rates_{span}.csv", frame)
    daily = out / "market_data/okx/funding_rates/daily"
    stamps = list(times.strftime("%Y-%m-%d %H:%M:%S+00:00"))
    dates = list(times.strftime("%Y-%m-%d"))
    rows = []
    for asset in ("ETH", "BTC"):
        for quote in ("USDT", "USD"):
            for i, rate in enumerate(paths.funding[("okx", asset)]):
                rows.append((dates[i], f"{asset}-{quote}-SWAP", rate, stamps[i]))
    table = pd.DataFrame(rows, columns=["date", "instrument", "real_funding_rate", "funding_time"])
    table["contract_type"] = "SWAP"
    table["funding_rate"] = table["real_funding_rate"]
    columns = list(OKX_DAILY_COLUMNS)
    for day, group in table.groupby("date", sort=True):
        write_csv(daily / f"okx_funding_rates_{day}.csv", group[columns])


def write_gas(out: Path, paths: Paths, span: str) -> dict[str, object]:
    """Hourly gas (base fee 90 %, median tip 10 %); returns the summary statistics."""
    h, gwei = paths.hours, np.round(paths.gas_gwei, 4)
    base = np.round(gwei * 0.9, 4)
    tip = np.round(gwei - base, 4)
    block = 18908889 + (unix(h) - 1704067200) // 12
    frame = pd.DataFrame(
        {
            "timestamp": iso_z(h),
            "chain": "ethereum",
            "block_number": block,
            "block_timestamp": unix(h),
            "gas_price_gwei": gwei,
            "gas_price_avg_gwei": gwei,
            "gas_price_median_gwei": gwei,
            "base_fee_gwei": base,
            "priority_fee_p25_gwei": np.round(tip * 0.5, 4),
            "priority_fee_p50_gwei": tip,
            "priority_fee_p75_gwei": np.round(tip * 2.0, 4),
            "source": "synthetic",
            "note": "synthetic",
        }
    )
    write_csv(out / f"blockchain_data/gas_prices/ethereum_gas_prices_{span}.csv", frame)
    return {
        "date_range": span.replace("_", " to "),
        "total_records": len(frame),
        "gas_price_stats": {
            "min_gwei": float(gwei.min()),
            "max_gwei": float(gwei.max()),
            "mean_gwei": float(gwei.mean()),
            "median_gwei": float(np.median(gwei)),
            "p95_gwei": float(np.percentile(gwei, 95)),
        },
    }
