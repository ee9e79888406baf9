"""An in-test venue whose transfers take time, and the engine's hourly loop around it.

`TicketVenue` implements the `VenueInterface` and `ArrivalWatcher` contracts
(`venues/transfers.py`) over a plain cash ledger: `execute(Transfer)` withdraws (a flat fee
taken out of the amount, as the simulated CEX does) and returns a ticket; `arrived` reports a
ticket's deposit only once the test has delivered it. It is a unit-test double of the live
venue for the engine's in-flight logic, not a network venue.

`Desk` wires the engine's real components (position monitor, exposure monitor, event logger,
position update handler, reconciliation, execution manager, P&L calculator) and runs an hour
as `EventDrivenStrategyEngine.step` does: open the hour, settle, run instructions, close.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from basis_strategy.components.execution import (
    EventLogger,
    ExecutionManager,
    PositionUpdateHandler,
    Reconciliation,
    VenueInterfaceManager,
)
from basis_strategy.components.fund import FundBooks
from basis_strategy.components.in_flight import ALERT_AFTER, InFlightBook
from basis_strategy.components.monitors import ExposureMonitor, PositionMonitor
from basis_strategy.components.pnl_calculator import HourPnL, PnLCalculator
from basis_strategy.core.errors import TemporaryError
from basis_strategy.core.instructions import (
    ExecutionResult,
    Instruction,
    Leg,
    ReceiveDeposit,
    Transfer,
)
from basis_strategy.core.instruments import cash_key
from basis_strategy.data.market import MarketState
from basis_strategy.venues.interface import ExecutionRejected, Ledger, cost_detail
from basis_strategy.venues.transfers import Arrival, TransferTicket

T0 = datetime(2025, 3, 1, 0, tzinfo=UTC)


def market_at(hour: int, eth_usd: float = 2000.0, **values: float) -> MarketState:
    """The market of hour `hour` after T0 (index = hour: the monitors cache by it)."""
    return MarketState(T0 + timedelta(hours=hour), hour, {"price:ETH": eth_usd, **values}, ())


class TicketVenue:
    """A venue of cash balances whose withdrawals arrive when the test delivers them."""

    def __init__(self, name: str, withdrawal_fee: float = 1.0) -> None:
        self.name = name
        self.withdrawal_fee = withdrawal_fee
        self.ledger = Ledger()
        self.delivered: dict[str, tuple[float, datetime]] = {}
        self.asked: list[str] = []  # transfer ids `arrived` was asked about, in order
        self.failures = 0  # the next `arrived` calls that fail like a network error
        self.withdrawals = 0

    def execute(self, instruction: Instruction, market: MarketState) -> ExecutionResult:
        if isinstance(instruction, ReceiveDeposit):
            key = cash_key(self.name, instruction.asset)
            amount = instruction.amount
            legs = (Leg(key, amount, "Deposited", 1.0, "flow", amount, instruction.asset),)
            self.ledger.apply(legs)
            return ExecutionResult(legs)
        if isinstance(instruction, Transfer):
            return self._withdraw(instruction, market)
        raise ExecutionRejected(f"{self.name} cannot execute {type(instruction).__name__}")

    def _withdraw(self, order: Transfer, market: MarketState) -> ExecutionResult:
        key, fee = cash_key(self.name, order.asset), self.withdrawal_fee
        self.ledger.require(key, order.amount)
        legs = (
            Leg(
                key,
                -order.amount,
                "WithdrawalSent",
                1.0,
                "execution_costs",
                -fee,
                order.asset,
                detail=cost_detail(fee),
            ),
        )
        self.ledger.apply(legs)
        self.withdrawals += 1
        ticket = TransferTicket(
            f"{self.name}-wd-{self.withdrawals}",
            self.name,
            order.destination,
            order.asset,
            order.amount - fee,
            market.t,
        )
        return ExecutionResult(legs, ticket)

    def receive(self, asset: str, amount: float, market: MarketState) -> ExecutionResult:
        legs = (Leg(cash_key(self.name, asset), amount, "TransferReceived", 1.0),)
        self.ledger.apply(legs)
        return ExecutionResult(legs)

    def settle(self, market: MarketState) -> ExecutionResult:
        return ExecutionResult()

    def positions(self) -> dict[str, float]:
        return dict(self.ledger.quantities)

    def arrived(self, ticket: TransferTicket, market: MarketState) -> Arrival | None:
        self.asked.append(ticket.transfer_id)
        if self.failures:
            self.failures -= 1
            raise TemporaryError(f"{self.name}: deposit history read timed out")
        delivered = self.delivered.get(ticket.transfer_id)
        if delivered is None:
            return None
        return Arrival(ticket, delivered[0], delivered[1])

    def deliver(self, transfer_id: str, amount: float, at: datetime) -> None:
        """The test's chain: the deposit of `transfer_id` is credited with `amount`."""
        self.delivered[transfer_id] = (amount, at)


class Desk:
    """The engine's components over `venues`, stepped hour by hour."""

    def __init__(
        self,
        venues: Iterable[TicketVenue],
        currency: str = "USDT",
        alert_after: timedelta = ALERT_AFTER,
    ) -> None:
        self.venues = {venue.name: venue for venue in venues}
        self.currency = currency
        self.positions = PositionMonitor()
        self.exposure = ExposureMonitor(self.positions, currency)
        self.logger = EventLogger(currency)
        self.reconciliation = Reconciliation(self.positions)
        updates = PositionUpdateHandler(self.positions, self.logger, self.reconciliation, currency)
        self.fund = FundBooks("pool")
        self.manager = ExecutionManager(
            VenueInterfaceManager(self.venues),
            updates,
            self.exposure,
            self.fund,
            InFlightBook(alert_after),
        )
        self.pnl = PnLCalculator(self.positions, self.exposure, self.logger, currency)
        self.hours: list[HourPnL] = []

    @property
    def in_flight(self) -> InFlightBook:
        return self.manager.in_flight

    def hour(self, market: MarketState, *instructions: Instruction) -> HourPnL:
        """One engine step: revalue, settle (arrivals), run `instructions`, close, mark."""
        self.logger.start_hour()
        self.pnl.open_hour(market)
        self.manager.settle(market)
        for instruction in instructions:
            self.manager.run(instruction, market)
        hour, marks = self.pnl.close_hour(market)
        self.logger.log_mark(market.t, hour.equity, marks)
        self.hours.append(hour)
        return hour

    def equity(self, market: MarketState) -> float:
        return self.exposure.compute(market).equity


def deposit(venue: str, amount: float, asset: str = "USDT") -> ReceiveDeposit:
    return ReceiveDeposit(venue=venue, action="flow", trigger="deposit", asset=asset, amount=amount)


def transfer(source: str, destination: str, amount: float, asset: str = "USDT") -> Transfer:
    return Transfer(
        venue=source,
        action="exit_partial",
        trigger="test",
        destination=destination,
        asset=asset,
        amount=amount,
    )
