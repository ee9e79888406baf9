"""Start-up reconciliation against the Binance USDⓈ-M fake through ccxt's real client: a
session starts only if the venue holds what its book says (orders -> fills -> positions ->
balances), failing closed, unless the operator adopts the venue's state (issue 13 item 6)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from tests.fakes.binance_usdm import BinanceUsdmFake
from tests.fakes.ccxt_client import binance_client
from tests.fakes.sleeps import Sleeps
from tests.unit.venues.venue_book import cex_config, market

from basis_strategy.core.instructions import TradePerp
from basis_strategy.live.startup import StartupMismatchError, reconcile_at_start
from basis_strategy.live.store import LiveStore
from basis_strategy.venues.live.cex import LiveCex, LiveCexSettings
from basis_strategy.venues.transfers import TransferTicket

STRATEGY = "live-eth-basis-start"
PERP, USDT = "binance:Perp:ETHUSDT", "binance:BaseToken:USDT"
MARKET = market()


@pytest.fixture
def fake() -> Iterator[BinanceUsdmFake]:
    with BinanceUsdmFake() as server:
        yield server


def venue(fake: BinanceUsdmFake, store: LiveStore) -> LiveCex:
    return LiveCex(cex_config("binance"), binance_client(fake), store, STRATEGY,
                   settings=LiveCexSettings(poll_interval_s=0.01), sleep=Sleeps(),
                   opening_usdt=10_000.0)  # fmt: skip


def start(fake: BinanceUsdmFake, store: LiveStore, book: dict[str, float], **kw: object) -> object:
    return reconcile_at_start([venue(fake, store)], book, [], MARKET, 1e-9, 0.01, **kw)  # type: ignore[arg-type]


def test_a_venue_that_holds_the_book_starts(fake: BinanceUsdmFake, store: LiveStore) -> None:
    report = start(fake, store, {USDT: 10_000.0})
    assert report.mismatches == [] and report.unbooked == {"binance": []}  # type: ignore[attr-defined]


def test_a_position_opened_by_hand_refuses_the_start(
    fake: BinanceUsdmFake, store: LiveStore
) -> None:
    fake.state.place_market_order("ETHUSDT", "SELL", Decimal(1), "by-hand-1")
    with pytest.raises(StartupMismatchError) as refused:
        start(fake, store, {USDT: 10_000.0})
    text = str(refused.value)
    assert "REC-003" in text and "\n" not in text and "--adopt-venue-state" in text
    keys = {m.key for m in refused.value.mismatches}
    assert "binance:fill:" in " ".join(keys)  # a fill the ledger does not hold
    assert PERP in keys  # and the position it made
    report = start(fake, store, {USDT: 10_000.0}, adopt=True)  # the operator adopts: listed
    assert PERP in {m.key for m in report.mismatches}  # type: ignore[attr-defined]


def test_a_balance_moved_by_hand_refuses_the_start(fake: BinanceUsdmFake, store: LiveStore) -> None:
    fake.state.wallet_balance_quote = Decimal(9_000)
    with pytest.raises(StartupMismatchError, match="USDT balance differs"):
        start(fake, store, {USDT: 10_000.0})


def test_a_book_that_holds_a_position_the_venue_lacks_refuses(
    fake: BinanceUsdmFake, store: LiveStore
) -> None:
    live = venue(fake, store)
    live.prepare()
    short = TradePerp(
        venue="binance", action="entry_full", trigger="t", base="ETH", size_delta=-1.0
    )
    live.execute(short, MARKET)
    fake.state.place_market_order("ETHUSDT", "BUY", Decimal(1), "closed-by-hand")  # flat now
    book = {PERP: -1.0, USDT: live.positions()[USDT]}
    with pytest.raises(StartupMismatchError) as refused:
        reconcile_at_start([venue(fake, store)], book, [], MARKET, 1e-9, 0.01)
    found = {m.key: (m.expected, m.venue) for m in refused.value.mismatches}
    assert found[PERP] == (-1.0, 0.0)  # the book's short is gone on the venue


def test_money_in_flight_is_expected_nowhere_until_credited(
    fake: BinanceUsdmFake, store: LiveStore
) -> None:
    ticket = TransferTicket("w1", "okx", "binance", "USDT", 500.0, datetime(2025, 3, 1, tzinfo=UTC))

    class Credited(LiveCex):
        def arrived(self, t: TransferTicket, m: object) -> None:  # type: ignore[override]
            return None  # not yet: the venue does not hold it, the book does not expect it

    live = Credited(cex_config("binance"), binance_client(fake), store, STRATEGY,
                    settings=LiveCexSettings(poll_interval_s=0.01), sleep=Sleeps())  # fmt: skip
    book = {USDT: 10_000.0, "binance:Pending:USDT": 500.0}
    report = reconcile_at_start([live], book, [ticket], MARKET, 1e-9, 0.01)
    assert report.mismatches == []
