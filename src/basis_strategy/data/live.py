"""Live data provider (issue 13, ADR-011, ADR-044): the same `get_data(t) -> MarketState` as the
historical provider, from readers polled at run time.

A cycle is `refresh()` (poll every reader; keep each value's few newest observations), then
`set_clock(t)` and `get_data(t)`. Polling is separate from the snapshot because a read
finishes after it starts: a snapshot for `t` uses, per series, the newest observation stamped at
or before `t` (as the historical provider's as-of reads do); ones stamped after `t` are refused.
`refresh()` returns the local time after its reads, a `t` every fresh observation fits.

A cycle is skipped, logged and counted, never traded on, when a reader's last read failed
(`ReadFailed`), a required value has no observation at or before `t` (`NoObservation`), or one
is older than `max_data_age_s` at `t` (`StaleData`). A funding settlement enters exactly one
MarketState: the first one built at or after its funding time, with the rate last observed
before that state's time. Settlements at or before the first state's time are not emitted
(nothing was held before it; the historical provider's first hour is the same). The live
venue books the actual payments from its own history; this is the strategy's view.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from basis_strategy.config.loader import RunConfig
from basis_strategy.core.errors import ConfigError, LookAheadError
from basis_strategy.data.live_reads import (
    Clock,
    CycleSkipped,
    FundingObservation,
    NoObservation,
    Observation,
    Reader,
    ReadFailed,
    StaleData,
    funding_name,
    utc_now,
)
from basis_strategy.data.market import FundingRate, MarketState
from basis_strategy.data.requirements import requirements_for

log = logging.getLogger(__name__)
CEX_PRICES = ("price:ETH", "price:BTC")  # spot references a venue's index price stands for
Seen = TypeVar("Seen", Observation, FundingObservation)
KEPT_OBSERVATIONS = 8  # per series: enough to find one at or before t after a few more polls


@dataclass(frozen=True)
class LiveNeeds:
    """What a live run reads: value `series`, `funding` (venue, base); `unread`: series the
    mode needs that no live reader provides yet (the DeFi ones, read through web3 later)."""

    series: tuple[str, ...]
    funding: tuple[tuple[str, str], ...]
    unread: tuple[str, ...] = ()


def cex_needs(config: RunConfig) -> LiveNeeds:
    """The mode's CEX series, named as the historical provider names its columns."""
    needs = requirements_for(config)
    names = [spec.name for spec in needs.prices]
    cex = tuple(n for n in names if n.startswith("perp:") or n in CEX_PRICES)
    unread = [n for n in names if n not in cex]
    for aave in needs.aave:
        unread.extend(f"{p}:{aave.asset}" for p in ("aave_li", "aave_bi", "aave_lr", "aave_br"))
    if needs.lst is not None:
        unread.extend((f"lst_rate:{needs.lst.lst}", f"lst_market:{needs.lst.lst}"))
    unread.extend(f"price:{token.token}" for token in needs.tokens)  # Uniswap pools
    funding = tuple((spec.venue, spec.base) for spec in needs.funding)
    return LiveNeeds(cex, funding, tuple(unread))


@dataclass(frozen=True)
class SkippedCycle:
    t: datetime
    reason: str


class LiveDataProvider:
    """Market data for a live or paper run; `max_data_age_s`: the oldest a value may be."""

    def __init__(
        self,
        needs: LiveNeeds,
        readers: Sequence[Reader],
        max_data_age_s: float,
        clock: Clock = utc_now,
    ) -> None:
        if max_data_age_s <= 0:
            raise ConfigError("max_data_age_s", f"must be > 0, was {max_data_age_s}")
        self.max_data_age_s, self.clock = max_data_age_s, clock
        self.readers = tuple(readers)
        self._series = needs.series
        self._funding_names = tuple(funding_name(v, b) for v, b in needs.funding)
        _check_coverage(self._series + self._funding_names, self.readers)
        self._values: dict[str, deque[Observation]] = {}
        # funding name -> settlement time -> its newest observations (kept until emitted, so
        # however many polls come between a settlement and the next good cycle, none is lost)
        self._funding: dict[str, dict[datetime, deque[FundingObservation]]] = {}
        self._failures: dict[str, str] = {}  # reader label -> its last read's error
        self._emitted_until: dict[str, datetime] = {}  # funding name -> last settlement emitted
        self._first_t: datetime | None = None
        self._now: datetime | None = None
        self._index = 0
        self.skipped: list[SkippedCycle] = []
        self.observations: dict[str, Observation | FundingObservation] = {}

    @property
    def skipped_cycles(self) -> int:
        return len(self.skipped)

    # --- polling -------------------------------------------------------------------------------

    def refresh(self) -> datetime:
        """Poll every reader once; returns the local time after the last read.

        A failed read keeps nothing of that reader's answer and marks it failed until its next
        good read: `get_data` raises the failure meanwhile (older values are not used)."""
        for reader in self.readers:
            try:
                reading = reader.read()
            except ReadFailed as err:
                self._failures[reader.label] = str(err)
                log.warning("live read failed: %s", err)
                continue
            self._failures.pop(reader.label, None)
            for name, observation in reading.values.items():
                self._values.setdefault(name, deque(maxlen=KEPT_OBSERVATIONS)).append(observation)
            for funding in reading.funding:
                by_time = self._funding.setdefault(funding.name, {})
                kept = by_time.setdefault(funding.funding_time, deque(maxlen=KEPT_OBSERVATIONS))
                kept.append(funding)
        return self.clock()

    # --- reads ---------------------------------------------------------------------------------

    def set_clock(self, t: datetime) -> None:
        """The engine's current time: nothing after it may be read (a reader that can read as
        of a time, `ChainReader`, is told it too)."""
        self._now = t
        for reader in self.readers:
            bound = getattr(reader, "set_clock", None)
            if bound is not None:
                bound(t)

    def get_data(self, t: datetime) -> MarketState:
        """The market as observed at or before `t`; raises a `CycleSkipped` error (counted in
        `skipped`) when the cycle must not trade. The state's `index` counts the states built
        (there is no grid); `observations` then holds each value's observation."""
        if t.tzinfo is None:
            raise ValueError(f"get_data: t must be a timezone-aware UTC datetime, was {t!r}")
        if self._now is None or t > self._now:
            raise LookAheadError(f"read at {t.isoformat()} after the clock ({self._now})")
        try:
            return self._state(t)
        except CycleSkipped as skip:
            self.skipped.append(SkippedCycle(t, str(skip)))
            log.warning("cycle %s skipped (%d so far): %s", t.isoformat(), len(self.skipped), skip)
            raise

    def _state(self, t: datetime) -> MarketState:
        if self._failures:
            label, error = next(iter(self._failures.items()))
            raise ReadFailed(f"last read of {label} failed: {error}")
        values = {name: _as_of(name, self._values.get(name, ()), t) for name in self._series}
        latest_funding = {
            name: _as_of(name, self._funding_kept(name), t) for name in self._funding_names
        }
        observed: dict[str, Observation | FundingObservation] = {**values, **latest_funding}
        self._check_age(observed, t)
        if self._first_t is None:
            self._first_t = t
        funding = tuple(rate for name in self._funding_names for rate in self._settled(name, t))
        self.observations = observed
        state = MarketState(
            t,
            self._index,
            {name: obs.value for name, obs in values.items()},
            funding,
            mark_sources={name: obs.source for name, obs in values.items()},
        )
        self._index += 1
        return state

    def _funding_kept(self, name: str) -> list[FundingObservation]:
        return [obs for kept in self._funding.get(name, {}).values() for obs in kept]

    def _check_age(
        self, observed: dict[str, Observation | FundingObservation], t: datetime
    ) -> None:
        """The oldest required value must be at most `max_data_age_s` old at `t`."""
        name, oldest = min(observed.items(), key=lambda item: item[1].observed_at)
        age_s = (t - oldest.observed_at).total_seconds()
        if age_s > self.max_data_age_s:
            raise StaleData(
                f"{name}: observed {oldest.observed_at.isoformat()}, {age_s:.1f} s before "
                f"{t.isoformat()}, older than max_data_age_s {self.max_data_age_s:g} s"
            )

    def _settled(self, name: str, t: datetime) -> list[FundingRate]:
        """Settlements of `name` in (last emitted, t], each with the rate last observed at or
        before `t` for its funding time; after this, none of them is emitted again."""
        assert self._first_t is not None
        after = self._emitted_until.get(name, self._first_t)
        by_time: dict[datetime, FundingObservation] = {}
        for obs in sorted(self._funding_kept(name), key=lambda o: o.observed_at):
            if obs.observed_at <= t and after < obs.funding_time <= t:
                by_time[obs.funding_time] = obs
        if by_time:
            self._emitted_until[name] = after = max(by_time)
        kept = self._funding.get(name, {})
        for done in [time for time in kept if time <= after]:
            del kept[done]  # emitted, or at or before the first state: never emitted
        return [
            FundingRate(obs.venue, obs.base, obs.rate_per_8h) for _, obs in sorted(by_time.items())
        ]


def _as_of(name: str, kept: Iterable[Seen], t: datetime) -> Seen:
    """The newest observation of `name` stamped at or before `t`; later ones are refused."""
    observations = list(kept)
    usable = [obs for obs in observations if obs.observed_at <= t]
    if usable:
        return max(usable, key=lambda obs: obs.observed_at)
    if observations:
        earliest = min(obs.observed_at for obs in observations)
        raise NoObservation(
            f"{name}: no observation at or before {t.isoformat()}; the earliest kept, at "
            f"{earliest.isoformat()}, is after it and refused (no look-ahead)"
        )
    raise NoObservation(f"{name}: never observed (no good read yet)")


def _check_coverage(names: tuple[str, ...], readers: Sequence[Reader]) -> None:
    """Each needed name is provided by exactly one reader (which one is never guessed)."""
    providers: dict[str, list[str]] = {}
    for reader in readers:
        for name in (*reader.series, *reader.funding):
            providers.setdefault(name, []).append(reader.label)
    missing = [name for name in names if name not in providers]
    if missing:
        raise ConfigError("live readers", f"no reader provides {', '.join(missing)}")
    doubled = {name: labels for name, labels in providers.items() if len(labels) > 1}
    if doubled:
        name, labels = next(iter(doubled.items()))
        raise ConfigError("live readers", f"{name} is provided by {', '.join(labels)}")
