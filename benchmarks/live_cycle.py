"""Live cycle time (issue 13): btc_basis on the Binance, Bybit and OKX fakes at loopback.

Usage: python benchmarks/live_cycle.py [--data-dir DIR] [--days N] [--poll-s S] [--move X]

A live CEX run of btc_basis (ccxt's real clients, the HTTP fakes on 127.0.0.1, a SQLite live
store) over replayed days from 2025-03-01, one cycle per replayed hour: the hour's data read
(and set on the fakes: `tests/fakes/replay_market.py`), the strategy's decision, its orders
and transfers, the reconciliation with every venue after each instruction and at the cycle's
end. A price move of `--move` (default +20 %) at 10:00 on the first day sends every venue to
its margin warning band, so one cycle rebalances (spot sale, shorts cut, two withdrawals, their
deposits the next cycle). The venues' waits between an order and its query are really slept
(`--poll-s`). Prints
the median, p90 and max wall time of the cycles after the entry (at least 20) and exits 1 if
the median is above 1 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.fakes: the venue fakes

from tests.fakes.replay_market import live_day

from basis_strategy.config.loader import load_run_config
from basis_strategy.live.store import LiveStore
from basis_strategy.venues.live.cex import LiveCexSettings

START = datetime(2025, 3, 1, tzinfo=UTC)
TARGET_S = 1.0
MIN_CYCLES = 20


def measure(data_dir: Path, days: int, poll_s: float, move: float) -> list[float]:
    """Wall seconds of each cycle after the entry."""
    end, at = START + timedelta(days=days), (START + timedelta(hours=10)).isoformat()
    window = [f"start={START.isoformat()}", f"end={end.isoformat()}"]
    shock = (f"shocks=[{{series: ['price:BTC', 'perp:*:BTCUSDT'], start: '{at}', end: '{at}', "
             f"kind: move, value: {move}}}]")  # fmt: skip
    config = load_run_config("btc_basis", [*window, *([shock] if move else [])], env={})
    hours = [START + timedelta(hours=h) for h in range(days * 24)]
    with (
        tempfile.TemporaryDirectory() as folder,
        LiveStore(f"sqlite:///{Path(folder) / 'live.db'}") as store,
        live_day(config, data_dir, store, "bench-live-cycle", time.sleep,
                 LiveCexSettings(poll_interval_s=poll_s)) as day,
    ):  # fmt: skip
        day.step(hours[0])  # the entry
        times = []
        for t in hours[1:]:
            t0 = time.perf_counter()
            day.step(t)
            times.append(time.perf_counter() - t0)
        checks = day.engine.parts.execution.updates.reconciliation.venue_checks
        print(f"cycles {len(times)} after the entry; venue reads: {checks} after "
              f"instructions, {day.cycle_checks} at cycle ends")  # fmt: skip
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("BASIS_DATA_DIR", "../shared/data"))
    parser.add_argument("--days", type=int, default=2)
    parser.add_argument("--poll-s", type=float, default=0.05)
    parser.add_argument("--move", type=float, default=0.2)
    args = parser.parse_args()
    times = measure(Path(args.data_dir), args.days, args.poll_s, args.move)
    if len(times) < MIN_CYCLES:
        print(f"only {len(times)} cycles: at least {MIN_CYCLES} needed (--days)")
        return 1
    median = statistics.median(times)
    p90 = statistics.quantiles(times, n=10)[-1]
    good = median <= TARGET_S
    print(
        f"btc_basis live cycle on 3 fakes: median {median * 1000:.1f} ms, p90 "
        f"{p90 * 1000:.1f} ms, max {max(times) * 1000:.1f} ms (target median <= "
        f"{TARGET_S:.0f} s): {'ok' if good else 'ABOVE TARGET'}"
    )
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
