"""Typed configuration (ADR-039/040, domain 13): schema and the rules that involve one model.

Unknown keys are rejected everywhere (`extra="forbid"`). Defaults are the documented defaults
of domain.md section 13; required settings have none. Rules that need several files (mode +
venues + share class) live in `validation.py`.

Every number is finite, of its own type (no `true` or `"1"` for a number, no `3.5` for a
count) and bounded on both sides by what is sensible for it: use the bounded types below for
new fields (`tests/unit/config/test_numbers.py` walks every model and checks each field).
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

ModeName = Literal[
    "pure_lending",
    "btc_basis",
    "eth_basis",
    "eth_staking_only",
    "eth_leveraged",
    "usdt_market_neutral_no_leverage",
    "usdt_market_neutral",
]
MODE_NAMES: tuple[str, ...] = ModeName.__args__  # type: ignore[attr-defined]
CexName = Literal["binance", "bybit", "okx"]
LstType = Literal["weETH", "wstETH"]
RewardsMode = Literal["base_only", "base_eigen", "base_eigen_seasonal"]

MAX_CAPITAL = 1e12  # in share-class units; each share class sets its own, lower, bounds
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
Positive = Annotated[float, Field(gt=0.0, le=MAX_CAPITAL)]  # an amount; prefer a tighter type
NonNegative = Annotated[float, Field(ge=0.0, le=MAX_CAPITAL)]
Capital = Positive
FlowAmount = Annotated[float, Field(ge=-MAX_CAPITAL, le=MAX_CAPITAL)]
AmountUsd = Annotated[float, Field(ge=0.0, le=1e9)]
AmountEth = Annotated[float, Field(ge=0.0, le=1e4)]
AssetAmount = Annotated[float, Field(ge=0.0, le=1e6)]  # a fee in the asset's own units
MarginRatio = Annotated[float, Field(gt=0.0, le=10.0)]  # margin / notional
FeeRate = Annotated[float, Field(ge=0.0, lt=0.01)]
Bps = Annotated[float, Field(ge=0.0, le=10_000.0)]
GasUnits = Annotated[int, Field(gt=0, le=30_000_000)]  # at most one block's gas limit
Name = Annotated[str, Field(min_length=1, max_length=100)]


class StrictModel(BaseModel):
    """Base: unknown keys rejected, immutable after validation; values of their own type
    (`strict`: no booleans or strings as numbers) and numbers finite (no NaN, no infinity)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


def as_utc_hour(value: datetime) -> datetime:
    """Naive datetimes are read as UTC; the result must sit on the hour."""
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if value.minute or value.second or value.microsecond:
        raise ValueError(f"must be on the hour (UTC), was {value.isoformat()}")
    return value


def _date_like(value: object) -> object:
    """A date-time, a date or ISO 8601 text; never a number (no unix seconds, no `true`)."""
    if isinstance(value, datetime | date) or (
        isinstance(value, str) and value[:4].isdigit() and value[4:5] == "-"
    ):
        return value
    raise ValueError(f"must be an ISO 8601 date-time (2024-06-01T00:00:00Z), was {value!r}")


# ISO text or a YAML timestamp (lax), read as UTC, on the hour
UtcHour = Annotated[
    datetime, BeforeValidator(_date_like), AfterValidator(as_utc_hour), Field(strict=False)
]


def _ordered_range(value: tuple[float, float]) -> tuple[float, float]:
    if value[0] > value[1]:
        raise ValueError(f"must be [base, max] with base <= max, was {list(value)}")
    return value


def _list_as_tuple(value: object) -> object:
    return tuple(value) if isinstance(value, list) else value


# Slippage in bps: [base at $10k, max at $1m] (a YAML list)
SlippageRange = Annotated[
    tuple[Bps, Bps], BeforeValidator(_list_as_tuple), AfterValidator(_ordered_range)
]


class Flow(StrictModel):
    """A scheduled deposit or withdrawal in share-class units (`amount`: > 0 deposits,
    < 0 withdraws), or the redemption of every share (`shares: all`)."""

    at: UtcHour
    amount: FlowAmount | None = None
    shares: Literal["all"] | None = None

    @field_validator("amount")
    @classmethod
    def _non_zero(cls, value: float | None) -> float | None:
        if value == 0:
            raise ValueError("must not be 0 (> 0 deposits, < 0 withdraws)")
        return value

    @model_validator(mode="after")
    def _one_of(self) -> Flow:
        if (self.amount is None) == (self.shares is None):
            raise ValueError("give exactly one of amount and shares")
        return self


class Flows(StrictModel):
    """Deposits and withdrawals after the initial capital, and who pays their costs.

    `cost_allocation`: `investor` charges a deposit's entry costs and a withdrawal's exit costs
    to the investor who causes them (shares are minted / burned at the NAV per share before
    the flow, net of its costs), so other holders' NAV per share does not move; `pool` spreads
    them over every holder (shares at the NAV per share of the deposit / payout instruction).
    """

    cost_allocation: Literal["investor", "pool"] = "investor"
    schedule: list[Flow] = Field(default_factory=list, max_length=10_000)

    @model_validator(mode="before")
    @classmethod
    def _list_is_a_schedule(cls, value: object) -> object:
        """`flows: [...]` is short for `flows: {schedule: [...]}`."""
        return {"schedule": value} if isinstance(value, list) else value


class Rebalancing(StrictModel):
    """When optional actions run (issue 11): redeploying excess margin, re-levering inside the
    LTV band, deploying idle cash, refilling the reserve, selling dust.

    Mandatory actions (critical risk, flows, liquidation recovery), warning-level risk
    reduction and the delta rule are never gated. An optional action that adds carry runs only
    when its expected benefit over `horizon_days` is at least `benefit_cost_ratio` × its full
    expected cost (gas at the hour's price, fees, slippage, LST discount, flash fee), it moves
    at least `min_amount_usd`, and it costs at most `max_cost_fraction` of what it moves; a
    reserve refill (no carry gained) needs the last two. `optional: false` runs none of them.
    """

    optional: bool = True
    horizon_days: Annotated[float, Field(gt=0.0, le=365.0)] = 60.0
    benefit_cost_ratio: Annotated[float, Field(ge=1.0, le=100.0)] = 2.0
    min_amount_usd: AmountUsd = 1000.0
    max_cost_fraction: Annotated[float, Field(gt=0.0, le=0.1)] = 0.01
    # share of a venue's surplus above m* that an excess plan redeploys: below 1 the venue keeps
    # a cushion, so a reversal is absorbed before margin must come back from the long leg
    excess_redeploy_fraction: Annotated[float, Field(gt=0.0, le=1.0)] = 0.5


class Costs(StrictModel):
    """Cost switches: turn gas or trading costs (fees + slippage) off for studies."""

    gas: bool = True
    execution: bool = True


def _price_proxies() -> dict[CexName, CexName]:
    return {"binance": "bybit", "bybit": "binance", "okx": "binance"}


def _funding_proxies() -> dict[CexName, CexName]:
    return {"okx": "binance"}


class DataSettings(StrictModel):
    """How gaps may be bridged, and what values are plausible (`data.plausibility`). Every
    bridge used is listed in the run summary."""

    max_ffill_hours: Annotated[int, Field(ge=0, le=24)] = 3
    # Per hour, which of a price's sources marks it (each held at most max_ffill_hours):
    # freshest: the youngest observation, own series first on a tie (a live proxy venue beats
    # a frozen own price); own_first: the own series held, then each fallback (domain 15.1).
    price_bridge: Literal["freshest", "own_first"] = "freshest"
    price_proxies: dict[CexName, CexName] = Field(default_factory=_price_proxies)
    funding_proxies: dict[CexName, CexName] = Field(default_factory=_funding_proxies)
    # An implausible observation: `error` stops the run naming the file, time and value;
    # `bridge` drops it (recorded as an `implausible` bridge) and bridges its hours as a hole.
    implausible: Literal["error", "bridge"] = "error"
    # Largest move between consecutive prices (bigger over smaller, minus 1); the history's
    # largest hourly move is 15 % (ETHFI/WETH pool), ETH's 11.9 % (2025-02-03).
    max_hourly_move: Positive = 0.3
    # The history's largest |funding| is 0.0012 per 8 h; 0.01 is 1 % per 8 h (~1,095 % a year).
    max_funding_rate_per_8h: Positive = 0.01
    # AAVE supply/borrow APRs and index growth a year (history: <= 0.41), the eETH reward and
    # benchmark APYs (sUSDe: <= 0.56).
    max_apr: Positive = 1.0
    # Perp mark vs spot of the same asset, LST market rate vs oracle ρ (history: <= 2.1 %).
    max_basis: Positive = 0.2
    # Hourly gas price (history: <= 844 gwei).
    max_gas_gwei: Positive = 20_000.0

    @model_validator(mode="after")
    def _no_self_proxy(self) -> DataSettings:
        for name, proxies in (
            ("price_proxies", self.price_proxies),
            ("funding_proxies", self.funding_proxies),
        ):
            for venue, proxy in proxies.items():
                if venue == proxy:
                    raise ValueError(f"{name}.{venue}: a venue cannot proxy itself, was {proxy!r}")
        return self


class Shock(StrictModel):
    """A stress applied to the run's market data after alignment (stress runs and tests).

    `series`: globs over series names (`price:ETH`, `perp:*:ETHUSDT`, `lst_rate:weETH`,
    `lst_market:*`, `aave_br:WETH`, and `funding:{venue}:{BASE}` for funding settlements).
    `kind: move`: a relative change (−0.03 = −3 %) reached linearly from `start` to `end` and
    held for the rest of the run. `kind: set`: the series takes `value` at every hour (or
    settlement) in [`start`, `end`]. Each hour's value depends only on that hour's data.
    """

    series: list[Name] = Field(min_length=1, max_length=100)
    start: UtcHour
    end: UtcHour
    kind: Literal["move", "set"]
    # a move: a relative change (at most +10 000 %); a set: the series' value (price, rate)
    value: Annotated[float, Field(ge=-1e9, le=1e9)]

    @model_validator(mode="after")
    def _ordered(self) -> Shock:
        if self.end < self.start:
            raise ValueError(f"end: must not be before start, was {self.end.isoformat()}")
        if self.kind == "move" and not -1.0 < self.value <= 100.0:
            raise ValueError(f"value: a move must be > -1 and <= 100, was {self.value}")
        if self.kind == "set":
            for glob in self.series:
                low, high, what = _set_range(glob)
                if not low <= self.value <= high:
                    raise ValueError(f"value: a set of {glob} must be {what}, was {self.value}")
        return self


def _set_range(glob: str) -> tuple[float, float, str]:
    """What a `set` shock may give a series: a funding rate per settlement within [-1, 1], an
    AAVE APR within [0, 10], a price, exchange rate or index > 0."""
    if glob.startswith("funding:"):
        return -1.0, 1.0, "within [-1, 1]"
    if glob.startswith(("aave_lr:", "aave_br:")):
        return 0.0, 10.0, "within [0, 10]"
    if glob.startswith(("price:", "perp:", "lst_rate:", "lst_market:", "aave_li:", "aave_bi:")):
        return math.ulp(0.0), 1e9, "> 0"
    return -1e9, 1e9, "within [-1e9, 1e9]"


class Report(StrictModel):
    """Run report settings (issue 4): risk-free rate for Sharpe / Sortino (annual fraction)."""

    risk_free_rate: Annotated[float, Field(ge=-0.1, le=0.5)] = 0.0


class Staking(StrictModel):
    """Liquid staking settings (domain 13.2)."""

    lst_type: LstType
    rewards_mode: RewardsMode
    unstake_route: Literal["dex", "protocol"] = "dex"
    unstake_delay_days: Annotated[float, Field(ge=0.0, le=60.0)] | None = None

    @field_validator("lst_type", mode="before")
    @classmethod
    def _normalise_lst(cls, value: object) -> object:
        if isinstance(value, str):
            by_lower = {"weeth": "weETH", "wsteth": "wstETH"}
            return by_lower.get(value.lower(), value)
        return value

    @model_validator(mode="after")
    def _rewards_need_weeth(self) -> Staking:
        if self.lst_type == "wstETH" and self.rewards_mode != "base_only":
            raise ValueError(
                f"rewards_mode: wstETH supports base_only only, was {self.rewards_mode!r}"
            )
        return self


class Leverage(StrictModel):
    """AAVE e-mode leverage settings (domain 13.2). max_ltv / LT / bonus come from data."""

    target_ltv: Annotated[float, Field(gt=0.0, lt=1.0)] | None = 0.91
    ltv_warning: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.92
    ltv_critical: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.93
    ltv_band: Annotated[float, Field(gt=0.0, lt=0.5)] = 0.01
    max_stake_spread_move: Annotated[float, Field(ge=0.0, lt=0.2)] = 0.0225
    flash_loan_fee: Annotated[float, Field(ge=0.0, lt=0.01)] = 0.0
    emode_enabled: bool = True

    @model_validator(mode="after")
    def _ordered(self) -> Leverage:
        if not self.emode_enabled:
            raise ValueError("emode_enabled: must be true when borrowing WETH against an LST")
        if self.target_ltv is not None:
            if not self.target_ltv < self.ltv_warning < self.ltv_critical:
                raise ValueError(
                    "thresholds out of order: need target_ltv < ltv_warning < ltv_critical, "
                    f"were {self.target_ltv} / {self.ltv_warning} / {self.ltv_critical}"
                )
            if self.target_ltv - self.ltv_band <= 0:
                raise ValueError(
                    f"ltv_band: target_ltv - ltv_band must be > 0, was {self.ltv_band}"
                )
        return self


class Hedge(StrictModel):
    """CEX hedge / basis settings (domain 13.3)."""

    venues: list[CexName] = Field(min_length=1, max_length=3)
    allocation: dict[CexName, Fraction]
    margin_ratio_target: MarginRatio | None = None
    stake_allocation: Annotated[float, Field(gt=0.0, lt=1.0)] | None = None
    margin_ratio_warning: MarginRatio = 0.30
    margin_ratio_critical: MarginRatio = 0.20
    margin_ratio_excess: Annotated[float, Field(gt=0.0, le=20.0)] | None = None
    delta_tolerance: Annotated[float, Field(gt=0.0, lt=0.1)] = 0.01
    spot_venue: CexName = "binance"

    @model_validator(mode="after")
    def _allocation(self) -> Hedge:
        if len(set(self.venues)) != len(self.venues):
            raise ValueError(f"venues: listed twice, was {self.venues}")
        if set(self.allocation) != set(self.venues):
            raise ValueError(
                f"allocation: keys must equal venues {sorted(self.venues)}, "
                f"were {sorted(self.allocation)}"
            )
        total = sum(self.allocation.values())
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"allocation: must sum to 1, was {total:.6g}")
        return self

    @model_validator(mode="after")
    def _target_and_stake_agree(self) -> Hedge:
        target, stake = self.margin_ratio_target, self.stake_allocation
        if target is not None and stake is not None and abs(target - (1 - stake) / stake) > 1e-6:
            raise ValueError(
                f"margin_ratio_target ({target}) and stake_allocation ({stake}) disagree: "
                f"m* must equal (1 - s) / s = {(1 - stake) / stake:.6g}"
            )
        return self

    @property
    def target(self) -> float:
        """m*: given, or derived from the stake allocation (domain 11.1)."""
        if self.margin_ratio_target is not None:
            return self.margin_ratio_target
        if self.stake_allocation is not None:
            return (1 - self.stake_allocation) / self.stake_allocation
        raise ValueError("hedge: set margin_ratio_target or stake_allocation")

    @property
    def excess(self) -> float:
        """Upper margin band: given, or 2 × target (domain 7)."""
        return self.margin_ratio_excess if self.margin_ratio_excess is not None else 2 * self.target

    @model_validator(mode="after")
    def _bands_ordered(self) -> Hedge:
        if self.margin_ratio_target is None and self.stake_allocation is None:
            raise ValueError("margin_ratio_target: required (or stake_allocation)")
        bands = (self.margin_ratio_critical, self.margin_ratio_warning, self.target, self.excess)
        if not bands[0] < bands[1] < bands[2] < bands[3]:
            raise ValueError(
                "thresholds out of order: need margin_ratio_critical < margin_ratio_warning < "
                "margin_ratio_target < margin_ratio_excess, were "
                + " / ".join(f"{b:.6g}" for b in bands)
            )
        return self


class ModeConfig(StrictModel):
    """One strategy run's settings: a mode YAML after env and CLI overrides."""

    mode: ModeName
    description: Annotated[str, Field(max_length=2000)] = ""
    share_class: Literal["usdt_stable", "eth_directional"]
    asset: Literal["USDT", "BTC", "ETH"]
    initial_capital: Capital
    start: UtcHour
    end: UtcHour
    venues: list[Name] = Field(min_length=1, max_length=20)
    reserve_ratio: Annotated[float, Field(ge=0.0, le=0.5)] = 0.0
    position_deviation_threshold: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.02
    dust_min_usd: AmountUsd = 100.0
    gas_buffer_eth: AmountEth = 0.05
    gas_debt_settle_eth: AmountEth = 0.02
    reconciliation_tolerance: Annotated[float, Field(gt=0.0, lt=0.01)] = 1e-4
    withdrawal_cost_buffer: Annotated[float, Field(ge=0.0, lt=0.1)] = 0.002
    full_exit_ratio: Annotated[float, Field(gt=0.5, le=1.0)] = 0.99
    costs: Costs = Field(default_factory=Costs)
    data: DataSettings = Field(default_factory=DataSettings)
    flows: Flows = Field(default_factory=Flows)
    rebalancing: Rebalancing = Field(default_factory=Rebalancing)
    staking: Staking | None = None
    leverage: Leverage | None = None
    hedge: Hedge | None = None
    shocks: list[Shock] = Field(default_factory=list, max_length=1_000)
    report: Report = Field(default_factory=Report)

    @model_validator(mode="after")
    def _window(self) -> ModeConfig:
        if self.start >= self.end:
            raise ValueError(
                f"start: must be before end ({self.end.isoformat()}), was {self.start.isoformat()}"
            )
        for i, flow in enumerate(self.flows.schedule):
            if not self.start < flow.at <= self.end:
                raise ValueError(
                    f"flows.schedule.{i}.at: must be after start and not after end, "
                    f"was {flow.at.isoformat()}"
                )
        for i, shock in enumerate(self.shocks):
            if not self.start <= shock.start <= self.end:
                raise ValueError(
                    f"shocks.{i}.start: must lie in the run window, was {shock.start.isoformat()}"
                )
        return self


class ShareClass(StrictModel):
    """A share class: the currency NAV is kept in, whether it must be market neutral, and the
    capital a run may start with (below `min_initial_capital` the entry's gas and fees eat the
    fund; `max_capital` bounds the initial capital plus every deposit)."""

    name: Literal["usdt_stable", "eth_directional"]
    currency: Literal["USDT", "ETH"]
    market_neutral: bool
    allowed_modes: list[ModeName]
    min_initial_capital: Capital
    max_capital: Capital
    description: Annotated[str, Field(max_length=2000)] = ""

    @model_validator(mode="after")
    def _bounds_ordered(self) -> ShareClass:
        if self.min_initial_capital >= self.max_capital:
            raise ValueError(
                f"min_initial_capital: must be below max_capital ({self.max_capital}), "
                f"was {self.min_initial_capital}"
            )
        return self
