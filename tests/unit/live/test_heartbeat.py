"""Heartbeats: unhealthy only when silent longer than the limit, one LT-004 per silence, a beat
clears it; cycles, data age and trading state are recorded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from basis_strategy.live.heartbeat import HeartbeatRegistry
from basis_strategy.live.trading_state import TradingState

T0 = datetime(2025, 3, 1, 12, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_unhealthy_only_after_the_default_five_minutes(clock: Clock) -> None:
    registry = HeartbeatRegistry(clock)
    registry.register("eth_basis")
    clock.advance(300)
    (health,), alerts = registry.health()
    assert health.healthy and health.silent_s == 300 and alerts == ()
    clock.advance(1)
    (health,), alerts = registry.health()
    assert not health.healthy
    assert [(a.code, a.level.value, a.strategy) for a in alerts] == [
        ("LT-004", "ERROR", "eth_basis")
    ]


def test_one_alert_per_silence_and_a_beat_clears_it(clock: Clock) -> None:
    registry = HeartbeatRegistry(clock)
    registry.register("a", limit_s=10)
    clock.advance(11)
    assert len(registry.health()[1]) == 1
    clock.advance(100)
    assert registry.health()[1] == ()  # still silent: no new alert
    registry.beat("a")
    (health,), alerts = registry.health()
    assert health.healthy and alerts == ()
    clock.advance(11)
    assert len(registry.health()[1]) == 1  # a new silence alerts again


def test_each_strategy_has_its_own_limit_and_now_can_be_given(clock: Clock) -> None:
    registry = HeartbeatRegistry(clock)
    registry.register("fast", limit_s=60)
    registry.register("slow", limit_s=3600)
    report, alerts = registry.health(T0 + timedelta(seconds=120))
    assert {h.strategy: h.healthy for h in report} == {"fast": False, "slow": True}
    assert [a.strategy for a in alerts] == ["fast"]


def test_beat_records_cycles_data_age_and_state(clock: Clock) -> None:
    registry = HeartbeatRegistry(clock)
    registry.register("a")
    clock.advance(5)
    registry.beat("a", data_age_s=2.0)
    clock.advance(5)
    beat = registry.beat("a", cycle_done=True, state=TradingState.REDUCING)
    assert beat.cycles == 1 and beat.last_cycle_at == T0 + timedelta(seconds=10)
    assert beat.data_age_s == 2.0 and beat.state is TradingState.REDUCING
    (health,), _ = registry.health()
    assert (health.cycles, health.state, health.data_age_s) == (1, TradingState.REDUCING, 2.0)


def test_unknown_or_bad_registrations_are_refused(clock: Clock) -> None:
    registry = HeartbeatRegistry(clock)
    with pytest.raises(KeyError, match="not registered"):
        registry.beat("ghost")
    with pytest.raises(ValueError, match="limit_s"):
        registry.register("a", limit_s=0)
    with pytest.raises(ValueError, match="limit_s"):
        registry.register("a", limit_s=float("nan"))
    registry.register("a")
    registry.unregister("a")
    assert registry.health() == ((), ())
