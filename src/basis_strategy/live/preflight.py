"""Safety gates before `live` sends anything (issue 13, item 7): enable, credentials, pre-flight.

Why: a live run spends real money, so it starts only when an operator asked for it twice (the
`--enable-live-trading` flag AND `BASIS_LIVE_TRADING=enabled` in the environment: a flag alone
is one typo or one copied command away, a variable alone may linger in a shell), when every
credential the run needs is in the environment, and when each venue answers that the keys
work, may trade, lists the perps tradable and holds the margin for the planned entry. Each
refusal is a ConfigError (CLI exit 2) with a one-line message carrying its code (LT-001,
LT-002, LT-003); no message ever quotes a credential or a venue's raw answer (which could echo
one), only variable names, venue names, check names and amounts.

`preflight` returns every check, passed or not, so an operator sees the whole picture;
`require_preflight` refuses on the first failure. A check the venue cannot answer through the
endpoints used is listed as "not checked" with the reason, never reported as passed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import ccxt

from basis_strategy.core.errors import ConfigError
from basis_strategy.core.secrets import Credentials, load_credentials

ENABLE_FLAG = "--enable-live-trading"
ENABLE_ENV = "BASIS_LIVE_TRADING"
ENABLE_VALUE = "enabled"
QUOTE = "USDT"

Status = Literal["passed", "failed", "not checked"]


class LiveRefusedError(ConfigError):
    """A refusal to start `live` (exit 2); `code` is its log code (core/log_codes.py)."""

    def __init__(self, code: str, field: str, message: str) -> None:
        self.code = code
        super().__init__(field, " ".join(f"{message} [{code}]".split()))  # one line, always


def require_live_enabled(flag: bool, env: Mapping[str, str] | None = None) -> None:
    """Refuse (LT-001) unless both `flag` (the CLI's `--enable-live-trading`) is given and
    `BASIS_LIVE_TRADING` is exactly "enabled". The variable's value is never echoed."""
    source = os.environ if env is None else env
    missing = [] if flag else [f"the {ENABLE_FLAG} flag"]
    if ENABLE_ENV not in source:
        missing.append(f"{ENABLE_ENV}={ENABLE_VALUE} in the environment")
    elif source[ENABLE_ENV] != ENABLE_VALUE:
        missing.append(f"{ENABLE_ENV} set to exactly {ENABLE_VALUE!r} (it is set otherwise)")
    if missing:
        raise LiveRefusedError(
            "LT-001", "live trading", "not enabled: needs " + " and ".join(missing)
        )


def require_credentials(
    venues: Iterable[str], wallet: bool = False, env: Mapping[str, str] | None = None
) -> Credentials:
    """`load_credentials` for the venues the mode trades on; a missing variable is LT-002,
    naming that variable only (load_credentials' message never quotes a value)."""
    try:
        return load_credentials(venues, wallet=wallet, env=env)
    except ConfigError as exc:
        raise LiveRefusedError("LT-002", exc.field, str(exc).split(": ", 1)[-1]) from None


@dataclass(frozen=True)
class PreflightPlan:
    """What the run is about to do: perps per venue (config spelling "BTCUSDT" or ccxt's
    "BTC/USDT:USDT") and the free USDT each venue must hold for the planned entry."""

    symbols: Mapping[str, Sequence[str]] = field(default_factory=dict)
    required_usdt: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Check:
    """One pre-flight answer: venue, check name, status and a one-line reason (no secrets)."""

    venue: str
    name: str
    status: Status
    reason: str
    code: str = "LT-003"

    @property
    def ok(self) -> bool:
        """Not failed: "not checked" does not block (it is listed, not hidden)."""
        return self.status != "failed"


class _Failed(Exception):
    """A check's failure reason (internal)."""


def unified_symbol(symbol: str) -> str:
    """ccxt's linear USDT perp symbol for a config name ("BTCUSDT" -> "BTC/USDT:USDT")."""
    if "/" in symbol:
        return symbol
    return f"{symbol.removesuffix(QUOTE)}/{QUOTE}:{QUOTE}"


def _error_reason(exc: Exception) -> str:
    """The class of a ccxt error only: its text can carry the venue's answer or URL."""
    if isinstance(exc, ccxt.AuthenticationError | ccxt.PermissionDenied):
        return f"keys refused by the venue ({type(exc).__name__})"
    if isinstance(exc, ccxt.NetworkError):
        return f"venue unreachable ({type(exc).__name__})"
    return f"venue error ({type(exc).__name__})"


def _reachable(client: Any, plan: PreflightPlan, venue: str) -> str:
    client.fetch_time()
    return "server time answered"


def _keys(client: Any, plan: PreflightPlan, venue: str) -> str:
    client.fetch_balance()
    return "private call (balance) accepted"


def _permissions(client: Any, plan: PreflightPlan, venue: str) -> str:
    """Trading allowed, from the endpoint each venue exposes it on. Where that answer does
    not say (Binance's v3 account has no canTrade), NotImplementedError: "not checked"."""
    if client.id == "bybit":
        info = client.privateGetV5UserQueryApi()["result"]
        orders = (info.get("permissions") or {}).get("ContractTrade") or []
        if str(info.get("readOnly")) == "1" or "Order" not in orders:
            raise _Failed("key may not trade contracts (read-only or no ContractTrade Order)")
        return "key may trade contracts (ContractTrade Order)"
    if client.id == "okx":
        perms = str(client.privateGetAccountConfig()["data"][0].get("perm", "")).split(",")
        if "trade" not in perms:
            raise _Failed("key may not trade (OKX perm lacks 'trade')")
        return "key may trade (OKX perm includes 'trade')"
    if client.id == "binanceusdm":
        can_trade = client.fapiPrivateV3GetAccount().get("canTrade")
        if can_trade is None:
            raise NotImplementedError(
                "/fapi/v3/account reports no canTrade; the key's futures permission is "
                "/sapi/v1/account/apiRestrictions enableFutures (spot host), not queried"
            )
        if not can_trade:
            raise _Failed("account may not trade (canTrade false)")
        return "account may trade (canTrade true)"
    raise NotImplementedError(f"no permission endpoint known for ccxt client {client.id!r}")


def _symbols(client: Any, plan: PreflightPlan, venue: str) -> str:
    markets = client.load_markets()
    wanted = [unified_symbol(s) for s in plan.symbols.get(venue, ())]
    for symbol in wanted:
        market = markets.get(symbol)
        if market is None:
            raise _Failed(f"{symbol} not listed")
        if market.get("active") is False:
            raise _Failed(f"{symbol} not active")
        if not (market.get("swap") and market.get("linear") and market.get("settle") == QUOTE):
            raise _Failed(f"{symbol} is not a linear {QUOTE}-settled perp")
    return f"tradable: {', '.join(wanted) or 'none planned'}"


def _balance(client: Any, plan: PreflightPlan, venue: str) -> str:
    needed = float(plan.required_usdt.get(venue, 0.0))
    free = client.fetch_balance().get("free", {}).get(QUOTE)
    available = float(free or 0.0)
    if available < needed:
        raise _Failed(f"free {QUOTE} {available:,.2f} < {needed:,.2f} needed")
    return f"free {QUOTE} {available:,.2f} >= {needed:,.2f} needed"


CHECKS: tuple[tuple[str, Callable[[Any, PreflightPlan, str], str]], ...] = (
    ("reachable", _reachable),
    ("symbols", _symbols),  # public: answered even when the keys are refused
    ("keys", _keys),
    ("permissions", _permissions),
    ("balance", _balance),
)
BLOCKING = ("reachable", "keys")  # after these fail, the later checks cannot be asked


def _run(venue: str, name: str, check: Callable[..., str], client: Any, plan: Any) -> Check:
    try:
        return Check(venue, name, "passed", check(client, plan, venue))
    except _Failed as failed:
        return Check(venue, name, "failed", str(failed))
    except NotImplementedError as gap:
        return Check(venue, name, "not checked", f"not checked: {gap}")
    except ccxt.BaseError as exc:
        auth = isinstance(exc, ccxt.AuthenticationError | ccxt.PermissionDenied)
        return Check(venue, name, "failed", _error_reason(exc), "VEN-003" if auth else "LT-003")
    except (KeyError, IndexError, TypeError, ValueError) as exc:  # an answer of another shape
        return Check(venue, name, "failed", f"unexpected answer ({type(exc).__name__})")


def preflight(clients: Mapping[str, Any], plan: PreflightPlan) -> list[Check]:
    """Every check of every venue in `clients` (ccxt clients carrying the credentials), in
    order: reachable, symbols, keys, permissions, balance. Once reachable or keys fails, the
    venue's later checks are "not checked" (they would only repeat that failure). A venue the
    plan names without a client fails first: its checks could not run at all."""
    planned = set(plan.symbols) | set(plan.required_usdt)
    results = [
        Check(venue, "client", "failed", "planned venue has no client")
        for venue in sorted(planned - set(clients))
    ]
    for venue in sorted(clients):
        blocked: Check | None = None
        for name, check in CHECKS:
            if blocked is not None:
                reason = f"not checked: {blocked.name} failed"
                results.append(Check(venue, name, "not checked", reason))
                continue
            result = _run(venue, name, check, clients[venue], plan)
            results.append(result)
            if not result.ok and name in BLOCKING:
                blocked = result
    return results


def require_preflight(clients: Mapping[str, Any], plan: PreflightPlan) -> list[Check]:
    """`preflight`, refusing (LT-003, exit 2) on the first failed check; one line naming the
    venue, the check and why. Returns the checks when none failed."""
    checks = preflight(clients, plan)
    for check in checks:
        if not check.ok:
            detail = f"{check.venue} {check.name} failed: {check.reason}"
            if check.code != "LT-003":
                detail += f" ({check.code})"
            raise LiveRefusedError("LT-003", "pre-flight", detail)
    return checks
