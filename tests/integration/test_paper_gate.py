"""The session's gate on a replayed day (simulated venues, the session's own loop): an emergency
stop's flatten leaves every mode with nothing but cash (the closing trades, the exit bundles
and the conversions of what they leave (LST, WETH, wallet ETH beyond the USDT class's gas
buffer, reward tokens) into the share class's cash, then HALTED-freeze); a CEX order over the
order limits is refused and puts the strategy in REDUCING (issue 13)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from tests.integration.conftest import DATA_DIR
from tests.integration.test_paper_replay import SleptWall

from basis_strategy.config.loader import load_run_config
from basis_strategy.config.models import MODE_NAMES
from basis_strategy.core.instruments import instrument
from basis_strategy.data.provider import HistoricalDataProvider
from basis_strategy.data.store import FolderData
from basis_strategy.engine import EventDrivenStrategyEngine
from basis_strategy.live.heartbeat import HeartbeatRegistry
from basis_strategy.live.limits import RiskLimits
from basis_strategy.live.replay import AcceleratedClock, ReplaySource
from basis_strategy.live.session import FLAT_DUST_USD, PaperSession, flat_rules
from basis_strategy.live.trading_state import StopMode, TradingState
from basis_strategy.venues.simulated.build import build_simulated_venues

START = datetime(2025, 3, 1, tzinfo=UTC)


@pytest.mark.parametrize("mode", MODE_NAMES)
def test_flatten_leaves_only_cash_then_freezes(mode: str) -> None:
    window = [f"start={START.isoformat()}", f"end={(START + timedelta(hours=12)).isoformat()}"]
    config = load_run_config(mode, window, env={})
    data = HistoricalDataProvider(config, FolderData(DATA_DIR))
    engine = EventDrivenStrategyEngine(config, data, build_simulated_venues(config, data.aave_risk))
    wall = SleptWall()
    clock = AcceleratedClock(START - timedelta(minutes=1), 3600 / 0.01, wall, wall.sleep)
    source = ReplaySource(engine.data, clock.now)
    session = PaperSession(
        engine, source, clock.now, clock.sleep_until, HeartbeatRegistry(clock.now)
    )

    def operator(s: PaperSession) -> None:
        if s.cycles == 3:
            s.emergency_stop("operator", StopMode.FLATTEN)

    session.run(max_cycles=8, on_cycle_done=operator)
    assert session.control.state is TradingState.HALTED
    assert session.control.stop_mode is StopMode.FREEZE, [a.message for a in session.alerts]
    assert "LT-010" in {a.code for a in session.alerts}
    market = engine.data.get_data(session.stepped[-1])
    values = engine.parts.exposure.compute(market).values
    usd = market.usd(engine.parts.results.currency)
    cash, allowance = flat_rules(engine)
    for key, qty in engine.parts.positions.quantities.items():
        inst = instrument(key)
        if qty == 0.0 or inst.kind == "Pending" or inst.symbol in cash:
            continue
        assert not inst.is_perp and inst.kind == "BaseToken", (key, qty)
        left = qty - allowance.get(key, 0.0)
        assert left <= 0 or abs(values[key] * usd) * left / qty < FLAT_DUST_USD, (key, qty)


def _paper(mode: str, limits: RiskLimits) -> PaperSession:
    window = [f"start={START.isoformat()}", f"end={(START + timedelta(hours=6)).isoformat()}"]
    config = load_run_config(mode, window, env={})
    data = HistoricalDataProvider(config, FolderData(DATA_DIR))
    engine = EventDrivenStrategyEngine(config, data, build_simulated_venues(config, data.aave_risk))
    wall = SleptWall()
    clock = AcceleratedClock(START - timedelta(minutes=1), 3600 / 0.01, wall, wall.sleep)
    source = ReplaySource(engine.data, clock.now)
    beats = HeartbeatRegistry(clock.now)
    return PaperSession(engine, source, clock.now, clock.sleep_until, beats, limits=limits)


@pytest.mark.parametrize(
    ("limits", "code"),
    [
        (RiskLimits(max_order_notional_usd=50_000.0), "RISK-005"),  # the 66k spot buy
        (RiskLimits(max_orders_per_minute=3), "RISK-006"),  # the entry sends 4 CEX orders
    ],
)
def test_an_order_over_a_limit_is_refused_and_the_strategy_reduces(
    limits: RiskLimits, code: str
) -> None:
    session = _paper("btc_basis", limits)
    session.run(max_cycles=3)
    codes = [a.code for a in session.alerts]
    assert code in codes and "RISK-001" in codes, codes
    assert session.control.state is TradingState.REDUCING
    events = session.engine.parts.logger.events
    orders = [e for e in events if e.event_type in ("SpotBought", "PerpTraded")]
    limit = limits.max_orders_per_minute
    if code == "RISK-005":  # the spot buy was refused, so no short sized for it went either
        assert orders == []
    else:  # three orders of the entry went (one bundle each), the fourth was refused
        assert len({e.bundle_id for e in orders}) == limit
    assert codes.count(code) == 1  # alerted once, however often the strategy tried


def test_within_the_limits_paper_is_its_backtest_unchanged() -> None:
    session = _paper("btc_basis", RiskLimits())
    session.run(max_cycles=3)
    assert session.control.state is TradingState.ACTIVE
    assert not [a for a in session.alerts if a.code.startswith("RISK")]
