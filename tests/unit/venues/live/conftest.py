"""Fixtures of the live venue tests (one per exchange fake)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from basis_strategy.live.store import LiveStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LiveStore]:
    """A live store on a fresh SQLite file."""
    with LiveStore(f"sqlite:///{tmp_path / 'live.db'}") as live_store:
        yield live_store
