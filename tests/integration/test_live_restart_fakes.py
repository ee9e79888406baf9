"""A live CEX session killed in the middle of a cycle resumes from the venues with no order or
withdrawal sent twice and no fill booked twice (issue 13 acceptance: `kill -9` mid-cycle, then
a restart; warm here, cold refused for a session on live venues).

The session is the runner's: `restart.start` / `restart.resume` over a build that makes new
live accounts on the same live store (as a new process does), the replayed day of
2025-03-01 set on the Binance, Bybit and OKX fakes (tests/fakes/replay_market.py), the
start-up reconciliation of a resumed session (`reconcile_at_resume`) and the cycle's
closing check (`reconcile_live_cycle`). The first life dies by an exception the session does
not catch (`Killed`, a BaseException: nothing after it runs, nothing is committed), raised
inside a cycle right after an order or a withdrawal reached a venue:

- in the first cycle (no checkpoint yet), between the entry's Bybit and OKX shorts: the spot
  buy and two shorts are on the venues and in the fill ledger, not in any stored book;
- at 10:00, the +20 % move's margin rebalance, right after the first withdrawal was sent.

The second life rewinds the instruction sequence to the checkpoint's mark, so the redone
cycle's instructions get the same client ids and adopt what the venues already did.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tests.fakes.replay_market import ReplayMarket, VenueFakes, venue_fakes
from tests.fakes.sleeps import Sleeps
from tests.integration.conftest import DATA_DIR
from tests.integration.test_live_basis_fakes import DAY, SHOCK_AT, day_config

from basis_strategy.config.loader import load_run_config
from basis_strategy.core.errors import ConfigError
from basis_strategy.core.instructions import TradePerp, Transfer
from basis_strategy.data.market import MarketState
from basis_strategy.data.provider import HistoricalDataProvider
from basis_strategy.data.store import FolderData
from basis_strategy.engine import EventDrivenStrategyEngine
from basis_strategy.live import restart
from basis_strategy.live.heartbeat import HeartbeatRegistry
from basis_strategy.live.live_feed import reconcile_at_resume, reconcile_live_cycle
from basis_strategy.live.replay import AcceleratedClock, ReplaySource, SleptWall
from basis_strategy.live.session import MarketSource, PaperSession
from basis_strategy.live.session_store import SessionRequest, SessionStore
from basis_strategy.live.store import LiveStore
from basis_strategy.venues.live.account import LiveAccount, confirm_all
from basis_strategy.venues.live.build import build_live_venues, live_cex_engine, required_usdt
from basis_strategy.venues.live.cex import LiveCexSettings

SID = "live-btc-restart"
SPEED = 3600 / 0.01
CYCLES = 14  # 00:00 .. 13:00: the entry, funding at 08:00, the rebalance at 10:00, arrivals


class Killed(BaseException):
    """The process dies here: nothing after it runs."""


class FakesReplay(ReplaySource):
    """The replayed hour, also set on the fakes before the engine sees it."""

    def __init__(self, data: Any, now: Callable[[], datetime], replay: ReplayMarket) -> None:
        super().__init__(data, now)
        self.replay = replay

    def get_data(self, t: datetime) -> MarketState:
        market: MarketState = super().get_data(t)
        self.replay.apply(market)
        return market


class World:
    """The fakes, one session store and one live store (one database), and lives."""

    def __init__(self, fakes: VenueFakes, url: str) -> None:
        self.fakes, self.url = fakes, url
        self.request = SessionRequest("btc_basis", tuple(day_overrides()))
        self.sessions = SessionStore(url)
        self.live = LiveStore(url)
        self.replay = ReplayMarket(fakes, "BTC")

    def close(self) -> None:
        self.sessions.close()
        self.live.close()

    def life(
        self, begin: datetime, first: bool, adopt: bool = False, cold: bool = False
    ) -> PaperSession:
        """A new process's session: new live accounts on the store, new engine, new clock."""
        wall = SleptWall()
        clock = AcceleratedClock(begin, SPEED, wall, wall.sleep)

        def build(request: SessionRequest) -> tuple[EventDrivenStrategyEngine, MarketSource]:
            config = load_run_config(request.mode, list(request.overrides), env={})
            data = HistoricalDataProvider(config, FolderData(DATA_DIR))
            venues = build_live_venues(
                config, self.fakes.clients, self.live, SID, spot_client=self.fakes.spot_client,
                transfer_routes=self.fakes.routes(), settings=LiveCexSettings(poll_interval_s=0),
                sleep=Sleeps(), clock=self.fakes.clock.now,
            )  # fmt: skip
            self.fakes.venues = dict(venues)
            engine = live_cex_engine(config, data, venues, transfer_alert_after=timedelta(hours=6))
            return engine, FakesReplay(engine.data, clock.now, self.replay)

        beats = HeartbeatRegistry(clock.now)
        options: dict[str, Any] = {"name": SID}
        if first:
            session = restart.start(self.sessions, SID, self.request, build, clock.now,
                                    clock.sleep_until, beats, **options)  # fmt: skip
        else:
            session = restart.resume(self.sessions, SID, build, clock.now, clock.sleep_until,
                                     beats, cold=cold, **options)  # fmt: skip
            reconcile_at_resume(session.engine, self.live, adopt)
        session.reconcile = reconcile_live_cycle
        return session

    # --- what the venues did ------------------------------------------------------------------

    def orders(self) -> Counter[str]:
        """Orders the venues received, per venue (a resend would show as a second one)."""
        found = Counter({n: len(s.orders_by_client_id) for n, s in self.fakes.states.items()})
        found["binance-spot"] = len(self.fakes.spot.orders_by_client_id)
        return found

    def withdraw_calls(self) -> int:
        return sum(wallet.requests for wallet in self.fakes.network.wallets.values())


def day_overrides() -> list[str]:
    config = day_config("btc_basis")
    shock = f"shocks=[{{series: ['price:BTC', 'perp:*:BTCUSDT'], start: '{SHOCK_AT.isoformat()}'"
    shock += f", end: '{SHOCK_AT.isoformat()}', kind: move, value: 0.2}}]"
    return [f"start={config.mode.start.isoformat()}", f"end={config.mode.end.isoformat()}", shock]


@contextmanager
def world(tmp_path: Path) -> Iterator[World]:
    config = day_config("btc_basis")
    with venue_fakes(required_usdt(config), DAY, latency_s=3000.0) as fakes:
        made = World(fakes, f"sqlite:///{tmp_path / 'store.sqlite'}")
        try:
            yield made
        finally:
            made.close()


def die_after(venue: LiveAccount, kind: type, nth: int = 1) -> None:
    """`venue`'s `nth` execute of `kind` reaches the venue, then the process dies."""
    calls = [0]
    execute = venue.execute

    def executed_then_killed(instruction: Any, market: MarketState) -> Any:
        result = execute(instruction, market)
        if isinstance(instruction, kind):
            calls[0] += 1
            if calls[0] == nth:
                raise Killed
        return result

    venue.execute = executed_then_killed  # type: ignore[method-assign]


@dataclass
class Reference:
    """The same day with no crash."""

    orders: Counter[str]
    withdraw_calls: int
    book: dict[str, float]
    equity: list[float]  # each hour's


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    with world(tmp_path_factory.mktemp("uninterrupted")) as ref:
        session = ref.life(DAY - timedelta(minutes=1), first=True)
        session.run(CYCLES)
        parts = session.engine.parts
        return Reference(ref.orders(), ref.withdraw_calls(), dict(parts.positions.quantities),
                         [row[0] for row in parts.results.pnl_rows])  # fmt: skip


def resumed(w: World, adopt: bool = False, cold: bool = False) -> PaperSession:
    last = w.sessions.load(SID).last_cycle_at  # the clock starts after it, as the runner's
    begin = (DAY if last is None else last + timedelta(hours=1)) - timedelta(minutes=1)
    return w.life(begin, first=False, adopt=adopt, cold=cold)


@pytest.mark.parametrize("how", ["warm", "cold"])
@pytest.mark.parametrize("where", ["entry", "rebalance"])
def test_killed_mid_cycle_the_session_resumes_with_nothing_sent_or_booked_twice(
    where: str, how: str, tmp_path: Path, reference: Reference
) -> None:
    """Warm: from the last checkpoint. Cold: no checkpoint, the journal's cycles re-stepped
    on their journaled markets, every instruction meeting its stored id (nothing sent)."""
    with world(tmp_path) as w:
        first = w.life(DAY - timedelta(minutes=1), first=True)
        venues = first.engine.parts.execution.venues.venues
        if where == "entry":  # the Bybit short is on the venue, the OKX one not yet
            die_after(venues["bybit"], TradePerp)  # type: ignore[arg-type]
        else:  # the 10:00 rebalance's first withdrawal has left Binance
            die_after(venues["binance"], Transfer)  # type: ignore[arg-type]
        with pytest.raises(Killed):
            first.run(CYCLES)
        died_at = first._last_cycle_at
        assert died_at == (DAY if where == "entry" else SHOCK_AT)
        assert sum(w.orders().values()) >= 3

        sent_before = w.orders(), w.withdraw_calls()
        # start-up reconciliation passes: the venues hold the ledger
        second = resumed(w, cold=how == "cold")
        assert (w.orders(), w.withdraw_calls()) == sent_before  # a cold re-step sent nothing
        assert second.stepped == first.stepped  # the killed cycle committed nothing
        second.run(CYCLES)
        assert not second.halted, (second.control.reason, second.skipped)

        assert second.stepped[-1] == DAY + timedelta(hours=CYCLES - 1)
        assert w.orders() == reference.orders  # every order once: the redone ones adopted
        assert w.withdraw_calls() == reference.withdraw_calls  # no withdrawal sent again
        ledger = w.live.ledger(SID)
        ids = [(f.venue, f.symbol, f.trade_id) for f in ledger.fills]
        assert len(ids) == len(set(ids))
        engine = second.engine
        book = engine.parts.positions.quantities
        assert confirm_all(engine.parts.execution.venues.venues, book) == 3
        for key, qty in reference.book.items():  # the same book as the day with no crash
            assert book.get(key, 0.0) == pytest.approx(qty, rel=1e-9, abs=1e-9), key
        rows = engine.parts.results.pnl_rows
        assert [row[0] for row in rows] == pytest.approx(reference.equity, rel=1e-12)
        deposits = [e for e in engine.parts.logger.events if e.event_type == "Deposited"]
        assert len(deposits) == 3  # the opening balances, booked once


def test_a_resumed_session_whose_venue_moved_while_it_was_down_is_refused(
    tmp_path: Path,
) -> None:
    """Start-up reconciliation fails closed: a position opened by hand on Bybit while the
    process was down refuses the resume (REC-003), naming the difference."""
    with world(tmp_path) as w:
        first = w.life(DAY - timedelta(minutes=1), first=True)
        first.run(3)
        w.fakes.states["bybit"].place_market_order("BTCUSDT", "BUY", Decimal("0.01"), "hand")
        with pytest.raises(ConfigError) as refused:
            resumed(w)
        message = str(refused.value)
        assert "REC-003" in message and "bybit" in message and "\n" not in message
        assert "--adopt-venue-state" in message


def test_the_operator_adopts_a_hand_trade_and_the_session_books_it(tmp_path: Path) -> None:
    """`--adopt-venue-state`: the Bybit fill placed by hand while the process was down is
    booked in the ledger (a fill of no order of ours) and in the book at the next cycle, as
    a trade at its price; the session then runs reconciled, every venue equal to the book."""
    with world(tmp_path) as w:
        first = w.life(DAY - timedelta(minutes=1), first=True)
        first.run(3)
        short = first.engine.parts.positions.qty("bybit:Perp:BTCUSDT")
        w.fakes.states["bybit"].place_market_order("BTCUSDT", "BUY", Decimal("0.01"), "hand")
        second = resumed(w, adopt=True)
        second.run(6)
        assert not second.halted and len(second.stepped) == 6
        engine = second.engine
        adopted = [f for f in w.live.ledger(SID).fills if f.client_order_id is None]
        assert [(f.venue, f.side.value, f.qty_base) for f in adopted] == [("bybit", "buy", 0.01)]
        hour_4 = [e for e in engine.parts.logger.events
                  if e.t == DAY + timedelta(hours=3) and e.event_type == "PerpTraded"]  # fmt: skip
        assert [(e.venue, e.amount) for e in hour_4][:1] == [("bybit", pytest.approx(0.01))]
        assert hour_4[0].after_qty == pytest.approx(short + 0.01)
        book = engine.parts.positions.quantities
        assert confirm_all(engine.parts.execution.venues.venues, book) == 3
        residuals = [abs(row[-2]) for row in engine.parts.results.pnl_rows]
        assert max(residuals) < 1e-6 * 100_000  # attribution adds up with the adopted trade


def test_adopting_does_not_take_money_moved_outside_the_run(tmp_path: Path) -> None:
    """USDT taken off the OKX account by hand is no trade: refused even with adoption."""
    with world(tmp_path) as w:
        first = w.life(DAY - timedelta(minutes=1), first=True)
        first.run(3)
        w.fakes.states["okx"].wallet_balance_quote -= Decimal(500)
        with pytest.raises(ConfigError) as refused:
            resumed(w, adopt=True)
        message = str(refused.value)
        assert "okx:BaseToken:USDT" in message and "only fills are adopted" in message
