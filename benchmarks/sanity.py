"""Backtest results next to domain.md section 16's sanity figures, for the same windows.

Usage: python benchmarks/sanity.py [--data-dir DIR]
Prints each case's APY (from NAV per share) and the figure section 16 expects.
"""

from __future__ import annotations

import argparse
import os
import tempfile

from basis_strategy.services.backtest import run_backtest

TWO_VENUES = ["hedge.venues=[binance, bybit]", "hedge.allocation={binance: 0.5, bybit: 0.5}"]
CASES: list[tuple[str, list[str], str]] = [
    ("pure_lending", ["start=2024-01-01", "end=2024-12-31"], "6.69% (2024 index APY)"),
    ("pure_lending", ["start=2025-01-01", "end=2025-09-18"], "4.25% (2025 index APY)"),
    ("btc_basis", ["start=2024-01-01", "end=2024-12-31", *TWO_VENUES], "~7.9% (11.92% x 2/3)"),
    ("btc_basis", ["start=2025-01-01", "end=2025-09-07T16:00:00Z"], "~3.5% (5.28% x 2/3)"),
    ("eth_basis", ["start=2024-01-01", "end=2024-12-31", *TWO_VENUES], "~8.5% (12.7% x 2/3)"),
    ("eth_basis", ["start=2025-01-01", "end=2025-09-07T16:00:00Z"], "~3.5% (5.2-5.7% x 2/3)"),
    ("btc_basis", [], "full window"),
    ("eth_basis", [], "full window"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("BASIS_DATA_DIR", "../shared/data"))
    args = parser.parse_args()
    header = f"{'mode':<13}{'window':<36}{'APY':>8}{'funding APR':>12}{'costs':>9}  section 16"
    print(header)
    with tempfile.TemporaryDirectory() as out:
        for mode, sets, expected in CASES:
            for costs in ("on", "off"):
                extra = [] if costs == "on" else ["costs.gas=false", "costs.execution=false"]
                s = run_backtest(mode, [*sets, *extra], args.data_dir, out, env={}).summary
                window = f"{s['start'][:13]} -> {s['end'][:13]}"
                years = s["hours"] / 8760
                funding = s["pnl_attribution"]["funding"] / s["initial_capital"] / years
                print(
                    f"{mode:<13}{window:<36}{s['apy']:>8.2%}{funding:>12.2%}{costs:>9}  {expected}"
                )


if __name__ == "__main__":
    main()
