"""YAML as configuration input: mode, venue and share-class files, `--set` and `BASIS_*` values.

PyYAML's safe loader is lenient where a configuration must not be: of two equal keys it keeps
the last one, it reads `1.0e400` as infinity and `.nan` as NaN, nests without limit (anchors can
even expand a small file a billion times), and 2024-02-30 escapes as a bare ValueError. Here the
composed node tree is checked before any value is built, and every problem is a ConfigError
naming the key path (and the line, in a file) and the text as written. Numbers are read as in
YAML 1.2: `1e6` is a number (YAML 1.1 would keep it as text).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from basis_strategy.core.errors import ConfigError

MAX_FILE_BYTES = 4 * 2**20
MAX_DEPTH = 32  # a mode file nests 4 levels deep
MAX_VALUES = 100_000  # nodes visited, aliases counted each time they are used
MAX_INT = 10**15  # larger integers are no sensible setting (and lose precision as floats)
_MERGE = "tag:yaml.org,2002:merge"
_KINDS = {"timestamp": "a real date and time", "int": "an integer", "float": "a number"}
FieldName = Callable[[list[str]], str]


class ConfigLoader(yaml.SafeLoader):
    """The safe loader, reading YAML 1.2 floats without a dot (`1e6`, `-2E-3`) as numbers."""


ConfigLoader.yaml_implicit_resolvers = {
    first: list(resolvers) for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def read_yaml(path: Path) -> dict[str, Any]:
    """A configuration file: UTF-8 YAML holding a mapping, checked as described above."""
    if not path.is_file():
        raise ConfigError(str(path), "file not found")
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ConfigError(str(path), f"larger than {MAX_FILE_BYTES} bytes, was {size}")
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read it: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = data[exc.start : exc.start + 1].hex()
        where = f"byte 0x{bad} at offset {exc.start}"
        raise ConfigError(str(path), f"not UTF-8 text ({where})") from None
    loaded = _load(text, lambda keys: f"{path}: {'.'.join(keys)}" if keys else str(path), True)
    if not isinstance(loaded, dict):
        raise ConfigError(str(path), f"must hold a mapping of keys, was {type(loaded).__name__}")
    return loaded


def parse_value(text: str, key: list[str], source: str | None = None) -> Any:
    """A `--set key=value` or `BASIS_KEY=value` value, read as YAML (`0.05` is a number,
    `[binance, bybit]` a list); errors name the key path, and `source` (the variable) if given.
    An empty text is the empty string."""

    def name(keys: list[str]) -> str:
        dotted = ".".join([*key, *keys])
        return f"{source} ({dotted})" if source else dotted

    return _load(text, name, False) if text.strip() else ""


def _load(text: str, name: FieldName, lines: bool) -> Any:
    loader = ConfigLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _Checker(loader, name, lines).check(node, [], 0)
        return loader.construct_document(node)
    except RecursionError:
        raise ConfigError(name([]), f"nested deeper than {MAX_DEPTH} levels") from None
    except yaml.YAMLError as exc:
        raise ConfigError(name([]), f"not valid YAML: {exc}".splitlines()[0]) from exc
    finally:
        loader.dispose()


class _Checker:
    """One walk over the composed nodes: size, depth, duplicate keys and scalar values."""

    def __init__(self, loader: yaml.SafeLoader, name: FieldName, lines: bool) -> None:
        self.loader = loader
        self.name = name
        self.lines = lines
        self.visited = 0

    def error(self, keys: list[str], node: Node, message: str) -> ConfigError:
        where = f" (line {node.start_mark.line + 1})" if self.lines else ""
        shown = keys if len(keys) <= 8 else [*keys[:8], "..."]  # a deep path: its start
        return ConfigError(self.name(shown), message + where)

    def check(self, node: Node, keys: list[str], depth: int) -> None:
        self.visited += 1
        if self.visited > MAX_VALUES:
            raise self.error(keys, node, f"too many values (more than {MAX_VALUES})")
        if depth > MAX_DEPTH:
            raise self.error(keys, node, f"nested deeper than {MAX_DEPTH} levels")
        if isinstance(node, MappingNode):
            self.mapping(node, keys, depth)
        elif isinstance(node, SequenceNode):
            for i, item in enumerate(node.value):
                self.check(item, [*keys, str(i)], depth + 1)
        elif isinstance(node, ScalarNode):
            self.scalar(node, keys)

    def mapping(self, node: MappingNode, keys: list[str], depth: int) -> None:
        seen: dict[tuple[str, str], int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:  # `<<: *defaults`: merged keys may be overridden
                self.check(value_node, keys, depth + 1)
                continue
            if not isinstance(key_node, ScalarNode):
                raise self.error(keys, key_node, "a key must be plain text, was a collection")
            key = key_node.value
            if (key_node.tag, key) in seen:
                first = seen[(key_node.tag, key)]
                also = f" (also at line {first})" if self.lines else ""
                raise self.error([*keys, key], key_node, f"duplicate key{also}")
            seen[(key_node.tag, key)] = key_node.start_mark.line + 1
            self.check(value_node, [*keys, key], depth + 1)

    def scalar(self, node: ScalarNode, keys: list[str]) -> None:
        try:
            value = self.loader.construct_object(node)
        except (ValueError, KeyError, TypeError, OverflowError) as exc:
            kind = node.tag.rsplit(":", 1)[-1]
            what = _KINDS.get(kind, f"a valid {kind}")
            raise self.error(keys, node, f"not {what}, was {node.value!r} ({exc})") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise self.error(keys, node, f"not a finite number, was {node.value!r}")
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
            raise self.error(keys, node, f"number out of range (> 1e15), was {node.value!r}")
