"""Safety gates of `live`: explicit enable, credentials from the environment, and a pre-flight
run by ccxt's real clients against the Binance, Bybit and OKX fakes. Every refusal is exit 2
and one line; no message carries a credential (checked with the values actually registered)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from tests.fakes import binance_usdm, bybit_v5, okx_v5
from tests.fakes.binance_usdm import BinanceUsdmFake
from tests.fakes.bybit_v5 import BybitV5Fake, bybit_client
from tests.fakes.ccxt_client import binance_client
from tests.fakes.okx_v5 import OkxV5Fake, okx_client

from basis_strategy.core.logs import SecretFilter
from basis_strategy.core.secrets import SECRET_ENV, SecretRegistry, encodings, load_credentials
from basis_strategy.live.preflight import (
    ENABLE_ENV,
    ENABLE_FLAG,
    Check,
    LiveRefusedError,
    PreflightPlan,
    preflight,
    require_credentials,
    require_live_enabled,
    require_preflight,
)

# distinctive values, so a leak is found by substring search
ENV = {
    "BASIS_BINANCE_API_KEY": "bnKEY-7f3a9c1e",
    "BASIS_BINANCE_API_SECRET": "bnSECRET-e41d0b77",
    "BASIS_BYBIT_API_KEY": "byKEY-2b8e6d90",
    "BASIS_BYBIT_API_SECRET": "bySECRET-a5c3f1d2",
    "BASIS_OKX_API_KEY": "okKEY-9d1c4e6b",
    "BASIS_OKX_API_SECRET": "okSECRET-0e7b2a58",
    "BASIS_OKX_API_PASSPHRASE": "okPASS-c6f8d3a1",
}
VENUES = ("binance", "bybit", "okx")
PLAN = PreflightPlan(
    symbols={v: ["BTCUSDT", "ETHUSDT"] for v in VENUES},
    required_usdt={v: 2_500.0 for v in VENUES},
)
WRONG = "wrong-secret-55aa"


@pytest.fixture
def fakes() -> Iterator[dict[str, Any]]:
    started = {
        "binance": BinanceUsdmFake(
            api_key=ENV["BASIS_BINANCE_API_KEY"], api_secret=ENV["BASIS_BINANCE_API_SECRET"]
        ).start(),
        "bybit": BybitV5Fake(
            api_key=ENV["BASIS_BYBIT_API_KEY"], api_secret=ENV["BASIS_BYBIT_API_SECRET"]
        ).start(),
        "okx": OkxV5Fake(
            api_key=ENV["BASIS_OKX_API_KEY"],
            api_secret=ENV["BASIS_OKX_API_SECRET"],
            passphrase=ENV["BASIS_OKX_API_PASSPHRASE"],
        ).start(),
    }
    yield started
    for fake in started.values():
        fake.stop()


def clients(fakes: dict[str, Any], wrong_secret: str | None = None) -> dict[str, Any]:
    """ccxt clients built from the credentials read from the environment (as `live` does)."""
    creds = require_credentials(VENUES, env=ENV).venues
    secret = {v: wrong_secret or creds[v].api_secret for v in VENUES}
    return {
        "binance": binance_client(fakes["binance"], creds["binance"].api_key, secret["binance"]),
        "bybit": bybit_client(fakes["bybit"], creds["bybit"].api_key, secret["bybit"]),
        "okx": okx_client(
            fakes["okx"], creds["okx"].api_key, secret["okx"], creds["okx"].passphrase or ""
        ),
    }


def assert_clean(text: str) -> None:
    """One line, and no credential in any spelling a log line could carry."""
    assert "\n" not in text and "\r" not in text, text
    for value in (*ENV.values(), WRONG):
        for spelling in encodings(value):
            assert spelling not in text, f"secret leaked into: {text}"


def refusal(call: Any, *args: Any, **kw: Any) -> LiveRefusedError:
    with pytest.raises(LiveRefusedError) as info:
        call(*args, **kw)
    err = info.value
    assert err.exit_code == 2
    assert_clean(str(err))
    return err


def failed(checks: list[Check]) -> list[tuple[str, str]]:
    return [(c.venue, c.name) for c in checks if c.status == "failed"]


# -- enable ---------------------------------------------------------------------------------


def test_enabled_only_with_flag_and_exact_env_value() -> None:
    require_live_enabled(True, {ENABLE_ENV: "enabled"})
    err = refusal(require_live_enabled, False, {ENABLE_ENV: "enabled"})
    assert err.code == "LT-001" and ENABLE_FLAG in str(err) and "[LT-001]" in str(err)
    assert ENABLE_ENV not in str(err)
    err = refusal(require_live_enabled, True, {})
    assert ENABLE_ENV in str(err) and ENABLE_FLAG not in str(err)
    for wrong in ("Enabled", "enabled ", "1", "true", ""):
        err = refusal(require_live_enabled, True, {ENABLE_ENV: wrong})
        assert err.code == "LT-001" and ENABLE_ENV in str(err)
        assert "Enabled" not in str(err) and "true" not in str(err)  # value never echoed
    err = refusal(require_live_enabled, False, {})
    assert str(err) == (
        "live trading: not enabled: needs the --enable-live-trading flag and "
        "BASIS_LIVE_TRADING=enabled in the environment [LT-001]"
    )


def test_enable_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENABLE_ENV, raising=False)
    refusal(require_live_enabled, True)
    monkeypatch.setenv(ENABLE_ENV, "enabled")
    require_live_enabled(True)


# -- credentials ----------------------------------------------------------------------------


@pytest.mark.parametrize("missing", sorted(ENV))
def test_missing_credential_names_only_the_variable(missing: str) -> None:
    env = {k: v for k, v in ENV.items() if k != missing}
    err = refusal(require_credentials, VENUES, env=env)
    assert err.code == "LT-002" and err.field == missing
    assert str(err).startswith(f"{missing}: not set") and str(err).endswith("[LT-002]")
    assert [name for name in ENV if name in str(err)] == [missing]


def test_credentials_only_for_the_venues_used() -> None:
    env = {k: v for k, v in ENV.items() if "OKX" not in k}
    creds = require_credentials(["binance", "bybit"], env=env)
    assert sorted(creds.venues) == ["binance", "bybit"]
    assert all(v not in repr(creds) for v in ENV.values())


# -- pre-flight -----------------------------------------------------------------------------


def test_funded_account_passes_every_check(
    fakes: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # ccxt logs request headers (the API key) at DEBUG
    caplog.handler.addFilter(SecretFilter())  # as the app's handlers do (core/logs.py)
    checks = require_preflight(clients(fakes), PLAN)
    assert [(c.venue, c.name) for c in checks] == [
        (v, n) for v in VENUES for n in ("reachable", "symbols", "keys", "permissions", "balance")
    ]
    by = {(c.venue, c.name): c for c in checks}
    assert all(c.status == "passed" for c in checks if c.venue != "binance")
    # /fapi/v3/account carries no canTrade: listed as not checked, never as passed
    assert by["binance", "permissions"].status == "not checked"
    assert "apiRestrictions" in by["binance", "permissions"].reason
    assert all(c.status == "passed" for c in checks if c.name != "permissions")
    assert "BTC/USDT:USDT" in by["okx", "symbols"].reason
    for c in checks:
        assert_clean(c.reason)
    logged = " ".join(r.getMessage() for r in caplog.records).replace("\n", " ")
    assert "X-MBX-APIKEY" in logged and "OK-ACCESS-PASSPHRASE" in logged  # headers were logged
    assert_clean(logged)  # ... with every value read by require_credentials masked


@pytest.mark.parametrize("venue", VENUES)
def test_wrong_secret_is_keys_refused(fakes: dict[str, Any], venue: str) -> None:
    wrong = clients(fakes, wrong_secret=WRONG)
    good = clients(fakes)
    mixed = {v: (wrong if v == venue else good)[v] for v in VENUES}
    checks = preflight(mixed, PLAN)
    assert failed(checks) == [(venue, "keys")]
    keys = next(c for c in checks if (c.venue, c.name) == (venue, "keys"))
    assert keys.code == "VEN-003" and "keys refused" in keys.reason
    statuses = {c.name: c.status for c in checks if c.venue == venue}
    assert statuses["symbols"] == "passed"  # public, asked before the keys
    assert statuses["permissions"] == statuses["balance"] == "not checked"
    err = refusal(require_preflight, mixed, PLAN)
    assert err.code == "LT-003"
    assert str(err) == (
        f"pre-flight: {venue} keys failed: keys refused by the venue (AuthenticationError)"
        " (VEN-003) [LT-003]"
    )


@pytest.mark.parametrize("venue", VENUES)
def test_unlisted_symbol_refused(fakes: dict[str, Any], venue: str) -> None:
    plan = PreflightPlan(
        symbols={**PLAN.symbols, venue: ["BTCUSDT", "SOLUSDT"]}, required_usdt=PLAN.required_usdt
    )
    err = refusal(require_preflight, clients(fakes), plan)
    assert f"{venue} symbols failed: SOL/USDT:USDT not listed" in str(err)


def _wrap(monkeypatch: pytest.MonkeyPatch, module: Any, key: str, edit: Any) -> None:
    """Serve `key` as the fake does, then let `edit` change the answer (a venue-side state
    the fake has no setter for: a halted market, a read-only key)."""
    fn, signed = module.ROUTES[key]

    def edited(h: Any, params: Any) -> Any:
        answer = fn(h, params)
        edit(answer)
        return answer

    monkeypatch.setitem(module.ROUTES, key, (edited, signed))


def _halt_binance(answer: Any) -> None:
    for row in answer["symbols"]:
        row["status"] = "SETTLING" if row["symbol"] == "ETHUSDT" else row["status"]


def _halt_bybit(answer: Any) -> None:
    for row in answer["list"]:
        row["status"] = "Closed" if row["symbol"] == "ETHUSDT" else row["status"]


def _halt_okx(answer: Any) -> None:
    for row in answer:
        row["state"] = "suspend" if row["instId"] == "ETH-USDT-SWAP" else row["state"]


HALTS = {
    "binance": (binance_usdm, "GET /fapi/v1/exchangeInfo", _halt_binance),
    "bybit": (bybit_v5, "GET /v5/market/instruments-info", _halt_bybit),
    "okx": (okx_v5, "GET /api/v5/public/instruments", _halt_okx),
}


@pytest.mark.parametrize("venue", VENUES)
def test_inactive_symbol_refused(
    fakes: dict[str, Any], monkeypatch: pytest.MonkeyPatch, venue: str
) -> None:
    _wrap(monkeypatch, *HALTS[venue])
    checks = preflight(clients(fakes), PLAN)
    assert failed(checks) == [(venue, "symbols")]
    err = refusal(require_preflight, clients(fakes), PLAN)
    assert f"{venue} symbols failed: ETH/USDT:USDT not active" in str(err)


def test_planned_venue_without_client_refused(fakes: dict[str, Any]) -> None:
    built = clients(fakes)
    del built["okx"]
    checks = preflight(built, PLAN)
    assert failed(checks) == [("okx", "client")]
    err = refusal(require_preflight, built, PLAN)
    assert "okx client failed: planned venue has no client" in str(err)


def test_permissions_refused_where_the_venue_reports_them(
    fakes: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def read_only(answer: Any) -> None:
        answer.update(readOnly=1, permissions={"ContractTrade": [], "Wallet": []})

    def okx_read_only(answer: Any) -> None:
        answer[0]["perm"] = "read_only"

    def no_trade(answer: Any) -> None:
        answer["canTrade"] = False

    _wrap(monkeypatch, bybit_v5, "GET /v5/user/query-api", read_only)
    _wrap(monkeypatch, okx_v5, "GET /api/v5/account/config", okx_read_only)
    _wrap(monkeypatch, binance_usdm, "GET /fapi/v3/account", no_trade)
    checks = preflight(clients(fakes), PLAN)
    assert failed(checks) == [(v, "permissions") for v in VENUES]
    err = refusal(require_preflight, clients(fakes), PLAN)
    assert "binance permissions failed: account may not trade (canTrade false)" in str(err)


def test_answer_of_another_shape_fails_the_check(
    fakes: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    _wrap(monkeypatch, okx_v5, "GET /api/v5/account/config", lambda answer: answer.clear())
    checks = preflight(clients(fakes), PLAN)
    assert failed(checks) == [("okx", "permissions")]
    err = refusal(require_preflight, clients(fakes), PLAN)
    assert "okx permissions failed: unexpected answer (IndexError)" in str(err)


@pytest.mark.parametrize("venue", VENUES)
def test_insufficient_balance_names_venue_needed_and_available(
    fakes: dict[str, Any], venue: str
) -> None:
    fakes[venue].state.wallet_balance_quote = Decimal("1234.5")
    err = refusal(require_preflight, clients(fakes), PLAN)
    assert f"{venue} balance failed: free USDT 1,234.50 < 2,500.00 needed" in str(err)
    fakes[venue].state.wallet_balance_quote = Decimal("2499.99")
    err = refusal(require_preflight, clients(fakes), PLAN)
    assert f"{venue} balance failed: free USDT 2,499.99 < 2,500.00 needed" in str(err)
    fakes[venue].state.wallet_balance_quote = Decimal(2_500)
    require_preflight(clients(fakes), PLAN)  # exactly enough is enough


class _Markets:
    """A client whose markets list one perp as ccxt parses it, with `market` overrides."""

    id = "stub"

    def __init__(self, **market: Any) -> None:
        base = {"active": True, "swap": True, "linear": True, "settle": "USDT"}
        self.markets = {"BTC/USDT:USDT": base | market}

    def fetch_time(self) -> int:
        return 0

    def fetch_balance(self) -> dict[str, Any]:
        return {"free": {"USDT": 0.0}}

    def load_markets(self) -> dict[str, Any]:
        return self.markets


@pytest.mark.parametrize(
    "override", [{"linear": False}, {"swap": False}, {"settle": "USDC"}, {"active": False}]
)
def test_symbol_must_be_an_active_linear_usdt_perp(override: dict[str, Any]) -> None:
    plan = PreflightPlan(symbols={"stub": ["BTCUSDT"]})
    (check,) = [c for c in preflight({"stub": _Markets(**override)}, plan) if c.name == "symbols"]
    assert check.status == "failed" and check.reason.startswith("BTC/USDT:USDT ")
    (check,) = [c for c in preflight({"stub": _Markets()}, plan) if c.name == "symbols"]
    assert check.status == "passed"


@pytest.mark.parametrize("venue", VENUES)
def test_unreachable_venue_refused(fakes: dict[str, Any], venue: str) -> None:
    built = clients(fakes)
    fakes[venue].stop()
    checks = preflight(built, PLAN)
    assert failed(checks) == [(venue, "reachable")]
    assert {c.status for c in checks if c.venue == venue and c.name != "reachable"} == {
        "not checked"
    }
    err = refusal(require_preflight, built, PLAN)
    assert f"{venue} reachable failed: venue unreachable" in str(err)


def test_secret_registry_knows_every_credential_loaded() -> None:
    """The values the pre-flight's clients use are the ones logs mask (core/secrets.py)."""
    registry = SecretRegistry()
    load_credentials(VENUES, env=ENV, registry=registry)
    line = " ".join(ENV.values())
    assert registry.redact(line) == " ".join("***" for _ in ENV)
    assert set(ENV) <= set(SECRET_ENV)
