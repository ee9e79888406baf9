"""No look-ahead in the DeFi modes: on the data copy cut after T_CUT (see conftest), runs to
T_CUT give the same hourly P&L, balance sheet and event log as full-data runs, up to T_CUT.

usdt_market_neutral (levered, hedged on Binance + Bybit) and eth_leveraged run with every
reward source on, so the LST oracle, peg, AAVE LST/WETH, reward-token and reward files are all
read from the cut copy.
"""

from __future__ import annotations

import pandas as pd
import pytest
from tests.integration.conftest import FULL_WINDOW_HEDGE, T_CUT, TruncatedData

START = "start=2024-05-12T01:00:00Z"
CASES = {
    "usdt_market_neutral": FULL_WINDOW_HEDGE,
    "eth_leveraged": [],
}
REWARDS = "staking.rewards_mode=base_eigen_seasonal"
STATIC = {  # files without a time column: parameters and reward lists, read whole
    "protocol_data/aave/risk_params/aave_v3_risk_parameters.json",
    "manual_sources/aave_params/aave_current_v3_prams_etherum_mainnet.csv",
    "manual_sources/etherfi_distributions/eigen_distributions_raw.csv",
    "manual_sources/etherfi_distributions/ethfi_topups_raw.csv",
    "manual_sources/etherfi_distributions/seasonal_drops.csv",
}


@pytest.fixture(scope="module", params=sorted(CASES))
def pair(request, runs, truncated_data: TruncatedData):
    mode = request.param
    sets = [START, REWARDS, *CASES[mode]]
    cut = runs.get(mode, [*sets, "end=2024-07-15T13:00:00Z"], truncated_data.path)
    full = runs.get(mode, [*sets, "end=2024-09-30T00:00:00Z"])
    return cut, full


def test_reads_only_cut_or_static_files(pair, truncated_data):
    cut, _ = pair
    for relative in cut.summary["data_files"].values():
        if (truncated_data.path / relative).is_file():
            assert relative in truncated_data.time_columns or relative in STATIC, relative


def test_outputs_identical_up_to_cut(pair):
    cut, full = pair
    hourly_cut, hourly_full = (
        cut.text("hourly_pnl.csv").splitlines(),
        full.text("hourly_pnl.csv").splitlines(),
    )
    assert hourly_cut[0] == hourly_full[0]
    assert pd.Timestamp(hourly_cut[-1].split(",", 1)[0]) == T_CUT
    assert hourly_cut == hourly_full[: len(hourly_cut)]
    events_cut = cut.text("event_log.csv").splitlines()
    assert events_cut == full.text("event_log.csv").splitlines()[: len(events_cut)]
    head = full.balance.loc[:T_CUT]
    assert head.index.equals(cut.balance.index)
    pd.testing.assert_frame_equal(head[cut.balance.columns], cut.balance, check_exact=True)
