"""No look-ahead (domain 1, 6): cutting the data after T_CUT changes nothing at or before T_CUT.

A copy of the data folder has every time-series CSV cut after T_CUT = 2024-07-15 13:00 UTC
(rows filtered as text, so the kept bytes are unchanged). eth_basis and btc_basis run
2024-05-01 -> T_CUT on the cut copy and 2024-05-01 -> 2024-09-30 on the full data; every output
row stamped at or before T_CUT must be identical.

eth_basis is also run hedged on binance + bybit only (`eth_two_venue_lookahead`): that variant does
not read the OKX ETH perp file, whose rows all start after the cut (2024-08-01), so it still
checks the ETH pipeline for look-ahead if the default config cannot run on the cut copy.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from basis_strategy.config.loader import load_run_config
from basis_strategy.core.errors import LookAheadError
from basis_strategy.data.provider import HistoricalDataProvider

PAIRS = ["eth_lookahead", "eth_two_venue_lookahead", "btc_lookahead"]
T_CUT = pd.Timestamp("2024-07-15T13:00:00Z")  # same as the truncated_data fixture
LOOKAHEAD_START = "start=2024-05-01T00:00:00Z"
LOOKAHEAD_END_CUT = "end=2024-07-15T13:00:00Z"
LOOKAHEAD_END_FULL = "end=2024-09-30T00:00:00Z"


def _rows(text: str) -> list[str]:
    return text.splitlines()


def _stamp(line: str) -> pd.Timestamp:
    return pd.Timestamp(line.split(",", 1)[0])


def test_truncation_cut_every_time_series(truncated_data, data_dir):
    assert truncated_data.cut == T_CUT
    daily = sorted((truncated_data.path / "market_data/okx/funding_rates/daily").glob("*.csv"))
    assert len(daily) == 451
    assert all(
        str(p.relative_to(truncated_data.path)) in truncated_data.time_columns for p in daily
    )
    # only the static tables and the event lists without a time stamp per row are left whole
    assert sorted(truncated_data.untouched) == [
        "manual_sources/aave_params/aave_current_v3_prams_etherum_mainnet.csv",
        "manual_sources/etherfi_distributions/eigen_distributions_raw.csv",
        "manual_sources/etherfi_distributions/ethfi_topups_raw.csv",
        "manual_sources/etherfi_distributions/seasonal_drops.csv",
    ]
    removed = 0
    for relative, column in truncated_data.time_columns.items():
        text = (truncated_data.path / relative).read_text(encoding="utf-8")
        lines = [line for line in text.splitlines() if line and not line.startswith("#")]
        header = lines[0].lstrip("\ufeff").split(",")
        cells = [row.split(",")[header.index(column)] for row in lines[1:]]
        if cells:
            assert truncated_data.parse_times(cells).max() <= T_CUT, relative
        original = (data_dir / relative).read_text(encoding="utf-8")
        assert original.startswith(text) or set(text.splitlines()) <= set(original.splitlines()), (
            relative
        )
        removed += len(original.splitlines()) - len(text.splitlines())
    assert removed > 100_000


@pytest.mark.parametrize("pair", PAIRS)
def test_runs_read_only_truncated_files(pair, request, truncated_data):
    runs = request.getfixturevalue(pair)
    files = set(runs.cut.summary["data_files"].values())
    assert files
    for relative in files:
        if (truncated_data.path / relative).is_file():
            assert relative in truncated_data.time_columns, f"{relative} was not truncated"


@pytest.mark.parametrize("pair", PAIRS)
def test_hourly_pnl_identical_up_to_cut(pair, request):
    runs = request.getfixturevalue(pair)
    cut, full = _rows(runs.cut.text("hourly_pnl.csv")), _rows(runs.full.text("hourly_pnl.csv"))
    assert cut[0] == full[0]
    assert _stamp(cut[-1]) == T_CUT
    n = len(cut) - 1
    assert n == 24 * 75 + 14  # 2024-05-01 00:00 -> 2024-07-15 13:00
    assert _stamp(full[n + 1]) > T_CUT
    assert cut[1:] == full[1 : n + 1]


@pytest.mark.parametrize("pair", PAIRS)
def test_balance_sheet_identical_up_to_cut(pair, request):
    runs = request.getfixturevalue(pair)
    cut, full = runs.cut.balance, runs.full.balance
    head = full.loc[:T_CUT]
    assert head.index.equals(cut.index)
    extra = [c for c in head.columns if c not in cut.columns]
    # columns that only appear later must be empty (or zero) before the cut
    for column in extra:
        assert (head[column].fillna(0.0) == 0.0).all(), column
    missing = [c for c in cut.columns if c not in head.columns]
    assert not missing, missing
    pd.testing.assert_frame_equal(head[cut.columns], cut, check_exact=True)
    # and the written text of each row is the same when the columns are the same
    if not extra:
        assert (
            _rows(runs.cut.text("balance_sheet.csv"))
            == _rows(runs.full.text("balance_sheet.csv"))[: len(cut) + 1]
        )


@pytest.mark.parametrize("pair", PAIRS)
def test_event_log_identical_up_to_cut(pair, request):
    runs = request.getfixturevalue(pair)
    cut, full = runs.cut.events, runs.full.events
    head = full[full["time"] <= T_CUT]
    assert len(head) == len(cut)
    assert (cut["time"] <= T_CUT).all()
    assert cut["event_type"].iloc[-1] == "EquityMarked"
    # every column, seq and bundle_id included, and the text as written
    cut_lines = _rows(runs.cut.text("event_log.csv"))
    full_lines = _rows(runs.full.text("event_log.csv"))
    assert cut_lines == full_lines[: len(cut_lines)]
    assert len(cut_lines) == len(cut) + 1  # no record spans several lines


# --- provider level -----------------------------------------------------------------------------


PROVIDER_CASES = {
    "eth_basis": ("eth_basis", []),
    "eth_basis_two_venues": (
        "eth_basis",
        ["hedge.venues=[binance, bybit]", "hedge.allocation={binance: 0.5, bybit: 0.5}"],
    ),
    "btc_basis": ("btc_basis", []),
}


_PROVIDERS: dict[str, tuple[HistoricalDataProvider, HistoricalDataProvider]] = {}


def providers(
    case: str, truncated_data, data_dir
) -> tuple[HistoricalDataProvider, HistoricalDataProvider]:
    """(provider on the cut copy to T_CUT, provider on the full data to 2024-09-30), built once."""
    if case not in _PROVIDERS:
        mode, sets = PROVIDER_CASES[case]
        cut_cfg = load_run_config(mode, [LOOKAHEAD_START, LOOKAHEAD_END_CUT, *sets], env={})
        full_cfg = load_run_config(mode, [LOOKAHEAD_START, LOOKAHEAD_END_FULL, *sets], env={})
        _PROVIDERS[case] = (
            HistoricalDataProvider(cut_cfg, truncated_data.path),
            HistoricalDataProvider(full_cfg, data_dir),
        )
    return _PROVIDERS[case]


@pytest.mark.parametrize("case", sorted(PROVIDER_CASES))
def test_provider_columns_identical_up_to_cut(case, truncated_data, data_dir):
    cut, full = providers(case, truncated_data, data_dir)
    n = len(cut.times)
    assert cut.times[-1] == T_CUT.to_pydatetime()
    assert cut.times == full.times[:n]
    assert set(cut.columns) == set(full.columns)
    assert "price:ETH" in cut.columns
    assert any(name.startswith("perp:") for name in cut.columns)
    for name, values in cut.columns.items():
        assert isinstance(values, np.ndarray)
        assert len(values) == n
        np.testing.assert_array_equal(values, full.columns[name][:n], err_msg=name)


@pytest.mark.parametrize("case", sorted(PROVIDER_CASES))
def test_provider_market_states_identical_up_to_cut(case, truncated_data, data_dir):
    cut, full = providers(case, truncated_data, data_dir)
    settled = 0
    for t in cut.times:
        cut.set_clock(t)
        full.set_clock(t)
        a, b = cut.get_data(t), full.get_data(t)
        np.testing.assert_equal(a.values, b.values, err_msg=str(t))  # NaN == NaN here
        assert a.funding == b.funding, t
        assert (a.accrued, a.mark_sources) == (b.accrued, b.mark_sources), t
        settled += bool(a.funding)
    assert settled == 3 * 75 + 1  # 00/08/16 from 05-01 08:00 to 07-15 08:00


def test_provider_refuses_reads_after_its_clock(data_dir):
    config = load_run_config("eth_basis", [LOOKAHEAD_START, LOOKAHEAD_END_FULL], env={})
    full = HistoricalDataProvider(config, data_dir)
    t0 = full.times[100]
    full.set_clock(t0)
    assert full.get_data(t0).t == t0
    with pytest.raises(LookAheadError):
        full.get_data(t0 + timedelta(hours=1))
    with pytest.raises(LookAheadError):
        full.get_data(full.times[-1])
