"""A JSON-RPC proxy in front of anvil that loses, refuses, delays or answers requests on cue.

Why: the transaction sender's promise (at most one execution of an instruction) is about what
happens when the network misbehaves between us and a node. Anvil itself never loses an
answer, so the tests put this proxy between the sender and anvil and inject, per method:

- ``drop``: forward the request, then close the connection without an answer: the request
  **arrived** but the answer was lost (the client sees a connection error at once);
- ``hang``: forward, then hold the connection for ``seconds`` (past the client's timeout)
  and close it: arrived, the client sees a read timeout;
- ``refuse``: close the connection without forwarding: the request **never arrived**;
- ``delay``: wait ``seconds``, then forward and answer normally;
- ``error``: answer the JSON-RPC ``error`` object without forwarding (a node's refusal);
- ``result``: answer ``result`` without forwarding (e.g. ``None``: a node that lags);
- ``forward`` with a ``before`` hook: run the hook (e.g. another transaction from the same
  key), then forward: what a node would see when something else got there first.

Every request is logged with what was done to it. Standard library only (http.server,
urllib); one thread per connection; `close()` stops the server and releases held ones.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

Action = Literal["forward", "drop", "hang", "refuse", "delay", "error", "result"]
UPSTREAM_TIMEOUT_S = 30.0


@dataclass
class Fault:
    """What to do to the next matching requests of `method`: skip `skip` of them, then act on
    `times` of them."""

    method: str
    action: Action
    times: int = 1
    skip: int = 0
    seconds: float = 0.0  # hang / delay
    error: dict[str, Any] | None = None  # the JSON-RPC error object for "error"
    result: Any = None  # the answer for "result"
    before: Callable[[dict[str, Any]], None] | None = None  # run before forwarding


@dataclass(frozen=True)
class Seen:
    """One request the proxy received, and what it did to it."""

    method: str
    params: list[Any]
    action: Action

    @property
    def forwarded(self) -> bool:
        return self.action not in ("refuse", "error", "result")


@dataclass
class _State:
    upstream: str
    faults: list[Fault] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    closing: threading.Event = field(default_factory=threading.Event)

    def fault_for(self, method: str) -> Fault | None:
        """The fault that applies to this request (consuming it), if any."""
        with self.lock:
            for fault in self.faults:
                if fault.method != method or fault.times <= 0:
                    continue
                if fault.skip > 0:
                    fault.skip -= 1
                    return None
                fault.times -= 1
                return fault
        return None

    def log(self, method: str, params: list[Any], action: Action) -> None:
        with self.lock:
            self.seen.append(Seen(method, params, action))


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        state = self.server.state
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        request = json.loads(body)
        if isinstance(request, list):  # a batch: passed through untouched
            state.log("batch", request, "forward")
            self._answer(self._forward(body))
            return
        method, params = str(request.get("method")), list(request.get("params") or [])
        fault = state.fault_for(method)
        action: Action = fault.action if fault else "forward"
        state.log(method, params, action)
        if fault is None:
            self._answer(self._forward(body))
        elif action == "refuse":
            self.close_connection = True  # no answer: the client sees the connection close
        elif action == "error":
            error = fault.error or {"code": -32000, "message": "injected error"}
            answer = {"jsonrpc": "2.0", "id": request.get("id"), "error": error}
            self._answer(json.dumps(answer).encode())
        elif action == "result":
            answer = {"jsonrpc": "2.0", "id": request.get("id"), "result": fault.result}
            self._answer(json.dumps(answer).encode())
        else:
            if action == "delay":
                state.closing.wait(fault.seconds)
            if fault.before is not None:
                fault.before(request)
            answer = self._forward(body)
            if action == "drop":
                self.close_connection = True
            elif action == "hang":
                state.closing.wait(fault.seconds)
                self.close_connection = True
            else:
                self._answer(answer)

    def _forward(self, body: bytes) -> bytes:
        upstream = urllib.request.Request(
            self.server.state.upstream,
            data=body,
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(upstream, timeout=UPSTREAM_TIMEOUT_S) as response:
            answer: bytes = response.read()
            return answer

    def _answer(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the proxy's own log is `RpcProxy.seen`."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: _State) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state


class RpcProxy:
    """A JSON-RPC proxy on a free 127.0.0.1 port in front of `upstream_url`; a context
    manager that always stops it."""

    def __init__(self, upstream_url: str) -> None:
        self._state = _State(upstream_url)
        self._server = _Server(self._state)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def inject(self, fault: Fault) -> Fault:
        with self._state.lock:
            self._state.faults.append(fault)
        return fault

    @property
    def seen(self) -> list[Seen]:
        with self._state.lock:
            return list(self._state.seen)

    def methods(self) -> set[str]:
        return {s.method for s in self.seen}

    def sent_raw(self, forwarded_only: bool = False) -> list[str]:
        """The raw transactions (hex) of the eth_sendRawTransaction requests received."""
        return [
            str(s.params[0])
            for s in self.seen
            if s.method == "eth_sendRawTransaction" and (s.forwarded or not forwarded_only)
        ]

    def close(self) -> None:
        self._state.closing.set()  # releases held connections
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> RpcProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
