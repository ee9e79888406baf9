"""`basis data download`, chain part: AAVE v3 reserves, LST oracle rates and gas read through
web3.py from an archive node (BASIS_ETH_RPC_URL) at the block of each hour.

Files (seed layout and columns, see `chain_files`): the daily AAVE v3 reserve snapshots of
USDT, WETH and each LST (00:00 UTC); the LST/ETH oracle rate every hour (real reads:
AaveOracle(LST) / AaveOracle(WETH), not the seed's interpolation); hourly gas from
`eth_feeHistory`; and `blockchain_data/blocks/ethereum_hourly_blocks_*.csv`, the hour -> block
cache a resumed download reuses instead of searching again.

Every value stamped t is read at the last block stamped at or before t (no look-ahead). The
window [start, end] is inclusive, on whole UTC hours. Only the stamps the manifest does not
record as fetched are requested; rows reach the files as they arrive, so an interrupted run
keeps what it read. An hour where a reserve or an oracle source does not exist yet is recorded
as fetched with no row: the manifest's coverage shows where each file starts.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import requests
from tqdm import tqdm
from web3 import Web3

from basis_strategy.core.errors import ConfigError
from basis_strategy.data.download.chain_blocks import Block, BlockFinder
from basis_strategy.data.download.chain_files import (
    AAVE_ORACLE,
    BLOCKS_LAYOUT,
    GAS_LAYOUT,
    POOL,
    AaveReads,
    aave_layout,
    block_row,
    gas_row,
    oracle_layout,
)
from basis_strategy.data.download.chain_rpc import (
    MAINNET_CHAIN_ID,
    RPC_ENV,
    ChainRpc,
    connect,
    masked_logs,
    url_secrets,
)
from basis_strategy.data.download.files import TIME, CsvLayout, CsvSink
from basis_strategy.data.download.manifest import Manifest, Range, merge_ranges
from basis_strategy.data.download.retry import RetryPolicy

logger = logging.getLogger(__name__)
HOUR = pd.Timedelta(hours=1)
LSTS = ("weETH", "wstETH")
Row = dict[str, object] | None


@dataclass(frozen=True)
class Target:
    """One output file and how its row for a stamp is read at that stamp's block."""

    layout: CsvLayout
    source: str
    read: Callable[[pd.Timestamp, Block], Row]


def download_chain(
    out: Path,
    start: pd.Timestamp,
    end: pd.Timestamp,
    manifest: Manifest,
    *,
    w3: Web3 | None = None,
    rpc_url: str | None = None,
    lsts: Sequence[str] = LSTS,
    policy: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen, shared safely
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Fetch what the manifest lacks of [start, end] into `out`; one summary per file:
    `pattern`, `path` (relative to `out`, "" while empty), `rows`, `gaps` (runs of missing
    stamps inside the file) and `fetched` (the ranges fetched by this call, ISO pairs).

    Without `w3`, connects to `rpc_url` (the caller passes BASIS_ETH_RPC_URL; ConfigError
    when missing). The URL is never shown: it is masked in messages and log records."""
    start, end = _window(start, end)
    unknown = sorted(set(lsts) - set(LSTS))
    if unknown:
        raise ConfigError("lsts", f"not one of {list(LSTS)}: {unknown}")
    url = rpc_url or str(getattr(getattr(w3, "provider", None), "endpoint_uri", "") or "")
    secrets = url_secrets(url) if url else []
    with ExitStack() as stack:
        stack.enter_context(masked_logs(secrets))
        if w3 is None:
            w3 = connect(rpc_url, stack.enter_context(requests.Session()))
        rpc = ChainRpc(w3, policy, secrets)
        head = _finalized_head(rpc)
        run = _Run(Path(out), manifest, rpc, head, _targets(rpc, lsts), progress)
        try:
            run.run(start, end)
        finally:
            for key, ranges in run.fetched.items():
                logger.info("%s: fetched %s", key, [[_iso(a), _iso(b)] for a, b in ranges])
    return [_summary(manifest, key, run.fetched.get(key, [])) for key in _keys(lsts)]


def _window(start: pd.Timestamp, end: pd.Timestamp) -> tuple[pd.Timestamp, pd.Timestamp]:
    for field, value in (("start", start), ("end", end)):
        stamp = pd.Timestamp(value)
        if stamp.tzinfo is None:
            raise ConfigError(field, f"not a UTC timestamp (no time zone): {value}")
        if stamp != stamp.floor("h"):
            raise ConfigError(field, f"not a whole hour: {value}")
    first, last = pd.Timestamp(start).tz_convert("UTC"), pd.Timestamp(end).tz_convert("UTC")
    if last < first:
        raise ConfigError("end", f"{last} is before start {first}")
    return first, last


def _finalized_head(rpc: ChainRpc) -> Block:
    chain_id = rpc.call("eth_chainId", lambda: rpc.w3.eth.chain_id)
    if chain_id != MAINNET_CHAIN_ID:
        raise ConfigError(RPC_ENV, f"chain id {chain_id}, expected {MAINNET_CHAIN_ID} (mainnet)")
    data: Any = rpc.call(
        "eth_getBlockByNumber finalized", lambda: rpc.w3.eth.get_block("finalized")
    )
    head = Block(int(data["number"]), int(data["timestamp"]))
    rpc.head_number = head.number
    return head


def _targets(rpc: ChainRpc, lsts: Sequence[str]) -> list[Target]:
    aave = AaveReads(rpc)
    pool_source = f"web3: AAVE v3 Pool {POOL} + AaveOracle {AAVE_ORACLE}, daily at 00:00"

    def reserve(symbol: str) -> Target:
        def read(hour: pd.Timestamp, block: Block) -> Row:
            return aave.reserve_row(symbol, hour, block)

        return Target(aave_layout(symbol), pool_source, read)

    def oracle(lst: str) -> Target:
        def read(hour: pd.Timestamp, block: Block) -> Row:
            return aave.oracle_row(lst, hour, block)

        source = f"web3: AaveOracle {AAVE_ORACLE} {lst}/WETH, hourly"
        return Target(oracle_layout(lst), source, read)

    def gas(hour: pd.Timestamp, block: Block) -> Row:
        return gas_row(rpc, hour, block)

    return [
        *(reserve(s) for s in ("USDT", "WETH", *lsts)),
        *(oracle(lst) for lst in lsts),
        Target(GAS_LAYOUT, "web3: eth_feeHistory, hourly", gas),
    ]


def _keys(lsts: Sequence[str]) -> list[str]:
    layouts = [aave_layout(s) for s in ("USDT", "WETH", *lsts)]
    layouts += [oracle_layout(lst) for lst in lsts]
    return [layout.pattern for layout in (*layouts, GAS_LAYOUT, BLOCKS_LAYOUT)]


def _iso(ts: pd.Timestamp) -> str:
    return f"{ts:%Y-%m-%dT%H:%M:%SZ}"


def _summary(manifest: Manifest, key: str, fetched_now: list[Range]) -> dict[str, Any]:
    entry = manifest.files.get(key, {})
    return {
        "pattern": key,
        "path": entry.get("path", ""),
        "rows": entry.get("rows", 0),
        "first": entry.get("first"),
        "last": entry.get("last"),
        "gaps": entry.get("gaps", []),
        "fetched": [[_iso(a), _iso(b)] for a, b in merge_ranges(fetched_now)],
    }


# --- planning -----------------------------------------------------------------------------

Step = tuple[pd.Timestamp, Range]  # a stamp and the range its completion records as fetched


def _grid(a: pd.Timestamp, b: pd.Timestamp, step: pd.Timedelta) -> list[pd.Timestamp]:
    first = a.ceil(step)
    count = 0 if first > b else int((b - first) // step) + 1
    return [first + i * step for i in range(count)]


def plan(
    manifest: Manifest, layout: CsvLayout, start: pd.Timestamp, end: pd.Timestamp
) -> tuple[list[Step], list[Range]]:
    """The stamps of `layout` in [start, end] not yet fetched, each with the range it
    completes (consecutive ranges touch, so the manifest merges them; an interruption after a
    stamp records exactly the stamps done), and the missing ranges holding no stamp at all."""
    fetched = manifest.fetched(layout.pattern)
    steps: list[Step] = []
    empty: list[Range] = []
    for a, b in manifest.missing(layout.pattern, start, end):
        stamps = [
            s for s in _grid(a, b, layout.step) if not any(fa <= s <= fb for fa, fb in fetched)
        ]
        if not stamps:
            empty.append((a, b))
            continue
        lows, highs = [a, *stamps[:-1]], [*stamps[:-1], b]
        steps += list(zip(stamps, zip(lows, highs, strict=True), strict=True))
    return steps, empty


# --- the run ------------------------------------------------------------------------------


def _frame(layout: CsvLayout, rows: list[dict[str, object]]) -> pd.DataFrame:
    """Rows as the sink takes them (every value column as object: frames concatenate alike)."""
    columns = [c for c in layout.columns if c != layout.time_column]
    data: dict[str, Any] = {TIME: pd.DatetimeIndex([r[TIME] for r in rows], tz="UTC")}
    data |= {c: pd.Series([r[c] for r in rows], dtype=object) for c in columns}
    return pd.DataFrame(data)


def _block_cache(frame: pd.DataFrame) -> dict[pd.Timestamp, Block]:
    numbers = frame["block_number"].astype(int).tolist() if len(frame) else []
    stamps = frame["block_timestamp"].astype(int).tolist() if len(frame) else []
    return {
        pd.Timestamp(t): Block(n, s)
        for t, n, s in zip(frame[TIME].tolist(), numbers, stamps, strict=True)
    }


@contextmanager
def _bars(names: list[str], totals: list[int], show: bool) -> Iterator[list[tqdm[Any]]]:
    disable = not (show and sys.stderr.isatty())
    bars = [
        tqdm(total=n, desc=name, unit="row", position=i, leave=True, disable=disable)
        for i, (name, n) in enumerate(zip(names, totals, strict=True))
    ]
    try:
        yield bars
    finally:
        for bar in bars:
            bar.close()


class _Run:
    def __init__(
        self,
        out: Path,
        manifest: Manifest,
        rpc: ChainRpc,
        head: Block,
        targets: list[Target],
        progress: bool,
    ) -> None:
        self.out, self.manifest, self.rpc, self.head = out, manifest, rpc, head
        self.targets, self.progress = targets, progress
        self.fetched: dict[str, list[Range]] = {}  # per file key: the ranges this run recorded

    def _add(self, sink: CsvSink, rows: pd.DataFrame, fetched: Range) -> None:
        sink.add(rows, fetched)
        ranges = self.fetched.setdefault(sink.layout.pattern, [])
        ranges[:] = merge_ranges([*ranges, fetched])

    def run(self, start: pd.Timestamp, end: pd.Timestamp) -> None:
        with ExitStack() as stack:
            blocks = stack.enter_context(self._sink(BLOCKS_LAYOUT, "web3: eth_getBlockByNumber"))
            finder = BlockFinder(self.rpc, self.head, _block_cache(blocks.frame))
            schedule: dict[pd.Timestamp, list[tuple[int, Range]]] = {}
            sinks, totals = [], []
            for i, target in enumerate(self.targets):
                sink = stack.enter_context(self._sink(target.layout, target.source))
                steps, empty = plan(self.manifest, target.layout, start, end)
                for rng in empty:
                    self._add(sink, _frame(target.layout, []), rng)
                for stamp, rng in steps:
                    schedule.setdefault(stamp, []).append((i, rng))
                sinks.append(sink)
                totals.append(len(steps))
            names = [t.layout.stem for t in self.targets]
            bars = stack.enter_context(_bars(names, totals, self.progress))
            for stamp in sorted(schedule):
                if not finder.final(stamp):
                    logger.warning(
                        "%s: not final yet (finalized head %s): stopped", stamp, self.head
                    )
                    break
                block = self._block(finder, blocks, stamp)
                for i, rng in schedule[stamp]:
                    row = self.targets[i].read(stamp, block)
                    self._add(sinks[i], _frame(self.targets[i].layout, [row] if row else []), rng)
                    bars[i].update(1)

    def _sink(self, layout: CsvLayout, source: str) -> CsvSink:
        return CsvSink(self.out, layout, self.manifest, source)

    def _block(self, finder: BlockFinder, blocks: CsvSink, stamp: pd.Timestamp) -> Block:
        """The stamp's block; a newly searched one joins the cache file (its fetched range
        touches the previous hour's when that one is known, so hourly runs merge)."""
        block = finder.at(stamp)
        if stamp in finder.found:
            previous = stamp - HOUR
            known = previous in finder.found or previous in finder.cache
            self._add(
                blocks,
                _frame(BLOCKS_LAYOUT, [block_row(stamp, block)]),
                (previous if known else stamp, stamp),
            )
        return block
