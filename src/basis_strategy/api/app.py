"""The FastAPI application: the REST API and the web UI over one BacktestService (issue 5)
and one LiveService (issue 13: paper and live sessions, `/api/live`).

    app = create_app()              # services from BASIS_DATA_DIR / BASIS_RESULTS_DIR
    app = create_app(service)       # or one built by the caller

The app owns the services' lives: it starts the backtest service at startup (taking the
results folder's and the run index's locks) and stops it at shutdown, then closes the live
service (its sessions run in their own processes and keep running). With `BASIS_API_TOKEN`
set (or `api_token` given), POST and DELETE need `Authorization: Bearer` (checked before the
body is read); while the app runs, log records that may quote a request are scrubbed of the
token.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from basis_strategy import __version__
from basis_strategy.api import backtests, live, meta
from basis_strategy.api.errors import StrictJSONResponse, install_error_handlers
from basis_strategy.api.security import (
    MAX_BODY_BYTES,
    BodyLimitMiddleware,
    SecurityHeadersMiddleware,
    TokenGuard,
    TokenMiddleware,
    redacted_logs,
)
from basis_strategy.api.state import ApiState
from basis_strategy.core.errors import ConfigError
from basis_strategy.defaults import DEFAULT_MAX_QUEUED
from basis_strategy.live.service import LiveService
from basis_strategy.services.backtest import data_mode, resolve_data_dir

if TYPE_CHECKING:
    from basis_strategy.services.queue import BacktestService

STATIC_DIR = Path(__file__).resolve().parent / "static"
DESCRIPTION = """Run and watch backtests of crypto yield strategies.

Submit a run with `POST /api/backtests`, follow its progress with `GET /api/backtests/{id}`,
then read its summary, paged event log and balance sheet, plots and report. Every error is
`{"error": {"code": ..., "message": ...}}`; an invalid configuration is a 422 with code
`invalid_config` naming the field (`invalid_data` when the data does not cover the run). A full
queue is a 429, a service that cannot record runs now (its run index or a folder it needs is
failing: see `/api/health`) a 503, both with `Retry-After`.

Start a paper (or live) session with `POST /api/live`, watch it with `GET /api/live/{id}`
(trading state, cycles, equity and P&L, positions per venue, risk levels) and
`GET /api/live/{id}/events`, stop it with `POST /api/live/{id}/stop` or
`POST /api/live/{id}/emergency-stop`. `/api/health` lists every session's heartbeat.

When the server sets `BASIS_API_TOKEN`, POST and DELETE need `Authorization: Bearer <token>`.
Request bodies are limited to 64 KiB. JSON answers are strict: an undefined figure is
`null`."""


def default_service(
    data_dir: str | Path | None,
    results_dir: str | Path | None,
    database_url: str | None,
    workers: int,
    max_queued: int = DEFAULT_MAX_QUEUED,
) -> BacktestService:
    """A service from explicit settings, else `BASIS_DATA_DIR` (none with `BASIS_DATA_MODE=db`),
    `BASIS_RESULTS_DIR` (default `./results`) and `BASIS_DATABASE_URL` (default: SQLite in the
    results folder)."""
    from basis_strategy.services.queue import BacktestService

    env = os.environ
    if data_mode(env) == "db":
        if data_dir:
            raise ConfigError("BASIS_DATA_MODE", f"db, yet a data folder was given: {data_dir}")
        folder = None  # runs read the database BASIS_DATABASE_URL names
    else:
        folder = resolve_data_dir(data_dir, env)
    return BacktestService(
        folder,
        Path(results_dir or env.get("BASIS_RESULTS_DIR") or "results"),
        database_url=database_url or env.get("BASIS_DATABASE_URL") or None,
        workers=workers,
        max_queued=max_queued,
    )


def create_app(
    service: BacktestService | None = None,
    *,
    data_dir: str | Path | None = None,
    results_dir: str | Path | None = None,
    database_url: str | None = None,
    workers: int = 2,
    max_queued: int = DEFAULT_MAX_QUEUED,
    api_token: str | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    live_service: live.LiveBackend | None = None,
) -> FastAPI:
    """The API and web UI over `service` (built from the other arguments when None) and
    `live_service` (None: a LiveService over the backtest service's results folder, data
    folder and `database_url` or `BASIS_DATABASE_URL`, with the process environment, where
    live credentials come from).

    `api_token`: the bearer token POST and DELETE require; None reads `BASIS_API_TOKEN`
    (unset or empty: no token needed). Raises ConfigError when a mode file is invalid or no
    data folder is known.
    """
    token = api_token if api_token is not None else os.environ.get("BASIS_API_TOKEN")
    if service is None:
        service = default_service(data_dir, results_dir, database_url, workers, max_queued)
    state = ApiState(service=service, guard=TokenGuard(token), modes=meta.mode_catalogue())
    if live_service is None:
        live_service = LiveService(
            service.results_dir,
            database_url or os.environ.get("BASIS_DATABASE_URL") or None,
            service.data_dir,
            env=os.environ,
        )
    sessions = live_service

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        with redacted_logs(state.guard):
            try:
                await state.service.start()
                try:
                    yield
                finally:
                    await state.service.stop()
            finally:
                await run_in_threadpool(live.close_backend, sessions)

    app = FastAPI(
        title="basis-strategy backtests",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        default_response_class=StrictJSONResponse,
    )
    app.state.basis = state
    app.state.live = sessions
    routers = (backtests.router, live.router, meta.router)
    install_error_handlers(app, [route for router in routers for route in router.routes])
    app.include_router(backtests.router)
    app.include_router(live.router)
    app.include_router(meta.router)
    add_ui(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes)
    app.add_middleware(TokenMiddleware, guard=state.guard)  # before the body is read
    app.add_middleware(SecurityHeadersMiddleware)
    return app


def add_ui(app: FastAPI) -> None:
    """The web UI: `/` is its page, `/static/` its script and style sheet (no build step)."""
    index = STATIC_DIR / "index.html"

    @app.get("/", include_in_schema=False)
    async def ui() -> FileResponse:
        return FileResponse(index, media_type="text/html; charset=utf-8")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
