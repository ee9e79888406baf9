"""Named scenarios and the random paths behind a synthetic data folder.

Every scenario draws the same random numbers in the same order from one seeded generator
(common random numbers): a stress scenario differs from `base` only by its named shifts, so
its effect has a definite direction for every seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import pandas as pd

from basis_strategy.core.errors import ConfigError
from basis_strategy.data.synth import calibration as cal
from basis_strategy.defaults import SCENARIO_NAMES

VENUES = ("binance", "bybit", "okx")
ASSETS = ("ETH", "BTC")
LSTS = ("weETH", "wstETH")
EVENT_AT = 0.4  # stress events start 40 % into the window


@dataclass(frozen=True)
class ScenarioParams:
    """Shifts from the calibrated base. Drifts are annual log drifts; `funding_shift` is added
    to every venue's median 8-hour print; an event starts `EVENT_AT` into the window."""

    eth_drift: float = 0.0
    btc_drift: float = 0.0
    funding_shift: float = 0.0
    funding_upside_scale: float = 1.0
    lst_oracle_drop: float = 0.0  # fractional one-off drop of ρ (both LSTs)
    lst_market_discount: float = 0.0  # extra market discount, decaying (half-life 5 days)
    weth_utilisation_spike: float | None = None  # WETH utilisation held there ...
    spike_days: int = 14  # ... for this many days


SCENARIOS: dict[str, ScenarioParams] = {
    "base": ScenarioParams(),
    # ETH +~100 % a year of log drift on top of the noise, funding 4x the usual level.
    "bull_squeeze": ScenarioParams(
        eth_drift=3.0, btc_drift=1.5, funding_shift=2.5e-4, funding_upside_scale=2.0
    ),
    "bear_negative_funding": ScenarioParams(eth_drift=-2.0, btc_drift=-1.0, funding_shift=-1.6e-4),
    "lst_depeg": ScenarioParams(lst_oracle_drop=0.03, lst_market_discount=0.04),
    # WETH utilisation pinned at 99 % for two weeks: the borrow rate goes far up the second slope
    "rate_spike": ScenarioParams(weth_utilisation_spike=0.99),
}
assert tuple(sorted(SCENARIOS)) == SCENARIO_NAMES, "defaults.SCENARIO_NAMES lists them all"


def scenario_params(name: str) -> ScenarioParams:
    if name not in SCENARIOS:
        raise ConfigError("scenario", f"must be one of {', '.join(SCENARIOS)}, was {name!r}")
    return SCENARIOS[name]


@dataclass(frozen=True)
class Paths:
    """Every simulated series. Hourly arrays follow `hours`, daily ones `days`, funding
    `settlements` (00/08/16 UTC)."""

    hours: pd.DatetimeIndex
    days: pd.DatetimeIndex
    settlements: pd.DatetimeIndex
    price: dict[str, np.ndarray]  # "ETH", "BTC" (USD)
    basis: dict[str, np.ndarray]  # per venue, perp/spot − 1
    funding: dict[tuple[str, str], np.ndarray]
    utilisation: dict[str, np.ndarray]
    lst_rate_daily: dict[str, np.ndarray]
    peg_discount: dict[str, np.ndarray]  # hourly market/ρ − 1
    gas_gwei: np.ndarray
    token_weth: dict[str, np.ndarray]
    susde_apy: np.ndarray
    event_day: int


def ar1(rng: np.random.Generator, n: int, phi: float, sd: float) -> np.ndarray:
    """A stationary AR(1) path with lag-1 autocorrelation `phi` and marginal std `sd`."""
    shocks = rng.standard_normal(n) * sd * np.sqrt(1.0 - phi * phi)
    out = np.empty(n)
    out[0] = rng.standard_normal() * sd
    for i in range(1, n):
        out[i] = phi * out[i - 1] + shocks[i]
    return out


def _prices(rng: np.random.Generator, n: int, params: ScenarioParams) -> dict[str, np.ndarray]:
    """Correlated ETH/BTC log returns with common jumps; prices at each hour's bar open."""
    dt = 1.0 / cal.HOURS_PER_YEAR
    z1, z2 = rng.standard_normal(n - 1), rng.standard_normal(n - 1)
    rho = cal.ETH_BTC_CORRELATION
    z_btc = rho * z1 + np.sqrt(1.0 - rho * rho) * z2
    jumps = (rng.random(n - 1) < cal.JUMP_PROBABILITY_PER_HOUR) * rng.standard_normal(n - 1)
    jump_eth = jumps * cal.ETH_JUMP_SIZE
    r_eth = params.eth_drift * dt + cal.ETH_DIFFUSION_VOL * np.sqrt(dt) * z1 + jump_eth
    r_btc = (
        params.btc_drift * dt
        + cal.BTC_DIFFUSION_VOL * np.sqrt(dt) * z_btc
        + cal.BTC_JUMP_BETA * jump_eth
    )
    eth = cal.ETH_START_USD * np.exp(np.concatenate(([0.0], np.cumsum(r_eth))))
    btc = cal.BTC_START_USD * np.exp(np.concatenate(([0.0], np.cumsum(r_btc))))
    return {"ETH": eth, "BTC": btc}


def two_piece(z: np.ndarray, stats: cal.FundingStats, params: ScenarioParams) -> np.ndarray:
    """Map standard normal scores to funding prints with the venue's median, negative share
    and mean: a two-piece normal (lower std from the negative share, upper from the mean)."""
    lower = stats.median / NormalDist().inv_cdf(1.0 - stats.negative_share)
    upper = max(lower + (stats.mean - stats.median) * np.sqrt(2.0 * np.pi), 0.2 * lower)
    upper *= params.funding_upside_scale
    centre = stats.median + params.funding_shift
    return np.where(z < 0.0, centre + lower * z, centre + upper * z)


def _funding(
    rng: np.random.Generator, n: int, params: ScenarioParams
) -> dict[tuple[str, str], np.ndarray]:
    """AR(1) normal scores per venue (a common factor across venues), mapped by `two_piece`."""
    out: dict[tuple[str, str], np.ndarray] = {}
    share = cal.FUNDING_COMMON_SHARE
    for asset in ASSETS:
        common = rng.standard_normal(n)
        for venue in VENUES:
            stats = cal.FUNDING[(venue, asset)]
            eps = np.sqrt(share) * common + np.sqrt(1.0 - share) * rng.standard_normal(n)
            z = np.empty(n)
            z[0] = eps[0]
            for i in range(1, n):
                z[i] = stats.ar1 * z[i - 1] + np.sqrt(1.0 - stats.ar1**2) * eps[i]
            out[(venue, asset)] = two_piece(z, stats, params)
    return out


def _utilisation(
    rng: np.random.Generator, days: int, event: int, params: ScenarioParams
) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for asset, stats in cal.RESERVES.items():
        noise = ar1(rng, days, stats.utilisation_ar1, stats.utilisation_sd)
        u = np.clip(stats.utilisation + noise, 0.0005, 0.99)
        if asset == "WETH" and params.weth_utilisation_spike is not None:
            u[event : event + params.spike_days] = params.weth_utilisation_spike
        out[asset] = u
    return out


def _lst_rates(
    rng: np.random.Generator, days: int, event: int, params: ScenarioParams
) -> dict[str, np.ndarray]:
    """Daily ρ: growth at the drift APR plus noise; a one-off drop at the event (depeg)."""
    out: dict[str, np.ndarray] = {}
    for lst in LSTS:
        apr = cal.LST_DRIFT_APR[lst] + rng.standard_normal(days) * cal.LST_APR_DAILY_SD
        growth = np.concatenate(([0.0], np.cumsum(apr[:-1] / 365.0)))
        rate = cal.LST_START_RATE[lst] * np.exp(growth)
        rate[event:] *= 1.0 - params.lst_oracle_drop
        out[lst] = rate
    return out


def _peg(
    rng: np.random.Generator, n: int, event_hour: int, params: ScenarioParams
) -> dict[str, np.ndarray]:
    decay = np.zeros(n)
    after = np.arange(n - event_hour)
    decay[event_hour:] = params.lst_market_discount * 0.5 ** (after / (5 * 24))
    out: dict[str, np.ndarray] = {}
    for lst in LSTS:
        noise = ar1(rng, n, cal.PEG_DISCOUNT_AR1_HOURLY, cal.PEG_DISCOUNT_SD)
        out[lst] = np.minimum(cal.PEG_DISCOUNT_MEAN + noise, 0.0007) - decay
    return out


def _tokens(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    dt = 1.0 / cal.HOURS_PER_YEAR
    out: dict[str, np.ndarray] = {}
    for token, start in cal.TOKEN_START_WETH.items():
        r = cal.TOKEN_VOL_ANNUAL[token] * np.sqrt(dt) * rng.standard_normal(n - 1)
        out[token] = start * np.exp(np.concatenate(([0.0], np.cumsum(r))))
    return out


def grids(start: pd.Timestamp, end: pd.Timestamp) -> tuple[pd.DatetimeIndex, ...]:
    """Hours and days from `start`'s day 00:00 to `end`'s next day 00:00, and settlements."""
    first, last = start.floor("D"), end.floor("D") + pd.Timedelta(days=1)
    hours = pd.date_range(first, last, freq="h")
    days = pd.date_range(first, last, freq="D")
    return hours, days, hours[hours.hour % 8 == 0]


def simulate(params: ScenarioParams, seed: int, start: pd.Timestamp, end: pd.Timestamp) -> Paths:
    """All series of one scenario; the draw order is fixed (common random numbers)."""
    rng = np.random.default_rng(seed)
    hours, days, settlements = grids(start, end)
    n, nd = len(hours), len(days)
    event_day = int(EVENT_AT * (nd - 1))
    price = _prices(rng, n, params)
    basis = {v: cal.BASIS_MEAN + ar1(rng, n, cal.BASIS_AR1_HOURLY, cal.BASIS_SD) for v in VENUES}
    funding = _funding(rng, len(settlements), params)
    utilisation = _utilisation(rng, nd, event_day, params)
    lst_rate = _lst_rates(rng, nd, event_day, params)
    peg = _peg(rng, n, event_day * 24, params)
    gas = np.exp(cal.GAS_LOG_MEAN + ar1(rng, n, cal.GAS_AR1_HOURLY, cal.GAS_LOG_SD))
    tokens = _tokens(rng, n)
    susde = np.maximum(
        cal.SUSDE_APY_MEAN + ar1(rng, nd, cal.SUSDE_APY_AR1_DAILY, cal.SUSDE_APY_SD), 0.02
    )
    return Paths(
        hours,
        days,
        settlements,
        price,
        basis,
        funding,
        utilisation,
        lst_rate,
        peg,
        gas,
        tokens,
        susde,
        event_day,
    )
