"""Ethereum gas: hourly gas prices and the assumed gas units per operation."""

from __future__ import annotations

import pandas as pd

from basis_strategy.data.sources._common import (
    file_error,
    json_key,
    json_object,
    parse_utc,
    read_json,
    read_table,
    require_positive,
    to_float,
    unique_sorted,
)
from basis_strategy.data.stored import FileRef


def read_gas_price(path: FileRef) -> pd.Series:
    """``gas_price_avg_gwei`` (gwei) indexed by the hour label ``timestamp``, sorted and unique.

    Negative prices and conflicting repeated hours raise DataFileError.
    """
    column = "gas_price_avg_gwei"
    frame, first_line = read_table(path, ["timestamp", column])
    index = parse_utc(frame["timestamp"], path, "timestamp", first_line)
    numbers = to_float(frame[column], path, column, first_line)
    require_positive(numbers, frame[column], path, column, first_line, allow_zero=True)
    series = pd.Series(numbers, index=index.rename("timestamp"), name=column)
    return unique_sorted(series, path, first_line)


def _gas_units(value: object, path: FileRef, where: str) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not float(value).is_integer()
        or value <= 0
    ):
        raise file_error(path, f"key {where!r}: not a positive whole number: {value!r}")
    return int(value)


def read_gas_units(path: FileRef) -> dict[str, int]:
    """Operation name → assumed ``gas_units`` from ``operation_gas_costs_summary_*.json``."""
    top = json_object(read_json(path), path, "")
    operations = json_object(json_key(top, "operation_costs", path), path, "operation_costs")
    units: dict[str, int] = {}
    for name, entry in operations.items():
        where = f"operation_costs.{name}"
        value = json_key(json_object(entry, path, where), "gas_units", path, where)
        units[name] = _gas_units(value, path, f"{where}.gas_units")
    if not units:
        raise file_error(path, "key 'operation_costs': no operations")
    return units
