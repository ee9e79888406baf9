"""A paper session's engine book as bytes: the checkpoint a warm restart continues from
(issue 13, ADR-043).

Why pickle: for paper the simulated venues live inside the engine, so "the book" is the
whole mutable state of `EngineParts` (positions, venue ledgers, fund shares and cost basis,
the P&L calculator's previous marks, the results rows and the event log so far). Mapping each
of those to tables would duplicate every component's state in a schema that must follow every
component change; a pickle of the parts follows them for free. The price, stated:

- it is only as stable as the classes: a checkpoint written by other code may not load, so
  every blob starts with `MAGIC` and `VERSION`, and anything unreadable is refused with one
  line (`CheckpointError`), never silently replaced by a fresh book; `--cold` then rebuilds
  from the request and the cycle journal (`restart.py`);
- it is never read from an untrusted place: the store is the service's own database;
- its size grows with the run (results and events so far): fine for a paper day or month.

Shared, read-only things are not copied: the data provider and the run config are written
as references and bound again to the restarted engine's own (built from the same request).
So are live venues (a venue whose class says `checkpointed = False`, e.g. `LiveCex`): their
state is on the venue and in the live store, not in this process; the restarted engine's own
live venues, built from the same request and credentials, take their place by name, and the
start-up reconciliation compares the restored book with what the venues then report. What
of the live store the book holds (`book_mark`: the instruction sequence, the funding returned)
is kept beside the parts, and given back to each live venue on restore (`restore_book_mark`),
so the cycle a crash interrupted is redone with the same client ids (venues/live/cex.py).
"""

from __future__ import annotations

import io
import pickle
from types import MappingProxyType
from typing import Any

from basis_strategy.core.errors import OperationalError
from basis_strategy.data.market import MarketState
from basis_strategy.engine import EngineParts, EventDrivenStrategyEngine

MAGIC = b"BSCKPT"
VERSION = 2  # 2: (parts, live venues' book marks)
_HEADER = len(MAGIC) + 2


class CheckpointError(OperationalError):
    """A stored checkpoint cannot be used (unknown version, corrupted): restart cold."""


def _proxy(values: dict[str, Any]) -> MappingProxyType[str, Any]:
    return MappingProxyType(values)


def _shared(engine: EventDrivenStrategyEngine) -> dict[str, Any]:
    """What a checkpoint refers to rather than copies: the engine's data, config and live
    venues (`checkpointed = False`), by a stable name."""
    shared: dict[str, Any] = {"data": engine.data, "config": engine.config}
    for name, venue in engine.parts.execution.venues.venues.items():
        if not getattr(venue, "checkpointed", True):
            shared[f"venue:{name}"] = venue
    return shared


class _Pickler(pickle.Pickler):
    """Shared things (`_shared`) by name, read-only views as copies."""

    def __init__(self, out: io.BytesIO, shared: dict[str, Any]) -> None:
        super().__init__(out, protocol=5)
        self._shared = {id(obj): name for name, obj in shared.items()}

    def persistent_id(self, obj: Any) -> str | None:
        return self._shared.get(id(obj))

    def reducer_override(self, obj: Any) -> Any:
        if type(obj) is MappingProxyType:  # read-only views (market states) as copies
            return _proxy, (dict(obj),)
        return NotImplemented


class _Unpickler(pickle.Unpickler):
    def __init__(self, data: io.BytesIO, engine: EventDrivenStrategyEngine) -> None:
        super().__init__(data)
        self._shared = _shared(engine)

    def persistent_load(self, pid: Any) -> Any:
        if pid not in self._shared:
            raise pickle.UnpicklingError(f"unknown shared reference {pid!r}")
        return self._shared[pid]


def _live_venues(engine: EventDrivenStrategyEngine) -> dict[str, Any]:
    """The venues whose state the store keeps and the book marks (`book_mark`)."""
    venues = engine.parts.execution.venues.venues
    return {name: v for name, v in venues.items() if hasattr(v, "book_mark")}


def _blob(value: object, shared: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    out.write(MAGIC + VERSION.to_bytes(2, "big"))
    _Pickler(out, shared).dump(value)
    return out.getvalue()


def dump(engine: EventDrivenStrategyEngine) -> bytes:
    """The engine's parts and the live venues' book marks as a versioned blob."""
    marks = {name: venue.book_mark() for name, venue in _live_venues(engine).items()}
    return _blob((engine.parts, marks), _shared(engine))


def restore_fresh(engine: EventDrivenStrategyEngine) -> None:
    """A session resumed before any checkpoint (killed in its first cycle): the fresh
    engine's live venues back to the start of the store's sequence, so that cycle is redone
    with its own client ids."""
    for venue in _live_venues(engine).values():
        venue.restore_book_mark({"next_seq": 0, "funding_to": {}, "foreign": [], "arrived": []})


def dump_market(market: MarketState) -> bytes:
    """A cycle's market as a versioned blob, for the journal (a cold restart's input)."""
    return _blob(market, {})


def load_market(blob: bytes, where: str) -> MarketState:
    """A journaled market; CheckpointError, one line naming `where`, if it cannot be read."""
    if version_of(blob) != VERSION:
        raise CheckpointError(f"{where}: its journaled market is not readable by this code")
    try:
        market = pickle.loads(blob[_HEADER:])
    except Exception as exc:
        raise CheckpointError(f"{where}: its journaled market is corrupted "
                              f"({type(exc).__name__})") from None  # fmt: skip
    if not isinstance(market, MarketState):
        raise CheckpointError(f"{where}: its journaled market is {type(market).__name__}")
    return market


def version_of(blob: bytes) -> int | None:
    """The blob's format version, or None when it is not a checkpoint at all."""
    if len(blob) < _HEADER or not blob.startswith(MAGIC):
        return None
    return int.from_bytes(blob[len(MAGIC) : _HEADER], "big")


def restore(engine: EventDrivenStrategyEngine, blob: bytes, where: str) -> None:
    """Replace `engine.parts` (a fresh engine built from the session's request) with the
    checkpoint's; CheckpointError, one line naming `where`, if it cannot be used."""
    version = version_of(blob)
    if version is None:
        raise CheckpointError(f"{where}: checkpoint is not readable (no header); restart --cold")
    if version != VERSION:
        raise CheckpointError(
            f"{where}: checkpoint version {version} is unknown (this code reads {VERSION}); "
            "restart --cold"
        )
    try:
        parts, marks = _Unpickler(io.BytesIO(blob[_HEADER:]), engine).load()
    except Exception as exc:  # any failure to read is one answer: unusable
        reason = str(exc).splitlines()[0] if str(exc) else ""
        raise CheckpointError(
            f"{where}: checkpoint is corrupted ({type(exc).__name__}: {reason}); restart --cold"
        ) from None
    if not isinstance(parts, EngineParts):
        raise CheckpointError(f"{where}: checkpoint holds {type(parts).__name__}; restart --cold")
    live = _live_venues(engine)
    if set(marks) != set(live):
        raise CheckpointError(f"{where}: checkpoint marks live venues {sorted(marks)}, the "
                              f"session has {sorted(live)}; restart --cold")  # fmt: skip
    engine.parts = parts
    for name, mark in marks.items():
        live[name].restore_book_mark(mark)
