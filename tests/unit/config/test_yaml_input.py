"""Configuration YAML: files and `--set` / `BASIS_*` values are refused, with the key path
(and the line, in a file), when PyYAML alone would keep a duplicate key, nest without limit,
read `1e400` as infinity, or escape 2024-02-30 as a bare ValueError."""

from __future__ import annotations

from pathlib import Path

import pytest

from basis_strategy.config.loader import load_run_config, load_share_class, load_venues
from basis_strategy.config.yaml_input import MAX_DEPTH, parse_value, read_yaml
from basis_strategy.core.errors import ConfigError

CONFIGS = Path(__file__).resolve().parents[3] / "configs"


def write(tmp_path: Path, text: str | bytes, name: str = "mode.yaml") -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def refused(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        read_yaml(path)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(str(path))
    return message


def test_a_duplicate_key_is_refused_with_both_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "a: 1\nhedge:\n  allocation: {binance: 0.5}\n  allocation: {okx: 1}\n")
    message = refused(path)
    assert "hedge.allocation: duplicate key (also at line 3) (line 4)" in message


def test_a_duplicate_key_in_a_real_mode_file_is_refused(tmp_path: Path) -> None:
    text = (CONFIGS / "modes" / "btc_basis.yaml").read_text(encoding="utf-8")
    path = write(tmp_path, text + "initial_capital: 5\n")
    with pytest.raises(ConfigError, match=r"initial_capital: duplicate key \(also at line 5\)"):
        load_run_config(str(path), env={}, configs_dir=CONFIGS)


def test_merge_keys_may_override_what_they_merge(tmp_path: Path) -> None:
    path = write(tmp_path, "base: &b {x: 1, y: 2}\nmine:\n  <<: *b\n  y: 3\n")
    assert read_yaml(path)["mine"] == {"x": 1, "y": 3}


def test_nesting_beyond_the_limit_is_refused(tmp_path: Path) -> None:
    deep = "a: " + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1) + "\n"
    assert f"nested deeper than {MAX_DEPTH} levels" in refused(write(tmp_path, deep))
    very_deep = "a: " + "[" * 5000 + "]" * 5000 + "\n"  # beyond Python's recursion limit
    assert f"nested deeper than {MAX_DEPTH} levels" in refused(write(tmp_path, very_deep))
    ok = "a: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "\n"
    assert read_yaml(write(tmp_path, ok))


def test_an_alias_bomb_is_refused(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    assert "too many values" in refused(write(tmp_path, "\n".join(lines) + "\n"))


def test_a_recursive_alias_is_refused(tmp_path: Path) -> None:
    assert "nested deeper" in refused(write(tmp_path, "a: &a [*a]\n"))


def test_not_utf8_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, b"mode: pure_lending\ndescription: caf\xe9\n")
    assert "not UTF-8 text (byte 0xe9 at offset 35)" in refused(path)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("start: 2024-02-30T00:00:00Z\n", "start: not a real date and time, was '2024-02-30"),
        ("start: 2024-13-01\n", "month must be in 1..12"),
        ("start: 2024-01-01 25:00:00\n", "hour must be in 0..23"),
        ("initial_capital: 1e400\n", "initial_capital: not a finite number, was '1e400'"),
        ("initial_capital: .inf\n", "not a finite number, was '.inf'"),
        ("reserve_ratio: .NaN\n", "reserve_ratio: not a finite number, was '.NaN'"),
        ("flows: [{at: 2024-06-01, amount: -.inf}]\n", "flows.0.amount: not a finite number"),
        ("dust_min_usd: 1" + "0" * 30 + "\n", "dust_min_usd: number out of range"),
        ("x: !!int abc\n", "x: not an integer, was 'abc'"),
        ("x: !!python/object:os.system {}\n", "not valid YAML"),
        ("a: 1\n---\nb: 2\n", "not valid YAML"),
    ],
)
def test_bad_values_name_the_key_and_the_text(tmp_path: Path, text: str, fragment: str) -> None:
    assert fragment in refused(write(tmp_path, text))


def test_a_file_that_is_too_large_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "description: " + "x" * (5 * 2**20) + "\n")
    assert "larger than" in refused(path)


def test_yaml_12_exponents_are_numbers() -> None:
    assert parse_value("1e6", ["initial_capital"]) == 1_000_000.0
    assert parse_value("-2.5E-3", ["x"]) == -0.0025
    assert parse_value("[1e3, 2]", ["x"]) == [1000.0, 2]
    assert parse_value("abc", ["x"]) == "abc"
    assert parse_value("  ", ["x"]) == ""


@pytest.mark.parametrize(
    ("text", "source", "field"),
    [
        ("{binance: .nan}", None, "hedge.allocation.binance"),
        ("{binance: 1, binance: 2}", None, "hedge.allocation.binance"),
        ("{binance: .nan}", "BASIS_HEDGE__ALLOCATION",
         "BASIS_HEDGE__ALLOCATION (hedge.allocation.binance)"),
    ],
)  # fmt: skip
def test_values_name_their_key_path(text: str, source: str | None, field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_value(text, ["hedge", "allocation"], source)
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("sets", "env", "field", "fragment"),
    [
        (["start=2024-02-30"], {}, "start", "day is out of range for month"),
        (["end=2024-13-01T00:00:00Z"], {}, "end", "month must be in 1..12"),
        (["start=2024-01-01T25:00:00"], {}, "start", "hour must be in 0..23"),
        ([], {"BASIS_START": "2024-02-30"}, "BASIS_START (start)", "out of range"),
        (["flows=[{at: 2024-02-30T00:00:00Z, amount: 1}]"], {}, "flows.0.at", "out of range"),
        (["hedge={venues: [binance], venues: [okx]}"], {}, "hedge.venues", "duplicate key"),
        (["venues=" + "[" * 40 + "]" * 40], {}, "venues", "nested deeper"),
    ],
)
def test_set_and_environment_values_are_checked_like_files(
    sets: list[str], env: dict[str, str], field: str, fragment: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_run_config("pure_lending", sets, env=env, configs_dir=CONFIGS)
    assert caught.value.field.startswith(field), caught.value
    assert fragment in str(caught.value)


@pytest.mark.parametrize(
    ("folder", "name"), [("venues", "binance.yaml"), ("share_classes", "usdt_stable.yaml")]
)
def test_venue_and_share_class_files_are_checked_too(
    tmp_path: Path, folder: str, name: str
) -> None:
    text = (CONFIGS / folder / name).read_text(encoding="utf-8")
    (tmp_path / folder).mkdir()
    write(tmp_path / folder, text + "name: again\n", name)
    with pytest.raises(ConfigError, match=r"name: duplicate key"):
        if folder == "venues":
            load_venues(tmp_path)
        else:
            load_share_class(tmp_path, "usdt_stable")
