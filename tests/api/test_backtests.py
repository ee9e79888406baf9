"""REST API over the real service: submit, watch, list, results, cancel, and error shapes.

Result endpoints are checked against the run folder's files read with plain pandas / json.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from api.support import WEEK, wait_finished
from basis_strategy.config.loader import load_run_config
from basis_strategy.config.models import MODE_NAMES, ModeConfig
from basis_strategy.reports.plots import PLOT_NAMES


def error_of(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The error body, after checking the status, the JSON shape and the code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    error: dict[str, Any] = body["error"]
    return error


# --- submit and watch -------------------------------------------------------------------------


def test_submit_answers_202_with_the_queued_record(client: httpx.Client) -> None:
    request = {"mode": "btc_basis", **WEEK, "capital": 50_000, "overrides": {"costs.gas": False}}
    response = client.post("/api/backtests", json=request)
    assert response.status_code == 202, response.text
    record = response.json()
    assert record["status"] == "queued" and record["progress"] == 0.0
    assert record["mode"] == "btc_basis" and record["result_dir"] is None
    assert response.headers["location"] == f"/api/backtests/{record['id']}"
    assert record["request"]["overrides"] == {"costs.gas": False}
    assert record["request"]["capital"] == 50_000
    done = wait_finished(client, record["id"])
    assert done["status"] == "done", done
    summary = client.get(f"/api/backtests/{record['id']}/summary").json()
    assert summary["initial_capital"] == 50_000
    assert summary["config"]["mode"]["costs"]["gas"] is False
    assert summary["start"].startswith("2024-06-01T00:00")


def test_a_done_run_has_progress_1_and_its_folder(done_run: dict[str, Any]) -> None:
    assert done_run["progress"] == 1.0
    assert done_run["error"] is None
    folder = Path(done_run["result_dir"])
    assert folder.name == done_run["id"]
    assert (folder / "summary.json").is_file() and (folder / "index.html").is_file()
    assert done_run["started_at"] <= done_run["finished_at"]


def test_get_unknown_run_is_404(client: httpx.Client) -> None:
    error = error_of(client.get("/api/backtests/no-such-run"), 404, "not_found")
    assert "no-such-run" in error["message"]
    for tail in ("summary", "events", "balance-sheet", "report", "plots/cumulative_pnl"):
        error_of(client.get(f"/api/backtests/no-such-run/{tail}"), 404, "not_found")


# --- list -------------------------------------------------------------------------------------


def test_list_filters_and_pages(client: httpx.Client, done_run: dict[str, Any]) -> None:
    lending = client.post(
        "/api/backtests",
        json={"mode": "pure_lending", "start": "2024-06-01T00:00:00Z", "end": "2024-06-03"},
    )
    assert lending.status_code == 202, lending.text
    wait_finished(client, lending.json()["id"])

    everything = client.get("/api/backtests", params={"limit": 1000}).json()
    assert everything["total"] == len(everything["items"]) >= 2
    ids = [r["id"] for r in everything["items"]]
    assert done_run["id"] in ids and lending.json()["id"] in ids
    submitted = [r["submitted_at"] for r in everything["items"]]
    assert submitted == sorted(submitted, reverse=True), "newest first"

    only = client.get("/api/backtests", params={"mode": "pure_lending"}).json()
    assert {r["mode"] for r in only["items"]} == {"pure_lending"}
    assert only["total"] == sum(r["mode"] == "pure_lending" for r in everything["items"])

    done = client.get("/api/backtests", params={"status": "done", "limit": 1000}).json()
    assert {r["status"] for r in done["items"]} == {"done"}
    assert done["total"] == sum(r["status"] == "done" for r in everything["items"])

    first = client.get("/api/backtests", params={"limit": 1, "offset": 0}).json()
    second = client.get("/api/backtests", params={"limit": 1, "offset": 1}).json()
    assert (first["limit"], first["offset"], second["offset"]) == (1, 0, 1)
    assert [first["items"][0]["id"], second["items"][0]["id"]] == ids[:2]
    assert first["total"] == second["total"] == everything["total"]
    past = client.get("/api/backtests", params={"offset": 10_000}).json()
    assert past["items"] == [] and past["total"] == everything["total"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"offset": -1}, "offset"),
        ({"status": "sleeping"}, "status"),
        ({"mode": "moon_basis"}, "mode"),
    ],
)
def test_list_refuses_bad_filters(client: httpx.Client, params: dict[str, Any], field: str) -> None:
    error = error_of(client.get("/api/backtests", params=params), 422, "invalid_request")
    assert error["field"] == field
    assert error["message"].startswith(f"{field}: ")


# --- results ----------------------------------------------------------------------------------


def test_summary_is_the_run_summary_json(client: httpx.Client, done_run: dict[str, Any]) -> None:
    summary = client.get(f"/api/backtests/{done_run['id']}/summary")
    assert summary.status_code == 200
    on_disk = json.loads((Path(done_run["result_dir"]) / "summary.json").read_text())
    assert summary.json() == on_disk
    assert on_disk["mode"] == "btc_basis"


def read_all(client: httpx.Client, url: str, limit: int) -> tuple[list[str], list[list[Any]], int]:
    rows: list[list[Any]] = []
    offset = 0
    while True:
        page = client.get(url, params={"offset": offset, "limit": limit}).json()
        assert page["offset"] == offset and page["limit"] == limit
        assert len(page["rows"]) <= limit
        rows += page["rows"]
        offset += limit
        if offset >= page["total"]:
            return page["columns"], rows, page["total"]


def test_events_pages_cover_the_event_log(client: httpx.Client, done_run: dict[str, Any]) -> None:
    url = f"/api/backtests/{done_run['id']}/events"
    columns, rows, total = read_all(client, url, limit=37)
    frame = pd.read_csv(Path(done_run["result_dir"]) / "event_log.csv", keep_default_na=False)
    assert columns == list(frame.columns)
    assert total == len(rows) == len(frame) > 100
    seq, kind, amount, marks = (columns.index(c) for c in ("seq", "event_type", "amount", "marks"))
    assert [r[seq] for r in rows] == frame["seq"].tolist()
    assert [r[kind] for r in rows] == frame["event_type"].tolist()
    assert [r[amount] for r in rows] == pytest.approx(frame["amount"].astype(float).tolist())
    # a quoted JSON cell (commas inside) comes back whole
    marked = [r[marks] for r in rows if r[marks]]
    assert marked and all(isinstance(json.loads(m), dict) for m in marked)
    assert marked == [m for m in frame["marks"].tolist() if m]
    past = client.get(url, params={"offset": total + 5, "limit": 10}).json()
    assert past["rows"] == [] and past["total"] == total


def test_balance_sheet_rows_match_the_file(client: httpx.Client, done_run: dict[str, Any]) -> None:
    url = f"/api/backtests/{done_run['id']}/balance-sheet"
    page = client.get(url, params={"offset": 10, "limit": 1000}).json()
    frame = pd.read_csv(Path(done_run["result_dir"]) / "balance_sheet.csv")
    assert page["total"] == len(frame) == 169  # 2024-06-01 00:00 .. 06-08 00:00
    assert len(page["rows"]) == len(frame) - 10
    assert page["columns"] == list(frame.columns)
    equity = page["columns"].index("equity")
    assert [r[0] for r in page["rows"]] == frame["timestamp"].tolist()[10:]
    assert [r[equity] for r in page["rows"]] == frame["equity"].tolist()[10:]  # exact floats
    for row, (_, expected) in zip(page["rows"], frame.iloc[10:].iterrows(), strict=True):
        for value, want in zip(row[1:], expected.tolist()[1:], strict=True):
            assert value is None if pd.isna(want) else value == want


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 1001}, {"offset": -3}])
def test_row_pages_refuse_bad_paging(
    client: httpx.Client, done_run: dict[str, Any], params: dict[str, int]
) -> None:
    for tail in ("events", "balance-sheet"):
        response = client.get(f"/api/backtests/{done_run['id']}/{tail}", params=params)
        error_of(response, 422, "invalid_request")


def test_plots_and_plotly_script(client: httpx.Client, done_run: dict[str, Any]) -> None:
    folder = Path(done_run["result_dir"]) / "plots"
    for name in PLOT_NAMES:
        for asked in (name, f"{name}.html"):
            page = client.get(f"/api/backtests/{done_run['id']}/plots/{asked}")
            assert page.status_code == 200, (asked, page.text)
            assert page.headers["content-type"].startswith("text/html")
            assert page.text == (folder / f"{name}.html").read_text(encoding="utf-8")
    script = client.get(f"/api/backtests/{done_run['id']}/plots/plotly.min.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert script.content == (folder / "plotly.min.js").read_bytes()
    plot_page = (folder / "cumulative_pnl.html").read_text(encoding="utf-8")
    assert 'src="plotly.min.js"' in plot_page  # resolved next to /plots/{name}


@pytest.mark.parametrize(
    "name", ["nope", "%2E%2E", "index.html", "summary.json", "..%2F..%2Fsummary.json", "plotly.js"]
)
def test_plot_names_outside_the_known_set_are_404(
    client: httpx.Client, done_run: dict[str, Any], name: str
) -> None:
    response = client.get(f"/api/backtests/{done_run['id']}/plots/{name}")
    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "not_found"


def test_report_and_its_linked_files(client: httpx.Client, done_run: dict[str, Any]) -> None:
    base = f"/api/backtests/{done_run['id']}"
    folder = Path(done_run["result_dir"])
    report = client.get(f"{base}/report")
    assert report.status_code == 200
    assert report.headers["content-type"].startswith("text/html")
    assert report.text == (folder / "index.html").read_text(encoding="utf-8")
    # the report's relative links resolve to API paths that serve the run's files
    assert 'src="plots/plotly.min.js"' in report.text
    for name in ("summary.json", "hourly_pnl.csv", "balance_sheet.csv", "event_log.csv"):
        assert f'href="{name}"' in report.text
        linked = client.get(f"{base}/{name}")
        assert linked.status_code == 200, name
        if name == "summary.json":  # served as strict JSON, as `/summary`
            assert linked.headers["content-type"] == "application/json"
            assert linked.json() == client.get(f"{base}/summary").json()
        else:
            assert linked.content == (folder / name).read_bytes()


# --- cancel and 409 ---------------------------------------------------------------------------


def test_results_are_409_until_done_and_cancel_is_409_once_finished(
    client: httpx.Client,
) -> None:
    # the full btc_basis window takes far longer than these requests
    record = client.post("/api/backtests", json={"mode": "btc_basis"}).json()
    run_id = record["id"]
    for tail in ("summary", "events", "balance-sheet", "report", "plots/plotly.min.js"):
        error = error_of(client.get(f"/api/backtests/{run_id}/{tail}"), 409, "not_done")
        assert run_id in error["message"]
    cancelled = client.delete(f"/api/backtests/{run_id}")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert client.get(f"/api/backtests/{run_id}").json()["status"] == "cancelled"
    error_of(client.delete(f"/api/backtests/{run_id}"), 409, "finished")
    error_of(client.get(f"/api/backtests/{run_id}/summary"), 409, "not_done")


def test_cancel_a_done_run_is_409(client: httpx.Client, done_run: dict[str, Any]) -> None:
    error = error_of(client.delete(f"/api/backtests/{done_run['id']}"), 409, "finished")
    assert "done" in error["message"]
    assert client.get(f"/api/backtests/{done_run['id']}").json()["status"] == "done"


def test_cancel_unknown_is_404(client: httpx.Client) -> None:
    error_of(client.delete("/api/backtests/never-submitted"), 404, "not_found")


# --- invalid requests -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_body", "field", "words"),
    [
        ({"mode": "btc_basis", "overrides": {"hedge.allocation.binance": 0.9}},
         "hedge.allocation", "must sum to 1"),
        ({"mode": "btc_basis", "overrides": {"hedge.delta_tolerance": 0.5}},
         "hedge.delta_tolerance", "0.5"),
        ({"mode": "btc_basis", "overrides": {"no_such_key": 1}}, "no_such_key", "unknown key"),
        ({"mode": "btc_basis", "start": "2024-06-08T00:00:00Z", "end": "2024-06-01T00:00:00Z"},
         "start", "before end"),
    ],
)  # fmt: skip
def test_an_invalid_config_is_422_naming_the_field(
    client: httpx.Client, request_body: dict[str, Any], field: str, words: str
) -> None:
    before = client.get("/api/backtests").json()["total"]
    error = error_of(client.post("/api/backtests", json=request_body), 422, "invalid_config")
    assert error["field"] == field
    assert error["message"].startswith(f"{field}: ") and words in error["message"]
    assert client.get("/api/backtests").json()["total"] == before, "nothing was queued"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "mode"),
        ({"mode": "btc_basis", "capital": -5}, "capital"),
        ({"mode": "btc_basis", "colour": "red"}, "colour"),
        ({"mode": "btc_basis", "start": "yesterday"}, "start"),
        ({"mode": "btc_basis", "start": 0}, "start"),  # unix seconds: not what the schema says
        ({"mode": "btc_basis", "end": 1717200000.0}, "end"),
        ({"mode": "btc_basis", "capital": "100000"}, "capital"),
        ({"mode": "btc_basis", "capital": True}, "capital"),
        ({"mode": "moon_basis"}, "mode"),  # the schema's enum
        ({"mode": "configs/modes/btc_basis.yaml"}, "mode"),
    ],
)
def test_a_malformed_request_is_422_json(
    client: httpx.Client, body: dict[str, Any], field: str
) -> None:
    error = error_of(client.post("/api/backtests", json=body), 422, "invalid_request")
    assert error["field"] == field


def test_not_json_404_and_405_are_json_errors(client: httpx.Client) -> None:
    response = client.post(
        "/api/backtests", content=b"{not json", headers={"content-type": "application/json"}
    )
    error_of(response, 422, "invalid_request")
    response = client.post(
        "/api/backtests", content=b"\xff\xfe{", headers={"content-type": "application/json"}
    )
    error_of(response, 400, "bad_request")
    error_of(client.get("/api/nothing-here"), 404, "not_found")
    error_of(client.get("/static/missing.js"), 404, "not_found")
    response = client.put("/api/backtests")
    error_of(response, 405, "method_not_allowed")
    assert "GET" in response.headers["allow"]


# --- modes, health, schema, UI ----------------------------------------------------------------


def test_modes_carry_schema_and_resolved_defaults(client: httpx.Client) -> None:
    modes = client.get("/api/modes").json()
    assert [m["name"] for m in modes] == list(MODE_NAMES)
    schema = ModeConfig.model_json_schema()
    for mode in modes:
        assert mode["json_schema"] == schema
        expected = load_run_config(mode["name"], env={}).mode.model_dump(mode="json")
        assert mode["defaults"] == expected
    btc = next(m for m in modes if m["name"] == "btc_basis")
    assert btc["share_class"] == "usdt_stable" and btc["asset"] == "BTC"
    assert btc["defaults"]["hedge"]["allocation"] == {"binance": 0.4, "bybit": 0.3, "okx": 0.3}


def test_health_reports_the_service(client: httpx.Client) -> None:
    response = client.get("/api/health")
    health = response.json()
    assert response.status_code == 200 and health["status"] == "ok" and health["version"]
    assert health["problems"] == [] and health["max_queued"] == 100
    assert health["token_required"] is False
    assert health["data"]["exists"] is True
    assert health["database"] == {"dialect": "sqlite", "reachable": True}
    assert health["workers"]["configured"] == 2
    assert isinstance(health["queued"], int)


def test_openapi_documents_every_endpoint(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    expected = {
        "/api/backtests": {"get", "post"},
        "/api/backtests/{run_id}": {"get", "delete"},
        "/api/backtests/{run_id}/summary": {"get"},
        "/api/backtests/{run_id}/events": {"get"},
        "/api/backtests/{run_id}/balance-sheet": {"get"},
        "/api/backtests/{run_id}/plots/{name}": {"get"},
        "/api/backtests/{run_id}/report": {"get"},
        "/api/modes": {"get"},
        "/api/health": {"get"},
    }
    for path, methods in expected.items():
        assert methods <= set(paths[path]), path
    post = paths["/api/backtests"]["post"]
    assert "202" in post["responses"] and "422" in post["responses"]
    assert post["responses"]["202"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/RunRecord"
    }
    examples = post["requestBody"]["content"]["application/json"]["examples"]
    assert examples["btc_basis week"]["value"]["mode"] == "btc_basis"
    assert "ErrorResponse" in spec["components"]["schemas"]
    assert "HTTPBearer" in spec["components"]["securitySchemes"]


def test_the_web_ui_is_served(client: httpx.Client) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script src="/static/app.js"' in page.text
    for name in ("app.js", "style.css"):
        asset = client.get(f"/static/{name}")
        assert asset.status_code == 200 and len(asset.content) > 1000
    assert page.headers["x-content-type-options"] == "nosniff"


# --- refused at submission, in the API's words (issue 12, item 5) -----------------------------


@pytest.mark.parametrize(
    ("window", "field"),
    [
        ({"start": "2024-01-01T00:00:00Z", "end": "2024-01-08T00:00:00Z"}, "start"),
        ({"start": "2025-09-01T00:00:00Z", "end": "2025-10-01T00:00:00Z"}, "end"),
        ({"start": "2030-01-01T00:00:00Z", "end": "2030-01-08T00:00:00Z"}, "start"),
    ],
)
def test_a_window_outside_the_data_is_422_at_submission(
    client: httpx.Client, window: dict[str, str], field: str
) -> None:
    before = client.get("/api/backtests").json()["total"]
    error = error_of(
        client.post("/api/backtests", json={"mode": "btc_basis", **window}), 422, "invalid_data"
    )
    assert error["field"] == field
    assert error["message"].startswith(f"{field}: ") and "the run needs" in error["message"]
    assert client.get("/api/backtests").json()["total"] == before, "nothing was queued"


def test_messages_use_the_api_words_not_cli_flags(client: httpx.Client) -> None:
    body = {"mode": "btc_basis", "overrides": {"hedge.delta_tolerance.x": 1}}
    error = error_of(client.post("/api/backtests", json=body), 422, "invalid_config")
    assert error["field"] == "hedge.delta_tolerance.x"
    assert error["message"] == "hedge.delta_tolerance.x: hedge.delta_tolerance is not a section"
    assert "--" not in error["message"]


@pytest.mark.parametrize(
    ("content", "code", "field"),
    [
        (b'{"mode": "btc_basis", "capital": Infinity}', "invalid_request", "capital"),
        (b'{"mode": "btc_basis", "capital": NaN}', "invalid_request", "capital"),
        (
            b'{"mode": "btc_basis", "overrides": {"hedge.delta_tolerance": -Infinity}}',
            "invalid_config",
            "hedge.delta_tolerance",
        ),
        (
            b'{"mode": "btc_basis", "overrides": {"flows": [{"amount": NaN}]}}',
            "invalid_config",
            "flows.0.amount",
        ),
    ],
)
def test_nan_and_infinity_are_not_json_numbers(
    client: httpx.Client, content: bytes, code: str, field: str
) -> None:
    """Refused at the door: the request's own fields by their name, an override by its config
    key path (as a config error names it), with the value."""
    response = client.post(
        "/api/backtests", content=content, headers={"content-type": "application/json"}
    )
    error = error_of(response, 422, code)
    assert error["field"] == field
    assert (
        "nan" in error["message"].lower()
        or "inf" in error["message"].lower()
        or ("finite" in error["message"])
    )


@pytest.mark.parametrize(
    "content", [b"{not json", b'{"mode": "btc_basis",}', b'{"mode": "btc_basis"} x', b"[1,"]
)
def test_a_body_that_is_not_json_names_the_body(client: httpx.Client, content: bytes) -> None:
    response = client.post(
        "/api/backtests", content=content, headers={"content-type": "application/json"}
    )
    error = error_of(response, 422, "invalid_request")
    assert error["field"] == "body"
    assert error["message"].startswith("body: not valid JSON (")
    assert "char" not in error["message"] and "column" not in error["message"]
    utf16 = client.post(
        "/api/backtests", content=b"\xff\xfe{", headers={"content-type": "application/json"}
    )
    assert error_of(utf16, 400, "bad_request") == {
        "code": "bad_request",
        "message": "body: cannot be read as JSON (not UTF-8 text, or nested too deeply)",
        "field": "body",
    }


def test_mode_is_an_enum_in_the_openapi_schema(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/api/backtests"]["post"]["requestBody"]["content"]["application/json"]
    name = body["schema"]["$ref"].rsplit("/", 1)[1]
    mode = spec["components"]["schemas"][name]["properties"]["mode"]
    assert mode["enum"] == list(MODE_NAMES) and mode["type"] == "string"
    responses = spec["paths"]["/api/backtests"]["post"]["responses"]
    assert {"429", "503"} <= set(responses)


# --- strict JSON (issue 11, item 5) -----------------------------------------------------------


def strict_json(response: httpx.Response) -> Any:
    """The body parsed as JSON proper: NaN, Infinity and -Infinity are not JSON."""

    def refuse(constant: str) -> None:
        raise AssertionError(f"{response.url.path}: {constant} in a JSON answer")

    return json.loads(response.text, parse_constant=refuse)


def test_undefined_figures_are_null_in_every_json_answer(client: httpx.Client) -> None:
    response = client.post("/api/backtests", json={"mode": "btc_basis", **WEEK})
    record = wait_finished(client, response.json()["id"])
    folder = Path(record["result_dir"])
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    summary |= {"sharpe": float("inf"), "sortino": float("nan"), "worst": [float("-inf"), 1.5]}
    (folder / "summary.json").write_text(json.dumps(summary), encoding="utf-8")  # as Python does
    assert "Infinity" in (folder / "summary.json").read_text(encoding="utf-8")
    balance = (folder / "balance_sheet.csv").read_text(encoding="utf-8").splitlines()
    columns = balance[0].split(",")
    first = balance[1].split(",")
    first[columns.index("equity")] = "inf"
    (folder / "balance_sheet.csv").write_text(
        "\n".join([balance[0], ",".join(first), *balance[2:]])
    )

    base = f"/api/backtests/{record['id']}"
    for path in ("/summary", "/summary.json"):
        answer = client.get(base + path)
        assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
        served = strict_json(answer)
        assert (served["sharpe"], served["sortino"], served["worst"]) == (None, None, [None, 1.5])
        assert served["final_equity"] == summary["final_equity"]
    page = strict_json(client.get(f"{base}/balance-sheet", params={"limit": 2}))
    assert page["rows"][0][page["columns"].index("equity")] is None
    assert isinstance(page["rows"][1][page["columns"].index("equity")], float)
    for path in ("", "/events"):
        strict_json(client.get(base + path))
    strict_json(client.get("/api/backtests"))
    strict_json(client.get("/api/health"))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"mode": "btc_basis", "start": "0001-01-01T00:00:00Z"}, "start"),
        ({"mode": "btc_basis", "end": "9999-12-31T00:00:00Z"}, "end"),
        ({"mode": "usdt_market_neutral", "overrides": {"mode": "usdt_market_neutral_no_leverage"}},
         "overrides.mode"),
    ],
)  # fmt: skip
def test_fields_a_run_cannot_have_are_refused(
    client: httpx.Client, body: dict[str, Any], field: str
) -> None:
    response = client.post("/api/backtests", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field


@pytest.mark.parametrize("media", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_a_body_that_is_not_json_content_is_415(client: httpx.Client, media: str | None) -> None:
    headers = {"content-type": media} if media else {}
    response = client.post("/api/backtests", content=b'{"mode": "btc_basis"}', headers=headers)
    error = error_of(response, 415, "unsupported_media_type")
    assert error["field"] == "body" and "Content-Type: application/json" in error["message"]


@pytest.mark.parametrize("run_id", ["%00", "%E2%98%83", "a%20b", "x%0Ay"])
def test_a_run_id_that_cannot_exist_is_422(client: httpx.Client, run_id: str) -> None:
    for tail in ("", "/summary", "/events"):
        error = error_of(client.get(f"/api/backtests/{run_id}{tail}"), 422, "invalid_request")
        assert error["field"] == "run_id"
