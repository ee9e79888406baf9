"""Heartbeats of live strategies (issue 13, ADR-043 "Health Monitoring").

Why: a strategy whose loop hangs (a stuck request, a dead task) still holds positions; nobody
notices unless its silence is measured. Each strategy beats at least once per cycle; one
silent LONGER than its limit (default 300 s, `RiskLimits.heartbeat_limit_s`) is unhealthy and
raises LT-004 once per silence (a new beat clears it, so the next silence alerts again). The
clock is injected so tests and the service decide what "now" is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from basis_strategy.live.alerts import Alert
from basis_strategy.live.trading_state import TradingState

DEFAULT_HEARTBEAT_LIMIT_S = 300.0


@dataclass(frozen=True, slots=True)
class Beat:
    """What the registry knows of one strategy (registration counts as its first beat)."""

    strategy: str
    limit_s: float
    last_beat_at: datetime
    cycles: int = 0
    last_cycle_at: datetime | None = None
    data_age_s: float | None = None
    state: TradingState = TradingState.ACTIVE


@dataclass(frozen=True, slots=True)
class Health:
    """One strategy's health at `now`: `silent_s` since its last beat."""

    strategy: str
    healthy: bool
    silent_s: float
    limit_s: float
    cycles: int
    last_cycle_at: datetime | None
    data_age_s: float | None
    state: TradingState


class HeartbeatRegistry:
    """Per-strategy heartbeats; `health()` says which strategies are silent too long."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        self._beats: dict[str, Beat] = {}
        self._alerted: set[str] = set()

    def register(self, strategy: str, limit_s: float = DEFAULT_HEARTBEAT_LIMIT_S) -> None:
        if not strategy:
            raise ValueError("heartbeat: strategy name must not be empty")
        if not 0 < limit_s < float("inf"):
            raise ValueError(f"heartbeat {strategy}: limit_s must be finite and > 0, was {limit_s}")
        self._beats[strategy] = Beat(strategy, limit_s, self._clock())
        self._alerted.discard(strategy)

    def unregister(self, strategy: str) -> None:
        """A stopped strategy is no longer watched."""
        self._beats.pop(strategy, None)
        self._alerted.discard(strategy)

    def beat(
        self,
        strategy: str,
        *,
        cycle_done: bool = False,
        data_age_s: float | None = None,
        state: TradingState | None = None,
    ) -> Beat:
        """Record a sign of life; `cycle_done` also counts a completed engine cycle."""
        if strategy not in self._beats:
            raise KeyError(f"heartbeat: strategy {strategy!r} is not registered")
        now = self._clock()
        old = self._beats[strategy]
        new = replace(
            old,
            last_beat_at=now,
            cycles=old.cycles + 1 if cycle_done else old.cycles,
            last_cycle_at=now if cycle_done else old.last_cycle_at,
            data_age_s=old.data_age_s if data_age_s is None else data_age_s,
            state=old.state if state is None else state,
        )
        self._beats[strategy] = new
        self._alerted.discard(strategy)
        return new

    def get(self, strategy: str) -> Beat:
        return self._beats[strategy]

    def health(self, now: datetime | None = None) -> tuple[tuple[Health, ...], tuple[Alert, ...]]:
        """Every strategy's health at `now` (default: the clock) and an LT-004 alert for each
        that became unhealthy since the last call (silent for longer than its limit)."""
        now = self._clock() if now is None else now
        report: list[Health] = []
        alerts: list[Alert] = []
        for name in sorted(self._beats):
            beat = self._beats[name]
            silent_s = (now - beat.last_beat_at).total_seconds()
            healthy = silent_s <= beat.limit_s
            report.append(
                Health(
                    name,
                    healthy,
                    silent_s,
                    beat.limit_s,
                    beat.cycles,
                    beat.last_cycle_at,
                    beat.data_age_s,
                    beat.state,
                )
            )
            if not healthy and name not in self._alerted:
                self._alerted.add(name)
                message = f"silent for {silent_s:.0f} s, limit {beat.limit_s:.0f} s: unhealthy"
                alerts.append(Alert("LT-004", message, name, now))
        return tuple(report), tuple(alerts)
