"""Security basics: the bearer token on POST and DELETE, the 64 KiB body limit, and no token
in any response, log or run file.

The server here is configured the way `basis serve` is: `BASIS_API_TOKEN` is set in the
environment before the service and the app are built.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.support import WEEK, new_service, serving, wait_finished
from basis_strategy.api import create_app

TOKEN = "s3cr3t-T0ken-9f8e7d6c5b4a"
LIMIT = 64 * 1024


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    results = tmp_path_factory.mktemp("secured-results")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BASIS_API_TOKEN", TOKEN)
        app = create_app(new_service(results))
        with serving(app) as url:
            yield url, results


class Recorder:
    """An httpx client that keeps every response, to search them all for the token."""

    def __init__(self, base_url: str) -> None:
        self.responses: list[httpx.Response] = []
        self.http = httpx.Client(
            base_url=base_url, timeout=60, event_hooks={"response": [self._keep]}
        )

    def _keep(self, response: httpx.Response) -> None:
        response.read()
        self.responses.append(response)

    def text(self) -> str:
        return "\n".join(
            f"{r.status_code} {dict(r.headers)} {r.content.decode('utf-8', 'replace')}"
            for r in self.responses
        )


@pytest.fixture
def recorder(secured: tuple[str, Path]) -> Iterator[Recorder]:
    recorder = Recorder(secured[0])
    with recorder.http:
        yield recorder


def assert_401(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Bearer {TOKEN[:-1]}"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
    ],
)
def test_mutating_requests_need_the_token(recorder: Recorder, headers: dict[str, str]) -> None:
    before = recorder.http.get("/api/backtests").json()["total"]
    assert_401(recorder.http.post("/api/backtests", json={"mode": "btc_basis"}, headers=headers))
    assert_401(recorder.http.delete("/api/backtests/anything", headers=headers))
    assert recorder.http.get("/api/backtests").json()["total"] == before, "nothing was queued"
    assert TOKEN not in recorder.text()


def test_with_the_token_runs_are_submitted_and_cancelled(
    recorder: Recorder, secured: tuple[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    http = recorder.http
    assert http.get("/api/health").json()["token_required"] is True
    short = http.post("/api/backtests", json={"mode": "btc_basis", **WEEK}, headers=auth)
    assert short.status_code == 202, short.text
    long = http.post("/api/backtests", json={"mode": "btc_basis"}, headers=auth)
    assert long.status_code == 202, long.text
    assert_401(http.delete(f"/api/backtests/{long.json()['id']}"))
    cancelled = http.delete(f"/api/backtests/{long.json()['id']}", headers=auth)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    # reading needs no token
    record = wait_finished(http, short.json()["id"])
    assert record["status"] == "done", record  # the token never reached the run's config
    run_id = record["id"]
    for tail in ("", "/summary", "/events", "/balance-sheet", "/report", "/plots/cumulative_pnl"):
        assert http.get(f"/api/backtests/{run_id}{tail}").status_code == 200, tail
    http.get("/api/modes")
    http.get("/openapi.json")
    http.post("/api/backtests", json={"mode": "btc_basis", "colour": TOKEN}, headers=auth)
    http.post("/api/backtests", json={"mode": TOKEN}, headers=auth)

    assert len(recorder.responses) >= 14
    assert TOKEN not in recorder.text(), "the token appears in a response"
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert "uvicorn.access" in logged and "POST /api/backtests" in logged, "logs were captured"
    assert TOKEN not in logged, "the token appears in the server log"
    for path in Path(secured[1]).rglob("*"):
        if path.is_file() and path.suffix in (".json", ".csv", ".html", ".sqlite"):
            assert TOKEN.encode() not in path.read_bytes(), path


def test_a_refused_body_never_echoes_the_token(recorder: Recorder) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    response = recorder.http.post("/api/backtests", json={"mode": TOKEN}, headers=auth)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "mode"


# --- body limit -------------------------------------------------------------------------------


def padded(size: int) -> bytes:
    """A JSON request body of exactly `size` bytes (an invalid mode: 422 if it gets through)."""
    head = b'{"mode": "x"'
    return head + b" " * (size - len(head) - 1) + b"}"


def test_a_body_at_the_limit_is_read(recorder: Recorder) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    response = recorder.http.post("/api/backtests", content=padded(LIMIT), headers=auth)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "mode"


def assert_413(response: httpx.Response) -> None:
    assert response.status_code == 413, response.text
    assert response.json() == {
        "error": {"code": "payload_too_large", "message": f"request body larger than {LIMIT} bytes"}
    }


def test_a_body_over_the_limit_is_413_by_content_length(recorder: Recorder) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    assert_413(recorder.http.post("/api/backtests", content=padded(LIMIT + 1), headers=headers))
    # an anonymous request is refused before its body is read, whatever its size
    assert_401(recorder.http.post("/api/backtests", content=padded(10 * LIMIT)))


def test_a_streamed_body_over_the_limit_is_413(recorder: Recorder) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer encoding
        body = padded(LIMIT + 10)
        for start in range(0, len(body), 4096):
            yield body[start : start + 4096]

    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    response = recorder.http.post("/api/backtests", content=chunks(), headers=headers)
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert_413(response)


def test_a_streamed_body_under_the_limit_is_read(recorder: Recorder) -> None:
    def chunks() -> Iterator[bytes]:
        body = padded(LIMIT - 100)
        for start in range(0, len(body), 1000):
            yield body[start : start + 1000]

    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    response = recorder.http.post("/api/backtests", content=chunks(), headers=headers)
    assert response.status_code == 422, response.text


def test_no_token_configured_means_no_check(client: httpx.Client) -> None:
    health: dict[str, Any] = client.get("/api/health").json()
    assert health["token_required"] is False
    response = client.delete("/api/backtests/unknown-run")
    assert response.status_code == 404  # past the guard, to the lookup


# --- the token before anything else; never in a log (issue 12, item 5) ------------------------


@pytest.mark.parametrize("content", [b"{not json", b"\xff\xfe{", b'{"mode": 5}', b"", b"x" * 5000])
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-token"}])
def test_without_the_token_a_body_is_never_parsed(
    recorder: Recorder, content: bytes, headers: dict[str, str]
) -> None:
    response = recorder.http.post(
        "/api/backtests", content=content, headers={"Content-Type": "application/json", **headers}
    )
    assert_401(response)
    assert response.headers["connection"] == "close"  # the unread body ends the connection


def test_a_token_in_a_url_is_never_logged(
    recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    http = recorder.http
    http.get("/api/backtests", params={"token": TOKEN, "limit": 3})
    http.get("/api/backtests", params={"api_key": "their-key-123", "offset": 1})
    http.get("/api/backtests", params={"q": TOKEN})
    http.get(f"/api/backtests/{TOKEN}/summary")
    http.delete(f"/api/backtests/{TOKEN}", params={"access_token": TOKEN})
    server = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in server)
    assert "GET /api/backtests?token=***&limit=3" in logged, logged
    assert "GET /api/backtests?api_key=***&offset=1" in logged
    assert "GET /api/backtests/***/summary" in logged
    assert TOKEN not in logged and "their-key-123" not in logged
