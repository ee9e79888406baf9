"""What a running session looks like after its last cycle: the service's status snapshot
(issue 13 scope 1: positions per venue, equity and P&L, risk levels; scope 8: data age).

Stored with each committed cycle (`SessionStore.commit_cycle`), so the API and `basis live
status` show it without touching the session's process. JSON-ready: a value that is not a
finite number (an HF without debt) is None.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import TYPE_CHECKING, Any

from basis_strategy.components.monitors import Risk
from basis_strategy.core.instruments import instrument

if TYPE_CHECKING:
    from basis_strategy.live.session import PaperSession

# worst first wins: the order of the levels a risk figure can take
LEVELS = ("ok", "excess", "warning", "critical", "liquidatable")
ALERTS_KEPT = 20


def session_status(session: PaperSession) -> dict[str, Any]:
    """The snapshot of `session` now (after a cycle, or before the first)."""
    results = session.engine.parts.results
    beat = session.heartbeats.get(session.name)
    out: dict[str, Any] = {
        "currency": results.currency,
        "equity": None,
        "pnl": None,
        "nav_per_share": None,
        "positions": {},
        "risk": {},
        "data_age_s": _finite(beat.data_age_s),
        "last_stepped_at": session.stepped[-1].isoformat() if session.stepped else None,
        "alerts": [
            {"code": a.code, "level": str(a.level), "message": a.message, "at": _iso(a.at)}
            for a in session.alerts[-ALERTS_KEPT:]
        ],
    }
    if not results.times:
        return out
    equity, _, nav = results.pnl_rows[-1][:3]
    quantities, _, _, post_trade, _ = results.books[-1]
    positions: dict[str, dict[str, float]] = {}
    for key, qty in sorted(quantities.items()):
        if qty != 0.0:
            positions.setdefault(instrument(key).venue, {})[key] = qty
    out.update(
        equity=_finite(equity),
        pnl=_finite(math.fsum(row[4] for row in results.pnl_rows)),
        nav_per_share=_finite(nav),
        positions=positions,
        risk=risk_levels(post_trade, session),
    )
    return out


def risk_levels(risk: Risk, session: PaperSession) -> dict[str, Any]:
    """Margin ratio and level per venue, delta drift per asset (a warning beyond the hedge's
    tolerance), AAVE LTV / HF / level, and the worst of them (`level`)."""
    hedge = session.engine.config.mode.hedge
    tolerance = hedge.delta_tolerance if hedge is not None else math.inf
    drift_levels = {
        a: "warning" if abs(d) > tolerance else "ok" for a, d in risk.delta_drift.items()
    }
    levels = [*risk.margin_level.values(), *drift_levels.values()]
    if risk.aave_ltv > 0:
        levels.append(risk.aave_level)
    worst = max(
        levels, key=lambda level: LEVELS.index(level) if level in LEVELS else 0, default="ok"
    )
    return {
        "level": worst,
        "margin_ratio": {v: _finite(r) for v, r in risk.margin_ratio.items()},
        "margin_level": dict(risk.margin_level),
        "delta_drift": {a: _finite(d) for a, d in risk.delta_drift.items()},
        "delta_level": drift_levels,
        "aave_ltv": _finite(risk.aave_ltv) if risk.aave_ltv > 0 else None,
        "aave_hf": _finite(risk.aave_hf) if risk.aave_ltv > 0 else None,
        "aave_level": risk.aave_level if risk.aave_ltv > 0 else None,
    }


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()
