"""Opening a new store from several processes at once (a session process and the `status`
commands polling it): every process opens it, none fails on the schema's creation."""

from __future__ import annotations

import multiprocessing
from typing import Any

import pytest

PROCESSES = 3
ROUNDS = 3


def _open_every_store(url: str, ready: Any, outcomes: Any) -> None:
    from basis_strategy.live.session_store import SessionStore
    from basis_strategy.live.store import LiveStore
    from basis_strategy.services.store import RunStore

    ready.wait()  # all imported: the processes create at once
    try:
        for store in (SessionStore, LiveStore, RunStore):
            store(url).engine.dispose()
    except Exception as exc:  # reported to the test, which names it
        outcomes.put(f"{type(exc).__name__}: {exc}")
        return
    outcomes.put("ok")


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_processes_creating_one_new_store_at_once_all_open_it(
    round_: int, database_url: str
) -> None:
    spawn = multiprocessing.get_context("spawn")
    ready, outcomes = spawn.Barrier(PROCESSES), spawn.Queue()
    started = [spawn.Process(target=_open_every_store, args=(database_url, ready, outcomes))
               for _ in range(PROCESSES)]  # fmt: skip
    for process in started:
        process.start()
    got = sorted(outcomes.get(timeout=120) for _ in started)
    for process in started:
        process.join(timeout=30)
    assert got == ["ok"] * PROCESSES
