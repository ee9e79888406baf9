"""The engine's venues for a live CEX run of btc_basis / eth_basis (issue 13), as
`venues/simulated/build.py` builds a backtest's.

What a live CEX run does about the on-chain wallet (it has no live implementation yet): it does
not touch it. The run starts from capital ALREADY on the venues, as the pre-flight's
`PreflightPlan.required_usdt` asks (`live/go_live.entry_plan`):

- each venue's USDT balance is adopted as its opening balance (`LiveAccount`), and the run's
  initial deposit is booked as a deposit of that balance at each venue (`Basis.receive`
  after `start_on_venues`): the fund's shares are issued for what the venues hold;
- no gas ETH is bought (nothing runs on chain), the entry spends the cash where it lies and
  transfers nothing (`Basis._deploy_on_venues`);
- margin moves between venues are live withdrawals and deposits (transfer routes), in flight
  in the book until credited;
- an exit (`StrategyManager.flatten`) closes every position and leaves the cash on the
  venues; there is no wallet to bring it to;
- scheduled deposits and withdrawals need the wallet: refused at build (ConfigError).

`live_cex_engine` builds the engine on these venues and tells its strategy so;
`live_cex_venues` builds the venues of a session from the environment: the credentials, one
ccxt client per venue plus the spot venue's spot client, and the operator's withdrawal
allow-list (`ALLOW_LIST_ENV`; without it every withdrawal is refused).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import ccxt

from basis_strategy.components.in_flight import ALERT_AFTER
from basis_strategy.config.loader import RunConfig
from basis_strategy.config.venues import CexVenue
from basis_strategy.core.errors import ConfigError, OperationalError
from basis_strategy.data.provider import HistoricalDataProvider
from basis_strategy.engine import EventDrivenStrategyEngine
from basis_strategy.live.clients import spot_client, venue_clients
from basis_strategy.live.go_live import entry_plan
from basis_strategy.live.preflight import require_credentials
from basis_strategy.live.store import LiveStore
from basis_strategy.strategies.basis import Basis
from basis_strategy.venues.interface import VenueInterface
from basis_strategy.venues.live.account import LiveAccount
from basis_strategy.venues.live.cex import LiveCexSettings
from basis_strategy.venues.live.withdrawals import TransferRoutes, WithdrawalAddress

ALLOW_LIST_ENV = "BASIS_WITHDRAWAL_ALLOW_LIST"  # "bybit:USDT:ERC20:0xabc...,okx:USDT:..."


def cex_venues(config: RunConfig) -> tuple[str, ...]:
    """The hedge venues and the spot venue, in the config's order."""
    hedge = config.mode.hedge
    if hedge is None:
        raise ConfigError("hedge", f"a live CEX run needs hedge venues ({config.mode.mode})")
    return tuple(dict.fromkeys((*hedge.venues, hedge.spot_venue)))


def required_usdt(config: RunConfig) -> dict[str, float]:
    """USDT each venue must hold before the run: the pre-flight's `required_usdt`
    (`live/go_live.entry_plan`: the basis split of the capital, the long leg's cash at the
    spot venue), so the entry finds its cash where it spends it."""
    return dict(entry_plan(config).required_usdt)


def build_live_venues(
    config: RunConfig,
    clients: Mapping[str, Any],
    store: LiveStore,
    strategy_id: str,
    *,
    spot_client: Any = None,
    transfer_routes: TransferRoutes | None = None,
    settings: LiveCexSettings | None = None,
    sleep: Callable[[float], None] | None = None,
    clock: Callable[[], datetime] | None = None,
    adopt_balances: bool = True,
) -> dict[str, VenueInterface]:
    """A prepared `LiveAccount` per CEX venue of the mode (ccxt client from `clients`; the
    spot client only on `hedge.spot_venue`; the transfer routes on every venue if given),
    each reconciled with the mode's `reconciliation_tolerance`. `adopt_balances`: read each
    account's USDT as its opening balance (a fresh run; `LiveAccount.adopt_opening_balance`)."""
    hedge = config.mode.hedge
    names = cex_venues(config)
    assert hedge is not None
    if config.mode.flows.schedule:
        raise ConfigError(
            "flows.schedule",
            "a live CEX run has no on-chain wallet to take deposits or pay withdrawals: "
            "leave it empty",
        )
    missing = [name for name in names if name not in clients]
    if missing:
        raise ConfigError("venues", f"no ccxt client for {missing}")
    optional: dict[str, Any] = {}
    if sleep is not None:
        optional["sleep"] = sleep
    if clock is not None:
        optional["clock"] = clock
    venues: dict[str, VenueInterface] = {}
    for name in names:
        venue_config = config.venues[name]
        if not isinstance(venue_config, CexVenue):
            raise ConfigError("venues", f"{name} is not a CEX venue")
        account = LiveAccount(
            venue_config, clients[name], store, strategy_id,
            settings=settings, tolerance=config.mode.reconciliation_tolerance,
            spot_client=spot_client if name == hedge.spot_venue else None,
            transfer_routes=transfer_routes, **optional,
        )  # fmt: skip
        account.prepare()
        if adopt_balances:
            account.adopt_opening_balance()
        venues[name] = account
    return venues


def opening_usdt(venues: Mapping[str, VenueInterface]) -> dict[str, float]:
    """Each live account's adopted opening balance."""
    return {n: v.opening_usdt for n, v in venues.items() if isinstance(v, LiveAccount)}


def live_cex_engine(
    config: RunConfig,
    data: HistoricalDataProvider,
    venues: dict[str, VenueInterface],
    transfer_alert_after: timedelta = ALERT_AFTER,
) -> EventDrivenStrategyEngine:
    """The engine on live venues, its strategy starting from the capital on them."""
    engine = EventDrivenStrategyEngine(config, data, venues, transfer_alert_after)
    strategy = engine.parts.strategy
    if not isinstance(strategy, Basis):
        raise ConfigError("mode", f"{config.mode.mode} cannot run live on CEX venues only")
    strategy.start_on_venues(opening_usdt(venues))
    return engine


def allow_list(env: Mapping[str, str]) -> dict[tuple[str, str], WithdrawalAddress]:
    """The operator's withdrawal addresses from `ALLOW_LIST_ENV`: comma-separated
    `destination:ASSET:NETWORK:address[:tag]` (network in ccxt's unified code, ERC20...)."""
    found: dict[tuple[str, str], WithdrawalAddress] = {}
    for entry in filter(None, (e.strip() for e in env.get(ALLOW_LIST_ENV, "").split(","))):
        parts = entry.split(":")
        if len(parts) not in (4, 5) or not all(parts[:4]):
            raise ConfigError(ALLOW_LIST_ENV, f"{entry!r} is not destination:ASSET:NETWORK:"
                              "address[:tag]")  # fmt: skip
        destination, asset, network, address = parts[:4]
        if (destination, asset) in found:
            raise ConfigError(ALLOW_LIST_ENV, f"two addresses for {asset} to {destination}")
        tag = parts[4] if len(parts) == 5 else None
        found[(destination, asset)] = WithdrawalAddress(address, network, tag)
    return found


def live_cex_venues(
    config: RunConfig,
    env: Mapping[str, str],
    base_urls: Mapping[str, str],
    store: LiveStore,
    strategy_id: str,
) -> dict[str, VenueInterface]:
    """The session's live CEX accounts (module doc), prepared, their opening balances
    adopted or, on a restart, read back from the store."""
    names = cex_venues(config)
    hedge = config.mode.hedge
    assert hedge is not None
    credentials = require_credentials(names, env=env)
    clients = venue_clients(credentials, base_urls)
    spot = spot_client(credentials, hedge.spot_venue, base_urls.get(hedge.spot_venue))
    venues: dict[str, VenueInterface] = {}
    addresses = allow_list(env)
    routes = None
    if addresses:
        routes = TransferRoutes(
            addresses,
            deposit_address_of={n: _deposit_address(venues, n) for n in names},
            txid_of={n: _txid(venues, n) for n in names},
        )
        if "okx" in clients:  # OKX names a withdrawal's network from its currencies
            clients["okx"].has["fetchCurrencies"] = True
    try:
        venues.update(build_live_venues(config, clients, store, strategy_id, spot_client=spot,
                                        transfer_routes=routes))  # fmt: skip
    except ccxt.BaseError as error:  # one line, no traceback: the venue's own words
        reason = " ".join(str(error).split())[:300]
        raise OperationalError(f"live venues of {strategy_id}: {type(error).__name__}: "
                               f"{reason}") from None  # fmt: skip
    return venues


def _deposit_address(venues: Mapping[str, VenueInterface], name: str) -> Any:
    return lambda asset, network: venues[name].deposit_address(asset, network)  # type: ignore[attr-defined]


def _txid(venues: Mapping[str, VenueInterface], name: str) -> Any:
    return lambda record: venues[name].transfers.txid(record)  # type: ignore[attr-defined]
