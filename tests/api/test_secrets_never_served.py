"""Secrets come only from the environment and never appear in logs, files or responses
(issue 13, item 7): with every secret variable set, the server runs a backtest and answers
every kind of read; the test then searches everything it served, every file under the results
folder and every log record, as the application made it (no redacting filter installed: this
proves the server never logs a secret, whatever logging `basis serve` is given)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from api.support import WEEK, new_service, serving, wait_finished
from basis_strategy.api import create_app
from basis_strategy.core.secrets import SECRET_ENV

SECRETS_SET = {  # distinctive values for every secret variable the server might see
    name: f"sEcR3t-{name.removeprefix('BASIS_').lower()}-{index:04d}"
    for index, name in enumerate(SECRET_ENV)
    if name != "BASIS_DATABASE_URL"  # would point the run index at another database
}
SECRETS_SET["BASIS_ETH_RPC_URL"] = "https://eth.example/v2/sEcR3t-rpc-key-0099"
TOKEN = SECRETS_SET["BASIS_API_TOKEN"]
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, Path]]:
    results = tmp_path_factory.mktemp("secret-results")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in SECRETS_SET.items():
            patch.setenv(name, value)
        with (
            serving(create_app(new_service(results))) as url,
            httpx.Client(base_url=url, timeout=60) as http,
        ):
            yield http, results


def everything_written(folder: Path) -> str:
    files = [path for path in folder.rglob("*") if path.is_file()]
    assert files, f"nothing written under {folder}"
    return "\n".join(path.read_bytes().decode("utf-8", "replace") for path in files)


def test_no_secret_in_any_response_file_or_log_line(
    served: tuple[httpx.Client, Path], caplog: pytest.LogCaptureFixture
) -> None:
    http, results = served
    caplog.set_level(logging.DEBUG)
    submitted = http.post("/api/backtests", json={"mode": "btc_basis", **WEEK}, headers=AUTH)
    assert submitted.status_code == 202, submitted.text
    run_id = submitted.json()["id"]
    assert wait_finished(http, run_id)["status"] == "done"
    reads = [
        "/api/backtests",
        f"/api/backtests/{run_id}",
        f"/api/backtests/{run_id}/summary",
        f"/api/backtests/{run_id}/events?limit=1000",
        f"/api/backtests/{run_id}/balance-sheet?limit=1000",
        f"/api/backtests/{run_id}/report",
        "/api/modes",
        "/api/health",
        "/openapi.json",
        "/",
        f"/api/backtests/{TOKEN}",  # a secret in a path is not echoed back
    ]
    answers = [http.get(path) for path in reads]
    answers.append(http.delete(f"/api/backtests/{run_id}?t={quote(TOKEN)}"))  # no token
    assert [a.status_code for a in answers[:9]] == [200] * 9, [a.text[:200] for a in answers]
    served_text = "\n".join(f"{dict(a.headers)} {a.text}" for a in answers)
    server = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in server)
    searched = {
        "responses": served_text,
        "files": everything_written(results),
        "log records": logged,
    }
    assert f"run {run_id} submitted" in logged  # the records were captured
    for where, text in searched.items():
        assert text, where
        for name, secret in SECRETS_SET.items():
            for spelling in (secret, quote(secret, safe="")):
                assert spelling not in text, f"{name} found in the {where}"
