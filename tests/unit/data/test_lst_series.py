"""LST-mode market data on the real data folder (domain 3, 4.1, 4.2, 15; data README).

Expected values come from the raw files, read here with plain pandas, never through the
project's readers. Holes and cuts are made in copies of the files in a temporary folder.
"""

from __future__ import annotations

import itertools
import math
import os
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from basis_strategy.config.loader import load_run_config
from basis_strategy.core.errors import DataError
from basis_strategy.data.market import AaveRisk
from basis_strategy.data.provider import HistoricalDataProvider
from basis_strategy.data.requirements import requirements_for

DATA_DIR = Path(
    os.environ.get("BASIS_DATA_DIR")
    or Path(__file__).resolve().parents[3].parent / "shared" / "data"
)
HOUR = timedelta(hours=1)
ORACLE = "protocol_data/aave/oracle/{}_ETH_oracle_2024-01-01_2025-09-18.csv"
PEG = "protocol_data/staking/peg_analysis/{}_peg_analysis_2024-01-01_2025-09-18.csv"
RATES = "protocol_data/aave/rates/aave_v3_aave-v3-ethereum_{}_rates_{}.csv"
WEETH_RATES = RATES.format("weETH", "2024-05-12_2025-09-18")
WSTETH_RATES = RATES.format("wstETH", "2024-05-12_2025-09-18")
WETH_RATES = RATES.format("WETH", "2024-01-01_2025-09-18")
TOKENS = "market_data/spot_prices/protocol_tokens"
EIGEN_POOL = f"{TOKENS}/uniswapv3_EIGENWETH_1h_2024-10-05_2025-09-27.csv"
ETHFI_POOL = f"{TOKENS}/uniswapv3_ETHFIWETH_1h_2024-04-01_2025-09-27.csv"
BYBIT_ETH = "market_data/spot_prices/eth_usd/bybit_ETHUSDT_spot_1h_2024-01-01_2025-09-26.csv"
EIGEN_FIRST_BAR = datetime(2024, 10, 5, tzinfo=UTC)
LST_START = datetime(2024, 5, 12, 1, tzinfo=UTC)
# every file an LST mode may read (hedged modes also read perps and funding, not cut here)
LST_FILES = (
    "market_data/spot_prices/eth_usd/*",
    "market_data/derivatives/futures_ohlcv/binance_ETHUSDT_perp_1h_*.csv",
    "blockchain_data/gas_prices/*",
    "protocol_data/aave/oracle/*_ETH_oracle_*.csv",
    "protocol_data/aave/rates/*.csv",
    "protocol_data/aave/risk_params/*",
    "protocol_data/staking/peg_analysis/*",
    "market_data/spot_prices/protocol_tokens/*",
    "manual_sources/etherfi_distributions/*",
    "manual_sources/aave_params/*",
    "protocol_data/staking/benchmark_yields/*",
)
DEFI_MODES = ("eth_staking_only", "eth_leveraged", "usdt_market_neutral_no_leverage")
VARIANTS = {
    "weETH-base_only": ["staking.rewards_mode=base_only"],
    "weETH-base_eigen": ["staking.rewards_mode=base_eigen"],
    "weETH-base_eigen_seasonal": ["staking.rewards_mode=base_eigen_seasonal"],
    "wstETH-base_only": ["staking.lst_type=wstETH", "staking.rewards_mode=base_only"],
}


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def raw_oracle(lst: str) -> pd.Series:
    frame = pd.read_csv(DATA_DIR / ORACLE.format(lst), comment="#")
    return pd.Series(
        frame["oracle_price_eth"].to_numpy(), index=pd.to_datetime(frame["timestamp"], utc=True)
    )


def raw_daily(relative: str, column: str) -> pd.Series:
    frame = pd.read_csv(DATA_DIR / relative)
    return pd.Series(frame[column].to_numpy(), index=pd.to_datetime(frame["targetDate"], utc=True))


def raw_open(relative: str) -> pd.Series:
    frame = pd.read_csv(DATA_DIR / relative, usecols=["timestamp", "open"])
    stamps = frame["timestamp"]
    if pd.api.types.is_numeric_dtype(stamps):
        index = pd.to_datetime(stamps, unit="s", utc=True)
    else:
        index = pd.to_datetime(stamps, utc=True, format="ISO8601")
    series = pd.Series(frame["open"].to_numpy(), index=index)
    return series[~series.index.duplicated(keep="last")]


def column_at(provider: HistoricalDataProvider, name: str, t: datetime) -> float:
    return float(provider.columns[name][provider.position(t)])


def build(mode: str, sets: list[str], data: Path = DATA_DIR) -> HistoricalDataProvider:
    return HistoricalDataProvider(load_run_config(mode, sets, env={}), data)


def only_base(lst: str) -> list[str]:
    return [f"staking.lst_type={lst}", "staking.rewards_mode=base_only"]


@pytest.fixture(scope="module")
def staking() -> HistoricalDataProvider:
    return build("eth_staking_only", ["staking.rewards_mode=base_eigen"])


@pytest.fixture(scope="module")
def leveraged() -> HistoricalDataProvider:
    return build("eth_leveraged", [])


# --- ρ: the oracle's 00:00 snapshots, carried at their trailing 7-day growth -----------------


def carry_rate_per_hour(daily: pd.Series, at: datetime, quantile: float) -> float:
    """The carrying rule from the raw daily values: the `quantile` of the log growth per hour
    of the last 30 daily intervals up to `at` (data.align: 40th percentile for yields, 60th
    for the borrow index)."""
    days = [pd.Timestamp(at - k * 24 * HOUR) for k in range(31)]
    levels = [daily[d] for d in days if d in daily.index]
    rates = [math.log(a / b) / 24 for a, b in itertools.pairwise(levels)]
    return float(np.quantile(rates, quantile))


@pytest.mark.parametrize("day", ["2024-06-15", "2024-10-14", "2025-02-03", "2025-09-17"])
def test_rho_is_the_0000_oracle_value_carried_at_a_trailing_daily_growth(
    staking: HistoricalDataProvider, day: str
) -> None:
    oracle = raw_oracle("weETH")
    start = utc(f"{day}T00:00:00Z")
    snapshot = oracle[pd.Timestamp(start)]
    growth_per_hour = carry_rate_per_hour(oracle, start, 0.4)
    assert column_at(staking, "lst_rate:weETH", start) == snapshot
    for h in (1, 7, 23):
        expected = snapshot * math.exp(growth_per_hour * h)
        assert column_at(staking, "lst_rate:weETH", start + h * HOUR) == pytest.approx(
            expected, rel=1e-15
        )
    # never the file's own intraday rows (they interpolate towards the next snapshot)
    assert (
        column_at(staking, "lst_rate:weETH", start + 12 * HOUR)
        != oracle[pd.Timestamp(start + 12 * HOUR)]
    )
    after = start + 24 * HOUR
    if after <= staking.end:
        assert column_at(staking, "lst_rate:weETH", after) == oracle[pd.Timestamp(after)]
        staking.set_clock(after)
        accrued = staking.get_data(after).accrued["lst_rate:weETH"]
        rho_23h = snapshot * math.exp(growth_per_hour * 23)
        new_growth = carry_rate_per_hour(oracle, after, 0.4)
        assert accrued == pytest.approx(rho_23h * math.exp(new_growth), rel=1e-15)


def test_rho_is_reanchored_only_at_0000_and_rises_in_between(
    staking: HistoricalDataProvider,
) -> None:
    rho = staking.columns["lst_rate:weETH"]
    staking.set_clock(staking.end)
    reanchored = [i for i, t in enumerate(staking.times) if staking.get_data(t).accrued]
    assert len(reanchored) > 400
    assert {staking.times[i].hour for i in reanchored} == {0}
    rises = np.diff(rho) > 0
    between = np.array([t.hour != 0 for t in staking.times[1:]])
    assert rises[between].mean() > 0.99  # ρ's trailing growth is positive almost every day


@pytest.mark.parametrize("lst,rates", [("weETH", WEETH_RATES), ("wstETH", WSTETH_RATES)])
def test_rho_before_the_first_0000_row_is_the_aave_snapshot_ratio(lst: str, rates: str) -> None:
    provider = build("eth_staking_only", only_base(lst))
    day = pd.Timestamp("2024-05-12T00:00:00Z")
    expected = raw_daily(rates, "price")[day] / raw_daily(WETH_RATES, "price")[day]
    first_day = provider.columns[f"lst_rate:{lst}"][:23]
    assert first_day.tolist() == [expected] * 23
    next_day = utc("2024-05-13T00:00:00Z")
    oracle_next = raw_oracle(lst)[pd.Timestamp(next_day)]
    assert column_at(provider, f"lst_rate:{lst}", next_day) == oracle_next
    bridges = [b for b in provider.bridges if b.series == f"lst_rate:{lst}"]
    assert [(b.kind, b.source, b.start, b.end, b.hours) for b in bridges] == [
        ("proxy", f"{rates} / {WETH_RATES}", LST_START, utc("2024-05-12T23:00:00Z"), 23)
    ]


# --- ρ_mkt ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "lst,first_row,hours",
    [("weETH", "2024-05-13T04:00:00Z", 27), ("wstETH", "2024-05-12T23:00:00Z", 22)],
)
def test_market_rate_and_oracle_bridge_before_its_first_row(
    lst: str, first_row: str, hours: int
) -> None:
    provider = build("eth_staking_only", only_base(lst))
    peg = pd.read_csv(DATA_DIR / PEG.format(lst), usecols=["timestamp", "market_rate"])
    peg.index = pd.to_datetime(peg["timestamp"], utc=True)
    name = f"lst_market:{lst}"
    first = utc(first_row)
    for t in (first, first + 5 * HOUR, utc("2025-03-01T17:00:00Z"), provider.end):
        assert column_at(provider, name, t) == peg.loc[pd.Timestamp(t), "market_rate"]
    before = provider.columns[name][:hours]
    assert before.tolist() == provider.columns[f"lst_rate:{lst}"][:hours].tolist()
    bridges = [b for b in provider.bridges if b.series == name]
    assert [(b.kind, b.source, b.start, b.end, b.hours) for b in bridges] == [
        ("proxy", ORACLE.format(lst), LST_START, first - HOUR, hours)
    ]
    summary = provider.bridge_summary()
    assert {"series": name, "kind": "proxy", "source": ORACLE.format(lst)}.items() <= next(
        s for s in summary if s["series"] == name
    ).items()


# --- holes cut out of copies -----------------------------------------------------------------


def copy_files(target: Path, patterns: tuple[str, ...] = LST_FILES) -> Path:
    for pattern in patterns:
        for path in DATA_DIR.glob(pattern):
            destination = target / path.relative_to(DATA_DIR)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, destination)
    return target


def first_cell_time(cell: str) -> pd.Timestamp:
    cell = cell.strip()
    if cell.isdigit():
        return pd.Timestamp(int(cell), unit="s", tz="UTC")
    stamp = pd.Timestamp(cell.replace("+00:00Z", "Z"))
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def drop_rows(path: Path, drop: Callable[[pd.Timestamp], bool]) -> int:
    """Remove the data rows whose first cell (a time) satisfies `drop`; returns how many."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    head = 0
    while lines[head].startswith("#"):
        head += 1
    kept = lines[: head + 1]
    for line in lines[head + 1 :]:
        if not (line.strip() and drop(first_cell_time(line.split(",", 1)[0]))):
            kept.append(line)
    path.write_text("".join(kept), encoding="utf-8")
    return len(lines) - len(kept)


def cut_window(path: Path, first: str, hours: int) -> None:
    start = pd.Timestamp(first)
    end = start + pd.Timedelta(hours=hours - 1)
    assert drop_rows(path, lambda t: start <= t <= end) == hours


SHORT = ["start=2024-06-01T00:00:00Z", "end=2024-06-10T00:00:00Z", "staking.rewards_mode=base_only"]


def test_a_missing_0000_row_is_carried_24_plus_ffill_hours_then_fails(tmp_path: Path) -> None:
    data = copy_files(tmp_path)
    oracle_path = data / ORACLE.format("weETH")
    cut_window(oracle_path, "2024-06-05T00:00:00Z", 1)
    with pytest.raises(DataError) as raised:
        build("eth_staking_only", SHORT, data)
    message = str(raised.value)
    assert ORACLE.format("weETH") in message
    assert "2024-06-05 04:00 UTC" in message  # 00:00..03:00 carried: 24 + 3 h old at 03:00
    # with a 24 h forward-fill bound the whole day is carried (and recorded)
    provider = build("eth_staking_only", [*SHORT, "data.max_ffill_hours=24"], data)
    oracle = raw_oracle("weETH")
    previous = oracle[pd.Timestamp("2024-06-04T00:00:00Z")]
    growth_per_hour = carry_rate_per_hour(oracle, utc("2024-06-04T00:00:00Z"), 0.4)
    day = utc("2024-06-05T00:00:00Z")
    for h in (0, 12, 23):
        expected = previous * math.exp(growth_per_hour * (24 + h))
        assert column_at(provider, "lst_rate:weETH", day + h * HOUR) == pytest.approx(
            expected, rel=1e-15
        )
    bridges = [b for b in provider.bridges if b.series == "lst_rate:weETH"]
    assert [(b.kind, b.source, b.start, b.end, b.hours) for b in bridges] == [
        ("forward_fill", ORACLE.format("weETH"), day, day + 23 * HOUR, 24)
    ]


def as_onchain_hourly(path: Path) -> pd.DataFrame:
    """Rewrite the oracle file as `basis data download` writes it: no comment lines, every row
    `source` = aave_oracle_onchain (read at its hour's block)."""
    frame = pd.read_csv(path, comment="#", dtype=str)
    frame["source"] = "aave_oracle_onchain"
    frame.to_csv(path, index=False)
    return frame


def test_an_oracle_read_on_chain_every_hour_gives_rho_every_hour(tmp_path: Path) -> None:
    data = copy_files(tmp_path)
    path = data / ORACLE.format("weETH")
    as_onchain_hourly(path)
    provider = build("eth_staking_only", SHORT, data)
    oracle = raw_oracle("weETH")
    hours = [provider.start + h * HOUR for h in range(48)]
    assert [column_at(provider, "lst_rate:weETH", t) for t in hours] == [
        oracle[pd.Timestamp(t)] for t in hours
    ]
    # a missing hour is carried max_ffill_hours (3), not a day
    cut_window(path, "2024-06-05T10:00:00Z", 4)
    with pytest.raises(
        DataError, match=r"no data 2024-06-05 13:00 UTC.*no read within the 3 h before"
    ):
        build("eth_staking_only", SHORT, data)


def test_a_file_with_one_row_not_read_on_chain_stays_daily(tmp_path: Path) -> None:
    data = copy_files(tmp_path)
    path = data / ORACLE.format("weETH")
    frame = as_onchain_hourly(path)
    frame.loc[100, "source"] = "aave_oracle_derived"
    frame.to_csv(path, index=False)
    provider = build("eth_staking_only", SHORT, data)
    rho = provider.columns["lst_rate:weETH"]
    oracle = raw_oracle("weETH")
    day = [provider.start + h * HOUR for h in range(24)]
    assert rho[0] == oracle[pd.Timestamp(day[0])]  # the 00:00 snapshot, then carried
    assert all(rho[h] != oracle[pd.Timestamp(t)] for h, t in enumerate(day) if h)


def test_peg_hole_forward_filled_then_fails(tmp_path: Path) -> None:
    data = copy_files(tmp_path)
    peg_path = data / PEG.format("weETH")
    cut_window(peg_path, "2024-06-03T05:00:00Z", 3)
    provider = build("eth_staking_only", SHORT, data)
    hole = utc("2024-06-03T05:00:00Z")
    assert column_at(provider, "lst_market:weETH", hole + 2 * HOUR) == column_at(
        provider, "lst_market:weETH", hole - HOUR
    )
    bridges = [b for b in provider.bridges if b.series == "lst_market:weETH"]
    assert [(b.kind, b.start, b.hours) for b in bridges] == [("forward_fill", hole, 3)]
    cut_window(peg_path, "2024-06-03T08:00:00Z", 1)  # now 4 hours
    with pytest.raises(DataError, match=r"weETH_peg_analysis.*2024-06-03 08:00 UTC"):
        build("eth_staking_only", SHORT, data)


def test_reward_token_hole_after_its_first_bar_fails(tmp_path: Path) -> None:
    data = copy_files(tmp_path)
    cut_window(data / EIGEN_POOL, "2024-11-02T10:00:00Z", 5)
    sets = ["start=2024-10-01T00:00:00Z", "end=2024-11-10T00:00:00Z"]
    with pytest.raises(DataError) as raised:
        build("eth_staking_only", sets, data)
    assert EIGEN_POOL in str(raised.value)
    assert "2024-11-02 13:00 UTC" in str(raised.value)


# --- AAVE reserves of the levered modes -----------------------------------------------------------


@pytest.mark.parametrize("asset,rates", [("weETH", WEETH_RATES), ("WETH", WETH_RATES)])
def test_aave_lst_and_weth_carried_from_daily_snapshots(
    leveraged: HistoricalDataProvider, asset: str, rates: str
) -> None:
    day = utc("2024-12-05T00:00:00Z")
    stamp = pd.Timestamp(day)
    rl = raw_daily(rates, "currentLiquidityRate")[stamp]
    rb = raw_daily(rates, "currentVariableBorrowRate")[stamp]
    later = day + 7 * HOUR
    for prefix, column, quantile in (
        ("aave_li", "liquidityIndex", 0.4),
        ("aave_bi", "variableBorrowIndex", 0.6),
    ):
        index = raw_daily(rates, column)
        assert column_at(leveraged, f"{prefix}:{asset}", day) == index[stamp]
        per_hour = carry_rate_per_hour(index, day, quantile)
        assert column_at(leveraged, f"{prefix}:{asset}", later) == pytest.approx(
            index[stamp] * math.exp(per_hour * 7), rel=1e-12
        )
    assert column_at(leveraged, f"aave_lr:{asset}", later) == rl
    assert column_at(leveraged, f"aave_br:{asset}", later) == rb
    assert leveraged.files[f"aave v3 {asset} daily rates"] == rates  # never the hourly file


def test_unlevered_modes_read_no_aave_reserve(staking: HistoricalDataProvider) -> None:
    assert not [name for name in staking.columns if name.startswith("aave_")]


def test_aave_risk_emode_and_standard(leveraged: HistoricalDataProvider) -> None:
    assert "aave v3 e-mode risk parameters" not in leveraged.files  # read on first use
    assert leveraged.aave_risk("weETH", emode=True) == AaveRisk(0.93, 0.95, 0.01)
    assert leveraged.aave_risk("wstETH", emode=True) == AaveRisk(0.93, 0.95, 0.01)
    assert leveraged.aave_risk("weETH", emode=False) == AaveRisk(0.775, 0.80, 0.07)
    assert leveraged.aave_risk("wstETH", emode=False) == AaveRisk(0.785, 0.81, 0.06)
    assert leveraged.aave_risk("WETH", emode=False) == AaveRisk(0.805, 0.83, 0.05)
    assert leveraged.files["aave v3 e-mode risk parameters"] == (
        "protocol_data/aave/risk_params/aave_v3_risk_parameters.json"
    )
    assert leveraged.files["aave v3 reserve parameters"] == (
        "manual_sources/aave_params/aave_current_v3_prams_etherum_mainnet.csv"
    )
    with pytest.raises(DataError, match=r"aave_v3_risk_parameters\.json.*'USDT'"):
        leveraged.aave_risk("USDT", emode=True)


# --- reward token prices -----------------------------------------------------------------


def test_reward_token_prices_are_pool_open_times_eth(staking: HistoricalDataProvider) -> None:
    eth = raw_open(BYBIT_ETH)
    eigen, ethfi = raw_open(EIGEN_POOL), raw_open(ETHFI_POOL)
    for t in (EIGEN_FIRST_BAR, utc("2025-05-08T14:00:00Z"), staking.end):
        stamp = pd.Timestamp(t)
        assert column_at(staking, "price:EIGEN", t) == eigen[stamp] * eth[stamp]
        assert column_at(staking, "price:ETHFI", t) == ethfi[stamp] * eth[stamp]
    eigen_usd = staking.columns["price:EIGEN"]
    first = staking.position(EIGEN_FIRST_BAR)
    assert np.isnan(eigen_usd[:first]).all()
    assert not np.isnan(eigen_usd[first:]).any()
    assert not np.isnan(staking.columns["price:ETHFI"]).any()
    staking.set_clock(EIGEN_FIRST_BAR)
    assert staking.get_data(EIGEN_FIRST_BAR).usd("EIGEN") == eigen_usd[first]


# --- every DeFi mode × LST × rewards mode builds over its YAML window -------------------------


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("mode", [*DEFI_MODES, "usdt_market_neutral"])
def test_defi_mode_builds_with_no_nan_but_early_reward_prices(mode: str, variant: str) -> None:
    config = load_run_config(mode, VARIANTS[variant], env={})
    provider = HistoricalDataProvider(config, DATA_DIR)
    assert provider.times[0] == LST_START == config.mode.start
    hedged = config.mode.hedge is not None
    assert provider.times[-1] == utc("2025-09-07T16:00:00Z" if hedged else "2025-09-18T00:00:00Z")
    lst = variant.split("-")[0]
    names = set(provider.columns)
    assert {f"lst_rate:{lst}", f"lst_market:{lst}", "price:ETH"} <= names
    aave = {n for n in names if n.startswith("aave_")}
    levered = config.mode.leverage is not None
    prefixes = ("aave_li", "aave_bi", "aave_lr", "aave_br")
    expected = {f"{p}:{a}" for p in prefixes for a in (lst, "WETH")} if levered else set()
    assert aave == expected
    rewarded = variant.startswith("weETH-base_eigen")
    assert ({"price:EIGEN", "price:ETHFI"} <= names) is rewarded
    assert bool(provider.rewards) is rewarded
    assert any(n.startswith("perp:") for n in names) is hedged
    eigen_first = provider.position(EIGEN_FIRST_BAR)
    for name, values in provider.columns.items():
        allowed = eigen_first if name == "price:EIGEN" else 0
        assert not np.isnan(values[allowed:]).any(), name


def test_existing_modes_need_nothing_new() -> None:
    for mode in ("pure_lending", "btc_basis", "eth_basis"):
        needs = requirements_for(load_run_config(mode, env={}))
        assert needs.lst is None and needs.tokens == () and needs.rewards is None
        assert [a.asset for a in needs.aave] == (["USDT"] if mode == "pure_lending" else [])


# --- no look-ahead: cutting the files after T changes nothing up to T --------------------------


def cut_after(data: Path, t: pd.Timestamp) -> None:
    """Drop every row stamped after `t`: time-series files by their time, reward lists by the
    hour the reward becomes known (its payout)."""
    for path in data.rglob("*.csv"):
        relative = str(path.relative_to(data))
        if "aave_params" in relative:
            continue  # a static table
        if "etherfi_distributions" in relative and "bar-chart" not in relative:
            cut_reward_list(path, t)
        else:
            drop_rows(path, lambda stamp: stamp > t)


def cut_reward_list(path: Path, t: pd.Timestamp) -> None:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    day = pd.Timedelta(days=1)
    if "eigen_per_eeth_weekly" in frame:
        known = pd.to_datetime(frame["staking_period_end"], utc=True) + day
    elif "top_up_date" in frame:
        known = pd.to_datetime(frame["top_up_date"], utc=True)
    else:
        known = pd.to_datetime(frame["payout_date"], utc=True)
    frame[known <= t].to_csv(path, index=False)


TWO_VENUES = ["hedge.venues=[binance, bybit]", "hedge.allocation={binance: 0.5, bybit: 0.5}"]
CUTS = ["2024-05-12T13:00:00Z", "2025-03-10T13:00:00Z", "2025-08-20T13:00:00Z"]


@pytest.mark.parametrize("cut", CUTS)
@pytest.mark.parametrize("mode", ["eth_leveraged", "usdt_market_neutral_no_leverage"])
def test_cutting_the_files_after_t_changes_nothing_up_to_t(
    tmp_path: Path, cut: str, mode: str
) -> None:
    t = pd.Timestamp(cut)
    sets = ["staking.rewards_mode=base_eigen_seasonal"]
    patterns = LST_FILES
    if mode != "eth_leveraged":  # hedged on binance + bybit: perps and funding too
        patterns = (*LST_FILES, "market_data/derivatives/*/*_ETHUSDT_*")
        sets += TWO_VENUES
    data = copy_files(tmp_path, patterns)
    cut_after(data, t)
    short = build(mode, [*sets, f"end={cut}"], data)
    full = build(mode, sets)
    n = len(short.times)
    assert short.times[-1] == t.to_pydatetime()
    assert short.times == full.times[:n]
    assert set(short.columns) == set(full.columns)
    for name, values in short.columns.items():
        np.testing.assert_array_equal(values, full.columns[name][:n], err_msg=name)
    assert short.rewards == {i: p for i, p in full.rewards.items() if i < n}
    short.set_clock(short.times[-1])
    full.set_clock(short.times[-1])
    for time in short.times:
        a, b = short.get_data(time), full.get_data(time)
        np.testing.assert_equal(a.values, b.values, err_msg=str(time))  # NaN == NaN here
        assert (a.funding, a.rewards) == (b.funding, b.rewards), time
        assert (a.accrued, a.mark_sources) == (b.accrued, b.mark_sources), time
