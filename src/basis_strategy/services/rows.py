"""Rows of the run index to and from records: values checked on the way in, each row read on
its own on the way out (one damaged row must not hide the others)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from basis_strategy.services.models import BacktestRequest, DamagedRun, RunRecord, RunStatus

TIMES = ("submitted_at", "started_at", "finished_at")
FIELDS = frozenset(
    {"mode", "status", "progress", "request", *TIMES, "error", "result_dir"},
)


def column_value(name: str, value: Any) -> Any:
    """A record field as the table stores it; refuses naive timestamps and unknown fields."""
    if name not in FIELDS:
        raise ValueError(f"runs: unknown field {name!r} (fields: {', '.join(sorted(FIELDS))})")
    naive = not isinstance(value, datetime) or value.tzinfo is None
    if name in TIMES and value is not None and naive:
        raise ValueError(f"runs.{name}: must be a timezone-aware datetime, was {value!r}")
    if name == "status":
        return RunStatus(value).value
    if name == "request":
        request = BacktestRequest.model_validate(value)
        return request.model_dump(mode="json")
    return value


def parse_row(row: Mapping[Any, Any]) -> RunRecord | DamagedRun:
    """The run a raw row holds (values as the driver returns them: JSON as text or as a
    mapping, timestamps as text on SQLite), or a DamagedRun saying what is wrong with it."""
    values = {str(key): value for key, value in row.items()}
    try:
        values["request"] = _request(values["request"])
        for name in TIMES:
            values[name] = _utc(name, values[name])
        return RunRecord.model_validate(values)
    except ValidationError as exc:
        reason = "; ".join(_problem(error) for error in exc.errors()[:3])
    except ValueError as exc:  # JSON or a timestamp that cannot be read
        reason = str(exc).splitlines()[0]
    return DamagedRun(id=str(values.get("id")), reason=reason)


def _problem(error: Any) -> str:
    where = ".".join(str(part) for part in error["loc"]) or "row"
    return f"{where}: {error['msg']}"


def _request(value: Any) -> BacktestRequest:
    try:
        loaded = json.loads(value) if isinstance(value, str | bytes) else value
    except ValueError:
        raise ValueError("request: not valid JSON") from None
    try:
        return BacktestRequest.model_validate(loaded)
    except ValidationError as exc:
        raise ValueError(f"request.{_problem(exc.errors()[0])}") from None


def _utc(name: str, value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{name}: not a timestamp, was {value[:40]!r}") from None
    if not isinstance(value, datetime):
        raise ValueError(f"{name}: not a timestamp, was {type(value).__name__}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
