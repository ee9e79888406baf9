"""The loop's wall clock: aligned to the hour by default, strictly after now, missed cycles
skipped, not-aligned cycles every interval from the last."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from basis_strategy.live.cycle_clock import next_cycle_at, seconds_until

T = datetime(2025, 3, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (T, T + timedelta(hours=1)),  # on the hour: strictly after now
        (T + timedelta(minutes=59, seconds=59), T + timedelta(hours=1)),
        (T + timedelta(microseconds=1), T + timedelta(hours=1)),
        (T - timedelta(microseconds=1), T),
    ],
)
def test_aligned_to_the_hour_by_default(now: datetime, expected: datetime) -> None:
    assert next_cycle_at(now) == expected


def test_other_intervals_align_to_their_grid_and_timezones_are_read_in_utc() -> None:
    assert next_cycle_at(T + timedelta(minutes=7), 900) == T + timedelta(minutes=15)
    local = datetime(2025, 3, 1, 14, 30, tzinfo=timezone(timedelta(hours=2)))
    assert next_cycle_at(local) == T + timedelta(hours=1)


def test_not_aligned_runs_every_interval_from_the_last_and_skips_missed() -> None:
    last = T + timedelta(minutes=7)
    assert next_cycle_at(last, 600, aligned=False, last_cycle_at=last) == last + timedelta(
        minutes=10
    )
    late = last + timedelta(hours=3)  # overslept: run now, once
    assert next_cycle_at(late, 600, aligned=False, last_cycle_at=last) == late
    assert next_cycle_at(T, 600, aligned=False) == T


@pytest.mark.parametrize("interval", [0.0, 0.5, 86_401.0, float("nan")])
def test_bad_interval_or_naive_now_refused(interval: float) -> None:
    with pytest.raises(ValueError, match="interval_s"):
        next_cycle_at(T, interval)
    with pytest.raises(ValueError, match="timezone-aware"):
        next_cycle_at(datetime(2025, 3, 1))


def test_seconds_until_is_never_negative() -> None:
    assert seconds_until(T, T + timedelta(seconds=90)) == 90.0
    assert seconds_until(T, T - timedelta(seconds=5)) == 0.0
