"""`basis` refuses bad numbers, dates, YAML files and unusable outputs before any work (issue 12):
exit code 2 and one line on stderr naming the option, field or file and the bad value, nothing
written. In-process (`main(argv)`), so that the many cases stay fast; tests/e2e/test_cli_inputs.py
runs the command itself, on real full and read-only file systems."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from basis_strategy.cli import main

REPO = Path(__file__).resolve().parents[2]
DATA_DIR = Path(os.environ.get("BASIS_DATA_DIR") or REPO.parent / "shared" / "data")
BTC_BASIS = (REPO / "configs" / "modes" / "btc_basis.yaml").read_text(encoding="utf-8")
SHORT = ["--start", "2024-01-01", "--end", "2024-01-10", "--quiet"]


Cli = Callable[..., tuple[int, str]]


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    """`cli(*args, env={...})` -> (exit code, stderr), run in `tmp_path` with no BASIS_*
    variable but those given."""
    monkeypatch.chdir(tmp_path)

    def run(*args: str | Path, env: dict[str, str] | None = None) -> tuple[int, str]:
        for name in [n for n in os.environ if n.startswith("BASIS_")]:
            monkeypatch.delenv(name)
        for name, value in (env or {}).items():
            monkeypatch.setenv(name, value)
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:  # argparse
            code = exc.code if isinstance(exc.code, int) else 1
        return code, capsys.readouterr().err

    return run


def refused(result: tuple[int, str], *needles: str) -> None:
    code, stderr = result
    assert code == 2, stderr
    message = stderr.strip()
    assert message.startswith("basis: error: ") and "\n" not in message, message
    for needle in needles:
        assert needle in message, f"{needle!r} not in {message!r}"


def nothing_in(folder: Path) -> None:
    assert not folder.exists() or not any(folder.iterdir()), list(folder.iterdir())


def backtest(cli: Cli, tmp_path: Path, *args: str) -> tuple[int, str]:
    return cli("backtest", *args, "--data-dir", DATA_DIR, "--out", tmp_path / "out")


# --- numbers and dates on the command line ------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["btc_basis", "--capital", "1"],
         ("initial_capital", "at least 10,000 USDT for share class usdt_stable", "was 1")),
        (["eth_leveraged", "--capital", "1.999"], ("initial_capital", "at least 2 ETH", "1.999")),
        (["pure_lending", "--capital", "2e10"], ("initial_capital", "at most 10,000,000,000")),
        (["pure_lending", "--capital="], ("--capital", "empty value")),
        (["pure_lending", "--capital", " "], ("--capital", "empty value")),
        (["pure_lending", "--capital", "nan"], ("initial_capital", "'nan'")),
        (["pure_lending", "--capital", ".nan"], ("initial_capital", "finite", "'.nan'")),
        (["pure_lending", "--capital", "inf"], ("initial_capital", "'inf'")),
        (["pure_lending", "--capital=-.inf"], ("initial_capital", "finite", "'-.inf'")),
        (["pure_lending", "--capital", "1e400"], ("initial_capital", "finite", "'1e400'")),
        (["pure_lending", "--capital", "1e308"], ("initial_capital", "1e+308")),
        (["pure_lending", "--capital", "true"], ("initial_capital", "True")),
        (["pure_lending", "--capital", "-5"], ("initial_capital", "-5")),
        (["pure_lending", "--start", "2024-02-30"], ("start", "'2024-02-30'", "out of range")),
        (["pure_lending", "--end", "2024-13-01"], ("end", "'2024-13-01'", "month")),
        (["pure_lending", "--start", "2024-01-01T25:00:00"], ("start", "hour must be in 0..23")),
        (["pure_lending", "--start", "2024-01-01T25:00"], ("start", "'2024-01-01T25:00'")),
        (["pure_lending", "--start", "1704067200"], ("start", "ISO 8601", "1704067200")),
        (["pure_lending", "--start="], ("--start", "empty value")),
        (["pure_lending", "--end="], ("--end", "empty value")),
        (["pure_lending", "--data-dir="], ("--data-dir", "empty value")),
        (["pure_lending", "--out="], ("--out", "empty value")),
        (["", "--capital", "1"], ("mode", "empty value")),
        (["pure_lending", "--set", "=0.1"], ("--set", "'=0.1'")),
        (["pure_lending", "--set", "a..b=0.1"], ("--set", "'a..b'")),
        (["pure_lending", "--set", "reserve_ratio=true"], ("reserve_ratio", "True")),
        (["pure_lending", "--set", "costs.gas=1"], ("costs.gas", "boolean", "1")),
        (["pure_lending", "--set", "reserve_ratio="], ("reserve_ratio", "''")),
        (["pure_lending", "--set", "flows=[{at: 2024-01-03T00:00:00Z, amount: 1e400}]"],
         ("flows.0.amount", "'1e400'")),
        (["pure_lending", "--set", "flows=[{at: 2024-01-03T00:00:00Z, amount: .nan}]"],
         ("flows.0.amount", "'.nan'")),
        (["pure_lending", "--set", "flows=[{at: 2025-12-01T00:00:00Z, amount: 1000}]"],
         ("flows.", "after start")),
        (["pure_lending", "--set", "shocks=[{series: [price:ETH], start: 2024-01-02T00:00:00Z, "
          "end: 2024-01-02T00:00:00Z, kind: set, value: .nan}]"], ("shocks.0.value", "'.nan'")),
        (["pure_lending", "--set", "shocks=[{series: [price:ETH], start: 2024-01-02T00:00:00Z, "
          "end: 2024-01-02T00:00:00Z, kind: set, value: -1}]"], ("shocks.0.value", "> 0")),
        (["btc_basis", "--set", "hedge.allocation={binance: .nan, bybit: 0.5, okx: 0.5}"],
         ("hedge.allocation.binance", "'.nan'")),
        (["btc_basis", "--set", "hedge.venues=[" + ", ".join(["binance"] * 200) + "]"],
         ("hedge.venues", "at most 3")),
    ],
)  # fmt: skip
def test_bad_backtest_options_are_refused(cli, tmp_path, args, needles):
    refused(backtest(cli, tmp_path, *args[:1], *SHORT, *args[1:]), *needles)
    nothing_in(tmp_path / "out")


@pytest.mark.parametrize(
    ("variable", "value", "needles"),
    [
        ("BASIS_RESERVE_RATIO", ".nan", ("BASIS_RESERVE_RATIO (reserve_ratio)", "'.nan'")),
        ("BASIS_INITIAL_CAPITAL", "", ("BASIS_INITIAL_CAPITAL (initial_capital)", "''")),
        ("BASIS_INITIAL_CAPITAL", "5", ("initial_capital", "at least 10,000")),
        ("BASIS_HEDGE__DELTA_TOLERANCE", "1e400", ("BASIS_HEDGE__DELTA_TOLERANCE", "'1e400'")),
        ("BASIS_COSTS__GAS", "0", ("BASIS_COSTS__GAS (costs.gas)", "boolean")),
        ("BASIS_START", "2024-02-30", ("BASIS_START (start)", "'2024-02-30'")),
        ("BASIS___X", "1", ("BASIS___X", "key must be names")),
        ("BASIS_DATA_DIR", "", ("BASIS_DATA_DIR", "set but empty")),
        ("BASIS_RESULTS_DIR", " ", ("BASIS_RESULTS_DIR", "set but empty")),
        ("BASIS_CONFIG_DIR", "", ("BASIS_CONFIG_DIR", "set but empty")),
    ],
)
def test_bad_environment_values_are_refused(cli, tmp_path, variable, value, needles):
    result = cli("backtest", "pure_lending", *SHORT, env={variable: value})
    refused(result, *needles)  # one line: no "running on synthetic data" notice before it
    nothing_in(tmp_path / "results")


def test_a_usage_error_is_one_line(cli):
    refused(cli("backtest", "pure_lending", "--capitol", "5"), "--capitol")
    refused(cli("backtest"), "mode")


# --- mode YAML files ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "needles"),
    [
        (BTC_BASIS.replace("2024-05-01T00:00:00Z", "2024-02-30T00:00:00Z"),
         ("mine.yaml: start", "'2024-02-30T00:00:00Z'", "(line 6)")),
        (BTC_BASIS.replace("2025-09-07T16:00:00Z", "2025-09-07T25:00:00Z"), ("end", "hour")),
        (BTC_BASIS.replace("2024-05-01T00:00:00Z", "2024-13-01T00:00:00Z"), ("start", "month")),
        (BTC_BASIS + "initial_capital: 5\n",
         ("initial_capital: duplicate key (also at line 5)",)),
        (BTC_BASIS.replace("okx: 0.3}", "okx: 0.3, okx: 0.3}"),
         ("hedge.allocation.okx: duplicate key",)),
        (BTC_BASIS.replace("binance: 0.4", "binance: .nan"),
         ("hedge.allocation.binance", "'.nan'")),
        (BTC_BASIS.replace("initial_capital: 100000", "initial_capital: 1e400"),
         ("initial_capital", "'1e400'")),
        (BTC_BASIS.replace("initial_capital: 100000", "initial_capital: 100"),
         ("initial_capital", "at least 10,000")),
        (BTC_BASIS.replace("delta_tolerance: 0.01", "delta_tolerance: .inf"),
         ("hedge.delta_tolerance", "'.inf'")),
        (BTC_BASIS + "extra: " + "[" * 40 + "]" * 40 + "\n", ("extra", "nested deeper than 32")),
        (BTC_BASIS.encode("utf-8").replace(b"Long BTC", b"Long \xff BTC"),
         ("mine.yaml", "not UTF-8")),
        (BTC_BASIS + "é: 1\n", ("é", "unknown key")),
        (BTC_BASIS + '"line\\rbreak\\u2028here": 1\n', ("line break here", "unknown key")),
    ],
)  # fmt: skip
@pytest.mark.parametrize("command", ["validate", "backtest"])
def test_bad_mode_files_are_refused(cli, tmp_path, content, needles, command):
    path = tmp_path / "mine.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    if command == "validate":
        refused(cli("validate", path), *needles)
    else:
        refused(backtest(cli, tmp_path, str(path), "--quiet"), *needles)
    nothing_in(tmp_path / "out")


# --- output folders and files -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "env", "needles"),
    [
        (["backtest", "pure_lending", "--out", "FILE"], {}, ("--out", "not a folder")),
        (["backtest", "pure_lending", "--out", "FILE/under"], {}, ("--out", "is not a folder")),
        (["backtest", "pure_lending", "--out", "/dev/null"], {}, ("--out", "/dev/null")),
        (["backtest", "pure_lending", "--out", "/dev/null/x"], {}, ("/dev/null is not a folder",)),
        (["backtest", "pure_lending"], {"BASIS_RESULTS_DIR": "/dev/null"},
         ("BASIS_RESULTS_DIR", "/dev/null")),
        (["backtest", "pure_lending"], {"BASIS_RESULTS_DIR": "FILE"}, ("BASIS_RESULTS_DIR",)),
        (["compare", "RUN", "--out", "/dev/null"], {}, ("--out", "/dev/null")),
        (["compare", "RUN", "--out", "FILE/x"], {}, ("--out", "FILE is not a folder")),
        (["compare", "RUN"], {"BASIS_RESULTS_DIR": "FILE"}, ("BASIS_RESULTS_DIR", "FILE")),
        (["data", "synth", "--scenario", "base", "--start", "2024-06-01", "--end", "2024-06-03",
          "--out", "FILE"], {}, ("--out", "not a folder")),
        (["data", "synth", "--scenario", "base", "--start", "2024-06-01", "--end", "2024-06-03",
          "--out", "/dev/null"], {}, ("--out", "/dev/null")),
        (["data", "synth", "--scenario", "base", "--start", "2024-02-30", "--end", "2024-06-03",
          "--out", "new"], {}, ("start", "2024-02-30")),
        (["data", "synth", "--scenario", "base", "--start", "2024-06-01", "--end", "2024-06-03",
          "--seed", "-1", "--out", "new"], {}, ("--seed", "-1")),
        (["data", "check", "DATA", "--mode", "pure_lending", "--json", "/dev/null"], {},
         ("--json", "not a regular file")),
        (["data", "check", "DATA", "--mode", "pure_lending", "--json", "FILE/r.json"], {},
         ("--json", "no folder")),
        (["data", "check", "DATA", "--mode", "pure_lending", "--json", "."], {},
         ("--json", "not a regular file")),
        (["data", "check", "DATA", "--mode", "pure_lending", "--start", "2024-02-30"], {},
         ("start", "2024-02-30")),
        (["data", "download", "--start", "2024-06-01", "--end", "2024-06-02", "--out", "FILE"],
         {}, ("--out", "not a folder")),
        (["serve", "--results-dir", "/dev/null"], {}, ("--results-dir", "/dev/null")),
        (["report", "/dev/null"], {}, ("run_dir", "not a folder: /dev/null")),
        (["report", "FILE/run"], {}, ("run_dir", "FILE is not a folder")),
        (["serve"], {"BASIS_RESULTS_DIR": "FILE"}, ("BASIS_RESULTS_DIR", "FILE")),
    ],
)  # fmt: skip
def test_outputs_are_checked_before_any_work(cli, tmp_path, args, env, needles):
    (tmp_path / "FILE").write_text("keep me\n")
    names = {"RUN": str(tmp_path), "DATA": str(DATA_DIR)}
    args = [names.get(a, a) for a in args]
    if args[0] == "backtest":
        args += [*SHORT, "--data-dir", str(DATA_DIR)]
    refused(cli(*args, env=env), *needles)
    assert (tmp_path / "FILE").read_text() == "keep me\n"
    assert [p.name for p in tmp_path.iterdir()] == ["FILE"]  # nothing else was written


def test_the_cli_loads_no_venue_client_library_until_a_live_run_needs_it() -> None:
    """ccxt and web3 (about 1.3 s of imports) load only for a session on live feeds: the CLI
    (`basis --help`, a backtest) and a replayed paper session's runner never import them."""
    code = ("import sys, basis_strategy.cli, basis_strategy.live.runner; "
            "print(sorted({'ccxt', 'web3'} & set(sys.modules)))")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=True)  # fmt: skip
    assert done.stdout.strip() == "[]"


def test_the_command_line_is_parsed_without_the_heavy_libraries() -> None:
    """`basis --help` and parsing any command import no pandas, numpy, SQLAlchemy, plotly,
    pydantic, FastAPI or the engine: each command imports what it uses when it runs."""
    heavy = ["pandas", "numpy", "sqlalchemy", "plotly", "pydantic", "fastapi",
             "basis_strategy.engine", "basis_strategy.live.service"]  # fmt: skip
    code = ("import sys\nfrom basis_strategy.cli import _parser\n"
            "for argv in (['backtest', 'btc_basis'], ['live', 'status'], ['data', 'check', 'd'],"
            " ['serve'], ['modes']):\n    _parser().parse_args(argv)\n"
            f"print(sorted(set({heavy!r}) & set(sys.modules)))")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=True)  # fmt: skip
    assert done.stdout.strip() == "[]", done.stdout
