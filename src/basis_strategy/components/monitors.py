"""Position, exposure and risk monitors (ADR-007, ADR-034, domain 5 and 7).

The position monitor holds the strategy's book. The exposure monitor values it in share-class
units for one MarketState and reports delta per underlying and each CEX venue's equity and
notional. The risk monitor turns that into margin ratios and delta drift with levels. Both
compute lazily and cache by (book version, hour), so a quiet hour values the book once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from basis_strategy.core.instruments import CEX_VENUES, Instrument, instrument
from basis_strategy.data.market import MarketState

REWARD_TOKENS = frozenset({"EIGEN", "ETHFI", "KING"})


class PositionMonitor:
    """The book: quantities by position key (AAVE scaled) and perp average entries."""

    def __init__(self) -> None:
        self.quantities: dict[str, float] = {}
        self.entries: dict[str, float] = {}
        self.instruments: dict[str, Instrument] = {}
        self.version = 0

    def apply(self, key: str, amount: float, entry_after: float | None) -> tuple[float, float]:
        """Apply one change; returns the after-state (quantity, entry or NaN)."""
        if key not in self.instruments:
            self.instruments[key] = instrument(key)
        qty = self.quantities.get(key, 0.0) + amount
        self.quantities[key] = qty
        if entry_after is not None:
            self.entries[key] = entry_after
        self.version += 1
        return qty, self.entries.get(key, float("nan"))

    def qty(self, key: str) -> float:
        return self.quantities.get(key, 0.0)


def underlying_units(inst: Instrument, qty: float, series: dict[str, float]) -> float:
    """Stored quantity -> signed units of the underlying (AAVE index, LST rate, debt sign)."""
    units = inst.sign * qty
    if inst.index_series is not None:
        units *= series[inst.index_series]
    if inst.rate_series is not None:
        units *= series[inst.rate_series]
    return units


def unit_value(key: str, market: MarketState, currency: str) -> float:
    """Share-class value of one stored unit of a holding (not perps): sign × I × R × π."""
    inst = instrument(key)
    return underlying_units(inst, 1.0, market.values) * market.unit_price(inst.underlying, currency)


@dataclass(frozen=True)
class Exposure:
    """The book valued at one hour."""

    t_index: int
    values: dict[str, float]
    equity: float
    delta_units: dict[str, float]
    venue_equity_usdt: dict[str, float]
    venue_notional_usdt: dict[str, float]


class ExposureMonitor:
    """Values the book in share-class units (domain 3 and 5)."""

    def __init__(self, positions: PositionMonitor, currency: str) -> None:
        self.positions = positions
        self.currency = currency
        self._cache: Exposure | None = None
        self._cache_key = (-1, -1)

    def compute(self, market: MarketState) -> Exposure:
        key = (self.positions.version, market.index)
        if self._cache is not None and self._cache_key == key:
            return self._cache
        self._cache = self._value(market)
        self._cache_key = key
        return self._cache

    def _value(self, market: MarketState) -> Exposure:
        currency = self.currency
        series = market.values
        usdt_price = market.unit_price("USDT", currency)
        prices: dict[str, float] = {}  # share-class units per unit of each underlying
        values: dict[str, float] = {}
        delta: dict[str, float] = {}
        cex_equity: dict[str, float] = {}
        notional: dict[str, float] = {}
        entries = self.positions.entries
        instruments = self.positions.instruments
        for key, qty in self.positions.quantities.items():
            if qty == 0.0:
                continue
            inst = instruments[key]
            underlying, venue = inst.underlying, inst.venue
            if inst.is_perp:
                mark = series[inst.mark_series]
                pnl_usdt = qty * (mark - entries[key])
                values[key] = pnl_usdt * usdt_price
                cex_equity[venue] = cex_equity.get(venue, 0.0) + pnl_usdt
                notional[venue] = notional.get(venue, 0.0) + abs(qty) * mark
                delta[underlying] = delta.get(underlying, 0.0) + qty
                continue
            units = underlying_units(inst, qty, series)
            price = prices.get(underlying)
            if price is None:
                price = prices[underlying] = market.unit_price(underlying, currency)
            values[key] = units * price
            if underlying == "USDT":
                # USDT in flight to a venue (`{venue}:Pending:USDT`) is not its margin yet
                if venue in CEX_VENUES and inst.kind != "Pending":
                    cex_equity[venue] = cex_equity.get(venue, 0.0) + qty
            elif underlying not in REWARD_TOKENS:
                delta[underlying] = delta.get(underlying, 0.0) + units
        return Exposure(market.index, values, sum(values.values()), delta, cex_equity, notional)


@dataclass(frozen=True)
class Risk:
    """Risk metrics for one book at one hour (domain 7).

    AAVE: `aave_ltv` = debt / collateral at oracle prices (0 without debt), `aave_hf` =
    LT × collateral / debt (inf without debt), `aave_level` ok / warning / critical /
    liquidatable (HF < 1). `peg_spread` = ρ_mkt / ρ − 1 of the mode's LST (exit cost).
    Distances to liquidation: `cex_liquidation_distance[venue]` = the ETH/BTC rise that
    brings the margin ratio to the maintenance rate, (MR − mmr) / (1 + mmr);
    `aave_liquidation_distance` = the fall in ρ relative to WETH that brings HF to 1, 1 − 1/HF.
    """

    margin_ratio: dict[str, float]
    margin_level: dict[str, str]
    delta_drift: dict[str, float]
    aave_ltv: float = 0.0
    aave_hf: float = float("inf")
    aave_level: str = "ok"
    peg_spread: float | None = None
    cex_liquidation_distance: dict[str, float] = field(default_factory=dict)

    @property
    def aave_liquidation_distance(self) -> float:
        return 1.0 - 1.0 / self.aave_hf if self.aave_hf > 0 else -math.inf


@dataclass(frozen=True)
class AaveBands:
    """The leveraged position's keys and thresholds (domain 7): HF thresholds are LT / LTV."""

    collateral_key: str
    debt_key: str
    liquidation_threshold: float
    ltv_warning: float
    ltv_critical: float

    def level(self, ltv: float, hf: float) -> str:
        if hf < 1.0:
            return "liquidatable"
        if ltv >= self.ltv_critical:
            return "critical"
        if ltv >= self.ltv_warning:
            return "warning"
        return "ok"


class RiskMonitor:
    """Margin ratio per hedge venue and delta drift per underlying, with levels."""

    def __init__(
        self,
        exposure: ExposureMonitor,
        hedge_venues: tuple[str, ...],
        bands: tuple[float, float, float] | None,
        aave: AaveBands | None = None,
        lst: str | None = None,
        maintenance_margin: dict[str, float] | None = None,
    ) -> None:
        self.exposure = exposure
        self.hedge_venues = hedge_venues
        self.bands = bands  # (critical, warning, excess)
        self.aave = aave
        self.lst = lst
        self.mmr = maintenance_margin or {}
        self._cache: Risk | None = None
        self._cache_key = (-1, -1)

    def assess(self, market: MarketState) -> Risk:
        key = (self.exposure.positions.version, market.index)
        if self._cache is None or self._cache_key != key:
            self._cache = self._assess(market)
            self._cache_key = key
        return self._cache

    def _assess(self, market: MarketState) -> Risk:
        exposure = self.exposure.compute(market)
        ratios: dict[str, float] = {}
        levels: dict[str, str] = {}
        for venue in self.hedge_venues:
            notional = exposure.venue_notional_usdt.get(venue, 0.0)
            if notional <= 0.0:
                continue
            ratio = exposure.venue_equity_usdt.get(venue, 0.0) / notional
            ratios[venue] = ratio
            levels[venue] = self._level(ratio)
        drift = {}
        equity = exposure.equity
        for asset, units in exposure.delta_units.items():
            if asset != self.exposure.currency and equity > 0:
                drift[asset] = (
                    abs(units * market.unit_price(asset, self.exposure.currency)) / equity
                )
        mmr = self.mmr
        distance = {v: (r - mmr[v]) / (1.0 + mmr[v]) for v, r in ratios.items() if v in mmr}
        peg = None
        if self.lst is not None:
            values = market.values
            peg = values["lst_market:" + self.lst] / values["lst_rate:" + self.lst] - 1.0
        if self.aave is None:
            return Risk(ratios, levels, drift, peg_spread=peg, cex_liquidation_distance=distance)
        ltv, hf = self.aave_position(exposure)
        return Risk(ratios, levels, drift, ltv, hf, self.aave.level(ltv, hf), peg, distance)

    def aave_position(self, exposure: Exposure) -> tuple[float, float]:
        """(LTV, HF) of the LST-on-WETH position; the ETH/USD price cancels (domain 4.1)."""
        assert self.aave is not None
        collateral = exposure.values.get(self.aave.collateral_key, 0.0)
        debt = -exposure.values.get(self.aave.debt_key, 0.0)
        if debt <= 0.0:
            return 0.0, float("inf")
        if collateral <= 0.0:
            return float("inf"), 0.0
        ltv = debt / collateral
        return ltv, self.aave.liquidation_threshold / ltv

    def _level(self, ratio: float) -> str:
        assert self.bands is not None
        critical, warning, excess = self.bands
        if ratio <= critical:
            return "critical"
        if ratio <= warning:
            return "warning"
        if ratio > excess:
            return "excess"
        return "ok"
