"""Point ccxt's real clients at the local venue fakes.

Why: ccxt must run its own signing, request building, parsing and error mapping; only the
host changes. Every URL in `urls['api']` is rewritten to the fake's base URL keeping its path.
ccxt's Binance picks venue-specific error maps by the URL's host (`fapi.binance.com` → the
linear map, where -4116 is InvalidOrder and -2019 InsufficientFunds); a 127.0.0.1 URL would
silently fall back to the generic map, so the client translates the fake's URL back to the
real one for that lookup.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import ccxt
from tests.fakes.binance_usdm import API_KEY, API_SECRET, BinanceUsdmFake
from tests.fakes.http_fake import FakeServer


def rewrite_urls(api_urls: Any, base_url: str, mapping: dict[str, str]) -> Any:
    """Replace scheme and host of every URL in a nested dict/list; record fake → real."""
    if isinstance(api_urls, dict):
        return {k: rewrite_urls(v, base_url, mapping) for k, v in api_urls.items()}
    if isinstance(api_urls, list):
        return [rewrite_urls(v, base_url, mapping) for v in api_urls]
    if isinstance(api_urls, str) and api_urls.startswith("http"):
        parts = urlsplit(api_urls)
        fake_url = base_url + parts.path
        mapping.setdefault(fake_url, api_urls)
        return fake_url
    return api_urls


class FakeRoutedBinanceUsdm(ccxt.binanceusdm):
    """binanceusdm whose per-market-type error maps see the real URL, not the fake's."""

    def __init__(self, config: dict[str, Any], fake_to_real: dict[str, str]) -> None:
        super().__init__(config)
        self.fake_to_real = fake_to_real

    def get_exceptions_by_url(self, url: str | None, exactOrBroad: str) -> dict:
        return super().get_exceptions_by_url(self.real_url(url), exactOrBroad)

    def real_url(self, url: str | None) -> str | None:
        """The production URL a fake URL stands for (longest matching prefix)."""
        if url is None:
            return None
        for fake in sorted(self.fake_to_real, key=len, reverse=True):
            if url.startswith(fake + "/") or url == fake:
                return self.fake_to_real[fake] + url[len(fake) :]
        return url


def binance_client(
    fake: BinanceUsdmFake,
    api_key: str = API_KEY,
    secret: str = API_SECRET,
    timeout_ms: int = 3_000,
    enable_rate_limit: bool = False,
) -> FakeRoutedBinanceUsdm:
    """A sync binanceusdm client talking only to `fake`.

    `fetchCurrencies` is off: with a key ccxt would call /sapi capital endpoints on spot
    hosts during load_markets, which a USDⓈ-M-only account does not need. ccxt's client-side
    rate limiter is off by default: it only sleeps by endpoint weight (income costs 30 × 50 ms)
    and tests of the venue's own 429/418 answers do not need it.
    """
    mapping: dict[str, str] = {}
    client = FakeRoutedBinanceUsdm(
        {
            "apiKey": api_key,
            "secret": secret,
            "timeout": timeout_ms,
            "enableRateLimit": enable_rate_limit,
        },
        mapping,
    )
    client.urls["api"] = rewrite_urls(client.urls["api"], fake.base_url, mapping)
    client.has["fetchCurrencies"] = False
    return client


class FakeRoutedBinanceSpot(ccxt.binance):
    """binance (spot) whose per-market-type error maps see the real URL, not the fake's (the
    spot map is chosen by `https://api.binance.com/`)."""

    real_url = FakeRoutedBinanceUsdm.real_url

    def __init__(self, config: dict[str, Any], fake_to_real: dict[str, str]) -> None:
        super().__init__(config)
        self.fake_to_real = fake_to_real

    def get_exceptions_by_url(self, url: str | None, exactOrBroad: str) -> dict:
        return super().get_exceptions_by_url(self.real_url(url), exactOrBroad)


def binance_spot_client(
    fake: FakeServer,
    api_key: str = API_KEY,
    secret: str = API_SECRET,
    timeout_ms: int = 3_000,
) -> FakeRoutedBinanceSpot:
    """A sync binance spot client talking only to `fake` (a BinanceSpotFake).

    load_markets lists spot only (`fetchMarkets: ['spot']`, no margin pairs), and currencies
    are not fetched (`/sapi/v1/capital/config/getall` is a wallet endpoint the spot path does
    not need): ccxt then derives USDT, BTC, ETH from the markets, enough for `transfer`."""
    mapping: dict[str, str] = {}
    client = FakeRoutedBinanceSpot(
        {
            "apiKey": api_key,
            "secret": secret,
            "timeout": timeout_ms,
            "enableRateLimit": False,
            "options": {"defaultType": "spot", "fetchMarkets": ["spot"], "fetchMargins": False},
        },
        mapping,
    )
    client.urls["api"] = rewrite_urls(client.urls["api"], fake.base_url, mapping)
    client.has["fetchCurrencies"] = False
    return client


def route_sapi_to(client: FakeRoutedBinanceUsdm, capital_base_url: str) -> None:
    """Send the client's wallet calls (`urls['api']['sapi']`: withdraw, deposits, deposit
    address) to the capital fake (binance_capital.py), keeping the real URL for ccxt's
    per-host error maps (-4026 "insufficient balance" is InsufficientFunds on the sapi host)."""
    real = "https://api.binance.com/sapi/v1"
    fake = capital_base_url + "/sapi/v1"
    client.urls["api"]["sapi"] = fake
    client.fake_to_real[fake] = real
