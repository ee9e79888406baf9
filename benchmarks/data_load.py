"""Load time of a data folder into a database, and the cost of reading a run's data from it
(issue 6, `basis data load`, `BASIS_DATA_MODE=db`).

Usage: python benchmarks/data_load.py [--data-dir DIR] [--postgres URL] [--mode eth_leveraged]

Loads the folder into a new SQLite file, and into PostgreSQL when `--postgres` (default
`$BASIS_TEST_DATABASE_URL`) names a server (in a schema of its own, dropped afterwards); then
builds the mode's data provider over its full window from the folder and from each database
(each in a fresh process-level cache) and prints the seconds.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

from basis_strategy.config.loader import load_run_config
from basis_strategy.data import provider as provider_module
from basis_strategy.data.db import DatabaseData, load_folder
from basis_strategy.data.provider import HistoricalDataProvider
from basis_strategy.data.store import DataRoot, FolderData


def provider_seconds(mode: str, root: DataRoot) -> float:
    provider_module._CACHE.clear()  # time the reads, not the process cache
    started = time.perf_counter()
    HistoricalDataProvider(load_run_config(mode, env={}), root)
    return time.perf_counter() - started


def measure(label: str, folder: Path, url: str, mode: str) -> None:
    report = load_folder(folder, url)
    print(
        f"{label}: loaded {report.files} files ({report.tables} tables, {report.rows:,} rows) "
        f"in {report.seconds:.2f} s"
    )
    seconds = provider_seconds(mode, DatabaseData(url))
    print(f"{label}: {mode} data provider from the database: {seconds:.2f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("BASIS_DATA_DIR", "../shared/data"))
    parser.add_argument("--postgres", default=os.environ.get("BASIS_TEST_DATABASE_URL"))
    parser.add_argument("--mode", default="eth_leveraged")
    args = parser.parse_args()
    folder = Path(args.data_dir)
    seconds = provider_seconds(args.mode, FolderData(folder))
    print(f"{args.mode} data provider from the folder: {seconds:.2f} s")
    with tempfile.TemporaryDirectory() as tmp:
        measure("sqlite", folder, f"sqlite:///{Path(tmp) / 'data.sqlite'}", args.mode)
    if args.postgres:
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(args.postgres)
        with admin.begin() as connection:
            connection.execute(sa.text(f"CREATE SCHEMA {schema}"))
        try:
            url = sa.make_url(args.postgres).update_query_dict(
                {"options": f"-csearch_path={schema}"}
            )
            measure("postgresql", folder, url.render_as_string(hide_password=False), args.mode)
        finally:
            with admin.begin() as connection:
                connection.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
            admin.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
