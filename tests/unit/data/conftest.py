"""Fixtures for the data-reader tests: the real data folder and small files written to tmp_path."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from basis_strategy.core.errors import DataFileError

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[3].parent / "shared" / "data"

WriteFile = Callable[[str, str], Path]


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The historical data folder: $BASIS_DATA_DIR, else ../shared/data next to the repo."""
    folder = Path(os.environ.get("BASIS_DATA_DIR", DEFAULT_DATA_DIR))
    if not (folder / "README.md").is_file():
        pytest.fail(f"data folder not found: {folder} (set BASIS_DATA_DIR)")
    return folder


@pytest.fixture
def write(tmp_path: Path) -> WriteFile:
    """Write ``text`` to ``tmp_path / name`` (creating folders) and return the path."""

    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    return _write


def assert_file_error(err: DataFileError, path: Path, line: int | None, *fragments: str) -> None:
    """The error names ``path`` (and ``line``) and its message contains every fragment."""
    text = str(err)
    assert err.path == path
    assert err.line == line
    assert path.name in text
    if line is not None:
        assert f"line {line}:" in text
    for fragment in fragments:
        assert fragment in text, f"{fragment!r} not in {text!r}"


@pytest.fixture
def check_error() -> Callable[..., None]:
    """``check_error(err, path, line, *fragments)``: see :func:`assert_file_error`."""
    return assert_file_error
