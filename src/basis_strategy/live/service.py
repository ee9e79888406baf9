"""LiveTradingService (issue 13, ADR-043): start, watch and stop paper and live sessions.

Why: one way to run a strategy live, whoever asks (the CLI or the API). A session runs in its
own process (`basis live start ... --session-id ID`), so a crash or a `kill -9` of one session
stops only that session, and the API server never holds a trading loop. Everything between
the processes goes through the store (the same database as backtests, `session_store.py`):

- the session process commits each completed cycle (journal, trading state, checkpoint, a
  status snapshot) and beats while it waits for its next cycle;
- `stop` and `emergency_stop` store a command; the session process polls for it at least once
  a second while it waits, and before each cycle, so a stop is honoured within one cycle;
- `status` and `sessions` read the stored rows (a session is running if its process beat
  within its heartbeat limit), `events` the tail of the session's `event_log.csv`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

Execution = Literal["paper", "live"]


@dataclass(frozen=True)
class LiveStartRequest:
    """What `basis live start` and `POST /api/live` take (validated by `validate`).

    `replay_start` set: the market data is the stored history replayed from that hour at
    `speed` replayed seconds per wall second (paper only); None: live feeds."""

    mode: str
    execution: Execution = "paper"
    interval_s: float = 3600.0
    aligned: bool = True
    max_cycles: int | None = None  # None: until stopped
    replay_start: datetime | None = None
    speed: float = 1.0
    overrides: tuple[str, ...] = ()


@dataclass(frozen=True)
class LiveStatus:
    """One session as stored (JSON-ready through `as_dict`)."""

    session_id: str
    mode: str
    execution: Execution
    feed: str  # "replay from 2025-03-01T00:00:00+00:00 at 3600x" or "live"
    running: bool  # its process beat within the heartbeat limit
    healthy: bool  # running and not silent too long
    state: str  # active | reducing | halted
    stop_mode: str | None
    reason: str
    cycles: int
    stepped: int
    skipped: int
    halted: int
    last_cycle_at: datetime | None
    heartbeat_age_s: float | None
    data_age_s: float | None
    equity: float | None  # share-class units, after the last stepped cycle
    pnl: float | None  # cumulative since start
    nav_per_share: float | None
    currency: str
    positions: dict[str, dict[str, float]] = field(default_factory=dict)  # venue -> key -> qty
    risk: dict[str, Any] = field(default_factory=dict)  # margin ratios, delta, LTV, HF, level
    venues: dict[str, bool] = field(default_factory=dict)  # venue -> reachable (live)
    alerts: list[dict[str, str]] = field(default_factory=list)  # newest last
    results_dir: str = ""

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["last_cycle_at"] = (
            None if self.last_cycle_at is None else self.last_cycle_at.isoformat()
        )
        return out
