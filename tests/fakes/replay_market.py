"""A replayed day on the three venue fakes (issue 13): the Binance (USDⓈ-M, spot, capital),
Bybit and OKX fakes on one transfer network and one manual clock, driven hour by hour by the
same `MarketState` the engine gets from the historical provider.

Why: a live run end to end needs venues whose prices and funding are a real day's, or its P&L
cannot be compared with the paper run of that day. Before each cycle at replayed hour t,
`ReplayMarket.apply(market)`:
- moves the clock to t (the fakes stamp fills, funding and transfers with it; deposits in
  flight are credited once their latency has passed);
- sets each fake's perp mark to the hour's `perp:{venue}:{BASE}USDT` and the Binance spot
  price to the hour's reference price `price:{BASE}`: fills happen there (the fakes have no
  spread or depth), so the live run's execution costs are only the fakes' fees;
- at a funding hour, makes each fake settle funding on its open position at the historical
  rate and the hour's mark (`CexAccountState.settle_funding`: -size × mark × rate, the
  simulated venue's formula), so `LiveCex.settle` books it from the venue's funding history.
  What each fake paid is kept in `paid_usdt`, to compare with what the book received.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.fakes.binance_capital import BinanceCapitalFake
from tests.fakes.binance_spot import BinanceSpotFake
from tests.fakes.binance_usdm import BinanceUsdmFake
from tests.fakes.bybit_v5 import BybitV5Fake, bybit_client
from tests.fakes.ccxt_client import binance_client, binance_spot_client, route_sapi_to
from tests.fakes.cex_state import CexAccountState, SpotWallet
from tests.fakes.http_fake import FakeServer
from tests.fakes.okx_v5 import OkxV5Fake, okx_client
from tests.fakes.transfer_network import FeeMode, ManualClock, TransferNetwork

from basis_strategy.config.loader import RunConfig
from basis_strategy.data.market import MarketState
from basis_strategy.data.provider import HistoricalDataProvider
from basis_strategy.data.store import FolderData
from basis_strategy.engine import Decide, EventDrivenStrategyEngine
from basis_strategy.live.store import LiveStore
from basis_strategy.venues.live.account import confirm_all
from basis_strategy.venues.live.build import build_live_venues, live_cex_engine, required_usdt
from basis_strategy.venues.live.cex import LiveCexSettings
from basis_strategy.venues.live.withdrawals import TransferRoutes, WithdrawalAddress

ADDRESSES = {
    "binance": "0x1b1a2c3d4e5f60718293a4b5c6d7e8f901234567",
    "bybit": "0x2b2a2c3d4e5f60718293a4b5c6d7e8f901234567",
    "okx": "0x3c3a2c3d4e5f60718293a4b5c6d7e8f901234567",
}
WITHDRAWAL_FEE_USDT = Decimal(1)  # as configs/venues/*.yaml withdrawal_fee USDT


def perp_symbol(venue: str, base: str) -> str:
    """The fake's own name of the linear perp (OKX spells it BTC-USDT-SWAP)."""
    return f"{base}-USDT-SWAP" if venue == "okx" else f"{base}USDT"


PRICE_TICK = Decimal("0.01")  # venues quote on a tick: a price with more digits would be
# booked by the fake at full precision but reported rounded on the wire


def _decimal(value: float) -> Decimal:
    return Decimal(repr(value))


def _price(value: float) -> Decimal:
    return _decimal(value).quantize(PRICE_TICK)


@dataclass
class VenueFakes:
    """The three venues' fakes, their accounts and ccxt clients, on one clock."""

    clock: ManualClock
    network: TransferNetwork
    states: dict[str, CexAccountState]
    spot: SpotWallet
    servers: dict[str, FakeServer]  # the server answering each venue's wallet endpoints
    clients: dict[str, Any]
    spot_client: Any
    venues: dict[str, Any] = field(default_factory=dict)  # set once the live venues exist

    def routes(self) -> TransferRoutes:
        """Every venue's USDT ERC20 address allow-listed, checked against the destination's
        own deposit address; txids from the sources' withdrawal histories."""
        return TransferRoutes(
            addresses={(n, "USDT"): WithdrawalAddress(a, "ERC20") for n, a in ADDRESSES.items()},
            deposit_address_of={n: self._deposit_address(n) for n in ADDRESSES},
            txid_of={n: self._txid(n) for n in ADDRESSES},
            poll_interval_s=0.0,
        )

    def _deposit_address(self, name: str) -> Any:
        return lambda asset, network: self.venues[name].deposit_address(asset, network)

    def _txid(self, name: str) -> Any:
        return lambda record: self.venues[name].transfers.txid(record)

    def usdt(self, venue: str) -> Decimal:
        """The account's USDT (both wallets on Binance)."""
        spot = self.spot.balance("USDT") if venue == "binance" else Decimal(0)
        return self.states[venue].wallet_balance_quote + spot

    def close(self) -> None:
        for client in (*self.clients.values(), self.spot_client):
            client.session.close()


@contextmanager
def venue_fakes(
    capital_usdt: dict[str, float], start: datetime, latency_s: float = 1800.0
) -> Iterator[VenueFakes]:
    """The three fakes funded with `capital_usdt` (Binance: in the futures wallet), the
    clock at `start`, transfers taking `latency_s`."""
    clock = ManualClock(int(start.timestamp() * 1000))
    network = TransferNetwork(clock, latency_s=latency_s, broadcast_s=60.0)
    with ExitStack() as stack:
        futures = stack.enter_context(BinanceUsdmFake())
        spot = stack.enter_context(BinanceSpotFake(futures.state))
        capital = stack.enter_context(BinanceCapitalFake(futures.state))
        bybit = stack.enter_context(BybitV5Fake())
        okx = stack.enter_context(OkxV5Fake())
        states = {"binance": futures.state, "bybit": bybit.state, "okx": okx.state}
        for name, state in states.items():
            state.clock_ms = clock
            state.wallet_balance_quote = _decimal(capital_usdt.get(name, 0.0))
        servers: dict[str, FakeServer] = {"binance": capital, "bybit": bybit, "okx": okx}
        for name, server in servers.items():
            fee_mode = FeeMode.ON_TOP if name == "okx" else FeeMode.INSIDE
            address = {("USDT", "ERC20"): ADDRESSES[name]}
            network.register(name, server, address, WITHDRAWAL_FEE_USDT, fee_mode)
        binance = binance_client(futures)
        route_sapi_to(binance, capital.base_url)  # the wallet host
        okx_live = okx_client(okx)
        okx_live.has["fetchCurrencies"] = True  # OKX names deposit networks from currencies
        clients = {"binance": binance, "bybit": bybit_client(bybit), "okx": okx_live}
        fakes = VenueFakes(clock, network, states, spot.spot, servers, clients,
                           binance_spot_client(spot))  # fmt: skip
        try:
            yield fakes
        finally:
            fakes.close()


class ReplayMarket:
    """Sets the fakes to each replayed hour (module doc)."""

    def __init__(self, fakes: VenueFakes, base: str) -> None:
        self.fakes, self.base = fakes, base
        self.paid_usdt: dict[str, Decimal] = {name: Decimal(0) for name in fakes.states}
        self.settlements = 0

    def apply(self, market: MarketState) -> None:
        """Clock, marks, spot price and the hour's funding settlements, in that order."""
        clock = self.fakes.clock
        ahead_s = (market.t - clock.now()).total_seconds()
        if ahead_s > 0:
            clock.advance(ahead_s)
        for venue, state in self.fakes.states.items():
            mark = market.values[f"perp:{venue}:{self.base}USDT"]
            state.set_mark_price(perp_symbol(venue, self.base), _price(mark))
        spot = self.fakes.spot
        with spot.account._lock:  # the spot fake has no setter: its markets are plain data
            spot.markets[f"{self.base}USDT"].price = _price(market.usd(self.base))
        for funding in market.funding:
            state = self.fakes.states.get(funding.venue)
            if state is None or funding.base != self.base:
                continue
            symbol = perp_symbol(funding.venue, self.base)
            paid = state.settle_funding(symbol, _decimal(funding.rate_per_8h))
            if paid is not None:
                self.paid_usdt[funding.venue] += paid.amount_quote
                self.settlements += 1


@dataclass
class LiveDay:
    """A live engine on the three fakes, stepped through replayed hours (`step`)."""

    engine: EventDrivenStrategyEngine
    fakes: VenueFakes
    replay: ReplayMarket

    cycle_checks: int = 0  # venue reads of the cycles' closing checks

    def step(self, t: datetime, decide: Decide | None = None) -> MarketState:
        """One cycle at `t`: the hour's market (the provider's, as a replay source reads
        it), set on the fakes, the engine's step on it, then every venue read against the
        book (`confirm_all`)."""
        data = self.engine.data
        data.set_clock(t)
        market = data.get_data(t)
        self.replay.apply(market)
        market = self.engine.step(t, market, decide=decide)
        venues = self.engine.parts.execution.venues.venues
        self.cycle_checks += confirm_all(venues, self.engine.parts.positions.quantities)
        return market


@contextmanager
def live_day(
    config: RunConfig,
    data_dir: Path,
    store: LiveStore,
    strategy_id: str,
    sleep: Callable[[float], None],
    settings: LiveCexSettings | None = None,
    latency_s: float = 1800.0,
) -> Iterator[LiveDay]:
    """The fakes funded with the run's `required_usdt`, live venues on them (balances
    adopted) and the live engine, its clock at the run's start."""
    assert config.mode.asset is not None
    data = HistoricalDataProvider(config, FolderData(data_dir))
    with venue_fakes(required_usdt(config), config.mode.start, latency_s) as fakes:
        venues = build_live_venues(
            config, fakes.clients, store, strategy_id, spot_client=fakes.spot_client,
            transfer_routes=fakes.routes(), settings=settings, sleep=sleep,
            clock=fakes.clock.now,
        )  # fmt: skip
        fakes.venues = dict(venues)
        engine = live_cex_engine(config, data, venues, transfer_alert_after=timedelta(hours=6))
        yield LiveDay(engine, fakes, ReplayMarket(fakes, config.mode.asset))
