"""Typed configuration (ADR-039/040, domain 13): schema and the rules that involve one model.

Unknown keys are rejected everywhere (`extra="forbid"`). Defaults are the documented defaults
of domain.md section 13; required settings have none. Rules that need several files (mode +
venues + share class) live in `validation.py`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

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

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
Positive = Annotated[float, Field(gt=0.0)]
NonNegative = Annotated[float, Field(ge=0.0)]
SlippageRange = tuple[NonNegative, NonNegative]


class StrictModel(BaseModel):
    """Base: unknown keys rejected, immutable after validation."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def as_utc_hour(value: datetime) -> datetime:
    """Naive datetimes are read as UTC; the result must sit on the hour."""
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if value.minute or value.second or value.microsecond:
        raise ValueError(f"must be on the hour (UTC), was {value.isoformat()}")
    return value


class Flow(StrictModel):
    """A scheduled deposit (amount > 0) or withdrawal (amount < 0), in share-class units."""

    at: datetime
    amount: float

    _hour = field_validator("at")(as_utc_hour)

    @field_validator("amount")
    @classmethod
    def _non_zero(cls, value: float) -> float:
        if value == 0:
            raise ValueError("must not be 0 (> 0 deposits, < 0 withdraws)")
        return value


class Costs(StrictModel):
    """Cost switches: turn gas or trading costs (fees + slippage) off for studies."""

    gas: bool = True
    execution: bool = True


def _price_proxies() -> dict[CexName, CexName]:
    return {"binance": "bybit", "bybit": "binance", "okx": "binance"}


def _funding_proxies() -> dict[CexName, CexName]:
    return {"okx": "binance"}


class DataSettings(StrictModel):
    """How gaps may be bridged. Every bridge used is listed in the run summary."""

    max_ffill_hours: Annotated[int, Field(ge=0, le=24)] = 3
    # Per hour, which of a price's sources marks it (each held at most max_ffill_hours):
    # freshest: the youngest observation, own series first on a tie (a live proxy venue beats
    # a frozen own price); own_first: the own series held, then each fallback (domain 15.1).
    price_bridge: Literal["freshest", "own_first"] = "freshest"
    price_proxies: dict[CexName, CexName] = Field(default_factory=_price_proxies)
    funding_proxies: dict[CexName, CexName] = Field(default_factory=_funding_proxies)

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

    series: list[str] = Field(min_length=1)
    start: datetime
    end: datetime
    kind: Literal["move", "set"]
    value: float

    _hours = field_validator("start", "end")(as_utc_hour)

    @model_validator(mode="after")
    def _ordered(self) -> Shock:
        if self.end < self.start:
            raise ValueError(f"end: must not be before start, was {self.end.isoformat()}")
        if self.kind == "move" and self.value <= -1.0:
            raise ValueError(f"value: a move must be > -1, was {self.value}")
        return self


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

    venues: list[CexName] = Field(min_length=1)
    allocation: dict[CexName, NonNegative]
    margin_ratio_target: Positive | None = None
    stake_allocation: Annotated[float, Field(gt=0.0, lt=1.0)] | None = None
    margin_ratio_warning: Positive = 0.30
    margin_ratio_critical: Positive = 0.20
    margin_ratio_excess: Positive | None = None
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
    description: str = ""
    share_class: Literal["usdt_stable", "eth_directional"]
    asset: Literal["USDT", "BTC", "ETH"]
    initial_capital: Positive
    start: datetime
    end: datetime
    venues: list[str] = Field(min_length=1)
    reserve_ratio: Annotated[float, Field(ge=0.0, le=0.5)] = 0.0
    position_deviation_threshold: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.02
    dust_min_usd: NonNegative = 100.0
    gas_buffer_eth: NonNegative = 0.05
    gas_debt_settle_eth: NonNegative = 0.02
    reconciliation_tolerance: Annotated[float, Field(gt=0.0, lt=0.01)] = 1e-4
    withdrawal_cost_buffer: Annotated[float, Field(ge=0.0, lt=0.1)] = 0.002
    full_exit_ratio: Annotated[float, Field(gt=0.5, le=1.0)] = 0.99
    costs: Costs = Field(default_factory=Costs)
    data: DataSettings = Field(default_factory=DataSettings)
    flows: list[Flow] = Field(default_factory=list)
    staking: Staking | None = None
    leverage: Leverage | None = None
    hedge: Hedge | None = None
    shocks: list[Shock] = Field(default_factory=list)
    report: Report = Field(default_factory=Report)

    _hours = field_validator("start", "end")(as_utc_hour)

    @model_validator(mode="after")
    def _window(self) -> ModeConfig:
        if self.start >= self.end:
            raise ValueError(
                f"start: must be before end ({self.end.isoformat()}), was {self.start.isoformat()}"
            )
        for i, flow in enumerate(self.flows):
            if not self.start < flow.at <= self.end:
                raise ValueError(
                    f"flows.{i}.at: must be after start and not after end, "
                    f"was {flow.at.isoformat()}"
                )
        for i, shock in enumerate(self.shocks):
            if not self.start <= shock.start <= self.end:
                raise ValueError(
                    f"shocks.{i}.start: must lie in the run window, was {shock.start.isoformat()}"
                )
        return self


# --- venues (configs/venues/*.yaml) -------------------------------------------------------


class CexSlippage(StrictModel):
    """Slippage ranges in bps (base at $10k, max at $1m; domain 4.5) by base asset."""

    spot: dict[str, SlippageRange] = Field(default_factory=dict)
    perp: dict[str, SlippageRange] = Field(default_factory=dict)


class CexVenue(StrictModel):
    """A centralised exchange account: spot (optional), linear USDT perps, margin, fees."""

    kind: Literal["cex"]
    name: CexName
    spot_taker_fee: NonNegative | None
    perp_taker_fee: NonNegative
    maintenance_margin_rate: Annotated[float, Field(gt=0.0, lt=0.1)]
    liquidation_fee: Annotated[float, Field(ge=0.0, lt=0.1)]
    withdrawal_fee: dict[str, NonNegative]
    perp_symbols: list[str]
    slippage_bps: CexSlippage
    api_key_env: str
    api_secret_env: str


class AaveVenue(StrictModel):
    """AAVE v3 Ethereum market: gas units and liquidation settings (domain 4.1)."""

    kind: Literal["lending"]
    name: Literal["aave_v3"]
    gas_units: dict[Literal["supply", "withdraw", "borrow", "repay", "approve", "set_emode"], int]
    full_liquidation_below_usd: NonNegative
    close_factor: Annotated[float, Field(gt=0.0, le=1.0)]
    close_factor_hf_below: Annotated[float, Field(gt=0.0, lt=1.0)]


class DexVenue(StrictModel):
    """Uniswap v3: pool fee, swap gas and slippage ranges by pair (domain 4.5)."""

    kind: Literal["dex"]
    name: Literal["uniswap"]
    swap_fee: Annotated[float, Field(ge=0.0, lt=0.05)]
    gas_units: dict[Literal["swap"], int]
    slippage_bps: dict[str, SlippageRange]


class StakingVenue(StrictModel):
    """A liquid staking protocol (EtherFi weETH, Lido wstETH; domain 4.2)."""

    kind: Literal["staking"]
    name: Literal["etherfi", "lido"]
    lst: LstType
    gas_units: dict[Literal["stake", "unstake_request", "claim", "king_unwrap"], int]
    unstake_delay_days: Annotated[float, Field(ge=0.0, le=60.0)]


class FlashVenue(StrictModel):
    """Flash-loan provider (Morpho: fee 0; ADR-020)."""

    kind: Literal["flash"]
    name: Literal["morpho"]
    flash_loan_fee: Annotated[float, Field(ge=0.0, lt=0.01)]
    gas_units: dict[
        Literal["atomic_entry", "atomic_deleverage_one_swap", "atomic_deleverage_two_swaps"], int
    ]


class RpcVenue(StrictModel):
    """Ethereum access (Alchemy): wallet-level gas units and the gas price series used."""

    kind: Literal["rpc"]
    name: Literal["alchemy"]
    gas_units: dict[Literal["erc20_transfer", "approve"], int]
    gas_price_column: Literal["gas_price_avg_gwei"]
    rpc_url_env: str


VenueConfig = Annotated[
    CexVenue | AaveVenue | DexVenue | StakingVenue | FlashVenue | RpcVenue,
    Field(discriminator="kind"),
]


class ShareClass(StrictModel):
    """A share class: the currency NAV is kept in and whether it must be market neutral."""

    name: Literal["usdt_stable", "eth_directional"]
    currency: Literal["USDT", "ETH"]
    market_neutral: bool
    allowed_modes: list[ModeName]
    description: str = ""
