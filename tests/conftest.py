"""Fixtures shared by every test folder: the run store's databases (SQLite and PostgreSQL).

`database_url` is parametrized over both back ends and gives each test a database of its own:
a fresh SQLite file, or a fresh PostgreSQL schema (dropped afterwards) on the server named by
`BASIS_TEST_DATABASE_URL`. Without that variable the PostgreSQL tests fail (never skip).

Every test that uses PostgreSQL or the browser is marked `services` at collection, so the fast
subset `-m "not services"` needs neither (tests/e2e/test_quickstart.py proves it).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

TEST_DATABASE_ENV = "BASIS_TEST_DATABASE_URL"
START_POSTGRES = f"""{TEST_DATABASE_ENV} is not set: the run store tests need a PostgreSQL server.
Run `scripts/test`, which installs PostgreSQL, starts it and exports the variable; or start one
yourself (apt-get install postgresql; pg_ctlcluster 15 main start; create a role `basis` and
a database `basis_test`) and export
{TEST_DATABASE_ENV}=postgresql+psycopg://basis:basis@localhost:5432/basis_test"""


SERVICE_FIXTURES = {"postgres_url", "browser"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark `services` every test needing PostgreSQL or the browser, directly or not."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_postgres = callspec is not None and callspec.params.get("database_url") == "postgresql"
        if on_postgres or SERVICE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.services)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The test PostgreSQL server's URL; fails with how to start one when it is not set."""
    url = os.environ.get(TEST_DATABASE_ENV)
    if not url:
        pytest.fail(START_POSTGRES, pytrace=False)
    return url


def postgres_schema(base_url: str) -> Iterator[str]:
    """A new empty schema on the server; yields a URL whose connections use it."""
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base_url)
    try:
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of the run store for one test, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        yield sa.URL.create("sqlite", database=str(tmp_path / "runs.sqlite")).render_as_string()
        return
    yield from postgres_schema(request.getfixturevalue("postgres_url"))
