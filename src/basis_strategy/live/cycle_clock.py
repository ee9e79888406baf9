"""When the live loop runs its next cycle (issue 13: a wall clock at a configurable interval,
aligned to the hour by default).

Why: backtests step on the hour, so a live strategy aligned to the hour sees the same grid of
prices and funding times as its backtest. A loop that overslept (a slow cycle, a suspended
VM) skips the missed grid points instead of running them in a burst: each cycle reads the
market as it is now, and a burst would break the order-rate limit for nothing.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

HOUR_S = 3600.0


def next_cycle_at(
    now: datetime,
    interval_s: float = HOUR_S,
    aligned: bool = True,
    last_cycle_at: datetime | None = None,
) -> datetime:
    """The next cycle time strictly after `now`.

    Aligned: the next multiple of `interval_s` since 1970-01-01 00:00 UTC (3600: the next full
    hour; 900: the next quarter hour). Not aligned: `last_cycle_at + interval_s`, or `now` if
    that has passed (or there was no cycle yet): late cycles run at once, missed ones are
    skipped.
    """
    if not (math.isfinite(interval_s) and 1.0 <= interval_s <= 86_400.0):
        raise ValueError(f"interval_s: must be between 1 and 86400 s, was {interval_s!r}")
    if now.tzinfo is None:
        raise ValueError(f"now: must be a timezone-aware UTC datetime, was {now!r}")
    now = now.astimezone(UTC)
    if not aligned:
        if last_cycle_at is None:
            return now
        due = last_cycle_at.astimezone(UTC) + timedelta(seconds=interval_s)
        return max(due, now)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    elapsed_s = (now - epoch).total_seconds()
    steps = math.floor(elapsed_s / interval_s) + 1
    return epoch + timedelta(seconds=steps * interval_s)


def seconds_until(now: datetime, at: datetime) -> float:
    """How long the loop should sleep (never negative)."""
    return max(0.0, (at - now).total_seconds())
