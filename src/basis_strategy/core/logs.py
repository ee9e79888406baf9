"""Structured logs for the live commands (ADR-037/049): one JSON object per line, a code from
the one table (core/log_codes.py), secrets masked.

Why: a live process is watched by machines. Each line is `{"ts", "level", "logger", "code",
"message", "fields"}` (plus `exc` with a traceback), so alerts match a stable code instead of
message text. `log_event` takes the level from the table, so a call site cannot log a
CRITICAL condition as a WARNING. Levels do what ADR-037 says:

- WARNING is logged;
- ERROR is logged and counted per code (`HEALTH.counts()`, for the health endpoint);
- CRITICAL is logged, counted, then every registered halt hook is called
  (`HEALTH.on_critical(live_service.halt)`), with the message and fields already masked.

Setup for a `basis live` command, once, before credentials are loaded or ccxt is built:

    handler = configure_json_logging(sys.stderr)          # registers env secrets, root handler
    credentials = load_credentials(["binance"])           # registers what it read
    remove = HEALTH.on_critical(service.halt)             # CRITICAL -> halt
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

from basis_strategy.core.errors import ConfigError
from basis_strategy.core.log_codes import lookup
from basis_strategy.core.secrets import SECRETS, SecretRegistry

HaltHook = Callable[[str, str, Mapping[str, Any]], None]
JSON_HANDLER_MARK = "_basis_json_handler"


def _clean(value: Any, registry: SecretRegistry) -> Any:
    """A JSON-ready copy of a field value with secrets masked (objects become their str)."""
    if isinstance(value, str):
        return registry.redact(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # NaN is not JSON
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, Mapping):
        return {registry.redact(str(k)): _clean(v, registry) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean(v, registry) for v in value]
    return registry.redact(str(value))


class SecretFilter(logging.Filter):
    """Masks registered secrets in a record before any handler formats it: the message with its
    arguments (ccxt logs request headers as an argument at DEBUG), the `fields` extra, the
    traceback and the stack."""

    def __init__(self, registry: SecretRegistry = SECRETS) -> None:
        super().__init__()
        self.registry = registry

    def filter(self, record: logging.LogRecord) -> bool:
        redact = self.registry.redact
        record.msg, record.args = redact(record.getMessage()), None
        fields = getattr(record, "fields", None)
        if fields is not None:
            setattr(record, "fields", _clean(fields, self.registry))  # noqa: B010 (an extra)
        if record.exc_info:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line; the whole line is masked once more (defence in depth: a
    handler installed without `SecretFilter` still never writes a registered secret)."""

    def __init__(self, registry: SecretRegistry = SECRETS) -> None:
        super().__init__()
        self.registry = registry

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "code": getattr(record, "code", None),
            "message": record.getMessage(),
            "fields": _clean(getattr(record, "fields", None) or {}, self.registry),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exc"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        text = json.dumps(line, ensure_ascii=False, default=str)
        return self.registry.redact(text)


class Health:
    """Error counts per code and the halt hooks CRITICAL codes call; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._errors: Counter[str] = Counter()
        self._hooks: list[HaltHook] = []

    def on_critical(self, hook: HaltHook) -> Callable[[], None]:
        """Call `hook(code, message, fields)` on every CRITICAL event; returns the remover."""
        with self._lock:
            self._hooks.append(hook)

        def remove() -> None:
            with self._lock:
                if hook in self._hooks:
                    self._hooks.remove(hook)

        return remove

    def record(self, code: str, level: int, message: str, fields: Mapping[str, Any]) -> None:
        """Count an ERROR or CRITICAL code; on CRITICAL call the hooks (outside the lock, so a
        hook may log). A hook's exception propagates after the other hooks ran."""
        if level < logging.ERROR:
            return
        with self._lock:
            self._errors[code] += 1
            hooks = list(self._hooks)
        if level < logging.CRITICAL:
            return
        failures = []
        for hook in hooks:
            try:
                hook(code, message, fields)
            except Exception as exc:  # every hook must run: each may be a halt
                failures.append(exc)
        if failures:
            raise failures[0]

    def counts(self) -> dict[str, int]:
        """ERROR and CRITICAL events so far, by code."""
        with self._lock:
            return dict(self._errors)

    def reset(self) -> None:
        """Forget counts and hooks (a new live run, or a test)."""
        with self._lock:
            self._errors.clear()
            self._hooks.clear()


HEALTH = Health()


def log_event(
    logger: logging.Logger,
    code: str,
    message: str,
    *,
    exc_info: BaseException | bool | None = None,
    health: Health = HEALTH,
    registry: SecretRegistry = SECRETS,
    **fields: Any,
) -> None:
    """Log `message` under `code` at the code's level, with `fields` as structured context;
    count it if ERROR, halt through the hooks if CRITICAL (even when the logger is disabled:
    health never depends on log configuration). ValueError for a code not in the table.
    The record points at the caller's line; `exc_info`, `health` and `registry` are not
    field names."""
    entry = lookup(code)
    extra = {"code": code, "fields": fields}
    logger.log(entry.level, message, exc_info=exc_info, extra=extra, stacklevel=2)
    health.record(code, entry.level, registry.redact(message), _clean(fields, registry))


def configure_json_logging(
    stream: TextIO | None = None,
    level: int | str | None = None,
    env: Mapping[str, str] | None = None,
    registry: SecretRegistry = SECRETS,
) -> logging.Handler:
    """Send every log record to `stream` (stderr by default) as JSON lines with secrets masked.

    Registers the secret environment variables that are set, replaces a handler this function
    installed before (so calling it twice does not duplicate lines), puts `SecretFilter` on
    every root handler and sets the root level (`level`, else `BASIS_LOG_LEVEL`, else INFO).
    Records of loggers that do not propagate to the root (uvicorn's) are not covered.
    """
    source = os.environ if env is None else env
    registry.register_environment(source)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, JSON_HANDLER_MARK, False)]:
        root.removeHandler(old)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter(registry))
    setattr(handler, JSON_HANDLER_MARK, True)
    root.addHandler(handler)
    for each in root.handlers:
        if not any(isinstance(f, SecretFilter) for f in each.filters):
            each.addFilter(SecretFilter(registry))
    chosen = level if level is not None else source.get("BASIS_LOG_LEVEL", "INFO").upper()
    try:
        root.setLevel(chosen)
    except ValueError:
        raise ConfigError("BASIS_LOG_LEVEL", f"not a log level, was {chosen!r}") from None
    return handler
