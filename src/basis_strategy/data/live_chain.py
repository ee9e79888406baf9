"""The on-chain reader of the live data provider (issues 13 and 14, ADR-044): AAVE's indices
and rates, the LST's oracle rate, the DEX's LST price, ETH's oracle price and the gas price,
read through web3.py at one block and stamped with that block's time.

The values are the chain's own (`ChainAccount.market_values`): the same numbers the on-chain
venue's transactions meet, so the book values the account exactly as the chain does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from basis_strategy.core.errors import ConfigError
from basis_strategy.data.live_reads import Observation, ReadFailed, Reading

CHAIN_SERIES_PREFIXES = ("aave_li:", "aave_bi:", "aave_lr:", "aave_br:", "lst_rate:", "lst_market:")
CHAIN_SERIES = ("gas_gwei",)
MAX_BLOCKS_BACK = 64


def on_chain(name: str) -> bool:
    """Whether a series is read from the chain (not from a CEX)."""
    return name in CHAIN_SERIES or name.startswith(CHAIN_SERIES_PREFIXES)


class ChainReader:
    """One read = one block: `market_values(block_number)` gives every value at that block.

    `names`: the series this reader provides, each among what the chain gives (else the read
    fails naming it: never a default); `price:ETH` (AAVE's oracle) only for a run with no CEX
    reader of it."""

    def __init__(
        self,
        w3: Any,
        market_values: Callable[[int], dict[str, float]],
        names: Iterable[str],
        label: str = "chain",
        clock_bound: bool = False,
    ) -> None:
        self.w3, self._values, self._label = w3, market_values, label
        self._series = tuple(names)
        self._clock_bound = clock_bound
        self._not_after: datetime | None = None
        if not self._series:
            raise ConfigError("live readers", "a chain reader with nothing to read")

    @property
    def label(self) -> str:
        return self._label

    @property
    def series(self) -> tuple[str, ...]:
        return self._series

    @property
    def funding(self) -> tuple[str, ...]:
        return ()

    def set_clock(self, t: datetime) -> None:
        """The session's cycle time: with `clock_bound`, a read is of the newest block stamped
        at or before it (a block mined between the cycle's time and the read would otherwise
        be refused as after the clock, and the cycle skipped)."""
        if self._clock_bound:
            self._not_after = t

    def _block(self) -> tuple[int, int]:
        block = self.w3.eth.get_block("latest")
        number, stamp = int(block["number"]), int(block["timestamp"])
        bound = self._not_after
        for _ in range(MAX_BLOCKS_BACK):
            if bound is None or stamp <= bound.timestamp():
                return number, stamp
            block = self.w3.eth.get_block(number - 1)
            number, stamp = int(block["number"]), int(block["timestamp"])
        raise ReadFailed(
            f"{self.label}: no block at or before {bound} within {MAX_BLOCKS_BACK} blocks"
        )

    def read(self) -> Reading:
        try:
            number, stamp = self._block()
            values = self._values(number)
        except (OSError, ValueError, TimeoutError) as exc:
            raise ReadFailed(f"{self.label}: {type(exc).__name__}: {exc}") from exc
        missing = [name for name in self._series if name not in values]
        if missing:
            raise ReadFailed(f"{self.label}: the chain gives no {', '.join(missing)}")
        observed = datetime.fromtimestamp(stamp, UTC)
        source = f"{self.label} block {number}"
        return Reading({n: Observation(values[n], observed, source) for n in self._series})
