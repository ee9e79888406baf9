"""Waiting on a venue: Retry-After, bounded backoff, retried reads, "already set" answers.

Why: a 429 or 418 ignored grows into an IP ban (Binance bans escalate from 2 minutes to 3
days), and a read that fails once must not stop a settlement. Reads are safe to repeat; order
creation never goes through `read` (it is resolved by querying by client id, ADR-012). The
sleep is injected so tests record waits instead of waiting.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import ccxt

from basis_strategy.core.errors import TemporaryError
from basis_strategy.venues.live.amounts import check_market
from basis_strategy.venues.live.ccxt_orders import RATE_LIMITED, VenueBackoffError
from basis_strategy.venues.live.dialects import Dialect, retry_after_s

T = TypeVar("T")


@dataclass(frozen=True)
class Pacer:
    """How long to wait for one venue, and reads retried within those bounds. `max_wait_s`
    caps one sleep: a Retry-After above it raises VenueBackoffError, never a shorter sleep."""

    venue: str
    client: Any
    sleep: Callable[[float], None]
    base_backoff_s: float = 0.5
    max_wait_s: float = 30.0
    read_attempts: int = 3
    wait_hint_s: Callable[[Mapping[str, Any] | None], float | None] = retry_after_s

    def backoff_s(self, attempt: int) -> float:
        return float(min(self.base_backoff_s * 2**attempt, self.max_wait_s))

    def wait_rate_limited(self, attempt: int) -> None:
        """Sleep what the last answer's headers ask (`wait_hint_s`: Retry-After, or the venue's
        own header, `Dialect.wait_s`), else the exponential backoff."""
        wait_s = self.wait_hint_s(getattr(self.client, "last_response_headers", None))
        if wait_s is None:
            wait_s = self.backoff_s(attempt)
        if wait_s > self.max_wait_s:
            raise VenueBackoffError(
                f"{self.venue}: venue asks to wait {wait_s:g} s (> {self.max_wait_s:g})"
            )
        self.sleep(wait_s)

    def read(self, call: Callable[[], T]) -> T:
        """A read retried on network errors and rate limits; TemporaryError after the last."""
        for attempt in range(self.read_attempts):
            try:
                return call()
            except ccxt.OperationFailed as error:
                if attempt + 1 >= self.read_attempts:
                    raise TemporaryError(f"{self.venue}: read failed: {error}") from error
                if isinstance(error, RATE_LIMITED):
                    self.wait_rate_limited(attempt)
                else:
                    self.sleep(self.backoff_s(attempt))
        raise ValueError(f"{self.venue}: read_attempts must be >= 1")


def tolerate_already_set(call: Callable[[], object], dialect: Dialect) -> None:
    """Run a set-up call; an answer that says it was already so is success. Which answers say
    so is the venue's (`dialect.already_set_markers`: Bybit's 110043 is a BadRequest)."""
    try:
        call()
    except (ccxt.MarginModeAlreadySet, ccxt.NoChange):
        return
    except ccxt.ExchangeError as error:
        if not dialect.is_already_set(error):
            raise


def set_up_account(
    client: Any,
    dialect: Dialect,
    symbols: list[str],
    margin_mode: str,
    leverage: int,
    quote: str = "USDT",
) -> None:
    """Markets, then margin mode and leverage per perp, each "already set" answer tolerated.
    A market whose units cannot be converted (inverse, another settle coin, a contract size
    the dialect does not expect) is refused first, before any set-up call (`check_market`)."""
    client.load_markets()
    for symbol in symbols:
        check_market(client, dialect, symbol, quote)
    for symbol in symbols:
        margin_params = dialect.margin_mode_params(leverage)
        tolerate_already_set(
            partial(client.set_margin_mode, margin_mode, symbol, margin_params), dialect
        )
        leverage_params = dialect.leverage_params(margin_mode)
        tolerate_already_set(
            partial(client.set_leverage, leverage, symbol, leverage_params), dialect
        )
