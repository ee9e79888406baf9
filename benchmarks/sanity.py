"""Backtest results next to domain.md section 16's sanity figures, for the same windows.

Usage: python benchmarks/sanity.py [--data-dir DIR]
Prints each case's APY (from NAV per share; ETH-class modes in ETH) and the figure section 16
expects. Hedged staking modes short on Binance and Bybit here: OKX funding ends 2025-09-07.
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
LST = "start=2024-05-12T01:00:00Z"
FULL = [LST, "end=2025-09-18T00:00:00Z"]
MAY_DEC_2024 = [LST, "end=2024-12-31T23:00:00Z"]
YTD_2025 = ["start=2025-01-01", "end=2025-09-18T00:00:00Z"]
BASE = "staking.rewards_mode=base_only"
WSTETH = ["staking.lst_type=wstETH", BASE]
CASES += [
    ("eth_staking_only", [*FULL, BASE], "~2.75% (weETH oracle APY)"),
    ("eth_staking_only", [*FULL], "~2.75% + ~0.7% rewards"),
    ("eth_staking_only", [*FULL, *WSTETH], "~3.0% (wstETH)"),
    ("eth_leveraged", [*MAY_DEC_2024, BASE], "5.00% (λ 0.91, May-Dec 2024)"),
    ("eth_leveraged", [*YTD_2025, BASE], "2.22% (λ 0.91, 2025)"),
    ("eth_leveraged", [*FULL, BASE], "3.52% (λ 0.91, full)"),
    ("eth_leveraged", [*FULL], "~10-12% with rewards"),
    ("eth_leveraged", [*FULL, *WSTETH], "6.16% (wstETH λ 0.91)"),
    ("usdt_market_neutral_no_leverage", [*MAY_DEC_2024, *TWO_VENUES, BASE], "~6.7%"),
    ("usdt_market_neutral_no_leverage", [*YTD_2025, *TWO_VENUES, BASE], "~4%"),
    ("usdt_market_neutral_no_leverage", [*FULL, *TWO_VENUES], "base + ~0.35% rewards"),
    ("usdt_market_neutral", [*MAY_DEC_2024, *TWO_VENUES, BASE], "~7.8%"),
    ("usdt_market_neutral", [*YTD_2025, *TWO_VENUES, BASE], "~3.8%"),
    ("usdt_market_neutral", [*FULL, *TWO_VENUES], "base + ~4% EIGEN"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("BASIS_DATA_DIR", "../shared/data"))
    args = parser.parse_args()
    header = f"{'mode':<32}{'window':<36}{'APY':>8}{'funding APR':>12}{'costs':>9}  section 16"
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
                    f"{mode:<32}{window:<36}{s['apy']:>8.2%}{funding:>12.2%}{costs:>9}  {expected}"
                )


if __name__ == "__main__":
    main()
