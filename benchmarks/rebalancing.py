"""Cost-aware rebalancing (issue 11): every mode, over its full default window and over
2024-12-15 -> 2025-05-31, with optional actions on (the default) and off, against the figures
of main before the change (commit 6679034, measured with this script's windows).

Usage: python benchmarks/rebalancing.py [--data-dir DIR] [MODE ...]

Prints total return (NAV per share) for each, the optional actions taken and their actual
cost, and whether the default run earns at least as much as (a) optional actions off, less
5 bp, and (b) main before the change, less 10 bp, with no hour past a critical margin ratio or
LTV and the USDT class's delta within tolerance after every hour. Exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from multiprocessing import get_context
from typing import Any

import pandas as pd

from basis_strategy.config.models import MODE_NAMES
from basis_strategy.services.backtest import run_backtest

WINDOWS = {
    "full": [],
    "2024-12-15..2025-05-31": ["start=2024-12-15T00:00:00Z", "end=2025-05-31T00:00:00Z"],
}
OFF = "rebalancing.optional=false"
# total return of main at 6679034 (before issue 11), same windows and capital
MAIN = {
    ("pure_lending", "full"): 0.100007474344453,
    ("pure_lending", "2024-12-15..2025-05-31"): 0.020245688751187485,
    ("btc_basis", "full"): 0.05808138719148204,
    ("btc_basis", "2024-12-15..2025-05-31"): 0.010975388160490596,
    ("eth_basis", "full"): 0.06175935389970988,
    ("eth_basis", "2024-12-15..2025-05-31"): 0.009220092996560458,
    ("eth_staking_only", "full"): 0.04417169208397631,
    ("eth_staking_only", "2024-12-15..2025-05-31"): 0.015274423089757017,
    ("eth_leveraged", "full"): 0.14210168330715756,
    ("eth_leveraged", "2024-12-15..2025-05-31"): 0.04994792564459272,
    ("usdt_market_neutral_no_leverage", "full"): 0.07838656498297336,
    ("usdt_market_neutral_no_leverage", "2024-12-15..2025-05-31"): 0.011358474414648878,
    ("usdt_market_neutral", "full"): 0.10418954611625497,
    ("usdt_market_neutral", "2024-12-15..2025-05-31"): 0.015607047342380165,
}


def measure(mode: str, window: str, sets: list[str], data_dir: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as out:
        outcome = run_backtest(mode, WINDOWS[window] + sets, data_dir, out, env={})
        balance = pd.read_csv(outcome.path / "balance_sheet.csv", index_col=0)
    summary = outcome.summary
    drift = balance[[c for c in balance.columns if c.startswith("delta_drift:")]]
    hedge = summary["config"]["mode"]["hedge"]
    tolerance = hedge["delta_tolerance"] if hedge else float("inf")
    return {
        "total_return": summary["total_return"],
        "critical_share": summary["metrics"]["risk_level_shares"]["critical"],
        "max_delta_drift": float(drift.max().max()) if not drift.empty else 0.0,
        "delta_tolerance": tolerance,
        "rebalancing": summary["rebalancing"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modes", nargs="*", default=list(MODE_NAMES))
    parser.add_argument("--data-dir", default=os.environ.get("BASIS_DATA_DIR", "../shared/data"))
    args = parser.parse_args()
    jobs = [(m, w, s) for m in args.modes for w in WINDOWS for s in ([], [OFF])]
    with get_context("spawn").Pool(2) as pool:
        results = pool.starmap(measure, [(m, w, s, args.data_dir) for m, w, s in jobs])
    by_job = {(m, w, bool(s)): r for (m, w, s), r in zip(jobs, results, strict=True)}
    print(
        f"{'mode':<33}{'window':<24}{'default':>9}{'off':>9}{'main':>9}"
        f"{'vs off':>8}{'vs main':>8}  optional actions (actual cost)  verdict"
    )
    ok = True
    for mode in args.modes:
        for window in WINDOWS:
            default, off = by_job[(mode, window, False)], by_job[(mode, window, True)]
            main_return = MAIN[(mode, window)]
            vs_off = default["total_return"] - off["total_return"]
            vs_main = default["total_return"] - main_return
            safe = default["critical_share"] == 0.0 and (
                default["max_delta_drift"] <= default["delta_tolerance"] + 1e-12
            )
            good = vs_off >= -5e-4 and vs_main >= -1e-3 and safe
            ok &= good
            rebal = default["rebalancing"]
            taken = ", ".join(f"{k} {v}" for k, v in rebal["taken"].items()) or "none"
            print(
                f"{mode:<33}{window:<24}{default['total_return']:>9.4%}{off['total_return']:>9.4%}"
                f"{main_return:>9.4%}{vs_off * 1e4:>7.1f}b{vs_main * 1e4:>7.1f}b  "
                f"{taken} ({rebal['actual_cost']:.2f})  {'ok' if good else 'FAIL'}"
            )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
