"""Plausibility of what a run reads (`data.plausibility`, issue 12): the checks on small series,
then the provider on the real data folder with one file corrupted (every other file linked).

Bad data never becomes a complete-looking result: by default the run stops naming the file, the
time and the value; `data.implausible: bridge` drops one-off values and records the bridges.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from basis_strategy.config.loader import load_run_config
from basis_strategy.config.models import DataSettings
from basis_strategy.core.errors import DataError, DataFileError
from basis_strategy.data.align import Bridge
from basis_strategy.data.db import DatabaseData, load_folder
from basis_strategy.data.plausibility import (
    Plausibility,
    aave_findings,
    check_columns,
    funding_findings,
    price_findings,
)
from basis_strategy.data.provider import HistoricalDataProvider
from basis_strategy.data.sources.funding import read_funding
from basis_strategy.data.sources.ohlcv import read_ohlcv_open

DATA_DIR = Path(
    os.environ.get("BASIS_DATA_DIR")
    or Path(__file__).resolve().parents[3].parent / "shared" / "data"
)
HOUR = timedelta(hours=1)
WINDOW = ["start=2024-06-01T00:00:00Z", "end=2024-06-10T00:00:00Z"]
AT = datetime(2024, 6, 3, 5, tzinfo=UTC)
UNISWAP_ETH = "market_data/spot_prices/eth_usd/uniswapv3_WETHUSDT_1h_2024-01-01_2025-09-27.csv"
BYBIT_ETH = "market_data/spot_prices/eth_usd/bybit_ETHUSDT_spot_1h_2024-01-01_2025-09-26.csv"
UNISWAP_ETH = "market_data/spot_prices/eth_usd/uniswapv3_WETHUSDT_1h_2024-01-01_2025-09-27.csv"
BINANCE_BTC = "market_data/spot_prices/btc_usd/binance_BTCUSDT_1h_2024-01-01_2025-09-30.csv"
BYBIT_ETH_PERP = (
    "market_data/derivatives/futures_ohlcv/bybit_ETHUSDT_perp_1h_2024-01-01_2025-09-26.csv"
)
FUNDING = "market_data/derivatives/funding_rates"
BINANCE_ETH_FUNDING = f"{FUNDING}/binance_ETHUSDT_funding_rates_2024-01-01_2025-09-26.csv"
BYBIT_ETH_FUNDING = f"{FUNDING}/bybit_ETHUSDT_funding_rates_2024-01-01_2025-09-26.csv"
AAVE_USDT = "protocol_data/aave/rates/aave_v3_aave-v3-ethereum_USDT_rates_2024-01-01_2025-09-18.csv"
GAS = "blockchain_data/gas_prices/ethereum_gas_prices_2024-01-01_2025-09-26.csv"
PURE_LENDING = (BYBIT_ETH, UNISWAP_ETH, GAS, AAVE_USDT)

Edit = Callable[[list[list[str]], list[str]], None]  # (rows, header) -> changes rows in place


def series(values: list[float], start: str = "2024-06-01") -> pd.Series:
    index = pd.date_range(start, periods=len(values), freq="h", tz="UTC")
    return pd.Series(values, index=index, dtype=np.float64)


# --- the checks on small series ---------------------------------------------------------------


def test_real_moves_pass_and_a_one_off_spike_is_one_bridgeable_value() -> None:
    assert price_findings(series([100.0, 88.1, 100.0, 114.9]), 0.3) == []  # -11.9 %, +14.9 %
    found = price_findings(series([100.0, 101.0, 1010.0, 102.0, 103.0]), 0.3)
    assert [(f.position, f.bridgeable) for f in found] == [(2, True)]
    assert "2024-06-01 02:00 UTC: 1010.0 against 101.0 at 2024-06-01 01:00 UTC" in found[0].problem
    assert "a move of +900.0%, beyond data.max_hourly_move 0.3" in found[0].problem


def test_an_excursion_of_several_values_and_a_non_positive_price() -> None:
    found = price_findings(series([100.0, 10.0, 11.0, 100.0, 0.0, 101.0]), 0.3)
    assert [(f.position, f.bridgeable) for f in found] == [(1, True), (2, True), (4, True)]
    assert "2024-06-01 04:00 UTC: 0.0 is not a positive price" in found[2].problem


def test_a_jump_that_lasts_cannot_be_bridged() -> None:
    """Prices in cents from some hour on: no value to drop explains it."""
    found = price_findings(series([100.0, 101.0, 10100.0, 10200.0]), 0.3)
    assert [(f.position, f.bridgeable) for f in found] == [(2, False)]
    assert "it lasts (no jump back)" in found[0].problem


def test_funding_beyond_the_limit_and_off_the_settlement_hours() -> None:
    rates = pd.Series(
        [1e-4, 5.0, -0.02, 1e-4],
        index=pd.DatetimeIndex(
            ["2024-06-01 00:00", "2024-06-01 08:00", "2024-06-01 16:00", "2024-06-01 20:00"],
            tz="UTC",
        ),
    )
    found = funding_findings(rates, 0.01, (0, 8, 16))
    assert [(f.position, f.bridgeable) for f in found] == [(1, True), (2, True), (3, False)]
    assert "funding rate per 8 h 5.0 is outside -0.01 .. data.max_funding_rate_per_8h" in (
        found[0].problem
    )
    assert "2024-06-01 20:00 UTC: a settlement the engine does not make (only 00, 08, 16)" in (
        found[2].problem
    )


def test_aave_rates_in_percent_negative_or_an_index_jump() -> None:
    days = pd.date_range("2024-06-01", periods=4, freq="D", tz="UTC")
    daily = pd.DataFrame(
        {
            "liquidity_index": [1.05, 1.0501, 1.0502, 1.2],
            "liquidity_rate": [0.04, 4.45, 0.04, 0.04],
            "borrow_index": [1.1, 1.1001, 1.1002, 1.1003],
            "borrow_rate": [0.06, 0.06, -0.01, 0.06],
        },
        index=days,
    )
    found = aave_findings(daily, 1.0)
    assert [(f.position, f.bridgeable) for f in found] == [(1, True), (2, True), (3, False)]
    assert "currentLiquidityRate 4.45 is outside 0.0 .. data.max_apr 1.0" in found[0].problem
    assert "currentVariableBorrowRate -0.01" in found[1].problem
    assert "liquidityIndex 1.2 grew" in found[2].problem


def test_only_the_observations_a_run_can_reach_are_screened() -> None:
    """From the last one at or before the start to the last one at or before the end."""
    prices = series([100.0, 1000.0, 100.0, 101.0, 102.0, 1000.0, 103.0])
    start, end = prices.index[3].to_pydatetime(), prices.index[4].to_pydatetime()
    screen = Plausibility(DataSettings(), start, end, (0, 8, 16))
    assert screen.screen(read_ohlcv_open, prices, "x", "x.csv") == (prices, [])
    with pytest.raises(DataError, match=r"^x\.csv: 2024-06-01 05:00 UTC: 1000\.0 against 102"):
        Plausibility(DataSettings(), start, end + HOUR, (0, 8, 16)).screen(
            read_ohlcv_open, prices, "x", "x.csv"
        )


def test_bridge_mode_drops_the_values_and_records_them() -> None:
    prices = series([100.0, 1000.0, 900.0, 101.0, 0.0, 102.0])
    settings = DataSettings(implausible="bridge")
    start, end = prices.index[0].to_pydatetime(), prices.index[-1].to_pydatetime()
    kept, bridges = Plausibility(settings, start, end, (0, 8, 16)).screen(
        read_ohlcv_open, prices, "bybit ETH spot", "a/b.csv"
    )
    assert kept.tolist() == [100.0, 101.0, 102.0]
    hours = prices.index.to_pydatetime()
    assert bridges == [
        Bridge("bybit ETH spot", "implausible", "a/b.csv", hours[1], hours[2], 2, 2),
        Bridge("bybit ETH spot", "implausible", "a/b.csv", hours[4], hours[4], 1, 1),
    ]


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("error", "01:00 UTC: 0.0 is not a positive price (data.implausible: bridge drops such"),
        ("bridge", "03:00 UTC: 1000.0 against 100.0 at 2024-06-01 02:00 UTC, a move of +900.0%"),
    ],
)
def test_the_error_names_the_first_value_or_in_bridge_mode_the_first_unbridgeable_one(
    mode: str, message: str
) -> None:
    prices = series([100.0, 0.0, 100.0, 1000.0, 1010.0])  # a zero, then a jump that lasts
    start, end = prices.index[0].to_pydatetime(), prices.index[-1].to_pydatetime()
    screen = Plausibility(DataSettings(implausible=mode), start, end, (0, 8, 16))
    with pytest.raises(DataError) as raised:
        screen.screen(read_ohlcv_open, prices, "x", "x.csv")
    assert str(raised.value).startswith(f"x.csv: 2024-06-01 {message}")


def test_columns_a_perp_in_other_units_and_sources_that_disagree() -> None:
    times = list(pd.date_range("2024-06-01", periods=3, freq="h", tz="UTC").to_pydatetime())
    spot = np.array([3000.0, 3010.0, 3020.0])
    check_columns({"price:ETH": spot, "perp:bybit:ETHUSDT": spot * 1.01}, times, DataSettings())
    with pytest.raises(DataError) as raised:
        check_columns({"price:ETH": spot, "perp:bybit:ETHUSDT": spot * 100}, times, DataSettings())
    assert str(raised.value).startswith("perp:bybit:ETHUSDT: 300000.0 at 2024-06-01 00:00 UTC")
    assert "+9900.0% from price:ETH 3000.0, beyond data.max_basis 0.2" in str(raised.value)
    market = {"lst_rate:weETH": np.full(3, 1.05), "lst_market:weETH": np.full(3, 3000.0)}
    with pytest.raises(DataError, match=r"lst_market:weETH: 3000\.0 .* from lst_rate:weETH 1\.05"):
        check_columns(market, times, DataSettings())
    mixed = np.array([3000.0, 300_000.0, 3020.0])  # an hour from a source in cents
    with pytest.raises(DataError, match=r"price:ETH: 300000\.0 at 2024-06-01 01:00 UTC after"):
        check_columns({"price:ETH": mixed}, times, DataSettings())


# --- the provider on the real folder with one file corrupted ---------------------------------


@pytest.fixture(scope="module")
def data_dir() -> Path:
    if not (DATA_DIR / "README.md").is_file():
        pytest.fail(f"data folder not found: {DATA_DIR} (set BASIS_DATA_DIR)")
    return DATA_DIR


def replica(data_dir: Path, folder: Path, edits: dict[str, Edit]) -> Path:
    """Every file of the data folder linked into `folder`, the edited ones rewritten."""
    for path in data_dir.rglob("*"):
        if not path.is_file():
            continue
        relative = path.relative_to(data_dir).as_posix()
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if relative not in edits:
            target.symlink_to(path)
            continue
        lines = path.read_text(encoding="utf-8").splitlines()
        header, rows = lines[0].split(","), [line.split(",") for line in lines[1:]]
        edits[relative](rows, header)
        target.write_text("\n".join([lines[0], *(",".join(r) for r in rows)]) + "\n")
    return folder


def set_cell(stamp: str, column: str, value: str | Callable[[float], float]) -> Edit:
    def edit(rows: list[list[str]], header: list[str]) -> None:
        row = next(r for r in rows if r[0] == stamp)
        at = header.index(column)
        row[at] = value if isinstance(value, str) else repr(value(float(row[at])))
        if column == "open" and "high" in header:  # keep the bar's own range consistent
            row[header.index("high")] = repr(max(float(row[at]), float(row[header.index("high")])))
            row[header.index("low")] = repr(min(float(row[at]), float(row[header.index("low")])))

    return edit


def provider(mode: str, folder: Path | DatabaseData, *sets: str) -> HistoricalDataProvider:
    return HistoricalDataProvider(load_run_config(mode, [*WINDOW, *sets], env={}), folder)


def test_a_repeated_btc_bar_with_another_price_stops_the_run(
    tmp_path: Path, data_dir: Path
) -> None:
    """Before, the later row was used silently (one injected row moved equity +31 %)."""

    def repeat(rows: list[list[str]], header: list[str]) -> None:
        at = next(i for i, r in enumerate(rows) if r[0] == "2024-06-03T05:00:00Z")
        injected = list(rows[at])
        injected[header.index("open")] = injected[header.index("high")]
        rows.insert(at + 1, injected)

    folder = replica(data_dir, tmp_path, {BINANCE_BTC: repeat})
    with pytest.raises(DataFileError) as raised:
        provider("btc_basis", folder)
    line = 2 + int((AT - datetime(2024, 1, 1, tzinfo=UTC)) / HOUR) - 23 * 3  # three holes
    assert raised.value.path == folder / BINANCE_BTC
    assert raised.value.line == line + 1
    assert "conflicting values for duplicated timestamp 2024-06-03 05:00:00+00:00" in str(
        raised.value
    )
    assert f"on line {line}" in str(raised.value)


@pytest.mark.parametrize(
    ("value", "what"),
    [(lambda p: p * 10, "a move of +904.6%"), ("0", "0.0 is not a positive price")],
)
def test_a_bad_eth_price_stops_the_run_or_is_bridged_when_configured(
    tmp_path: Path, data_dir: Path, value: str | Callable[[float], float], what: str
) -> None:
    folder = replica(
        data_dir, tmp_path, {BYBIT_ETH: set_cell("2024-06-03T05:00:00Z", "open", value)}
    )
    with pytest.raises(DataError) as raised:
        provider("pure_lending", folder)
    message = str(raised.value)
    assert message.startswith(f"{BYBIT_ETH}: 2024-06-03 05:00 UTC: ")
    assert what in message and "data.implausible: bridge" in message
    # the dropped hour is a hole like any other: the freshest source marks it (the Uniswap
    # fallback's own bar); with `own_first` the last bybit price is held
    bridged = provider("pure_lending", folder, "data.implausible=bridge")
    assert [b for b in bridged.bridges if b.series in ("bybit ETH spot", "price:ETH")] == [
        Bridge("bybit ETH spot", "implausible", BYBIT_ETH, AT, AT, 1, 1),
        Bridge("price:ETH", "proxy", UNISWAP_ETH, AT, AT, 1, 1),
    ]
    bridged.set_clock(AT)
    uniswap = read_ohlcv_open(data_dir / UNISWAP_ETH)
    assert bridged.get_data(AT)["price:ETH"] == uniswap[pd.Timestamp(AT)]
    held = provider(
        "pure_lending", folder, "data.implausible=bridge", "data.price_bridge=own_first"
    )
    assert [b for b in held.bridges if b.series == "price:ETH"] == [
        Bridge("price:ETH", "forward_fill", BYBIT_ETH, AT, AT, 1, 1),
    ]
    real = read_ohlcv_open(data_dir / BYBIT_ETH)
    held.set_clock(AT)
    assert held.get_data(AT)["price:ETH"] == real[pd.Timestamp(AT - HOUR)]


def test_eth_prices_in_cents_from_some_hour_on_are_never_bridged(
    tmp_path: Path, data_dir: Path
) -> None:
    def cents(rows: list[list[str]], header: list[str]) -> None:
        for row in rows:
            if row[0] >= "2024-06-03T05:00:00Z":
                for column in ("open", "high", "low", "close"):
                    row[header.index(column)] = repr(float(row[header.index(column)]) * 100)

    folder = replica(data_dir, tmp_path, {BYBIT_ETH: cents})
    with pytest.raises(
        DataError, match=r"it lasts \(no jump back\): not a one-off value to bridge"
    ):
        provider("pure_lending", folder, "data.implausible=bridge")


def test_a_whole_perp_file_in_other_units_is_refused(tmp_path: Path, data_dir: Path) -> None:
    def scaled(rows: list[list[str]], header: list[str]) -> None:
        for row in rows:
            for column in ("open", "high", "low", "close"):
                row[header.index(column)] = repr(float(row[header.index(column)]) * 1000)

    folder = replica(data_dir, tmp_path, {BYBIT_ETH_PERP: scaled})
    with pytest.raises(
        DataError, match=r"^perp:bybit:ETHUSDT: .* from price:ETH .*, beyond data\.max_basis 0\.2"
    ):
        provider("eth_basis", folder)


def test_an_absurd_funding_rate_stops_the_run_or_takes_the_proxy_venue(
    tmp_path: Path, data_dir: Path
) -> None:
    settlement = datetime(2024, 6, 3, 8, tzinfo=UTC)
    edit = set_cell("2024-06-03T08:00:00Z", "funding_rate", "5.0")
    folder = replica(data_dir, tmp_path, {BINANCE_ETH_FUNDING: edit})
    with pytest.raises(DataError) as raised:
        provider("eth_basis", folder)
    assert str(raised.value).startswith(
        f"{BINANCE_ETH_FUNDING}: 2024-06-03 08:00 UTC: funding rate per 8 h 5.0 is outside "
        "-0.01 .. data.max_funding_rate_per_8h 0.01"
    )
    with pytest.raises(DataError, match="no funding settlement at 2024-06-03 08:00 UTC"):
        provider("eth_basis", folder, "data.implausible=bridge")
    bridged = provider(
        "eth_basis", folder, "data.implausible=bridge", "data.funding_proxies.binance=bybit"
    )
    names = ("binance ETHUSDT funding", "funding:binance:ETHUSDT")
    assert [b for b in bridged.bridges if b.series in names] == [
        Bridge(
            "binance ETHUSDT funding", "implausible", BINANCE_ETH_FUNDING, *[settlement] * 2, 1, 1
        ),
        Bridge("funding:binance:ETHUSDT", "proxy", BYBIT_ETH_FUNDING, *[settlement] * 2, 1, 1),
    ]
    bridged.set_clock(settlement)
    rates = {(r.venue, r.base): r.rate_per_8h for r in bridged.get_data(settlement).funding}
    bybit = read_funding(data_dir / BYBIT_ETH_FUNDING)
    assert rates[("binance", "ETH")] == bybit[pd.Timestamp(settlement)]


def test_a_funding_settlement_at_another_hour_stops_the_run(tmp_path: Path, data_dir: Path) -> None:
    def four_hourly(rows: list[list[str]], header: list[str]) -> None:
        at = next(i for i, r in enumerate(rows) if r[0] == "2024-06-03T00:00:00Z")
        rows.insert(at + 1, ["2024-06-03T04:00:00Z", "0.0001", *rows[at][2:]])

    folder = replica(data_dir, tmp_path, {BINANCE_ETH_FUNDING: four_hourly})
    with pytest.raises(DataError, match="04:00 UTC: a settlement the engine does not make"):
        provider("eth_basis", folder, "data.implausible=bridge")


@pytest.mark.parametrize(
    ("relative", "stamp", "column", "value", "problem"),
    [
        (
            AAVE_USDT,
            "2024-06-03T00:00:00Z",
            "currentLiquidityRate",
            "4.45",  # percent, not a fraction
            "currentLiquidityRate 4.45 is outside 0.0 .. data.max_apr 1.0",
        ),
        (
            AAVE_USDT,
            "2024-06-03T00:00:00Z",
            "currentVariableBorrowRate",
            "-0.05",
            "currentVariableBorrowRate -0.05 is outside 0.0 .. data.max_apr 1.0",
        ),
        (
            GAS,
            "2024-06-03T05:00:00Z",
            "gas_price_avg_gwei",
            "12070000000",  # wei, not gwei
            "gas (gwei) 12070000000.0 is outside 0.0 .. data.max_gas_gwei 20000.0",
        ),
    ],
)
def test_absurd_aave_rates_and_gas_prices_stop_the_run(
    tmp_path: Path,
    data_dir: Path,
    relative: str,
    stamp: str,
    column: str,
    value: str,
    problem: str,
) -> None:
    folder = replica(data_dir, tmp_path, {relative: set_cell(stamp, column, value)})
    with pytest.raises(DataError) as raised:
        provider("pure_lending", folder)
    assert str(raised.value) == (
        f"{relative}: {stamp[:10]} {stamp[11:16]} UTC: {problem} "
        "(data.implausible: bridge drops such values)"
    )


def test_the_database_source_is_screened_the_same_way(
    tmp_path: Path, data_dir: Path, database_url: str
) -> None:
    folder = tmp_path / "data"
    for relative in PURE_LENDING:
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_bytes((data_dir / relative).read_bytes())
    spike = set_cell("2024-06-03T05:00:00Z", "open", lambda p: p * 10)
    replica(folder, tmp_path / "spiked", {BYBIT_ETH: spike})
    load_folder(tmp_path / "spiked", database_url)
    database = DatabaseData(database_url)
    try:
        with pytest.raises(DataError) as from_db:
            provider("pure_lending", database)
        with pytest.raises(DataError) as from_folder:
            provider("pure_lending", tmp_path / "spiked")
        assert str(from_db.value) == str(from_folder.value)
        assert "a move of +904.6%" in str(from_db.value)
        bridged = provider("pure_lending", database, "data.implausible=bridge")
        assert Bridge("bybit ETH spot", "implausible", BYBIT_ETH, AT, AT, 1, 1) in bridged.bridges
    finally:
        database.close()
