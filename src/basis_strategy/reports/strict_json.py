"""JSON as the project writes it: strict (RFC 8259), never a NaN or Infinity token.

Python's `json.dumps` writes `NaN`, `Infinity` and `-Infinity` by default, which are not JSON
and which many readers refuse. `dumps` turns every non-finite float (numpy's included) into
null, then writes with `allow_nan=False`, so a non-finite value that still gets through (from
a `default` hook) fails loudly instead of being written.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np


def finite_or_null(value: Any) -> Any:
    """`value` with every non-finite float, at any depth of dicts, lists and tuples, as None."""
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {key: finite_or_null(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite_or_null(item) for item in value]
    return value


def dumps(
    value: Any, *, indent: int | None = None, default: Callable[[Any], Any] | None = None
) -> str:
    """Strict JSON text of `value`: non-finite floats become null.

    Raises ValueError when `default` returns a non-finite float (`allow_nan=False`).
    """
    try:  # the usual case, all finite plain values: json's C encoder alone
        return json.dumps(value, indent=indent, default=default, allow_nan=False)
    except (ValueError, TypeError):  # a non-finite float, or a numpy scalar, somewhere
        return json.dumps(finite_or_null(value), indent=indent, default=default, allow_nan=False)
