"""Acceptance (issue 6 scope 4): a run of every mode on the database source writes the same
`summary.json`, byte for byte, as the run on the data folder, on SQLite and on PostgreSQL.

The real data folder is loaded once per session into a SQLite file and into a fresh
PostgreSQL schema (`BASIS_TEST_DATABASE_URL`; the tests fail without it). Runs use a two-week
window inside every file's coverage and each mode's defaults (weETH for the LST modes).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from basis_strategy.config.models import MODE_NAMES
from basis_strategy.data.db import load_folder
from basis_strategy.data.db.schema import shared_engine
from basis_strategy.data.synth import write_scenario
from basis_strategy.services.backtest import run_backtest

WINDOW = ["start=2024-06-03T00:00:00Z", "end=2024-06-17T00:00:00Z"]


def sqlite_url(path: Path) -> str:
    return sa.URL.create("sqlite", database=str(path)).render_as_string()


def db_env(url: str) -> dict[str, str]:
    return {"BASIS_DATA_MODE": "db", "BASIS_DATABASE_URL": url}


@pytest.fixture(scope="session")
def sqlite_data(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> str:
    url = sqlite_url(tmp_path_factory.mktemp("db") / "basis_data.sqlite")
    report = load_folder(data_dir, url)
    assert report.files == sum(1 for p in data_dir.rglob("*") if p.is_file())
    assert report.problems == ()
    return url


@pytest.fixture(scope="session")
def postgres_data(postgres_url: str, data_dir: Path) -> Iterator[str]:
    """The data folder loaded into a new schema of the test server (dropped afterwards)."""
    schema = f"test_data_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_url)
    try:
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        url = make_url(postgres_url).update_query_dict({"options": f"-csearch_path={schema}"})
        rendered = url.render_as_string(hide_password=False)
        load_folder(data_dir, rendered)
        yield rendered
        shared_engine(rendered).dispose()  # the runs' pooled reading connections
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()


def summary(
    mode: str, sets: list[str], out: Path, data_dir: Path | None, env: dict[str, str]
) -> tuple[bytes, dict[str, Any]]:
    outcome = run_backtest(mode, sets, data_dir, out, env=env, request_id="same-id")
    return (outcome.path / "summary.json").read_bytes(), outcome.summary


@pytest.mark.parametrize("mode", MODE_NAMES)
def test_every_mode_gives_the_same_summary_on_csv_sqlite_and_postgresql(
    mode: str, data_dir: Path, sqlite_data: str, postgres_data: str, tmp_path: Path
) -> None:
    csv_bytes, csv_summary = summary(mode, WINDOW, tmp_path / "csv", data_dir, {})
    for name, url in (("sqlite", sqlite_data), ("postgresql", postgres_data)):
        db_bytes, _ = summary(mode, WINDOW, tmp_path / name, None, db_env(url))
        assert db_bytes == csv_bytes, f"{mode}: {name} summary differs from the CSV one"
    assert csv_summary["data_origin"] == {"synthetic": False}
    assert csv_summary["data_files"]  # the files named are relative paths, the same in both


def test_a_synthetic_folder_in_sqlite_says_so_and_gives_the_same_summary(tmp_path: Path) -> None:
    start, end = datetime(2024, 6, 1, tzinfo=UTC), datetime(2024, 6, 15, tzinfo=UTC)
    folder = write_scenario("base", 3, start, end, tmp_path / "synth")
    url = sqlite_url(tmp_path / "synth.sqlite")
    load_folder(folder, url)
    sets = ["start=2024-06-01T00:00:00Z", "end=2024-06-14T00:00:00Z"]
    for mode in ("eth_leveraged", "usdt_market_neutral"):
        csv_bytes, _ = summary(mode, sets, tmp_path / f"{mode}-csv", folder, {})
        db_bytes, db_summary = summary(mode, sets, tmp_path / f"{mode}-db", None, db_env(url))
        assert db_bytes == csv_bytes
        assert db_summary["data_origin"]["synthetic"] is True
        assert db_summary["data_origin"]["scenario"] == "base"
        assert db_summary["data_origin"]["seed"] == 3
