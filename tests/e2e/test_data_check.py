"""`basis data check` end to end on the real data folder (subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DATA_DIR = Path(os.environ.get("BASIS_DATA_DIR") or REPO.parent / "shared" / "data")
BINANCE_HOLES = [
    "2024-02-10",
    "2024-03-22",
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
BYBIT_DUPLICATES = [
    "2024-02-10",
    "2024-03-21",
    "2024-04-30",
    "2024-06-09",
    "2024-07-19",
    "2024-08-28",
    "2024-10-07",
    "2024-11-16",
    "2024-12-26",
    "2025-02-04",
    "2025-03-16",
    "2025-04-25",
    "2025-06-04",
    "2025-07-14",
    "2025-08-23",
]
README_WINDOWS = {
    "ETH CEX basis": "2024-01-01 00:00 -> 2025-09-25 16:00",
    "ETH modes on Binance + Bybit": "2024-05-12 01:00 -> 2025-09-18 00:00",
    "BTC modes on Binance + Bybit:": "2024-01-01 00:00 -> 2025-09-29 16:00",
    "BTC Binance + Bybit with gas and AAVE USDT": "2024-01-01 00:00 -> 2025-09-26 23:00",
    "All BTC-mode inputs": "2024-05-01 00:00 -> 2025-09-07 16:00",
    "All ETH-mode inputs": "2024-10-05 00:00 -> 2025-08-31 23:00",
}


def basis(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "basis_strategy.cli", *map(str, args)]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300)


def test_data_check_flags_the_readme_defects(tmp_path):
    out = tmp_path / "check.json"
    result = basis("data", "check", DATA_DIR, "--json", out, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    report = json.loads(out.read_text())
    files = {f["path"]: f for f in report["files"]}
    binance = [f for p, f in files.items() if "binance" in p and "_1h_" in p]
    assert len(binance) == 3
    for f in binance:
        assert f["gaps"]["summary"] == "15 holes (15 of 23 h; 345 missing)"
        assert [run["start"][:10] for run in f["gaps"]["runs"]] == BINANCE_HOLES
    bybit = [f for p, f in files.items() if "bybit" in p and "_1h_" in p]
    assert len(bybit) == 4
    for f in bybit:
        assert [t[:10] for t in f["identical_duplicates"]] == BYBIT_DUPLICATES
        assert f["conflicting_duplicates"] == []
    assert text.count("15 holes (15 of 23 h; 345 missing)") >= 6  # table and findings
    assert "duplicates (identical): 15 timestamps: 2024-02-10 00:00, 2024-03-21 00:00" in text
    for hole in BINANCE_HOLES:
        assert hole in text
    weth = next(f for p, f in files.items() if "WETH_USD_oracle" in p)
    assert weth["interpolated_hours"] >= 23 * 600
    assert "exact linear interpolations between 00:00 observations" in text
    okx = files["market_data/okx/funding_rates/daily [ETH-USDT-SWAP]"]
    assert round(okx["stats"]["predicted_mean_apr"], 3) == 0.030
    assert round(okx["stats"]["realised_mean_apr"], 3) == 0.073
    assert "210 timestamps carry conflicting predicted rates" in text
    aggregated = next(f for p, f in files.items() if "okx_ETHUSDT_funding_rates" in p)
    assert len(aggregated["conflicting_duplicates"]) == 210
    assert aggregated["gaps"]["missing"] == 132
    for scope, window in README_WINDOWS.items():
        assert any(scope in line and window in line for line in text.splitlines()), scope
    assert report["ok"] and len(report["modes"]) == 7


def test_mode_outside_coverage_exits_1_naming_the_file(tmp_path):
    result = basis(
        "data",
        "check",
        DATA_DIR,
        "--mode",
        "btc_basis",
        "--start",
        "2023-06-01",
        "--end",
        "2023-07-01",
        cwd=tmp_path,
    )
    assert result.returncode == 1, result.stderr
    assert "CANNOT RUN" in result.stdout
    assert "btc_basis cannot run" in result.stderr and ".csv" in result.stderr


def test_missing_folder_exits_2(tmp_path):
    result = basis("data", "check", tmp_path / "nowhere", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("basis: error: data folder not found")
    assert result.stdout == ""


def replica(folder: Path, relative: str, edit) -> Path:
    """The real data folder linked file by file into `folder`, `relative` rewritten by `edit`
    (a function of its lines)."""
    for path in DATA_DIR.rglob("*"):
        if path.is_file():
            target = folder / path.relative_to(DATA_DIR)
            target.parent.mkdir(parents=True, exist_ok=True)
            if path.relative_to(DATA_DIR).as_posix() == relative:
                target.write_text("".join(edit(path.read_text().splitlines(keepends=True))))
            else:
                target.symlink_to(path)
    return folder


BYBIT_ETH = "market_data/spot_prices/eth_usd/bybit_ETHUSDT_spot_1h_2024-01-01_2025-09-26.csv"
BINANCE_BTC = "market_data/spot_prices/btc_usd/binance_BTCUSDT_1h_2024-01-01_2025-09-30.csv"


def test_a_conflicting_duplicate_in_a_file_a_mode_reads_exits_1(tmp_path):
    def repeat(lines):
        at = next(i for i, line in enumerate(lines) if line.startswith("2024-06-03T05:00:00Z"))
        cells = lines[at].split(",")
        cells[1] = cells[2]  # open = high: another price for the same bar
        return [*lines[: at + 1], ",".join(cells), *lines[at + 1 :]]

    folder = replica(tmp_path / "data", BYBIT_ETH, repeat)
    result = basis("data", "check", folder, "--mode", "pure_lending", cwd=tmp_path)
    assert result.returncode == 1, result.stdout
    assert "duplicates (conflicting): 1 timestamps: 2024-06-03 05:00" in result.stdout
    assert f"DEFECTS in files the checked modes read: {BYBIT_ETH}" in result.stdout
    assert "conflicting values for duplicated timestamp 2024-06-03 05:00:00+00:00" in result.stderr


def test_an_implausible_price_outside_every_window_still_exits_1(tmp_path):
    """btc_basis runs (its window ends 2025-09-07); the file it reads is still defective."""

    def spike(lines):
        at = next(i for i, line in enumerate(lines) if line.startswith("2025-09-20T12:00:00Z"))
        cells = lines[at].split(",")
        cells[1:3] = [str(float(cells[1]) * 10)] * 2  # open (and high) x10 for one hour
        return [*lines[:at], ",".join(cells), *lines[at + 1 :]]

    folder = replica(tmp_path / "data", BINANCE_BTC, spike)
    out = tmp_path / "check.json"
    result = basis("data", "check", folder, "--mode", "btc_basis", "--json", out, cwd=tmp_path)
    assert result.returncode == 1, result.stdout
    report = json.loads(out.read_text())
    assert report["modes"][0]["can_run"] and not report["ok"]
    (btc,) = [f for f in report["files"] if f["path"] == BINANCE_BTC]
    assert btc["engine_reads"] and btc["defective"]
    assert btc["implausible"][0].startswith(
        "1 implausible value(s) for the default data limits; first: 2025-09-20 12:00 UTC: "
    )
