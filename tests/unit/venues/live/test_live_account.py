"""LiveAccount (venues/live/account.py) on the Binance USDⓈ-M fake through ccxt's real client:
the opening balance adopted as the one deposit, and the book checked against the venue's own
read after an instruction, re-read a bounded number of times, halting when it never agrees.

Why: the engine's ledger check compares the book with our own fill ledger; only the venue's
read shows what we did not book (a liquidation, a hand-placed order, a balance we mis-booked).
Each test makes the venue and the book agree or differ in one way and checks the verdict,
the re-reads (waits recorded) and the alert codes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from tests.fakes.binance_usdm import BinanceUsdmFake
from tests.fakes.ccxt_client import binance_client
from tests.fakes.sleeps import Sleeps
from tests.unit.venues.venue_book import cex_config, market

from basis_strategy.core.instructions import ReceiveDeposit, TradePerp
from basis_strategy.live.store import LiveStore, TransferRecord, TransferState
from basis_strategy.venues.interface import ExecutionRejected
from basis_strategy.venues.live.account import LiveAccount, ReconciliationHalt, confirm_all
from basis_strategy.venues.live.cex import LiveCexSettings

STRATEGY = "live-account-1"
PERP, USDT = "binance:Perp:ETHUSDT", "binance:BaseToken:USDT"
SHORT = TradePerp(venue="binance", action="entry_full", trigger="initial", base="ETH",
                  size_delta=-1.0)  # fmt: skip
FEE = 1.0 * 3000 * 0.0005  # the fake fills at its mark 3 000, taker fee 0.05 %


@pytest.fixture
def fake() -> Iterator[BinanceUsdmFake]:
    with BinanceUsdmFake() as server:  # 10 000 USDT, ETHUSDT at 3 000
        yield server


def account(fake: BinanceUsdmFake, store: LiveStore, sleeps: Sleeps, **kw: Any) -> LiveAccount:
    settings = LiveCexSettings(poll_interval_s=0.0)
    venue = LiveAccount(cex_config("binance"), binance_client(fake), store, STRATEGY,
                        settings=settings, sleep=sleeps, **kw)  # fmt: skip
    venue.prepare()
    venue.adopt_opening_balance()
    return venue


def deposit(amount: float) -> ReceiveDeposit:
    return ReceiveDeposit(venue="binance", action="flow", trigger="deposit", asset="USDT",
                          amount=amount)  # fmt: skip


def test_the_opening_balance_is_the_one_deposit(fake: BinanceUsdmFake, store: LiveStore) -> None:
    venue = account(fake, store, Sleeps())
    assert venue.opening_usdt == 10_000.0
    with pytest.raises(ExecutionRejected, match="not the opening balance"):
        venue.execute(deposit(12_000.0), market())  # money the venue does not hold
    (leg,) = venue.execute(deposit(10_000.0), market()).legs
    assert (leg.instrument, leg.amount, leg.pnl_component) == (USDT, 10_000.0, "flow")
    with pytest.raises(ExecutionRejected, match="once"):
        venue.execute(deposit(10_000.0), market())


def test_an_account_already_trading_is_not_adopted(fake: BinanceUsdmFake, store: LiveStore) -> None:
    fake.state.place_market_order("ETHUSDT", "SELL", Decimal(1), "by-hand")
    with pytest.raises(Exception, match="cannot adopt the opening balance"):
        account(fake, store, Sleeps())


def test_a_book_equal_to_the_venue_is_confirmed_with_unrealised_pnl_left_out(
    fake: BinanceUsdmFake, store: LiveStore
) -> None:
    sleeps = Sleeps()
    venue = account(fake, store, sleeps)
    venue.execute(SHORT, market())
    fake.state.set_mark_price("ETHUSDT", Decimal(3_100))  # Binance's total now has -100 uPnL
    venue.confirm_book({PERP: -1.0, USDT: 10_000.0 - FEE, "okx:Perp:ETHUSDT": 5.0})
    assert (venue.confirmations, venue.reread, sleeps.calls) == (1, 0, [])


def test_a_persistent_difference_is_read_again_then_halts(
    fake: BinanceUsdmFake, store: LiveStore, caplog: pytest.LogCaptureFixture
) -> None:
    sleeps = Sleeps()
    venue = account(fake, store, sleeps, confirm_reads=3, confirm_wait_s=0.2)
    venue.execute(SHORT, market())
    with caplog.at_level(logging.WARNING), pytest.raises(ReconciliationHalt, match=PERP):
        venue.confirm_book({PERP: -0.5, USDT: 10_000.0 - FEE})
    assert sleeps.calls == [0.2, 0.2] and venue.reread == 2
    codes = [getattr(r, "code", None) for r in caplog.records]
    assert codes.count("REC-004") == 2 and codes.count("REC-002") == 1


def test_a_difference_gone_on_the_second_read_is_confirmed(
    fake: BinanceUsdmFake, store: LiveStore
) -> None:
    def catch_up(seconds: float) -> None:  # the venue's read was a moment behind
        fake.state.wallet_balance_quote -= Decimal(25)

    venue = account(fake, store, Sleeps())
    venue._wait = catch_up
    venue.confirm_book({USDT: 9_975.0})
    assert (venue.confirmations, venue.reread) == (1, 1)


def test_usdt_tolerance_is_the_modes_fraction(fake: BinanceUsdmFake, store: LiveStore) -> None:
    venue = account(fake, store, Sleeps(), tolerance=1e-4, confirm_reads=1)
    venue.confirm_book({USDT: 10_000.9})  # within 1e-4 of 10 000: 1 USDT
    with pytest.raises(ReconciliationHalt, match="USDT balance differs"):
        venue.confirm_book({USDT: 10_001.5})


def test_a_deposit_credited_before_its_arrival_is_booked_is_accepted(
    fake: BinanceUsdmFake, store: LiveStore
) -> None:
    venue = account(fake, store, Sleeps(), confirm_reads=1)
    fake.state.wallet_balance_quote += Decimal(500)  # credited; the book has it in flight
    venue.confirm_book({USDT: 10_000.0, "binance:Pending:USDT": 500.0})
    venue.confirm_book({USDT: 10_500.0, "binance:Pending:USDT": 0.0})  # booked since
    with pytest.raises(ReconciliationHalt):  # neither with nor without what is in flight
        venue.confirm_book({USDT: 10_000.0, "binance:Pending:USDT": 300.0})


def in_flight(store: LiveStore, seq: int, amount: float, fee: float = 1.0) -> None:
    """A withdrawal from Bybit to this Binance account, sent and not yet arrived."""
    at = datetime(2025, 3, 1, 10, tzinfo=UTC)
    store.add_transfer(TransferRecord(
        reference=f"t{seq}", strategy_id=STRATEGY, seq=seq, source="bybit",
        destination="binance", asset="USDT", amount=amount, fee=fee, address="0xabc",
        network="ERC20", state=TransferState.SENT, created_at=at, updated_at=at, sent_at=at,
    ))  # fmt: skip


def test_one_of_two_transfers_in_flight_credited_is_accepted(
    fake: BinanceUsdmFake, store: LiveStore
) -> None:
    """The book holds 500 in flight (300 and 200 arriving); the venue credited the 200 first:
    neither the book's cash nor the cash with everything in flight is what the venue holds."""
    venue = account(fake, store, Sleeps(), confirm_reads=1)
    in_flight(store, 1, 301.0)
    in_flight(store, 2, 201.0)
    book = {USDT: 10_000.0, "binance:Pending:USDT": 500.0}
    fake.state.wallet_balance_quote += Decimal(200)
    venue.confirm_book(book)
    fake.state.wallet_balance_quote += Decimal(300)
    venue.confirm_book(book)
    fake.state.wallet_balance_quote -= Decimal(250)  # 250 credited: no transfer's amount
    with pytest.raises(ReconciliationHalt):
        venue.confirm_book(book)


def test_no_positions_reported_while_margin_is_in_use_is_never_flat(
    fake: BinanceUsdmFake, store: LiveStore
) -> None:
    venue = account(fake, store, Sleeps(), confirm_reads=2)
    venue.execute(SHORT, market())
    venue.client.fetch_positions = lambda *a, **k: []  # type: ignore[method-assign]
    with pytest.raises(ReconciliationHalt, match="not flat"):
        venue.confirm_book({USDT: 10_000.0 - FEE})  # a book that also thinks it is flat


def test_confirm_all_reads_every_live_account(fake: BinanceUsdmFake, store: LiveStore) -> None:
    venue = account(fake, store, Sleeps())
    assert confirm_all({"binance": venue, "wallet": object()}, {USDT: 10_000.0}) == 1
    assert venue.confirmations == 1


def test_a_book_size_summed_from_lots_is_whole_lots(
    fake: BinanceUsdmFake, store: LiveStore
) -> None:
    """0.236 - 0.014 is 0.22199999999999998 in floats: closing that short must send 0.222
    (the float noise snapped off), not 0.221, which would leave one lot open."""
    from basis_strategy.venues.live.amounts import to_contracts

    client = binance_client(fake)
    client.load_markets()
    size = 0.236 - 0.014
    assert size != 0.222
    assert to_contracts(client, "binance", "BTC/USDT:USDT", size) == (0.222, 0.222)
    assert to_contracts(client, "binance", "BTC/USDT:USDT", 0.2225) == (0.222, 0.222)  # cut


def test_the_venue_snapshot_holds_usdt_as_cash(fake: BinanceUsdmFake, store: LiveStore) -> None:
    """Binance's ccxt total is the margin balance (wallet + unrealised P&L); the book, and so
    the start-up reconciliation, compares cash."""
    venue = account(fake, store, Sleeps())
    venue.execute(SHORT, market())
    fake.state.set_mark_price("ETHUSDT", Decimal(2_900))  # +100 USDT unrealised on the short
    snapshot = venue.venue_snapshot()
    assert snapshot.usdt_total == pytest.approx(10_000.0 - FEE)
    assert snapshot.positions == {PERP: -1.0}
    assert float(venue.client.fetch_balance()["USDT"]["total"]) == pytest.approx(10_100.0 - FEE)
