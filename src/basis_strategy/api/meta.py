"""`/api/modes` (each mode's schema and defaults) and `/api/health`."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from starlette.concurrency import run_in_threadpool

from basis_strategy import __version__
from basis_strategy.api.live import live_backend, live_health
from basis_strategy.api.schemas import Health, LiveHealth, ModeInfo
from basis_strategy.api.state import State
from basis_strategy.config.loader import load_run_config
from basis_strategy.config.models import MODE_NAMES, ModeConfig
from basis_strategy.config.validation import MODE_RULES

router = APIRouter(prefix="/api", tags=["service"])
HEALTH_TIMEOUT_S = 2.0


def mode_catalogue() -> tuple[ModeInfo, ...]:
    """Every mode with `ModeConfig`'s JSON schema and the mode file's resolved settings
    (read with no environment overrides: the defaults a request's overrides start from)."""
    schema = ModeConfig.model_json_schema()
    modes = []
    for name in MODE_NAMES:
        config = load_run_config(name, env={})
        rule = MODE_RULES[name]
        modes.append(
            ModeInfo(
                name=name,
                share_class=rule.share_class,
                asset=rule.asset,
                summary=rule.summary,
                json_schema=schema,
                defaults=config.mode.model_dump(mode="json"),
            )
        )
    return tuple(modes)


def without_secrets(value: Any) -> Any:
    """A health value with any database URL's password hidden (`***`)."""
    if isinstance(value, dict):
        return {key: without_secrets(item) for key, item in value.items()}
    if isinstance(value, list):
        return [without_secrets(item) for item in value]
    if isinstance(value, str) and "://" in value:
        try:
            url = make_url(value)
        except ArgumentError:
            return value
        if url.password is not None:
            return url.render_as_string(hide_password=True)
    return value


@router.get("/modes", summary="Strategy modes with their JSON schema and defaults")
async def modes(state: State) -> list[ModeInfo]:
    """Each mode's `ModeConfig` JSON schema and its defaults; a request's `overrides` are
    dotted keys into these (`hedge.allocation.binance`)."""
    return list(state.modes)


async def live_sessions(request: Request) -> tuple[list[LiveHealth], list[str]]:
    """Every live session's health entry, and the problems of those that make the service
    unhealthy (left unfinished without beating: see `live.live_problem`), or of the store."""
    try:
        found = await asyncio.wait_for(
            run_in_threadpool(live_backend(request).sessions), HEALTH_TIMEOUT_S
        )
    except TimeoutError:
        return [], [f"the live sessions did not answer within {HEALTH_TIMEOUT_S:g} s"]
    except Exception as exc:  # the store may be down: that is a problem to report, not a 500
        return [], [f"the live sessions cannot be read: {type(exc).__name__}"]
    entries = [live_health(status) for status in found]
    return entries, [entry.problem for entry in entries if entry.problem]


@router.get(
    "/health",
    summary="Service health",
    responses={503: {"model": Health, "description": "unhealthy: see `problems`"}},
)
async def health(state: State, request: Request, response: Response) -> Health:
    """ "ok" (200), or "unhealthy" with its problems (503): the run index deleted, replaced,
    unwritable or unreachable, the results or data folder gone, or a live session that stopped
    beating without finishing (hung past its heartbeat limit, crashed or killed: it may hold
    positions, so a monitor polling this page must see it until an operator resumes or stops
    it). Then data folder, database, workers, queue, version, and
    `live`: every session's heartbeat age, last cycle, data age, venue reachability and
    trading state (a session that ended or was stopped is listed, not a problem)."""
    try:
        checked = await asyncio.wait_for(run_in_threadpool(state.service.health), HEALTH_TIMEOUT_S)
        facts = without_secrets(dict(checked))
    except TimeoutError:
        problem = f"the service's checks did not answer within {HEALTH_TIMEOUT_S:g} s"
        facts = {"status": "unhealthy", "problems": [problem]}
    entries, problems = await live_sessions(request)
    facts["live"] = entries
    if problems:
        facts["problems"] = [*facts.get("problems", []), *problems]
        facts["status"] = "unhealthy"
    facts.setdefault("status", "ok")
    facts.setdefault("version", __version__)
    facts["token_required"] = state.guard.enabled
    if facts["status"] != "ok":
        response.status_code = 503
    return Health.model_validate(facts)
