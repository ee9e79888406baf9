"""RunStore on SQLite and PostgreSQL: every method, restart recovery, threads, UTC times, and
failures: damaged rows, a deleted or replaced SQLite file, a read-only database."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from basis_strategy.core.errors import ConfigError, OperationalError
from basis_strategy.services.models import (
    BacktestRequest,
    DamagedRun,
    DamagedRunError,
    IndexUnavailableError,
    RunRecord,
    RunStatus,
)
from basis_strategy.services.store import RESTARTED, RunStore, mask_url

T0 = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def record(
    run_id: str, mode: str = "btc_basis", status: RunStatus = RunStatus.QUEUED, minute: int = 0
) -> RunRecord:
    request = BacktestRequest(
        mode=mode,
        start=datetime(2024, 6, 1, tzinfo=UTC),
        capital=250000.0,
        overrides={"hedge.allocation": {"binance": 0.5, "bybit": 0.5}, "costs.gas": False},
    )
    return RunRecord(
        id=run_id,
        mode=mode,
        status=status,
        request=request,
        submitted_at=T0 + timedelta(minutes=minute),
    )


@pytest.fixture
def store(database_url: str) -> Iterator[RunStore]:
    with RunStore(database_url) as opened:
        yield opened


def test_add_then_get_returns_the_same_record(store: RunStore) -> None:
    added = record("a")
    store.add(added)
    assert store.get("a") == added
    assert store.get("missing") is None


def test_timestamps_round_trip_as_aware_utc(store: RunStore) -> None:
    plus_two = timezone(timedelta(hours=2))
    started = datetime(2025, 3, 1, 15, 30, 0, 654321, tzinfo=plus_two)
    store.add(record("a"))
    updated = store.update("a", started_at=started, finished_at=T0)
    for got in (updated, store.get("a")):
        assert got is not None
        assert got.submitted_at == T0 and got.submitted_at.tzinfo == UTC
        assert got.started_at == started and got.started_at is not None
        assert got.started_at.utcoffset() == timedelta(0)
        assert got.started_at.hour == 13 and got.started_at.microsecond == 654321
        assert got.finished_at == T0


def test_naive_timestamps_are_refused_and_nothing_is_written(store: RunStore) -> None:
    naive = record("a").model_copy(update={"submitted_at": datetime(2025, 3, 1)})
    with pytest.raises(ValueError, match="submitted_at: must be a timezone-aware"):
        store.add(naive)
    assert store.count() == 0
    store.add(record("b"))
    with pytest.raises(ValueError, match="started_at"):
        store.update("b", started_at=datetime(2025, 3, 1))
    assert store.get("b") == record("b")


def test_update_sets_fields_and_returns_the_stored_record(store: RunStore) -> None:
    store.add(record("a"))
    updated = store.update(
        "a", status=RunStatus.DONE, progress=1.0, result_dir="/r/a", finished_at=T0
    )
    assert updated == store.get("a")
    assert (updated.status, updated.progress, updated.result_dir) == (RunStatus.DONE, 1.0, "/r/a")
    assert store.update("a", status="failed", error="boom").status is RunStatus.FAILED


def test_update_refuses_unknown_fields_ids_and_statuses(store: RunStore) -> None:
    store.add(record("a"))
    with pytest.raises(ValueError, match="unknown field 'colour'"):
        store.update("a", colour="red")
    with pytest.raises(ValueError, match="'finished'"):
        store.update("a", status="finished")
    with pytest.raises(KeyError, match="'nope' not found"):
        store.update("nope", progress=0.5)
    assert store.get("a") == record("a")


def test_a_duplicate_id_is_refused(store: RunStore) -> None:
    store.add(record("a"))
    with pytest.raises(OperationalError, match="cannot add run a"):
        store.add(record("a", mode="eth_basis"))
    assert store.count() == 1


def test_list_is_newest_first_and_filters_and_pages(store: RunStore) -> None:
    store.add(record("old", "btc_basis", RunStatus.DONE, minute=0))
    store.add(record("mid", "eth_basis", RunStatus.FAILED, minute=5))
    store.add(record("new", "btc_basis", RunStatus.QUEUED, minute=9))
    store.add(record("new2", "btc_basis", RunStatus.DONE, minute=9))  # same time: id breaks ties
    ids = [r.id for r in store.list()]
    assert ids == ["new2", "new", "mid", "old"]
    assert [r.id for r in store.list(mode="btc_basis")] == ["new2", "new", "old"]
    assert [r.id for r in store.list(status=RunStatus.DONE)] == ["new2", "old"]
    assert [r.id for r in store.list(mode="btc_basis", status=RunStatus.DONE)] == ["new2", "old"]
    assert [r.id for r in store.list(limit=2, offset=1)] == ["new", "mid"]
    assert store.list(limit=0) == []
    assert store.list(mode="pure_lending") == []
    with pytest.raises(ValueError, match="limit and offset"):
        store.list(offset=-1)


def test_count_filters_like_list(store: RunStore) -> None:
    store.add(record("a", "btc_basis", RunStatus.DONE))
    store.add(record("b", "eth_basis", RunStatus.DONE))
    store.add(record("c", "btc_basis", RunStatus.QUEUED))
    assert store.count() == 3
    assert store.count(mode="btc_basis") == 2
    assert store.count(status=RunStatus.DONE) == 2
    assert store.count(mode="btc_basis", status=RunStatus.QUEUED) == 1
    assert store.count(mode="eth_basis", status=RunStatus.QUEUED) == 0


def test_recover_fails_runs_left_queued_or_running(store: RunStore) -> None:
    for status in RunStatus:
        store.add(record(status.value, status=status))
    before = datetime.now(UTC)
    assert store.recover() == 2
    for status in (RunStatus.QUEUED, RunStatus.RUNNING):
        got = store.get(status.value)
        assert got is not None
        assert got.status is RunStatus.FAILED and got.error == RESTARTED
        assert got.finished_at is not None and got.finished_at >= before - timedelta(seconds=1)
    for status in (RunStatus.DONE, RunStatus.FAILED, RunStatus.CANCELLED):
        assert store.get(status.value) == record(status.value, status=status)
    assert store.recover() == 0


def test_runs_survive_reopening_the_store(database_url: str) -> None:
    with RunStore(database_url) as first:
        first.add(record("a"))
    with RunStore(database_url) as second:
        assert second.get("a") == record("a")


def test_concurrent_updates_from_threads(store: RunStore) -> None:
    threads_n, updates_n = 8, 25
    for i in range(threads_n):
        store.add(record(f"run{i}", minute=i))
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for k in range(1, updates_n + 1):
                store.update(f"run{i}", progress=k / updates_n, status=RunStatus.RUNNING)
                store.get(f"run{(i + 1) % threads_n}")
                store.count(status=RunStatus.RUNNING)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert [r.progress for r in store.list()] == [1.0] * threads_n
    assert store.count(status=RunStatus.RUNNING) == threads_n


def test_table_has_the_promised_indexes(store: RunStore) -> None:
    indexed = {tuple(ix["column_names"]) for ix in sa.inspect(store.engine).get_indexes("runs")}
    assert {("status",), ("mode",), ("submitted_at",)} <= indexed


def test_ping_and_dialect(store: RunStore, database_url: str) -> None:
    assert store.ping() is True
    assert store.dialect == database_url.split(":")[0].split("+")[0]


def test_sqlite_uses_write_ahead_logging(tmp_path: Path) -> None:
    url = RunStore.default_url(tmp_path / "results")
    with RunStore(url) as store, store.engine.connect() as conn:
        assert conn.execute(sa.text("PRAGMA journal_mode")).scalar_one() == "wal"
    assert (tmp_path / "results" / "runs.sqlite").is_file()


def test_default_url_is_a_sqlite_file_unless_the_variable_is_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BASIS_DATABASE_URL", raising=False)
    url = RunStore.default_url(tmp_path)
    assert url == f"sqlite:///{tmp_path.resolve() / 'runs.sqlite'}"
    monkeypatch.setenv("BASIS_DATABASE_URL", "postgresql+psycopg://u:p@db.example/runs")
    assert RunStore.default_url(tmp_path) == "postgresql+psycopg://u:p@db.example/runs"


def test_a_password_never_appears_in_errors() -> None:
    url = "postgresql+psycopg://basis:s3cr3t-pw@127.0.0.1:1/basis_test?connect_timeout=2"
    assert (
        mask_url(url) == "postgresql+psycopg://basis:***@127.0.0.1:1/basis_test?connect_timeout=2"
    )
    with pytest.raises(OperationalError) as caught:
        RunStore(url)
    message = str(caught.value)
    assert "s3cr3t-pw" not in message
    assert "basis:***@127.0.0.1:1" in message and "cannot create the runs table" in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_a_malformed_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="BASIS_DATABASE_URL: not a database URL"):
        RunStore("not a url")


# --- damaged rows, a lost file, a failing disk (issue 12) -------------------------------------


def damage(store: RunStore, run_id: str, **columns: str) -> None:
    """Write raw values into a run's row, bypassing the store's checks."""
    assignments = ", ".join(f"{name} = :{name}" for name in columns)
    with store.engine.begin() as conn:
        conn.execute(
            sa.text(f"UPDATE runs SET {assignments} WHERE id = :id"), {**columns, "id": run_id}
        )


def listed_as(store: RunStore, run_id: str) -> RunRecord | DamagedRun:
    return next(row for row in store.list() if row.id == run_id)


def test_a_damaged_row_is_listed_as_damaged_and_the_others_are_served(
    store: RunStore, database_url: str
) -> None:
    for minute, run_id in enumerate(("a", "bad-status", "bad-request", "b")):
        store.add(record(run_id, minute=minute))
    damage(store, "bad-status", status="paused")
    damage(store, "bad-request", request='{"mode": 5}')
    listed = store.list()
    assert [row.id for row in listed] == ["b", "bad-request", "bad-status", "a"]
    assert listed[0] == record("b", minute=3) and listed[3] == record("a")
    assert listed[1] == DamagedRun(
        id="bad-request", reason="request.mode: Input should be a valid string"
    )
    assert isinstance(listed[2], DamagedRun) and listed[2].reason.startswith(
        "status: Input should be"
    )
    assert store.count() == 4
    with pytest.raises(
        DamagedRunError, match="run 'bad-status' is damaged in the run index: status"
    ):
        store.get("bad-status")
    if database_url.startswith("sqlite"):  # PostgreSQL's json and timestamptz refuse these
        damage(store, "a", request="{not json", submitted_at="yesterday")
        assert listed_as(store, "a") == DamagedRun(id="a", reason="request: not valid JSON")
        damage(store, "a", request='{"mode": "btc_basis"}')
        assert listed_as(store, "a") == DamagedRun(
            id="a", reason="submitted_at: not a timestamp, was 'yesterday'"
        )


def test_a_deleted_or_replaced_sqlite_file_is_refused_and_never_written(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    store = RunStore(sa.URL.create("sqlite", database=str(path)).render_as_string())
    store.add(record("a"))
    assert store.lost() is None
    moved = tmp_path / "moved.sqlite"
    path.rename(moved)  # the store's connections still reach this file: nothing may use them
    before = moved.stat()
    for call in (lambda: store.add(record("b")), lambda: store.get("a"), store.check_writable):
        with pytest.raises(IndexUnavailableError, match="was deleted or replaced while in use"):
            call()
    assert store.ping() is False and not path.exists(), "no new file was created"
    assert (moved.stat().st_size, moved.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    path.write_bytes(b"")  # another file at the same path
    assert store.lost() == f"run index {path} was deleted or replaced while in use"
    path.unlink()
    moved.rename(path)  # the same file back
    assert store.lost() is None and store.get("a") == record("a")
    store.close()


def test_a_read_only_index_fails_writes_as_unavailable(store: RunStore, database_url: str) -> None:
    store.add(record("a"))
    store.check_writable()
    read_only = (
        "PRAGMA query_only = ON"
        if database_url.startswith("sqlite")
        else ("SET default_transaction_read_only = on")
    )

    def on_connect(dbapi_connection: object, _record: object) -> None:
        cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
        cursor.execute(read_only)
        cursor.close()
        dbapi_connection.commit()  # type: ignore[attr-defined]  # a PostgreSQL SET is transactional

    sa.event.listen(store.engine, "connect", on_connect)
    store.engine.dispose()
    try:
        with pytest.raises(IndexUnavailableError, match="cannot write to the index"):
            store.check_writable()
        with pytest.raises(IndexUnavailableError, match="cannot update run a"):
            store.update("a", progress=0.5)
        assert store.get("a") == record("a") and store.ping() is True
    finally:
        sa.event.remove(store.engine, "connect", on_connect)
        store.engine.dispose()
    store.check_writable()
    assert store.update("a", progress=0.5).progress == 0.5
