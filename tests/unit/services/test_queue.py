"""BacktestService on the real data: validation, the life of a run, cancel, failures, health.

Runs are real worker processes. SHORT is a one-week btc_basis run (well under a second);
LONG is the full btc_basis window (a few seconds), used only for runs that are cancelled or
stopped long before they end.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

import basis_strategy
from basis_strategy.core.errors import ConfigError, DataError
from basis_strategy.services.backtest import prepare
from basis_strategy.services.models import (
    FINISHED,
    BacktestRequest,
    QueueFullError,
    RunNotFoundError,
    RunRecord,
    RunStatus,
    ServiceUnavailableError,
)
from basis_strategy.services.queue import BacktestService
from basis_strategy.services.runs import SERVER_STOPPED
from basis_strategy.services.store import RESTARTED
from basis_strategy.services.worker import _ProgressSender, exit_reason, server_env

DATA_DIR = Path(
    os.environ.get("BASIS_DATA_DIR")
    or Path(__file__).resolve().parents[3].parent / "shared" / "data"
)
SHORT = BacktestRequest(
    mode="btc_basis",
    start=datetime(2024, 6, 1, tzinfo=UTC),
    end=datetime(2024, 6, 8, tzinfo=UTC),
)
LONG = BacktestRequest(mode="btc_basis")
UNCOVERED = BacktestRequest(  # before OKX funding starts (2024-05-01)
    mode="btc_basis",
    start=datetime(2024, 1, 1, tzinfo=UTC),
    end=datetime(2024, 1, 8, tzinfo=UTC),
)
TIMEOUT_S = 60.0

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _no_run_settings_from_this_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in server_env(os.environ):
        if name not in ("BASIS_DATA_DIR", "BASIS_CONFIG_DIR"):
            monkeypatch.delenv(name)


def make_service(tmp_path: Path, workers: int = 2) -> BacktestService:
    assert (DATA_DIR / "README.md").is_file(), f"data folder not found: {DATA_DIR}"
    return BacktestService(DATA_DIR, tmp_path / "results", workers=workers)


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[BacktestService]:
    started = make_service(tmp_path)
    await started.start()
    try:
        yield started
    finally:
        await started.stop()


async def wait_until(
    service: BacktestService, run_id: str, ok: Callable[[RunRecord], bool]
) -> RunRecord:
    deadline = asyncio.get_running_loop().time() + TIMEOUT_S
    while True:
        record = service.get(run_id)
        assert record is not None
        if ok(record):
            return record
        assert asyncio.get_running_loop().time() < deadline, f"timed out: {record}"
        await asyncio.sleep(0.005)


async def finished(service: BacktestService, run_id: str) -> RunRecord:
    return await wait_until(service, run_id, lambda r: r.status in FINISHED)


async def running_with_progress(service: BacktestService, run_id: str) -> RunRecord:
    return await wait_until(
        service, run_id, lambda r: r.status is RunStatus.RUNNING and r.progress > 0
    )


def folders(service: BacktestService, run_id: str) -> list[str]:
    return sorted(p.name for p in service.results_dir.iterdir() if run_id in p.name)


# --- validation ---------------------------------------------------------------------------


async def test_validate_returns_the_config_with_the_request_applied(tmp_path: Path) -> None:
    service = make_service(tmp_path)
    request = BacktestRequest(
        mode="btc_basis",
        start=datetime(2024, 6, 1, tzinfo=UTC),
        capital=12345.0,
        overrides={
            "hedge.venues": ["binance", "bybit"],
            "hedge.allocation": {"binance": 0.25, "bybit": 0.75},
            "costs.gas": False,
        },
    )
    config = service.validate(request).mode
    assert config.start == datetime(2024, 6, 1, tzinfo=UTC) and config.initial_capital == 12345.0
    assert config.hedge is not None and config.hedge.venues == ["binance", "bybit"]
    assert config.hedge.allocation == {"binance": 0.25, "bybit": 0.75}
    assert config.costs.gas is False
    service.store.close()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"overrides": {"hedge.delta_tolerance": -1}}, "hedge.delta_tolerance"),
        ({"overrides": {"hedge.colour": "red"}}, "hedge.colour"),
        ({"start": datetime(2024, 7, 1), "end": datetime(2024, 6, 1)}, "start"),
        ({"mode": "no_such_mode"}, "mode"),
        ({"mode": "../../etc/passwd.yaml"}, "mode"),
        ({"overrides": {"a=b": 1}}, "overrides"),
    ],
)
async def test_a_bad_request_is_refused_naming_the_field_and_nothing_is_stored(
    service: BacktestService, changes: dict[str, object], field: str
) -> None:
    request = SHORT.model_copy(update=changes)
    with pytest.raises(ConfigError) as caught:
        service.validate(request)
    assert caught.value.field == field
    with pytest.raises(ConfigError):
        await service.submit(request)
    assert service.count() == 0 and service.list() == []


async def test_run_settings_from_the_environment_are_applied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BASIS_RESERVE_RATIO", "0.9")
    service = make_service(tmp_path)
    with pytest.raises(ConfigError) as caught:
        service.validate(SHORT)
    assert caught.value.field == "BASIS_RESERVE_RATIO (reserve_ratio)"
    service.store.close()


def test_server_settings_and_secrets_are_not_run_settings() -> None:
    environ = {
        "BASIS_RESERVE_RATIO": "0.1",
        "BASIS_HEDGE__DELTA_TOLERANCE": "0.02",
        "BASIS_DATABASE_URL": "postgresql+psycopg://u:p@h/db",
        "BASIS_API_TOKEN": "t",
        "BASIS_BINANCE_API_KEY": "k",
        "BASIS_OKX_API_SECRET": "s",
        "BASIS_ALCHEMY_RPC_URL": "https://x",
        "HOME": "/root",
    }
    assert server_env(environ) == {
        "BASIS_RESERVE_RATIO": "0.1",
        "BASIS_HEDGE__DELTA_TOLERANCE": "0.02",
    }


async def test_submit_needs_a_started_service(tmp_path: Path) -> None:
    service = make_service(tmp_path)
    with pytest.raises(ServiceUnavailableError, match="not running"):
        await service.submit(SHORT)
    service.store.close()


# --- the life of a run ----------------------------------------------------------------------


async def test_a_run_goes_queued_running_done_with_its_folder(service: BacktestService) -> None:
    submitted = await service.submit(SHORT)
    assert submitted.status is RunStatus.QUEUED and submitted.progress == 0.0
    assert submitted.id.split("-")[1] == "btc_basis" and len(submitted.id.split("-")[2]) == 8
    seen: list[RunStatus] = []

    def note(record: RunRecord) -> bool:
        if not seen or seen[-1] is not record.status:
            seen.append(record.status)
        return record.status in FINISHED

    done = await wait_until(service, submitted.id, note)
    assert seen[-2:] == [RunStatus.RUNNING, RunStatus.DONE]
    assert done.status is RunStatus.DONE and done.progress == 1.0 and done.error is None
    assert done.request == SHORT
    assert done.started_at is not None and done.finished_at is not None
    assert submitted.submitted_at <= done.started_at <= done.finished_at
    assert done.result_dir == str(service.results_dir / submitted.id)
    summary = (Path(done.result_dir) / "summary.json").read_text(encoding="utf-8")
    assert f'"request_id": "{submitted.id}"' in summary
    assert folders(service, submitted.id) == [submitted.id]
    assert service.worker_pid(submitted.id) is None
    assert service.list(mode="btc_basis", status=RunStatus.DONE) == [done]


async def test_cancelling_a_queued_run_means_it_never_starts(tmp_path: Path) -> None:
    service = make_service(tmp_path, workers=1)
    await service.start()
    try:
        first = await service.submit(LONG)
        second = await service.submit(SHORT)
        await running_with_progress(service, first.id)
        assert service.get(second.id) == second  # still queued: the only worker is busy
        cancelled = await service.cancel(second.id)
        assert cancelled.status is RunStatus.CANCELLED and cancelled.started_at is None
        assert cancelled.finished_at is not None
        assert (await service.cancel(first.id)).status is RunStatus.CANCELLED
        third = await finished(service, (await service.submit(SHORT)).id)
        assert third.status is RunStatus.DONE  # the worker moved past the cancelled run
        assert service.get(second.id) == cancelled
        assert folders(service, second.id) == []
    finally:
        await service.stop()


async def test_cancelling_a_running_run_kills_it_and_leaves_no_folder(
    service: BacktestService,
) -> None:
    run_id = (await service.submit(LONG)).id
    partial = service.results_dir / f".{run_id}.partial"
    deadline = asyncio.get_running_loop().time() + TIMEOUT_S
    while not partial.exists():  # cancel while the worker is writing its files
        assert asyncio.get_running_loop().time() < deadline, "the run never wrote its files"
        await asyncio.sleep(0.001)
    pid = service.worker_pid(run_id)
    assert pid is not None
    cancelled = await service.cancel(run_id)
    assert cancelled.status is RunStatus.CANCELLED and cancelled.result_dir is None
    assert cancelled == service.get(run_id)
    assert folders(service, run_id) == []
    assert service.worker_pid(run_id) is None
    assert pid not in [p.pid for p in multiprocessing.active_children()]
    assert await service.cancel(run_id) == cancelled  # finished: unchanged


async def test_cancelling_a_finished_run_changes_nothing(service: BacktestService) -> None:
    done = await finished(service, (await service.submit(SHORT)).id)
    assert await service.cancel(done.id) == done
    assert folders(service, done.id) == [done.id]
    with pytest.raises(RunNotFoundError):
        await service.cancel("no-such-run")


async def test_a_window_outside_the_data_is_refused_at_submit_and_nothing_is_stored(
    service: BacktestService,
) -> None:
    with pytest.raises(DataError) as direct:
        prepare(UNCOVERED.mode, UNCOVERED.config_sets(), DATA_DIR, env={})
    with pytest.raises(DataError) as refused:
        await service.submit(UNCOVERED)
    assert str(refused.value) == str(direct.value)  # one way to validate: the CLI's
    assert service.count() == 0 and service.list() == []


def linked_data(tmp_path: Path) -> Path:
    """A data folder of links to the real one's parts, so a test can take one away."""
    folder = tmp_path / "data"
    folder.mkdir()
    for part in DATA_DIR.iterdir():
        (folder / part.name).symlink_to(part)
    return folder


async def test_a_run_that_fails_reports_the_data_error_and_the_server_carries_on(
    tmp_path: Path,
) -> None:
    data = linked_data(tmp_path)
    service = BacktestService(data, tmp_path / "results", workers=1)
    await service.start()
    try:
        first = await service.submit(LONG)
        waiting = await service.submit(SHORT)  # valid now; its data goes before it starts
        await running_with_progress(service, first.id)
        (data / "market_data").unlink()
        with pytest.raises(DataError) as direct:
            prepare(SHORT.mode, SHORT.config_sets(), data, env={})
        await service.cancel(first.id)
        failed = await finished(service, waiting.id)
        assert failed.status is RunStatus.FAILED and failed.result_dir is None
        assert failed.error == str(direct.value) and "\n" not in failed.error
        assert folders(service, failed.id) == []
        (data / "market_data").symlink_to(DATA_DIR / "market_data")
        again = await finished(service, (await service.submit(SHORT)).id)
        assert again.status is RunStatus.DONE
    finally:
        await service.stop()


async def test_health(service: BacktestService, tmp_path: Path) -> None:
    assert service.health() == {
        "status": "ok",
        "problems": [],
        "data": {"source": "csv", "path": str(DATA_DIR.resolve()), "exists": True},
        "database": {"dialect": "sqlite", "reachable": True},
        "workers": {"configured": 2, "busy": 0},
        "queued": 0,
        "max_queued": 100,
        "unrecorded": 0,
        "version": basis_strategy.__version__,
    }
    run_id = (await service.submit(LONG)).id
    await running_with_progress(service, run_id)
    assert service.health()["workers"] == {"configured": 2, "busy": 1}
    await service.cancel(run_id)


def test_a_missing_data_folder_is_refused_at_construction(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        BacktestService(tmp_path / "no_data", tmp_path / "other")
    assert caught.value.field == "data_dir"
    assert str(caught.value) == f"data_dir: not a folder: {tmp_path / 'no_data'}"
    assert not (tmp_path / "other").exists(), "nothing is written"


async def test_stop_fails_running_runs_keeps_queued_ones_and_restart_recovers(
    tmp_path: Path,
) -> None:
    service = make_service(tmp_path, workers=1)
    await service.start()
    running = await service.submit(LONG)
    queued = await service.submit(SHORT)
    await running_with_progress(service, running.id)
    await service.stop()
    stopped = service.get(running.id)
    assert stopped is not None and stopped.status is RunStatus.FAILED
    assert stopped.error == SERVER_STOPPED and stopped.result_dir is None
    assert service.get(queued.id) == queued
    assert folders(service, running.id) == []

    restarted = make_service(tmp_path, workers=1)
    await restarted.start()
    try:
        recovered = restarted.get(queued.id)
        assert recovered is not None and recovered.status is RunStatus.FAILED
        assert recovered.error == RESTARTED and recovered.started_at is None
        assert restarted.get(running.id) == stopped
    finally:
        await restarted.stop()


# --- pieces ---------------------------------------------------------------------------------


def test_exit_reasons() -> None:
    assert exit_reason(-9) == "worker process exited with code -9 (killed)"
    assert exit_reason(-15) == "worker process exited with code -15 (terminated)"
    assert exit_reason(-11) == "worker process exited with code -11 (SIGSEGV)"
    assert exit_reason(3) == "worker process exited with code 3 without a result"


def test_progress_is_throttled_but_the_last_hour_always_sent() -> None:
    receive, send = multiprocessing.Pipe(duplex=False)
    sender = _ProgressSender(send)
    for done in range(1, 10001):
        sender(done, 10000)
    messages = []
    while receive.poll():
        messages.append(receive.recv())
    assert messages[0] == ("progress", 1e-4) and messages[-1] == ("progress", 1.0)
    assert len(messages) <= 3  # the loop above takes far less than 0.2 s
    receive.close()
    send.close()


def test_a_service_without_a_folder_reads_the_database_in_db_mode_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BASIS_DATA_MODE", raising=False)
    with pytest.raises(ConfigError, match="BASIS_DATA_MODE is not db"):
        BacktestService(None, tmp_path / "results")
    monkeypatch.setenv("BASIS_DATA_MODE", "db")
    service = BacktestService(None, tmp_path / "results")
    assert service.health()["data"] == {"source": "db"}


async def test_a_dead_validation_process_is_replaced(service: BacktestService) -> None:
    pid = await asyncio.to_thread(service.validator_pid)
    assert pid is not None and pid != os.getpid()
    os.kill(pid, signal.SIGKILL)
    await asyncio.sleep(0.5)  # the pool notices its process is gone
    with pytest.raises(ServiceUnavailableError, match="the validation process died"):
        await service.submit(SHORT)
    record = await finished(service, (await service.submit(SHORT)).id)
    assert record.status is RunStatus.DONE
    assert await asyncio.to_thread(service.validator_pid) not in (None, pid)


async def test_the_queue_bound_counts_waiting_runs(tmp_path: Path) -> None:
    service = BacktestService(DATA_DIR, tmp_path / "results", workers=1, max_queued=1)
    await service.start()
    try:
        first = await service.submit(LONG)
        await running_with_progress(service, first.id)
        waiting = await service.submit(SHORT)
        with pytest.raises(QueueFullError, match=r"1 runs are waiting, the most .* \(1\)"):
            await service.submit(SHORT)
        assert service.count() == 2
        await service.cancel(waiting.id)
        await service.submit(SHORT)  # the cancelled run no longer waits
        await service.cancel(first.id)
    finally:
        await service.stop()
    with pytest.raises(ConfigError, match="max_queued: must be at least 1, was 0"):
        BacktestService(DATA_DIR, tmp_path / "results", max_queued=0)
