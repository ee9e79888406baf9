"""The archive-node client of the chain download: every JSON-RPC call retried with backoff on
rate limits and transient failures, third-party errors translated at this boundary, and the
RPC URL (which usually holds an API key) masked in every message and log record."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from web3 import HTTPProvider, Web3
from web3.exceptions import RequestTimedOut, Web3RPCError

from basis_strategy.core.errors import ConfigError, OperationalError, TemporaryError
from basis_strategy.data.download.retry import RetryPolicy, with_retries

RPC_ENV = "BASIS_ETH_RPC_URL"
MASK = "***"
MAINNET_CHAIN_ID = 1
RECENT_STATE_BLOCKS = 128  # a full (non-archive) geth node keeps the state of these last blocks
HTTP_TIMEOUT_SECONDS = 30.0
# JSON-RPC error codes providers answer a rate limit with (Alchemy 429, Infura -32005,
# QuickNode -32007, Ankr/others -32029, HTTP-status style 430).
RATE_LIMIT_CODES = frozenset({429, -32005, -32007, -32029})
RATE_LIMIT_WORDS = (
    "rate limit",
    "too many requests",
    "limit exceeded",
    "count exceeded",
    "capacity",
    "throttl",
)
TRANSIENT_WORDS = ("timeout", "timed out", "temporarily unavailable", "try again")
NO_STATE_WORDS = (
    "missing trie node",
    "state is not available",
    "state not available",
    "historical state",
    "pruned",
    "archive",
)
HEADER_NOT_FOUND = "header not found"
LEAKY_LOGGERS = ("web3", "urllib3", "requests")
T = TypeVar("T")


class RpcBusy(TemporaryError):
    """A rate limit or a transient node failure: retried with backoff (`retry_after`: the
    server's Retry-After, seconds, when it sent one)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def url_secrets(url: str) -> list[str]:
    """The parts of an RPC URL that may hold a key (the URL itself, its path, query and user
    info), longest first."""
    parts = urlsplit(url)
    secrets = {url, parts.path if parts.path.strip("/") else "", parts.query}
    secrets |= {parts.username or "", parts.password or "", parts.path.strip("/")}
    return sorted((s for s in secrets if s), key=len, reverse=True)


def masked_url(url: str) -> str:
    """`https://host/***`: the URL as messages may show it."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}/{MASK}"


def mask(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text


class _MaskRecords(logging.Filter):
    """Rewrites a log record's message with the secrets masked (web3 and urllib3 log the URL
    at debug level)."""

    def __init__(self, secrets: Sequence[str]) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask(message, self.secrets)
        if masked != message:
            record.msg, record.args = masked, None
        return True


@contextmanager
def masked_logs(secrets: Sequence[str]) -> Iterator[None]:
    """Mask `secrets` in the records of the web3, urllib3 and requests loggers meanwhile."""
    names = [n for n in logging.Logger.manager.loggerDict if n.startswith(LEAKY_LOGGERS)]
    loggers = [logging.getLogger(n) for n in (*LEAKY_LOGGERS, *names)]
    guard = _MaskRecords(secrets)
    for logger in loggers:
        logger.addFilter(guard)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(guard)


def connect(rpc_url: str | None, session: requests.Session) -> Web3:
    """A Web3 over HTTP to `rpc_url` (from BASIS_ETH_RPC_URL), through `session` (the caller
    closes it). web3's own retries are off (the download retries with its policy) and so is
    its transaction validation middleware, which asks the node for the chain id before every
    `eth_call` (the download checks it once)."""
    if not rpc_url:
        raise ConfigError(RPC_ENV, "not set: the chain download needs an archive Ethereum RPC URL")
    if urlsplit(rpc_url).scheme not in ("http", "https"):
        raise ConfigError(RPC_ENV, f"not an http(s) URL: {masked_url(rpc_url)}")
    provider = HTTPProvider(
        rpc_url,
        request_kwargs={"timeout": HTTP_TIMEOUT_SECONDS},
        session=session,
        exception_retry_configuration=None,
    )
    w3 = Web3(provider)
    w3.middleware_onion.remove("validation")
    return w3


def _retry_after(response: requests.Response | None) -> float | None:
    text = None if response is None else response.headers.get("Retry-After")
    if not text:
        return None
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(text).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


class ChainRpc:
    """Calls to one node: `call(what, fn, block=n)` runs `fn()` with retries and translation."""

    def __init__(self, w3: Web3, policy: RetryPolicy, secrets: Sequence[str]) -> None:
        self.w3, self.policy, self.secrets = w3, policy, secrets
        self.head_number: int | None = None  # the finalized head, once known
        self.calls = 0
        self._last_call = -float("inf")  # time.monotonic() of the last call

    def call(self, what: str, fn: Callable[[], T], *, block: int | None = None) -> T:
        def attempt() -> T:
            self._space_out()
            self.calls += 1
            return self._translated(what, fn, block)

        return with_retries(attempt, what, (RpcBusy,), self.policy, wait_hint=_hint_of)

    def _space_out(self) -> None:
        """Keep `policy.min_interval_seconds` between calls (a steady request rate)."""
        wait = self._last_call + self.policy.min_interval_seconds - time.monotonic()
        if wait > 0:
            self.policy.sleep(wait)
        self._last_call = time.monotonic()

    def _translated(self, what: str, fn: Callable[[], T], block: int | None) -> T:
        try:
            return fn()
        except requests.HTTPError as exc:
            raise self._http_error(what, exc) from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            detail = mask(f"{type(exc).__name__}: {exc}", self.secrets)
            raise RpcBusy(f"{what}: {detail}") from None
        except Web3RPCError as exc:
            raise self._rpc_error(what, exc, block) from None

    def _http_error(self, what: str, exc: requests.HTTPError) -> BasisErrorLike:
        response = exc.response
        status = 0 if response is None else response.status_code
        reason = "" if response is None else mask(str(response.reason), self.secrets)
        if status == 429 or status >= 500:
            return RpcBusy(f"{what}: HTTP {status} {reason}", _retry_after(response))
        if status in (401, 403):
            return ConfigError(RPC_ENV, f"HTTP {status} {reason}: the key was refused")
        return OperationalError(f"{what}: HTTP {status} {reason}")

    def _rpc_error(self, what: str, exc: Web3RPCError, block: int | None) -> BasisErrorLike:
        code, message = _error_fields(exc)
        text = mask(f"RPC error {code}: {message}", self.secrets)
        lower = message.lower()
        if any(word in lower for word in NO_STATE_WORDS) or self._old_header(lower, block):
            return ConfigError(
                RPC_ENV,
                f"{what}: the node has no state for that block ({text}); historical reads "
                "need an archive node",
            )
        if (
            isinstance(exc, RequestTimedOut)
            or code in RATE_LIMIT_CODES
            or any(word in lower for word in (*RATE_LIMIT_WORDS, *TRANSIENT_WORDS))
            or HEADER_NOT_FOUND in lower
        ):
            return RpcBusy(f"{what}: {text}")
        return OperationalError(f"{what}: {text}")

    def _old_header(self, lower: str, block: int | None) -> bool:
        """'header not found' for a block well below the head: the node dropped it (not a
        node that lags behind its load balancer)."""
        if HEADER_NOT_FOUND not in lower or block is None or self.head_number is None:
            return False
        return block < self.head_number - RECENT_STATE_BLOCKS


BasisErrorLike = RpcBusy | ConfigError | OperationalError


def _error_fields(exc: Web3RPCError) -> tuple[int | None, str]:
    response: Any = exc.rpc_response or {}
    error = response.get("error") if isinstance(response, dict) else None
    if isinstance(error, dict):
        code = error.get("code")
        return (code if isinstance(code, int) else None), str(error.get("message", ""))
    return None, str(exc.message)


def _hint_of(exc: BaseException) -> float | None:
    return exc.retry_after if isinstance(exc, RpcBusy) else None
