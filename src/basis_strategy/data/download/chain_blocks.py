"""The block each hour is read at: the last block stamped at or before the hour (no look-ahead:
the value stamped t was known at t), found with few calls and cached in the data folder.

Since the merge every block sits in a 12 s slot (timestamp = genesis + 12 × slot; a missed slot
has no block), so from a block `lo` stamped at or before t, `lo + (t − ts(lo)) // 12` bounds the
answer from above, and from a block `hi` stamped after t, `hi − ⌈(ts(hi) − t) / 12⌉` bounds it
from below. Walking hour by hour from the previous hour's block, the first probe is usually the
answer or its successor: one or two `eth_getBlockByNumber` calls per hour. Before the merge
(irregular block times) the same search falls back to interpolation between the two brackets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from basis_strategy.core.errors import ConfigError, DataError
from basis_strategy.data.download.chain_rpc import ChainRpc

SLOT_SECONDS = 12
MERGE_TIMESTAMP = 1663224179  # block 15537394, the first proof-of-stake block
PRE_MERGE_BLOCK_SECONDS = 13  # a guess only; the search converges from any guess
MAX_PROBES = 64
BISECT_AFTER = 8


@dataclass(frozen=True)
class Block:
    number: int
    timestamp: int  # unix seconds


def unix(hour: pd.Timestamp) -> int:
    return int(hour.timestamp())


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def answer_bounds(t: int, lo: Block | None, hi: Block) -> tuple[int, int]:
    """The range the last block stamped <= t lies in, given `lo` (stamped <= t) and `hi`
    (stamped > t); narrowed by the slot rule where it holds."""
    low = lo.number if lo is not None else 0
    high = hi.number - 1
    if lo is not None and lo.timestamp >= MERGE_TIMESTAMP:
        high = min(high, lo.number + (t - lo.timestamp) // SLOT_SECONDS)
    if t >= MERGE_TIMESTAMP:
        low = max(low, hi.number - _ceil_div(hi.timestamp - t, SLOT_SECONDS))
    return low, high


def next_probe(t: int, lo: Block | None, hi: Block, attempt: int = 0) -> int:
    """The block to read next, strictly between the known brackets.

    Post-merge: the bound derived from the nearer bracket (it counts fewer possibly missed
    slots): from `lo`, the upper bound (the answer when no slot was missed since `lo`); from
    `hi`, the lower bound (a block certain to be stamped <= t). Before the merge:
    interpolation between the brackets, bisection after `BISECT_AFTER` probes.
    """
    low, high = answer_bounds(t, lo, hi)
    first_unknown = lo.number + 1 if lo is not None else 0
    if attempt >= BISECT_AFTER:
        guess = (first_unknown + hi.number - 1) // 2
    elif t >= MERGE_TIMESTAMP and (lo is None or lo.timestamp >= MERGE_TIMESTAMP):
        nearer_lo = lo is not None and t - lo.timestamp <= hi.timestamp - t
        guess = high if nearer_lo else low
    elif lo is None:
        guess = hi.number - _ceil_div(hi.timestamp - t, PRE_MERGE_BLOCK_SECONDS)
    else:
        span = hi.number - lo.number
        guess = lo.number + (t - lo.timestamp) * span // (hi.timestamp - lo.timestamp)
    return min(max(guess, first_unknown), hi.number - 1)


def is_answer(t: int, lo: Block | None, hi: Block) -> bool:
    """Whether `lo` is proven the last block stamped <= t."""
    if lo is None:
        return False
    return lo.timestamp == t or answer_bounds(t, lo, hi)[1] == lo.number


def _utc(t: int) -> pd.Timestamp:
    return pd.Timestamp(t, unit="s", tz="UTC")


def search(t: int, lo: Block | None, hi: Block, read: Callable[[int], Block]) -> Block:
    """The last block stamped <= t, between `lo` (stamped <= t, or None) and `hi` (stamped
    > t), reading blocks with `read(number)`."""
    for attempt in range(MAX_PROBES):
        if is_answer(t, lo, hi):
            assert lo is not None
            return lo
        if hi.number == 0:
            raise ConfigError("start", f"{_utc(t)}: before the first block")
        probe = read(next_probe(t, lo, hi, attempt))
        if probe.timestamp <= t:
            lo = probe
        else:
            hi = probe
    raise DataError(f"block search for {_utc(t)} did not converge in {MAX_PROBES} reads")


class BlockFinder:
    """`at(hour)`: the last block stamped at or before `hour` (UTC, whole hour), from the cache
    or by search. Hours must be asked in increasing order (the previous answer anchors the next
    search). `head` is the finalized head: hours at or after its timestamp are not final yet."""

    def __init__(self, rpc: ChainRpc, head: Block, cache: dict[pd.Timestamp, Block]) -> None:
        self.rpc, self.head, self.cache = rpc, head, cache
        self.anchor: Block | None = None
        self.found: dict[pd.Timestamp, Block] = {}  # searched this run (to add to the cache)
        self.probes = 0

    def final(self, hour: pd.Timestamp) -> bool:
        return unix(hour) < self.head.timestamp

    def at(self, hour: pd.Timestamp) -> Block:
        if not self.final(hour):
            raise DataError(f"{hour}: after the finalized head block {self.head.number}")
        block = self.cache.get(hour)
        if block is None:
            block = self._search(unix(hour))
            self.found[hour] = block
        self.anchor = block
        return block

    def _search(self, t: int) -> Block:
        lo = self.anchor if self.anchor is not None and self.anchor.timestamp <= t else None
        return search(t, lo, self.head, self.block)

    def block(self, number: int) -> Block:
        self.probes += 1
        data: Any = self.rpc.call(
            f"eth_getBlockByNumber {number}",
            lambda: self.rpc.w3.eth.get_block(number),
            block=number,
        )
        return Block(int(data["number"]), int(data["timestamp"]))
