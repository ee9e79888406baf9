"""`/api/backtests`: submit, list, watch and cancel runs; read a finished run's results.

Handlers are thin: the service owns requests, status and isolation; the run index and the
files of a finished run (`RunRecord.result_dir`) are read off the event loop. JSON files are
served strictly (an undefined figure is null).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Response
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from basis_strategy.api.errors import ApiError, StrictJSONResponse, error_responses
from basis_strategy.api.run_files import (
    BALANCE_CSV,
    EVENTS_CSV,
    JSON,
    RUN_FILES,
    csv_index,
    plot_file,
)
from basis_strategy.api.schemas import REQUEST_EXAMPLE, BacktestSubmission, RowsPage, RunList
from basis_strategy.api.state import State, require_token
from basis_strategy.config.models import ModeName
from basis_strategy.services.models import FINISHED, DamagedRun, RunRecord, RunStatus

log = logging.getLogger("basis_strategy.api")
router = APIRouter(prefix="/api/backtests", tags=["backtests"])

RunId = Annotated[
    str,
    PathParam(
        min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:-]+$", description="the run's id"
    ),
]
Offset = Annotated[int, Query(ge=0, le=10_000_000, description="first row (0-based)")]
Limit = Annotated[int, Query(ge=1, le=1000, description="rows per page (at most 1000)")]
FILE_CACHE = "private, max-age=3600"  # a finished run's files never change
READS = (404, 422, 500, 503)  # unknown run; bad parameter; damaged row; index unavailable
RESULTS = (404, 409, 422, 500, 503)  # ... and not done yet


async def find(state: State, run_id: str) -> RunRecord:
    """The run's record (read off the event loop: the store may be a remote database)."""
    record = await run_in_threadpool(state.service.get, run_id)
    if record is None:
        raise ApiError(404, "not_found", f"no run with id {run_id!r}")
    result: RunRecord = record
    return result


def done_dir(record: RunRecord) -> Path:
    """The folder of a finished run; 409 while it is not done."""
    if record.status != RunStatus.DONE or record.result_dir is None:
        reason = f" ({record.error})" if record.error else ""
        raise ApiError(
            409, "not_done", f"run {record.id} is {record.status.value}{reason}: no results yet"
        )
    folder = Path(record.result_dir)
    if not folder.is_dir():
        raise ApiError(404, "results_missing", f"the results of run {record.id} are gone")
    return folder


def existing(path: Path, record: RunRecord) -> Path:
    if not path.is_file():
        raise ApiError(404, "results_missing", f"run {record.id} has no {path.name}")
    return path


@router.post(
    "",
    status_code=202,
    summary="Submit a backtest",
    dependencies=[Depends(require_token)],
    responses=error_responses(400, 401, 413, 415, 422, 429, 503),
)
async def submit(
    state: State,
    submission: Annotated[
        BacktestSubmission,
        Body(openapi_examples={"btc_basis week": {"value": REQUEST_EXAMPLE}}),
    ],
    response: Response,
) -> RunRecord:
    """Validate the request as the CLI does (422 naming the field: `invalid_config`, or
    `invalid_data` when the data does not cover it) and queue it; the answer is the queued run
    with its id. Watch it with `GET /api/backtests/{id}`. 429 when the queue is full, 503
    while the service cannot record runs (both with Retry-After)."""
    record: RunRecord = await state.service.submit(submission.as_request())
    response.headers["Location"] = f"/api/backtests/{record.id}"
    log.info("run %s submitted (%s)", record.id, record.mode)
    return record


@router.get("", summary="List runs", responses=error_responses(422, 503))
async def list_runs(
    state: State,
    mode: Annotated[ModeName | None, Query(description="only runs of this mode")] = None,
    status: Annotated[RunStatus | None, Query(description="only runs in this status")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> RunList:
    """Runs, newest first, `limit` at a time from `offset`; `total` counts every match. A row
    of the index that cannot be read is listed in `damaged`; the others are served."""
    rows = await run_in_threadpool(state.service.list, mode, status, limit, offset)
    total = await run_in_threadpool(state.service.count, mode, status)
    items = [row for row in rows if isinstance(row, RunRecord)]
    damaged = [row for row in rows if isinstance(row, DamagedRun)]
    return RunList(total=total, limit=limit, offset=offset, items=items, damaged=damaged)


@router.get("/{run_id}", summary="One run", responses=error_responses(*READS))
async def get_run(state: State, run_id: RunId) -> RunRecord:
    """Status, progress in [0, 1], timestamps, and the reason when it failed."""
    return await find(state, run_id)


@router.delete(
    "/{run_id}",
    summary="Cancel a run",
    dependencies=[Depends(require_token)],
    responses=error_responses(401, 409, *READS),
)
async def cancel(state: State, run_id: RunId) -> RunRecord:
    """Cancel a queued or running run; 409 when it has already finished."""
    record = await find(state, run_id)
    if record.status not in FINISHED:
        record = await state.service.cancel(run_id)
        log.info("run %s cancel requested (%s)", run_id, record.status.value)
        if record.status == RunStatus.CANCELLED or record.status not in FINISHED:
            return record
    raise ApiError(409, "finished", f"run {run_id} has already finished ({record.status.value})")


def read_json(path: Path, record: RunRecord) -> dict[str, Any]:
    """A run's JSON file (NaN and Infinity, which Python writes, read as numbers); 500
    `results_damaged` when it cannot be read as a JSON object."""
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        message = f"run {record.id}: {path.name} cannot be read: {type(exc).__name__}"
        raise ApiError(500, "results_damaged", message) from None
    if not isinstance(loaded, dict):
        raise ApiError(500, "results_damaged", f"run {record.id}: {path.name} is not an object")
    return loaded


@router.get(
    "/{run_id}/summary", summary="A run's summary.json", responses=error_responses(*RESULTS)
)
async def summary(state: State, run_id: RunId) -> dict[str, Any]:
    """The run's `summary.json`: headline figures, metrics, attribution, resolved config
    (an undefined figure is null)."""
    record = await find(state, run_id)
    path = existing(done_dir(record) / "summary.json", record)
    return await run_in_threadpool(read_json, path, record)


async def rows_page(state: State, run_id: str, name: str, offset: int, limit: int) -> RowsPage:
    record = await find(state, run_id)
    path = existing(done_dir(record) / name, record)

    def read() -> RowsPage:
        index = csv_index(path)
        rows = index.page(offset, limit)
        return RowsPage(
            total=index.rows, offset=offset, limit=limit, columns=list(index.columns), rows=rows
        )

    return await run_in_threadpool(read)


@router.get("/{run_id}/events", summary="Event log rows", responses=error_responses(*RESULTS))
async def events(state: State, run_id: RunId, offset: Offset = 0, limit: Limit = 100) -> RowsPage:
    """Rows of the run's `event_log.csv`, in sequence order."""
    return await rows_page(state, run_id, EVENTS_CSV, offset, limit)


@router.get(
    "/{run_id}/balance-sheet",
    summary="Balance sheet rows",
    responses=error_responses(*RESULTS),
)
async def balance_sheet(
    state: State, run_id: RunId, offset: Offset = 0, limit: Limit = 100
) -> RowsPage:
    """Rows of the run's `balance_sheet.csv`, one per hour."""
    return await rows_page(state, run_id, BALANCE_CSV, offset, limit)


HTML_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/html": {"schema": {"type": "string"}}}, "description": "HTML page"}
}


@router.get(
    "/{run_id}/report",
    summary="The run's report page",
    response_class=FileResponse,
    responses={**HTML_RESPONSE, **error_responses(*RESULTS)},
)
async def report(state: State, run_id: RunId) -> FileResponse:
    """The run's `index.html`; its plots and files load from the paths next to this one."""
    record = await find(state, run_id)
    path = existing(done_dir(record) / "index.html", record)
    return FileResponse(path, media_type="text/html; charset=utf-8")


@router.get(
    "/{run_id}/plots/{name}",
    summary="One plot page, or Plotly's script",
    response_class=FileResponse,
    responses={
        200: {
            "content": {
                "text/html": {"schema": {"type": "string"}},
                "text/javascript": {"schema": {"type": "string"}},
            },
            "description": "the plot's HTML page, or plotly.min.js",
        },
        **error_responses(*RESULTS),
    },
)
async def plot(
    state: State,
    run_id: RunId,
    name: Annotated[
        str,
        PathParam(
            max_length=100,
            description="a plot (`cumulative_pnl`, `pnl_components`, `delta_neutrality`, "
            "`margin_ratios`, `aave_health`, `balance_sheet`, with or without `.html`) "
            "or `plotly.min.js`",
        ),
    ],
) -> FileResponse:
    """A plot's standalone page (it loads `plotly.min.js` from the same folder)."""
    record = await find(state, run_id)
    found = plot_file(done_dir(record), name)
    if found is None:
        raise ApiError(404, "not_found", f"no plot named {name!r}")
    path, media_type = found
    return FileResponse(
        existing(path, record), media_type=media_type, headers={"Cache-Control": FILE_CACHE}
    )


def _file_endpoint(name: str, media_type: str) -> Callable[..., Awaitable[Response]]:
    async def endpoint(state: State, run_id: RunId) -> Response:
        record = await find(state, run_id)
        path = existing(done_dir(record) / name, record)
        if media_type == JSON:  # strict JSON, as every JSON answer
            return StrictJSONResponse(await run_in_threadpool(read_json, path, record))
        return FileResponse(path, media_type=media_type, filename=None)

    endpoint.__name__ = "file_" + name.replace(".", "_")
    endpoint.__doc__ = f"The run's `{name}` as written (linked from its report)."
    return endpoint


for _name, _media in RUN_FILES.items():
    router.add_api_route(
        f"/{{run_id}}/{_name}",
        _file_endpoint(_name, _media),
        methods=["GET"],
        summary=f"The run's {_name}",
        response_class=StrictJSONResponse if _media == JSON else FileResponse,
        responses={
            200: {"content": {_media.split(";")[0]: {}}, "description": _name},
            **error_responses(*RESULTS),
        },
    )
