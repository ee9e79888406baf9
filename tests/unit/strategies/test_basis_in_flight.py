"""The basis strategy plans with USDT in flight (issue 13 scope 5): a venue whose margin top-up
is on its way is not topped up again, and money in flight is withdrawable nowhere.

The book (btc_basis, BTC at 60 000, m* = 0.5, warning 0.30): 1 BTC spot at binance, shorts
0.4 / 0.3 / 0.3 BTC at binance / bybit / okx. binance holds 6 000 USDT (margin ratio 0.25:
warning, 6 000 short of m*), bybit 17 000 (8 000 surplus), okx 9 000 (at m*). The venues
are in-test `TicketVenue`s: every transfer takes time until the test delivers it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.unit.components.ticket_venues import T0, Desk, TicketVenue, market_at, transfer

from basis_strategy.components.monitors import RiskMonitor
from basis_strategy.config.loader import RunConfig, load_run_config
from basis_strategy.config.venues import CexVenue
from basis_strategy.core.instructions import Instruction, Leg, Transfer
from basis_strategy.core.instruments import cash_key, perp_key
from basis_strategy.data.market import MarketState
from basis_strategy.strategies.basis import Basis
from basis_strategy.strategies.factory import build_strategy

BTC_USD = 60_000.0
SHORTS = {"binance": 0.4, "bybit": 0.3, "okx": 0.3}
CASH = {"binance": 6_000.0, "bybit": 17_000.0, "okx": 9_000.0}
MARKS = {f"perp:{v}:BTCUSDT": BTC_USD for v in SHORTS} | {"price:BTC": BTC_USD}


def market(hour: int) -> MarketState:
    return market_at(hour, **MARKS)


class Fund:
    """The engine's components with the btc_basis strategy over ticket venues; a step runs
    the strategy's instructions through the tight loop as `engine.step` does."""

    def __init__(self) -> None:
        # a book already running (seeded below): the run's window, and so its opening
        # deposit (due at the first step at or after its start), lies after the test's hours
        config: RunConfig = load_run_config(
            "btc_basis",
            ["venues=[binance, bybit, okx, uniswap, alchemy]", "start=2025-04-01T00:00:00Z",
             "end=2025-05-01T00:00:00Z"],
            env={},
        )  # fmt: skip
        hedge = config.mode.hedge
        assert hedge is not None
        fees = {v: venue.withdrawal_fee["USDT"] for v, venue in config.venues.items()
                if isinstance(venue, CexVenue)}  # fmt: skip
        self.desk = Desk(TicketVenue(v, fees[v]) for v in SHORTS)
        self.risk = RiskMonitor(
            self.desk.exposure,
            tuple(hedge.venues),
            (hedge.margin_ratio_critical, hedge.margin_ratio_warning, hedge.excess),
        )
        strategy = build_strategy(
            config, self.desk.positions, self.desk.exposure, self.risk, self.desk.fund.register
        )
        assert isinstance(strategy, Basis)
        self.strategy = strategy
        self.decided: list[list[Instruction]] = []
        for venue, size in SHORTS.items():
            self.seed(perp_key(venue, "BTC"), -size, entry=BTC_USD)
            self.seed(cash_key(venue, "USDT"), CASH[venue])
        self.seed(cash_key("binance", "BTC"), sum(SHORTS.values()))

    def seed(self, key: str, qty: float, entry: float | None = None) -> None:
        """A holding on both sides (the venue's ledger and the book)."""
        venue = self.desk.venues[key.split(":")[0]]
        venue.ledger.apply((Leg(key, qty, "Seeded", entry_after=entry),))
        self.desk.positions.apply(key, qty, entry)

    def step(self, m: MarketState, *before: Instruction) -> list[Instruction]:
        """Settle (arrivals), run `before` (the test's own orders), then the strategy."""
        desk = self.desk
        desk.logger.start_hour()
        desk.manager.settle(m)
        for instruction in before:
            desk.manager.run(instruction, m)
        decided: list[Instruction] = []
        for instruction in self._decide(m, decided):
            desk.manager.run(instruction, m)
        self.decided.append(decided)
        return decided

    def _decide(self, m: MarketState, into: list[Instruction]) -> Iterator[Instruction]:
        for instruction in self.strategy.decide(m):
            into.append(instruction)
            yield instruction


def to_binance(instructions: list[Instruction]) -> list[Transfer]:
    return [i for i in instructions if isinstance(i, Transfer) and i.destination == "binance"]


def test_a_venue_whose_top_up_is_in_flight_is_not_topped_up_again() -> None:
    fund = Fund()
    assert fund.risk.assess(market(0)).margin_level["binance"] == "warning"

    first = fund.step(market(0))
    (top_up,) = to_binance(first)
    assert (top_up.venue, top_up.trigger) == ("bybit", "margin_warning:binance")
    assert top_up.amount == pytest.approx(6_000.0 + 1.0)  # the need plus bybit's fee
    assert first == [top_up]  # no long-leg sale on top of it
    (ticket,) = fund.desk.in_flight.pending.values()
    assert fund.desk.positions.qty("binance:Pending:USDT") == pytest.approx(6_000.0)

    # still in flight: binance's margin is still at warning (the money is not there), yet
    # nothing more is sent to it and nothing of the long leg is sold for it
    for hour in (1, 2):
        assert fund.risk.assess(market(hour)).margin_level["binance"] == "warning"
        assert fund.step(market(hour)) == []

    fund.desk.venues["binance"].deliver(ticket.transfer_id, ticket.amount, T0)
    assert fund.step(market(3)) == []
    assert fund.risk.assess(market(3)).margin_level["binance"] == "ok"
    assert fund.risk.assess(market(3)).margin_ratio["binance"] == pytest.approx(0.5)
    assert fund.desk.manager.rejections == []


def test_the_same_book_blind_to_the_money_in_flight_tops_up_again() -> None:
    """The control: with the money in flight ignored, the hour after the first top-up sends
    another (so the test above is about the money in flight, not about a quiet book)."""
    fund = Fund()
    assert len(to_binance(fund.step(market(0)))) == 1
    fund.strategy.usdt_in_flight = lambda venue: 0.0  # type: ignore[method-assign]
    again = to_binance(fund.step(market(1)))
    assert [t.venue for t in again] == ["bybit"]


def test_money_in_flight_is_withdrawable_nowhere() -> None:
    """5 000 USDT on its way from bybit to okx: okx's surplus (and so what it could give
    binance) does not count it; bybit gives what it still has."""
    fund = Fund()
    m = market(0)
    fund.desk.manager.run(transfer("bybit", "okx", 5_000.0), m)
    book = fund.desk.exposure.compute(m)
    assert fund.desk.positions.qty("okx:Pending:USDT") == pytest.approx(5_000.0 - 1.0)
    assert fund.strategy.usdt_in_flight("okx") == pytest.approx(4_999.0)
    assert fund.strategy.withdrawable("okx", book) == pytest.approx(0.0, abs=1e-9)
    assert fund.strategy.withdrawable("bybit", book) == pytest.approx(12_000.0 - 9_000.0)
    decided = fund.step(m)
    # binance's top-up comes from bybit's remaining cash surplus only, never okx's transit
    top_ups = to_binance(decided)
    assert [(t.venue, t.amount) for t in top_ups] == [("bybit", pytest.approx(3_000.0))]
    assert not any(isinstance(i, Transfer) and i.venue == "okx" for i in decided)
