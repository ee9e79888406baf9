"""Protocol files: AAVE daily reserves, oracles, LST peg, ether.fi rewards, sUSDe benchmark."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from basis_strategy.data.synth import calibration as cal
from basis_strategy.data.synth.market_files import iso_z, unix, write_csv
from basis_strategy.data.synth.scenarios import LSTS, Paths

ORACLE_HEADER = "# Source: synthetic\n# Asset: {asset}\n# Quote_currency: {quote}\n"


def borrow_rate(stats: cal.ReserveStats, u: np.ndarray) -> np.ndarray:
    """AAVE two-slope variable borrow rate."""
    below = stats.base_rate + stats.slope1 * np.minimum(u, stats.optimal) / stats.optimal
    excess = np.maximum(u - stats.optimal, 0.0) / (1.0 - stats.optimal)
    return below + stats.slope2 * excess


def daily_usd_price(paths: Paths, asset: str) -> np.ndarray:
    """The AAVE oracle `price` (USD) of each daily snapshot (00:00 hours)."""
    eth = paths.price["ETH"][::24]
    if asset == "WETH":
        return eth
    if asset == "USDT":
        return np.full(len(paths.days), 1.0)
    return eth * paths.lst_rate_daily[asset]


def aave_frame(paths: Paths, asset: str) -> pd.DataFrame:
    """Daily snapshot; indices accrue each day's rates (supply simple, borrow compounded)."""
    stats = cal.RESERVES[asset]
    u = paths.utilisation[asset]
    br = borrow_rate(stats, u)
    lr = br * u * (1.0 - stats.reserve_factor)
    li = stats.liquidity_index * np.cumprod(np.concatenate(([1.0], 1.0 + lr[:-1] / 365.0)))
    bi = stats.borrow_index * np.exp(np.concatenate(([0.0], np.cumsum(br[:-1] / 365.0))))
    days = paths.days
    return pd.DataFrame(
        {
            "targetDate": iso_z(days),
            "timestamp": unix(days),
            "blockNumber": 18908894 + (unix(days) - 1704067200) // 12,
            "reserve": stats.address,
            "symbol": asset,
            "liquidityIndex": li,
            "currentLiquidityRate": lr,
            "variableBorrowIndex": bi,
            "currentVariableBorrowRate": br,
            "currentStableBorrowRate": br + cal.STABLE_BORROW_PREMIUM,
            "totalAToken": np.full(len(days), stats.supply),
            "totalStableDebt": 0.0,
            "totalVariableDebt": stats.supply * u,
            "price": daily_usd_price(paths, asset),
            "date": list(days.strftime("%Y-%m-%d")),
        }
    )


def hourly_lst_rate(paths: Paths, lst: str) -> np.ndarray:
    """ρ per hour: geometric interpolation between the daily (00:00) values, as the real file."""
    daily = paths.lst_rate_daily[lst]
    log_rate = np.interp(np.arange(len(paths.hours)) / 24.0, np.arange(len(daily)), np.log(daily))
    return np.exp(log_rate)


def write_oracle(path: Path, asset: str, quote: str, frame: pd.DataFrame) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(ORACLE_HEADER.format(asset=asset, quote=quote))
        handle.write(f"# Records: {len(frame)}\n")
        frame.to_csv(handle, index=False, lineterminator="\n")


def oracle_frame(
    times: list[str] | np.ndarray, value: np.ndarray, column: str, asset: str, quote: str
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "timestamp": times,
            column: value,
            "asset": asset,
            "source": "synthetic",
            "quote_currency": quote,
        }
    )


def write_aave(out: Path, paths: Paths, span: str) -> None:
    rates = out / "protocol_data/aave/rates"
    for asset in cal.RESERVES:
        write_csv(
            rates / f"aave_v3_aave-v3-ethereum_{asset}_rates_{span}.csv", aave_frame(paths, asset)
        )
    oracle = out / "protocol_data/aave/oracle"
    stamps = list(paths.hours.strftime("%Y-%m-%d %H:%M:%S+00:00"))
    eth = paths.price["ETH"]
    write_oracle(
        oracle / f"WETH_USD_oracle_{span}.csv",
        "WETH",
        "USD",
        oracle_frame(stamps, eth, "oracle_price_usd", "WETH", "USD"),
    )
    write_oracle(
        oracle / f"USDT_USD_oracle_{span}.csv",
        "USDT",
        "USD",
        oracle_frame(
            unix(paths.days), daily_usd_price(paths, "USDT"), "oracle_price_usd", "USDT", "USD"
        ),
    )
    for lst in LSTS:
        rho = hourly_lst_rate(paths, lst)
        write_oracle(
            oracle / f"{lst}_ETH_oracle_{span}.csv",
            f"{lst}_ETH",
            "ETH",
            oracle_frame(stamps, rho, "oracle_price_eth", lst, "ETH"),
        )
        write_oracle(
            oracle / f"{lst}_USD_oracle_{span}.csv",
            lst,
            "USD",
            oracle_frame(stamps, rho * eth, "oracle_price_usd", lst, "USD"),
        )


def write_peg(out: Path, paths: Paths, span: str) -> None:
    """Market rate: trailing 24 h median of ρ × (1 + discount), as the real peg files."""
    stamps = list(paths.hours.strftime("%Y-%m-%d %H:%M:%S+00:00"))
    dates = list(paths.hours.strftime("%Y-%m-%d"))
    for lst in LSTS:
        rho = hourly_lst_rate(paths, lst)
        spot = pd.Series(rho * (1.0 + paths.peg_discount[lst]))
        market = spot.rolling(24, min_periods=1).median().to_numpy()
        frame = pd.DataFrame(
            {
                "timestamp": stamps,
                "protocol_rate": rho,
                "asset": lst,
                "source": "aave_oracle_derived",
                "quote_currency": "ETH",
                "date_oracle": dates,
                "date_market": dates,
                "market_rate": market,
                "dex": "curve" if lst == "weETH" else "uniswap",
                "market_rate_median_24h": market,
                "peg_premium_percent": (market / rho - 1.0) * 100.0,
                "base_asset": "ETH",
            }
        )
        path = out / f"protocol_data/staking/peg_analysis/{lst}_peg_analysis_{span}.csv"
        write_csv(path, frame)


def write_base_yield(out: Path, paths: Paths, span: str) -> None:
    rho = paths.lst_rate_daily["weETH"]
    growth = rho[1:] / rho[:-1] - 1.0
    days = paths.days[:-1]
    frame = pd.DataFrame(
        {
            "date": list(days.strftime("%Y-%m-%d")),
            "timestamp": list(days.strftime("%Y-%m-%dT%H:%M:%S+00:00Z")),
            "protocol": "etherfi",
            "symbol": "weETH",
            "asset_type": "liquid_restaking_token",
            "base_staking_apr": growth * 365.0,
            "base_staking_apy": (1.0 + growth) ** 365 - 1.0,
            "daily_yield": growth,
            "price_start_eth": rho[:-1],
            "price_end_eth": rho[1:],
            "price_change_pct": growth * 100.0,
            "hours_aggregated": 24,
            "yield_source": "aave_oracle_weeth_eth_ratio",
            "methodology": "synthetic",
        }
    )
    write_csv(out / f"protocol_data/staking/base_yields/weeth_oracle_yields_{span}.csv", frame)
