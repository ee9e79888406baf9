"""Shared reader helpers: UTC parsing, numbers, table reading, duplicates, file lookup."""

from __future__ import annotations

import csv
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from basis_strategy.core.errors import DataFileError
from basis_strategy.data.sources._common import (
    file_fields,
    locate,
    parse_utc,
    read_table,
    to_float,
    unique_sorted,
)

CheckError = Callable[..., None]
WriteFile = Callable[[str, str], Path]
CSV = Path("some/dir/prices.csv")
SEVEN_AM = pd.Timestamp("2024-03-05 07:00", tz="UTC")


@pytest.mark.parametrize(
    "text",
    [
        "2024-03-05T07:00:00Z",
        "2024-03-05T07:00:00+00:00",
        "2024-03-05T07:00:00+00:00Z",
        "2024-03-05 07:00:00+00:00",
        "2024-03-05 07:00:00",
        "2024-03-05T09:00:00+02:00",
        "1709622000",
        " 1709622000 ",
        "1709622000.0",
    ],
)
def test_parse_utc_reads_every_format_as_the_same_utc_instant(text: str) -> None:
    index = parse_utc(pd.Series([text]), CSV, "timestamp", 2)
    assert isinstance(index, pd.DatetimeIndex)
    assert str(index.tz) == "UTC"
    assert index.dtype == "datetime64[ns, UTC]"
    assert index[0] == SEVEN_AM


def test_parse_utc_reads_plain_dates_as_midnight_and_integer_columns_as_unix_seconds() -> None:
    dates = parse_utc(pd.Series(["2024-03-05"]), CSV, "date", 2)
    assert dates[0] == pd.Timestamp("2024-03-05 00:00", tz="UTC")
    seconds = parse_utc(pd.Series([1709622000, 1709625600]), CSV, "timestamp", 2)
    assert list(seconds) == [SEVEN_AM, SEVEN_AM + pd.Timedelta(hours=1)]


def test_parse_utc_keeps_input_order_for_mixed_formats() -> None:
    values = pd.Series(["2024-03-05T08:00:00Z", "1709622000", "2024-03-05 06:00:00"])
    index = parse_utc(values, CSV, "timestamp", 2)
    assert list(index.hour) == [8, 7, 6]


@pytest.mark.parametrize("bad", ["2024-13-01", "yesterday", "", "1709622000000", "12"])
def test_parse_utc_names_column_value_and_line_of_a_bad_cell(
    bad: str, check_error: CheckError
) -> None:
    values = pd.Series(["2024-03-05", "2024-03-06", bad])
    with pytest.raises(DataFileError) as caught:
        parse_utc(values, CSV, "funding_time", 7)
    check_error(caught.value, CSV, 9, "column 'funding_time'", f"not a timestamp: {bad!r}")


FORMATS = [
    "%Y-%m-%dT%H:%M:%SZ",
    "%Y-%m-%dT%H:%M:%S+00:00",
    "%Y-%m-%dT%H:%M:%S+00:00Z",
    "%Y-%m-%d %H:%M:%S+00:00",
    "%Y-%m-%d %H:%M:%S",
]


@settings(database=None, max_examples=200, deadline=None)
@given(
    moment=st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2099, 12, 31)),
    fmt=st.sampled_from(FORMATS),
)
def test_parse_utc_round_trips_text_and_unix_seconds(moment: datetime, fmt: str) -> None:
    moment = moment.replace(microsecond=0, tzinfo=UTC)
    unix = str(int(moment.timestamp()))
    index = parse_utc(pd.Series([moment.strftime(fmt), unix]), CSV, "t", 2)
    assert index[0] == pd.Timestamp(moment)
    assert index[1] == pd.Timestamp(moment)


def test_to_float_converts_text_to_float64() -> None:
    values = to_float(pd.Series(["1", "-9.97e-06", " 2.5", "3283.84"]), CSV, "open", 2)
    assert values.dtype == np.float64
    assert values.tolist() == [1.0, -9.97e-06, 2.5, 3283.84]


@pytest.mark.parametrize("bad", ["abc", "", "nan", "NaN", "inf", "1,5"])
def test_to_float_names_column_value_and_line(bad: str, check_error: CheckError) -> None:
    with pytest.raises(DataFileError) as caught:
        to_float(pd.Series(["1.0", "2.0", "3.0", bad]), CSV, "open", 55)
    check_error(caught.value, CSV, 58, f"column 'open': not a number: {bad!r}")


def test_read_table_missing_file(tmp_path: Path, check_error: CheckError) -> None:
    path = tmp_path / "absent.csv"
    with pytest.raises(DataFileError) as caught:
        read_table(path, ["timestamp"])
    check_error(caught.value, path, None, "file not found")


def test_read_table_missing_column(write: WriteFile, check_error: CheckError) -> None:
    path = write("f.csv", "funding_timestamp,rate\n2024-01-01T00:00:00Z,0.0001\n")
    with pytest.raises(DataFileError) as caught:
        read_table(path, ["funding_timestamp", "funding_rate"])
    check_error(caught.value, path, None, "missing column 'funding_rate'")


def test_read_table_reads_strings_and_counts_leading_comment_lines(write: WriteFile) -> None:
    text = (
        "# one\n# two\n# three\ntimestamp,value,note\n2024-01-01,007,\n2024-01-02,1.5,Top-Up #1\n"
    )
    frame, first_line = read_table(write("c.csv", text), ["timestamp"], comment="#")
    assert first_line == 5
    assert frame["value"].tolist() == ["007", "1.5"]
    assert frame["note"].tolist() == ["", "Top-Up #1"]


def test_read_table_without_comments_starts_data_on_line_two(write: WriteFile) -> None:
    frame, first_line = read_table(write("p.csv", "a,b\n1,2\n"), ["a", "b"])
    assert first_line == 2
    assert frame.shape == (1, 2)


def test_read_table_drops_trailing_blank_lines_but_keeps_inner_ones(
    write: WriteFile, check_error: CheckError
) -> None:
    path = write("b.csv", "a,b\n1,2\n\n3,4\n\n\n")
    frame, first_line = read_table(path, ["a", "b"])
    assert frame["a"].tolist() == ["1", "", "3"]
    with pytest.raises(DataFileError) as caught:
        to_float(frame["a"], path, "a", first_line)
    check_error(caught.value, path, 3, "column 'a': not a number: ''")


def test_read_table_reports_malformed_rows_with_their_line(
    write: WriteFile, check_error: CheckError
) -> None:
    path = write("m.csv", "# note\na,b\n1,2\n3,4,5\n")
    with pytest.raises(DataFileError) as caught:
        read_table(path, ["a"], comment="#")
    check_error(caught.value, path, 4, "malformed CSV")


def test_read_table_refuses_empty_and_undecodable_files(
    write: WriteFile, tmp_path: Path, check_error: CheckError
) -> None:
    empty = write("empty.csv", "")
    with pytest.raises(DataFileError) as caught:
        read_table(empty, ["a"])
    check_error(caught.value, empty, None, "empty file")
    binary = tmp_path / "latin.csv"
    binary.write_bytes(b"a,b\n\xff\xfe,1\n")
    with pytest.raises(DataFileError) as caught:
        read_table(binary, ["a"])
    check_error(caught.value, binary, None, "not valid utf-8")


def test_read_table_refuses_a_header_without_data(
    write: WriteFile, check_error: CheckError
) -> None:
    path = write("header_only.csv", "a,b\n\n")
    with pytest.raises(DataFileError) as caught:
        read_table(path, ["a"])
    check_error(caught.value, path, None, "no data rows")


def test_read_table_uses_the_given_encoding(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("asset,name\n1,Caf\u00e9\n".encode("latin-1"))
    frame, _ = read_table(path, ["name"], encoding="latin-1")
    assert frame["name"].tolist() == ["Caf\u00e9"]
    with pytest.raises(DataFileError, match="not valid utf-8"):
        read_table(path, ["name"])


def test_unique_sorted_drops_identical_repeats() -> None:
    index = pd.DatetimeIndex(["2024-01-01", "2024-01-02", "2024-01-02"], tz="UTC")
    result = unique_sorted(pd.Series([1.0, 2.0, 2.0], index=index), CSV, 2)
    assert result.tolist() == [1.0, 2.0]
    assert result.index.is_unique and result.index.is_monotonic_increasing


def test_unique_sorted_refuses_conflicting_repeats(check_error: CheckError) -> None:
    index = pd.DatetimeIndex(["2024-01-01", "2024-01-02", "2024-01-01"], tz="UTC")
    series = pd.Series([1.0, 2.0, 1.5], index=index, name="funding_rate")
    with pytest.raises(DataFileError) as caught:
        unique_sorted(series, CSV, 2)
    check_error(caught.value, CSV, 4, "column 'funding_rate'", "1.5 here", "1.0 on line 2")


def test_unique_sorted_refuses_rows_out_of_time_order(check_error: CheckError) -> None:
    index = pd.DatetimeIndex(["2024-01-02", "2024-01-03", "2024-01-01"], tz="UTC")
    with pytest.raises(DataFileError) as caught:
        unique_sorted(pd.Series([2.0, 3.0, 1.0], index=index, name="open"), CSV, 5)
    check_error(
        caught.value,
        CSV,
        7,
        "timestamp 2024-01-01 00:00:00+00:00 is before 2024-01-03 00:00:00+00:00 on line 6",
        "rows must be in time order",
    )


def test_unique_sorted_refuses_a_timestamp_off_the_whole_hour(check_error: CheckError) -> None:
    index = pd.DatetimeIndex(["2024-01-01 10:00", "2024-01-01 10:30"], tz="UTC")
    lines = np.array([12, 14])
    with pytest.raises(DataFileError) as caught:
        unique_sorted(pd.Series([1.0, 2.0], index=index), CSV, lines)
    check_error(caught.value, CSV, 14, "timestamp 2024-01-01 10:30:00+00:00 is not on a whole hour")


@pytest.mark.parametrize(
    ("text", "line", "fields"),
    [
        ("a,b,c\n1,2,3\n4,5\n6,7,8\n", 3, 2),  # a short row inside
        ("a,b,c\n1,2,3\n4,5,6\n7,8", 4, 2),  # a truncated last line (no line break)
        ('a,b,c\n1,"x\ny",3\n4\n', 4, 1),  # lines counted as physical lines
    ],
)
def test_read_table_refuses_a_row_with_fewer_fields_than_the_header(
    text: str, line: int, fields: int, write: WriteFile, check_error: CheckError
) -> None:
    path = write("short.csv", text)
    with pytest.raises(DataFileError) as caught:
        read_table(path, ["a"])
    check_error(caught.value, path, line, f"row has {fields} fields, the header 3", "truncated")


def test_read_table_refuses_rows_that_all_have_an_extra_field(
    write: WriteFile, check_error: CheckError
) -> None:
    """pandas would take the first column as an index and shift every column by one."""
    path = write("wide.csv", "timestamp,open\n2024-01-01T00:00:00Z,1,2\n2024-01-01T01:00:00Z,3,4\n")
    with pytest.raises(DataFileError) as caught:
        read_table(path, ["open"])
    check_error(caught.value, path, 2, "every row has more fields than the header")


def test_locate_finds_exactly_one_file(tmp_path: Path, check_error: CheckError) -> None:
    (tmp_path / "a").mkdir()
    one = tmp_path / "a" / "x_2024.csv"
    one.write_text("t\n")
    assert locate(tmp_path, "a/x_*.csv") == one
    with pytest.raises(DataFileError) as caught:
        locate(tmp_path, "a/y_*.csv")
    check_error(caught.value, tmp_path / "a/y_*.csv", None, "file not found")
    (tmp_path / "a" / "x_2025.csv").write_text("t\n")
    with pytest.raises(DataFileError) as caught:
        locate(tmp_path, "a/x_*.csv")
    check_error(caught.value, tmp_path / "a/x_*.csv", None, "2 files", "x_2024.csv", "x_2025.csv")


@pytest.mark.parametrize(
    "text",
    [
        "a,b,c\n1,2,3\n4,5\n\n6,7,8,9\n",
        "# comment\na,b\n1,2\n3",  # no final line break
        'a,b\n"x,y",2\n3,4\n',  # quoted: the csv module's own split
        "a,b\r\n1,2\r\n3\r\n",
    ],
)
def test_file_fields_counts_as_the_csv_module_splits(tmp_path: Path, text: str) -> None:
    path = tmp_path / "f.csv"
    path.write_text(text, encoding="utf-8", newline="")
    skip = 1 if text.startswith("#") else 0
    with path.open(encoding="utf-8", newline="") as handle:
        for _ in range(skip):
            handle.readline()
        reader = csv.reader(handle)
        next(reader)
        expected = [(skip + reader.line_num, len(row)) for row in reader]
    lines, fields = file_fields(path, skip, "utf-8")
    assert list(zip(lines.tolist(), fields.tolist(), strict=True)) == expected
