"""The results' CSV writer (issue 15): the bytes `DataFrame.to_csv` writes with each float as
its shortest round-trip text, and every float read back exactly."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from basis_strategy.reports.csv_text import frame_csv


def table(rows: int = 500) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    values = rng.normal(0.0, 1e5, rows) * rng.choice([1.0, 1e-12, 1e12], rows)
    values[:8] = [np.nan, np.inf, -np.inf, -0.0, 0.1, 1e16, 5e-324, 1.7976931348623157e308]
    notes = [f"note {i}" for i in range(rows)]
    notes[:4] = ["a,b", 'say "x"', "two\nlines", ""]
    index = pd.date_range("2024-05-12 01:00", periods=rows, freq="h", tz="UTC", name="timestamp")
    return pd.DataFrame(
        {"value": values, "count": np.arange(rows), "flag": np.arange(rows) % 2 == 0,
         "note": notes, "maybe": [None if i % 3 else 1.5 for i in range(rows)]},
        index=index,
    )  # fmt: skip


def test_it_writes_what_to_csv_writes_with_exact_floats() -> None:
    frame = table().replace([np.inf, -np.inf], np.nan)
    exact = lambda v: repr(float(v))  # noqa: E731 - the reference's float format
    for index in (True, False):
        assert frame_csv(frame, index) == frame.to_csv(index=index, float_format=exact)
    assert frame_csv(frame, True, header=False) == frame.to_csv(header=False, float_format=exact)


def test_every_float_reads_back_exactly_and_a_non_number_is_an_empty_cell() -> None:
    frame = table()
    back = pd.read_csv(io.StringIO(frame_csv(frame, index=False)))  # round-trip parsing
    written = frame["value"].to_numpy()
    finite = np.isfinite(written)
    assert (back["value"].to_numpy()[finite] == written[finite]).all()
    assert back["value"].isna().to_numpy().tolist() == (~finite).tolist()  # nan, ±inf: empty
    assert back["note"].fillna("").tolist() == frame["note"].tolist()
