"""Load a run's configuration: YAML < `BASIS_*` environment variables < CLI `--set key=value`.

`BASIS_RESERVE_RATIO=0.05` sets `reserve_ratio`; a double underscore nests:
`BASIS_HEDGE__DELTA_TOLERANCE=0.02` sets `hedge.delta_tolerance`. Values are read as YAML
scalars, so `0.05` is a number and `[binance, bybit]` a list. Variables in `RESERVED_ENV`
configure the process, not the run, and credentials (`*_API_KEY`, `*_API_SECRET`, `*_TOKEN`,
`*_PRIVATE_KEY`, `*_URL`, ...) are never read as config. Any other `BASIS_*` variable must name
a real key.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from basis_strategy.config.models import MODE_NAMES, ModeConfig, ShareClass
from basis_strategy.config.validation import (
    check_capital,
    check_cross_component,
    check_mode_rules,
    config_error_from,
)
from basis_strategy.config.venues import VenueConfig
from basis_strategy.config.yaml_input import parse_value, read_yaml
from basis_strategy.core.errors import ConfigError

RESERVED_ENV = frozenset(
    {
        "BASIS_DATA_DIR",
        "BASIS_RESULTS_DIR",
        "BASIS_CONFIG_DIR",
        "BASIS_EXECUTION_MODE",
        "BASIS_DATA_MODE",
        "BASIS_LOG_LEVEL",
        "BASIS_DATABASE_URL",
        "BASIS_TEST_DATABASE_URL",
        "BASIS_API_TOKEN",
        "BASIS_ETH_RPC_URL",
        "BASIS_SYNTH_DIR",
        "BASIS_LIVE_TRADING",  # one of live trading's two keys (live/preflight.py), not config
        "BASIS_WITHDRAWAL_ALLOW_LIST",  # live withdrawal addresses (venues/live/build.py)
    }
)
# credentials (venue API keys and secrets, tokens, URLs with passwords) are never config keys
SECRET_SUFFIXES = (
    "_API_KEY",
    "_API_SECRET",
    "_PASSPHRASE",
    "_PASSWORD",
    "_PRIVATE_KEY",
    "_TOKEN",
    "_URL",
)
# the on-chain venue's process settings (venues/live/chain_build.py: addresses, chain id, gas
# cap, keystore path): never config keys
PROCESS_PREFIXES = ("BASIS_CHAIN_", "BASIS_WALLET_")
_KEY_PART = re.compile(r"[A-Za-z0-9_]+")
_VENUE_ADAPTER: TypeAdapter[VenueConfig] = TypeAdapter(VenueConfig)


@dataclass(frozen=True)
class RunConfig:
    """Everything one run needs: the mode settings, its share class and its venues."""

    mode: ModeConfig
    share_class: ShareClass
    venues: Mapping[str, VenueConfig]

    def resolved(self) -> dict[str, Any]:
        """The fully resolved configuration, JSON-ready (for summary.json)."""
        return {
            "mode": self.mode.model_dump(mode="json"),
            "share_class": self.share_class.model_dump(mode="json"),
            "venues": {name: v.model_dump(mode="json") for name, v in sorted(self.venues.items())},
        }


def default_configs_dir() -> Path:
    """`BASIS_CONFIG_DIR`, else the repository's `configs/` folder next to `src/`."""
    env = os.environ.get("BASIS_CONFIG_DIR")
    path = Path(env) if env else Path(__file__).resolve().parents[3] / "configs"
    if not (path / "modes").is_dir():
        raise ConfigError("BASIS_CONFIG_DIR", f"no modes/ folder in {path}")
    return path


def parse_set(item: str) -> tuple[list[str], Any]:
    """`hedge.allocation.binance=0.5` -> (["hedge", "allocation", "binance"], 0.5)."""
    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError("--set", f"expected key=value, was {item!r}")
    path = key_path(key.strip().split("."), "--set", key)
    return path, parse_value(text, path)


def key_path(parts: list[str], source: str, given: str) -> list[str]:
    """The parts of a dotted key (`--set`) or of a variable name split at `__` (`BASIS_*`):
    each a non-empty name of letters, digits and underscores."""
    if not all(_KEY_PART.fullmatch(part) for part in parts):
        raise ConfigError(
            source, f"key must be names (a-z, 0-9, _) joined by '.' or '__', was {given!r}"
        )
    return parts


def is_process_setting(name: str) -> bool:
    """A `BASIS_*` variable that configures the process (or is a secret), not the run."""
    return (
        name in RESERVED_ENV or name.endswith(SECRET_SUFFIXES) or name.startswith(PROCESS_PREFIXES)
    )


def env_overrides(env: Mapping[str, str]) -> list[tuple[list[str], Any]]:
    """Config overrides from `BASIS_*` variables (process settings excluded)."""
    found = []
    for name in sorted(env):
        if name.startswith("BASIS_") and not is_process_setting(name):
            parts = [part.lower() for part in name.removeprefix("BASIS_").split("__")]
            path = key_path(parts, name, name)
            found.append((path, parse_value(env[name], path, name)))
    return found


def apply_override(raw: dict[str, Any], path: Sequence[str], value: Any, source: str) -> None:
    """Set a nested key in place. Unknown keys are left to the schema, which rejects them."""
    node = raw
    for depth, part in enumerate(path[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            where = ".".join(path[: depth + 1])
            raise ConfigError(f"{source} {'.'.join(path)}", f"{where} is not a section")
        node = child
    node[path[-1]] = value


def load_venues(configs_dir: Path) -> dict[str, VenueConfig]:
    """Every `configs/venues/*.yaml`, keyed by file stem (which must equal the venue name)."""
    venues: dict[str, VenueConfig] = {}
    for path in sorted((configs_dir / "venues").glob("*.yaml")):
        try:
            venue = _VENUE_ADAPTER.validate_python(read_yaml(path))
        except ValidationError as exc:
            raise config_error_from(exc, f"{path}: ") from exc
        if venue.name != path.stem:
            raise ConfigError(str(path), f"name must match the file name, was {venue.name!r}")
        venues[path.stem] = venue
    return venues


def load_share_class(configs_dir: Path, name: str) -> ShareClass:
    """`configs/share_classes/{name}.yaml`."""
    path = configs_dir / "share_classes" / f"{name}.yaml"
    try:
        return ShareClass.model_validate(read_yaml(path))
    except ValidationError as exc:
        raise config_error_from(exc, f"{path}: ") from exc


def mode_file(name_or_path: str, configs_dir: Path) -> Path:
    """A mode name (`btc_basis`) or the path of a YAML file."""
    if name_or_path in MODE_NAMES:
        return configs_dir / "modes" / f"{name_or_path}.yaml"
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml"):
        return path
    raise ConfigError(
        "mode", f"must be one of {', '.join(MODE_NAMES)} or a .yaml file, was {name_or_path!r}"
    )


def load_run_config(
    name_or_path: str,
    sets: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    configs_dir: Path | None = None,
) -> RunConfig:
    """Load, override and validate (levels 1, 2, 3 and 5) one run's configuration."""
    configs_dir = configs_dir or default_configs_dir()
    raw = read_yaml(mode_file(name_or_path, configs_dir))
    env_names: dict[str, str] = {}
    for path, value in env_overrides(os.environ if env is None else env):
        apply_override(raw, path, value, "environment")
        env_names[".".join(path)] = "BASIS_" + "__".join(path).upper()
    for item in sets:
        path, value = parse_set(item)
        apply_override(raw, path, value, "--set")
        env_names.pop(".".join(path), None)
    try:
        mode = ModeConfig.model_validate(raw)
    except ValidationError as exc:
        error = config_error_from(exc)
        if error.field in env_names:  # say where the bad value came from
            raise ConfigError(
                f"{env_names[error.field]} ({error.field})", str(error).split(": ", 1)[1]
            ) from exc
        raise error from exc
    share_class = load_share_class(configs_dir, mode.share_class)
    venues = load_venues(configs_dir)
    check_mode_rules(mode, share_class)
    check_capital(mode, share_class)
    check_cross_component(mode, venues)
    used = {name: venues[name] for name in mode.venues}
    return RunConfig(mode=mode, share_class=share_class, venues=used)
