"""`basis serve` as an operator runs it (a subprocess on a free port, the real uvicorn set-up):
one server per results folder, refusals at start, uvicorn's own errors as JSON, no token in
the access log, and `/api/health` answering fast during a burst of submissions (issue 12)."""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.support import DATA_DIR, WEEK, wait_finished, wait_for

TOKEN = "serve-t0ken-5a4b3c2d1e"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def command(port: int, results: Path, *extra: str, data: Path = DATA_DIR) -> list[str]:
    return [
        *(sys.executable, "-m", "basis_strategy.cli", "serve", "--port", str(port)),
        *("--data-dir", str(data), "--results-dir", str(results), *extra),
    ]


def environment(token: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BASIS_")}
    return env | ({"BASIS_API_TOKEN": token} if token else {})


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


@contextmanager
def serving(folder: Path, *extra: str, token: str | None = None) -> Iterator[Server]:
    """`basis serve` in a subprocess until /api/health answers; stopped with Ctrl-C after."""
    port = free_port()
    log = folder / f"server-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command(port, folder / "results", *extra),
            env=environment(token),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", process, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, server.text()
            try:
                if httpx.get(f"{server.url}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "basis serve did not answer within 60 s"
            time.sleep(0.2)
        yield server
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
    assert process.returncode == 0, server.text()


def refused(args: list[str], token: str | None = None) -> subprocess.CompletedProcess[str]:
    """A `basis serve` that must exit at once (killed after 60 s if it serves instead)."""
    return subprocess.run(
        args, env=environment(token), capture_output=True, text=True, timeout=60, check=False
    )


# --- one server per results folder ----------------------------------------------------------


def test_a_second_server_on_the_same_folder_exits_2_and_touches_nothing(tmp_path: Path) -> None:
    with (
        serving(tmp_path, "--workers", "2") as live,
        httpx.Client(base_url=live.url, timeout=60) as http,
    ):
        ids = [
            http.post("/api/backtests", json=body).json()["id"]
            for body in (
                {"mode": "btc_basis"},
                {"mode": "btc_basis"},
                {"mode": "btc_basis", **WEEK},
            )
        ]

        def two_running() -> bool:
            records = [http.get(f"/api/backtests/{run_id}").json() for run_id in ids]
            return [r["status"] for r in records] == ["running", "running", "queued"]

        wait_for(two_running, "two runs running and one queued")
        port = int(live.url.rsplit(":", 1)[1])
        same_port = refused(command(port, tmp_path / "results"))
        own_port = refused(command(free_port(), tmp_path / "results"))
        for second in (same_port, own_port):
            assert second.returncode == 2, second.stderr
            assert second.stderr.count("\n") == 1 and second.stderr.startswith("basis: error: ")
        assert same_port.stderr == (
            f"basis: error: --port: cannot listen on 127.0.0.1:{port}: Address already in use\n"
        )
        assert own_port.stderr.startswith(
            f"basis: error: the results folder {tmp_path / 'results'} is in use by another "
            f"basis serve (pid {live.process.pid} on "
        )
        records = [wait_finished(http, run_id) for run_id in ids]
        assert [(r["status"], r["error"]) for r in records] == [("done", None)] * 3


def test_serve_refuses_a_missing_data_folder_and_a_bad_queue_bound(tmp_path: Path) -> None:
    port = free_port()
    missing = refused(command(port, tmp_path / "results", data=tmp_path / "nonexistent"))
    assert missing.returncode == 2, missing.stderr
    assert missing.stderr == f"basis: error: data_dir: not a folder: {tmp_path / 'nonexistent'}\n"
    bound = refused(command(port, tmp_path / "results", "--max-queued", "0"))
    assert bound.returncode == 2
    assert bound.stderr == "basis: error: max_queued: must be at least 1, was 0\n"
    assert not (tmp_path / "results").exists(), "nothing is written"


# --- one served instance for the request-level checks -----------------------------------------


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("served")
    with serving(folder, "--max-queued", "1000", "--workers", "1", token=TOKEN) as server:
        yield server


def raw_request(url: str, *parts: bytes) -> bytes:
    """Send `parts` on one connection, a moment apart (so that the server reads them apart);
    everything the server answers until it closes."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        for part in parts:
            sock.sendall(part)
            time.sleep(0.2)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_oversized_headers_get_the_json_error_shape(secured: Server) -> None:
    """uvicorn refuses headers over 16 KiB itself, before the app: the answer is still JSON."""
    start = b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 20_000
    answer = raw_request(secured.url, start, b"\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert b"content-type: application/json" in head.lower()
    assert body == (
        b'{"error": {"code": "bad_request", "message": "not a valid HTTP request '
        b'(malformed, or headers over 16 KiB)"}}'
    )
    malformed = raw_request(secured.url, b"GET /api/health HTTP/1.1\r\nno colon here\r\n\r\n")
    assert malformed.partition(b"\r\n\r\n")[2] == body


def test_no_token_reaches_the_access_log(secured: Server) -> None:
    with httpx.Client(base_url=secured.url, timeout=30) as http:
        http.get("/api/backtests", params={"token": TOKEN, "limit": 5})
        http.get("/api/backtests", params={"access_token": "client-secret-1", "limit": 6})
        http.get("/api/backtests", params={"api_key": "client-secret-2", "q": TOKEN})
        http.get(f"/api/backtests/{TOKEN}")
        http.post("/api/backtests", params={"Authorization": TOKEN}, json={"mode": "x"})
    log = wait_for(
        lambda: (text := secured.text()).count("GET /api/backtests") >= 3 and text,
        "the access log lines",
    )
    assert "GET /api/backtests?token=***&limit=5" in log, log[-2000:]
    assert "GET /api/backtests?access_token=***&limit=6" in log
    for secret in (TOKEN, "client-secret-1", "client-secret-2"):
        assert secret not in log


BURST = """
import asyncio, sys, httpx
async def main():
    body = {"mode": "btc_basis", "start": "2024-06-01T00:00:00Z", "end": "2024-06-08T00:00:00Z"}
    limits = httpx.Limits(max_connections=300)
    async with httpx.AsyncClient(base_url=sys.argv[1], timeout=300, limits=limits) as client:
        answers = await asyncio.gather(*(
            client.post("/api/backtests", json=body, headers={"Authorization": sys.argv[2]})
            for _ in range(300)
        ))
    print(sorted({a.status_code for a in answers}))
asyncio.run(main())
"""


def test_health_answers_within_100_ms_during_a_burst_of_300_submissions(
    secured: Server,
) -> None:
    """Submissions are validated in their own process: the event loop keeps answering."""
    with httpx.Client(base_url=secured.url, timeout=30) as http:
        warm = http.post("/api/backtests", json={"mode": "btc_basis", **WEEK}, headers=AUTH)
        assert warm.status_code == 202, warm.text  # the validation process is up and warm
        burst = subprocess.Popen(
            [sys.executable, "-c", BURST, secured.url, AUTH["Authorization"]],
            stdout=subprocess.PIPE,
            text=True,
        )
        seconds: list[float] = []
        while burst.poll() is None:
            started = time.perf_counter()
            assert http.get("/api/health").status_code == 200
            seconds.append(time.perf_counter() - started)
            time.sleep(0.02)
        out, _ = burst.communicate()
        runs: list[dict[str, Any]] = http.get("/api/backtests", params={"limit": 1000}).json()[
            "items"
        ]
    assert out.strip() == "[202]" and len(runs) == 301
    seconds.sort()
    median, p90 = statistics.median(seconds), seconds[int(0.9 * len(seconds))]
    summary = (
        f"{len(seconds)} health answers: median {median:.3f} s, p90 {p90:.3f} s, "
        f"max {seconds[-1]:.3f} s"
    )
    print(summary)
    assert len(seconds) >= 10, summary
    assert p90 < 0.1, summary
