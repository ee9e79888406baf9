"""JSON log lines (ADR-037/049): one object per line, level from the code table, ERROR
counted, CRITICAL halting through the registered hook, secrets never written."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from basis_strategy.core.errors import ConfigError
from basis_strategy.core.logs import (
    HEALTH,
    Health,
    JsonFormatter,
    SecretFilter,
    configure_json_logging,
    log_event,
)
from basis_strategy.core.secrets import SECRETS, SecretRegistry


@pytest.fixture
def registry() -> SecretRegistry:
    return SecretRegistry()


@pytest.fixture
def captured(registry: SecretRegistry) -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger of its own writing JSON lines to a buffer, through the secret filter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(registry))
    handler.addFilter(SecretFilter(registry))
    logger = logging.getLogger(f"test.logs.{id(stream)}")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    logger.addHandler(handler)
    yield logger, stream
    logger.removeHandler(handler)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_each_line_is_one_json_object_with_the_fields(captured: Any) -> None:
    logger, stream = captured
    health = Health()
    log_event(logger, "EXE-001", "order ambiguous", health=health, client_id="bs-1-7", qty=0.5)
    logger.info("plain line without a code: %s", "ok", extra={"fields": {"n": 1}})
    first, second = lines(stream)
    assert set(first) == {"ts", "level", "logger", "code", "message", "fields"}
    assert first["level"] == "WARNING" and first["code"] == "EXE-001"
    assert first["logger"] == logger.name and first["message"] == "order ambiguous"
    assert first["fields"] == {"client_id": "bs-1-7", "qty": 0.5}
    ts = datetime.fromisoformat(first["ts"])
    assert ts.utcoffset() == timedelta(0)
    assert second["code"] is None and second["message"] == "plain line without a code: ok"
    assert second["fields"] == {"n": 1}


def test_the_record_points_at_the_caller_of_log_event(captured: Any) -> None:
    logger, _ = captured
    seen: list[logging.LogRecord] = []
    logger.addFilter(lambda record: seen.append(record) or True)
    log_event(logger, "EXE-002", "resent", health=Health())
    assert seen[0].funcName == "test_the_record_points_at_the_caller_of_log_event"


def test_objects_and_nan_in_fields_still_give_valid_json(captured: Any) -> None:
    logger, stream = captured
    log_event(logger, "DATA-001", "stale", health=Health(), age=float("nan"), at=object())
    (line,) = lines(stream)
    assert line["fields"]["age"] == "nan" and line["fields"]["at"].startswith("<object")
    json.loads(stream.getvalue(), parse_constant=pytest.fail)  # no bare NaN


@pytest.mark.parametrize(
    ("code", "level"),
    [("EXE-001", "WARNING"), ("RISK-001", "ERROR"), ("STORE-001", "CRITICAL")],
)
def test_level_comes_from_the_table(captured: Any, code: str, level: str) -> None:
    logger, stream = captured
    log_event(logger, code, "m", health=Health())
    assert lines(stream)[0]["level"] == level


def test_unknown_code_is_refused_and_nothing_is_logged(captured: Any) -> None:
    logger, stream = captured
    with pytest.raises(ValueError, match="EXE-404"):
        log_event(logger, "EXE-404", "m", health=Health())
    assert stream.getvalue() == ""


def test_errors_are_counted_per_code_warnings_are_not(captured: Any) -> None:
    logger, _ = captured
    health = Health()
    log_event(logger, "VEN-001", "rate limited", health=health)
    log_event(logger, "VEN-002", "unreachable", health=health)
    log_event(logger, "VEN-002", "unreachable", health=health)
    log_event(logger, "RISK-001", "breach", health=health)
    assert health.counts() == {"VEN-002": 2, "RISK-001": 1}


def test_errors_are_counted_even_when_the_logger_is_off(captured: Any) -> None:
    logger, stream = captured
    logger.disabled = True
    health = Health()
    log_event(logger, "VEN-002", "unreachable", health=health)
    assert stream.getvalue() == "" and health.counts() == {"VEN-002": 1}


def test_critical_calls_the_halt_hook_with_masked_context(
    captured: Any, registry: SecretRegistry
) -> None:
    logger, _ = captured
    registry.register("s3cr3t-value")
    health = Health()
    halted: list[tuple[str, str, Any]] = []
    remove = health.on_critical(lambda *args: halted.append(args))
    log_event(logger, "REC-001", "transient", health=health, registry=registry)
    log_event(logger, "LT-004", "heartbeat", health=health, registry=registry)
    assert halted == []  # WARNING and ERROR never halt
    log_event(
        logger, "REC-002", "x s3cr3t-value", health=health, registry=registry, key="s3cr3t-value"
    )
    assert halted == [("REC-002", "x ***", {"key": "***"})]
    assert health.counts() == {"LT-004": 1, "REC-002": 1}
    remove()
    log_event(logger, "REC-002", "again", health=health, registry=registry)
    assert len(halted) == 1


def test_every_halt_hook_runs_even_if_one_fails(captured: Any) -> None:
    logger, _ = captured
    health = Health()
    called: list[str] = []

    def broken(*_: Any) -> None:
        called.append("broken")
        raise RuntimeError("hook failed")

    health.on_critical(broken)
    health.on_critical(lambda *_: called.append("halt"))
    with pytest.raises(RuntimeError, match="hook failed"):
        log_event(logger, "LT-005", "stop", health=health)
    assert called == ["broken", "halt"]


def test_counting_is_thread_safe() -> None:
    health = Health()
    logger = logging.getLogger("test.logs.threads")
    logger.disabled = True

    def work() -> None:
        for _ in range(500):
            log_event(logger, "VEN-002", "unreachable", health=health)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert health.counts() == {"VEN-002": 4000}


@pytest.fixture
def root_restored() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    filters = {h: list(h.filters) for h in handlers}
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    for handler in handlers:
        handler.filters[:] = filters[handler]
    root.setLevel(level)
    SECRETS.clear()
    HEALTH.reset()


def test_configure_installs_one_json_root_handler(root_restored: None) -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_json_logging(first, env={})
    handler = configure_json_logging(second, env={"BASIS_LOG_LEVEL": "warning"})
    assert logging.getLogger().level == logging.WARNING
    logging.getLogger("basis_strategy.live.test").warning("once")
    logging.getLogger("basis_strategy.live.test").info("below the level")
    assert first.getvalue() == ""
    assert [line["message"] for line in lines(second)] == ["once"]
    assert all(
        any(isinstance(f, SecretFilter) for f in h.filters) for h in logging.getLogger().handlers
    )
    assert handler in logging.getLogger().handlers


def test_configure_refuses_a_bad_level_by_name(root_restored: None) -> None:
    with pytest.raises(ConfigError, match="BASIS_LOG_LEVEL: not a log level, was 'LOUD'"):
        configure_json_logging(io.StringIO(), env={"BASIS_LOG_LEVEL": "loud"})
