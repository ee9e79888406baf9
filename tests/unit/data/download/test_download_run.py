"""`download` (data/download/run.py): both parts into one folder and one manifest, resumed with
no request repeated; the chain part refused before anything is fetched when no RPC is set."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from basis_strategy.core.errors import ConfigError
from basis_strategy.data.download.cex_layouts import VENUES
from basis_strategy.data.download.manifest import Manifest
from basis_strategy.data.download.retry import RetryPolicy
from basis_strategy.data.download.run import download
from basis_strategy.data.requirements import GAS, aave_rates_pattern
from basis_strategy.data.run_reads import data_origin
from basis_strategy.data.sources import read_aave_daily, read_gas_price, read_ohlcv_open

try:  # a package when tests/unit/data/download has an __init__.py, plain modules otherwise
    from .ccxt_replay import recorded, replaying
    from .rpc_node import Node, make_chain, serve
except ImportError:
    from ccxt_replay import recorded, replaying
    from rpc_node import Node, make_chain, serve

START = pd.Timestamp("2024-10-01 00:00", tz="UTC")
LAST = pd.Timestamp("2024-10-01 03:00", tz="UTC")  # included: the recordings hold 4 bars


def test_both_parts_fill_one_folder_and_a_rerun_requests_nothing(tmp_path: Path) -> None:
    node = Node(make_chain(START, 6))
    exchanges, sessions = {}, []
    for venue in VENUES:
        exchange, session = replaying(
            venue, recorded(f"{venue}_markets") + recorded(f"full_{venue}")
        )
        exchanges[venue], _ = exchange, sessions.append(session)
    with serve(node) as url:
        kwargs = {
            "assets": ["ETH"],
            "venues": list(VENUES),
            "env": {"BASIS_ETH_RPC_URL": f"{url}/v2/key"},
            "exchanges": exchanges,
            "chain_policy": RetryPolicy(sleep=lambda _: None),
            "progress": False,
        }
        first = download(tmp_path, START, LAST, **kwargs)  # type: ignore[arg-type]
        for session in sessions:
            session.assert_done()
        calls = len(node.calls("eth_call"))
        again = download(tmp_path, START, LAST, **kwargs)  # type: ignore[arg-type]
    # the replay sessions hold nothing more: any CEX request would have failed the rerun
    assert len(node.calls("eth_call")) == calls
    assert [r["pattern"] for r in again] == [r["pattern"] for r in first]
    assert all(r["fetched"] == [] for r in again)

    files = Manifest(tmp_path).files
    assert {aave_rates_pattern("WETH"), GAS} <= set(files)
    perp = (
        tmp_path
        / files["market_data/derivatives/futures_ohlcv/binance_ETHUSDT_perp_1h_*.csv"]["path"]
    )
    assert list(read_ohlcv_open(perp).index) == list(pd.date_range(START, LAST, freq="h"))
    assert len(read_gas_price(tmp_path / files[GAS]["path"])) == 4
    assert len(read_aave_daily(tmp_path / files[aave_rates_pattern("WETH")]["path"])) == 1
    assert data_origin(tmp_path) == {"synthetic": False}


def test_the_chain_part_without_an_rpc_url_is_refused_before_anything_is_written(
    tmp_path: Path,
) -> None:
    out = tmp_path / "data"
    with pytest.raises(ConfigError, match=r"BASIS_ETH_RPC_URL.*--only cex"):
        download(out, START, LAST, assets=["ETH"], venues=["binance"], env={})
    with pytest.raises(ConfigError, match="venues"):
        download(out, START, LAST, assets=["ETH"], venues=["kraken"], parts=["cex"], env={})
    with pytest.raises(ConfigError, match="only"):
        download(out, START, LAST, assets=["ETH"], venues=["okx"], parts=["dex"], env={})
    assert not out.exists()
