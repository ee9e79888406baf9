"""Synthetic scenarios: determinism, provider acceptance, calibration bands, stress directions."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from basis_strategy.config.loader import load_run_config
from basis_strategy.core.errors import ConfigError
from basis_strategy.data.provider import HistoricalDataProvider
from basis_strategy.data.sources.aave import read_aave_daily
from basis_strategy.data.sources.funding import read_funding, read_okx_daily_funding
from basis_strategy.data.sources.ohlcv import read_ohlcv_open
from basis_strategy.data.sources.oracle import read_oracle
from basis_strategy.data.synth import SCENARIOS, write_scenario
from basis_strategy.services.backtest import run_backtest

START, END = datetime(2024, 6, 1, tzinfo=UTC), datetime(2024, 9, 1, tzinfo=UTC)
WINDOW = ["start=2024-06-01T00:00:00Z", "end=2024-09-01T00:00:00Z"]
MODES = [p.stem for p in sorted(Path("configs/modes").glob("*.yaml"))]
SEED = 11


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("synth")
    return {name: write_scenario(name, SEED, START, END, root / name) for name in SCENARIOS}


def one(folder: Path, pattern: str) -> Path:
    (path,) = sorted(folder.glob(pattern))
    return path


def eth(folder: Path) -> pd.Series:
    return read_ohlcv_open(one(folder, "market_data/spot_prices/eth_usd/bybit_ETHUSDT_spot_*"))


def funding(folder: Path, venue: str, base: str = "ETH") -> pd.Series:
    if venue == "okx":
        return read_okx_daily_funding(
            folder / "market_data/okx/funding_rates/daily", f"{base}-USDT-SWAP"
        )
    return read_funding(one(folder, f"market_data/derivatives/funding_rates/{venue}_{base}USDT_*"))


def aave(folder: Path, asset: str) -> pd.DataFrame:
    return read_aave_daily(
        one(folder, f"protocol_data/aave/rates/aave_v3_aave-v3-ethereum_{asset}_rates_*")
    )


def test_same_seed_gives_identical_files(tmp_path: Path) -> None:
    stamp = datetime(2025, 1, 1, tzinfo=UTC)
    a = write_scenario(
        "base", 3, START, datetime(2024, 6, 8, tzinfo=UTC), tmp_path / "a", generated_at=stamp
    )
    b = write_scenario(
        "base", 3, START, datetime(2024, 6, 8, tzinfo=UTC), tmp_path / "b", generated_at=stamp
    )
    c = write_scenario(
        "base", 4, START, datetime(2024, 6, 8, tzinfo=UTC), tmp_path / "c", generated_at=stamp
    )
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
    assert eth(a).iloc[5] != eth(c).iloc[5]


def test_manifest_marks_folder_synthetic(folders: dict[str, Path]) -> None:
    manifest = json.loads((folders["base"] / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["synthetic"] is True
    assert (manifest["scenario"], manifest["seed"]) == ("base", SEED)
    assert manifest["start"] == "2024-06-01T00:00:00+00:00"
    listed = {p for p in manifest["files"]}
    actual = {
        str(p.relative_to(folders["base"]))
        for p in folders["base"].rglob("*")
        if p.is_file() and p.name != "manifest.json"
    }
    assert listed == actual


def test_bad_arguments_fail_fast(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="scenario"):
        write_scenario("moon", 1, START, END, tmp_path / "x")
    with pytest.raises(ConfigError, match="end"):
        write_scenario("base", 1, END, START, tmp_path / "y")
    with pytest.raises(ConfigError, match="start"):
        write_scenario("base", 1, datetime(2024, 6, 1), END, tmp_path / "z")


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_provider_builds_on_base(folders: dict[str, Path], mode: str) -> None:
    data = HistoricalDataProvider(load_run_config(mode, WINDOW, env={}), folders["base"])
    assert len(data.times) == 92 * 24 + 1
    for column in data.columns.values():
        assert np.isfinite(column).all()


@pytest.mark.parametrize("mode", MODES)
def test_short_backtest_of_every_mode_on_base(
    folders: dict[str, Path], mode: str, tmp_path: Path
) -> None:
    sets = ["start=2024-06-01T00:00:00Z", "end=2024-06-08T00:00:00Z"]
    outcome = run_backtest(mode, sets, folders["base"], tmp_path, env={})
    assert (outcome.path / "summary.json").is_file()
    assert outcome.summary["mode"] == mode


def test_base_statistics_within_bands_of_real_data(folders: dict[str, Path]) -> None:
    """Bands: real ETH vol 0.685 -> [0.50, 0.90]; mean funding APR per venue real ± 5 pp
    (Binance 9.7 %, Bybit 9.6 %, OKX 7.3 %); mean WETH borrow APR real 2.7 % -> [1.5, 4.5] %."""
    base = folders["base"]
    vol = np.log(eth(base)).diff().std() * np.sqrt(8760)
    assert 0.50 < vol < 0.90
    for venue, real in (("binance", 0.097), ("bybit", 0.096), ("okx", 0.073)):
        apr = funding(base, venue).mean() * 1095
        assert abs(apr - real) < 0.05, (venue, apr)
        assert 0.0 < (funding(base, venue) < 0).mean() < 0.35
    assert 0.015 < aave(base, "WETH")["borrow_rate"].mean() < 0.045


def test_bull_squeeze_raises_eth_return_and_funding(folders: dict[str, Path]) -> None:
    base, bull = folders["base"], folders["bull_squeeze"]
    assert eth(bull).iloc[-1] / eth(bull).iloc[0] > 1.3 * eth(base).iloc[-1] / eth(base).iloc[0]
    for venue in ("binance", "bybit", "okx"):
        assert funding(bull, venue).mean() > funding(base, venue).mean() + 1e-4


def test_bear_scenario_has_negative_funding_and_falling_eth(folders: dict[str, Path]) -> None:
    base, bear = folders["base"], folders["bear_negative_funding"]
    assert eth(bear).iloc[-1] < eth(base).iloc[-1]
    for venue in ("binance", "bybit", "okx"):
        assert funding(bear, venue).mean() < 0.0
        assert (funding(bear, venue) < 0).mean() > 0.5


def test_lst_depeg_drops_oracle_and_market_rate(folders: dict[str, Path]) -> None:
    def rho(folder: Path) -> pd.Series:
        return read_oracle(one(folder, "protocol_data/aave/oracle/weETH_ETH_oracle_*"))

    ratio = rho(folders["lst_depeg"]) / rho(folders["base"])
    assert ratio.iloc[0] == pytest.approx(1.0)
    assert ratio.iloc[-1] == pytest.approx(0.97)
    peg = "protocol_data/staking/peg_analysis/weETH_peg_analysis_*"
    market = {n: pd.read_csv(one(folders[n], peg))["market_rate"] for n in ("base", "lst_depeg")}
    assert (market["lst_depeg"] / market["base"]).min() < 0.95


def test_rate_spike_raises_weth_borrow_rate(folders: dict[str, Path]) -> None:
    base = aave(folders["base"], "WETH")
    spike = aave(folders["rate_spike"], "WETH")
    assert spike["borrow_rate"].max() > 0.25 > base["borrow_rate"].max()
    assert (spike["borrow_index"] >= base["borrow_index"]).all()
    assert spike["borrow_index"].iloc[-1] > base["borrow_index"].iloc[-1]


def test_a_run_on_synthetic_data_says_so_in_its_summary_report_and_output(tmp_path: Path) -> None:
    """`basis data synth` writes the folder; a backtest on it flags the data as synthetic in
    summary.json, on the report page and on stderr."""
    import subprocess
    import sys

    data = tmp_path / "data"
    cli = [sys.executable, "-m", "basis_strategy.cli"]
    window = ["--start", "2024-06-01", "--end", "2024-06-08"]
    made = subprocess.run(
        [
            *cli,
            "data",
            "synth",
            "--scenario",
            "bull_squeeze",
            "--seed",
            "7",
            *window,
            "--out",
            str(data),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert made.returncode == 0, made.stderr
    ran = subprocess.run(
        [
            *cli,
            "backtest",
            "btc_basis",
            "--data-dir",
            str(data),
            *window,
            "--out",
            str(tmp_path / "out"),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert ran.returncode == 0, ran.stderr
    assert "SYNTHETIC DATA (scenario bull_squeeze, seed 7)" in ran.stderr
    run_dir = Path(ran.stdout.strip().splitlines()[-1])
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["data_origin"]["synthetic"] is True
    assert summary["data_origin"]["scenario"] == "bull_squeeze"
    assert "SYNTHETIC DATA" in (run_dir / "index.html").read_text()
