"""Engine speed and memory per mode over each mode's full data window.

Usage: python benchmarks/engine.py [--data-dir DIR] [MODE ...]

Each mode runs in its own process (so peak memory is that run's alone), with the full event
log on and the results written. Prints hourly steps per second of the hourly loop (data
loading and file writing excluded, shown separately) and the process's peak resident memory.
Targets: >= 20,000 steps/s for pure_lending and the basis modes (issue #2), >= 10,000 for the
DeFi modes (issue #3: usdt_market_neutral), peak memory < 500 MB.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from multiprocessing import get_context
from pathlib import Path

from basis_strategy.config.loader import load_run_config
from basis_strategy.data.provider import HistoricalDataProvider
from basis_strategy.engine import EventDrivenStrategyEngine
from basis_strategy.strategies.factory import STRATEGIES
from basis_strategy.venues.simulated.build import build_simulated_venues

TARGET_STEPS = 20_000
DEFI_TARGET_STEPS = 10_000
DEFI_MODES = {
    "eth_staking_only",
    "eth_leveraged",
    "usdt_market_neutral_no_leverage",
    "usdt_market_neutral",
}
TARGET_MB = 500


def measure(mode: str, data_dir: str) -> dict[str, float]:
    config = load_run_config(mode, env={})
    t0 = time.perf_counter()
    data = HistoricalDataProvider(config, Path(data_dir))
    engine = EventDrivenStrategyEngine(config, data, build_simulated_venues(config, data.aave_risk))
    t1 = time.perf_counter()
    engine.run()
    t2 = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        engine.write(Path(out), "bench")
    t3 = time.perf_counter()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    hours = len(data.times)
    return {
        "hours": hours,
        "events": len(engine.parts.logger.events),
        "load_s": t1 - t0,
        "loop_s": t2 - t1,
        "write_s": t3 - t2,
        "steps_per_s": hours / (t2 - t1),
        "peak_mb": peak_mb,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modes", nargs="*", default=list(STRATEGIES))
    parser.add_argument("--data-dir", default=os.environ.get("BASIS_DATA_DIR", "../shared/data"))
    args = parser.parse_args()
    print(
        f"{'mode':<32}{'hours':>7}{'events':>8}{'load s':>8}{'loop s':>8}{'write s':>8}"
        f"{'steps/s':>9}{'peak MB':>9}  verdict"
    )
    ok = True
    ctx = get_context("spawn")
    for mode in args.modes:
        with ctx.Pool(1) as pool:
            r = pool.apply(measure, (mode, args.data_dir))
        target = DEFI_TARGET_STEPS if mode in DEFI_MODES else TARGET_STEPS
        good = r["steps_per_s"] >= target and r["peak_mb"] < TARGET_MB
        ok &= good
        print(
            f"{mode:<32}{r['hours']:>7.0f}{r['events']:>8.0f}{r['load_s']:>8.2f}{r['loop_s']:>8.2f}"
            f"{r['write_s']:>8.2f}{r['steps_per_s']:>9.0f}{r['peak_mb']:>9.0f}  "
            f"{'ok' if good else 'BELOW TARGET'}"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
