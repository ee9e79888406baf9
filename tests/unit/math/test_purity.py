"""The pure-math package imports no I/O, clock, logging, HTTP, exchange, chain or web modules.

Conventions 1: "A test fails if that package imports I/O, HTTP, ccxt, web3 or FastAPI modules."
The check parses each module's source with `ast`, so it also catches imports inside functions.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from types import ModuleType

import pytest

import basis_strategy.math as math_package

FORBIDDEN_MODULES = frozenset(
    {
        # files and processes
        "os",
        "io",
        "pathlib",
        "shutil",
        "tempfile",
        "glob",
        "fileinput",
        "pickle",
        "shelve",
        "csv",
        "json",
        "sqlite3",
        "subprocess",
        "sys",
        "importlib",
        # logging and clock
        "logging",
        "time",
        "datetime",
        # network, exchanges, chains, web
        "socket",
        "urllib",
        "http",
        "requests",
        "httpx",
        "aiohttp",
        "websockets",
        "asyncio",
        "ccxt",
        "web3",
        "fastapi",
        "starlette",
        "uvicorn",
        # data frames and databases
        "pandas",
        "polars",
        "pyarrow",
        "sqlalchemy",
        "psycopg",
        "psycopg2",
    }
)
FORBIDDEN_CALLS = frozenset({"open", "print", "input", "eval", "exec", "__import__", "breakpoint"})
# The only project code the math package may use is itself.
ALLOWED_PROJECT_PREFIX = "basis_strategy.math"
EXPECTED_MODULES = {"aave", "perps", "costs", "leverage", "attribution", "metrics"}


def _imported_modules(tree: ast.AST, package: str) -> set[str]:
    """Absolute names of every module imported anywhere in `tree` (relative ones resolved)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                names.add(f"{base}.{node.module}" if node.module else base)
            elif node.module:
                names.add(node.module)
    return names


def _violations(source: str, package: str) -> list[str]:
    """Forbidden imports and calls found in `source`."""
    tree = ast.parse(source)
    found: list[str] = []
    for name in sorted(_imported_modules(tree, package)):
        top = name.split(".")[0]
        if top in FORBIDDEN_MODULES:
            found.append(f"import {name}")
        elif top == "basis_strategy" and not name.startswith(ALLOWED_PROJECT_PREFIX):
            found.append(f"import {name} (project code outside the math package)")
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in FORBIDDEN_CALLS
        ):
            found.append(f"call {node.func.id}()")
    return found


def _math_modules() -> list[ModuleType]:
    modules: list[ModuleType] = [math_package]
    for info in pkgutil.walk_packages(math_package.__path__, prefix="basis_strategy.math."):
        modules.append(importlib.import_module(info.name))
    return modules


def test_every_required_module_is_present() -> None:
    names = {module.__name__.rsplit(".", 1)[-1] for module in _math_modules()}
    assert names >= EXPECTED_MODULES


@pytest.mark.parametrize("module", _math_modules(), ids=lambda module: module.__name__)
def test_module_imports_nothing_impure(module: ModuleType) -> None:
    source = inspect.getsource(module)
    package = module.__name__ if hasattr(module, "__path__") else module.__name__.rpartition(".")[0]
    assert _violations(source, package) == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import os", ["import os"]),
        ("import os.path as p", ["import os.path"]),
        ("from pathlib import Path", ["import pathlib"]),
        ("def f():\n    import pandas as pd\n", ["import pandas"]),
        ("from datetime import datetime", ["import datetime"]),
        ("import logging", ["import logging"]),
        ("import ccxt.async_support", ["import ccxt.async_support"]),
        ("from web3 import Web3", ["import web3"]),
        ("from fastapi import FastAPI", ["import fastapi"]),
        ("import httpx, requests", ["import httpx", "import requests"]),
        ("from sqlalchemy.orm import Session", ["import sqlalchemy.orm"]),
        ("from basis_strategy.data import loader", ["import basis_strategy.data (project code"]),
        ("from ..core import errors", ["import basis_strategy.core (project code"]),
        ("x = open('f').read()", ["call open()"]),
        ("import math\nimport numpy as np\nfrom dataclasses import dataclass", []),
        ("from .aave import health_factor", []),
    ],
)
def test_checker_catches_forbidden_imports(source: str, expected: list[str]) -> None:
    # Guards the guard: the checker must flag these (and only these) snippets.
    found = _violations(source, "basis_strategy.math")
    assert len(found) == len(expected)
    for message, prefix in zip(found, sorted(expected), strict=True):
        assert message.startswith(prefix)
