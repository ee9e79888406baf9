"""What every venue fake shares: a quiet threaded HTTP server on an ephemeral 127.0.0.1 port,
started and stopped cleanly (pytest runs with warnings as errors), and the log of requests."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar, Self

from tests.fakes.cex_state import CexAccountState


class QuietServer(ThreadingHTTPServer):
    """Clients that time out or are cut off are expected here: no tracebacks for them."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that writes no access log."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


class LocalServer:
    """A threaded HTTP server on an ephemeral 127.0.0.1 port; start/stop or use as a context
    manager. Its request handler class is `handler`, which sees the server as `fake`."""

    handler: ClassVar[type[BaseHTTPRequestHandler]]

    def __init__(self) -> None:
        self.stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """http://127.0.0.1:<ephemeral port>"""
        assert self._server is not None, "fake not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> Self:
        """Bind an ephemeral port and serve on a background thread."""
        handler = type("Handler", (self.handler,), {"fake": self})
        self._server = QuietServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Wake delayed handlers, stop serving and close the socket (no leaked resources)."""
        self.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType
    ) -> None:
        self.stop()


class FakeServer(LocalServer):
    """A venue's fake: the server plus the account it serves."""

    def __init__(self, state: CexAccountState) -> None:
        super().__init__()
        self.state = state
        # (method, path) on Binance, (method, path, query or body) on Bybit and OKX: for tests
        self.requests: list[tuple[str, ...]] = []

    def paths_called(self) -> list[str]:
        """ "METHOD /path" of every request so far, in order."""
        return [f"{request[0]} {request[1]}" for request in self.requests]
