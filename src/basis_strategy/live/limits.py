"""Risk limits of a live strategy (issue 13, ADR-043) and the checks run every cycle and order.

Why: a live strategy must stop adding risk on its own when losses or positions grow past what
its operator accepted (Nautilus's REDUCING state, Freqtrade's MaxDrawdown protection), and a
bug must not be able to send orders of any size at any rate (Nautilus's notional-per-order and
order-rate limits). These functions only measure: `trading_state` decides what a breach does.

Semantics (one rule for every risk limit): a limit is the first figure that is refused, so a
figure AT or over its limit (within 1e-12 relative: float rounding) is a breach and a figure
under it is not; an unknown (NaN) figure is a breach. Time limits (data age
here, heartbeats in `heartbeat`) count as breached only when the age is LONGER than the limit.

- Drawdown and daily loss are measured on NAV per share (share-class units per share), not on
  equity: deposits and withdrawals change equity but not NAV per share, so a redemption is not
  a loss. Both are fractions: drawdown = 1 - nav / peak (the peak of the whole path, not the
  start); daily loss = 1 - nav / day_open, where day_open is the NAV of the last mark at or
  before 00:00 UTC today (the first mark after a gap of days: the loss over the gap counts
  today, conservatively). A gain gives a daily loss of 0.
- Positions are USD values per asset (the caller sums the gross |value| of every leg of the
  asset); `max_position_usd` maps an asset to its cap, `"*"` caps assets not listed, and an
  asset matched by neither is not capped.
- The order rate counts orders sent in the sliding 60 s before `now` (`now - 60 s < t`): an
  order sent exactly 60 s ago no longer counts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from pydantic import Field, ValidationError

from basis_strategy.config.models import Name, StrictModel
from basis_strategy.config.validation import config_error_from
from basis_strategy.core.errors import ConfigError
from basis_strategy.live.alerts import Alert

ORDER_RATE_WINDOW = timedelta(seconds=60)
ANY_ASSET = "*"
ROUNDING = 1e-12  # relative: figures this close to a limit are at it

UsdLimit = Annotated[float, Field(gt=0.0, le=1e9)]
LossFraction = Annotated[float, Field(gt=0.0, le=1.0)]  # 0 would breach at every cycle
Seconds = Annotated[float, Field(gt=0.0, le=86_400.0)]


class RiskLimits(StrictModel):
    """The limits of one live strategy: strict, finite, bounded; unknown keys refused.

    Defaults are deliberately tight ceilings for a first deployment; set your own per request.
    """

    max_drawdown: LossFraction = 0.20  # of NAV per share from its peak
    max_daily_loss: LossFraction = 0.05  # of NAV per share at 00:00 UTC
    max_position_usd: dict[Name, UsdLimit] = Field(default_factory=dict, max_length=1000)
    max_order_notional_usd: UsdLimit = 1_000_000.0
    max_orders_per_minute: Annotated[int, Field(ge=1, le=10_000)] = 30
    heartbeat_limit_s: Seconds = 300.0
    max_data_age_s: Seconds = 300.0

    @classmethod
    def parse(cls, raw: Mapping[str, Any], source: str = "risk_limits.") -> RiskLimits:
        """Validate a request's `risk_limits`; a bad value raises a one-line ConfigError naming
        the field (e.g. `risk_limits.max_drawdown: Input should be less than or equal to 1`)."""
        try:
            return cls.model_validate(dict(raw))
        except ValidationError as exc:
            error = config_error_from(exc)  # with a source it would drop the first key
            message = str(error).removeprefix(f"{error.field}: ")
            raise ConfigError(f"{source}{error.field}", message) from None

    def position_cap_usd(self, asset: str) -> float | None:
        """The cap for `asset`: its own, else the `"*"` one, else None (not capped)."""
        return self.max_position_usd.get(asset, self.max_position_usd.get(ANY_ASSET))


@dataclass(frozen=True, slots=True)
class Breach:
    """One limit reached: `figure` and `limit` in the limit's units (fraction, USD, count,
    seconds); `subject` names the asset for a position breach, else ''."""

    code: str
    name: str  # the RiskLimits field
    figure: float
    limit: float
    subject: str = ""

    @property
    def message(self) -> str:
        what = f"{self.name}[{self.subject}]" if self.subject else self.name
        return f"{what}: {self.figure:.6g} reached the limit {self.limit:.6g}"

    def alert(self, strategy: str = "", at: datetime | None = None) -> Alert:
        return Alert(self.code, self.message, strategy, at)


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError(f"must be a timezone-aware UTC datetime, was {at!r}")
    return at.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class NavMarks:
    """What the drawdown and daily-loss checks need from the NAV-per-share path, kept
    incrementally (three numbers to persist, not the whole path): a restart that loses the
    peak would forget a drawdown, so the service must store these with its state."""

    at: datetime
    nav: float
    peak: float
    day: date  # UTC date of `at`
    day_open: float

    @staticmethod
    def start(at: datetime, nav: float) -> NavMarks:
        at = _utc(at)
        _check_nav(nav)
        # the first mark is the day's reference even when it comes after 00:00
        return NavMarks(at, nav, nav, at.date(), nav)

    def advance(self, at: datetime, nav: float) -> NavMarks:
        """The marks after one more observation; times must not go backwards."""
        at = _utc(at)
        _check_nav(nav)
        if at < self.at:
            raise ValueError(f"nav mark at {at.isoformat()} is before the last, {self.at}")
        day_open = self.day_open
        if at.date() != self.day:
            midnight = datetime.combine(at.date(), datetime.min.time(), UTC)
            # the reference is the last mark at or before 00:00 UTC today
            day_open = nav if at == midnight else self.nav
        return NavMarks(at, nav, max(self.peak, nav), at.date(), day_open)

    @property
    def drawdown(self) -> float:
        return (self.peak - self.nav) / self.peak

    @property
    def daily_loss(self) -> float:
        return max(0.0, (self.day_open - self.nav) / self.day_open)


def _check_nav(nav: float) -> None:
    if not (math.isfinite(nav) and nav > 0):
        raise ValueError(f"nav per share must be finite and > 0, was {nav!r}")


def marks_from(path: Iterable[tuple[datetime, float]]) -> NavMarks:
    """The marks of a whole (time, NAV per share) path, in time order."""
    marks: NavMarks | None = None
    for at, nav in path:
        marks = NavMarks.start(at, nav) if marks is None else marks.advance(at, nav)
    if marks is None:
        raise ValueError("nav path: must have at least one point")
    return marks


def _reached(figure: float, limit: float) -> bool:
    """At or over the limit, within float rounding (a 10 % fall computed from prices may come
    out as 0.0999999...); NaN counts as reached: an unknown figure cannot be shown safe."""
    return not figure < limit * (1.0 - ROUNDING)


def check_cycle(
    limits: RiskLimits,
    marks: NavMarks,
    positions_usd: Mapping[str, float],
    data_age_s: float | None = None,
) -> tuple[Breach, ...]:
    """The limits breached this cycle (empty: none). `positions_usd`: asset -> USD value
    (the sign is ignored); `data_age_s`: age of the oldest price the cycle used (None: not
    checked). A NaN figure is a breach: an unknown position or age cannot be shown safe."""
    breaches: list[Breach] = []
    if _reached(marks.drawdown, limits.max_drawdown):
        breaches.append(Breach("RISK-002", "max_drawdown", marks.drawdown, limits.max_drawdown))
    if _reached(marks.daily_loss, limits.max_daily_loss):
        breaches.append(
            Breach("RISK-003", "max_daily_loss", marks.daily_loss, limits.max_daily_loss)
        )
    for asset in sorted(positions_usd):
        cap = limits.position_cap_usd(asset)
        size = abs(positions_usd[asset])
        if cap is not None and _reached(size, cap):
            breaches.append(Breach("RISK-004", "max_position_usd", size, cap, asset))
    if data_age_s is not None and not data_age_s <= limits.max_data_age_s:
        breaches.append(Breach("RISK-007", "max_data_age_s", data_age_s, limits.max_data_age_s))
    return tuple(breaches)


def orders_in_window(sent_at: Iterable[datetime], now: datetime) -> int:
    """Orders sent in the 60 s before `now` (`now - 60 s < t`; a time after `now`, clock
    skew, counts too)."""
    start = _utc(now) - ORDER_RATE_WINDOW
    return sum(1 for at in sent_at if _utc(at) > start)


def check_order(
    limits: RiskLimits, notional_usd: float, sent_at: Iterable[datetime], now: datetime
) -> tuple[Breach, ...]:
    """The limits a proposed order would breach (empty: it may be sent). `notional_usd`: its
    |size| × price; `sent_at`: the times orders were sent (older than 60 s may be dropped).
    Refused when the notional reaches the max, or when the orders already sent in the last
    60 s number max_orders_per_minute (so at most that many are sent in any 60 s)."""
    breaches: list[Breach] = []
    notional = abs(notional_usd)
    if _reached(notional, limits.max_order_notional_usd):
        breaches.append(
            Breach("RISK-005", "max_order_notional_usd", notional, limits.max_order_notional_usd)
        )
    count = orders_in_window(sent_at, now)
    if count >= limits.max_orders_per_minute:
        breaches.append(
            Breach("RISK-006", "max_orders_per_minute", count, limits.max_orders_per_minute)
        )
    return tuple(breaches)
