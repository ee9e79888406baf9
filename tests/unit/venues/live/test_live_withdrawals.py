"""Live transfers between venues (issue 13 scope 5): LiveCex withdraws through ccxt's real
client to the Binance, Bybit and OKX fakes, and the destination sees the deposit through the
shared `TransferNetwork` after its latency.

Why: a withdrawal is money leaving the account; it must be sent once, to an approved address,
booked with its fee, and its deposit credited once, late or never. Each test checks both sides:
what the fakes hold (withdrawals really made, balances) and what the live store recorded.
Every venue is a source once: binance -> okx, okx -> bybit, bybit -> binance.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import pytest
from tests.fakes.binance_capital import BinanceCapitalFake
from tests.fakes.binance_usdm import BinanceUsdmFake
from tests.fakes.bybit_v5 import BybitV5Fake, bybit_client
from tests.fakes.ccxt_client import binance_client, route_sapi_to
from tests.fakes.cex_state import Fault, FaultKind
from tests.fakes.http_fake import FakeServer
from tests.fakes.okx_v5 import OkxV5Fake, okx_client
from tests.fakes.sleeps import Sleeps
from tests.fakes.transfer_network import DepositFault, FeeMode, TransferNetwork, VenueWallet
from tests.unit.venues.venue_book import COSTS_ON, cex_config, market, seed

from basis_strategy.core.instructions import Transfer
from basis_strategy.live.store import LiveStore, TransferState
from basis_strategy.venues.interface import ExecutionRejected
from basis_strategy.venues.live.cex import LiveCex
from basis_strategy.venues.live.withdrawals import (
    TransferRoutes,
    TransferUnresolvedError,
    WithdrawalAddress,
)
from basis_strategy.venues.simulated.cex import SimulatedCex

STRATEGY = "live-transfers-1"
MARKET = market()
LATENCY_S, BROADCAST_S = 1800.0, 60.0
FEE = 1.0  # config/venues: withdrawal_fee USDT = 1.0 on all three; the fakes charge the same
ADDRESSES = {
    "binance": "0x1b1a2c3d4e5f60718293a4b5c6d7e8f901234567",
    "bybit": "0x2b2a2c3d4e5f60718293a4b5c6d7e8f901234567",
    "okx": "0x3c3a2c3d4e5f60718293a4b5c6d7e8f901234567",
}
WITHDRAW = {
    "binance": "POST /sapi/v1/capital/withdraw/apply",
    "bybit": "POST /v5/asset/withdraw/create",
    "okx": "POST /api/v5/asset/withdrawal",
}
PAIRS = [("binance", "okx"), ("okx", "bybit"), ("bybit", "binance")]


@dataclass
class World:
    """Three venue fakes on one transfer network, and a LiveCex on each."""

    network: TransferNetwork
    servers: dict[str, FakeServer]  # the server answering each venue's wallet endpoints
    wallets: dict[str, VenueWallet]
    clients: dict[str, Any]
    store: LiveStore
    sleeps: Sleeps
    venues: dict[str, LiveCex]

    def live(self, name: str, routes: TransferRoutes | None = None) -> LiveCex:
        """A LiveCex on venue `name` (replacing the one built before)."""
        venue = LiveCex(cex_config(name), self.clients[name], self.store, STRATEGY,
                        sleep=self.sleeps, clock=self.network.clock.now,
                        transfer_routes=routes or self.routes())  # fmt: skip
        self.venues[name] = venue
        return venue

    def routes(self, **changes: Any) -> TransferRoutes:
        """Every venue's ERC20 address allow-listed and checked against the destination's own
        deposit address; txids from the sources' withdrawal histories."""
        routes = TransferRoutes(
            addresses={(name, "USDT"): WithdrawalAddress(address, "ERC20")
                       for name, address in ADDRESSES.items()},
            deposit_address_of={name: self._deposit_address(name) for name in ADDRESSES},
            txid_of={name: self._txid(name) for name in ADDRESSES},
            poll_interval_s=0.0,
        )  # fmt: skip
        return replace(routes, **changes)

    def _deposit_address(self, name: str) -> Callable[[str, str], str]:
        return lambda asset, network: self.venues[name].deposit_address(asset, network)

    def _txid(self, name: str) -> Any:
        def txid(record: Any) -> str | None:
            transfers = self.venues[name].transfers
            assert transfers is not None
            return transfers.txid(record)

        return txid

    def withdraw_calls(self, name: str) -> int:
        return self.servers[name].paths_called().count(WITHDRAW[name])

    def balance(self, name: str) -> Decimal:
        return self.wallets[name].state.wallet_balance_quote


@pytest.fixture
def world(store: LiveStore) -> Iterator[World]:
    network = TransferNetwork(latency_s=LATENCY_S, broadcast_s=BROADCAST_S)
    with ExitStack() as stack:
        futures = stack.enter_context(BinanceUsdmFake())
        capital = stack.enter_context(BinanceCapitalFake(futures.state))
        bybit = stack.enter_context(BybitV5Fake())
        okx = stack.enter_context(OkxV5Fake())
        servers: dict[str, FakeServer] = {"binance": capital, "bybit": bybit, "okx": okx}
        wallets = {
            name: network.register(name, server, {("USDT", "ERC20"): ADDRESSES[name]},
                                   Decimal(1), FeeMode.ON_TOP if name == "okx" else FeeMode.INSIDE)
            for name, server in servers.items()
        }  # fmt: skip
        binance = binance_client(futures)
        route_sapi_to(binance, capital.base_url)  # the wallet host
        okx_live = okx_client(okx)
        okx_live.has["fetchCurrencies"] = True  # OKX names deposit networks from currencies
        clients = {"binance": binance, "bybit": bybit_client(bybit), "okx": okx_live}
        built = World(network, servers, wallets, clients, store, Sleeps(), {})
        for name in ADDRESSES:
            built.live(name)
        yield built
        for client in clients.values():
            client.session.close()


def transfer(source: str, destination: str, amount: float = 500.0) -> Transfer:
    return Transfer(venue=source, action="flow", trigger="rebalance", destination=destination,
                    asset="USDT", amount=amount)  # fmt: skip


def later(world: World, seconds: float) -> None:
    world.network.clock.advance(seconds)


# -- the withdrawal ---------------------------------------------------------------------------


@pytest.mark.parametrize(("source", "destination"), PAIRS)
def test_withdrawal_books_the_fee_like_the_simulated_venue_and_returns_a_ticket(
    world: World, source: str, destination: str
) -> None:
    venue = world.venues[source]
    stored_at_send: list[TransferState] = []
    withdraw = venue.client.withdraw

    def spy(*args: Any, **kwargs: Any) -> Any:
        stored_at_send.extend(r.state for r in world.store.transfers(STRATEGY))
        return withdraw(*args, **kwargs)

    venue.client.withdraw = spy  # type: ignore[method-assign]
    result = venue.execute(transfer(source, destination), MARKET)

    simulated = SimulatedCex(cex_config(source), COSTS_ON)
    seed(simulated.ledger, {f"{source}:BaseToken:USDT": 10_000.0})
    assert result.legs == simulated.execute(transfer(source, destination), MARKET).legs
    assert stored_at_send == [TransferState.INTENDED]  # the intent was on disk first
    (made,) = world.wallets[source].withdrawals
    ticket = result.ticket
    assert ticket is not None
    assert (ticket.transfer_id, ticket.source, ticket.destination, ticket.asset) == (
        made.withdrawal_id, source, destination, "USDT")  # fmt: skip
    assert ticket.amount == 500.0 - FEE
    assert ticket.sent_at == world.network.clock.now()
    assert made.address == ADDRESSES[destination] and made.network == "ERC20"
    assert made.amount + made.fee == Decimal(500)  # 500 left the account, 499 on its way
    assert world.balance(source) == Decimal(9_500)
    (record,) = world.store.transfers(STRATEGY)
    assert (record.state, record.withdrawal_id, record.fee) == (
        TransferState.SENT, made.withdrawal_id, FEE)  # fmt: skip
    assert made.client_ref == record.reference  # the venue holds our reference
    assert venue.positions()[f"{source}:BaseToken:USDT"] == -500.0


# -- the deposit ------------------------------------------------------------------------------


@pytest.mark.parametrize(("source", "destination"), PAIRS)
def test_deposit_arrives_after_the_latency_not_before_and_is_counted_once(
    world: World, source: str, destination: str
) -> None:
    ticket = world.venues[source].execute(transfer(source, destination), MARKET).ticket
    assert ticket is not None
    receiver = world.venues[destination]
    assert receiver.arrived(ticket, MARKET) is None  # not even broadcast
    later(world, BROADCAST_S + 1)
    assert receiver.arrived(ticket, MARKET) is None  # pending on the destination
    assert world.balance(destination) == Decimal(10_000)
    later(world, LATENCY_S - BROADCAST_S)
    arrival = receiver.arrived(ticket, MARKET)
    assert arrival is not None
    assert (arrival.ticket, arrival.amount) == (ticket, 500.0 - FEE)
    assert arrival.credited_at == world.network.clock.now()
    assert world.balance(destination) == Decimal(10_000) + Decimal(499)
    # asked again (an engine restored from an older checkpoint): the same answer, the same
    # deposit, and the venue's view counts it once
    assert receiver.arrived(ticket, MARKET) == arrival
    later(world, 3600)
    assert receiver.arrived(ticket, MARKET) == arrival
    (record,) = world.store.transfers(STRATEGY)
    (deposit,) = world.network.deposits
    assert (record.state, record.deposit_id) == (TransferState.ARRIVED, deposit.deposit_id)
    assert record.txid == deposit.txid  # matched by the source's txid
    assert receiver.positions()[f"{destination}:BaseToken:USDT"] == 499.0


@pytest.mark.parametrize(("source", "destination"), PAIRS)
def test_a_lost_deposit_never_arrives(world: World, source: str, destination: str) -> None:
    world.network.fault_next_deposit(DepositFault.LOST)
    ticket = world.venues[source].execute(transfer(source, destination), MARKET).ticket
    assert ticket is not None
    for _ in range(4):
        later(world, 86_400 / 4)
        assert world.venues[destination].arrived(ticket, MARKET) is None
    (record,) = world.store.transfers(STRATEGY)
    assert record.state is TransferState.SENT  # still in flight: the engine's alert decides
    assert world.balance(destination) == Decimal(10_000)


@pytest.mark.parametrize(("source", "destination"), PAIRS)
def test_a_delayed_deposit_arrives_late(world: World, source: str, destination: str) -> None:
    world.network.fault_next_deposit(DepositFault.DELAYED, extra_s=7_200)
    ticket = world.venues[source].execute(transfer(source, destination), MARKET).ticket
    assert ticket is not None
    later(world, LATENCY_S + 60)
    assert world.venues[destination].arrived(ticket, MARKET) is None
    later(world, 7_200)
    arrival = world.venues[destination].arrived(ticket, MARKET)
    assert arrival is not None and arrival.amount == 500.0 - FEE


@pytest.mark.parametrize(("source", "destination"), PAIRS)
def test_two_equal_transfers_matched_by_amount_settle_two_different_deposits(
    world: World, source: str, destination: str
) -> None:
    """Without the source's txids the match is by amount and time: never one deposit twice."""
    routes = world.routes(txid_of={})
    sender, receiver = world.live(source, routes), world.live(destination, routes)
    first = sender.execute(transfer(source, destination), MARKET).ticket
    later(world, 60)
    second = sender.execute(transfer(source, destination), MARKET).ticket
    assert first is not None and second is not None and first != second
    later(world, LATENCY_S + 60)
    arrivals = [receiver.arrived(first, MARKET), receiver.arrived(second, MARKET)]
    assert all(a is not None and a.amount == 499.0 for a in arrivals)
    ids = {r.deposit_id for r in world.store.transfers(STRATEGY)}
    assert ids == {d.deposit_id for d in world.network.deposits} and len(ids) == 2


# -- money leaves once ------------------------------------------------------------------------


@pytest.mark.parametrize(("source", "destination"), PAIRS)
@pytest.mark.parametrize("status", [None, 502])
def test_a_lost_withdraw_answer_is_found_by_reference_and_never_sent_twice(
    world: World, source: str, destination: str, status: int | None
) -> None:
    world.wallets[source].state.inject(Fault(WITHDRAW[source], FaultKind.LOSE_RESPONSE,
                                             status=status))  # fmt: skip
    result = world.venues[source].execute(transfer(source, destination), MARKET)
    (made,) = world.wallets[source].withdrawals
    assert world.withdraw_calls(source) == 1
    assert result.ticket is not None and result.ticket.transfer_id == made.withdrawal_id
    (record,) = world.store.transfers(STRATEGY)
    assert record.state is TransferState.SENT and record.withdrawal_id == made.withdrawal_id
    assert world.balance(source) == Decimal(9_500)


@pytest.mark.parametrize(("source", "destination"), PAIRS)
def test_a_lost_answer_is_not_mistaken_for_an_earlier_equal_withdrawal(
    world: World, source: str, destination: str
) -> None:
    """Bybit's history has no reference: rows another transfer claims are not candidates."""
    first = world.venues[source].execute(transfer(source, destination), MARKET).ticket
    later(world, 120)
    world.wallets[source].state.inject(Fault(WITHDRAW[source], FaultKind.LOSE_RESPONSE))
    second = world.venues[source].execute(transfer(source, destination), MARKET).ticket
    made = world.wallets[source].withdrawals
    assert world.withdraw_calls(source) == 2 and len(made) == 2
    assert first is not None and second is not None
    assert [first.transfer_id, second.transfer_id] == [m.withdrawal_id for m in made]
    later(world, LATENCY_S)
    arrived = [world.venues[destination].arrived(t, MARKET) for t in (first, second)]
    assert all(a is not None for a in arrived)


@pytest.mark.parametrize(("source", "destination"), PAIRS)
def test_a_withdrawal_never_found_stays_ambiguous_and_is_not_resent(
    world: World, source: str, destination: str
) -> None:
    """A 503 before the venue did anything: the history never shows it; it is not resent,
    not by this execute nor by the next one of the same transfer."""
    world.wallets[source].state.inject(Fault(WITHDRAW[source], FaultKind.HTTP_ERROR, status=503))
    with pytest.raises(TransferUnresolvedError, match="never resent"):
        world.venues[source].execute(transfer(source, destination), MARKET)
    with pytest.raises(TransferUnresolvedError):
        world.venues[source].execute(transfer(source, destination), MARKET)
    assert world.withdraw_calls(source) == 1
    assert world.wallets[source].withdrawals == []
    (record,) = world.store.transfers(STRATEGY)
    assert record.state is TransferState.AMBIGUOUS
    assert world.balance(source) == Decimal(10_000)


@pytest.mark.parametrize(("source", "destination"), PAIRS)
def test_a_restart_adopts_the_withdrawal_whose_answer_was_lost(
    world: World, source: str, destination: str
) -> None:
    """The first process loses the answer and gives up before querying (it crashed); the next
    one, running the same transfer, finds the withdrawal by its reference instead of sending."""
    world.wallets[source].state.inject(Fault(WITHDRAW[source], FaultKind.LOSE_RESPONSE))
    crashed = world.live(source, world.routes(max_queries=0))
    with pytest.raises(TransferUnresolvedError):
        crashed.execute(transfer(source, destination), MARKET)
    assert world.store.transfers(STRATEGY)[0].state is TransferState.AMBIGUOUS
    restarted = world.live(source)
    result = restarted.execute(transfer(source, destination), MARKET)
    (made,) = world.wallets[source].withdrawals
    assert world.withdraw_calls(source) == 1
    assert result.ticket is not None and result.ticket.transfer_id == made.withdrawal_id
    assert [leg.amount for leg in result.legs] == [-500.0]
    assert restarted.transfers is not None and restarted.transfers.open_transfers() == []


# -- refusals before anything is sent ---------------------------------------------------------


@pytest.mark.parametrize(("source", "destination"), PAIRS)
def test_an_address_not_on_the_allow_list_is_refused_before_anything_is_sent(
    world: World, source: str, destination: str
) -> None:
    routes = world.routes()
    allowed = {k: v for k, v in routes.addresses.items() if k[0] != destination}
    venue = world.live(source, replace(routes, addresses=allowed))
    with pytest.raises(ExecutionRejected, match="no allow-listed USDT address"):
        venue.execute(transfer(source, destination), MARKET)
    assert world.withdraw_calls(source) == 0 and world.store.transfers(STRATEGY) == []


@pytest.mark.parametrize(("source", "destination"), PAIRS)
def test_an_allow_listed_address_that_is_not_the_destinations_is_refused(
    world: World, source: str, destination: str
) -> None:
    routes = world.routes()
    wrong = {**routes.addresses, (destination, "USDT"): WithdrawalAddress("0xdead", "ERC20")}
    venue = world.live(source, replace(routes, addresses=wrong))
    with pytest.raises(ExecutionRejected, match=r"is not .* deposit address"):
        venue.execute(transfer(source, destination), MARKET)
    assert world.withdraw_calls(source) == 0 and world.store.transfers(STRATEGY) == []


@pytest.mark.parametrize(("source", "destination"), PAIRS)
@pytest.mark.parametrize("amount", [FEE, 0.5, 0.0])
def test_an_amount_that_does_not_cover_the_fee_is_refused(
    world: World, source: str, destination: str, amount: float
) -> None:
    with pytest.raises(ExecutionRejected):
        world.venues[source].execute(transfer(source, destination, amount), MARKET)
    assert world.withdraw_calls(source) == 0 and world.store.transfers(STRATEGY) == []


@pytest.mark.parametrize(("source", "destination"), PAIRS)
def test_a_venue_refusal_is_rejected_and_nothing_leaves(
    world: World, source: str, destination: str
) -> None:
    with pytest.raises(ExecutionRejected, match="refused: InsufficientFunds"):
        world.venues[source].execute(transfer(source, destination, 50_000.0), MARKET)
    (record,) = world.store.transfers(STRATEGY)
    assert record.state is TransferState.REJECTED
    assert world.balance(source) == Decimal(10_000) and world.wallets[source].withdrawals == []
    assert world.venues[source].positions()[f"{source}:BaseToken:USDT"] == 0.0
