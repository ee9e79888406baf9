"""Security basics of the API: a bearer token for mutating endpoints (checked before a
request's body is read), a request body limit, a few response headers, and log records
scrubbed of the token and of secret-looking query parameters.

The token is held only here (never logged, never echoed); it is compared in constant time.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from basis_strategy.api.errors import ApiError

Message = MutableMapping[str, Any]
Header = tuple[bytes, bytes]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]

MAX_BODY_BYTES = 64 * 1024
BEARER = HTTPBearer(
    auto_error=False,
    description="Required on POST and DELETE when the server sets BASIS_API_TOKEN.",
)
PROTECTED_METHODS = frozenset({"POST", "DELETE"})
UNAUTHORIZED = "a valid 'Authorization: Bearer <token>' is needed"
# loggers whose records may quote a request (its path and query, an error about it)
REQUEST_LOGGERS = (
    "uvicorn.access",
    "uvicorn.error",
    "basis_strategy.api",
    "basis_strategy.services.queue",
    "basis_strategy.services.runs",
)
SECRET_QUERY = re.compile(
    r"(?i)([?&][^=&#\s]*(?:token|key|secret|passw|auth|credential)[^=&#\s]*=)[^&#\s\"']*"
)
SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"SAMEORIGIN"),
    (b"referrer-policy", b"no-referrer"),
)


class TokenGuard:
    """With a token configured, a request must carry `Authorization: Bearer <token>`;
    without one, every request passes."""

    def __init__(self, token: str | None) -> None:
        self._token = token.encode("utf-8") if token else None

    @property
    def enabled(self) -> bool:
        return self._token is not None

    def check(self, credentials: HTTPAuthorizationCredentials | None) -> None:
        """Raise a 401 ApiError unless the credentials hold the token (constant-time compare)."""
        if self._token is None:
            return
        given = credentials.credentials.encode("utf-8") if credentials else b""
        if not hmac.compare_digest(given, self._token):
            raise ApiError(
                401, "unauthorized", UNAUTHORIZED, headers={"WWW-Authenticate": "Bearer"}
            )

    def accepts(self, authorization: bytes | None) -> bool:
        """Whether an `Authorization` header value is `Bearer <token>` (any scheme case)."""
        if self._token is None:
            return True
        scheme, _, given = (authorization or b"").strip().partition(b" ")
        return scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), self._token)

    def redact(self, text: str) -> str:
        """`text` with the token replaced by `***` (an error message may quote a client's
        input, and a client may have put the token there)."""
        if self._token is None:
            return text
        return text.replace(self._token.decode("utf-8"), "***")

    def __repr__(self) -> str:  # never show the token, even in a debugger or a log
        return f"TokenGuard(enabled={self.enabled})"


def header(scope: MutableMapping[str, Any], name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            found: bytes = value
            return found
    return None


async def send_json(send: Send, status: int, body: dict[str, Any], *headers: Header) -> None:
    """A complete JSON response sent straight from a middleware (before the app)."""
    data = json.dumps(body).encode("utf-8")
    fixed = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(data)).encode()),
        (b"connection", b"close"),  # the request body, if any, is not read
    ]
    await send({"type": "http.response.start", "status": status, "headers": [*fixed, *headers]})
    await send({"type": "http.response.body", "body": data})


class TokenMiddleware:
    """With a token set, a POST or DELETE without `Authorization: Bearer <token>` gets 401
    at once: its body is neither read nor parsed."""

    def __init__(self, app: ASGIApp, guard: TokenGuard) -> None:
        self.app = app
        self.guard = guard

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        protected = scope["type"] == "http" and scope["method"] in PROTECTED_METHODS
        if protected and not self.guard.accepts(header(scope, b"authorization")):
            body = {"error": {"code": "unauthorized", "message": UNAUTHORIZED}}
            await send_json(send, 401, body, (b"www-authenticate", b"Bearer"))
            return
        await self.app(scope, receive, send)


class BodyLimitMiddleware:
    """Refuse request bodies over `max_bytes` with 413: at once when Content-Length says so,
    else while reading the stream. The body (at most `max_bytes`) is read here and replayed."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._declared_length(scope) > self.max_bytes:
            await self._refuse(send)
            return
        messages = await self._read_body(receive)
        if messages is None:
            await self._refuse(send)
            return
        await self.app(scope, self._replay(messages, receive), send)

    @staticmethod
    def _declared_length(scope: MutableMapping[str, Any]) -> int:
        try:
            return int(header(scope, b"content-length") or 0)
        except ValueError:
            return 0  # a malformed length is the server's to refuse; the stream is counted

    async def _read_body(self, receive: Receive) -> list[Message] | None:
        """The request's messages, or None once the body passes the limit."""
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                return messages
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                return None
            if not message.get("more_body", False):
                return messages

    @staticmethod
    def _replay(messages: list[Message], receive: Receive) -> Receive:
        pending = list(messages)

        async def replay() -> Message:
            return pending.pop(0) if pending else await receive()

        return replay

    async def _refuse(self, send: Send) -> None:
        message = f"request body larger than {self.max_bytes} bytes"
        await send_json(send, 413, {"error": {"code": "payload_too_large", "message": message}})


class SecurityHeadersMiddleware:
    """Add `nosniff`, same-origin framing and no-referrer headers to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)


class RedactingFilter(logging.Filter):
    """Scrubs a log record of the API token and of the values of secret-looking query
    parameters (`?token=...`, `api_key=...`), in its message, its arguments and its
    traceback, before any handler formats it (uvicorn's access log included)."""

    def __init__(self, guard: TokenGuard) -> None:
        super().__init__()
        self.guard = guard

    def clean(self, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        return SECRET_QUERY.sub(r"\1***", self.guard.redact(value))

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.clean(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(self.clean(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: self.clean(arg) for key, arg in record.args.items()}
        if record.exc_info:
            record.exc_text = self.clean(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


@contextmanager
def redacted_logs(guard: TokenGuard) -> Iterator[None]:
    """While open, records of the loggers that may quote a request are scrubbed."""
    scrubber = RedactingFilter(guard)
    loggers = [logging.getLogger(name) for name in REQUEST_LOGGERS]
    for logger in loggers:
        logger.addFilter(scrubber)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(scrubber)
