"""A backtest as a whole process (issue 15): wall time of fresh processes, and where the
results' CSV writing stands.

Usage: python benchmarks/whole_process.py [--repeat 5] [--mode usdt_market_neutral]

Runs `basis backtest MODE --quiet` over the mode's full window on the real data
(`BASIS_DATA_DIR`, else ../shared/data) `--repeat` times in fresh processes and prints each
wall time and the median (issue 15's target: 1.5 s for usdt_market_neutral), then, in this
process, the time to write that run's three CSVs with `reports/csv_text.py` and with pandas
`to_csv` (floats exact in both). No exit status on the targets yet: the work is under way.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 1.5


def data_dir() -> str:
    return os.environ.get("BASIS_DATA_DIR") or str(ROOT.parent / "shared" / "data")


def csv_times(mode: str) -> tuple[float, float]:
    """Seconds to write the run's three CSVs: csv_text, pandas to_csv with exact floats."""
    from basis_strategy.engine import EventDrivenStrategyEngine
    from basis_strategy.reports.csv_text import frame_csv
    from basis_strategy.services.backtest import prepare
    from basis_strategy.venues.simulated.build import build_simulated_venues

    config, data = prepare(mode, [], data_dir(), os.environ)
    engine = EventDrivenStrategyEngine(config, data, build_simulated_venues(config, data.aave_risk))
    engine.run()
    frames = engine.parts.results.frames(engine.parts.logger.events)
    tables = ((frames.hourly, True), (frames.balance, True), (frames.events, False))
    started = time.perf_counter()
    for frame, index in tables:
        frame_csv(frame, index)
    ours = time.perf_counter() - started
    started = time.perf_counter()
    for frame, index in tables:
        frame.to_csv(index=index, float_format=lambda v: repr(float(v)))
    return ours, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--mode", default="usdt_market_neutral")
    args = parser.parse_args()
    times = []
    with tempfile.TemporaryDirectory() as out:
        for _ in range(max(args.repeat, 1)):
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "basis_strategy", "backtest", args.mode, "--quiet",
                 "--data-dir", data_dir(), "--out", out],
                capture_output=True, check=True,
            )  # fmt: skip
            times.append(time.perf_counter() - started)
            print(f"basis backtest {args.mode}: {times[-1]:.2f} s")
    median = statistics.median(times)
    print(f"median: {median:.2f} s over {len(times)} runs (target <= {TARGET_S} s)")
    ours, pandas = csv_times(args.mode)
    print(f"the run's three CSVs: csv_text {ours:.2f} s, pandas to_csv {pandas:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
