"""Report build time and page size of a full-window run (issue 4).

Usage: python benchmarks/report.py [--data-dir DIR] [--mode usdt_market_neutral] [--repeat 3]

Runs the mode over its full window first (not timed), then builds its report
(`build_report`: plots/*.html and index.html) `--repeat` times and prints each build time and
the page size: index.html plus plots/plotly.min.js, which the page loads.
Targets: build < 3 s, page + plotly.min.js < 5 MB (5,000,000 bytes).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

from basis_strategy.reports.build import build_report
from basis_strategy.services.backtest import run_backtest

TARGET_S = 3.0
TARGET_BYTES = 5_000_000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", default="usdt_market_neutral")
    parser.add_argument("--data-dir", default=os.environ.get("BASIS_DATA_DIR", "../shared/data"))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        run_dir = run_backtest(args.mode, [], args.data_dir, out, env={}).path
        hours = len((run_dir / "hourly_pnl.csv").read_text(encoding="utf-8").splitlines()) - 1
        print(f"{args.mode}: {hours:,} hours, backtest {time.perf_counter() - started:.2f} s")
        times = []
        for _ in range(max(args.repeat, 1)):
            started = time.perf_counter()
            index = build_report(run_dir)
            times.append(time.perf_counter() - started)
        page = index.stat().st_size
        js = (run_dir / "plots" / "plotly.min.js").stat().st_size
        plots = sum(p.stat().st_size for p in (run_dir / "plots").glob("*.html"))
        print("report build s: " + ", ".join(f"{t:.3f}" for t in times))
        print(f"index.html:        {page:>10,} bytes")
        print(f"plotly.min.js:     {js:>10,} bytes")
        print(f"page + plotly.js:  {page + js:>10,} bytes (limit {TARGET_BYTES:,})")
        print(f"plots/*.html:      {plots:>10,} bytes (standalone pages, not loaded by index)")
        good = max(times) < TARGET_S and page + js < TARGET_BYTES
        print("ok" if good else "ABOVE TARGET")
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
