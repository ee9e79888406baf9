"""Start-up time of the CLI as a whole process (issues 13 and 15).

Usage: python benchmarks/cli_start.py [--repeat 5]

Runs `python -m basis_strategy --help` `--repeat` times in fresh processes and prints each wall
time and the median, then whether the CLI loaded ccxt or web3 (only a session on live feeds or
live execution needs them: about 1.3 s of imports). Target (issue 15): a median of at most
0.3 s; exits 1 above it, or if either library is loaded by the CLI.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

TARGET_S = 0.3
LOADED = "import sys, basis_strategy.cli; print(sorted({'ccxt', 'web3'} & set(sys.modules)))"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    times = []
    for _ in range(max(args.repeat, 1)):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "basis_strategy", "--help"],
                       capture_output=True, check=True)  # fmt: skip
        times.append(time.perf_counter() - started)
        print(f"basis --help: {times[-1]:.2f} s")
    median = statistics.median(times)
    verdict = "ok" if median <= TARGET_S else "ABOVE TARGET"
    print(f"median: {median:.2f} s over {len(times)} runs (target <= {TARGET_S} s): {verdict}")
    loaded = subprocess.run([sys.executable, "-c", LOADED], capture_output=True, text=True,
                            check=True).stdout.strip()  # fmt: skip
    print(f"venue client libraries loaded by the CLI: {loaded}")
    return 0 if loaded == "[]" and median <= TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
