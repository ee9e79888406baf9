"""Alerts of the live trading service (issue 13, ADR-043 "Live Trading Service").

Why: an operator must be told when a strategy stops trading normally (a risk breach, an
emergency stop, a silent strategy), and every such event must carry a stable code so logs,
dashboards and runbooks can refer to it. The functions of `limits`, `trading_state` and
`heartbeat` return `Alert` records instead of logging: the caller (the service loop) decides
where they go, and tests can assert on them.

Codes and their levels come from the one table, `core/log_codes.py` (ADR-037/049).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from basis_strategy.core.log_codes import lookup


class AlertLevel(StrEnum):
    WARNING = "WARNING"  # look at it today
    ERROR = "ERROR"  # trading is restricted until the cause is gone or an operator acts
    CRITICAL = "CRITICAL"  # trading stopped, or a strategy may be trading unwatched


@dataclass(frozen=True, slots=True)
class Alert:
    """One event for the operator: `code` is a code of `core/log_codes.py`, which gives its
    level; `message` is one line."""

    code: str
    message: str
    strategy: str = ""
    at: datetime | None = None

    def __post_init__(self) -> None:
        lookup(self.code)  # ValueError naming an unknown code
        if "\n" in self.message:
            raise ValueError(f"alert {self.code}: message must be one line")

    @property
    def level(self) -> AlertLevel:
        return AlertLevel(lookup(self.code).level_name)
