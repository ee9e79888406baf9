"""ether.fi reward lists and the sUSDe benchmark, in the real manual/processed layouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from basis_strategy.data.synth import calibration as cal
from basis_strategy.data.synth.market_files import unix, write_csv
from basis_strategy.data.synth.scenarios import Paths

ETHERFI = "manual_sources/etherfi_distributions"


def weekly_periods(days: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """Sunday starts of the 7-day periods that end (inclusive end + 1 day) inside the grid."""
    first = days[0] - pd.Timedelta(days=(days[0].day_of_week + 1) % 7)
    starts = pd.date_range(first, days[-1], freq="7D")
    return starts[starts + pd.Timedelta(days=7) <= days[-1]]


def _day(times: pd.DatetimeIndex) -> list[str]:
    return list(times.strftime("%Y-%m-%d"))


def write_rewards(out: Path, paths: Paths, rng: np.random.Generator) -> None:
    starts = weekly_periods(paths.days)
    ends = starts + pd.Timedelta(days=6)
    per = np.round(cal.EIGEN_PER_EETH_WEEKLY * (1.0 + 0.1 * rng.standard_normal(len(starts))), 3)
    restaked = np.full(len(starts), 3.0e6)
    write_csv(
        out / f"{ETHERFI}/eigen_distributions_raw.csv",
        pd.DataFrame(
            {
                "staking_period_start": _day(starts),
                "staking_period_end": _day(ends),
                "eigen_earned": np.round(per * restaked),
                "eth_restaked": restaked,
                "eth_not_restaked": 2.0e5,
                "eigen_per_eeth_weekly": per,
            }
        ),
    )
    every = np.arange(len(starts)) % 4 == 0  # a top-up every fourth week
    topup = ends[every] + pd.Timedelta(days=10)
    write_csv(
        out / f"{ETHERFI}/ethfi_topups_raw.csv",
        pd.DataFrame(
            {
                "top_up_date": _day(topup),
                "staking_period_start": _day(starts[every]),
                "staking_period_end": _day(ends[every]),
                "ethfi_amount": cal.ETHFI_TOPUP_PER_EETH * 3.0e6,
                "ethfi_per_eeth_distributed": cal.ETHFI_TOPUP_PER_EETH,
            }
        ),
    )
    last = paths.days[-1]
    write_csv(
        out / f"{ETHERFI}/seasonal_drops.csv",
        pd.DataFrame(
            {
                "start_date": [_day(paths.days[:1])[0]],
                "end_date": [_day(paths.days[-1:])[0]],
                "payout_date": [last.strftime("%Y-%m-%d")],
                "event": ["Synthetic season"],
                "reward_token": ["ETHFI"],
                "reward_per_eeth": ["~3–8"],
                "extra_yield_pct": ["~0.1–0.4%"],
                "source_url": ["synthetic"],
                "notes": ["synthetic estimate"],
            }
        ),
    )
    nd = len(paths.days)
    base = np.round(cal.EETH_BASE_APY_PCT + 0.5 * rng.standard_normal(nd), 2)
    reward = np.round(cal.EETH_REWARD_APY_PCT + 0.05 * rng.standard_normal(nd), 2)
    span_end = last.strftime("%Y-%m-%d")
    write_csv(
        out / f"{ETHERFI}/bar-chart-supply-apy-{span_end}-eeth.csv",
        pd.DataFrame(
            {
                "Timestamp": unix(paths.days),
                "Date": _day(paths.days),
                "Base": base,
                "Reward": reward,
            }
        ),
    )


def write_benchmark(out: Path, paths: Paths, span: str) -> None:
    """sUSDe: the raw daily export, the processed daily file and its hourly interpolation."""
    days, apy = paths.days, np.round(paths.susde_apy * 100.0, 2)
    raw = pd.DataFrame({"Timestamp": unix(days), "Date": _day(days), "Base": apy, "Reward": ""})
    write_csv(out / f"manual_sources/benchmark_data/ethena_susde_historical_{span[-10:]}.csv", raw)
    apy_dec = apy / 100.0
    apr = 365.0 * ((1.0 + apy_dec) ** (1.0 / 365.0) - 1.0)
    folder = out / "protocol_data/staking/benchmark_yields"
    common = {"protocol": "ethena", "symbol": "sUSDE"}
    write_csv(
        folder / f"ethena_susde_apr_benchmark_{span}.csv",
        pd.DataFrame(
            {
                "date": _day(days),
                **common,
                "apy_percent": apy,
                "apr_percent": apr * 100.0,
                "apy_decimal": apy_dec,
                "apr_decimal": apr,
                "base_apy_percent": apy,
                "reward_apy_percent": 0.0,
                "source": "synthetic",
                "methodology": "synthetic",
            }
        ),
    )
    hours = paths.hours
    step = np.arange(len(hours)) / 24.0
    apy_h = np.interp(step, np.arange(len(days)), apy_dec)
    apr_h = 365.0 * ((1.0 + apy_h) ** (1.0 / 365.0) - 1.0)
    write_csv(
        folder / f"ethena_susde_apr_benchmark_hourly_{span}.csv",
        pd.DataFrame(
            {
                "timestamp": list(hours.strftime("%Y-%m-%d %H:%M:%S")),
                "apy_decimal": apy_h,
                "apr_decimal": apr_h,
                "apy_percent": apy_h * 100.0,
                "apr_percent": apr_h * 100.0,
                **common,
                "source": "synthetic",
                "methodology": "linear interpolation",
                "date": _day(hours),
                "hour": hours.hour,
            }
        ),
    )
