"""The REST API body goes through the same loader as the CLI (issue 12): JSON `Infinity`, `NaN`,
`1e400`, booleans for numbers, impossible dates and capital below the share class's minimum are
answered 422 naming the field (`invalid_config` and the config key for an override or the
capital's bounds, `invalid_request` and `capital` for a capital that is not a finite number), and
nothing is queued (they used to be accepted with 202 and fail later as "internal error:
ValueError")."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from api.support import serving
from basis_strategy.api import create_app
from basis_strategy.services.queue import BacktestService
from e2e.test_cli import DATA_DIR

WEEK = '"start": "2024-06-01T00:00:00Z", "end": "2024-06-08T00:00:00Z"'


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    results = tmp_path_factory.mktemp("api-inputs")
    service = BacktestService(DATA_DIR, results, database_url=None, workers=1)
    with serving(create_app(service, api_token="")) as url, httpx.Client(base_url=url) as http:
        yield http


@pytest.mark.parametrize(
    ("body", "field", "fragment"),
    [
        ('"capital": Infinity', "capital", "finite"),
        ('"capital": 1e400', "capital", "finite"),
        ('"capital": 1e308', "initial_capital", "less than or equal"),
        ('"capital": 1', "initial_capital", "at least 10,000 USDT"),
        ('"overrides": {"reserve_ratio": NaN}', "reserve_ratio", "finite"),
        ('"overrides": {"dust_min_usd": Infinity}', "dust_min_usd", "finite"),
        ('"overrides": {"hedge.allocation": {"binance": NaN, "bybit": 0.5, "okx": 0.5}}',
         "hedge.allocation.binance", "finite"),
        ('"overrides": {"flows": [{"at": "2024-06-02T00:00:00Z", "amount": -Infinity}]}',
         "flows.0.amount", "finite"),
        ('"overrides": {"shocks": [{"series": ["price:BTC"], "start": "2024-06-02T00:00:00Z", '
         '"end": "2024-06-02T00:00:00Z", "kind": "set", "value": NaN}]}', "shocks.0.value",
         "finite"),
        ('"overrides": {"costs.gas": 1}', "costs.gas", "boolean"),
        ('"overrides": {"hedge.delta_tolerance": true}', "hedge.delta_tolerance", "number"),
        ('"overrides": {"shocks": [{"series": ["price:BTC"], "start": "2024-02-30T00:00:00Z", '
         '"end": "2024-06-02T00:00:00Z", "kind": "move", "value": 0.1}]}', "shocks.0.start",
         "2024-02-30"),
    ],
)  # fmt: skip
def test_bad_numbers_in_the_body_are_422_and_nothing_is_queued(
    client: httpx.Client, body: str, field: str, fragment: str
) -> None:
    before = client.get("/api/backtests").json()["total"]
    response = client.post(
        "/api/backtests",
        content=f'{{"mode": "btc_basis", {WEEK}, {body}}}'.encode(),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    code = "invalid_request" if field == "capital" else "invalid_config"
    assert error["code"] == code and error["field"] == field, error
    assert fragment in error["message"], error
    assert client.get("/api/backtests").json()["total"] == before


def test_a_good_body_is_accepted(client: httpx.Client) -> None:
    """Control: the same body with good values is queued (the refusals above are about them)."""
    body = f'{{"mode": "btc_basis", {WEEK}, "capital": 1e5, "overrides": {{"reserve_ratio": 0}}}}'
    response = client.post(
        "/api/backtests", content=body.encode(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 202, response.text
    client.delete(f"/api/backtests/{response.json()['id']}")
