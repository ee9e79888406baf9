"""Fixtures of the API tests: the real app and service on a free port (see `support.py`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.support import WEEK, new_service, serving, wait_finished
from basis_strategy.api import create_app


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("api-results")


@pytest.fixture(scope="module")
def base_url(results_dir: Path) -> Iterator[str]:
    """The app with no token required (an empty token disables the check)."""
    with serving(create_app(new_service(results_dir), api_token="")) as url:
        yield url


@pytest.fixture(scope="module")
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=60) as http:
        yield http


@pytest.fixture(scope="module")
def done_run(client: httpx.Client) -> dict[str, Any]:
    """A finished one-week btc_basis run (its final record)."""
    response = client.post("/api/backtests", json={"mode": "btc_basis", **WEEK})
    assert response.status_code == 202, response.text
    record = wait_finished(client, response.json()["id"])
    assert record["status"] == "done", record
    return record
