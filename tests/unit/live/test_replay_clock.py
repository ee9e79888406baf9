"""The accelerated clock of a replayed paper run, and the engine's positions as the REDUCING
gate's keys (issue 13)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from basis_strategy.live.replay import AcceleratedClock
from basis_strategy.live.session import reducing_positions

START = datetime(2024, 6, 3, tzinfo=UTC)


class FakeWall:
    def __init__(self) -> None:
        self.s = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.s

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.s += seconds


def test_replayed_time_runs_at_the_given_speed() -> None:
    wall = FakeWall()
    clock = AcceleratedClock(START, 72_000.0, wall, wall.sleep)  # 1 h per 0.05 s
    assert clock.now() == START
    wall.s += 0.05
    assert abs((clock.now() - START).total_seconds() - 3600.0) < 1e-3


def test_sleep_until_sleeps_the_wall_time_of_the_replayed_wait() -> None:
    wall = FakeWall()
    clock = AcceleratedClock(START, 72_000.0, wall, wall.sleep)
    clock.sleep_until(START + timedelta(hours=2))
    assert clock.now() >= START + timedelta(hours=2)
    assert abs(sum(wall.sleeps) - 0.1) < 1e-6
    wall.sleeps.clear()
    clock.sleep_until(START)  # already past: no sleep
    assert wall.sleeps == []


@pytest.mark.parametrize("speed", [0.0, -1.0, float("inf"), float("nan")])
def test_bad_speed_is_refused(speed: float) -> None:
    with pytest.raises(ValueError, match="replayed_s_per_wall_s"):
        AcceleratedClock(START, speed)


def test_naive_start_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        AcceleratedClock(datetime(2024, 6, 3), 1.0)


def test_engine_positions_map_to_reducing_keys() -> None:
    quantities = {
        "binance:Perp:ETHUSDT": -7.0,
        "binance:BaseToken:ETH": 17.5,
        "aave_v3:aToken:aweETH": 313.9,
        "aave_v3:debtToken:debtWETH": 284.7,
    }
    assert reducing_positions(quantities) == {
        "binance:perp:ETH": -7.0,
        "binance:spot:ETH": 17.5,
        "aave_v3:supply:weETH": 313.9,
        "aave_v3:debt:WETH": 284.7,
    }
