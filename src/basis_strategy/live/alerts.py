"""Alerts of the live trading service (issue 13, ADR-043 "Live Trading Service").

Why: an operator must be told when a strategy stops trading normally (a risk breach, an
emergency stop, a silent strategy), and every such event must carry a stable code so logs,
dashboards and runbooks can refer to it. The functions of `limits`, `trading_state` and
`heartbeat` return `Alert` records instead of logging: the caller (the service loop) decides
where they go, and tests can assert on them.

Codes: `LT-NNN` for the live trading service, `RISK-NNN` for risk limits; `CODES` gives the
one-line meaning of each (the structured-log error-code table should import it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class AlertLevel(StrEnum):
    WARNING = "WARNING"  # look at it today
    ERROR = "ERROR"  # trading is restricted until the cause is gone or an operator acts
    CRITICAL = "CRITICAL"  # trading stopped, or a strategy may be trading unwatched


CODES: dict[str, str] = {
    "LT-001": "a risk breach put the strategy in REDUCING (only risk-reducing orders)",
    "LT-002": "emergency stop: the strategy is HALTED (freeze or flatten)",
    "LT-003": "heartbeat missed: the strategy was silent longer than its limit (unhealthy)",
    "LT-004": "an instruction was refused by the trading-state gate",
    "LT-005": "an operator resumed the strategy (HALTED or REDUCING left)",
    "LT-006": "REDUCING left automatically: no breach remains and auto-recovery is on",
    "LT-007": "a HALTED flatten is complete: every position is flat, now frozen",
    "RISK-001": "drawdown of NAV per share from its peak reached max_drawdown",
    "RISK-002": "loss of NAV per share since 00:00 UTC reached max_daily_loss",
    "RISK-003": "a position reached max_position_usd for its asset",
    "RISK-004": "a proposed order's notional reached max_order_notional_usd",
    "RISK-005": "orders sent in the last 60 s reached max_orders_per_minute",
    "RISK-006": "market data older than max_data_age_s",
}


@dataclass(frozen=True, slots=True)
class Alert:
    """One event for the operator: `code` is a key of `CODES`; `message` is one line."""

    code: str
    level: AlertLevel
    message: str
    strategy: str = ""
    at: datetime | None = None

    def __post_init__(self) -> None:
        if self.code not in CODES:
            raise ValueError(f"alert code: unknown code {self.code!r} (see alerts.CODES)")
        if "\n" in self.message:
            raise ValueError(f"alert {self.code}: message must be one line")
