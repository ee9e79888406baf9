"""A backtest run with every secret variable set writes no secret: not on stdout or stderr,
not in a log record, not in any file of its results folder (issue 13, item 7). In-process
`basis backtest` (`main(argv)`), a short btc_basis run; a `--set` of an unknown key is refused
without quoting any secret."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from urllib.parse import quote

import pytest

from basis_strategy.cli import main
from basis_strategy.core.secrets import SECRET_ENV

DATA_DIR = Path(os.environ.get("BASIS_DATA_DIR") or Path(__file__).parents[4] / "shared/data")
SECRET_VALUES = {name: f"Run-Secret/{index}+{name[-6:]}=x" for index, name in enumerate(SECRET_ENV)}
SECRET_VALUES["BASIS_ETH_RPC_URL"] = "https://eth.example/v2/Run-Secret-rpc-key"
SECRET_VALUES.pop("BASIS_DATABASE_URL")  # would send the run to a database


def run_with_secrets(
    args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    for name in [n for n in os.environ if n.startswith("BASIS_")]:
        monkeypatch.delenv(name)
    for name, value in SECRET_VALUES.items():
        monkeypatch.setenv(name, value)
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def assert_no_secret(text: str, where: str) -> None:
    for name, secret in SECRET_VALUES.items():
        for spelling in (secret, quote(secret, safe="")):
            assert spelling not in text, f"{name} in {where}"


def test_a_run_writes_and_prints_no_secret(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    out = tmp_path / "out"
    args = ["backtest", "btc_basis", "--start", "2024-06-01", "--end", "2024-06-04"]
    code, printed = run_with_secrets(
        [*args, "--data-dir", str(DATA_DIR), "--out", str(out)], monkeypatch, capsys
    )
    assert code == 0, printed
    files = [path for path in out.rglob("*") if path.is_file()]
    assert any(path.name == "summary.json" for path in files)
    assert_no_secret(printed, "stdout/stderr")
    assert_no_secret("\n".join(r.getMessage() for r in caplog.records), "the log")
    for path in files:
        assert_no_secret(path.read_bytes().decode("utf-8", "replace"), str(path))


def test_a_refused_run_quotes_no_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["backtest", "btc_basis", "--set", "no_such_key=1", "--out", str(tmp_path / "o")]
    code, printed = run_with_secrets(args, monkeypatch, capsys)
    assert code == 2 and "no_such_key" in printed
    assert_no_secret(printed, "the refusal")
