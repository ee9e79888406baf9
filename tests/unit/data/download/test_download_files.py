"""The download's resumable files and manifest (data/download/files.py, manifest.py, retry.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from basis_strategy.core.errors import ConfigError, DataError, OperationalError
from basis_strategy.data.download.files import TIME, CsvLayout, CsvSink, coverage
from basis_strategy.data.download.manifest import Manifest, complement, merge_ranges
from basis_strategy.data.download.retry import RetryPolicy, with_retries
from basis_strategy.data.sources import read_ohlcv_open

H = pd.Timedelta(hours=1)
T0 = pd.Timestamp("2024-01-01", tz="UTC")
LAYOUT = CsvLayout(
    "market_data/derivatives/futures_ohlcv",
    "binance_ETHUSDT_perp_1h",
    "timestamp",
    ("timestamp", "open", "high", "low", "close", "volume"),
)


def bars(first: int, count: int, shift: float = 0.0) -> pd.DataFrame:
    times = pd.date_range(T0 + first * H, periods=count, freq="h")
    opens = [100.0 + first + i + shift for i in range(count)]
    return pd.DataFrame(
        {TIME: times, "open": opens, "high": opens, "low": opens, "close": opens, "volume": 1.0}
    )


def test_ranges_merge_and_complement() -> None:
    a, b, c, d = (T0 + k * H for k in (0, 5, 10, 20))
    assert merge_ranges([(c, d), (a, b), (b, c)]) == [(a, d)]
    assert complement([(b, c)], a, d) == [(a, b), (c, d)]
    assert complement([(a, d)], b, c) == []
    assert complement([], a, b) == [(a, b)]


def test_sink_merges_pages_renames_the_file_and_reads_back(tmp_path: Path) -> None:
    manifest = Manifest(tmp_path)
    with CsvSink(tmp_path, LAYOUT, manifest, "ccxt binance") as sink:
        sink.add(bars(0, 24), (T0, T0 + 23 * H))
    with CsvSink(tmp_path, LAYOUT, Manifest(tmp_path), "ccxt binance") as sink:
        sink.add(bars(23, 30, shift=1000.0), (T0 + 23 * H, T0 + 52 * H))  # 23:00 repeated
    files = sorted(tmp_path.rglob("*.csv"))
    assert [f.name for f in files] == ["binance_ETHUSDT_perp_1h_2024-01-01_2024-01-03.csv"]
    series = read_ohlcv_open(files[0])
    assert len(series) == 53 and series.index.is_unique
    assert series[T0 + 23 * H] == 123.0  # the row on disk wins over a re-fetched one
    assert series[T0 + 24 * H] == 1124.0
    entry = json.loads((tmp_path / "manifest.json").read_text())["files"][LAYOUT.pattern]
    assert entry["rows"] == 53 and entry["gaps"] == []
    assert entry["fetched"] == [["2024-01-01T00:00:00Z", "2024-01-03T04:00:00Z"]]
    assert Manifest(tmp_path).missing(LAYOUT.pattern, T0, T0 + 52 * H) == []


def test_an_interrupted_download_keeps_its_pages_and_a_hole_is_reported(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), CsvSink(tmp_path, LAYOUT, Manifest(tmp_path), "x") as sink:
        sink.add(bars(0, 10), (T0, T0 + 9 * H))
        raise RuntimeError("connection lost")
    manifest = Manifest(tmp_path)
    assert manifest.missing(LAYOUT.pattern, T0, T0 + 30 * H) == [(T0 + 9 * H, T0 + 30 * H)]
    with CsvSink(tmp_path, LAYOUT, manifest, "x") as sink:
        sink.add(bars(15, 16), (T0 + 9 * H, T0 + 30 * H))  # the venue has nothing for 10-14
    entry = manifest.files[LAYOUT.pattern]
    assert entry["gaps"] == [["2024-01-01T10:00:00Z", "2024-01-01T14:00:00Z"]]
    assert entry["rows"] == 26
    assert manifest.missing(LAYOUT.pattern, T0, T0 + 30 * H) == []


def test_coverage_of_nothing() -> None:
    empty = pd.Series([], dtype="datetime64[ns, UTC]")
    assert coverage(empty, H) == {"first": None, "last": None, "rows": 0, "gaps": []}


def test_manifest_refuses_a_synthetic_folder_and_a_foreign_file(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text(json.dumps({"synthetic": True, "files": {}}))
    with pytest.raises(ConfigError, match="synthetic"):
        Manifest(tmp_path)
    (tmp_path / "manifest.json").write_text("[1, 2]")
    with pytest.raises(DataError, match="not a download manifest"):
        Manifest(tmp_path)


def test_manifest_documents_the_manual_inputs(tmp_path: Path) -> None:
    Manifest(tmp_path).save()
    manual = json.loads((tmp_path / "manifest.json").read_text())["manual_inputs"]
    assert "manual_sources/etherfi_distributions/eigen_distributions_raw.csv" in manual
    assert (
        "eigen_earned" in manual["manual_sources/etherfi_distributions/eigen_distributions_raw.csv"]
    )


def test_retries_back_off_then_give_up(tmp_path: Path) -> None:
    waits: list[float] = []
    policy = RetryPolicy(attempts=4, base_seconds=1.0, max_seconds=3.0, sleep=waits.append)
    calls = iter([TimeoutError(), TimeoutError(), "ok"])

    def flaky() -> str:
        value = next(calls)
        if isinstance(value, Exception):
            raise value
        return value

    assert with_retries(flaky, "page 1", (TimeoutError,), policy) == "ok"
    assert waits == [1.0, 2.0]

    def always() -> str:
        raise TimeoutError("slow")

    waits.clear()
    with pytest.raises(OperationalError, match="page 2: gave up after 4 attempts"):
        with_retries(always, "page 2", (TimeoutError,), policy, wait_hint=lambda e: 10.0)
    assert waits == [3.0, 3.0, 3.0]  # the server's hint, capped at max_seconds

    def wrong() -> str:
        raise ValueError("bad symbol")

    with pytest.raises(ValueError):
        with_retries(wrong, "page 3", (TimeoutError,), policy)


def test_a_seed_file_with_comment_lines_is_extended(tmp_path: Path) -> None:
    folder = tmp_path / LAYOUT.folder
    folder.mkdir(parents=True)
    seed = folder / "binance_ETHUSDT_perp_1h_2024-01-01_2024-01-01.csv"
    seed.write_text(
        "# Source: seed\n# Asset: ETH\ntimestamp,open,high,low,close,volume\n"
        "2024-01-01T00:00:00Z,1,1,1,1,1\n"
    )
    with CsvSink(tmp_path, LAYOUT, Manifest(tmp_path), "x") as sink:
        sink.add(bars(1, 2), (T0 + H, T0 + 2 * H))
    (written,) = folder.glob("*.csv")
    assert list(read_ohlcv_open(written)) == [1.0, 101.0, 102.0]
