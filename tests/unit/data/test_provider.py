"""HistoricalDataProvider on the real data folder (domain 3, 4.1, 15; README "Data").

Expected values are read from the raw files with plain pandas / csv here, never through the
project's readers. Holes are cut out of copies of the files in a temporary folder.
"""

from __future__ import annotations

import csv
import itertools
import math
import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from basis_strategy.config.loader import load_run_config
from basis_strategy.core.errors import DataError, LookAheadError
from basis_strategy.data.align import Bridge
from basis_strategy.data.provider import HistoricalDataProvider

DATA_DIR = Path(
    os.environ.get("BASIS_DATA_DIR")
    or Path(__file__).resolve().parents[3].parent / "shared" / "data"
)
HOUR = timedelta(hours=1)
SPY = 31_536_000
BYBIT_ETH_SPOT = "market_data/spot_prices/eth_usd/bybit_ETHUSDT_spot_1h_2024-01-01_2025-09-26.csv"
UNISWAP_ETH = "market_data/spot_prices/eth_usd/uniswapv3_WETHUSDT_1h_2024-01-01_2025-09-27.csv"
BINANCE_ETH_PERP = (
    "market_data/derivatives/futures_ohlcv/binance_ETHUSDT_perp_1h_2024-01-01_2025-09-26.csv"
)
BYBIT_ETH_PERP = (
    "market_data/derivatives/futures_ohlcv/bybit_ETHUSDT_perp_1h_2024-01-01_2025-09-26.csv"
)
BINANCE_ETH_FUNDING = (
    "market_data/derivatives/funding_rates/binance_ETHUSDT_funding_rates_2024-01-01_2025-09-26.csv"
)
GAS = "blockchain_data/gas_prices/ethereum_gas_prices_2024-01-01_2025-09-26.csv"
AAVE_USDT = "protocol_data/aave/rates/aave_v3_aave-v3-ethereum_USDT_rates_2024-01-01_2025-09-18.csv"
# Binance 23-hour holes (data README) inside the eth_basis window 2024-05-01 -> 2025-09-07 16:00.
BINANCE_HOLE_DAYS = [
    "2024-05-02",
    "2024-06-12",
    "2024-07-23",
    "2024-09-02",
    "2024-10-13",
    "2024-11-23",
    "2025-01-03",
    "2025-02-13",
    "2025-03-26",
    "2025-05-06",
    "2025-06-16",
    "2025-07-27",
    "2025-09-06",
]
# OKX settled funding missing from the daily archive (data README): August 2024 + 13 days.
OKX_MISSING_DAYS = [
    "2024-11-04",
    "2024-11-09",
    "2024-12-03",
    "2024-12-26",
    "2025-01-29",
    "2025-02-04",
    "2025-02-22",
    "2025-03-16",
    "2025-05-23",
    "2025-05-25",
    "2025-06-03",
    "2025-06-12",
    "2025-06-23",
]
PURE_LENDING_FILES = (
    "market_data/spot_prices/eth_usd/*",
    "blockchain_data/gas_prices/*",
    "protocol_data/aave/rates/aave_v3_aave-v3-ethereum_USDT_rates_*.csv",
)
SHORT_WINDOW = ["start=2024-06-01T00:00:00Z", "end=2024-06-10T00:00:00Z"]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


@pytest.fixture(scope="module")
def data_dir() -> Path:
    if not (DATA_DIR / "README.md").is_file():
        pytest.fail(f"data folder not found: {DATA_DIR} (set BASIS_DATA_DIR)")
    return DATA_DIR


@pytest.fixture(scope="module")
def eth_basis(data_dir: Path) -> HistoricalDataProvider:
    return HistoricalDataProvider(load_run_config("eth_basis", env={}), data_dir)


@pytest.fixture(scope="module")
def lending(data_dir: Path) -> HistoricalDataProvider:
    return HistoricalDataProvider(load_run_config("pure_lending", SHORT_WINDOW, env={}), data_dir)


def ohlcv_open(path: Path) -> pd.Series:
    frame = pd.read_csv(path, usecols=["timestamp", "open"])
    stamps = frame["timestamp"]
    if pd.api.types.is_numeric_dtype(stamps):
        index = pd.to_datetime(stamps, unit="s", utc=True)
    else:
        index = pd.to_datetime(stamps, utc=True, format="ISO8601")
    series = pd.Series(frame["open"].to_numpy(), index=index)
    return series[~series.index.duplicated(keep="last")].sort_index()


def value_at(provider: HistoricalDataProvider, name: str, t: datetime) -> float:
    provider.set_clock(t)
    return provider.get_data(t)[name]


def bridges_of(provider: HistoricalDataProvider, series: str, kind: str) -> list[Bridge]:
    return [b for b in provider.bridges if b.series == series and b.kind == kind]


# --- real data: bridges ----------------------------------------------------------------------


def test_own_first_bridges_binance_holes_by_three_hours_ffill_then_bybit_proxy(
    data_dir: Path,
) -> None:
    config = load_run_config("eth_basis", ["data.price_bridge=own_first"], env={})
    eth_basis = HistoricalDataProvider(config, data_dir)
    ffill = bridges_of(eth_basis, "perp:binance:ETHUSDT", "forward_fill")
    proxy = bridges_of(eth_basis, "perp:binance:ETHUSDT", "proxy")
    assert [b.start.date().isoformat() for b in proxy] == BINANCE_HOLE_DAYS
    assert [b.start.date().isoformat() for b in ffill] == BINANCE_HOLE_DAYS
    for filled, proxied in zip(ffill, proxy, strict=True):
        assert (filled.hours, proxied.hours) == (3, 20)
        assert (filled.values, proxied.values) == (3, 20)
        assert filled.end - filled.start == 2 * HOUR
        assert proxied.start == filled.end + HOUR  # the proxy takes over after the fill
        assert proxied.end - proxied.start == 19 * HOUR
        assert filled.source == BINANCE_ETH_PERP
        assert proxied.source == BYBIT_ETH_PERP
    # Bridged values: the last Binance open before the hole, then Bybit's own open.
    binance = ohlcv_open(data_dir / BINANCE_ETH_PERP)
    bybit = ohlcv_open(data_dir / BYBIT_ETH_PERP)
    hole = proxy[0]
    last_before = binance[binance.index < pd.Timestamp(ffill[0].start)].iloc[-1]
    assert value_at(eth_basis, "perp:binance:ETHUSDT", ffill[0].end) == last_before
    for t in (hole.start, hole.start + 7 * HOUR, hole.end):
        assert value_at(eth_basis, "perp:binance:ETHUSDT", t) == bybit[pd.Timestamp(t)]
    after = hole.end + HOUR
    assert value_at(eth_basis, "perp:binance:ETHUSDT", after) == binance[pd.Timestamp(after)]
    sources = [
        mark_source(eth_basis, "perp:binance:ETHUSDT", ffill[0].start + h * HOUR) for h in range(4)
    ]
    assert sources == [
        "binance ETHUSDT perp (held 1 h)",
        "binance ETHUSDT perp (held 2 h)",
        "binance ETHUSDT perp (held 3 h)",
        "bybit ETHUSDT perp (proxy)",
    ]


def mark_source(provider: HistoricalDataProvider, series: str, t: datetime) -> str:
    provider.set_clock(t)
    return provider.get_data(t).mark_sources[series]


def test_freshest_by_default_marks_a_binance_hole_with_bybit_from_its_first_hour(
    eth_basis: HistoricalDataProvider, data_dir: Path
) -> None:
    assert bridges_of(eth_basis, "perp:binance:ETHUSDT", "forward_fill") == []
    proxy = bridges_of(eth_basis, "perp:binance:ETHUSDT", "proxy")
    assert [b.start.date().isoformat() for b in proxy] == BINANCE_HOLE_DAYS
    assert all(b.hours == 23 for b in proxy)  # the whole hole, from its first hour
    assert all(b.source == BYBIT_ETH_PERP for b in proxy)
    bybit = ohlcv_open(data_dir / BYBIT_ETH_PERP)
    binance = ohlcv_open(data_dir / BINANCE_ETH_PERP)
    first, last = proxy[0].start, proxy[0].end
    for t in (first, first + HOUR, last):
        assert value_at(eth_basis, "perp:binance:ETHUSDT", t) == bybit[pd.Timestamp(t)]
        assert mark_source(eth_basis, "perp:binance:ETHUSDT", t) == "bybit ETHUSDT perp (proxy)"
    for t in (first - HOUR, last + HOUR):
        assert value_at(eth_basis, "perp:binance:ETHUSDT", t) == binance[pd.Timestamp(t)]
        assert mark_source(eth_basis, "perp:binance:ETHUSDT", t) == "binance ETHUSDT perp"
    # Bybit and OKX are marked by their own files (OKX's own perp file starts 2024-08-01;
    # before that its mark is a proxy venue's, named as such)
    t = utc("2024-11-10T05:00:00Z")
    eth_basis.set_clock(t)
    assert dict(eth_basis.get_data(t).mark_sources) == {
        "price:ETH": "bybit ETH spot",
        "perp:binance:ETHUSDT": "binance ETHUSDT perp",
        "perp:bybit:ETHUSDT": "bybit ETHUSDT perp",
        "perp:okx:ETHUSDT": "okx ETHUSDT perp",
    }
    early = utc("2024-06-01T05:00:00Z")
    assert mark_source(eth_basis, "perp:okx:ETHUSDT", early) == "binance ETHUSDT perp (proxy)"


def test_okx_funding_proxied_from_binance(
    eth_basis: HistoricalDataProvider, data_dir: Path
) -> None:
    proxies = bridges_of(eth_basis, "funding:okx:ETHUSDT", "proxy")
    assert all(b.source == BINANCE_ETH_FUNDING for b in proxies)
    august, *days = proxies
    # August 2024: 31 days × 3 settlements, 00:00 Aug 1 -> 16:00 Aug 31 (737 hours inclusive).
    assert (august.start, august.end, august.values, august.hours) == (
        utc("2024-08-01T00:00:00Z"),
        utc("2024-08-31T16:00:00Z"),
        93,
        737,
    )
    assert [b.start.date().isoformat() for b in days] == OKX_MISSING_DAYS
    assert all(b.values == 3 and b.hours == 17 and b.end - b.start == 16 * HOUR for b in days)
    # The proxied settlement carries Binance's rate.
    binance = pd.read_csv(data_dir / BINANCE_ETH_FUNDING)
    binance.index = pd.to_datetime(binance["funding_timestamp"], utc=True)
    t = utc("2024-08-10T08:00:00Z")
    eth_basis.set_clock(t)
    rates = {(f.venue, f.base): f.rate_per_8h for f in eth_basis.get_data(t).funding}
    assert set(rates) == {("binance", "ETH"), ("bybit", "ETH"), ("okx", "ETH")}
    assert rates[("okx", "ETH")] == binance.loc[pd.Timestamp(t), "funding_rate"]


def test_funding_only_at_settlement_hours_and_not_at_the_first_hour(
    eth_basis: HistoricalDataProvider,
) -> None:
    start = eth_basis.times[0]
    assert start.hour == 0
    eth_basis.set_clock(start)
    assert eth_basis.get_data(start).funding == ()
    for hours, count in ((1, 0), (8, 3), (9, 0), (16, 3), (24, 3)):
        t = start + hours * HOUR
        eth_basis.set_clock(t)
        assert len(eth_basis.get_data(t).funding) == count, t


def test_eth_reference_price_is_bybit_spot_open(
    eth_basis: HistoricalDataProvider, data_dir: Path
) -> None:
    t = utc("2024-06-01T00:00:00Z")
    with (data_dir / BYBIT_ETH_SPOT).open(newline="") as handle:
        row = next(r for r in csv.DictReader(handle) if r["timestamp"] == "2024-06-01T00:00:00Z")
    assert value_at(eth_basis, "price:ETH", t) == float(row["open"])
    eth_basis.set_clock(t)
    assert eth_basis.get_data(t).usd("ETH") == 3762.62


def aave_rows(data_dir: Path) -> dict[str, dict[str, str]]:
    with (data_dir / AAVE_USDT).open(newline="") as handle:
        return {r["targetDate"]: r for r in csv.DictReader(handle)}


def carry_per_hour(rows: dict[str, dict[str, str]], column: str, day: datetime, q: float) -> float:
    """The `q` quantile of the index's log growth per hour over the 30 days up to `day`."""
    stamps = [(day - k * 24 * HOUR).strftime("%Y-%m-%dT%H:%M:%SZ") for k in range(31)]
    levels = [float(rows[s][column]) for s in stamps if s in rows]
    rates = [math.log(a / b) / 24 for a, b in itertools.pairwise(levels)]
    return float(np.quantile(rates, q))


def test_aave_index_at_snapshot_and_carried_at_a_trailing_daily_growth(
    lending: HistoricalDataProvider, data_dir: Path
) -> None:
    """Each snapshot is carried at a quantile of its last 30 daily growths: the 40th for the
    liquidity index (a yield, prudently), the 60th for the borrow index (a cost)."""
    rows = aave_rows(data_dir)
    row, after = (rows[f"2024-06-0{d}T00:00:00Z"] for d in (5, 6))
    day = utc("2024-06-05T00:00:00Z")
    next_day = day + 24 * HOUR
    lending.set_clock(next_day)
    for series, column, q in (
        ("aave_li:USDT", "liquidityIndex", 0.4),
        ("aave_bi:USDT", "variableBorrowIndex", 0.6),
    ):
        index0 = float(row[column])
        per_hour = carry_per_hour(rows, column, day, q)
        assert value_at(lending, series, day) == index0
        later = day + 6 * HOUR
        assert value_at(lending, series, later) == pytest.approx(
            index0 * math.exp(6 * per_hour), rel=1e-12
        )
        # the next snapshot re-anchors the index; accrual alone gave 23 h, then 1 h at the new
        # snapshot's rate
        index1 = float(after[column])
        assert value_at(lending, series, next_day) == index1
        accrued = lending.get_data(next_day).accrued[series]
        next_rate = carry_per_hour(rows, column, next_day, q)
        last_hour = index0 * math.exp(23 * per_hour + next_rate)
        assert accrued == pytest.approx(last_hour, rel=1e-12)
        assert series not in lending.get_data(later).accrued
    state = lending.get_data(day + 6 * HOUR)
    assert state["aave_lr:USDT"] == float(row["currentLiquidityRate"])  # the snapshot's APRs
    assert state["aave_br:USDT"] == float(row["currentVariableBorrowRate"])


def test_aave_first_snapshot_carried_at_its_own_rates(data_dir: Path) -> None:
    """The file's first snapshot has no day before it: its own APRs carry it (domain 4.1)."""
    config = load_run_config("pure_lending", ["start=2024-01-01", "end=2024-01-03"], env={})
    provider = HistoricalDataProvider(config, data_dir)
    row = aave_rows(data_dir)["2024-01-01T00:00:00Z"]
    later = utc("2024-01-01T10:00:00Z")
    li0, rl = float(row["liquidityIndex"]), float(row["currentLiquidityRate"])
    bi0, rb = float(row["variableBorrowIndex"]), float(row["currentVariableBorrowRate"])
    # (1 + r / SPY) ** dt, evaluated without rounding 1 + r / SPY
    assert value_at(provider, "aave_li:USDT", later) == pytest.approx(
        li0 * math.exp(36_000 * math.log1p(rl / SPY)), rel=1e-15
    )
    assert value_at(provider, "aave_bi:USDT", later) == pytest.approx(
        bi0 * math.exp(36_000 * math.log1p(rb / SPY)), rel=1e-15
    )


# --- reads: the clock and the grid -------------------------------------------------------------


def test_reading_after_the_clock_is_look_ahead(lending: HistoricalDataProvider) -> None:
    t = lending.times[5]
    lending.set_clock(t)
    assert lending.get_data(t).t == t
    assert lending.get_data(lending.times[4]).index == 4  # the past is readable
    with pytest.raises(LookAheadError):
        lending.get_data(t + HOUR)


def test_reading_before_any_clock_is_look_ahead(data_dir: Path) -> None:
    provider = HistoricalDataProvider(
        load_run_config("pure_lending", SHORT_WINDOW, env={}), data_dir
    )
    with pytest.raises(LookAheadError):
        provider.get_data(provider.times[0])


@pytest.mark.parametrize(
    "t",
    [
        utc("2024-06-01T01:30:00Z"),  # between grid hours
        utc("2024-05-31T23:00:00Z"),  # before the window
    ],
)
def test_a_time_off_the_grid_is_a_data_error(lending: HistoricalDataProvider, t: datetime) -> None:
    lending.set_clock(lending.times[10])
    with pytest.raises(DataError, match="not an hour of the run grid") as raised:
        lending.get_data(t)
    assert not isinstance(raised.value, LookAheadError)


def test_grid_is_hourly_and_inclusive(lending: HistoricalDataProvider) -> None:
    assert lending.times[0] == utc("2024-06-01T00:00:00Z")
    assert lending.times[-1] == utc("2024-06-10T00:00:00Z")
    assert len(lending.times) == 9 * 24 + 1
    assert all(b - a == HOUR for a, b in zip(lending.times, lending.times[1:], strict=False))


def test_window_outside_coverage_names_the_file_and_both_windows(data_dir: Path) -> None:
    config = load_run_config(
        "pure_lending", ["start=2023-12-01T00:00:00Z", "end=2024-02-01T00:00:00Z"], env={}
    )
    with pytest.raises(DataError) as raised:
        HistoricalDataProvider(config, data_dir)
    message = str(raised.value)
    assert "bybit_ETHUSDT_spot_1h_2024-01-01_2025-09-26.csv" in message
    assert "2024-01-01 00:00 UTC -> 2025-09-25 23:00 UTC" in message  # the file's span
    assert "2023-12-01 00:00 UTC -> 2024-02-01 00:00 UTC" in message  # the run's window


def test_funding_window_outside_coverage_names_the_source(data_dir: Path) -> None:
    config = load_run_config(
        "btc_basis", ["start=2025-09-01T00:00:00Z", "end=2025-09-10T00:00:00Z"], env={}
    )
    with pytest.raises(DataError) as raised:
        HistoricalDataProvider(config, data_dir)
    message = str(raised.value)
    assert "okx" in message and "BTC-USDT-SWAP" in message
    assert "2025-09-01 00:00 UTC -> 2025-09-10 00:00 UTC" in message


def test_missing_data_folder_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="data folder not found"):
        HistoricalDataProvider(
            load_run_config("pure_lending", SHORT_WINDOW, env={}), tmp_path / "nope"
        )


# --- holes cut out of copies of the files -------------------------------------------------------


def copy_files(source: Path, target: Path, patterns: tuple[str, ...]) -> None:
    for pattern in patterns:
        for path in source.glob(pattern):
            destination = target / path.relative_to(source)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, destination)


def cut_hours(path: Path, first: datetime, hours: int) -> None:
    """Drop the rows of an hourly CSV stamped in [first, first + hours h) (ISO or unix stamps)."""
    stamps = {first + i * HOUR for i in range(hours)}
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [lines[0]]
    for line in lines[1:]:
        cell = line.split(",", 1)[0]
        t = (
            datetime.fromtimestamp(int(cell), UTC)
            if cell.isdigit()
            else utc(cell.replace("+00:00Z", "Z"))
        )
        if t not in stamps:
            kept.append(line)
    assert len(lines) - len(kept) == hours, f"{path}: expected {hours} rows in the hole"
    path.write_text("".join(kept), encoding="utf-8")


@pytest.fixture
def lending_copy(tmp_path: Path, data_dir: Path) -> Path:
    """The files pure_lending needs, plus the Binance ETH perp (the last ETH/USD fallback)."""
    copy_files(data_dir, tmp_path, (*PURE_LENDING_FILES, BINANCE_ETH_PERP))
    return tmp_path


HOLE = utc("2024-06-03T05:00:00Z")  # 10 hours: 05:00 .. 14:00
GAS_HOLE = utc("2024-06-04T07:00:00Z")  # 10 hours: 07:00 .. 16:00


def test_pure_lending_runs_from_exactly_the_files_it_needs(tmp_path: Path, data_dir: Path) -> None:
    """Domain 15.2: pure_lending needs AAVE USDT rates, ETH/USD and gas. The Binance ETH perp is
    only the third ETH/USD fallback and is not needed when the first two cover the window."""
    copy_files(data_dir, tmp_path, PURE_LENDING_FILES)
    provider = HistoricalDataProvider(
        load_run_config("pure_lending", SHORT_WINDOW, env={}), tmp_path
    )
    assert provider.bridges == []


def test_own_first_bridges_a_spot_hole_by_ffill_then_uniswap_proxy(
    lending_copy: Path, data_dir: Path
) -> None:
    cut_hours(lending_copy / BYBIT_ETH_SPOT, HOLE, 10)
    config = load_run_config("pure_lending", [*SHORT_WINDOW, "data.price_bridge=own_first"], env={})
    provider = HistoricalDataProvider(config, lending_copy)
    bridges = [b for b in provider.bridges if b.series == "price:ETH"]
    assert [(b.kind, b.source, b.start, b.end, b.hours) for b in bridges] == [
        ("forward_fill", BYBIT_ETH_SPOT, HOLE, HOLE + 2 * HOUR, 3),
        ("proxy", UNISWAP_ETH, HOLE + 3 * HOUR, HOLE + 9 * HOUR, 7),
    ]
    uniswap = ohlcv_open(data_dir / UNISWAP_ETH)
    bybit = ohlcv_open(data_dir / BYBIT_ETH_SPOT)
    assert value_at(provider, "price:ETH", HOLE + 2 * HOUR) == bybit[pd.Timestamp(HOLE - HOUR)]
    assert (
        value_at(provider, "price:ETH", HOLE + 5 * HOUR) == uniswap[pd.Timestamp(HOLE + 5 * HOUR)]
    )
    assert (
        value_at(provider, "price:ETH", HOLE + 10 * HOUR) == bybit[pd.Timestamp(HOLE + 10 * HOUR)]
    )
    summary = provider.bridge_summary()[1]
    assert {k: summary[k] for k in ("series", "kind", "source", "start", "end", "hours")} == {
        "series": "price:ETH",
        "kind": "proxy",
        "source": UNISWAP_ETH,
        "start": "2024-06-03T08:00:00+00:00",
        "end": "2024-06-03T14:00:00+00:00",
        "hours": 7,
    }


def test_freshest_takes_uniswap_from_the_first_hour_of_a_spot_hole(
    lending_copy: Path, data_dir: Path
) -> None:
    cut_hours(lending_copy / BYBIT_ETH_SPOT, HOLE, 10)
    provider = HistoricalDataProvider(
        load_run_config("pure_lending", SHORT_WINDOW, env={}), lending_copy
    )
    bridges = [b for b in provider.bridges if b.series == "price:ETH"]
    assert [(b.kind, b.source, b.start, b.end, b.hours) for b in bridges] == [
        ("proxy", UNISWAP_ETH, HOLE, HOLE + 9 * HOUR, 10),
    ]
    uniswap = ohlcv_open(data_dir / UNISWAP_ETH)
    assert value_at(provider, "price:ETH", HOLE) == uniswap[pd.Timestamp(HOLE)]
    assert mark_source(provider, "price:ETH", HOLE) == "uniswap v3 WETH/USDT (proxy)"


def test_freshest_ties_go_to_the_own_series_and_held_marks_are_named(
    lending_copy: Path, data_dir: Path
) -> None:
    """All three ETH/USD sources miss 05:00-06:00; Uniswap also 07:00, Bybit also 07:00-08:00.
    05:00, 06:00: every source is as old, Bybit (own) wins. 07:00: the Binance perp is live.
    08:00: Bybit is 4 h old (beyond the bound), Uniswap is live again."""
    cut_hours(lending_copy / BYBIT_ETH_SPOT, HOLE, 4)
    cut_hours(lending_copy / UNISWAP_ETH, HOLE, 3)
    cut_hours(lending_copy / BINANCE_ETH_PERP, HOLE, 2)
    provider = HistoricalDataProvider(
        load_run_config("pure_lending", SHORT_WINDOW, env={}), lending_copy
    )
    sources = [mark_source(provider, "price:ETH", HOLE + h * HOUR) for h in range(5)]
    assert sources == [
        "bybit ETH spot (held 1 h)",
        "bybit ETH spot (held 2 h)",
        "binance ETHUSDT perp (proxy)",
        "uniswap v3 WETH/USDT (proxy)",
        "bybit ETH spot",
    ]
    bybit = ohlcv_open(data_dir / BYBIT_ETH_SPOT)
    assert value_at(provider, "price:ETH", HOLE + HOUR) == bybit[pd.Timestamp(HOLE - HOUR)]
    bridges = [b for b in provider.bridges if b.series == "price:ETH"]
    assert [(b.kind, b.start, b.hours) for b in bridges] == [
        ("forward_fill", HOLE, 2),
        ("proxy", HOLE + 3 * HOUR, 1),
        ("proxy", HOLE + 2 * HOUR, 1),
    ]


def test_gas_hole_without_fallback_is_a_data_error(lending_copy: Path) -> None:
    cut_hours(lending_copy / GAS, GAS_HOLE, 10)
    with pytest.raises(DataError) as raised:
        HistoricalDataProvider(load_run_config("pure_lending", SHORT_WINDOW, env={}), lending_copy)
    message = str(raised.value)
    assert GAS in message
    assert "2024-06-04 16:00 UTC" in message  # the hole's last hour
    # the hole's first hour, or its first hour not bridged by the 3 h forward fill
    assert "2024-06-04 07:00 UTC" in message or "2024-06-04 10:00 UTC" in message


def test_longer_forward_fill_bridges_the_gas_hole(lending_copy: Path, data_dir: Path) -> None:
    cut_hours(lending_copy / GAS, GAS_HOLE, 10)
    config = load_run_config("pure_lending", [*SHORT_WINDOW, "data.max_ffill_hours=24"], env={})
    provider = HistoricalDataProvider(config, lending_copy)
    gas = [b for b in provider.bridges if b.series == "gas_gwei"]
    assert [(b.kind, b.source, b.start, b.end, b.hours) for b in gas] == [
        ("forward_fill", GAS, GAS_HOLE, GAS_HOLE + 9 * HOUR, 10)
    ]
    before = pd.read_csv(data_dir / GAS, usecols=["timestamp", "gas_price_avg_gwei"])
    last = before.loc[before["timestamp"] == "2024-06-04T06:00:00Z", "gas_price_avg_gwei"].item()
    assert value_at(provider, "gas_gwei", GAS_HOLE + 9 * HOUR) == last
    assert not math.isnan(value_at(provider, "gas_gwei", GAS_HOLE + 10 * HOUR))
