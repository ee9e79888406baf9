"""`download_cex` against recorded venue responses (tests/fixtures/recorded/ccxt), replayed under
ccxt's HTTP layer: paging, rate limits (429 then success, giving up), holes in a venue's
history, an interrupted download resumed, and the files read back by the provider's readers."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pandas as pd
import pytest

from basis_strategy.core.errors import ConfigError, DataError, OperationalError
from basis_strategy.data.download.cex import Pager, download_cex
from basis_strategy.data.download.cex_layouts import (
    ASSETS,
    VENUES,
    cex_series,
    okx_daily_key,
)
from basis_strategy.data.download.files import TIME
from basis_strategy.data.download.manifest import MANIFEST, Manifest
from basis_strategy.data.download.retry import RetryPolicy
from basis_strategy.data.requirements import (
    BTC_USD,
    ETH_USD,
    OKX_DAILY,
    funding_source,
    perp_source,
)
from basis_strategy.data.sources import read_funding, read_ohlcv_open, read_okx_daily_funding
from basis_strategy.data.sources.funding import OKX_DAILY_COLUMNS

try:  # a package when the test tree has __init__.py files, a rootdir module otherwise
    from .ccxt_replay import INTERRUPT, Interaction, Replay, recorded, replaying
except ImportError:
    from ccxt_replay import INTERRUPT, Interaction, Replay, recorded, replaying

PERPS = "market_data/derivatives/futures_ohlcv"
FUNDING = "market_data/derivatives/funding_rates"


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def ms(text: str) -> int:
    return int(ts(text).value // 1_000_000)


START, END = ts("2024-01-01 00:00"), ts("2024-01-01 10:00")


def run(
    out: Path,
    venue: str,
    interactions: list[Interaction],
    window: tuple[pd.Timestamp, pd.Timestamp],
    kinds: list[str],
    *,
    asset: str = "ETH",
    markets: list[Interaction] | None = None,
    **options: Any,
) -> tuple[list[dict[str, Any]], Replay]:
    """One `download_cex` of `venue` whose HTTP requests are answered from the recordings."""
    exchange, session = replaying(venue, (markets or recorded(f"{venue}_markets")) + interactions)
    options.setdefault("policy", RetryPolicy(attempts=3, sleep=lambda _: None))
    results = download_cex(
        out,
        *window,
        [asset],
        [venue],
        Manifest(out),
        exchanges={venue: exchange},
        kinds=kinds,
        progress=False,
        **options,
    )
    return results, session


def data_requests(session: Replay) -> list[dict[str, str]]:
    """The query parameters of every request that was not a markets request."""
    urls = [u for u in session.urls if "exchangeInfo" not in u and "instrument" not in u]
    return [dict(parse_qsl(urlsplit(u).query)) for u in urls]


def seed_rows(data_dir: Path, path: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    frame = pd.read_csv(data_dir / path, dtype=str, keep_default_na=False)
    column = frame.columns[0]
    times = pd.to_datetime(frame[column], utc=True)
    rows = frame[(times >= start) & (times < end)].drop_duplicates(column)
    return rows.reset_index(drop=True)


def assert_same_rows(written: pd.DataFrame, seed: pd.DataFrame) -> None:
    """Same columns in the same order, same text cells, numbers equal as floats."""
    assert list(written.columns) == list(seed.columns)
    assert len(written) == len(seed)
    for column in seed.columns:
        try:
            expected = seed[column].astype(float).to_numpy()
        except ValueError:
            assert written[column].tolist() == seed[column].tolist(), column
            continue
        assert written[column].astype(float).to_numpy() == pytest.approx(expected, rel=1e-12)


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def no_sleep(sleeps: list[float]) -> Callable[[float], None]:
    """A `RetryPolicy.sleep` that records the waits instead of sleeping."""
    return sleeps.append


def entry(out: Path, key: str) -> dict[str, Any]:
    content = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    files: dict[str, dict[str, Any]] = content["files"]
    return files[key]


# --- paging ----------------------------------------------------------------------------------


def test_pages_forward_into_the_seed_layout(tmp_path: Path, data_dir: Path) -> None:
    results, session = run(
        tmp_path, "binance", recorded("binance_eth_perp_pages"), (START, END), ["perp"], max_rows=4
    )
    session.assert_done()
    asked = data_requests(session)
    assert [int(q["startTime"]) for q in asked] == [
        ms("2024-01-01 00:00"),
        ms("2024-01-01 04:00"),
        ms("2024-01-01 08:00"),
    ]
    assert [int(q["endTime"]) + 1 for q in asked] == [
        ms("2024-01-01 04:00"),
        ms("2024-01-01 08:00"),
        ms("2024-01-01 10:00"),
    ]
    assert {q["limit"] for q in asked} == {"4"}
    name = f"{PERPS}/binance_ETHUSDT_perp_1h_2024-01-01_2024-01-01.csv"
    path = tmp_path / name
    seed = seed_rows(
        data_dir, f"{PERPS}/binance_ETHUSDT_perp_1h_2024-01-01_2025-09-26.csv", START, END
    )
    assert_same_rows(pd.read_csv(path, dtype=str, keep_default_na=False), seed)
    assert read_ohlcv_open(path)[ts("2024-01-01 00:00")] == 2283.84
    assert results == [
        {
            "pattern": perp_source("binance", "ETH").pattern,
            "path": name,
            "source": results[0]["source"],
            "rows": 10,
            "first": "2024-01-01T00:00:00Z",
            "last": "2024-01-01T09:00:00Z",
            "gaps": [],
            "fetched": [["2024-01-01T00:00:00Z", "2024-01-01T10:00:00Z"]],
            "requests": 3,
        }
    ]
    recorded_entry = entry(tmp_path, perp_source("binance", "ETH").pattern)
    assert recorded_entry["fetched"] == [["2024-01-01T00:00:00Z", "2024-01-01T10:00:00Z"]]
    assert "ccxt" in recorded_entry["source"] and "fetch_ohlcv" in recorded_entry["source"]
    assert recorded_entry["fetched_at"].endswith("Z")


def test_funding_pages_follow_the_last_settlement(tmp_path: Path, data_dir: Path) -> None:
    window = (START, ts("2024-01-03 00:00"))
    results, session = run(
        tmp_path, "binance", recorded("binance_eth_funding_pages"), window, ["funding"], max_rows=4
    )
    session.assert_done()
    # a full page of 4 settlements (00:00 Jan 1 .. 00:00 Jan 2): the next asks from 08:00 Jan 2
    assert [int(q["startTime"]) for q in data_requests(session)] == [
        ms("2024-01-01 00:00"),
        ms("2024-01-02 08:00"),
    ]
    path = tmp_path / results[0]["path"]
    assert path.name == "binance_ETHUSDT_funding_rates_2024-01-01_2024-01-02.csv"
    seed = seed_rows(
        data_dir, f"{FUNDING}/binance_ETHUSDT_funding_rates_2024-01-01_2025-09-26.csv", *window
    )
    assert_same_rows(pd.read_csv(path, dtype=str, keep_default_na=False), seed)
    rates = read_funding(path)
    assert len(rates) == 6
    assert rates[ts("2024-01-01 08:00")] == 0.00031096


# --- rate limits and errors ------------------------------------------------------------------


def test_429_then_success_waits_retry_after(
    tmp_path: Path, data_dir: Path, sleeps: list[float], no_sleep: Callable[[float], None]
) -> None:
    policy = RetryPolicy(attempts=3, base_seconds=1.0, sleep=no_sleep)
    results, session = run(
        tmp_path,
        "binance",
        recorded("binance_btc_spot_429"),
        (START, END),
        ["spot"],
        asset="BTC",
        policy=policy,
    )
    session.assert_done()
    assert sleeps == [7.0]  # the venue's Retry-After, above the 1 s backoff
    assert results[0]["requests"] == 1
    path = tmp_path / "market_data/spot_prices/btc_usd/binance_BTCUSDT_1h_2024-01-01_2024-01-01.csv"
    seed = seed_rows(
        data_dir,
        "market_data/spot_prices/btc_usd/binance_BTCUSDT_1h_2024-01-01_2025-09-30.csv",
        START,
        END,
    )
    assert_same_rows(pd.read_csv(path, dtype=str, keep_default_na=False), seed)
    assert read_ohlcv_open(path)[ts("2024-01-01 09:00")] == 42550.0


def test_retries_give_up_after_the_policy_attempts(
    tmp_path: Path, sleeps: list[float], no_sleep: Callable[[float], None]
) -> None:
    limited = recorded("binance_btc_spot_429")[0]
    policy = RetryPolicy(attempts=3, base_seconds=1.0, sleep=no_sleep)
    with pytest.raises(OperationalError, match="gave up after 3 attempts") as err:
        run(tmp_path, "binance", [limited] * 3, (START, END), ["spot"], asset="BTC", policy=policy)
    assert "binance BTC/USDT 1h OHLCV 2024-01-01T00:00:00Z" in str(err.value)
    assert "DDoSProtection" in str(err.value) or "RateLimitExceeded" in str(err.value)
    assert sleeps == [7.0, 7.0]
    assert not list(tmp_path.rglob("*.csv"))
    key = BTC_USD.sources[0].pattern
    assert Manifest(tmp_path).missing(key, START, END) == [(START, END)]


def test_okx_429_then_success_writes_the_realised_rate(
    tmp_path: Path, sleeps: list[float], no_sleep: Callable[[float], None]
) -> None:
    window = (ts("2024-05-01 00:00"), ts("2024-05-03 00:00"))
    policy = RetryPolicy(attempts=3, base_seconds=1.0, sleep=no_sleep)
    interactions = recorded("okx_eth_funding")
    results, session = run(tmp_path, "okx", interactions, window, ["funding"], policy=policy)
    session.assert_done()
    assert sleeps == [1.0]  # no Retry-After: the policy's backoff
    assert results[0]["pattern"] == okx_daily_key("ETH-USDT-SWAP")
    assert results[0]["path"] == OKX_DAILY
    rates = read_okx_daily_funding(tmp_path / OKX_DAILY, "ETH-USDT-SWAP")
    body = interactions[1]["response"]["body"]["data"]
    realised = {pd.Timestamp(int(r["fundingTime"]), unit="ms", tz="UTC"): r for r in body}
    assert len(rates) == 6
    for when, rate in rates.items():
        assert rate == float(realised[when]["realizedRate"])
        assert rate != float(realised[when]["fundingRate"])  # not OKX's predicted rate
    day = pd.read_csv(tmp_path / OKX_DAILY / "okx_funding_rates_2024-05-01.csv", dtype=str)
    assert list(day.columns) == [
        "instrument",
        "contract_type",
        "funding_rate",
        "real_funding_rate",
        "funding_time",
        "date",
    ]
    assert day["funding_time"].tolist() == [
        "2024-05-01 00:00:00+00:00",
        "2024-05-01 08:00:00+00:00",
        "2024-05-01 16:00:00+00:00",
    ]


def test_okx_instruments_share_the_daily_files(tmp_path: Path) -> None:
    window = (ts("2024-05-01 00:00"), ts("2024-05-03 00:00"))
    run(tmp_path, "okx", recorded("okx_eth_funding"), window, ["funding"])
    eth = read_okx_daily_funding(tmp_path / OKX_DAILY, "ETH-USDT-SWAP")
    results, session = run(
        tmp_path, "okx", recorded("okx_btc_funding"), window, ["funding"], asset="BTC"
    )
    session.assert_done()
    btc = read_okx_daily_funding(tmp_path / OKX_DAILY, "BTC-USDT-SWAP")
    assert len(btc) == 6 and btc[ts("2024-05-01 08:00")] == 3.90544029849e-05
    pd.testing.assert_series_equal(
        read_okx_daily_funding(tmp_path / OKX_DAILY, "ETH-USDT-SWAP"), eth
    )
    day = pd.read_csv(tmp_path / OKX_DAILY / "okx_funding_rates_2024-05-02.csv", dtype=str)
    assert sorted(day["instrument"].value_counts().items()) == [
        ("BTC-USDT-SWAP", 3),
        ("ETH-USDT-SWAP", 3),
    ]
    assert results[0]["rows"] == 6 and results[0]["gaps"] == []


def test_okx_settlements_already_in_the_folder_are_kept(tmp_path: Path, data_dir: Path) -> None:
    """Downloading into a folder that holds the seed's archive day: its rows stay as they are
    and no settlement is written twice (the provider refuses conflicting duplicates)."""
    name = "okx_funding_rates_2024-05-01.csv"
    seed_day = (data_dir / OKX_DAILY / name).read_text(encoding="utf-8")
    (tmp_path / OKX_DAILY).mkdir(parents=True)
    (tmp_path / OKX_DAILY / name).write_text(seed_day, encoding="utf-8")
    window = (ts("2024-05-01 00:00"), ts("2024-05-03 00:00"))
    results, session = run(tmp_path, "okx", recorded("okx_eth_funding"), window, ["funding"])
    session.assert_done()
    assert (tmp_path / OKX_DAILY / name).read_text(encoding="utf-8") == seed_day
    rates = read_okx_daily_funding(tmp_path / OKX_DAILY, "ETH-USDT-SWAP")
    assert len(rates) == 6 and results[0]["rows"] == 6
    day2 = pd.read_csv(tmp_path / OKX_DAILY / "okx_funding_rates_2024-05-02.csv", dtype=str)
    assert day2["instrument"].tolist() == ["ETH-USDT-SWAP"] * 3


def test_a_rate_the_venue_left_blank_fails_naming_it(tmp_path: Path) -> None:
    interactions = recorded("okx_btc_funding")
    interactions[0]["response"]["body"]["data"][2]["realizedRate"] = ""
    window = (ts("2024-05-01 00:00"), ts("2024-05-03 00:00"))
    with pytest.raises(DataError, match="realizedRate at 2024-05-02T00:00:00Z: not a number: ''"):
        run(tmp_path, "okx", interactions, window, ["funding"], asset="BTC")
    assert not (tmp_path / OKX_DAILY).exists()


def test_a_bad_request_fails_at_once(
    tmp_path: Path, sleeps: list[float], no_sleep: Callable[[float], None]
) -> None:
    policy = RetryPolicy(attempts=3, sleep=no_sleep)
    with pytest.raises(DataError, match="BadRequest") as err:
        run(
            tmp_path,
            "binance",
            recorded("binance_eth_perp_bad_request"),
            (START, END),
            ["perp"],
            policy=policy,
            max_rows=4,
        )
    assert "binance ETH/USDT:USDT 1h OHLCV" in str(err.value)
    assert "-1100" in str(err.value)
    assert sleeps == []


def test_a_market_the_venue_does_not_list_is_a_config_error(tmp_path: Path) -> None:
    markets = recorded("binance_markets")
    futures = markets[1]["response"]["body"]
    futures["symbols"] = [s for s in futures["symbols"] if s["baseAsset"] != "BTC"]
    with pytest.raises(ConfigError, match="binance lists no market BTC/USDT:USDT") as err:
        run(tmp_path, "binance", [], (START, END), ["perp"], asset="BTC", markets=markets)
    assert err.value.field == "assets"


# --- holes in the history --------------------------------------------------------------------


def test_a_hole_in_the_history_is_stepped_over_and_reported(tmp_path: Path) -> None:
    results, session = run(
        tmp_path, "bybit", recorded("bybit_eth_perp_gap"), (START, END), ["perp"], max_rows=4
    )
    session.assert_done()  # three requests, then done: no loop on the empty page
    assert results[0]["rows"] == 5
    expected_gaps = [
        ["2024-01-01T02:00:00Z", "2024-01-01T02:00:00Z"],
        ["2024-01-01T04:00:00Z", "2024-01-01T07:00:00Z"],
    ]
    assert results[0]["gaps"] == expected_gaps
    key = perp_source("bybit", "ETH").pattern
    assert entry(tmp_path, key)["gaps"] == expected_gaps
    assert entry(tmp_path, key)["fetched"] == [["2024-01-01T00:00:00Z", "2024-01-01T10:00:00Z"]]
    opens = read_ohlcv_open(tmp_path / results[0]["path"])
    assert list(opens.index.hour) == [0, 1, 3, 8, 9]
    # the holes are the venue's: a second run asks for nothing
    _, again = run(tmp_path, "bybit", [], (START, END), ["perp"], max_rows=4)
    assert again.urls == []


def test_history_starting_after_the_window_start_is_not_a_gap(
    tmp_path: Path, data_dir: Path
) -> None:
    window = (ts("2024-07-31 20:00"), ts("2024-08-01 04:00"))
    results, session = run(
        tmp_path, "okx", recorded("okx_eth_perp_listing"), window, ["perp"], max_rows=4
    )
    session.assert_done()
    assert results[0]["first"] == "2024-08-01T00:00:00Z"
    assert results[0]["gaps"] == []
    assert results[0]["fetched"] == [["2024-07-31T20:00:00Z", "2024-08-01T04:00:00Z"]]
    path = tmp_path / f"{PERPS}/okx_ETHUSDT_perp_1h_2024-08-01_2024-08-01.csv"
    seed = seed_rows(data_dir, f"{PERPS}/okx_ETHUSDT_perp_1h_2024-08-01_2025-09-18.csv", *window)
    written = pd.read_csv(path, dtype=str, keep_default_na=False)
    # volume in ETH (ccxt's unified volume, OKX's volCcy); the seed's file counts 0.1 ETH contracts
    volume = written.pop("volume").astype(float).to_numpy()
    assert volume == pytest.approx(seed.pop("volume").astype(float).to_numpy() * 0.1, rel=1e-9)
    assert_same_rows(written, seed)


# --- resuming --------------------------------------------------------------------------------


def test_an_interrupted_download_resumes_with_only_the_missing_range(tmp_path: Path) -> None:
    pages = recorded("binance_eth_perp_pages")
    whole, part = tmp_path / "whole", tmp_path / "part"
    results, _ = run(whole, "binance", pages, (START, END), ["perp"], max_rows=4)
    reference = (whole / results[0]["path"]).read_text(encoding="utf-8")

    with pytest.raises(KeyboardInterrupt):
        run(part, "binance", [*pages[:2], INTERRUPT], (START, END), ["perp"], max_rows=4)
    key = perp_source("binance", "ETH").pattern
    assert entry(part, key)["fetched"] == [["2024-01-01T00:00:00Z", "2024-01-01T08:00:00Z"]]
    assert entry(part, key)["rows"] == 8

    results, session = run(part, "binance", pages[2:], (START, END), ["perp"], max_rows=4)
    session.assert_done()
    assert [int(q["startTime"]) for q in data_requests(session)] == [ms("2024-01-01 08:00")]
    assert results[0]["fetched"] == [["2024-01-01T08:00:00Z", "2024-01-01T10:00:00Z"]]
    files = list(part.rglob("*.csv"))
    assert files == [part / results[0]["path"]]
    assert files[0].read_text(encoding="utf-8") == reference
    assert not pd.read_csv(files[0])["timestamp"].duplicated().any()


def test_the_window_ends_at_the_last_closed_bar(tmp_path: Path) -> None:
    now = ts("2024-01-01 10:30")  # the 10:00 bar is still open
    results, session = run(
        tmp_path,
        "binance",
        recorded("binance_eth_perp_pages"),
        (START, ts("2024-01-02 00:00")),
        ["perp"],
        max_rows=4,
        now=now,
    )
    session.assert_done()
    assert results[0]["fetched"] == [["2024-01-01T00:00:00Z", "2024-01-01T10:00:00Z"]]


# --- every series of a venue, read back by the provider --------------------------------------


def test_a_full_download_is_read_back_by_the_provider_readers(
    tmp_path: Path, data_dir: Path
) -> None:
    window = (ts("2024-10-01 00:00"), ts("2024-10-01 04:00"))
    exchanges, sessions = {}, []
    for venue in VENUES:
        exchange, session = replaying(
            venue, recorded(f"{venue}_markets") + recorded(f"full_{venue}")
        )
        exchanges[venue] = exchange
        sessions.append(session)
    results = download_cex(
        tmp_path,
        *window,
        ["eth"],
        list(VENUES),
        Manifest(tmp_path),
        exchanges=exchanges,
        progress=False,
    )
    for session in sessions:
        session.assert_done()
    keys = [r["pattern"] for r in results]
    assert keys == [
        "market_data/spot_prices/eth_usd/binance_ETHUSDT_1h_*.csv",
        perp_source("binance", "ETH").pattern,
        funding_source("binance", "ETH").pattern,
        ETH_USD.sources[0].pattern,  # bybit spot: the provider's ETH/USD reference
        perp_source("bybit", "ETH").pattern,
        funding_source("bybit", "ETH").pattern,
        "market_data/spot_prices/eth_usd/okx_ETHUSDT_spot_1h_*.csv",
        perp_source("okx", "ETH").pattern,
        okx_daily_key("ETH-USDT-SWAP"),
    ]
    at = ts("2024-10-01 00:00")
    for key in keys[:2] + keys[3:5] + keys[6:8]:
        path = tmp_path / entry(tmp_path, key)["path"]
        assert len(read_ohlcv_open(path)) == 4, key
    bybit_seed = seed_rows(
        data_dir,
        "market_data/spot_prices/eth_usd/bybit_ETHUSDT_spot_1h_2024-01-01_2025-09-26.csv",
        *window,
    )
    bybit_spot = pd.read_csv(tmp_path / entry(tmp_path, keys[3])["path"], dtype=str)
    assert_same_rows(bybit_spot, bybit_seed)
    perp = read_ohlcv_open(tmp_path / entry(tmp_path, keys[1])["path"])
    seed_perp = seed_rows(
        data_dir, f"{PERPS}/binance_ETHUSDT_perp_1h_2024-01-01_2025-09-26.csv", *window
    )
    assert perp[at] == float(seed_perp["open"].iloc[0])
    for key, name in ((keys[2], "binance"), (keys[5], "bybit")):
        rates = read_funding(tmp_path / entry(tmp_path, key)["path"])
        seed = seed_rows(
            data_dir, f"{FUNDING}/{name}_ETHUSDT_funding_rates_2024-01-01_2025-09-26.csv", *window
        )
        assert rates.to_dict() == {at: float(seed["funding_rate"].iloc[0])}
    okx = read_okx_daily_funding(tmp_path / OKX_DAILY, "ETH-USDT-SWAP")
    assert list(okx.index) == [at]
    manifest = json.loads((tmp_path / MANIFEST).read_text(encoding="utf-8"))
    assert set(manifest["files"]) == set(keys)
    assert all(e["rows"] >= 1 and e["gaps"] == [] for e in manifest["files"].values())


# --- layouts and arguments -------------------------------------------------------------------


@pytest.mark.parametrize("asset", ASSETS)
@pytest.mark.parametrize("venue", VENUES)
def test_layouts_are_the_files_the_provider_reads(venue: str, asset: str) -> None:
    assert cex_series(venue, asset, "perp").key == perp_source(venue, asset).pattern
    funding = cex_series(venue, asset, "funding")
    source = funding_source(venue, asset)
    if venue == "okx":
        assert source.pattern == OKX_DAILY and source.is_folder
        assert source.read.keywords["instrument"] == funding.instrument  # type: ignore[attr-defined]
        assert funding.layout is None
    else:
        assert funding.key == source.pattern


def test_spot_layouts_are_the_provider_spot_sources() -> None:
    assert cex_series("bybit", "ETH", "spot").key == ETH_USD.sources[0].pattern
    assert cex_series("binance", "BTC", "spot").key == BTC_USD.sources[0].pattern
    assert cex_series("bybit", "BTC", "spot").key == BTC_USD.sources[1].pattern


@pytest.mark.parametrize(
    ("venue", "asset", "kind", "seed"),
    [
        ("binance", "BTC", "spot", "market_data/spot_prices/btc_usd/binance_BTCUSDT_1h_*.csv"),
        ("bybit", "BTC", "spot", "market_data/spot_prices/btc_usd/bybit_BTCUSDT_spot_1h_*.csv"),
        ("bybit", "ETH", "spot", "market_data/spot_prices/eth_usd/bybit_ETHUSDT_spot_1h_*.csv"),
        ("binance", "ETH", "perp", f"{PERPS}/binance_ETHUSDT_perp_1h_*.csv"),
        ("bybit", "BTC", "perp", f"{PERPS}/bybit_BTCUSDT_perp_1h_*.csv"),
        ("okx", "ETH", "perp", f"{PERPS}/okx_ETHUSDT_perp_1h_*.csv"),
        ("binance", "BTC", "funding", f"{FUNDING}/binance_BTCUSDT_funding_rates_*.csv"),
        ("bybit", "ETH", "funding", f"{FUNDING}/bybit_ETHUSDT_funding_rates_*.csv"),
    ],
)
def test_columns_are_the_seed_columns(
    data_dir: Path, venue: str, asset: str, kind: str, seed: str
) -> None:
    (path,) = data_dir.glob(seed)
    header = path.read_text(encoding="utf-8").splitlines()[0].split(",")
    layout = cex_series(venue, asset, kind).layout
    assert layout is not None and list(layout.columns) == header


def test_okx_daily_columns_are_the_archive_columns(data_dir: Path) -> None:
    path = data_dir / OKX_DAILY / "okx_funding_rates_2024-05-01.csv"
    header = path.read_text(encoding="utf-8").splitlines()[0].split(",")
    assert header == list(OKX_DAILY_COLUMNS)


@pytest.mark.parametrize(
    ("change", "field", "fragment"),
    [
        ({"assets": ["SOL"]}, "assets", "SOL"),
        ({"venues": ["kraken"]}, "venues", "kraken"),
        ({"kinds": ["options"]}, "kinds", "options"),
        ({"start": pd.Timestamp("2024-01-01")}, "start", "naive"),
        ({"end": START}, "end", "must be after start"),
        ({"venues": ["binance", "okx"]}, "venues", "no exchange given for ['okx']"),
    ],
)
def test_bad_arguments_are_config_errors(
    tmp_path: Path, change: dict[str, Any], field: str, fragment: str
) -> None:
    exchange, session = replaying("binance", [])
    arguments: dict[str, Any] = {
        "start": START,
        "end": END,
        "assets": ["ETH"],
        "venues": ["binance"],
        "kinds": ["perp"],
    }
    arguments.update(change)
    with pytest.raises(ConfigError) as err:
        download_cex(
            tmp_path,
            manifest=Manifest(tmp_path),
            exchanges={"binance": exchange},
            progress=False,
            **arguments,
        )
    assert err.value.field == field
    assert fragment in str(err.value)
    assert session.urls == []


def test_a_full_page_of_rows_closer_than_the_step_is_refused() -> None:
    exchange, _ = replaying("bybit", [])
    pager = Pager(exchange, cex_series("bybit", "ETH", "funding"), RetryPolicy(), limit=2)
    since, until = ts("2024-01-01 00:00"), ts("2024-01-01 16:00")
    hourly = pd.DataFrame({TIME: [ts("2024-01-01 09:00"), ts("2024-01-01 10:00")]})
    with pytest.raises(DataError, match="closer together than"):
        pager.check_full(hourly, since, until)
    pager.check_full(hourly.iloc[:1], since, until)  # not full: the venue sent all it has
    pager.check_full(pd.DataFrame({TIME: [since, ts("2024-01-01 08:00")]}), since, until)
