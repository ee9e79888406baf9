"""The CSV page reader behind `/events` and `/balance-sheet`, and the plot name check, on
hand-written files (quoted commas and line breaks, empty cells, nan / inf), plus `basis serve`'s
refusal of a bad port."""

from __future__ import annotations

import csv
import os
import time
from pathlib import Path

import pytest

from basis_strategy.api.run_files import cell, csv_index, plot_file, scan
from basis_strategy.cli import main
from basis_strategy.core.errors import DataFileError

ROWS = [
    ["seq", "note", "amount", "marks"],
    ["1", "plain", "100000", ""],
    ["2", 'a "quoted", multi\nline note', "-0.19001230999998597", '{"a": 1, "b": 2}'],
    ["3", "", "nan", "inf"],
    ["4", "1e5x", "1e-05", "-3"],
]


@pytest.fixture
def events_csv(tmp_path: Path) -> Path:
    path = tmp_path / "event_log.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f, lineterminator="\n").writerows(ROWS)
    return path


def test_scan_finds_every_record_across_quoted_line_breaks(events_csv: Path) -> None:
    index = scan(events_csv)
    assert index.columns == ("seq", "note", "amount", "marks")
    assert index.rows == 4
    assert index.offsets[-1] == events_csv.stat().st_size


def test_pages_parse_only_their_rows(events_csv: Path) -> None:
    index = scan(events_csv)
    assert index.page(0, 10) == [
        [1, "plain", 100000, None],
        [2, 'a "quoted", multi\nline note', -0.19001230999998597, '{"a": 1, "b": 2}'],
        [3, None, None, None],  # undefined figures are null: JSON has no NaN or Infinity
        [4, "1e5x", 1e-05, -3],
    ]
    assert index.page(1, 2) == index.page(0, 10)[1:3]
    assert index.page(3, 1000) == index.page(0, 10)[3:]
    assert index.page(4, 5) == [] and index.page(99, 5) == []


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("", None),
        ("0", 0),
        ("-12", -12),
        ("2.5", 2.5),
        (".5", 0.5),
        ("1e-05", 1e-05),
        ("-1.5E+3", -1500.0),
        ("nan", None),
        ("inf", None),
        ("-inf", None),
        ("NaN", None),
        ("-Infinity", None),
        ("1e999", None),
        ("info", "info"),
        ("2024-06-01T00:00:00+00:00", "2024-06-01T00:00:00+00:00"),
        ("wallet:BaseToken:USDT", "wallet:BaseToken:USDT"),
        ("1_000", "1_000"),
        ("123456789012345678901234", 1.2345678901234568e23),
    ],
)
def test_cells_become_json_values(text: str, value: object) -> None:
    assert cell(text) == value
    assert type(cell(text)) is type(value)


def test_the_index_is_cached_until_the_file_changes(events_csv: Path) -> None:
    first = csv_index(events_csv)
    assert csv_index(events_csv) is first
    with events_csv.open("a", encoding="utf-8") as f:
        f.write("5,late,1,\n")
    later = time.time() + 5
    os.utime(events_csv, (later, later))
    again = csv_index(events_csv)
    assert again is not first and again.rows == 5


def test_a_missing_or_headless_file_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="not found"):
        csv_index(tmp_path / "nope.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(DataFileError, match="no header row"):
        scan(empty)


def test_plot_names_map_only_to_files_in_plots(tmp_path: Path) -> None:
    assert plot_file(tmp_path, "aave_health") == (
        tmp_path / "plots" / "aave_health.html",
        "text/html; charset=utf-8",
    )
    assert plot_file(tmp_path, "aave_health.html") == plot_file(tmp_path, "aave_health")
    assert plot_file(tmp_path, "plotly.min.js") == (
        tmp_path / "plots" / "plotly.min.js",
        "text/javascript; charset=utf-8",
    )
    for name in ("../summary.json", "index", "aave_health.htm", "", "plots/aave_health"):
        assert plot_file(tmp_path, name) is None


def test_serve_refuses_a_bad_port(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--port", "70000", "--data-dir", "."]) == 2
    assert "--port: must be in 1..65535, was 70000" in capsys.readouterr().err
