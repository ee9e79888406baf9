"""Schemathesis against the served OpenAPI schema, run as its CLI runs it (probing, examples,
coverage, fuzzing and stateful phases): no request may get a 5xx, and every response must
match the schema (documented status, valid body, declared content type, auth enforced).

The server requires a bearer token, which schemathesis sends; its auth checks also send
requests without it or with a wrong one and expect 401. POSTs that pass validation queue real
runs on the real service, or start real paper sessions (each in its own process; every one
still running is stopped before the server stops).

Two checks are left out:
- `positive_data_acceptance` expects every schema-valid body to be accepted, but a request can
  be valid JSON for `BacktestRequest` and still an invalid configuration (overrides that do not
  add up, a window outside the data): that is a 422 by design, which the schema cannot express.
- `use_after_free` expects a resource to be gone after DELETE. `DELETE /api/backtests/{id}`
  cancels a run: its record stays readable with status `cancelled` (the audit trail keeps
  every run), which tests/api/test_backtests.py checks.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import schemathesis
from schemathesis.engine import Status, events, from_schema

from api.support import new_service, serving, stop_live_sessions
from basis_strategy.api import create_app

TOKEN = "schemathesis-token-0123456789"
MAX_EXAMPLES = 15
TIME_LIMIT_S = 90  # a valid POST /api/live starts a session process (2-4 s each, ~20 a run)


def describe(event: events.ScenarioFinished) -> list[str]:
    """One line per failed check of a scenario."""
    lines = []
    for checks in event.recorder.checks.values():
        for check in checks:
            if check.status == Status.FAILURE and check.failure_info is not None:
                failure = check.failure_info.failure
                message = failure.message.replace("\n", " ")[:300]
                sample = check.failure_info.code_sample.replace("\n", " ")[:400]
                lines.append(
                    f"{event.label} [{event.phase}] {check.name}: {failure.title}: {message}"
                    f" ({sample})"
                )
    return lines or [f"{event.label} [{event.phase}]: {event.status}"]


def test_schemathesis_finds_no_server_error(tmp_path: Path) -> None:
    with serving(create_app(new_service(tmp_path), api_token=TOKEN)) as url:
        schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
        schema.config.update(headers={"Authorization": f"Bearer {TOKEN}"})
        schema.config.generation.update(max_examples=MAX_EXAMPLES)
        schema.config.checks.update(
            excluded_check_names=["positive_data_acceptance", "use_after_free"]
        )
        started = time.monotonic()
        failures: list[str] = []
        statuses: list[int] = []
        labels: set[str] = set()
        finished = None
        for event in from_schema(schema).execute():
            if isinstance(event, events.ScenarioFinished):
                labels.add(str(event.label))
                statuses += [
                    i.response.status_code
                    for i in event.recorder.interactions.values()
                    if i.response is not None
                ]
                if event.status in (Status.FAILURE, Status.ERROR):
                    failures += describe(event)
            elif isinstance(event, events.NonFatalError | events.FatalError):
                failures.append(f"schemathesis error: {event}")
            elif isinstance(event, events.EngineFinished):
                finished = event
        seconds = time.monotonic() - started
        with httpx.Client(base_url=url, timeout=60) as http:  # POST /api/live started some
            stop_live_sessions(http, {"Authorization": f"Bearer {TOKEN}"})

    assert finished is not None and finished.stop_reason == "completed"
    server_errors = sorted(s for s in statuses if s >= 500)
    assert server_errors == [], f"5xx answers: {server_errors}"
    assert failures == [], "\n".join(sorted(set(failures)))
    assert len(statuses) > 500, f"only {len(statuses)} requests were made"
    for operation in (
        "POST /api/backtests",
        "GET /api/backtests",
        "DELETE /api/backtests/{run_id}",
        "GET /api/backtests/{run_id}/events",
        "GET /api/backtests/{run_id}/plots/{name}",
        "GET /api/modes",
        "GET /api/health",
        "POST /api/live",
        "GET /api/live/{session_id}",
        "POST /api/live/{session_id}/emergency-stop",
    ):
        assert operation in labels, f"{operation} was not exercised"
    assert {401, 404, 422} <= set(statuses)
    assert seconds < 2 * TIME_LIMIT_S, f"took {seconds:.0f} s"
