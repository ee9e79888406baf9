"""Retries with exponential backoff for calls to public APIs (rate limits, timeouts)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from basis_strategy.core.errors import OperationalError

logger = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """`attempts` tries in all; waits `base_seconds * 2**k`, capped at `max_seconds`.
    `min_interval_seconds` spaces calls out before any limit is hit (for clients without a
    rate limiter of their own; ccxt has one)."""

    attempts: int = 6
    base_seconds: float = 1.0
    max_seconds: float = 60.0
    sleep: Callable[[float], None] = time.sleep
    min_interval_seconds: float = 0.0

    def wait_seconds(self, failures: int) -> float:
        return float(min(self.max_seconds, self.base_seconds * 2 ** (failures - 1)))


def with_retries(
    call: Callable[[], T],
    what: str,
    retry_on: tuple[type[BaseException], ...],
    policy: RetryPolicy,
    *,
    wait_hint: Callable[[BaseException], float | None] | None = None,
) -> T:
    """`call()`, retried on `retry_on` errors with backoff (or the server's `wait_hint`, e.g. a
    Retry-After header, when larger). After `policy.attempts` failures raises OperationalError
    naming `what` and the last error; other errors propagate at once."""
    for failures in range(1, policy.attempts + 1):
        try:
            return call()
        except retry_on as exc:
            if failures == policy.attempts:
                raise OperationalError(
                    f"{what}: gave up after {failures} attempts: {type(exc).__name__}: {exc}"
                ) from exc
            wait = policy.wait_seconds(failures)
            hint = wait_hint(exc) if wait_hint is not None else None
            if hint is not None:
                wait = max(wait, min(hint, policy.max_seconds))
            logger.warning(
                "%s: %s (attempt %d of %d), retrying in %.1f s",
                what,
                type(exc).__name__,
                failures,
                policy.attempts,
                wait,
            )
            policy.sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover
