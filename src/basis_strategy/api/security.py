"""Security basics of the API: a bearer token for mutating endpoints, a request body limit,
and a few response headers.

The token is held only here (never logged, never echoed); it is compared in constant time.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from basis_strategy.api.errors import ApiError

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]

MAX_BODY_BYTES = 64 * 1024
BEARER = HTTPBearer(
    auto_error=False,
    description="Required on POST and DELETE when the server sets BASIS_API_TOKEN.",
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
                401,
                "unauthorized",
                "a valid 'Authorization: Bearer <token>' is needed",
                headers={"WWW-Authenticate": "Bearer"},
            )

    def redact(self, text: str) -> str:
        """`text` with the token replaced by `***` (an error message may quote a client's
        input, and a client may have put the token there)."""
        if self._token is None:
            return text
        return text.replace(self._token.decode("utf-8"), "***")

    def __repr__(self) -> str:  # never show the token, even in a debugger or a log
        return f"TokenGuard(enabled={self.enabled})"


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
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    return int(value)
                except ValueError:
                    return 0  # a malformed length is the server's to refuse; the stream is counted
        return 0

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
        body = json.dumps(
            {
                "error": {
                    "code": "payload_too_large",
                    "message": f"request body larger than {self.max_bytes} bytes",
                }
            }
        ).encode("utf-8")
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


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
