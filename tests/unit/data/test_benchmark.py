"""The `benchmark_index` column and `HistoricalDataProvider.benchmark` (issue 4).

USDT class: Ethena sUSDe, accrued hourly from the daily APY file; ETH class: holding the LST.
Expected values come from the raw file read with plain pandas, never through the project's
readers. Missing data and cuts are made in copies of the files in a temporary folder.
"""

from __future__ import annotations

import math
import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from basis_strategy.config.loader import load_run_config
from basis_strategy.core.errors import DataError
from basis_strategy.data.provider import HistoricalDataProvider
from basis_strategy.data.requirements import requirements_for

DATA_DIR = Path(
    os.environ.get("BASIS_DATA_DIR")
    or Path(__file__).resolve().parents[3].parent / "shared" / "data"
)
HOUR = timedelta(hours=1)
SUSDE = (
    "protocol_data/staking/benchmark_yields/ethena_susde_apr_benchmark_2024-02-16_2025-09-18.csv"
)
PURE_LENDING_FILES = (
    "market_data/spot_prices/eth_usd/*",
    "blockchain_data/gas_prices/*",
    "protocol_data/aave/rates/aave_v3_aave-v3-ethereum_USDT_rates_*.csv",
)
FIRST = datetime(2024, 2, 16, tzinfo=UTC)
MISSING_DAY = datetime(2024, 5, 2, tzinfo=UTC)  # the one day the daily file lacks (README)
WINDOW = ["start=2024-02-10T00:00:00Z", "end=2024-05-25T00:00:00Z"]


def raw_apy() -> pd.Series:
    frame = pd.read_csv(DATA_DIR / SUSDE, dtype=str)
    values = [float(cell) for cell in frame["apy_decimal"]]  # exact decimal -> float
    return pd.Series(values, index=pd.to_datetime(frame["date"], utc=True))


def build(mode: str, sets: list[str], data: Path = DATA_DIR) -> HistoricalDataProvider:
    return HistoricalDataProvider(load_run_config(mode, sets, env={}), data)


def at(provider: HistoricalDataProvider, t: datetime) -> float:
    return float(provider.columns["benchmark_index"][provider.position(t)])


def hourly_growth(apy: float) -> float:
    return float((1.0 + apy) ** (1.0 / 8760))


@pytest.fixture(scope="module")
def lending() -> HistoricalDataProvider:
    return build("pure_lending", WINDOW)


# --- USDT class: Ethena sUSDe -------------------------------------------------------------------


def test_nan_before_the_first_apy_then_one(lending: HistoricalDataProvider) -> None:
    index = lending.columns["benchmark_index"]
    first = lending.position(FIRST)
    assert first == 6 * 24
    assert np.isnan(index[:first]).all()
    assert index[first] == 1.0
    assert lending.benchmark["first"] == "2024-02-16T00:00:00+00:00"
    assert lending.benchmark["name"] == "Ethena sUSDe"
    assert lending.benchmark["source"] == SUSDE
    assert lending.benchmark["note"] is None
    # nothing is recorded for the hours before the file starts
    assert [b.start for b in lending.bridges if b.series == "benchmark_index"] == [MISSING_DAY]


def test_accrues_the_previous_hours_apy_held_for_the_day(lending: HistoricalDataProvider) -> None:
    apy = raw_apy()
    day1, day2 = apy[pd.Timestamp(FIRST)], apy[pd.Timestamp(FIRST + 24 * HOUR)]
    # the file's first two rows (24.71 %, 24.31 %)
    assert (day1, day2) == pytest.approx((0.2471, 0.2431), rel=1e-15)
    assert at(lending, FIRST + HOUR) == pytest.approx(hourly_growth(day1), rel=1e-14)
    assert at(lending, FIRST + 24 * HOUR) == pytest.approx(
        hourly_growth(day1) ** 24, rel=1e-13
    )  # the 00:00 value of day 2 has not earned anything yet
    expected = hourly_growth(day1) ** 24 * hourly_growth(day2) ** 5
    assert at(lending, FIRST + 29 * HOUR) == pytest.approx(expected, rel=1e-13)


def test_a_constant_apy_compounds_to_itself_over_a_year() -> None:
    # 1.2471^(1/8760) over 8760 hours: the daily file's APY is an APY, not an APR
    assert hourly_growth(0.2471) ** 8760 == pytest.approx(1.2471, rel=1e-12)


def test_index_over_a_long_span_is_the_product_of_the_daily_apys(
    lending: HistoricalDataProvider,
) -> None:
    apy = raw_apy()
    start, end = datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 4, 15, 7, tzinfo=UTC)
    days = apy[(apy.index >= pd.Timestamp(start)) & (apy.index < pd.Timestamp(end))]
    hours = [24] * (len(days) - 1) + [7]
    expected = math.prod(hourly_growth(a) ** h for a, h in zip(days, hours, strict=True))
    assert at(lending, end) / at(lending, start) == pytest.approx(expected, rel=1e-12)


def test_missing_day_forward_filled_then_nan_then_resumed(lending: HistoricalDataProvider) -> None:
    apy = raw_apy()
    assert pd.Timestamp(MISSING_DAY) not in apy.index
    bridges = [b for b in lending.bridges if b.series == "benchmark_index"]
    assert [(b.kind, b.source, b.start, b.end, b.hours) for b in bridges] == [
        ("forward_fill", SUSDE, MISSING_DAY, MISSING_DAY + 3 * HOUR, 4)  # max_ffill_hours 3
    ]
    may1 = apy[pd.Timestamp(MISSING_DAY - 24 * HOUR)]
    held = at(lending, MISSING_DAY + 3 * HOUR)
    assert held == pytest.approx(at(lending, MISSING_DAY) * hourly_growth(may1) ** 3, rel=1e-14)
    for hour in range(4, 24):
        assert math.isnan(at(lending, MISSING_DAY + hour * HOUR))
    # 03:00 -> 04:00 accrues May 1's rate; the unknown hours accrue nothing
    resumed = at(lending, MISSING_DAY + 24 * HOUR)
    assert resumed == pytest.approx(held * hourly_growth(may1), rel=1e-14)
    assert lending.benchmark["gaps"] == [
        {"start": "2024-05-02T04:00:00+00:00", "end": "2024-05-02T23:00:00+00:00", "hours": 20}
    ]


@pytest.mark.parametrize(
    "mode",
    ["pure_lending", "btc_basis", "eth_basis", "usdt_market_neutral_no_leverage"],
)
def test_every_usdt_mode_is_compared_with_susde(mode: str) -> None:
    benchmark = requirements_for(load_run_config(mode, env={})).benchmark
    assert benchmark is not None
    assert (benchmark.name, benchmark.lst) == ("Ethena sUSDe", None)
    assert benchmark.apy is not None and "_hourly_" not in benchmark.apy.pattern


def test_usdt_market_neutral_column_is_the_same_index(lending: HistoricalDataProvider) -> None:
    sets = ["start=2024-05-12T01:00:00Z", "end=2024-05-20T00:00:00Z"]
    hedged = build("usdt_market_neutral", sets)
    index = hedged.columns["benchmark_index"]
    assert index[0] == 1.0  # rebased at the run's first hour
    assert index[-1] > 1.0
    base = at(lending, hedged.times[0])
    assert len(hedged.times) == 8 * 24
    for i, time in enumerate(hedged.times):
        assert index[i] == pytest.approx(at(lending, time) / base, rel=1e-13)
    hedged.set_clock(hedged.times[5])
    assert hedged.get_data(hedged.times[5])["benchmark_index"] == index[5]


# --- ETH class: holding the LST -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "sets", "lst"),
    [
        ("eth_staking_only", ["staking.rewards_mode=base_only"], "weETH"),
        ("eth_leveraged", ["staking.lst_type=wstETH", "staking.rewards_mode=base_only"], "wstETH"),
    ],
)
def test_eth_class_holds_the_lst(mode: str, sets: list[str], lst: str) -> None:
    provider = build(mode, [*sets, "end=2024-07-01T00:00:00Z"])
    np.testing.assert_array_equal(
        provider.columns["benchmark_index"], provider.columns[f"lst_rate:{lst}"]
    )
    assert provider.benchmark["name"] == f"hold {lst}"
    assert provider.benchmark["source"] == (
        f"protocol_data/aave/oracle/{lst}_ETH_oracle_2024-01-01_2025-09-18.csv"
    )
    assert provider.benchmark["first"] == provider.times[0].isoformat()
    assert provider.benchmark["gaps"] == []
    assert not any(b.series == "benchmark_index" for b in provider.bridges)


def test_a_shock_on_the_lst_rate_leaves_the_benchmark_as_history() -> None:
    sets = ["staking.rewards_mode=base_only", "end=2024-06-10T00:00:00Z"]
    shock = (
        "shocks=[{series: ['lst_rate:weETH'], start: 2024-06-05T05:00:00Z, "
        "end: 2024-06-05T05:00:00Z, kind: move, value: -0.03}]"
    )
    base, shocked = build("eth_staking_only", sets), build("eth_staking_only", [*sets, shock])
    np.testing.assert_array_equal(
        shocked.columns["benchmark_index"], base.columns["lst_rate:weETH"]
    )
    assert shocked.columns["lst_rate:weETH"][-1] == pytest.approx(
        0.97 * base.columns["lst_rate:weETH"][-1], rel=1e-15
    )


# --- missing or bad benchmark data --------------------------------------------------------------


def copy_files(target: Path, patterns: tuple[str, ...]) -> Path:
    for pattern in patterns:
        for path in DATA_DIR.glob(pattern):
            destination = target / path.relative_to(DATA_DIR)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, destination)
    return target


def test_a_missing_benchmark_file_does_not_fail_the_run(tmp_path: Path) -> None:
    data = copy_files(tmp_path, PURE_LENDING_FILES)
    provider = build("pure_lending", WINDOW, data)
    assert np.isnan(provider.columns["benchmark_index"]).all()
    assert provider.benchmark["note"] == "benchmark file not found"
    assert provider.benchmark["first"] is None
    assert provider.bridges == []


def test_a_benchmark_file_without_rows_gives_nan(tmp_path: Path) -> None:
    data = copy_files(tmp_path, (*PURE_LENDING_FILES, SUSDE))
    path = data / SUSDE
    path.write_text(path.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    provider = build("pure_lending", WINDOW, data)
    assert np.isnan(provider.columns["benchmark_index"]).all()
    assert provider.benchmark["note"] == "benchmark file has no rows"


def test_an_impossible_apy_is_a_data_error_naming_the_file_and_line(tmp_path: Path) -> None:
    data = copy_files(tmp_path, (*PURE_LENDING_FILES, SUSDE))
    path = data / SUSDE
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.loc[3, "apy_decimal"] = "-1.5"
    frame.to_csv(path, index=False)
    with pytest.raises(DataError) as raised:
        build("pure_lending", WINDOW, data)
    message = str(raised.value)
    assert SUSDE.rsplit("/", 1)[1] in message
    assert "line 5" in message and "apy_decimal" in message and "-1.5" in message


# --- no look-ahead: cutting the file after T changes nothing up to T ----------------------------


CUTS = ["2024-02-16T00:00:00Z", "2024-03-10T13:00:00Z", "2024-05-02T13:00:00Z"]


@pytest.mark.parametrize("cut", CUTS)
def test_cutting_the_files_after_t_changes_nothing_up_to_t(tmp_path: Path, cut: str) -> None:
    t = pd.Timestamp(cut)
    data = copy_files(tmp_path, (*PURE_LENDING_FILES, SUSDE))
    for path in data.rglob("*.csv"):  # each of these files has its time in the first column
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        cells = frame[frame.columns[0]]
        stamps = (
            pd.to_datetime(cells.astype(int), unit="s", utc=True)
            if cells.str.fullmatch(r"\d+").all()
            else pd.to_datetime(cells, utc=True, format="ISO8601")
        )
        frame[stamps <= t].to_csv(path, index=False)
    benchmark = pd.read_csv(data / SUSDE)
    assert pd.to_datetime(benchmark["date"], utc=True).max() <= t
    short = build("pure_lending", ["start=2024-02-10T00:00:00Z", f"end={cut}"], data)
    full = build("pure_lending", ["start=2024-02-10T00:00:00Z", "end=2024-09-30T00:00:00Z"])
    n = len(short.times)
    assert short.times[-1] == t.to_pydatetime()
    assert short.times == full.times[:n]
    np.testing.assert_array_equal(
        short.columns["benchmark_index"], full.columns["benchmark_index"][:n]
    )
    short.set_clock(short.times[-1])
    full.set_clock(short.times[-1])
    for time in short.times:
        a = short.get_data(time).values["benchmark_index"]
        b = full.get_data(time).values["benchmark_index"]
        assert a == b or (math.isnan(a) and math.isnan(b)), time
