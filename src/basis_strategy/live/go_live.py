"""The gates before a live session sends anything (issue 13 item 7), in order, each refusing
with one line and exit 2: enabled twice (LT-001), a mode that can trade live here, every
credential in the environment (LT-002), and a passing pre-flight against the venues (LT-003:
reachable, keys, permissions, symbols tradable, balances sufficient for the planned entry).

A live CEX run (btc_basis, eth_basis) starts from capital already on the venues, in the amounts
`entry_plan` asks for, and never touches the on-chain wallet. A mode with an on-chain leg also
passes the on-chain venue's pre-flight (`venues/live/chain_build.py`: the RPC, the chain id,
the account owned by the key, the contracts, the reserves and e-mode), and its hedge venues,
if any, a pre-flight for the margin of its shorts (`margin_plan`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import ccxt

from basis_strategy.config.loader import RunConfig
from basis_strategy.config.venues import CexVenue
from basis_strategy.core.secrets import Credentials
from basis_strategy.live.clients import venue_clients
from basis_strategy.live.preflight import (
    Check,
    LiveRefusedError,
    PreflightPlan,
    require_credentials,
    require_live_enabled,
    require_preflight,
)
from basis_strategy.venues.live.chain_build import LiveChain, build_live_chain

CEX_ONLY_MODES = ("btc_basis", "eth_basis")  # everything they hold is on a venue


@dataclass(frozen=True)
class LiveAccess:
    """What the gates let through: the credentials, one client per venue, the checks, and
    the on-chain side of a mode that has one."""

    credentials: Credentials
    clients: dict[str, ccxt.Exchange]
    checks: list[Check]
    chain: LiveChain | None = None


def entry_plan(config: RunConfig) -> PreflightPlan:
    """The perps per venue and the free USDT each venue must hold for the entry (domain 9.2):
    with equity E and margin target m*, spot E/(1+m*) on the spot venue and margin
    m* × spot split by the hedge allocation."""
    hedge = config.mode.hedge
    if hedge is None or hedge.margin_ratio_target is None:
        raise LiveRefusedError("LT-003", "pre-flight", f"{config.mode.mode} has no CEX entry")
    equity = config.mode.initial_capital * (1.0 - config.mode.reserve_ratio)
    spot = equity / (1.0 + hedge.margin_ratio_target)
    margin = hedge.margin_ratio_target * spot
    symbol = f"{config.mode.asset}USDT"
    symbols: dict[str, list[str]] = {}
    required: dict[str, float] = {}
    for venue in hedge.venues:
        cex = config.venues[venue]
        if not isinstance(cex, CexVenue) or symbol not in cex.perp_symbols:
            raise LiveRefusedError("LT-003", "pre-flight", f"{venue} does not list {symbol}")
        symbols[venue] = [symbol]
        required[venue] = margin * hedge.allocation[venue]
    required[hedge.spot_venue] = required.get(hedge.spot_venue, 0.0) + spot
    return PreflightPlan(symbols, required)


def margin_plan(config: RunConfig) -> PreflightPlan:
    """A hedged mode's CEX part (its long leg is on chain): each venue's perp and the margin
    of its short, m* × L by allocation, with L = E / (1 + m*) bought on chain."""
    hedge = config.mode.hedge
    assert hedge is not None
    equity = config.mode.initial_capital * (1.0 - config.mode.reserve_ratio)
    margin = hedge.target * equity / (1.0 + hedge.target)
    symbol = f"{config.mode.asset}USDT"
    symbols: dict[str, list[str]] = {str(venue): [symbol] for venue in hedge.venues}
    required = {str(venue): margin * hedge.allocation[venue] for venue in hedge.venues}
    return PreflightPlan(symbols, required)


def go_live(
    config: RunConfig,
    enabled_flag: bool,
    env: Mapping[str, str],
    base_urls: Mapping[str, str] | None = None,
) -> LiveAccess:
    """Every gate, in order (module doc); LiveRefusedError (exit 2) at the first that fails."""
    require_live_enabled(enabled_flag, env)
    hedge = config.mode.hedge
    venues = tuple(hedge.venues) if hedge is not None else ()
    credentials = require_credentials(venues, wallet=False, env=env)
    on_chain = config.mode.mode not in CEX_ONLY_MODES
    chain = build_live_chain(config, env) if on_chain else None
    if not venues:  # everything on chain (eth_leveraged, pure_lending, ...)
        return LiveAccess(credentials, {}, [], chain)
    clients = venue_clients(credentials, base_urls)
    checks = require_preflight(clients, margin_plan(config) if on_chain else entry_plan(config))
    return LiveAccess(credentials, clients, checks, chain)
