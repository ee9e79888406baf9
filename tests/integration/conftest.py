"""Session fixtures for the acceptance tests: each backtest runs once and its folder is shared.

The data folder is `$BASIS_DATA_DIR` if set, else `../shared/data` next to the repository.
Runs use `env={}` so that the machine's `BASIS_*` variables cannot change the configuration.
Output files are read with plain pandas; nothing here uses the engine's own readers.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from basis_strategy.services.backtest import run_backtest

DATA_DIR = Path(
    os.environ.get("BASIS_DATA_DIR")
    or Path(__file__).resolve().parents[2].parent / "shared" / "data"
)
T_CUT = pd.Timestamp("2024-07-15T13:00:00Z")
LOOKAHEAD_START = "start=2024-05-01T00:00:00Z"
LOOKAHEAD_END_CUT = "end=2024-07-15T13:00:00Z"
LOOKAHEAD_END_FULL = "end=2024-09-30T00:00:00Z"
FLOWS = (
    "flows=[{at: 2024-06-01T00:00:00Z, amount: 50000}, {at: 2024-07-15T00:00:00Z, amount: -30000}]"
)
# Margin bands with the warning just above critical: a venue usually jumps from above the
# warning to at or below critical within one hour, so the critical override really runs.
STRESSED_BANDS = "hedge.margin_ratio_warning=0.205"


@dataclass
class Run:
    """One finished backtest: its folder, summary and output tables (read lazily, once)."""

    path: Path
    summary: dict[str, Any]
    sets: list[str] = field(default_factory=list)

    @cached_property
    def hourly(self) -> pd.DataFrame:
        frame = pd.read_csv(self.path / "hourly_pnl.csv", index_col="timestamp")
        frame.index = pd.to_datetime(frame.index, utc=True)
        return frame

    @cached_property
    def balance(self) -> pd.DataFrame:
        frame = pd.read_csv(self.path / "balance_sheet.csv", index_col="timestamp")
        frame.index = pd.to_datetime(frame.index, utc=True)
        return frame

    @cached_property
    def events(self) -> pd.DataFrame:
        frame = pd.read_csv(
            self.path / "event_log.csv",
            dtype={
                "venue": str,
                "instrument": str,
                "pnl_component": str,
                "note": str,
                "marks": str,
            },
            keep_default_na=False,
            na_values={
                c: [""] for c in ("amount", "price", "pnl_amount", "after_qty", "after_entry")
            },
            low_memory=False,
        )
        frame["time"] = pd.to_datetime(frame["timestamp"], utc=True)
        return frame

    @cached_property
    def marks(self) -> pd.Series:
        """Hour -> marks dict of that hour's EquityMarked event."""
        marked = self.events[self.events["event_type"] == "EquityMarked"]
        return pd.Series([json.loads(m) for m in marked["marks"]], index=marked["time"].to_numpy())

    def text(self, name: str) -> str:
        return (self.path / name).read_text(encoding="utf-8")


def _run(
    factory: pytest.TempPathFactory, label: str, mode: str, sets: list[str], data: Path = DATA_DIR
) -> Run:
    out = factory.mktemp(label)
    outcome = run_backtest(mode, sets=sets, data_dir=data, out_dir=out, env={})
    return Run(outcome.path, outcome.summary, sets)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    assert (DATA_DIR / "README.md").is_file(), (
        f"data folder not found: {DATA_DIR} (set BASIS_DATA_DIR)"
    )
    return DATA_DIR


# --- runs on the real data ------------------------------------------------------------------


@pytest.fixture(scope="session")
def pure_lending_2024(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Run:
    sets = ["start=2024-01-01", "end=2024-12-31", "costs.gas=false"]
    return _run(tmp_path_factory, "pure_lending_2024", "pure_lending", sets)


@pytest.fixture(scope="session")
def pure_lending_full(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Run:
    return _run(tmp_path_factory, "pure_lending_full", "pure_lending", [])


@pytest.fixture(scope="session")
def btc_basis_full(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Run:
    return _run(tmp_path_factory, "btc_basis_full", "btc_basis", [])


@pytest.fixture(scope="session")
def eth_basis_full(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Run:
    return _run(tmp_path_factory, "eth_basis_full", "eth_basis", [])


@pytest.fixture(scope="session")
def btc_basis_stressed(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Run:
    return _run(tmp_path_factory, "btc_basis_stressed", "btc_basis", [STRESSED_BANDS])


@pytest.fixture(scope="session")
def eth_basis_stressed(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Run:
    return _run(tmp_path_factory, "eth_basis_stressed", "eth_basis", [STRESSED_BANDS])


@pytest.fixture(scope="session")
def eth_basis_flows(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Run:
    sets = ["end=2024-09-01T00:00:00Z", FLOWS]
    return _run(tmp_path_factory, "eth_basis_flows", "eth_basis", sets)


# --- no look-ahead: a copy of the data cut after T_CUT ---------------------------------------

TIME_COLUMNS = ("funding_timestamp", "funding_time", "targetDate", "timestamp", "Timestamp", "date")


def parse_times(cells: list[str]) -> pd.DatetimeIndex:
    """UTC times from text cells: unix seconds, ISO with Z / +00:00 / malformed +00:00Z, naive."""
    text = pd.Series(cells, dtype=str).str.strip()
    if text.str.fullmatch(r"\d+(\.\d*)?").all():
        return pd.DatetimeIndex(pd.to_datetime(text.astype(float), unit="s", utc=True))
    text = text.str.replace(r"(?<=[+-]\d\d:\d\d)Z$", "", regex=True)
    return pd.DatetimeIndex(pd.to_datetime(text, utc=True, format="ISO8601"))


def truncate_csv(path: Path, cut: pd.Timestamp) -> str | None:
    """Drop the data lines of `path` stamped after `cut`, keeping every other byte as it was.

    Leading `#` comment lines and the header are kept. Returns the time column used, or None
    when the file has no recognised time column (it is left untouched).
    """
    raw = path.read_bytes().decode("utf-8")
    lines = raw.splitlines(keepends=True)
    head = 0
    while head < len(lines) and lines[head].startswith("#"):
        head += 1
    header = next(csv.reader([lines[head].lstrip("\ufeff")]))
    column = next((c for c in TIME_COLUMNS if c in header), None)
    if column is None:
        return None
    position = header.index(column)
    body = [line for line in lines[head + 1 :] if line.strip()]
    assert len(body) == len(lines) - head - 1, f"{path}: blank lines inside the data"
    cells = [row[position] for row in csv.reader(io.StringIO("".join(body)))]
    assert len(cells) == len(body), f"{path}: a CSV record spans several lines"
    if not body:
        return column
    keep = parse_times(cells) <= cut
    kept = [line for line, ok in zip(body, keep, strict=True) if ok]
    path.write_bytes("".join(lines[: head + 1] + kept).encode("utf-8"))
    return column


@dataclass(frozen=True)
class TruncatedData:
    path: Path
    cut: pd.Timestamp
    time_columns: dict[str, str]  # relative path -> time column used
    untouched: list[str]  # CSV files without a time column

    @staticmethod
    def parse_times(cells: list[str]) -> pd.DatetimeIndex:
        return parse_times(cells)


@pytest.fixture(scope="session")
def truncated_data(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> TruncatedData:
    target = tmp_path_factory.mktemp("truncated") / "data"
    shutil.copytree(data_dir, target)
    used: dict[str, str] = {}
    untouched: list[str] = []
    for path in sorted(target.rglob("*.csv")):
        column = truncate_csv(path, T_CUT)
        relative = str(path.relative_to(target))
        if column is None:
            untouched.append(relative)
        else:
            used[relative] = column
    return TruncatedData(target, T_CUT, used, untouched)


# eth_basis hedged on binance + bybit only: it does not read the OKX ETH perp file, whose first
# row (2024-08-01) is after the cut, so the cut copy leaves that file with a header only.
TWO_VENUES = ["hedge.venues=[binance, bybit]", "hedge.allocation={binance: 0.5, bybit: 0.5}"]


@dataclass(frozen=True)
class LookaheadPair:
    mode: str
    sets: list[str]
    cut: Run
    full: Run


def _pair(
    factory: pytest.TempPathFactory,
    truncated: TruncatedData,
    mode: str,
    sets: list[str],
    label: str,
) -> LookaheadPair:
    cut = _run(
        factory, f"{label}_cut", mode, [LOOKAHEAD_START, LOOKAHEAD_END_CUT, *sets], truncated.path
    )
    full = _run(factory, f"{label}_full", mode, [LOOKAHEAD_START, LOOKAHEAD_END_FULL, *sets])
    return LookaheadPair(mode, sets, cut, full)


@pytest.fixture(scope="session")
def eth_lookahead(
    tmp_path_factory: pytest.TempPathFactory, truncated_data: TruncatedData
) -> LookaheadPair:
    return _pair(tmp_path_factory, truncated_data, "eth_basis", [], "eth")


@pytest.fixture(scope="session")
def eth_two_venue_lookahead(
    tmp_path_factory: pytest.TempPathFactory, truncated_data: TruncatedData
) -> LookaheadPair:
    return _pair(tmp_path_factory, truncated_data, "eth_basis", TWO_VENUES, "eth_two_venues")


@pytest.fixture(scope="session")
def btc_lookahead(
    tmp_path_factory: pytest.TempPathFactory, truncated_data: TruncatedData
) -> LookaheadPair:
    return _pair(tmp_path_factory, truncated_data, "btc_basis", [], "btc")


# --- the DeFi modes (issue 3) ----------------------------------------------------------------

DEFI_MODES = (
    "eth_staking_only",
    "eth_leveraged",
    "usdt_market_neutral_no_leverage",
    "usdt_market_neutral",
)
HEDGED_MODES = DEFI_MODES[2:]
# Every (LST, rewards_mode) the data allows: wstETH pays base rewards only (domain 4.4).
LST_REWARDS = (
    ("weETH", "base_only"),
    ("weETH", "base_eigen"),
    ("weETH", "base_eigen_seasonal"),
    ("wstETH", "base_only"),
)
DEFI_WINDOW = ["start=2024-05-12T01:00:00Z", "end=2025-09-18T00:00:00Z"]
# OKX realised funding ends 2025-09-07 16:00: over the full LST window the hedged modes short
# on Binance and Bybit (the data README's coverage table, row "Binance + Bybit only").
FULL_WINDOW_HEDGE = ["hedge.venues=[binance, bybit]", "hedge.allocation={binance: 0.5, bybit: 0.5}"]


def defi_sets(mode: str, lst: str, rewards: str, *extra: str) -> list[str]:
    sets = [*DEFI_WINDOW, f"staking.lst_type={lst}", f"staking.rewards_mode={rewards}"]
    if mode in HEDGED_MODES:
        sets += FULL_WINDOW_HEDGE
    return [*sets, *extra]


class RunCache:
    """Runs on demand, each once per session, keyed by mode and settings."""

    def __init__(self, factory: pytest.TempPathFactory) -> None:
        self.factory = factory
        self.runs: dict[tuple[str, tuple[str, ...]], Run] = {}

    def get(self, mode: str, sets: list[str], data: Path = DATA_DIR) -> Run:
        key = (mode, tuple(sets))
        if key not in self.runs:
            label = f"{mode}_{len(self.runs)}"
            self.runs[key] = _run(self.factory, label, mode, list(sets), data)
        return self.runs[key]


@pytest.fixture(scope="session")
def runs(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> RunCache:
    return RunCache(tmp_path_factory)
