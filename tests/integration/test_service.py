"""The backtest service under load and under a killed worker, on SQLite and PostgreSQL (issue 5).

(a) 20 submissions at once, over five modes, finish `done` with files identical to the same
    runs done one at a time in this process with `run_backtest`.
(b) A worker killed with SIGKILL in the middle of its run: that run fails with the reason,
    leaves no folder, and the service goes on serving.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from basis_strategy.services.backtest import run_backtest
from basis_strategy.services.models import FINISHED, BacktestRequest, RunRecord, RunStatus
from basis_strategy.services.queue import BacktestService
from basis_strategy.services.worker import server_env

COMPARED_FILES = ("hourly_pnl.csv", "balance_sheet.csv", "event_log.csv")
TIMEOUT_S = 120.0

pytestmark = pytest.mark.anyio


def week(
    mode: str, start: datetime, days: int = 7, capital: float | None = None, **overrides: Any
) -> BacktestRequest:
    end = start + timedelta(days=days)
    return BacktestRequest(mode=mode, start=start, end=end, capital=capital, overrides=overrides)


def at(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, tzinfo=UTC)


TWO_VENUES: dict[str, Any] = {
    "hedge.venues": ["binance", "bybit"],
    "hedge.allocation": {"binance": 0.5, "bybit": 0.5},
}
REQUESTS = [
    *(week("btc_basis", at(2024, m, 3)) for m in (6, 8, 11)),
    week("btc_basis", at(2025, 2, 10), **TWO_VENUES),
    *(week("eth_basis", at(2024, m, 5)) for m in (6, 9, 12)),
    week("eth_basis", at(2025, 4, 1), **{"costs.gas": False}),
    *(week("pure_lending", at(2024, m, 1), days=14) for m in (1, 4, 7, 10)),
    *(week("eth_leveraged", at(2024, m, 15)) for m in (6, 10)),
    week("eth_staking_only", at(2025, 1, 20)),
    week("eth_staking_only", at(2024, 7, 1), capital=25.0),
    *(week("usdt_market_neutral", at(2024, m, 20)) for m in (6, 11)),
    week("usdt_market_neutral", at(2025, 5, 2), capital=1_000_000.0),
    week("usdt_market_neutral", at(2024, 8, 8), **TWO_VENUES),
]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _no_run_settings_from_this_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in server_env(os.environ):
        if name not in ("BASIS_DATA_DIR", "BASIS_CONFIG_DIR"):
            monkeypatch.delenv(name)


@dataclass(frozen=True)
class Files:
    summary: dict[str, Any]
    tables: dict[str, bytes]


def read_files(path: Path) -> Files:
    summary = json.loads((path / "summary.json").read_text(encoding="utf-8"))
    summary.pop("request_id")
    return Files(summary, {name: (path / name).read_bytes() for name in COMPARED_FILES})


@pytest.fixture(scope="module")
def one_at_a_time(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> list[Files]:
    out = tmp_path_factory.mktemp("one_at_a_time")
    return [
        read_files(run_backtest(r.mode, r.config_sets(), data_dir, out, env={}).path)
        for r in REQUESTS
    ]


@pytest.fixture
async def service(
    tmp_path: Path, data_dir: Path, database_url: str
) -> AsyncIterator[BacktestService]:
    started = BacktestService(data_dir, tmp_path / "results", database_url, workers=2)
    await started.start()
    try:
        yield started
    finally:
        await started.stop()


async def wait_until_finished(service: BacktestService, run_ids: list[str]) -> list[RunRecord]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT_S
    while True:
        records = [service.get(run_id) for run_id in run_ids]
        if all(r is not None and r.status in FINISHED for r in records):
            return [r for r in records if r is not None]
        assert loop.time() < deadline, f"timed out: {records}"
        await asyncio.sleep(0.02)


async def test_concurrent_submissions_equal_runs_done_one_at_a_time(
    service: BacktestService, one_at_a_time: list[Files]
) -> None:
    submitted = await asyncio.gather(*(service.submit(r) for r in REQUESTS))
    assert len({r.id for r in submitted}) == len(REQUESTS)
    records = await wait_until_finished(service, [r.id for r in submitted])
    assert [(r.status, r.error) for r in records] == [(RunStatus.DONE, None)] * len(REQUESTS)
    assert service.count(status=RunStatus.DONE) == len(REQUESTS)
    for record, request, expected in zip(records, REQUESTS, one_at_a_time, strict=True):
        assert record.request == request and record.result_dir is not None
        got = read_files(Path(record.result_dir))
        assert got.summary == expected.summary, record.id
        assert got.tables == expected.tables, record.id


async def test_a_killed_worker_fails_its_run_only(service: BacktestService) -> None:
    victim = await service.submit(BacktestRequest(mode="btc_basis"))  # the full window
    other = await service.submit(REQUESTS[0])
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT_S
    while (record := service.get(victim.id)) is None or record.progress == 0:
        assert loop.time() < deadline, f"the run never made progress: {record}"
        await asyncio.sleep(0.002)
    assert record.status is RunStatus.RUNNING
    pid = service.worker_pid(victim.id)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)

    killed, neighbour = await wait_until_finished(service, [victim.id, other.id])
    assert killed.status is RunStatus.FAILED
    assert killed.error == "worker process exited with code -9 (killed)"
    assert killed.result_dir is None and 0 < killed.progress < 1
    assert [p.name for p in service.results_dir.iterdir() if victim.id in p.name] == []
    assert neighbour.status is RunStatus.DONE
    after = await wait_until_finished(service, [(await service.submit(REQUESTS[1])).id])
    assert after[0].status is RunStatus.DONE
    assert service.health()["workers"]["busy"] == 0
