"""The REST API when a resource the service depends on fails (issue 12, item 1): the run index
unwritable, moved away or damaged, the results or data folder gone, the queue full.

Each test serves its own app over the real service (SQLite index in a temporary results
folder) and breaks one thing for real: SQLite's `query_only` (writes fail with SQLite's own
"attempt to write a readonly database"), files renamed away and back, raw SQL into a row.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from api.support import DATA_DIR, WEEK, new_service, read_only, serving, wait_finished, wait_for
from basis_strategy.api import create_app
from basis_strategy.services.queue import BacktestService

SHORT = {"mode": "btc_basis", **WEEK}
LONG = {"mode": "btc_basis"}  # the full window: seconds of work


@pytest.fixture
def service(tmp_path: Path) -> BacktestService:
    return new_service(tmp_path / "results", workers=1)


@pytest.fixture
def http(service: BacktestService) -> Iterator[httpx.Client]:
    with (
        serving(create_app(service, api_token="")) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        yield client


def unavailable(response: httpx.Response, code: str = "index_unavailable") -> str:
    """The message of a 503 JSON error with Retry-After."""
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "5"
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code, error
    return str(error["message"])


def unhealthy(http: httpx.Client) -> list[str]:
    response = http.get("/api/health")
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["status"] == "unhealthy" and body["problems"], body
    problems: list[str] = body["problems"]
    return problems


def healthy(http: httpx.Client) -> bool:
    response = http.get("/api/health")
    return response.status_code == 200 and response.json()["status"] == "ok"


def running(http: httpx.Client) -> str:
    """A run of the full window, once it is running and has made progress."""
    run_id: str = http.post("/api/backtests", json=LONG).json()["id"]

    def started() -> bool:
        record = http.get(f"/api/backtests/{run_id}").json()
        return record["status"] == "running" and record["progress"] > 0

    wait_for(started, "the run to make progress")
    return run_id


def stored_status(service: BacktestService, run_id: str) -> str:
    with service.store.engine.connect() as conn:
        query = sa.text("SELECT status FROM runs WHERE id = :id")
        return str(conn.execute(query, {"id": run_id}).scalar_one())


def test_an_unwritable_index_refuses_submissions_and_records_a_finished_run_later(
    service: BacktestService, http: httpx.Client
) -> None:
    run_id = running(http)
    folder = service.results_dir / run_id
    with read_only(service.store.engine):
        message = unavailable(http.post("/api/backtests", json=SHORT))
        assert "attempt to write a readonly database" in message
        assert any("readonly database" in problem for problem in unhealthy(http))
        # the run ends meanwhile: its final status is shown, kept, and its folder kept
        wait_for(lambda: http.get("/api/health").json()["unrecorded"] == 1, "the run to end")
        shown = http.get(f"/api/backtests/{run_id}").json()
        assert shown["status"] == "done" and shown["result_dir"] == str(folder), shown
        assert (folder / "summary.json").is_file()
        assert stored_status(service, run_id) == "running"  # not written yet
    wait_for(lambda: stored_status(service, run_id) == "done", "the final status to be written")
    record = http.get(f"/api/backtests/{run_id}").json()
    assert (record["status"], record["progress"], record["error"]) == ("done", 1.0, None)
    assert http.get(f"/api/backtests/{run_id}/summary").status_code == 200
    cancel = http.delete(f"/api/backtests/{run_id}")
    assert cancel.status_code == 409 and cancel.json()["error"]["code"] == "finished"
    assert healthy(http)
    assert http.post("/api/backtests", json=SHORT).status_code == 202


def test_a_full_index_refuses_submissions_with_503(
    service: BacktestService, http: httpx.Client
) -> None:
    """SQLite's own "database or disk is full": the file may not grow by one page."""

    def no_growth(dbapi_connection: Any, _record: Any) -> None:
        pages = dbapi_connection.execute("PRAGMA page_count").fetchone()[0]
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")

    for _ in range(3):  # fill the file's free pages
        http.post("/api/backtests", json=SHORT)
    sa.event.listen(service.store.engine, "connect", no_growth)
    service.store.engine.dispose()
    try:
        refused = [http.post("/api/backtests", json=SHORT) for _ in range(20)]
    finally:
        sa.event.remove(service.store.engine, "connect", no_growth)
        service.store.engine.dispose()
    full = [r for r in refused if r.status_code != 202]
    assert full, "the file never filled up"
    assert "database or disk is full" in unavailable(full[0])


def test_the_index_moved_away_is_detected_never_written_and_taken_back(
    service: BacktestService, http: httpx.Client
) -> None:
    run_id = running(http)
    index = service.results_dir / "runs.sqlite"
    files = [index, *(index.with_name(f"runs.sqlite{end}") for end in ("-wal", "-shm"))]
    away = [path.with_name(path.name + ".away") for path in files if path.exists()]
    for path, moved in zip(files, away, strict=False):
        path.rename(moved)  # the server's open connections still reach these files
    before = [(p.stat().st_size, p.stat().st_mtime_ns) for p in away]
    assert any("runs.sqlite was deleted or replaced" in p for p in unhealthy(http))
    assert "runs.sqlite was deleted or replaced" in unavailable(
        http.post("/api/backtests", json=SHORT)
    )
    unavailable(http.get("/api/backtests"))
    unavailable(http.get(f"/api/backtests/{run_id}"))
    # the run finishes: nothing is written into the file that left, and no new file appears
    wait_for(lambda: http.get("/api/health").json()["unrecorded"] == 1, "the run to end")
    assert [(p.stat().st_size, p.stat().st_mtime_ns) for p in away] == before
    assert not index.exists()
    assert (service.results_dir / run_id / "summary.json").is_file(), "the folder is kept"
    for path, moved in zip(files, away, strict=False):
        moved.rename(path)
    wait_for(lambda: healthy(http), "the service to be healthy again")
    record = wait_finished(http, run_id)
    assert record["status"] == "done" and record["result_dir"] == str(service.results_dir / run_id)
    wait_for(lambda: stored_status(service, run_id) == "done", "the final status to be written")


def test_a_replaced_results_folder_or_a_missing_data_folder_is_unhealthy(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"  # links to the real data's parts: the folder can be taken away
    data.mkdir()
    for part in DATA_DIR.iterdir():
        (data / part.name).symlink_to(part)
    service = BacktestService(data, tmp_path / "results", workers=1)
    with (
        serving(create_app(service, api_token="")) as url,
        httpx.Client(base_url=url, timeout=60) as http,
    ):
        results = service.results_dir
        results.rename(tmp_path / "old-results")
        results.mkdir()
        problems = unhealthy(http)
        assert any(f"the results folder {results} was deleted or replaced" in p for p in problems)
        assert any(f"run index {results / 'runs.sqlite'} was deleted" in p for p in problems)
        unavailable(http.post("/api/backtests", json=SHORT))  # the index was in the folder
        results.rmdir()
        (tmp_path / "old-results").rename(results)
        assert healthy(http)

        data.rename(tmp_path / "data-away")
        assert unhealthy(http) == [f"data folder {data} is missing"]
        assert f"data folder {data} is missing" in unavailable(
            http.post("/api/backtests", json=SHORT), "unavailable"
        )
        (tmp_path / "data-away").rename(data)
        assert healthy(http)
        assert (
            wait_finished(http, http.post("/api/backtests", json=SHORT).json()["id"])["status"]
            == "done"
        )


def test_a_damaged_row_is_listed_as_damaged_and_the_others_are_served(
    service: BacktestService, http: httpx.Client
) -> None:
    ids = [http.post("/api/backtests", json=SHORT).json()["id"] for _ in range(3)]
    with service.store.engine.begin() as conn:
        damage = sa.text("UPDATE runs SET request = '{not json', status = 'paused' WHERE id = :id")
        conn.execute(damage, {"id": ids[1]})
    page = http.get("/api/backtests")
    assert page.status_code == 200, page.text
    body = page.json()
    assert body["total"] == 3 and [r["id"] for r in body["items"]] == [ids[2], ids[0]]
    assert body["damaged"] == [{"id": ids[1], "reason": "request: not valid JSON"}]
    one = http.get(f"/api/backtests/{ids[1]}")
    assert one.status_code == 500 and one.json()["error"]["code"] == "run_damaged"
    assert f"run '{ids[1]}' is damaged in the run index" in one.json()["error"]["message"]
    assert http.get(f"/api/backtests/{ids[0]}").status_code == 200
    assert http.get("/api/backtests", params={"status": "done"}).status_code == 200


def test_beyond_the_queue_bound_submissions_get_429(tmp_path: Path) -> None:
    service = new_service(tmp_path / "results", workers=1, max_queued=2)
    with (
        serving(create_app(service, api_token="")) as url,
        httpx.Client(base_url=url, timeout=60) as http,
    ):
        first = running(http)  # started: no longer waiting
        waiting = [http.post("/api/backtests", json=SHORT) for _ in range(2)]
        assert [r.status_code for r in waiting] == [202, 202]
        refused = http.post("/api/backtests", json=SHORT)
        assert refused.status_code == 429, refused.text
        assert refused.headers["retry-after"] == "5"
        error = refused.json()["error"]
        assert error["code"] == "queue_full"
        assert error["message"] == (
            "the run queue is full: 2 runs are waiting, the most this server queues (2); "
            "retry later"
        )
        assert http.get("/api/health").json()["max_queued"] == 2
        http.delete(f"/api/backtests/{waiting[0].json()['id']}")  # a slot is free again
        assert http.post("/api/backtests", json=SHORT).status_code == 202
        http.delete(f"/api/backtests/{first}")
