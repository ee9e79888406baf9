"""Every number of every config model is finite, of its own type and bounded on both sides.

The models are walked, not listed: every `StrictModel` subclass is found, a real instance of
each is taken from the loaded configs (every mode, every venue, both share classes), and every
numeric leaf of every field (a float, an int, a dict value, a tuple item) is replaced in turn by
a bad value. A new numeric field without bounds fails here.
"""

from __future__ import annotations

import importlib
import math
import pkgutil
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import pytest
import yaml
from pydantic import BaseModel, ValidationError

import basis_strategy
from basis_strategy.config.loader import load_run_config, load_share_class, load_venues
from basis_strategy.config.models import MODE_NAMES, StrictModel
from basis_strategy.core.errors import ConfigError
from basis_strategy.live.limits import RiskLimits

CONFIGS = Path(__file__).resolve().parents[3] / "configs"
# a flow and a shock so that Flow and Shock have instances too
EXTRAS = {
    "flows": "flows=[{at: 2024-06-02T00:00:00Z, amount: 20000}]",
    "shocks": "shocks=[{series: [price:ETH], start: 2024-06-02T00:00:00Z, "
    "end: 2024-06-02T05:00:00Z, kind: move, value: -0.1}]",
}
WINDOW = ["start=2024-06-01T00:00:00Z", "end=2024-06-08T00:00:00Z"]
# refused everywhere: not finite, beyond any sensible bound, or not a number at all
BAD_NUMBERS: list[Any] = [math.nan, math.inf, -math.inf, 1e300, -1e300, True, False, "1", None]
Slot = Callable[[Any], Any]  # the field's value with one numeric leaf set to the argument


@dataclass(frozen=True)
class Leaf:
    kind: type  # int or float
    nullable: bool  # `None` is a valid value here (an optional setting)
    slot: Slot


def import_all() -> None:
    """Import every module of the package, so that the set of models does not depend on
    which tests happened to be collected first in this process."""
    for module in pkgutil.walk_packages(basis_strategy.__path__, "basis_strategy."):
        importlib.import_module(module.name)


def all_models(base: type[BaseModel] = StrictModel) -> set[type[BaseModel]]:
    found = set()
    for sub in base.__subclasses__():
        found |= {sub, *all_models(sub)}
    return found


def instances(value: Any) -> Iterator[BaseModel]:
    """Every model instance inside `value` (itself included)."""
    if isinstance(value, BaseModel):
        yield value
        for name in type(value).model_fields:
            yield from instances(getattr(value, name))
    elif isinstance(value, list | tuple):
        for item in value:
            yield from instances(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from instances(item)


def samples() -> dict[type[BaseModel], BaseModel]:
    """One real instance of every model class, from the loaded configs."""
    found: dict[type[BaseModel], BaseModel] = {}
    roots: list[Any] = list(load_venues(CONFIGS).values())
    roots += [load_share_class(CONFIGS, name) for name in ("usdt_stable", "eth_directional")]
    for mode in MODE_NAMES:
        sets = [*WINDOW, *EXTRAS.values()]
        roots.append(load_run_config(mode, sets, env={}, configs_dir=CONFIGS).mode)
    roots.append(RiskLimits(max_position_usd={"ETH": 100_000.0}))  # a live request's limits
    for model in instances(roots):
        found.setdefault(type(model), model)
    return found


def numeric_leaves_of(tp: Any, value: Any, nullable: bool = False) -> Iterator[Leaf]:
    """Every numeric leaf of a value of type `tp` (sample `value`): a way to put a bad number
    there, leaving the rest of the value as it was."""
    origin, args = get_origin(tp), get_args(tp)
    if origin is Annotated:
        yield from numeric_leaves_of(args[0], value, nullable)
    elif tp in (int, float):
        yield Leaf(tp, nullable, lambda bad: bad)
    elif origin in (Union, types.UnionType):
        for arg in args:
            yield from numeric_leaves_of(arg, value, type(None) in args)
    elif origin is dict:
        yield from _dict_leaves(args, value)
    elif origin is tuple and isinstance(value, tuple):
        for i, arg in enumerate(args):
            for leaf in numeric_leaves_of(arg, value[i]):
                yield replace(
                    leaf, slot=lambda bad, i=i, f=leaf.slot: (*value[:i], f(bad), *value[i + 1 :])
                )


def _dict_leaves(args: tuple[Any, ...], value: Any) -> Iterator[Leaf]:
    key_type, value_type = args
    if isinstance(value, dict) and value:
        key = next(iter(value))
    else:
        key = get_args(key_type)[0] if get_origin(key_type) is Literal else "X"
        value = {}
    for leaf in numeric_leaves_of(value_type, value.get(key)):
        yield replace(leaf, slot=lambda bad, f=leaf.slot: {**value, key: f(bad)})


def cases() -> Iterator[Any]:
    import_all()
    models = samples()
    missing = all_models() - set(models)
    assert not missing, f"no config holds an instance of {sorted(m.__name__ for m in missing)}"
    for cls, sample in sorted(models.items(), key=lambda item: item[0].__name__):
        for name, info in cls.model_fields.items():
            leaves = numeric_leaves_of(info.annotation, getattr(sample, name))
            for n, leaf in enumerate(leaves):
                yield pytest.param(cls, sample, name, leaf, id=f"{cls.__name__}.{name}[{n}]")


CASES = list(cases())


def test_the_walk_finds_the_numbers() -> None:
    names = {case.id.rsplit("[", 1)[0] for case in CASES}
    assert {"ModeConfig.initial_capital", "Flow.amount", "Shock.value", "Hedge.allocation"} <= names
    assert {"CexVenue.withdrawal_fee", "CexSlippage.spot", "AaveVenue.gas_units"} <= names
    assert {"ShareClass.min_initial_capital", "DataSettings.max_ffill_hours"} <= names
    assert len(CASES) >= 50


@pytest.mark.parametrize(("cls", "sample", "field", "leaf"), CASES)
@pytest.mark.parametrize("bad", BAD_NUMBERS, ids=repr)
def test_every_numeric_field_refuses_a_bad_number(
    cls: type[BaseModel], sample: BaseModel, field: str, leaf: Leaf, bad: Any
) -> None:
    if bad is None and leaf.nullable:
        return  # an optional setting left unset is fine
    data = sample.model_dump()
    data[field] = leaf.slot(bad)
    with pytest.raises(ValidationError) as caught:
        cls.model_validate(data)
    # refused at the field itself (not by a later rule that happens to trip over it)
    assert any(error["loc"][:1] == (field,) for error in caught.value.errors()), caught.value


@pytest.mark.parametrize(("cls", "sample", "field", "leaf"), CASES)
def test_every_integer_field_refuses_a_float(
    cls: type[BaseModel], sample: BaseModel, field: str, leaf: Leaf
) -> None:
    if leaf.kind is not int:
        return
    data = sample.model_dump()
    data[field] = leaf.slot(7.0)  # a count or gas units: 7.0 is not "7"
    with pytest.raises(ValidationError):
        cls.model_validate(data)


# --- the same through the entry points: --set and BASIS_* values on every loaded leaf ----------


def numeric_leaves(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    if isinstance(value, bool):
        return
    if isinstance(value, int | float):
        yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from numeric_leaves(item, (*path, str(key)))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from numeric_leaves(item, (*path, str(i)))


def mode_leaves() -> list[Any]:
    """Every numeric key of the mode configs, each with the first mode that has it."""
    first_mode: dict[str, str] = {}
    for mode in MODE_NAMES:
        config = load_run_config(mode, env={}, configs_dir=CONFIGS)
        for path in numeric_leaves(config.mode.model_dump(mode="json")):
            first_mode.setdefault(".".join(path), mode)
    return [pytest.param(mode, key, id=key) for key, mode in first_mode.items()]


@pytest.mark.parametrize(("mode", "key"), mode_leaves())
@pytest.mark.parametrize("text", [".nan", ".inf", "-.inf", "1e400", "-1e400", "true", "'1'", ""])
def test_every_mode_number_refuses_bad_text_from_set_and_env(
    mode: str, key: str, text: str
) -> None:
    with pytest.raises(ConfigError) as from_set:
        load_run_config(mode, [f"{key}={text}"], env={}, configs_dir=CONFIGS)
    assert from_set.value.field == key, from_set.value
    variable = "BASIS_" + key.upper().replace(".", "__")
    with pytest.raises(ConfigError) as from_env:
        load_run_config(mode, env={variable: text}, configs_dir=CONFIGS)
    assert from_env.value.field == f"{variable} ({key})", from_env.value
    assert from_set.value.exit_code == from_env.value.exit_code == 2


def venue_leaves() -> list[Any]:
    params = []
    for name, venue in sorted(load_venues(CONFIGS).items()):
        for path in numeric_leaves(venue.model_dump(mode="json")):
            params.append(pytest.param(name, path, id=f"{name}:{'.'.join(path)}"))
    return params


@pytest.mark.parametrize(("venue", "path"), venue_leaves())
@pytest.mark.parametrize("text", [".nan", "-.inf", "1e400", "true", "1.0e+300"])
def test_every_venue_number_refuses_bad_text_in_its_yaml(
    tmp_path: Path, venue: str, path: tuple[str, ...], text: str
) -> None:
    file = tmp_path / "venues" / f"{venue}.yaml"
    file.parent.mkdir()
    data = yaml.safe_load((CONFIGS / "venues" / file.name).read_text(encoding="utf-8"))
    node = data
    for key in path[:-1]:
        node = node[int(key) if isinstance(node, list) else key]
    node[int(path[-1]) if isinstance(node, list) else path[-1]] = "@BAD@"
    file.write_text(yaml.safe_dump(data).replace("'@BAD@'", text), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_venues(tmp_path)
    assert str(file) in str(caught.value) and ".".join(path) in str(caught.value)
