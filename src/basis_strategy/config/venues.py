"""Venue configuration (`configs/venues/*.yaml`, ADR-039/040): one typed model per venue kind,
told apart by `kind`. Fees, gas units, margin and liquidation settings are data, not branches
(conventions 7)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from basis_strategy.config.models import (
    AmountUsd,
    AssetAmount,
    CexName,
    FeeRate,
    GasUnits,
    LstType,
    Name,
    SlippageRange,
    StrictModel,
)


class CexSlippage(StrictModel):
    """Slippage ranges in bps (base at $10k, max at $1m; domain 4.5) by base asset."""

    spot: dict[Name, SlippageRange] = Field(default_factory=dict)
    perp: dict[Name, SlippageRange] = Field(default_factory=dict)


class CexVenue(StrictModel):
    """A centralised exchange account: spot (optional), linear USDT perps, margin, fees."""

    kind: Literal["cex"]
    name: CexName
    spot_taker_fee: FeeRate | None
    perp_taker_fee: FeeRate
    maintenance_margin_rate: Annotated[float, Field(gt=0.0, lt=0.1)]
    liquidation_fee: Annotated[float, Field(ge=0.0, lt=0.1)]
    withdrawal_fee: dict[Name, AssetAmount]
    perp_symbols: list[Name] = Field(max_length=1_000)
    slippage_bps: CexSlippage
    api_key_env: Name
    api_secret_env: Name


class AaveVenue(StrictModel):
    """AAVE v3 Ethereum market: gas units and liquidation settings (domain 4.1)."""

    kind: Literal["lending"]
    name: Literal["aave_v3"]
    gas_units: dict[
        Literal["supply", "withdraw", "borrow", "repay", "approve", "set_emode"], GasUnits
    ]
    full_liquidation_below_usd: AmountUsd
    close_factor: Annotated[float, Field(gt=0.0, le=1.0)]
    close_factor_hf_below: Annotated[float, Field(gt=0.0, lt=1.0)]


class DexVenue(StrictModel):
    """Uniswap v3: pool fee, swap gas and slippage ranges by pair (domain 4.5)."""

    kind: Literal["dex"]
    name: Literal["uniswap"]
    swap_fee: Annotated[float, Field(ge=0.0, lt=0.05)]
    gas_units: dict[Literal["swap"], GasUnits]
    slippage_bps: dict[Name, SlippageRange]


class StakingVenue(StrictModel):
    """A liquid staking protocol (EtherFi weETH, Lido wstETH; domain 4.2)."""

    kind: Literal["staking"]
    name: Literal["etherfi", "lido"]
    lst: LstType
    gas_units: dict[Literal["stake", "unstake_request", "claim", "king_unwrap"], GasUnits]
    unstake_delay_days: Annotated[float, Field(ge=0.0, le=60.0)]


class FlashVenue(StrictModel):
    """Flash-loan provider (Morpho: fee 0; ADR-020)."""

    kind: Literal["flash"]
    name: Literal["morpho"]
    flash_loan_fee: Annotated[float, Field(ge=0.0, lt=0.01)]
    gas_units: dict[
        Literal["atomic_entry", "atomic_deleverage_one_swap", "atomic_deleverage_two_swaps"],
        GasUnits,
    ]


class RpcVenue(StrictModel):
    """Ethereum access (Alchemy): wallet-level gas units and the gas price series used."""

    kind: Literal["rpc"]
    name: Literal["alchemy"]
    gas_units: dict[Literal["erc20_transfer", "approve"], GasUnits]
    gas_price_column: Literal["gas_price_avg_gwei"]
    rpc_url_env: Name


VenueConfig = Annotated[
    CexVenue | AaveVenue | DexVenue | StakingVenue | FlashVenue | RpcVenue,
    Field(discriminator="kind"),
]
