"""`basis data check` on small synthetic data folders written to tmp_path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from basis_strategy.core.errors import DataError
from basis_strategy.data.check import check_files, check_folder, file_lines, funding_disagreement
from basis_strategy.data.check_files import find_gaps, interpolated_days

SPOT = "market_data/spot_prices/eth_usd/bybit_ETHUSDT_spot_1h_2024-01-01_2024-01-05.csv"
ORACLE = "protocol_data/aave/oracle/WETH_USD_oracle_2024-01-01_2024-01-03.csv"
OKX = "market_data/okx/funding_rates/daily"


def ohlcv(times: pd.DatetimeIndex, price: float = 100.0) -> pd.DataFrame:
    p = price + np.arange(len(times), dtype=float)
    stamps = times.strftime("%Y-%m-%dT%H:%M:%SZ")
    return pd.DataFrame({"timestamp": stamps, "open": p, "high": p, "low": p, "close": p})


def write(root: Path, relative: str, frame: pd.DataFrame, header: str = "") -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + frame.to_csv(index=False))
    return path


def report_for(root: Path, needle: str):
    (found,) = [r for r in check_files(root) if needle in r.path]
    return found


def test_a_23_hour_hole_is_one_gap_of_23_hours(tmp_path):
    times = pd.date_range("2024-01-01", "2024-01-05 23:00", freq="h", tz="UTC")
    hole = (times > pd.Timestamp("2024-01-03 00:00", tz="UTC")) & (
        times < pd.Timestamp("2024-01-04 00:00", tz="UTC")
    )
    write(tmp_path, SPOT, ohlcv(times[~hole]))
    report = report_for(tmp_path, "bybit_ETHUSDT_spot")
    assert report.rows == 120 - 23
    assert [(g.start.hour, g.end.hour, g.missing) for g in report.gaps] == [(1, 23, 23)]
    assert report.gap_summary() == "1 hole (1 of 23 h; 23 missing)"
    assert report.first == times[0] and report.last == times[-1]
    assert report.interval_hours == 1.0


def test_identical_and_conflicting_duplicates_are_told_apart(tmp_path):
    times = pd.date_range("2024-01-01", periods=48, freq="h", tz="UTC")
    frame = ohlcv(times)
    same = frame.iloc[[5]]
    differ = frame.iloc[[30]].assign(close=1.0)
    write(tmp_path, SPOT, pd.concat([frame, same, differ]))
    report = report_for(tmp_path, "bybit_ETHUSDT_spot")
    assert report.identical_duplicates == [times[5]]
    assert report.conflicting_duplicates == [times[30]]
    assert report.rows == 50
    assert report.gaps == []


def test_bad_values_are_reported_with_their_line(tmp_path):
    times = pd.date_range("2024-01-01", periods=10, freq="h", tz="UTC")
    frame = ohlcv(times).astype(str)
    frame.loc[3, "open"] = "abc"
    frame.loc[6, "close"] = "-1"
    frame.loc[8, "timestamp"] = "not a time"
    write(tmp_path, SPOT, frame)
    bad = report_for(tmp_path, "bybit_ETHUSDT_spot").bad_values
    assert any("timestamp not a timestamp" in b and "line 10" in b for b in bad)
    assert any("1 open cell(s) not a number; first line 5" in b for b in bad)
    assert any("1 close cell(s) not positive; first line 8" in b for b in bad)


def test_interpolated_oracle_days_are_found(tmp_path):
    times = pd.date_range("2024-01-01 01:00", "2024-01-03 00:00", freq="h", tz="UTC")
    # day 1 (01:00 .. next 00:00) is a straight line from 100 to 124; day 2 is not
    values = np.concatenate([100.0 + np.arange(1, 25), 124.0 + np.arange(1, 25) ** 2 / 2])
    frame = pd.DataFrame(
        {"timestamp": times.strftime("%Y-%m-%d %H:%M:%S+00:00"), "oracle_price_usd": values}
    )
    frame.loc[-1] = ["2024-01-01 00:00:00+00:00", 100.0]
    frame = frame.sort_index()
    write(tmp_path, ORACLE, frame, header="# Source: test\n# Asset: WETH\n")
    report = report_for(tmp_path, "WETH_USD_oracle")
    assert [d.strftime("%Y-%m-%d") for d in report.interpolated_days] == ["2024-01-01"]
    assert report.interpolated_hours == 23
    assert report.rows == 49


def test_interpolation_check_tolerates_rounding_but_not_curvature():
    times = pd.date_range("2024-01-01", periods=25, freq="h", tz="UTC")
    line = pd.Series(np.round(2000.0 + np.arange(25) * 1.234567, 5), index=times)
    assert len(interpolated_days(line, 5)[0]) == 1
    bent = line.copy()
    bent.iloc[12] += 0.01
    assert interpolated_days(bent, 5) == ([], 0)


def test_gaps_on_an_8_hour_grid_count_settlements():
    stamps = pd.to_datetime(["2024-01-01 00:00", "2024-01-01 08:00", "2024-01-02 16:00"], utc=True)
    (gap,) = find_gaps(pd.Series(stamps), 8)
    assert (gap.start, gap.missing) == (pd.Timestamp("2024-01-01 16:00", tz="UTC"), 3)


def okx_day(day: str, rows: list[tuple[str, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "instrument": "ETH-USDT-SWAP",
                "contract_type": "SWAP",
                "funding_rate": predicted,
                "real_funding_rate": realised,
                "funding_time": f"{day} {hour}:00:00+00:00",
                "date": day,
            }
            for hour, predicted, realised in rows
        ]
    )


def test_okx_daily_predicted_vs_realised(tmp_path):
    write(
        tmp_path,
        f"{OKX}/okx_funding_rates_2024-05-01.csv",
        okx_day("2024-05-01", [("00", 1e-4, 2e-4), ("08", 1e-4, 1e-4), ("16", 3e-4, 1e-4)]),
    )
    # 2024-05-02 has no file; 2024-05-03 repeats each settlement with another predicted rate
    rows = [("00", 1e-4, 1e-4), ("08", 1e-4, 1e-4), ("16", 1e-4, 1e-4)]
    twice = rows + [(h, -4e-4, r) for h, _, r in rows]
    write(tmp_path, f"{OKX}/okx_funding_rates_2024-05-03.csv", okx_day("2024-05-03", twice))
    (eth,) = [r for r in check_files(tmp_path) if "ETH-USDT-SWAP" in r.path]
    assert eth.rows == 9
    assert [(g.missing, g.start.day) for g in eth.gaps] == [(3, 2)]
    assert len(eth.identical_duplicates) == 3  # the realised rate repeats identically
    assert eth.stats["rows_differing"] == 5
    assert eth.stats["realised_mean_apr"] == pytest.approx(7e-4 / 6 * 3 * 365)
    notes = " ".join(eth.notes)
    assert "3 timestamps carry conflicting predicted rates" in notes
    assert "1 days have no file: 2024-05-02" in notes


def test_funding_disagreement_stats():
    stats = funding_disagreement(np.array([1e-4, 2e-4, np.nan]), np.array([1e-4, 1e-4, 1.0]))
    assert stats["rows_compared"] == 2
    assert stats["rows_differing"] == 1
    assert stats["mean_abs_difference"] == pytest.approx(0.5e-4)
    assert stats["predicted_mean_apr"] == pytest.approx(1.5e-4 * 1095)


def test_missing_folder_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="data folder not found"):
        check_folder(tmp_path / "nowhere")


def test_a_mode_without_its_files_cannot_run(tmp_path):
    times = pd.date_range("2024-01-01", periods=24, freq="h", tz="UTC")
    write(tmp_path, SPOT, ohlcv(times))
    report = check_folder(tmp_path, ["pure_lending"])
    (mode,) = report.modes
    assert not report.ok and not mode.can_run
    assert mode.error and "bybit_ETHUSDT_spot" in mode.error and "covers" in mode.error
    assert any(need.startswith("aave:USDT") for need in mode.needs)


def test_short_rows_order_whole_hours_and_implausible_prices_are_reported(tmp_path):
    times = pd.date_range("2024-01-01", periods=10, freq="h", tz="UTC")
    frame = ohlcv(times).astype(str)
    frame.loc[2, "timestamp"] = "2024-01-01T02:30:00Z"
    frame.loc[5, ["timestamp", "open"]] = ["2024-01-01T00:00:00Z", "100"]  # a repeat, back in time
    frame.loc[7, ["open", "high"]] = ["1070", "1070"]  # x10 for one hour
    path = write(tmp_path, SPOT, frame)
    path.write_text(path.read_text() + "2024-01-01T10:00:00Z,110\n")  # a cut last line
    report = report_for(tmp_path, "bybit_ETHUSDT_spot")
    assert report.structure == [
        "1 short row(s); first line 12: row has 2 fields, the header 5 (a cut or truncated line)",
        "1 row(s) out of time order; first line 7: '2024-01-01T00:00:00Z' after "
        "'2024-01-01T04:00:00Z'",
        "1 timestamp(s) off the whole hour; first line 4: '2024-01-01T02:30:00Z'",
    ]
    assert report.implausible == [
        "1 implausible value(s) for the default data limits; first: 2024-01-01 07:00 UTC: "
        "1070.0 against 106.0 at 2024-01-01 06:00 UTC, a move of +909.4%, beyond "
        "data.max_hourly_move 0.3"
    ]
    assert report.defective


def test_absurd_funding_aave_rates_and_gas_are_reported(tmp_path):
    funding = "market_data/derivatives/funding_rates/binance_ETHUSDT_funding_rates_x.csv"
    settlements = pd.date_range("2024-01-01", periods=6, freq="8h", tz="UTC")
    rates = pd.DataFrame(
        {"funding_timestamp": settlements.strftime("%Y-%m-%dT%H:%M:%SZ"), "funding_rate": 1e-4}
    )
    rates.loc[3, "funding_rate"] = 5.0
    write(tmp_path, funding, rates)
    gas = "blockchain_data/gas_prices/ethereum_gas_prices_x.csv"
    hours = pd.date_range("2024-01-01", periods=4, freq="h", tz="UTC")
    gwei = pd.DataFrame(
        {"timestamp": hours.strftime("%Y-%m-%dT%H:%M:%SZ"), "gas_price_avg_gwei": 12.0}
    )
    gwei.loc[2, "gas_price_avg_gwei"] = 12e9
    write(tmp_path, gas, gwei)
    assert "funding rate per 8 h 5.0 is outside" in report_for(tmp_path, "funding").implausible[0]
    assert "gas (gwei) 12000000000.0 is outside" in report_for(tmp_path, "gas").implausible[0]


def test_only_defects_in_files_the_checked_modes_read_fail_the_check(tmp_path):
    """A defect in the BTC spot file fails a check of btc_basis, not of pure_lending."""
    times = pd.date_range("2024-01-01", periods=24, freq="h", tz="UTC")
    btc = ohlcv(times, price=40_000.0)
    write(tmp_path, "market_data/spot_prices/btc_usd/binance_BTCUSDT_1h_x.csv", btc.iloc[[0, 2, 1]])
    lending = check_folder(tmp_path, ["pure_lending"])
    (spot,) = [f for f in lending.files if "BTCUSDT" in f.path]
    assert spot.defective and not spot.engine_reads
    assert "not read by the checked modes" in "\n".join(file_lines(spot))
    basis = check_folder(tmp_path, ["btc_basis"])
    (spot,) = [f for f in basis.files if "BTCUSDT" in f.path]
    assert spot.engine_reads and not basis.ok
    assert "market_data/spot_prices/btc_usd/binance_BTCUSDT_1h_*.csv" in basis.modes[0].reads
