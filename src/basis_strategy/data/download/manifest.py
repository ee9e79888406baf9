"""`manifest.json` of a downloaded data folder: per file, its source, when it was fetched, the
ranges already fetched (what a resumed download skips), its coverage and the holes inside it."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from basis_strategy.core.errors import ConfigError, DataError

MANIFEST = "manifest.json"
Range = tuple[pd.Timestamp, pd.Timestamp]

# Inputs no public API serves: the user places them by hand (domain 15, the data README).
MANUAL_INPUTS: dict[str, str] = {
    "manual_sources/etherfi_distributions/eigen_distributions_raw.csv": (
        "EIGEN restaking rewards per staking period, from ether.fi's published distribution "
        "reports. Columns: staking_period_start, staking_period_end (dates, inclusive), "
        "eigen_earned (EIGEN), eth_restaked, eth_not_restaked (ETH), eigen_per_eeth_weekly."
    ),
    "manual_sources/etherfi_distributions/ethfi_topups_raw.csv": (
        "ETHFI top-ups, from ether.fi's announcements. Columns: top_up_date, "
        "staking_period_start, staking_period_end, ethfi_amount (ETHFI), "
        "ethfi_per_eeth_distributed (ETHFI per eETH)."
    ),
    "manual_sources/etherfi_distributions/seasonal_drops.csv": (
        "ether.fi seasonal airdrops. Columns: start_date, end_date, payout_date, event, "
        "reward_token, reward_per_eeth (an exact value or a range such as ~5-15), "
        "extra_yield_pct, source_url, notes."
    ),
    "manual_sources/etherfi_distributions/bar-chart-supply-apy-2025-09-29-eeth.csv": (
        "eETH supply APY export (DefiLlama chart). Columns: Timestamp (unix s, 00:00 UTC), "
        "Date, Base (APY %), Reward (APY %)."
    ),
    "manual_sources/benchmark_data/ethena_susde_historical_*.csv": (
        "Ethena sUSDe daily APY export. Columns: Timestamp (unix s, 00:00 UTC), Date, "
        "Base (APY %), Reward (APY %)."
    ),
    "manual_sources/aave_params/aave_current_v3_prams_etherum_mainnet.csv": (
        "AAVE v3 reserve parameters table (app export; UTF-8 with BOM): first column the "
        "parameter, one column per asset (LTV %, Liquidation Threshold %, ...)."
    ),
    "market_data/derivatives/risk_params/{venue}_margin_requirements.json": (
        "Venue margin tiers, transcribed from each exchange's published margin rules."
    ),
}


def _iso(ts: pd.Timestamp) -> str:
    return pd.Timestamp(ts).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def _ts(text: str, where: str) -> pd.Timestamp:
    try:
        return pd.Timestamp(text).tz_convert("UTC")
    except (ValueError, TypeError) as exc:
        raise DataError(f"{MANIFEST}: {where}: not a UTC timestamp: {text!r}") from exc


def merge_ranges(ranges: list[Range]) -> list[Range]:
    """Sorted, with overlapping or touching ranges joined."""
    merged: list[Range] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def complement(fetched: list[Range], start: pd.Timestamp, end: pd.Timestamp) -> list[Range]:
    """The parts of [start, end] that no fetched range covers."""
    missing: list[Range] = []
    cursor = start
    for a, b in merge_ranges(fetched):
        if b < cursor or a > end:
            continue
        if a > cursor:
            missing.append((cursor, min(a, end)))
        cursor = max(cursor, b)
    if cursor < end:
        missing.append((cursor, end))
    return missing


class Manifest:
    """The folder's manifest, loaded (or new) and saved atomically after every update."""

    def __init__(self, out: Path) -> None:
        self.path = Path(out) / MANIFEST
        self.content: dict[str, Any] = {"synthetic": False, "source": "basis data download"}
        self.content["files"] = {}
        if self.path.is_file():
            self.content = self._read()
        self.content["manual_inputs"] = MANUAL_INPUTS

    def _read(self) -> dict[str, Any]:
        try:
            content = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DataError(f"{self.path}: not a readable JSON manifest ({exc})") from None
        if not isinstance(content, dict) or not isinstance(content.get("files"), dict):
            raise DataError(f"{self.path}: not a download manifest (no 'files' object)")
        if content.get("synthetic"):
            raise ConfigError("out", f"{self.path.parent} is a synthetic data folder")
        return content

    @property
    def files(self) -> dict[str, dict[str, Any]]:
        files: dict[str, dict[str, Any]] = self.content["files"]
        return files

    def fetched(self, key: str) -> list[Range]:
        """The ranges of file `key` (a stable id, e.g. its glob) already fetched."""
        entry = self.files.get(key, {})
        return [
            (_ts(a, f"{key}.fetched"), _ts(b, f"{key}.fetched"))
            for a, b in entry.get("fetched", [])
        ]

    def missing(self, key: str, start: pd.Timestamp, end: pd.Timestamp) -> list[Range]:
        return complement(self.fetched(key), start, end)

    def record(
        self, key: str, *, path: str, source: str, fetched: list[Range], coverage: dict[str, Any]
    ) -> None:
        """Record file `key`: its current path, source, fetched ranges and coverage
        (`first`, `last`, `rows`, `gaps`), stamped now, then save."""
        self.files[key] = {
            "path": path,
            "source": source,
            "fetched_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "fetched": [[_iso(a), _iso(b)] for a, b in merge_ranges(fetched)],
            **coverage,
        }
        self.save()

    def save(self) -> None:
        self.content["updated_at"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".json.partial")
        tmp.write_text(json.dumps(self.content, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)
