"""btc_basis / eth_basis over their full window (domain 4.3, 9.2, 9.3, 11): funding, delta, margin.

Funding is recomputed independently from the raw files: for each settlement τ in (start, end]
at 00/08/16 UTC and each venue, cash = short size held at τ (end of τ − 1h) × mark_τ × rate_τ.

* mark_τ: the youngest bar `open` at or at most 3 h before τ (bars are stamped at their open)
  among the venue's perp file and its proxy venues (okx -> binance -> bybit,
  binance -> bybit, bybit -> binance), the venue's own first on a tie
  (`data.price_bridge: freshest`). OKX has no BTC perp file.
* rate_τ: binance/bybit funding files; OKX from the daily archive (`real_funding_rate` of
  `{BASE}-USDT-SWAP` keyed by `funding_time`, de-duplicated), binance's rate where missing.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from basis_strategy.services.backtest import run_backtest

VENUES = ("binance", "bybit", "okx")
MARK_CHAIN = {
    "okx": ("okx", "binance", "bybit"),
    "binance": ("binance", "bybit"),
    "bybit": ("bybit", "binance"),
}
MAX_FFILL = pd.Timedelta(hours=3)
HOUR = pd.Timedelta(hours=1)
CRITICAL = 0.20
DELTA_TOLERANCE = 0.01

RUNS = {"btc_basis": "btc_basis_full", "eth_basis": "eth_basis_full"}
BASE = {"btc_basis": "BTC", "eth_basis": "ETH"}
MARGIN_RUNS = [
    ("btc_basis", "btc_basis_full"),
    ("eth_basis", "eth_basis_full"),
    ("btc_basis", "btc_basis_stressed"),
    ("eth_basis", "eth_basis_stressed"),
]


# --- raw data, read with plain pandas ---------------------------------------------------------


def _one(folder: Path, pattern: str) -> Path | None:
    found = sorted(folder.glob(pattern))
    assert len(found) <= 1, found
    return found[0] if found else None


@cache
def ohlcv_open(data_dir: Path, relative_pattern: str) -> pd.Series | None:
    path = _one(data_dir, relative_pattern)
    if path is None:
        return None
    frame = pd.read_csv(path)
    stamps = frame["timestamp"]
    if pd.api.types.is_integer_dtype(stamps):
        index = pd.to_datetime(stamps, unit="s", utc=True)
    else:
        index = pd.to_datetime(stamps, utc=True)
    series = pd.Series(frame["open"].to_numpy(dtype=float), index=index)
    return series[~series.index.duplicated(keep="last")].sort_index()


def perp_open(data_dir: Path, venue: str, base: str) -> pd.Series | None:
    return ohlcv_open(
        data_dir, f"market_data/derivatives/futures_ohlcv/{venue}_{base}USDT_perp_1h_*.csv"
    )


def asof(series: pd.Series | None, times: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
    """(value, age) at each time: the last observation at or before it, at most 3 h old; else
    (NaN, inf)."""
    out, ages = np.full(len(times), np.nan), np.full(len(times), np.inf)
    if series is None:
        return out, ages
    pos = series.index.searchsorted(times, side="right") - 1
    ok = pos >= 0
    safe = np.where(ok, pos, 0)
    age = np.asarray(times - series.index[safe])
    ok &= age <= MAX_FFILL
    out[ok] = series.to_numpy()[safe[ok]]
    ages[ok] = age[ok] / HOUR
    return out, ages


def freshest(columns: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Per time, the youngest of the sources' values; the earlier source on a tie."""
    out, best = np.full(len(columns[0][0]), np.nan), np.full(len(columns[0][0]), np.inf)
    for values, ages in columns:
        take = ages < best
        out[take], best[take] = values[take], ages[take]
    assert not np.isnan(out).any(), "no mark/price within 3 h on any source"
    return out


def marks(data_dir: Path, venue: str, base: str, times: pd.DatetimeIndex) -> np.ndarray:
    return freshest([asof(perp_open(data_dir, v, base), times) for v in MARK_CHAIN[venue]])


def reference_price(data_dir: Path, base: str, times: pd.DatetimeIndex) -> np.ndarray:
    """Domain 3: ETH = bybit spot, uniswap WETH/USDT, binance perp; BTC = binance, bybit spot."""
    if base == "BTC":
        patterns = [
            "market_data/spot_prices/btc_usd/binance_BTCUSDT_1h_*.csv",
            "market_data/spot_prices/btc_usd/bybit_BTCUSDT_spot_1h_*.csv",
        ]
    else:
        patterns = [
            "market_data/spot_prices/eth_usd/bybit_ETHUSDT_spot_1h_*.csv",
            "market_data/spot_prices/eth_usd/uniswapv3_WETHUSDT_1h_*.csv",
            "market_data/derivatives/futures_ohlcv/binance_ETHUSDT_perp_1h_*.csv",
        ]
    return freshest([asof(ohlcv_open(data_dir, p), times) for p in patterns])


@cache
def cex_funding(data_dir: Path, venue: str, base: str) -> pd.Series:
    path = _one(
        data_dir, f"market_data/derivatives/funding_rates/{venue}_{base}USDT_funding_rates_*.csv"
    )
    assert path is not None
    frame = pd.read_csv(path)
    series = pd.Series(
        frame["funding_rate"].to_numpy(dtype=float),
        index=pd.to_datetime(frame["funding_timestamp"], utc=True),
    )
    assert not series.index.duplicated().any()
    return series


@cache
def okx_funding(data_dir: Path, base: str) -> pd.Series:
    files = sorted((data_dir / "market_data/okx/funding_rates/daily").glob("*.csv"))
    frame = pd.concat([pd.read_csv(f) for f in files], ignore_index=True)
    frame = frame[frame["instrument"] == f"{base}-USDT-SWAP"]
    series = pd.Series(
        frame["real_funding_rate"].to_numpy(dtype=float),
        index=pd.to_datetime(frame["funding_time"], utc=True),
    )
    duplicated = series.index.duplicated(keep=False)
    # repeated settlements carry the same realised rate (README); anything else is a data problem
    assert series[duplicated].groupby(level=0).nunique().max() <= 1 if duplicated.any() else True
    return series[~series.index.duplicated()].sort_index()


def settlements(run) -> pd.DatetimeIndex:
    start, end = pd.Timestamp(run.summary["start"]), pd.Timestamp(run.summary["end"])
    grid = pd.date_range(start, end, freq="h")
    return grid[(grid > start) & np.isin(grid.hour, (0, 8, 16))]


def rates(
    data_dir: Path, venue: str, base: str, times: pd.DatetimeIndex
) -> tuple[np.ndarray, pd.DatetimeIndex]:
    """Rate at each settlement, and the OKX settlements that took binance's rate."""
    binance = cex_funding(data_dir, "binance", base).reindex(times).to_numpy(dtype=float, copy=True)
    if venue != "okx":
        own = cex_funding(data_dir, venue, base).reindex(times).to_numpy()
        assert not np.isnan(own).any()
        return own, times[:0]
    own = okx_funding(data_dir, base).reindex(times).to_numpy(dtype=float, copy=True)
    missing = np.isnan(own)
    own[missing] = binance[missing]
    assert not np.isnan(own).any()
    return own, times[missing]


def expected_funding(run, data_dir: Path, base: str) -> dict[str, pd.Series]:
    """Venue -> cash received at each settlement (indexed by τ)."""
    times = settlements(run)
    held_at = run.balance.reindex(times - HOUR)
    assert not held_at.index.isna().any()
    out = {}
    for venue in VENUES:
        short = -held_at[f"qty:{venue}:Perp:{base}USDT"].fillna(0.0).to_numpy()
        rate, _ = rates(data_dir, venue, base, times)
        out[venue] = pd.Series(short * marks(data_dir, venue, base, times) * rate, index=times)
    return out


# --- funding ------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", sorted(RUNS))
def test_funding_pnl_recomputed_from_raw_files(mode, request, data_dir):
    run = request.getfixturevalue(RUNS[mode])
    per_venue = expected_funding(run, data_dir, BASE[mode])
    total = sum(float(s.sum()) for s in per_venue.values())
    assert total > 1000.0  # a year and a half of mostly positive funding on ~67k USDT of shorts
    assert run.summary["pnl_attribution"]["funding"] == pytest.approx(total, rel=1e-6)
    assert run.hourly["funding"].sum() == pytest.approx(total, rel=1e-6)


@pytest.mark.parametrize("mode", sorted(RUNS))
def test_funding_events_match_each_settlement(mode, request, data_dir):
    run = request.getfixturevalue(RUNS[mode])
    base = BASE[mode]
    times = settlements(run)
    settled = run.events[run.events["event_type"] == "FundingSettled"]
    assert (settled["pnl_component"] == "funding").all()
    assert np.allclose(settled["amount"], settled["pnl_amount"], rtol=1e-12, atol=0)
    for venue, expected in expected_funding(run, data_dir, base).items():
        mine = settled[settled["venue"] == venue]
        assert (mine["instrument"] == f"{venue}:BaseToken:USDT").all()
        assert not mine["time"].duplicated().any()
        got = pd.Series(mine["pnl_amount"].to_numpy(), index=pd.DatetimeIndex(mine["time"]))
        held = expected.index[
            run.balance.reindex(expected.index - HOUR)[f"qty:{venue}:Perp:{base}USDT"]
            .fillna(0)
            .to_numpy()
            != 0
        ]
        assert set(got.index) == set(held), (
            f"{venue}: settlements booked differ from those with a position"
        )
        assert set(got.index) <= set(times)
        np.testing.assert_allclose(
            got.sort_index(), expected[got.sort_index().index], rtol=1e-9, atol=1e-12
        )
        price = pd.Series(mine["price"].to_numpy(), index=got.index).sort_index()
        np.testing.assert_allclose(
            price, marks(data_dir, venue, base, pd.DatetimeIndex(price.index)), rtol=1e-12
        )


@pytest.mark.parametrize("mode", sorted(RUNS))
def test_okx_funding_proxies_are_listed_in_data_bridges(mode, request, data_dir):
    run = request.getfixturevalue(RUNS[mode])
    base = BASE[mode]
    times = settlements(run)
    _, proxied = rates(data_dir, "okx", base, times)
    assert len(proxied) == 132  # August 2024 (93) + 13 single days (39), README
    bridges = [b for b in run.summary["data_bridges"] if b["series"] == f"funding:okx:{base}USDT"]
    assert bridges, run.summary["data_bridges"]
    covered: set[pd.Timestamp] = set()
    for bridge in bridges:
        assert bridge["kind"] == "proxy"
        assert Path(bridge["source"]).name.startswith(f"binance_{base}USDT_funding_rates_"), bridge
        start, end = pd.Timestamp(bridge["start"]), pd.Timestamp(bridge["end"])
        inside = times[(times >= start) & (times <= end)]
        assert set(inside) <= set(proxied), f"bridge {bridge} covers settlements OKX does have"
        covered |= set(inside)
    assert covered == set(proxied)


# --- delta --------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", sorted(RUNS))
def test_net_delta_within_tolerance_every_hour(mode, request, data_dir):
    run = request.getfixturevalue(RUNS[mode])
    base = BASE[mode]
    sheet = run.balance
    drift = sheet[f"delta_drift:{base}"]
    assert not drift.isna().any()
    assert drift.max() <= DELTA_TOLERANCE, drift.idxmax()
    # the reported drift is |net units × P| / E, recomputed from the quantities and raw prices
    holdings = [
        c
        for c in sheet.columns
        if c.startswith("qty:")
        and (c.endswith(f":BaseToken:{base}") or c.endswith(f":Perp:{base}USDT"))
    ]
    quantities = sheet[holdings].fillna(0.0)
    units = quantities.sum(axis=1).to_numpy()
    gross = quantities.abs().sum(axis=1).to_numpy()
    reported = sheet[f"delta_units:{base}"].to_numpy()
    assert (np.abs(reported - units) <= 1e-9 * gross).all()
    price = reference_price(data_dir, base, pd.DatetimeIndex(sheet.index))
    np.testing.assert_allclose(
        drift, np.abs(reported * price) / sheet["equity"], rtol=1e-8, atol=1e-12
    )


# --- margin -------------------------------------------------------------------------------------


def _entries(run, venue: str, base: str, times: pd.DatetimeIndex) -> np.ndarray:
    """Perp average entry at the end of each hour, from the event log's after_entry."""
    trades = run.events[(run.events["instrument"] == f"{venue}:Perp:{base}USDT")]
    last = trades.groupby("time")["after_entry"].last()
    return last.reindex(times, method="ffill").to_numpy()


def _funding_cash(run, venue: str, times: pd.DatetimeIndex) -> np.ndarray:
    settled = run.events[
        (run.events["event_type"] == "FundingSettled") & (run.events["venue"] == venue)
    ]
    return settled.groupby("time")["pnl_amount"].sum().reindex(times, fill_value=0.0).to_numpy()


@pytest.mark.parametrize(("mode", "fixture"), MARGIN_RUNS)
def test_margin_ratios_recomputed(mode, fixture, request, data_dir):
    """MR_v = (USDT_v + q (mark − entry)) / (|q| mark), end of hour and before the hour's trades."""
    run = request.getfixturevalue(fixture)
    base = BASE[mode]
    sheet = run.balance
    times = pd.DatetimeIndex(sheet.index)
    for venue in VENUES:
        q = sheet[f"qty:{venue}:Perp:{base}USDT"].fillna(0.0).to_numpy()
        usdt = sheet[f"qty:{venue}:BaseToken:USDT"].fillna(0.0).to_numpy()
        mark = marks(data_dir, venue, base, times)
        entry = _entries(run, venue, base, times)
        held = q != 0
        assert held[1:].all(), f"{venue}: the hedge is not held every hour"
        post = (usdt + q * (mark - entry)) / (np.abs(q) * mark)
        np.testing.assert_allclose(sheet[f"margin_ratio:{venue}"][held], post[held], rtol=1e-8)
        # before trades: last hour's book, this hour's funding and mark
        pre = (
            usdt[:-1] + _funding_cash(run, venue, times)[1:] + q[:-1] * (mark[1:] - entry[:-1])
        ) / (np.abs(q[:-1]) * mark[1:])
        reported = sheet[f"margin_ratio_pre_trade:{venue}"].to_numpy()[1:]
        assert not np.isnan(reported).any()
        np.testing.assert_allclose(reported, pre, rtol=1e-8)


@pytest.mark.parametrize(("mode", "fixture"), MARGIN_RUNS)
def test_margin_critical_restored_within_the_hour(mode, fixture, request):
    run = request.getfixturevalue(fixture)
    sheet = run.balance
    notes = run.events.groupby("time")["note"].apply(lambda s: " ".join(s.astype(str)))
    critical_hours = 0
    for venue in VENUES:
        pre = sheet[f"margin_ratio_pre_trade:{venue}"]
        post = sheet[f"margin_ratio:{venue}"]
        assert not post.iloc[1:].isna().any()
        assert (post.dropna() > CRITICAL).all(), post[post <= CRITICAL]
        for t in pre.index[pre <= CRITICAL]:
            critical_hours += 1
            assert f"margin_critical:{venue}" in notes.get(t, ""), (
                f"{venue} critical at {t} without action"
            )
            assert post[t] > CRITICAL, (venue, t, post[t])
    if "stressed" in fixture:
        assert critical_hours > 0, "the stressed bands should reach the critical band"


TIGHT_BANDS = [
    "hedge.margin_ratio_target=0.25",
    "hedge.margin_ratio_warning=0.22",
    "hedge.margin_ratio_critical=0.2",
    "hedge.margin_ratio_excess=0.5",
]


@pytest.mark.parametrize("mode", sorted(RUNS))
def test_tight_margin_bands_run_to_the_end(mode, tmp_path, data_dir):
    """A validated config with tight bands (m* 0.25, excess 0.5 = 2 m*) must run to the end,
    keep every CEX cash balance non-negative and end every hour above the critical band."""
    outcome = run_backtest(mode, sets=TIGHT_BANDS, data_dir=data_dir, out_dir=tmp_path, env={})
    sheet = pd.read_csv(outcome.path / "balance_sheet.csv", index_col="timestamp")
    for venue in VENUES:
        cash = sheet[f"qty:{venue}:BaseToken:USDT"]
        assert cash.min() >= -1e-9, (venue, cash.idxmin(), cash.min())
        assert (sheet[f"margin_ratio:{venue}"].iloc[1:] > CRITICAL).all()
    assert outcome.summary["max_hourly_residual_to_equity"] <= 1e-6


def test_a_redemption_larger_than_what_the_book_can_release_fails_loudly(
    tmp_path: Path, data_dir: Path
) -> None:
    """A 10,000 USDT fund (the share class's minimum) keeps 0.5 ETH for gas outside the book:
    a 9,600 USDT redemption (below the full-exit ratio) unwinds everything, still falls short,
    and is refused and logged, instead of the strategy dividing by an empty book."""
    flows = "flows=[{at: 2024-06-02T00:00:00Z, amount: -9600}]"
    window = ["start=2024-06-01T00:00:00Z", "end=2024-06-03T00:00:00Z", "initial_capital=10000"]
    gas = "gas_buffer_eth=0.5"
    outcome = run_backtest("btc_basis", [*window, gas, flows], data_dir, tmp_path, env={})
    (rejected,) = outcome.summary["rejected_instructions"]
    assert "PayWithdrawal" in str(rejected) and "needs 9600" in str(rejected)
    assert outcome.summary["net_flows"] == 10000  # the initial capital; nothing was paid out
