"""`basis` refuses bad numbers, dates, YAML files and unusable outputs before any work (issue 12),
run as a command: exit code 2, one line on stderr naming the option, field or file and the bad
value, nothing written. Full and read-only file systems are real: a 1 MiB tmpfs or a read-only
bind mount in a user and mount namespace of the test's own (`unshare`). The many other cases
run in-process in tests/unit/test_cli.py."""

from __future__ import annotations

import pytest

from e2e.test_cli import DATA_DIR, MODES_DIR, SHORT, assert_bad_input, backtest, basis


def test_capital_below_the_share_class_minimum_is_refused(tmp_path):
    """It used to run to the end and crash with `nav_end must be >= 0`."""
    result, out = backtest("btc_basis", *SHORT, "--capital", "1", tmp_path=tmp_path)
    assert_bad_input(result, out, "initial_capital", "at least 10,000 USDT", "usdt_stable", "1")


@pytest.mark.parametrize(
    ("capital", "needles"),
    [
        ("", ("--capital", "empty value")),  # used to run with the YAML's capital
        ("1e400", ("initial_capital", "finite", "'1e400'")),  # used to crash in the run
        ("-.inf", ("initial_capital", "finite", "'-.inf'")),
    ],
)
def test_bad_capital_is_refused(tmp_path, capital, needles):
    result, out = backtest("pure_lending", *SHORT, f"--capital={capital}", tmp_path=tmp_path)
    assert_bad_input(result, out, *needles)


def test_an_impossible_date_is_refused(tmp_path):
    result, out = backtest("pure_lending", "--start", "2024-02-30", tmp_path=tmp_path)
    assert_bad_input(result, out, "start", "'2024-02-30'", "day is out of range for month")


def test_a_nan_from_the_environment_is_refused(tmp_path):
    out = tmp_path / "out"
    result = basis(
        "backtest", "btc_basis", *SHORT, "--data-dir", DATA_DIR, "--out", out, cwd=tmp_path,
        env={"BASIS_HEDGE__ALLOCATION__BINANCE": ".nan"},
    )  # fmt: skip
    assert_bad_input(
        result, out, "BASIS_HEDGE__ALLOCATION__BINANCE (hedge.allocation.binance)", "'.nan'"
    )


def test_a_mode_file_with_a_duplicate_key_is_refused(tmp_path):
    text = (MODES_DIR / "btc_basis.yaml").read_text(encoding="utf-8")
    path = tmp_path / "mine.yaml"
    path.write_text(text + "initial_capital: 5000000\n", encoding="utf-8")
    result = basis("validate", path, cwd=tmp_path)
    assert_bad_input(result, tmp_path / "out", str(path), "initial_capital", "duplicate key")


def test_out_as_dev_null_is_refused_before_the_run(tmp_path):
    result = basis(
        "backtest", "pure_lending", "--data-dir", DATA_DIR, *SHORT, "--out", "/dev/null",
        cwd=tmp_path,
    )  # fmt: skip
    assert_bad_input(result, tmp_path / "results", "--out", "not a folder: /dev/null")


def test_a_small_disk_is_refused_before_the_run(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    result = basis(
        "backtest", "pure_lending", "--data-dir", DATA_DIR, *SHORT, "--out", disk / "out",
        cwd=tmp_path, namespace_setup=f"mount -t tmpfs -o size=1m tmpfs {disk}",
    )  # fmt: skip
    assert_bad_input(result, disk / "out", "--out", "only 1.0 MiB free", "need at least 64 MiB")


def test_a_full_disk_is_refused_at_the_write_probe(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    fill = f"mount -t tmpfs -o size=1m tmpfs {disk}\nhead -c 2M /dev/zero >{disk}/f 2>&1 || :"
    result = basis("compare", tmp_path, "--out", disk / "cmp", cwd=tmp_path, namespace_setup=fill)
    assert_bad_input(result, disk / "cmp", "--out", "No space left on device")


def test_a_read_only_folder_is_refused(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    read_only = f"mount --bind {folder} {folder}\nmount -o remount,ro,bind {folder}"
    result = basis(
        "backtest", "pure_lending", "--data-dir", DATA_DIR, *SHORT, "--out", folder / "out",
        cwd=tmp_path, namespace_setup=read_only,
    )  # fmt: skip
    assert_bad_input(result, folder / "out", "--out", "Read-only file system")


def test_the_namespace_itself_works(tmp_path):
    """Control for the three tests above: the same namespace with a roomy tmpfs runs."""
    disk = tmp_path / "disk"
    disk.mkdir()
    result = basis(
        "backtest", "pure_lending", "--data-dir", DATA_DIR, *SHORT, "--out", disk / "out",
        cwd=tmp_path, namespace_setup=f"mount -t tmpfs -o size=100m tmpfs {disk}",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert str(disk / "out") in result.stdout
