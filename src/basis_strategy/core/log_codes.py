"""The one table of log codes (ADR-037/049: `{COMPONENT}-{NNN}`, e.g. `EXE-002`).

Why one table: a code is a stable identifier that operators grep for and alerts match on, so
it must mean one thing forever and its level must not depend on the call site. `log_event`
(core/logs.py) takes the level from here. Levels follow ADR-037: WARNING is only logged,
ERROR is also counted (per code), CRITICAL also halts (the live service registers its halt).

Rules: never reuse or renumber a code; retire one by leaving it here with "(retired)" in its
meaning. docs/error_codes.md is generated from this table (`render_markdown`) and a test
checks it is current, so the two cannot drift.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

COMPONENTS: Mapping[str, str] = MappingProxyType(
    {
        "EXE": "execution (orders and fills)",
        "REC": "reconciliation (book vs venue)",
        "LT": "live trading service",
        "DATA": "live market data",
        "VEN": "live venues (ccxt)",
        "RISK": "risk limits",
        "STORE": "live store",
        "API": "API server",
        "TRF": "transfers between venues (in flight)",
        "CHAIN": "on-chain execution (web3)",
    }
)
CODE_PATTERN = re.compile(r"^(?P<component>[A-Z]{2,5})-(?P<number>\d{3})$")
LEVELS = (logging.WARNING, logging.ERROR, logging.CRITICAL)


@dataclass(frozen=True)
class LogCode:
    """One code: its component, its level (WARNING, ERROR or CRITICAL) and what it means."""

    component: str
    level: int
    meaning: str

    @property
    def level_name(self) -> str:
        return logging.getLevelName(self.level)


W, E, C = logging.WARNING, logging.ERROR, logging.CRITICAL
_TABLE: dict[str, tuple[int, str]] = {
    # execution: docs of the rules in venues/live/cex.py and live/retry.py
    "EXE-001": (W, "order ambiguous (network error, timeout, 5xx or 429): querying by client id"),
    "EXE-002": (W, "order proven absent on the venue: resent with the same client id"),
    "EXE-003": (C, "order unresolved after the retry policy (escalated): halt, a person looks"),
    "EXE-004": (W, "a fill already booked was reported again: not booked twice"),
    "EXE-005": (C, "a different fill under a booked (venue, symbol, trade id): halt"),
    "EXE-006": (W, "order rejected by the venue: nothing booked"),
    # reconciliation
    "REC-001": (W, "book and venue differ (transient): checked again next cycle"),
    "REC-002": (C, "book and venue still differ after the recheck (persistent): halt"),
    "REC-003": (E, "start-up reconciliation: the venues differ from the book, not started"),
    "REC-004": (W, "venue read after an instruction differs from the book: read again (bounded)"),
    "REC-005": (W, "mined transaction moved a holding off plan: the chain's amount is booked"),
    "REC-006": (W, "start-up difference adopted by the operator: the venue's state is taken"),
    # live trading service (ADR-043)
    "LT-001": (E, "live trading not enabled: the run is refused"),
    "LT-002": (E, "credentials missing: a required environment variable is not set"),
    "LT-003": (E, "pre-flight check failed: the run is not started"),
    "LT-004": (E, "heartbeat missed: the strategy loop did not report in time"),
    "LT-005": (C, "emergency stop: strategy HALTED"),
    "LT-006": (W, "restarted: in-flight orders recovered from the live store"),
    "LT-007": (W, "instruction refused by the trading-state gate: not risk-reducing, or stopped"),
    "LT-008": (W, "an operator resumed the strategy after an emergency stop or REDUCING"),
    "LT-009": (W, "REDUCING left automatically: no breach remains and auto-recovery is on"),
    "LT-010": (W, "flatten after an emergency stop complete: every position flat, now frozen"),
    # live data
    "DATA-001": (W, "market data stale: this cycle is skipped (no orders)"),
    "DATA-002": (E, "market data stale for several cycles in a row"),
    # venues
    "VEN-001": (W, "venue rate limited (429/418): waiting Retry-After before the next call"),
    "VEN-002": (E, "venue unreachable (network error or timeout)"),
    "VEN-003": (E, "venue refused the credentials (authentication error)"),
    "VEN-004": (W, "spot USDT not moved back to the futures wallet: still counted, moved later"),
    # risk limits
    "RISK-001": (E, "risk limit breached: strategy REDUCING (no new exposure)"),
    "RISK-002": (E, "drawdown of NAV per share from its peak reached max_drawdown"),
    "RISK-003": (E, "loss of NAV per share since 00:00 UTC reached max_daily_loss"),
    "RISK-004": (E, "a position reached max_position_usd for its asset"),
    "RISK-005": (E, "a proposed order's notional reached max_order_notional_usd: not sent"),
    "RISK-006": (E, "orders sent in the last 60 s reached max_orders_per_minute: not sent"),
    "RISK-007": (E, "market data older than max_data_age_s"),
    # live store
    "STORE-001": (C, "live store unwritable: halt (no order may be sent unpersisted)"),
    # API server
    "API-001": (W, "request refused: service unavailable (503), client told to retry"),
    "API-002": (E, "internal error while serving a request (500)"),
    # transfers in flight (components/in_flight.py)
    "TRF-001": (E, "transfer still in flight after the limit: alerted once, kept in flight"),
    # on-chain execution (venues/live/chain.py)
    "CHAIN-001": (
        C,
        "our AAVE account was liquidated on chain: booked as liquidation_penalty, halt",
    ),
    "CHAIN-002": (E, "AAVE health factor below the floor: the strategy's deleverage path runs"),
}
CODES: Mapping[str, LogCode] = MappingProxyType(
    {code: LogCode(code.split("-")[0], level, meaning) for code, (level, meaning) in _TABLE.items()}
)
# a code of a known component anywhere in text (`ADR-037` is not a log code)
CODE_IN_TEXT = re.compile(r"\b(?:" + "|".join(COMPONENTS) + r")-\d{3}\b")


def lookup(code: str) -> LogCode:
    """The table entry of `code`; ValueError naming the code if it is not in the table."""
    try:
        return CODES[code]
    except KeyError:
        raise ValueError(f"log code {code!r} is not in core/log_codes.py") from None


def render_markdown() -> str:
    """docs/error_codes.md: the components, then every code with its level and meaning."""
    lines = [
        "# Log and error codes",
        "",
        "Generated from `src/basis_strategy/core/log_codes.py` (a test checks this file is",
        "current: edit the table there, then run `python -m basis_strategy.core.log_codes`).",
        "",
        "Every live log line is one JSON object with `ts`, `level`, `logger`, `code`, `message`",
        "and `fields`. Levels (ADR-037/049): WARNING is logged; ERROR is logged and counted per",
        "code; CRITICAL is logged, counted and halts the live strategy.",
        "",
        "| Component | Covers |",
        "|---|---|",
        *(f"| {prefix} | {covers} |" for prefix, covers in COMPONENTS.items()),
        "",
        "| Code | Level | Meaning |",
        "|---|---|---|",
        *(f"| {code} | {entry.level_name} | {entry.meaning} |" for code, entry in CODES.items()),
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # regenerate the documented table
    from pathlib import Path

    target = Path(__file__).resolve().parents[3] / "docs" / "error_codes.md"
    target.write_text(render_markdown(), encoding="utf-8")
    print(f"wrote {target}")
