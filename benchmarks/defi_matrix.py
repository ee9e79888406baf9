"""The DeFi acceptance matrix: each of the four modes with weETH and wstETH in every rewards
mode the data allows, over 2024-05-12 -> 2025-09-18 (hedged modes on Binance + Bybit).

Usage: python benchmarks/defi_matrix.py [--data-dir DIR]
Prints APY (NAV per share, costs on), the worst hourly |residual| / equity, the lowest health
factor, the highest LTV, the highest USDT-class delta drift, liquidations, refused
instructions and rewards, per run.
"""

from __future__ import annotations

import argparse
import os
import tempfile

import pandas as pd

from basis_strategy.services.backtest import run_backtest

MODES = (
    "eth_staking_only",
    "eth_leveraged",
    "usdt_market_neutral_no_leverage",
    "usdt_market_neutral",
)
LST_REWARDS = (
    ("weETH", "base_only"),
    ("weETH", "base_eigen"),
    ("weETH", "base_eigen_seasonal"),
    ("wstETH", "base_only"),
)
WINDOW = ["start=2024-05-12T01:00:00Z", "end=2025-09-18T00:00:00Z"]
TWO_VENUES = ["hedge.venues=[binance, bybit]", "hedge.allocation={binance: 0.5, bybit: 0.5}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("BASIS_DATA_DIR", "../shared/data"))
    args = parser.parse_args()
    print(
        f"{'mode':<32}{'lst':<7}{'rewards':<20}{'APY':>7}{'max|res|/E':>11}{'minHF':>7}"
        f"{'maxLTV':>7}{'maxdrift':>9}{'liq':>4}{'rej':>4}{'rewards':>10}"
    )
    with tempfile.TemporaryDirectory() as out:
        for mode in MODES:
            for lst, rewards in LST_REWARDS:
                sets = [*WINDOW, f"staking.lst_type={lst}", f"staking.rewards_mode={rewards}"]
                if mode.startswith("usdt"):
                    sets += TWO_VENUES
                outcome = run_backtest(mode, sets, args.data_dir, out, env={})
                s = outcome.summary
                b = pd.read_csv(outcome.path / "balance_sheet.csv", index_col=0).iloc[1:]
                hf = b["aave_hf"].min() if "aave_hf" in b else float("inf")
                ltv = b["aave_ltv"].max() if "aave_ltv" in b else 0.0
                drift = b["delta_drift:ETH"].max() if mode.startswith("usdt") else float("nan")
                print(
                    f"{mode:<32}{lst:<7}{rewards:<20}{s['apy']:>7.2%}"
                    f"{s['max_hourly_residual_to_equity']:>11.1e}{hf:>7.3f}{ltv:>7.4f}"
                    f"{drift:>9.4f}{s['liquidations']:>4}{len(s['rejected_instructions']):>4}"
                    f"{s['pnl_attribution']['rewards']:>10.2f}"
                )


if __name__ == "__main__":
    main()
