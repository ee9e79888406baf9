"""`basis data download`: the CEX part (ccxt) and the chain part (web3.py) into one folder
with one manifest. The window is [start, end] in whole UTC hours, `end` included, as for a
backtest (`--end 2025-09-07T16:00` fetches the 16:00 bar)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import ccxt
import pandas as pd
from web3 import Web3

from basis_strategy.core.errors import ConfigError
from basis_strategy.data.download.cex import download_cex, series_names
from basis_strategy.data.download.cex_layouts import ASSETS, VENUES
from basis_strategy.data.download.chain import download_chain
from basis_strategy.data.download.chain_rpc import RPC_ENV
from basis_strategy.data.download.manifest import Manifest
from basis_strategy.data.download.retry import RetryPolicy

PARTS = ("cex", "chain")
HOUR = pd.Timedelta(hours=1)
# An archive RPC has no client-side limiter (ccxt has its own): at most 20 calls a second.
RPC_POLICY = RetryPolicy(min_interval_seconds=0.05)


def download(
    out: Path,
    start: pd.Timestamp,
    end: pd.Timestamp,
    *,
    assets: Sequence[str],
    venues: Sequence[str],
    parts: Sequence[str] = PARTS,
    env: Mapping[str, str],
    exchanges: Mapping[str, ccxt.Exchange] | None = None,
    w3: Web3 | None = None,
    chain_policy: RetryPolicy = RPC_POLICY,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Fetch what `out/manifest.json` lacks of [start, end]; one summary per file (see
    `download_cex` and `download_chain`). The chain part needs `BASIS_ETH_RPC_URL` (an archive
    node); it is checked before anything is fetched."""
    unknown = sorted(set(parts) - set(PARTS))
    if unknown or not parts:
        raise ConfigError("only", f"must be among {list(PARTS)}, was {list(parts)}")
    assets = series_names(assets, ASSETS, "assets", upper=True)
    venues = series_names(venues, VENUES, "venues", upper=False)
    if end < start:
        raise ConfigError("end", f"{end} is before start {start}")
    rpc_url = env.get(RPC_ENV)
    if "chain" in parts and w3 is None and not rpc_url:
        raise ConfigError(
            RPC_ENV,
            "not set: the chain part (AAVE, LST oracle rates, gas) reads an archive Ethereum "
            "node; set it, or pass --only cex",
        )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    manifest = Manifest(out)
    results: list[dict[str, Any]] = []
    if "cex" in parts:  # ccxt windows are half-open: [start, end + 1 h)
        results += download_cex(
            out,
            start,
            end + HOUR,
            assets,
            venues,
            manifest,
            exchanges=exchanges,
            progress=progress,
        )
    if "chain" in parts:
        results += download_chain(
            out,
            start,
            end,
            manifest,
            w3=w3,
            rpc_url=rpc_url,
            policy=chain_policy,
            progress=progress,
        )
    return results
