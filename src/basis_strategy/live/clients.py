"""The ccxt clients of a live run, built from the environment's credentials (issue 13).

Why one place: the pre-flight, the live venues and the live data readers must talk to the
same accounts with the same settings: linear USDT perps only (`fetchMarkets` limited, so a key
with no spot or options permission still loads its markets), ccxt's rate limiter on (ADR-012;
`Pacer` adds the backoff on 429/418), and currencies not fetched at start (a wallet endpoint
the trading path does not need).

`base_urls` points a venue at another host with the same REST API: the venue's testnet, or a
local fake in tests (`basis live start --venue-url binance=http://127.0.0.1:8001`). Every URL
of the client's API keeps its path; only scheme and host change. Credentials are handed to
ccxt and to nothing else: they are never logged (`core/secrets.py` masks them anyway).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import ccxt

from basis_strategy.core.errors import ConfigError
from basis_strategy.core.secrets import Credentials

EXCHANGES: dict[str, tuple[type[ccxt.Exchange], dict[str, Any]]] = {
    "binance": (ccxt.binanceusdm, {}),
    "bybit": (ccxt.bybit, {"fetchMarkets": {"types": ["linear"]}}),
    "okx": (ccxt.okx, {"fetchMarkets": {"types": ["swap"]}, "defaultType": "swap"}),
}
TIMEOUT_MS = 10_000


def venue_clients(
    credentials: Credentials,
    base_urls: Mapping[str, str] | None = None,
    timeout_ms: int = TIMEOUT_MS,
) -> dict[str, ccxt.Exchange]:
    """One authenticated client per venue of `credentials`."""
    base_urls = base_urls or {}
    unknown = sorted(set(base_urls) - set(credentials.venues))
    if unknown:
        raise ConfigError("--venue-url", f"names a venue the run does not trade: {unknown}")
    clients: dict[str, ccxt.Exchange] = {}
    for venue, keys in credentials.venues.items():
        keyed: dict[str, Any] = {"apiKey": keys.api_key, "secret": keys.api_secret}
        if keys.passphrase is not None:
            keyed["password"] = keys.passphrase
        clients[venue] = _client(venue, keyed, base_urls.get(venue), timeout_ms)
    return clients


def spot_client(credentials: Credentials, venue: str, base_url: str | None = None) -> ccxt.Exchange:
    """The spot venue's spot client, on the same keys (live spot is Binance's only,
    `venues/live/spot.py`): spot markets only, its wallet calls on the same host."""
    if venue != "binance" or venue not in credentials.venues:
        raise ConfigError("hedge.spot_venue", f"live spot runs on binance only, not {venue!r}")
    keys = credentials.venues[venue]
    options = {"defaultType": "spot", "fetchMarkets": ["spot"], "fetchMargins": False}
    keyed = {"apiKey": keys.api_key, "secret": keys.api_secret}
    client = ccxt.binance(
        {**keyed, "timeout": TIMEOUT_MS, "enableRateLimit": True, "options": options}
    )
    client.has["fetchCurrencies"] = False
    if base_url is not None:
        client.urls["api"] = rebase(client.urls["api"], base_url)
    return client


def public_clients(
    venues: tuple[str, ...], base_urls: Mapping[str, str] | None = None
) -> dict[str, ccxt.Exchange]:
    """One client per venue with no key, for its public market data (a paper session's
    feed), with the same options and hosts as the authenticated ones."""
    base_urls = base_urls or {}
    unknown = sorted(set(base_urls) - set(venues))
    if unknown:
        raise ConfigError("--venue-url", f"names a venue the run does not trade: {unknown}")
    return {venue: _client(venue, {}, base_urls.get(venue), TIMEOUT_MS) for venue in venues}


def _client(
    venue: str, keys: dict[str, Any], base_url: str | None, timeout_ms: int
) -> ccxt.Exchange:
    if venue not in EXCHANGES:
        raise ConfigError("venue", f"no live client for {venue!r}")
    exchange, options = EXCHANGES[venue]
    client = exchange({**keys, "timeout": timeout_ms, "enableRateLimit": True,
                       "options": dict(options)})  # fmt: skip
    client.has["fetchCurrencies"] = False
    if base_url is not None:
        client.urls["api"] = rebase(client.urls["api"], base_url)
    return client


def rebase(urls: Any, base_url: str) -> Any:
    """Every http(s) URL in a nested dict/list with its scheme and host replaced."""
    if isinstance(urls, dict):
        return {key: rebase(value, base_url) for key, value in urls.items()}
    if isinstance(urls, list):
        return [rebase(value, base_url) for value in urls]
    if isinstance(urls, str) and urls.startswith("http"):
        return base_url.rstrip("/") + urlsplit(urls).path
    return urls
