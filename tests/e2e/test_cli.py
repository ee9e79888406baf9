"""`basis` command line, end to end in a subprocess (exit codes, stdout, stderr, files written).

Bad input must exit with code 2, print one line on stderr naming the field or file and the bad
value, and write nothing at all under --out.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DATA_DIR = Path(os.environ.get("BASIS_DATA_DIR") or REPO.parent / "shared" / "data")
MODES_DIR = REPO / "configs" / "modes"
RATES_DIR = "protocol_data/aave/rates"
USDT_RATES = "aave_v3_aave-v3-ethereum_USDT_rates_2024-01-01_2025-09-18.csv"
RESULT_FILES = {
    "summary.json",
    "hourly_pnl.csv",
    "balance_sheet.csv",
    "event_log.csv",
    "index.html",
    "plots",
}
SHORT = ["--start", "2024-01-01", "--end", "2024-01-10"]
SHORT_LST = ["--start", "2024-06-01", "--end", "2024-06-03"]


def basis(
    *args: str | Path,
    cwd: Path,
    env: dict[str, str] | None = None,
    namespace_setup: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `python -m basis_strategy.cli ARGS` with no BASIS_* variables from this machine
    (plus `env`). `namespace_setup`: shell commands run first as root of a new user and mount
    namespace (`unshare`), e.g. to mount a small tmpfs or a read-only folder for this run only."""
    variables = {k: v for k, v in os.environ.items() if not k.startswith("BASIS_")}
    variables["COLUMNS"] = "200"
    variables.update(env or {})
    command = [sys.executable, "-m", "basis_strategy.cli", *map(str, args)]
    if namespace_setup is not None:
        script = f'{namespace_setup}\nexec "$@"'
        command = ["unshare", "--user", "--map-root-user", "--mount", "sh", "-ec", script, "sh"]
        command += [sys.executable, "-m", "basis_strategy.cli", *map(str, args)]
    return subprocess.run(
        command,
        cwd=cwd,
        env=variables,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def assert_bad_input(result: subprocess.CompletedProcess[str], out: Path, *needles: str) -> str:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    message = result.stderr.strip()
    assert message, "no reason given on stderr"
    assert "\n" not in message, f"stderr is not one line: {message!r}"
    assert "Traceback" not in message
    for needle in needles:
        assert needle in message, f"{needle!r} not in {message!r}"
    assert not out.exists() or not any(out.iterdir()), (
        f"something was written: {list(out.iterdir())}"
    )
    return message


def backtest(
    mode: str, *args: str | Path, tmp_path: Path, data: Path = DATA_DIR
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """`basis backtest MODE --data-dir DATA ARGS --out tmp/out`; returns the result and out."""
    out = tmp_path / "out"
    result = basis("backtest", mode, "--data-dir", data, *args, "--out", out, cwd=tmp_path)
    return result, out


LENDING_FILES = (
    "market_data/spot_prices/eth_usd/*",
    "blockchain_data/gas_prices/*",
    f"{RATES_DIR}/aave_v3_aave-v3-ethereum_USDT_rates_*.csv",
)


def _copy(patterns: tuple[str, ...], target: Path) -> Path:
    assert (DATA_DIR / "README.md").is_file(), f"data folder not found: {DATA_DIR}"
    for pattern in patterns:
        sources = sorted(DATA_DIR.glob(pattern))
        assert sources, pattern
        for source in sources:
            destination = target / source.relative_to(DATA_DIR)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination)
    return target


@pytest.fixture(scope="module")
def lending_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder holding only what pure_lending reads (domain 15.2)."""
    return _copy(LENDING_FILES, tmp_path_factory.mktemp("lending") / "data")


def _variant(source: Path, tmp_path: Path) -> Path:
    data = tmp_path / "data"
    shutil.copytree(source, data)
    return data


# --- good input -----------------------------------------------------------------------------


def test_modes_lists_all_seven(tmp_path):
    result = basis("modes", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    names = sorted(p.stem for p in MODES_DIR.glob("*.yaml"))
    assert len(names) == 7
    listed = sorted(line.split()[0] for line in result.stdout.splitlines() if line.strip())
    assert listed == names


def test_short_backtest_writes_one_results_folder(tmp_path):
    out = tmp_path / "out"
    result = basis(
        "backtest", "pure_lending", "--data-dir", DATA_DIR, *SHORT, "--out", out, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    last = result.stdout.strip().splitlines()[-1].strip()
    folder = Path(last)
    assert folder.is_dir(), last
    assert folder.parent.resolve() == out.resolve()
    assert [p.name for p in out.iterdir()] == [folder.name]
    assert {p.name for p in folder.iterdir()} == RESULT_FILES
    assert "pure_lending" in folder.name
    assert not (tmp_path / "results").exists()  # --out was honoured


def test_a_withdrawal_above_equity_is_refused_with_a_warning(tmp_path):
    """Issue 11: not a silent cap; the run goes on without it, and says so on stderr."""
    out = tmp_path / "out"
    flows = "flows=[{at: 2024-01-05T00:00:00Z, amount: -1000000}]"
    result = basis(
        "backtest",
        "pure_lending",
        "--data-dir",
        DATA_DIR,
        *SHORT,
        "--out",
        out,
        "--set",
        flows,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    (warning,) = [line for line in result.stderr.splitlines() if "warning" in line]
    assert "refused: 1000000 USDT is above the fund's equity" in warning
    summary = json.loads(
        (Path(result.stdout.strip().splitlines()[-1]) / "summary.json").read_text()
    )
    assert summary["rejected_instructions"] and summary["flows"][-1]["kind"] == "rejected"


def test_validate_a_mode_file(tmp_path):
    result = basis("validate", MODES_DIR / "btc_basis.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "btc_basis" in result.stdout


def test_validate_with_data_checks_coverage(tmp_path):
    good = basis("validate", MODES_DIR / "btc_basis.yaml", "--data-dir", DATA_DIR, cwd=tmp_path)
    assert good.returncode == 0, good.stderr
    assert "data covers the window" in good.stdout
    text = (MODES_DIR / "btc_basis.yaml").read_text(encoding="utf-8")
    early = tmp_path / "early.yaml"
    early.write_text(text.replace("start: 2024-05-01T00:00:00Z", "start: 2024-01-01T00:00:00Z"))
    bad = basis("validate", early, "--data-dir", DATA_DIR, cwd=tmp_path)
    assert bad.returncode == 2, (bad.stdout, bad.stderr)
    assert "okx" in bad.stderr and "2024-01-01 00:00" in bad.stderr


def test_validate_rejects_an_unknown_key(tmp_path):
    text = (MODES_DIR / "btc_basis.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "bad_mode.yaml"
    bad.write_text(text + "\nleverage_boost: 3\n", encoding="utf-8")
    result = basis("validate", bad, cwd=tmp_path)
    assert result.returncode == 2, (result.stdout, result.stderr)
    message = result.stderr.strip()
    assert "\n" not in message
    assert "leverage_boost" in message


# --- bad configuration --------------------------------------------------------------------------


def test_unknown_config_key(tmp_path):
    result, out = backtest("pure_lending", *SHORT, "--set", "reserv_ratio=0.1", tmp_path=tmp_path)
    assert_bad_input(result, out, "reserv_ratio", "0.1")


def test_wrong_value_type(tmp_path):
    result, out = backtest("pure_lending", *SHORT, "--set", "reserve_ratio=abc", tmp_path=tmp_path)
    assert_bad_input(result, out, "reserve_ratio", "abc")


def test_hedge_allocation_must_sum_to_one(tmp_path):
    result, out = backtest("btc_basis", "--set", "hedge.allocation.binance=0.3", tmp_path=tmp_path)
    assert_bad_input(result, out, "hedge.allocation", "must sum to 1", "0.9")


def test_margin_thresholds_out_of_order(tmp_path):
    result, out = backtest(
        "btc_basis", "--set", "hedge.margin_ratio_warning=0.15", tmp_path=tmp_path
    )
    assert_bad_input(result, out, "margin_ratio_warning", "0.15")


# --- bad data -----------------------------------------------------------------------------------


def test_window_outside_data_coverage(tmp_path):
    result, out = backtest("pure_lending", "--start", "2023-01-01", tmp_path=tmp_path)
    message = assert_bad_input(result, out, "2023-01-01")
    named = [p.name for p in DATA_DIR.rglob("*.csv") if p.name in message]
    assert named, f"no data file named in {message!r}"
    assert "2024-01-01" in message  # the file's own coverage


def test_missing_data_file(lending_data, tmp_path):
    data = _variant(lending_data, tmp_path)
    (data / RATES_DIR / USDT_RATES).unlink()
    result, out = backtest("pure_lending", *SHORT, tmp_path=tmp_path, data=data)
    assert_bad_input(result, out, "aave_v3_aave-v3-ethereum_USDT_rates_")


def test_corrupt_csv_value(lending_data, tmp_path):
    data = _variant(lending_data, tmp_path)
    path = data / RATES_DIR / USDT_RATES
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    header = lines[0].rstrip("\n").split(",")
    line_number = 6  # 1-based: the 2024-01-05 snapshot, inside the run window
    cells = lines[line_number - 1].rstrip("\n").split(",")
    assert cells[0].startswith("2024-01-05")
    cells[header.index("liquidityIndex")] = "abc"
    lines[line_number - 1] = ",".join(cells) + "\n"
    path.write_text("".join(lines), encoding="utf-8")
    result, out = backtest("pure_lending", *SHORT, tmp_path=tmp_path, data=data)
    assert_bad_input(result, out, USDT_RATES, f"line {line_number}", "'abc'")


def test_lending_needs_only_its_files(lending_data, tmp_path):
    """Control for the two data tests above: the untouched copy runs.

    `lending_data` holds exactly what domain 15.2 lists for pure_lending (AAVE USDT rates,
    ETH/USD for gas, gas prices); the ETH/USD primary (bybit spot) covers every hour.
    """
    result, out = backtest("pure_lending", *SHORT, tmp_path=tmp_path, data=lending_data)
    assert result.returncode == 0, result.stderr
    assert len(list(out.iterdir())) == 1


def test_a_defi_mode_runs_from_the_cli(tmp_path):
    window = ["--start", "2024-06-01", "--end", "2024-06-08"]
    result, _ = backtest("usdt_market_neutral", *window, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    folder = Path(result.stdout.strip().splitlines()[-1].strip())
    assert {p.name for p in folder.iterdir()} == RESULT_FILES
    assert "FlashBorrowed" in (folder / "event_log.csv").read_text(encoding="utf-8")


def test_target_ltv_above_the_datas_max_ltv_is_refused(tmp_path):
    """The config schema allows λ 0.935 < warning < critical; AAVE's e-mode max LTV in the
    data (0.93) does not."""
    bands = [
        "leverage.target_ltv=0.935",
        "leverage.ltv_warning=0.94",
        "leverage.ltv_critical=0.945",
    ]
    sets = [arg for band in bands for arg in ("--set", band)]
    result, out = backtest("eth_leveraged", *SHORT_LST, *sets, tmp_path=tmp_path)
    assert_bad_input(result, out, "leverage.target_ltv", "0.93", "0.935")


def test_no_data_folder_runs_on_the_synthetic_base_scenario_and_says_so(tmp_path):
    """No --data-dir and no BASIS_DATA_DIR: the run uses the synthetic `base` scenario over
    its window (written once under BASIS_SYNTH_DIR), says so on stderr and in its summary."""
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BASIS_")}
    env["BASIS_SYNTH_DIR"] = str(tmp_path / "synth")
    result = subprocess.run(
        [sys.executable, "-m", "basis_strategy.cli", "backtest", "pure_lending", *SHORT,
         "--out", str(out), "--quiet"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "SYNTHETIC 'base' scenario" in result.stderr
    folder = Path(result.stdout.strip().splitlines()[-1])
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["data_origin"]["synthetic"] is True
    assert summary["data_origin"]["scenario"] == "base"
    assert (tmp_path / "synth").is_dir()


# --- reports: basis report / basis compare -------------------------------------------------------

PLOT_PAGES = {
    f"{name}.html"
    for name in (
        "cumulative_pnl",
        "pnl_components",
        "delta_neutrality",
        "margin_ratios",
        "aave_health",
        "balance_sheet",
    )
}


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two short pure_lending run folders written by `basis backtest`."""
    work = tmp_path_factory.mktemp("report-cli")
    folders = []
    for capital in ("100000", "20000"):
        result = basis(
            "backtest", "pure_lending", "--data-dir", DATA_DIR, *SHORT, "--capital", capital,
            "--out", work / "out", cwd=work,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        folders.append(Path(result.stdout.strip().splitlines()[-1].strip()))
    return folders


def test_report_rebuilds_a_run_folder(two_runs, tmp_path):
    folder = two_runs[0]
    shutil.rmtree(folder / "plots", ignore_errors=True)
    (folder / "index.html").unlink(missing_ok=True)
    result = basis("report", folder, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip().splitlines()[-1]) == folder / "index.html"
    assert (folder / "index.html").is_file()
    assert {p.name for p in (folder / "plots").iterdir()} == PLOT_PAGES | {"plotly.min.js"}


def test_compare_two_runs(two_runs, tmp_path):
    out = tmp_path / "cmp"
    result = basis("compare", *two_runs, "--out", out, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    index = Path(result.stdout.strip().splitlines()[-1])
    assert index == out / "index.html" and index.is_file()
    assert (out / "plots" / "plotly.min.js").is_file()
    text = index.read_text(encoding="utf-8")
    assert all(folder.name in text for folder in two_runs)


def test_compare_default_out_is_under_results(two_runs, tmp_path):
    result = basis("compare", *two_runs, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    written = list((tmp_path / "results").glob("compare-*/index.html"))
    assert len(written) == 1
    assert (tmp_path / result.stdout.strip()).resolve() == written[0].resolve()


def test_report_of_a_missing_folder(tmp_path):
    result = basis("report", tmp_path / "nope", cwd=tmp_path)
    assert_bad_input(result, tmp_path / "out", str(tmp_path / "nope"))


def test_report_of_a_folder_that_is_not_a_run(tmp_path):
    (tmp_path / "empty").mkdir()
    result = basis("report", tmp_path / "empty", cwd=tmp_path)
    assert_bad_input(result, tmp_path / "empty", "summary.json", "not a run folder")


def test_compare_with_a_bad_folder_writes_nothing(two_runs, tmp_path):
    out = tmp_path / "cmp"
    result = basis("compare", two_runs[0], tmp_path / "nope", "--out", out, cwd=tmp_path)
    assert_bad_input(result, out, str(tmp_path / "nope"))
