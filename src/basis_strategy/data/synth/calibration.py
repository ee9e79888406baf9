"""Statistics of the real data folder (`/work/shared/data`) the generator is calibrated to.

Hard-coded so that a fresh machine with no data folder can generate. Computed once with
pandas from the real files (2024-01-01 -> 2025-09, full history of each file):

* volatility: std of hourly log changes of the bar `open` (Bybit ETH/BTC spot), × √8760;
  jumps are hours beyond 4 std (0.7 % of ETH hours, mean |size| 4.1 %); the diffusion part is
  the std of the remaining hours; correlation of the ETH and BTC hourly log returns.
* funding: per venue file (OKX: `real_funding_rate` of the daily archive, de-duplicated):
  median, mean, share of negative prints and lag-1 autocorrelation of the 8-hour prints.
* AAVE: median utilisation (`totalVariableDebt / totalAToken`) and median
  `currentVariableBorrowRate` of each daily reserve file; the last indices of each file.
* gas: mean / std / lag-1 autocorrelation of ln(`gas_price_avg_gwei`).
* LSTs: `peg_analysis` market_rate / protocol_rate − 1; oracle ρ drift (README: weETH
  base yield averages 2.76 %, wstETH oracle growth has a median of 2.9 %).
* EIGEN/ETHFI: median pool price in WETH and annualised hourly log-return volatility.
"""

from __future__ import annotations

from dataclasses import dataclass

HOURS_PER_YEAR = 8760
SETTLEMENTS_PER_YEAR = 1095  # three 8-hour funding prints a day

# Spot: bybit ETHUSDT / BTCUSDT spot, hourly.
ETH_VOL_ANNUAL = 0.685  # total, jumps included (measured)
BTC_VOL_ANNUAL = 0.491
ETH_DIFFUSION_VOL = 0.594  # excluding |r| > 4 std
BTC_DIFFUSION_VOL = 0.430
ETH_BTC_CORRELATION = 0.79
JUMP_PROBABILITY_PER_HOUR = 0.0072
ETH_JUMP_SIZE = 0.041  # std of the jump log-size
BTC_JUMP_BETA = 0.68  # BTC jump = beta × ETH jump (BTC mean |jump| 2.8 % vs ETH 4.1 %)
ETH_START_USD = 3000.0  # about the 2024-25 median (2955)
BTC_START_USD = 60000.0

# Perp basis (perp/spot − 1): README, median −4 bp, 1st–99th percentile −7 .. +12 bp.
BASIS_MEAN = -0.0003
BASIS_SD = 0.0004
BASIS_AR1_HOURLY = 0.9


@dataclass(frozen=True)
class FundingStats:
    """Per venue and asset: the real 8-hour prints' median, mean, negative share and AR(1)."""

    median: float
    mean: float
    negative_share: float
    ar1: float


FUNDING: dict[tuple[str, str], FundingStats] = {
    ("binance", "ETH"): FundingStats(8.58e-5, 8.83e-5, 0.095, 0.83),
    ("binance", "BTC"): FundingStats(8.0e-5, 8.30e-5, 0.098, 0.82),
    ("bybit", "ETH"): FundingStats(1.0e-4, 8.77e-5, 0.144, 0.80),
    ("bybit", "BTC"): FundingStats(1.0e-4, 8.45e-5, 0.130, 0.79),
    ("okx", "ETH"): FundingStats(6.5e-5, 6.69e-5, 0.166, 0.74),
    ("okx", "BTC"): FundingStats(6.0e-5, 6.34e-5, 0.174, 0.69),
}
FUNDING_COMMON_SHARE = 0.8  # Binance vs Bybit ETH correlation is 0.83


@dataclass(frozen=True)
class ReserveStats:
    """One AAVE reserve: a two-slope rate model fitted at the median utilisation, the
    utilisation's daily AR(1) and std, the reserve factor and the last real indices."""

    symbol: str
    address: str
    utilisation: float
    utilisation_sd: float
    utilisation_ar1: float
    optimal: float
    base_rate: float
    slope1: float
    slope2: float
    reserve_factor: float
    liquidity_index: float
    borrow_index: float
    supply: float


# Medians: USDT u 0.82 / borrow 5.9 %; WETH u 0.86 / 2.6 %; weETH u 0.002 / 1.0 %;
# wstETH u 0.19 / 0.46 %. Optimal utilisation and reserve factors from the AAVE parameter
# table (manual_sources/aave_params). slope1 puts the borrow rate at its median at median u.
RESERVES: dict[str, ReserveStats] = {
    "USDT": ReserveStats(
        "USDT",
        "0xdAC17F958D2ee523a2206206994597C13D831ec7",
        0.82,
        0.04,
        0.9,
        0.92,
        0.0,
        0.066,
        0.40,
        0.10,
        1.1407,
        1.1940,
        2.0e9,
    ),
    "WETH": ReserveStats(
        "WETH",
        "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2",
        0.861,
        0.012,
        0.6,
        0.92,
        0.0,
        0.0277,
        0.80,
        0.15,
        1.0534,
        1.0820,
        1.45e6,
    ),
    "weETH": ReserveStats(
        "weETH",
        "0xCd5fE23C85820F7B72D0926FC9b05b43E359b7ee",
        0.01,
        0.01,
        0.95,
        0.30,
        0.0095,
        0.035,
        3.0,
        0.45,
        1.0010,
        1.0225,
        1.2e6,
    ),
    "wstETH": ReserveStats(
        "wstETH",
        "0x7f39C581F595B53c5cb19bD0b3f8dA6c935E2Ca0",
        0.19,
        0.03,
        0.95,
        0.80,
        0.0,
        0.0194,
        0.85,
        0.35,
        1.0014,
        1.0111,
        1.06e6,
    ),
}
STABLE_BORROW_PREMIUM = 0.05  # currentStableBorrowRate is unused; written as borrow + 5 %

# LSTs: ρ (ETH per LST) drift, daily noise of the realised APR, market discount to ρ.
LST_START_RATE = {"weETH": 1.0778, "wstETH": 1.2148}  # last real protocol_rate
LST_DRIFT_APR = {"weETH": 0.027, "wstETH": 0.030}
LST_APR_DAILY_SD = 0.008
PEG_DISCOUNT_MEAN = -0.0007  # peg files: mean market/ρ − 1 is −0.07 % for both
PEG_DISCOUNT_SD = 0.0007
PEG_DISCOUNT_AR1_HOURLY = 0.98

# Gas: ln(gwei) mean 1.53, std 1.47, lag-1 autocorrelation 0.955 (hourly).
GAS_LOG_MEAN = 1.53
GAS_LOG_SD = 1.47
GAS_AR1_HOURLY = 0.955

# Reward tokens (Uniswap v3 pools, WETH per token).
TOKEN_START_WETH = {"EIGEN": 0.00058, "ETHFI": 0.00054}
TOKEN_VOL_ANNUAL = {"EIGEN": 1.07, "ETHFI": 0.99}
EIGEN_PER_EETH_WEEKLY = 0.18  # distributions file, late 2024 - 2025: 0.17 - 0.21
ETHFI_TOPUP_PER_EETH = 0.15  # top-ups file: 0.013 - 0.248
EETH_BASE_APY_PCT = 2.9  # eETH chart file, median Base
EETH_REWARD_APY_PCT = 0.5

# Ethena sUSDe daily APY (benchmark): median 10.5 %, std 9.6 %.
SUSDE_APY_MEAN = 0.105
SUSDE_APY_SD = 0.05
SUSDE_APY_AR1_DAILY = 0.97
