"""Backtest service: one request in, one results folder out (ADR-005, ADR-040).

The CLI (and later the API) are thin shells over `run_backtest`. Every request builds a
fresh config, data provider, venues and engine; nothing is shared but loaded data.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from basis_strategy.config.loader import RunConfig, load_run_config
from basis_strategy.core.errors import ConfigError
from basis_strategy.data.provider import HistoricalDataProvider
from basis_strategy.data.store import DataRoot, FolderData
from basis_strategy.data.synth import write_scenario
from basis_strategy.engine import EventDrivenStrategyEngine, Progress
from basis_strategy.strategies.factory import strategy_class
from basis_strategy.venues.simulated.build import build_simulated_venues


@dataclass(frozen=True)
class BacktestOutcome:
    path: Path
    summary: dict[str, Any]


def resolve_data_dir(data_dir: str | Path | None, env: Mapping[str, str]) -> Path:
    """`--data-dir`, else `BASIS_DATA_DIR`; there is no silent default."""
    chosen = data_dir or env.get("BASIS_DATA_DIR")
    if not chosen:
        raise ConfigError("data_dir", "no data folder given: pass --data-dir or set BASIS_DATA_DIR")
    return Path(chosen)


def new_request_id(mode: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{mode}-{uuid.uuid4().hex[:8]}"


def prepare(
    name_or_path: str,
    sets: Sequence[str] = (),
    data_dir: str | Path | None = None,
    env: Mapping[str, str] | None = None,
) -> tuple[RunConfig, HistoricalDataProvider]:
    """Validate the request at every level (config, mode, data) before anything is written."""
    env = os.environ if env is None else env
    config = load_run_config(name_or_path, sets, env=env)
    strategy_class(config.mode.mode)  # refuse a mode that cannot run before reading data
    data = HistoricalDataProvider(config, open_data(config, data_dir, env))
    return config, data


DATA_MODE_ENV = "BASIS_DATA_MODE"
DATABASE_URL_ENV = "BASIS_DATABASE_URL"
DATA_MODES = ("csv", "db")


def data_mode(env: Mapping[str, str]) -> str:
    """`BASIS_DATA_MODE`: `csv` (unset or empty too) or `db`; ConfigError for anything else."""
    mode = env.get(DATA_MODE_ENV) or "csv"
    if mode not in DATA_MODES:
        raise ConfigError(DATA_MODE_ENV, f"must be one of {', '.join(DATA_MODES)}, was {mode!r}")
    return mode


def open_data(config: RunConfig, data_dir: str | Path | None, env: Mapping[str, str]) -> DataRoot:
    """The run's data (ADR-009). csv: `--data-dir`, else `BASIS_DATA_DIR`, else the synthetic
    base scenario. db: the data set loaded into the database `BASIS_DATABASE_URL` names
    (`basis data load`); a data folder given as well is refused as a contradiction."""
    chosen = data_dir or env.get("BASIS_DATA_DIR")
    if data_mode(env) == "csv":
        return FolderData(Path(chosen) if chosen else synthetic_base(config, env))
    if chosen:
        raise ConfigError(
            DATA_MODE_ENV,
            f"db reads the data set loaded into {DATABASE_URL_ENV}, yet a data folder was "
            f"given too (--data-dir or BASIS_DATA_DIR: {str(chosen)!r}): drop one of them",
        )
    url = env.get(DATABASE_URL_ENV)
    if not url:
        raise ConfigError(
            DATABASE_URL_ENV, f"must name the data database when {DATA_MODE_ENV}=db; not set"
        )
    from basis_strategy.data.db import DatabaseData  # SQLAlchemy and the loader: db mode only

    return DatabaseData(url)


SYNTH_SEED = 0


def synthetic_base(config: RunConfig, env: Mapping[str, str]) -> Path:
    """No data folder given: the synthetic `base` scenario over the run's window (issue 6),
    written once into `BASIS_SYNTH_DIR` (default ~/.cache/basis-strategy/synthetic) and
    reused. Runs on it say so (summary `data_origin`, report banner, CLI stderr)."""
    root = Path(env.get("BASIS_SYNTH_DIR") or Path.home() / ".cache" / "basis-strategy" / "synth")
    start, end = config.mode.start, config.mode.end
    folder = root / f"base-seed{SYNTH_SEED}-{start:%Y%m%d}-{end:%Y%m%d}"
    if not (folder / "manifest.json").is_file():
        partial = root / f".{folder.name}.{uuid.uuid4().hex[:8]}.partial"
        write_scenario("base", SYNTH_SEED, start, end, partial)
        try:
            os.replace(partial, folder)
        except OSError:  # another process wrote it first
            shutil.rmtree(partial, ignore_errors=True)
    return folder


def run_backtest(
    name_or_path: str,
    sets: Sequence[str] = (),
    data_dir: str | Path | None = None,
    out_dir: str | Path = "results",
    env: Mapping[str, str] | None = None,
    progress: Progress | None = None,
    request_id: str | None = None,
) -> BacktestOutcome:
    """Run one backtest and write `out_dir/{request_id}/` atomically (a new id unless given:
    the backtest service names each run's folder after its id)."""
    config, data = prepare(name_or_path, sets, data_dir, env)
    engine = EventDrivenStrategyEngine(config, data, build_simulated_venues(config, data.aave_risk))
    engine.run(progress)
    request_id = request_id or new_request_id(config.mode.mode)
    path = engine.write(Path(out_dir), request_id)
    summary = json.loads((path / "summary.json").read_text(encoding="utf-8"))
    return BacktestOutcome(path, summary)
