"""Validation levels 3 and 5 of the seed (ADR-034): mode rules and cross-component rules.

Level 1 (schema) and level 2 (business rules inside one model) are the pydantic models in
`models.py`; level 4 (data availability) is checked by the data provider when it is built.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import ValidationError

from basis_strategy.config.models import ModeConfig, ShareClass
from basis_strategy.config.venues import CexVenue, StakingVenue, VenueConfig
from basis_strategy.core.errors import ConfigError


@dataclass(frozen=True)
class ModeRule:
    """What a mode must be and which optional sections it needs or forbids (domain 13.4/13.5)."""

    share_class: str
    asset: str
    needs: frozenset[str]
    summary: str


_SECTIONS = ("staking", "leverage", "hedge")

MODE_RULES: dict[str, ModeRule] = {
    "pure_lending": ModeRule(
        "usdt_stable", "USDT", frozenset(), "Supply USDT to AAVE v3 and earn the supply rate."
    ),
    "btc_basis": ModeRule(
        "usdt_stable",
        "BTC",
        frozenset({"hedge"}),
        "Long BTC spot, short BTC perps on several venues, collect funding.",
    ),
    "eth_basis": ModeRule(
        "usdt_stable",
        "ETH",
        frozenset({"hedge"}),
        "Long ETH spot, short ETH perps on several venues, collect funding.",
    ),
    "eth_staking_only": ModeRule(
        "eth_directional",
        "ETH",
        frozenset({"staking"}),
        "Hold ETH as an LST (weETH/wstETH): staking yield plus restaking rewards.",
    ),
    "eth_leveraged": ModeRule(
        "eth_directional",
        "ETH",
        frozenset({"staking", "leverage"}),
        "LST collateral in AAVE e-mode with WETH debt, built with one flash loan.",
    ),
    "usdt_market_neutral_no_leverage": ModeRule(
        "usdt_stable",
        "ETH",
        frozenset({"staking", "hedge"}),
        "Stake ETH unlevered and hedge it with perp shorts: staking + funding.",
    ),
    "usdt_market_neutral": ModeRule(
        "usdt_stable",
        "ETH",
        frozenset({"staking", "leverage", "hedge"}),
        "Leveraged LST carry on AAVE hedged with perp shorts on the net ETH.",
    ),
}


def check_mode_rules(mode: ModeConfig, share_class: ShareClass) -> None:
    """Level 3: share class, asset and required / forbidden sections per mode."""
    rule = MODE_RULES[mode.mode]
    if mode.share_class != rule.share_class:
        raise ConfigError(
            "share_class", f"mode {mode.mode} needs {rule.share_class}, was {mode.share_class!r}"
        )
    if mode.mode not in share_class.allowed_modes:
        raise ConfigError("share_class", f"{share_class.name} does not allow mode {mode.mode}")
    if mode.asset != rule.asset:
        raise ConfigError("asset", f"mode {mode.mode} needs {rule.asset}, was {mode.asset!r}")
    for section in _SECTIONS:
        present = getattr(mode, section) is not None
        if section in rule.needs and not present:
            raise ConfigError(section, f"required by mode {mode.mode}, was missing")
        if section not in rule.needs and present:
            raise ConfigError(section, f"not allowed in mode {mode.mode} (remove it)")
    if share_class.currency == "ETH" and mode.hedge is not None:
        raise ConfigError("hedge", "the ETH share class is never hedged (ADR-021)")


def check_capital(mode: ModeConfig, share_class: ShareClass) -> None:
    """Level 3: the share class's capital bounds (configs/share_classes/*.yaml). Below
    `min_initial_capital` the entry's gas and fees would eat the fund; the initial capital
    plus every deposit must stay within `max_capital`."""
    unit, name = share_class.currency, share_class.name
    if mode.initial_capital < share_class.min_initial_capital:
        raise ConfigError(
            "initial_capital",
            f"must be at least {_plain(share_class.min_initial_capital)} {unit} for share class "
            f"{name} (the entry's gas and fees), was {_plain(mode.initial_capital)}",
        )
    deposits = (flow.amount for flow in mode.flows.schedule if flow.amount and flow.amount > 0)
    total = mode.initial_capital + sum(deposits)
    if total > share_class.max_capital:
        field = "initial_capital" if total == mode.initial_capital else "flows"
        raise ConfigError(
            field,
            f"initial capital plus deposits must be at most {_plain(share_class.max_capital)} "
            f"{unit} for share class {name}, was {_plain(total)}",
        )


def _plain(amount: float) -> str:
    """1e10 -> "10,000,000,000", 1.5 -> "1.5" (tiny amounts as Python writes them)."""
    return f"{amount:,f}".rstrip("0").rstrip(".") if abs(amount) >= 1e-6 else repr(amount)


def check_cross_component(mode: ModeConfig, venues: Mapping[str, VenueConfig]) -> None:
    """Level 5: the venues a mode names exist and agree with its thresholds."""
    for name in mode.venues:
        if name not in venues:
            raise ConfigError("venues", f"no configs/venues/{name}.yaml for venue {name!r}")
    if mode.hedge is not None:
        _check_hedge_venues(mode, venues)
    if mode.staking is not None:
        wanted = "etherfi" if mode.staking.lst_type == "weETH" else "lido"
        if wanted not in mode.venues:
            raise ConfigError(
                "venues", f"lst_type {mode.staking.lst_type} needs venue {wanted!r} in venues"
            )
        staking_venue = venues[wanted]
        assert isinstance(staking_venue, StakingVenue)
        if staking_venue.lst != mode.staking.lst_type:
            raise ConfigError(
                "venues", f"{wanted} issues {staking_venue.lst}, not {mode.staking.lst_type}"
            )


def _check_hedge_venues(mode: ModeConfig, venues: Mapping[str, VenueConfig]) -> None:
    hedge = mode.hedge
    assert hedge is not None
    for name in [*hedge.venues, hedge.spot_venue]:
        if name not in mode.venues:
            raise ConfigError("hedge.venues", f"venue {name!r} is not in the mode's venues list")
    symbol = f"{mode.asset}USDT"
    for name in hedge.venues:
        venue = venues[name]
        assert isinstance(venue, CexVenue)
        if symbol not in venue.perp_symbols:
            raise ConfigError("hedge.venues", f"{name} does not list perp {symbol}")
        if not venue.maintenance_margin_rate < hedge.margin_ratio_critical:
            raise ConfigError(
                "hedge.margin_ratio_critical",
                f"must be above {name}'s maintenance_margin_rate "
                f"{venue.maintenance_margin_rate}, was {hedge.margin_ratio_critical}",
            )
    spot = venues[hedge.spot_venue]
    if mode.mode in ("btc_basis", "eth_basis") and (
        not isinstance(spot, CexVenue) or spot.spot_taker_fee is None
    ):
        raise ConfigError("hedge.spot_venue", f"{hedge.spot_venue} has no spot market")


def config_error_from(exc: ValidationError, source: str = "") -> ConfigError:
    """One line naming the field and the bad value from a pydantic error."""
    first = exc.errors()[0]
    parts = first["loc"][1:] if source and first["loc"] else first["loc"]  # drop a union tag
    loc = ".".join(str(part) for part in parts)
    field = f"{source}{loc}" if loc else (source.rstrip(".") or "config")
    message = first["msg"].removeprefix("Value error, ")
    sub_field = re.match(r"^([a-z_][a-z0-9_.]*): ", message)
    if sub_field:  # a model rule naming one of its own fields: "allocation: must sum to 1"
        field = f"{source}{loc}.{sub_field.group(1)}" if loc else f"{source}{sub_field.group(1)}"
        message = message[sub_field.end() :]
    if first["type"] == "extra_forbidden":
        message = "unknown key"
    bad = first.get("input")
    shows_value = ", was " in message or isinstance(bad, dict | list)
    if not shows_value and first["type"] != "missing":
        shown = repr(bad)
        message = f"{message} (value: {shown[:80]}{'...' if len(shown) > 80 else ''})"
    more = len(exc.errors()) - 1
    if more:
        message += f" (+{more} more error{'s' if more > 1 else ''})"
    return ConfigError(field, message)
