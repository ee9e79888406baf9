"""Recorded venue responses replayed at the network edge: the `requests` session under ccxt
(a helper module of test_cex.py).

An exchange built by `cex_exchange` gets a `Replay` session: every HTTP request ccxt makes must
match the next recorded interaction (method, URL path and query parameters, in order), and is
answered with the recorded status, headers and JSON body. ccxt's own code does the rest: URL
building, JSON parsing, error mapping (a recorded 429 makes ccxt raise `RateLimitExceeded`),
market parsing. An unexpected request fails the test.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import ccxt
import requests

from basis_strategy.data.download.cex import cex_exchange

RECORDED = Path(__file__).resolve().parents[3] / "fixtures" / "recorded" / "ccxt"
Interaction = dict[str, Any]
INTERRUPT: Interaction = {"interrupt": True}  # the download is interrupted (Ctrl-C) here


def recorded(name: str) -> list[Interaction]:
    """The interactions of `tests/fixtures/recorded/ccxt/{name}.json`."""
    content = json.loads((RECORDED / f"{name}.json").read_text(encoding="utf-8"))
    interactions: list[Interaction] = content["interactions"]
    return interactions


def _key(url: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}", dict(parse_qsl(parts.query))


class Replay(requests.Session):
    """Answers each request with the next recorded interaction; records the URLs asked for."""

    def __init__(self, interactions: list[Interaction]) -> None:
        super().__init__()
        self.pending = list(interactions)
        self.urls: list[str] = []

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        method, url = str(method), str(url)
        self.urls.append(url)
        assert self.pending, f"unexpected request (nothing left to replay): {method} {url}"
        interaction = self.pending.pop(0)
        if interaction.get("interrupt"):
            raise KeyboardInterrupt
        wanted = interaction["request"]
        assert (method, _key(url)) == (wanted["method"], _key(wanted["url"])), (
            f"request {method} {url} does not match the recording {wanted['url']}"
        )
        return _response(url, interaction["response"])

    def assert_done(self) -> None:
        assert not self.pending, f"{len(self.pending)} recorded interactions were not requested"


def _response(url: str, recorded: Mapping[str, Any]) -> requests.Response:
    response = requests.Response()
    response.status_code = int(recorded["status"])
    response.reason = recorded.get("reason", HTTPStatus(response.status_code).phrase)
    response.headers.update(recorded.get("headers", {}))
    response._content = json.dumps(recorded["body"]).encode("utf-8")
    response.url = url
    response.encoding = "utf-8"
    return response


def replaying(venue: str, interactions: list[Interaction]) -> tuple[ccxt.Exchange, Replay]:
    """The download's own exchange for `venue`, answering from `interactions`, rate limiter off
    (the recorded responses need no pacing)."""
    exchange = cex_exchange(venue)
    exchange.enableRateLimit = False
    session = Replay(interactions)
    exchange.session = session
    return exchange, session
