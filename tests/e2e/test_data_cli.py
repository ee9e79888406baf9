"""`basis data load` and `basis data download` in a subprocess: exit codes, messages, and a
backtest on the database source (`BASIS_DATA_MODE=db`) equal to the same run on the folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SYNTH = ["--scenario", "base", "--seed", "3", "--start", "2024-06-01", "--end", "2024-06-20"]
WINDOW = ["--start", "2024-06-02", "--end", "2024-06-15", "--quiet"]


def basis(*args: str | Path, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`python -m basis_strategy.cli ARGS` with no BASIS_* variables but `env`."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BASIS_")}
    return subprocess.run(
        [sys.executable, "-m", "basis_strategy.cli", *map(str, args)],
        cwd=cwd,
        env=clean | env | {"COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def summary_of(result: subprocess.CompletedProcess[str], cwd: Path) -> dict[str, object]:
    assert result.returncode == 0, result.stderr
    run_dir = cwd / result.stdout.strip().splitlines()[-1]
    summary: dict[str, object] = json.loads((run_dir / "summary.json").read_text())
    summary.pop("request_id")
    return summary


def test_load_then_backtest_on_the_database_equals_the_folder(tmp_path: Path) -> None:
    folder = tmp_path / "synth"
    assert basis("data", "synth", *SYNTH, "--out", folder, cwd=tmp_path).returncode == 0
    url = f"sqlite:///{tmp_path / 'data.sqlite'}"
    loaded = basis("data", "load", folder, "--db", url, cwd=tmp_path)
    assert loaded.returncode == 0, loaded.stderr
    assert "loaded" in loaded.stdout and "BASIS_DATA_MODE=db" in loaded.stdout

    on_csv = basis("backtest", "eth_basis", *WINDOW, "--data-dir", folder, cwd=tmp_path)
    on_db = basis(
        "backtest",
        "eth_basis",
        *WINDOW,
        cwd=tmp_path,
        BASIS_DATA_MODE="db",
        BASIS_DATABASE_URL=url,
    )
    assert summary_of(on_db, tmp_path) == summary_of(on_csv, tmp_path)
    assert "no data folder" not in on_db.stderr  # db mode is not the synthetic fallback
    assert "SYNTHETIC DATA" in on_db.stderr  # but the loaded folder was synthetic


def test_db_mode_needs_its_database_and_refuses_a_folder_too(tmp_path: Path) -> None:
    no_url = basis("backtest", "pure_lending", *WINDOW, cwd=tmp_path, BASIS_DATA_MODE="db")
    assert no_url.returncode == 2 and "BASIS_DATABASE_URL" in no_url.stderr
    both = basis(
        "backtest",
        "pure_lending",
        *WINDOW,
        "--data-dir",
        tmp_path,
        cwd=tmp_path,
        BASIS_DATA_MODE="db",
        BASIS_DATABASE_URL=f"sqlite:///{tmp_path / 'x.sqlite'}",
    )
    assert both.returncode == 2 and "BASIS_DATA_MODE" in both.stderr
    never = basis(
        "backtest",
        "pure_lending",
        *WINDOW,
        cwd=tmp_path,
        BASIS_DATA_MODE="db",
        BASIS_DATABASE_URL=f"sqlite:///{tmp_path / 'never.sqlite'}",
    )
    assert never.returncode == 2 and "no data set loaded" in never.stderr
    bad = basis("backtest", "pure_lending", *WINDOW, cwd=tmp_path, BASIS_DATA_MODE="parquet")
    assert bad.returncode == 2 and "BASIS_DATA_MODE" in bad.stderr and "parquet" in bad.stderr


def test_download_refuses_the_chain_part_without_an_rpc_and_bad_names(tmp_path: Path) -> None:
    window = ["--start", "2024-06-01", "--end", "2024-06-02", "--out", tmp_path / "d"]
    chain = basis("data", "download", *window, cwd=tmp_path)
    assert chain.returncode == 2
    assert "BASIS_ETH_RPC_URL" in chain.stderr and "--only cex" in chain.stderr
    venue = basis("data", "download", *window, "--only", "cex", "--venues", "kraken", cwd=tmp_path)
    assert venue.returncode == 2 and "venues" in venue.stderr and "kraken" in venue.stderr
    assert not (tmp_path / "d").exists()
