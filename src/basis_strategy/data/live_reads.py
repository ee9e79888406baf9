"""What the live data provider reads through (issue 13, ADR-011): observations and readers.

Every value read live carries the time it was observed: the venue's own timestamp where the
venue gives one (ccxt's `timestamp`), else the local receive time from an injected clock. The
provider judges staleness and look-ahead from these times, never from when it happened to ask.

A reader is anything with `label`, `series`, `funding` and `read()`: one call to one source
that returns every value it knows at once. The CEX reader here uses ccxt; the web3 readers
(AAVE indices and rates, LST oracle rates, gas) plug in behind the same protocol. A reader never
returns a default or an old value on failure: it raises `ReadFailed` naming the call and the
venue's error.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from basis_strategy.core.errors import TemporaryError

if TYPE_CHECKING:  # ccxt is imported by the reader that uses it: a replay never loads it
    import ccxt

Clock = Callable[[], datetime]
FUNDING_INTERVAL = "8h"  # FundingRate.rate_per_8h is the rate of one 8-hour settlement


def utc_now() -> datetime:
    return datetime.now(UTC)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


class CycleSkipped(TemporaryError):
    """This cycle must not trade on the data: skip it (logged and counted), try the next."""


class ReadFailed(CycleSkipped):
    """A reader's call failed (network, 5xx, timeout, malformed answer): no value is used."""


class StaleData(CycleSkipped):
    """A required value is older than `max_data_age_s` at the cycle's time."""


class NoObservation(CycleSkipped):
    """A required value has no observation at or before the cycle's time (none yet, or only
    ones stamped after it, which are refused: no look-ahead)."""


@dataclass(frozen=True, slots=True)
class Observation:
    """One value as read: `observed_at` is the venue's stamp, else the local receive time."""

    value: float
    observed_at: datetime
    source: str


@dataclass(frozen=True, slots=True)
class FundingObservation:
    """The rate a venue announces for its next settlement at `funding_time`, as observed."""

    venue: str
    base: str
    rate_per_8h: float
    funding_time: datetime
    observed_at: datetime

    @property
    def name(self) -> str:
        return funding_name(self.venue, self.base)


@dataclass(frozen=True, slots=True)
class Reading:
    """Everything one reader returned from one read."""

    values: dict[str, Observation]
    funding: tuple[FundingObservation, ...] = ()


class Reader(Protocol):
    """One live source. `series`: value names it provides; `funding`: funding names.
    `read()` raises `ReadFailed` when it cannot read every one of them (never a default)."""

    @property
    def label(self) -> str: ...

    @property
    def series(self) -> tuple[str, ...]: ...

    @property
    def funding(self) -> tuple[str, ...]: ...

    def read(self) -> Reading: ...


def funding_name(venue: str, base: str) -> str:
    """The name the historical provider gives a venue's funding (its bridges use it too)."""
    return f"funding:{venue}:{base}USDT"


def perp_name(venue: str, base: str) -> str:
    return f"perp:{venue}:{base}USDT"


class CcxtPerpReader:
    """A venue's USDT-margined perp through ccxt's `fetch_funding_rate` (one request).

    Gives the mark (`perp:{venue}:{BASE}USDT`), the venue's index price as the spot reference
    (`price:{BASE}`, only with `spot_reference`: one venue provides it), the announced funding
    rate and the time of the settlement it applies to. Stamped with the answer's `timestamp`
    (Binance: premiumIndex `time`), else the local receive time. Binance and Bybit answer all
    of it in one call; where the funding answer has no mark (OKX), `fetch_mark_price` adds it.
    """

    def __init__(
        self,
        venue: str,
        exchange: ccxt.Exchange,
        base: str,
        spot_reference: bool = False,
        clock: Clock = utc_now,
    ) -> None:
        self.venue, self.exchange, self.base = venue, exchange, base
        self.spot_reference, self.clock = spot_reference, clock
        self.symbol = f"{base}/USDT:USDT"
        self._label = f"{venue} {base}USDT perp"

    @property
    def label(self) -> str:
        return self._label

    @property
    def series(self) -> tuple[str, ...]:
        mark = perp_name(self.venue, self.base)
        return (mark, f"price:{self.base}") if self.spot_reference else (mark,)

    @property
    def funding(self) -> tuple[str, ...]:
        return (funding_name(self.venue, self.base),)

    def read(self) -> Reading:
        """One `fetch_funding_rate`; a venue whose answer lacks the mark (OKX's funding-rate
        endpoint) gives mark and index through a second call, `fetch_mark_price`."""
        answer, observed_at = self._call("fetch_funding_rate")
        funding = self._funding(answer, observed_at)
        prices, prices_at = answer, observed_at
        if answer.get("markPrice") is None:
            prices, prices_at = self._call("fetch_mark_price")
        mark = self._number(prices, "markPrice", positive=True)
        values = {perp_name(self.venue, self.base): Observation(mark, prices_at, self.label)}
        if self.spot_reference:
            index = self._number(prices, "indexPrice", positive=True)
            source = f"{self.venue} {self.base}USDT index"
            values[f"price:{self.base}"] = Observation(index, prices_at, source)
        return Reading(values, (funding,))

    def _call(self, method: str) -> tuple[dict[str, Any], datetime]:
        """ccxt's `method` for the symbol, and when it was observed: the answer's `timestamp`,
        else the local time it was received."""
        import ccxt

        try:
            answer: dict[str, Any] = getattr(self.exchange, method)(self.symbol)
        except ccxt.BaseError as err:  # NetworkError (5xx, timeout) and ExchangeError alike
            raise ReadFailed(
                f"{self.label}: {method}({self.symbol}) failed: {type(err).__name__}: {err}"
            ) from err
        received = self.clock()
        stamp_ms = answer.get("timestamp")
        return answer, from_ms(int(stamp_ms)) if stamp_ms is not None else received

    def _funding(self, answer: dict[str, Any], observed_at: datetime) -> FundingObservation:
        interval = answer.get("interval")
        if interval is not None and interval != FUNDING_INTERVAL:
            raise ReadFailed(
                f"{self.label}: funding interval {interval}, not {FUNDING_INTERVAL}: its rate "
                "is not a rate per 8 h"
            )
        rate = self._number(answer, "fundingRate", positive=False)
        funding_ms = answer.get("fundingTimestamp")
        if funding_ms is None:
            raise ReadFailed(f"{self.label}: fetch_funding_rate answer has no fundingTimestamp")
        return FundingObservation(
            self.venue, self.base, rate, from_ms(int(funding_ms)), observed_at
        )

    def _number(self, answer: dict[str, Any], key: str, positive: bool) -> float:
        """A finite number (> 0 for prices); anything else fails the read, never a default."""
        raw = answer.get(key)
        value = float(raw) if isinstance(raw, int | float) else math.nan
        if not math.isfinite(value) or (positive and value <= 0):
            raise ReadFailed(f"{self.label}: answer has {key}={raw!r}")
        return value
