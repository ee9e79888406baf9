"""Opening a new store from several processes at once (a session process and the `status`
commands polling it): every process opens it, none fails on the schema's creation."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

PROCESSES = 3
ROUNDS = 3
# each process imports, says it is ready, then opens every store once told to go
OPEN_EVERY_STORE = """
import sys, time
from pathlib import Path
from basis_strategy.live.session_store import SessionStore
from basis_strategy.live.store import LiveStore
from basis_strategy.services.store import RunStore
url, ready, go = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
ready.touch()
while not go.exists():
    time.sleep(0.001)
for store in (SessionStore, LiveStore, RunStore):
    store(url).engine.dispose()
"""


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_processes_creating_one_new_store_at_once_all_open_it(
    round_: int, database_url: str, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    readies = [tmp_path / f"ready-{n}" for n in range(PROCESSES)]
    started = [subprocess.Popen([sys.executable, "-c", OPEN_EVERY_STORE, database_url,
                                 str(ready), str(go)], stderr=subprocess.PIPE, text=True)
               for ready in readies]  # fmt: skip
    deadline = time.monotonic() + 120
    while not all(r.exists() for r in readies) and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()
    failures = [p.communicate(timeout=120)[1] for p in started]
    assert [p.returncode for p in started] == [0] * PROCESSES, failures
