"""Transfers that take time (issue 13 scope 5): the engine books a ticketed transfer in flight
(valued in equity, on neither venue), books its arrival once at settle time, attributes a
credited amount that differs, alerts once on a late transfer and keeps it in flight."""

from __future__ import annotations

import json
import logging
import os
import pickle
from datetime import timedelta
from pathlib import Path

import pytest
from tests.unit.components.ticket_venues import (
    T0,
    Desk,
    TicketVenue,
    deposit,
    market_at,
    transfer,
)

from basis_strategy.components.execution import ExecutionManager
from basis_strategy.components.in_flight import InFlightBook
from basis_strategy.config.loader import load_run_config
from basis_strategy.core.errors import OperationalError
from basis_strategy.core.instructions import ExecutionResult, Instruction, Transfer
from basis_strategy.data.market import MarketState
from basis_strategy.data.provider import HistoricalDataProvider
from basis_strategy.engine import EventDrivenStrategyEngine
from basis_strategy.live import checkpoint
from basis_strategy.venues.transfers import TransferTicket

SOURCE_CASH = "binance:BaseToken:USDT"
DEST_CASH = "bybit:BaseToken:USDT"
IN_FLIGHT = "bybit:Pending:USDT"
FEE = 1.0
DATA_DIR = Path(
    os.environ.get("BASIS_DATA_DIR")
    or Path(__file__).resolve().parents[3].parent / "shared" / "data"
)


def funded(currency: str = "USDT", alert_after: timedelta = timedelta(hours=2)) -> Desk:
    """binance holds 10 000 USDT (hour 0); bybit holds nothing."""
    desk = Desk(
        [TicketVenue("binance", FEE), TicketVenue("bybit", FEE)], currency, alert_after=alert_after
    )
    desk.hour(market_at(0), deposit("binance", 10_000.0))
    return desk


def sent(desk: Desk, hour: int = 1, amount: float = 4_000.0, **values: float) -> TransferTicket:
    desk.hour(market_at(hour, **values), transfer("binance", "bybit", amount))
    (ticket,) = desk.in_flight.pending.values()
    return ticket


def test_sending_books_the_money_in_flight_on_neither_venue() -> None:
    desk = funded()
    equity_before = desk.equity(market_at(0))
    checks = desk.reconciliation.checks
    first = len(desk.logger.events)
    ticket = sent(desk)
    market = market_at(1)

    assert ticket.amount == 4_000.0 - FEE
    assert desk.positions.qty(SOURCE_CASH) == 6_000.0
    assert desk.positions.qty(IN_FLIGHT) == 4_000.0 - FEE
    assert desk.positions.qty(DEST_CASH) == 0.0
    # equity moves by the withdrawal fee only, booked as an execution cost
    assert desk.equity(market) == pytest.approx(equity_before - FEE, abs=1e-9)
    assert desk.hours[-1].components["execution_costs"] == pytest.approx(-FEE)
    # valued in equity, on no venue: not in any venue's margin, not in any venue's own view
    exposure = desk.exposure.compute(market)
    assert exposure.values[IN_FLIGHT] == 4_000.0 - FEE
    assert "bybit" not in exposure.venue_equity_usdt
    assert exposure.venue_equity_usdt["binance"] == 6_000.0
    for venue in desk.venues.values():
        assert IN_FLIGHT not in venue.positions()
    assert desk.venues["bybit"].positions() == {}  # `receive` was not called
    # the source's legs were reconciled with the source; the transit leg with nobody
    assert desk.reconciliation.checks == checks + 1
    events = desk.logger.events[first:-1]  # without the hour's EquityMarked
    assert [(e.event_type, e.instrument) for e in events] == [
        ("WithdrawalSent", SOURCE_CASH),
        ("TransferSent", IN_FLIGHT),
    ]
    assert len({e.bundle_id for e in events}) == 1
    assert "transfer_id=binance-wd-1" in events[1].note
    assert (desk.in_flight.sent, desk.in_flight.arrived) == (1, 0)


def test_arrival_is_booked_once_at_settle_time() -> None:
    desk = funded()
    ticket = sent(desk)
    bybit = desk.venues["bybit"]
    desk.hour(market_at(2))
    assert bybit.asked == [ticket.transfer_id]  # asked, not yet credited
    assert desk.positions.qty(IN_FLIGHT) == ticket.amount

    bybit.deliver(ticket.transfer_id, ticket.amount, T0 + timedelta(hours=2, minutes=40))
    first = len(desk.logger.events)
    desk.hour(market_at(3))
    booked = desk.logger.events[first:-1]
    assert [(e.event_type, e.instrument, e.amount) for e in booked] == [
        ("TransferArrived", IN_FLIGHT, -ticket.amount),
        ("TransferReceived", DEST_CASH, ticket.amount),
    ]
    assert all(e.pnl_component == "" for e in booked)  # nothing lost in flight
    assert desk.positions.qty(IN_FLIGHT) == 0.0
    assert desk.positions.qty(DEST_CASH) == ticket.amount
    assert bybit.positions()[DEST_CASH] == ticket.amount  # the venue's own view moved too
    assert desk.in_flight.pending == {}
    assert (desk.in_flight.sent, desk.in_flight.arrived) == (1, 1)

    # the venue still reports the deposit: it is neither asked about nor booked again
    events = len(desk.logger.events)
    desk.hour(market_at(4))
    desk.hour(market_at(5))
    assert bybit.asked == [ticket.transfer_id] * 2
    assert [e.event_type for e in desk.logger.events[events:]] == ["EquityMarked"] * 2
    assert desk.positions.qty(DEST_CASH) == ticket.amount


def test_a_credit_that_differs_from_the_ticket_is_an_execution_cost() -> None:
    desk = funded()
    ticket = sent(desk)
    credited = ticket.amount - 0.75  # e.g. a deposit fee the ticket did not know
    desk.venues["bybit"].deliver(ticket.transfer_id, credited, T0 + timedelta(hours=2))
    equity_before = desk.equity(market_at(1))
    hour = desk.hour(market_at(2))
    assert desk.positions.qty(DEST_CASH) == credited
    assert desk.positions.qty(IN_FLIGHT) == 0.0
    assert hour.equity == pytest.approx(equity_before - 0.75, abs=1e-9)
    assert hour.components["execution_costs"] == pytest.approx(-0.75, abs=1e-12)
    assert abs(hour.residual) <= 1e-12 * hour.equity
    arrived = next(e for e in desk.logger.events if e.event_type == "TransferArrived")
    assert arrived.pnl_component == "execution_costs"
    assert arrived.pnl_amount == pytest.approx(-0.75)
    assert "fee=0.75" in arrived.note  # the cost split reports it as a fee paid


def test_attribution_adds_up_every_hour_in_an_eth_share_class() -> None:
    """Money in flight is revalued like USDT (its value in ETH moves with the ETH price); the
    send's fee and the arrival's shortfall are execution costs: residual ~0 every hour."""
    prices = [2000.0, 2100.0, 1950.0, 2300.0, 2250.0, 2000.0]
    desk = Desk([TicketVenue("binance", FEE), TicketVenue("bybit", FEE)], "ETH")
    desk.hour(market_at(0, prices[0]), deposit("binance", 10_000.0, "USDT"))
    desk.hour(market_at(1, prices[1]), transfer("binance", "bybit", 4_000.0))
    (ticket,) = desk.in_flight.pending.values()
    desk.hour(market_at(2, prices[2]))
    desk.hour(market_at(3, prices[3]))
    desk.venues["bybit"].deliver(ticket.transfer_id, ticket.amount - 2.0, T0)
    desk.hour(market_at(4, prices[4]))
    desk.hour(market_at(5, prices[5]))

    assert len(desk.hours) == 6
    for hour in desk.hours:
        assert abs(hour.residual) <= 1e-12 * abs(hour.equity), hour
    # while in flight, the transit position's value follows the USDT price in ETH
    assert desk.hours[2].components["delta"] != 0.0
    assert desk.hours[1].components["execution_costs"] == pytest.approx(-FEE / prices[1])
    assert desk.hours[4].components["execution_costs"] == pytest.approx(-2.0 / prices[4])
    final = desk.exposure.compute(market_at(5, prices[5]))
    assert final.equity == pytest.approx((10_000.0 - FEE - 2.0) / prices[5], rel=1e-12)


def test_a_ticket_that_disagrees_with_the_source_legs_is_attributed() -> None:
    """A venue's ticket promising less than its legs imply (amount - fee): the gap is an
    execution cost at sending, so equity and attribution agree."""

    class Short(TicketVenue):
        def execute(self, instruction: Instruction, market: MarketState) -> ExecutionResult:
            done = super().execute(instruction, market)
            if done.ticket is None:
                return done
            t = done.ticket
            less = TransferTicket(
                t.transfer_id, t.source, t.destination, t.asset, t.amount - 0.5, t.sent_at
            )
            return ExecutionResult(done.legs, less)

    desk = Desk([Short("binance", FEE), TicketVenue("bybit", FEE)])
    desk.hour(market_at(0), deposit("binance", 10_000.0))
    hour = desk.hour(market_at(1), transfer("binance", "bybit", 4_000.0))
    assert desk.positions.qty(IN_FLIGHT) == 4_000.0 - FEE - 0.5
    assert hour.components["execution_costs"] == pytest.approx(-FEE - 0.5)
    assert abs(hour.residual) <= 1e-12 * hour.equity


def test_a_late_transfer_alerts_once_and_stays_in_flight(
    caplog: pytest.LogCaptureFixture,
) -> None:
    desk = funded(alert_after=timedelta(hours=2))
    ticket = sent(desk, hour=1)
    with caplog.at_level(logging.WARNING, logger="basis_strategy.components.execution"):
        for hour in range(2, 9):  # sent at hour 1: past the 2 h limit from hour 4 on
            desk.hour(market_at(hour))
    alerts = [r for r in caplog.records if getattr(r, "code", None) == "TRF-001"]
    assert len(alerts) == 1
    assert alerts[0].levelno == logging.ERROR
    assert getattr(alerts[0], "fields")["transfer_id"] == ticket.transfer_id  # noqa: B009
    late = [e for e in desk.logger.events if e.event_type == "TransferLate"]
    assert len(late) == 1
    assert late[0].t == T0 + timedelta(hours=4)
    assert ticket.transfer_id in late[0].note and "kept in flight" in late[0].note
    # never written off: still in flight, still valued, still asked about every hour
    assert desk.in_flight.pending == {ticket.transfer_id: ticket}
    assert desk.positions.qty(IN_FLIGHT) == ticket.amount
    assert desk.venues["bybit"].asked.count(ticket.transfer_id) == 7
    (alert,) = (late.alert() for late in desk.in_flight.late)
    assert alert.code == "TRF-001" and alert.level == "ERROR"
    assert desk.in_flight.facts()["pending"][0]["late"] is True

    desk.venues["bybit"].deliver(ticket.transfer_id, ticket.amount, T0 + timedelta(hours=9))
    desk.hour(market_at(9))
    assert desk.positions.qty(DEST_CASH) == ticket.amount
    assert desk.in_flight.pending == {} and desk.in_flight.alerted == set()


def test_a_network_error_while_asking_is_not_final() -> None:
    desk = funded()
    ticket = sent(desk)
    bybit = desk.venues["bybit"]
    bybit.deliver(ticket.transfer_id, ticket.amount, T0 + timedelta(hours=1, minutes=30))
    bybit.failures = 1
    desk.hour(market_at(2))
    assert desk.positions.qty(IN_FLIGHT) == ticket.amount  # not booked, not dropped
    desk.hour(market_at(3))
    assert desk.positions.qty(IN_FLIGHT) == 0.0
    assert desk.positions.qty(DEST_CASH) == ticket.amount


def test_a_ticket_for_another_destination_fails_fast() -> None:
    class Astray(TicketVenue):
        def execute(self, instruction: Instruction, market: MarketState) -> ExecutionResult:
            done = super().execute(instruction, market)
            if done.ticket is None:
                return done
            t = done.ticket
            wrong = TransferTicket(t.transfer_id, t.source, "okx", t.asset, t.amount, t.sent_at)
            return ExecutionResult(done.legs, wrong)

    desk = Desk([Astray("binance"), TicketVenue("bybit")])
    desk.hour(market_at(0), deposit("binance", 10_000.0))
    with pytest.raises(OperationalError, match="binance-wd-1: ticket for USDT to okx"):
        desk.hour(market_at(1), transfer("binance", "bybit", 4_000.0))


def test_a_destination_that_cannot_report_arrivals_fails_fast_after_booking() -> None:
    class Blind(TicketVenue):
        arrived = None  # type: ignore[assignment]  # a venue without the watcher contract

    desk = Desk([TicketVenue("binance"), Blind("bybit")])
    desk.hour(market_at(0), deposit("binance", 10_000.0))
    with pytest.raises(OperationalError, match="cannot report arrivals"):
        desk.hour(market_at(1), transfer("binance", "bybit", 4_000.0))
    assert desk.positions.qty(IN_FLIGHT) == 4_000.0 - 1.0  # booked: the money is not lost


def test_the_in_flight_book_survives_a_pickle_round_trip() -> None:
    """The paper/live checkpoint pickles the engine parts (execution manager included)."""
    desk = funded()
    ticket = sent(desk)
    manager: ExecutionManager = pickle.loads(pickle.dumps(desk.manager))
    assert manager.in_flight.pending == {ticket.transfer_id: ticket}
    assert manager.in_flight.alert_after == timedelta(hours=2)


def test_a_paper_checkpoint_round_trip_keeps_the_tickets_in_flight() -> None:
    """`live/checkpoint.py` dumps the engine parts; a restarted engine still knows the
    transfer, values it, and books its arrival when it lands."""
    config = load_run_config(
        "btc_basis", ["start=2024-05-01T00:00:00Z", "end=2024-05-01T06:00:00Z"], env={}
    )

    def engine() -> EventDrivenStrategyEngine:
        data = HistoricalDataProvider(config, DATA_DIR)
        venues = {v: TicketVenue(v, FEE) for v in ("binance", "bybit", "okx")}
        return EventDrivenStrategyEngine(config, data, dict(venues))

    first = engine()
    execution = first.parts.execution
    execution.run(deposit("binance", 10_000.0), market_at(0))
    execution.run(transfer("binance", "bybit", 4_000.0), market_at(0))
    (ticket,) = execution.in_flight.pending.values()

    restarted = engine()
    checkpoint.restore(restarted, checkpoint.dump(first), "test")
    parts = restarted.parts
    assert parts.execution.in_flight.pending == {ticket.transfer_id: ticket}
    assert parts.positions.qty(IN_FLIGHT) == ticket.amount
    bybit = parts.execution.venues.venues["bybit"]
    assert isinstance(bybit, TicketVenue)
    bybit.deliver(ticket.transfer_id, ticket.amount, T0 + timedelta(hours=1))
    parts.execution.settle(market_at(1))
    assert parts.positions.qty(DEST_CASH) == ticket.amount
    assert parts.execution.in_flight.pending == {}


def test_a_runs_summary_lists_the_transfers_still_in_flight(tmp_path: Path) -> None:
    """btc_basis over ticket venues: the entry's wallet -> CEX transfers are in flight at the
    end of a one-hour run (the trades that needed the money were refused), and summary.json
    says so; the equity still counts them."""
    config = load_run_config(
        "btc_basis", ["start=2024-05-01T00:00:00Z", "end=2024-05-01T01:00:00Z"], env={}
    )
    names = ("wallet", "uniswap", "binance", "bybit", "okx")
    venues = {name: TicketVenue(name, 0.0 if name == "wallet" else FEE) for name in names}
    engine = EventDrivenStrategyEngine(config, HistoricalDataProvider(config, DATA_DIR), venues)
    market = engine.step(config.mode.start)
    facts = engine.parts.execution.in_flight.facts()
    assert [p["destination"] for p in facts["pending"]] == ["binance", "bybit", "okx"]
    in_flight = sum(p["amount"] for p in facts["pending"])
    assert in_flight == pytest.approx(100_000.0)
    assert engine.parts.exposure.compute(market).equity == pytest.approx(100_000.0)

    summary = json.loads((engine.write(tmp_path, "run") / "summary.json").read_text())
    assert summary["in_flight_transfers"]["pending"] == facts["pending"]
    assert summary["in_flight_transfers"]["sent"] == 3


def test_an_old_checkpoint_without_the_book_loads_with_nothing_in_flight() -> None:
    desk = funded()
    state = dict(desk.manager.__dict__)
    del state["in_flight"]
    manager = ExecutionManager.__new__(ExecutionManager)
    manager.__setstate__(state)
    assert manager.in_flight.pending == {}


def test_the_in_flight_book_refuses_a_ticket_twice() -> None:
    book = InFlightBook()
    ticket = TransferTicket("wd-1", "binance", "bybit", "USDT", 10.0, T0)
    book.add(ticket)
    with pytest.raises(OperationalError, match="wd-1 is already in flight"):
        book.add(ticket)


def test_an_instant_transfer_never_touches_the_in_flight_book() -> None:
    """Simulated venues (no ticket): the destination is credited in the same instruction."""

    class Instant(TicketVenue):
        def execute(self, instruction: Instruction, market: MarketState) -> ExecutionResult:
            return ExecutionResult(super().execute(instruction, market).legs)

    desk = Desk([Instant("binance"), TicketVenue("bybit")])
    desk.hour(market_at(0), deposit("binance", 10_000.0))
    desk.hour(market_at(1), transfer("binance", "bybit", 4_000.0))
    assert desk.positions.qty(DEST_CASH) == 4_000.0 - 1.0
    assert desk.positions.qty(IN_FLIGHT) == 0.0
    assert IN_FLIGHT not in desk.positions.quantities
    assert (desk.in_flight.sent, desk.in_flight.pending) == (0, {})
    assert isinstance(transfer("binance", "bybit", 1.0), Transfer)
