"""One server per results folder and per run index (issue 12, item 1): a second service is
refused before it touches anything (no recovery: the first one's queued and running runs are
left as they are), on SQLite (a file lock) and PostgreSQL (an advisory lock, which also holds
across results folders sharing the database). Restart recovery keeps finished folders."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from basis_strategy.services.lock import ADVISORY_KEY
from basis_strategy.services.models import (
    BacktestRequest,
    RunRecord,
    RunStatus,
    ServerBusyError,
)
from basis_strategy.services.queue import BacktestService
from basis_strategy.services.store import RESTARTED, RunStore

DATA_DIR = Path(
    os.environ.get("BASIS_DATA_DIR")
    or Path(__file__).resolve().parents[3].parent / "shared" / "data"
)
REQUEST = BacktestRequest(mode="btc_basis")


def record(run_id: str, status: RunStatus) -> RunRecord:
    return RunRecord(
        id=run_id,
        mode="btc_basis",
        status=status,
        request=REQUEST,
        submitted_at=datetime(2025, 3, 1, tzinfo=UTC),
    )


def service(results: Path, database_url: str | None = None) -> BacktestService:
    return BacktestService(DATA_DIR, results, database_url=database_url, workers=1)


def live_runs(store: RunStore, results: Path) -> None:
    """A queued and a running run of the first server, the running one mid-way (a folder)."""
    store.add(record("queued-run", RunStatus.QUEUED))
    store.add(record("running-run", RunStatus.RUNNING))
    (results / ".running-run.partial").mkdir()


def assert_untouched(store: RunStore, results: Path) -> None:
    assert store.get("queued-run") == record("queued-run", RunStatus.QUEUED)
    assert store.get("running-run") == record("running-run", RunStatus.RUNNING)
    assert (results / ".running-run.partial").is_dir()


def test_a_second_service_on_the_same_folder_is_refused_and_touches_nothing(
    tmp_path: Path,
) -> None:
    results = tmp_path / "results"
    first = service(results)
    first.open()
    live_runs(first.store, results)
    second = service(results)
    with pytest.raises(ServerBusyError) as refused:
        second.open()
    message = str(refused.value)
    assert message.startswith(f"the results folder {results} is in use by another basis serve")
    assert f"pid {os.getpid()} on " in message and "\n" not in message
    assert refused.value.exit_code == 2
    assert_untouched(first.store, results)
    second.close()
    first.close()
    # released: the next server takes the folder and recovers
    third = service(results)
    assert third.open() == 2
    recovered = third.store.get("queued-run")
    assert recovered is not None and recovered.error == RESTARTED
    assert not (results / ".running-run.partial").exists()
    third.close()


def test_an_index_shared_by_two_results_folders_is_locked(
    database_url: str, tmp_path: Path
) -> None:
    """SQLite: a file lock next to the index file; PostgreSQL: an advisory lock, which holds
    for any folder (or machine) using that database."""
    first = service(tmp_path / "results-a", database_url)
    first.open()
    live_runs(first.store, tmp_path / "results-a")
    second = service(tmp_path / "results-b", database_url)  # another folder, same index
    with pytest.raises(ServerBusyError) as refused:
        second.open()
    message = str(refused.value)
    if database_url.startswith("postgresql"):
        assert "is in use by another basis serve (PostgreSQL advisory lock)" in message
        assert ":***@" in message and ":basis@" not in message  # the password is masked
    else:
        assert f"the run index {tmp_path / 'runs.sqlite'} is in use by another" in message
    assert_untouched(first.store, tmp_path / "results-a")
    second.close()
    assert first.problems(deep=True) == []
    first.close()
    third = service(tmp_path / "results-c", database_url)
    assert third.open() == 2  # released with the first server
    third.close()


def test_restart_keeps_the_folder_of_a_run_that_finished_unrecorded(tmp_path: Path) -> None:
    """A run whose worker wrote its complete folder while the index could not record `done`
    (and the server then stopped) is done after the restart, not failed and deleted."""
    results = tmp_path / "results"
    with RunStore(RunStore.default_url(results)) as store:
        store.add(record("finished-run", RunStatus.RUNNING))
        store.add(record("cut-run", RunStatus.RUNNING))
    folder = results / "finished-run"
    folder.mkdir()
    (folder / "summary.json").write_text(json.dumps({"request_id": "finished-run"}))
    (results / ".cut-run.partial").mkdir()
    restarted = service(results)
    assert restarted.open() == 2
    done = restarted.store.get("finished-run")
    assert done is not None and done.status is RunStatus.DONE and done.error is None
    assert done.result_dir == str(folder) and done.progress == 1.0 and folder.is_dir()
    cut = restarted.store.get("cut-run")
    assert cut is not None and (cut.status, cut.error) == (RunStatus.FAILED, RESTARTED)
    assert not (results / ".cut-run.partial").exists()
    restarted.close()


@pytest.fixture
def postgres_index(postgres_url: str) -> Iterator[str]:
    """A PostgreSQL run index of its own: a fresh schema, dropped afterwards."""
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_url)
    try:
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        url = make_url(postgres_url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()


def end_the_lock_session(index_url: str) -> int:
    """Terminate the database session holding the index's advisory lock (as a database
    restart or a dropped connection would); its pid."""
    engine = sa.create_engine(index_url)
    try:
        with engine.begin() as conn:
            pid = conn.execute(
                sa.text(
                    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = :key "
                    "AND objid = (hashtext(current_schema())::bigint & 4294967295)::text::oid"
                ),
                {"key": ADVISORY_KEY},
            ).scalar_one()
            conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        engine.dispose()
    return int(pid)


def test_a_lost_postgresql_lock_is_taken_again_or_named(
    postgres_index: str, tmp_path: Path
) -> None:
    first = service(tmp_path / "results-a", postgres_index)
    first.open()
    ended = end_the_lock_session(postgres_index)
    assert first.problems(deep=True) == []  # free: taken again
    assert end_the_lock_session(postgres_index) != ended
    second = service(tmp_path / "results-b", postgres_index)
    second.open()  # takes the free lock before the first server checks again
    lost = [f"lost the lock on the run index {first.store.url_masked} to another server"]
    assert first.problems(deep=True) == lost
    assert first.problems() == lost  # the last answer, without asking the database
    second.close()
    first.close()
