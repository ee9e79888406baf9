"""A request as `--set` strings: values survive as YAML, keys and shortcuts are checked."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from basis_strategy.config.loader import parse_set
from basis_strategy.core.errors import ConfigError
from basis_strategy.services.models import BacktestRequest, RunNotFoundError, yaml_value

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(st.characters(exclude_categories=("Cs",)))
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(json_values)
@example("\x85")  # NEL: a line break to YAML when written raw
@example({"\u2028": "é"})
def test_yaml_value_reads_back_equal(value: Any) -> None:
    assert yaml.safe_load(yaml_value(value)) == value


@given(st.datetimes(timezones=st.just(UTC)))
def test_yaml_value_keeps_aware_datetimes(value: datetime) -> None:
    assert yaml.safe_load(yaml_value(value)) == value


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.5, "0.5"), (1e-05, "1.0e-05"), (False, "false"), ("yes", "'yes'"), ([1, "a"], "[1, a]")],
)
def test_yaml_value_text(value: Any, text: str) -> None:
    assert yaml_value(value) == text


def test_config_sets_parse_back_to_the_request() -> None:
    request = BacktestRequest(
        mode="eth_basis",
        start=datetime(2024, 6, 1, tzinfo=UTC),
        end=datetime(2024, 6, 8, tzinfo=UTC),
        capital=50000,
        overrides={
            "hedge.venues": ["binance", "bybit"],
            "hedge.allocation": {"binance": 0.5, "bybit": 0.5},
            "costs.gas": False,
            "description": "a=b: c",
        },
    )
    parsed = dict((".".join(path), value) for path, value in map(parse_set, request.config_sets()))
    assert parsed == {
        "hedge.venues": ["binance", "bybit"],
        "hedge.allocation": {"binance": 0.5, "bybit": 0.5},
        "costs.gas": False,
        "description": "a=b: c",
        "start": datetime(2024, 6, 1, tzinfo=UTC),
        "end": datetime(2024, 6, 8, tzinfo=UTC),
        "initial_capital": 50000.0,
    }


def test_no_shortcuts_no_overrides_is_no_sets() -> None:
    assert BacktestRequest(mode="btc_basis").config_sets() == []


@pytest.mark.parametrize("key", ["a=b", "", "hedge..x", "hedge.", " start", "a b"])
def test_override_keys_must_be_dotted_config_keys(key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        BacktestRequest(mode="btc_basis", overrides={key: 1}).config_sets()
    assert caught.value.field == "overrides" and repr(key) in str(caught.value)


def test_a_shortcut_also_given_as_an_override_is_refused() -> None:
    request = BacktestRequest(mode="btc_basis", capital=10.0, overrides={"initial_capital": 20})
    with pytest.raises(ConfigError, match="given twice: also as capital") as caught:
        request.config_sets()
    assert caught.value.field == "overrides.initial_capital"


def test_run_not_found_names_the_id() -> None:
    error = RunNotFoundError("x1")
    assert isinstance(error, LookupError) and error.run_id == "x1"
    assert str(error) == "no run with id 'x1'"
