"""Output folders and files are checked before any work: refused with the option and the path,
and the probe leaves nothing behind. Real read-only and full file systems: tests/e2e/test_cli.py.
"""

from __future__ import annotations

import errno
import os
from collections import namedtuple
from pathlib import Path
from typing import Any

import pytest

from basis_strategy.config import outputs
from basis_strategy.config.outputs import (
    check_output_file,
    check_output_folder,
    write_text_atomic,
)
from basis_strategy.core.errors import ConfigError


def refused(call: Any, *args: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        call(*args)
    assert caught.value.exit_code == 2
    return str(caught.value)


def test_a_new_or_existing_folder_is_accepted_and_nothing_is_left(tmp_path: Path) -> None:
    assert check_output_folder(tmp_path / "a" / "b", "--out") == tmp_path / "a" / "b"
    assert not (tmp_path / "a").exists()  # not created by the check
    check_output_folder(tmp_path, "--out")
    assert list(tmp_path.iterdir()) == []  # the probe file is gone


@pytest.mark.parametrize(
    ("target", "fragment"),
    [
        ("file", "--out: not a folder: "),
        ("file/under", "is not a folder"),
        ("file/under/deeper", "is not a folder"),
        ("/dev/null", "--out: not a folder: /dev/null"),
        ("/dev/null/x", "/dev/null is not a folder"),
        ("", "--out: empty path"),
        ("  ", "--out: empty path"),
    ],
)
def test_unusable_folders_are_refused(tmp_path: Path, target: str, fragment: str) -> None:
    (tmp_path / "file").write_text("x")
    path = target if target.startswith("/") or not target.strip() else tmp_path / target
    assert fragment in refused(check_output_folder, path, "--out")


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EDQUOT])
def test_a_failing_write_probe_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    def failing_write(fd: int, data: bytes) -> int:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(outputs.os, "write", failing_write)
    message = refused(check_output_folder, tmp_path / "out", "BASIS_RESULTS_DIR")
    expected = f"cannot write into {tmp_path / 'out'}: {os.strerror(code)}"
    assert message == f"BASIS_RESULTS_DIR: {expected}"
    assert list(tmp_path.iterdir()) == []


def test_too_little_free_space_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(outputs.shutil, "disk_usage", lambda _: usage(10**9, 10**9, 5 * 2**20))
    message = refused(check_output_folder, tmp_path, "--out")
    assert "only 5.0 MiB free" in message and "need at least 64 MiB" in message
    assert check_output_file(tmp_path / "r.json", "--json") == tmp_path / "r.json"


def test_output_files(tmp_path: Path) -> None:
    (tmp_path / "old.json").write_text("{}")
    assert check_output_file(tmp_path / "old.json", "--json") == tmp_path / "old.json"
    assert "not a regular file" in refused(check_output_file, tmp_path, "--json")
    assert "not a regular file" in refused(check_output_file, "/dev/null", "--json")
    assert "no folder" in refused(check_output_file, tmp_path / "nope" / "r.json", "--json")
    assert "no folder" in refused(check_output_file, tmp_path / "old.json" / "r.json", "--json")


def test_write_text_atomic_leaves_the_old_file_when_writing_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "report.json"
    write_text_atomic(path, "first")
    assert path.read_text() == "first"

    def full(*_: Any) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(outputs.os, "replace", full)
    with pytest.raises(OSError):
        write_text_atomic(path, "second")
    assert path.read_text() == "first"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]
