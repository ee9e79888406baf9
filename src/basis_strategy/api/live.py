"""`/api/live`: start, watch and stop paper and live sessions (issue 13, ADR-043).

Handlers are thin, as for backtests: the `LiveService` owns requests, processes and the store
(a session runs in its own process, so the server never holds a trading loop); its calls touch
the database and spawn processes, so they run off the event loop. The service's refusals keep
the API's error shape: an invalid request is a 422 naming its field (`invalid_request`, or
`invalid_config` for an override the mode's schema refuses), an unknown session a 404.

`/api/health` lists every session with `live_health` (see `meta.py`).
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from fastapi import Path as PathParam
from starlette.concurrency import run_in_threadpool

from basis_strategy.api.errors import ApiError, api_words, error_responses
from basis_strategy.api.schemas import (
    LIVE_REQUEST_EXAMPLE,
    Activation,
    EmergencyStop,
    LiveEvents,
    LiveHealth,
    LiveSession,
    LiveSubmission,
    ResumeRequest,
)
from basis_strategy.api.state import require_token
from basis_strategy.live.service import LiveRequestError, LiveStartRequest, LiveStatus
from basis_strategy.live.trading_state import StopMode

log = logging.getLogger("basis_strategy.api")
router = APIRouter(prefix="/api/live", tags=["live"])

SessionId = Annotated[
    str,
    PathParam(
        min_length=1,
        max_length=200,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="the session's id",
    ),
]
EventLimit = Annotated[int, Query(ge=1, le=1000, description="latest rows (at most 1000)")]
READS = (404, 422, 503)


class LiveBackend(Protocol):
    """What the routes need of `live.service.LiveService` (tests may give their own)."""

    def start(self, request: LiveStartRequest) -> LiveStatus: ...
    def sessions(self) -> list[LiveStatus]: ...
    def status(self, session_id: str) -> LiveStatus: ...
    def stop(self, session_id: str) -> LiveStatus: ...
    def emergency_stop(self, session_id: str, mode: StopMode) -> LiveStatus: ...
    def resume(
        self, session_id: str, cold: bool = False, adopt_venue_state: bool = False
    ) -> LiveStatus: ...
    def activate(self, session_id: str, operator: str) -> LiveStatus: ...
    def events(self, session_id: str, limit: int = 50) -> list[dict[str, Any]]: ...
    def close(self) -> None: ...


def live_backend(request: Request) -> LiveBackend:
    backend: LiveBackend = request.app.state.live
    return backend


Live = Annotated[LiveBackend, Depends(live_backend)]


def close_backend(backend: LiveBackend) -> None:
    """Close the live service at shutdown (its session processes keep running)."""
    backend.close()


def session_body(status: LiveStatus) -> LiveSession:
    return LiveSession.model_validate(status.as_dict())


def live_problem(status: LiveStatus) -> str | None:
    """Why a session makes the service unhealthy, or None. The service calls a session
    unhealthy when it was left unfinished without beating: its process hung (silent past its
    heartbeat limit), crashed or was killed, while it may still hold positions. A session that
    ended (its cycles done, or stopped) is not a problem, halted or not."""
    if status.healthy:
        return None
    age = "never" if status.heartbeat_age_s is None else f"{status.heartbeat_age_s:.0f} s ago"
    return (
        f"live session {status.session_id} ({status.mode}, {status.execution}) stopped "
        f"beating without finishing (last heartbeat {age}): basis live resume "
        f"{status.session_id}"
    )


def live_health(status: LiveStatus) -> LiveHealth:
    """A session's entry in `/api/health`."""
    return LiveHealth(
        session_id=status.session_id,
        mode=status.mode,
        execution=status.execution,
        running=status.running,
        healthy=status.healthy,
        state=status.state,
        stop_mode=status.stop_mode,
        cycles=status.cycles,
        heartbeat_age_s=status.heartbeat_age_s,
        last_cycle_at=status.last_cycle_at,
        data_age_s=status.data_age_s,
        venues=dict(status.venues),
        problem=live_problem(status),
    )


# the service's field names (the CLI's flags and words) as the API's request fields
LIVE_FIELDS = {
    "cycles": "max_cycles",
    "--cycles": "max_cycles",
    "--interval": "interval",
    "--replay": "replay_start",
    "--speed": "speed",
    "--execution": "execution",
    "--enable-live-trading": "enable_live_trading",
    "--venue-url": "venue_urls",
    "set": "overrides",
    "live trading": "execution",  # LT-001: live trading not enabled
    "request": "",  # the session process's refusal of the whole request (data coverage)
}
LIVE_WORDS = {
    "--replay START": "replay_start",
    "--enable-live-trading": "enable_live_trading",
    "--cycles": "max_cycles",
    "--replay": "replay_start",
}


def live_words(text: str) -> str:
    for flag, words in LIVE_WORDS.items():
        text = text.replace(flag, words)
    return api_words(text)


def refused(exc: LiveRequestError) -> ApiError:
    """The service's refusal of a request, in the API's words (422 naming the field):
    `invalid_config` for an override the mode's configuration refuses, else
    `invalid_request`."""
    raw = exc.field or ""
    config = raw == "set" or raw.startswith("--set ")
    field = LIVE_FIELDS[raw] if raw in LIVE_FIELDS else live_words(raw)
    message = live_words(exc.message)
    if field and not message.startswith(field):
        message = f"{field}: {message}"
    code = "invalid_config" if config else "invalid_request"
    return ApiError(422, code, message, field or None)


def not_found(session_id: str) -> ApiError:
    return ApiError(404, "not_found", f"no live session with id {session_id!r}")


async def call_for(session_id: str, method: Any, *args: Any) -> LiveStatus:
    """`method(session_id, *args)` off the event loop; 404 when the session is unknown."""
    try:
        status: LiveStatus = await run_in_threadpool(method, session_id, *args)
    except KeyError:
        raise not_found(session_id) from None
    except LiveRequestError as exc:
        raise refused(exc) from None
    return status


@router.post(
    "",
    status_code=201,
    summary="Start a paper or live session",
    dependencies=[Depends(require_token)],
    responses=error_responses(400, 401, 413, 415, 422, 503),
)
async def start(
    live: Live,
    submission: Annotated[
        LiveSubmission,
        Body(openapi_examples={"btc_basis replayed day": {"value": LIVE_REQUEST_EXAMPLE}}),
    ],
    response: Response,
) -> LiveSession:
    """Validate the request as `basis live start` does and start the session in its own
    process; the answer is the stored session with its id. 422 naming the field when the
    request is invalid, or when `execution: live` is refused (not enabled, no credentials,
    a pre-flight check failed: the message is the reason). Watch it with
    `GET /api/live/{id}`."""
    request = LiveStartRequest(
        mode=submission.mode,
        execution=submission.execution,
        interval_s=submission.interval_s,
        aligned=submission.aligned,
        max_cycles=submission.max_cycles,
        replay_start=submission.replay_start,
        speed=submission.speed,
        overrides=submission.config_sets(),
        enable_live_trading=submission.enable_live_trading,
        risk_limits=tuple(submission.risk_limits.items()),
        venue_urls=tuple(submission.venue_urls.items()),
    )
    try:
        status = await run_in_threadpool(live.start, request)
    except LiveRequestError as exc:
        raise refused(exc) from None
    response.headers["Location"] = f"/api/live/{status.session_id}"
    log.info("live session %s started (%s, %s)", status.session_id, status.mode, status.execution)
    return session_body(status)


@router.get("", summary="List sessions", responses=error_responses(503))
async def list_sessions(live: Live) -> list[LiveSession]:
    """Every session the store holds, newest first, with its latest status."""
    found = await run_in_threadpool(live.sessions)
    return [session_body(status) for status in found]


@router.get("/{session_id}", summary="One session", responses=error_responses(*READS))
async def get_session(live: Live, session_id: SessionId) -> LiveSession:
    """Trading state, cycle counts, heartbeat and data age, equity and P&L, positions per
    venue, risk levels, venue reachability and the latest alerts."""
    return session_body(await call_for(session_id, live.status))


@router.post(
    "/{session_id}/stop",
    summary="Stop a session",
    dependencies=[Depends(require_token)],
    responses=error_responses(401, *READS),
)
async def stop(live: Live, session_id: SessionId) -> LiveSession:
    """End the session's loop before its next cycle; positions stay as they are. Honoured
    within one cycle."""
    status = await call_for(session_id, live.stop)
    log.info("live session %s: stop requested", session_id)
    return session_body(status)


@router.post(
    "/{session_id}/emergency-stop",
    summary="Emergency stop (HALTED)",
    dependencies=[Depends(require_token)],
    responses=error_responses(400, 401, 413, 415, *READS),
)
async def emergency_stop(
    live: Live,
    session_id: SessionId,
    body: Annotated[
        EmergencyStop, Body(openapi_examples={"freeze": {"value": {"mode": "freeze"}}})
    ],
) -> LiveSession:
    """HALTED from the next cycle on: `freeze` sends nothing more, `flatten` only closing
    orders until flat, then freezes. Only an operator resumes."""
    status = await call_for(session_id, live.emergency_stop, StopMode(body.mode))
    log.info("live session %s: emergency stop (%s)", session_id, body.mode)
    return session_body(status)


@router.post(
    "/{session_id}/activate",
    summary="Back to ACTIVE (an operator's decision)",
    dependencies=[Depends(require_token)],
    responses=error_responses(400, 401, 413, 415, 422, *READS),
)
async def activate(
    live: Live,
    session_id: SessionId,
    body: Annotated[Activation, Body(openapi_examples={"alice": {"value": {"operator": "alice"}}})],
) -> LiveSession:
    """Leave REDUCING or HALTED for ACTIVE at the session's next cycle, in the operator's
    name (alert LT-008): the only way out of either. A breach that remains puts the session
    back in REDUCING at its next risk check."""
    status = await call_for(session_id, live.activate, body.operator)
    log.info("live session %s: activation requested", session_id)
    return session_body(status)


@router.post(
    "/{session_id}/resume",
    summary="Resume a stopped or crashed session",
    dependencies=[Depends(require_token)],
    responses=error_responses(400, 401, 413, 415, 422, *READS),
)
async def resume(
    live: Live,
    session_id: SessionId,
    body: Annotated[ResumeRequest, Body(openapi_examples={"warm": {"value": {"cold": False}}})],
) -> LiveSession:
    """A new process continues the session from its last completed cycle, as `basis live
    resume` does: warm from its checkpoint, or `cold` by re-stepping its journal. A HALTED
    session stays HALTED. 422 while its process still runs."""
    status = await call_for(session_id, live.resume, body.cold, body.adopt_venue_state)
    log.info("live session %s resumed (%s)", session_id, "cold" if body.cold else "warm")
    return session_body(status)


@router.get(
    "/{session_id}/events", summary="Latest event log rows", responses=error_responses(*READS)
)
async def events(live: Live, session_id: SessionId, limit: EventLimit = 50) -> LiveEvents:
    """The last `limit` rows of the session's `event_log.csv`, newest last (empty before
    its first stepped cycle)."""
    try:
        rows = await run_in_threadpool(live.events, session_id, limit)
    except KeyError:
        raise not_found(session_id) from None
    return LiveEvents(session_id=session_id, limit=limit, events=rows)
