"""Every error the API answers is JSON: `{"error": {"code": "...", "message": "..."}}`.

Handlers here translate the platform's errors (ConfigError and DataError -> 422 naming the
field, in the API's own words: never a CLI flag), the service's refusals (503 when a resource
it depends on fails, 429 when its queue is full, both with Retry-After), FastAPI's request
validation (a body that is not JSON names the body, not a character offset), Starlette's
HTTP errors (404, 405) and anything unexpected (500, logged, never shown: no traceback, path
or secret reaches the client). Every JSON answer is strict: NaN and Infinity become null.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match, Route

from basis_strategy.api.schemas import NonFiniteOverride
from basis_strategy.core.errors import ConfigError, DataError
from basis_strategy.services.models import (
    DamagedRunError,
    QueueFullError,
    RunNotFoundError,
    ServiceUnavailableError,
)

log = logging.getLogger("basis_strategy.api")
Handler = Callable[[Request, Exception], Awaitable[JSONResponse]]

RETRY_AFTER_S = 5
STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "queue_full",
    500: "internal_error",
    503: "unavailable",
}
# CLI words in the platform's messages, and what the API calls the same things
CLI_WORDS = {"--set": "overrides", "--data-dir": "the server's data folder"}
BODY_UNREADABLE = "There was an error parsing the body"  # FastAPI's 400 detail
JSON_MEDIA = re.compile(r"^application/([\w.-]+\+)?json\s*(;|$)", re.IGNORECASE)


def strict(value: Any) -> Any:
    """`value` with every NaN or infinite float replaced by None (JSON has neither)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: strict(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [strict(item) for item in value]
    return value


class StrictJSONResponse(JSONResponse):
    """A JSON response that is valid JSON: an undefined figure (NaN, ±Infinity) is null."""

    def render(self, content: Any) -> bytes:
        return super().render(strict(content))


class ErrorBody(BaseModel):
    """What went wrong: a stable machine code, a one-line message, the field if one is at fault."""

    code: str = Field(examples=["invalid_config"])
    message: str = Field(examples=["hedge.allocation: must sum to 1, was 0.9"])
    field: str | None = Field(default=None, examples=["hedge.allocation"])


class ErrorResponse(BaseModel):
    """The body of every error response."""

    error: ErrorBody


class ApiError(Exception):
    """An error the API answers on purpose, with its status, code and message."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers


def error_response(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = ErrorResponse(error=ErrorBody(code=code, message=message, field=field))
    return StrictJSONResponse(
        body.model_dump(exclude_none=True), status_code=status, headers=headers
    )


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries documenting error statuses with the ErrorResponse body."""
    return {
        status: {"model": ErrorResponse, "description": HTTPStatus(status).phrase}
        for status in statuses
    }


def _location(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:] or parts
    return ".".join(parts)


def redacted(request: Request, text: str) -> str:
    """`text` without the API token (see TokenGuard.redact), on one line."""
    state = getattr(request.app.state, "basis", None)
    text = text.replace("\n", " ")
    return state.guard.redact(text) if state is not None else text


def api_words(text: str) -> str:
    """A platform message in the API's words: `--set key` is the override `key`."""
    text = re.sub(r"--set (?=[\w.]+)", "", text)
    for flag, words in CLI_WORDS.items():
        text = text.replace(flag, words)
    return text


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    message = redacted(request, exc.message)
    return error_response(exc.status, exc.code, message, exc.field, exc.headers)


async def _config_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ConfigError)
    field = api_words(exc.field)
    reason = str(exc).removeprefix(f"{exc.field}: ")
    message = redacted(request, f"{field}: {api_words(reason)}")
    return error_response(422, "invalid_config", message, redacted(request, field))


async def _data_error(request: Request, exc: Exception) -> JSONResponse:
    message = api_words(str(exc).replace("\n", " "))
    field = getattr(exc, "field", None)  # a submission's data problem names its field
    if field:
        message = f"{field}: {message}"
    return error_response(422, "invalid_data", redacted(request, message), field)


async def _not_found(request: Request, exc: Exception) -> JSONResponse:
    return error_response(404, "not_found", redacted(request, str(exc)))


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceUnavailableError)
    log.warning("%s %s: 503: %s", request.method, request.url.path, exc)
    message = f"the service cannot take this request now: {exc}; retry later"
    headers = {"Retry-After": str(RETRY_AFTER_S)}
    return error_response(503, exc.code, redacted(request, message), headers=headers)


async def _queue_full(request: Request, exc: Exception) -> JSONResponse:
    headers = {"Retry-After": str(RETRY_AFTER_S)}
    message = f"the run queue is full: {exc}; retry later"
    return error_response(429, "queue_full", message, headers=headers)


async def _damaged(request: Request, exc: Exception) -> JSONResponse:
    log.error("%s %s: %s", request.method, request.url.path, exc)
    return error_response(500, "run_damaged", redacted(request, str(exc)))


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if not errors:
        return error_response(422, "invalid_request", "request not valid")
    first = errors[0]
    if first.get("type") == "json_invalid":  # the position is FastAPI's `loc`: not shown
        reason = first.get("ctx", {}).get("error", "")
        return error_response(422, "invalid_request", f"body: not valid JSON ({reason})", "body")
    cause = first.get("ctx", {}).get("error")
    if isinstance(cause, NonFiniteOverride):  # a config key's value: named as config errors are
        return error_response(422, "invalid_config", redacted(request, str(cause)), cause.path)
    media = request.headers.get("content-type", "")
    if tuple(first.get("loc", ())) == ("body",) and not JSON_MEDIA.match(media):
        message = f"body: must be JSON (Content-Type: application/json), was {media or 'none'!r}"
        return error_response(415, "unsupported_media_type", redacted(request, message), "body")
    field = redacted(request, _location(first.get("loc", ())))
    message = f"{field}: {first.get('msg', 'not valid')}" if field else str(first.get("msg"))
    if len(errors) > 1:
        message += f" (+{len(errors) - 1} more)"
    return error_response(422, "invalid_request", redacted(request, message), field or None)


def allowed_methods(request: Request, routes: Sequence[BaseRoute]) -> str:
    """Every method one of `routes` answers at this request's path (Starlette names only one
    route's methods when several routes share a path)."""
    methods: set[str] = set()
    for route in routes:
        if isinstance(route, Route) and route.methods:
            match, _ = route.matches({**request.scope, "method": next(iter(route.methods))})
            if match == Match.FULL:
                methods |= route.methods
    return ", ".join(sorted(methods))


def _http_error(routes: Sequence[BaseRoute]) -> Handler:
    async def handler(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        status = exc.status_code
        code = STATUS_CODES.get(status, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else HTTPStatus(status).phrase
        headers = dict(exc.headers or {})
        if status == 405:
            headers["Allow"] = allowed_methods(request, routes)
        if status == 400 and message == BODY_UNREADABLE:
            message = "body: cannot be read as JSON (not UTF-8 text, or nested too deeply)"
            return error_response(400, code, message, "body", headers)
        return error_response(status, code, message, headers=headers)

    return handler


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error(
        "internal error on %s %s: %s",
        request.method,
        request.url.path,
        type(exc).__name__,
        exc_info=exc,
    )
    return error_response(500, "internal_error", "internal server error (see the server log)")


def install_error_handlers(app: FastAPI, routes: Sequence[BaseRoute] = ()) -> None:
    """Register the JSON error handlers on `app`; a 405's Allow header lists the methods
    of `routes` at the request's path."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(ConfigError, _config_error)
    app.add_exception_handler(DataError, _data_error)
    app.add_exception_handler(RunNotFoundError, _not_found)
    app.add_exception_handler(ServiceUnavailableError, _unavailable)
    app.add_exception_handler(QueueFullError, _queue_full)
    app.add_exception_handler(DamagedRunError, _damaged)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error(routes))
    app.add_exception_handler(Exception, _unexpected)
