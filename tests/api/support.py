"""Helpers of the API tests: the real app over the real BacktestService (SQLite in a temporary
results folder, two worker processes), served by uvicorn on a free loopback port in a thread.

Requests go over real sockets with httpx, so the middlewares (body limit, headers), the error
handlers and the service's worker processes are all exercised as in `basis serve`. Uvicorn
runs with `log_config=None`: its access and error logs reach the root logger (and `caplog`).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
import uvicorn
from fastapi import FastAPI

from basis_strategy.services.queue import BacktestService

DATA_DIR = Path(
    os.environ.get("BASIS_DATA_DIR")
    or Path(__file__).resolve().parents[2].parent / "shared" / "data"
)
WEEK = {"start": "2024-06-01T00:00:00Z", "end": "2024-06-08T00:00:00Z"}
FINISHED = {"done", "failed", "cancelled"}


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """Serve `app` on 127.0.0.1:{free port} in a thread (lifespan on); yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_config=None, ws="none", lifespan="on", access_log=True)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "the server stopped while starting (see the log)"
        assert time.monotonic() < deadline, "the server did not start within 30 s"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(60)
        sock.close()
        assert not thread.is_alive(), "the server did not stop within 60 s"


def new_service(results_dir: Path, **settings: Any) -> BacktestService:
    assert (DATA_DIR / "README.md").is_file(), f"data folder not found: {DATA_DIR}"
    return BacktestService(DATA_DIR, results_dir, **{"workers": 2, **settings})


def wait_finished(client: httpx.Client, run_id: str, timeout_s: float = 120) -> dict[str, Any]:
    """Poll the run until it has finished; its last record."""
    deadline = time.monotonic() + timeout_s
    while True:
        record: dict[str, Any] = client.get(f"/api/backtests/{run_id}").json()
        if record["status"] in FINISHED:
            return record
        assert time.monotonic() < deadline, f"run {run_id} still {record['status']}"
        time.sleep(0.1)


def wait_for(check: Callable[[], Any], what: str, timeout_s: float = 120) -> Any:
    """Poll `check` until it returns something truthy; that value."""
    deadline = time.monotonic() + timeout_s
    while not (value := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return value


@contextmanager
def read_only(engine: sa.Engine) -> Iterator[None]:
    """Every new connection of a SQLite engine refuses writes (`PRAGMA query_only`: writes
    fail with SQLite's own "attempt to write a readonly database"), and the pool is emptied
    so that no connection opened before escapes it."""

    def refuse_writes(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA query_only = ON")

    sa.event.listen(engine, "connect", refuse_writes)
    engine.dispose()
    try:
        yield
    finally:
        sa.event.remove(engine, "connect", refuse_writes)
        engine.dispose()


def stop_live_sessions(client: httpx.Client, headers: dict[str, str] | None = None) -> None:
    """Stop every live session still running (a test's sessions must not outlive it: one
    started without `max_cycles` runs until stopped), and wait until none runs."""
    for session in client.get("/api/live").json():
        if session["running"]:
            client.post(f"/api/live/{session['session_id']}/stop", headers=headers)
    wait_for(
        lambda: not any(s["running"] for s in client.get("/api/live").json()),
        "every live session to stop",
        timeout_s=60,
    )
